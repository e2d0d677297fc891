"""Compression codecs: round trips, Kafka's xerial snappy framing, lz4 frame flags, peers, garbage, bombs."""

from __future__ import annotations

import gzip
import os
import struct
import zlib

import cramjam
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkakit.errors import CorruptRecordError, UnsupportedCodecError
from kafkakit.record import compression as c

kafka_codec = pytest.importorskip("kafka.codec")

CODECS = [c.GZIP, c.SNAPPY, c.LZ4, c.ZSTD]
SAMPLES = [
    b"",
    b"a",
    b"hello kafka " * 1000,
    os.urandom(100_000),
    bytes(range(256)) * 4096,  # 1 MiB, compressible
]


@pytest.mark.parametrize("codec", [c.NONE, *CODECS])
@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_round_trip(codec: int, sample: int) -> None:
    data = SAMPLES[sample]
    packed = c.compress(codec, data)
    assert isinstance(packed, bytes)
    assert c.decompress(codec, packed) == data
    assert c.decompress(codec, memoryview(packed)) == data
    assert c.decompress(codec, bytearray(packed), max_size=len(data)) == data


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=5000), codec=st.sampled_from(CODECS))
def test_round_trip_hypothesis(data: bytes, codec: int) -> None:
    assert c.decompress(codec, c.compress(codec, data)) == data


def test_codec_ids() -> None:
    assert (c.NONE, c.GZIP, c.SNAPPY, c.LZ4, c.ZSTD) == (0, 1, 2, 3, 4)
    assert [c.codec_id(x) for x in (None, "gzip", "SNAPPY", "lz4", "zstd", 3)] == [0, 1, 2, 3, 4, 3]
    with pytest.raises(UnsupportedCodecError):
        c.codec_id("brotli")
    with pytest.raises(UnsupportedCodecError):
        c.codec_id(9)
    with pytest.raises(UnsupportedCodecError):
        c.compress(7, b"x")


def test_gzip_is_a_gzip_container() -> None:
    packed = c.compress(c.GZIP, b"payload" * 10)
    assert packed[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed) == b"payload" * 10
    # concatenated members and zlib streams are read too
    assert c.decompress(c.GZIP, gzip.compress(b"ab") + gzip.compress(b"cd")) == b"abcd"
    assert c.decompress(c.GZIP, zlib.compress(b"zlib stream")) == b"zlib stream"


def test_snappy_writes_xerial_framing_with_32k_blocks() -> None:
    data = os.urandom(70_000)
    packed = c.compress(c.SNAPPY, data)
    assert packed[:8] == b"\x82SNAPPY\x00"
    assert struct.unpack(">ii", packed[8:16]) == (1, 1)
    pos, blocks = 16, []
    while pos < len(packed):
        (n,) = struct.unpack_from(">i", packed, pos)
        blocks.append(bytes(cramjam.snappy.decompress_raw(packed[pos + 4 : pos + 4 + n])))
        pos += 4 + n
    assert pos == len(packed)
    assert [len(b) for b in blocks] == [32768, 32768, 70_000 - 65536]
    assert b"".join(blocks) == data


def test_snappy_reads_raw_blocks_and_truncated_framing_is_corrupt() -> None:
    data = b"raw snappy without framing " * 50
    assert c.decompress(c.SNAPPY, bytes(cramjam.snappy.compress_raw(data))) == data
    packed = c.compress(c.SNAPPY, data)
    for cut in (17, 19, 20, len(packed) - 1):
        with pytest.raises(CorruptRecordError, match="snappy"):
            c.decompress(c.SNAPPY, packed[:cut])


def test_lz4_frame_uses_independent_blocks_as_kafka_requires() -> None:
    packed = c.compress(c.LZ4, b"x" * 300_000)
    assert packed[:4] == b"\x04\x22\x4d\x18"
    flg = packed[4]
    assert flg >> 6 == 1  # frame version 01
    assert flg & 0x20  # block independence: Kafka's Java reader rejects dependent blocks
    assert flg & 0x03 == 0  # reserved bits


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_codecs_agree(codec: int) -> None:
    enc, dec = {
        c.GZIP: (kafka_codec.gzip_encode, kafka_codec.gzip_decode),
        c.SNAPPY: (kafka_codec.snappy_encode, kafka_codec.snappy_decode),
        c.LZ4: (kafka_codec.lz4_encode, kafka_codec.lz4_decode),
        c.ZSTD: (kafka_codec.zstd_encode, kafka_codec.zstd_decode),
    }[codec]
    has = {c.GZIP: "has_gzip", c.SNAPPY: "has_snappy", c.LZ4: "has_lz4", c.ZSTD: "has_zstd"}[codec]
    if not getattr(kafka_codec, has)():
        pytest.skip("kafka-python lacks this codec: pip install python-snappy lz4 zstandard")
    for data in SAMPLES[:4]:
        assert dec(c.compress(codec, data)) == data
        assert c.decompress(codec, enc(data)) == data


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(
    "garbage",
    [b"\x05\x00", b"not compressed at all, just text", b"\xff" * 64, b"\x82SNAPPY\x00\x00\x00\x00\x01"],
)
def test_garbage_raises_corrupt_record_error_naming_codec(codec: int, garbage: bytes) -> None:
    with pytest.raises(CorruptRecordError, match=c.codec_name(codec)):
        c.decompress(codec, garbage)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), codec=st.sampled_from(CODECS))
def test_random_input_never_leaks_library_errors(data: bytes, codec: int) -> None:
    try:
        c.decompress(codec, data, max_size=1 << 20)
    except CorruptRecordError:
        pass


@pytest.mark.parametrize("codec", CODECS)
def test_decompression_bomb_guard(codec: int) -> None:
    data = b"\x00" * 2_000_000
    packed = c.compress(codec, data)
    assert len(packed) < 200_000
    with pytest.raises(CorruptRecordError, match="limit"):
        c.decompress(codec, packed, max_size=1_000_000)
    assert c.decompress(codec, packed, max_size=2_000_000) == data


def test_declared_sizes_are_checked_before_decompressing() -> None:
    z = bytes(cramjam.zstd.compress(b"\x00" * 100_000))
    assert c._zstd_content_size(z) == 100_000
    lz = cramjam.lz4.Compressor()
    lz.compress(b"abc")
    assert c._lz4_content_size(bytes(lz.finish())) is None  # no content size in the descriptor
    with pytest.raises(CorruptRecordError, match="100000 bytes"):
        c.decompress(c.ZSTD, z, max_size=10)
