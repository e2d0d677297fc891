"""Kafka record compression codecs: gzip, snappy (xerial-framed), lz4 (frame) and zstd.

How it works: ``compress(codec, data)`` and ``decompress(codec, data, max_size=None)`` dispatch on
the codec id stored in bits 0-2 of a batch's attributes. gzip goes through zlib with a gzip
container; snappy, lz4 and zstd go through the ``cramjam`` extension. Snappy is written in the
xerial framing Kafka's Java client uses (16-byte header, then big-endian int32 length-prefixed
raw snappy blocks of at most 32 KiB input each) and read either framed or raw. lz4 is written as
an lz4 frame with independent blocks, the only kind Kafka's Java reader accepts.

What it must never do: let a zlib/cramjam exception escape (every failure to decompress is a
``CorruptRecordError`` naming the codec), hand back more than ``max_size`` bytes, or pass
``output_len`` to cramjam (it pads or truncates silently instead of failing).
"""

from __future__ import annotations

import struct
import zlib
from typing import Final

import cramjam

from kafkakit.errors import CorruptRecordError, UnsupportedCodecError

NONE: Final = 0
GZIP: Final = 1
SNAPPY: Final = 2
LZ4: Final = 3
ZSTD: Final = 4

CODEC_MASK: Final = 0x07

CODEC_NAMES: Final[dict[int, str]] = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}
CODEC_IDS: Final[dict[str, int]] = {name: cid for cid, name in CODEC_NAMES.items()}

XERIAL_MAGIC: Final = b"\x82SNAPPY\x00"
_XERIAL_HEADER: Final = XERIAL_MAGIC + struct.pack(">ii", 1, 1)
XERIAL_BLOCK_SIZE: Final = 32 * 1024

_INT32 = struct.Struct(">i")
_pack_i32 = _INT32.pack
_unpack_i32_from = _INT32.unpack_from

_DecompressionError: type[Exception] = getattr(cramjam, "DecompressionError", Exception)


def codec_id(name: str | int | None) -> int:
    """Map a compression_type setting (None, 'gzip', 'snappy', 'lz4', 'zstd' or an id) to its id."""
    if name is None:
        return NONE
    if isinstance(name, int):
        if name in CODEC_NAMES:
            return name
        raise UnsupportedCodecError(
            f"unknown compression codec id {name}; use 0-4 (none, gzip, snappy, lz4, zstd)"
        )
    key = name.lower()
    if key in CODEC_IDS:
        return CODEC_IDS[key]
    raise UnsupportedCodecError(
        f"unknown compression type {name!r}; use None, 'gzip', 'snappy', 'lz4' or 'zstd'"
    )


def codec_name(codec: int) -> str:
    return CODEC_NAMES.get(codec, f"unknown({codec})")


# ---------------------------------------------------------------------------------------------
# compress


def compress(codec: int, data: bytes | bytearray | memoryview, level: int | None = None) -> bytes:
    """Compress ``data`` with the codec ``codec`` (0-4). Codec 0 returns the data unchanged."""
    if codec == LZ4:
        # level 1 is lz4's fast mode, what Kafka's Java client uses by default; cramjam's own
        # default picks the slow high-compression mode.
        comp = cramjam.lz4.Compressor(
            level=level if level is not None else 1, content_checksum=False, block_linked=False
        )
        comp.compress(data)
        return bytes(comp.finish())
    if codec == SNAPPY:
        return _xerial_compress(data)
    if codec == ZSTD:
        return bytes(cramjam.zstd.compress(data, level=level if level is not None else 3))
    if codec == GZIP:
        cobj = zlib.compressobj(level if level is not None else 6, zlib.DEFLATED, 31)
        return cobj.compress(data) + cobj.flush()
    if codec == NONE:
        return bytes(data)
    raise UnsupportedCodecError(
        f"unknown compression codec id {codec}; use 0-4 (none, gzip, snappy, lz4, zstd)"
    )


def _xerial_compress(data: bytes | bytearray | memoryview) -> bytes:
    view = memoryview(data)
    parts = [_XERIAL_HEADER]
    compress_raw = cramjam.snappy.compress_raw
    # empty input still gets one (empty) block: some readers take a bare 16-byte header for raw snappy
    for start in range(0, max(len(view), 1), XERIAL_BLOCK_SIZE):
        block = bytes(compress_raw(view[start : start + XERIAL_BLOCK_SIZE]))
        parts.append(_pack_i32(len(block)))
        parts.append(block)
    return b"".join(parts)


# ---------------------------------------------------------------------------------------------
# decompress


def decompress(codec: int, data: bytes | bytearray | memoryview, max_size: int | None = None) -> bytes:
    """Decompress ``data``; raise CorruptRecordError on garbage or when output exceeds ``max_size``."""
    try:
        if codec == LZ4:
            if max_size is not None:
                _check_declared(codec, _lz4_content_size(data), max_size)
            out = bytes(cramjam.lz4.decompress(data))
        elif codec == SNAPPY:
            return _snappy_decompress(data, max_size)
        elif codec == ZSTD:
            if max_size is not None:
                _check_declared(codec, _zstd_content_size(data), max_size)
            out = bytes(cramjam.zstd.decompress(data))
        elif codec == GZIP:
            return _gzip_decompress(data, max_size)
        elif codec == NONE:
            out = bytes(data)
        else:
            raise UnsupportedCodecError(f"unknown compression codec id {codec} in record batch attributes")
    except (_DecompressionError, ValueError, TypeError, OverflowError, MemoryError) as exc:
        raise CorruptRecordError(f"{codec_name(codec)} data does not decompress: {exc}") from None
    if max_size is not None and len(out) > max_size:
        raise _too_big(codec, len(out), max_size)
    return out


def _too_big(codec: int, size: int, max_size: int) -> CorruptRecordError:
    return CorruptRecordError(
        f"{codec_name(codec)} data decompresses to {size} bytes, more than the limit of {max_size}; "
        "raise the fetch/record size limits if such batches are expected"
    )


def _check_declared(codec: int, declared: int | None, max_size: int) -> None:
    if declared is not None and declared > max_size:
        raise _too_big(codec, declared, max_size)


def _gzip_decompress(data: bytes | bytearray | memoryview, max_size: int | None) -> bytes:
    # 47 = 32 + 15: accept a gzip or zlib header; loop for concatenated gzip members.
    out: list[bytes] = []
    total = 0
    remaining: bytes | bytearray | memoryview = data
    try:
        while True:
            dobj = zlib.decompressobj(47)
            if max_size is None:
                chunk = dobj.decompress(remaining)
            else:
                chunk = dobj.decompress(remaining, max_size - total + 1)
            total += len(chunk)
            if max_size is not None and total > max_size:
                raise _too_big(GZIP, total, max_size)
            out.append(chunk)
            if not dobj.eof:
                raise CorruptRecordError("gzip data does not decompress: stream is truncated")
            remaining = dobj.unused_data
            if not remaining:
                break
    except zlib.error as exc:
        raise CorruptRecordError(f"gzip data does not decompress: {exc}") from None
    return out[0] if len(out) == 1 else b"".join(out)


def _snappy_decompress(data: bytes | bytearray | memoryview, max_size: int | None) -> bytes:
    raw_len = cramjam.snappy.decompress_raw_len
    raw = cramjam.snappy.decompress_raw
    if len(data) >= 16 and bytes(data[:8]) == XERIAL_MAGIC:
        view = memoryview(data)
        pos = 16
        end = len(view)
        out: list[bytes] = []
        total = 0
        while pos < end:
            if pos + 4 > end:
                raise CorruptRecordError("snappy data does not decompress: xerial block length is truncated")
            (size,) = _unpack_i32_from(view, pos)
            pos += 4
            if size < 0 or pos + size > end:
                raise CorruptRecordError(
                    f"snappy data does not decompress: xerial block of {size} bytes is truncated"
                )
            block = view[pos : pos + size]
            pos += size
            if max_size is not None:
                total += raw_len(block)
                if total > max_size:
                    raise _too_big(SNAPPY, total, max_size)
            out.append(bytes(raw(block)))
        return b"".join(out)
    if max_size is not None:
        declared = raw_len(data)
        if declared > max_size:
            raise _too_big(SNAPPY, declared, max_size)
    return bytes(raw(data))


def _lz4_content_size(data: bytes | bytearray | memoryview) -> int | None:
    """The content size an lz4 frame declares in its descriptor, if it declares one."""
    if len(data) >= 14 and bytes(data[:4]) == b"\x04\x22\x4d\x18" and data[4] & 0x08:
        return int.from_bytes(bytes(data[6:14]), "little")
    return None


def _zstd_content_size(data: bytes | bytearray | memoryview) -> int | None:
    """The content size a zstd frame header declares (RFC 8878 section 3.1.1.1), if any."""
    if len(data) < 6 or bytes(data[:4]) != b"\x28\xb5\x2f\xfd":
        return None
    fhd = data[4]
    fcs_flag = fhd >> 6
    single_segment = (fhd >> 5) & 1
    did_flag = fhd & 3
    pos = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[did_flag]
    size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if size == 0 or len(data) < pos + size:
        return None
    value = int.from_bytes(bytes(data[pos : pos + size]), "little")
    return value + 256 if size == 2 else value
