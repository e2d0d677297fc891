"""KafkaConsumer in consumer groups against brokers with a group coordinator (embedded, tansu, Apache
Kafka): members joining and leaving with every assignor (no record lost, committed offsets honoured),
cooperative rebalances revoking only what moves, a member killed without leaving, max_poll_interval_ms,
static membership, pattern subscriptions and partition growth. Members poll on their own threads; the
listener records where and what it was told."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kafkakit import KafkaConsumer, TopicPartition
from kafkakit.client.consumer import ConsumerRebalanceListener
from kafkakit.errors import CommitFailedError
from tests.test_consumer import create_topic, produce

pytestmark = pytest.mark.timeout(300)

FAST = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 500}
ASSIGNORS = ["range", "roundrobin", "sticky", "cooperative-sticky"]


@pytest.fixture(params=["embedded", "tansu", "kafka"])
def group_bootstrap(request: pytest.FixtureRequest) -> str:
    """A broker with a group coordinator (a subset of ``bootstrap``: groups are slow to test)."""
    name = request.param
    fixture = {"embedded": "embedded_broker_module", "tansu": "tansu_broker", "kafka": "apache_kafka"}[name]
    return str(request.getfixturevalue(fixture).bootstrap_servers)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Member(ConsumerRebalanceListener):
    """A group member polling on its own thread, committing after each poll and before revocation."""

    registry: list[Member] = []  # every member of the running test, stopped at its end

    def __init__(
        self,
        bootstrap: str,
        topics: list[str] | None,
        group: str,
        assignor: str = "range",
        pattern: str | None = None,
        **kw: Any,
    ) -> None:
        cfg: dict[str, Any] = dict(
            FAST,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            client_id=f"m-{uuid.uuid4().hex[:6]}",
        )
        cfg.update(kw)
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, partition_assignment_strategy=[assignor], **cfg
        )
        self.consumer.subscribe(topics=topics or (), pattern=pattern, listener=self)
        self.records: list[tuple[int, int, bytes]] = []
        self.events: list[tuple[str, frozenset[TopicPartition]]] = []
        self.owned: frozenset[TopicPartition] = frozenset()
        self.listener_threads: set[int] = set()
        self.poll_thread: int | None = None
        self.stop = threading.Event()
        self.pause_polling = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        Member.registry.append(self)
        self.thread.start()

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.listener_threads.add(threading.get_ident())
        self.events.append(("revoked", frozenset(revoked)))
        try:
            self.consumer.commit()
        except CommitFailedError:
            pass
        self.owned = self.owned - frozenset(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.listener_threads.add(threading.get_ident())
        self.events.append(("assigned", frozenset(assigned)))
        self.owned = self.owned | frozenset(assigned)

    def on_partitions_lost(self, lost: Any) -> None:
        self.listener_threads.add(threading.get_ident())
        self.events.append(("lost", frozenset(lost)))
        self.owned = self.owned - frozenset(lost)

    def _run(self) -> None:
        self.poll_thread = threading.get_ident()
        try:
            while not self.stop.is_set():
                if self.pause_polling.is_set():
                    time.sleep(0.05)
                    continue
                batch = self.consumer.poll(timeout_ms=100)
                for recs in batch.values():
                    self.records.extend((r.partition, r.offset, r.value) for r in recs)
                if batch:
                    try:
                        self.consumer.commit()
                    except CommitFailedError:
                        pass  # the rebalance will hand these partitions on; they are re-read
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            self.errors.append(exc)
        finally:
            if not self.errors or self.stop.is_set():
                self.consumer.close()

    def leave(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        assert not self.errors, self.errors


def stable(members: list[Member], partitions: set[TopicPartition], max_skew: int | None = 1) -> bool:
    owned = [m.owned for m in members]
    union: set[TopicPartition] = set().union(*owned)
    if union != partitions or sum(len(o) for o in owned) != len(partitions):
        return False
    if any(m.consumer.group_metadata().state != "<stable>" for m in members):
        return False
    sizes = [len(o) for o in owned]
    return max_skew is None or max(sizes) - min(sizes) <= max_skew


def committed(bootstrap: str, group: str, tps: set[TopicPartition]) -> dict[TopicPartition, int | None]:
    from kafka import KafkaConsumer as KC
    from kafka import TopicPartition as KTopicPartition

    kc = KC(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {tp: kc.committed(KTopicPartition(*tp)) for tp in tps}
    finally:
        kc.close()


@pytest.mark.parametrize("assignor", ASSIGNORS)
def test_members_join_and_leave_without_losing_records(
    group_bootstrap: str, topic_name: str, assignor: str
) -> None:
    create_topic(group_bootstrap, topic_name, 6)
    tps = {TopicPartition(topic_name, p) for p in range(6)}
    group = f"g-{uuid.uuid4().hex[:8]}"
    placed: list[tuple[int, int]] = []
    sent: dict[tuple[int, int], bytes] = {}

    def send(n: int) -> None:
        values = [b"%s-%d" % (uuid.uuid4().hex[:6].encode(), i) for i in range(n)]
        for (p, o), v in zip(
            produce(
                group_bootstrap, topic_name, [{"value": v, "partition": i % 6} for i, v in enumerate(values)]
            ),
            values,
            strict=True,
        ):
            placed.append((p, o))
            sent[(p, o)] = v

    def ends() -> dict[TopicPartition, int | None]:
        return {tp: 1 + max(o for p, o in placed if p == tp.partition) for tp in tps}

    send(120)
    members: list[Member] = []
    try:
        for _ in range(4):  # grow 1 -> 4 members, producing in between
            members.append(Member(group_bootstrap, [topic_name], group, assignor))
            wait_for(lambda: stable(members, tps), 60, f"{len(members)} balanced member(s)")
            send(60)
        for m in members:
            assert m.poll_thread is not None and m.listener_threads <= {m.poll_thread}
        while len(members) > 1:  # shrink 4 -> 1
            members.pop(0).leave()
            wait_for(lambda: stable(members, tps), 60, f"{len(members)} balanced member(s) after a leave")
            send(60)
        last = members[0]
        wait_for(
            lambda: {(p, o) for m in Member.registry for p, o, _v in m.records} >= set(sent),
            60,
            "every record",
        )
        wait_for(lambda: committed(group_bootstrap, group, tps) == ends(), 30, "the final commits")
    finally:
        for m in members:
            m.stop.set()
        for m in members:
            m.thread.join(30)
    # every record consumed at least once, with the value that was written
    consumed: dict[tuple[int, int], bytes] = {}
    for m in Member.registry:
        for p, o, v in m.records:
            consumed.setdefault((p, o), v)
            assert consumed[(p, o)] == v
    assert set(consumed) >= set(sent)
    assert committed(group_bootstrap, group, tps) == ends()
    assert last.events[0][0] == "assigned"


@pytest.fixture(autouse=True)
def _stop_members() -> Iterator[None]:
    yield
    for m in Member.registry:
        m.stop.set()
    for m in Member.registry:
        m.thread.join(30)
    Member.registry.clear()


def test_cooperative_rebalance_revokes_only_what_moves(group_bootstrap: str, topic_name: str) -> None:
    create_topic(group_bootstrap, topic_name, 6)
    tps = {TopicPartition(topic_name, p) for p in range(6)}
    group = f"g-{uuid.uuid4().hex[:8]}"
    produce(group_bootstrap, topic_name, [{"value": b"a%d" % i, "partition": i % 6} for i in range(60)])
    a = Member(group_bootstrap, [topic_name], group, "cooperative-sticky")
    wait_for(lambda: stable([a], tps), 60, "first member owning everything")
    wait_for(lambda: len(a.records) >= 60, 30, "first records")
    b = Member(group_bootstrap, [topic_name], group, "cooperative-sticky")
    wait_for(lambda: stable([a, b], tps), 60, "two balanced members")
    produce(group_bootstrap, topic_name, [{"value": b"b%d" % i, "partition": i % 6} for i in range(60)])
    wait_for(lambda: len({(p, o) for m in (a, b) for p, o, _ in m.records}) >= 120, 30, "all records")
    moved = frozenset(b.owned)
    kept = frozenset(a.owned)
    assert len(moved) == 3 and kept | moved == tps
    # a was told about exactly the moved partitions, never about the kept ones
    assert [e for e in a.events if e[0] == "revoked"] == [("revoked", moved)]
    assert not [e for e in a.events if e[0] == "lost"]
    assert a.events[0] == ("assigned", frozenset(tps))
    # b was only ever given what moved (incremental assignment), without a revocation
    assert [e for e in b.events if e[0] == "assigned" and e[1]] == [("assigned", moved)]
    assert not [e for e in b.events if e[0] == "revoked" and e[1]]
    # kept partitions flowed without a rewind: offsets strictly increase, no duplicates
    for tp in kept:
        offsets = [o for p, o, _ in a.records if p == tp.partition]
        assert offsets == sorted(set(offsets)) and offsets == list(range(len(offsets)))
    a.leave()
    b.leave()


def test_killed_member_partitions_move_after_session_timeout(group_bootstrap: str, topic_name: str) -> None:
    create_topic(group_bootstrap, topic_name, 4)
    tps = {TopicPartition(topic_name, p) for p in range(4)}
    group = f"g-{uuid.uuid4().hex[:8]}"
    script = textwrap.dedent(f"""
        import sys, time
        from kafkakit import KafkaConsumer
        c = KafkaConsumer({topic_name!r}, bootstrap_servers={group_bootstrap!r}, group_id={group!r},
                          session_timeout_ms=6000, heartbeat_interval_ms=500, auto_offset_reset="earliest")
        while True:
            c.poll(timeout_ms=100)
            if c.assignment():
                print("ASSIGNED", len(c.assignment()), flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, start_new_session=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith(b"ASSIGNED 4"), line
        survivor = Member(group_bootstrap, [topic_name], group, "range")
        wait_for(lambda: survivor.owned and len(survivor.owned) == 2, 60, "the survivor's share")
        os.killpg(child.pid, signal.SIGKILL)  # no LeaveGroup, no more heartbeats
        child.wait(10)
        killed_at = time.monotonic()
        wait_for(lambda: survivor.owned == tps, 60, "the killed member's partitions")
        assert time.monotonic() - killed_at >= 2.0  # it took the coordinator's session expiry, not a leave
        produce(group_bootstrap, topic_name, [{"value": b"%d" % i, "partition": i % 4} for i in range(40)])
        wait_for(
            lambda: {p for p, _o, _v in survivor.records} == {0, 1, 2, 3}, 30, "records of all partitions"
        )
        survivor.leave()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)


def test_member_that_stops_polling_leaves_and_loses_its_partitions(
    group_bootstrap: str, topic_name: str
) -> None:
    create_topic(group_bootstrap, topic_name, 2)
    tps = {TopicPartition(topic_name, p) for p in range(2)}
    group = f"g-{uuid.uuid4().hex[:8]}"
    slow = Member(group_bootstrap, [topic_name], group, "range", max_poll_interval_ms=3000)
    wait_for(lambda: stable([slow], tps), 60, "first member")
    other = Member(group_bootstrap, [topic_name], group, "range")
    wait_for(lambda: stable([slow, other], tps), 60, "two members")
    slow.pause_polling.set()
    wait_for(lambda: other.owned == tps, 60, "the other member taking over after max_poll_interval_ms")
    assert slow.consumer.group_metadata().generation_id == -1
    with pytest.raises(CommitFailedError):
        slow.consumer.commit({TopicPartition(topic_name, 0): 0})
    slow.pause_polling.clear()
    wait_for(
        lambda: (
            ("lost", frozenset(slow.owned | {tp for e in slow.events if e[0] == "lost" for tp in e[1]}))
            in slow.events
        ),
        30,
        "on_partitions_lost",
    )
    wait_for(lambda: stable([slow, other], tps), 60, "the slow member rejoining")
    slow.leave()
    other.leave()


def test_static_member_rejoins_without_a_rebalance(group_bootstrap: str, topic_name: str) -> None:
    create_topic(group_bootstrap, topic_name, 4)
    tps = {TopicPartition(topic_name, p) for p in range(4)}
    group = f"g-{uuid.uuid4().hex[:8]}"
    a = Member(
        group_bootstrap, [topic_name], group, "range", group_instance_id="static-a", session_timeout_ms=20000
    )
    b = Member(
        group_bootstrap, [topic_name], group, "range", group_instance_id="static-b", session_timeout_ms=20000
    )
    wait_for(lambda: stable([a, b], tps), 60, "two static members")
    a_share = a.owned
    b_events = len(b.events)
    a.leave()  # static members do not send LeaveGroup: the group keeps a's slot
    a2 = Member(
        group_bootstrap, [topic_name], group, "range", group_instance_id="static-a", session_timeout_ms=20000
    )
    wait_for(lambda: a2.owned == a_share, 30, "the static member getting its partitions back")
    time.sleep(1.0)
    assert len(b.events) == b_events, b.events[b_events:]
    a2.leave()
    b.leave()


def test_pattern_subscription_picks_up_new_topics(group_bootstrap: str) -> None:
    prefix = f"pat-{uuid.uuid4().hex[:8]}"
    create_topic(group_bootstrap, f"{prefix}-one", 1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    m = Member(group_bootstrap, None, group, "range", pattern=rf"^{prefix}-.*", metadata_max_age_ms=500)
    wait_for(lambda: m.owned == {TopicPartition(f"{prefix}-one", 0)}, 60, "the first matching topic")
    assert m.consumer.subscription() == {f"{prefix}-one"}
    create_topic(group_bootstrap, f"{prefix}-two", 2)
    create_topic(group_bootstrap, f"other-{uuid.uuid4().hex[:6]}", 1)
    expected = {
        TopicPartition(f"{prefix}-one", 0),
        TopicPartition(f"{prefix}-two", 0),
        TopicPartition(f"{prefix}-two", 1),
    }
    wait_for(lambda: m.owned == expected, 60, "the new matching topic")
    produce(group_bootstrap, f"{prefix}-two", [{"value": b"x", "partition": 1}])
    wait_for(lambda: m.records, 30, "a record of the new topic")
    m.leave()


def test_topic_gaining_partitions_triggers_a_rebalance(apache_kafka: Any, topic_name: str) -> None:
    from kafka.admin import KafkaAdminClient, NewPartitions

    bootstrap = apache_kafka.bootstrap_servers
    create_topic(bootstrap, topic_name, 2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    m = Member(bootstrap, [topic_name], group, "range", metadata_max_age_ms=500)
    wait_for(lambda: len(m.owned) == 2, 60, "two partitions")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_partitions({topic_name: NewPartitions(3)})
    admin.close()
    wait_for(lambda: len(m.owned) == 3, 60, "the new partition")
    m.leave()


def test_listener_error_reaches_poll_and_the_group_goes_on(embedded_broker: Any, topic_name: str) -> None:
    bootstrap = embedded_broker.bootstrap_servers
    create_topic(bootstrap, topic_name, 2)
    calls: list[str] = []

    class Failing(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked: Any) -> None:
            calls.append("revoked")

        def on_partitions_assigned(self, assigned: Any) -> None:
            calls.append("assigned")
            raise ValueError("listener bug")

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=f"g-{uuid.uuid4().hex[:8]}", **FAST)
    c.subscribe([topic_name], listener=Failing())
    with pytest.raises(ValueError, match="listener bug"):
        for _ in range(200):
            c.poll(timeout_ms=100)
    assert calls == ["assigned"]
    assert c.assignment() == {TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)}
    assert c.poll(timeout_ms=200) == {}
    c.close()
    assert calls == ["assigned", "revoked"]


def test_coordinator_failure_rediscovers_and_retries(apache_kafka_cluster: Any, topic_name: str) -> None:
    """Kill the group coordinator's broker: the member finds the new coordinator, keeps its
    membership going and its commits land."""
    cluster = apache_kafka_cluster
    cluster.create_topic(topic_name, partitions=3, replication_factor=3)
    bootstrap = cluster.bootstrap_servers
    group = f"g-{uuid.uuid4().hex[:8]}"
    tps = {TopicPartition(topic_name, p) for p in range(3)}
    m = Member(bootstrap, [topic_name], group, "range")
    try:
        wait_for(lambda: stable([m], tps), 90, "the member joining")
        produce(bootstrap, topic_name, [{"value": b"before-%d" % i, "partition": i % 3} for i in range(30)])
        wait_for(lambda: len(m.records) >= 30, 60, "records before the failure")
        coordinator = m.consumer._core.coordinator
        assert coordinator is not None and coordinator.coordinator_id is not None
        old = coordinator.coordinator_id
        cluster.kill(old)
        produce(
            cluster.bootstrap_servers,
            topic_name,
            [{"value": b"after-%d" % i, "partition": i % 3} for i in range(30)],
        )
        wait_for(lambda: len({(p, o) for p, o, _ in m.records}) >= 60, 120, "records after the failure")
        wait_for(lambda: coordinator.coordinator_id not in (None, old), 60, "a new coordinator")
        ends = {tp: 20 for tp in tps}
        wait_for(
            lambda: committed(cluster.bootstrap_servers, group, tps) == ends,
            60,
            "commits on the new coordinator",
        )
        m.leave()
    finally:
        cluster.heal()
