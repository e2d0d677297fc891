"""Partition assignors: exact layouts against kafka-python's assignors as oracles, user data against
aiokafka's encoder, and properties (each partition exactly once, balance, stickiness, cooperative
safety) over generated groups."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkakit.client.consumer.assignors import (
    AbstractPartitionAssignor,
    CooperativeStickyAssignor,
    MemberAssignment,
    MemberSubscription,
    RangePartitionAssignor,
    RebalanceProtocol,
    RoundRobinPartitionAssignor,
    StickyPartitionAssignor,
    decode_sticky_user_data,
    encode_sticky_user_data,
    resolve_assignors,
)
from kafkakit.errors import KafkaConfigurationError
from kafkakit.protocol.consumer_protocol import decode_assignment, encode_subscription
from kafkakit.structs import TopicPartition as TP

ALL = [
    RangePartitionAssignor,
    RoundRobinPartitionAssignor,
    StickyPartitionAssignor,
    CooperativeStickyAssignor,
]


def subs(spec: dict[str, list[str]], **kw: Any) -> dict[str, MemberSubscription]:
    return {m: MemberSubscription(m, tuple(topics), **kw) for m, topics in spec.items()}


def flat(result: dict[str, MemberAssignment]) -> dict[str, list[TP]]:
    return {m: a.topic_partitions() for m, a in result.items()}


# ------------------------------------------------------------------ exact layouts


def test_names() -> None:
    assert [c.name for c in ALL] == ["range", "roundrobin", "sticky", "cooperative-sticky"]
    assert CooperativeStickyAssignor().supported_protocols() == [RebalanceProtocol.COOPERATIVE]
    assert StickyPartitionAssignor().supported_protocols() == [RebalanceProtocol.EAGER]


def test_range_documented_example() -> None:
    out = flat(
        RangePartitionAssignor().assign({"t0": 3, "t1": 3}, subs({"C0": ["t0", "t1"], "C1": ["t0", "t1"]}))
    )
    assert out == {
        "C0": [TP("t0", 0), TP("t0", 1), TP("t1", 0), TP("t1", 1)],
        "C1": [TP("t0", 2), TP("t1", 2)],
    }


def test_roundrobin_documented_example() -> None:
    out = flat(
        RoundRobinPartitionAssignor().assign(
            {"t0": 1, "t1": 2, "t2": 3}, subs({"C0": ["t0"], "C1": ["t0", "t1"], "C2": ["t0", "t1", "t2"]})
        )
    )
    assert out == {
        "C0": [TP("t0", 0)],
        "C1": [TP("t1", 0)],
        "C2": [TP("t1", 1), TP("t2", 0), TP("t2", 1), TP("t2", 2)],
    }


def test_static_members_come_first() -> None:
    s = {
        "a-dyn": MemberSubscription("a-dyn", ("t",)),
        "z-static": MemberSubscription("z-static", ("t",), group_instance_id="i1"),
    }
    out = flat(RangePartitionAssignor().assign({"t": 3}, s))
    assert out == {"z-static": [TP("t", 0), TP("t", 1)], "a-dyn": [TP("t", 2)]}


def _peer_assign(
    name: str, counts: dict[str, int], spec: dict[str, list[str]], static: dict[str, str]
) -> dict[str, list[TP]]:
    """kafka-python's range assignor, aiokafka's roundrobin (kafka-python 3.0's roundrobin mixes up
    member tuples and ids when it skips an unsubscribed member)."""
    cluster = SimpleNamespace(partitions_for_topic=lambda t: set(range(counts[t])) if t in counts else None)
    if name == "range":
        from kafka.coordinator.assignors.range import RangePartitionAssignor as KRange

        members = [
            SimpleNamespace(
                member_id=m, group_instance_id=static.get(m), metadata=SimpleNamespace(topics=topics)
            )
            for m, topics in spec.items()
        ]
        result = KRange.assign(cluster, members)
        return {m: [TP(t, p) for t, ps in a.assigned_partitions for p in ps] for m, a in result.items()}
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor as ARR

    aresult = ARR.assign(cluster, {m: SimpleNamespace(subscription=topics) for m, topics in spec.items()})
    return {m: [TP(t, p) for t, ps in a.assignment for p in ps] for m, a in aresult.items()}


group_spec = st.integers(1, 5).flatmap(
    lambda n_topics: st.tuples(
        st.lists(st.integers(1, 7), min_size=n_topics, max_size=n_topics),
        st.lists(
            st.lists(st.integers(0, n_topics - 1), min_size=1, max_size=n_topics, unique=True),
            min_size=1,
            max_size=6,
        ),
    )
)


def _build(spec: tuple[list[int], list[list[int]]]) -> tuple[dict[str, int], dict[str, list[str]]]:
    counts_list, members = spec
    counts = {f"t{i}": c for i, c in enumerate(counts_list)}
    return counts, {f"m{j:02d}": [f"t{i}" for i in ts] for j, ts in enumerate(members)}


@settings(max_examples=150, deadline=None)
@given(group_spec, st.sampled_from(["range", "roundrobin"]), st.data())
def test_range_and_roundrobin_match_peer_assignors(spec: Any, name: str, data: st.DataObject) -> None:
    counts, members = _build(spec)
    # kafka-python groups static members with itertools.groupby over unsorted input, so it is only
    # a faithful oracle when the static members come first
    n_static = data.draw(st.integers(0, len(members))) if name == "range" else 0
    static = {m: f"inst-{9 - i}" for i, m in enumerate(sorted(members)[:n_static])}
    ours = {RangePartitionAssignor.name: RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[
        name
    ]()
    s = {m: MemberSubscription(m, tuple(ts), group_instance_id=static.get(m)) for m, ts in members.items()}
    got = flat(ours.assign(counts, s))
    expected = _peer_assign(name, counts, members, static)
    assert got == {m: sorted(v) for m, v in expected.items()}


# ------------------------------------------------------------------ properties


def _check_exactly_once(
    result: dict[str, list[TP]], counts: dict[str, int], members: dict[str, list[str]]
) -> None:
    subscribed = {t for ts in members.values() for t in ts}
    expected = {TP(t, p) for t in subscribed for p in range(counts.get(t, 0))}
    seen = Counter(tp for tps in result.values() for tp in tps)
    assert set(seen) == expected
    assert all(n == 1 for n in seen.values())
    for m, tps in result.items():
        assert all(tp.topic in members[m] for tp in tps), (m, tps)
    assert set(result) == set(members)


def _check_sticky_balance(result: dict[str, list[TP]], members: dict[str, list[str]]) -> None:
    counts = {m: len(tps) for m, tps in result.items()}
    for a, tps in result.items():
        for tp in tps:
            for b, topics in members.items():
                if tp.topic in topics:
                    assert counts[a] - counts[b] <= 1, (
                        f"{tp} could move from {a} ({counts[a]}) to {b} ({counts[b]})"
                    )


@settings(max_examples=200, deadline=None)
@given(group_spec, st.sampled_from(ALL))
def test_every_partition_assigned_exactly_once(spec: Any, cls: type[AbstractPartitionAssignor]) -> None:
    counts, members = _build(spec)
    result = flat(cls().assign(counts, subs(members)))
    _check_exactly_once(result, counts, members)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 40), st.integers(1, 8), st.integers(1, 3), st.sampled_from(ALL[1:]))
def test_identical_subscriptions_balance_within_one(parts: int, n: int, n_topics: int, cls: Any) -> None:
    counts = {f"t{i}": parts for i in range(n_topics)}
    members = {f"m{j}": list(counts) for j in range(n)}
    result = flat(cls().assign(counts, subs(members)))
    sizes = [len(v) for v in result.values()]
    assert max(sizes) - min(sizes) <= 1


@settings(max_examples=200, deadline=None)
@given(group_spec, st.sampled_from([StickyPartitionAssignor, CooperativeStickyAssignor]))
def test_sticky_balance_with_mixed_subscriptions(spec: Any, cls: Any) -> None:
    counts, members = _build(spec)
    result = StickyPartitionAssignor().target(counts, subs(members))
    _check_exactly_once(result, counts, members)
    _check_sticky_balance(result, members)


def _sticky_subs(
    prior: dict[str, list[TP]], members: dict[str, list[str]], generation: int
) -> dict[str, MemberSubscription]:
    out = {}
    for m, topics in members.items():
        data = encode_sticky_user_data(prior.get(m, []), generation) if m in prior else None
        out[m] = MemberSubscription(m, tuple(topics), user_data=data)
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 30),
    st.integers(1, 6),
    st.lists(st.integers(0, 9), min_size=0, max_size=4, unique=True),
    st.lists(st.integers(10, 15), min_size=0, max_size=3, unique=True),
    st.integers(0, 5),
)
def test_sticky_keeps_prior_ownership(
    parts: int, n: int, leave: list[int], join: list[int], grow: int
) -> None:
    counts = {"a": parts, "b": max(1, parts // 2)}
    members = {f"m{j}": ["a", "b"] for j in range(n)}
    first = StickyPartitionAssignor().target(counts, subs(members))
    # membership changes and the topics may gain partitions
    survivors = {m: t for m, t in members.items() if int(m[1:]) not in leave}
    new_members = {**survivors, **{f"m{j}": ["a", "b"] for j in join}}
    if not new_members:
        return
    counts2 = {"a": parts + grow, "b": counts["b"]}
    prior = {m: first[m] for m in survivors}
    second = StickyPartitionAssignor().assign(counts2, _sticky_subs(prior, new_members, 1))
    result = flat(second)
    _check_exactly_once(result, counts2, new_members)
    sizes = [len(v) for v in result.values()]
    assert max(sizes) - min(sizes) <= 1
    for m, before in prior.items():
        kept = set(before) & set(result[m])
        # a member keeps as many of its partitions as its new share allows...
        assert len(kept) == min(len(before), len(result[m])), (m, before, result[m])
        # ...and never gives one up while being handed another
        if len(kept) < len(before):
            assert set(result[m]) <= set(before)
    # a partition whose owner stayed only moves if that owner is over its new share
    moved = [tp for m, before in prior.items() for tp in before if tp not in result[m]]
    over = sum(max(0, len(before) - len(result[m])) for m, before in prior.items())
    assert len(moved) == over


def test_sticky_user_data_matches_aiokafka_layout() -> None:
    from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyAssignorUserDataV1

    tps = [TP("b", 2), TP("a", 1), TP("a", 0)]
    ours = encode_sticky_user_data(tps, 7)
    theirs = StickyAssignorUserDataV1([("a", [0, 1]), ("b", [2])], 7).encode()
    assert ours == theirs
    assert decode_sticky_user_data(ours) == ([TP("a", 0), TP("a", 1), TP("b", 2)], 7)
    # v0 (no generation) and garbage
    v0 = theirs[:-4]
    assert decode_sticky_user_data(v0) == ([TP("a", 0), TP("a", 1), TP("b", 2)], -1)
    assert decode_sticky_user_data(b"\x00\x00\x00\x09\xff") is None
    assert decode_sticky_user_data(None) is None


def test_sticky_duplicate_claims_same_generation_trust_neither() -> None:
    a = MemberSubscription("A", ("t",), user_data=encode_sticky_user_data([TP("t", 0), TP("t", 1)], 3))
    b = MemberSubscription("B", ("t",), user_data=encode_sticky_user_data([TP("t", 1)], 3))
    c = MemberSubscription("C", ("t",), user_data=encode_sticky_user_data([TP("t", 2)], 2))
    d = MemberSubscription("D", ("t",), user_data=encode_sticky_user_data([TP("t", 2)], 4))
    out = flat(StickyPartitionAssignor().assign({"t": 4}, {"A": a, "B": b, "C": c, "D": d}))
    assert TP("t", 0) in out["A"]
    assert TP("t", 2) in out["D"]  # the newer generation's claim wins
    _check_exactly_once(out, {"t": 4}, {m: ["t"] for m in "ABCD"})


# ------------------------------------------------------------------ cooperative


def _coop_subs(
    owned: dict[str, list[TP]], members: dict[str, list[str]], generation: int
) -> dict[str, MemberSubscription]:
    out = {}
    for m, topics in members.items():
        by_topic: dict[str, list[int]] = {}
        for tp in owned.get(m, []):
            by_topic.setdefault(tp.topic, []).append(tp.partition)
        payload = encode_subscription(
            topics, user_data=None, owned_partitions=by_topic, generation_id=generation
        )
        out[m] = MemberSubscription.decode(m, payload)
    return out


@settings(max_examples=200, deadline=None)
@given(group_spec, st.data())
def test_cooperative_never_hands_out_a_partition_owned_elsewhere(spec: Any, data: st.DataObject) -> None:
    counts, members = _build(spec)
    # arbitrary (even overlapping) prior ownership, including partitions of unsubscribed topics
    universe = [TP(t, p) for t, c in counts.items() for p in range(c)]
    owned = {m: data.draw(st.lists(st.sampled_from(universe), unique=True, max_size=6)) for m in members}
    s = _coop_subs(owned, members, 1)
    result = flat(CooperativeStickyAssignor().assign(counts, s))
    seen = Counter(tp for tps in result.values() for tp in tps)
    assert all(v == 1 for v in seen.values())
    for m, tps in result.items():
        for tp in tps:
            assert tp.topic in members[m]
            others = [o for o in members if o != m and tp in owned[o]]
            assert not others, f"{tp} given to {m} while {others} still own it"


def _cooperative_rounds(
    counts: dict[str, int], members: dict[str, list[str]], owned: dict[str, list[TP]]
) -> tuple[int, dict[str, list[TP]]]:
    """Run rebalances as the protocol does (each member then owns exactly what it was given; a
    member that had to revoke something rejoins) until one needs no revocation."""
    for rounds in range(1, 10):
        result = flat(CooperativeStickyAssignor().assign(counts, _coop_subs(owned, members, rounds)))
        revoked = any(set(owned.get(m, [])) - set(result[m]) for m in members)
        owned = result
        if not revoked:
            return rounds, result
    raise AssertionError("cooperative rebalancing did not settle in 9 rounds")


@settings(max_examples=150, deadline=None)
@given(group_spec)
def test_cooperative_settles_balanced(spec: Any) -> None:
    counts, members = _build(spec)
    names = sorted(members)
    first_half = {m: members[m] for m in names[: max(1, len(names) // 2)]}
    _, owned = _cooperative_rounds(counts, first_half, {})
    # the rest join: after the rounds settle, everything is assigned once and balanced
    _, final = _cooperative_rounds(counts, members, owned)
    _check_exactly_once(final, counts, members)
    _check_sticky_balance(final, members)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30), st.integers(1, 4), st.integers(1, 4))
def test_cooperative_identical_subscriptions_settle_in_two_rounds(
    parts: int, before: int, joining: int
) -> None:
    counts = {"t": parts}
    old = {f"m{i}": ["t"] for i in range(before)}
    rounds, owned = _cooperative_rounds(counts, old, {})
    assert rounds == 1
    members = {**old, **{f"n{i}": ["t"] for i in range(joining)}}
    rounds, final = _cooperative_rounds(counts, members, owned)
    # round 1 revokes what moves, round 2 hands it out and revokes nothing
    assert rounds == (2 if any(len(owned[m]) > len(final[m]) for m in old) else 1)
    _check_exactly_once(final, counts, members)
    sizes = [len(v) for v in final.values()]
    assert max(sizes) - min(sizes) <= 1


def test_cooperative_example_third_member_joins() -> None:
    owned = {"A": [TP("t", 0), TP("t", 1), TP("t", 2)], "B": [TP("t", 3), TP("t", 4), TP("t", 5)]}
    members = {"A": ["t"], "B": ["t"], "C": ["t"]}
    r1 = flat(CooperativeStickyAssignor().assign({"t": 6}, _coop_subs(owned, members, 5)))
    assert r1 == {"A": [TP("t", 0), TP("t", 1)], "B": [TP("t", 3), TP("t", 4)], "C": []}
    r2 = flat(CooperativeStickyAssignor().assign({"t": 6}, _coop_subs(r1, members, 6)))
    assert r2 == {"A": [TP("t", 0), TP("t", 1)], "B": [TP("t", 3), TP("t", 4)], "C": [TP("t", 2), TP("t", 5)]}


def test_assignment_encodes_for_sync_group() -> None:
    a = MemberAssignment.from_partitions([TP("b", 1), TP("a", 2), TP("a", 0)])
    assert a.partitions == {"a": [0, 2], "b": [1]}
    assert decode_assignment(a.encode())["assigned_partitions"] == {"a": [0, 2], "b": [1]}


def test_cooperative_user_data_is_generation() -> None:
    c = CooperativeStickyAssignor()
    c.on_assignment(MemberAssignment({"t": [1]}), 9)
    assert c.subscription_user_data(["t"]) == b"\x00\x00\x00\x09"
    assert c.member_assignment == [TP("t", 1)]


# ------------------------------------------------------------------ configuration


def test_resolve_assignors() -> None:
    assert [a.name for a in resolve_assignors(None)] == ["range", "roundrobin"]
    assert [a.name for a in resolve_assignors([StickyPartitionAssignor])] == ["sticky"]
    assert [a.name for a in resolve_assignors(["cooperative-sticky"])] == ["cooperative-sticky"]
    inst = RangePartitionAssignor()
    assert resolve_assignors([inst])[0] is inst
    with pytest.raises(KafkaConfigurationError, match="unknown assignor name 'nope'"):
        resolve_assignors(["nope"])
    with pytest.raises(KafkaConfigurationError, match="mixes eager and cooperative"):
        resolve_assignors([RangePartitionAssignor, CooperativeStickyAssignor])
    with pytest.raises(KafkaConfigurationError, match="empty"):
        resolve_assignors([])
    with pytest.raises(KafkaConfigurationError, match="is not a kafkakit assignor"):
        resolve_assignors([object()])
