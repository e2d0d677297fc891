"""Transactions on the embedded broker, proven with real transactional producers and consumers.

Peer clients are the oracles: confluent-kafka (librdkafka), kafka-python 3, aiokafka and the Java
tools produce transactionally (commit, abort, offsets sent to the transaction, fencing, timeouts)
and read_committed / read_uncommitted consumers read back exactly what each must see. Raw
requests (``Wire``) pin the broker's error codes, the last stable offset and the aborted
transactions a read_committed Fetch carries. Crash safety: a subprocess broker is killed with
SIGKILL in the middle of a transaction, and an in-doubt (PrepareCommit) transaction is completed
when the broker restarts.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkakit.broker import Broker
from kafkakit.broker.txn_log import PREPARE_COMMIT
from kafkakit.record import decode_records, encode_batch
from tests.infra import wait_until
from tests.test_broker_server import Wire

pytestmark = [pytest.mark.timeout(240)]

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
INVALID_TRANSACTION_TIMEOUT = 50
CONCURRENT_TRANSACTIONS = 51
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
OPERATION_NOT_ATTEMPTED = 55
UNSTABLE_OFFSET_COMMIT = 88
PRODUCER_FENCED = 90
TRANSACTION_ABORTABLE = 120


def cell(client: str, broker: str = "embedded", feature: str = "transactions") -> pytest.MarkDecorator:
    return pytest.mark.cell(client=client, broker=broker, feature=feature)


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    # expired transactions are looked for every 200 ms (Kafka: every 10 s)
    with Broker(transaction_abort_timed_out_transaction_cleanup_interval_ms=200) as b:
        yield b


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------------------
# confluent-kafka helpers

Row = tuple[Any, Any, Any]  # partition, offset, value (confluent-kafka types them Optional)


def ck_read(bootstrap: str, topic: str, partitions: list[int], isolation: str, expect: int) -> list[Row]:
    """Everything a confluent-kafka consumer at ``isolation`` reads from the start: waits for
    ``expect`` records, then a further quiet second must bring nothing more."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("reader"),
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        rows: list[Row] = []
        deadline = time.monotonic() + 30
        while len(rows) < expect and time.monotonic() < deadline:
            for m in c.consume(100, 0.5):
                assert m.error() is None, m.error()
                rows.append((m.partition(), m.offset(), m.value()))
        for m in c.consume(100, 1.0):
            assert m.error() is None, m.error()
            rows.append((m.partition(), m.offset(), m.value()))
        return sorted(rows)
    finally:
        c.close()


def ck_producer(bootstrap: str, txn_id: str, **extra: Any) -> Any:
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5, **extra})


# --------------------------------------------------------------------------------------
# raw protocol helpers


def list_offset(w: Wire, topic: str, partition: int, isolation: int) -> int:
    body = {
        "replica_id": -1,
        "isolation_level": isolation,
        "topics": [
            {
                "name": topic,
                "partitions": [{"partition_index": partition, "current_leader_epoch": -1, "timestamp": -1}],
            }
        ],
    }
    part = w.request("ListOffsets", 5, body)["topics"][0]["partitions"][0]
    assert part["error_code"] == NONE
    return int(part["offset"])


def fetch(w: Wire, topic: str, partition: int, offset: int, isolation: int) -> dict[str, Any]:
    body = {
        "replica_id": -1,
        "max_wait_ms": 0,
        "min_bytes": 0,
        "max_bytes": 1 << 20,
        "isolation_level": isolation,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [
            {
                "topic": topic,
                "partitions": [
                    {
                        "partition": partition,
                        "current_leader_epoch": -1,
                        "fetch_offset": offset,
                        "log_start_offset": -1,
                        "partition_max_bytes": 1 << 20,
                    }
                ],
            }
        ],
        "forgotten_topics_data": [],
        "rack_id": "",
    }
    return dict(w.request("Fetch", 11, body)["responses"][0]["partitions"][0])


def init_pid(w: Wire, txn_id: str, version: int = 4, timeout_ms: int = 60_000) -> tuple[int, int, int]:
    body = {
        "transactional_id": txn_id,
        "transaction_timeout_ms": timeout_ms,
        "producer_id": -1,
        "producer_epoch": -1,
    }
    r = w.request("InitProducerId", version, body)
    return r["error_code"], r["producer_id"], r["producer_epoch"]


def add_partitions(
    w: Wire, txn_id: str, pid: int, epoch: int, parts: dict[str, list[int]], version: int = 3
) -> dict[tuple[str, int], int]:
    body = {
        "v3_and_below_transactional_id": txn_id,
        "v3_and_below_producer_id": pid,
        "v3_and_below_producer_epoch": epoch,
        "v3_and_below_topics": [{"name": t, "partitions": ps} for t, ps in parts.items()],
    }
    r = w.request("AddPartitionsToTxn", version, body)
    return {
        (t["name"], p["partition_index"]): p["partition_error_code"]
        for t in r["results_by_topic_v3_and_below"]
        for p in t["results_by_partition"]
    }


def end_txn(w: Wire, txn_id: str, pid: int, epoch: int, commit: bool, version: int = 3) -> int:
    body = {"transactional_id": txn_id, "producer_id": pid, "producer_epoch": epoch, "committed": commit}
    return int(w.request("EndTxn", version, body)["error_code"])


def produce_txn(
    w: Wire,
    txn_id: str | None,
    topic: str,
    partition: int,
    pid: int,
    epoch: int,
    seq: int,
    values: list[bytes],
    version: int = 9,
) -> dict[str, Any]:
    now = int(time.time() * 1000)  # (old timestamps would make the next marker roll the segment)
    records = encode_batch(
        [(now, None, v, None) for v in values],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        transactional=True,
    )
    body = {
        "transactional_id": txn_id,
        "acks": -1,
        "timeout_ms": 10_000,
        "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}],
    }
    return dict(w.request("Produce", version, body)["responses"][0]["partition_responses"][0])


# --------------------------------------------------------------------------------------
# confluent-kafka


@cell("confluent-kafka")
def test_confluent_consume_transform_produce_commit_and_abort(broker: Broker, topic_name: str) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    bs = broker.bootstrap_servers
    src, out, group = f"{topic_name}-in", f"{topic_name}-out", f"{topic_name}-group"
    broker.create_topic(src, 1)
    broker.create_topic(out, 2)
    plain = Producer({"bootstrap.servers": bs})
    for i in range(6):
        plain.produce(src, value=b"in%d" % i, partition=0)
    assert plain.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": bs,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([src])
    inputs: list[Any] = []
    deadline = time.monotonic() + 30
    while len(inputs) < 6 and time.monotonic() < deadline:
        inputs += [m for m in consumer.consume(10, 0.5) if m.error() is None]
    assert [m.value() for m in inputs] == [b"in%d" % i for i in range(6)]

    producer = ck_producer(bs, f"{topic_name}-tx")
    producer.init_transactions(30)
    # transaction 1: four inputs transformed to both output partitions, their offsets committed with them
    producer.begin_transaction()
    for m in inputs[:4]:
        producer.produce(out, value=b"ok-" + m.value(), partition=m.offset() % 2)
    producer.send_offsets_to_transaction([TopicPartition(src, 0, 4)], consumer.consumer_group_metadata(), 30)
    producer.commit_transaction(30)
    # transaction 2: the last two, delivered to the broker, then aborted with their offsets
    producer.begin_transaction()
    for m in inputs[4:]:
        producer.produce(out, value=b"bad-" + m.value(), partition=m.offset() % 2)
    assert producer.flush(30) == 0
    producer.send_offsets_to_transaction([TopicPartition(src, 0, 6)], consumer.consumer_group_metadata(), 30)
    producer.abort_transaction(30)

    committed = consumer.committed([TopicPartition(src, 0)], 30)
    assert [(tp.topic, tp.partition, tp.offset) for tp in committed] == [(src, 0, 4)]
    consumer.close()

    # each partition: two committed records, COMMIT marker at 2, one aborted record, ABORT marker at 4
    assert ck_read(bs, out, [0, 1], "read_committed", 4) == [
        (0, 0, b"ok-in0"),
        (0, 1, b"ok-in2"),
        (1, 0, b"ok-in1"),
        (1, 1, b"ok-in3"),
    ]
    assert ck_read(bs, out, [0, 1], "read_uncommitted", 6) == [
        (0, 0, b"ok-in0"),
        (0, 1, b"ok-in2"),
        (0, 3, b"bad-in4"),
        (1, 0, b"ok-in1"),
        (1, 1, b"ok-in3"),
        (1, 3, b"bad-in5"),
    ]
    with Wire(bs) as w:
        for p in (0, 1):
            assert list_offset(w, out, p, 1) == list_offset(w, out, p, 0) == 5
    producer.flush(5)


@cell("confluent-kafka", feature="transactions: zombie fencing")
def test_confluent_second_producer_fences_the_first(broker: Broker, topic_name: str) -> None:
    from confluent_kafka import KafkaException

    bs = broker.bootstrap_servers
    broker.create_topic(topic_name, 1)
    txn_id = f"{topic_name}-tx"
    zombie = ck_producer(bs, txn_id)
    zombie.init_transactions(30)
    zombie.begin_transaction()
    zombie.produce(topic_name, value=b"zombie", partition=0)
    assert zombie.flush(30) == 0

    fresh = ck_producer(bs, txn_id)
    fresh.init_transactions(30)  # aborts the zombie's open transaction and fences its epoch
    fresh.begin_transaction()
    fresh.produce(topic_name, value=b"fresh", partition=0)
    fresh.commit_transaction(30)

    with pytest.raises(KafkaException) as failed:
        zombie.commit_transaction(30)
    assert failed.value.args[0].fatal(), failed.value.args[0]
    # zombie@0, ABORT marker@1 (epoch bumped by the fence), fresh@2, COMMIT@3
    assert ck_read(bs, topic_name, [0], "read_committed", 1) == [(0, 2, b"fresh")]
    assert ck_read(bs, topic_name, [0], "read_uncommitted", 2) == [(0, 0, b"zombie"), (0, 2, b"fresh")]


@cell("confluent-kafka", feature="transactions: timeout abort")
def test_confluent_transaction_timeout_aborts_it(broker: Broker, topic_name: str) -> None:
    from confluent_kafka import KafkaException

    bs = broker.bootstrap_servers
    broker.create_topic(topic_name, 1)
    late = ck_producer(bs, f"{topic_name}-tx", **{"transaction.timeout.ms": 1000})
    late.init_transactions(30)
    late.begin_transaction()
    late.produce(topic_name, value=b"too late", partition=0)
    assert late.flush(30) == 0
    with Wire(bs) as w:
        assert (list_offset(w, topic_name, 0, 1), list_offset(w, topic_name, 0, 0)) == (0, 1)
        # the coordinator aborts it once the timeout passed: the last stable offset moves past the marker
        wait_until(lambda: list_offset(w, topic_name, 0, 1) == 2, timeout=30, what="the timed-out abort")
        assert list_offset(w, topic_name, 0, 0) == 2
    with pytest.raises(KafkaException):
        late.commit_transaction(30)
    assert ck_read(bs, topic_name, [0], "read_committed", 0) == []
    assert ck_read(bs, topic_name, [0], "read_uncommitted", 1) == [(0, 0, b"too late")]


@cell("confluent-kafka", broker="embedded-process", feature="transactions: kill -9 mid-transaction")
def test_kill_9_in_the_middle_of_transactions(embedded_broker_process: Any, topic_name: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    proc = embedded_broker_process
    bs = proc.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bs})
    admin.create_topics([NewTopic(topic_name, 2, 1)])[topic_name].result(30)

    survivor = ck_producer(bs, f"{topic_name}-survivor")
    survivor.init_transactions(30)
    survivor.begin_transaction()
    for i in range(3):
        survivor.produce(topic_name, value=b"kept%d" % i, partition=i % 2)
    assert survivor.flush(30) == 0
    orphan = ck_producer(bs, f"{topic_name}-orphan")
    orphan.init_transactions(30)
    orphan.begin_transaction()
    for i in range(2):
        orphan.produce(topic_name, value=b"lost%d" % i, partition=i % 2)
    assert orphan.flush(30) == 0

    proc.kill()
    # nothing of either open transaction may be visible to read_committed while they are open
    proc.restart()
    assert ck_read(bs, topic_name, [0, 1], "read_committed", 0) == []

    # the survivor's transaction outlived the crash: it commits after reconnecting
    survivor.commit_transaction(60)
    # the orphan's owner is gone: its successor (same transactional id) aborts it
    successor = ck_producer(bs, f"{topic_name}-orphan")
    successor.init_transactions(60)
    successor.begin_transaction()
    successor.produce(topic_name, value=b"after", partition=0)
    successor.commit_transaction(60)

    rows = ck_read(bs, topic_name, [0, 1], "read_committed", 4)
    assert sorted(v for _p, _o, v in rows) == [b"after", b"kept0", b"kept1", b"kept2"]
    every = ck_read(bs, topic_name, [0, 1], "read_uncommitted", 6)
    assert sorted(v for _p, _o, v in every) == [b"after", b"kept0", b"kept1", b"kept2", b"lost0", b"lost1"]
    with Wire(bs) as w:
        for p in (0, 1):
            assert list_offset(w, topic_name, p, 1) == list_offset(w, topic_name, p, 0)
    orphan.flush(1)


# --------------------------------------------------------------------------------------
# kafka-python 3 and aiokafka


@cell("kafka-python")
def test_kafka_python_transactions(broker: Broker, topic_name: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    bs = broker.bootstrap_servers
    src, group = f"{topic_name}-in", f"{topic_name}-group"
    broker.create_topic(topic_name, 2)
    broker.create_topic(src, 1)
    producer = KafkaProducer(bootstrap_servers=bs, transactional_id=f"{topic_name}-tx")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(topic_name, b"kp-c0", partition=0)
        producer.send(topic_name, b"kp-c1", partition=1)
        producer.send_offsets_to_transaction(
            {TopicPartition(src, 0): OffsetAndMetadata(3, "meta", -1)}, group
        )
        producer.commit_transaction()
        producer.begin_transaction()
        producer.send(topic_name, b"kp-a0", partition=0).get(30)
        producer.send_offsets_to_transaction({TopicPartition(src, 0): OffsetAndMetadata(9, "", -1)}, group)
        producer.abort_transaction()
    finally:
        producer.close(10)

    def read(isolation: str, expect: int) -> list[tuple[int, int, bytes]]:
        c = KafkaConsumer(
            bootstrap_servers=bs,
            isolation_level=isolation,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=1500,
        )
        try:
            c.assign([TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)])
            c.seek_to_beginning()
            rows = [(m.partition, m.offset, m.value) for m in c]
            deadline = time.monotonic() + 20
            while len(rows) < expect and time.monotonic() < deadline:
                rows += [(m.partition, m.offset, m.value) for m in c]
            return sorted(rows)
        finally:
            c.close()

    # partition 0: kp-c0@0, COMMIT@1, kp-a0@2, ABORT@3; partition 1: kp-c1@0, COMMIT@1, ABORT@2
    assert read("read_committed", 2) == [(0, 0, b"kp-c0"), (1, 0, b"kp-c1")]
    assert read("read_uncommitted", 3) == [(0, 0, b"kp-c0"), (0, 2, b"kp-a0"), (1, 0, b"kp-c1")]
    checker = KafkaConsumer(bootstrap_servers=bs, group_id=group, enable_auto_commit=False)
    try:
        assert checker.committed(TopicPartition(src, 0), metadata=True) == OffsetAndMetadata(3, "meta", -1)
    finally:
        checker.close()


@cell("aiokafka")
def test_aiokafka_transactions(broker: Broker, topic_name: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition

    bs = broker.bootstrap_servers
    broker.create_topic(topic_name, 2)
    src, group = f"{topic_name}-in", f"{topic_name}-group"
    broker.create_topic(src, 1)

    async def run() -> tuple[list[Any], list[Any], int | None]:
        producer = AIOKafkaProducer(bootstrap_servers=bs, transactional_id=f"{topic_name}-tx")
        await producer.start()
        try:
            async with producer.transaction():
                await producer.send_and_wait(topic_name, b"aio-c0", partition=0)
                await producer.send_and_wait(topic_name, b"aio-c1", partition=1)
                await producer.send_offsets_to_transaction({TopicPartition(src, 0): 2}, group)
            await producer.begin_transaction()
            await producer.send_and_wait(topic_name, b"aio-a1", partition=1)
            await producer.send_offsets_to_transaction({TopicPartition(src, 0): 5}, group)
            await producer.abort_transaction()
        finally:
            await producer.stop()

        async def read(isolation: str, expect: int) -> list[Any]:
            c = AIOKafkaConsumer(bootstrap_servers=bs, isolation_level=isolation, enable_auto_commit=False)
            await c.start()
            try:
                c.assign([TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)])
                await c.seek_to_beginning()
                rows: list[Any] = []
                deadline = time.monotonic() + 20
                while len(rows) < expect and time.monotonic() < deadline:
                    for msgs in (await c.getmany(timeout_ms=500)).values():
                        rows += [(m.partition, m.offset, m.value) for m in msgs]
                for msgs in (await c.getmany(timeout_ms=1000)).values():
                    rows += [(m.partition, m.offset, m.value) for m in msgs]
                return sorted(rows)
            finally:
                await c.stop()

        committed = await read("read_committed", 2)
        every = await read("read_uncommitted", 3)
        checker = AIOKafkaConsumer(bootstrap_servers=bs, group_id=group, enable_auto_commit=False)
        await checker.start()
        try:
            offset = await checker.committed(TopicPartition(src, 0))
        finally:
            await checker.stop()
        return committed, every, offset

    committed, every, offset = asyncio.run(run())
    assert committed == [(0, 0, b"aio-c0"), (1, 0, b"aio-c1")]
    assert every == [(0, 0, b"aio-c0"), (1, 0, b"aio-c1"), (1, 2, b"aio-a1")]
    assert offset == 2


# --------------------------------------------------------------------------------------
# the Java client


@pytest.fixture(scope="module")
def java() -> Any:
    from tests import infra
    from tests.infra import BrokerUnavailable
    from tests.infra import apache_kafka as ak

    try:
        ak.check_available()
    except BrokerUnavailable as exc:
        infra.unavailable(f"Java client: {exc}")
    return ak


@cell("java")
def test_java_transactional_producer_and_read_committed_consumer(
    java: Any, broker: Broker, topic_name: str
) -> None:
    bs = broker.bootstrap_servers
    broker.create_topic(topic_name, 1)
    # the Java producer (transaction protocol v1: this broker does not finalize transaction.version 2)
    res = java.run_java_tool(
        java.PRODUCER_PERF_TEST,
        [
            "--bootstrap-server",
            bs,
            "--topic",
            topic_name,
            "--num-records",
            "300",
            "--record-size",
            "20",
            "--throughput",
            "600",
            "--transactional-id",
            f"{topic_name}-tx",
            "--transaction-duration-ms",
            "150",
        ],
        timeout=120,
    )
    assert "300 records sent" in res.stdout, res.stdout[-2000:]
    # then an aborted transaction from librdkafka, which the Java read_committed consumer must skip
    aborting = ck_producer(bs, f"{topic_name}-ck")
    aborting.init_transactions(30)
    aborting.begin_transaction()
    aborting.produce(topic_name, value=b"aborted", partition=0)
    assert aborting.flush(30) == 0
    aborting.abort_transaction(30)

    with Wire(bs) as w:
        end = list_offset(w, topic_name, 0, 0)
        assert list_offset(w, topic_name, 0, 1) == end
        data = fetch(w, topic_name, 0, 0, 0)
    batches = decode_records(data["records"])
    commits = [h for h, _r in batches if h.is_control]
    values = [r.value for h, recs in batches if not h.is_control for r in recs]
    assert len(values) == 301 and values[-1] == b"aborted"
    assert len(commits) >= 3  # one marker per Java transaction (of 150 ms) plus the ABORT
    assert all(h.is_transactional for h, _r in batches)

    seen = java.console_consume(
        bs, topic_name, max_messages=400, timeout_ms=5000, isolation_level="read_committed"
    )
    assert len(seen) == 300 and "aborted" not in seen
    assert len(java.console_consume(bs, topic_name, max_messages=400, timeout_ms=5000)) == 301


# --------------------------------------------------------------------------------------
# the broker's answers, request by request


def test_coordinator_error_codes(broker: Broker, topic_name: str) -> None:
    broker.create_topic(topic_name, 2)
    txn = f"{topic_name}-tx"
    with Wire(broker.bootstrap_servers) as w:
        assert init_pid(w, txn, timeout_ms=900_001)[0] == INVALID_TRANSACTION_TIMEOUT
        assert add_partitions(w, "never-initialised", 1, 0, {topic_name: [0]}) == {
            (topic_name, 0): INVALID_PRODUCER_ID_MAPPING
        }
        err, pid, epoch = init_pid(w, txn)
        assert (err, epoch) == (NONE, 0)
        assert end_txn(w, txn, pid, epoch, True) == INVALID_TXN_STATE  # nothing to end
        # a transactional batch for a partition not in the transaction (KIP-890 verification)
        assert (
            produce_txn(w, txn, topic_name, 0, pid, epoch, 0, [b"x"], version=9)["error_code"]
            == INVALID_TXN_STATE
        )
        assert (
            produce_txn(w, txn, topic_name, 0, pid, epoch, 0, [b"x"], version=11)["error_code"]
            == TRANSACTION_ABORTABLE
        )
        assert (
            produce_txn(w, None, topic_name, 0, pid, epoch, 0, [b"x"])["error_code"]
            == TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        )
        # an unknown partition: nothing is added
        assert add_partitions(w, txn, pid, epoch, {topic_name: [0, 7]}) == {
            (topic_name, 0): OPERATION_NOT_ATTEMPTED,
            (topic_name, 7): UNKNOWN_TOPIC_OR_PARTITION,
        }
        assert add_partitions(w, txn, pid, epoch, {topic_name: [0, 1]}) == {
            (topic_name, 0): NONE,
            (topic_name, 1): NONE,
        }
        assert add_partitions(w, txn, pid, epoch + 1, {topic_name: [0]}) == {(topic_name, 0): PRODUCER_FENCED}
        assert add_partitions(w, txn, pid, epoch + 1, {topic_name: [0]}, version=1) == {
            (topic_name, 0): INVALID_PRODUCER_EPOCH
        }
        assert produce_txn(w, txn, topic_name, 0, pid, epoch, 0, [b"a", b"b"])["error_code"] == NONE
        assert (
            produce_txn(w, txn, topic_name, 1, pid, epoch + 1, 0, [b"c"])["error_code"]
            == INVALID_PRODUCER_EPOCH
        )
        # v4+: verify only (what brokers ask each other), several transactions per request
        r = w.request(
            "AddPartitionsToTxn",
            4,
            {
                "transactions": [
                    {
                        "transactional_id": txn,
                        "producer_id": pid,
                        "producer_epoch": epoch,
                        "verify_only": True,
                        "topics": [{"name": topic_name, "partitions": [0]}],
                    },
                    {
                        "transactional_id": "never-initialised",
                        "producer_id": 5,
                        "producer_epoch": 0,
                        "verify_only": True,
                        "topics": [{"name": topic_name, "partitions": [1]}],
                    },
                ]
            },
        )
        assert [
            (
                t["transactional_id"],
                [p["partition_error_code"] for x in t["topic_results"] for p in x["results_by_partition"]],
            )
            for t in r["results_by_transaction"]
        ] == [(txn, [NONE]), ("never-initialised", [INVALID_PRODUCER_ID_MAPPING])]
        assert end_txn(w, txn, pid, epoch, False, version=1) == NONE
        assert end_txn(w, txn, pid, epoch, False) == NONE  # a retry of a completed abort
        assert end_txn(w, txn, pid, epoch, True) == INVALID_TXN_STATE
        assert end_txn(w, txn, pid, epoch + 1, False) == PRODUCER_FENCED
        assert end_txn(w, txn, pid, epoch + 1, False, version=1) == INVALID_PRODUCER_EPOCH
        # a new producer with the same id: same producer id, epoch bumped
        assert init_pid(w, txn, version=0) == (NONE, pid, epoch + 1)
        assert end_txn(w, txn, pid, epoch, False) == PRODUCER_FENCED


def test_read_committed_fetch_stops_at_the_last_stable_offset(broker: Broker, topic_name: str) -> None:
    broker.create_topic(topic_name, 1)
    a, b = f"{topic_name}-a", f"{topic_name}-b"
    with Wire(broker.bootstrap_servers) as w:
        _e, pa, ea = init_pid(w, a)
        _e, pb, eb = init_pid(w, b)
        assert add_partitions(w, a, pa, ea, {topic_name: [0]}) == {(topic_name, 0): NONE}
        assert add_partitions(w, b, pb, eb, {topic_name: [0]}) == {(topic_name, 0): NONE}
        assert produce_txn(w, a, topic_name, 0, pa, ea, 0, [b"a0", b"a1"])["base_offset"] == 0
        assert produce_txn(w, b, topic_name, 0, pb, eb, 0, [b"b0"])["base_offset"] == 2
        assert (list_offset(w, topic_name, 0, 1), list_offset(w, topic_name, 0, 0)) == (0, 3)
        open_view = fetch(w, topic_name, 0, 0, 1)
        assert (open_view["last_stable_offset"], open_view["high_watermark"], open_view["records"]) == (
            0,
            3,
            b"",
        )
        assert end_txn(w, a, pa, ea, False) == NONE  # ABORT marker at 3; b still open from 2
        assert list_offset(w, topic_name, 0, 1) == 2
        view = fetch(w, topic_name, 0, 0, 1)
        assert view["last_stable_offset"] == 2
        assert [r.value for _h, recs in decode_records(view["records"]) for r in recs] == [b"a0", b"a1"]
        assert view["aborted_transactions"] == [{"producer_id": pa, "first_offset": 0}]
        assert end_txn(w, b, pb, eb, True) == NONE  # COMMIT marker at 4
        view = fetch(w, topic_name, 0, 0, 1)
        assert (view["last_stable_offset"], view["high_watermark"]) == (5, 5)
        batches = decode_records(view["records"])
        assert [(h.base_offset, h.is_control) for h, _r in batches] == [
            (0, False),
            (2, False),
            (3, True),
            (4, True),
        ]
        assert view["aborted_transactions"] == [{"producer_id": pa, "first_offset": 0}]
        # a fetch past the aborted transaction's marker is told nothing about it
        assert fetch(w, topic_name, 0, 4, 1)["aborted_transactions"] == []
        assert fetch(w, topic_name, 0, 0, 0)["aborted_transactions"] is None


def test_offsets_of_a_transaction_are_unstable_until_it_ends(broker: Broker, topic_name: str) -> None:
    broker.create_topic(topic_name, 1)
    txn, group = f"{topic_name}-tx", f"{topic_name}-group"

    def offset_fetch(w: Wire) -> dict[str, Any]:
        body = {
            "group_id": group,
            "topics": [{"name": topic_name, "partition_indexes": [0]}],
            "require_stable": True,
        }
        return dict(w.request("OffsetFetch", 7, body)["topics"][0]["partitions"][0])

    def txn_commit(w: Wire, pid: int, epoch: int, offset: int, version: int = 3) -> int:
        body = {
            "transactional_id": txn,
            "group_id": group,
            "producer_id": pid,
            "producer_epoch": epoch,
            "generation_id": -1,
            "member_id": "",
            "group_instance_id": None,
            "topics": [
                {
                    "name": topic_name,
                    "partitions": [
                        {
                            "partition_index": 0,
                            "committed_offset": offset,
                            "committed_leader_epoch": -1,
                            "committed_metadata": "m",
                        }
                    ],
                }
            ],
        }
        return int(w.request("TxnOffsetCommit", version, body)["topics"][0]["partitions"][0]["error_code"])

    def add_offsets(w: Wire, pid: int, epoch: int) -> int:
        body = {"transactional_id": txn, "producer_id": pid, "producer_epoch": epoch, "group_id": group}
        return int(w.request("AddOffsetsToTxn", 3, body)["error_code"])

    with Wire(broker.bootstrap_servers) as w:
        _e, pid, epoch = init_pid(w, txn)
        assert txn_commit(w, pid, epoch, 7) == INVALID_TXN_STATE  # the group is not in the transaction
        assert txn_commit(w, pid, epoch, 7, version=4) == TRANSACTION_ABORTABLE
        assert add_offsets(w, pid, epoch) == NONE
        assert txn_commit(w, pid, epoch + 1, 7) == INVALID_PRODUCER_EPOCH
        assert txn_commit(w, pid, epoch, 7) == NONE
        assert offset_fetch(w)["error_code"] == UNSTABLE_OFFSET_COMMIT
        assert end_txn(w, txn, pid, epoch, False) == NONE
        assert (offset_fetch(w)["error_code"], offset_fetch(w)["committed_offset"]) == (NONE, -1)
        assert add_offsets(w, pid, epoch) == NONE
        assert txn_commit(w, pid, epoch, 11) == NONE
        assert end_txn(w, txn, pid, epoch, True) == NONE
        stable = offset_fetch(w)
        assert (stable["error_code"], stable["committed_offset"], stable["metadata"]) == (NONE, 11, "m")


@pytest.mark.parametrize("fsync", [False, True])
def test_in_doubt_transaction_is_completed_on_restart(tmp_path: Path, fsync: bool) -> None:
    topic, txn, group = "t", "in-doubt", "g"
    with Broker(data_dir=tmp_path, fsync=fsync) as b:
        b.create_topic(topic, 1)
        with Wire(b.bootstrap_servers) as w:
            _e, pid, epoch = init_pid(w, txn)
            assert add_partitions(w, txn, pid, epoch, {topic: [0]}) == {(topic, 0): NONE}
            assert produce_txn(w, txn, topic, 0, pid, epoch, 0, [b"v0", b"v1"])["error_code"] == NONE
            body = {"transactional_id": txn, "producer_id": pid, "producer_epoch": epoch, "group_id": group}
            assert w.request("AddOffsetsToTxn", 3, body)["error_code"] == NONE
            commit = {
                "transactional_id": txn,
                "group_id": group,
                "producer_id": pid,
                "producer_epoch": epoch,
                "topics": [
                    {
                        "name": topic,
                        "partitions": [
                            {"partition_index": 0, "committed_offset": 2, "committed_metadata": None}
                        ],
                    }
                ],
            }
            assert w.request("TxnOffsetCommit", 0, commit)["topics"][0]["partitions"][0]["error_code"] == NONE

        # the outcome (commit) is written, then the broker stops before any marker is written
        async def decide() -> None:
            coordinator = b.state.txn
            await coordinator._write(coordinator.txns[txn].evolve(state=PREPARE_COMMIT))

        b.call(decide())
        with Wire(b.bootstrap_servers) as w:
            assert list_offset(w, topic, 0, 1) == 0
    with Broker(data_dir=tmp_path, fsync=fsync) as b, Wire(b.bootstrap_servers) as w:
        assert b.state.txn.txns[txn].state == "CompleteCommit"
        assert (list_offset(w, topic, 0, 1), list_offset(w, topic, 0, 0)) == (3, 3)
        view = fetch(w, topic, 0, 0, 1)
        assert [r.value for h, recs in decode_records(view["records"]) if not h.is_control for r in recs] == [
            b"v0",
            b"v1",
        ]
        got = w.request(
            "OffsetFetch", 1, {"group_id": group, "topics": [{"name": topic, "partition_indexes": [0]}]}
        )
        assert got["topics"][0]["partitions"][0]["committed_offset"] == 2
        assert end_txn(w, txn, pid, epoch, True) == NONE  # the client's retry sees it done


def test_aborted_transaction_index_survives_restarts(tmp_path: Path) -> None:
    topic = "t"
    with Broker(data_dir=tmp_path) as b:
        b.create_topic(topic, 1)
        with Wire(b.bootstrap_servers) as w:
            _e, pid, epoch = init_pid(w, "x")
            assert add_partitions(w, "x", pid, epoch, {topic: [0]}) == {(topic, 0): NONE}
            assert produce_txn(w, "x", topic, 0, pid, epoch, 0, [b"gone"])["error_code"] == NONE
            assert end_txn(w, "x", pid, epoch, False) == NONE
    # once cleanly (index file trusted), once with the file lost (rebuilt from the log's markers)
    for lose_index in (False, True):
        if lose_index:
            (tmp_path / "t-0" / "aborted.txnindex").unlink()
            for snap in (tmp_path / "t-0").glob("*.snapshot"):
                snap.unlink()
        with Broker(data_dir=tmp_path) as b, Wire(b.bootstrap_servers) as w:
            view = fetch(w, topic, 0, 0, 1)
            assert view["aborted_transactions"] == [{"producer_id": pid, "first_offset": 0}]
            assert view["last_stable_offset"] == 2


def test_idle_transactional_ids_expire(tmp_path: Path) -> None:
    from kafkakit.broker.state import now_ms

    week_and_a_day = 8 * 24 * 3600 * 1000
    with Broker(data_dir=tmp_path) as b:
        with Wire(b.bootstrap_servers) as w:
            assert init_pid(w, "idle")[0] == NONE
            _e, pid, epoch = init_pid(w, "busy")
            b.create_topic("t", 1)
            assert add_partitions(w, "busy", pid, epoch, {"t": [0]}) == {("t", 0): NONE}
        b.call(b.state.txn.check_timeouts(now_ms() + week_and_a_day))
        # the idle id is forgotten; the busy one (a transaction past its timeout) was aborted instead
        assert sorted(b.state.txn.txns) == ["busy"]
        assert b.state.txn.txns["busy"].state == "CompleteAbort"
    with Broker(data_dir=tmp_path) as b:
        assert sorted(b.state.txn.txns) == ["busy"]
        assert (b.state.txn.txns["busy"].producer_id, b.state.txn.txns["busy"].producer_epoch) == (
            pid,
            epoch + 1,
        )


def test_transaction_log_compacts_and_ignores_a_torn_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kafkakit.broker import txn_log
    from kafkakit.broker.offsets_store import CommittedOffset

    monkeypatch.setattr(txn_log, "ROLL_MIN_BYTES", 512)
    path = tmp_path / txn_log.TXN_LOG_FILE
    log = txn_log.TxnLog(path)
    assert log.load() == {}
    m = txn_log.TxnMetadata("a", 7, 0, timeout_ms=1000)
    for epoch in range(40):  # far more than 4x the compacted size: compacted on the way
        m = m.evolve(producer_epoch=epoch, state=txn_log.ONGOING, partitions=frozenset({("t", epoch % 3)}))
        log.write_state(m)
        log.maybe_compact([m])
    log.write_offsets(m, "g", [("t", 0, CommittedOffset(5, -1, "md", 1))])
    m.pending_offsets["g"] = {("t", 0): CommittedOffset(5, -1, "md", 1)}
    log.close()
    assert path.stat().st_size < 512 * 4
    with open(path, "ab") as f:
        f.write(b"\x00\x00\x01\x00torn")  # an entry cut short by a crash
    loaded = txn_log.TxnLog(path).load()
    assert loaded == {"a": m}
    assert loaded["a"].pending_offsets == {"g": {("t", 0): CommittedOffset(5, -1, "md", 1)}}
