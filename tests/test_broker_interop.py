"""Peer clients against the embedded broker: kafka-python, aiokafka and confluent-kafka are the oracles.

Each test produces with a real client, reads back with a real client and compares exactly:
values, keys, headers, offsets, order. Partitions are assigned explicitly so the tests exercise
the broker's data path (consumer groups are covered by the group coordinator's tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from kafkakit.broker import Broker

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
N = 300


def codec_params(client: str) -> list[object]:
    return [
        pytest.param(
            c,
            marks=pytest.mark.cell(
                client=client, broker="embedded", feature=f"produce/consume {c or 'none'}"
            ),
        )
        for c in CODECS
    ]


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker() as b:
        yield b


def expected(prefix: str, n: int = N) -> list[tuple[bytes, bytes, int]]:
    """(key, value, offset) of the records each test writes."""
    return [(f"k{i % 5}".encode(), f"{prefix}-{i}-".encode() * (1 + i % 7), i) for i in range(n)]


# ---------------------------------------------------------------- kafka-python


@pytest.mark.parametrize("codec", codec_params("kafka-python"))
def test_kafka_python_produce_consume(broker: Broker, codec: str | None) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = f"kp-{codec}"
    want = expected(topic)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, compression_type=codec, linger_ms=5)
    futures = [producer.send(topic, value=v, key=k, headers=[("h", k)]) for k, v, _ in want]
    producer.flush()
    assert [f.get(timeout=10).offset for f in futures] == [o for _, _, o in want]
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, consumer_timeout_ms=5000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = []
    for msg in consumer:
        got.append(msg)
        if len(got) == N:
            break
    assert consumer.end_offsets([tp]) == {tp: N}
    consumer.close()
    assert [(m.key, m.value, m.offset) for m in got] == want
    assert [m.headers for m in got] == [[("h", k)] for k, _, _ in want]


@pytest.mark.cell(client="kafka-python", broker="embedded", feature="idempotent producer")
def test_kafka_python_idempotent_producer(broker: Broker) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    topic = "kp-idempotent"
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, enable_idempotence=True, acks="all", linger_ms=2
    )
    futures = [producer.send(topic, f"v{i}".encode()) for i in range(500)]
    producer.flush()
    assert [f.get(timeout=10).offset for f in futures] == list(range(500))
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    got = [m.value for _, m in zip(range(500), consumer, strict=False)]
    consumer.close()
    assert got == [f"v{i}".encode() for i in range(500)]


@pytest.mark.cell(client="kafka-python", broker="embedded", feature="admin: topics")
def test_kafka_python_admin_topics(broker: Broker) -> None:
    from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
    from kafka.errors import (
        InvalidPartitionsError,
        InvalidReplicationFactorError,
        InvalidTopicError,
        TopicAlreadyExistsError,
    )

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        admin.create_topics([NewTopic("adm-a", 3, 1), NewTopic("adm-b", -1, -1)])
        assert {"adm-a", "adm-b"} <= set(admin.list_topics())
        [desc] = admin.describe_topics(["adm-a"])
        assert desc["error_code"] == 0
        assert [p["partition_index"] for p in desc["partitions"]] == [0, 1, 2]
        assert all(p["leader_id"] == 1 and p["replica_nodes"] == [1] for p in desc["partitions"])
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic("adm-a", 1, 1)])
        with pytest.raises(InvalidReplicationFactorError):
            admin.create_topics([NewTopic("adm-rf3", 1, 3)])
        with pytest.raises(InvalidTopicError):
            admin.create_topics([NewTopic("bad/name", 1, 1)])
        admin.create_partitions({"adm-a": NewPartitions(5)})
        assert len(admin.describe_topics(["adm-a"])[0]["partitions"]) == 5
        with pytest.raises(InvalidPartitionsError):
            admin.create_partitions({"adm-a": NewPartitions(2)})
        cluster = admin.describe_cluster()
        assert cluster["controller_id"] == 1 and [b["broker_id"] for b in cluster["brokers"]] == [1]
        admin.delete_topics(["adm-a", "adm-b"])
        assert not {"adm-a", "adm-b"} & set(admin.list_topics())
    finally:
        admin.close()


@pytest.mark.cell(client="kafka-python", broker="embedded", feature="admin: configs")
def test_kafka_python_admin_configs(broker: Broker) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    try:
        admin.create_topics([NewTopic("adm-cfg", 1, 1, topic_configs={"retention.ms": "3600000"})])
        res = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "adm-cfg")], config_filter="all"
        )
        configs = res["topic"]["adm-cfg"]
        assert configs["retention.ms"]["value"] == "3600000"
        assert configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["cleanup.policy"]["value"] == "delete"
        assert configs["cleanup.policy"]["config_source"] == "DEFAULT_CONFIG"
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "adm-cfg", {"segment.bytes": "1048576"})]
        )
        modified = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "adm-cfg")])["topic"][
            "adm-cfg"
        ]
        assert modified["segment.bytes"]["value"] == "1048576"
        assert set(modified) <= {"segment.bytes", "retention.ms"}
        broker_cfg = admin.describe_configs(
            [ConfigResource(ConfigResourceType.BROKER, "1")], config_filter="all"
        )
        broker_cfg = broker_cfg["broker"]["1"]
        assert broker_cfg["num.partitions"]["value"] == "1"
        assert broker_cfg["num.partitions"]["read_only"] is True
    finally:
        admin.close()


# ---------------------------------------------------------------- aiokafka


@pytest.mark.parametrize("codec", codec_params("aiokafka"))
def test_aiokafka_produce_consume(broker: Broker, codec: str | None) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition

    topic = f"aio-{codec}"
    want = expected(topic)

    async def run() -> list[tuple[bytes, bytes, int]]:
        producer = AIOKafkaProducer(
            bootstrap_servers=broker.bootstrap_servers, compression_type=codec, linger_ms=5
        )
        await producer.start()
        try:
            futures = [await producer.send(topic, value=v, key=k) for k, v, _ in want]
            offsets = [(await f).offset for f in futures]
        finally:
            await producer.stop()
        assert offsets == [o for _, _, o in want]
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest")
        await consumer.start()
        got: list[tuple[bytes, bytes, int]] = []
        try:
            consumer.assign([TopicPartition(topic, 0)])
            while len(got) < N:
                batch = await consumer.getmany(timeout_ms=5000)
                if not batch:
                    break
                for msgs in batch.values():
                    got += [(m.key, m.value, m.offset) for m in msgs]
        finally:
            await consumer.stop()
        return got

    assert asyncio.run(run()) == want


@pytest.mark.cell(client="aiokafka", broker="embedded", feature="idempotent producer")
def test_aiokafka_idempotent_producer(broker: Broker) -> None:
    from aiokafka import AIOKafkaProducer

    async def run() -> list[int]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, enable_idempotence=True)
        await producer.start()
        try:
            futures = [await producer.send("aio-idem", f"v{i}".encode()) for i in range(300)]
            return [(await f).offset for f in futures]
        finally:
            await producer.stop()

    assert asyncio.run(run()) == list(range(300))


# ---------------------------------------------------------------- confluent-kafka (librdkafka)


def _confluent_consume(
    bootstrap: str, topic: str, n: int, partition: int = 0
) -> list[tuple[bytes, bytes, int]]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{topic}",
            "enable.auto.commit": False,
            "log_level": 3,
        }
    )
    consumer.assign([TopicPartition(topic, partition, 0)])
    got: list[tuple[bytes, bytes, int]] = []
    deadline = time.monotonic() + 30
    try:
        while len(got) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append((msg.key(), msg.value(), msg.offset()))
    finally:
        consumer.close()
    return got


@pytest.mark.parametrize("codec", codec_params("confluent-kafka"))
def test_confluent_produce_consume(broker: Broker, codec: str | None) -> None:
    from confluent_kafka import Producer

    topic = f"ck-{codec}"
    want = expected(topic)
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "compression.type": codec or "none",
            "linger.ms": 5,
            "log_level": 3,
        }
    )
    acked: list[tuple[object, int]] = []
    for k, v, _ in want:
        producer.produce(
            topic, value=v, key=k, on_delivery=lambda err, msg: acked.append((err, msg.offset()))
        )
    assert producer.flush(30) == 0
    assert acked == [(None, o) for _, _, o in want]
    assert _confluent_consume(broker.bootstrap_servers, topic, N) == want


@pytest.mark.cell(client="confluent-kafka", broker="embedded", feature="idempotent producer")
def test_confluent_idempotent_producer(broker: Broker) -> None:
    from confluent_kafka import Producer

    topic = "ck-idempotent"
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "enable.idempotence": True,
            "linger.ms": 1,
            "batch.num.messages": 50,
            "max.in.flight.requests.per.connection": 5,
            "log_level": 3,
        }
    )
    acked: list[tuple[object, int]] = []
    for i in range(2000):
        producer.produce(
            topic, value=f"v{i}".encode(), on_delivery=lambda err, msg: acked.append((err, msg.offset()))
        )
        if i % 100 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    assert acked == [(None, i) for i in range(2000)]
    got = _confluent_consume(broker.bootstrap_servers, topic, 2000)
    assert [(v, o) for _, v, o in got] == [(f"v{i}".encode(), i) for i in range(2000)]


@pytest.mark.cell(client="confluent-kafka", broker="embedded", feature="admin: topics and configs")
def test_confluent_admin(broker: Broker) -> None:
    from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers, "log_level": 3})
    futures = admin.create_topics([NewTopic("ck-adm", num_partitions=2, config={"cleanup.policy": "delete"})])
    futures["ck-adm"].result(10)
    md = admin.list_topics(timeout=10)
    assert sorted(md.topics["ck-adm"].partitions) == [0, 1]
    [fut] = admin.describe_configs([ConfigResource("topic", "ck-adm")]).values()
    configs = fut.result(10)
    assert configs["cleanup.policy"].value == "delete"
    assert configs["retention.ms"].value == "604800000"
    admin.delete_topics(["ck-adm"])["ck-adm"].result(10)
    assert "ck-adm" not in admin.list_topics(timeout=10).topics


@pytest.mark.cell(client="kafka-python", broker="embedded", feature="mixed clients on one topic")
def test_clients_read_each_others_records(broker: Broker) -> None:
    from confluent_kafka import Producer
    from kafka import KafkaConsumer, TopicPartition

    logging.getLogger("kafka").setLevel(logging.WARNING)
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap_servers, "compression.type": "zstd", "log_level": 3}
    )
    for i in range(100):
        producer.produce("mixed", value=f"m{i}".encode(), key=b"k", headers=[("n", str(i).encode())])
    assert producer.flush(30) == 0
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition("mixed", 0)])
    consumer.seek_to_beginning()
    got = [(m.value, m.headers) for _, m in zip(range(100), consumer, strict=False)]
    consumer.close()
    assert got == [(f"m{i}".encode(), [("n", str(i).encode())]) for i in range(100)]
