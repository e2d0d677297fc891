"""The classic consumer group's data model: members, one group's membership and state transitions.

How it works: ``ClassicGroup`` holds what Kafka's classic group coordinator keeps per group: the
state (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead) with its valid transitions,
the generation, protocol type and selected protocol, the leader, the members (in join order), the
static members by instance id, the members that were given an id but have not joined yet
(``pending_join``) and those that have not sent SyncGroup yet (``pending_sync``). A ``Member``
carries the request a client is waiting on (``join_future``/``sync_future``); completing one
answers that client. Protocol selection lets every member vote for its most preferred protocol
that all members support and takes the most voted (ties go to the earliest member's vote). A
group also renders its DescribeGroups/ListGroups views, applies OffsetCommit's membership checks
and decides which committed offsets are past retention. The coordinator in
``kafkakit.broker.groups`` drives all of this (timers, I/O, request handling).

``Timers`` is the coordinator's keyed one-shot timer helper (``loop.call_later``; scheduling a key
again replaces its timer; a failing callback is logged, never propagated into the loop).

What it must never do: perform I/O, leave a member's waiting request without an answer when the
member is removed or replaced, or raise on a member's metadata (it is opaque bytes from a client).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kafkakit.broker.offsets_store import CommittedOffset
from kafkakit.protocol import consumer_protocol

log = logging.getLogger("kafkakit.broker.groups")

__all__ = ["ClassicGroup", "Member", "JoinRequest", "Timers", "STATES", "join_error", "sync_error", "now_ms"]

# Kafka error codes used here (the kafkakit.errors classes carry the same numbers)
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_METADATA_TOO_LARGE = 12
COORDINATOR_NOT_AVAILABLE = 15
NOT_COORDINATOR = 16
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
GROUP_MAX_SIZE_REACHED = 81
FENCED_INSTANCE_ID = 82
GROUP_SUBSCRIBED_TO_TOPIC = 86

EMPTY = "Empty"
PREPARING_REBALANCE = "PreparingRebalance"
COMPLETING_REBALANCE = "CompletingRebalance"
STABLE = "Stable"
DEAD = "Dead"
STATES = (EMPTY, PREPARING_REBALANCE, COMPLETING_REBALANCE, STABLE, DEAD)
_VALID_PREVIOUS = {
    EMPTY: {PREPARING_REBALANCE},
    PREPARING_REBALANCE: {STABLE, COMPLETING_REBALANCE, EMPTY},
    COMPLETING_REBALANCE: {PREPARING_REBALANCE},
    STABLE: {COMPLETING_REBALANCE},
    DEAD: set(STATES),
}

#: defaults of settings BrokerConfig may lack (Kafka's defaults)
NEW_MEMBER_JOIN_TIMEOUT_MS = 300_000
OFFSET_METADATA_MAX_BYTES = 4096
OFFSETS_RETENTION_CHECK_INTERVAL_MS = 600_000
GROUP_MAX_SIZE = 2**31 - 1

Protocols = list[tuple[str, bytes]]
Response = dict[str, Any]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def join_error(member_id: str, code: int) -> Response:
    """A JoinGroup answer carrying only an error (and the member id to echo)."""
    return {
        "error_code": code,
        "generation_id": -1,
        "protocol_type": None,
        "protocol_name": None,
        "leader": "",
        "skip_assignment": False,
        "member_id": member_id,
        "members": [],
    }


def sync_error(code: int) -> Response:
    return {"error_code": code, "protocol_type": None, "protocol_name": None, "assignment": b""}


def _resolve(fut: asyncio.Future[Response] | None, resp: Response) -> None:
    if fut is not None and not fut.done():
        fut.set_result(resp)


@dataclass
class JoinRequest:
    """A JoinGroup request as the coordinator needs it (any version)."""

    group_id: str
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    version: int
    reason: str | None = None


@dataclass(eq=False)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    assignment: bytes = b""
    join_future: asyncio.Future[Response] | None = None
    sync_future: asyncio.Future[Response] | None = None
    #: joined but never completed a rebalance: its session timeout does not apply yet
    is_new: bool = False

    def metadata(self, protocol: str | None) -> bytes:
        for name, meta in self.protocols:
            if name == protocol:
                return meta
        return b""

    def matches(self, protocols: Protocols) -> bool:
        return self.protocols == protocols

    def vote(self, candidates: set[str]) -> str:
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise RuntimeError(f"member {self.member_id} supports none of {sorted(candidates)}")

    def has_satisfied_heartbeat(self) -> bool:
        if self.is_new:
            return False
        return self.join_future is not None or self.sync_future is not None


class ClassicGroup:
    """One classic group's membership and state (no timers or I/O: the coordinator drives it)."""

    def __init__(
        self,
        group_id: str,
        state: str = EMPTY,
        generation_id: int = 0,
        protocol_type: str | None = None,
        state_timestamp_ms: int | None = None,
    ) -> None:
        self.group_id = group_id
        self.state = state
        self.previous_state = DEAD
        self.state_timestamp_ms = now_ms() if state_timestamp_ms is None else state_timestamp_ms
        self.generation_id = generation_id
        self.protocol_type = protocol_type
        self.protocol_name: str | None = None
        self.leader_id: str | None = None
        self.members: dict[str, Member] = {}
        self.static_members: dict[str, str] = {}
        self.pending_join: set[str] = set()
        self.pending_sync: set[str] = set()
        self.supported: Counter[str] = Counter()
        self.subscribed_topics: set[str] | None = None
        self.new_member_added = False

    # -------------------------------------------------------- queries

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id is not None and self.leader_id == member_id

    def num_awaiting_join(self) -> int:
        return sum(1 for m in self.members.values() if m.join_future is not None)

    def has_all_members_joined(self) -> bool:
        return self.num_awaiting_join() == len(self.members) and not self.pending_join

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def can_rebalance(self) -> bool:
        return self.state in _VALID_PREVIOUS[PREPARING_REBALANCE]

    def uses_consumer_protocol(self) -> bool:
        return self.protocol_type == consumer_protocol.PROTOCOL_TYPE

    def is_subscribed_to(self, topic: str) -> bool:
        if self.subscribed_topics is not None:
            return topic in self.subscribed_topics
        return self.uses_consumer_protocol()

    def supports_protocols(self, protocol_type: str, names: list[str]) -> bool:
        if self.state == EMPTY:
            return bool(protocol_type) and bool(names)
        n = len(self.members)
        return self.protocol_type == protocol_type and any(self.supported[name] == n for name in names)

    def select_protocol(self) -> str:
        n = len(self.members)
        candidates = {name for name, count in self.supported.items() if count == n}
        votes: Counter[str] = Counter(m.vote(candidates) for m in self.members.values())
        return max(votes.items(), key=lambda kv: kv[1])[0]

    def validate_member(self, member_id: str, instance_id: str | None) -> int:
        if instance_id is not None:
            existing = self.static_members.get(instance_id)
            if existing is None:
                return UNKNOWN_MEMBER_ID
            if existing != member_id:
                return FENCED_INSTANCE_ID
        return NONE if member_id in self.members else UNKNOWN_MEMBER_ID

    def validate_offset_commit(
        self, member_id: str, instance_id: str | None, generation_id: int, transactional: bool = False
    ) -> int:
        """OffsetCommit's (or TxnOffsetCommit's) membership checks, in Kafka's order: NONE when the
        commit may proceed. Transactional commits skip the rebalance and member-required checks."""
        if self.state == DEAD:
            return COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and self.state == EMPTY:
            return NONE  # a consumer outside group management, or an admin client
        if generation_id >= 0 or member_id or instance_id is not None:
            error = self.validate_member(member_id, instance_id)
            if error:
                return error
            if generation_id != self.generation_id:
                return ILLEGAL_GENERATION
        elif not transactional and self.state != EMPTY:
            return UNKNOWN_MEMBER_ID
        if not transactional and self.state == COMPLETING_REBALANCE:
            return REBALANCE_IN_PROGRESS
        return NONE

    def current_members(self) -> list[dict[str, Any]]:
        return [
            {
                "member_id": m.member_id,
                "group_instance_id": m.group_instance_id,
                "metadata": m.metadata(self.protocol_name),
            }
            for m in self.members.values()
        ]

    def join_response(
        self, member_id: str, members: list[dict[str, Any]] | None = None, **over: Any
    ) -> Response:
        resp: Response = {
            "error_code": NONE,
            "generation_id": self.generation_id,
            "protocol_type": self.protocol_type,
            "protocol_name": self.protocol_name,
            "leader": self.leader_id or "",
            "skip_assignment": False,
            "member_id": member_id,
            "members": members or [],
        }
        resp.update(over)
        return resp

    # -------------------------------------------------------- changes

    def transition_to(self, state: str) -> None:
        if self.state not in _VALID_PREVIOUS[state]:
            raise RuntimeError(f"group {self.group_id!r} cannot move from {self.state} to {state}")
        self.previous_state, self.state = self.state, state
        self.state_timestamp_ms = now_ms()

    def add(self, member: Member, fut: asyncio.Future[Response] | None) -> None:
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        self.supported.update(name for name, _ in member.protocols)
        member.join_future = fut
        self.pending_join.discard(member.member_id)

    def remove(self, member_id: str) -> None:
        """Drop a member (or pending member); a request it still waits on is answered UNKNOWN_MEMBER_ID."""
        member = self.members.pop(member_id, None)
        if member is not None:
            self.supported.subtract(name for name, _ in member.protocols)
            if (
                member.group_instance_id is not None
                and self.static_members.get(member.group_instance_id) == member_id
            ):
                del self.static_members[member.group_instance_id]
            self.complete_join(member, join_error("", UNKNOWN_MEMBER_ID))
            self.complete_sync(member, sync_error(UNKNOWN_MEMBER_ID))
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self.pending_join.discard(member_id)
        self.pending_sync.discard(member_id)

    def update_member(self, member: Member, req: JoinRequest, fut: asyncio.Future[Response]) -> None:
        self.supported.subtract(name for name, _ in member.protocols)
        member.protocols = req.protocols
        self.supported.update(name for name, _ in member.protocols)
        member.rebalance_timeout_ms = req.rebalance_timeout_ms
        member.session_timeout_ms = req.session_timeout_ms
        if member.join_future is not None and member.join_future is not fut:
            # a retried JoinGroup replaces an older one still waiting: that one is told to rejoin
            _resolve(member.join_future, join_error(member.member_id, REBALANCE_IN_PROGRESS))
        member.join_future = fut

    def replace_static_member(self, instance_id: str, old_id: str, new_id: str) -> Member:
        old = self.members.pop(old_id)
        fenced = join_error(old_id, FENCED_INSTANCE_ID)
        _resolve(old.join_future, fenced)
        _resolve(old.sync_future, sync_error(FENCED_INSTANCE_ID))
        new = Member(
            new_id,
            instance_id,
            old.client_id,
            old.client_host,
            old.rebalance_timeout_ms,
            old.session_timeout_ms,
            old.protocol_type,
            old.protocols,
            assignment=old.assignment,
        )
        self.members[new_id] = new
        if self.leader_id == old_id:
            self.leader_id = new_id
        self.static_members[instance_id] = new_id
        if old_id in self.pending_sync:
            self.pending_sync.discard(old_id)
            self.pending_sync.add(new_id)
        return new

    def maybe_elect_new_joined_leader(self) -> bool:
        if self.leader_id is None:
            return False
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.join_future is not None:
            return True
        for m in self.members.values():
            if m.join_future is not None:
                log.info(
                    "group %s: leader %s did not rejoin in time; %s leads now",
                    self.group_id,
                    self.leader_id,
                    m.member_id,
                )
                self.leader_id = m.member_id
                return True
        return False

    def init_next_generation(self) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed_topics = self._compute_subscribed_topics()
            self.transition_to(COMPLETING_REBALANCE)
        else:
            self.protocol_name = None
            self.subscribed_topics = self._compute_subscribed_topics()
            self.transition_to(EMPTY)
        self.pending_sync.clear()

    def _compute_subscribed_topics(self) -> set[str] | None:
        if self.protocol_type != consumer_protocol.PROTOCOL_TYPE:
            return None
        if not self.members:
            return set()
        if self.protocol_name is None:
            return None
        topics: set[str] = set()
        try:
            for m in self.members.values():
                topics.update(consumer_protocol.decode_subscription(m.metadata(self.protocol_name))["topics"])
        except Exception as exc:  # noqa: BLE001 - members may send anything as metadata
            log.warning(
                "group %s: cannot read the consumer subscriptions (%s); topics unknown", self.group_id, exc
            )
            return None
        return topics

    def complete_join(self, member: Member, resp: Response) -> bool:
        fut, member.join_future = member.join_future, None
        if fut is None:
            return False
        _resolve(fut, resp)
        return True

    def complete_sync(self, member: Member, resp: Response) -> bool:
        fut, member.sync_future = member.sync_future, None
        if fut is None:
            return False
        _resolve(fut, resp)
        return True

    # -------------------------------------------------------- views

    def describe(self) -> Response:
        """DescribeGroups' view: member metadata only when Stable (as Kafka), assignments always."""
        stable = self.state == STABLE
        return {
            "group_id": self.group_id,
            "group_state": self.state,
            "protocol_type": self.protocol_type or "",
            "protocol_data": (self.protocol_name or "") if stable else "",
            "members": [
                {
                    "member_id": m.member_id,
                    "group_instance_id": m.group_instance_id,
                    "client_id": m.client_id,
                    "client_host": m.client_host,
                    "member_metadata": m.metadata(self.protocol_name) if stable else b"",
                    "member_assignment": m.assignment,
                }
                for m in self.members.values()
            ],
        }

    def listed(self) -> Response:
        """ListGroups' row for this group."""
        return {
            "group_id": self.group_id,
            "protocol_type": self.protocol_type or "",
            "group_state": self.state,
            "group_type": "classic",
        }

    def expired_offsets(
        self, offsets: Mapping[tuple[str, int], CommittedOffset], now: int, retention_ms: int
    ) -> list[tuple[str, int]]:
        """The committed offsets past retention, as Kafka decides: an empty group's expire
        ``retention_ms`` after it became empty; a group without a protocol type (offsets only)
        expires each offset that long after its commit; a stable consumer group only the offsets of
        topics it no longer subscribes to; an explicit expiry (OffsetCommit v2-4) wins."""
        expired: list[tuple[str, int]] = []
        for (topic, partition), c in offsets.items():
            if self.protocol_type is None:
                base = c.commit_timestamp_ms
            elif self.state == EMPTY:
                base = self.state_timestamp_ms
            elif (
                self.state == STABLE and self.subscribed_topics is not None and self.uses_consumer_protocol()
            ):
                if topic in self.subscribed_topics:
                    continue
                base = c.commit_timestamp_ms
            else:
                continue
            deadline = c.expire_timestamp_ms if c.expire_timestamp_ms >= 0 else base + retention_ms
            if deadline <= now:
                expired.append((topic, partition))
        return expired


class Timers:
    """Keyed one-shot timers on the event loop; scheduling a key again replaces its timer."""

    def __init__(self) -> None:
        self._handles: dict[tuple[str, ...], asyncio.TimerHandle] = {}

    def schedule(self, key: tuple[str, ...], delay_ms: int, fn: Callable[..., None], *args: Any) -> None:
        self.cancel(key)
        loop = asyncio.get_running_loop()
        self._handles[key] = loop.call_later(max(0, delay_ms) / 1000, self._fire, key, fn, args)

    def _fire(self, key: tuple[str, ...], fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        self._handles.pop(key, None)
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - a timer bug must not kill the loop
            log.exception("group coordinator timer %s failed", key)

    def cancel(self, key: tuple[str, ...]) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def cancel_group(self, group_id: str) -> None:
        for key in [k for k in self._handles if k[1] == group_id]:
            self.cancel(key)

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()


def heartbeat_key(group_id: str, member_id: str) -> tuple[str, ...]:
    return ("heartbeat", group_id, member_id)


def join_key(group_id: str) -> tuple[str, ...]:
    return ("join", group_id)


def sync_key(group_id: str) -> tuple[str, ...]:
    return ("sync", group_id)
