"""KafkaProducer against real brokers (``bootstrap``: embedded, tansu, Apache Kafka 1 and 3 nodes).

What was produced is read back with confluent-kafka's consumer (librdkafka: an independent peer), and
keyed placement is compared with librdkafka's murmur2 partitioner and kafka-python's.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from typing import Any

import pytest

from kafkakit import KafkaProducer
from kafkakit.client.producer import FutureRecordMetadata, RecordMetadata
from kafkakit.errors import (
    IllegalStateError,
    KafkaConfigurationError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NoBrokersAvailable,
)
from kafkakit.structs import TopicPartition
from tests.infra import create_topics, free_port, metadata, parse_bootstrap, wait_until

ck = pytest.importorskip("confluent_kafka")


def make_topic(bootstrap: str, name: str, partitions: int = 1) -> str:
    """Create a topic and wait until every partition has a leader."""
    host, port = parse_bootstrap(bootstrap)[0]
    create_topics(host, port, {name: (partitions, -1)})

    def ready() -> bool:
        t = metadata(host, port, [name]).topics.get(name)
        return (
            t is not None
            and len(t.partitions) == partitions
            and all(p.leader >= 0 for p in t.partitions.values())
        )

    wait_until(ready, timeout=30)
    return name


def read_back(
    bootstrap: str, topic: str, count: int, timeout: float = 30.0, partitions: int | None = None
) -> list[Any]:
    """Consume ``count`` records of ``topic`` from the beginning with confluent-kafka (assign, no group)."""
    c = ck.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"readback-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    out: list[Any] = []
    try:
        if partitions is None:
            md = c.list_topics(topic, timeout=10)
            partitions = len(md.topics[topic].partitions)
        c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(partitions)])
        import time

        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART:
                    continue
                raise AssertionError(f"confluent-kafka consumer error: {m.error()}")
            out.append(m)
    finally:
        c.close()
    return out


@pytest.fixture
def producer_factory(bootstrap: str) -> Any:
    made: list[KafkaProducer] = []

    def make(**kw: Any) -> KafkaProducer:
        kw.setdefault("bootstrap_servers", bootstrap)
        # a new topic's leader may answer NOT_LEADER_OR_FOLLOWER for a moment (Apache Kafka)
        kw.setdefault("retries", 5)
        p = KafkaProducer(**kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close(timeout=10)


# --- basics --------------------------------------------------------------------------------------


def test_send_get_and_read_back(bootstrap: str, topic_name: str, producer_factory: Any) -> None:
    topic = make_topic(bootstrap, topic_name)
    p = producer_factory()
    assert p.bootstrap_connected()
    futs = [p.send(topic, f"v{i}".encode(), key=f"k{i}".encode(), partition=0) for i in range(20)]
    metas = [f.get(30) for f in futs]
    assert [m.offset for m in metas] == list(range(metas[0].offset, metas[0].offset + 20))
    m0 = metas[0]
    assert isinstance(m0, RecordMetadata)
    assert (m0.topic, m0.partition, m0.topic_partition) == (topic, 0, TopicPartition(topic, 0))
    assert (m0.serialized_key_size, m0.serialized_value_size, m0.serialized_header_size) == (2, 2, -1)
    assert all(f.is_done and f.succeeded() and not f.failed() and f.exception is None for f in futs)
    assert futs[3].value == metas[3]
    got = read_back(bootstrap, topic, 20)
    assert [(m.key(), m.value(), m.offset()) for m in got] == [
        (f"k{i}".encode(), f"v{i}".encode(), metas[i].offset) for i in range(20)
    ]


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_each_codec_read_back_by_confluent(
    bootstrap: str, topic_name: str, producer_factory: Any, codec: str | None
) -> None:
    topic = make_topic(bootstrap, topic_name)
    p = producer_factory(compression_type=codec, linger_ms=20, batch_size=1 << 20)
    values = [(b"record-%05d-" % i) * (i % 7 + 1) for i in range(500)]
    futs = [p.send(topic, v, key=str(i).encode()) for i, v in enumerate(values)]
    p.flush(30)
    assert all(f.succeeded() for f in futs)
    got = read_back(bootstrap, topic, len(values))
    assert [m.value() for m in got] == values
    assert [m.key() for m in got] == [str(i).encode() for i in range(500)]
    rate = p.metrics()["producer-metrics"]["compression-rate-avg"]
    assert (rate == 1.0) if codec is None else (0 < rate < 1.0)


def test_keyed_partitions_match_java_murmur2(bootstrap: str, topic_name: str, producer_factory: Any) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=7)
    keys = [f"key-{i}".encode() for i in range(200)] + [b"", b"a", b"\xff" * 33]
    p = producer_factory(linger_ms=5)
    ours = [p.send(topic, b"v", key=k) for k in keys]
    p.flush(30)
    ours_parts = [f.get().partition for f in ours]

    delivered: dict[bytes, int] = {}

    def on_delivery(err: Any, msg: Any) -> None:
        assert err is None, err
        delivered[msg.key()] = msg.partition()

    cp = ck.Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    for k in keys:
        cp.produce(topic, b"v", key=k, on_delivery=on_delivery)
    assert cp.flush(30) == 0
    assert ours_parts == [delivered[k] for k in keys]

    from kafka.partitioner.default import murmur2 as kafka_python_murmur2

    assert ours_parts == [(kafka_python_murmur2(k) & 0x7FFFFFFF) % 7 for k in keys]


def test_headers_timestamp_tombstone_explicit_partition(
    bootstrap: str, topic_name: str, producer_factory: Any
) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=3)
    p = producer_factory()
    f1 = p.send(
        topic,
        b"with-headers",
        key=b"h",
        headers=[("a", b"1"), ("b", b""), ("c", None)],
        partition=2,
        timestamp_ms=1_600_000_000_123,
    )
    f2 = p.send(topic, None, key=b"gone", partition=2)
    m1, m2 = f1.get(30), f2.get(30)
    assert m1.partition == 2 and m1.timestamp == 1_600_000_000_123
    assert m1.serialized_header_size == 4  # (1 + 1) + (1 + 0) + (1 + 0)
    assert m2.serialized_value_size == -1
    got = read_back(bootstrap, topic, 2)
    assert got[0].partition() == 2 and got[0].headers() == [("a", b"1"), ("b", b""), ("c", None)]
    assert got[0].timestamp() == (ck.TIMESTAMP_CREATE_TIME, 1_600_000_000_123)
    assert got[1].key() == b"gone" and got[1].value() is None


def test_serializers_and_type_errors(bootstrap: str, topic_name: str, producer_factory: Any) -> None:
    topic = make_topic(bootstrap, topic_name)
    p = producer_factory(value_serializer=lambda m: json.dumps(m).encode(), key_serializer=str.encode)
    p.send(topic, {"n": 1}, key="k").get(30)
    got = read_back(bootstrap, topic, 1)
    assert (got[0].key(), json.loads(got[0].value())) == (b"k", {"n": 1})
    raw = producer_factory()
    with pytest.raises(TypeError, match="str"):
        raw.send(topic, "not bytes")
    with pytest.raises(TypeError, match="int"):
        raw.send(topic, b"v", key=5)
    with pytest.raises(TypeError, match="header"):
        raw.send(topic, b"v", headers=[("k", "str value")])


def test_acks_zero_and_all(bootstrap: str, topic_name: str, producer_factory: Any) -> None:
    topic = make_topic(bootstrap, topic_name)
    p0 = producer_factory(acks=0)
    metas = [p0.send(topic, b"a0").get(30) for _ in range(3)]
    assert [m.offset for m in metas] == [-1, -1, -1]
    pall = producer_factory(acks="all")
    assert pall.send(topic, b"all").get(30).offset >= 0
    p0.flush(10)
    assert len(read_back(bootstrap, topic, 4)) == 4


def test_max_request_size_fails_the_future(bootstrap: str, topic_name: str, producer_factory: Any) -> None:
    topic = make_topic(bootstrap, topic_name)
    p = producer_factory(max_request_size=1000)
    big = p.send(topic, b"x" * 2000)
    assert big.failed() and isinstance(big.exception, MessageSizeTooLargeError)
    with pytest.raises(MessageSizeTooLargeError, match="max_request_size"):
        big.get()
    assert p.send(topic, b"small").get(30).offset >= 0


def small_message_topic(bootstrap: str, bootstrap_broker: str, name: str) -> None:
    """A one-partition topic with max.message.bytes=2000 (made by librdkafka's admin client), its
    leader ready; skips on tansu, which does not keep topic configs."""
    if bootstrap_broker == "tansu":
        pytest.skip("tansu does not keep topic configs")
    from confluent_kafka.admin import AdminClient, NewTopic

    peer = AdminClient({"bootstrap.servers": bootstrap})
    for f in peer.create_topics([NewTopic(name, 1, 1, config={"max.message.bytes": "2000"})]).values():
        f.result(30)
    make_topic(bootstrap, name)  # (waits for the leader)


def test_batch_refused_as_too_large_is_split(
    bootstrap: str, bootstrap_broker: str, topic_name: str, producer_factory: Any
) -> None:
    """A topic whose max.message.bytes is below the producer's batches: the refused batch is sent again
    in pieces (as the Java client does), every record lands once and in order, its future has its own
    offset, and a record too large on its own fails alone."""
    small_message_topic(bootstrap, bootstrap_broker, topic_name)
    p = producer_factory(batch_size=65536, linger_ms=200)
    values = [b"r%04d-" % i + b"." * 94 for i in range(100)]
    values.insert(60, b"B" * 3000)
    sent = [p.send(topic_name, v) for v in values]
    p.flush(30)
    big = sent.pop(60)
    values.pop(60)
    assert big.failed() and isinstance(big.exception, MessageSizeTooLargeError)
    with pytest.raises(MessageSizeTooLargeError):
        big.get(0)
    offsets = [f.get(0).offset for f in sent]
    assert offsets == sorted(offsets) and len(set(offsets)) == 100
    got = read_back(bootstrap, topic_name, 100)
    assert [m.value() for m in got] == values
    assert [m.offset() for m in got] == offsets
    assert p.metrics()["producer-metrics"]["record-error-total"] == 1.0


def test_batch_refused_as_too_large_is_split_idempotent(
    bootstrap: str, bootstrap_broker: str, topic_name: str, producer_factory: Any
) -> None:
    """The same with idempotence: pieces carry their records' sequences, so nothing is duplicated or
    reordered; a record too large on its own fails (with what was batched after it) and later
    sends go on under a bumped epoch."""
    small_message_topic(bootstrap, bootstrap_broker, topic_name)
    p = producer_factory(batch_size=65536, linger_ms=200, enable_idempotence=True, acks="all")
    first = [b"a%04d-" % i + b"." * 94 for i in range(100)]
    sent = [p.send(topic_name, v) for v in first]
    p.flush(30)
    big = p.send(topic_name, b"B" * 3000)
    p.flush(30)
    assert isinstance(big.exception, MessageSizeTooLargeError)
    second = [b"b%04d-" % i + b"." * 94 for i in range(50)]
    sent += [p.send(topic_name, v) for v in second]
    p.flush(30)
    offsets = [f.get(0).offset for f in sent]
    assert offsets == sorted(offsets) and len(set(offsets)) == 150
    got = read_back(bootstrap, topic_name, 150)
    assert [m.value() for m in got] == first + second
    assert [m.offset() for m in got] == offsets


def test_linger_flush_and_batch_size_zero(bootstrap: str, topic_name: str, producer_factory: Any) -> None:
    topic = make_topic(bootstrap, topic_name)
    p = producer_factory(linger_ms=600_000)
    futs = [p.send(topic, b"lingering", partition=0) for _ in range(10)]
    assert not any(f.is_done for f in futs)  # a 10-minute linger holds them back
    p.flush(30)
    assert all(f.succeeded() for f in futs)
    assert p.metrics()["producer-metrics"]["records-per-request-avg"] == 10.0

    single = producer_factory(batch_size=0, linger_ms=50, max_in_flight_requests_per_connection=1)
    for _ in range(30):
        single.send(topic, b"one-by-one", partition=0)
    single.flush(30)
    assert single.metrics()["producer-metrics"]["records-per-request-avg"] == 1.0


def test_callbacks_run_once_and_errors_are_logged(
    bootstrap: str, topic_name: str, producer_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    topic = make_topic(bootstrap, topic_name)
    p = producer_factory(linger_ms=100)
    calls: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def ok(tag: str, meta: RecordMetadata) -> None:
        with lock:
            calls.append((tag, meta.offset))

    def boom(meta: RecordMetadata) -> None:
        raise RuntimeError("callback bug")

    fut = p.send(topic, b"cb").add_callback(ok, "first").add_errback(ok, "never")
    fut.add_callback(boom)
    with caplog.at_level(logging.ERROR):
        meta = fut.get(30)
        fut.add_callback(ok, "late")  # already done: runs at once, in this thread
    assert calls == [("first", meta.offset), ("late", meta.offset)]
    assert any("callback bug" in (r.exc_text or "") or "callback" in r.getMessage() for r in caplog.records)

    errs: list[BaseException] = []
    bad = p.send(topic, b"x" * (2 * 1048576))
    bad.add_errback(errs.append).add_callback(lambda m: errs.append(AssertionError("called")))
    assert len(errs) == 1 and isinstance(errs[0], MessageSizeTooLargeError)


def test_metrics_partitions_for_and_context_manager(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=4)
    with KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, retries=5) as p:
        assert p.partitions_for(topic) == {0, 1, 2, 3}
        futs = [p.send(topic, b"m" * 90, key=b"%d" % i) for i in range(400)]
        p.flush(30)
        assert all(f.succeeded() for f in futs)
        m = p.metrics()["producer-metrics"]
        assert m["record-send-total"] == 400.0
        assert m["record-send-rate"] > 0 and m["batch-size-avg"] > 0
        assert m["request-latency-avg"] > 0 and m["records-per-request-avg"] >= 1
        assert m["record-queue-time-avg"] >= 0 and m["compression-rate-avg"] == 1.0
        assert m["buffer-available-bytes"] == 33554432.0
        raw = p.metrics(raw=True)
        assert raw[("producer-metrics", "record-send-total")] == 400.0
    with pytest.raises(IllegalStateError):
        p.send(topic, b"after close")
    p.close()  # idempotent


def test_close_sends_pending_records(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=600_000, retries=5)
    futs = [p.send(topic, b"pending-%d" % i) for i in range(25)]
    assert not any(f.is_done for f in futs)
    p.close()
    assert all(f.succeeded() for f in futs)
    assert len(read_back(bootstrap, topic, 25)) == 25


def test_idempotent_producer_in_order_without_duplicates(
    bootstrap: str, topic_name: str, producer_factory: Any
) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=2)
    p = producer_factory(enable_idempotence=True, linger_ms=2, batch_size=2000)
    futs = [p.send(topic, b"%06d" % i, partition=i % 2) for i in range(3000)]
    p.flush(60)
    metas = [f.get() for f in futs]
    for part in (0, 1):
        offs = [m.offset for m in metas if m.partition == part]
        assert offs == list(range(offs[0], offs[0] + len(offs)))
    got = read_back(bootstrap, topic, 3000)
    for part in (0, 1):
        vals = [m.value() for m in got if m.partition() == part]
        assert vals == [b"%06d" % i for i in range(part, 3000, 2)]


def test_unknown_topic_wait_is_bounded(
    bootstrap: str, bootstrap_broker: str, topic_name: str, producer_factory: Any
) -> None:
    if bootstrap_broker == "tansu":
        pytest.skip("tansu creates topics on Metadata even when auto-creation is not allowed")
    p = producer_factory(allow_auto_create_topics=False, max_block_ms=500)
    with pytest.raises(KafkaTimeoutError, match=topic_name):
        p.send(topic_name, b"v")
    with pytest.raises(KafkaTimeoutError, match=topic_name):
        p.partitions_for(topic_name)


def test_explicit_partition_out_of_range_is_bounded(
    bootstrap: str, topic_name: str, producer_factory: Any
) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=2)
    p = producer_factory(max_block_ms=300)
    with pytest.raises(KafkaTimeoutError, match="partition 5"):
        p.send(topic, b"v", partition=5)


# --- no broker ---------------------------------------------------------------------------------


def test_no_broker_reachable() -> None:
    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(NoBrokersAvailable, match=dead):
        KafkaProducer(bootstrap_servers=dead, bootstrap_timeout_ms=300)
    p = KafkaProducer(bootstrap_servers=dead, api_version=(2, 8, 0), max_block_ms=300)
    try:
        assert not p.bootstrap_connected()
        with pytest.raises(KafkaTimeoutError, match="topic 'some-topic'"):
            p.send("some-topic", b"v")
    finally:
        p.close(timeout=1)


def test_future_is_awaitable(bootstrap: str, topic_name: str, producer_factory: Any) -> None:
    import asyncio

    topic = make_topic(bootstrap, topic_name)
    p = producer_factory(linger_ms=20)
    fut: FutureRecordMetadata = p.send(topic, b"await me")

    async def wait() -> RecordMetadata:
        return await fut

    assert asyncio.run(wait()).offset == fut.get(30).offset


def test_construction_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match=r"Unrecognized configs: \{'foo'\}"):
        KafkaProducer(foo=1)
    for bad in ({"acks": 2}, {"compression_type": "brotli"}, {"linger_ms": -1}, {"api_version": [2, 8]}):
        with pytest.raises(KafkaConfigurationError, match=next(iter(bad))):
            KafkaProducer(**bad)


def test_user_partitioner_and_sticky_default(bootstrap: str, topic_name: str, producer_factory: Any) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=4)
    seen: list[tuple[Any, list[int], list[int]]] = []

    def last_partition(key_bytes: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        seen.append((key_bytes, list(all_partitions), list(available)))
        return all_partitions[-1]

    p = producer_factory(partitioner=last_partition, key_serializer=str.encode)
    metas = [p.send(topic, b"v", key=f"k{i}").get(30) for i in range(3)]
    assert {m.partition for m in metas} == {3}
    assert seen[0] == (b"k0", [0, 1, 2, 3], [0, 1, 2, 3])

    # default partitioner, key None: one partition per batch (sticky), several over many batches
    sticky = producer_factory(linger_ms=600_000, batch_size=1000)
    first = [sticky.send(topic, b"x" * 50) for _ in range(10)]
    sticky.flush(30)
    assert len({f.get().partition for f in first}) == 1
    many = [sticky.send(topic, b"x" * 50) for _ in range(2000)]
    sticky.flush(30)
    assert len({f.get().partition for f in many}) > 1


def test_metadata_refreshes_on_max_age(bootstrap: str, producer_factory: Any) -> None:
    p = producer_factory(metadata_max_age_ms=50)
    client = p._core.client
    first = client.cluster
    wait_until(lambda: client.cluster is not first, timeout=30, what="a metadata refresh")
    assert client.cluster.refreshed_at > first.refreshed_at


def test_core_runs_on_the_callers_loop(bootstrap: str, topic_name: str) -> None:
    """The asyncio API's path: the same ProducerCore on the caller's event loop, no extra thread."""
    import asyncio

    from kafkakit.client.config import resolve_config
    from kafkakit.client.producer.core import ProducerCore

    topic = make_topic(bootstrap, topic_name, partitions=2)

    async def go() -> list[RecordMetadata]:
        core = ProducerCore(
            resolve_config("producer", {"bootstrap_servers": bootstrap, "linger_ms": 5, "retries": 5})
        )
        await core.start()
        assert not [t.name for t in threading.enumerate() if t.name.startswith("kafkakit-producer")]
        futs = [await core.send(topic, b"async-%d" % i, None, None, i % 2) for i in range(100)]
        await core.flush(30)
        metas = [await f for f in futs]
        late = await core.send(topic, b"at-close", None, None, 0)
        await core.close(30)
        assert late.succeeded()
        with pytest.raises(IllegalStateError):
            await core.send(topic, b"after close")
        return metas

    metas = asyncio.run(go())
    assert [m.partition for m in metas] == [i % 2 for i in range(100)]
    got = read_back(bootstrap, topic, 101)
    assert sorted(m.value() for m in got) == sorted([b"async-%d" % i for i in range(100)] + [b"at-close"])
