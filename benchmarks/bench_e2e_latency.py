"""End-to-end latency: time from send() to the consumer holding the record, at a fixed moderate rate.

Usage::

    .venv/bin/python benchmarks/bench_e2e_latency.py [--broker tansu|kafka|embedded] [--rate 1000]
        [--seconds 3] [--size 100] [--repeat 3] [--clients kafkakit,kafkakit-async,...]

How it works: one process per client and repetition (``common.run_worker``) holds a producer and a
consumer of the same client library on a fresh one-partition topic. The consumer is assigned the
partition first (starting at the end); the producer (linger_ms=0, acks=1) then sends ``size``-byte
records at ``rate`` records/s, each carrying its sequence number and the ``time.perf_counter_ns()``
of the moment send() was called. The consumer notes, for every record, the clock when its poll
returned it. The first ``warmup`` seconds of records are dropped (connections, position lookup),
the rest give p50 / p99 / max in milliseconds. Sync clients (kafkakit, kafka-python,
confluent-kafka) send from a second thread and poll in the main thread; asyncio clients (kafkakit
async, aiokafka) run a sending task beside a ``getmany()`` loop. Producer and consumer share a
process, so the clock is the same on both sides.

What it must never do: run as part of the test suite, assert on timings, or pace sends faster than
asked (a late send is not followed by a burst: each record has its own due time and the measured
latency starts at the actual send() call).
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Summary, create_topic, percentile, run_worker, start_broker  # noqa: E402

HEADER = struct.Struct(">qq")  # sequence number, perf_counter_ns at send()
CLIENTS = ["kafkakit", "kafkakit-async", "kafka-python", "aiokafka", "confluent-kafka"]


class Plan:
    """The send schedule and the collected latencies of one run."""

    def __init__(self, rate: float, seconds: float, warmup: float, size: int) -> None:
        self.rate = rate
        self.warmup_n = int(warmup * rate)
        self.total = self.warmup_n + int(seconds * rate)
        self.pad = b"." * max(0, size - HEADER.size)
        self.latencies: list[float] = []
        self.received = 0
        self.start = 0.0

    def value(self, seq: int) -> bytes:
        return HEADER.pack(seq, time.perf_counter_ns()) + self.pad

    def due(self, seq: int) -> float:
        return self.start + seq / self.rate

    def got(self, value: bytes, now_ns: int) -> None:
        seq, sent = HEADER.unpack_from(value)
        self.received += 1
        if seq >= self.warmup_n:
            self.latencies.append((now_ns - sent) / 1e6)

    def done(self) -> bool:
        return self.received >= self.total

    def result(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        expected = self.total - self.warmup_n
        if len(lat) < expected * 0.95:
            raise RuntimeError(f"only {len(lat)} of {expected} measured records arrived")
        return {
            "p50_ms": percentile(lat, 0.50),
            "p99_ms": percentile(lat, 0.99),
            "max_ms": lat[-1],
            "samples": len(lat),
        }


def _pace_sync(plan: Plan, send: Callable[[int], None], after: Callable[[], None] | None = None) -> None:
    plan.start = time.perf_counter() + 0.05
    for seq in range(plan.total):
        delay = plan.due(seq) - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        send(seq)
    if after is not None:
        after()


def _run_sync(
    plan: Plan, sender: Callable[[], None], poll: Callable[[], None], deadline_s: float
) -> dict[str, Any]:
    t = threading.Thread(target=sender, name="e2e-sender", daemon=True)
    t.start()
    deadline = time.monotonic() + deadline_s
    while not plan.done() and time.monotonic() < deadline:
        poll()
    t.join(10)
    return plan.result()


def _deadline(plan: Plan) -> float:
    return plan.total / plan.rate + 30.0


# --- sync clients ------------------------------------------------------------------------------


def e2e_kafkakit(
    bootstrap: str, topic: str, rate: float, seconds: float, warmup: float, size: int
) -> dict[str, Any]:
    from kafkakit import KafkaConsumer, KafkaProducer, TopicPartition

    plan = Plan(rate, seconds, warmup, size)
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="latest")
    c.assign([TopicPartition(topic, 0)])
    c.position(TopicPartition(topic, 0))
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    try:

        def poll() -> None:
            for recs in c.poll(timeout_ms=100).values():
                now = time.perf_counter_ns()
                for r in recs:
                    plan.got(r.value, now)

        return _run_sync(
            plan,
            lambda: _pace_sync(plan, lambda s: p.send(topic, plan.value(s), partition=0)),
            poll,
            _deadline(plan),
        )
    finally:
        p.close()
        c.close()


def e2e_kafka_python(
    bootstrap: str, topic: str, rate: float, seconds: float, warmup: float, size: int
) -> dict[str, Any]:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    plan = Plan(rate, seconds, warmup, size)
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="latest")
    c.assign([TopicPartition(topic, 0)])
    c.position(TopicPartition(topic, 0))
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1, enable_idempotence=False)
    try:

        def poll() -> None:
            for recs in c.poll(timeout_ms=100).values():
                now = time.perf_counter_ns()
                for r in recs:
                    plan.got(r.value, now)

        return _run_sync(
            plan,
            lambda: _pace_sync(plan, lambda s: p.send(topic, plan.value(s), partition=0)),
            poll,
            _deadline(plan),
        )
    finally:
        p.close()
        c.close()


def e2e_confluent(
    bootstrap: str, topic: str, rate: float, seconds: float, warmup: float, size: int
) -> dict[str, Any]:
    from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition

    plan = Plan(rate, seconds, warmup, size)
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"e2e-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, 0, OFFSET_END)])
    c.consume(1, 0.5)  # let the position resolve before anything is sent
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": 1, "enable.idempotence": False})
    try:

        def send(seq: int) -> None:
            p.produce(topic, plan.value(seq), partition=0)
            p.poll(0)

        def poll() -> None:  # consume(n, t) would wait for n records or t: poll() returns the first at once
            m = c.poll(0.1)
            if m is not None and m.error() is None:
                plan.got(m.value() or b"", time.perf_counter_ns())

        return _run_sync(
            plan, lambda: _pace_sync(plan, send, lambda: None if p.flush(10) else None), poll, _deadline(plan)
        )
    finally:
        c.close()


# --- asyncio clients ---------------------------------------------------------------------------


async def _run_async(plan: Plan, send: Callable[[int], Any], getmany: Callable[[], Any]) -> dict[str, Any]:
    async def sender() -> None:
        plan.start = time.perf_counter() + 0.05
        for seq in range(plan.total):
            delay = plan.due(seq) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(seq)

    task = asyncio.ensure_future(sender())
    deadline = time.monotonic() + _deadline(plan)
    while not plan.done() and time.monotonic() < deadline:
        for recs in (await getmany()).values():
            now = time.perf_counter_ns()
            for r in recs:
                plan.got(r.value, now)
    await task
    return plan.result()


def e2e_kafkakit_async(
    bootstrap: str, topic: str, rate: float, seconds: float, warmup: float, size: int
) -> dict[str, Any]:
    from kafkakit import TopicPartition
    from kafkakit.aio import AIOKafkaConsumer, AIOKafkaProducer

    plan = Plan(rate, seconds, warmup, size)

    async def go() -> dict[str, Any]:
        async with (
            AIOKafkaConsumer(
                bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="latest"
            ) as c,
            AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1) as p,
        ):
            c.assign([TopicPartition(topic, 0)])
            await c.position(TopicPartition(topic, 0))
            return await _run_async(
                plan, lambda s: p.send(topic, plan.value(s), partition=0), lambda: c.getmany(timeout_ms=100)
            )

    return asyncio.run(go())


def e2e_aiokafka(
    bootstrap: str, topic: str, rate: float, seconds: float, warmup: float, size: int
) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    plan = Plan(rate, seconds, warmup, size)

    async def go() -> dict[str, Any]:
        c = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="latest"
        )
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
        await c.start()
        await p.start()
        try:
            c.assign([TopicPartition(topic, 0)])
            await c.position(TopicPartition(topic, 0))
            return await _run_async(
                plan, lambda s: p.send(topic, plan.value(s), partition=0), lambda: c.getmany(timeout_ms=100)
            )
        finally:
            await p.stop()
            await c.stop()

    return asyncio.run(go())


RUNNERS: dict[str, str] = {
    "kafkakit": "e2e_kafkakit",
    "kafkakit-async": "e2e_kafkakit_async",
    "kafka-python": "e2e_kafka_python",
    "aiokafka": "e2e_aiokafka",
    "confluent-kafka": "e2e_confluent",
}


def measure(
    client: str, bootstrap: str, rate: float, seconds: float, warmup: float, size: int
) -> dict[str, Any]:
    """One run of ``client`` in its own process, on a fresh topic."""
    topic = create_topic(bootstrap, f"bench-e2e-{uuid.uuid4().hex[:10]}")
    kwargs = {
        "bootstrap": bootstrap,
        "topic": topic,
        "rate": rate,
        "seconds": seconds,
        "warmup": warmup,
        "size": size,
    }
    return dict(run_worker("bench_e2e_latency", RUNNERS[client], kwargs, timeout=seconds + warmup + 120))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker", default="tansu", choices=["tansu", "kafka", "embedded"])
    ap.add_argument("--rate", type=float, default=1000.0, help="records per second")
    ap.add_argument("--seconds", type=float, default=3.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds of records not counted")
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--clients", default=",".join(CLIENTS))
    args = ap.parse_args()
    clients = [c for c in args.clients.split(",") if c]
    for c in clients:
        if c not in RUNNERS:
            ap.error(f"unknown client {c!r}; choose from {', '.join(RUNNERS)}")
    broker = start_broker(args.broker)
    try:
        print(
            f"{args.rate:.0f} records/s of {args.size} B for {args.seconds} s (+{args.warmup} s warm-up), "
            f"linger_ms=0, acks=1; {broker.version} at {broker.bootstrap_servers}; median of {args.repeat}"
        )
        runs: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
        for _ in range(args.repeat):
            for c in clients:
                runs[c].append(
                    measure(c, broker.bootstrap_servers, args.rate, args.seconds, args.warmup, args.size)
                )
        ref = Summary.of([r["p50_ms"] for r in runs[clients[0]]]).median
        for c in clients:
            p50 = Summary.of([r["p50_ms"] for r in runs[c]])
            p99 = Summary.of([r["p99_ms"] for r in runs[c]])
            print(
                f"  {c:<16} p50 {p50.median:7.2f} ms ({p50.low:.2f}-{p50.high:.2f})   "
                f"p99 {p99.median:7.2f} ms ({p99.low:.2f}-{p99.high:.2f})   p50 x{p50.median / ref:.2f} of {clients[0]}"
            )
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
