"""What a consumer is subscribed to, what it is assigned, and where it is in each partition.

How it works: ``SubscriptionState`` holds one of three mutually exclusive modes -- topics
(``subscribe(topics)``), a regex pattern (``subscribe(pattern=...)``) or manual assignment
(``assign(partitions)``) -- plus the current assignment as ``{TopicPartition: TopicPartitionState}``.
Each partition state carries two cursors: ``position``, the offset of the next record the user will
get (what commits store), and ``fetch_offset``, the offset the fetcher asks the broker for next,
which runs ahead while the user works through prefetched records. ``generation`` increases on every
seek or reset so data fetched for an earlier cursor is recognised as stale and dropped.
A partition without a position either waits for its committed offset or for an offset reset
(``reset_strategy`` 'earliest'/'latest', or a timestamp for ``offsets_for_times``-style seeks).

Group assignments replace the assignment but keep the state object of every partition that stays,
so a cooperative rebalance does not disturb the partitions that do not move.

What it must never do: mix subscription modes, lose a partition's position while it stays assigned,
or accept a topic name Kafka would reject. It does no I/O; the consumer core mutates it on its event
loop, and the user thread only advances ``position`` while handing out records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import IntEnum
from typing import Any

from kafkakit.errors import IllegalStateError
from kafkakit.structs import OffsetAndMetadata, TopicPartition

__all__ = ["SubscriptionState", "SubscriptionType", "TopicPartitionState", "validate_topic"]

_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]+$")
_MAX_TOPIC_LENGTH = 249

MUTUALLY_EXCLUSIVE = "Subscription to topics, partitions and pattern are mutually exclusive"


def validate_topic(topic: Any) -> str:
    """Return ``topic`` if Kafka accepts it as a topic name, else raise ValueError/TypeError naming it."""
    if not isinstance(topic, str):
        raise TypeError(f"topic names must be str, got {topic!r} ({type(topic).__name__})")
    if not topic or topic in (".", ".."):
        raise ValueError(f"invalid topic name {topic!r}: empty, '.' and '..' are not allowed")
    if len(topic) > _MAX_TOPIC_LENGTH:
        raise ValueError(f"invalid topic name {topic[:40]!r}...: longer than {_MAX_TOPIC_LENGTH} characters")
    if not _LEGAL_TOPIC.match(topic):
        raise ValueError(
            f"invalid topic name {topic!r}: only ASCII letters, digits, '.', '_' and '-' are allowed"
        )
    return topic


class SubscriptionType(IntEnum):
    NONE = 0
    AUTO_TOPICS = 1
    AUTO_PATTERN = 2
    USER_ASSIGNED = 3


class TopicPartitionState:
    """Cursors and fetch bookkeeping of one assigned partition."""

    __slots__ = (
        "position",
        "fetch_offset",
        "generation",
        "leader_epoch",
        "paused",
        "reset_strategy",
        "highwater",
        "last_stable_offset",
        "log_start_offset",
        "in_flight",
        "fetched",
        "drained",
        "revoked",
        "not_before",
    )

    def __init__(self) -> None:
        self.position: int | None = None
        self.fetch_offset: int | None = None
        self.generation = 0
        self.leader_epoch: int | None = None
        self.paused = False
        # 'earliest' / 'latest' while an offset lookup is due; None otherwise
        self.reset_strategy: str | None = None
        self.highwater: int | None = None
        self.last_stable_offset: int | None = None
        self.log_start_offset: int | None = None
        self.in_flight = False  # a fetch for this partition is outstanding
        # completed fetches buffered, counted by the loop thread, and those the user started on,
        # counted by the user's thread: each counter has one writer, their difference is the backlog
        self.fetched = 0
        self.drained = 0
        self.revoked = False  # set when the partition leaves the assignment
        self.not_before = 0.0  # no fetch or offset lookup before this time.monotonic() (backoff)

    def seek(self, offset: int, leader_epoch: int | None = None) -> None:
        self.position = offset
        self.fetch_offset = offset
        self.leader_epoch = leader_epoch
        self.reset_strategy = None
        self.generation += 1

    def request_reset(self, strategy: str) -> None:
        self.position = None
        self.fetch_offset = None
        self.reset_strategy = strategy
        self.generation += 1

    @property
    def has_valid_position(self) -> bool:
        return self.position is not None

    @property
    def awaiting_reset(self) -> bool:
        return self.reset_strategy is not None

    def is_fetchable(self) -> bool:
        return not self.paused and self.fetch_offset is not None and not self.revoked

    def __repr__(self) -> str:
        return (
            f"<TopicPartitionState position={self.position} fetch_offset={self.fetch_offset} "
            f"paused={self.paused} reset={self.reset_strategy}>"
        )


class SubscriptionState:
    """Subscription mode, assignment and per-partition cursors (see module docstring)."""

    def __init__(self, offset_reset_strategy: str = "latest") -> None:
        self.offset_reset_strategy = offset_reset_strategy
        self.subscription_type = SubscriptionType.NONE
        self.subscription: set[str] | None = None
        self.subscribed_pattern: re.Pattern[str] | None = None
        self.listener: Any = None
        self.assignment: dict[TopicPartition, TopicPartitionState] = {}
        self._user_assignment: set[TopicPartition] = set()
        # union of every member's topics, known to the group leader (for its metadata requests)
        self.group_subscription: set[str] = set()
        # bumped whenever the subscribed topic set or the assignment changes
        self.version = 0

    # --- subscription modes ---------------------------------------------------------------

    def _set_type(self, kind: SubscriptionType) -> None:
        if self.subscription_type == SubscriptionType.NONE:
            self.subscription_type = kind
        elif self.subscription_type != kind:
            raise IllegalStateError(MUTUALLY_EXCLUSIVE)

    def subscribe(
        self, topics: Iterable[str] = (), pattern: str | re.Pattern[str] | None = None, listener: Any = None
    ) -> None:
        """Subscribe to topics or a pattern (replacing an earlier subscription of the same kind)."""
        if isinstance(topics, str):
            raise TypeError(f"topics must be a list of topic names, got the string {topics!r}")
        topic_list = list(topics) if topics else []
        if topic_list and pattern is not None:
            raise IllegalStateError(f"{MUTUALLY_EXCLUSIVE}: give topics or pattern, not both")
        if not topic_list and pattern is None:
            raise ValueError("subscribe() needs topics or a pattern")
        if listener is not None and not _is_listener(listener):
            raise TypeError(
                f"listener must provide on_partitions_revoked and on_partitions_assigned, got {listener!r}"
            )
        if pattern is not None:
            try:
                compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
            except re.error as exc:
                raise ValueError(f"invalid subscription pattern {pattern!r}: {exc}") from None
            if not isinstance(compiled, re.Pattern):
                raise TypeError(f"pattern must be a str or compiled regex, got {pattern!r}")
            self._set_type(SubscriptionType.AUTO_PATTERN)
            self.subscribed_pattern = compiled
            self.subscription = set()
        else:
            for t in topic_list:
                validate_topic(t)
            self._set_type(SubscriptionType.AUTO_TOPICS)
            self.change_subscription(topic_list)
        self.listener = listener
        self.version += 1

    def change_subscription(self, topics: Iterable[str]) -> bool:
        """Set the subscribed topics (pattern matches land here too); True when they changed."""
        new = set(topics)
        if new == self.subscription:
            return False
        self.subscription = new
        self.group_subscription |= new
        self.version += 1
        return True

    def matches_pattern(self, topic: str) -> bool:
        return self.subscribed_pattern is not None and self.subscribed_pattern.match(topic) is not None

    def partitions_auto_assigned(self) -> bool:
        return self.subscription_type in (SubscriptionType.AUTO_TOPICS, SubscriptionType.AUTO_PATTERN)

    def assign_from_user(self, partitions: Iterable[TopicPartition]) -> None:
        """Manual assignment: exactly these partitions, keeping positions of those already assigned."""
        tps: list[TopicPartition] = []
        for tp in partitions:
            if not isinstance(tp, tuple) or len(tp) != 2:
                raise TypeError(f"assign() takes TopicPartition(topic, partition) values, got {tp!r}")
            topic, partition = tp
            validate_topic(topic)
            if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
                raise ValueError(f"invalid partition {partition!r} for topic {topic!r}: expected an int >= 0")
            tps.append(TopicPartition(topic, partition))
        self._set_type(SubscriptionType.USER_ASSIGNED)
        self._user_assignment = set(tps)
        self._replace_assignment(tps)

    def assign_from_subscribed(self, partitions: Iterable[TopicPartition]) -> None:
        """Group assignment (from SyncGroup): partitions staying keep their state."""
        if not self.partitions_auto_assigned():
            raise IllegalStateError("group assignment while not subscribed to topics or a pattern")
        tps = list(partitions)
        for tp in tps:
            if not self._subscribed_to(tp.topic):
                raise IllegalStateError(
                    f"assigned partition {tp} is not in the subscription {sorted(self.subscription or ())}"
                )
        self._replace_assignment(tps)

    def _subscribed_to(self, topic: str) -> bool:
        if self.subscription and topic in self.subscription:
            return True
        return self.matches_pattern(topic)

    def _replace_assignment(self, tps: list[TopicPartition]) -> None:
        old = self.assignment
        new: dict[TopicPartition, TopicPartitionState] = {}
        for tp in tps:
            new[tp] = old.get(tp) or TopicPartitionState()
        for tp, state in old.items():
            if tp not in new:
                state.revoked = True
                state.generation += 1
        self.assignment = new
        self.version += 1

    def unsubscribe(self) -> None:
        for state in self.assignment.values():
            state.revoked = True
            state.generation += 1
        self.subscription = None
        self.subscribed_pattern = None
        self._user_assignment = set()
        self.assignment = {}
        self.group_subscription = set()
        self.subscription_type = SubscriptionType.NONE
        self.listener = None
        self.version += 1

    # --- queries ---------------------------------------------------------------------------

    def assigned_partitions(self) -> set[TopicPartition]:
        return set(self.assignment)

    def paused_partitions(self) -> set[TopicPartition]:
        return {tp for tp, s in self.assignment.items() if s.paused}

    def fetchable_partitions(self) -> list[TopicPartition]:
        return [tp for tp, s in self.assignment.items() if s.is_fetchable()]

    def is_assigned(self, tp: TopicPartition) -> bool:
        return tp in self.assignment

    def state(self, tp: TopicPartition) -> TopicPartitionState:
        try:
            return self.assignment[tp]
        except KeyError:
            raise IllegalStateError(f"partition {tp} is not assigned to this consumer") from None

    def missing_positions(self) -> list[TopicPartition]:
        """Partitions with neither a position nor a pending reset (their committed offset is due)."""
        return [tp for tp, s in self.assignment.items() if s.position is None and s.reset_strategy is None]

    def partitions_needing_reset(self) -> list[TopicPartition]:
        return [tp for tp, s in self.assignment.items() if s.reset_strategy is not None]

    def has_all_positions(self) -> bool:
        return all(s.position is not None for s in self.assignment.values())

    def all_consumed_offsets(self) -> dict[TopicPartition, OffsetAndMetadata]:
        """Offsets to commit: the position of every assigned partition that has one."""
        return {
            tp: OffsetAndMetadata(s.position, "", -1 if s.leader_epoch is None else s.leader_epoch)
            for tp, s in self.assignment.items()
            if s.position is not None
        }

    # --- cursor changes ----------------------------------------------------------------------

    def seek(self, tp: TopicPartition, offset: int, leader_epoch: int | None = None) -> None:
        self.state(tp).seek(offset, leader_epoch)

    def request_reset(self, tp: TopicPartition, strategy: str | None = None) -> None:
        self.state(tp).request_reset(strategy or self.offset_reset_strategy)

    def pause(self, tp: TopicPartition) -> None:
        self.state(tp).paused = True

    def resume(self, tp: TopicPartition) -> None:
        self.state(tp).paused = False


def _is_listener(obj: Any) -> bool:
    return callable(getattr(obj, "on_partitions_revoked", None)) and callable(
        getattr(obj, "on_partitions_assigned", None)
    )
