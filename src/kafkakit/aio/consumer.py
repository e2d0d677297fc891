"""AIOKafkaConsumer: the asyncio consumer, running ``ConsumerCore`` on the caller's event loop.

How it works: the constructor validates the keywords with the consumer table shared with
``KafkaConsumer`` and builds a ``ConsumerCore`` whose rebalance listeners run directly on the loop
(coroutine callbacks are awaited). ``await start()`` (or ``async with``) bootstraps and subscribes
to the topics given to the constructor. ``getmany()`` is ``core.poll()``: whole decoded batches from
the fetcher's buffer, positions advanced past what it returns. ``getone()`` and ``async for`` take
one record at a time through the same call (``max_records=1``), so the position moves record by
record and breaking out of the loop never skips anything. When partitions are named, the other
assigned partitions are held back for the duration of the call with the core's own pause flag
(their prefetched data stays buffered, in order) and released afterwards. Offsets, seeks and
metadata queries forward to the core's coroutines. ``stop()`` closes the core (auto-commit, leave
the group), which wakes any ``getone``/``getmany`` still waiting: they raise ConsumerStoppedError
and ``async for`` ends.

What it must never do: start a thread, block the loop, hold consumer logic of its own (fetching,
group membership, position bookkeeping live in the core, shared with KafkaConsumer), or return
records of a partition the caller did not ask for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from kafkakit.client.config import resolve_config
from kafkakit.client.consumer.coordinator import ConsumerGroupMetadata
from kafkakit.client.consumer.core import ConsumerCore
from kafkakit.client.consumer.fetcher import EARLIEST, LATEST
from kafkakit.client.consumer.records import ConsumerRecord
from kafkakit.errors import IllegalStateError
from kafkakit.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

__all__ = ["AIOKafkaConsumer", "ConsumerStoppedError"]

_LONG_WAIT = 24 * 3600.0  # one poll round of an unbounded wait (asyncio timers reject infinity)


class ConsumerStoppedError(IllegalStateError):
    """getone()/getmany() on an AIOKafkaConsumer that is stopped (aiokafka's name)."""


def _tp(tp: Any) -> TopicPartition:
    if not isinstance(tp, tuple) or len(tp) != 2 or not isinstance(tp[0], str) or not isinstance(tp[1], int):
        raise TypeError(f"expected a TopicPartition(topic, partition), got {tp!r}")
    return TopicPartition(tp[0], tp[1])


class AIOKafkaConsumer:
    """Consume records from asyncio code (same options as KafkaConsumer)."""

    def __init__(self, *topics: str, **configs: Any) -> None:
        for t in topics:
            if not isinstance(t, str):
                raise TypeError(f"topics must be str, got {t!r}; pass partitions to assign() instead")
        self.config = resolve_config("consumer", configs)
        ct = self.config["consumer_timeout_ms"]
        self._consumer_timeout = math.inf if ct is None or math.isinf(ct) else ct / 1000.0
        self._topics = list(topics)
        self._core = ConsumerCore(self.config)
        self._started = False
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (NoBrokersAvailable when no broker answers within bootstrap_timeout_ms) and
        subscribe to the topics given to the constructor. Idempotent."""
        if self._closed:
            raise ConsumerStoppedError(
                "AIOKafkaConsumer is stopped: create a new consumer instead of restarting"
            )
        if self._started:
            return
        try:
            await self._core.start()
            if self._topics:
                self._core.subscribe(self._topics)
        except BaseException:
            self._closed = True
            await self._core.close(autocommit=False, timeout=1.0)
            raise
        self._started = True

    async def stop(self, autocommit: bool = True, timeout_ms: float | None = None) -> None:
        """Commit (with enable_auto_commit and autocommit=True), leave the group and release
        connections; pending getone()/getmany() calls raise ConsumerStoppedError. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._core.close(autocommit, None if timeout_ms is None else timeout_ms / 1000.0)

    async def __aenter__(self) -> AIOKafkaConsumer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _check(self) -> ConsumerCore:
        if self._closed or self._core.closed:
            raise ConsumerStoppedError("AIOKafkaConsumer is stopped")
        if not self._started:
            raise IllegalStateError("AIOKafkaConsumer is not started: await consumer.start() first")
        return self._core

    # --- subscriptions -------------------------------------------------------------------------

    def subscribe(self, topics: Iterable[str] = (), pattern: Any = None, listener: Any = None) -> None:
        """Subscribe to topics or a regex pattern (group_id required). The listener's callbacks may be
        coroutine functions; they run on this loop during getone()/getmany()."""
        if isinstance(topics, str):
            raise TypeError(f"subscribe() takes a list of topics, got the string {topics!r}")
        self._check().subscribe(list(topics), pattern, listener)

    def subscription(self) -> set[str] | None:
        subs = self._core.subs.subscription
        return set(subs) if subs is not None else None

    async def unsubscribe(self) -> None:
        """Give up the subscription (revoking through the listener) or the manual assignment."""
        await self._check().unsubscribe()

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Manually assign a list of TopicPartitions (no group management)."""
        if isinstance(partitions, (str, bytes)) or not hasattr(partitions, "__iter__"):
            raise TypeError(f"assign() takes a list of TopicPartition, got {partitions!r}")
        self._check().assign([_tp(tp) for tp in partitions])

    def assignment(self) -> set[TopicPartition]:
        return set(self._core.subs.assignment)

    # --- consuming -----------------------------------------------------------------------------

    @contextmanager
    def _only(self, partitions: tuple[TopicPartition, ...]) -> Iterator[None]:
        """Hold back every assigned partition not in ``partitions`` for the duration of a call."""
        if not partitions:
            yield
            return
        core = self._core
        wanted = {_tp(tp) for tp in partitions}
        for tp in wanted:
            core.subs.state(tp)  # raises for a partition that is not assigned
        held = [s for tp, s in core.subs.assignment.items() if tp not in wanted and not s.paused]
        for s in held:
            s.paused = True
        try:
            yield
        finally:
            for s in held:
                s.paused = False
            core.fetcher.wakeup()

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: float = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records of the assigned partitions (or only of ``partitions``), waiting up to timeout_ms for
        some; {} when none came. Positions move past everything returned."""
        core = self._check()
        if timeout_ms is None or timeout_ms < 0:
            raise ValueError(f"timeout_ms must be >= 0, got {timeout_ms!r}")
        if max_records is not None and (
            isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1
        ):
            raise ValueError(f"max_records must be an int >= 1, got {max_records!r}")
        with self._only(partitions):
            try:
                records = await core.poll(min(timeout_ms / 1000.0, _LONG_WAIT), max_records)
            finally:
                core.run_commit_callbacks()
        if not records and core.closed:
            raise ConsumerStoppedError("AIOKafkaConsumer was stopped while waiting for records")
        return records

    async def getone(self, *partitions: TopicPartition) -> ConsumerRecord:
        """The next record of the assigned partitions (or only of ``partitions``), waiting for it."""
        record = await self._next(partitions, math.inf)
        assert record is not None
        return record

    async def _next(self, partitions: tuple[TopicPartition, ...], idle: float) -> ConsumerRecord | None:
        """One record, advancing its partition's position by one; None after ``idle`` seconds."""
        core = self._check()
        fetcher = core.fetcher
        if not partitions and fetcher.buffer and core.can_drain_now():
            record = fetcher.next_record()  # fast path: no coroutine, no wait
            if record is not None:
                return record
        deadline = time.monotonic() + idle
        with self._only(partitions):
            while True:
                try:
                    records = await core.poll(min(deadline - time.monotonic(), _LONG_WAIT), 1)
                finally:
                    core.run_commit_callbacks()
                for batch in records.values():
                    return batch[0]
                if core.closed:
                    raise ConsumerStoppedError("AIOKafkaConsumer was stopped while waiting for a record")
                if time.monotonic() >= deadline:
                    return None

    def __aiter__(self) -> AIOKafkaConsumer:
        return self

    async def __anext__(self) -> ConsumerRecord:
        """The next record; the iteration ends when the consumer is stopped, or after
        consumer_timeout_ms without a record."""
        core = self._core
        if self._closed or core.closed:
            raise StopAsyncIteration
        fetcher = core.fetcher
        if fetcher.buffer and self._started and core.can_drain_now():
            record = fetcher.next_record()  # the fast path of _next(), inlined
            if record is not None:
                return record
        try:
            record = await self._next((), self._consumer_timeout)
        except ConsumerStoppedError:
            raise StopAsyncIteration from None
        if record is None:
            raise StopAsyncIteration
        return record

    # --- offsets -------------------------------------------------------------------------------

    async def commit(
        self, offsets: Mapping[TopicPartition, Any] | None = None, timeout_ms: float | None = None
    ) -> None:
        """Commit offsets (default: the position of every assigned partition) and wait for it."""
        core = self._check()
        try:
            await core.commit(offsets, None if timeout_ms is None else timeout_ms / 1000.0)
        finally:
            core.run_commit_callbacks()

    async def committed(
        self, partition: TopicPartition, metadata: bool = False, timeout_ms: float | None = None
    ) -> int | OffsetAndMetadata | None:
        """The group's committed offset of ``partition`` (None when nothing is committed)."""
        tp = _tp(partition)
        found = await self._check().committed([tp], None if timeout_ms is None else timeout_ms / 1000.0)
        om = found.get(tp)
        if om is None:
            return None
        return om if metadata else om.offset

    async def position(self, partition: TopicPartition, timeout_ms: float | None = None) -> int:
        """The offset of the next record this consumer will return for ``partition``."""
        return await self._check().position(
            _tp(partition), None if timeout_ms is None else timeout_ms / 1000.0
        )

    def highwater(self, partition: TopicPartition) -> int | None:
        """The last known high watermark of an assigned partition (None before any fetch)."""
        return self._core.highwater(partition)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make the next getone()/getmany() of ``partition`` start at ``offset``."""
        self._check().seek(partition, offset)

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Move to the first available offset of ``partitions`` (all assigned when none given)."""
        self._check().seek_to(partitions, "earliest")

    async def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Move past the last record of ``partitions`` (all assigned when none given)."""
        self._check().seek_to(partitions, "latest")

    def pause(self, *partitions: TopicPartition) -> None:
        self._check().pause(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._check().resume(partitions)

    def paused(self) -> set[TopicPartition]:
        return self._core.subs.paused_partitions()

    async def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int], timeout_ms: float | None = None
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """The earliest offset whose timestamp is >= the given one, per partition (None if none)."""
        return await self._check().offsets_for_times(
            timestamps, None if timeout_ms is None else timeout_ms / 1000.0
        )

    async def beginning_offsets(
        self, partitions: Iterable[TopicPartition], timeout_ms: float | None = None
    ) -> dict[TopicPartition, int]:
        return await self._check().list_offsets(
            partitions, EARLIEST, None if timeout_ms is None else timeout_ms / 1000.0
        )

    async def end_offsets(
        self, partitions: Iterable[TopicPartition], timeout_ms: float | None = None
    ) -> dict[TopicPartition, int]:
        """Offset of the next record to be written (last + 1) per partition."""
        return await self._check().list_offsets(
            partitions, LATEST, None if timeout_ms is None else timeout_ms / 1000.0
        )

    # --- metadata and status -------------------------------------------------------------------

    async def topics(self) -> set[str]:
        return set(await self._check().topics())

    async def partitions_for_topic(self, topic: str) -> set[int] | None:
        return await self._check().partitions_for_topic(topic)

    def bootstrap_connected(self) -> bool:
        return self._core.client.bootstrap_connected()

    def metrics(self, raw: bool = False) -> dict[Any, Any]:
        self._core.fetcher.count_fast()
        if raw:
            return dict(self._core.metrics.report())
        return self._core.metrics.grouped()

    def group_metadata(self) -> ConsumerGroupMetadata:
        return self._core.group_metadata()
