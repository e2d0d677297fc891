"""KafkaProducer under faults: dead brokers, full buffers, timeouts, kill -9 restarts, leader loss.

Each test owns its broker (a private tansu, the embedded broker as a subprocess, or the shared
3-node Apache Kafka cluster) because it kills it. Assertions are about outcomes (what was
acknowledged is stored exactly once and in order; every future completes), never about timing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kafkakit import KafkaProducer
from kafkakit.errors import KafkaTimeoutError
from tests.infra import create_topics, metadata, parse_bootstrap, wait_until

ck = pytest.importorskip("confluent_kafka")


@pytest.fixture
def private_tansu() -> Iterator[Any]:
    from tests.conftest import _provide
    from tests.infra.tansu import TansuBroker

    broker = _provide("tansu (private)", lambda: TansuBroker().start())
    try:
        yield broker
    finally:
        broker.stop()


def _known_then_dead(broker: Any, **kw: Any) -> tuple[KafkaProducer, str]:
    """A producer that has metadata and a connection for a topic, whose broker is then killed."""
    topic = f"faults-{uuid.uuid4().hex[:8]}"
    p = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, **kw)
    p.send(topic, b"first", partition=0).get(30)
    broker.kill()
    return p, topic


def test_buffer_full_blocks_then_times_out(private_tansu: Any) -> None:
    p, topic = _known_then_dead(private_tansu, buffer_memory=20_000, max_block_ms=300, linger_ms=0)
    futs = []
    with pytest.raises(KafkaTimeoutError, match="buffer"):
        for _ in range(100):  # 100 x 1 KB cannot fit in 20 KB
            futs.append(p.send(topic, b"x" * 1000, partition=0))
    assert 10 <= len(futs) <= 17  # the first batch (16 KB) is all the pool can hold
    # each batch holds batch_size (16384) bytes of the 20000-byte pool from its creation
    assert p.metrics()["producer-metrics"]["buffer-available-bytes"] == 20_000 - 16_384
    with pytest.raises(KafkaTimeoutError):
        p.flush(timeout=0.2)
    p.close(timeout=0.2)
    # close gave up: every record that was not acknowledged failed, none was dropped silently
    assert all(f.is_done and f.failed() for f in futs)
    assert all(isinstance(f.exception, KafkaTimeoutError) for f in futs)


def test_delivery_timeout_fails_queued_batches(private_tansu: Any) -> None:
    p, topic = _known_then_dead(private_tansu, delivery_timeout_ms=400, request_timeout_ms=300, retries=10)
    try:
        futs = [p.send(topic, b"late", partition=0) for _ in range(5)]
        for f in futs:
            with pytest.raises(KafkaTimeoutError, match="delivery_timeout_ms"):
                f.get(30)
        assert p.metrics()["producer-metrics"]["record-error-rate"] > 0
    finally:
        p.close(timeout=1)


def _read_all(bootstrap: str, topic: str, partitions: int, count: int, timeout: float = 60.0) -> list[Any]:
    import time

    c = ck.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"faults-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    out: list[Any] = []
    try:
        c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + timeout
        idle = 0
        while time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                idle += 1
                if len(out) >= count and idle >= 4:  # everything expected arrived, and then some quiet
                    break
                continue
            idle = 0
            if m.error():
                continue
            out.append(m)
    finally:
        c.close()
    return out


def _check_exactly_once_in_order(futs: list[Any], got: list[Any], idempotent: bool) -> None:
    acked = {}
    for i, f in enumerate(futs):
        assert f.is_done, f"record {i} never completed"
        if f.succeeded():
            acked[i] = f.value
    assert acked, "nothing was acknowledged"
    stored: dict[tuple[int, int], bytes] = {(m.partition(), m.offset()): m.value() for m in got}
    # every acknowledged record is stored at the offset it was acknowledged with
    for i, meta in acked.items():
        assert stored.get((meta.partition, meta.offset)) == b"%08d" % i, f"acknowledged record {i} lost"
    if idempotent:
        values = [m.value() for m in got]
        assert len(values) == len(set(values)), "duplicates stored"
        by_part: dict[int, list[int]] = {}
        for m in sorted(got, key=lambda m: (m.partition(), m.offset())):
            by_part.setdefault(m.partition(), []).append(int(m.value()))
        for seq in by_part.values():
            assert seq == sorted(seq), "records reordered"


@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "retries"])
def test_kill_9_restart_during_produce(embedded_broker_process: Any, idempotent: bool) -> None:
    broker = embedded_broker_process
    topic = f"restart-{uuid.uuid4().hex[:8]}"
    host, port = parse_bootstrap(broker.bootstrap_servers)[0]
    create_topics(host, port, {topic: (2, 1)})
    p = KafkaProducer(
        bootstrap_servers=broker.bootstrap_servers,
        enable_idempotence=idempotent,
        acks="all",
        retries=1_000_000,
        linger_ms=2,
        batch_size=4096,
        retry_backoff_ms=20,
        reconnect_backoff_ms=20,
        reconnect_backoff_max_ms=200,
        request_timeout_ms=5000,
    )
    futs = []
    try:
        n = 0
        for _round in range(3):
            for _ in range(1500):
                futs.append(p.send(topic, b"%08d" % n, partition=n % 2))
                n += 1
            broker.restart()  # SIGKILL, then the same port and data dir
        for _ in range(500):
            futs.append(p.send(topic, b"%08d" % n, partition=n % 2))
            n += 1
        p.flush(120)
    finally:
        p.close(timeout=30)
    assert all(f.succeeded() for f in futs), [f.exception for f in futs if f.failed()][:3]
    got = _read_all(broker.bootstrap_servers, topic, 2, len(futs))
    _check_exactly_once_in_order(futs, got, idempotent)
    if idempotent:
        assert len(got) == len(futs)


def test_leader_killed_in_three_node_cluster(apache_kafka_cluster: Any) -> None:
    cluster = apache_kafka_cluster
    cluster.heal()
    topic = f"leaderloss-{uuid.uuid4().hex[:8]}"
    host, port = parse_bootstrap(cluster.bootstrap_servers)[0]
    create_topics(host, port, {topic: (3, 3)})
    wait_until(
        lambda: all(p.leader >= 0 for p in metadata(host, port, [topic]).topics[topic].partitions.values()),
        timeout=30,
    )
    p = KafkaProducer(
        bootstrap_servers=cluster.bootstrap_servers,
        enable_idempotence=True,
        linger_ms=2,
        batch_size=4096,
        retry_backoff_ms=50,
        request_timeout_ms=5000,
    )
    futs = []
    try:
        for n in range(1500):
            futs.append(p.send(topic, b"%08d" % n, partition=n % 3))
        victim = cluster.leader(topic, 0)
        cluster.kill(victim)
        for n in range(1500, 3000):
            futs.append(p.send(topic, b"%08d" % n, partition=n % 3))
        p.flush(120)
        leaders = {f.get().partition for f in futs}
        assert leaders == {0, 1, 2}
    finally:
        p.close(timeout=30)
        cluster.heal()
    live = cluster.bootstrap_servers
    got = _read_all(live, topic, 3, len(futs))
    _check_exactly_once_in_order(futs, got, True)
    assert len(got) == len(futs)
