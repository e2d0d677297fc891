"""KafkaConsumer without group rebalancing: every method against real brokers (the ``bootstrap``
fixture runs each test on embedded / tansu / Apache Kafka), with kafka-python and confluent-kafka as
producers and oracles; plus a scripted broker on a real socket serving a corrupt batch."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kafkakit import KafkaConsumer, OffsetAndMetadata, OffsetAndTimestamp, TopicPartition
from kafkakit.client.consumer import ConsumerRecord, RecordDeserializationError
from kafkakit.client.consumer.consumer import KafkaConsumer as DirectKafkaConsumer
from kafkakit.errors import (
    CorruptRecordError,
    IllegalStateError,
    KafkaConfigurationError,
    NoBrokersAvailable,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
)

pytestmark = pytest.mark.timeout(180)


# ------------------------------------------------------------------ helpers (peers as producers)


def create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()
    deadline = time.monotonic() + 30
    from kafka import KafkaConsumer as KC

    kc = KC(bootstrap_servers=bootstrap)
    try:
        while time.monotonic() < deadline:
            if len(kc.partitions_for_topic(topic) or ()) == partitions:
                return
            time.sleep(0.1)
    finally:
        kc.close()
    raise AssertionError(f"topic {topic} did not appear")


def produce(
    bootstrap: str, topic: str, records: list[dict[str, Any]], one_by_one: bool = False
) -> list[tuple[int, int]]:
    """Send with kafka-python; returns (partition, offset) of each record."""
    from kafka import KafkaProducer as KP

    p = KP(bootstrap_servers=bootstrap, linger_ms=0 if one_by_one else 5)
    try:
        out = []
        futures = []
        for r in records:
            fut = p.send(topic, **r)
            if one_by_one:
                md = fut.get(30)
                out.append((md.partition, md.offset))
            else:
                futures.append(fut)
        p.flush(30)
        out += [(f.get(30).partition, f.get(30).offset) for f in futures]
        return out
    finally:
        p.close()


@pytest.fixture
def topic(bootstrap: str, topic_name: str) -> str:
    create_topic(bootstrap, topic_name, 3)
    return topic_name


def consumer(bootstrap: str, **kw: Any) -> KafkaConsumer:
    kw.setdefault("auto_offset_reset", "earliest")
    kw.setdefault("enable_auto_commit", False)
    return KafkaConsumer(bootstrap_servers=bootstrap, **kw)


def drain(c: KafkaConsumer, want: int, timeout: float = 30.0) -> list[ConsumerRecord]:
    got: list[ConsumerRecord] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=200).values():
            got.extend(recs)
    return got


# ------------------------------------------------------------------ consuming


def test_assign_and_iterate_reads_exactly_what_was_produced(bootstrap: str, topic: str) -> None:
    records = [
        {
            "key": None if i % 7 == 0 else b"k%d" % i,
            "value": None if i % 11 == 0 and i % 7 else b"value-%d" % i,
            "headers": [("h", b"%d" % i), ("empty", b"")] if i % 3 == 0 else [],
            "partition": i % 3,
            "timestamp_ms": 1_600_000_000_000 + i,
        }
        for i in range(300)
    ]
    placed = produce(bootstrap, topic, records)
    expected = {
        (p, o): (r["key"], r["value"], r["headers"], r["timestamp_ms"])
        for (p, o), r in zip(placed, records, strict=True)
    }
    c = consumer(bootstrap, consumer_timeout_ms=3000)
    c.assign([TopicPartition(topic, p) for p in range(3)])
    got = {}
    for msg in c:
        assert msg.topic == topic and msg.timestamp_type == 0 and msg.checksum is None
        assert msg.serialized_key_size == (-1 if msg.key is None else len(msg.key))
        assert msg.serialized_value_size == (-1 if msg.value is None else len(msg.value))
        assert msg.serialized_header_size == (
            sum(len(k.encode()) + len(v) for k, v in msg.headers) if msg.headers else -1
        )
        got[(msg.partition, msg.offset)] = (msg.key, msg.value, msg.headers, msg.timestamp)
    assert got == expected
    for p in range(3):
        n = sum(1 for (pp, _o) in expected if pp == p)
        assert c.position(TopicPartition(topic, p)) == n
        assert c.highwater(TopicPartition(topic, p)) == n
    assert c.assignment() == {TopicPartition(topic, p) for p in range(3)}
    assert c.subscription() is None
    c.close()


def test_poll_respects_max_records_and_moves_positions(bootstrap: str, topic: str) -> None:
    produce(bootstrap, topic, [{"value": b"%d" % i, "partition": 1} for i in range(50)])
    tp = TopicPartition(topic, 1)
    c = consumer(bootstrap, max_poll_records=7)
    c.assign([tp])
    seen: list[int] = []
    while len(seen) < 50:
        batch = c.poll(timeout_ms=5000)
        assert set(batch) <= {tp}
        recs = batch.get(tp, [])
        assert len(recs) <= 7
        seen += [r.offset for r in recs]
        if recs:
            assert c.position(tp) == recs[-1].offset + 1
    assert seen == list(range(50))
    assert c.poll(timeout_ms=300, max_records=3) == {}
    c.seek(tp, 10)
    got = c.poll(timeout_ms=5000, max_records=3)
    assert [r.offset for r in got[tp]] == [10, 11, 12]
    got = c.poll(timeout_ms=5000, max_records=2, update_offsets=False)
    assert [r.offset for r in got[tp]] == [13, 14]
    assert c.position(tp) == 13
    c.close()


def test_iteration_then_poll_loses_nothing(bootstrap: str, topic: str) -> None:
    produce(bootstrap, topic, [{"value": b"%d" % i, "partition": 0} for i in range(40)])
    tp = TopicPartition(topic, 0)
    c = consumer(bootstrap)
    c.assign([tp])
    first = [next(c).offset for _ in range(5)]
    rest = drain(c, 35)
    assert first + [r.offset for r in rest] == list(range(40))
    c.close()


def test_seek_and_positions(bootstrap: str, topic: str) -> None:
    produce(bootstrap, topic, [{"value": b"%d" % i, "partition": 2} for i in range(20)], one_by_one=True)
    tp = TopicPartition(topic, 2)
    c = consumer(bootstrap, auto_offset_reset="latest")
    c.assign([tp])
    assert c.position(tp) == 20
    c.seek_to_beginning(tp)
    assert c.position(tp) == 0
    c.seek(tp, 17)
    assert [r.offset for r in drain(c, 3)] == [17, 18, 19]
    c.seek_to_beginning()
    assert [r.value for r in drain(c, 20)] == [b"%d" % i for i in range(20)]
    c.seek_to_end(tp)
    assert c.position(tp) == 20
    assert c.beginning_offsets([tp]) == {tp: 0}
    assert c.end_offsets([tp]) == {tp: 20}
    with pytest.raises(IllegalStateError, match="not assigned"):
        c.seek(TopicPartition(topic, 0), 1)
    with pytest.raises(ValueError, match="seek offset must be an int >= 0"):
        c.seek(tp, -1)
    c.close()


def test_offsets_for_times(bootstrap: str, topic: str, bootstrap_broker: str) -> None:
    if bootstrap_broker == "tansu":
        pytest.xfail("tansu answers ListOffsets by timestamp with offset 0 whatever the timestamp")
    base = 1_650_000_000_000
    produce(
        bootstrap,
        topic,
        [{"value": b"%d" % i, "partition": 0, "timestamp_ms": base + 1000 * i} for i in range(10)],
        one_by_one=True,
    )
    tp = TopicPartition(topic, 0)
    c = consumer(bootstrap)
    found = c.offsets_for_times({tp: base + 3500})
    assert found == {tp: OffsetAndTimestamp(4, base + 4000, found[tp].leader_epoch)}  # type: ignore[union-attr]
    assert c.offsets_for_times({tp: base})[tp].offset == 0  # type: ignore[union-attr]
    assert c.offsets_for_times({tp: base + 10_000_000}) == {tp: None}
    with pytest.raises(ValueError, match="must be an int >= 0"):
        c.offsets_for_times({tp: -5})
    c.close()


def test_pause_and_resume(bootstrap: str, topic: str) -> None:
    produce(bootstrap, topic, [{"value": b"%d" % i, "partition": i % 2} for i in range(20)])
    a, b = TopicPartition(topic, 0), TopicPartition(topic, 1)
    c = consumer(bootstrap, max_poll_records=1)
    c.assign([a, b])
    c.pause(b)
    assert c.paused() == {b}
    got = drain(c, 10)
    assert {r.partition for r in got} == {0}
    assert len(got) == 10
    assert c.poll(timeout_ms=500) == {}
    assert c.position(b) == 0
    c.resume(b)
    assert c.paused() == set()
    got = drain(c, 10)
    assert [(r.partition, r.offset) for r in got] == [(1, i) for i in range(10)]
    c.close()


def test_deserializer_error_keeps_the_position(bootstrap: str, topic: str) -> None:
    produce(
        bootstrap, topic, [{"value": v, "partition": 0} for v in (b"1", b"2", b"oops", b"4")], one_by_one=True
    )
    tp = TopicPartition(topic, 0)
    c = consumer(bootstrap, value_deserializer=lambda b: int(b))
    c.assign([tp])
    assert [r.value for r in drain(c, 2)] == [1, 2]
    for _ in range(2):  # raised again and again until the user seeks past
        with pytest.raises(RecordDeserializationError) as info:
            c.poll(timeout_ms=5000)
        assert info.value.topic_partition == tp and info.value.offset == 2
        assert f"partition {topic}-0" in str(info.value)
        assert c.position(tp) == 2
    c.seek(tp, 3)
    assert [r.value for r in drain(c, 1)] == [4]
    # iteration reports it too, and can go on after a seek
    c.seek(tp, 0)
    it = iter(c)
    assert [next(it).value, next(it).value] == [1, 2]
    with pytest.raises(RecordDeserializationError):
        next(c)
    c.seek(tp, 3)
    assert next(c).value == 4
    c.close()


def test_large_fetches_decoded_in_chunks_keep_order_and_errors(bootstrap: str, topic: str) -> None:
    """A response of several MB is decoded lazily in ~1 MB chunks: every record once, in order; an
    error in a later chunk stops exactly at its record, for iteration and for poll()."""
    n, bad = 3000, 2500
    payload = [b"%06d" % i + b"." * 994 if i != bad else b"bad" for i in range(n)]
    produce(bootstrap, topic, [{"value": v, "partition": 0} for v in payload])
    tp = TopicPartition(topic, 0)

    def as_int(b: bytes) -> int:
        return int(b[:6])

    big = {"max_partition_fetch_bytes": 8 << 20, "fetch_max_bytes": 16 << 20}
    c = consumer(bootstrap, value_deserializer=as_int, **big)
    c.assign([tp])
    got = []
    with pytest.raises(RecordDeserializationError) as info:
        for msg in c:
            got.append((msg.offset, msg.value))
    assert got == [(i, i) for i in range(bad)]
    assert info.value.offset == bad and c.position(tp) == bad
    c.seek(tp, bad + 1)
    rest = drain(c, n - bad - 1)
    assert [(r.offset, r.value) for r in rest] == [(i, i) for i in range(bad + 1, n)]
    # poll() meets the same error at the same place, with max_poll_records cutting across chunks
    c.seek(tp, 0)
    polled = []
    with pytest.raises(RecordDeserializationError) as info:
        while True:
            for recs in c.poll(timeout_ms=1000, max_records=333).values():
                polled.extend(r.offset for r in recs)
    assert polled == list(range(bad)) and info.value.offset == bad
    c.close()


def test_auto_offset_reset_policies(bootstrap: str, topic: str, bootstrap_broker: str) -> None:
    produce(bootstrap, topic, [{"value": b"x", "partition": 0}] * 5, one_by_one=True)
    tp = TopicPartition(topic, 0)
    for reset, expected in (("earliest", 0), ("smallest", 0), ("latest", 5), ("largest", 5)):
        c = consumer(bootstrap, auto_offset_reset=reset)
        c.assign([tp])
        assert c.position(tp) == expected, reset
        c.close()
    c = consumer(bootstrap, auto_offset_reset="none")
    c.assign([tp])
    with pytest.raises(NoOffsetForPartitionError, match=f"{topic}-0"):
        c.poll(timeout_ms=1000)
    c.seek(tp, 4)
    assert [r.offset for r in drain(c, 1)] == [4]
    if bootstrap_broker == "tansu":
        c.close()
        pytest.xfail(
            "tansu answers a fetch beyond the log end with no records instead of OFFSET_OUT_OF_RANGE"
        )
    # out of range with policy none
    c.seek(tp, 1000)
    with pytest.raises(OffsetOutOfRangeError, match="out of range"):
        for _ in range(50):
            c.poll(timeout_ms=200)
    c.close()
    c = consumer(bootstrap, auto_offset_reset="earliest")
    c.assign([tp])
    c.seek(tp, 1000)  # out of range: reset to earliest
    assert [r.offset for r in drain(c, 5)] == [0, 1, 2, 3, 4]
    c.close()


def test_consumer_timeout_ends_iteration(bootstrap: str, topic: str) -> None:
    c = consumer(bootstrap, consumer_timeout_ms=300)
    c.assign([TopicPartition(topic, 0)])
    started = time.monotonic()
    assert list(c) == []
    assert time.monotonic() - started >= 0.3
    produce(bootstrap, topic, [{"value": b"late", "partition": 0}])
    assert [m.value for m in c] == [b"late"]
    c.close()


def test_metadata_and_metrics(bootstrap: str, topic: str) -> None:
    produce(bootstrap, topic, [{"value": b"x" * 100, "partition": 0} for _ in range(100)])
    c = consumer(bootstrap)
    assert c.bootstrap_connected()
    assert topic in c.topics()
    assert c.partitions_for_topic(topic) == {0, 1, 2}
    c2 = consumer(bootstrap, allow_auto_create_topics=False)
    assert c2.partitions_for_topic(f"missing-{uuid.uuid4().hex}") is None
    c2.close()
    c.assign([TopicPartition(topic, 0)])
    assert len(drain(c, 100)) == 100
    m = c.metrics()
    fm = m["consumer-fetch-manager-metrics"]
    assert fm["records-consumed-rate"] > 0
    assert fm["records-consumed-total"] == 100
    assert fm["bytes-consumed-rate"] > 0
    assert fm["fetch-latency-avg"] > 0
    assert fm["records-lag-max"] >= 0
    assert m["consumer-coordinator-metrics"]["assigned-partitions"] == 1
    raw = c.metrics(raw=True)
    assert any(k.name == "records-consumed-rate" and v > 0 for k, v in raw.items())
    assert c.group_metadata().group_id is None
    # records-consumed counts what was handed out, also when iteration stops mid-batch
    c.seek(TopicPartition(topic, 0), 0)
    it = iter(c)
    assert [next(it).offset for _ in range(10)] == list(range(10))
    c.seek(TopicPartition(topic, 0), 50)  # the rest of that batch is never handed out
    assert next(it).offset == 50
    polled = c.poll(timeout_ms=5000, max_records=20)  # poll() after iteration: the batch's rest
    assert [r.offset for r in polled[TopicPartition(topic, 0)]] == list(range(51, 71))
    assert c.metrics()["consumer-fetch-manager-metrics"]["records-consumed-total"] == 100 + 10 + 1 + 20
    c.close()


def test_commit_and_committed_with_a_group_id(bootstrap: str, topic: str, bootstrap_broker: str) -> None:
    from kafka import KafkaConsumer as KC
    from kafka import TopicPartition as KTopicPartition

    produce(bootstrap, topic, [{"value": b"x", "partition": 1}] * 10)
    tp = TopicPartition(topic, 1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    c = consumer(bootstrap, group_id=group)
    c.assign([tp])
    assert c.committed(tp) is None
    assert len(drain(c, 4)) >= 4
    c.seek(tp, 4)
    c.commit()
    assert c.committed(tp) == 4
    c.commit({tp: OffsetAndMetadata(6, "meta", -1)})
    om = c.committed(tp, metadata=True)
    # tansu drops commit metadata (kafka-python reads back None there too)
    assert isinstance(om, OffsetAndMetadata) and (om.offset, om.metadata) == (
        6,
        "" if bootstrap_broker == "tansu" else "meta",
    )
    # kafka-python sees the same committed offset
    kc = KC(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    assert kc.committed(KTopicPartition(*tp)) == 6
    kc.close()
    # a new consumer of the group starts at the committed offset
    c.close()
    c2 = consumer(bootstrap, group_id=group)
    c2.assign([tp])
    assert c2.position(tp) == 6
    done: list[Any] = []
    c2.commit_async({tp: 8}, callback=lambda offsets, exc: done.append((offsets, exc))).result(30)
    c2.poll(timeout_ms=100)  # callbacks run inside poll
    assert done == [({tp: OffsetAndMetadata(8, "", -1)}, None)]
    assert c2.committed(tp) == 8
    with pytest.raises(TypeError, match="OffsetAndMetadata or an int"):
        c2.commit({tp: "seven"})
    c2.close()


def test_commit_without_group_id_is_refused(bootstrap: str, topic: str) -> None:
    c = consumer(bootstrap)
    c.assign([TopicPartition(topic, 0)])
    with pytest.raises(IllegalStateError, match="Requires group_id"):
        c.commit()
    with pytest.raises(IllegalStateError, match="Requires group_id"):
        c.committed(TopicPartition(topic, 0))
    c.close()


def test_subscribe_without_group_id_takes_every_partition(bootstrap: str, topic: str) -> None:
    produce(bootstrap, topic, [{"value": b"%d" % i, "partition": i % 3} for i in range(30)])
    # the README's first example: topics as arguments, no group_id
    c = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=2000
    )
    assert sorted((m.partition, m.offset) for m in c) == sorted((i % 3, i // 3) for i in range(30))
    assert c.assignment() == {TopicPartition(topic, p) for p in range(3)}
    assert c.subscription() == {topic}
    c.unsubscribe()
    assert c.assignment() == set() and c.subscription() is None
    c.close()


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_records_from_confluent_kafka_every_codec(bootstrap: str, topic_name: str, codec: str) -> None:
    from confluent_kafka import Producer

    create_topic(bootstrap, topic_name, 1)
    p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20})
    sent = []
    for i in range(500):
        key = b"key-%d" % i if i % 2 else None
        value = (b"payload-%d-" % i) * (i % 13)
        headers = [("n", b"%d" % i)] if i % 5 == 0 else None
        p.produce(
            topic_name, value=value, key=key, headers=headers, partition=0, timestamp=1_700_000_000_000 + i
        )
        sent.append((key, value, [("n", b"%d" % i)] if headers else [], 1_700_000_000_000 + i))
    assert p.flush(30) == 0
    c = consumer(bootstrap)
    c.assign([TopicPartition(topic_name, 0)])
    got = drain(c, 500)
    assert [r.offset for r in got] == list(range(500))
    assert [(r.key, r.value, r.headers, r.timestamp) for r in got] == sent
    c.close()


# ------------------------------------------------------------------ construction and lifecycle


def test_configuration_errors() -> None:
    with pytest.raises(KafkaConfigurationError, match="fetch_max_bytez"):
        KafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_bytez=5)
    with pytest.raises(KafkaConfigurationError, match="auto_offset_reset"):
        KafkaConsumer(bootstrap_servers="127.0.0.1:1", auto_offset_reset="sideways")
    with pytest.raises(KafkaConfigurationError, match="heartbeat_interval_ms"):
        KafkaConsumer(bootstrap_servers="127.0.0.1:1", heartbeat_interval_ms=5000, session_timeout_ms=4000)
    with pytest.raises(KafkaConfigurationError, match="partition_assignment_strategy"):
        KafkaConsumer(bootstrap_servers="127.0.0.1:1", partition_assignment_strategy=["fair"])
    with pytest.raises(KafkaConfigurationError, match="value_deserializer"):
        KafkaConsumer(bootstrap_servers="127.0.0.1:1", value_deserializer=3)
    with pytest.raises(KafkaConfigurationError, match="group_instance_id needs a group_id"):
        KafkaConsumer(bootstrap_servers="127.0.0.1:1", group_instance_id="x")
    with pytest.raises(KafkaConfigurationError, match="max_poll_records"):
        KafkaConsumer(bootstrap_servers="127.0.0.1:1", max_poll_records=0)


def test_no_broker_fails_at_construction() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(NoBrokersAvailable):
        KafkaConsumer(bootstrap_servers=f"127.0.0.1:{port}", bootstrap_timeout_ms=500)
    assert time.monotonic() - started < 20


def test_lifecycle(bootstrap: str, topic: str) -> None:
    assert DirectKafkaConsumer is KafkaConsumer
    with consumer(bootstrap) as c:
        with pytest.raises(IllegalStateError, match="before subscribe"):
            c.poll()
        with pytest.raises(TypeError, match="list of TopicPartition"):
            c.assign("topic")
        with pytest.raises(ValueError, match="invalid topic name"):
            c.assign([TopicPartition("bad topic!", 0)])
        c.assign([TopicPartition(topic, 0)])
        c.assign([])
        assert c.assignment() == set()
    with pytest.raises(IllegalStateError, match="closed"):
        c.poll()
    c.close()  # idempotent


def test_close_from_another_thread_ends_iteration(bootstrap: str, topic: str) -> None:
    c = consumer(bootstrap)
    c.assign([TopicPartition(topic, 0)])
    threading.Timer(0.5, c.close).start()
    started = time.monotonic()
    assert list(c) == []
    assert time.monotonic() - started < 15


# ------------------------------------------------------------------ a scripted broker: corrupt data


class ScriptedBroker:
    """A one-node 'broker' on a real socket: ApiVersions, Metadata, ListOffsets, and Fetch answering
    with fixed record bytes -- enough to hand the consumer data no real broker would store."""

    def __init__(self, topic: str, blob: bytes) -> None:
        self.topic = topic
        self.blob = blob
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _main(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from kafkakit.protocol import frame as F
        from kafkakit.protocol.apis import API_BY_KEY

        try:
            while True:
                size = int.from_bytes(await reader.readexactly(4), "big")
                data = await reader.readexactly(size)
                header, pos = F.decode_request_header(data)
                api = API_BY_KEY[header.api_key]
                body = api.decode_request(header.api_version, data, pos)
                resp = self._answer(api.name, body)
                version = 0 if api.name == "ApiVersions" and header.api_version > 3 else header.api_version
                writer.write(F.encode_response(api, version, header.correlation_id, resp))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _answer(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if name == "ApiVersions":
            from kafkakit.protocol.apis import API_BY_NAME

            keys = [
                {"api_key": API_BY_NAME[n].key, "min_version": API_BY_NAME[n].min_version, "max_version": v}
                for n, v in (("ApiVersions", 3), ("Metadata", 12), ("Fetch", 12), ("ListOffsets", 7))
            ]
            return {"error_code": 0, "api_keys": keys, "throttle_time_ms": 0}
        if name == "Metadata":
            part = {
                "error_code": 0,
                "partition_index": 0,
                "leader_id": 0,
                "leader_epoch": 0,
                "replica_nodes": [0],
                "isr_nodes": [0],
                "offline_replicas": [],
            }
            return {
                "brokers": [{"node_id": 0, "host": "127.0.0.1", "port": self.port, "rack": None}],
                "cluster_id": "scripted",
                "controller_id": 0,
                "topics": [
                    {
                        "error_code": 0,
                        "name": self.topic,
                        "topic_id": bytes(16),
                        "is_internal": False,
                        "partitions": [part],
                    }
                ],
            }
        if name == "ListOffsets":
            return {
                "topics": [
                    {
                        "name": self.topic,
                        "partitions": [
                            {
                                "partition_index": 0,
                                "error_code": 0,
                                "timestamp": -1,
                                "offset": 0,
                                "leader_epoch": 0,
                            }
                        ],
                    }
                ]
            }
        if name == "Fetch":
            offset = body["topics"][0]["partitions"][0]["fetch_offset"]
            records = self.blob if offset == 0 else b""
            return {
                "error_code": 0,
                "session_id": 0,
                "responses": [
                    {
                        "topic": self.topic,
                        "partitions": [
                            {
                                "partition_index": 0,
                                "error_code": 0,
                                "high_watermark": 3,
                                "last_stable_offset": 3,
                                "log_start_offset": 0,
                                "aborted_transactions": None,
                                "records": records,
                            }
                        ],
                    }
                ],
            }
        raise AssertionError(f"scripted broker got an unexpected {name}")

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def corrupt_broker() -> Iterator[ScriptedBroker]:
    from kafkakit.record import encode_batch

    good = encode_batch([(1_700_000_000_000, None, b"good", None)], base_offset=0)
    bad = bytearray(
        encode_batch(
            [(1_700_000_000_000, None, b"bad1", None), (1_700_000_000_000, None, b"bad2", None)],
            base_offset=1,
        )
    )
    bad[-3] ^= 0x20  # flip a bit inside the last value
    broker = ScriptedBroker("scripted", good + bytes(bad))
    yield broker
    broker.close()


def test_crc_mismatch_raises_corrupt_record_error(corrupt_broker: ScriptedBroker) -> None:
    tp = TopicPartition("scripted", 0)
    c = KafkaConsumer(bootstrap_servers=f"127.0.0.1:{corrupt_broker.port}", auto_offset_reset="earliest")
    c.assign([tp])
    assert [r.value for r in drain(c, 1, timeout=10)] == [b"good"]
    with pytest.raises(CorruptRecordError, match="partition scripted-0 at offset 1.*CRC"):
        c.poll(timeout_ms=5000)
    assert c.position(tp) == 1
    c.close()
    # with check_crcs=False the damaged bytes are handed over as they are
    c = KafkaConsumer(
        bootstrap_servers=f"127.0.0.1:{corrupt_broker.port}", auto_offset_reset="earliest", check_crcs=False
    )
    c.assign([tp])
    got = drain(c, 3, timeout=10)
    assert [r.offset for r in got] == [0, 1, 2]
    assert got[2].value != b"bad2" and len(got[2].value) == 4
    c.close()


def test_consumer_timeout_default_is_infinite() -> None:
    from kafkakit.client.config import CONSUMER_DEFAULTS

    assert math.isinf(CONSUMER_DEFAULTS["consumer_timeout_ms"])


def test_read_committed_hides_aborted_transactions(apache_kafka: Any, topic_name: str) -> None:
    from confluent_kafka import Producer

    bootstrap = apache_kafka.bootstrap_servers
    create_topic(bootstrap, topic_name, 1)
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex[:8]}"})
    p.init_transactions(30)
    for tag, commit in (("c1", True), ("ab", False), ("c2", True)):
        p.begin_transaction()
        for i in range(5):
            p.produce(topic_name, value=f"{tag}-{i}".encode(), partition=0)
        p.flush(30)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    tp = TopicPartition(topic_name, 0)
    committed_only = [f"{t}-{i}".encode() for t in ("c1", "c2") for i in range(5)]
    everything = [f"{t}-{i}".encode() for t in ("c1", "ab", "c2") for i in range(5)]
    for level, expected in (("read_committed", committed_only), ("read_uncommitted", everything)):
        c = consumer(bootstrap, isolation_level=level, consumer_timeout_ms=3000)
        c.assign([tp])
        assert [m.value for m in c] == expected, level
        # the position moves past the transaction markers too
        assert c.position(tp) == c.end_offsets([tp])[tp] == 18
        c.close()


def test_auto_commit_stores_positions(bootstrap: str, topic: str) -> None:
    from kafka import KafkaConsumer as KC
    from kafka import TopicPartition as KTopicPartition

    produce(bootstrap, topic, [{"value": b"x", "partition": 0}] * 30)
    tp = TopicPartition(topic, 0)
    group = f"g-{uuid.uuid4().hex[:8]}"
    c = consumer(bootstrap, group_id=group, enable_auto_commit=True, auto_commit_interval_ms=300)
    c.assign([tp])
    assert len(drain(c, 30)) == 30
    kc = KC(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    deadline = time.monotonic() + 20
    while kc.committed(KTopicPartition(topic, 0)) != 30 and time.monotonic() < deadline:
        c.poll(timeout_ms=100)  # auto-commit runs inside poll
    assert kc.committed(KTopicPartition(topic, 0)) == 30
    kc.close()
    # close() commits what was consumed since
    c.seek(tp, 12)
    c.close()
    kc = KC(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    assert kc.committed(KTopicPartition(topic, 0)) == 12
    kc.close()
