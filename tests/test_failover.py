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
from collections.abc import Iterator
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
    import importlib

    lib: Any = importlib.import_module("kafkakit" if client == "kafkakit" else "kafka")
    return lib.KafkaProducer(**common_producer), lib.KafkaConsumer(**common_consumer), lib.TopicPartition


class Reader(threading.Thread):
    """Polls the consumer (only from this thread) and records (offset, value) in order."""

    def __init__(self, consumer: Any) -> None:
        super().__init__(daemon=True)
        self.consumer = consumer
        self.records: list[tuple[int, bytes]] = []
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                for _tp, msgs in self.consumer.poll(timeout_ms=200).items():
                    self.records += [(m.offset, m.value) for m in msgs]
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            self.error = exc

    def stop(self) -> None:
        self._halt.set()
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


class Writer(threading.Thread):
    """Sends numbered records (b"%08d") without pause, at most MAX_OUTSTANDING unacknowledged."""

    def __init__(self, producer: Any, topic: str) -> None:
        super().__init__(daemon=True)
        self.producer = producer
        self.topic = topic
        self.lock = threading.Lock()
        self.sent = 0
        self.acked: dict[int, int] = {}  # sequence number -> acknowledged offset
        self.acked_at: dict[int, float] = {}  # sequence number -> monotonic time of the ack
        self.failed: dict[int, str] = {}
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def _on_ack(self, n: int, md: Any) -> None:
        with self.lock:
            self.acked[n] = md.offset
            self.acked_at[n] = time.monotonic()

    def _on_error(self, n: int, exc: Any) -> None:
        with self.lock:
            self.failed[n] = repr(exc)

    def outstanding(self) -> int:
        with self.lock:
            return self.sent - len(self.acked) - len(self.failed)

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                if self.outstanding() >= MAX_OUTSTANDING:
                    time.sleep(0.002)  # flow control: re-check
                    continue
                n = self.sent
                fut = self.producer.send(self.topic, value=b"%08d" % n, partition=0)
                fut.add_callback(self._on_ack, n)
                fut.add_errback(self._on_error, n)
                with self.lock:
                    self.sent = n + 1
        except BaseException as exc:  # noqa: BLE001 -- reported by the test
            self.error = exc

    def stop(self) -> None:
        self._halt.set()
        self.join(DEADLINE)


@pytest.mark.parametrize("client", [_client_param("kafkakit"), _client_param("kafka-python")])
def test_leader_killed_under_acks_all_loses_no_acknowledged_record(cluster: Any, client: str) -> None:
    topic = f"failover-{client}-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, partitions=1, replication_factor=3, configs={"min.insync.replicas": "2"})
    assert sorted(cluster.wait_for_isr(topic, 0, size=3)) == [1, 2, 3]
    old_leader = cluster.leader(topic, 0)

    producer, consumer, TopicPartition = make_clients(client, cluster.bootstrap_servers)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    reader = Reader(consumer)
    writer = Writer(producer, topic)
    reader.start()
    writer.start()

    def healthy() -> None:
        assert writer.error is None, writer.error
        assert reader.error is None, reader.error
        assert not writer.failed, f"sends failed: {sorted(writer.failed.items())[:5]}"

    try:
        # 1. records flow: acknowledged and read
        wait_until(
            lambda: (
                writer.error
                or writer.failed
                or (len(writer.acked) >= BEFORE_KILL and len(reader.records) >= 100)
            ),
            timeout=DEADLINE,
            what="records to flow before the kill",
        )
        healthy()

        # 2. kill the leader mid-stream (SIGKILL: no controlled shutdown) while sends are in flight
        with writer.lock:
            acked_before_kill = len(writer.acked)
            last_offset_before_kill = max(writer.acked.values())
        cluster.kill(old_leader)  # returns once the process is gone
        t_kill = time.monotonic()
        with writer.lock:  # what was sent before the leader died and is not acknowledged yet
            sent_at_kill = writer.sent
            unacked_at_kill = [n for n in range(sent_at_kill) if n not in writer.acked]
        new_leader = cluster.wait_for_leader(topic, 0, exclude=[old_leader], timeout=DEADLINE)
        t_elected = time.monotonic()
        assert new_leader != old_leader

        # 3. the writer goes on through the failover until enough records are acknowledged after it
        target = len(writer.acked) + AFTER_FAILOVER
        wait_until(
            lambda: writer.error or writer.failed or len(writer.acked) >= target,
            timeout=DEADLINE,
            what=f"{AFTER_FAILOVER} acknowledgements after the failover",
        )
        writer.stop()
        producer.flush(timeout=DEADLINE)
        healthy()
        sent = writer.sent
        with writer.lock:
            assert len(writer.acked) == sent, f"{sent - len(writer.acked)} sends never completed"
            acked = dict(writer.acked)
            acked_at = dict(writer.acked_at)

        # 4. the live consumer followed the leader: it reads everything acknowledged
        wait_until(
            lambda: reader.error is not None or len(reader.records) >= sent,
            timeout=DEADLINE,
            what=f"the consumer to read {sent} records",
        )
        healthy()
    finally:
        writer.stop()
        reader.stop()
        producer.close()

    # records in flight when the leader died were retried onto the new leader and acknowledged
    assert unacked_at_kill, "no send was in flight at the kill: the test did not exercise a failover"
    assert all(acked_at[n] > t_kill for n in unacked_at_kill)

    # every acknowledged record is in the log, once, at the offset it was acknowledged with,
    # in the order it was sent (idempotence: no duplicates, no reordering)
    values = {n: b"%08d" % n for n in range(sent)}
    expected_log = sorted((off, values[n]) for n, off in acked.items())
    assert [off for off, _ in expected_log] == list(range(sent))  # dense: no holes, no duplicates
    assert [v for _, v in expected_log] == [values[n] for n in range(sent)]  # send order
    assert read_all(cluster.bootstrap_servers, topic, sent) == expected_log

    # the live consumer saw exactly the same records, including those only the new leader had
    assert reader.records == expected_log
    assert any(off > last_offset_before_kill for off, _ in reader.records)
    print(
        f"\n{client}: leader {old_leader} -> {new_leader} elected {t_elected - t_kill:.1f}s after the kill; "
        f"{sent} records acknowledged ({acked_before_kill} before the kill, {len(unacked_at_kill)} in "
        f"flight at the kill and acknowledged after it)"
    )
