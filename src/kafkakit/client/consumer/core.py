"""ConsumerCore: the asyncio consumer engine behind KafkaConsumer (and the asyncio consumer).

How it works: one ``ConsumerCore`` lives on one event loop and owns an ``AsyncClient`` (connections,
metadata), a ``SubscriptionState``, a ``Fetcher`` (prefetching into a buffer of decoded batches)
and, with a group_id, a ``ConsumerCoordinator``. Its coroutines are the consumer's operations:
``poll`` keeps group membership current (rebalances, listener calls through ``invoke``), resolves
missing positions (committed offset, else auto_offset_reset), and drains up to max_records from the
buffer, waiting for data until its timeout; ``next_batch`` does the same for iteration but returns a
whole ``FetchedBatch``. Offsets (commit, committed, position, seek, offsets_for_times,
beginning/end offsets) and metadata queries are coroutines too. The plain methods (``subscribe``,
``assign``, ``seek``, ``pause`` ...) must run on the loop's thread.

``invoke(fn, *args)`` is how rebalance listener callbacks run: the sync facade passes one that
executes them on the consumer's own thread; by default they are called directly on the loop (and
awaited when they return awaitables), which is what an asyncio facade wants.

What it must never do: touch the network outside its loop, call a listener except through
``invoke``, or return records of a partition from a position the user did not ask for.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from kafkakit.client.cluster import AsyncClient
from kafkakit.client.consumer.assignors import resolve_assignors
from kafkakit.client.consumer.coordinator import ConsumerCoordinator, ConsumerGroupMetadata
from kafkakit.client.consumer.fetcher import EARLIEST, LATEST, FetchedBatch, Fetcher
from kafkakit.client.consumer.metrics import ConsumerMetrics
from kafkakit.client.consumer.records import ConsumerRecord, make_deserializer
from kafkakit.client.consumer.subscription_state import SubscriptionState, SubscriptionType
from kafkakit.errors import IllegalStateError, KafkaError, KafkaTimeoutError, NoOffsetForPartitionError
from kafkakit.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

log = logging.getLogger(__name__)

__all__ = ["ConsumerCore"]

Invoke = Callable[..., Awaitable[Any]]


async def direct_invoke(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a listener on the loop itself, awaiting it when it is a coroutine function."""
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _check_tp(tp: Any) -> TopicPartition:
    if not isinstance(tp, tuple) or len(tp) != 2 or not isinstance(tp[0], str) or not isinstance(tp[1], int):
        raise TypeError(f"expected a TopicPartition(topic, partition), got {tp!r}")
    return TopicPartition(tp[0], tp[1])


class ConsumerCore:
    """The consumer engine (see module docstring). Construct and use it on one event loop."""

    def __init__(self, config: Mapping[str, Any], invoke: Invoke | None = None) -> None:
        self.config = config
        self.metrics = ConsumerMetrics(
            config.get("metric_group_prefix") or "consumer",
            int(config.get("metrics_sample_window_ms", 30000)),
            int(config.get("metrics_num_samples", 2)),
        )
        self.subs = SubscriptionState(config.get("auto_offset_reset", "latest"))
        self.client = AsyncClient(config)
        self.fetcher = Fetcher(
            self.client,
            self.subs,
            config,
            self.metrics,
            make_deserializer(config.get("key_deserializer")),
            make_deserializer(config.get("value_deserializer")),
        )
        self.assignors = resolve_assignors(config.get("partition_assignment_strategy"))
        self.invoke: Invoke = invoke or direct_invoke
        self.coordinator: ConsumerCoordinator | None = None
        if config.get("group_id") is not None:
            self.coordinator = ConsumerCoordinator(
                self.client, self.subs, config, self.metrics, self.assignors, self._invoke
            )
        else:
            self.client.add_metadata_listener(self._assign_all_subscribed)
        self.request_timeout = config.get("request_timeout_ms", 30000) / 1000.0
        self._positions_task: asyncio.Task[None] | None = None
        self._closed = False
        self.metrics.gauges[("coordinator-metrics", "assigned-partitions")] = lambda: len(
            self.subs.assignment
        )

    async def _invoke(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.invoke(fn, *args)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bootstrap (NoBrokersAvailable when no broker answers) and start prefetching."""
        await self.client.bootstrap()
        self.fetcher.start()

    async def close(self, autocommit: bool = True, timeout: float | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        timeout = self.request_timeout if timeout is None else timeout
        try:
            if self.coordinator is not None:
                await self.coordinator.close(autocommit, timeout)
        finally:
            if self._positions_task is not None:
                self._positions_task.cancel()
            await self.fetcher.close()
            await self.client.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise IllegalStateError("this consumer is closed")

    # --- subscriptions (loop thread) -----------------------------------------------------------

    def subscribe(self, topics: Iterable[str] = (), pattern: Any = None, listener: Any = None) -> None:
        """Subscribe to topics or a pattern. Without a group_id the consumer takes every partition of
        the subscribed topics itself (kafka-python's behaviour), following metadata changes."""
        self._check_open()
        self.subs.subscribe(topics, pattern, listener)
        if self.subs.subscription_type == SubscriptionType.AUTO_PATTERN:
            self.client.set_all_topics(True)
            if self.coordinator is not None:
                self.coordinator._on_metadata(self.client.cluster)
            self.client.request_update()
        else:
            self.client.add_topics(self.subs.subscription or ())
        if self.coordinator is not None:
            self.coordinator.request_rejoin("subscription changed")
        else:
            self._assign_all_subscribed()

    def _assign_all_subscribed(self, cluster: Any = None) -> None:
        """Group-less subscription: own every partition of the subscribed (or matching) topics."""
        if self.coordinator is not None or not self.subs.partitions_auto_assigned() or self._closed:
            return
        cluster = cluster or self.client.cluster
        if self.subs.subscription_type == SubscriptionType.AUTO_PATTERN:
            exclude = bool(self.config.get("exclude_internal_topics", True))
            self.subs.change_subscription(
                t for t in cluster.topics(exclude_internal_topics=exclude) if self.subs.matches_pattern(t)
            )
        wanted = [
            TopicPartition(t, p)
            for t in sorted(self.subs.subscription or ())
            for p in sorted(cluster.partitions_for_topic(t) or ())
        ]
        if set(wanted) != set(self.subs.assignment):
            self.subs.assign_from_subscribed(wanted)
            self._reset_missing_without_group()
            self.fetcher.wakeup()

    def _reset_missing_without_group(self) -> None:
        """Without a group there is no committed offset: new partitions start at the reset policy."""
        if self.coordinator is None:
            for tp in self.subs.missing_positions():
                if self.subs.offset_reset_strategy != "none":
                    self.subs.request_reset(tp)

    async def unsubscribe(self) -> None:
        self._check_open()
        if self.coordinator is not None and self.subs.partitions_auto_assigned():
            owned = set(self.subs.assignment)
            if owned:
                if self.coordinator.generation < 0:
                    await self.coordinator._invoke_listener("on_partitions_lost", owned)
                else:
                    await self.coordinator._invoke_listener("on_partitions_revoked", owned)
            await self.coordinator.leave_group("the consumer unsubscribed")
        self.subs.unsubscribe()
        self.client.set_all_topics(False)
        self.fetcher.buffer.clear()

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        self._check_open()
        tps = list(partitions)
        if not tps:
            self.subs.unsubscribe()
            return
        self.subs.assign_from_user(tps)
        self.client.add_topics({tp.topic for tp in tps})
        self._reset_missing_without_group()
        self.fetcher.wakeup()

    # --- polling --------------------------------------------------------------------------------

    async def _group_poll(self, deadline: float) -> None:
        coord = self.coordinator
        if coord is not None:
            await coord.poll(deadline)
        elif self.subs.partitions_auto_assigned() and not self.subs.assignment:
            self._assign_all_subscribed()
            if not self.subs.assignment:  # topics not in the metadata yet
                self.client.request_update()
        await self._ensure_positions(deadline)

    async def _ensure_positions(self, deadline: float) -> None:
        """Start (or keep waiting for) resolving partitions that have no position, until deadline."""
        if not self.subs.missing_positions() and not any(
            s.reset_strategy == "none" for s in self.subs.assignment.values()
        ):
            return
        task = self._positions_task
        if task is None or task.done():
            task = self._positions_task = asyncio.get_running_loop().create_task(
                self._resolve_positions(self.subs.missing_positions(), resets=False)
            )
        done, _ = await asyncio.wait({task}, timeout=max(deadline - time.monotonic(), 0))
        if done:
            self._positions_task = None
            task.result()

    async def _resolve_positions(self, tps: list[TopicPartition], resets: bool) -> None:
        """Committed offsets for ``tps`` without a position, else the reset policy; with ``resets``
        also perform pending resets now (ListOffsets) instead of leaving them to the fetcher."""
        subs = self.subs
        missing = [tp for tp in tps if tp in subs.assignment and subs.assignment[tp].position is None]
        need_lookup = [tp for tp in missing if subs.assignment[tp].reset_strategy is None]
        if need_lookup and self.coordinator is not None:
            committed = await self.coordinator.fetch_committed(need_lookup, self.request_timeout)
            for tp, om in committed.items():
                state = subs.assignment.get(tp)
                if state is None or state.position is not None or state.reset_strategy is not None:
                    continue
                if om is not None:
                    state.seek(om.offset, om.leader_epoch if om.leader_epoch >= 0 else None)
                else:
                    state.request_reset(subs.offset_reset_strategy)
        else:
            for tp in need_lookup:
                subs.assignment[tp].request_reset(subs.offset_reset_strategy)
        no_policy = [tp for tp, s in subs.assignment.items() if s.reset_strategy == "none"]
        if no_policy:
            raise NoOffsetForPartitionError(
                f"no committed offset for partition(s) {sorted(f'{tp.topic}-{tp.partition}' for tp in no_policy)} "
                "and auto_offset_reset='none'; seek() to an offset first"
            )
        if resets:
            due = {tp: s for tp, s in subs.assignment.items() if tp in tps and s.reset_strategy is not None}
            if due:
                gens = {tp: s.generation for tp, s in due.items()}
                found = await self.fetcher.list_offsets(
                    {tp: EARLIEST if s.reset_strategy == "earliest" else LATEST for tp, s in due.items()},
                    self.request_timeout,
                )
                for tp, (offset, _ts, epoch) in found.items():
                    s = due[tp]
                    if s.generation == gens[tp] and not s.revoked and s.reset_strategy is not None:
                        s.seek(offset, epoch if epoch >= 0 else None)
        self.fetcher.wakeup()

    def run_commit_callbacks(self) -> None:
        """Run the callbacks of finished async commits (call on the consumer's thread)."""
        coord = self.coordinator
        if coord is None or not coord.completed_commits:
            return
        done, coord.completed_commits = coord.completed_commits, []
        for callback, offsets, result in done:
            try:
                callback(offsets, result)
            except Exception:  # noqa: BLE001 - a user callback must not break polling
                log.exception("offset commit callback %r raised", callback)

    def can_drain_now(self) -> bool:
        """True when buffered records may be handed out without entering ``poll`` (no rebalance,
        commit or heartbeat work is due); counts as a poll for max_poll_interval_ms. The facades'
        fast paths (sync iterator, aio getone / ``async for``) take records straight from
        ``fetcher`` when this holds."""
        coord = self.coordinator
        if coord is None:
            return True
        now = time.monotonic()
        if coord.need_poll_work(now):
            return False
        coord.last_poll = now
        return True

    async def poll(
        self, timeout: float, max_records: int | None = None, update_offsets: bool = True
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records from the buffer (waiting up to ``timeout`` seconds for some)."""
        self._check_open()
        if not self.subs.assignment and self.subs.subscription_type == SubscriptionType.NONE:
            raise IllegalStateError("poll() before subscribe() or assign(): there is nothing to consume")
        max_records = int(self.config.get("max_poll_records", 500)) if max_records is None else max_records
        if max_records < 1:
            raise ValueError(f"max_records must be >= 1, got {max_records}")
        deadline = time.monotonic() + timeout
        fetcher = self.fetcher
        assert fetcher.data_ready is not None
        while not self._closed:
            await self._group_poll(deadline)
            fetcher.data_ready.clear()
            records = fetcher.drain(max_records, update_offsets)
            if records:
                return records
            if not await self._wait_for_data(deadline):
                return {}
        return {}

    async def next_batch(self, timeout: float) -> FetchedBatch | None:
        """The next buffered batch whole (iteration), waiting up to ``timeout`` seconds."""
        self._check_open()
        if not self.subs.assignment and self.subs.subscription_type == SubscriptionType.NONE:
            raise IllegalStateError("iteration before subscribe() or assign(): there is nothing to consume")
        deadline = time.monotonic() + timeout
        fetcher = self.fetcher
        assert fetcher.data_ready is not None
        while not self._closed:
            await self._group_poll(deadline)
            fetcher.data_ready.clear()
            batch = fetcher.take()
            if batch is not None:
                return batch
            if not await self._wait_for_data(deadline):
                return None
        return None

    async def _wait_for_data(self, deadline: float) -> bool:
        """Wait for the fetcher (or for group work falling due); False once the deadline passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        coord = self.coordinator
        if self.subs.missing_positions() or (
            self.subs.partitions_auto_assigned() and not self.subs.assignment
        ):
            remaining = min(remaining, self.fetcher.retry_backoff)  # positions/assignment still to come
        if coord is not None and coord.auto_commit:
            remaining = min(remaining, max(coord.next_auto_commit - time.monotonic(), 0.001))
        if coord is not None and coord.subs.partitions_auto_assigned():
            remaining = min(remaining, coord.heartbeat_interval)
        assert self.fetcher.data_ready is not None
        try:
            await asyncio.wait_for(self.fetcher.data_ready.wait(), remaining)
        except asyncio.TimeoutError:
            pass
        return True

    # --- offsets ---------------------------------------------------------------------------------

    def _require_group(self, what: str) -> ConsumerCoordinator:
        if self.coordinator is None:
            raise IllegalStateError(
                f"Requires group_id: {what} needs one, offsets are stored per consumer group"
            )
        return self.coordinator

    async def commit(
        self, offsets: Mapping[TopicPartition, Any] | None = None, timeout: float | None = None
    ) -> None:
        self._check_open()
        coord = self._require_group("commit()")
        resolved = self._commit_offsets(offsets)
        await coord.commit_offsets(resolved, self.request_timeout if timeout is None else timeout)

    def commit_async(
        self, offsets: Mapping[TopicPartition, Any] | None = None, callback: Callable[..., Any] | None = None
    ) -> asyncio.Future[None]:
        self._check_open()
        coord = self._require_group("commit_async()")
        return coord.commit_async(self._commit_offsets(offsets), callback)

    def _commit_offsets(
        self, offsets: Mapping[TopicPartition, Any] | None
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        if offsets is None:
            return self.subs.all_consumed_offsets()
        out: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, om in offsets.items():
            tp = _check_tp(tp)
            if isinstance(om, OffsetAndMetadata):
                out[tp] = om
            elif isinstance(om, int) and not isinstance(om, bool):
                out[tp] = OffsetAndMetadata(om, "", -1)
            elif isinstance(om, tuple) and om and isinstance(om[0], int):
                out[tp] = OffsetAndMetadata(
                    om[0], om[1] if len(om) > 1 and om[1] is not None else "", om[2] if len(om) > 2 else -1
                )
            else:
                raise TypeError(f"offset for {tp} must be an OffsetAndMetadata or an int, got {om!r}")
            if out[tp].offset < 0:
                raise ValueError(f"offset for {tp} must be >= 0, got {out[tp].offset}")
        return out

    async def committed(
        self, partitions: Iterable[TopicPartition], timeout: float | None = None
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        self._check_open()
        coord = self._require_group("committed()")
        tps = [_check_tp(tp) for tp in partitions]
        return await coord.fetch_committed(tps, self.request_timeout if timeout is None else timeout)

    async def position(self, tp: TopicPartition, timeout: float | None = None) -> int:
        self._check_open()
        tp = _check_tp(tp)
        state = self.subs.state(tp)
        deadline = time.monotonic() + (self.request_timeout if timeout is None else timeout)
        while state.position is None:
            await self._resolve_positions([tp], resets=True)
            if state.position is None:
                if time.monotonic() > deadline:
                    raise KafkaTimeoutError(f"position of {tp.topic}-{tp.partition} not known in time")
                await asyncio.sleep(self.fetcher.retry_backoff)
        return state.position

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._check_open()
        tp = _check_tp(tp)
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"seek offset must be an int >= 0, got {offset!r}")
        self.subs.seek(tp, offset)
        self.fetcher.wakeup()

    def seek_to(self, partitions: Iterable[TopicPartition], strategy: str) -> None:
        self._check_open()
        tps = [_check_tp(tp) for tp in partitions] or list(self.subs.assignment)
        for tp in tps:
            self.subs.state(tp)  # raises for unassigned partitions
        for tp in tps:
            self.subs.request_reset(tp, strategy)
        self.fetcher.wakeup()

    def pause(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            state = self.subs.state(_check_tp(tp))
            if not state.paused:
                state.paused = True
                if state.position is not None:
                    state.seek(state.position, state.leader_epoch)  # drop prefetched data
        self.fetcher.wakeup()

    def resume(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self.subs.state(_check_tp(tp)).paused = False
        self.fetcher.wakeup()

    async def offsets_for_times(
        self, timestamps: Mapping[TopicPartition, int], timeout: float | None = None
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        self._check_open()
        query: dict[TopicPartition, int] = {}
        for tp, ts in timestamps.items():
            tp = _check_tp(tp)
            if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
                raise ValueError(f"timestamp for {tp} must be an int >= 0 (ms since the epoch), got {ts!r}")
            query[tp] = ts
        found = await self.fetcher.list_offsets(query, self.request_timeout if timeout is None else timeout)
        out: dict[TopicPartition, OffsetAndTimestamp | None] = {}
        for tp in query:
            offset, ts, epoch = found.get(tp, (-1, -1, -1))
            out[tp] = OffsetAndTimestamp(offset, ts, epoch) if offset >= 0 else None
        return out

    async def list_offsets(
        self, partitions: Iterable[TopicPartition], which: int, timeout: float | None = None
    ) -> dict[TopicPartition, int]:
        self._check_open()
        query = {_check_tp(tp): which for tp in partitions}
        found = await self.fetcher.list_offsets(query, self.request_timeout if timeout is None else timeout)
        return {tp: found[tp][0] for tp in query}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.subs.state(_check_tp(tp)).highwater

    # --- metadata ----------------------------------------------------------------------------------

    async def topics(self) -> dict[str, set[int]]:
        self._check_open()
        self.client.set_all_topics(True)
        try:
            cluster = await self.client.refresh_metadata()
        finally:
            if self.subs.subscription_type != SubscriptionType.AUTO_PATTERN:
                self.client.set_all_topics(False)
        exclude = bool(self.config.get("exclude_internal_topics", True))
        return {
            t: set(cluster.partitions_for_topic(t) or ())
            for t in cluster.topics(exclude_internal_topics=exclude)
        }

    async def partitions_for_topic(self, topic: str) -> set[int] | None:
        self._check_open()
        parts = self.client.cluster.partitions_for_topic(topic)
        if parts is None:
            self.client.add_topics((topic,))
            try:
                cluster = await self.client.refresh_metadata()
            except KafkaError:
                return None
            parts = cluster.partitions_for_topic(topic)
        return set(parts) if parts is not None else None

    def group_metadata(self) -> ConsumerGroupMetadata:
        if self.coordinator is None:
            return ConsumerGroupMetadata(None)
        return self.coordinator.group_metadata()
