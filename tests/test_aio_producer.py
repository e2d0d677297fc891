"""AIOKafkaProducer against real brokers (``bootstrap``: embedded, tansu, Apache Kafka 1 and 3 nodes).

Mirrors the KafkaProducer suite: what was produced is read back with confluent-kafka's consumer
(librdkafka, an independent peer). Also checks what is specific to the asyncio API: no thread is
started, every wait is an await, and the facade refuses use before start() and after stop().
"""

from __future__ import annotations

import asyncio
import json

import pytest

from kafkakit import KafkaProducer
from kafkakit.aio import AIOKafkaProducer
from kafkakit.client.producer import FutureRecordMetadata, RecordMetadata
from kafkakit.errors import (
    IllegalStateError,
    KafkaConfigurationError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NoBrokersAvailable,
)
from kafkakit.structs import TopicPartition
from tests.infra import free_port
from tests.test_aio_support import ck, ck_read, make_topic, run, thread_ids


def test_send_and_wait_read_back_without_a_thread(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)
    before = thread_ids()

    async def body() -> list[RecordMetadata]:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as p:
            assert p.bootstrap_connected()
            assert not thread_ids() - before  # the core runs on this loop, no background thread
            first = await p.send_and_wait(topic, b"v0", key=b"k0", partition=0)
            futs = [
                await p.send(topic, f"v{i}".encode(), key=f"k{i}".encode(), partition=0) for i in range(1, 20)
            ]
            assert all(isinstance(f, FutureRecordMetadata) for f in futs)
            rest = list(await asyncio.gather(*futs))
            assert all(f.is_done and f.succeeded() and f.exception is None for f in futs)
            assert futs[3].value == rest[3]
            return [first, *rest]

    metas = run(body())
    assert [m.offset for m in metas] == list(range(metas[0].offset, metas[0].offset + 20))
    m0 = metas[0]
    assert (m0.topic, m0.partition, m0.topic_partition) == (topic, 0, TopicPartition(topic, 0))
    assert (m0.serialized_key_size, m0.serialized_value_size, m0.serialized_header_size) == (2, 2, -1)
    got = ck_read(bootstrap, topic, 20)
    assert [(m.key(), m.value(), m.offset()) for m in got] == [
        (f"k{i}".encode(), f"v{i}".encode(), metas[i].offset) for i in range(20)
    ]


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_each_codec_read_back_by_confluent(bootstrap: str, topic_name: str, codec: str | None) -> None:
    topic = make_topic(bootstrap, topic_name)
    values = [(b"record-%05d-" % i) * (i % 7 + 1) for i in range(500)]

    async def body() -> float:
        async with AIOKafkaProducer(
            bootstrap_servers=bootstrap, compression_type=codec, linger_ms=20, batch_size=1 << 20
        ) as p:
            futs = [await p.send(topic, v, key=str(i).encode()) for i, v in enumerate(values)]
            await p.flush(30)
            assert all(f.succeeded() for f in futs)
            return float(p.metrics()["producer-metrics"]["compression-rate-avg"])

    rate = run(body())
    assert (rate == 1.0) if codec is None else (0 < rate < 1.0)
    got = ck_read(bootstrap, topic, len(values))
    assert [m.value() for m in got] == values
    assert [m.key() for m in got] == [str(i).encode() for i in range(500)]


def test_keyed_partitions_match_the_sync_producer_and_librdkafka(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=7)
    keys = [f"key-{i}".encode() for i in range(100)] + [b"", b"a", b"\xff" * 33]

    async def body() -> list[int]:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5) as p:
            futs = [await p.send(topic, b"v", key=k) for k in keys]
            return [(await f).partition for f in futs]

    ours = run(body())
    with KafkaProducer(bootstrap_servers=bootstrap) as sp:
        assert ours == [sp.send(topic, b"v", key=k).get(30).partition for k in keys]
    delivered: dict[bytes, int] = {}
    cp = ck.Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    for k in keys:
        cp.produce(
            topic, b"v", key=k, on_delivery=lambda err, msg: delivered.__setitem__(msg.key(), msg.partition())
        )
    assert cp.flush(30) == 0
    assert ours == [delivered[k] for k in keys]


def test_headers_timestamp_tombstone_explicit_partition(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=3)

    async def body() -> tuple[RecordMetadata, RecordMetadata]:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as p:
            m1 = await p.send_and_wait(
                topic,
                b"with-headers",
                key=b"h",
                partition=2,
                timestamp_ms=1_600_000_000_123,
                headers=[("a", b"1"), ("b", b""), ("c", None)],  # type: ignore[list-item]
            )
            m2 = await p.send_and_wait(topic, None, key=b"gone", partition=2)
            return m1, m2

    m1, m2 = run(body())
    assert m1.partition == 2 and m1.timestamp == 1_600_000_000_123
    assert m1.serialized_header_size == 4
    assert m2.serialized_value_size == -1
    got = ck_read(bootstrap, topic, 2, partitions=3)
    assert got[0].partition() == 2 and got[0].headers() == [("a", b"1"), ("b", b""), ("c", None)]
    assert got[0].timestamp() == (ck.TIMESTAMP_CREATE_TIME, 1_600_000_000_123)
    assert got[1].key() == b"gone" and got[1].value() is None


def test_serializers_and_type_errors(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)

    async def body() -> None:
        async with AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            value_serializer=lambda m: json.dumps(m).encode(),
            key_serializer=str.encode,
        ) as p:
            await p.send_and_wait(topic, {"n": 1}, key="k")
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as raw:
            with pytest.raises(TypeError, match="str"):
                await raw.send(topic, "not bytes")
            with pytest.raises(TypeError, match="int"):
                await raw.send(topic, b"v", key=5)
            with pytest.raises(TypeError, match="header"):
                await raw.send(topic, b"v", headers=[("k", "str value")])  # type: ignore[list-item]

    run(body())
    got = ck_read(bootstrap, topic, 1)
    assert (got[0].key(), json.loads(got[0].value())) == (b"k", {"n": 1})


def test_acks_zero_and_all(bootstrap: str, bootstrap_broker: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)

    async def body() -> None:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, acks=0) as p0:
            assert [(await p0.send_and_wait(topic, b"a0")).offset for _ in range(3)] == [-1, -1, -1]
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all") as pall:
            assert (await pall.send_and_wait(topic, b"all")).offset >= 0

    run(body())
    if bootstrap_broker == "tansu":
        # acks=0 is fire-and-forget: tansu may drop requests still queued when the producer's
        # connection closes (Kafka and the embedded broker serve what arrived before the close)
        values = [m.value() for m in ck_read(bootstrap, topic, 4, timeout=5.0)]
        assert values[-1] == b"all" and values[:-1] == [b"a0"] * (len(values) - 1)
    else:
        assert [m.value() for m in ck_read(bootstrap, topic, 4)] == [b"a0"] * 3 + [b"all"]


def test_max_request_size_fails_the_future(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)

    async def body() -> None:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=1000) as p:
            big = await p.send(topic, b"x" * 2000)
            assert big.failed() and isinstance(big.exception, MessageSizeTooLargeError)
            with pytest.raises(MessageSizeTooLargeError, match="max_request_size"):
                await big
            assert (await p.send_and_wait(topic, b"small")).offset >= 0

    run(body())


def test_linger_flush_and_batch_size_zero(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)

    async def body() -> None:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=600_000) as p:
            futs = [await p.send(topic, b"lingering", partition=0) for _ in range(10)]
            await asyncio.sleep(0.2)
            assert not any(f.is_done for f in futs)  # a 10-minute linger holds them back
            await p.flush(30)
            assert all(f.succeeded() for f in futs)
            assert p.metrics()["producer-metrics"]["records-per-request-avg"] == 10.0
        async with AIOKafkaProducer(
            bootstrap_servers=bootstrap, batch_size=0, linger_ms=50, max_in_flight_requests_per_connection=1
        ) as single:
            for _ in range(30):
                await single.send(topic, b"one-by-one", partition=0)
            await single.flush(30)
            assert single.metrics()["producer-metrics"]["records-per-request-avg"] == 1.0

    run(body())


def test_callbacks_run_once_on_the_loop(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)

    async def body() -> None:
        calls: list[tuple[str, int]] = []
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50) as p:
            fut = (await p.send(topic, b"cb")).add_callback(lambda m: calls.append(("ok", m.offset)))
            fut.add_errback(lambda e: calls.append(("err", -1)))
            meta = await fut
            fut.add_callback(lambda m: calls.append(("late", m.offset)))
            assert calls == [("ok", meta.offset), ("late", meta.offset)]

    run(body())


def test_metrics_partitions_for_and_lifecycle(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=4)

    async def body() -> None:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        with pytest.raises(IllegalStateError, match="start"):
            await p.send(topic, b"too early")
        await p.start()
        await p.start()  # idempotent
        assert await p.partitions_for(topic) == {0, 1, 2, 3}
        futs = [await p.send(topic, b"m" * 90, key=b"%d" % i) for i in range(400)]
        await p.flush(30)
        assert all(f.succeeded() for f in futs)
        m = p.metrics()["producer-metrics"]
        assert m["record-send-total"] == 400.0
        assert m["record-send-rate"] > 0 and m["batch-size-avg"] > 0 and m["records-per-request-avg"] >= 1
        assert m["buffer-available-bytes"] == 33554432.0
        assert p.metrics(raw=True)[("producer-metrics", "record-send-total")] == 400.0
        await p.stop()
        await p.stop()  # idempotent
        with pytest.raises(IllegalStateError, match="stop"):
            await p.send(topic, b"after stop")
        with pytest.raises(IllegalStateError):
            await p.start()

    run(body())


def test_stop_sends_pending_records(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)

    async def body() -> None:
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=600_000)
        await p.start()
        futs = [await p.send(topic, b"pending-%d" % i) for i in range(25)]
        assert not any(f.is_done for f in futs)
        await p.stop()
        assert all(f.succeeded() for f in futs)

    run(body())
    assert len(ck_read(bootstrap, topic, 25)) == 25


def test_idempotent_producer_in_order_without_duplicates(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=2)

    async def body() -> list[RecordMetadata]:
        async with AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=2, batch_size=2000
        ) as p:
            futs = [await p.send(topic, b"%06d" % i, partition=i % 2) for i in range(3000)]
            await p.flush(60)
            return [f.value for f in futs]  # type: ignore[misc]

    metas = run(body())
    for part in (0, 1):
        offs = [m.offset for m in metas if m.partition == part]
        assert offs == list(range(offs[0], offs[0] + len(offs)))
    got = ck_read(bootstrap, topic, 3000, partitions=2)
    for part in (0, 1):
        assert [m.value() for m in got if m.partition() == part] == [
            b"%06d" % i for i in range(part, 3000, 2)
        ]


def test_buffer_full_send_awaits_instead_of_blocking(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)

    async def body() -> None:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, buffer_memory=20_000, batch_size=4096) as p:
            futs = [await p.send(topic, b"z" * 500, partition=0) for _ in range(400)]  # 10x the buffer
            metas = await asyncio.gather(*futs)
            assert [m.offset for m in metas] == list(range(metas[0].offset, metas[0].offset + 400))

    run(body())


def test_unknown_topic_wait_is_bounded(bootstrap: str, bootstrap_broker: str, topic_name: str) -> None:
    if bootstrap_broker == "tansu":
        pytest.skip("tansu creates topics on Metadata even when auto-creation is not allowed")

    async def body() -> None:
        async with AIOKafkaProducer(
            bootstrap_servers=bootstrap, allow_auto_create_topics=False, max_block_ms=500
        ) as p:
            with pytest.raises(KafkaTimeoutError, match=topic_name):
                await p.send(topic_name, b"v")
            with pytest.raises(KafkaTimeoutError, match=topic_name):
                await p.partitions_for(topic_name)

    run(body())


def test_explicit_partition_out_of_range_is_bounded(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=2)

    async def body() -> None:
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, max_block_ms=300) as p:
            with pytest.raises(KafkaTimeoutError, match="partition 5"):
                await p.send(topic, b"v", partition=5)

    run(body())


# --- no broker, configuration ----------------------------------------------------------------------


def test_no_broker_reachable() -> None:
    dead = f"127.0.0.1:{free_port()}"

    async def body() -> None:
        p = AIOKafkaProducer(bootstrap_servers=dead, bootstrap_timeout_ms=300)
        with pytest.raises(NoBrokersAvailable, match=dead):
            await p.start()
        lazy = AIOKafkaProducer(bootstrap_servers=dead, api_version=(2, 8, 0), max_block_ms=300)
        await lazy.start()
        try:
            assert not lazy.bootstrap_connected()
            with pytest.raises(KafkaTimeoutError, match="topic 'some-topic'"):
                await lazy.send("some-topic", b"v")
        finally:
            await lazy.stop(timeout=1)

    run(body())


def test_same_configuration_as_the_sync_producer() -> None:
    from kafkakit.client.config import PRODUCER_DEFAULTS, resolve_config

    a = AIOKafkaProducer(bootstrap_servers="h:1", client_id="x", acks="all")
    assert a.config == resolve_config(
        "producer", {"bootstrap_servers": "h:1", "client_id": "x", "acks": "all"}
    )
    assert a.config["acks"] == -1 and a.config["linger_ms"] == PRODUCER_DEFAULTS["linger_ms"] == 0
    with pytest.raises(KafkaConfigurationError, match="linger_mss"):
        AIOKafkaProducer(linger_mss=5)
    with pytest.raises(KafkaConfigurationError, match="acks"):
        AIOKafkaProducer(acks=2)
