"""The embedded broker as a subprocess (``python -m kafkakit.broker``), killed with SIGKILL.

What an acks>=1 producer was told is written must be there after a kill -9 and restart, at the
offset it was told; with an idempotent producer retrying through several kills, nothing is lost
and nothing is duplicated. SIGTERM shuts down cleanly (the clean-shutdown marker is written).
Peer clients (kafka-python, confluent-kafka) are the producers and the readers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkakit.broker.durability import CLEAN_SHUTDOWN_MARKER
from tests.infra import free_port, wait_for_kafka_api

REPO_SRC = str(Path(__file__).resolve().parents[1] / "src")


class BrokerProcess:
    """``python -m kafkakit.broker`` on a fixed port and data dir, restartable after kill -9."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.extra = list(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / "broker.log"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> BrokerProcess:
        env = dict(os.environ, PYTHONPATH=REPO_SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
        argv = [
            sys.executable,
            "-m",
            "kafkakit.broker",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [*argv, *self.extra, "--log-level", "warning"], stdout=log, stderr=log, env=env
            )

        def died() -> str | None:
            if self.proc is not None and self.proc.poll() is not None:
                return f"broker exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}"
            return None

        for attempt in range(40):  # the port may still be held for a moment after a kill
            try:
                wait_for_kafka_api("127.0.0.1", self.port, timeout=30, abort=died, what="kafkakit broker")
                return self
            except Exception:
                if self.proc.poll() is None or attempt == 39 or "in use" not in self.log.read_text()[-500:]:
                    raise
                time.sleep(0.25)
                with open(self.log, "ab") as log:
                    self.proc = subprocess.Popen(
                        [*argv, *self.extra, "--log-level", "warning"], stdout=log, stderr=log, env=env
                    )
        return self

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


@pytest.fixture
def broker_process(tmp_path: Path) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(tmp_path / "data")
    try:
        yield proc.start()
    finally:
        proc.stop()


def _read_all(bootstrap: str, topic: str, partitions: int = 1) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of every record, read with kafka-python."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=3000)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    ends = consumer.end_offsets(tps)
    got = []
    for msg in consumer:
        got.append((msg.partition, msg.offset, msg.value))
        if all(consumer.position(tp) >= ends[tp] for tp in tps):
            break
    consumer.close()
    return got


@pytest.mark.cell(client="kafka-python", broker="embedded-process", feature="acked data survives kill -9")
def test_acknowledged_records_survive_kill_9(broker_process: BrokerProcess) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=broker_process.bootstrap_servers, acks=1, linger_ms=2)
    futures = [(i, producer.send("survive", f"v{i}".encode(), partition=0)) for i in range(2000)]
    producer.flush()
    acked = {f.get(10).offset: f"v{i}".encode() for i, f in futures}
    producer.close()
    broker_process.kill()
    assert not (broker_process.data_dir / CLEAN_SHUTDOWN_MARKER).exists()
    broker_process.start()
    got = _read_all(broker_process.bootstrap_servers, "survive")
    assert {off: v for _, off, v in got} == acked
    assert [off for _, off, _ in got] == list(range(2000))

    assert broker_process.terminate() == 0  # SIGTERM: clean shutdown, marker written
    assert (broker_process.data_dir / CLEAN_SHUTDOWN_MARKER).exists()
    broker_process.start()
    assert not (broker_process.data_dir / CLEAN_SHUTDOWN_MARKER).exists()  # removed while running
    assert len(_read_all(broker_process.bootstrap_servers, "survive")) == 2000


@pytest.mark.cell(
    client="confluent-kafka", broker="embedded-process", feature="idempotent producer through kill -9 loop"
)
def test_idempotent_producer_through_repeated_kill_9(broker_process: BrokerProcess) -> None:
    from confluent_kafka import Producer
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = "kill-loop"
    acked: dict[bytes, tuple[int, int]] = {}
    errors: list[str] = []
    fatal: list[str] = []
    stop = threading.Event()

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            acked[msg.value()] = (msg.partition(), msg.offset())  # type: ignore[attr-defined]

    def on_error(err: object) -> None:
        if getattr(err, "fatal", lambda: False)():
            fatal.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": broker_process.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 120_000,
            "retry.backoff.ms": 50,
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 500,
            "log_level": 2,
            "error_cb": on_error,
        }
    )
    sent = 0

    def produce_forever() -> None:
        nonlocal sent
        while not stop.is_set():
            try:
                producer.produce(topic, value=b"r%07d" % sent, partition=sent % 2, on_delivery=on_delivery)
                sent += 1
            except BufferError:
                producer.poll(0.05)
                continue
            if sent % 50 == 0:
                producer.poll(0)
                time.sleep(0.005)

    # two partitions, so one request carries batches of both
    admin = KafkaAdminClient(bootstrap_servers=broker_process.bootstrap_servers)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()

    worker = threading.Thread(target=produce_forever)
    worker.start()
    try:
        for _ in range(5):
            time.sleep(2.0)
            broker_process.kill()
            time.sleep(0.3)
            broker_process.start()
        time.sleep(1.0)
    finally:
        stop.set()
        worker.join()
    remaining = producer.flush(120)
    assert remaining == 0, f"{remaining} records never delivered"
    assert not fatal, fatal
    assert not errors, errors[:5]
    assert len(acked) == sent and sent > 500

    got = _read_all(broker_process.bootstrap_servers, topic, partitions=2)
    values = [v for _, _, v in got]
    assert len(values) == len(set(values)), "a record was written twice"
    where = {v: (p, off) for p, off, v in got}
    assert where == acked  # every acknowledged record is at the offset it was acknowledged with
    for p in (0, 1):
        offsets = [off for part, off, _ in got if part == p]
        assert offsets == list(range(len(offsets)))
    # per partition, the producer's order is kept
    for p in (0, 1):
        seq = [int(v[1:]) for part, _, v in got if part == p]
        assert seq == sorted(seq)


def test_cli_refuses_a_data_dir_in_use(broker_process: BrokerProcess) -> None:
    env = dict(os.environ, PYTHONPATH=REPO_SRC)
    argv = [
        sys.executable,
        "-m",
        "kafkakit.broker",
        "--data-dir",
        str(broker_process.data_dir),
        "--port",
        "0",
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "in use by another kafkakit broker" in done.stderr


def test_cli_reports_a_busy_port(broker_process: BrokerProcess, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=REPO_SRC)
    argv = [
        sys.executable,
        "-m",
        "kafkakit.broker",
        "--data-dir",
        str(tmp_path / "other"),
        "--port",
        str(broker_process.port),
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"cannot start on 127.0.0.1:{broker_process.port}" in done.stderr


def test_cli_rejects_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kafkakit.broker.cli import main

    assert main(["--data-dir", str(tmp_path), "--num-partitions", "0"]) == 2
    assert "num_partitions must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--no-such-flag"])
    assert exc.value.code == 2
