"""AIOKafkaConsumer against real brokers (``bootstrap``: embedded, tansu, Apache Kafka 1 and 3 nodes).

Records are written by confluent-kafka (librdkafka, an independent peer) and read back exactly;
group behaviour (coroutine rebalance listeners, commits, a second member joining) is checked against
the broker's own view. Also checks what is specific to asyncio: ``async for``, getone/getmany with
partition filters, and stop() ending waits.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Set
from typing import Any

import pytest

from kafkakit import ConsumerRebalanceListener, KafkaConsumer
from kafkakit.aio import AIOKafkaConsumer
from kafkakit.aio.consumer import ConsumerStoppedError
from kafkakit.client.consumer import ConsumerRecord
from kafkakit.errors import IllegalStateError, KafkaConfigurationError, NoBrokersAvailable
from kafkakit.structs import OffsetAndMetadata, TopicPartition
from tests.infra import free_port
from tests.test_aio_support import ck_produce, make_topic, run, thread_ids


def produce(
    bootstrap: str, topic: str, n: int, partitions: int = 1, **conf: Any
) -> list[tuple[int, bytes, bytes]]:
    rows = [(i % partitions, b"k%05d" % i, b"v%05d" % i) for i in range(n)]
    ck_produce(bootstrap, topic, rows, **conf)
    return rows


def consumer(bootstrap: str, *topics: str, **kw: Any) -> AIOKafkaConsumer:
    kw.setdefault("auto_offset_reset", "earliest")
    kw.setdefault("fetch_max_wait_ms", 100)
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, **kw)


async def take(c: AIOKafkaConsumer, n: int, timeout: float = 30.0) -> list[ConsumerRecord]:
    out: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for recs in (await c.getmany(timeout_ms=500)).values():
            out.extend(recs)
    return out


# --- assign, getmany, getone, async for ------------------------------------------------------------


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_getmany_reads_what_confluent_wrote(bootstrap: str, topic_name: str, codec: str) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=3)
    rows = produce(bootstrap, topic, 600, partitions=3, **{"compression.type": codec})
    before = thread_ids()

    async def body() -> list[ConsumerRecord]:
        async with consumer(bootstrap) as c:
            assert not thread_ids() - before  # the core runs on this loop
            c.assign([TopicPartition(topic, p) for p in range(3)])
            got = await take(c, 600)
            assert await c.getmany(timeout_ms=200) == {}
            for p in range(3):
                tp = TopicPartition(topic, p)
                assert await c.position(tp) == 200 and c.highwater(tp) == 200
            return got

    got = run(body())
    by_part = {p: [(r.key, r.value, r.offset) for r in got if r.partition == p] for p in range(3)}
    for p in range(3):
        want = [(k, v) for q, k, v in rows if q == p]
        assert by_part[p] == [(k, v, i) for i, (k, v) in enumerate(want)]
    assert all(r.topic == topic for r in got)


def test_getone_and_async_for_advance_one_record_at_a_time(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)
    produce(bootstrap, topic, 50)
    tp = TopicPartition(topic, 0)

    async def body() -> None:
        async with consumer(bootstrap, consumer_timeout_ms=1500) as c:
            c.assign([tp])
            first = await c.getone()
            assert (first.offset, first.value) == (0, b"v00000")
            assert await c.position(tp) == 1
            seen = []
            async for record in c:
                seen.append(record.offset)
                if record.offset == 9:
                    break
            assert seen == list(range(1, 10)) and await c.position(tp) == 10  # nothing skipped by break
            rest = [r.offset async for r in c]  # ends after consumer_timeout_ms without records
            assert rest == list(range(10, 50))
            assert await c.position(tp) == 50
            # every record handed out counted once, however it was handed out
            assert c.metrics()["consumer-fetch-manager-metrics"]["records-consumed-total"] == 50.0
            # after a seek back, iteration and getmany mixed within one batch lose and repeat nothing
            c.seek(tp, 5)
            mixed = [(await c.getone()).offset]
            async for record in c:
                mixed.append(record.offset)
                if record.offset == 8:
                    break
            got = await c.getmany(timeout_ms=1000, max_records=3)
            mixed += [r.offset for r in got[tp]]
            mixed.append((await c.getone()).offset)
            assert mixed == list(range(5, 13)) and await c.position(tp) == 13
            assert c.metrics()["consumer-fetch-manager-metrics"]["records-consumed-total"] == 58.0

    run(body())


def test_getmany_and_getone_with_partition_filters(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=2)
    produce(bootstrap, topic, 40, partitions=2)
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    async def body() -> None:
        async with consumer(bootstrap) as c:
            c.assign([p0, p1])
            only1: list[ConsumerRecord] = []
            while len(only1) < 20:
                got = await c.getmany(p1, timeout_ms=2000)
                assert set(got) <= {p1}
                only1.extend(got.get(p1, []))
            assert [r.offset for r in only1] == list(range(20))
            assert await c.position(p0) == 0 and c.paused() == set()
            one = await c.getone(p0)
            assert (one.partition, one.offset) == (0, 0)
            rest = await take(c, 19)
            assert [(r.partition, r.offset) for r in rest] == [(0, i) for i in range(1, 20)]
            assert c.paused() == set()
            with pytest.raises(Exception, match="not assigned|assigned"):
                await c.getmany(TopicPartition(topic, 7), timeout_ms=10)

    run(body())


def test_seek_position_pause_resume_and_offset_queries(
    bootstrap: str, bootstrap_broker: str, topic_name: str
) -> None:
    topic = make_topic(bootstrap, topic_name)
    t0 = int(time.time() * 1000)
    produce(bootstrap, topic, 30)
    tp = TopicPartition(topic, 0)

    async def body() -> None:
        async with consumer(bootstrap) as c:
            c.assign([tp])
            assert c.assignment() == {tp}
            assert await c.beginning_offsets([tp]) == {tp: 0}
            if bootstrap_broker != "tansu":  # tansu answers ListOffsets(latest) with last batch base + 1
                assert await c.end_offsets([tp]) == {tp: 30}
            found = await c.offsets_for_times({tp: t0 - 60_000})
            assert found[tp] is not None and found[tp].offset == 0
            if bootstrap_broker != "tansu":  # tansu answers offset 0 for a timestamp past the end
                assert (await c.offsets_for_times({tp: t0 + 3_600_000}))[tp] is None
            c.seek(tp, 25)
            assert [r.offset for r in await take(c, 5)] == list(range(25, 30))
            await c.seek_to_beginning(tp)
            assert await c.position(tp) == 0
            await c.seek_to_end()
            assert await c.position(tp) == (await c.end_offsets([tp]))[tp]
            c.seek(tp, 10)
            c.pause(tp)
            assert c.paused() == {tp}
            assert await c.getmany(timeout_ms=300) == {}
            c.resume(tp)
            assert [r.offset for r in await take(c, 20)] == list(range(10, 30))
            with pytest.raises(ValueError, match="offset"):
                c.seek(tp, -1)
            assert topic in await c.topics()
            assert await c.partitions_for_topic(topic) == {0}
            assert c.bootstrap_connected()
            fm = c.metrics()["consumer-fetch-manager-metrics"]
            assert fm["records-consumed-total"] >= 25.0

    run(body())


def test_deserializers(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)
    ck_produce(bootstrap, topic, [(0, b"key", json.dumps({"n": 7}).encode())])

    async def body() -> ConsumerRecord:
        async with consumer(
            bootstrap, key_deserializer=bytes.decode, value_deserializer=lambda b: json.loads(b)
        ) as c:
            c.assign([TopicPartition(topic, 0)])
            return await c.getone()

    r = run(body())
    assert (r.key, r.value) == ("key", {"n": 7})


# --- groups -----------------------------------------------------------------------------------------


class Recorder(ConsumerRebalanceListener):
    """A listener whose callbacks are coroutines (awaited on the consumer's loop)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, set[TopicPartition]]] = []

    async def on_partitions_revoked(self, revoked: Set[TopicPartition]) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.events.append(("revoked", set(revoked)))

    async def on_partitions_assigned(self, assigned: Set[TopicPartition]) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.events.append(("assigned", set(assigned)))


def test_group_subscribe_coroutine_listener_commit_and_rebalance(
    bootstrap: str, bootstrap_broker: str, topic_name: str
) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=4)
    produce(bootstrap, topic, 80, partitions=4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    all_tps = {TopicPartition(topic, p) for p in range(4)}
    common = {
        "group_id": group,
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 500,
        "enable_auto_commit": False,
    }

    async def body() -> None:
        rec1, rec2 = Recorder(), Recorder()
        c1 = consumer(bootstrap, **common)
        await c1.start()
        try:
            c1.subscribe([topic], listener=rec1)
            assert c1.subscription() == {topic}
            got = await take(c1, 80)
            assert sorted((r.partition, r.offset) for r in got) == sorted(
                (p, i) for p in range(4) for i in range(20)
            )
            assert rec1.events[-1] == ("assigned", all_tps) and c1.assignment() == all_tps
            await c1.commit()
            for tp in all_tps:
                assert await c1.committed(tp) == 20
            await c1.commit({TopicPartition(topic, 0): OffsetAndMetadata(5, "meta", -1)})
            om = await c1.committed(TopicPartition(topic, 0), metadata=True)
            assert isinstance(om, OffsetAndMetadata) and om.offset == 5
            if bootstrap_broker != "tansu":  # tansu does not keep commit metadata
                assert om.metadata == "meta"

            c2 = consumer(bootstrap, topic, **common)
            await c2.start()
            try:
                c2.subscribe([topic], listener=rec2)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and not (len(c1.assignment()) == 2 == len(c2.assignment())):
                    await asyncio.gather(c1.getmany(timeout_ms=200), c2.getmany(timeout_ms=200))
                assert c1.assignment() | c2.assignment() == all_tps
                assert not c1.assignment() & c2.assignment()
                assert ("revoked", all_tps) in rec1.events
                assert rec2.events[-1] == ("assigned", c2.assignment())
                owned = c2.assignment()
                await c2.unsubscribe()
                assert c2.assignment() == set() and c2.subscription() is None
                assert rec2.events[-1] == ("revoked", owned)
            finally:
                await c2.stop()
        finally:
            await c1.stop()

    run(body(), timeout=90)
    with KafkaConsumer(bootstrap_servers=bootstrap, group_id=group) as sync:  # the committed offsets are real
        assert sync.committed(TopicPartition(topic, 0)) == 5
        assert sync.committed(TopicPartition(topic, 3)) == 20


def test_subscribe_needs_start_and_without_a_group_takes_every_partition(
    bootstrap: str, topic_name: str
) -> None:
    topic = make_topic(bootstrap, topic_name, partitions=3)

    async def body() -> set[TopicPartition]:
        c = consumer(bootstrap)
        with pytest.raises(IllegalStateError, match="start"):
            c.subscribe([topic])
        await c.start()
        try:
            with pytest.raises(TypeError, match="list of topics"):
                c.subscribe(topic)  # type: ignore[arg-type]
            # no group_id: no group management, the consumer takes every partition (as kafka-python)
            c.subscribe([topic])
            deadline = time.monotonic() + 30
            while not c.assignment() and time.monotonic() < deadline:
                await c.getmany(timeout_ms=100)
            return set(c.assignment())
        finally:
            await c.stop()

    assert run(body()) == {TopicPartition(topic, p) for p in range(3)}


# --- lifecycle ----------------------------------------------------------------------------------------


def test_stop_wakes_waiters_and_ends_iteration(bootstrap: str, topic_name: str) -> None:
    topic = make_topic(bootstrap, topic_name)

    async def body() -> None:
        c = consumer(bootstrap)
        await c.start()
        c.assign([TopicPartition(topic, 0)])
        waiter = asyncio.ensure_future(c.getone())
        iterated: list[Any] = []

        async def iterate() -> None:
            async for r in c:
                iterated.append(r)

        it = asyncio.ensure_future(iterate())
        await asyncio.sleep(0.3)
        assert not waiter.done() and not it.done()
        await c.stop()
        with pytest.raises(ConsumerStoppedError):
            await waiter
        await it  # the iteration ended cleanly
        assert iterated == []
        with pytest.raises(ConsumerStoppedError):
            await c.getmany()
        await c.stop()  # idempotent

    run(body())


def test_no_broker_and_configuration() -> None:
    dead = f"127.0.0.1:{free_port()}"

    async def body() -> None:
        c = AIOKafkaConsumer(bootstrap_servers=dead, bootstrap_timeout_ms=300)
        with pytest.raises(NoBrokersAvailable, match=dead):
            await c.start()

    run(body())
    with pytest.raises(KafkaConfigurationError, match="fetch_max_wait"):
        AIOKafkaConsumer(fetch_max_wait=5)
    with pytest.raises(KafkaConfigurationError, match="heartbeat_interval_ms"):
        AIOKafkaConsumer(session_timeout_ms=1000, heartbeat_interval_ms=2000)
    with pytest.raises(KafkaConfigurationError, match="group_instance_id"):
        AIOKafkaConsumer(group_instance_id="x")
    with pytest.raises(TypeError, match="topics must be str"):
        AIOKafkaConsumer(TopicPartition("t", 0))  # type: ignore[arg-type]
