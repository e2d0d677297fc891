"""Differential tests: kafkakit's embedded broker against a single-node Apache Kafka.

Each scenario runs unchanged against both brokers through raw requests (kafkakit.protocol's codec
over a tiny blocking socket, so kafkakit's client is not involved) or kafka-python. The scenario
returns what a client can observe (error codes, offsets, timestamps, records); Apache Kafka's
answer is first checked against the expected value written in the test (this validates the
test), then the embedded broker's answer must be identical.

Compared: error codes, offsets, timestamps, record contents, group generation/leader/protocol,
assignment shapes. Not compared, because they legitimately differ: cluster and node ids, topic
ids, error messages, throttle times, the list of APIs and topic configs served, timing (Kafka
answers UNKNOWN_TOPIC_OR_PARTITION to the Metadata request that auto-creates a topic; the
embedded broker creates it at once).

Known divergences, not asserted (clients ignore this field next to an error): Kafka reports
log_start_offset 0 in Produce errors raised by the log (CRC, sequence, ...), the embedded broker
-1. Divergences that are broker bugs are separate tests marked ``xfail(strict=True)`` with the
precise difference. Deliberate differences (the project's issue asks for them) are tests that
check Kafka's answer and then assert the embedded broker's documented one: ``deliberate()``.
"""

from __future__ import annotations

import struct
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.infra.wire import Closed, Wire

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

# error codes
NONE = 0
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
INVALID_REQUIRED_ACKS = 21
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
UNSUPPORTED_VERSION = 35
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_REPLICA_ASSIGNMENT = 39
INVALID_CONFIG = 40
INVALID_REQUEST = 42
UNSUPPORTED_FOR_MESSAGE_FORMAT = 43
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
UNSUPPORTED_COMPRESSION_TYPE = 76
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
INVALID_RECORD = 87
UNKNOWN_TOPIC_ID = 100

DEADLINE = 30.0


# --------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def brokers(apache_kafka: Any, embedded_broker_module: Any) -> dict[str, str]:
    """{'kafka': bootstrap, 'embedded': bootstrap}: Kafka first (its answers validate the test)."""
    return {"kafka": apache_kafka.bootstrap_servers, "embedded": embedded_broker_module.bootstrap_servers}


class Divergence(AssertionError):
    """The embedded broker answered differently from Apache Kafka (xfail marks expect exactly this)."""


def differential(brokers: dict[str, str], scenario: Callable[[str], Any], expected: Any) -> None:
    """Run ``scenario`` on both brokers: Kafka must give ``expected``, the embedded broker the same.

    A Kafka mismatch is a plain AssertionError (the test is wrong); an embedded mismatch raises
    :class:`Divergence`, which is what the ``xfail(raises=Divergence)`` marks of known broker bugs
    expect, so such a test cannot "pass" by failing for another reason.
    """
    kafka = scenario(brokers["kafka"])
    assert kafka == expected, f"Apache Kafka does not behave as the test expects (fix the test): {kafka!r}"
    embedded = scenario(brokers["embedded"])
    if embedded != kafka:
        raise Divergence(
            f"embedded broker differs from Apache Kafka:\n  kafka:    {kafka!r}\n  embedded: {embedded!r}"
        )


def deliberate(
    brokers: dict[str, str], scenario: Callable[[str], Any], kafka_expected: Any, embedded_expected: Any
) -> None:
    """A documented, deliberate difference: Kafka must give ``kafka_expected`` (so the test notices
    when Kafka changes), the embedded broker ``embedded_expected``."""
    kafka = scenario(brokers["kafka"])
    assert kafka == kafka_expected, (
        f"Apache Kafka does not behave as the test expects (fix the test): {kafka!r}"
    )
    embedded = scenario(brokers["embedded"])
    assert embedded == embedded_expected, f"embedded broker: {embedded!r}"


def known_bug(reason: str) -> pytest.MarkDecorator:
    """A divergence to fix in the broker: the test must fail with :class:`Divergence`."""
    return pytest.mark.xfail(strict=True, raises=Divergence, reason=reason)


def unique(prefix: str = "diff") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_topic(w: Wire, name: str, partitions: int = 1) -> None:
    """CreateTopics v7, then wait until every partition answers ListOffsets.

    Kafka's Metadata shows a leader a moment before the leader serves the partition (Produce
    then gets NOT_LEADER_OR_FOLLOWER, which clients retry); ListOffsets goes through the same
    replica manager as Produce, so its success means the partition is ready.
    """
    r = w.call(
        "CreateTopics",
        7,
        {
            "topics": [{"name": name, "num_partitions": partitions, "replication_factor": 1}],
            "timeout_ms": 15000,
        },
    )
    assert r["topics"][0]["error_code"] == NONE, r
    deadline = time.monotonic() + DEADLINE
    pending = set(range(partitions))
    while pending:
        for p in sorted(pending):
            err = list_offset(w, name, p, -1)[0]
            if err == NONE:
                pending.discard(p)
            else:  # 3: not known to this broker yet, 6: NOT_LEADER_OR_FOLLOWER (yet)
                assert err in (UNKNOWN_TOPIC_OR_PARTITION, 6), f"{name}-{p}: ListOffsets error {err}"
        assert time.monotonic() < deadline, f"topic {name}: partitions {sorted(pending)} not ready"
        if pending:
            time.sleep(0.05)


def produce(
    w: Wire,
    topic: str,
    partition: int,
    records: bytes | None,
    *,
    acks: int = -1,
    version: int = 9,
    transactional_id: str | None = None,
) -> tuple[int, int]:
    """One batch (or record set) to one partition: (error_code, base_offset)."""
    r = w.call(
        "Produce",
        version,
        {
            "transactional_id": transactional_id,
            "acks": acks,
            "timeout_ms": 10000,
            "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}],
        },
    )
    p = r["responses"][0]["partition_responses"][0]
    return p["error_code"], p["base_offset"]


def batch(
    values: list[bytes],
    *,
    ts: int | list[int] | None = None,
    compression: int = 0,
    **kwargs: Any,
) -> bytes:
    from kafkakit.record import encode_batch

    now = int(time.time() * 1000)
    stamps = ts if isinstance(ts, list) else [now if ts is None else ts] * len(values)
    return encode_batch(
        [(t, None, v, []) for t, v in zip(stamps, values, strict=True)], compression=compression, **kwargs
    )


def fetch(
    w: Wire, topic: str, partition: int, offset: int, *, version: int = 12, topic_id: bytes | None = None
) -> tuple[int, int | None, list[tuple[int, bytes | None]]]:
    """Fetch (max_wait 0): (error_code, high_watermark, [(offset, value)]); after a partition error
    the second item is (high_watermark, last_stable_offset, log_start_offset)."""
    from kafkakit.record import decode_records

    t: dict[str, Any] = {
        "partitions": [{"partition": partition, "fetch_offset": offset, "partition_max_bytes": 1 << 20}]
    }
    if version >= 13:
        t["topic_id"] = topic_id
    else:
        t["topic"] = topic
    r = w.call(
        "Fetch",
        version,
        {
            "max_wait_ms": 0,
            "min_bytes": 0,
            "max_bytes": 4 << 20,
            "isolation_level": 0,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [t],
        },
    )
    assert r["error_code"] == NONE, r
    p = r["responses"][0]["partitions"][0]
    recs = [
        (rec.offset, rec.value)
        for _h, rs in decode_records(p["records"] or b"")
        for rec in rs
        if rec.offset >= offset
    ]
    if p["error_code"] != NONE:
        return p["error_code"], (p["high_watermark"], p["last_stable_offset"], p["log_start_offset"]), recs
    return p["error_code"], p["high_watermark"], recs


def list_offset(
    w: Wire, topic: str, partition: int, timestamp: int, version: int = 8
) -> tuple[int, int, int]:
    """ListOffsets: (error_code, offset, timestamp)."""
    r = w.call(
        "ListOffsets",
        version,
        {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [
                {"name": topic, "partitions": [{"partition_index": partition, "timestamp": timestamp}]}
            ],
        },
    )
    p = r["topics"][0]["partitions"][0]
    return p["error_code"], p["offset"], p["timestamp"]


def init_producer_id(w: Wire) -> tuple[int, int]:
    """InitProducerId v4 (idempotent, no transactional id), polled while the broker is loading."""
    deadline = time.monotonic() + DEADLINE
    while True:
        r = w.call(
            "InitProducerId",
            4,
            {"transactional_id": None, "transaction_timeout_ms": -1, "producer_id": -1, "producer_epoch": -1},
        )
        if r["error_code"] == NONE:
            return r["producer_id"], r["producer_epoch"]
        assert r["error_code"] in (14, 15), r  # COORDINATOR_LOAD_IN_PROGRESS / NOT_AVAILABLE
        assert time.monotonic() < deadline, r
        time.sleep(0.1)


def find_coordinator(w: Wire, group: str) -> None:
    """Wait until the group's coordinator is this node and loaded: Kafka creates __consumer_offsets
    on the first FindCoordinator, then answers COORDINATOR_LOAD_IN_PROGRESS (14) for a while."""
    deadline = time.monotonic() + DEADLINE
    while True:
        c = w.call("FindCoordinator", 4, {"key_type": 0, "coordinator_keys": [group]})["coordinators"][0]
        if c["error_code"] == NONE:
            g = w.call("DescribeGroups", 5, {"groups": [group]})["groups"][0]
            if g["error_code"] == NONE:
                return
            err = g["error_code"]
        else:
            err = c["error_code"]
        assert err in (14, 15, 16), (c, err)  # loading / not available / not coordinator (yet)
        assert time.monotonic() < deadline, (c, err)
        time.sleep(0.1)


# --------------------------------------------------------------------------------------
# produce: offsets assigned to batches


def test_produce_assigns_consecutive_offsets_to_batches(brokers: dict[str, str]) -> None:
    from kafkakit.record import GZIP, ZSTD

    def scenario(bs: str) -> Any:
        topic = unique()
        out: list[Any] = []
        with Wire(bs) as w:
            create_topic(w, topic, 2)
            # one request, two partitions
            r = w.call(
                "Produce",
                9,
                {
                    "acks": -1,
                    "timeout_ms": 10000,
                    "topic_data": [
                        {
                            "name": topic,
                            "partition_data": [
                                {"index": 0, "records": batch([b"a0", b"a1", b"a2"])},
                                {"index": 1, "records": batch([b"b0", b"b1"])},
                            ],
                        }
                    ],
                },
            )
            out.append(
                sorted(
                    (p["index"], p["error_code"], p["base_offset"], p["log_start_offset"])
                    for p in r["responses"][0]["partition_responses"]
                )
            )
            out.append(produce(w, topic, 0, batch([b"a3", b"a4"]), acks=1))
            out.append(produce(w, topic, 0, batch([b"a5"] * 1, compression=GZIP)))
            out.append(produce(w, topic, 1, batch([b"b2", b"b3", b"b4", b"b5"], compression=ZSTD)))
            # acks=0: no answer; a later request on the same connection sees it appended
            w.send(
                "Produce",
                9,
                {
                    "acks": 0,
                    "timeout_ms": 10000,
                    "topic_data": [
                        {"name": topic, "partition_data": [{"index": 0, "records": batch([b"a6"])}]}
                    ],
                },
            )
            out.append([list_offset(w, topic, p, -1) for p in (0, 1)])
            out.append(fetch(w, topic, 0, 0))
            out.append(fetch(w, topic, 1, 2))
        return out

    differential(
        brokers,
        scenario,
        [
            [(0, NONE, 0, 0), (1, NONE, 0, 0)],
            (NONE, 3),
            (NONE, 5),
            (NONE, 2),
            [(NONE, 7, -1), (NONE, 6, -1)],
            (NONE, 7, [(i, f"a{i}".encode()) for i in range(7)]),
            (NONE, 6, [(i, f"b{i}".encode()) for i in range(2, 6)]),
        ],
    )


def test_produce_error_codes(brokers: dict[str, str]) -> None:
    def scenario(bs: str) -> Any:
        topic = unique()
        with Wire(bs) as w:
            create_topic(w, topic, 1)
            good = batch([b"x"])
            bad_crc = bytearray(good)
            bad_crc[-1] ^= 0xFF
            pid, epoch = init_producer_id(w)
            out: dict[str, Any] = {
                "unknown partition": produce(w, topic, 5, good),
                "acks=2": produce(w, topic, 0, good, acks=2),
                "bad crc": produce(w, topic, 0, bytes(bad_crc)),
                "control batch from a client": produce(
                    w, topic, 0, batch([b"\x00\x00\x00\x00\x00\x00"], is_control=True)
                ),
                "producer id without sequence": produce(
                    w, topic, 0, batch([b"y"], producer_id=pid, producer_epoch=epoch, base_sequence=-1)
                ),
            }
            out["nothing appended"] = list_offset(w, topic, 0, -1)
        return out

    differential(
        brokers,
        scenario,
        {
            "unknown partition": (UNKNOWN_TOPIC_OR_PARTITION, -1),
            "acks=2": (INVALID_REQUIRED_ACKS, -1),
            "bad crc": (CORRUPT_MESSAGE, -1),
            "control batch from a client": (INVALID_RECORD, -1),
            "producer id without sequence": (INVALID_RECORD, -1),
            "nothing appended": (NONE, 0, -1),
        },
    )


def test_produce_to_unknown_topic_auto_creates_it(brokers: dict[str, str]) -> None:
    """Deliberate difference: the project's issue asks for topics to be auto-created on Produce
    when auto-creation is allowed (auto_create_topics_enable, on by default). Kafka never creates
    a topic on Produce: partition error UNKNOWN_TOPIC_OR_PARTITION (3) and still no topic."""

    def scenario(bs: str) -> Any:
        topic = unique("created-by-produce")
        with Wire(bs) as w:
            got = produce(w, topic, 0, batch([b"x"]))
            md = w.call("Metadata", 12, {"topics": [{"name": topic}], "allow_auto_topic_creation": False})
        return got, md["topics"][0]["error_code"]

    deliberate(
        brokers,
        scenario,
        kafka_expected=((UNKNOWN_TOPIC_OR_PARTITION, -1), UNKNOWN_TOPIC_OR_PARTITION),
        embedded_expected=((NONE, 0), NONE),
    )


def _legacy_v1_message() -> bytes:
    from kafka.record.legacy_records import LegacyRecordBatchBuilder

    b = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1 << 20)
    b.append(0, timestamp=int(time.time() * 1000), key=None, value=b"old")
    return bytes(b.build())


def _nonzero_base_offset() -> bytes:
    from kafkakit.record import encode_batch

    return encode_batch([(int(time.time() * 1000), None, b"x", [])], base_offset=77)


def _nonzero_base_offset_bad_crc() -> bytes:
    b = bytearray(_nonzero_base_offset())
    b[-1] ^= 0xFF
    return bytes(b)


def _unknown_magic() -> bytes:
    b = bytearray(batch([b"x"]))
    b[16] = 3
    return bytes(b)


def _zstd_batch() -> bytes:
    from kafkakit.record import ZSTD

    return batch([b"z"], compression=ZSTD)


# Kafka's order: ProduceRequest.validateRecords (a whole first batch, its length >= 14 and magic
# 0-2 before anything else, then magic 2, zstd needs v7, exactly one whole batch), then the log:
# baseOffset 0 (before size and CRC), size, CRC, header consistency.
MALFORMED = {
    # name: (record set factory, Produce version, Kafka's error code)
    "batch with baseOffset 77": (_nonzero_base_offset, 9, INVALID_RECORD),
    "baseOffset 77 and a bad CRC": (_nonzero_base_offset_bad_crc, 9, INVALID_RECORD),
    "empty record set": (lambda: b"", 9, INVALID_RECORD),
    "5 bytes": (lambda: b"\x00" * 5, 9, INVALID_RECORD),
    "truncated batch": (lambda: batch([b"x" * 20])[:-5], 9, INVALID_RECORD),
    "two batches": (lambda: batch([b"a"]) + batch([b"b"]), 9, INVALID_RECORD),
    "magic 1 message set": (_legacy_v1_message, 9, INVALID_RECORD),
    "unknown magic 3": (_unknown_magic, 9, CORRUPT_MESSAGE),
    "70 zero bytes": (lambda: b"\x00" * 70, 9, CORRUPT_MESSAGE),
    "zstd batch, Produce v6": (_zstd_batch, 6, UNSUPPORTED_COMPRESSION_TYPE),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_produce_malformed_record_set_is_rejected(brokers: dict[str, str], case: str) -> None:
    make, version, code = MALFORMED[case]

    def scenario(bs: str) -> Any:
        topic = unique()
        with Wire(bs) as w:
            create_topic(w, topic)
            return produce(w, topic, 0, make(), version=version), list_offset(w, topic, 0, -1)

    differential(brokers, scenario, ((code, -1), (NONE, 0, -1)))


def test_produce_trailing_bytes_after_the_batch_are_dropped(brokers: dict[str, str]) -> None:
    """Bytes after the batch too short to be another whole batch are ignored (Kafka trims them)."""

    def scenario(bs: str) -> Any:
        topic = unique()
        with Wire(bs) as w:
            create_topic(w, topic)
            out = [
                produce(w, topic, 0, batch([b"a"]) + b"\x00" * 11),
                produce(w, topic, 0, batch([b"b"]) + batch([b"partial"])[:30]),
            ]
            return out, fetch(w, topic, 0, 0)

    differential(brokers, scenario, ([(NONE, 0), (NONE, 1)], (NONE, 2, [(0, b"a"), (1, b"b")])))


def test_transactional_batch_outside_a_transaction_is_rejected(brokers: dict[str, str]) -> None:
    """A transactional batch in a request without a transactional id."""

    def scenario(bs: str) -> Any:
        topic = unique()
        with Wire(bs) as w:
            create_topic(w, topic)
            pid, epoch = init_producer_id(w)
            b = batch([b"t"], producer_id=pid, producer_epoch=epoch, base_sequence=0, transactional=True)
            return produce(w, topic, 0, b), list_offset(w, topic, 0, -1)

    differential(brokers, scenario, ((TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1), (NONE, 0, -1)))


# --------------------------------------------------------------------------------------
# idempotent produce


def test_idempotent_produce_sequence_checks(brokers: dict[str, str]) -> None:
    def scenario(bs: str) -> Any:
        topic = unique()
        with Wire(bs) as w:
            create_topic(w, topic)
            pid, epoch = init_producer_id(w)
            assert pid >= 0 and epoch == 0

            def send(seq: int, n: int, ep: int = epoch, p: int = pid) -> tuple[int, int]:
                values = [b"v%d" % i for i in range(n)]
                return produce(
                    w, topic, 0, batch(values, producer_id=p, producer_epoch=ep, base_sequence=seq)
                )

            out: list[tuple[str, Any]] = [
                ("seq 0-2", send(0, 3)),
                ("seq 3-4", send(3, 2)),
                ("resend seq 0-2", send(0, 3)),  # duplicate: the original offset, nothing appended
                ("resend seq 3-4", send(3, 2)),
                ("seq 3 again, other size", send(3, 1)),
                ("gap: seq 7", send(7, 1)),
                ("seq 5", send(5, 1)),
                ("epoch 1 seq 0", send(0, 1, ep=1)),
                ("epoch 0 after epoch 1", send(6, 1, ep=0)),
                ("epoch 2 seq 5", send(5, 1, ep=2)),
                ("unknown producer id, seq 9", send(9, 1, ep=0, p=pid + 1000)),
            ]
            out.append(("end", list_offset(w, topic, 0, -1)))
        return out

    differential(
        brokers,
        scenario,
        [
            ("seq 0-2", (NONE, 0)),
            ("seq 3-4", (NONE, 3)),
            ("resend seq 0-2", (NONE, 0)),
            ("resend seq 3-4", (NONE, 3)),
            ("seq 3 again, other size", (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)),
            ("gap: seq 7", (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)),
            ("seq 5", (NONE, 5)),
            ("epoch 1 seq 0", (NONE, 6)),
            ("epoch 0 after epoch 1", (INVALID_PRODUCER_EPOCH, -1)),
            ("epoch 2 seq 5", (OUT_OF_ORDER_SEQUENCE_NUMBER, -1)),
            ("unknown producer id, seq 9", (NONE, 7)),
            ("end", (NONE, 8, -1)),
        ],
    )


# --------------------------------------------------------------------------------------
# fetch


def test_fetch_offsets_and_out_of_range(brokers: dict[str, str]) -> None:
    def scenario(bs: str) -> Any:
        topic = unique()
        with Wire(bs) as w:
            create_topic(w, topic)
            produce(w, topic, 0, batch([b"r0", b"r1", b"r2"]))
            produce(w, topic, 0, batch([b"r3", b"r4"]))
            md = w.call("Metadata", 12, {"topics": [{"name": topic}], "allow_auto_topic_creation": False})
            topic_id = md["topics"][0]["topic_id"]
            return {
                "from 0": fetch(w, topic, 0, 0),
                "from 4 (inside the 2nd batch)": fetch(w, topic, 0, 4),
                "at the end": fetch(w, topic, 0, 5),
                "past the end": fetch(w, topic, 0, 6),
                "negative": fetch(w, topic, 0, -1),
                "unknown partition": fetch(w, topic, 3, 0),
                "unknown topic": fetch(w, unique("nope"), 0, 0),
                "v13 by topic id": fetch(w, topic, 0, 3, version=13, topic_id=topic_id),
                "v13 unknown topic id": fetch(w, topic, 0, 0, version=13, topic_id=uuid.uuid4().bytes),
            }

    records = [(i, f"r{i}".encode()) for i in range(5)]
    failed = (-1, -1, -1), []  # a failed partition: offsets -1, no records
    differential(
        brokers,
        scenario,
        {
            "from 0": (NONE, 5, records),
            "from 4 (inside the 2nd batch)": (NONE, 5, records[4:]),
            "at the end": (NONE, 5, []),
            "past the end": (OFFSET_OUT_OF_RANGE, *failed),
            "negative": (OFFSET_OUT_OF_RANGE, *failed),
            "unknown partition": (UNKNOWN_TOPIC_OR_PARTITION, *failed),
            "unknown topic": (UNKNOWN_TOPIC_OR_PARTITION, *failed),
            "v13 by topic id": (NONE, 5, records[3:]),
            "v13 unknown topic id": (UNKNOWN_TOPIC_ID, *failed),
        },
    )


# --------------------------------------------------------------------------------------
# ListOffsets and DeleteRecords


def test_list_offsets_and_delete_records(brokers: dict[str, str]) -> None:
    def scenario(bs: str) -> Any:
        topic = unique()
        base = int(time.time() * 1000) - 60_000
        rel = lambda r: (r[0], r[1], r[2] - base if r[2] >= 0 else r[2])  # noqa: E731
        with Wire(bs) as w:
            create_topic(w, topic)
            produce(w, topic, 0, batch([b"0", b"1", b"2"], ts=[base + 1000, base + 3000, base + 2000]))
            produce(w, topic, 0, batch([b"3", b"4"], ts=[base + 5000, base + 4000]))
            q = lambda ts: rel(list_offset(w, topic, 0, ts))  # noqa: E731
            out: dict[str, Any] = {
                "earliest": q(-2),
                "latest": q(-1),
                "max timestamp": q(-3),
                "ts 0": q(0),
                "ts +1500": q(base + 1500),
                "ts +3000": q(base + 3000),
                "ts +3500": q(base + 3500),
                "ts +4500": q(base + 4500),
                "ts +6000": q(base + 6000),
                "unknown partition": list_offset(w, topic, 4, -1),
            }
            dr = lambda parts: [  # noqa: E731
                (p["partition_index"], p["error_code"], p["low_watermark"])
                for t in w.call(
                    "DeleteRecords",
                    2,
                    {
                        "topics": [
                            {
                                "name": topic,
                                "partitions": [{"partition_index": i, "offset": o} for i, o in parts],
                            }
                        ],
                        "timeout_ms": 10000,
                    },
                )["topics"]
                for p in t["partitions"]
            ]
            out["delete below 3"] = dr([(0, 3)])
            out["after: earliest"] = q(-2)
            out["after: latest"] = q(-1)
            out["after: ts 0"] = q(0)
            out["after: max timestamp"] = q(-3)
            out["after: fetch 1"] = fetch(w, topic, 0, 1)
            out["after: fetch 3"] = fetch(w, topic, 0, 3)
            out["delete past the end"] = dr([(0, 6)])
            out["delete unknown partition"] = dr([(7, 0)])
            out["delete backwards"] = dr([(0, 1)])
            out["delete all (-1)"] = dr([(0, -1)])
            out["after all: earliest"] = q(-2)
            out["after all: fetch 5"] = fetch(w, topic, 0, 5)
        return out

    differential(
        brokers,
        scenario,
        {
            "earliest": (NONE, 0, -1),
            "latest": (NONE, 5, -1),
            "max timestamp": (NONE, 3, 5000),
            "ts 0": (NONE, 0, 1000),
            "ts +1500": (NONE, 1, 3000),
            "ts +3000": (NONE, 1, 3000),
            "ts +3500": (NONE, 3, 5000),
            "ts +4500": (NONE, 3, 5000),
            "ts +6000": (NONE, -1, -1),
            "unknown partition": (UNKNOWN_TOPIC_OR_PARTITION, -1, -1),
            "delete below 3": [(0, NONE, 3)],
            "after: earliest": (NONE, 3, -1),
            "after: latest": (NONE, 5, -1),
            "after: ts 0": (NONE, 3, 5000),
            "after: max timestamp": (NONE, 3, 5000),
            "after: fetch 1": (OFFSET_OUT_OF_RANGE, (-1, -1, -1), []),
            "after: fetch 3": (NONE, 5, [(3, b"3"), (4, b"4")]),
            "delete past the end": [(0, OFFSET_OUT_OF_RANGE, -1)],
            "delete unknown partition": [(7, UNKNOWN_TOPIC_OR_PARTITION, -1)],
            "delete backwards": [(0, NONE, 3)],
            "delete all (-1)": [(0, NONE, 5)],
            "after all: earliest": (NONE, 5, -1),
            "after all: fetch 5": (NONE, 5, []),
        },
    )


# (version, special timestamp) -> what Kafka 4 answers: (error, offset) on a topic holding offsets
# 0-1. Each special timestamp needs the version that introduced it (-3 v7 KIP-734, -4 v8 KIP-405,
# -5 v9 KIP-1005, -6 v11 KIP-1023); older versions and unknown negative timestamps get
# UNSUPPORTED_VERSION, before the partition is even looked up. Nothing is tiered: -4 is the log
# start offset, -5 and -6 offset -1.
SPECIAL_TIMESTAMPS = [
    (1, -1, (NONE, 2)),
    (1, -2, (NONE, 0)),
    (6, -3, (UNSUPPORTED_VERSION, -1)),
    (7, -3, (NONE, 1)),
    (7, -4, (UNSUPPORTED_VERSION, -1)),
    (8, -4, (NONE, 0)),
    (8, -5, (UNSUPPORTED_VERSION, -1)),
    (9, -5, (NONE, -1)),
    (10, -6, (UNSUPPORTED_VERSION, -1)),
    (11, -3, (NONE, 1)),
    (11, -4, (NONE, 0)),
    (11, -5, (NONE, -1)),
    (11, -6, (NONE, -1)),
    (11, -7, (UNSUPPORTED_VERSION, -1)),
    (11, -100, (UNSUPPORTED_VERSION, -1)),
]


@pytest.mark.parametrize(
    ("version", "timestamp", "expected"),
    [pytest.param(v, ts, exp, id=f"v{v}:{ts}") for v, ts, exp in SPECIAL_TIMESTAMPS],
)
def test_list_offsets_special_timestamps_by_version(
    brokers: dict[str, str], version: int, timestamp: int, expected: tuple[int, int]
) -> None:
    def scenario(bs: str) -> Any:
        topic = unique()
        now = int(time.time() * 1000)
        with Wire(bs) as w:
            create_topic(w, topic)
            produce(w, topic, 0, batch([b"a", b"b"], ts=[now - 10, now]))
            return list_offset(w, topic, 0, timestamp, version=version)[:2]

    differential(brokers, scenario, expected)


def test_list_offsets_version_gating_comes_before_the_partition_lookup(brokers: dict[str, str]) -> None:
    def scenario(bs: str) -> Any:
        topic = unique()
        with Wire(bs) as w:
            create_topic(w, topic)
            return {
                "unknown partition, -3 at v6": list_offset(w, topic, 3, -3, version=6)[0],
                "unknown partition, -7 at v11": list_offset(w, topic, 3, -7, version=11)[0],
                "unknown topic, -4 at v7": list_offset(w, unique("nope"), 0, -4, version=7)[0],
                "unknown partition, -6 at v11": list_offset(w, topic, 3, -6, version=11)[0],
            }

    differential(
        brokers,
        scenario,
        {
            "unknown partition, -3 at v6": UNSUPPORTED_VERSION,
            "unknown partition, -7 at v11": UNSUPPORTED_VERSION,
            "unknown topic, -4 at v7": UNSUPPORTED_VERSION,
            "unknown partition, -6 at v11": UNKNOWN_TOPIC_OR_PARTITION,
        },
    )


# --------------------------------------------------------------------------------------
# CreateTopics and Metadata


def test_create_topics_error_codes(brokers: dict[str, str]) -> None:
    def scenario(bs: str) -> Any:
        prefix = unique("ct")

        def spec(suffix: str, partitions: int = 1, rf: int = 1, **kw: Any) -> dict[str, Any]:
            return {"name": prefix + suffix, "num_partitions": partitions, "replication_factor": rf, **kw}

        def create(topics: list[dict[str, Any]], validate_only: bool = False) -> dict[str, Any]:
            r = w.call(
                "CreateTopics", 7, {"topics": topics, "timeout_ms": 15000, "validate_only": validate_only}
            )
            return {
                t["name"].removeprefix(prefix): (
                    t["error_code"],
                    t["num_partitions"],
                    t["replication_factor"],
                )
                for t in r["topics"]
            }

        with Wire(bs) as w:
            out = create(
                [
                    spec("-ok", 2),
                    spec("-defaults", -1, -1),
                    spec(" bad name!"),
                    spec("-rf3", 1, 3),
                    spec("-rf0", 1, 0),
                    spec("-p0", 0),
                    spec("-" + "x" * 250),
                    spec("-bad-config", configs=[{"name": "cleanup.policy", "value": "bogus"}]),
                    spec("-unknown-config", configs=[{"name": "foo.bar", "value": "1"}]),
                    spec("-good-config", configs=[{"name": "retention.ms", "value": "1000"}]),
                    spec("-assign-and-count", 2, -1, assignments=[{"partition_index": 0, "broker_ids": [1]}]),
                    spec(
                        "-assign-unknown-broker",
                        -1,
                        -1,
                        assignments=[{"partition_index": 0, "broker_ids": [99]}],
                    ),
                ]
            )
            out["exists"] = create([spec("-ok", 2)])["-ok"]
            # a name given twice: one result for it, INVALID_REQUEST, after the other topics'
            r = w.call(
                "CreateTopics",
                7,
                {"topics": [spec("-dup"), spec("-single"), spec("-dup")], "timeout_ms": 15000},
            )
            out["dup"] = [
                (t["name"].removeprefix(prefix), t["error_code"], t["num_partitions"]) for t in r["topics"]
            ]
            out["validate only"] = create([spec("-vo", 3)], validate_only=True)["-vo"]
            out["after validate only"] = w.call(
                "Metadata", 12, {"topics": [{"name": prefix + "-vo"}], "allow_auto_topic_creation": False}
            )["topics"][0]["error_code"]
            dots = w.call(
                "CreateTopics",
                7,
                {
                    "topics": [{"name": "..", "num_partitions": 1, "replication_factor": 1}],
                    "timeout_ms": 15000,
                },
            )
            out[".."] = dots["topics"][0]["error_code"]
        return out

    differential(
        brokers,
        scenario,
        {
            "-ok": (NONE, 2, 1),
            "-defaults": (NONE, 1, 1),
            " bad name!": (INVALID_TOPIC_EXCEPTION, -1, -1),
            "-rf3": (INVALID_REPLICATION_FACTOR, -1, -1),
            "-rf0": (INVALID_REPLICATION_FACTOR, -1, -1),
            "-p0": (INVALID_PARTITIONS, -1, -1),
            "-" + "x" * 250: (INVALID_TOPIC_EXCEPTION, -1, -1),
            "-bad-config": (INVALID_CONFIG, -1, -1),
            "-unknown-config": (INVALID_CONFIG, -1, -1),
            "-good-config": (NONE, 1, 1),
            "-assign-and-count": (INVALID_REQUEST, -1, -1),
            "-assign-unknown-broker": (INVALID_REPLICA_ASSIGNMENT, -1, -1),
            "exists": (TOPIC_ALREADY_EXISTS, -1, -1),
            "dup": [("-single", NONE, 1), ("-dup", INVALID_REQUEST, -1)],
            "validate only": (NONE, 3, 1),
            "after validate only": UNKNOWN_TOPIC_OR_PARTITION,
            "..": INVALID_TOPIC_EXCEPTION,
        },
    )


def test_metadata_unknown_topic_and_auto_create(brokers: dict[str, str]) -> None:
    def scenario(bs: str) -> Any:
        name = unique("md")
        with Wire(bs) as w:

            def md(topic: str, version: int = 12, auto: bool = False) -> tuple[int, int]:
                t = w.call(
                    "Metadata", version, {"topics": [{"name": topic}], "allow_auto_topic_creation": auto}
                )
                return t["topics"][0]["error_code"], len(t["topics"][0]["partitions"])

            out = {
                "auto-create off (v12)": md(name),
                "auto-create off (v4)": md(name, 4),
                "still unknown": md(name),
                "invalid name, auto-create on": md("bad name!", 12, True),
            }
            # auto-creation: Kafka answers UNKNOWN_TOPIC_OR_PARTITION while the controller creates
            # it, the embedded broker creates it at once; compare where both end up
            deadline = time.monotonic() + DEADLINE
            while (got := md(name + "-auto", 12, True))[0] != NONE:
                assert got[0] in (UNKNOWN_TOPIC_OR_PARTITION, 5), got  # 5: LEADER_NOT_AVAILABLE
                assert time.monotonic() < deadline
                time.sleep(0.05)
            out["auto-created"] = got
            out["auto-created, seen with auto-create off"] = md(name + "-auto")
        return out

    differential(
        brokers,
        scenario,
        {
            "auto-create off (v12)": (UNKNOWN_TOPIC_OR_PARTITION, 0),
            "auto-create off (v4)": (UNKNOWN_TOPIC_OR_PARTITION, 0),
            "still unknown": (UNKNOWN_TOPIC_OR_PARTITION, 0),
            "invalid name, auto-create on": (INVALID_TOPIC_EXCEPTION, 0),
            "auto-created": (NONE, 1),
            "auto-created, seen with auto-create off": (NONE, 1),
        },
    )


# --------------------------------------------------------------------------------------
# unsupported versions


def test_unsupported_api_versions_request_gets_a_v0_answer(brokers: dict[str, str]) -> None:
    def scenario(bs: str) -> Any:
        with Wire(bs) as w:
            frame = w.raw(18, 127, b"\x02x\x021\x00", flexible=True)
        # response header v0 (correlation id), then an ApiVersions v0 body
        (error,) = struct.unpack_from(">h", frame, 4)
        (n,) = struct.unpack_from(">i", frame, 6)
        apis = {k: (lo, hi) for k, lo, hi in struct.iter_unpack(">hhh", frame[10 : 10 + 6 * n])}
        # Kafka lists only ApiVersions itself (0-5), the embedded broker every API it serves;
        # a client retries with the highest listed ApiVersions version
        return error, len(frame) == 10 + 6 * n, apis[18][0]

    differential(brokers, scenario, (UNSUPPORTED_VERSION, True, 0))


def test_advertised_versions_stay_within_kafkas(brokers: dict[str, str]) -> None:
    """Every API version range the embedded broker lists, Kafka 4.4 lists too (a client must never
    pick a version against us that Kafka would not serve); InitProducerId is 0-5 on both."""
    from tests.infra import api_versions, parse_bootstrap

    kafka = api_versions(*parse_bootstrap(brokers["kafka"])[0])
    embedded = api_versions(*parse_bootstrap(brokers["embedded"])[0])
    assert kafka[22] == (0, 5), kafka[22]
    wider = {
        key: (lo, hi, kafka.get(key))
        for key, (lo, hi) in embedded.items()
        if key not in kafka or not kafka[key][0] <= lo <= hi <= kafka[key][1]
    }
    assert wider == {}, f"advertised beyond Kafka 4.4 (key: embedded lo, hi, kafka range): {wider}"


UNSUPPORTED_REQUESTS = {
    # name: (api_key, version, flexible header, body)
    "Metadata v14": (3, 14, True, b"\x01\x00\x00\x00"),
    "Fetch v3 (removed in Kafka 4)": (1, 3, False, b"\xff\xff\xff\xff" + b"\x00" * 12 + b"\x00\x00\x00\x00"),
    "Fetch v19": (1, 19, True, b"\x00" * 30),
    "ListOffsets v0 (removed in Kafka 4)": (2, 0, False, b"\xff\xff\xff\xff\x00\x00\x00\x00"),
    "CreateTopics v1 (removed in Kafka 4)": (19, 1, False, b"\x00" * 9),
    "unknown API key 999": (999, 0, False, b""),
}


def test_unsupported_request_versions_close_the_connection(brokers: dict[str, str]) -> None:
    def scenario(bs: str) -> Any:
        out = {}
        for name, (key, version, flexible, body) in UNSUPPORTED_REQUESTS.items():
            with Wire(bs) as w:
                try:
                    w.raw(key, version, body, flexible=flexible)
                    out[name] = "answered"
                except Closed:
                    out[name] = "closed"
        return out

    differential(brokers, scenario, dict.fromkeys(UNSUPPORTED_REQUESTS, "closed"))


def test_produce_v2_is_refused(brokers: dict[str, str]) -> None:
    """Deliberate difference (handlers/__init__.py ACCEPTED_VERSIONS): Produce v0-2 are advertised
    (0-13, librdkafka needs v0 listed to detect compression support) but not served. Kafka 4
    closes the connection without an answer; the embedded broker answers every partition with
    UNSUPPORTED_VERSION (35) and keeps the connection. Neither appends."""

    def scenario(bs: str) -> Any:
        topic = unique()
        with Wire(bs) as w:
            create_topic(w, topic)
        with Wire(bs) as w:
            try:
                got: Any = produce(w, topic, 0, batch([b"x"]), version=2)
            except Closed:
                got = "closed"
        with Wire(bs) as w:
            return got, list_offset(w, topic, 0, -1)

    deliberate(
        brokers,
        scenario,
        kafka_expected=("closed", (NONE, 0, -1)),
        embedded_expected=((UNSUPPORTED_VERSION, -1), (NONE, 0, -1)),
    )


# --------------------------------------------------------------------------------------
# groups


def test_classic_group_protocol_error_codes(brokers: dict[str, str]) -> None:
    """One member walks through JoinGroup/SyncGroup/Heartbeat/OffsetCommit/OffsetFetch/LeaveGroup/
    DeleteGroups, with a wrong value at each step."""

    def scenario(bs: str) -> Any:
        topic, group = unique(), unique("g")
        meta = (
            b"\x00\x00\x00\x00\x00\x01" + struct.pack(">h", len(topic)) + topic.encode() + b"\xff\xff\xff\xff"
        )
        protocols = [{"name": "range", "metadata": meta}]
        out: list[Any] = []
        with Wire(bs) as w:
            create_topic(w, topic)
            find_coordinator(w, group)

            def join(
                member_id: str = "", session: int = 10000, ptype: str = "consumer", protos: Any = None
            ) -> Any:
                return w.call(
                    "JoinGroup",
                    7,
                    {
                        "group_id": group,
                        "session_timeout_ms": session,
                        "rebalance_timeout_ms": 5000,
                        "member_id": member_id,
                        "protocol_type": ptype,
                        "protocols": protos or protocols,
                    },
                )

            def sync(gen: int, member: str, name: str = "range", assignments: Any = ()) -> Any:
                return w.call(
                    "SyncGroup",
                    5,
                    {
                        "group_id": group,
                        "generation_id": gen,
                        "member_id": member,
                        "protocol_type": "consumer",
                        "protocol_name": name,
                        "assignments": list(assignments),
                    },
                )["error_code"]

            def heartbeat(gen: int, member: str) -> int:
                r = w.call("Heartbeat", 4, {"group_id": group, "generation_id": gen, "member_id": member})
                return r["error_code"]

            def commit(gen: int, member: str, parts: Any = ((topic, 0, 1, None),)) -> Any:
                topics: dict[str, list[Any]] = {}
                for t, p, o, m in parts:
                    topics.setdefault(t, []).append(
                        {"partition_index": p, "committed_offset": o, "committed_metadata": m}
                    )
                r = w.call(
                    "OffsetCommit",
                    8,
                    {
                        "group_id": group,
                        "generation_id_or_member_epoch": gen,
                        "member_id": member,
                        "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
                    },
                )
                return sorted(
                    (t["name"] == topic, p["partition_index"], p["error_code"])
                    for t in r["topics"]
                    for p in t["partitions"]
                )

            def offsets(partitions: Any = (0,)) -> Any:
                r = w.call(
                    "OffsetFetch",
                    8,
                    {
                        "groups": [
                            {
                                "group_id": group,
                                "topics": [{"name": topic, "partition_indexes": list(partitions)}],
                            }
                        ]
                    },
                )["groups"][0]
                return r["error_code"], [
                    (p["partition_index"], p["committed_offset"], p["metadata"], p["error_code"])
                    for t in r["topics"]
                    for p in t["partitions"]
                ]

            def describe() -> Any:
                g = w.call("DescribeGroups", 5, {"groups": [group]})["groups"][0]
                return (
                    g["error_code"],
                    g["group_state"],
                    g["protocol_type"],
                    g["protocol_data"],
                    len(g["members"]),
                )

            out.append(("describe unknown group", describe()))
            out.append(("offsets of unknown group", offsets()))
            out.append(("heartbeat, unknown group", heartbeat(1, "nobody")))
            r = w.call("LeaveGroup", 4, {"group_id": group, "members": [{"member_id": "nobody"}]})
            out.append(("leave, unknown group", (r["error_code"], [m["error_code"] for m in r["members"]])))
            out.append(("join, session 1000 ms", join(session=1000)["error_code"]))
            r = join()
            out.append(
                ("join without member id", (r["error_code"], r["generation_id"], bool(r["member_id"])))
            )
            member = r["member_id"]
            r = join(member)
            gen = r["generation_id"]
            out.append(
                (
                    "join with member id",
                    (
                        r["error_code"],
                        gen,
                        r["leader"] == member,
                        len(r["members"]),
                        r["protocol_type"],
                        r["protocol_name"],
                    ),
                )
            )
            out.append(("join, other protocol type", join(ptype="other")["error_code"]))
            out.append(
                ("join, no common protocol", join(protos=[{"name": "weird", "metadata": b""}])["error_code"])
            )
            out.append(("sync, wrong generation", sync(gen + 1, member)))
            out.append(("sync, unknown member", sync(gen, "nobody")))
            out.append(("sync, wrong protocol name", sync(gen, member, "roundrobin")))
            assignment = b"\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff"
            out.append(
                ("sync", sync(gen, member, assignments=[{"member_id": member, "assignment": assignment}]))
            )
            out.append(("heartbeat", heartbeat(gen, member)))
            out.append(("heartbeat, wrong generation", heartbeat(gen + 5, member)))
            out.append(("heartbeat, unknown member", heartbeat(gen, "nobody")))
            out.append(("commit, wrong generation", commit(gen + 3, member)))
            out.append(("commit, unknown member", commit(gen, "nobody")))
            out.append(("commit without generation, group active", commit(-1, "")))
            out.append(
                (
                    "commit",
                    commit(
                        gen, member, [(topic, 0, 1, "m"), (topic, 5, 1, None), (unique("nope"), 0, 1, None)]
                    ),
                )
            )
            out.append(("offsets", offsets((0, 5))))
            out.append(("describe", describe()))
            r = w.call("DeleteGroups", 2, {"groups_names": [group, group + "-nope"]})
            out.append(
                ("delete groups", sorted((g["group_id"] == group, g["error_code"]) for g in r["results"]))
            )
            r = w.call(
                "LeaveGroup",
                4,
                {"group_id": group, "members": [{"member_id": member}, {"member_id": "nobody"}]},
            )
            out.append(
                (
                    "leave",
                    (r["error_code"], [(m["member_id"] == member, m["error_code"]) for m in r["members"]]),
                )
            )
            out.append(("describe after leave", describe()))
            out.append(("commit without generation, group empty", commit(-1, "", [(topic, 0, 2, None)])))
            out.append(("offsets after simple commit", offsets()))
            r = w.call("DeleteGroups", 2, {"groups_names": [group]})
            out.append(("delete empty group", [g["error_code"] for g in r["results"]]))
            out.append(("offsets after delete", offsets()))
        return out

    differential(
        brokers,
        scenario,
        [
            ("describe unknown group", (NONE, "Dead", "", "", 0)),
            ("offsets of unknown group", (NONE, [(0, -1, "", NONE)])),
            ("heartbeat, unknown group", UNKNOWN_MEMBER_ID),
            ("leave, unknown group", (NONE, [UNKNOWN_MEMBER_ID])),
            ("join, session 1000 ms", INVALID_SESSION_TIMEOUT),
            ("join without member id", (MEMBER_ID_REQUIRED, -1, True)),
            ("join with member id", (NONE, 1, True, 1, "consumer", "range")),
            ("join, other protocol type", INCONSISTENT_GROUP_PROTOCOL),
            ("join, no common protocol", INCONSISTENT_GROUP_PROTOCOL),
            ("sync, wrong generation", ILLEGAL_GENERATION),
            ("sync, unknown member", UNKNOWN_MEMBER_ID),
            ("sync, wrong protocol name", INCONSISTENT_GROUP_PROTOCOL),
            ("sync", NONE),
            ("heartbeat", NONE),
            ("heartbeat, wrong generation", ILLEGAL_GENERATION),
            ("heartbeat, unknown member", UNKNOWN_MEMBER_ID),
            ("commit, wrong generation", [(True, 0, ILLEGAL_GENERATION)]),
            ("commit, unknown member", [(True, 0, UNKNOWN_MEMBER_ID)]),
            ("commit without generation, group active", [(True, 0, UNKNOWN_MEMBER_ID)]),
            (
                "commit",
                [
                    (False, 0, UNKNOWN_TOPIC_OR_PARTITION),
                    (True, 0, NONE),
                    (True, 5, UNKNOWN_TOPIC_OR_PARTITION),
                ],
            ),
            ("offsets", (NONE, [(0, 1, "m", NONE), (5, -1, "", NONE)])),
            ("describe", (NONE, "Stable", "consumer", "range", 1)),
            ("delete groups", [(False, GROUP_ID_NOT_FOUND), (True, NON_EMPTY_GROUP)]),
            ("leave", (NONE, [(True, NONE), (False, UNKNOWN_MEMBER_ID)])),
            ("describe after leave", (NONE, "Empty", "consumer", "", 0)),
            ("commit without generation, group empty", [(True, 0, NONE)]),
            ("offsets after simple commit", (NONE, [(0, 2, "", NONE)])),
            ("delete empty group", [NONE]),
            ("offsets after delete", (NONE, [(0, -1, "", NONE)])),
        ],
    )


class _Member:
    """A kafka-python consumer polled by its own thread (they are not thread safe)."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        from kafka import KafkaConsumer
        from kafka.coordinator.assignors.range import RangePartitionAssignor

        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            heartbeat_interval_ms=300,
            partition_assignment_strategy=[RangePartitionAssignor],
        )
        # metadata first: kafka-python 3.0.12 can wedge a leader whose first assignment was
        # computed without the topic's metadata (see test_broker_groups_interop.py)
        self.consumer.partitions_for_topic(topic)
        self.consumer.subscribe([topic])
        self.assigned: frozenset[int] = frozenset()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.consumer.poll(timeout_ms=200)
            self.assigned = frozenset(tp.partition for tp in self.consumer.assignment())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(DEADLINE)
        self.consumer.close()


def test_group_assignment_shape_range_2_members_4_partitions(brokers: dict[str, str]) -> None:
    def scenario(bs: str) -> Any:
        topic, group = unique(), unique("g")
        with Wire(bs) as w:
            create_topic(w, topic, 4)
        members = [_Member(bs, topic, group) for _ in range(2)]
        try:
            deadline = time.monotonic() + DEADLINE
            while True:
                shape = [m.assigned for m in members]
                if all(shape) and sorted(p for s in shape for p in s) == [0, 1, 2, 3]:
                    break
                assert time.monotonic() < deadline, f"group did not settle: {shape}"
                time.sleep(0.05)
            return sorted(len(s) for s in shape), sorted(tuple(sorted(s)) for s in shape)
        finally:
            for m in members:
                m.close()

    differential(brokers, scenario, ([2, 2], [(0, 1), (2, 3)]))
