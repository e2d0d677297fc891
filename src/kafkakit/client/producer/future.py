"""FutureRecordMetadata and RecordMetadata: the per-record result handle returned by send().

How it works: a record's future holds only a reference to its ``ProducerBatch`` and its index in
it (it is the tuple ``(batch, index)``, of a tuple subclass), so send() allocates one tiny object
per record, without running any Python code to build it. The batch carries the outcome (base offset,
log-append time, error), a lazily created ``threading.Event`` for ``get()``, and the list of
callbacks/errbacks registered on its records. ``RecordMetadata`` is computed on demand: offset =
base offset + index (-1 when acks=0), timestamp = the record's (or the broker's log-append time).
Callbacks run once each, on the thread that completes the batch (the producer's event loop), or at
once in the registering thread when the batch is already done; an exception raised by a callback is
logged, never lost and never propagated into the producer. The future is also awaitable from any
event loop.

What it must never do: run a callback twice, block the event loop, or let a callback's exception
escape into the sender.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, NamedTuple

from kafkakit.errors import KafkaTimeoutError
from kafkakit.structs import TopicPartition

if TYPE_CHECKING:
    from kafkakit.client.producer.accumulator import ProducerBatch

log = logging.getLogger(__name__)

__all__ = ["FutureRecordMetadata", "RecordMetadata"]


class RecordMetadata(NamedTuple):
    topic: str
    partition: int
    topic_partition: TopicPartition
    offset: int
    timestamp: int
    checksum: int | None
    serialized_key_size: int
    serialized_value_size: int
    serialized_header_size: int


def _header_size(headers: Any) -> int:
    if not headers:
        return -1
    return sum(len(k.encode("utf-8")) + (len(v) if v is not None else 0) for k, v in headers)


def record_metadata(batch: ProducerBatch, index: int) -> RecordMetadata:
    ts, key, value, headers = batch.records[index]
    seg = batch.segment_of(index) if batch.segments is not None else None
    if seg is None:
        offset = batch.base_offset + index if batch.base_offset >= 0 else -1
        log_append_time = batch.log_append_time
    else:  # sent in pieces: offsets run on from each piece's base offset
        offset = seg[1] + index - seg[0] if seg[1] >= 0 else -1
        log_append_time = seg[2]
    if log_append_time >= 0:
        ts = log_append_time
    return RecordMetadata(
        batch.topic,
        batch.partition,
        TopicPartition(batch.topic, batch.partition),
        offset,
        ts,
        None,
        len(key) if key is not None else -1,
        len(value) if value is not None else -1,
        _header_size(headers),
    )


def run_callback(fn: Callable[..., Any], args: tuple[Any, ...], arg: Any) -> None:
    try:
        fn(*args, arg)
    except Exception:
        log.exception("error in producer future callback %r", fn)


class FutureRecordMetadata(tuple):  # type: ignore[type-arg]
    """The result of one send(): get(timeout), add_callback/add_errback, is_done, awaitable.

    Built as ``FutureRecordMetadata((batch, index))``: a tuple subclass, because send() makes one
    per record and a tuple subclass is created and freed by C code alone (no ``__init__`` frame),
    about twice as fast as a class with ``__slots__``. Compare futures by identity.
    """

    __slots__ = ()

    @property
    def _batch(self) -> ProducerBatch:
        return self[0]  # type: ignore[no-any-return]

    @property
    def _index(self) -> int:
        return self[1]  # type: ignore[no-any-return]

    # --- state -----------------------------------------------------------------------------

    @property
    def is_done(self) -> bool:
        return self[0].done

    def succeeded(self) -> bool:
        b = self[0]
        return b.done and b.error_at(self[1]) is None

    def failed(self) -> bool:
        b = self[0]
        return b.done and b.error_at(self[1]) is not None

    def retriable(self) -> bool:
        err = self[0].error_at(self[1])
        return bool(getattr(err, "retriable", False))

    @property
    def exception(self) -> BaseException | None:
        b = self[0]
        return b.error_at(self[1]) if b.done else None

    @property
    def value(self) -> RecordMetadata | None:
        b = self[0]
        if b.done and b.error_at(self[1]) is None:
            return record_metadata(b, self[1])
        return None

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self[0].topic, self[0].partition)

    # --- waiting ---------------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> RecordMetadata:
        """Wait up to ``timeout`` seconds (forever when None) for the outcome; raise its error."""
        b = self[0]
        if not b.settled:
            if not b.wait(timeout):
                raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")
        err = b.error if b.segments is None else b.error_at(self[1])
        if err is not None:
            raise err
        return record_metadata(b, self[1])

    def __await__(self) -> Generator[Any, None, RecordMetadata]:
        b = self[0]
        if not b.done:
            loop = asyncio.get_running_loop()
            fut: asyncio.Future[None] = loop.create_future()

            def wake(_arg: Any) -> None:
                loop.call_soon_threadsafe(_resolve, fut)

            b.add_hook(wake)
            yield from fut.__await__()
        return self.get(0)

    # --- callbacks -------------------------------------------------------------------------

    def add_callback(self, fn: Callable[..., Any], *args: Any) -> FutureRecordMetadata:
        """Call ``fn(*args, record_metadata)`` once when the record is acknowledged."""
        self[0].add_callback(self[1], fn, args, False)
        return self

    def add_errback(self, fn: Callable[..., Any], *args: Any) -> FutureRecordMetadata:
        """Call ``fn(*args, exception)`` once if the record fails."""
        self[0].add_callback(self[1], fn, args, True)
        return self

    def add_both(self, fn: Callable[..., Any], *args: Any) -> FutureRecordMetadata:
        self.add_callback(fn, *args)
        self.add_errback(fn, *args)
        return self

    def __repr__(self) -> str:
        b = self[0]
        state = "pending" if not b.done else ("failed" if b.error_at(self[1]) is not None else "done")
        return f"<FutureRecordMetadata {b.topic}-{b.partition}[{self[1]}] {state}>"


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
