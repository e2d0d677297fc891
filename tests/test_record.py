"""RecordBatch v2 and legacy message-set codec: golden bytes, round trips, kafka-python interop, corruption."""

from __future__ import annotations

import struct

import crc32c
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkakit.errors import CorruptRecordError
from kafkakit.record import batch as rb
from kafkakit.record.batch import (
    BatchHeader,
    ControlRecordType,
    Record,
    batch_crc_ok,
    decode_batch,
    decode_control_record_key,
    decode_control_record_value,
    decode_records,
    encode_batch,
    encode_control_batch,
    estimate_size_in_bytes,
    iter_batches,
    read_batch_header,
    record_size,
    set_base_offset,
    set_partition_leader_epoch,
)
from kafkakit.record.legacy import decode_message_set

kafka_codec = pytest.importorskip("kafka.codec")
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder  # noqa: E402
from kafka.record.legacy_records import LegacyRecordBatchBuilder  # noqa: E402
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder  # noqa: E402

CODECS = [0, 1, 2, 3, 4]
_HAS = {
    0: lambda: True,
    1: kafka_codec.has_gzip,
    2: kafka_codec.has_snappy,
    3: kafka_codec.has_lz4,
    4: kafka_codec.has_zstd,
}


def need_kafka_python_codec(codec: int) -> None:
    if not _HAS[codec]():
        pytest.skip(f"kafka-python lacks codec {codec}: pip install python-snappy lz4 zstandard xxhash")


def _i64(v: int) -> bytes:
    return struct.pack(">q", v)


def _i32(v: int) -> bytes:
    return struct.pack(">i", v)


# --------------------------------------------------------------------------------------------
# golden bytes


def test_crc32c_library_is_castagnoli() -> None:
    # the CRC-32C check value from RFC 3720 / the Castagnoli catalogue
    assert crc32c.crc32c(b"123456789") == 0xE3069283


def test_golden_batch_bytes_built_by_hand() -> None:
    records = [(1000, b"k", b"v", [("h", b"x")]), (999, None, None, None)]
    # record 0: attrs 0, tsDelta 0, offsetDelta 0, key len 1 (zigzag 2) 'k', value len 1 'v',
    # 1 header: key len 1 'h', value len 1 'x'  -> 12 body bytes, length zigzag(12) = 0x18
    rec0 = bytes([0x18, 0x00, 0x00, 0x00, 0x02, 0x6B, 0x02, 0x76, 0x02, 0x02, 0x68, 0x02, 0x78])
    # record 1: attrs 0, tsDelta -1 (zigzag 1), offsetDelta 1 (zigzag 2), key null (-1 -> 1),
    # value null, 0 headers -> 6 body bytes, length zigzag(6) = 0x0c
    rec1 = bytes([0x0C, 0x00, 0x01, 0x02, 0x01, 0x01, 0x00])
    body = rec0 + rec1
    covered = (
        b"\x00\x00"  # attributes
        + _i32(1)  # lastOffsetDelta
        + _i64(1000)  # baseTimestamp: the first record's
        + _i64(1000)  # maxTimestamp: the largest, not the last
        + _i64(-1)  # producerId
        + b"\xff\xff"  # producerEpoch
        + _i32(-1)  # baseSequence
        + _i32(2)  # recordsCount
        + body
    )
    crc = crc32c.crc32c(covered)
    expected = _i64(0) + _i32(49 + len(body)) + _i32(-1) + b"\x02" + struct.pack(">I", crc) + covered
    assert len(expected) == 61 + 20
    got = encode_batch(records)
    assert got == expected
    # kafka-python's builder makes the same bytes, except that it writes leader epoch 0 where
    # the Java producer (and we) write -1; the CRC does not cover that field
    builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 1 << 20)
    for i, (ts, k, v, h) in enumerate(records):
        builder.append(i, ts, k, v, list(h or []))
    theirs = bytearray(builder.build())
    assert theirs[12:16] == _i32(0)
    set_partition_leader_epoch(theirs, 0, -1)
    assert bytes(theirs) == expected


def test_header_fields_and_derived_properties() -> None:
    data = encode_batch(
        [(5, b"a", b"b", None)] * 3,
        base_offset=100,
        compression=3,
        timestamp_type=0,
        producer_id=77,
        producer_epoch=4,
        base_sequence=2147483646,
        transactional=True,
        partition_leader_epoch=9,
    )
    h = read_batch_header(data)
    assert isinstance(h, BatchHeader)
    assert (h.base_offset, h.partition_leader_epoch, h.magic, h.last_offset_delta) == (100, 9, 2, 2)
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.records_count) == (77, 4, 2147483646, 3)
    assert h.batch_length == len(data) - 12
    assert h.size_in_bytes == len(data)
    assert h.compression == 3
    assert h.timestamp_type == 0
    assert h.is_transactional is True
    assert h.is_control is False
    assert h.last_offset == 102
    assert h.next_offset == 103
    assert h.last_sequence == 0  # wraps at int32 max
    assert h.crc == struct.unpack_from(">I", data, 17)[0]


def test_encode_rejects_empty_and_bad_codec() -> None:
    with pytest.raises(ValueError):
        encode_batch([])
    with pytest.raises(ValueError):
        encode_batch([(0, None, b"v", None)], compression=5)
    with pytest.raises(TypeError):
        encode_batch([(0, None, "text is not bytes", None)])  # type: ignore[list-item]


def test_record_sizes_and_record_fields() -> None:
    recs = [(10, b"key", b"x" * 300, [("a", b"1"), ("b", None)]), (11, None, None, None)]
    _h, out = decode_batch(encode_batch(recs))
    assert out[0] == Record(0, 10, b"key", b"x" * 300, [("a", b"1"), ("b", None)], out[0].size_in_bytes, None)
    assert out[0].size_in_bytes == record_size(0, 0, b"key", b"x" * 300, [("a", b"1"), ("b", None)])
    assert out[1].size_in_bytes == record_size(1, 1, None, None, None) == 7
    assert (out[0].serialized_key_size, out[0].serialized_value_size, out[0].serialized_header_size) == (
        3,
        300,
        3,
    )
    assert (out[1].serialized_key_size, out[1].serialized_value_size, out[1].serialized_header_size) == (
        -1,
        -1,
        -1,
    )
    one = encode_batch([recs[0]])
    assert estimate_size_in_bytes(b"key", b"x" * 300, [("a", b"1"), ("b", None)]) >= len(one)


def test_large_values_and_deltas_use_long_varints() -> None:
    big = bytes(range(256)) * 400  # 102400 bytes: a 3-byte varint length
    recs = [(0, b"k" * 20000, big, None), (10**12, None, b"", [("h" * 9000, big[:70000])])]
    recs += [(5, b"%d" % i, b"v", None) for i in range(20000)]  # offset deltas past the table
    h, out = decode_batch(encode_batch(recs))
    assert h.max_timestamp == 10**12
    assert out[0].value == big and out[0].key == b"k" * 20000
    assert out[1].timestamp == 10**12 and out[1].headers == [("h" * 9000, big[:70000])]
    assert [r.offset for r in out] == list(range(len(recs)))
    assert out[-1].key == b"19999"


def test_log_append_time_gives_every_record_the_max_timestamp() -> None:
    data = encode_batch(
        [(1, b"a", b"1", None), (7, b"b", b"2", None), (3, b"c", b"3", None)], timestamp_type=1
    )
    h, out = decode_batch(data)
    assert h.timestamp_type == 1
    assert [r.timestamp for r in out] == [7, 7, 7]
    # kafka-python agrees
    assert [r.timestamp for r in DefaultRecordBatch(data)] == [7, 7, 7]


# --------------------------------------------------------------------------------------------
# round trips


headers_st = st.lists(st.tuples(st.text(max_size=12), st.none() | st.binary(max_size=40)), max_size=4)
record_st = st.tuples(
    st.integers(min_value=-1, max_value=2**45),
    st.none() | st.binary(max_size=64),
    st.none() | st.binary(max_size=600),
    st.none() | headers_st,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(record_st, min_size=1, max_size=30),
    codec=st.sampled_from(CODECS),
    base_offset=st.integers(min_value=0, max_value=2**62),
    producer=st.tuples(
        st.integers(-1, 2**62), st.integers(-1, 32767), st.integers(-1, 2**31 - 1), st.booleans()
    ),
    ts_type=st.sampled_from([0, 1]),
)
def test_round_trip_hypothesis(
    records: list[rb.RecordInput],
    codec: int,
    base_offset: int,
    producer: tuple[int, int, int, bool],
    ts_type: int,
) -> None:
    pid, epoch, seq, txn = producer
    data = encode_batch(
        records,
        base_offset=base_offset,
        compression=codec,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        transactional=txn,
        timestamp_type=ts_type,
    )
    assert batch_crc_ok(data)
    h, out = decode_batch(data)
    max_ts = max(r[0] for r in records)
    assert (h.base_offset, h.records_count, h.last_offset_delta) == (
        base_offset,
        len(records),
        len(records) - 1,
    )
    assert (h.base_timestamp, h.max_timestamp, h.compression, h.timestamp_type) == (
        records[0][0],
        max_ts,
        codec,
        ts_type,
    )
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.is_transactional) == (pid, epoch, seq, txn)
    assert len(out) == len(records)
    for i, (rec, (ts, key, value, headers)) in enumerate(zip(out, records, strict=True)):
        assert rec.offset == base_offset + i
        assert rec.timestamp == (max_ts if ts_type else ts)
        assert rec.key == key and rec.value == value
        assert rec.headers == list(headers or [])
    # the walker sees exactly this one batch
    walked = list(iter_batches(data))
    assert [(pos, hdr) for pos, hdr, _v in walked] == [(0, h)]


@settings(max_examples=60, deadline=None)
@given(records=st.lists(record_st, min_size=1, max_size=10), codec=st.sampled_from(CODECS))
def test_kafka_python_reads_what_we_write(records: list[rb.RecordInput], codec: int) -> None:
    need_kafka_python_codec(codec)
    data = encode_batch(
        records, base_offset=42, compression=codec, producer_id=5, producer_epoch=1, base_sequence=0
    )
    theirs = DefaultRecordBatch(data)
    assert theirs.validate_crc()
    assert (theirs.base_offset, theirs.compression_type, theirs.producer_id, theirs.base_sequence) == (
        42,
        codec,
        5,
        0,
    )
    got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in theirs]
    assert got == [(42 + i, ts, k, v, list(h or [])) for i, (ts, k, v, h) in enumerate(records)]


@settings(max_examples=60, deadline=None)
@given(records=st.lists(record_st, min_size=1, max_size=10), codec=st.sampled_from(CODECS))
def test_we_read_what_kafka_python_writes(records: list[rb.RecordInput], codec: int) -> None:
    need_kafka_python_codec(codec)
    builder = DefaultRecordBatchBuilder(2, codec, False, 9, 3, 17, 1 << 24)
    for i, (ts, key, value, headers) in enumerate(records):
        builder.append(i, ts, key, value, list(headers or []))
    data = bytes(builder.build())
    h, out = decode_batch(data)
    assert (h.producer_id, h.producer_epoch, h.base_sequence) == (9, 3, 17)
    assert h.compression in (0, codec)  # kafka-python keeps tiny batches uncompressed
    got = [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in out]
    assert got == [(i, ts, k, v, list(hd or [])) for i, (ts, k, v, hd) in enumerate(records)]


@pytest.mark.parametrize("codec", CODECS)
def test_memory_records_of_several_batches_from_kafka_python(codec: int) -> None:
    need_kafka_python_codec(codec)
    blob = b""
    for b in range(3):
        builder = MemoryRecordsBuilder(2, codec, 1 << 20, offset=b * 10)
        for i in range(4):
            builder.append(1000 + i, b"k%d" % i, b"v%d-%d" % (b, i), [])
        builder.close()
        blob += bytes(builder.buffer())
    decoded = decode_records(blob)
    # kafka-python writes base offset 0 and puts the start offset into the offset deltas
    assert [(h.base_offset, h.last_offset) for h, _ in decoded] == [(0, 3), (0, 13), (0, 23)]
    assert [r.value for _, rs in decoded for r in rs][-1] == b"v2-3"
    assert [r.offset for _, rs in decoded for r in rs] == [b * 10 + i for b in range(3) for i in range(4)]


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_memory_records_walks_our_concatenation(codec: int) -> None:
    need_kafka_python_codec(codec)
    blob = b"".join(
        encode_batch([(i, None, b"%d" % i, None)] * 2, base_offset=i * 2, compression=codec) for i in range(4)
    )
    mr = MemoryRecords(blob)
    offsets: list[int] = []
    while mr.has_next():
        batch = mr.next_batch()
        offsets.extend(r.offset for r in batch)
    assert offsets == list(range(8))


# --------------------------------------------------------------------------------------------
# control batches


@pytest.mark.parametrize("commit", [True, False])
def test_control_batch(commit: bool) -> None:
    data = encode_control_batch(commit, 1234, 5, 99999, coordinator_epoch=7, base_offset=50)
    h, out = decode_batch(data)
    assert h.is_control and h.is_transactional
    assert (h.producer_id, h.producer_epoch, h.base_sequence, h.base_offset) == (1234, 5, -1, 50)
    assert len(out) == 1
    version, ctype = decode_control_record_key(out[0].key)
    assert version == 0
    assert ctype == (ControlRecordType.COMMIT if commit else ControlRecordType.ABORT)
    assert decode_control_record_value(out[0].value) == (0, 7)
    theirs = list(DefaultRecordBatch(data))
    assert theirs[0].type == ctype and theirs[0].commit is commit and theirs[0].abort is (not commit)
    with pytest.raises(CorruptRecordError):
        decode_control_record_key(b"\x00")


# --------------------------------------------------------------------------------------------
# in-place patches and the walker


def test_set_base_offset_and_leader_epoch_keep_crc_valid() -> None:
    one = encode_batch([(1, b"a", b"b", None)] * 3)
    buf = bytearray(one + one)
    set_base_offset(buf, 0, 1000)
    set_base_offset(buf, len(one), 1003)
    set_partition_leader_epoch(memoryview(buf), len(one), 12)
    decoded = decode_records(buf)
    assert [r.offset for _, rs in decoded for r in rs] == [1000, 1001, 1002, 1003, 1004, 1005]
    assert [h.partition_leader_epoch for h, _ in decoded] == [-1, 12]
    assert batch_crc_ok(memoryview(buf)[len(one) :])


def test_iter_batches_stops_quietly_at_a_partial_tail() -> None:
    a = encode_batch([(1, b"a", b"x" * 50, None)] * 2)
    b = encode_batch([(2, b"b", b"y" * 50, None)] * 2, base_offset=2)
    blob = a + b
    for cut in range(len(a), len(blob)):
        walked = list(iter_batches(blob[:cut]))
        assert [pos for pos, _h, _v in walked] == [0]
        assert len(decode_records(blob[:cut])) == 1
    walked = list(iter_batches(blob))
    assert [(pos, h.base_offset, len(v)) for pos, h, v in walked] == [(0, 0, len(a)), (len(a), 2, len(b))]
    assert list(iter_batches(b"")) == []


def test_iter_batches_rejects_impossible_lengths_and_magic() -> None:
    good = bytearray(encode_batch([(1, b"a", b"b", None)]))
    bad = bytearray(good)
    struct.pack_into(">i", bad, 8, 10)  # below the 49-byte minimum
    with pytest.raises(CorruptRecordError):
        list(iter_batches(bytes(good + bad)))
    bad = bytearray(good)
    bad[16] = 7
    with pytest.raises(CorruptRecordError, match="magic"):
        list(iter_batches(bytes(bad)))


# --------------------------------------------------------------------------------------------
# corruption never leaks IndexError / struct.error


def test_crc_corruption_is_detected_at_every_covered_byte() -> None:
    data = encode_batch([(1, b"key", b"value", [("h", b"v")]), (2, None, b"v2", None)], base_offset=77)
    for i in range(21, len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        assert not batch_crc_ok(bad)
        with pytest.raises(CorruptRecordError, match="base offset 77"):
            decode_batch(bytes(bad))


def test_uncovered_fields_do_not_break_the_crc() -> None:
    data = bytearray(encode_batch([(1, b"k", b"v", None)]))
    data[0:8] = _i64(5)
    data[12:16] = _i32(3)
    assert batch_crc_ok(data)
    assert decode_batch(data)[1][0].offset == 5


def test_every_truncation_raises_corrupt_record_error() -> None:
    data = encode_batch([(1, b"key", b"v" * 200, [("h", b"x")])] * 3, compression=0)
    for cut in range(len(data)):
        with pytest.raises(CorruptRecordError, match="base offset 0" if cut >= 8 else "truncated"):
            decode_batch(data[:cut])


@pytest.mark.parametrize("codec", CODECS)
def test_mutations_without_crc_check_raise_only_corrupt_record_error(codec: int) -> None:
    data = encode_batch([(1, b"key", b"v" * 40, [("h", b"x")]), (5, None, b"", None)], compression=codec)
    for i in range(21, len(data)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(data)
            bad[i] ^= flip
            try:
                decode_batch(bytes(bad), check_crc=False)
            except CorruptRecordError:
                pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_leaks_low_level_errors(garbage: bytes) -> None:
    for blob in (garbage, encode_batch([(1, b"k", b"v", None)])[:17] + garbage):
        try:
            decode_batch(blob, check_crc=False)
        except CorruptRecordError:
            pass
        try:
            decode_records(blob, check_crc=False)
        except CorruptRecordError:
            pass


@settings(max_examples=200, deadline=None)
@given(body=st.binary(min_size=1, max_size=120), count=st.integers(0, 2**31 - 1))
def test_garbage_records_area_with_valid_header(body: bytes, count: int) -> None:
    tail = struct.pack(">hiqqqhii", 0, 0, 0, 0, -1, -1, -1, count) + body
    blob = _i64(0) + _i32(49 + len(body)) + _i32(-1) + b"\x02" + struct.pack(">I", crc32c.crc32c(tail)) + tail
    try:
        decode_batch(blob)
    except CorruptRecordError as exc:
        assert "base offset 0" in str(exc)


def test_decompression_limit_applies_to_batches() -> None:
    data = encode_batch([(1, None, b"\x00" * 100000, None)], compression=1)
    with pytest.raises(CorruptRecordError, match="limit"):
        decode_batch(data, max_uncompressed_size=50000)
    assert decode_batch(data, max_uncompressed_size=200000)[1][0].value == b"\x00" * 100000


# --------------------------------------------------------------------------------------------
# legacy v0 / v1


def _legacy(magic: int, codec: int, n: int = 5, offset0: int = 0) -> bytes:
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=codec, batch_size=1 << 20)
    for i in range(n):
        builder.append(offset0 + i, 1000 + i if magic else None, b"k%d" % i if i % 2 else None, b"v%d" % i)
    return bytes(builder.build())


@pytest.mark.parametrize("magic", [0, 1])
@pytest.mark.parametrize("codec", [0, 1, 2, 3])
def test_legacy_message_sets_from_kafka_python(magic: int, codec: int) -> None:
    need_kafka_python_codec(codec)
    data = _legacy(magic, codec)
    decoded = decode_records(data)
    records = [r for _h, rs in decoded for r in rs]
    assert [r.offset for r in records] == [0, 1, 2, 3, 4]
    assert [r.value for r in records] == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    assert [r.key for r in records] == [None, b"k1", None, b"k3", None]
    assert [r.timestamp for r in records] == ([1000, 1001, 1002, 1003, 1004] if magic else [-1] * 5)
    assert all(r.headers == [] and r.checksum is not None for r in records)
    assert all(h.magic == magic for h, _ in decoded)
    assert decode_message_set(data) == records
    if codec:
        ((h, _rs),) = decoded
        assert (h.base_offset, h.last_offset, h.records_count, h.compression) == (0, 4, 5, codec)


@pytest.mark.parametrize("codec", [1, 2, 3])
def test_legacy_v1_wrapper_offset_makes_inner_offsets_absolute(codec: int) -> None:
    need_kafka_python_codec(codec)
    data = bytearray(_legacy(1, codec))
    struct.pack_into(">q", data, 0, 104)  # a broker assigns the last inner offset to the wrapper
    ((h, records),) = decode_records(data)
    assert [r.offset for r in records] == [100, 101, 102, 103, 104]
    assert (h.base_offset, h.last_offset) == (100, 104)
    struct.pack_into(">q", data, 0, 2)  # below the last relative offset: impossible
    with pytest.raises(CorruptRecordError):
        decode_records(data)


def test_legacy_log_append_time_uses_wrapper_timestamp() -> None:
    data = bytearray(_legacy(1, 1))
    data[17] |= 0x08  # wrapper attributes: LogAppendTime
    struct.pack_into(">q", data, 18, 5555)
    crc = __import__("zlib").crc32(bytes(data[16:]))
    struct.pack_into(">I", data, 12, crc)
    ((h, records),) = decode_records(data)
    assert h.timestamp_type == 1
    assert [r.timestamp for r in records] == [5555] * 5


@pytest.mark.parametrize("magic", [0, 1])
def test_legacy_corruption_and_truncation(magic: int) -> None:
    data = _legacy(magic, 1)
    for i in range(16, len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x04
        with pytest.raises(CorruptRecordError):
            decode_batch(bytes(bad))
        try:
            decode_batch(bytes(bad), check_crc=False)
        except CorruptRecordError:
            pass
    for cut in range(len(data)):
        with pytest.raises(CorruptRecordError, match="offset 0" if cut >= 8 else "truncated"):
            decode_batch(data[:cut])
        assert len(decode_records(data[:cut])) == 0


def test_mixed_legacy_and_v2_in_one_blob() -> None:
    blob = _legacy(1, 0, n=2) + encode_batch([(1, b"k", b"v2", None)], base_offset=2)
    records = [r for _h, rs in decode_records(blob) for r in rs]
    assert [(r.offset, r.value) for r in records] == [(0, b"v0"), (1, b"v1"), (2, b"v2")]
    assert [h.magic for _p, h, _v in iter_batches(blob)] == [1, 1, 2]
