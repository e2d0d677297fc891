"""Fetcher: background prefetch of assigned partitions, offset lookups and resets.

How it works: one task on the client's event loop (``run``) keeps at most one Fetch in flight per
broker, on a connection channel of its own ("fetch") so long polls never delay group traffic. A
partition is fetched when it has a fetch offset, is not paused, has no fetch outstanding and at most
one completed fetch waiting that the user has not started on; requests list partitions in rotating
order so one busy partition cannot starve the others under fetch_max_bytes. When a response
arrives, each partition's fetch offset first moves past its complete batches (read from the batch
headers alone) and the next fetch is sent; only then is the response decoded, so the broker prepares
the next response meanwhile. A partition's complete batches become ``FetchedBatch`` objects in
``buffer``, a deque that the user's thread drains without entering the loop (``drain`` for poll(),
``take`` for iteration; that side is the base class ``HandOver``, ``consumer/handover.py``):
batches cross the thread boundary, records never do. They are decoded
lazily, where they are taken (``records.decode_partition``), in chunks of about ``_CHUNK_BYTES`` of
whole record batches: the records of a response are not all alive at once, so memory is reused
instead of being mapped afresh, and the loop stays free for the network. (With read_committed and
aborted transactions a partition's response is one chunk: the aborted list spans it.)
A batch remembers the partition's ``generation`` when it was requested; a seek, reset or revocation
bumps the generation, so stale batches are dropped when met. Errors that must reach the user (corrupt
batch, deserializer failure, out of range without a reset policy, authorization) travel in the buffer
as an error batch that stays put -- raised on every poll -- until the user seeks away.

OFFSET_OUT_OF_RANGE with a reset policy, and partitions whose position is to be reset, are resolved by
ListOffsets in the background (``_reset_positions``). NOT_LEADER and similar errors refresh metadata
and back off retry_backoff_ms.

What it must never do: deliver records twice or out of order within a partition, deliver records
fetched for an earlier position after a seek, hand records across threads one at a time, or block
the loop on anything but decoding what it must look at (batch headers).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from kafkakit.client.cluster import AsyncClient
from kafkakit.client.consumer.handover import FetchedBatch, HandOver
from kafkakit.client.consumer.metrics import ConsumerMetrics
from kafkakit.client.consumer.records import decode_partition
from kafkakit.client.consumer.subscription_state import SubscriptionState, TopicPartitionState
from kafkakit.errors import (
    CorruptRecordError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    OffsetOutOfRangeError,
    UnsupportedVersionError,
    for_code,
)
from kafkakit.protocol.apis import API_BY_NAME
from kafkakit.record import iter_batches
from kafkakit.structs import TopicPartition

log = logging.getLogger(__name__)

__all__ = ["FetchedBatch", "Fetcher", "cap_version"]

FETCH_CHANNEL = "fetch"
EARLIEST = -2
LATEST = -1

# highest versions spoken: later ones address topics by id only
_MAX_VERSION = {"Fetch": 12, "ListOffsets": 11}

_OFFSET_OUT_OF_RANGE = 1
# completed fetches per partition that may wait in the buffer, untouched by the user
_MAX_BACKLOG = 1
# bytes of whole record batches decoded as one unit when the user reaches them
_CHUNK_BYTES = 1 << 20
_TOPIC_AUTHORIZATION_FAILED = 29
_REFRESH_CODES = {3, 5, 6, 9, 13, 56, 74, 75, 78, 100, 103}


def cap_version(conn: Any, api: str, cap: int) -> int:
    """The version to speak on ``conn``: the negotiated one, capped; error if below the broker's range."""
    version = min(int(conn.version(api)), cap)
    lo = conn.api_versions.get(API_BY_NAME[api].key, (0, 0))[0]
    if version < lo:
        raise UnsupportedVersionError(f"{conn}: broker needs {api} v{lo}+, kafkakit speaks up to v{cap} here")
    return version


class Fetcher(HandOver):
    """Prefetching, decoding and offset lookups for one consumer (see module docstring)."""

    def __init__(
        self,
        client: AsyncClient,
        subscriptions: SubscriptionState,
        config: Mapping[str, Any],
        metrics: ConsumerMetrics,
        key_deserializer: Callable[[str, Any, bytes | None], Any] | None = None,
        value_deserializer: Callable[[str, Any, bytes | None], Any] | None = None,
    ) -> None:
        self.client = client
        self.subs = subscriptions
        self.config = config
        self.metrics = metrics
        self.key_deserializer = key_deserializer
        self.value_deserializer = value_deserializer
        self.read_committed = config.get("isolation_level") == "read_committed"
        self.check_crcs = bool(config.get("check_crcs", True))
        self.retry_backoff = config.get("retry_backoff_ms", 100) / 1000.0
        self.buffer: deque[FetchedBatch] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self.data_ready: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._reset_task: asyncio.Task[None] | None = None
        self._busy_nodes: set[int] = set()
        self._node_not_before: dict[int, float] = {}
        self._fetch_tasks: set[asyncio.Task[None]] = set()
        self._rotation: dict[TopicPartition, int] = {}
        self._seq = 0
        self._last_metadata_request = 0.0
        self._closed = False
        self.loop_thread_id: int | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        import threading

        self._loop = asyncio.get_running_loop()
        self.loop_thread_id = threading.get_ident()
        self._wakeup = asyncio.Event()
        self.data_ready = asyncio.Event()
        self._task = self._loop.create_task(self._run())

    async def close(self) -> None:
        self._closed = True
        if self.data_ready is not None:
            self.data_ready.set()  # wake a poll() waiting for data
        tasks = [t for t in (self._task, self._reset_task) if t is not None] + list(self._fetch_tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except BaseException:  # noqa: BLE001,S110 - cancelled tasks unwind here
                pass
        self.buffer.clear()

    def wakeup(self) -> None:
        """Re-evaluate what to fetch (loop thread only)."""
        if self._wakeup is not None:
            self._wakeup.set()

    def wakeup_threadsafe(self) -> None:
        """Re-evaluate what to fetch, from any thread."""
        import threading

        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self.loop_thread_id:
            self.wakeup()
        else:
            try:
                loop.call_soon_threadsafe(self.wakeup)
            except RuntimeError:  # loop closed meanwhile
                pass

    # --- the fetch loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wakeup is not None
        while not self._closed:
            self._wakeup.clear()
            try:
                self._send_fetches()
                self._maybe_reset_positions()
            except Exception:  # pragma: no cover - keep prefetching whatever one round did
                log.exception("fetcher round failed")
            await self._wakeup.wait()

    def _fetchable(self, now: float) -> dict[int, list[tuple[TopicPartition, TopicPartitionState]]]:
        by_node: dict[int, list[tuple[TopicPartition, TopicPartitionState]]] = {}
        cluster = self.client.cluster
        need_metadata = False
        earliest_retry = None
        for tp, state in self.subs.assignment.items():
            if state.paused or state.in_flight or state.fetch_offset is None or state.revoked:
                continue
            if state.fetched - state.drained > _MAX_BACKLOG:
                continue  # one untouched response ahead of the user is enough
            if state.not_before > now:
                earliest_retry = min(earliest_retry or state.not_before, state.not_before)
                continue
            leader = cluster.leader_for_partition(tp)
            if leader is None or leader < 0:
                need_metadata = True
                if tp.topic not in self.client.topics_of_interest:
                    self.client.add_topics((tp.topic,))
                continue
            if leader in self._busy_nodes:
                continue
            nb = self._node_not_before.get(leader, 0.0)
            if nb > now:
                earliest_retry = min(earliest_retry or nb, nb)
                continue
            by_node.setdefault(leader, []).append((tp, state))
        if need_metadata:
            if now - self._last_metadata_request >= self.retry_backoff:
                self._last_metadata_request = now
                fut = self.client.request_update()
                fut.add_done_callback(self._after_metadata)
            else:
                earliest_retry = min(
                    earliest_retry or now + self.retry_backoff,
                    self._last_metadata_request + self.retry_backoff,
                )
        if earliest_retry is not None and self._loop is not None:
            self._loop.call_later(max(earliest_retry - now, 0.001), self.wakeup)
        return by_node

    def _after_metadata(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled():
            fut.exception()  # retrieved: a failed refresh is retried on the next round
        self.wakeup()

    def _send_fetches(self) -> None:
        if self._closed or self._loop is None:
            return
        for node, entries in self._fetchable(time.monotonic()).items():
            entries.sort(key=lambda e: self._rotation.get(e[0], 0))
            requested = []
            for tp, state in entries:
                self._seq += 1
                self._rotation[tp] = self._seq
                state.in_flight = True
                requested.append((tp, state, state.generation, state.fetch_offset))
            self._busy_nodes.add(node)
            body = self._fetch_body(requested)
            # write the request now when the connection is up (the caller may be about to decode for
            # a while); otherwise the task connects first
            pending: asyncio.Future[Any] | None = None
            conn = self.client.connection(node, FETCH_CHANNEL)
            if conn is not None and conn.can_send():
                try:
                    version = cap_version(conn, "Fetch", _MAX_VERSION["Fetch"])
                    pending = conn.send("Fetch", body, version=version, timeout_ms=self._fetch_timeout_ms())
                except KafkaError:
                    pending = None
            task = self._loop.create_task(self._fetch(node, requested, body, pending))
            self._fetch_tasks.add(task)
            task.add_done_callback(self._fetch_tasks.discard)

    def _fetch_timeout_ms(self) -> float:
        return self.client.request_timeout_ms + int(self.config.get("fetch_max_wait_ms", 500))

    def _fetch_body(
        self, requested: list[tuple[TopicPartition, TopicPartitionState, int, Any]]
    ) -> dict[str, Any]:
        cfg = self.config
        topics: dict[str, list[dict[str, Any]]] = {}
        for tp, _state, _gen, offset in requested:
            topics.setdefault(tp.topic, []).append(
                {
                    "partition": tp.partition,
                    "current_leader_epoch": -1,
                    "fetch_offset": offset,
                    "last_fetched_epoch": -1,
                    "log_start_offset": -1,
                    "partition_max_bytes": int(cfg.get("max_partition_fetch_bytes", 1048576)),
                }
            )
        return {
            "replica_id": -1,
            "max_wait_ms": int(cfg.get("fetch_max_wait_ms", 500)),
            "min_bytes": int(cfg.get("fetch_min_bytes", 1)),
            "max_bytes": int(cfg.get("fetch_max_bytes", 52428800)),
            "isolation_level": 1 if self.read_committed else 0,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [{"topic": t, "partitions": ps} for t, ps in topics.items()],
            "forgotten_topics_data": [],
            "rack_id": cfg.get("client_rack") or "",
        }

    async def _fetch(
        self,
        node: int,
        requested: list[tuple[TopicPartition, TopicPartitionState, int, Any]],
        body: dict[str, Any],
        pending: asyncio.Future[Any] | None,
    ) -> None:
        started = time.monotonic()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._busy_nodes.discard(node)
                for _tp, state, _gen, _off in requested:
                    state.in_flight = False

        try:
            try:
                if pending is not None:
                    resp = await pending
                else:
                    conn = await self.client.get_connection(
                        node, FETCH_CHANNEL, timeout=self.client.request_timeout_ms / 1000
                    )
                    version = cap_version(conn, "Fetch", _MAX_VERSION["Fetch"])
                    resp = await conn.request(
                        "Fetch", body, version=version, timeout_ms=self._fetch_timeout_ms()
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: refresh metadata, back off, retry
                log.debug("fetch from node %s failed: %s", node, exc)
                self._node_not_before[node] = time.monotonic() + self.retry_backoff
                if not self._closed:
                    self.client.request_update()
                return
            self.metrics.fetch_latency.record((time.monotonic() - started) * 1000.0)
            if resp.get("error_code"):
                err = for_code(resp["error_code"])
                log.debug("fetch from node %s: %s", node, err.__name__)
                self._node_not_before[node] = time.monotonic() + self.retry_backoff
                return
            self._handle_response(requested, resp, release)
        finally:
            release()
            self.wakeup()

    def _handle_response(
        self,
        requested: list[tuple[TopicPartition, TopicPartitionState, int, Any]],
        resp: dict[str, Any],
        release: Callable[[], None],
    ) -> None:
        """Accept a response: first move every partition's fetch offset past the complete batches it
        holds (reading batch headers only) and let the next fetch go out (``release``), then decode --
        so the broker prepares the next response while this one is decoded."""
        wanted = {tp: (state, gen, off) for tp, state, gen, off in requested}
        now = time.monotonic()
        refresh = False
        got_data = False
        jobs: list[
            tuple[TopicPartition, TopicPartitionState, int, int, dict[str, Any], int | None, list[_Chunk]]
        ] = []
        for t in resp["responses"]:
            topic = t["topic"]
            for p in t["partitions"]:
                tp = TopicPartition(topic, p["partition_index"])
                entry = wanted.get(tp)
                if entry is None:
                    continue
                state, gen, offset = entry
                if state.revoked or state.generation != gen or state.fetch_offset != offset:
                    continue  # sought or revoked while the fetch was out
                code = p["error_code"]
                if code == 0:
                    state.highwater = p["high_watermark"]
                    if p["last_stable_offset"] >= 0:
                        state.last_stable_offset = p["last_stable_offset"]
                    if p["log_start_offset"] >= 0:
                        state.log_start_offset = p["log_start_offset"]
                    ahead, chunks = _scan_chunks(p["records"], offset)
                    if ahead is not None and ahead > offset:
                        state.fetch_offset = ahead  # fetchable again before this data is decoded
                        state.fetched += 1  # reserved for the batch decoded below
                    else:
                        ahead = None
                    jobs.append((tp, state, gen, offset, p, ahead, chunks))
                elif code == _OFFSET_OUT_OF_RANGE:
                    strategy = self.subs.offset_reset_strategy
                    if strategy == "none":
                        oor = OffsetOutOfRangeError(
                            f"fetch offset {offset} is out of range for partition {tp.topic}-{tp.partition} and "
                            "auto_offset_reset='none'; seek to a valid offset"
                        )
                        state.fetch_offset = None
                        state.fetched += 1
                        self.buffer.append(FetchedBatch(tp, state, gen, [], offset, oor, offset))
                        got_data = True
                    else:
                        log.info("fetch offset %s out of range for %s; resetting to %s", offset, tp, strategy)
                        state.request_reset(strategy)
                elif code == _TOPIC_AUTHORIZATION_FAILED:
                    err_cls = for_code(code)
                    state.fetch_offset = None
                    state.fetched += 1
                    denied = err_cls(f"not authorized to read topic {tp.topic!r}")
                    self.buffer.append(FetchedBatch(tp, state, gen, [], offset, denied, offset))
                    got_data = True
                else:
                    if code in _REFRESH_CODES:
                        refresh = True
                    log.debug("fetch %s: %s; backing off", tp, for_code(code).__name__)
                    state.not_before = now + self.retry_backoff
        release()
        if refresh:
            self.client.request_update()
        self._send_fetches()
        total_bytes = 0
        total_records = 0
        for tp, state, gen, offset, p, ahead, chunks in jobs:
            if ahead is not None and chunks:
                # complete batches: buffered undecoded, decoded where taken (see module docstring)
                aborted = p["aborted_transactions"] if self.read_committed else None
                if aborted:
                    chunks = [(chunks[0][0], chunks[0][1], chunks[-1][2], chunks[-1][3])]
                blob = memoryview(p["records"])
                for i, (start, a, b, end) in enumerate(chunks):
                    lazy = FetchedBatch(tp, state, gen, [], end, size=len(blob) if i == 0 else 0)
                    lazy.pending = (start, blob[a:b], aborted)
                    lazy.counted = i > 0  # the response counts once (backlog), by its first chunk
                    self.buffer.append(lazy)
                got_data = True
                total_bytes += len(blob)
                total_records += ahead - offset
                hw = state.highwater
                if hw is not None and hw >= 0:
                    self.metrics.records_lag.record(max(hw - ahead, 0), now)
                continue
            batch = self._decode(tp, state, gen, offset, p, ahead)
            if batch is None:
                if ahead is not None:
                    state.fetched -= 1  # nothing to hand over after all: release the reservation
                continue
            if ahead is None:
                state.fetched += 1
            self.buffer.append(batch)
            got_data = True
            total_bytes += batch.size
            total_records += len(batch.records)
            hw = state.highwater
            if hw is not None and hw >= 0:
                self.metrics.records_lag.record(max(hw - batch.next_offset, 0), now)
        if total_records or total_bytes:
            self.metrics.fetch_size.record(total_bytes, now)
            self.metrics.records_per_request.record(total_records, now)
        if got_data and self.data_ready is not None:
            self.data_ready.set()

    def _decode(
        self,
        tp: TopicPartition,
        state: TopicPartitionState,
        gen: int,
        offset: int,
        p: dict[str, Any],
        ahead: int | None,
    ) -> FetchedBatch | None:
        """Decode one partition of a response into the batch to buffer (None: nothing to hand over)."""
        if state.revoked or state.generation != gen:
            return None
        blob = p["records"]
        decoded = decode_partition(
            tp,
            offset,
            blob,
            check_crcs=self.check_crcs,
            read_committed=self.read_committed,
            aborted_transactions=p["aborted_transactions"],
            key_deserializer=self.key_deserializer,
            value_deserializer=self.value_deserializer,
        )
        recs = decoded.records
        if decoded.error is not None:
            # stop here: a fetch already sent past this point is dropped when it arrives
            state.fetch_offset = None
            return FetchedBatch(tp, state, gen, recs, decoded.next_offset, decoded.error, decoded.next_offset)
        if decoded.next_offset != (offset if ahead is None else ahead):
            state.fetch_offset = decoded.next_offset  # headers and records disagree: trust the records
        if recs or decoded.next_offset != offset:
            return FetchedBatch(tp, state, gen, recs, decoded.next_offset, size=decoded.size_in_bytes)
        hw = state.highwater
        if blob and hw is not None and hw > offset:
            state.fetch_offset = None
            err = MessageSizeTooLargeError(
                f"partition {tp.topic}-{tp.partition}: the record batch at offset {offset} is larger "
                f"than max_partition_fetch_bytes ({self.config.get('max_partition_fetch_bytes')}); "
                "raise max_partition_fetch_bytes or fetch_max_bytes"
            )
            return FetchedBatch(tp, state, gen, [], offset, err, offset)
        return None

    # --- offset lookups ---------------------------------------------------------------------

    def _maybe_reset_positions(self) -> None:
        if self._closed or self._loop is None:
            return
        if self._reset_task is not None and not self._reset_task.done():
            return
        now = time.monotonic()
        due = [
            tp
            for tp, s in self.subs.assignment.items()
            if s.reset_strategy is not None and s.reset_strategy != "none" and s.not_before <= now
        ]
        if due:
            self._reset_task = self._loop.create_task(self._reset_positions(due))

    async def _reset_positions(self, tps: list[TopicPartition]) -> None:
        states = {tp: self.subs.assignment.get(tp) for tp in tps}
        wanted: dict[TopicPartition, int] = {}
        gens: dict[TopicPartition, int] = {}
        for tp, s in states.items():
            if s is None or s.reset_strategy is None:
                continue
            wanted[tp] = EARLIEST if s.reset_strategy == "earliest" else LATEST
            gens[tp] = s.generation
        try:
            found = await self.list_offsets(wanted, self.client.request_timeout_ms / 1000.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried after a backoff
            log.debug("offset reset for %s failed: %s", sorted(wanted), exc)
            later = time.monotonic() + self.retry_backoff
            for tp in wanted:
                s = states[tp]
                if s is not None:
                    s.not_before = later
            assert self._loop is not None
            self._loop.call_later(self.retry_backoff, self.wakeup)
            return
        for tp, (offset, _ts, epoch) in found.items():
            s = states[tp]
            if s is None or s.revoked or s.generation != gens[tp] or s.reset_strategy is None:
                continue
            s.seek(offset, epoch if epoch >= 0 else None)
        self.wakeup()

    async def list_offsets(
        self, timestamps: Mapping[TopicPartition, int], timeout: float
    ) -> dict[TopicPartition, tuple[int, int, int]]:
        """ListOffsets for each partition: (offset, timestamp, leader epoch); offset -1 when the
        broker has none for that timestamp. Retries leader changes until ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        remaining = dict(timestamps)
        result: dict[TopicPartition, tuple[int, int, int]] = {}
        missing = {tp.topic for tp in remaining} - set(self.client.topics_of_interest)
        if missing:
            self.client.add_topics(missing)
        while remaining:
            by_node: dict[int, dict[TopicPartition, int]] = {}
            unknown = False
            for tp, ts in remaining.items():
                leader = self.client.cluster.leader_for_partition(tp)
                if leader is None or leader < 0:
                    unknown = True
                    continue
                by_node.setdefault(leader, {})[tp] = ts
            retry = False  # a broker answered with a retriable error: back off before asking again
            if by_node:
                results = await asyncio.gather(
                    *(self._list_offsets_node(node, parts) for node, parts in by_node.items()),
                    return_exceptions=True,
                )
                for res in results:
                    if isinstance(res, BaseException):
                        if not isinstance(res, KafkaError) or not res.retriable:
                            raise res
                        retry = True
                        continue
                    done, again, fatal = res
                    result.update(done)
                    for tp in done:
                        remaining.pop(tp, None)
                    if fatal is not None:
                        raise fatal
                    retry = retry or bool(again)
            if not remaining:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise KafkaTimeoutError(
                    f"offset lookup for {sorted(f'{tp.topic}-{tp.partition}' for tp in remaining)} did not "
                    f"complete within {timeout:.3g} s"
                )
            if retry or unknown:
                try:
                    await asyncio.wait_for(asyncio.shield(self.client.request_update()), left)
                except (asyncio.TimeoutError, KafkaError):
                    pass
            if retry or (unknown and any(self._leader(tp) is None for tp in remaining)):
                await asyncio.sleep(min(self.retry_backoff, max(deadline - time.monotonic(), 0)))
        return result

    def _leader(self, tp: TopicPartition) -> int | None:
        leader = self.client.cluster.leader_for_partition(tp)
        return None if leader is None or leader < 0 else leader

    async def _list_offsets_node(
        self, node: int, parts: dict[TopicPartition, int]
    ) -> tuple[dict[TopicPartition, tuple[int, int, int]], list[TopicPartition], KafkaError | None]:
        topics: dict[str, list[dict[str, Any]]] = {}
        for tp, ts in parts.items():
            topics.setdefault(tp.topic, []).append(
                {"partition_index": tp.partition, "current_leader_epoch": -1, "timestamp": ts}
            )
        body = {
            "replica_id": -1,
            "isolation_level": 1 if self.read_committed else 0,
            "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
            "timeout_ms": int(self.client.request_timeout_ms),
        }
        conn = await self.client.get_connection(node, timeout=self.client.request_timeout_ms / 1000)
        version = cap_version(conn, "ListOffsets", _MAX_VERSION["ListOffsets"])
        resp = await conn.request("ListOffsets", body, version=version)
        done: dict[TopicPartition, tuple[int, int, int]] = {}
        again: list[TopicPartition] = []
        fatal: KafkaError | None = None
        for t in resp["topics"]:
            for p in t["partitions"]:
                tp = TopicPartition(t["name"], p["partition_index"])
                if tp not in parts:
                    continue
                code = p["error_code"]
                if code == 0:
                    done[tp] = (p["offset"], p["timestamp"], p["leader_epoch"])
                else:
                    err = for_code(code)
                    if err.retriable:
                        again.append(tp)
                    else:
                        fatal = err(
                            f"offset lookup for partition {tp.topic}-{tp.partition} failed: {err.description}"
                        )
        return done, again, fatal


_Chunk = tuple[int, int, int, int]  # (first offset, start position, end position, next offset)


def _scan_chunks(blob: bytes | None, offset: int) -> tuple[int | None, list[_Chunk]]:
    """From batch headers alone: the offset after the last complete batch of ``blob`` (None if
    unreadable) and the complete batches grouped into chunks of about ``_CHUNK_BYTES``."""
    if not blob:
        return offset, []
    nxt = offset
    chunks: list[_Chunk] = []
    first, start, stop = offset, 0, 0
    try:
        for pos, header, view in iter_batches(blob):
            end = header.base_offset + header.last_offset_delta + 1
            if end > nxt:
                nxt = end
            stop = pos + len(view)
            if stop - start >= _CHUNK_BYTES:
                chunks.append((first, start, stop, nxt))
                first, start = nxt, stop
    except CorruptRecordError:
        return None, []
    if stop > start:
        chunks.append((first, start, stop, nxt))
    return nxt, chunks
