"""RecordAccumulator: per-partition queues of open batches, filled by send() in the caller's thread.

How it works: a record goes into the last open batch of its partition under the accumulator lock
(the common case is inlined in the producer core's send() closure; ``append()`` here handles the
rest). A new ``ProducerBatch`` is charged ``max(batch_size, record size)`` bytes of the
buffer-memory pool when it is created (as the Java client allocates a batch buffer), so appending
to an open batch never touches the pool. Records are kept as tuples ``(timestamp_ms, key, value,
headers)``; the record's ``FutureRecordMetadata`` is just (batch, index). The sender is woken
(through ``wake``, thread-safe) only when a batch becomes ready to go: it filled up, or it is new
and its linger deadline comes before the sender's next scheduled check. The sender (on the event
loop) pops ready batches under the same lock, encodes them in bulk and later completes them with
``complete_many()``, which returns their memory to the pool (waking blocked senders) and runs the
records' callbacks. When the pool cannot give a new batch its memory ``append()`` returns None and
the caller waits with ``wait_for_space()`` (threads) or ``space_future()`` (asyncio), bounded by
max_block_ms.

What it must never do: hold the lock while encoding, waking or running callbacks; wake the sender
per record; lose a batch (every batch is in ``incomplete`` until ``complete()`` ran for it);
complete a batch twice; remove/replace a partition's deque in ``batches``; take a batch out of
its deque without sealing it, or open a batch before the partition's last one is sealed (send()
keeps the last partition's open batch and appends to it while it is unsealed).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from kafkakit.client.producer.future import FutureRecordMetadata, record_metadata, run_callback
from kafkakit.errors import IllegalStateError

log = logging.getLogger(__name__)

__all__ = ["ProducerBatch", "RecordAccumulator"]

RecordTuple = tuple[int, Any, Any, Any]


class ProducerBatch:
    """The records of one partition that go to the broker together, and their common outcome."""

    __slots__ = (
        "topic",
        "partition",
        "records",
        "size",
        "charged",
        "created",
        "sealed",
        "attempts",
        "retry_at",
        "in_flight",
        "drained_at",
        "base_offset",
        "log_append_time",
        "log_start_offset",
        "error",
        "done",
        "settled",
        "_completer",
        "producer_id",
        "producer_epoch",
        "base_sequence",
        "encoded",
        "encoded_for",
        "_event",
        "_callbacks",
        "_hooks",
        "_lock",
        "piece_start",
        "piece_end",
        "piece_limit",
        "segments",
    )

    def __init__(self, topic: str, partition: int, lock: threading.RLock, created: float) -> None:
        self.topic = topic
        self.partition = partition
        self.records: list[RecordTuple] = []
        self.size = 0
        self.charged = 0  # buffer memory held until completion
        self.created = created
        self.sealed = False
        self.attempts = 0
        self.retry_at = 0.0
        self.in_flight = False
        self.drained_at = 0.0
        self.base_offset = -1
        self.log_append_time = -1
        self.log_start_offset = -1
        self.error: BaseException | None = None
        self.done = False
        self.settled = False
        self._completer = 0
        self.producer_id = -1
        self.producer_epoch = -1
        self.base_sequence = -1
        self.encoded: bytes | None = None
        self.encoded_for: tuple[int, int, int] | None = None
        self._event: threading.Event | None = None
        self._callbacks: list[tuple[int, Callable[..., Any], tuple[Any, ...], bool]] | None = None
        self._hooks: list[Callable[[Any], None]] | None = None
        self._lock = lock
        # split sending (the broker refused the batch as too large: see Sender._split): records
        # before piece_start are settled, each run of them in ``segments`` as (first index, base
        # offset, log-append time, error); the piece in flight is [piece_start, piece_end) and has
        # at most piece_limit records (0: the batch is sent whole)
        self.piece_start = 0
        self.piece_end = 0
        self.piece_limit = 0
        self.segments: list[tuple[int, int, int, BaseException | None]] | None = None

    def segment_of(self, index: int) -> tuple[int, int, int, BaseException | None] | None:
        """The settled piece holding record ``index`` of a batch that was sent in pieces, else None."""
        segs = self.segments
        if segs is None or index >= self.piece_start:
            return None
        return segs[bisect_right(segs, index, key=itemgetter(0)) - 1]

    def error_at(self, index: int) -> BaseException | None:
        """The outcome's error for record ``index`` (pieces may differ; else the batch's)."""
        seg = self.segments is not None and self.segment_of(index)
        return seg[3] if seg else self.error

    def wait(self, timeout: float | None) -> bool:
        """Wait until the outcome is known and the callbacks ran (at once inside a callback)."""
        with self._lock:
            if self.settled or (self.done and self._completer == threading.get_ident()):
                return True
            ev = self._event
            if ev is None:
                ev = self._event = threading.Event()
        return ev.wait(timeout)

    def add_callback(self, index: int, fn: Callable[..., Any], args: tuple[Any, ...], errback: bool) -> None:
        with self._lock:
            if not self.done:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append((index, fn, args, errback))
                return
        self._fire_one(index, fn, args, errback)

    def add_hook(self, fn: Callable[[Any], None]) -> None:
        """``fn(batch)`` once the batch is done (internal: awaiting, flush)."""
        with self._lock:
            if not self.done:
                if self._hooks is None:
                    self._hooks = []
                self._hooks.append(fn)
                return
        fn(self)

    def _fire_one(self, index: int, fn: Callable[..., Any], args: tuple[Any, ...], errback: bool) -> None:
        err = self.error if self.segments is None else self.error_at(index)
        if err is None and not errback:
            run_callback(fn, args, record_metadata(self, index))
        elif err is not None and errback:
            run_callback(fn, args, err)

    def _finish(self) -> None:
        """Mark done, run the callbacks, then release waiters (so get() returns after the callbacks
        ran, as in kafka-python); called once, by the completing thread."""
        with self._lock:
            if self.done:
                return
            self.done = True
            self._completer = threading.get_ident()
            ev, cbs, hooks = self._event, self._callbacks, self._hooks
            self._callbacks = self._hooks = None
        if cbs:
            for index, fn, args, errback in cbs:
                self._fire_one(index, fn, args, errback)
        with self._lock:
            self.settled = True
            ev = self._event
        if ev is not None:
            ev.set()
        if hooks:
            for h in hooks:
                try:
                    h(self)
                except Exception:  # pragma: no cover - internal hooks
                    log.exception("producer batch hook %r failed", h)

    @property
    def record_count(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return (
            f"<ProducerBatch {self.topic}-{self.partition} records={len(self.records)} "
            f"seq={self.base_sequence} attempts={self.attempts} done={self.done}>"
        )


class RecordAccumulator:
    """Thread-safe per-partition batch queues plus the buffer-memory pool (see module docstring)."""

    def __init__(
        self,
        *,
        batch_size: int,
        buffer_memory: int,
        linger_ms: int,
        wake: Callable[[], None],
    ) -> None:
        # reentrant only so that send()'s fast path can tell whether it holds it (see make_send)
        self.lock = threading.RLock()
        self._space = threading.Condition(self.lock)
        self.batch_size = batch_size
        self.buffer_memory = buffer_memory
        self.linger = linger_ms / 1000.0
        self.free = buffer_memory
        self.batches: dict[tuple[str, int], deque[ProducerBatch]] = {}
        self.incomplete: set[ProducerBatch] = set()
        self.flushing = 0
        self.closed = False
        self.wakeup_pending = False
        # monotonic time of the sender's next scheduled look at the queues (inf: none scheduled)
        self.sender_deadline = 0.0
        # locks held by threads in send() waiting for the next sender pass to end (core._handoff)
        self.pass_waiters: list[threading.Lock] = []
        self._wake = wake
        self._thread_waiters = 0
        self._async_waiters: list[asyncio.Future[None]] = []

    # --- the send() path (any thread) ----------------------------------------------------------

    def append(
        self, topic: str, partition: int, record: RecordTuple, size: int
    ) -> FutureRecordMetadata | None:
        """Add one record; its future, or None when the pool cannot give a new batch its memory.

        A new batch is charged ``max(batch_size, size)`` bytes of buffer memory at once (as the
        Java client allocates a batch buffer), so appending to an open batch never touches the pool.
        """
        key = (topic, partition)
        wake = False
        fut: FutureRecordMetadata | None = None
        with self.lock:
            if self.closed:
                raise IllegalStateError("the producer is closed: cannot send more records")
            dq = self.batches.get(key)
            if dq is None:
                dq = self.batches[key] = deque()
            elif dq:
                b = dq[-1]
                if not b.sealed:
                    if b.size + size <= self.batch_size:
                        recs = b.records
                        recs.append(record)
                        b.size += size
                        fut = FutureRecordMetadata((b, len(recs) - 1))
                        if b.size < self.batch_size:
                            return fut
                        b.sealed = True  # full: ready to go now
                        if self.wakeup_pending:
                            return fut
                        self.wakeup_pending = True
                    else:
                        b.sealed = True  # no room for this record: the full batch goes now
                        if not self.wakeup_pending:
                            self.wakeup_pending = wake = True
            if fut is None:
                charge = self.charge_for(size)
                if self.free < charge:
                    fut = None
                else:
                    self.free -= charge
                    now = time.monotonic()
                    b = ProducerBatch(topic, partition, self.lock, now)
                    b.records.append(record)
                    b.size = size
                    b.charged = charge
                    dq.append(b)
                    self.incomplete.add(b)
                    if (
                        size >= self.batch_size or now + self.linger < self.sender_deadline
                    ) and not self.wakeup_pending:
                        self.wakeup_pending = wake = True
                    fut = FutureRecordMetadata((b, 0))
        if wake:
            self._wake()
        return fut

    def charge_for(self, size: int) -> int:
        """Bytes of buffer memory a new batch starting with a ``size``-byte record takes."""
        return min(max(self.batch_size, size), self.buffer_memory)

    def wait_for_space(self, size: int, timeout: float) -> bool:
        """Block (not on the event loop!) until ``size`` bytes are free or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self.lock:
            self._thread_waiters += 1
            try:
                while self.free < size and not self.closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._space.wait(remaining)
                return True
            finally:
                self._thread_waiters -= 1

    def space_future(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """A future resolved (thread-safely) the next time buffer memory is released."""
        fut: asyncio.Future[None] = loop.create_future()
        with self.lock:
            self._async_waiters.append(fut)
        return fut

    # --- the sender side (event loop) ----------------------------------------------------------

    def release_pass_waiters(self) -> None:
        """A sender pass ended: let the threads waiting for it in send() go on."""
        with self.lock:
            waiters, self.pass_waiters = self.pass_waiters, []
        for w in waiters:
            w.release()

    def release(self, nbytes: int) -> None:
        with self.lock:
            self._release_locked(nbytes)
        self._wake_async_waiters()

    def _release_locked(self, nbytes: int) -> None:
        self.free += nbytes
        if self._thread_waiters:
            self._space.notify_all()

    def _wake_async_waiters(self) -> None:
        if not self._async_waiters:
            return
        with self.lock:
            waiters, self._async_waiters = self._async_waiters, []
        for fut in waiters:
            loop = fut.get_loop()
            if not loop.is_closed():
                loop.call_soon_threadsafe(_set_none, fut)

    def complete(
        self,
        batch: ProducerBatch,
        base_offset: int = -1,
        log_append_time: int = -1,
        error: BaseException | None = None,
        log_start_offset: int = -1,
    ) -> bool:
        """Record the outcome, return the batch's memory and run its callbacks; False if already done."""
        return self.complete_many([(batch, base_offset, log_append_time, error, log_start_offset)]) == 1

    def complete_many(
        self, outcomes: Sequence[tuple[ProducerBatch, int, int, BaseException | None, int]]
    ) -> int:
        """``complete()`` for several batches under one acquisition of the lock; returns how many."""
        done: list[ProducerBatch] = []
        with self.lock:
            freed = 0
            for batch, base_offset, log_append_time, error, log_start_offset in outcomes:
                if batch.done or batch not in self.incomplete:
                    continue
                self.incomplete.discard(batch)
                batch.sealed = True  # (send() may hold on to it as a partition's open batch)
                batch.base_offset = base_offset
                batch.log_append_time = log_append_time
                batch.log_start_offset = log_start_offset
                batch.error = error
                batch.in_flight = False
                batch.encoded = None
                freed += batch.charged
                batch.charged = 0
                done.append(batch)
            if freed:
                self._release_locked(freed)
        self._wake_async_waiters()
        for batch in done:
            batch._finish()
        return len(done)

    def reenqueue(self, batch: ProducerBatch, retry_at: float, *, by_sequence: bool) -> None:
        """Put a failed batch back at the front of its partition queue for another attempt.

        ``by_sequence`` keeps retried idempotent batches ordered by their base sequence.
        """
        with self.lock:
            batch.sealed = True
            batch.in_flight = False
            batch.retry_at = retry_at
            key = (batch.topic, batch.partition)
            dq = self.batches.get(key)
            if dq is None:
                dq = self.batches[key] = deque()
            # keep retried batches in their original order: by sequence when idempotent, else by age
            i = 0
            for other in dq:
                if by_sequence and batch.base_sequence >= 0:
                    if other.base_sequence < 0 or other.base_sequence > batch.base_sequence:
                        break
                elif other.created > batch.created or not other.sealed:
                    break
                i += 1
            dq.insert(i, batch)

    def begin_flush(self) -> list[ProducerBatch]:
        """Make every queued batch ready now; return the batches a flush has to wait for."""
        with self.lock:
            self.flushing += 1
            pending = list(self.incomplete)
            self.wakeup_pending = True
        self._wake()
        return pending

    def end_flush(self) -> None:
        with self.lock:
            self.flushing = max(0, self.flushing - 1)

    def close(self) -> None:
        """Refuse further appends; queued batches still go out (everything is ready when closed)."""
        with self.lock:
            self.closed = True
            self._space.notify_all()
            self.wakeup_pending = True
        self._wake()

    def has_incomplete(self) -> bool:
        with self.lock:
            return bool(self.incomplete)

    def queued_batches(self) -> list[ProducerBatch]:
        with self.lock:
            return [b for dq in self.batches.values() for b in dq]

    def abort(self, error: BaseException, batches: Sequence[ProducerBatch] | None = None) -> int:
        """Fail the given batches (default: every incomplete one) with ``error``; return how many."""
        with self.lock:
            targets = list(self.incomplete) if batches is None else [b for b in batches if not b.done]
            for dq in self.batches.values():
                for b in list(dq):
                    if b in targets:
                        b.sealed = True
                        dq.remove(b)
        n = 0
        for b in targets:
            if self.complete(b, error=error):
                n += 1
        return n


def _set_none(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
