"""GroupOffsets: OffsetCommit and OffsetFetch for the consumer's group coordinator (a mixin of
ConsumerCoordinator, which provides the connection, the generation and the membership state).

How it works: commits are serialized by a lock and carry the member's generation and member id while
the consumer is subscribed (a member without a valid generation gets CommitFailedError at once:
the group may have given its partitions to someone else), or generation -1 and no member id for a
consumer with manually assigned partitions. ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID / REBALANCE_IN_PROGRESS
answers raise CommitFailedError; NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and lost connections make
the coordinator unknown and the request is retried until the deadline; other errors are raised with the
partition named. ``commit_async`` queues its callback's result for the consumer's thread to run.
Committed offsets come from OffsetFetch (require_stable, so pending transactional offsets are waited for).

What it must never do: commit with a generation it no longer holds as if it were valid, retry a commit
the group refused for good, or run a user callback on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kafkakit.client.cluster import AsyncClient
from kafkakit.client.connection import BrokerConnection
from kafkakit.client.consumer.metrics import ConsumerMetrics
from kafkakit.client.consumer.subscription_state import SubscriptionState
from kafkakit.errors import CommitFailedError, KafkaTimeoutError, for_code
from kafkakit.structs import OffsetAndMetadata, TopicPartition

log = logging.getLogger(__name__)

__all__ = ["GroupOffsets", "Retry"]

_COORDINATOR_LOAD = 14
_COORDINATOR_NOT_AVAILABLE = 15
_NOT_COORDINATOR = 16
_REQUEST_TIMED_OUT = 7
_ILLEGAL_GENERATION = 22
_UNKNOWN_MEMBER_ID = 25
_REBALANCE_IN_PROGRESS = 27
_FENCED_INSTANCE_ID = 82
_UNSTABLE_OFFSET_COMMIT = 88

# highest versions spoken: later ones address topics by id only
_MAX_VERSION = {"OffsetCommit": 9, "OffsetFetch": 9}

STABLE = "<stable>"


class Retry(Exception):
    """Internal: the step failed in a way that a new attempt (after a backoff) may fix."""


class GroupOffsets:
    """Offset commits and committed-offset fetches (mixed into ConsumerCoordinator)."""

    client: AsyncClient
    subs: SubscriptionState
    metrics: ConsumerMetrics
    group_id: str
    group_instance_id: str | None
    generation: int
    member_id: str
    state: str
    retry_backoff: float
    _commit_lock: asyncio.Lock | None
    completed_commits: list[tuple[Callable[..., Any], dict[TopicPartition, OffsetAndMetadata], Any]]

    async def ensure_coordinator_ready(self, deadline: float | None = None) -> BrokerConnection:
        raise NotImplementedError

    async def _send(
        self, api: str, body: dict[str, Any], *, timeout_ms: float | None = None, cap: int | None = None
    ) -> Any:
        raise NotImplementedError

    def mark_coordinator_dead(self, reason: str) -> None:
        raise NotImplementedError

    def _reset_generation(self, reason: str, reset_member_id: bool = True) -> None:
        raise NotImplementedError

    def request_rejoin(self, reason: str = "") -> None:
        raise NotImplementedError

    def commit_async(
        self, offsets: dict[TopicPartition, OffsetAndMetadata], callback: Callable[..., Any] | None = None
    ) -> asyncio.Future[None]:
        """Commit in the background (after earlier commits); the callback runs on the next poll."""

        async def run() -> None:
            try:
                await self.commit_offsets(offsets, timeout=self.client.request_timeout_ms / 1000.0)
            except Exception as exc:  # noqa: BLE001 - handed to the callback
                log.warning("group %s: async commit failed: %s", self.group_id, exc)
                if callback is not None:
                    self.completed_commits.append((callback, offsets, exc))
                raise
            if callback is not None:
                self.completed_commits.append((callback, offsets, None))

        task = self.client.loop.create_task(run())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    async def commit_offsets(
        self, offsets: Mapping[TopicPartition, OffsetAndMetadata], timeout: float
    ) -> None:
        """Commit synchronously; CommitFailedError when the group has moved on without us."""
        if not offsets:
            return
        if self._commit_lock is None:
            self._commit_lock = asyncio.Lock()
        async with self._commit_lock:
            await self._commit(dict(offsets), time.monotonic() + timeout)

    async def _commit(self, offsets: dict[TopicPartition, OffsetAndMetadata], deadline: float) -> None:
        while True:
            if self.subs.partitions_auto_assigned():
                if self.state != STABLE or self.generation < 0:
                    raise CommitFailedError(
                        f"Commit cannot be completed: group {self.group_id!r} is rebalancing or this member lost "
                        "its partitions (no valid generation). Poll again to rejoin; offsets of partitions that "
                        "moved belong to their new owner."
                    )
                generation, member = self.generation, self.member_id
                instance = self.group_instance_id
            else:
                generation, member, instance = -1, "", None
            topics: dict[str, list[dict[str, Any]]] = {}
            for tp, om in offsets.items():
                if not isinstance(om, OffsetAndMetadata):
                    om = OffsetAndMetadata(*om) if isinstance(om, tuple) else OffsetAndMetadata(int(om))
                topics.setdefault(tp.topic, []).append(
                    {
                        "partition_index": tp.partition,
                        "committed_offset": om.offset,
                        "committed_leader_epoch": om.leader_epoch if om.leader_epoch is not None else -1,
                        "committed_metadata": om.metadata or "",
                    }
                )
            body = {
                "group_id": self.group_id,
                "generation_id_or_member_epoch": generation,
                "member_id": member,
                "group_instance_id": instance,
                "retention_time_ms": -1,
                "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
            }
            started = time.monotonic()
            retry: str | None = None
            try:
                await self.ensure_coordinator_ready(deadline)
                resp, _v = await self._send("OffsetCommit", body, cap=_MAX_VERSION["OffsetCommit"])
            except Retry as exc:
                retry = str(exc)
            else:
                self.metrics.commit_latency.record((time.monotonic() - started) * 1000.0)
                retry = self._commit_errors(resp)
                if retry is None:
                    return
            if time.monotonic() + self.retry_backoff > deadline:
                raise KafkaTimeoutError(f"offset commit for group {self.group_id!r} timed out ({retry})")
            await asyncio.sleep(self.retry_backoff)

    def _commit_errors(self, resp: dict[str, Any]) -> str | None:
        retry = None
        for t in resp["topics"]:
            for p in t["partitions"]:
                code = p["error_code"]
                if not code:
                    continue
                err = for_code(code)
                where = f"{t['name']}-{p['partition_index']}"
                if code in (_COORDINATOR_NOT_AVAILABLE, _NOT_COORDINATOR, _REQUEST_TIMED_OUT):
                    self.mark_coordinator_dead(f"OffsetCommit: {err.__name__}")
                    retry = err.__name__
                elif code in (_ILLEGAL_GENERATION, _UNKNOWN_MEMBER_ID):
                    self._reset_generation(f"OffsetCommit: {err.__name__}", code == _UNKNOWN_MEMBER_ID)
                    raise CommitFailedError()
                elif code == _REBALANCE_IN_PROGRESS:
                    self.request_rejoin("OffsetCommit: rebalance in progress")
                    raise CommitFailedError(
                        f"Commit for {where} cannot be completed: group {self.group_id!r} is rebalancing; "
                        "poll() to finish the rebalance, then commit the offsets of the partitions you still own"
                    )
                elif code == _FENCED_INSTANCE_ID:
                    raise err(
                        f"commit fenced: group_instance_id {self.group_instance_id!r} is used by another consumer"
                    )
                elif err.retriable:
                    retry = err.__name__
                else:
                    raise err(
                        f"offset commit for {where} in group {self.group_id!r} failed: {err.description}"
                    )
        return retry

    async def fetch_committed(
        self, partitions: Iterable[TopicPartition], timeout: float
    ) -> dict[TopicPartition, OffsetAndMetadata | None]:
        """The group's committed offset of each partition (None where nothing is committed)."""
        tps = list(partitions)
        if not tps:
            return {}
        deadline = time.monotonic() + timeout
        topics: dict[str, list[int]] = {}
        for tp in tps:
            topics.setdefault(tp.topic, []).append(tp.partition)
        topic_list = [{"name": t, "partition_indexes": ps} for t, ps in topics.items()]
        body = {
            "group_id": self.group_id,
            "topics": topic_list,
            "groups": [
                {"group_id": self.group_id, "member_id": None, "member_epoch": -1, "topics": topic_list}
            ],
            "require_stable": True,
        }
        while True:
            retry: str | None = None
            try:
                await self.ensure_coordinator_ready(deadline)
                resp, version = await self._send("OffsetFetch", body, cap=_MAX_VERSION["OffsetFetch"])
            except Retry as exc:
                retry = str(exc)
            else:
                if version >= 8:
                    g = resp["groups"][0]
                    code, topic_resps = g["error_code"], g["topics"]
                else:
                    code, topic_resps = resp["error_code"], resp["topics"]
                if code:
                    retry = self._fetch_error(code)
                else:
                    out: dict[TopicPartition, OffsetAndMetadata | None] = {tp: None for tp in tps}
                    for t in topic_resps:
                        for p in t["partitions"]:
                            pcode = p["error_code"]
                            tp = TopicPartition(t["name"], p["partition_index"])
                            if pcode:
                                retry = self._fetch_error(pcode, tp)
                                continue
                            if p["committed_offset"] >= 0:
                                out[tp] = OffsetAndMetadata(
                                    p["committed_offset"], p["metadata"] or "", p["committed_leader_epoch"]
                                )
                    if retry is None:
                        return out
            if time.monotonic() + self.retry_backoff > deadline:
                raise KafkaTimeoutError(
                    f"committed offsets of group {self.group_id!r} not fetched in time ({retry})"
                )
            await asyncio.sleep(self.retry_backoff)

    def _fetch_error(self, code: int, tp: TopicPartition | None = None) -> str:
        err = for_code(code)
        if code in (_COORDINATOR_NOT_AVAILABLE, _NOT_COORDINATOR):
            self.mark_coordinator_dead(f"OffsetFetch: {err.__name__}")
            return err.__name__
        if code in (_COORDINATOR_LOAD, _UNSTABLE_OFFSET_COMMIT) or err.retriable:
            return err.__name__
        where = f" for {tp.topic}-{tp.partition}" if tp else ""
        raise err(f"fetching committed offsets{where} of group {self.group_id!r} failed: {err.description}")
