"""KafkaConsumer: kafka-python's consumer API as a thin synchronous facade over ConsumerCore.

How it works: the constructor validates every keyword (unknown key or bad value -> error at once),
starts one background event-loop thread (``LoopThread``) and bootstraps a ``ConsumerCore`` on it.
Each method runs the matching core coroutine on that loop and waits for it. Rebalance listener
callbacks come back to the caller's thread: the core's ``invoke`` puts the call on a queue that the
waiting thread serves (``_Bridge``), so they run inside poll() on the consumer's own thread while
heartbeats go on in the background. The hot paths skip the loop entirely when they can: poll() and
iteration drain the fetcher's buffer of decoded batches directly when it holds data and no group
work is due, and iteration walks one batch (a list) per step, advancing the position as each record
is handed out and stopping at once if the partition was sought, paused or revoked meanwhile.

What it must never do: run a listener on another thread than the one calling poll() (or close()),
hand records across threads one at a time, or leave the loop thread running after close(). It is
not thread-safe, except close().
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import math
import queue
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from kafkakit.client.config import resolve_config
from kafkakit.client.consumer.coordinator import ConsumerGroupMetadata
from kafkakit.client.consumer.core import ConsumerCore
from kafkakit.client.consumer.fetcher import EARLIEST, LATEST, FetchedBatch
from kafkakit.client.consumer.records import ConsumerRecord
from kafkakit.client.loop import LoopThread
from kafkakit.errors import IllegalStateError, KafkaTimeoutError
from kafkakit.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

__all__ = ["KafkaConsumer"]

T = TypeVar("T")
_FOREVER = 365 * 24 * 3600.0


_DONE = object()
_WAKE = object()


class _Bridge:
    """Runs coroutines on the loop thread while serving listener calls on the waiting thread.

    Each ``run`` waits on a queue of its own (so a ``close()`` from another thread never steals the
    consumer thread's completion); listener calls wait in ``pending`` until a run that serves them
    (one started by poll, iteration, unsubscribe or close) picks them up.
    """

    def __init__(self, loop_thread: LoopThread) -> None:
        self.lt = loop_thread
        self.pending: collections.deque[Any] = collections.deque()
        self.listening: list[queue.SimpleQueue[Any]] = []

    async def invoke(self, fn: Callable[..., Any], *args: Any) -> Any:
        """(loop side) Ask the consumer's thread to run ``fn(*args)`` and wait for its result."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending.append((fn, args, fut))
        for q in list(self.listening):
            q.put(_WAKE)
        return await fut

    def _serve_pending(self) -> None:
        while self.pending:
            try:
                fn, args, fut = self.pending.popleft()
            except IndexError:
                return
            loop = self.lt.loop

            def settle(ok: bool, value: Any, fut: asyncio.Future[Any] = fut) -> None:
                if not fut.done():
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)

            try:
                result = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed back to the waiting coroutine
                loop.call_soon_threadsafe(settle, False, exc)
            else:
                loop.call_soon_threadsafe(settle, True, result)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None, listeners: bool = False) -> T:
        myq: queue.SimpleQueue[Any] = queue.SimpleQueue()
        cfut = self.lt.submit(coro)
        cfut.add_done_callback(lambda _f: myq.put(_DONE))
        deadline = None if timeout is None else time.monotonic() + timeout
        if listeners:
            self.listening.append(myq)
        try:
            while True:
                if listeners:
                    self._serve_pending()
                remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
                try:
                    item = myq.get(timeout=remaining)
                except queue.Empty:
                    cfut.cancel()
                    raise KafkaTimeoutError(f"operation did not complete within {timeout} s") from None
                if item is _DONE:
                    if listeners:
                        self._serve_pending()
                    return cfut.result()
        finally:
            if listeners:
                self.listening.remove(myq)


class KafkaConsumer:
    """Consume records from Kafka (kafka-python's API; see ../shared/spec/api.md)."""

    def __init__(self, *topics: str, **configs: Any) -> None:
        self.config = resolve_config("consumer", configs)
        ct = self.config["consumer_timeout_ms"]
        self._consumer_timeout = math.inf if ct is None or math.isinf(ct) else ct / 1000.0
        self._closed = False
        self._iterator: Iterator[ConsumerRecord] | None = None
        self._iter_batch: FetchedBatch | None = None
        self._lt = LoopThread(f"kafkakit-consumer-{self.config['client_id']}").start()
        self._bridge = _Bridge(self._lt)
        self._core: ConsumerCore = self._lt.run(self._make_core(), timeout=10)
        try:
            self._lt.run(self._core.start(), timeout=self.config["bootstrap_timeout_ms"] / 1000.0 + 5)
            if topics:
                self.subscribe(topics=list(topics))
        except BaseException:
            self._shutdown_loop()
            raise

    async def _make_core(self) -> ConsumerCore:
        return ConsumerCore(self.config, invoke=self._bridge.invoke)

    def _shutdown_loop(self) -> None:
        try:
            self._lt.run(self._core.close(autocommit=False, timeout=1.0), timeout=5)
        except Exception:  # noqa: BLE001,S110 - best effort while failing
            pass
        self._lt.stop()

    # --- plumbing ----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise IllegalStateError("this KafkaConsumer is closed")

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None, listeners: bool = False) -> T:
        self._check_open()
        return self._bridge.run(coro, timeout, listeners)

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain core method on the loop thread."""

        async def call() -> T:
            return fn(*args)

        return self._run(call())

    @staticmethod
    def _timeout(timeout_ms: float | None) -> float | None:
        return None if timeout_ms is None else timeout_ms / 1000.0

    # --- subscriptions -------------------------------------------------------------------------------

    def subscribe(self, topics: Any = (), pattern: Any = None, listener: Any = None) -> None:
        """Subscribe to topics (a list) or a regex pattern; partitions come from the group."""
        self._call(self._core.subscribe, topics, pattern, listener)
        self._iterator = None

    def subscription(self) -> set[str] | None:
        subs = self._core.subs.subscription
        return set(subs) if subs is not None else None

    def unsubscribe(self) -> None:
        self._run(self._core.unsubscribe(), listeners=True)
        self._iterator = None

    def assign(self, partitions: Any) -> None:
        """Manually assign a list of TopicPartitions (no group management)."""
        if isinstance(partitions, (str, bytes)) or not hasattr(partitions, "__iter__"):
            raise TypeError(f"assign() takes a list of TopicPartition, got {partitions!r}")
        self._call(self._core.assign, list(partitions))
        self._iterator = None

    def assignment(self) -> set[TopicPartition]:
        return set(self._core.subs.assignment)

    # --- consuming --------------------------------------------------------------------------------------

    def poll(
        self, timeout_ms: float = 0, max_records: int | None = None, update_offsets: bool = True
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records from the assigned partitions, waiting up to timeout_ms for some."""
        self._check_open()
        if timeout_ms is None or timeout_ms < 0:
            raise ValueError(f"timeout_ms must be >= 0, got {timeout_ms!r}")
        if max_records is None:
            max_records = self.config["max_poll_records"]
        elif isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise ValueError(f"max_records must be an int >= 1, got {max_records!r}")
        core = self._core
        if self._iter_batch is not None:
            self._requeue_iteration()
        if core.fetcher.buffer and core.can_drain_now():
            records = core.fetcher.drain(max_records, update_offsets)
            if records:
                return records
        try:
            return self._run(core.poll(timeout_ms / 1000.0, max_records, update_offsets), listeners=True)
        finally:
            core.run_commit_callbacks()

    def __iter__(self) -> Iterator[ConsumerRecord]:
        it = self._iterator
        if it is None or it.gi_frame is None:  # type: ignore[attr-defined]
            it = self._iterator = self._records()
        return it

    def __next__(self) -> ConsumerRecord:
        return next(self.__iter__())

    def _requeue_iteration(self) -> None:
        """poll() after iterating part of a batch: put the records not yet handed out back in front."""
        batch, self._iter_batch = self._iter_batch, None
        self._iterator = None
        if batch is None or batch.stale():
            return
        state = batch.state
        position = state.position if state.position is not None else -1
        rest = [r for r in batch.records if r.offset >= position]
        if len(rest) < len(batch.records):  # the iterator counts a batch when it ends: count what it gave
            self._core.fetcher.metrics.records_consumed.record(len(batch.records) - len(rest))
        if rest:
            again = FetchedBatch(batch.tp, state, batch.generation, rest, batch.next_offset)
            again.counted = True
            self._core.fetcher.buffer.appendleft(again)

    def _records(self) -> Iterator[ConsumerRecord]:
        core = self._core
        fetcher = core.fetcher
        take = fetcher.take
        buffer = fetcher.buffer
        consumed = fetcher.metrics.records_consumed
        idle_since = time.monotonic()
        while True:
            batch = take() if buffer and core.can_drain_now() else None
            if batch is None:
                if self._closed:
                    return
                remaining = self._consumer_timeout - (time.monotonic() - idle_since)
                if remaining <= 0:
                    return
                try:
                    batch = self._run(core.next_batch(min(remaining, _FOREVER)), listeners=True)
                except (IllegalStateError, concurrent.futures.CancelledError):
                    # closed from another thread while waiting: close() fails or cancels the wait
                    if self._closed or core.closed:
                        return
                    raise
                finally:
                    core.run_commit_callbacks()
                if batch is None:
                    continue
            state = batch.state
            generation = batch.generation
            records = batch.records
            if state.generation != generation:
                continue
            self._iter_batch = batch
            handed = len(records)
            for record in records:
                if state.generation != generation:
                    handed = records.index(record)  # (rare: a seek or revocation mid-batch)
                    break
                state.position = record.offset + 1
                yield record
            else:
                if state.generation == generation and records:
                    state.leader_epoch = records[-1].leader_epoch
                    if batch.next_offset > state.position:  # type: ignore[operator]
                        state.position = batch.next_offset
            self._iter_batch = None
            if handed:
                consumed.record(handed)
                idle_since = time.monotonic()

    # --- offsets ------------------------------------------------------------------------------------

    def commit(
        self, offsets: dict[TopicPartition, Any] | None = None, timeout_ms: float | None = None
    ) -> None:
        """Commit offsets (default: the position of every assigned partition); blocks until done."""
        try:
            self._run(self._core.commit(offsets, self._timeout(timeout_ms)))
        finally:
            self._core.run_commit_callbacks()

    def commit_async(
        self, offsets: dict[TopicPartition, Any] | None = None, callback: Callable[..., Any] | None = None
    ) -> concurrent.futures.Future[None]:
        """Commit in the background; ``callback(offsets, exception_or_None)`` runs in a later poll()."""
        core = self._core

        async def start() -> asyncio.Future[None]:
            return core.commit_async(offsets, callback)

        inner = self._run(start())
        out: concurrent.futures.Future[None] = concurrent.futures.Future()

        def done(f: asyncio.Future[None]) -> None:
            if f.cancelled():
                out.cancel()
            elif f.exception() is not None:
                out.set_exception(f.exception())
            else:
                out.set_result(None)

        self._lt.call_soon_threadsafe(inner.add_done_callback, done)
        return out

    def committed(
        self, partition: TopicPartition, metadata: bool = False, timeout_ms: float | None = None
    ) -> int | OffsetAndMetadata | None:
        """The group's committed offset of ``partition`` (None when nothing is committed)."""
        found = self._run(self._core.committed([partition], self._timeout(timeout_ms)))
        om = found.get(TopicPartition(*partition))
        if om is None:
            return None
        return om if metadata else om.offset

    def position(self, partition: TopicPartition, timeout_ms: float | None = None) -> int:
        """The offset of the next record this consumer will return for ``partition``."""
        state = self._core.subs.assignment.get(partition)  # type: ignore[call-overload]
        if state is not None and state.position is not None:
            return int(state.position)
        return self._run(self._core.position(partition, self._timeout(timeout_ms)))

    def highwater(self, partition: TopicPartition) -> int | None:
        """The last known high watermark of an assigned partition (None before any fetch)."""
        return self._core.highwater(partition)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._call(self._core.seek, partition, offset)

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self._call(self._core.seek_to, partitions, "earliest")

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        self._call(self._core.seek_to, partitions, "latest")

    def pause(self, *partitions: TopicPartition) -> None:
        self._call(self._core.pause, partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._call(self._core.resume, partitions)

    def paused(self) -> set[TopicPartition]:
        return self._core.subs.paused_partitions()

    def offsets_for_times(
        self, timestamps: dict[TopicPartition, int], timeout_ms: float | None = None
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        """The earliest offset whose timestamp is >= the given one, per partition (None if there is none)."""
        return self._run(self._core.offsets_for_times(timestamps, self._timeout(timeout_ms)))

    def beginning_offsets(
        self, partitions: Any, timeout_ms: float | None = None
    ) -> dict[TopicPartition, int]:
        return self._run(self._core.list_offsets(partitions, EARLIEST, self._timeout(timeout_ms)))

    def end_offsets(self, partitions: Any, timeout_ms: float | None = None) -> dict[TopicPartition, int]:
        return self._run(self._core.list_offsets(partitions, LATEST, self._timeout(timeout_ms)))

    # --- metadata and status ------------------------------------------------------------------------

    def topics(self) -> set[str]:
        return set(self._run(self._core.topics()))

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._run(self._core.partitions_for_topic(topic))

    def bootstrap_connected(self) -> bool:
        return self._core.client.bootstrap_connected()

    def metrics(self, raw: bool = False) -> dict[Any, Any]:
        self._core.fetcher.count_fast()
        if raw:
            return dict(self._core.metrics.report())
        return self._core.metrics.grouped()

    def group_metadata(self) -> ConsumerGroupMetadata:
        return self._core.group_metadata()

    # --- closing -------------------------------------------------------------------------------------

    def close(self, autocommit: bool = True, timeout_ms: float | None = None) -> None:
        """Commit (with enable_auto_commit and autocommit=True), leave the group, release everything.
        Idempotent; safe to call from another thread."""
        if self._closed:
            return
        timeout = self._timeout(timeout_ms)
        try:
            self._bridge.run(
                self._core.close(autocommit, timeout), None if timeout is None else timeout + 5, True
            )
        finally:
            self._closed = True
            self._lt.stop()

    def __enter__(self) -> KafkaConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
