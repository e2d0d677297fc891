"""Partition assignors for classic consumer groups: range, roundrobin, sticky, cooperative-sticky.

How it works: the group leader decodes every member's subscription (``MemberSubscription``, built
from JoinGroup metadata by ``kafkakit.protocol.consumer_protocol``), then calls
``assignor.assign(partitions_per_topic, subscriptions)`` with the partition count (or ids) of each
subscribed topic; the result maps every member id to a ``MemberAssignment`` that the coordinator
encodes into SyncGroup. Every member then calls ``on_assignment(assignment, generation)``.

- Range: per topic, members in order (static members first by instance id, then by member id) get
  consecutive ranges; the first ``P % N`` get one extra partition (Java's RangeAssignor).
- RoundRobin: all partitions sorted by topic and partition are dealt out in turn to the members
  subscribed to their topic (Java's RoundRobinAssignor).
- Sticky (KIP-54): partitions stay with their previous owner as far as balance allows; the previous
  assignment and generation travel in user data as ``StickyAssignorUserData`` v1 (Java's layout).
- CooperativeSticky (KIP-429): the sticky target, minus every partition that another member still
  owns in this rebalance; those are revoked by their owner, who rejoins, and land in the next round.

The sticky balance guarantee (``_sticky``): every partition with a subscriber is assigned exactly
once, and no partition could move to another subscriber of its topic that holds two or fewer
partitions than its owner (so members of identical subscriptions differ by at most one).

What it must never do: assign a partition twice, assign a partition to a member not subscribed to
its topic, invent partitions missing from the metadata, or do I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from kafkakit.errors import KafkaConfigurationError
from kafkakit.protocol import primitives as P
from kafkakit.protocol.consumer_protocol import decode_subscription, encode_assignment
from kafkakit.structs import TopicPartition

__all__ = [
    "AbstractPartitionAssignor",
    "CooperativeStickyAssignor",
    "MemberAssignment",
    "MemberSubscription",
    "RangePartitionAssignor",
    "RebalanceProtocol",
    "RoundRobinPartitionAssignor",
    "StickyPartitionAssignor",
    "resolve_assignors",
]


class RebalanceProtocol(IntEnum):
    """EAGER: revoke everything before rejoining. COOPERATIVE (KIP-429): revoke only what moves."""

    EAGER = 0
    COOPERATIVE = 1


@dataclass(frozen=True)
class MemberSubscription:
    """One member's subscription as the leader sees it in JoinGroup."""

    member_id: str
    topics: tuple[str, ...]
    user_data: bytes | None = None
    owned_partitions: Mapping[str, Sequence[int]] = field(default_factory=dict)
    generation_id: int = -1
    rack_id: str | None = None
    group_instance_id: str | None = None

    @classmethod
    def decode(
        cls, member_id: str, metadata: bytes, group_instance_id: str | None = None
    ) -> MemberSubscription:
        d = decode_subscription(metadata)
        return cls(
            member_id=member_id,
            topics=tuple(d["topics"]),
            user_data=d["user_data"],
            owned_partitions={t: list(ps) for t, ps in d["owned_partitions"].items()},
            generation_id=d["generation_id"],
            rack_id=d["rack_id"],
            group_instance_id=group_instance_id,
        )

    def owned(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, ps in self.owned_partitions.items() for p in ps]


@dataclass
class MemberAssignment:
    """The partitions one member is given, ``{topic: sorted partitions}``, plus assignor user data."""

    partitions: dict[str, list[int]] = field(default_factory=dict)
    user_data: bytes | None = None

    @classmethod
    def from_partitions(
        cls, tps: Iterable[TopicPartition], user_data: bytes | None = None
    ) -> MemberAssignment:
        by_topic: dict[str, list[int]] = {}
        for tp in tps:
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        return cls({t: sorted(ps) for t, ps in sorted(by_topic.items())}, user_data)

    def topic_partitions(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, ps in self.partitions.items() for p in ps]

    def encode(self) -> bytes:
        return encode_assignment(sorted(self.partitions.items()), self.user_data)


PartitionsPerTopic = Mapping[str, "int | Iterable[int]"]


def _partition_ids(partitions_per_topic: PartitionsPerTopic) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for topic, spec in partitions_per_topic.items():
        if isinstance(spec, bool):
            raise TypeError(f"partitions of topic {topic!r}: expected a count or partition ids, got {spec!r}")
        ids = list(range(spec)) if isinstance(spec, int) else sorted(set(spec))
        out[topic] = ids
    return out


def _member_order(subscriptions: Mapping[str, MemberSubscription]) -> list[str]:
    """Static members first (by instance id), then dynamic ones by member id, as Java orders them."""
    static = sorted(
        (s.group_instance_id, m) for m, s in subscriptions.items() if s.group_instance_id is not None
    )
    dynamic = sorted(m for m, s in subscriptions.items() if s.group_instance_id is None)
    return [m for _, m in static] + dynamic


class AbstractPartitionAssignor:
    """Base of the assignors. Subclasses set ``name`` and implement ``assign``."""

    name: str = ""

    def supported_protocols(self) -> list[RebalanceProtocol]:
        return [RebalanceProtocol.EAGER]

    def subscription_user_data(self, topics: Iterable[str]) -> bytes | None:
        """Bytes for this member's subscription user data (None: no user data)."""
        return None

    def assign(
        self, partitions_per_topic: PartitionsPerTopic, subscriptions: Mapping[str, MemberSubscription]
    ) -> dict[str, MemberAssignment]:
        raise NotImplementedError

    def on_assignment(self, assignment: MemberAssignment, generation: int) -> None:
        """Called on every member with its own assignment once SyncGroup completes."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class RangePartitionAssignor(AbstractPartitionAssignor):
    """Per topic, consecutive ranges of partitions; the first members get one more when uneven."""

    name = "range"

    def assign(
        self, partitions_per_topic: PartitionsPerTopic, subscriptions: Mapping[str, MemberSubscription]
    ) -> dict[str, MemberAssignment]:
        ids = _partition_ids(partitions_per_topic)
        order = _member_order(subscriptions)
        result: dict[str, list[TopicPartition]] = {m: [] for m in subscriptions}
        for topic in sorted({t for s in subscriptions.values() for t in s.topics}):
            parts = ids.get(topic)
            if not parts:
                continue
            members = [m for m in order if topic in subscriptions[m].topics]
            per, extra = divmod(len(parts), len(members))
            for i, m in enumerate(members):
                start = per * i + min(i, extra)
                length = per + (1 if i < extra else 0)
                result[m].extend(TopicPartition(topic, p) for p in parts[start : start + length])
        return {m: MemberAssignment.from_partitions(tps) for m, tps in result.items()}


class RoundRobinPartitionAssignor(AbstractPartitionAssignor):
    """All partitions sorted by (topic, partition), dealt in turn to the members subscribed to each."""

    name = "roundrobin"

    def assign(
        self, partitions_per_topic: PartitionsPerTopic, subscriptions: Mapping[str, MemberSubscription]
    ) -> dict[str, MemberAssignment]:
        ids = _partition_ids(partitions_per_topic)
        order = _member_order(subscriptions)
        result: dict[str, list[TopicPartition]] = {m: [] for m in subscriptions}
        topics = sorted({t for s in subscriptions.values() for t in s.topics})
        n = len(order)
        cursor = 0
        for topic in topics:
            for p in ids.get(topic, ()):
                # the next member in circular order that subscribes to this topic
                for step in range(n):
                    m = order[(cursor + step) % n]
                    if topic in subscriptions[m].topics:
                        result[m].append(TopicPartition(topic, p))
                        cursor = (cursor + step + 1) % n
                        break
        return {m: MemberAssignment.from_partitions(tps) for m, tps in result.items()}


# --------------------------------------------------------------------------------- sticky core


def _sticky(
    ids: Mapping[str, Sequence[int]],
    topics_of: Mapping[str, Iterable[str]],
    claims: Mapping[str, Sequence[TopicPartition]],
    generations: Mapping[str, int],
) -> dict[str, list[TopicPartition]]:
    """The sticky assignment: keep valid prior ownership, place the rest, then balance.

    ``claims`` is each member's previously owned partitions, ``generations`` the generation they
    were owned in. A partition claimed by several members stays with the highest generation's
    claimant; a tie leaves it unowned.
    """
    members = sorted(topics_of)
    subs = {m: set(topics_of[m]) for m in members}
    eligible: dict[TopicPartition, list[str]] = {}
    for topic in sorted({t for s in subs.values() for t in s}):
        takers = [m for m in members if topic in subs[m]]
        for p in ids.get(topic, ()):
            eligible[TopicPartition(topic, p)] = takers
    # resolve prior ownership
    best: dict[TopicPartition, tuple[int, str | None]] = {}
    for m in members:
        gen = generations.get(m, -1)
        for tp in claims.get(m, ()):
            if tp not in eligible or tp.topic not in subs[m]:
                continue
            prev = best.get(tp)
            if prev is None or gen > prev[0]:
                best[tp] = (gen, m)
            elif gen == prev[0] and prev[1] != m:
                best[tp] = (gen, None)  # two owners of one generation: trust neither
    assign: dict[str, list[TopicPartition]] = {m: [] for m in members}
    owner: dict[TopicPartition, str] = {}
    for tp, (_gen, claimant) in sorted(best.items()):
        if claimant is not None:
            assign[claimant].append(tp)
            owner[tp] = claimant
    # identical subscriptions: cap what each member keeps at its quota (q or q+1), biggest owners
    # first, so balancing below never needs to move a kept partition
    if members and all(subs[m] == subs[members[0]] for m in members):
        total = len(eligible)
        q, extra = divmod(total, len(members))
        for m in sorted(members, key=lambda x: (-len(assign[x]), x)):
            cap = q + 1 if extra > 0 else q
            if len(assign[m]) > q and extra > 0:
                extra -= 1
            for tp in assign[m][cap:]:
                del owner[tp]
            del assign[m][cap:]
    counts = {m: len(assign[m]) for m in members}
    # place unowned partitions: the most constrained first, each to its least loaded subscriber
    unowned = [tp for tp in eligible if tp not in owner]
    unowned.sort(key=lambda tp: (len(eligible[tp]), tp))
    for tp in unowned:
        m = min(eligible[tp], key=lambda x: (counts[x], x))
        assign[m].append(tp)
        owner[tp] = m
        counts[m] += 1
    # balance: move a partition to a subscriber holding at least two fewer, while one exists;
    # every move lowers the sum of squared counts, so this ends
    while True:
        moved = False
        for a in sorted(members, key=lambda x: (-counts[x], x)):
            ca = counts[a]
            # newest acquisitions move first, keeping prior ownership where possible
            for i in range(len(assign[a]) - 1, -1, -1):
                tp = assign[a][i]
                b = min(eligible[tp], key=lambda x: (counts[x], x))
                if counts[b] <= ca - 2:
                    del assign[a][i]
                    assign[b].append(tp)
                    counts[a] -= 1
                    counts[b] += 1
                    moved = True
                    break
            if moved:
                break
        if not moved:
            return assign


_STICKY_USER_DATA = "StickyAssignorUserData"


def encode_sticky_user_data(partitions: Iterable[TopicPartition], generation: int) -> bytes:
    """StickyAssignorUserData v1: previous assignment [topic, [partition]] then generation int32."""
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    out = [P.INT32.pack(len(by_topic))]
    for topic, parts in sorted(by_topic.items()):
        out.append(P.write_string(topic))
        out.append(struct.pack(f">i{len(parts)}i", len(parts), *sorted(parts)))
    out.append(P.INT32.pack(generation))
    return b"".join(out)


def decode_sticky_user_data(data: bytes | None) -> tuple[list[TopicPartition], int] | None:
    """Previous assignment and generation (-1 for v0 data); None when absent or undecodable."""
    if not data:
        return None
    try:
        pos = 0
        n, pos = P.read_array_len(data, pos)
        tps: list[TopicPartition] = []
        for _ in range(max(n, 0)):
            topic, pos = P.read_string(data, pos)
            count, pos = P.read_array_len(data, pos)
            if count < 0 or pos + 4 * count > len(data):
                return None
            tps.extend(TopicPartition(topic, p) for p in struct.unpack_from(f">{count}i", data, pos))
            pos += 4 * count
        generation = -1
        if len(data) - pos >= 4:
            (generation,) = P.INT32.unpack_from(data, pos)
        return tps, generation
    except (ValueError, IndexError, struct.error, UnicodeDecodeError):
        return None  # as Java: unreadable user data means no previous assignment


class StickyPartitionAssignor(AbstractPartitionAssignor):
    """KIP-54: balanced, and keeps each partition with its previous owner as far as balance allows."""

    name = "sticky"

    def __init__(self) -> None:
        self.member_assignment: list[TopicPartition] = []
        self.generation = -1

    def subscription_user_data(self, topics: Iterable[str]) -> bytes | None:
        return encode_sticky_user_data(self.member_assignment, self.generation)

    def _prior(self, sub: MemberSubscription) -> tuple[list[TopicPartition], int]:
        decoded = decode_sticky_user_data(sub.user_data)
        if decoded is not None and decoded[0]:
            return decoded
        return sub.owned(), sub.generation_id

    def target(
        self, partitions_per_topic: PartitionsPerTopic, subscriptions: Mapping[str, MemberSubscription]
    ) -> dict[str, list[TopicPartition]]:
        claims: dict[str, list[TopicPartition]] = {}
        generations: dict[str, int] = {}
        for m, sub in subscriptions.items():
            claims[m], generations[m] = self._prior(sub)
        ids = _partition_ids(partitions_per_topic)
        return _sticky(ids, {m: s.topics for m, s in subscriptions.items()}, claims, generations)

    def assign(
        self, partitions_per_topic: PartitionsPerTopic, subscriptions: Mapping[str, MemberSubscription]
    ) -> dict[str, MemberAssignment]:
        target = self.target(partitions_per_topic, subscriptions)
        return {m: MemberAssignment.from_partitions(tps) for m, tps in target.items()}

    def on_assignment(self, assignment: MemberAssignment, generation: int) -> None:
        self.member_assignment = assignment.topic_partitions()
        self.generation = generation


class CooperativeStickyAssignor(StickyPartitionAssignor):
    """KIP-429: the sticky target, handing out only partitions no other member still owns."""

    name = "cooperative-sticky"

    def supported_protocols(self) -> list[RebalanceProtocol]:
        return [RebalanceProtocol.COOPERATIVE]

    def subscription_user_data(self, topics: Iterable[str]) -> bytes | None:
        # Java's CooperativeStickyAssignor user data: the generation, for subscriptions below v2
        return P.INT32.pack(self.generation)

    def _prior(self, sub: MemberSubscription) -> tuple[list[TopicPartition], int]:
        generation = sub.generation_id
        if generation < 0 and sub.user_data is not None and len(sub.user_data) >= 4:
            (generation,) = P.INT32.unpack_from(sub.user_data, 0)
        return sub.owned(), generation

    def assign(
        self, partitions_per_topic: PartitionsPerTopic, subscriptions: Mapping[str, MemberSubscription]
    ) -> dict[str, MemberAssignment]:
        target = self.target(partitions_per_topic, subscriptions)
        claimed_by: dict[TopicPartition, set[str]] = {}
        for m, sub in subscriptions.items():
            for tp in sub.owned():
                claimed_by.setdefault(tp, set()).add(m)
        out: dict[str, MemberAssignment] = {}
        for m, tps in target.items():
            # a partition still owned by someone else is held back until its owner revoked it
            now = [tp for tp in tps if claimed_by.get(tp, set()) <= {m}]
            out[m] = MemberAssignment.from_partitions(now)
        return out


_BY_NAME: dict[str, type[AbstractPartitionAssignor]] = {
    cls.name: cls
    for cls in (
        RangePartitionAssignor,
        RoundRobinPartitionAssignor,
        StickyPartitionAssignor,
        CooperativeStickyAssignor,
    )
}


def resolve_assignors(strategy: Any) -> list[AbstractPartitionAssignor]:
    """partition_assignment_strategy -> assignor instances (classes, instances or names accepted).

    Raises KafkaConfigurationError for an empty list, an unknown entry, or eager and cooperative
    assignors mixed (the group could not agree on a rebalance protocol).
    """
    if strategy is None:
        return [RangePartitionAssignor(), RoundRobinPartitionAssignor()]
    if isinstance(strategy, (str, type, AbstractPartitionAssignor)):
        strategy = [strategy]
    try:
        entries = list(strategy)
    except TypeError:
        raise KafkaConfigurationError(
            f"invalid value for partition_assignment_strategy: {strategy!r} (expected a list of assignors)"
        ) from None
    if not entries:
        raise KafkaConfigurationError("partition_assignment_strategy is empty: give at least one assignor")
    out: list[AbstractPartitionAssignor] = []
    for entry in entries:
        if isinstance(entry, str):
            cls = _BY_NAME.get(entry)
            if cls is None:
                raise KafkaConfigurationError(
                    f"partition_assignment_strategy: unknown assignor name {entry!r}; known: {sorted(_BY_NAME)}"
                )
            out.append(cls())
        elif isinstance(entry, type) and issubclass(entry, AbstractPartitionAssignor):
            out.append(entry())
        elif isinstance(entry, AbstractPartitionAssignor):
            out.append(entry)
        else:
            raise KafkaConfigurationError(
                f"partition_assignment_strategy: {entry!r} is not a kafkakit assignor "
                "(use RangePartitionAssignor, RoundRobinPartitionAssignor, StickyPartitionAssignor, "
                "CooperativeStickyAssignor or a subclass of AbstractPartitionAssignor)"
            )
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        raise KafkaConfigurationError(f"partition_assignment_strategy lists an assignor twice: {names}")
    kinds = {RebalanceProtocol.COOPERATIVE in a.supported_protocols() for a in out}
    if len(kinds) > 1:
        raise KafkaConfigurationError(
            f"partition_assignment_strategy mixes eager and cooperative assignors ({names}); "
            "the group could not agree on a rebalance protocol"
        )
    return out
