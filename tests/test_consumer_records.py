"""The consumer's decoding path, records bytes -> ConsumerRecords, against the codec as oracle:
the fast v2 path must give exactly what ``kafkakit.record.decode_batch`` gives; control records,
aborted transactions, records before the fetch offset and trailing partial batches never reach the
user; corrupt batches and failing deserializers stop decoding with an error naming partition and offset."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkakit.client.consumer.records import (
    ConsumerRecord,
    RecordDeserializationError,
    decode_partition,
    make_deserializer,
)
from kafkakit.errors import CorruptRecordError
from kafkakit.record import GZIP, LZ4, NONE, SNAPPY, ZSTD, decode_batch, encode_batch, encode_control_batch
from kafkakit.structs import TopicPartition

TP = TopicPartition("topic-a", 3)
TS = 1_700_000_000_000


def expected_records(blob: bytes, fetch_offset: int = 0) -> list[ConsumerRecord]:
    """What the codec says, shaped as ConsumerRecords (the oracle)."""
    from kafkakit.record import iter_batches

    out = []
    for _pos, header, view in iter_batches(blob):
        if header.is_control:
            continue
        h, recs = decode_batch(view)
        for r in recs:
            if r.offset < fetch_offset:
                continue
            out.append(
                ConsumerRecord(
                    TP.topic,
                    TP.partition,
                    r.offset,
                    r.timestamp,
                    h.timestamp_type,
                    r.key,
                    r.value,
                    r.headers,
                    None,
                    r.serialized_key_size,
                    r.serialized_value_size,
                    r.serialized_header_size,
                    h.partition_leader_epoch,
                )
            )
    return out


record_st = st.tuples(
    st.integers(-(2**40), 2**40),
    st.one_of(st.none(), st.binary(max_size=300)),
    st.one_of(st.none(), st.binary(max_size=3000)),
    st.one_of(
        st.none(),
        st.lists(st.tuples(st.text(max_size=20), st.one_of(st.none(), st.binary(max_size=50))), max_size=4),
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(record_st, min_size=1, max_size=40), min_size=1, max_size=4),
    st.sampled_from([NONE, GZIP, SNAPPY, LZ4, ZSTD]),
    st.integers(0, 1),
    st.integers(-1, 50),
)
def test_fast_path_equals_codec(batches: list[list[Any]], codec: int, ts_type: int, epoch: int) -> None:
    blob = b""
    offset = 100
    for recs in batches:
        inputs = [(TS + dt, k, v, h) for dt, k, v, h in recs]
        blob += encode_batch(
            inputs,
            base_offset=offset,
            compression=codec,
            timestamp_type=ts_type,
            partition_leader_epoch=epoch,
        )
        offset += len(recs)
    got = decode_partition(TP, 100, blob)
    assert got.error is None
    assert got.records == expected_records(blob)
    assert got.next_offset == offset
    assert all(type(r) is ConsumerRecord for r in got.records)


def test_records_before_fetch_offset_are_dropped() -> None:
    blob = encode_batch(
        [(TS + i, None, b"v%d" % i, None) for i in range(10)], base_offset=50, compression=SNAPPY
    )
    got = decode_partition(TP, 55, blob)
    assert [r.offset for r in got.records] == [55, 56, 57, 58, 59]
    assert [r.value for r in got.records] == [b"v5", b"v6", b"v7", b"v8", b"v9"]
    assert got.next_offset == 60


def test_batches_wholly_before_fetch_offset_are_skipped_undecoded() -> None:
    first = bytearray(encode_batch([(TS, None, b"old", None)], base_offset=0))
    first[-1] ^= 0xFF  # corrupt, but never decoded
    blob = bytes(first) + encode_batch([(TS, None, b"new", None)], base_offset=1)
    got = decode_partition(TP, 1, blob)
    assert got.error is None
    assert [(r.offset, r.value) for r in got.records] == [(1, b"new")]


def test_trailing_partial_batch_is_left_for_the_next_fetch() -> None:
    a = encode_batch([(TS, b"k", b"a", None)], base_offset=0)
    b = encode_batch([(TS, b"k", b"b", None)], base_offset=1)
    got = decode_partition(TP, 0, a + b[: len(b) - 7])
    assert [r.value for r in got.records] == [b"a"]
    assert got.next_offset == 1
    assert got.error is None


def test_control_batches_are_skipped_and_advance_the_offset() -> None:
    data = encode_batch(
        [(TS, None, b"x", None)], base_offset=0, producer_id=7, producer_epoch=0, transactional=True
    )
    marker = encode_control_batch(True, 7, 0, TS, base_offset=1)
    after = encode_batch([(TS, None, b"y", None)], base_offset=2)
    for read_committed in (False, True):
        got = decode_partition(TP, 0, data + marker + after, read_committed=read_committed)
        assert [(r.offset, r.value) for r in got.records] == [(0, b"x"), (2, b"y")]
    only_marker = decode_partition(TP, 1, marker)
    assert only_marker.records == [] and only_marker.next_offset == 2


def _txn(pid: int, offset: int, values: list[bytes]) -> bytes:
    return encode_batch(
        [(TS, None, v, None) for v in values],
        base_offset=offset,
        producer_id=pid,
        producer_epoch=0,
        transactional=True,
    )


def test_read_committed_hides_aborted_transactions() -> None:
    # pid 1 aborts [0, 1] and [6]; pid 2 commits [2, 3] (interleaved); plain record at 8
    blob = (
        _txn(1, 0, [b"a0", b"a1"])
        + _txn(2, 2, [b"c2", b"c3"])
        + encode_control_batch(False, 1, 0, TS, base_offset=4)
        + encode_control_batch(True, 2, 0, TS, base_offset=5)
        + _txn(1, 6, [b"a6"])
        + encode_control_batch(False, 1, 0, TS, base_offset=7)
        + encode_batch([(TS, None, b"p8", None)], base_offset=8)
    )
    aborted = [{"producer_id": 1, "first_offset": 0}, {"producer_id": 1, "first_offset": 6}]
    committed = decode_partition(TP, 0, blob, read_committed=True, aborted_transactions=aborted)
    assert [r.value for r in committed.records] == [b"c2", b"c3", b"p8"]
    assert committed.next_offset == 9
    uncommitted = decode_partition(TP, 0, blob, read_committed=False, aborted_transactions=aborted)
    assert [r.value for r in uncommitted.records] == [b"a0", b"a1", b"c2", b"c3", b"a6", b"p8"]
    # a transaction of the same producer after the abort marker is visible again
    later = _txn(1, 9, [b"ok9"]) + encode_control_batch(True, 1, 0, TS, base_offset=10)
    both = decode_partition(TP, 0, blob + later, read_committed=True, aborted_transactions=aborted)
    assert [r.value for r in both.records] == [b"c2", b"c3", b"p8", b"ok9"]


def test_crc_mismatch_names_partition_and_offset() -> None:
    good = encode_batch([(TS, None, b"fine", None)], base_offset=40)
    bad = bytearray(encode_batch([(TS, None, b"flipped", None), (TS, None, b"x", None)], base_offset=41))
    bad[-2] ^= 0x01  # the last record's value b'x' becomes b'y'
    got = decode_partition(TP, 40, good + bytes(bad))
    assert [r.value for r in got.records] == [b"fine"]
    assert got.next_offset == 41
    assert isinstance(got.error, CorruptRecordError)
    assert "partition topic-a-3 at offset 41" in str(got.error)
    assert "CRC" in str(got.error)
    # without CRC checks the flipped byte is delivered as data
    unchecked = decode_partition(TP, 40, good + bytes(bad), check_crcs=False)
    assert unchecked.error is None
    assert [r.value for r in unchecked.records] == [b"fine", b"flipped", b"y"]


def test_deserializer_error_stops_at_the_failing_record() -> None:
    blob = encode_batch([(TS, None, v, None) for v in (b"1", b"2", b"x", b"4")], base_offset=10)

    def to_int(data: bytes | None) -> int:
        return int(data or b"")

    got = decode_partition(TP, 10, blob, value_deserializer=make_deserializer(to_int))
    assert [r.value for r in got.records] == [1, 2]
    assert [r.serialized_value_size for r in got.records] == [1, 1]
    assert got.next_offset == 12
    err = got.error
    assert isinstance(err, RecordDeserializationError)
    assert err.topic_partition == TP and err.offset == 12
    assert "value deserializer failed for the record at offset 12 of partition topic-a-3" in str(err)
    assert isinstance(err.cause, ValueError)


def test_deserializer_objects_get_topic_and_headers() -> None:
    seen: list[Any] = []

    class Deser:
        def deserialize(self, topic: str, headers: Any, data: bytes | None) -> Any:
            seen.append((topic, headers))
            return data[::-1] if data else data

    blob = encode_batch([(TS, b"ab", b"cd", [("h", b"1")])], base_offset=0)
    got = decode_partition(TP, 0, blob, key_deserializer=make_deserializer(Deser()))
    assert got.records[0].key == b"ba" and got.records[0].value == b"cd"
    assert seen == [("topic-a", [("h", b"1")])]
    with pytest.raises(TypeError, match="deserializer must be callable"):
        make_deserializer(42)


def test_log_append_time_uses_batch_max_timestamp() -> None:
    blob = bytearray(encode_batch([(TS, None, b"a", None), (TS + 5, None, b"b", None)], timestamp_type=1))
    got = decode_partition(TP, 0, bytes(blob))
    assert [r.timestamp for r in got.records] == [TS + 5, TS + 5]
    assert [r.timestamp_type for r in got.records] == [1, 1]


def test_field_values() -> None:
    blob = encode_batch(
        [(TS, b"key", None, [("h1", b"xyz"), ("h\u00e9", None)])], base_offset=7, partition_leader_epoch=4
    )
    (r,) = decode_partition(TP, 0, blob).records
    assert r == ConsumerRecord(
        "topic-a", 3, 7, TS, 0, b"key", None, [("h1", b"xyz"), ("h\u00e9", None)], None, 3, -1, 2 + 3 + 3, 4
    )


def test_impossible_batch_length_is_corrupt() -> None:
    blob = struct.pack(">qiib", 0, 5, 0, 2) + bytes(60)
    got = decode_partition(TP, 0, blob)
    assert isinstance(got.error, CorruptRecordError)
    assert "topic-a-3" in str(got.error)


def test_empty_blob() -> None:
    assert decode_partition(TP, 5, b"") == ([], 5, None, 0)
    assert decode_partition(TP, 5, None) == ([], 5, None, 0)
