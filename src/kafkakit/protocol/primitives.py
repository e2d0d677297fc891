"""Kafka wire primitives: fixed-width integers, varints, strings, bytes and array lengths.

Readers take ``(buf, pos)`` and return ``(value, new_pos)``; writers return ``bytes``. Every reader
checks a length prefix against the bytes that remain *before* slicing or allocating, so a
length of 2**31-1 on a short buffer raises ``ValueError`` at once and allocates nothing.
The schema compiler turns these ``ValueError``/``struct.error`` exceptions into
``ProtocolDecodeError`` naming the API, version and field. Nothing here does I/O.
"""

from __future__ import annotations

import struct
import uuid as _uuid
from typing import Any

INT8 = struct.Struct(">b")
INT16 = struct.Struct(">h")
INT32 = struct.Struct(">i")
INT64 = struct.Struct(">q")
UINT16 = struct.Struct(">H")
UINT32 = struct.Struct(">I")
FLOAT64 = struct.Struct(">d")

_i16_unpack = INT16.unpack_from
_i32_unpack = INT32.unpack_from
_i16_pack = INT16.pack
_i32_pack = INT32.pack

NIL_UUID = bytes(16)

Buf = Any  # bytes | bytearray | memoryview


# ---------------------------------------------------------------- varints

# Small unsigned varints are by far the most common: precompute them.
_UVARINT_SMALL = [bytes([i]) for i in range(128)]


def write_uvarint(value: int) -> bytes:
    if 0 <= value < 128:
        return _UVARINT_SMALL[value]
    if value < 0:
        raise ValueError(f"unsigned varint cannot be negative: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_uvarint(buf: Buf, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result = b & 0x7F
    shift = 7
    while True:
        pos += 1
        b = buf[pos]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos + 1
        shift += 7
        if shift > 63:
            raise ValueError("varint is too long")


def write_varint(value: int) -> bytes:
    """Zigzag-encoded signed varint (also used for varlong)."""
    return write_uvarint((value << 1) ^ (value >> 63))


def read_varint(buf: Buf, pos: int) -> tuple[int, int]:
    u, pos = read_uvarint(buf, pos)
    return (u >> 1) ^ -(u & 1), pos


write_varlong = write_varint
read_varlong = read_varint


# ---------------------------------------------------------------- lengths


def _check(n: int, buf: Buf, pos: int) -> None:
    if n > len(buf) - pos:
        raise ValueError(f"length {n} exceeds the {len(buf) - pos} bytes remaining")


def read_array_len(buf: Buf, pos: int) -> tuple[int, int]:
    """int32 array length; -1 is null. Each element takes >= 1 byte, so bound it by what remains."""
    (n,) = _i32_unpack(buf, pos)
    pos += 4
    if n > 0:
        _check(n, buf, pos)
    return n, pos


def read_compact_array_len(buf: Buf, pos: int) -> tuple[int, int]:
    n, pos = read_uvarint(buf, pos)
    n -= 1
    if n > 0:
        _check(n, buf, pos)
    return n, pos


def write_array_len(n: int) -> bytes:
    return _i32_pack(n)


def write_compact_array_len(n: int) -> bytes:
    return write_uvarint(n + 1)


# ---------------------------------------------------------------- strings


def read_string(buf: Buf, pos: int) -> tuple[str, int]:
    (n,) = _i16_unpack(buf, pos)
    pos += 2
    if n < 0:
        raise ValueError("null in a non-nullable string")
    _check(n, buf, pos)
    end = pos + n
    return str(buf[pos:end], "utf-8"), end


def read_nullable_string(buf: Buf, pos: int) -> tuple[str | None, int]:
    (n,) = _i16_unpack(buf, pos)
    pos += 2
    if n < 0:
        return None, pos
    _check(n, buf, pos)
    end = pos + n
    return str(buf[pos:end], "utf-8"), end


def read_compact_string(buf: Buf, pos: int) -> tuple[str, int]:
    n, pos = read_uvarint(buf, pos)
    if n == 0:
        raise ValueError("null in a non-nullable string")
    n -= 1
    _check(n, buf, pos)
    end = pos + n
    return str(buf[pos:end], "utf-8"), end


def read_compact_nullable_string(buf: Buf, pos: int) -> tuple[str | None, int]:
    n, pos = read_uvarint(buf, pos)
    if n == 0:
        return None, pos
    n -= 1
    _check(n, buf, pos)
    end = pos + n
    return str(buf[pos:end], "utf-8"), end


def write_string(s: str | None) -> bytes:
    if s is None:
        return b"\xff\xff"
    b = s.encode("utf-8")
    if len(b) > 32767:
        raise ValueError(f"string of {len(b)} bytes is longer than 32767")
    return _i16_pack(len(b)) + b


def write_compact_string(s: str | None) -> bytes:
    if s is None:
        return b"\x00"
    b = s.encode("utf-8")
    return write_uvarint(len(b) + 1) + b


# ---------------------------------------------------------------- bytes


def read_bytes(buf: Buf, pos: int) -> tuple[bytes, int]:
    (n,) = _i32_unpack(buf, pos)
    pos += 4
    if n < 0:
        raise ValueError("null in a non-nullable bytes field")
    _check(n, buf, pos)
    end = pos + n
    return bytes(buf[pos:end]), end


def read_nullable_bytes(buf: Buf, pos: int) -> tuple[bytes | None, int]:
    (n,) = _i32_unpack(buf, pos)
    pos += 4
    if n < 0:
        return None, pos
    _check(n, buf, pos)
    end = pos + n
    return bytes(buf[pos:end]), end


def read_compact_bytes(buf: Buf, pos: int) -> tuple[bytes, int]:
    n, pos = read_uvarint(buf, pos)
    if n == 0:
        raise ValueError("null in a non-nullable bytes field")
    n -= 1
    _check(n, buf, pos)
    end = pos + n
    return bytes(buf[pos:end]), end


def read_compact_nullable_bytes(buf: Buf, pos: int) -> tuple[bytes | None, int]:
    n, pos = read_uvarint(buf, pos)
    if n == 0:
        return None, pos
    n -= 1
    _check(n, buf, pos)
    end = pos + n
    return bytes(buf[pos:end]), end


def read_records_view(buf: Buf, pos: int) -> tuple[memoryview | None, int]:
    """A nullable records field (int32 length) as a view into ``buf``: no copy (response decoding)."""
    (n,) = _i32_unpack(buf, pos)
    pos += 4
    if n < 0:
        return None, pos
    _check(n, buf, pos)
    end = pos + n
    return memoryview(buf)[pos:end], end


def read_compact_records_view(buf: Buf, pos: int) -> tuple[memoryview | None, int]:
    """A compact nullable records field as a view into ``buf``: no copy (response decoding)."""
    n, pos = read_uvarint(buf, pos)
    if n == 0:
        return None, pos
    n -= 1
    _check(n, buf, pos)
    end = pos + n
    return memoryview(buf)[pos:end], end


def write_bytes(b: bytes | bytearray | memoryview | None) -> bytes:
    if b is None:
        return b"\xff\xff\xff\xff"
    return _i32_pack(len(b)) + bytes(b)


def write_compact_bytes(b: bytes | bytearray | memoryview | None) -> bytes:
    if b is None:
        return b"\x00"
    return write_uvarint(len(b) + 1) + bytes(b)


# ---------------------------------------------------------------- uuid


def uuid_to_str(u: bytes) -> str:
    return str(_uuid.UUID(bytes=bytes(u)))


def uuid_from_str(s: str) -> bytes:
    return _uuid.UUID(s).bytes
