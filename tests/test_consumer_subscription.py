"""SubscriptionState: mutually exclusive modes, validation with clear errors, assignments that keep
the state of partitions that stay (what lets cooperative rebalances leave them undisturbed)."""

from __future__ import annotations

import re

import pytest

from kafkakit.client.consumer import ConsumerRebalanceListener
from kafkakit.client.consumer.subscription_state import SubscriptionState, SubscriptionType, validate_topic
from kafkakit.errors import IllegalStateError
from kafkakit.structs import OffsetAndMetadata, TopicPartition

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


class Listener(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.calls: list[tuple[str, set[TopicPartition]]] = []

    def on_partitions_revoked(self, revoked: object) -> None:
        self.calls.append(("revoked", set(revoked)))  # type: ignore[call-overload]

    def on_partitions_assigned(self, assigned: object) -> None:
        self.calls.append(("assigned", set(assigned)))  # type: ignore[call-overload]


def test_modes_are_mutually_exclusive() -> None:
    s = SubscriptionState()
    s.subscribe(["a", "b"])
    assert s.subscription_type == SubscriptionType.AUTO_TOPICS and s.subscription == {"a", "b"}
    with pytest.raises(IllegalStateError, match="mutually exclusive"):
        s.assign_from_user([A0])
    with pytest.raises(IllegalStateError, match="mutually exclusive"):
        s.subscribe(pattern="a.*")
    s.subscribe(["c"])  # same mode: replaces
    assert s.subscription == {"c"}
    s.unsubscribe()
    assert s.subscription_type == SubscriptionType.NONE and s.subscription is None and s.assignment == {}
    s.assign_from_user([A0, B0])
    assert s.assigned_partitions() == {A0, B0}
    with pytest.raises(IllegalStateError, match="mutually exclusive"):
        s.subscribe(["a"])


def test_subscribe_validation() -> None:
    s = SubscriptionState()
    with pytest.raises(ValueError, match="needs topics or a pattern"):
        s.subscribe([])
    with pytest.raises(IllegalStateError, match="not both"):
        s.subscribe(["a"], pattern="a")
    with pytest.raises(TypeError, match="got the string 'abc'"):
        s.subscribe("abc")
    with pytest.raises(ValueError, match="invalid topic name 'has space'"):
        s.subscribe(["has space"])
    with pytest.raises(ValueError, match="invalid subscription pattern"):
        s.subscribe(pattern="(")
    with pytest.raises(TypeError, match="listener must provide"):
        s.subscribe(["a"], listener=object())


def test_validate_topic() -> None:
    assert validate_topic("ok.topic_name-1") == "ok.topic_name-1"
    for bad in ("", ".", "..", "x" * 250, "t/1", "é"):
        with pytest.raises(ValueError, match="invalid topic name"):
            validate_topic(bad)
    with pytest.raises(TypeError, match="topic names must be str"):
        validate_topic(5)


def test_pattern_subscription_matches() -> None:
    s = SubscriptionState()
    s.subscribe(pattern=re.compile(r"^logs-"))
    assert s.matches_pattern("logs-x") and not s.matches_pattern("x-logs-")
    assert s.change_subscription(["logs-a"]) is True
    assert s.change_subscription(["logs-a"]) is False
    s.assign_from_subscribed([TopicPartition("logs-a", 0)])
    with pytest.raises(IllegalStateError, match="not in the subscription"):
        s.assign_from_subscribed([TopicPartition("other", 0)])


def test_group_assignment_keeps_states_of_partitions_that_stay() -> None:
    s = SubscriptionState()
    s.subscribe(["a", "b"], listener=Listener())
    s.assign_from_subscribed([A0, A1])
    s.seek(A0, 42)
    kept, dropped = s.assignment[A0], s.assignment[A1]
    generation = dropped.generation
    s.assign_from_subscribed([A0, B0])
    assert s.assignment[A0] is kept and kept.position == 42 and not kept.revoked
    assert dropped.revoked and dropped.generation == generation + 1
    assert s.assignment[B0].position is None
    assert s.missing_positions() == [B0]
    assert s.all_consumed_offsets() == {A0: OffsetAndMetadata(42, "", -1)}


def test_cursors() -> None:
    s = SubscriptionState("earliest")
    s.assign_from_user([A0])
    st = s.state(A0)
    s.seek(A0, 5, leader_epoch=3)
    assert (st.position, st.fetch_offset, st.leader_epoch, st.reset_strategy) == (5, 5, 3, None)
    g = st.generation
    s.request_reset(A0)
    assert st.position is None and st.reset_strategy == "earliest" and st.generation == g + 1
    assert s.partitions_needing_reset() == [A0]
    s.pause(A0)
    assert s.paused_partitions() == {A0} and s.fetchable_partitions() == []
    s.resume(A0)
    s.seek(A0, 7)
    assert s.fetchable_partitions() == [A0]
    with pytest.raises(IllegalStateError, match="not assigned"):
        s.state(B0)
    with pytest.raises(ValueError, match="invalid partition -1"):
        s.assign_from_user([TopicPartition("a", -1)])


def test_listener_lost_defaults_to_revoked() -> None:
    listener = Listener()
    listener.on_partitions_lost({A0})
    assert listener.calls == [("revoked", {A0})]
