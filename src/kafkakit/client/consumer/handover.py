"""The consumer's hand-over: fetched batches waiting in a buffer, taken by the user's thread.

How it works: ``Fetcher`` (``kafkakit.client.consumer.fetcher``) appends ``FetchedBatch`` objects
to ``buffer``, a deque; this base class of the fetcher holds the side that takes them, from any
thread, without entering the event loop: ``drain`` (poll(): up to max_records, across batches),
``take`` (iteration: a whole batch), ``next_record`` (the asyncio iterator's one-record fast
path). A batch buffered undecoded (``pending``) is decoded where it is taken (``_materialize``). A
batch whose partition was sought, reset or revoked since it was requested (its ``generation`` is
behind) is dropped when met; a batch holding an error raises it, again and again, until the user
seeks away. Taking a batch counts it as started (``state.drained``) so the fetcher may fetch ahead.

What it must never do: hand a record out twice or skip one, hand out records of a stale batch,
raise an error before the good records ahead of it were handed out, or block.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kafkakit.client.consumer.metrics import ConsumerMetrics
from kafkakit.client.consumer.records import ConsumerRecord, decode_partition
from kafkakit.client.consumer.subscription_state import TopicPartitionState
from kafkakit.errors import KafkaError
from kafkakit.structs import TopicPartition

log = logging.getLogger("kafkakit.client.consumer.fetcher")

__all__ = ["FetchedBatch", "HandOver"]


class FetchedBatch:
    """The records of one partition from one fetch (or an error to raise), crossing to the user."""

    __slots__ = (
        "tp",
        "state",
        "generation",
        "records",
        "index",
        "next_offset",
        "error",
        "error_offset",
        "size",
        "counted",
        "pending",
        "fast",
    )

    def __init__(
        self,
        tp: TopicPartition,
        state: TopicPartitionState,
        generation: int,
        records: list[ConsumerRecord],
        next_offset: int,
        error: KafkaError | None = None,
        error_offset: int | None = None,
        size: int = 0,
    ) -> None:
        self.tp = tp
        self.state = state
        self.generation = generation
        self.records = records
        self.index = 0
        self.next_offset = next_offset
        self.error = error
        self.error_offset = error_offset
        self.size = size
        self.counted = False  # True once the user started on it (state.drained counted it)
        # (fetch offset, complete batches, aborted transactions) until decoded where taken
        self.pending: tuple[int, memoryview, Any] | None = None
        self.fast = 0  # records next_record() handed out, not yet in the records-consumed metric

    def stale(self) -> bool:
        s = self.state
        return s.generation != self.generation or s.revoked


class HandOver:
    """Taking fetched batches and records out of the buffer (see module docstring)."""

    buffer: deque[FetchedBatch]
    metrics: ConsumerMetrics
    check_crcs: bool
    read_committed: bool
    key_deserializer: Callable[[str, Any, bytes | None], Any] | None
    value_deserializer: Callable[[str, Any, bytes | None], Any] | None

    if TYPE_CHECKING:  # provided by Fetcher

        def wakeup_threadsafe(self) -> None: ...

    def _materialize(self, b: FetchedBatch) -> None:
        """Decode a lazily buffered batch in place (in the thread that takes it)."""
        assert b.pending is not None
        start, blob, aborted = b.pending
        b.pending = None
        decoded = decode_partition(
            b.tp,
            start,
            blob,
            check_crcs=self.check_crcs,
            read_committed=self.read_committed,
            aborted_transactions=aborted,
            key_deserializer=self.key_deserializer,
            value_deserializer=self.value_deserializer,
        )
        b.records = decoded.records
        if decoded.error is not None:
            b.error = decoded.error
            b.next_offset = b.error_offset = decoded.next_offset
            state = b.state
            if state.generation == b.generation:
                # stop fetching: the error stays first in line until the user seeks (which drops
                # whatever was fetched past it meanwhile)
                state.fetch_offset = None
        elif decoded.next_offset != b.next_offset:
            log.debug(
                "%s: batch headers ended at %s, records at %s", b.tp, b.next_offset, decoded.next_offset
            )
            b.next_offset = decoded.next_offset

    def _front(self, held: list[FetchedBatch]) -> FetchedBatch | None:
        """The first live batch of the buffer, decoded, left in place; stale batches ahead of it are
        dropped (counted as started, so the fetcher may go on) and paused ones moved to ``held``."""
        buf = self.buffer
        while buf:
            b = buf[0]
            state = b.state
            if state.generation != b.generation or state.revoked:
                buf.popleft()
                if not b.counted:
                    b.counted = True
                    state.drained += 1
                    self.wakeup_threadsafe()
                continue
            if state.paused:
                held.append(buf.popleft())
                continue
            if b.pending is not None:
                self._materialize(b)
            return b
        return None

    def has_data(self) -> bool:
        return bool(self.buffer)

    def drain(
        self, max_records: int, update_offsets: bool = True
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Take up to ``max_records`` records from the buffer; raise a buffered error when it is next."""
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        buf = self.buffer
        n = 0
        held: list[FetchedBatch] = []
        nudge = False
        consumed_records = 0
        consumed_bytes = 0
        self.count_fast()
        try:
            while n < max_records:
                b = self._front(held)
                if b is None:
                    break
                state = b.state
                if b.error is not None and b.index >= len(b.records):
                    if out:
                        break
                    raise b.error
                if not b.counted:
                    b.counted = True
                    state.drained += 1
                    nudge = True
                    consumed_bytes += b.size
                records = b.records
                take = (
                    records[b.index : b.index + (max_records - n)]
                    if b.index or len(records) > max_records - n
                    else records
                )
                b.index += len(take)
                n += len(take)
                consumed_records += len(take)
                if take:
                    if update_offsets:
                        last = take[-1]
                        state.position = last.offset + 1
                        state.leader_epoch = last.leader_epoch
                    lst = out.get(b.tp)
                    if lst is None:
                        out[b.tp] = take if take is not records else list(take)
                    else:
                        lst.extend(take)
                if b.index >= len(records):
                    if b.error is not None:
                        continue  # the error is raised when met again with nothing gathered
                    buf.popleft()
                    if update_offsets and b.next_offset > (state.position or 0):
                        state.position = b.next_offset
        finally:
            if held:
                buf.extendleft(reversed(held))
            if consumed_records:
                self.metrics.records_consumed.record(consumed_records)
            if consumed_bytes:
                self.metrics.bytes_consumed.record(consumed_bytes)
            if nudge:
                self.wakeup_threadsafe()
        return out

    def next_record(self) -> ConsumerRecord | None:
        """One record, as ``drain(1)`` hands it out, without building a dict: the asyncio iterator's
        fast path. A batch under way whose partition is live takes a few attribute updates per
        record; anything else (a new, stale, paused or failed batch) goes through ``drain``."""
        buf = self.buffer
        if buf:
            b = buf[0]
            state = b.state
            records = b.records
            i = b.index
            if (
                0 < i < len(records)
                and b.error is None
                and state.generation == b.generation
                and not state.revoked
                and not state.paused
            ):
                r = records[i]
                b.index = i = i + 1
                b.fast += 1
                state.position = r.offset + 1
                state.leader_epoch = r.leader_epoch
                if i >= len(records):
                    buf.popleft()
                    if b.next_offset > state.position:
                        state.position = b.next_offset
                    self.metrics.records_consumed.record(b.fast)
                    b.fast = 0
                return r
        for recs in self.drain(1).values():
            return recs[0]
        return None

    def count_fast(self) -> None:
        """Add what next_record() handed out of the first batch to the records-consumed metric (only
        the first batch can hold such a count: a batch leaves the front counted)."""
        buf = self.buffer
        if buf and buf[0].fast:
            b = buf[0]
            self.metrics.records_consumed.record(b.fast)
            b.fast = 0

    def take(self) -> FetchedBatch | None:
        """Take the next live batch whole (for iteration); raise a buffered error when it is next."""
        buf = self.buffer
        self.count_fast()
        held: list[FetchedBatch] = []
        try:
            b = self._front(held)
            if b is None:
                return None
            state = b.state
            if b.error is not None and b.index >= len(b.records):
                raise b.error
            if not b.counted:
                b.counted = True
                state.drained += 1
                self.wakeup_threadsafe()
                self.metrics.bytes_consumed.record(b.size)
            if b.error is None:
                buf.popleft()
                return b
            # hand out the good records; the error stays for the next call
            good = FetchedBatch(b.tp, state, b.generation, b.records[b.index :], b.error_offset or 0)
            good.counted = True
            b.index = len(b.records)
            return good
        finally:
            if held:
                buf.extendleft(reversed(held))
