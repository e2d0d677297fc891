"""Consumer groups of peer clients against kafkakit's embedded broker.

kafka-python, aiokafka and confluent-kafka (librdkafka) consumers form groups of 2-3 members over
a 6-partition topic with each of their assignors, commit offsets that other clients read back,
restart members, lose a member to a SIGKILL (its session expires and its partitions move), rejoin
as static members without a rebalance, and keep committed offsets through a kill -9 of a broker
subprocess. The clients are the oracle: each assertion is on what they report (assignments,
records, committed offsets). Waiting loops have a generous safety deadline; nothing asserts on
how long something took.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

PARTITIONS = 6
PER_PARTITION = 10
DEADLINE_S = 90.0
RANGE_SPLIT = {(0, 1), (2, 3), (4, 5)}
ROUNDROBIN_SPLIT = {(0, 3), (1, 4), (2, 5)}


#: kafka-python 3.0.12 can wedge a group leader for good when its first assignment was made
#: without topic metadata (it then rejoins, and if poll() times out between that JoinGroup's and
#: SyncGroup's responses the finished join is never applied). Kafka's initial rebalance delay
#: (3 s by default) gives members time to fetch metadata first; a short one does the same here.
INITIAL_REBALANCE_DELAY_MS = 100


@pytest.fixture(scope="module")
def broker() -> Iterator[Any]:
    """kafkakit's Broker in-process (shared by this module), with a short initial rebalance delay."""
    from tests.infra.embedded import embedded_broker

    with embedded_broker(group_initial_rebalance_delay_ms=INITIAL_REBALANCE_DELAY_MS) as b:
        yield b


@pytest.fixture
def topic(broker: Any) -> str:
    """A fresh 6-partition topic holding 10 records per partition ("p-i" values)."""
    return make_topic(broker.bootstrap_servers)


@pytest.fixture
def bs(broker: Any) -> str:
    return str(broker.bootstrap_servers)


def make_topic(bootstrap: str) -> str:
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    name = f"groups-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            producer.send(name, f"{p}-{i}".encode(), partition=p)
    producer.flush()
    producer.close()
    return name


def group_id() -> str:
    return f"g-{uuid.uuid4().hex[:10]}"


def wait_until(check: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    end = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def settled(assignments: list[frozenset[int]], n: int) -> bool:
    """Every member holds partitions, none twice, all of them covered."""
    if len(assignments) != n or any(not a for a in assignments):
        return False
    covered = [p for a in assignments for p in a]
    return len(covered) == len(set(covered)) == PARTITIONS


def describe(bootstrap: str, group: str) -> dict[str, Any]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return admin.describe_groups([group])[group]  # type: ignore[no-any-return]
    finally:
        admin.close()


# ---------------------------------------------------------------- kafka-python


class KafkaPythonMembers:
    """n kafka-python consumers, each polled by its own thread (they are not thread safe)."""

    def __init__(self, bootstrap: str, topic: str, group: str, n: int, **config: Any) -> None:
        from kafka import KafkaConsumer

        config.setdefault("heartbeat_interval_ms", 300)
        self.consumers = [
            KafkaConsumer(
                topic,
                bootstrap_servers=bootstrap,
                group_id=group,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                **config,
            )
            for _ in range(n)
        ]
        self.seen: list[set[tuple[int, int]]] = [set() for _ in range(n)]
        self.assigned: list[frozenset[int]] = [frozenset() for _ in range(n)]
        self.commit_now = [threading.Event() for _ in range(n)]
        self.committed = [threading.Event() for _ in range(n)]
        self._stop = [threading.Event() for _ in range(n)]
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(n)]
        for t in self._threads:
            t.start()

    def _run(self, i: int) -> None:
        c = self.consumers[i]
        while not self._stop[i].is_set():
            for _tp, records in c.poll(timeout_ms=500).items():
                self.seen[i].update((r.partition, r.offset) for r in records)
            self.assigned[i] = frozenset(tp.partition for tp in c.assignment())
            if self.commit_now[i].is_set():
                c.commit()
                self.commit_now[i].clear()
                self.committed[i].set()

    def commit_all(self) -> None:
        for e in self.commit_now:
            e.set()
        for e in self.committed:
            assert e.wait(DEADLINE_S)

    def stop(self, i: int, close: bool = True) -> None:
        self._stop[i].set()
        self._threads[i].join(DEADLINE_S)
        if close:
            self.consumers[i].close()

    def live(self) -> list[int]:
        return [i for i in range(len(self.consumers)) if not self._stop[i].is_set()]

    def close(self) -> None:
        for i in self.live():
            self.stop(i)


@pytest.mark.parametrize(
    ("assignor", "split"),
    [
        pytest.param(
            "range",
            RANGE_SPLIT,
            marks=pytest.mark.cell(client="kafka-python", broker="embedded", feature="consumer group: range"),
        ),
        pytest.param(
            "roundrobin",
            ROUNDROBIN_SPLIT,
            marks=pytest.mark.cell(
                client="kafka-python", broker="embedded", feature="consumer group: roundrobin"
            ),
        ),
    ],
)
def test_kafka_python_group_splits_partitions(
    bs: str, topic: str, assignor: str, split: set[tuple[int, int]]
) -> None:
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    cls = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[assignor]
    group = group_id()
    members = KafkaPythonMembers(bs, topic, group, 3, partition_assignment_strategy=[cls])
    try:
        wait_until(
            lambda: settled(members.assigned, 3) and sum(len(s) for s in members.seen) >= 60,
            "three members to settle",
        )
        assert {tuple(sorted(a)) for a in members.assigned} == split
        assert set().union(*members.seen) == {(p, o) for p in range(PARTITIONS) for o in range(PER_PARTITION)}
        d = describe(bs, group)
        assert (d["group_state"], d["protocol_type"], d["protocol_data"], len(d["members"])) == (
            "Stable",
            "consumer",
            assignor,
            3,
        )
    finally:
        members.close()


@pytest.mark.cell(client="kafka-python", broker="embedded", feature="consumer group: member restart")
def test_kafka_python_member_restart_moves_partitions_back_and_forth(bs: str, topic: str) -> None:
    from kafka import TopicPartition

    group = group_id()
    members = KafkaPythonMembers(bs, topic, group, 2)
    try:
        wait_until(
            lambda: settled(members.assigned, 2) and len(set().union(*members.seen)) == 60,
            "two members to settle",
        )
        members.commit_all()
        members.stop(1)  # close(): LeaveGroup, its partitions go to the other member
        wait_until(
            lambda: members.assigned[0] == frozenset(range(PARTITIONS)),
            "the survivor to take every partition",
        )
        # a restarted member rejoins and the partitions are split again; committed offsets hold
        again = KafkaPythonMembers(bs, topic, group, 1)
        try:
            wait_until(
                lambda: settled([members.assigned[0], again.assigned[0]], 2),
                "the restarted member to get partitions",
            )
        finally:
            again.close()
        from kafka import KafkaConsumer

        outsider = KafkaConsumer(bootstrap_servers=bs, group_id=group)
        try:
            assert {
                p: outsider.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)
            } == dict.fromkeys(range(PARTITIONS), 10)
        finally:
            outsider.close()
    finally:
        members.close()


# ---------------------------------------------------------------- aiokafka


def run_aiokafka_group(
    bs: str, topic: str, group: str, n: int, assignor: Any
) -> tuple[list[frozenset[int]], set[tuple[int, int]], str]:
    from aiokafka import AIOKafkaConsumer

    async def main() -> tuple[list[frozenset[int]], set[tuple[int, int]], str]:
        consumers = [
            AIOKafkaConsumer(
                topic,
                bootstrap_servers=bs,
                group_id=group,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                partition_assignment_strategy=(assignor,),
                heartbeat_interval_ms=300,
            )
            for _ in range(n)
        ]
        for c in consumers:
            await c.start()
        seen: set[tuple[int, int]] = set()
        try:
            end = time.monotonic() + DEADLINE_S
            while True:
                batches = await asyncio.gather(*(c.getmany(timeout_ms=100) for c in consumers))
                for batch in batches:
                    for _tp, msgs in batch.items():
                        seen.update((m.partition, m.offset) for m in msgs)
                assigned = [frozenset(tp.partition for tp in c.assignment()) for c in consumers]
                if settled(assigned, n) and len(seen) == 60:
                    break
                assert time.monotonic() < end, "aiokafka group never settled"
            for c in consumers:
                await c.commit()
            return assigned, seen, group
        finally:
            for c in consumers:
                await c.stop()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("assignor", "split"),
    [
        pytest.param(
            "range",
            RANGE_SPLIT,
            marks=pytest.mark.cell(client="aiokafka", broker="embedded", feature="consumer group: range"),
        ),
        pytest.param(
            "roundrobin",
            ROUNDROBIN_SPLIT,
            marks=pytest.mark.cell(
                client="aiokafka", broker="embedded", feature="consumer group: roundrobin"
            ),
        ),
    ],
)
def test_aiokafka_group_splits_partitions(
    bs: str, topic: str, assignor: str, split: set[tuple[int, int]]
) -> None:
    from aiokafka.coordinator.assignors.range import RangePartitionAssignor
    from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka import KafkaConsumer, TopicPartition

    cls = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[assignor]
    assigned, seen, group = run_aiokafka_group(bs, topic, group_id(), 3, cls)
    assert {tuple(sorted(a)) for a in assigned} == split
    assert seen == {(p, o) for p in range(PARTITIONS) for o in range(PER_PARTITION)}
    # committed offsets read by another client
    reader = KafkaConsumer(bootstrap_servers=bs, group_id=group)
    try:
        assert [reader.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)] == [10] * PARTITIONS
    finally:
        reader.close()


# ---------------------------------------------------------------- confluent-kafka


def confluent_consumer(bs: str, group: str, **config: Any) -> Any:
    from confluent_kafka import Consumer

    conf = {
        "bootstrap.servers": bs,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "heartbeat.interval.ms": 300,
    }
    conf.update(config)
    return Consumer(conf)


def poll_confluent(
    consumers: list[Any], until: Callable[[list[frozenset[int]], set[tuple[int, int]]], bool]
) -> tuple[list[frozenset[int]], set[tuple[int, int]]]:
    seen: set[tuple[int, int]] = set()
    end = time.monotonic() + DEADLINE_S
    while True:
        for c in consumers:
            msg = c.poll(0.05)
            if msg is not None and msg.error() is None:
                seen.add((msg.partition(), msg.offset()))
        assigned = [frozenset(tp.partition for tp in c.assignment()) for c in consumers]
        if until(assigned, seen):
            return assigned, seen
        assert time.monotonic() < end, f"confluent group never settled: {assigned}"


@pytest.mark.parametrize(
    ("strategy", "split"),
    [
        pytest.param(
            "range",
            RANGE_SPLIT,
            marks=pytest.mark.cell(
                client="confluent-kafka", broker="embedded", feature="consumer group: range"
            ),
        ),
        pytest.param(
            "roundrobin",
            ROUNDROBIN_SPLIT,
            marks=pytest.mark.cell(
                client="confluent-kafka", broker="embedded", feature="consumer group: roundrobin"
            ),
        ),
        pytest.param(
            "cooperative-sticky",
            None,
            marks=pytest.mark.cell(
                client="confluent-kafka", broker="embedded", feature="consumer group: cooperative-sticky"
            ),
        ),
    ],
)
def test_confluent_group_splits_partitions(
    bs: str, topic: str, strategy: str, split: set[tuple[int, int]] | None
) -> None:
    from confluent_kafka import TopicPartition

    group = group_id()
    consumers = [
        confluent_consumer(bs, group, **{"partition.assignment.strategy": strategy}) for _ in range(3)
    ]
    try:
        for c in consumers:
            c.subscribe([topic])
        assigned, seen = poll_confluent(consumers, lambda a, s: settled(a, 3) and len(s) == 60)
        if split is not None:
            assert {tuple(sorted(a)) for a in assigned} == split
        else:
            assert sorted(len(a) for a in assigned) == [2, 2, 2]
        assert seen == {(p, o) for p in range(PARTITIONS) for o in range(PER_PARTITION)}
        for c in consumers:
            c.commit(asynchronous=False)
        got = consumers[0].committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=30)
        assert [(tp.partition, tp.offset, tp.error) for tp in got] == [
            (p, 10, None) for p in range(PARTITIONS)
        ]
        d = describe(bs, group)
        assert (d["group_state"], d["protocol_data"], len(d["members"])) == ("Stable", strategy, 3)
    finally:
        for c in consumers:
            c.close()


@pytest.mark.cell(
    client="confluent-kafka", broker="embedded", feature="consumer group: static membership rejoin"
)
def test_confluent_static_member_rejoins_without_a_rebalance(bs: str, topic: str) -> None:
    group = group_id()
    revokes: list[int] = []

    def on_revoke(_consumer: Any, partitions: list[Any]) -> None:
        revokes.append(len(partitions))

    static = confluent_consumer(bs, group, **{"group.instance.id": "static-a", "session.timeout.ms": 30000})
    other = confluent_consumer(bs, group)
    static.subscribe([topic])
    other.subscribe([topic], on_revoke=on_revoke)
    replacement = None
    try:
        assigned, _ = poll_confluent([static, other], lambda a, s: settled(a, 2) and len(s) == 60)
        before = assigned[0]
        revokes_before = len(revokes)
        members_before = {m["group_instance_id"]: m["member_id"] for m in describe(bs, group)["members"]}
        static.close()  # a static member leaves no LeaveGroup behind: the group keeps its place
        replacement = confluent_consumer(
            bs, group, **{"group.instance.id": "static-a", "session.timeout.ms": 30000}
        )
        replacement.subscribe([topic])
        after, _ = poll_confluent([replacement, other], lambda a, s: bool(a[0]))
        assert after[0] == before
        members_after = {m["group_instance_id"]: m["member_id"] for m in describe(bs, group)["members"]}
        assert members_after.keys() == members_before.keys() == {"static-a", None}
        assert members_after["static-a"] != members_before["static-a"]  # a new member id for the instance
        assert members_after[None] == members_before[None]
        for _ in range(20):  # the dynamic member keeps polling: no rebalance reaches it
            other.poll(0.05)
        assert len(revokes) == revokes_before
        assert describe(bs, group)["group_state"] == "Stable"
    finally:
        if replacement is not None:
            replacement.close()
        other.close()


# ---------------------------------------------------------------- cross-client offsets


@pytest.mark.cell(client="kafka-python", broker="embedded", feature="committed offsets across clients")
def test_offsets_committed_by_each_client_are_read_by_the_others(bs: str, topic: str) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import OffsetAndMetadata as AioOffsetAndMetadata
    from aiokafka.structs import TopicPartition as AioTopicPartition
    from confluent_kafka import TopicPartition as CTopicPartition
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    group = group_id()
    # standalone commits (no group membership), one partition per client
    kp = KafkaConsumer(bootstrap_servers=bs, group_id=group, enable_auto_commit=False)
    kp.assign([TopicPartition(topic, 0)])
    kp.commit({TopicPartition(topic, 0): OffsetAndMetadata(3, "from kafka-python", -1)})

    async def aio() -> None:
        c = AIOKafkaConsumer(bootstrap_servers=bs, group_id=group, enable_auto_commit=False)
        await c.start()
        try:
            c.assign([AioTopicPartition(topic, 1)])
            await c.commit({AioTopicPartition(topic, 1): AioOffsetAndMetadata(4, "from aiokafka")})
            assert await c.committed(AioTopicPartition(topic, 0)) == 3
        finally:
            await c.stop()

    asyncio.run(aio())
    cf = confluent_consumer(bs, group)
    try:
        cf.assign([CTopicPartition(topic, 2)])
        cf.commit(offsets=[CTopicPartition(topic, 2, 5)], asynchronous=False)
        got = cf.committed([CTopicPartition(topic, p) for p in range(3)], timeout=30)
        assert [tp.offset for tp in got] == [3, 4, 5]
    finally:
        cf.close()
    committed = {p: kp.committed(TopicPartition(topic, p), metadata=True) for p in range(4)}
    kp.close()
    assert [(c.offset, c.metadata) if c is not None else None for c in committed.values()] == [
        (3, "from kafka-python"),
        (4, "from aiokafka"),
        (5, ""),
        None,
    ]


# ---------------------------------------------------------------- failures: session expiry, broker kill -9


VICTIM = r"""
import sys
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "auto.offset.reset": "earliest",
              "session.timeout.ms": 1500, "heartbeat.interval.ms": 300})
c.subscribe([sys.argv[3]])
announced = False
while True:
    c.poll(0.1)
    if c.assignment() and not announced:
        print("assigned", sorted(tp.partition for tp in c.assignment()), flush=True)
        announced = True
"""


@pytest.fixture
def short_session_broker() -> Iterator[Any]:
    from tests.infra.embedded import embedded_broker

    with embedded_broker(
        group_min_session_timeout_ms=1000, group_initial_rebalance_delay_ms=INITIAL_REBALANCE_DELAY_MS
    ) as b:
        yield b


@pytest.mark.cell(
    client="confluent-kafka", broker="embedded", feature="consumer group: session expiry of a killed member"
)
def test_killed_member_session_expires_and_its_partitions_move(short_session_broker: Any) -> None:
    bootstrap = short_session_broker.bootstrap_servers
    topic = make_topic(bootstrap)
    group = group_id()
    survivor = confluent_consumer(bootstrap, group, **{"session.timeout.ms": 1500})
    survivor.subscribe([topic])
    victim = subprocess.Popen(
        [sys.executable, "-c", VICTIM, bootstrap, group, topic],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    out = victim.stdout
    assert out is not None
    threading.Thread(target=lambda: lines.append(out.readline()), daemon=True).start()
    try:
        # both members hold partitions: the victim said so, and the survivor lacks some
        poll_confluent([survivor], lambda a, s: bool(a[0]) and bool(lines) and len(a[0]) < PARTITIONS)
        assert lines[0].startswith("assigned")
        os.killpg(victim.pid, signal.SIGKILL)  # no LeaveGroup: only its session can expire
        victim.wait(DEADLINE_S)
        after, _ = poll_confluent([survivor], lambda a, s: a[0] == frozenset(range(PARTITIONS)))
        assert after[0] == frozenset(range(PARTITIONS))
        d = describe(bootstrap, group)
        assert (d["group_state"], len(d["members"])) == ("Stable", 1)
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(DEADLINE_S)
        survivor.close()


@pytest.mark.cell(
    client="confluent-kafka", broker="embedded-process", feature="committed offsets survive kill -9"
)
def test_committed_offsets_survive_broker_kill_9(embedded_broker_process: Any) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    bootstrap = embedded_broker_process.bootstrap_servers
    topic = make_topic(bootstrap)
    group = group_id()
    consumers = [confluent_consumer(bootstrap, group) for _ in range(2)]
    try:
        for c in consumers:
            c.subscribe([topic])
        poll_confluent(consumers, lambda a, s: settled(a, 2) and len(s) == 60)
        for c in consumers:
            c.commit(asynchronous=False)
    finally:
        for c in consumers:
            c.close()
    kp = KafkaConsumer(bootstrap_servers=bootstrap, group_id="other-" + group, enable_auto_commit=False)
    kp.assign([TopicPartition(topic, 5)])
    kp.commit({TopicPartition(topic, 5): OffsetAndMetadata(7, "seven", -1)})
    kp.close()

    embedded_broker_process.kill()  # SIGKILL: only what reached the OS survives
    embedded_broker_process.restart()

    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    other = KafkaConsumer(bootstrap_servers=bootstrap, group_id="other-" + group)
    try:
        assert [reader.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)] == [10] * PARTITIONS
        got = other.committed(TopicPartition(topic, 5), metadata=True)
        assert (got.offset, got.metadata) == (7, "seven")
    finally:
        reader.close()
        other.close()
    # the group resumes from its committed offsets: only records written after them are consumed
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for p in range(PARTITIONS):
        producer.send(topic, b"new", partition=p)
    producer.flush()
    producer.close()
    again = KafkaPythonMembers(bootstrap, topic, group, 1)
    try:
        # offsets are read in order per partition: had it restarted from 0, those would come first
        wait_until(
            lambda: {p for p, o in again.seen[0] if o == PER_PARTITION} == set(range(PARTITIONS)),
            "the new records",
        )
        assert again.seen[0] == {(p, PER_PARTITION) for p in range(PARTITIONS)}
    finally:
        again.close()
