"""AIOKafkaProducer: the asyncio producer, running ``ProducerCore`` on the caller's event loop.

How it works: the constructor validates the keywords with the producer table shared with
``KafkaProducer`` (unknown keys and bad values raise here) and builds a ``ProducerCore``; nothing
touches a loop until ``await start()`` (or ``async with``), which binds the core to the running loop
and bootstraps. ``await send()`` calls ``core.try_send()`` directly (serialize, partition, append:
no await on the fast path) and only when the topic's metadata is missing or buffer memory is full
awaits the core's bounded wait (``core.send``), which raises KafkaTimeoutError after max_block_ms.
It returns the record's ``FutureRecordMetadata`` (awaitable, resolving to ``RecordMetadata``).
Because the fast path never suspends, ``send()`` yields to the loop once every ``YIELD_EVERY``
records so the sender, heartbeats and the rest of the application keep running during a tight
send loop. ``flush()`` and ``stop()`` await the core's flush; ``stop()`` aborts what is still
unacknowledged after its timeout, then shuts the core down.

What it must never do: start a thread, block the loop (every wait is an ``await``), contain producer
logic of its own (batching, partitioning, retries live in the core, shared with KafkaProducer), or
accept records before ``start()`` / after ``stop()``.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from kafkakit.client.config import resolve_config
from kafkakit.client.producer.core import NeedMetadata, NeedSpace, ProducerCore
from kafkakit.client.producer.future import FutureRecordMetadata, RecordMetadata
from kafkakit.errors import IllegalStateError, KafkaTimeoutError

log = logging.getLogger(__name__)

__all__ = ["AIOKafkaProducer", "FutureRecordMetadata", "RecordMetadata"]

YIELD_EVERY = 256  # records appended between two forced yields to the event loop


class AIOKafkaProducer:
    """Publish records to a Kafka cluster from asyncio code (same options as KafkaProducer)."""

    def __init__(self, **configs: Any) -> None:
        self.config = resolve_config("producer", configs)
        self._core = ProducerCore(self.config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._closed = False
        self._since_yield = 0

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop and connect (NoBrokersAvailable when no broker answers within
        bootstrap_timeout_ms, unless api_version is given). Idempotent."""
        if self._closed:
            raise IllegalStateError(
                "AIOKafkaProducer is stopped: create a new producer instead of restarting"
            )
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        try:
            await self._core.start()
        except BaseException:
            self._closed = True
            await self._core.shutdown()
            raise
        self._started = True

    async def stop(self, timeout: float | None = None) -> None:
        """Send everything buffered (waiting up to ``timeout`` seconds, forever when None), then release
        connections. Records still unacknowledged after the timeout fail with KafkaTimeoutError.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        core = self._core
        was_started, self._started = self._started, False
        if not was_started:
            await core.shutdown()
            return
        core.begin_close()
        try:
            try:
                await core.flush(timeout)
            except KafkaTimeoutError:
                n = core.abort_pending(
                    f"AIOKafkaProducer.stop(timeout={timeout}) gave up before the record was acknowledged"
                )
                log.warning("producer stopped with %d unacknowledged batch(es); their futures failed", n)
        finally:
            await core.shutdown()

    async def __aenter__(self) -> AIOKafkaProducer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __del__(self) -> None:
        if getattr(self, "_started", False) and not getattr(self, "_closed", True):
            warnings.warn(
                f"unclosed AIOKafkaProducer {self.config['client_id']!r}: await producer.stop()",
                ResourceWarning,
                stacklevel=1,
            )

    # --- sending -------------------------------------------------------------------------------

    def _check_started(self) -> None:
        if not self._started:
            if self._closed:
                raise IllegalStateError("AIOKafkaProducer is stopped: send() is not allowed after stop()")
            raise IllegalStateError("AIOKafkaProducer is not started: await producer.start() first")

    async def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> FutureRecordMetadata:
        """Queue one record; returns its future (``await fut`` gives RecordMetadata). Waits only while
        the topic's metadata is unknown or buffer_memory is full, up to max_block_ms."""
        if not self._started:
            self._check_started()
        try:
            fut = self._core.try_send(topic, value, key, headers, partition, timestamp_ms)
        except (NeedMetadata, NeedSpace):
            self._since_yield = 0
            return await self._core.send(topic, value, key, headers, partition, timestamp_ms)
        self._since_yield += 1
        if self._since_yield >= YIELD_EVERY:
            self._since_yield = 0
            await asyncio.sleep(0)
        return fut

    async def send_and_wait(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> RecordMetadata:
        """send() and wait for the broker's answer; raises the record's error."""
        fut = await self.send(topic, value, key, partition, timestamp_ms, headers)
        return await fut

    async def flush(self, timeout: float | None = None) -> None:
        """Make every buffered record sendable now and wait until all of them completed
        (KafkaTimeoutError after ``timeout`` seconds)."""
        self._check_started()
        await self._core.flush(timeout)

    # --- queries -------------------------------------------------------------------------------

    async def partitions_for(self, topic: str) -> set[int]:
        """The partition ids of ``topic``, fetching metadata (up to max_block_ms) if needed."""
        self._check_started()
        parts = self._core.known_partitions(topic)
        if parts:
            return parts
        try:
            found = await self._core.client.wait_for_topic(topic, self._core.max_block)
        except KafkaTimeoutError:
            raise KafkaTimeoutError(
                f"Failed to update metadata after {self.config['max_block_ms']} ms (max_block_ms): "
                f"topic {topic!r} is not present in the cluster metadata"
            ) from None
        return set(found)

    def bootstrap_connected(self) -> bool:
        """True once a bootstrap broker answered."""
        return self._core.client.bootstrap_connected()

    def metrics(self, raw: bool = False) -> dict[Any, Any]:
        """Producer metrics grouped like kafka-python's: {'producer-metrics': {name: value}}."""
        return self._core.metrics_snapshot(raw)
