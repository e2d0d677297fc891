"""The broker fixtures work: peer clients (kafka-python, confluent-kafka, the Java tools) produce
and consume against tansu, Apache Kafka (1 node) and the 3-node cluster, and the cluster fails over.
Also unit checks of the infra pieces that need no broker (processes, matrix report, policy)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from tests.infra import (
    LOOPBACK,
    ManagedProcess,
    api_versions,
    create_topics,
    free_port,
    metadata,
    parse_bootstrap,
    require_all,
    unavailable,
    wait_until,
)
from tests.infra.matrix import Cell, load_cells, render_markdown

PEER_BROKERS = ["tansu", "kafka", "kafka3"]
FIXTURE_FOR = {"tansu": "tansu_broker", "kafka": "apache_kafka", "kafka3": "apache_kafka_cluster"}


@pytest.fixture(params=PEER_BROKERS)
def broker(request: pytest.FixtureRequest) -> str:
    """Which peer broker; ``peer_bootstrap`` starts it (lazily, session-scoped)."""
    return request.param


@pytest.fixture
def peer_bootstrap(request: pytest.FixtureRequest, broker: str) -> str:
    b = request.getfixturevalue(FIXTURE_FOR[broker])
    if broker == "kafka3":
        b.heal()
    return b.bootstrap_servers


def _make_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    host, port = parse_bootstrap(bootstrap)[0]
    create_topics(host, port, {topic: (partitions, -1)})

    def ready() -> bool:
        t = metadata(host, port, [topic]).topics.get(topic)
        return bool(t and t.error_code == 0 and all(p.leader >= 0 for p in t.partitions.values()))

    wait_until(ready, timeout=30, what=f"leaders for {topic}")


RECORDS = [(f"k{i}".encode(), f"value-{i}".encode()) for i in range(5)]


# --------------------------------------------------------------------------------------
# peers against peers


@pytest.mark.cell(client="kafka-python", feature="infra: produce/consume")
def test_kafka_python_roundtrip(peer_bootstrap: str, topic_name: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    _make_topic(peer_bootstrap, topic_name)
    producer = KafkaProducer(bootstrap_servers=peer_bootstrap, acks="all", linger_ms=5)
    try:
        futures = [producer.send(topic_name, key=k, value=v) for k, v in RECORDS]
        producer.flush(30)
        offsets = [f.get(timeout=30).offset for f in futures]
    finally:
        producer.close(10)
    assert offsets == list(range(len(RECORDS)))

    consumer = KafkaConsumer(
        bootstrap_servers=peer_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20000,
    )
    try:
        consumer.assign([TopicPartition(topic_name, 0)])
        got = []
        for msg in consumer:
            got.append((msg.key, msg.value))
            if len(got) == len(RECORDS):
                break
    finally:
        consumer.close()
    assert got == RECORDS


@pytest.mark.cell(client="confluent-kafka", feature="infra: produce/consume")
def test_confluent_kafka_roundtrip(peer_bootstrap: str, topic_name: str) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

    _make_topic(peer_bootstrap, topic_name)
    delivered: list[int] = []
    errors: list[object] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            errors.append(err)
        else:
            delivered.append(msg.offset())  # type: ignore[attr-defined]

    producer = Producer({"bootstrap.servers": peer_bootstrap, "acks": "all", "linger.ms": 5})
    for k, v in RECORDS:
        producer.produce(topic_name, key=k, value=v, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert not errors
    assert sorted(delivered) == list(range(len(RECORDS)))

    # assign() rather than subscribe(): no group join, so this stays fast on every broker
    consumer = Consumer(
        {
            "bootstrap.servers": peer_bootstrap,
            "group.id": f"g-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    got = []
    try:
        consumer.assign([TopicPartition(topic_name, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 30
        while len(got) < len(RECORDS) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    assert got == RECORDS


# (tansu 0.6.0 cannot serve the Kafka 4.4 Java client: the console producer hangs while tansu logs
# "failed to fill whole buffer" decode errors, so the Java tools are only checked against Kafka.)
@pytest.mark.cell(client="java", broker="kafka", feature="infra: console producer/consumer")
def test_java_console_tools(apache_kafka, topic_name: str) -> None:  # noqa: ANN001
    from tests.infra.apache_kafka import console_consume, console_produce

    bootstrap = apache_kafka.bootstrap_servers
    _make_topic(bootstrap, topic_name)
    console_produce(bootstrap, topic_name, [("a", "1"), ("b", "2"), "3"], props={"acks": "all"})
    got = console_consume(bootstrap, topic_name, max_messages=3, print_key=True, timeout_ms=20000)
    assert got == [("a", "1"), ("b", "2"), ("null", "3")]


@pytest.mark.cell(client="java", broker="kafka", feature="infra: producer perf test")
def test_java_producer_perf_test(apache_kafka, topic_name: str) -> None:  # noqa: ANN001
    from tests.infra.apache_kafka import consumer_perf_test, producer_perf_test

    res = producer_perf_test(
        apache_kafka.bootstrap_servers,
        topic_name,
        num_records=20000,
        record_size=100,
        props={"acks": "1", "linger.ms": 5},
    )
    assert res.records == 20000 and res.records_per_sec > 0 and res.p99_ms is not None
    cres = consumer_perf_test(apache_kafka.bootstrap_servers, topic_name, messages=20000)
    assert cres.records == 20000


# --------------------------------------------------------------------------------------
# 3-node cluster fault injection


@pytest.mark.cell(client="kafka-python", broker="kafka3", feature="infra: leader failover (SIGKILL)")
def test_cluster_leader_failover(apache_kafka_cluster, topic_name: str) -> None:  # noqa: ANN001
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    cluster = apache_kafka_cluster
    cluster.heal()
    cluster.create_topic(topic_name, partitions=1, replication_factor=3)
    assert len(cluster.wait_for_isr(topic_name, 0)) == 3

    producer = KafkaProducer(
        bootstrap_servers=cluster.bootstrap_servers,
        acks="all",
        retries=20,
        retry_backoff_ms=200,
        request_timeout_ms=15000,
    )
    try:
        for i in range(10):
            producer.send(topic_name, value=f"before-{i}".encode())
        producer.flush(30)

        old_leader = cluster.leader(topic_name, 0)
        assert old_leader in cluster.node_ids()
        t0 = time.monotonic()
        cluster.kill(old_leader)
        assert not cluster.is_alive(old_leader)
        new_leader = cluster.wait_for_leader(topic_name, 0, exclude=[old_leader], timeout=60)
        failover = time.monotonic() - t0
        assert new_leader != old_leader
        print(f"leader {old_leader} -> {new_leader} in {failover:.1f}s")

        # acks=all still works with 2 of 3 in sync (min.insync.replicas=2)
        futures = [producer.send(topic_name, value=f"after-{i}".encode()) for i in range(10)]
        producer.flush(60)
        for f in futures:
            f.get(timeout=30)
    finally:
        producer.close(10)

    consumer = KafkaConsumer(
        bootstrap_servers=cluster.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20000,
    )
    try:
        consumer.assign([TopicPartition(topic_name, 0)])
        values = []
        for msg in consumer:
            values.append(msg.value.decode())
            if len(values) == 20:
                break
    finally:
        consumer.close()
    assert values == [f"before-{i}" for i in range(10)] + [f"after-{i}" for i in range(10)]

    restart_secs = cluster.restart(old_leader)
    print(f"node {old_leader} restarted in {restart_secs:.1f}s")
    assert sorted(cluster.wait_for_isr(topic_name, 0, timeout=60)) == [1, 2, 3]


@pytest.mark.cell(client="kafka-python", broker="kafka3", feature="infra: controller failover (SIGKILL)")
def test_cluster_controller_failover(apache_kafka_cluster) -> None:  # noqa: ANN001
    cluster = apache_kafka_cluster
    cluster.heal()
    controller = cluster.active_controller()
    assert controller in cluster.node_ids()
    cluster.kill(controller)
    try:

        def new_controller() -> int | None:
            c = cluster.active_controller()
            return c if c > 0 and c != controller else None

        assert wait_until(new_controller, timeout=60, what="a new active controller") != controller
    finally:
        cluster.restart(controller)
    cluster.heal()
    assert cluster.alive_node_ids() == [1, 2, 3]


# --------------------------------------------------------------------------------------
# kafkakit's broker (skips until kafkakit.broker.Broker exists)


@pytest.mark.cell(client="kafka-python", broker="embedded", feature="infra: produce/consume")
def test_embedded_broker_fixture(embedded_broker, topic_name: str) -> None:  # noqa: ANN001
    from kafka import KafkaConsumer, KafkaProducer

    bootstrap = embedded_broker.bootstrap_servers
    assert api_versions(*parse_bootstrap(bootstrap)[0])
    with KafkaProducer(bootstrap_servers=bootstrap, acks="all") as producer:
        producer.send(topic_name, b"hello").get(timeout=30)
    consumer = KafkaConsumer(
        topic_name, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=20000
    )
    try:
        assert next(iter(consumer)).value == b"hello"
    finally:
        consumer.close()


@pytest.mark.cell(
    client="kafka-python", broker="embedded-process", feature="infra: SIGKILL + restart keeps data"
)
def test_embedded_broker_process_restart(embedded_broker_process, topic_name: str) -> None:  # noqa: ANN001
    from kafka import KafkaConsumer, KafkaProducer

    b = embedded_broker_process
    with KafkaProducer(bootstrap_servers=b.bootstrap_servers, acks="all") as producer:
        producer.send(topic_name, b"durable").get(timeout=30)
    port = b.port
    b.kill()
    assert not b.alive()
    b.restart()
    assert b.port == port and b.alive()
    consumer = KafkaConsumer(
        topic_name,
        bootstrap_servers=b.bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=20000,
    )
    try:
        assert next(iter(consumer)).value == b"durable"
    finally:
        consumer.close()


# --------------------------------------------------------------------------------------
# the bootstrap fixture (one integration suite, parametrized by broker)


def test_bootstrap_fixture_answers(bootstrap: str, bootstrap_broker: str) -> None:
    host, port = parse_bootstrap(bootstrap)[0]
    apis = api_versions(host, port)
    assert 18 in apis and 3 in apis  # ApiVersions, Metadata
    md = metadata(host, port, ())
    expected = 3 if bootstrap_broker == "kafka3" else 1
    if bootstrap_broker != "external":
        assert len(md.brokers) == expected
        assert len(parse_bootstrap(bootstrap)) == expected


# --------------------------------------------------------------------------------------
# infra units (no broker)


def test_managed_process_kills_whole_group(tmp_path) -> None:  # noqa: ANN001
    script = (
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print('started', flush=True); time.sleep(60)"
    )
    p = ManagedProcess([sys.executable, "-c", script], log_path=tmp_path / "p.log", name="sleeper").start()
    wait_until(lambda: "started" in (tmp_path / "p.log").read_text(), timeout=20, what="child start")
    pgid = p.pid
    p.kill()
    assert not p.alive()
    # nothing of the group survives
    out = subprocess.run(["ps", "-o", "pid=", "-g", str(pgid)], capture_output=True, text=True)
    assert out.stdout.strip() == ""


def test_free_port_is_unique_and_bindable() -> None:
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    import socket

    with socket.socket() as s:
        s.bind((LOOPBACK, ports.pop()))


def test_require_all_turns_skips_into_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKAKIT_REQUIRE_ALL", "1")
    assert require_all()
    with pytest.raises(pytest.fail.Exception, match="no java"):
        unavailable("no java")
    monkeypatch.setenv("KAFKAKIT_REQUIRE_ALL", "0")
    with pytest.raises(pytest.skip.Exception, match="no java"):
        unavailable("no java")


def test_matrix_markdown_roundtrip(tmp_path) -> None:  # noqa: ANN001
    cells = [
        Cell("kafka-python", "kafka", "produce", "pass", [], ["t::a"]),
        Cell("kafka-python", "tansu", "produce", "skip", ["tansu: missing | really"], ["t::b"]),
        Cell("aiokafka", "embedded", "txn", "fail", ["t::c: boom -->"], ["t::c"]),
    ]
    text = render_markdown(cells, full_run=True)
    assert "| produce | *skip* [1] | **pass** |" in text  # tansu column before kafka
    assert "## aiokafka" in text and "**FAIL**" in text
    path = tmp_path / "interop.md"
    path.write_text(text)
    assert sorted(load_cells(path), key=lambda c: c.key) == sorted(cells, key=lambda c: c.key)
