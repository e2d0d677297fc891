"""ConsumerCoordinator: classic consumer-group membership, offset commits and committed-offset fetches.

How it works (all on the client's event loop): ``ensure_coordinator_ready`` asks any broker
FindCoordinator and opens a connection of its own to the answer, so heartbeats never queue behind a
long-polling fetch. ``poll(deadline)``, called by every consumer poll, starts (or continues) one
rebalance task and waits for it until the deadline; the task prepares (eager: commit, then revoke
every partition through the listener; after losing membership: on_partitions_lost), sends JoinGroup
(repeating it with the member id the broker hands out on MEMBER_ID_REQUIRED), lets the leader run the
chosen assignor over the members' subscriptions (``assignors``), sends SyncGroup and applies the
result. Cooperative assignors (KIP-429) keep owned partitions across the join: only partitions that
move are revoked after SyncGroup, and a member that revoked anything rejoins at once so they land
with their new owner in the next round. Listener callbacks go through ``invoke`` (the sync consumer
runs them on its own thread inside poll()).

A heartbeat task sends Heartbeat every heartbeat_interval_ms while the member is stable; an answer
asking for a rebalance, or a metadata change of the subscribed topics (new partitions, a new topic
matching the pattern), marks the member for rejoining at the next poll; ILLEGAL_GENERATION /
UNKNOWN_MEMBER_ID mean the member was dropped (its partitions are "lost"). When the user has not
polled for max_poll_interval_ms the task sends LeaveGroup (dynamic members) so the group moves on.
Auto-commit runs from poll every auto_commit_interval_ms and before partitions are revoked;
commits and committed-offset lookups live in ``offsets.GroupOffsets``. NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE / a broken connection make the
coordinator unknown: it is looked up again and the request retried.

What it must never do: call a listener other than through ``invoke``, block the loop, commit with a
stale generation as if it were valid, or leave the group silently without the next poll learning of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, NamedTuple

from kafkakit.client.cluster import AsyncClient
from kafkakit.client.connection import BrokerConnection
from kafkakit.client.consumer.assignors import (
    AbstractPartitionAssignor,
    MemberAssignment,
    MemberSubscription,
    RebalanceProtocol,
)
from kafkakit.client.consumer.fetcher import cap_version
from kafkakit.client.consumer.metrics import ConsumerMetrics
from kafkakit.client.consumer.offsets import GroupOffsets, Retry
from kafkakit.client.consumer.subscription_state import SubscriptionState, SubscriptionType
from kafkakit.errors import (
    CoordinatorNotAvailableError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    for_code,
)
from kafkakit.protocol.consumer_protocol import PROTOCOL_TYPE, decode_assignment, encode_subscription
from kafkakit.structs import OffsetAndMetadata, TopicPartition

log = logging.getLogger(__name__)

__all__ = ["ConsumerCoordinator", "ConsumerGroupMetadata", "MemberState"]

Invoke = Callable[..., Awaitable[Any]]

# error codes
_COORDINATOR_LOAD = 14
_COORDINATOR_NOT_AVAILABLE = 15
_NOT_COORDINATOR = 16
_REQUEST_TIMED_OUT = 7
_ILLEGAL_GENERATION = 22
_UNKNOWN_MEMBER_ID = 25
_REBALANCE_IN_PROGRESS = 27
_MEMBER_ID_REQUIRED = 79
_FENCED_INSTANCE_ID = 82
_UNSTABLE_OFFSET_COMMIT = 88
_COORDINATOR_CODES = {_COORDINATOR_NOT_AVAILABLE, _NOT_COORDINATOR, _REQUEST_TIMED_OUT}


class MemberState:
    UNJOINED = "<unjoined>"
    REBALANCING = "<rebalancing>"
    STABLE = "<stable>"


class ConsumerGroupMetadata(NamedTuple):
    group_id: str | None = None
    generation_id: int = -1
    member_id: str = ""
    group_instance_id: str | None = None
    state: str = MemberState.UNJOINED


class ConsumerCoordinator(GroupOffsets):
    """Group membership and offsets for one consumer (see module docstring)."""

    def __init__(
        self,
        client: AsyncClient,
        subscriptions: SubscriptionState,
        config: Mapping[str, Any],
        metrics: ConsumerMetrics,
        assignors: list[AbstractPartitionAssignor],
        invoke: Invoke,
    ) -> None:
        self.client = client
        self.subs = subscriptions
        self.config = config
        self.metrics = metrics
        self.assignors = assignors
        self.invoke = invoke
        self.group_id: str = config["group_id"]
        self.group_instance_id: str | None = config.get("group_instance_id")
        self.session_timeout_ms = int(config["session_timeout_ms"])
        self.heartbeat_interval = config["heartbeat_interval_ms"] / 1000.0
        self.rebalance_timeout_ms = int(config["max_poll_interval_ms"])
        self.max_poll_interval = config["max_poll_interval_ms"] / 1000.0
        self.retry_backoff = config.get("retry_backoff_ms", 100) / 1000.0
        self.auto_commit = bool(config.get("enable_auto_commit", True))
        self.auto_commit_interval = config.get("auto_commit_interval_ms", 5000) / 1000.0
        self.cooperative = RebalanceProtocol.COOPERATIVE in assignors[0].supported_protocols()
        self.coordinator_id: int | None = None
        self._conn: BrokerConnection | None = None
        self.generation = -1
        self.member_id = ""
        self.protocol: str | None = None
        self.leader_id: str | None = None
        self.state = MemberState.UNJOINED
        self.rejoin_needed = True
        self._join_prepared = False
        self._rebalance_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._heartbeat_wake: asyncio.Event | None = None
        self._commit_lock: asyncio.Lock | None = None
        self._find_lock: asyncio.Lock | None = None
        self.last_poll = time.monotonic()
        self.next_auto_commit = time.monotonic() + self.auto_commit_interval
        self.fatal_error: BaseException | None = None
        self.listener_error: BaseException | None = None
        self._snapshot: dict[str, int] = {}
        self._closed = False
        self.completed_commits: list[
            tuple[Callable[..., Any], dict[TopicPartition, OffsetAndMetadata], Any]
        ] = []
        client.add_metadata_listener(self._on_metadata)

    # --- state -------------------------------------------------------------------------------

    def group_metadata(self) -> ConsumerGroupMetadata:
        return ConsumerGroupMetadata(
            self.group_id, self.generation, self.member_id, self.group_instance_id, self.state
        )

    def request_rejoin(self, reason: str = "") -> None:
        if not self.rejoin_needed:
            log.debug("group %s: rejoin requested (%s)", self.group_id, reason)
        self.rejoin_needed = True

    def _reset_generation(self, reason: str, reset_member_id: bool = True) -> None:
        log.info("group %s: member %s lost its generation: %s", self.group_id, self.member_id, reason)
        self.generation = -1
        if reset_member_id:
            self.member_id = ""
        self.state = MemberState.UNJOINED
        self.request_rejoin(reason)

    def need_poll_work(self, now: float) -> bool:
        """True when poll() must enter the coordinator (cheap check, any thread)."""
        if self.fatal_error is not None or self.listener_error is not None or self.completed_commits:
            return True
        if self.subs.partitions_auto_assigned():
            if self.rejoin_needed or self.state != MemberState.STABLE:
                return True
            if self._rebalance_task is not None and not self._rebalance_task.done():
                return True
        return self.auto_commit and now >= self.next_auto_commit

    def coordinator_unknown(self) -> bool:
        return self.coordinator_id is None or self._conn is None or self._conn.closed

    def mark_coordinator_dead(self, reason: str) -> None:
        if self.coordinator_id is not None:
            log.info("group %s: coordinator %s marked dead: %s", self.group_id, self.coordinator_id, reason)
        self.coordinator_id = None
        if self._conn is not None:
            self._conn.close(KafkaConnectionError(f"group coordinator connection dropped: {reason}"))
            self._conn = None

    # --- coordinator discovery ----------------------------------------------------------------

    async def ensure_coordinator_ready(self, deadline: float | None = None) -> BrokerConnection:
        if self._find_lock is None:
            self._find_lock = asyncio.Lock()
        async with self._find_lock:
            while self.coordinator_unknown():
                if self._closed:
                    raise KafkaConnectionError("consumer closed")
                try:
                    await self._find_coordinator()
                except KafkaError as exc:
                    if not exc.retriable:
                        raise
                    log.debug("group %s: FindCoordinator failed: %s", self.group_id, exc)
                    if deadline is not None and time.monotonic() + self.retry_backoff > deadline:
                        raise KafkaTimeoutError(
                            f"group coordinator for {self.group_id!r} not found before the timeout: {exc}"
                        ) from None
                    await asyncio.sleep(self.retry_backoff)
            assert self._conn is not None
            return self._conn

    async def _find_coordinator(self) -> None:
        node = self.client.least_loaded_node()
        if node is None:
            raise KafkaConnectionError("no broker known to ask for the group coordinator")
        conn = await self.client.get_connection(node, timeout=self.client.request_timeout_ms / 1000)
        version = conn.version("FindCoordinator")
        body: dict[str, Any] = {"key": self.group_id, "key_type": 0, "coordinator_keys": [self.group_id]}
        resp = await conn.request("FindCoordinator", body, version=version)
        if version >= 4:
            c = resp["coordinators"][0]
            code, node_id, host, port = c["error_code"], c["node_id"], c["host"], c["port"]
        else:
            code, node_id, host, port = resp["error_code"], resp["node_id"], resp["host"], resp["port"]
        if code:
            raise for_code(code)(f"FindCoordinator for group {self.group_id!r}")
        conn2 = BrokerConnection(
            host, port, node_id=node_id, config=self.client.config, loop=self.client.loop
        )
        await conn2.connect()
        self.coordinator_id = node_id
        self._conn = conn2
        log.debug("group %s: coordinator is node %s (%s:%s)", self.group_id, node_id, host, port)

    async def _send(
        self, api: str, body: dict[str, Any], *, timeout_ms: float | None = None, cap: int | None = None
    ) -> Any:
        conn = await self.ensure_coordinator_ready()
        version = cap_version(conn, api, cap) if cap is not None else conn.version(api)
        try:
            return await conn.request(api, body, version=version, timeout_ms=timeout_ms), version
        except KafkaError as exc:
            if isinstance(exc, (KafkaConnectionError, KafkaTimeoutError)):
                self.mark_coordinator_dead(f"{api}: {exc}")
                raise Retry(str(exc)) from None
            raise

    # --- poll-driven group management ---------------------------------------------------------

    async def poll(self, deadline: float) -> None:
        """Called on each consumer poll: keep membership current, auto-commit when due."""
        self.last_poll = time.monotonic()
        self._raise_pending()
        if self.subs.partitions_auto_assigned() and (
            self.rejoin_needed or self.state != MemberState.STABLE or self.coordinator_unknown()
        ):
            task = self._rebalance_task
            if task is None or task.done():
                task = self._rebalance_task = self.client.loop.create_task(self._ensure_active_group())
            timeout = max(deadline - time.monotonic(), 0)
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if done:
                self._rebalance_task = None
                task.result()  # fatal errors surface here
        self._raise_pending()
        if self.auto_commit and time.monotonic() >= self.next_auto_commit:
            self.next_auto_commit = time.monotonic() + self.auto_commit_interval
            if self.state == MemberState.STABLE or not self.subs.partitions_auto_assigned():
                offsets = self.subs.all_consumed_offsets()
                if offsets:
                    self.commit_async(offsets, self.config.get("default_offset_commit_callback"))

    def _raise_pending(self) -> None:
        if self.fatal_error is not None:
            raise self.fatal_error
        if self.listener_error is not None:
            err, self.listener_error = self.listener_error, None
            raise err

    async def _ensure_active_group(self) -> None:
        while not self._closed and self.subs.partitions_auto_assigned():
            if not (self.rejoin_needed or self.state != MemberState.STABLE or self.coordinator_unknown()):
                return
            try:
                await self.ensure_coordinator_ready()
                if not (self.rejoin_needed or self.state != MemberState.STABLE):
                    return
                if not self._join_prepared:
                    await self._on_join_prepare()
                    self._join_prepared = True
                await self._join_and_sync()
            except Retry as exc:
                log.debug("group %s: rebalance step will be retried: %s", self.group_id, exc)
                await asyncio.sleep(self.retry_backoff)
            except KafkaError as exc:
                if exc.retriable:
                    await asyncio.sleep(self.retry_backoff)
                    continue
                self.fatal_error = exc
                raise

    async def _invoke_listener(self, method: str, partitions: set[TopicPartition]) -> None:
        listener = self.subs.listener
        if listener is None:
            return
        fn = getattr(listener, method, None)
        if fn is None and method == "on_partitions_lost":
            fn = listener.on_partitions_revoked
        if fn is None:
            return
        try:
            await self.invoke(fn, partitions)
        except Exception as exc:  # noqa: BLE001 - reported to the caller of poll() afterwards
            log.error("rebalance listener %s(%s) raised %r", method, sorted(partitions), exc)
            if self.listener_error is None:
                self.listener_error = exc

    async def _on_join_prepare(self) -> None:
        owned = set(self.subs.assignment)
        if self.generation < 0 or not self.member_id:
            # membership was lost: the partitions may already be someone else's
            if owned:
                await self._invoke_listener("on_partitions_lost", owned)
                self.subs.assign_from_subscribed([])
            return
        if self.cooperative:
            gone = {tp for tp in owned if not self.subs._subscribed_to(tp.topic)}
            if gone:
                await self._maybe_auto_commit_sync(
                    {tp: o for tp, o in self.subs.all_consumed_offsets().items() if tp in gone}
                )
                await self._invoke_listener("on_partitions_revoked", gone)
                self.subs.assign_from_subscribed([tp for tp in owned if tp not in gone])
            return
        await self._maybe_auto_commit_sync(self.subs.all_consumed_offsets())
        await self._invoke_listener("on_partitions_revoked", owned)
        self.subs.assign_from_subscribed([])

    async def _maybe_auto_commit_sync(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if not self.auto_commit or not offsets:
            return
        try:
            await self.commit_offsets(offsets, timeout=self.client.request_timeout_ms / 1000.0)
        except KafkaError as exc:
            log.warning(
                "group %s: auto-commit of %s before rebalance failed: %s", self.group_id, offsets, exc
            )

    def _subscription_payloads(self) -> list[dict[str, Any]]:
        topics = sorted(self.subs.subscription or ())
        owned: dict[str, list[int]] = {}
        for tp in self.subs.assignment:
            owned.setdefault(tp.topic, []).append(tp.partition)
        rack = self.config.get("client_rack") or None
        return [
            {
                "name": a.name,
                "metadata": encode_subscription(
                    topics,
                    a.subscription_user_data(topics),
                    owned_partitions=owned,
                    generation_id=self.generation,
                    rack_id=rack,
                ),
            }
            for a in self.assignors
        ]

    async def _join_and_sync(self) -> None:
        self.state = MemberState.REBALANCING
        self.rejoin_needed = True
        # the metadata the leader assigns from must know every subscribed topic
        self._snapshot = self._partition_counts(self.subs.subscription or ())
        body = {
            "group_id": self.group_id,
            "session_timeout_ms": self.session_timeout_ms,
            "rebalance_timeout_ms": self.rebalance_timeout_ms,
            "member_id": self.member_id,
            "group_instance_id": self.group_instance_id,
            "protocol_type": PROTOCOL_TYPE,
            "protocols": self._subscription_payloads(),
            "reason": None,
        }
        started = time.monotonic()
        join_timeout = max(self.client.request_timeout_ms, self.rebalance_timeout_ms + 5000)
        resp, _v = await self._send("JoinGroup", body, timeout_ms=join_timeout)
        code = resp["error_code"]
        if code == _MEMBER_ID_REQUIRED:
            self.member_id = resp["member_id"]
            raise Retry("the coordinator assigned a member id; joining again with it")
        if code:
            self._join_error(code, "JoinGroup")
        self.metrics.join_time.record((time.monotonic() - started) * 1000.0)
        self.generation = resp["generation_id"]
        self.member_id = resp["member_id"]
        self.protocol = resp["protocol_name"]
        self.leader_id = resp["leader"]
        assignments: list[dict[str, Any]] = []
        if resp["leader"] == resp["member_id"] and not resp.get("skip_assignment"):
            assignments = await self._perform_assignment(resp["members"])
        sync = {
            "group_id": self.group_id,
            "generation_id": self.generation,
            "member_id": self.member_id,
            "group_instance_id": self.group_instance_id,
            "protocol_type": PROTOCOL_TYPE,
            "protocol_name": self.protocol,
            "assignments": assignments,
        }
        started = time.monotonic()
        sresp, _v = await self._send("SyncGroup", sync)
        code = sresp["error_code"]
        if code:
            self._join_error(code, "SyncGroup")
        self.metrics.sync_time.record((time.monotonic() - started) * 1000.0)
        await self._on_join_complete(bytes(sresp["assignment"] or b""))

    def _join_error(self, code: int, api: str) -> None:
        err = for_code(code)
        if code == _UNKNOWN_MEMBER_ID:
            self._reset_generation(f"{api}: unknown member id")
            raise Retry("unknown member id")
        if code == _ILLEGAL_GENERATION:
            self._reset_generation(f"{api}: illegal generation", reset_member_id=False)
            raise Retry("illegal generation")
        if code in (_COORDINATOR_NOT_AVAILABLE, _NOT_COORDINATOR):
            self.mark_coordinator_dead(f"{api}: {err.__name__}")
            raise Retry(err.__name__)
        if code in (_COORDINATOR_LOAD, _REBALANCE_IN_PROGRESS) or err.retriable:
            self.request_rejoin(err.__name__)
            raise Retry(err.__name__)
        if code == _FENCED_INSTANCE_ID:
            raise err(
                f"group {self.group_id!r}: another consumer joined with group_instance_id "
                f"{self.group_instance_id!r}; this one is fenced and must be closed"
            )
        raise err(f"{api} for group {self.group_id!r} failed: {err.description}")

    def _partition_counts(self, topics: Iterable[str]) -> dict[str, int]:
        cluster = self.client.cluster
        out = {}
        for t in topics:
            parts = cluster.partitions_for_topic(t)
            if parts is not None:
                out[t] = len(parts)
        return out

    async def _perform_assignment(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assignor = next((a for a in self.assignors if a.name == self.protocol), None)
        if assignor is None:
            raise CoordinatorNotAvailableError(
                f"group chose assignor {self.protocol!r}, which this consumer lacks"
            )
        subscriptions = {
            m["member_id"]: MemberSubscription.decode(
                m["member_id"], bytes(m["metadata"]), m.get("group_instance_id")
            )
            for m in members
        }
        all_topics = {t for s in subscriptions.values() for t in s.topics}
        self.subs.group_subscription |= all_topics
        if not all_topics <= set(self.client.topics_of_interest) or any(
            self.client.cluster.partitions_for_topic(t) is None for t in all_topics
        ):
            self.client.add_topics(all_topics)
            try:
                await self.client.refresh_metadata()
            except KafkaError as exc:
                log.debug("metadata refresh before assignment failed: %s", exc)
        counts = {t: sorted(self.client.cluster.partitions_for_topic(t) or ()) for t in all_topics}
        counts = {t: ps for t, ps in counts.items() if ps}
        self._snapshot = {t: len(ps) for t, ps in counts.items()}
        result = assignor.assign(counts, subscriptions)
        log.debug("group %s generation %s: leader assignment %s", self.group_id, self.generation, result)
        return [
            {"member_id": m, "assignment": result.get(m, MemberAssignment()).encode()} for m in subscriptions
        ]

    async def _on_join_complete(self, payload: bytes) -> None:
        decoded = decode_assignment(payload)
        assignment = MemberAssignment(
            {t: sorted(ps) for t, ps in decoded["assigned_partitions"].items()}, decoded["user_data"]
        )
        assigned = [tp for tp in assignment.topic_partitions() if self.subs._subscribed_to(tp.topic)]
        if len(assigned) != len(assignment.topic_partitions()):
            self.request_rejoin("assignment holds topics outside the subscription")
        assignor = next((a for a in self.assignors if a.name == self.protocol), None)
        if assignor is not None:
            assignor.on_assignment(assignment, self.generation)
        self._join_prepared = False
        self.rejoin_needed = False
        self.state = MemberState.STABLE
        self.metrics.rebalances.record()
        self.next_auto_commit = time.monotonic() + self.auto_commit_interval
        self._start_heartbeats()
        owned = set(self.subs.assignment)
        new = set(assigned)
        if self.cooperative:
            revoked = owned - new
            added = new - owned
            if revoked:
                await self._maybe_auto_commit_sync(
                    {tp: o for tp, o in self.subs.all_consumed_offsets().items() if tp in revoked}
                )
                await self._invoke_listener("on_partitions_revoked", revoked)
            self.subs.assign_from_subscribed(assigned)
            await self._invoke_listener("on_partitions_assigned", added)
            if revoked:
                self.request_rejoin("cooperative: partitions revoked, rejoining to hand them over")
        else:
            self.subs.assign_from_subscribed(assigned)
            await self._invoke_listener("on_partitions_assigned", new)
        # metadata may have changed during the rebalance
        self._on_metadata(self.client.cluster)

    # --- metadata changes ---------------------------------------------------------------------

    def _on_metadata(self, cluster: Any) -> None:
        if self._closed or not self.subs.partitions_auto_assigned():
            return
        if self.subs.subscription_type == SubscriptionType.AUTO_PATTERN:
            exclude = bool(self.config.get("exclude_internal_topics", True))
            matched = {
                t for t in cluster.topics(exclude_internal_topics=exclude) if self.subs.matches_pattern(t)
            }
            if self.subs.change_subscription(matched):
                self.request_rejoin(f"pattern now matches {sorted(matched)}")
                self.client.add_topics(matched)
        if self.state != MemberState.STABLE:
            return
        watched = set(self.subs.subscription or ())
        if self.leader_id == self.member_id:
            watched |= self.subs.group_subscription
        for t in watched:
            parts = cluster.partitions_for_topic(t)
            if parts is not None and self._snapshot.get(t) != len(parts):
                self.request_rejoin(f"topic {t!r} now has {len(parts)} partitions")
                self._snapshot[t] = len(parts)

    # --- heartbeats ---------------------------------------------------------------------------

    def _start_heartbeats(self) -> None:
        if self._heartbeat_task is None or self._heartbeat_task.done():
            self._heartbeat_wake = asyncio.Event()
            self._heartbeat_task = self.client.loop.create_task(self._heartbeat_loop())

    async def _heartbeat_loop(self) -> None:
        last_ok = time.monotonic()
        while not self._closed:
            try:
                await asyncio.sleep(self.heartbeat_interval)
                now = time.monotonic()
                if self.state != MemberState.STABLE or self.generation < 0:
                    last_ok = now
                    continue
                if self.subs.partitions_auto_assigned() and now - self.last_poll > self.max_poll_interval:
                    log.warning(
                        "group %s: no poll() for %.1f s (max_poll_interval_ms=%d); leaving the group so its "
                        "partitions can be reassigned. Poll more often or raise max_poll_interval_ms.",
                        self.group_id,
                        now - self.last_poll,
                        int(self.max_poll_interval * 1000),
                    )
                    await self.leave_group("consumer poll timeout has expired")
                    continue
                body = {
                    "group_id": self.group_id,
                    "generation_id": self.generation,
                    "member_id": self.member_id,
                    "group_instance_id": self.group_instance_id,
                }
                started = time.monotonic()
                try:
                    resp, _v = await self._send("Heartbeat", body)
                except (Retry, KafkaError) as exc:
                    log.debug("group %s: heartbeat failed: %s", self.group_id, exc)
                    if time.monotonic() - last_ok > self.session_timeout_ms / 1000.0:
                        self.mark_coordinator_dead("no heartbeat answered within session_timeout_ms")
                    continue
                self.metrics.heartbeat.record((time.monotonic() - started) * 1000.0)
                self.metrics.last_heartbeat = time.monotonic()
                code = resp["error_code"]
                if code == 0:
                    last_ok = time.monotonic()
                elif code == _REBALANCE_IN_PROGRESS:
                    last_ok = time.monotonic()
                    self.request_rejoin("the group is rebalancing")
                elif code in (_ILLEGAL_GENERATION, _UNKNOWN_MEMBER_ID):
                    self._reset_generation(
                        f"Heartbeat: {for_code(code).__name__}", code == _UNKNOWN_MEMBER_ID
                    )
                elif code == _FENCED_INSTANCE_ID:
                    self.fatal_error = for_code(code)(
                        f"group {self.group_id!r}: fenced by another consumer with group_instance_id "
                        f"{self.group_instance_id!r}"
                    )
                    self._reset_generation("fenced")
                elif code in (_COORDINATOR_NOT_AVAILABLE, _NOT_COORDINATOR):
                    self.mark_coordinator_dead(f"Heartbeat: {for_code(code).__name__}")
                else:
                    log.warning("group %s: heartbeat error %s", self.group_id, for_code(code).__name__)
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - the heartbeat must keep going
                log.exception("heartbeat loop error")

    async def leave_group(self, reason: str) -> None:
        """Send LeaveGroup (dynamic members only) and forget the generation."""
        if (
            self.group_instance_id is None
            and self.member_id
            and self.generation >= 0
            and not self.coordinator_unknown()
        ):
            body = {
                "group_id": self.group_id,
                "member_id": self.member_id,
                "members": [{"member_id": self.member_id, "group_instance_id": None, "reason": reason}],
            }
            try:
                await asyncio.wait_for(
                    self._send("LeaveGroup", body), self.client.request_timeout_ms / 1000.0
                )
            except (Retry, KafkaError, asyncio.TimeoutError) as exc:
                log.debug("group %s: LeaveGroup failed: %s", self.group_id, exc)
        self._reset_generation(f"left the group: {reason}")

    # --- shutdown -----------------------------------------------------------------------------

    async def close(self, autocommit: bool, timeout: float) -> None:
        """Commit (when asked and auto-commit is on), revoke through the listener, leave, stop."""
        deadline = time.monotonic() + timeout
        try:
            if self._rebalance_task is not None and not self._rebalance_task.done():
                self._rebalance_task.cancel()
            if autocommit and self.auto_commit:
                offsets = self.subs.all_consumed_offsets()
                if offsets and (self.state == MemberState.STABLE or not self.subs.partitions_auto_assigned()):
                    try:
                        await self.commit_offsets(offsets, max(deadline - time.monotonic(), 0.1))
                    except KafkaError as exc:
                        log.warning("group %s: commit on close failed: %s", self.group_id, exc)
            if self.subs.partitions_auto_assigned():
                owned = set(self.subs.assignment)
                if owned:
                    lost = self.generation < 0
                    await self._invoke_listener(
                        "on_partitions_lost" if lost else "on_partitions_revoked", owned
                    )
                if self.generation >= 0:
                    await self.leave_group("the consumer is being closed")
        finally:
            await self.stop()

    async def stop(self) -> None:
        self._closed = True
        self.client.remove_metadata_listener(self._on_metadata)
        for task in (self._heartbeat_task, self._rebalance_task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except BaseException:  # noqa: BLE001,S110 - cancelled
                    pass
        if self._conn is not None:
            self._conn.close()
            self._conn = None
