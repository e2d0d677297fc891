"""Fetch handler: read batches from partition logs, with long-poll and fetch sessions (KIP-227).

How it works: a request names partitions with a fetch offset and a per-partition byte limit.
One pass reads every partition in order from its ``PartitionLog``: the whole response is capped at
``max_bytes``, each partition at ``partition_max_bytes``, except that the first partition with data
always returns at least one whole batch (KIP-74). When fewer than ``min_bytes`` came back and no
partition failed, the request parks: one future is registered on every partition it reads
(``Partition.waiters``); an append wakes it at once and the pass runs again, until ``min_bytes``
is met or ``max_wait_ms`` passes. Nothing polls. A failed partition reports high watermark, last stable
offset and log start offset -1, as Kafka does.

Fetch sessions (v7+): ``session_id 0, epoch -1`` is sessionless; ``epoch 0`` opens a full session
(the response carries its id); ``epoch > 0`` is an incremental fetch on an existing session,
which must exist (FETCH_SESSION_ID_NOT_FOUND) and be at that epoch (INVALID_FETCH_SESSION_EPOCH).
The session remembers every partition's fetch offset and limit plus the high watermark, last
stable offset and log start offset last sent; an incremental request only names partitions that
changed (and ``forgotten_topics_data``), and its response only lists partitions with records, an
error, or a changed watermark/log start offset. ``epoch -1`` with an id closes that session.

At isolation level read_committed (1) a partition is read only up to its last stable offset, and
its ``aborted_transactions`` list the aborted transactions (producer id, first offset) overlapping
the records returned, from the log's aborted-transaction index.

Records are copied out of the log files (``ReadResult.to_bytes()``); the copy is one read of
page-cache bytes and costs little next to the Python work per request.

What it must never do: busy-wait, return a partial batch as the only data of a partition when a
whole one fits the rules, answer an incremental fetch for a session or epoch it does not have,
or hold a parked request past ``max_wait_ms``.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import time
from collections import OrderedDict
from typing import Any

from kafkakit.broker.state import BrokerState, Handler
from kafkakit.broker.topics import Partition
from kafkakit.protocol.frame import RequestHeader

__all__ = ["HANDLERS", "handle_fetch", "FetchSessions"]

OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75
UNKNOWN_TOPIC_ID = 100
FETCH_SESSION_TOPIC_ID_ERROR = 106

#: the broker's fetch.max.bytes: a response never exceeds this whatever the client asks
FETCH_MAX_BYTES = 57_671_680
MAX_SESSIONS = 1000
INT32_MAX = 0x7FFFFFFF
_BASE_LENGTH = struct.Struct(">qi")  # a batch's base offset and length
_I32 = struct.Struct(">i")


class _Entry:
    """One partition a fetch reads (and, in a session, what was last sent for it)."""

    __slots__ = (
        "topic",
        "topic_id",
        "partition",
        "fetch_offset",
        "max_bytes",
        "leader_epoch",
        "hw",
        "lso",
        "lstart",
    )

    def __init__(
        self,
        topic: str,
        topic_id: bytes,
        partition: int,
        fetch_offset: int,
        max_bytes: int,
        leader_epoch: int,
    ):
        self.topic = topic
        self.topic_id = topic_id
        self.partition = partition
        self.fetch_offset = fetch_offset
        self.max_bytes = max_bytes
        self.leader_epoch = leader_epoch
        # values last sent in a session (-1: never, so the first response includes the partition)
        self.hw = -1
        self.lso = -1
        self.lstart = -1


class FetchSession:
    __slots__ = ("id", "epoch", "uses_topic_ids", "entries")

    def __init__(self, session_id: int, uses_topic_ids: bool) -> None:
        self.id = session_id
        self.epoch = 1  # the epoch the next incremental request must carry
        self.uses_topic_ids = uses_topic_ids
        self.entries: dict[tuple[Any, int], _Entry] = {}


class FetchSessions:
    """The broker's fetch session cache: at most ``MAX_SESSIONS``, least recently used evicted."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[int, FetchSession] = OrderedDict()
        self._ids = itertools.count(int(time.time()) & 0xFFFF or 1)

    def new(self, uses_topic_ids: bool) -> FetchSession:
        while True:
            sid = next(self._ids) & INT32_MAX
            if sid and sid not in self._sessions:
                break
        session = FetchSession(sid, uses_topic_ids)
        self._sessions[sid] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: int) -> FetchSession | None:
        session = self._sessions.get(session_id)
        if session is not None:
            self._sessions.move_to_end(session_id)
        return session

    def remove(self, session_id: int) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)


def _next_epoch(epoch: int) -> int:
    return 1 if epoch >= INT32_MAX else epoch + 1


def _entries_from(body: dict[str, Any], version: int) -> list[_Entry]:
    out = []
    for t in body["topics"]:
        topic, topic_id = t["topic"], t["topic_id"]
        for p in t["partitions"]:
            out.append(
                _Entry(
                    topic,
                    topic_id,
                    p["partition"],
                    p["fetch_offset"],
                    p["partition_max_bytes"],
                    p["current_leader_epoch"],
                )
            )
    return out


class _Result:
    __slots__ = ("entry", "error", "hw", "lso", "lstart", "records", "partition", "aborted")

    def __init__(self, entry: _Entry, error: int, partition: Partition | None) -> None:
        self.entry = entry
        self.error = error
        self.partition = partition
        self.hw = -1
        self.lso = -1
        self.lstart = -1
        self.records: bytes | None = None
        #: read_committed: (producer id, first offset) of the aborted transactions in the records
        self.aborted: list[dict[str, int]] = []


def _read_pass(
    state: BrokerState, entries: list[_Entry], by_id: bool, max_bytes: int, read_committed: bool
) -> tuple[list[_Result], int, bool]:
    """Read every entry once: the results, the record bytes gathered and whether any failed."""
    topics = state.topics
    results: list[_Result] = []
    total = 0
    failed = False
    for e in entries:
        topic = topics.by_id(e.topic_id) if by_id else topics.get(e.topic)
        if topic is None:
            failed = True
            results.append(_Result(e, UNKNOWN_TOPIC_ID if by_id else UNKNOWN_TOPIC_OR_PARTITION, None))
            continue
        if by_id:
            e.topic = topic.name
        if not 0 <= e.partition < len(topic.partitions):
            failed = True
            results.append(_Result(e, UNKNOWN_TOPIC_OR_PARTITION, None))
            continue
        p = topic.partitions[e.partition]
        if e.leader_epoch >= 0 and e.leader_epoch != p.leader_epoch:
            failed = True
            code = UNKNOWN_LEADER_EPOCH if e.leader_epoch > p.leader_epoch else FENCED_LEADER_EPOCH
            results.append(_Result(e, code, p))
            continue
        plog = p.log
        r = _Result(e, 0, p)
        r.lstart = plog.log_start_offset
        r.hw = plog.high_watermark
        r.lso = plog.last_stable_offset
        offset = e.fetch_offset
        if offset < r.lstart or offset > r.hw:
            failed = True
            r.error = OFFSET_OUT_OF_RANGE
            r.hw = r.lso = r.lstart = -1  # as Kafka reports them next to any partition error
        elif offset == r.hw:
            r.records = b""
        else:
            limit = min(e.max_bytes, max_bytes - total)
            if limit > 0 or total == 0:
                data = plog.read(
                    offset, max(limit, 0), min_one=total == 0, max_offset=r.lso if read_committed else None
                ).to_bytes()
                total += len(data)
                r.records = data
                if read_committed and data:
                    r.aborted = [
                        {"producer_id": a.producer_id, "first_offset": a.first_offset}
                        for a in plog.aborted_transactions(offset, _next_offset(data))
                    ]
            else:
                r.records = b""
        results.append(r)
    return results, total, failed


def _next_offset(data: bytes) -> int:
    """The offset after the last whole batch of a records blob (-1 when it holds none)."""
    pos, end, size = 0, -1, len(data)
    while pos + 61 <= size:
        base, length = _BASE_LENGTH.unpack_from(data, pos)
        if pos + 12 + length > size:
            break
        end = base + _I32.unpack_from(data, pos + 23)[0] + 1
        pos += 12 + length
    return end


def _partition_response(r: _Result, read_committed: bool) -> dict[str, Any]:
    return {
        "partition_index": r.entry.partition,
        "error_code": r.error,
        "high_watermark": r.hw,
        "last_stable_offset": r.lso,
        "log_start_offset": r.lstart,
        "aborted_transactions": r.aborted if read_committed and r.error == 0 else None,
        "preferred_read_replica": -1,
        "records": r.records if r.records is not None else b"",
    }


def _response(
    results: list[_Result], read_committed: bool, session_id: int, incremental: bool
) -> dict[str, Any]:
    topics: list[dict[str, Any]] = []
    last_key: Any = None
    current: list[dict[str, Any]] = []
    for r in results:
        e = r.entry
        if incremental and not (
            r.error or r.records or r.hw != e.hw or r.lso != e.lso or r.lstart != e.lstart
        ):
            continue
        e.hw, e.lso, e.lstart = r.hw, r.lso, r.lstart
        key = (e.topic_id, e.topic)
        if key != last_key:
            current = []
            topics.append({"topic": e.topic, "topic_id": e.topic_id, "partitions": current})
            last_key = key
        current.append(_partition_response(r, read_committed))
    return {
        "throttle_time_ms": 0,
        "error_code": 0,
        "session_id": session_id,
        "responses": topics,
        "node_endpoints": [],
    }


def _session_error(code: int) -> dict[str, Any]:
    return {"throttle_time_ms": 0, "error_code": code, "session_id": 0, "responses": [], "node_endpoints": []}


async def handle_fetch(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    by_id = version >= 13
    read_committed = body["isolation_level"] == 1
    max_bytes = min(max(body["max_bytes"], 0), FETCH_MAX_BYTES)
    session_id, epoch = (body["session_id"], body["session_epoch"]) if version >= 7 else (0, -1)
    session: FetchSession | None = None
    incremental = False
    sessions: FetchSessions | None = state.fetch_sessions
    if sessions is None:
        sessions = state.fetch_sessions = FetchSessions()
    if epoch == -1:
        if session_id:
            sessions.remove(session_id)
        entries = _entries_from(body, version)
    elif epoch == 0:
        if session_id:
            sessions.remove(session_id)
        session = sessions.new(by_id)
        session.entries = {
            (e.topic_id if by_id else e.topic, e.partition): e for e in _entries_from(body, version)
        }
        entries = list(session.entries.values())
    else:
        session = sessions.get(session_id)
        if session is None:
            return _session_error(FETCH_SESSION_ID_NOT_FOUND)
        if session.epoch != epoch:
            return _session_error(INVALID_FETCH_SESSION_EPOCH)
        if session.uses_topic_ids != by_id:
            return _session_error(FETCH_SESSION_TOPIC_ID_ERROR)
        incremental = True
        cache = session.entries
        for e in _entries_from(body, version):
            key = (e.topic_id if by_id else e.topic, e.partition)
            old = cache.get(key)
            if old is None:
                cache[key] = e
            else:
                old.fetch_offset, old.max_bytes, old.leader_epoch = (
                    e.fetch_offset,
                    e.max_bytes,
                    e.leader_epoch,
                )
        for f in body["forgotten_topics_data"]:
            tkey = f["topic_id"] if by_id else f["topic"]
            for part in f["partitions"]:
                cache.pop((tkey, part), None)
        entries = list(cache.values())
    if session is not None:
        session.epoch = _next_epoch(epoch)
    response_session = session.id if session is not None else 0

    max_wait_ms = min(body["max_wait_ms"], state.config.fetch_max_wait_cap_ms)
    min_bytes = body["min_bytes"]
    results, total, failed = _read_pass(state, entries, by_id, max_bytes, read_committed)
    if total < min_bytes and not failed and max_wait_ms > 0 and entries:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait_ms / 1000
        # parked: every append to one of these partitions wakes us to read again
        while total < min_bytes and not failed and (remaining := deadline - loop.time()) > 0:
            await _park(loop, [r.partition for r in results if r.partition is not None], remaining)
            results, total, failed = _read_pass(state, entries, by_id, max_bytes, read_committed)
    return _response(results, read_committed, response_session, incremental)


async def _park(loop: asyncio.AbstractEventLoop, partitions: list[Partition], timeout: float) -> None:
    """Return once one of ``partitions`` is appended to, or after ``timeout`` seconds."""
    fut: asyncio.Future[None] = loop.create_future()
    for p in partitions:
        p.waiters.add(fut)
    timer = loop.call_later(timeout, _wake, fut)
    try:
        await fut
    finally:
        timer.cancel()
        for p in partitions:
            p.waiters.discard(fut)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


HANDLERS: dict[int, Handler] = {1: handle_fetch}
