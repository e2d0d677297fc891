"""Decode legacy Kafka message sets (magic 0 and 1) into the v2 ``Record``/``BatchHeader`` shapes.

How it works: a legacy entry is offset int64, message size int32, crc uint32 (CRC-32/IEEE via
``zlib.crc32`` over magic..end), magic int8, attributes int8, timestamp int64 (magic 1 only),
key and value as int32-length bytes (-1 is null). An entry whose attributes name a codec is a
wrapper: its value decompresses to an inner message set. Inner offsets are absolute under magic 0
and relative under magic 1, where the wrapper carries the absolute offset of the last inner
message. With LogAppendTime (attribute bit 3, magic 1) every inner message takes the wrapper's
timestamp. Old Kafka (magic 0) wrote lz4 frames with a wrong header checksum; that byte is
repaired before decompressing.

What it must never do: let IndexError/struct.error escape (malformed input is a
``CorruptRecordError``), accept nested compression, or encode legacy messages (brokers and clients
only need to read them; tests build fixtures with kafka-python).
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

from kafkakit.errors import CorruptRecordError
from kafkakit.record.batch import BatchHeader, Buffer, Record
from kafkakit.record.compression import LZ4, decompress

__all__ = ["decode_entry", "decode_message_set", "read_entry_header"]

_ENTRY = struct.Struct(">qiIbb")  # offset, size, crc, magic, attributes (18 bytes)
_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
# bytes counted by the size field beyond key and value: crc, magic, attributes, [timestamp,] 2 lengths
_MIN_SIZE: Final = {0: 14, 1: 22}
_TIMESTAMP_TYPE_MASK: Final = 0x08
_tuple_new = tuple.__new__


def _corrupt(offset: int, reason: str) -> CorruptRecordError:
    return CorruptRecordError(f"legacy message at offset {offset} is corrupt: {reason}")


def read_entry_header(buf: Buffer, pos: int = 0) -> BatchHeader:
    """A BatchHeader describing the legacy entry at ``pos`` without decompressing it.

    For a compressed wrapper the base offset is the wrapper's offset (that of its last inner
    message) and ``records_count`` is 1; ``decode_entry`` returns exact values.
    """
    if len(buf) - pos < 18:
        if len(buf) - pos >= 8:
            raise _corrupt(_INT64.unpack_from(buf, pos)[0], "truncated inside the message header")
        raise CorruptRecordError(f"legacy message header at position {pos} is truncated")
    offset, size, crc, magic, attrs = _ENTRY.unpack_from(buf, pos)
    if magic not in _MIN_SIZE:
        raise _corrupt(offset, f"magic byte {magic} is not 0 or 1")
    if size < _MIN_SIZE[magic]:
        raise _corrupt(offset, f"message size {size} is below the minimum of {_MIN_SIZE[magic]}")
    if magic == 1:
        if len(buf) - pos < 26:
            raise _corrupt(offset, "truncated before the timestamp")
        (timestamp,) = _INT64.unpack_from(buf, pos + 18)
        attrs &= 0x0F
    else:
        timestamp = -1
        attrs &= 0x07
    return _tuple_new(
        BatchHeader, (offset, size, -1, magic, crc, attrs, 0, timestamp, timestamp, -1, -1, -1, 1)
    )


def _read_bytes(view: memoryview, pos: int, end: int, offset: int, what: str) -> tuple[bytes | None, int]:
    if pos + 4 > end:
        raise _corrupt(offset, f"truncated before the {what} length")
    (n,) = _INT32.unpack_from(view, pos)
    pos += 4
    if n == -1:
        return None, pos
    if n < 0 or pos + n > end:
        raise _corrupt(offset, f"{what} length {n} does not fit in the message")
    return bytes(view[pos : pos + n]), pos + n


def _parse_message(
    view: memoryview, pos: int, check_crc: bool
) -> tuple[int, int, int, int, int, bytes | None, bytes | None, int, int]:
    """Parse the message at ``pos``: (offset, magic, attrs, timestamp, crc, key, value, size, end)."""
    if len(view) - pos < 12:
        raise CorruptRecordError(f"legacy message at position {pos} is truncated")
    header = read_entry_header(view, pos)
    offset = header.base_offset
    end = pos + 12 + header.batch_length
    if end > len(view):
        raise _corrupt(offset, f"truncated: needs {end - pos} bytes, {len(view) - pos} present")
    if check_crc:
        actual = zlib.crc32(view[pos + 16 : end])
        if actual != header.crc:
            raise _corrupt(offset, f"CRC-32 mismatch (stored {header.crc:#010x}, computed {actual:#010x})")
    body = pos + (26 if header.magic == 1 else 18)
    key, body = _read_bytes(view, body, end, offset, "key")
    value, body = _read_bytes(view, body, end, offset, "value")
    if body != end:
        raise _corrupt(offset, f"{end - body} unexpected bytes after the value")
    return (
        offset,
        header.magic,
        header.attributes,
        header.base_timestamp,
        header.crc,
        key,
        value,
        12 + header.batch_length,
        end,
    )


def _fix_old_lz4_header(data: bytes) -> bytes:
    """Magic-0 Kafka computed the lz4 frame header checksum over the magic number too; repair it."""
    if len(data) < 7 or data[:4] != b"\x04\x22\x4d\x18":
        return data
    flg = data[4]
    desc_end = 6 + (8 if flg & 0x08 else 0)
    if len(data) <= desc_end:
        return data
    good = (_xxh32(data[4:desc_end]) >> 8) & 0xFF
    if data[desc_end] == good:
        return data
    return data[:desc_end] + bytes((good,)) + data[desc_end + 1 :]


def _xxh32(data: bytes, seed: int = 0) -> int:
    """xxHash32 of a short input (the lz4 frame descriptor is at most 10 bytes)."""
    p1, p2, p3, p4, p5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
    mask = 0xFFFFFFFF
    n = len(data)
    pos = 0
    if n >= 16:
        v = [(seed + p1 + p2) & mask, (seed + p2) & mask, seed & mask, (seed - p1) & mask]
        while pos + 16 <= n:
            for i in range(4):
                lane = int.from_bytes(data[pos : pos + 4], "little")
                acc = (v[i] + lane * p2) & mask
                acc = ((acc << 13) | (acc >> 19)) & mask
                v[i] = (acc * p1) & mask
                pos += 4
        h = (
            ((v[0] << 1) | (v[0] >> 31))
            + ((v[1] << 7) | (v[1] >> 25))
            + ((v[2] << 12) | (v[2] >> 20))
            + ((v[3] << 18) | (v[3] >> 14))
        ) & mask
    else:
        h = (seed + p5) & mask
    h = (h + n) & mask
    while pos + 4 <= n:
        h = (h + int.from_bytes(data[pos : pos + 4], "little") * p3) & mask
        h = (((h << 17) | (h >> 15)) & mask) * p4 & mask
        pos += 4
    while pos < n:
        h = (h + data[pos] * p5) & mask
        h = (((h << 11) | (h >> 21)) & mask) * p1 & mask
        pos += 1
    h ^= h >> 15
    h = (h * p2) & mask
    h ^= h >> 13
    h = (h * p3) & mask
    h ^= h >> 16
    return h


def decode_entry(
    entry: Buffer, *, check_crc: bool = True, max_uncompressed_size: int | None = None
) -> tuple[BatchHeader, list[Record]]:
    """Decode the legacy entry at byte 0 of ``entry``: a plain message or a compressed wrapper."""
    view = memoryview(entry)
    try:
        return _decode_entry(view, check_crc, max_uncompressed_size)
    except (IndexError, ValueError, struct.error) as exc:
        raise CorruptRecordError(f"legacy message is corrupt: {type(exc).__name__}: {exc}") from None


def _decode_entry(
    view: memoryview, check_crc: bool, max_uncompressed_size: int | None
) -> tuple[BatchHeader, list[Record]]:
    header = read_entry_header(view, 0)
    offset, magic, attrs, timestamp, crc, key, value, size, _end = _parse_message(view, 0, check_crc)
    codec = attrs & 0x07
    if not codec:
        return header, [_tuple_new(Record, (offset, timestamp, key, value, [], size, crc))]
    if value is None:
        raise _corrupt(offset, "compressed wrapper message has a null value")
    if codec > 4:
        raise _corrupt(offset, f"attributes name unknown compression codec {codec}")
    if codec == LZ4 and magic == 0:
        value = _fix_old_lz4_header(value)
    try:
        inner = decompress(codec, value, max_uncompressed_size)
    except CorruptRecordError as exc:
        raise _corrupt(offset, str(exc.args[0]) if exc.args else "undecodable") from None
    raw = _decode_plain_set(memoryview(inner), check_crc, offset)
    if not raw:
        raise _corrupt(offset, "compressed wrapper holds no messages")
    log_append = magic == 1 and attrs & _TIMESTAMP_TYPE_MASK
    shift = 0
    if magic == 1 and offset != 0:
        # relative inner offsets; a wrapper offset of 0 is unassigned produce data (as Java reads it)
        if offset < raw[-1][0]:
            raise _corrupt(offset, f"wrapper offset is below the last inner offset {raw[-1][0]}")
        shift = offset - raw[-1][0]
    records = [
        _tuple_new(
            Record, (r_off + shift, timestamp if log_append else r_ts, r_key, r_value, [], r_size, r_crc)
        )
        for r_off, r_ts, r_key, r_value, r_size, r_crc in raw
    ]
    first = records[0]
    full = _tuple_new(
        BatchHeader,
        (
            first.offset,
            header.batch_length,
            -1,
            magic,
            crc,
            header.attributes,
            records[-1].offset - first.offset,
            first.timestamp,
            timestamp,
            -1,
            -1,
            -1,
            len(records),
        ),
    )
    return full, records


def _decode_plain_set(
    view: memoryview, check_crc: bool, wrapper_offset: int
) -> list[tuple[int, int, bytes | None, bytes | None, int, int]]:
    out = []
    pos = 0
    size = len(view)
    while pos < size:
        offset, _magic, attrs, ts, crc, key, value, msize, end = _parse_message(view, pos, check_crc)
        if attrs & 0x07:
            raise _corrupt(wrapper_offset, "nested compression inside a compressed wrapper")
        out.append((offset, ts, key, value, msize, crc))
        pos = end
    return out


def decode_message_set(
    buf: Buffer, *, check_crc: bool = True, max_uncompressed_size: int | None = None
) -> list[Record]:
    """Decode every complete entry of a legacy message set; a trailing partial entry is ignored."""
    view = memoryview(buf)
    records: list[Record] = []
    pos = 0
    while pos + 12 <= len(view):
        (size,) = _INT32.unpack_from(view, pos + 8)
        end = pos + 12 + size
        if size >= 0 and end > len(view):
            break
        records.extend(
            decode_entry(view[pos:end], check_crc=check_crc, max_uncompressed_size=max_uncompressed_size)[1]
        )
        pos = end
    return records
