"""Leader failover on a 3-node Apache Kafka cluster under an acks=all idempotent producer.

Topic: 1 partition, replication factor 3, min.insync.replicas 2. A producer (acks=all, retries,
idempotence) sends a numbered stream while a consumer (assigned to the partition) reads it. Once
records flow, the partition leader is SIGKILLed. Then:

- every send is acknowledged: the producer retries onto the new leader, nothing fails;
- every acknowledged record is read back, exactly once (idempotence: no duplicates), in the order
  it was sent, at the offset its acknowledgement named;
- the live consumer moves to the new leader and goes on (it reads records that only the new
  leader ever had).

Run for kafkakit's client and for kafka-python; kafka-python validates the test and the cluster
fixture. The killed node is restarted at the end (the cluster is shared by the session).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.infra import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.timeout(150)]

BEFORE_KILL = 300  # records acknowledged before the leader is killed
AFTER_FAILOVER = 300  # records acknowledged after the new leader is known
MAX_OUTSTANDING = 100  # un-acknowledged sends allowed at a time (flow control, not pacing)
DEADLINE = 60.0


def _client_param(client: str) -> Any:
    return pytest.param(
        client,
        marks=pytest.mark.cell(client=client, broker="kafka3", feature="failover acks=all"),
        id=client,
    )


@pytest.fixture
def cluster(apache_kafka_cluster: Any) -> Iterator[Any]:
    apache_kafka_cluster.heal()  # an earlier test may have left a node down
    try:
        yield apache_kafka_cluster
    finally:
        apache_kafka_cluster.heal()


def make_clients(client: str, bootstrap: str) -> tuple[Any, Any, Any]:
    """(producer, consumer, TopicPartition class) of the client under test."""
    common_producer = dict(
        bootstrap_servers=bootstrap,
        acks="all",
        retries=2_147_483_647,
        enable_idempotence=True,
        max_in_flight_requests_per_connection=5,
        linger_ms=5,
        request_timeout_ms=10_000,
        retry_backoff_ms=100,
        delivery_timeout_ms=120_000,
    )
    common_consumer = dict(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=10_000,
        retry_backoff_ms=100,
        fetch_max_wait_ms=200,
    )
    if client == "kafkakit":
        from kafkakit import KafkaConsumer, KafkaProducer, TopicPartition
    else:
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    return KafkaProducer(**common_producer), KafkaConsumer(**common_consumer), TopicPartition


class Reader(threading.Thread):
    """Polls the consumer (only from this thread) and records (offset, value) in order."""

    def __init__(self, consumer: Any) -> None:
        super().__init__(daemon=True)
        self.consumer = consumer
        self.records: list[tuple[int, bytes]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                for _tp, msgs in self.consumer.poll(timeout_ms=200).items():
                    self.records += [(m.offset, m.value) for m in msgs]
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self.join(DEADLINE)
        self.consumer.close()


def read_all(bootstrap: str, topic: str, end: int) -> list[tuple[int, bytes]]:
    """kafka-python (the oracle): the whole partition, offsets 0..end-1."""
    from kafka import KafkaConsumer, TopicPartition

    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        out: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + DEADLINE
        while len(out) < end:
            assert time.monotonic() < deadline, f"read {len(out)} of {end} records"
            for msgs in consumer.poll(timeout_ms=500).values():
                out += [(m.offset, m.value) for m in msgs]
        return out
    finally:
        consumer.close()


@pytest.mark.parametrize("client", [_client_param("kafkakit"), _client_param("kafka-python")])
def test_leader_killed_under_acks_all_loses_no_acknowledged_record(cluster: Any, client: str) -> None:
    topic = f"failover-{client}-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, partitions=1, replication_factor=3, configs={"min.insync.replicas": "2"})
    assert sorted(cluster.wait_for_isr(topic, 0, size=3)) == [1, 2, 3]
    old_leader = cluster.leader(topic, 0)

    producer, consumer, TopicPartition = make_clients(client, cluster.bootstrap_servers)
    lock = threading.Lock()
    acked: dict[int, int] = {}  # sequence number -> offset
    failed: dict[int, str] = {}
    sent = 0

    def on_ack(n: int) -> Callable[[Any], None]:
        def cb(md: Any) -> None:
            with lock:
                acked[n] = md.offset

        return cb

    def on_error(n: int) -> Callable[[Any], None]:
        def eb(exc: Any) -> None:
            with lock:
                failed[n] = repr(exc)

        return eb

    def send_until(done: Callable[[], bool], what: str) -> None:
        """Keep sending numbered records (at most MAX_OUTSTANDING unacknowledged) until ``done``."""
        nonlocal sent
        deadline = time.monotonic() + DEADLINE
        while not done():
            assert time.monotonic() < deadline, (
                f"{what}: {len(acked)} acked, {len(failed)} failed of {sent} sent; reader {len(reader.records)}"
            )
            assert not failed, f"sends failed: {sorted(failed.items())[:5]}"
            if sent - len(acked) - len(failed) >= MAX_OUTSTANDING:
                time.sleep(0.005)  # flow control: re-check the condition (bounded by the deadline)
                continue
            fut = producer.send(topic, value=b"%08d" % sent, partition=0)
            fut.add_callback(on_ack(sent))
            fut.add_errback(on_error(sent))
            sent += 1

    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    reader = Reader(consumer)
    reader.start()
    try:
        # 1. records flow: acknowledged and read
        send_until(
            lambda: len(acked) >= BEFORE_KILL and len(reader.records) >= BEFORE_KILL // 2,
            "records before the kill",
        )
        with lock:
            acked_before_kill = len(acked)
            last_offset_before_kill = max(acked.values())

        # 2. kill the leader mid-stream (SIGKILL: no controlled shutdown)
        cluster.kill(old_leader)
        t_kill = time.monotonic()
        new_leader = cluster.wait_for_leader(topic, 0, exclude=[old_leader], timeout=DEADLINE)
        t_elected = time.monotonic()
        assert new_leader != old_leader

        # 3. keep producing through the failover until enough records are acknowledged after it
        target = len(acked) + AFTER_FAILOVER
        send_until(lambda: len(acked) >= target, "records after the failover")
        producer.flush(timeout=DEADLINE)
        with lock:
            assert not failed, f"sends failed: {sorted(failed.items())[:5]}"
            assert len(acked) == sent, f"{sent - len(acked)} sends never completed"
            acked_final = dict(acked)

        # 4. the live consumer followed the leader: it reads everything acknowledged
        wait_until(
            lambda: reader.error is not None or len({o for o, _ in reader.records}) >= sent,
            timeout=DEADLINE,
            what=f"the consumer to read {sent} records",
        )
        assert reader.error is None, reader.error
    finally:
        reader.stop()
        producer.close()

    # every acknowledged record is in the log, once, at the offset it was acknowledged with,
    # in the order it was sent (idempotence: no duplicates, no reordering)
    values = {n: b"%08d" % n for n in range(sent)}
    expected_log = sorted((off, values[n]) for n, off in acked_final.items())
    assert [off for off, _ in expected_log] == list(range(sent))  # dense: no holes, no duplicates
    assert [v for _, v in expected_log] == [values[n] for n in range(sent)]  # send order
    log = read_all(cluster.bootstrap_servers, topic, sent)
    assert log == expected_log

    # the live consumer saw exactly the same records, including those only the new leader had
    assert reader.records == expected_log
    assert any(off > last_offset_before_kill for off, _ in reader.records)
    assert acked_before_kill >= BEFORE_KILL
    print(
        f"\n{client}: leader {old_leader} -> {new_leader} elected {t_elected - t_kill:.1f}s after the kill; "
        f"{sent} records sent and acknowledged, {acked_before_kill} before the kill"
    )
