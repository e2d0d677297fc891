"""Helpers shared by the asyncio API tests (test_aio_*.py); this module holds no tests.

``run(coro)`` runs a test body on a fresh event loop with an overall bound; ``make_topic`` creates a
topic through the infrastructure's own wire client; ``ck_produce`` / ``ck_read`` write and read
records with confluent-kafka (librdkafka), the independent peer used as the oracle; ``Ticker``
measures the largest gap between the ticks of a task that asks to run every few milliseconds,
which grows large only if something blocks the event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

import pytest

from tests.infra import create_topics, parse_bootstrap

ck = pytest.importorskip("confluent_kafka")

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
    """Run ``coro`` on a new event loop, failing the test if it takes longer than ``timeout`` s."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def make_topic(bootstrap: str, name: str, partitions: int = 1) -> str:
    """Create a topic and wait until every partition's leader answers offset queries (Apache Kafka
    lists a leader in Metadata a moment before that leader accepts writes)."""
    host, port = parse_bootstrap(bootstrap)[0]
    create_topics(host, port, {name: (partitions, -1)})
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": f"ready-{uuid.uuid4().hex}"})
    try:
        deadline = time.monotonic() + 30
        for p in range(partitions):
            while True:
                try:
                    c.get_watermark_offsets(ck.TopicPartition(name, p), timeout=5)
                    break
                except ck.KafkaException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
    finally:
        c.close()
    return name


def ck_produce(
    bootstrap: str, topic: str, records: Iterable[tuple[int, bytes | None, bytes | None]], **conf: Any
) -> None:
    """Write (partition, key, value) records with confluent-kafka and wait for every ack."""
    p = ck.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})
    errors: list[Any] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    for partition, key, value in records:
        p.produce(topic, value, key=key, partition=partition, on_delivery=on_delivery)
    assert p.flush(30) == 0, "confluent-kafka could not deliver every record"
    assert not errors, errors


def ck_read(bootstrap: str, topic: str, count: int, partitions: int = 1, timeout: float = 30.0) -> list[Any]:
    """Read ``count`` records of ``topic`` from the beginning with confluent-kafka (assign, no group)."""
    c = ck.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"readback-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    out: list[Any] = []
    try:
        c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == ck.KafkaError.UNKNOWN_TOPIC_OR_PART:
                    continue
                raise AssertionError(f"confluent-kafka consumer error: {m.error()}")
            out.append(m)
    finally:
        c.close()
    return out


class Ticker:
    """A task that sleeps ``interval`` seconds in a loop and records the largest gap between ticks."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.max_gap = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            self.ticks += 1
            last = now

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def thread_ids() -> set[int]:
    """Live threads, except asyncio's own resolver pool (``loop.getaddrinfo`` runs there)."""
    return {
        t.ident for t in threading.enumerate() if t.ident is not None and not t.name.startswith("asyncio_")
    }
