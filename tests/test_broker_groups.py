"""The embedded broker's group coordinator, driven through its real request handlers.

Every request goes through kafkakit's codec (encoded, decoded as the server would, handled, the
response encoded and decoded again), against a real ``BrokerState`` with a real ``TopicManager`` on
a temp dir and a real ``GroupCoordinator``. Rebalances that wait are real: JoinGroup/SyncGroup run
as tasks that complete when the coordinator answers them. Timeouts are set short; tests wait for
outcomes (with a generous safety deadline), they never assert on how long something took.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kafkakit.broker.groups import GroupCoordinator
from kafkakit.broker.handlers.groups import HANDLERS
from kafkakit.broker.offsets_store import (
    FILE_NAME,
    CommittedOffset,
    GroupRecord,
    OffsetsStore,
    OffsetsStoreError,
)
from kafkakit.broker.state import BrokerConfig, BrokerState
from kafkakit.broker.topics import TopicManager
from kafkakit.protocol.apis import api
from kafkakit.protocol.consumer_protocol import decode_assignment, encode_assignment, encode_subscription
from kafkakit.protocol.frame import RequestHeader

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
OFFSET_METADATA_TOO_LARGE = 12
NOT_COORDINATOR = 16
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
INVALID_REQUEST = 42
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
FENCED_INSTANCE_ID = 82
GROUP_SUBSCRIBED_TO_TOPIC = 86
UNKNOWN_TOPIC_ID = 100

SAFETY_S = 30.0  # an outcome that has not happened by then is a failure, not a timing measurement


def sub(*topics: str) -> bytes:
    return encode_subscription(list(topics))


class Harness:
    """A real BrokerState + TopicManager on a temp dir and a real GroupCoordinator."""

    def __init__(self, data_dir: Path, **config: Any) -> None:
        config.setdefault("group_min_session_timeout_ms", 10)
        # members joining one after the other end up in one first generation, as clients starting
        # together do against Kafka's default 3 s delay
        config.setdefault("group_initial_rebalance_delay_ms", 250)
        self.config = BrokerConfig(data_dir=data_dir, port=0, **config)
        self.data_dir = data_dir
        self.topics = TopicManager(data_dir, self.config)
        self.state = BrokerState(
            config=self.config, data_dir=data_dir, cluster_id="test-cluster", topics=self.topics
        )
        self.state.port = 19092

    async def start(self) -> Harness:
        await asyncio.get_running_loop().run_in_executor(None, self.topics.load)
        for name, n in (("t", 3), ("u", 2)):
            if not self.topics.exists(name):
                self.topics.create(name, n)
        self.state.groups = GroupCoordinator(self.state)
        await self.state.groups.start()
        return self

    async def stop(self) -> None:
        await self.state.groups.stop()
        self.topics.close()

    @property
    def coordinator(self) -> GroupCoordinator:
        return self.state.groups  # type: ignore[no-any-return]

    async def call(
        self, name: str, version: int, body: dict[str, Any], client_id: str = "client"
    ) -> dict[str, Any]:
        a = api(name)
        request = a.decode_request(version, a.encode_request(version, body))
        header = RequestHeader(a.key, version, 7, client_id)
        response = await HANDLERS[a.key](self.state, header, version, request)
        assert response is not None
        return a.decode_response(version, a.encode_response(version, response))

    def spawn(
        self, name: str, version: int, body: dict[str, Any], client_id: str = "client"
    ) -> asyncio.Task[dict[str, Any]]:
        return asyncio.get_running_loop().create_task(self.call(name, version, body, client_id))

    # -------- conveniences

    def join(
        self,
        group: str,
        member_id: str = "",
        protocols: list[tuple[str, bytes]] | None = None,
        version: int = 9,
        session_ms: int = 30_000,
        rebalance_ms: int = 30_000,
        instance_id: str | None = None,
        protocol_type: str = "consumer",
    ) -> asyncio.Task[dict[str, Any]]:
        body = {
            "group_id": group,
            "session_timeout_ms": session_ms,
            "rebalance_timeout_ms": rebalance_ms,
            "member_id": member_id,
            "group_instance_id": instance_id,
            "protocol_type": protocol_type,
            "protocols": [
                {"name": n, "metadata": m}
                for n, m in (protocols if protocols is not None else [("range", sub("t"))])
            ],
        }
        return self.spawn("JoinGroup", version, body)

    async def join_new(self, group: str, **kw: Any) -> dict[str, Any]:
        """A dynamic member's two-step join (MEMBER_ID_REQUIRED, then with the id): the second
        JoinGroup's task is returned unfinished inside the dict under 'task'."""
        first = await self.join(group, **kw)
        assert first["error_code"] == MEMBER_ID_REQUIRED
        assert first["member_id"]
        return {"member_id": first["member_id"], "task": self.join(group, member_id=first["member_id"], **kw)}

    def sync(
        self,
        group: str,
        member_id: str,
        generation: int,
        assignments: dict[str, bytes] | None = None,
        version: int = 5,
        instance_id: str | None = None,
        protocol_type: str = "consumer",
        protocol_name: str = "range",
    ) -> asyncio.Task[dict[str, Any]]:
        body = {
            "group_id": group,
            "generation_id": generation,
            "member_id": member_id,
            "group_instance_id": instance_id,
            "protocol_type": protocol_type,
            "protocol_name": protocol_name,
            "assignments": [{"member_id": m, "assignment": a} for m, a in (assignments or {}).items()],
        }
        return self.spawn("SyncGroup", version, body)

    async def heartbeat(
        self, group: str, member_id: str, generation: int, instance_id: str | None = None
    ) -> int:
        r = await self.call(
            "Heartbeat",
            4,
            {
                "group_id": group,
                "generation_id": generation,
                "member_id": member_id,
                "group_instance_id": instance_id,
            },
        )
        return int(r["error_code"])

    async def commit(
        self,
        group: str,
        offsets: dict[tuple[str, int], int],
        member_id: str = "",
        generation: int = -1,
        version: int = 8,
        metadata: str | None = None,
        epoch: int = -1,
    ) -> dict[tuple[str, int], int]:
        topics: dict[str, list[dict[str, Any]]] = {}
        for (t, p), off in offsets.items():
            topics.setdefault(t, []).append(
                {
                    "partition_index": p,
                    "committed_offset": off,
                    "committed_leader_epoch": epoch,
                    "committed_metadata": metadata,
                }
            )
        body = {
            "group_id": group,
            "generation_id_or_member_epoch": generation,
            "member_id": member_id,
            "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
        }
        r = await self.call("OffsetCommit", version, body)
        return {
            (t["name"], p["partition_index"]): p["error_code"] for t in r["topics"] for p in t["partitions"]
        }

    async def fetch(
        self, group: str, topics: dict[str, list[int]] | None, version: int = 7
    ) -> dict[str, Any]:
        body = {
            "group_id": group,
            "topics": None
            if topics is None
            else [{"name": t, "partition_indexes": ps} for t, ps in topics.items()],
        }
        return await self.call("OffsetFetch", version, body)

    async def describe(self, group: str, version: int = 5) -> dict[str, Any]:
        r = await self.call(
            "DescribeGroups", version, {"groups": [group], "include_authorized_operations": True}
        )
        return r["groups"][0]  # type: ignore[no-any-return]


Scenario = Callable[[Harness], Awaitable[None]]


def scenario(fn: Scenario | None = None, **config: Any) -> Any:
    """Turn ``async def test(h)`` into a pytest test running on a fresh harness; keyword arguments
    (``@scenario(group_initial_rebalance_delay_ms=...)``) are BrokerConfig fields."""

    def wrap(fn: Scenario) -> Callable[[Path], None]:
        def run(tmp_path: Path) -> None:
            async def main() -> None:
                h = await Harness(tmp_path, **config).start()
                try:
                    await asyncio.wait_for(fn(h), SAFETY_S)
                finally:
                    await h.stop()

            asyncio.run(main())

        run.__name__ = fn.__name__
        run.__doc__ = fn.__doc__
        return run

    return wrap(fn) if fn is not None else wrap


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds; the SAFETY_S wrapper fails the test if it never does."""
    while not await check():
        await asyncio.sleep(0.02)


async def form_group(h: Harness, group: str, n: int, **kw: Any) -> tuple[list[str], int, str]:
    """n dynamic members join together; returns (member ids, generation, leader id) after sync."""
    pending = [await h.join_new(group, **kw) for _ in range(n)]
    joined = [await p["task"] for p in pending]
    gen = joined[0]["generation_id"]
    assert {j["generation_id"] for j in joined} == {gen}
    assert all(j["error_code"] == NONE for j in joined)
    leader = joined[0]["leader"]
    ids = [j["member_id"] for j in joined]
    ptype, pname = kw.get("protocol_type", "consumer"), joined[0]["protocol_name"]
    assignment = {m: encode_assignment({"t": [i]}) for i, m in enumerate(ids)}
    syncs = [
        h.sync(
            group, mid, gen, assignment if mid == leader else None, protocol_type=ptype, protocol_name=pname
        )
        for mid in ids
    ]
    for s in syncs:
        assert (await s)["error_code"] == NONE
    return ids, gen, leader


# ---------------------------------------------------------------- FindCoordinator


@scenario
async def test_find_coordinator_names_this_node_in_every_version(h: Harness) -> None:
    for v in range(0, 4):
        r = await h.call("FindCoordinator", v, {"key": "g", "key_type": 0})
        assert (r["error_code"], r["node_id"], r["host"], r["port"]) == (NONE, 1, "127.0.0.1", 19092)
    for v in (4, 5, 6):
        r = await h.call("FindCoordinator", v, {"key_type": 0, "coordinator_keys": ["a", "b"]})
        assert [
            (c["key"], c["node_id"], c["host"], c["port"], c["error_code"]) for c in r["coordinators"]
        ] == [
            ("a", 1, "127.0.0.1", 19092, NONE),
            ("b", 1, "127.0.0.1", 19092, NONE),
        ]
    txn = await h.call("FindCoordinator", 3, {"key": "tx", "key_type": 1})
    assert (txn["error_code"], txn["node_id"]) == (NONE, 1)
    share = await h.call("FindCoordinator", 6, {"key_type": 2, "coordinator_keys": ["s"]})
    assert share["coordinators"][0]["error_code"] == INVALID_REQUEST
    assert "key type 2" in share["coordinators"][0]["error_message"]


# ---------------------------------------------------------------- JoinGroup / SyncGroup


@scenario
async def test_v4_join_requires_member_id_then_completes_generation_one(h: Harness) -> None:
    first = await h.join("g", version=4)
    assert first["error_code"] == MEMBER_ID_REQUIRED
    assert first["member_id"].startswith("client-")
    assert first["generation_id"] == -1
    second = await h.join("g", member_id=first["member_id"], version=4)
    assert second["error_code"] == NONE
    assert second["generation_id"] == 1
    assert second["member_id"] == second["leader"] == first["member_id"]
    assert second["protocol_name"] == "range"
    assert [(m["member_id"], m["metadata"]) for m in second["members"]] == [(first["member_id"], sub("t"))]


@scenario
async def test_v3_join_gets_its_member_id_directly(h: Harness) -> None:
    r = await h.join("g", version=3)
    assert r["error_code"] == NONE and r["generation_id"] == 1 and r["member_id"] == r["leader"] != ""


@scenario
async def test_v0_to_v6_error_answers_carry_empty_protocol_name_and_v7_null(h: Harness) -> None:
    old = await h.join("g", member_id="nobody", version=6)
    assert (old["error_code"], old["protocol_name"], old["member_id"]) == (UNKNOWN_MEMBER_ID, "", "nobody")
    new = await h.join("g", member_id="nobody", version=7)
    assert (new["error_code"], new["protocol_name"], new["protocol_type"]) == (UNKNOWN_MEMBER_ID, None, None)


@scenario
async def test_leader_gets_all_members_followers_none_and_sync_distributes_assignments(h: Harness) -> None:
    a = await h.join_new("g")
    b = await h.join_new("g")
    ja, jb = await a["task"], await b["task"]
    assert ja["generation_id"] == jb["generation_id"] == 1
    assert ja["leader"] == jb["leader"] == a["member_id"]
    assert sorted(m["member_id"] for m in ja["members"]) == sorted([a["member_id"], b["member_id"]])
    assert jb["members"] == []
    follower_sync = h.sync("g", b["member_id"], 1)
    await asyncio.sleep(0.05)
    assert not follower_sync.done()  # waits for the leader's SyncGroup
    assignments = {
        a["member_id"]: encode_assignment({"t": [0, 1]}),
        b["member_id"]: encode_assignment({"t": [2]}),
    }
    leader_sync = await h.sync("g", a["member_id"], 1, assignments)
    follower = await follower_sync
    assert leader_sync["error_code"] == follower["error_code"] == NONE
    assert (follower["protocol_type"], follower["protocol_name"]) == ("consumer", "range")
    assert decode_assignment(leader_sync["assignment"])["assigned_partitions"] == {"t": [0, 1]}
    assert decode_assignment(follower["assignment"])["assigned_partitions"] == {"t": [2]}
    assert (await h.describe("g"))["group_state"] == "Stable"


@scenario
async def test_members_left_out_of_the_leaders_assignment_get_empty_bytes(h: Harness) -> None:
    a = await h.join_new("g")
    b = await h.join_new("g")
    await a["task"], await b["task"]
    fs = h.sync("g", b["member_id"], 1)
    await h.sync("g", a["member_id"], 1, {a["member_id"]: encode_assignment({"t": [0]}), "stranger": b"x"})
    assert (await fs)["assignment"] == b""


@scenario
async def test_generation_increments_on_each_rebalance_and_new_member_triggers_one(h: Harness) -> None:
    ids, gen, leader = await form_group(h, "g", 2)
    assert gen == 1
    newcomer = await h.join_new("g")
    await eventually(lambda: _state_is(h, "g", "PreparingRebalance"), "the newcomer's JoinGroup")
    # the existing members learn of it through their heartbeats and rejoin
    assert await h.heartbeat("g", ids[0], gen) == REBALANCE_IN_PROGRESS
    rejoins = [h.join("g", member_id=m) for m in ids]
    results = [await newcomer["task"], *[await r for r in rejoins]]
    assert {r["generation_id"] for r in results} == {2}
    assert results[1]["leader"] == leader
    assert len([r for r in results if r["members"]]) == 1  # only the leader sees the member list
    assert (await h.describe("g"))["group_state"] == "CompletingRebalance"


@scenario
async def test_protocol_selection_uses_common_protocols_and_member_votes(h: Harness) -> None:
    md = sub("t")
    a = await h.join_new("g", protocols=[("range", md), ("roundrobin", md), ("sticky", md)])
    b = await h.join_new("g", protocols=[("roundrobin", md), ("sticky", md)])
    c = await h.join_new("g", protocols=[("sticky", md), ("roundrobin", md), ("range", md)])
    results = [await x["task"] for x in (a, b, c)]
    # common: roundrobin, sticky; votes: a roundrobin, b roundrobin, c sticky
    assert {r["protocol_name"] for r in results} == {"roundrobin"}
    leader = next(r for r in results if r["members"])
    assert sorted(m["metadata"] for m in leader["members"]) == [md, md, md]


@scenario
async def test_inconsistent_protocols_are_refused(h: Harness) -> None:
    await form_group(h, "g", 1)
    none_common = await h.join("g", protocols=[("other", b"")])
    assert none_common["error_code"] == INCONSISTENT_GROUP_PROTOCOL
    other_type = await h.join("g", protocol_type="connect")
    assert other_type["error_code"] == INCONSISTENT_GROUP_PROTOCOL
    empty = await h.join("fresh", protocols=[])
    assert empty["error_code"] == INCONSISTENT_GROUP_PROTOCOL
    no_type = await h.join("fresh", protocol_type="")
    assert no_type["error_code"] == INCONSISTENT_GROUP_PROTOCOL


@scenario
async def test_bad_join_requests_get_error_codes(h: Harness) -> None:
    assert (await h.join(""))["error_code"] == INVALID_GROUP_ID
    assert (await h.join("g", session_ms=5))["error_code"] == INVALID_SESSION_TIMEOUT
    assert (await h.join("g", session_ms=1_800_001))["error_code"] == INVALID_SESSION_TIMEOUT
    assert (await h.join("unknown-group", member_id="someone"))["error_code"] == UNKNOWN_MEMBER_ID
    # garbage consumer metadata is opaque to the coordinator: the group still forms
    ids, gen, _ = await form_group(h, "g", 1, protocols=[("range", b"\xff\x00garbage")])
    assert gen == 1
    r = await h.call(
        "OffsetDelete",
        0,
        {"group_id": "g", "topics": [{"name": "t", "partitions": [{"partition_index": 0}]}]},
    )
    # subscriptions unreadable: the coordinator must assume the group consumes the topic
    assert r["topics"][0]["partitions"][0]["error_code"] == GROUP_SUBSCRIBED_TO_TOPIC


@scenario
async def test_sync_group_errors(h: Harness) -> None:
    assert (await h.sync("nope", "m", 1))["error_code"] == UNKNOWN_MEMBER_ID
    ids, gen, _ = await form_group(h, "g", 1)
    assert (await h.sync("g", "stranger", gen))["error_code"] == UNKNOWN_MEMBER_ID
    assert (await h.sync("g", ids[0], gen + 5))["error_code"] == ILLEGAL_GENERATION
    assert (await h.sync("", ids[0], gen))["error_code"] == INVALID_GROUP_ID
    body = {
        "group_id": "g",
        "generation_id": gen,
        "member_id": ids[0],
        "protocol_type": None,
        "protocol_name": None,
        "assignments": [],
    }
    assert (await h.call("SyncGroup", 5, body))["error_code"] == INCONSISTENT_GROUP_PROTOCOL
    body.update(protocol_type="consumer", protocol_name="roundrobin")
    assert (await h.call("SyncGroup", 5, body))["error_code"] == INCONSISTENT_GROUP_PROTOCOL
    # v4 has no protocol fields: a stable member gets its assignment
    body.pop("protocol_type"), body.pop("protocol_name")
    r = await h.call("SyncGroup", 4, body)
    assert r["error_code"] == NONE and decode_assignment(r["assignment"])["assigned_partitions"] == {"t": [0]}


@scenario
async def test_heartbeat_answers(h: Harness) -> None:
    assert await h.heartbeat("nope", "m", 1) == UNKNOWN_MEMBER_ID
    ids, gen, leader = await form_group(h, "g", 2)
    assert await h.heartbeat("g", ids[1], gen) == NONE
    assert await h.heartbeat("g", ids[1], gen - 1) == ILLEGAL_GENERATION
    assert await h.heartbeat("g", "stranger", gen) == UNKNOWN_MEMBER_ID
    assert await h.heartbeat("", ids[1], gen) == INVALID_GROUP_ID
    follower = next(m for m in ids if m != leader)
    rejoin = h.join("g", member_id=leader)  # the leader rejoining starts a rebalance
    await eventually(lambda: _state_is(h, "g", "PreparingRebalance"), "rebalance")
    assert await h.heartbeat("g", follower, gen) == REBALANCE_IN_PROGRESS
    await h.join("g", member_id=follower)
    assert (await rejoin)["generation_id"] == gen + 1
    # between JoinGroup and SyncGroup a heartbeat is fine
    assert await h.heartbeat("g", follower, gen + 1) == NONE


async def _state_is(h: Harness, group: str, state: str) -> bool:
    return bool((await h.describe(group))["group_state"] == state)


# ---------------------------------------------------------------- timeouts


@scenario
async def test_members_that_do_not_rejoin_are_removed_at_the_rebalance_timeout(h: Harness) -> None:
    ids, gen, leader = await form_group(h, "g", 2, rebalance_ms=300)
    follower = next(m for m in ids if m != leader)
    rejoined = await h.join("g", member_id=leader, rebalance_ms=300)  # the follower never rejoins
    assert rejoined["generation_id"] == gen + 1
    assert [m["member_id"] for m in rejoined["members"]] == [leader]
    assert await h.heartbeat("g", follower, gen) == UNKNOWN_MEMBER_ID


@scenario
async def test_session_expiry_removes_the_member_and_rebalances(h: Harness) -> None:
    ids, gen, leader = await form_group(h, "g", 2, session_ms=200)
    survivor, victim = ids[0], ids[1]

    async def rebalancing() -> bool:
        return await h.heartbeat("g", survivor, gen) == REBALANCE_IN_PROGRESS  # keeps the survivor alive too

    await eventually(rebalancing, "the victim's session to expire")
    r = await h.join("g", member_id=survivor, session_ms=200)
    assert r["generation_id"] == gen + 1
    assert [m["member_id"] for m in r["members"]] == [survivor]
    assert await h.heartbeat("g", victim, gen) == UNKNOWN_MEMBER_ID


@scenario
async def test_pending_member_that_never_rejoins_is_forgotten(h: Harness) -> None:
    first = await h.join("g", session_ms=100)
    assert first["error_code"] == MEMBER_ID_REQUIRED

    async def forgotten() -> bool:
        return bool(h.coordinator.groups["g"].pending_join == set())

    await eventually(forgotten, "pending member expiry")
    assert (await h.join("g", member_id=first["member_id"]))["error_code"] == UNKNOWN_MEMBER_ID


@scenario
async def test_member_that_never_syncs_is_removed_after_the_rebalance_timeout(h: Harness) -> None:
    a = await h.join_new("g", rebalance_ms=200)
    b = await h.join_new("g", rebalance_ms=200)
    ja, _ = await a["task"], await b["task"]
    leader = ja["leader"]
    other = b["member_id"] if leader == a["member_id"] else a["member_id"]
    # only the leader syncs; the other member never does
    await h.sync("g", leader, 1, {leader: encode_assignment({"t": [0, 1, 2]})})
    await eventually(lambda: _state_is(h, "g", "PreparingRebalance"), "pending-sync expiry")
    assert await h.heartbeat("g", other, 1) == UNKNOWN_MEMBER_ID


@scenario(group_initial_rebalance_delay_ms=300)
async def test_initial_rebalance_delay_gathers_members_into_one_generation(h: Harness) -> None:
    a = await h.join_new("g")
    b = await h.join_new("g")
    c = await h.join_new("g")
    results = [await x["task"] for x in (a, b, c)]
    assert {r["generation_id"] for r in results} == {1}
    assert len(next(r for r in results if r["members"])["members"]) == 3


# ---------------------------------------------------------------- LeaveGroup


@scenario
async def test_leave_group_single_and_batch(h: Harness) -> None:
    ids, gen, leader = await form_group(h, "g", 3)
    old = await h.call("LeaveGroup", 1, {"group_id": "g", "member_id": ids[2]})
    assert old["error_code"] == NONE
    unknown = await h.call("LeaveGroup", 2, {"group_id": "g", "member_id": "stranger"})
    assert unknown["error_code"] == UNKNOWN_MEMBER_ID
    batch = await h.call(
        "LeaveGroup",
        5,
        {"group_id": "g", "members": [{"member_id": ids[1]}, {"member_id": "stranger", "reason": "bye"}]},
    )
    assert batch["error_code"] == NONE
    assert [(m["member_id"], m["error_code"]) for m in batch["members"]] == [
        (ids[1], NONE),
        ("stranger", UNKNOWN_MEMBER_ID),
    ]
    r = await h.join("g", member_id=ids[0])
    assert r["generation_id"] > gen and [m["member_id"] for m in r["members"]] == [ids[0]]
    missing = await h.call("LeaveGroup", 3, {"group_id": "nope", "members": [{"member_id": "x"}]})
    assert (missing["error_code"], missing["members"][0]["error_code"]) == (NONE, UNKNOWN_MEMBER_ID)
    assert (await h.call("LeaveGroup", 0, {"group_id": "nope", "member_id": "x"}))[
        "error_code"
    ] == UNKNOWN_MEMBER_ID
    assert (await h.call("LeaveGroup", 0, {"group_id": "", "member_id": "x"}))[
        "error_code"
    ] == INVALID_GROUP_ID


@scenario
async def test_leaving_during_a_rebalance_completes_it_for_the_others(h: Harness) -> None:
    ids, gen, leader = await form_group(h, "g", 2)
    other = next(m for m in ids if m != leader)
    waiting = h.join("g", member_id=leader)  # rebalance starts; it waits for `other`
    await eventually(lambda: _state_is(h, "g", "PreparingRebalance"), "rebalance")
    await h.call("LeaveGroup", 4, {"group_id": "g", "members": [{"member_id": other}]})
    r = await waiting
    assert r["generation_id"] == gen + 1 and [m["member_id"] for m in r["members"]] == [leader]


@scenario
async def test_last_member_leaving_makes_the_group_empty(h: Harness) -> None:
    ids, gen, _ = await form_group(h, "g", 1)
    await h.call("LeaveGroup", 3, {"group_id": "g", "members": [{"member_id": ids[0]}]})
    d = await h.describe("g")
    assert (d["group_state"], d["members"], d["protocol_type"]) == ("Empty", [], "consumer")


# ---------------------------------------------------------------- static membership


@scenario
async def test_static_member_rejoin_replaces_member_id_without_rebalance(h: Harness) -> None:
    s1 = h.join("g", instance_id="i-1", version=5)
    s2 = h.join("g", instance_id="i-2", version=5)
    j1, j2 = await s1, await s2  # static members never get MEMBER_ID_REQUIRED
    assert j1["error_code"] == j2["error_code"] == NONE
    assert j1["member_id"].startswith("i-1-") and j2["member_id"].startswith("i-2-")
    gen, leader = j1["generation_id"], j1["leader"]
    follower = j2 if j1["member_id"] == leader else j1
    follower_instance = "i-2" if follower is j2 else "i-1"
    fs = h.sync("g", follower["member_id"], gen, instance_id=follower_instance)
    assign = {leader: encode_assignment({"t": [0]}), follower["member_id"]: encode_assignment({"t": [1, 2]})}
    await h.sync("g", leader, gen, assign, instance_id="i-1" if leader == j1["member_id"] else "i-2")
    await fs
    # the follower restarts: same instance id, no member id
    again = await h.join("g", instance_id=follower_instance, version=5)
    assert again["error_code"] == NONE
    assert again["generation_id"] == gen  # no new generation
    assert (
        again["member_id"] != follower["member_id"] and again["leader"] == leader and again["members"] == []
    )
    assert await h.heartbeat("g", leader, gen, "i-1" if leader == j1["member_id"] else "i-2") == NONE
    got = await h.sync("g", again["member_id"], gen, instance_id=follower_instance)
    assert decode_assignment(got["assignment"])["assigned_partitions"] == {"t": [1, 2]}
    # the old incarnation is fenced
    assert await h.heartbeat("g", follower["member_id"], gen, follower_instance) == FENCED_INSTANCE_ID
    stale = await h.call(
        "OffsetCommit",
        8,
        {
            "group_id": "g",
            "generation_id_or_member_epoch": gen,
            "member_id": follower["member_id"],
            "group_instance_id": follower_instance,
            "topics": [{"name": "t", "partitions": [{"partition_index": 1, "committed_offset": 5}]}],
        },
    )
    assert stale["topics"][0]["partitions"][0]["error_code"] == FENCED_INSTANCE_ID
    d = await h.describe("g")
    assert sorted((m["group_instance_id"], m["member_id"]) for m in d["members"]) == sorted(
        [(follower_instance, again["member_id"]), ("i-1" if follower_instance == "i-2" else "i-2", leader)]
    )


@scenario
async def test_static_leader_rejoin_v9_skips_assignment_and_older_versions_keep_the_old_leader(
    h: Harness,
) -> None:
    j = await h.join("g", instance_id="lead", version=9)
    gen = j["generation_id"]
    await h.sync(
        "g", j["member_id"], gen, {j["member_id"]: encode_assignment({"t": [0, 1, 2]})}, instance_id="lead"
    )
    v9 = await h.join("g", instance_id="lead", version=9)
    assert (v9["generation_id"], v9["leader"], v9["skip_assignment"]) == (gen, v9["member_id"], True)
    assert [m["member_id"] for m in v9["members"]] == [v9["member_id"]]
    v8 = await h.join("g", instance_id="lead", version=8)
    assert v8["generation_id"] == gen and v8["leader"] == v9["member_id"] != v8["member_id"]
    assert v8["members"] == [] and v8["skip_assignment"] is False


@scenario
async def test_static_rejoin_with_other_protocols_triggers_a_rebalance(h: Harness) -> None:
    j = await h.join("g", instance_id="s", version=5)
    await h.sync("g", j["member_id"], j["generation_id"], {j["member_id"]: b""}, instance_id="s")
    # it must still support the current protocol to be let in; it now prefers another one
    again = await h.join(
        "g", instance_id="s", version=5, protocols=[("roundrobin", sub("t")), ("range", sub("t"))]
    )
    assert again["generation_id"] == j["generation_id"] + 1 and again["protocol_name"] == "roundrobin"


@scenario
async def test_static_member_leaves_by_instance_id(h: Harness) -> None:
    j = await h.join("g", instance_id="s", version=5)
    r = await h.call(
        "LeaveGroup", 4, {"group_id": "g", "members": [{"member_id": "", "group_instance_id": "s"}]}
    )
    assert r["members"][0]["error_code"] == NONE
    assert (await h.describe("g"))["group_state"] == "Empty"
    assert await h.heartbeat("g", j["member_id"], j["generation_id"], "s") == UNKNOWN_MEMBER_ID
    r = await h.call(
        "LeaveGroup", 4, {"group_id": "g", "members": [{"member_id": "", "group_instance_id": "s"}]}
    )
    assert r["members"][0]["error_code"] == UNKNOWN_MEMBER_ID


@scenario
async def test_join_with_known_member_id_but_wrong_instance_id_is_fenced(h: Harness) -> None:
    j = await h.join("g", instance_id="s", version=5)
    await h.sync("g", j["member_id"], j["generation_id"], {}, instance_id="s")
    again = await h.join("g", instance_id="s", version=5)
    stale = await h.join("g", member_id=j["member_id"], instance_id="s", version=5)
    assert stale["error_code"] == FENCED_INSTANCE_ID and again["error_code"] == NONE


# ---------------------------------------------------------------- offsets


@scenario
async def test_standalone_commit_and_fetch(h: Harness) -> None:
    errors = await h.commit("simple", {("t", 0): 5, ("t", 2): 9}, metadata="m", epoch=3)
    assert errors == {("t", 0): NONE, ("t", 2): NONE}
    r = await h.fetch("simple", {"t": [0, 1, 2]})
    assert r["error_code"] == NONE
    assert [
        (p["partition_index"], p["committed_offset"], p["committed_leader_epoch"], p["metadata"])
        for p in r["topics"][0]["partitions"]
    ] == [
        (0, 5, 3, "m"),
        (1, -1, -1, ""),
        (2, 9, 3, "m"),
    ]
    d = await h.describe("simple")
    assert (d["group_state"], d["protocol_type"]) == ("Empty", "")


@scenario
async def test_fetch_all_and_multiple_groups(h: Harness) -> None:
    await h.commit("a", {("t", 1): 11, ("u", 0): 3})
    await h.commit("b", {("u", 1): 7})
    every = await h.fetch("a", None, version=2)
    assert [
        (t["name"], [(p["partition_index"], p["committed_offset"]) for p in t["partitions"]])
        for t in every["topics"]
    ] == [
        ("t", [(1, 11)]),
        ("u", [(0, 3)]),
    ]
    assert (await h.fetch("nope", None, version=3))["topics"] == []
    r = await h.call(
        "OffsetFetch",
        8,
        {
            "groups": [
                {"group_id": "a", "topics": [{"name": "u", "partition_indexes": [0, 1]}]},
                {"group_id": "b", "topics": None},
            ],
            "require_stable": True,
        },
    )
    groups = {g["group_id"]: g for g in r["groups"]}
    assert [
        (p["partition_index"], p["committed_offset"]) for p in groups["a"]["topics"][0]["partitions"]
    ] == [(0, 3), (1, -1)]
    assert [(t["name"], t["partitions"][0]["committed_offset"]) for t in groups["b"]["topics"]] == [("u", 7)]
    v1 = await h.fetch("a", {"t": [1]}, version=1)
    assert v1["topics"][0]["partitions"][0]["committed_offset"] == 11


@scenario
async def test_offsets_by_topic_id_in_v10(h: Harness) -> None:
    tid = h.topics.get("t").topic_id  # type: ignore[union-attr]
    r = await h.call(
        "OffsetCommit",
        10,
        {
            "group_id": "g",
            "generation_id_or_member_epoch": -1,
            "member_id": "",
            "topics": [
                {"topic_id": tid, "partitions": [{"partition_index": 2, "committed_offset": 42}]},
                {"topic_id": b"\x01" * 16, "partitions": [{"partition_index": 0, "committed_offset": 1}]},
            ],
        },
    )
    assert [(t["topic_id"], t["partitions"][0]["error_code"]) for t in r["topics"]] == [
        (tid, NONE),
        (b"\x01" * 16, UNKNOWN_TOPIC_ID),
    ]
    f = await h.call(
        "OffsetFetch",
        10,
        {
            "groups": [
                {
                    "group_id": "g",
                    "topics": [
                        {"topic_id": tid, "partition_indexes": [2]},
                        {"topic_id": b"\x02" * 16, "partition_indexes": [0]},
                    ],
                },
            ]
        },
    )
    topics = f["groups"][0]["topics"]
    assert (topics[0]["topic_id"], topics[0]["partitions"][0]["committed_offset"]) == (tid, 42)
    assert topics[1]["partitions"][0]["error_code"] == UNKNOWN_TOPIC_ID
    every = await h.call("OffsetFetch", 10, {"groups": [{"group_id": "g", "topics": None}]})
    assert [
        (t["topic_id"], t["partitions"][0]["committed_offset"]) for t in every["groups"][0]["topics"]
    ] == [(tid, 42)]


@scenario
async def test_commit_validation_against_membership(h: Harness) -> None:
    assert await h.commit("nope", {("t", 0): 1}, member_id="m", generation=3, version=8) == {
        ("t", 0): ILLEGAL_GENERATION
    }
    assert await h.commit("nope", {("t", 0): 1}, member_id="m", generation=3, version=9) == {
        ("t", 0): GROUP_ID_NOT_FOUND
    }
    ids, gen, leader = await form_group(h, "g", 2)
    assert await h.commit("g", {("t", 0): 1}, member_id=ids[0], generation=gen) == {("t", 0): NONE}
    assert await h.commit("g", {("t", 0): 1}, member_id=ids[0], generation=gen + 1) == {
        ("t", 0): ILLEGAL_GENERATION
    }
    assert await h.commit("g", {("t", 0): 1}, member_id="stranger", generation=gen) == {
        ("t", 0): UNKNOWN_MEMBER_ID
    }
    assert await h.commit("g", {("t", 0): 1}) == {
        ("t", 0): UNKNOWN_MEMBER_ID
    }  # standalone commit to a live group
    assert await h.commit("g", {("t", 0): 1}, member_id=ids[0], generation=gen, metadata="x" * 4097) == {
        ("t", 0): OFFSET_METADATA_TOO_LARGE
    }
    unknown = await h.commit(
        "g", {("t", 7): 1, ("missing", 0): 1, ("t", 1): 2}, member_id=ids[0], generation=gen
    )
    assert unknown == {
        ("t", 7): UNKNOWN_TOPIC_OR_PARTITION,
        ("missing", 0): UNKNOWN_TOPIC_OR_PARTITION,
        ("t", 1): NONE,
    }
    # during PreparingRebalance the current generation may still commit (consumers do on revoke)
    waiting = h.join("g", member_id=leader)
    await eventually(lambda: _state_is(h, "g", "PreparingRebalance"), "rebalance")
    assert await h.commit("g", {("t", 2): 3}, member_id=ids[1], generation=gen) == {("t", 2): NONE}
    other = next(m for m in ids if m != leader)
    await h.join("g", member_id=other)
    await waiting
    # between JoinGroup and SyncGroup (CompletingRebalance): REBALANCE_IN_PROGRESS
    assert await h.commit("g", {("t", 2): 4}, member_id=other, generation=gen + 1) == {
        ("t", 2): REBALANCE_IN_PROGRESS
    }
    r = await h.fetch("g", {"t": [0, 1, 2]})
    assert [p["committed_offset"] for p in r["topics"][0]["partitions"]] == [1, 2, 3]


@scenario
async def test_offset_commit_v2_retention_and_expiry(h: Harness) -> None:
    r = await h.call(
        "OffsetCommit",
        2,
        {
            "group_id": "s",
            "generation_id_or_member_epoch": -1,
            "member_id": "",
            "retention_time_ms": 1000,
            "topics": [{"name": "t", "partitions": [{"partition_index": 0, "committed_offset": 8}]}],
        },
    )
    assert r["topics"][0]["partitions"][0]["error_code"] == NONE
    await h.commit("s", {("t", 1): 9})
    committed = h.coordinator.store.get("s", "t", 0)
    assert committed is not None and committed.expire_timestamp_ms == committed.commit_timestamp_ms + 1000
    # explicit expiry passes first; broker retention (7 days) later, then the empty group goes
    assert h.coordinator.expire_offsets(now=committed.commit_timestamp_ms + 1000) == 1
    assert [
        p["committed_offset"] for p in (await h.fetch("s", {"t": [0, 1]}))["topics"][0]["partitions"]
    ] == [-1, 9]
    assert h.coordinator.expire_offsets(now=committed.commit_timestamp_ms + 7 * 86_400_000 + 60_000) == 1
    assert (await h.describe("s"))["group_state"] == "Dead"


@scenario
async def test_offset_delete(h: Harness) -> None:
    ids, gen, _ = await form_group(h, "g", 1, protocols=[("range", sub("t"))])
    await h.commit("g", {("t", 0): 4, ("u", 0): 6, ("u", 1): 7}, member_id=ids[0], generation=gen)
    r = await h.call(
        "OffsetDelete",
        0,
        {
            "group_id": "g",
            "topics": [
                {"name": "t", "partitions": [{"partition_index": 0}]},
                {"name": "u", "partitions": [{"partition_index": 0}, {"partition_index": 9}]},
            ],
        },
    )
    assert r["error_code"] == NONE
    assert [
        (t["name"], [(p["partition_index"], p["error_code"]) for p in t["partitions"]]) for t in r["topics"]
    ] == [
        ("t", [(0, GROUP_SUBSCRIBED_TO_TOPIC)]),
        ("u", [(0, NONE), (9, UNKNOWN_TOPIC_OR_PARTITION)]),
    ]
    f = await h.fetch("g", None)
    assert [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in f["topics"]] == [
        ("t", [0]),
        ("u", [1]),
    ]
    missing = await h.call("OffsetDelete", 0, {"group_id": "nope", "topics": []})
    assert missing["error_code"] == GROUP_ID_NOT_FOUND
    await form_group(h, "c", 1, protocol_type="connect")
    assert (await h.call("OffsetDelete", 0, {"group_id": "c", "topics": []}))["error_code"] == NON_EMPTY_GROUP


# ---------------------------------------------------------------- Describe / List / Delete


@scenario
async def test_describe_groups(h: Harness) -> None:
    ids, gen, leader = await form_group(h, "g", 2)
    d = await h.describe("g")
    assert (d["error_code"], d["group_state"], d["protocol_type"], d["protocol_data"]) == (
        NONE,
        "Stable",
        "consumer",
        "range",
    )
    members = {m["member_id"]: m for m in d["members"]}
    assert set(members) == set(ids)
    assert all(m["client_id"] == "client" and m["client_host"] == "/127.0.0.1" for m in members.values())
    assert all(m["member_metadata"] == sub("t") for m in members.values())
    assert sorted(
        decode_assignment(m["member_assignment"])["assigned_partitions"]["t"][0] for m in members.values()
    ) == [0, 1]
    assert d["authorized_operations"] == (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)
    h.join("g", member_id=leader)  # rebalance: metadata hidden
    await eventually(lambda: _state_is(h, "g", "PreparingRebalance"), "rebalance")
    d = await h.describe("g")
    assert d["protocol_data"] == "" and all(m["member_metadata"] == b"" for m in d["members"])
    old = await h.describe("missing", version=5)
    assert (old["error_code"], old["group_state"]) == (NONE, "Dead")
    new = await h.describe("missing", version=6)
    assert (new["error_code"], new["group_state"], new["error_message"]) == (
        GROUP_ID_NOT_FOUND,
        "Dead",
        "Group missing not found.",
    )


@scenario
async def test_list_groups_with_state_and_type_filters(h: Harness) -> None:
    await form_group(h, "stable", 1)
    await h.commit("simple", {("t", 0): 1})
    all_groups = await h.call("ListGroups", 5, {})
    assert [
        (g["group_id"], g["protocol_type"], g["group_state"], g["group_type"]) for g in all_groups["groups"]
    ] == [
        ("simple", "", "Empty", "classic"),
        ("stable", "consumer", "Stable", "classic"),
    ]
    only = await h.call("ListGroups", 4, {"states_filter": ["stable"]})
    assert [g["group_id"] for g in only["groups"]] == ["stable"]
    assert (await h.call("ListGroups", 5, {"types_filter": ["consumer"]}))["groups"] == []
    assert len((await h.call("ListGroups", 5, {"types_filter": ["Classic"]}))["groups"]) == 2
    v0 = await h.call("ListGroups", 0, {})
    assert [g["group_id"] for g in v0["groups"]] == ["simple", "stable"]


@scenario
async def test_delete_groups(h: Harness) -> None:
    await form_group(h, "busy", 1)
    await h.commit("idle", {("t", 0): 1})
    r = await h.call("DeleteGroups", 2, {"groups_names": ["busy", "idle", "nope", "idle"]})
    assert [(x["group_id"], x["error_code"]) for x in r["results"]] == [
        ("busy", NON_EMPTY_GROUP),
        ("idle", NONE),
        ("nope", GROUP_ID_NOT_FOUND),
    ]
    assert (await h.fetch("idle", {"t": [0]}))["topics"][0]["partitions"][0]["committed_offset"] == -1
    assert h.coordinator.store.group_ids() == ["busy"]


# ---------------------------------------------------------------- lifecycle and durability


def test_committed_offsets_and_generation_survive_a_restart(tmp_path: Path) -> None:
    async def first() -> None:
        h = await Harness(tmp_path).start()
        ids, gen, _ = await form_group(h, "g", 1)
        await h.commit(
            "g", {("t", 0): 10, ("t", 1): 20}, member_id=ids[0], generation=gen, metadata="meta", epoch=2
        )
        await h.commit("s", {("u", 1): 5})
        await h.call(
            "OffsetDelete",
            0,
            {"group_id": "s", "topics": [{"name": "u", "partitions": [{"partition_index": 1}]}]},
        )
        await h.commit("s", {("u", 0): 6})
        # no clean stop: simulate a crash (the file was written to the OS at each commit)
        h.coordinator._timers.cancel_all()
        h.topics.close()

    async def second() -> None:
        h = await Harness(tmp_path).start()
        try:
            r = await h.fetch("g", {"t": [0, 1, 2]})
            assert [
                (p["committed_offset"], p["committed_leader_epoch"], p["metadata"])
                for p in r["topics"][0]["partitions"]
            ] == [
                (10, 2, "meta"),
                (20, 2, "meta"),
                (-1, -1, ""),
            ]
            assert [
                (t["name"], [p["committed_offset"] for p in t["partitions"]])
                for t in (await h.fetch("s", None))["topics"]
            ] == [("u", [6])]
            d = await h.describe("g")
            assert (d["group_state"], d["protocol_type"]) == ("Empty", "consumer")
            # members rejoin after a restart; numbering continues
            j = await h.join("g", version=3)
            assert j["generation_id"] == 2
        finally:
            await h.stop()

    asyncio.run(first())
    asyncio.run(second())


def test_stop_answers_waiting_joins_with_not_coordinator(tmp_path: Path) -> None:
    async def main() -> None:
        h = await Harness(tmp_path).start()
        ids, gen, leader = await form_group(h, "g", 2)
        waiting = h.join("g", member_id=leader)
        await eventually(lambda: _state_is(h, "g", "PreparingRebalance"), "rebalance")
        await h.stop()
        assert (await waiting)["error_code"] == NOT_COORDINATOR

    asyncio.run(main())


def test_fsync_mode_commits_through_the_group_committer(tmp_path: Path) -> None:
    from kafkakit.broker.durability import GroupCommitter

    async def main() -> None:
        h = Harness(tmp_path, fsync=True)
        h.state.committer = GroupCommitter()
        await h.start()
        try:
            await asyncio.gather(*(h.commit("g", {("t", i % 3): i}) for i in range(12)))
            assert h.state.committer.rounds >= 1 and h.state.committer.fsyncs >= 1
            assert h.coordinator.store._synced == h.coordinator.store._written
        finally:
            await h.stop()
            h.state.committer.close()

    asyncio.run(main())


# ---------------------------------------------------------------- the offsets store itself


def _store(path: Path, **kw: Any) -> OffsetsStore:
    s = OffsetsStore(path / FILE_NAME, **kw)
    s.load()
    return s


def test_store_replays_and_compacts(tmp_path: Path) -> None:
    s = _store(tmp_path)
    for i in range(100):
        s.commit("g", [("t", i % 4, CommittedOffset(i, 1, "m", 1000 + i))])
    s.set_group_record("g", GroupRecord("consumer", 3, None, 77))
    s.commit("h", [("x", 0, CommittedOffset(1))])
    s.delete_group("h")
    size_before = (tmp_path / FILE_NAME).stat().st_size
    s.close()
    again = _store(tmp_path)
    assert dict(again.offsets("g")) == {("t", p): CommittedOffset(96 + p, 1, "m", 1096 + p) for p in range(4)}
    assert again.group_record("g") == GroupRecord("consumer", 3, None, 77)
    assert again.group_ids() == ["g"]
    assert (tmp_path / FILE_NAME).stat().st_size < size_before  # rewritten compacted on load
    again.close()


def test_store_drops_a_torn_tail_and_keeps_appending_after_it(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.commit("g", [("t", 0, CommittedOffset(1))])
    s.commit("g", [("t", 1, CommittedOffset(2))])
    s.close()
    path = tmp_path / FILE_NAME
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # the last entry was cut by a crash
    again = _store(tmp_path)
    assert dict(again.offsets("g")) == {("t", 0): CommittedOffset(1)}
    again.commit("g", [("t", 2, CommittedOffset(3))])
    again.close()
    assert dict(_store(tmp_path).offsets("g")) == {("t", 0): CommittedOffset(1), ("t", 2): CommittedOffset(3)}


def test_store_stops_at_a_corrupt_entry(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.commit("g", [("t", 0, CommittedOffset(1))])
    s.commit("g", [("t", 0, CommittedOffset(2))])
    s.close()
    path = tmp_path / FILE_NAME
    data = bytearray(path.read_bytes())
    data[-2] ^= 0xFF  # flip a byte inside the last entry: its CRC no longer matches
    path.write_bytes(bytes(data))
    assert dict(_store(tmp_path).offsets("g")) == {("t", 0): CommittedOffset(1)}


def test_store_refuses_a_foreign_file(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"not an offsets file at all")
    with pytest.raises(OffsetsStoreError, match="not a kafkakit committed offsets file"):
        _store(tmp_path)


def test_store_rolls_when_the_file_grows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kafkakit.broker.offsets_store as mod

    monkeypatch.setattr(mod, "ROLL_MIN_BYTES", 4096)
    s = _store(tmp_path)
    for i in range(2000):
        s.commit("g", [("t", 0, CommittedOffset(i))])
    assert (tmp_path / FILE_NAME).stat().st_size < 4096 * 2
    s.close()
    assert dict(_store(tmp_path).offsets("g")) == {("t", 0): CommittedOffset(1999)}


def test_store_failed_write_changes_nothing(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.commit("g", [("t", 0, CommittedOffset(1))])
    assert s._fd is not None
    os.close(s._fd)  # make the next write fail
    with pytest.raises(OSError):
        s.commit("g", [("t", 0, CommittedOffset(2))])
    assert s.get("g", "t", 0) == CommittedOffset(1)
    s._fd = None
    s.close()


def test_store_entry_layout_is_length_crc_payload(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.commit("g", [("t", 0, CommittedOffset(5))])
    s.close()
    data = (tmp_path / FILE_NAME).read_bytes()
    assert data[:6] == b"KKOFFS"
    length, _crc = struct.unpack_from(">II", data, 8)
    assert 8 + 8 + length == len(data)


@scenario
async def test_offsets_of_deleted_topics_are_dropped(h: Harness) -> None:
    await h.commit("a", {("t", 0): 1, ("u", 0): 2})
    await h.commit("b", {("u", 1): 3})
    h.topics.delete("u")
    assert h.coordinator.on_topics_deleted(["u"]) == 2
    assert [t["name"] for t in (await h.fetch("a", None))["topics"]] == ["t"]
    # the periodic cleanup catches topics deleted without the hook too; "b" is left empty and goes
    await h.commit("c", {("t", 1): 4})
    h.topics.delete("t")
    assert h.coordinator.expire_offsets() == 2
    assert (await h.call("ListGroups", 4, {}))["groups"] == []


# ---------------------------------------------------------------- robustness


def _check_invariants(coordinator: GroupCoordinator) -> None:
    for gid, g in coordinator.groups.items():
        assert g.group_id == gid and g.state in (
            "Empty",
            "PreparingRebalance",
            "CompletingRebalance",
            "Stable",
        )
        assert (g.leader_id is None) == (not g.members)
        assert g.leader_id is None or g.leader_id in g.members
        assert all(g.members[mid].group_instance_id == iid for iid, mid in g.static_members.items())
        assert not (g.pending_join & set(g.members))
        assert g.pending_sync <= set(g.members)
        if g.state == "Empty":
            assert not g.members
        for name in {n for m in g.members.values() for n, _ in m.protocols}:
            assert g.supported[name] == sum(
                1 for m in g.members.values() if any(n == name for n, _ in m.protocols)
            )


@pytest.mark.parametrize("seed", range(6))
def test_random_request_sequences_never_break_the_coordinator(tmp_path: Path, seed: int) -> None:
    import random

    rnd = random.Random(seed)

    async def main() -> None:
        h = await Harness(tmp_path, group_initial_rebalance_delay_ms=rnd.choice([0, 20])).start()
        tasks: list[asyncio.Task[dict[str, Any]]] = []
        known: list[str] = [""]
        metadata = [sub("t"), sub("t", "u"), b"", b"\xff\xff\xff", encode_subscription(["u"], version=0)]
        try:
            for _ in range(250):
                group = rnd.choice(["g", "h", ""])
                member = rnd.choice(known + ["stranger"])
                instance = rnd.choice([None, None, "s1", "s2"])
                gen = rnd.choice([-1, 0, 1, 2, 3, 5])
                op = rnd.randrange(8)
                if op <= 2:
                    protos = rnd.sample(
                        [("range", rnd.choice(metadata)), ("roundrobin", rnd.choice(metadata))],
                        rnd.randint(0, 2),
                    )
                    tasks.append(
                        h.join(
                            group,
                            member_id=member,
                            protocols=protos,
                            version=rnd.choice([0, 3, 4, 5, 7, 9]),
                            session_ms=rnd.choice([5, 50, 200, 30_000]),
                            rebalance_ms=rnd.choice([20, 200]),
                            instance_id=instance,
                            protocol_type=rnd.choice(["consumer", "consumer", "connect", ""]),
                        )
                    )
                elif op == 3:
                    assignments = {
                        m: rnd.choice([b"", b"junk", encode_assignment({"t": [0]})])
                        for m in rnd.sample(known, min(2, len(known)))
                    }
                    tasks.append(
                        h.sync(
                            group,
                            member,
                            gen,
                            assignments,
                            version=rnd.choice([0, 3, 5]),
                            instance_id=instance,
                        )
                    )
                elif op == 4:
                    await h.heartbeat(group, member, gen, instance)
                elif op == 5:
                    await h.call(
                        "LeaveGroup",
                        rnd.choice([0, 3, 5]),
                        {
                            "group_id": group,
                            "member_id": member,
                            "members": [{"member_id": member, "group_instance_id": instance}],
                        },
                    )
                elif op == 6:
                    await h.commit(
                        group,
                        {("t", rnd.randrange(4)): rnd.randrange(100)},
                        member_id=member,
                        generation=gen,
                        version=rnd.choice([2, 8, 9]),
                    )
                else:
                    await h.call(
                        "OffsetDelete",
                        0,
                        {
                            "group_id": group,
                            "topics": [{"name": "t", "partitions": [{"partition_index": 0}]}],
                        },
                    )
                    await h.describe(group or "g", version=rnd.choice([0, 5, 6]))
                await asyncio.sleep(rnd.choice([0, 0, 0.001, 0.01]))
                for t in [t for t in tasks if t.done()]:
                    r = t.result()  # a handler that raised fails here
                    if r.get("member_id"):
                        known.append(r["member_id"])
                _check_invariants(h.coordinator)
        finally:
            await h.stop()
        results = await asyncio.gather(*tasks)  # every waiting request is answered by the shutdown
        assert all(isinstance(r["error_code"], int) for r in results)

    asyncio.run(main())


# ---------------------------------------------------------------- the transaction coordinator's interface


class _OpenTransactions:
    """Stands in for state.txn (the transaction coordinator, not under test here): which
    (group, topic, partition) an open transaction holds offsets for."""

    def __init__(self, pending: set[tuple[str, str, int]]) -> None:
        self.pending = pending

    def has_pending_offsets(self, group_id: str, topic: str, partition: int) -> bool:
        return (group_id, topic, partition) in self.pending


@scenario
async def test_transactional_offset_commit_checks_and_storage(h: Harness) -> None:
    c = h.coordinator
    assert c.validate_txn_offset_commit("", "", None, -1) == INVALID_GROUP_ID
    assert c.validate_txn_offset_commit("nope", "m", None, 2) == ILLEGAL_GENERATION
    assert c.validate_txn_offset_commit("fresh", "", None, -1) == NONE
    assert (await h.describe("fresh"))["group_state"] == "Empty"  # created as a simple group
    ids, gen, leader = await form_group(h, "g", 2)
    assert c.validate_txn_offset_commit("g", ids[0], None, gen) == NONE
    assert c.validate_txn_offset_commit("g", ids[0], None, gen + 1) == ILLEGAL_GENERATION
    assert c.validate_txn_offset_commit("g", "stranger", None, gen) == UNKNOWN_MEMBER_ID
    # unlike OffsetCommit, no member is required and a rebalance does not stop it
    assert c.validate_txn_offset_commit("g", "", None, -1) == NONE
    h.join("g", member_id=leader)
    await eventually(lambda: _state_is(h, "g", "PreparingRebalance"), "rebalance")
    other = next(m for m in ids if m != leader)
    await h.join("g", member_id=other)
    await eventually(lambda: _state_is(h, "g", "CompletingRebalance"), "the join phase to complete")
    assert c.validate_txn_offset_commit("g", other, None, gen + 1) == NONE
    assert await c.commit_txn_offsets("g", [("t", 1, CommittedOffset(33, 4, "txn", 1))])
    r = await h.fetch("g", {"t": [1]})
    assert [
        (p["committed_offset"], p["committed_leader_epoch"], p["metadata"])
        for p in r["topics"][0]["partitions"]
    ] == [(33, 4, "txn")]


@scenario
async def test_require_stable_reports_offsets_held_by_an_open_transaction(h: Harness) -> None:
    await h.commit("g", {("t", 0): 5, ("t", 1): 6})
    h.state.txn = _OpenTransactions({("g", "t", 1)})  # type: ignore[attr-defined]
    body = {
        "groups": [{"group_id": "g", "topics": [{"name": "t", "partition_indexes": [0, 1]}]}],
        "require_stable": True,
    }
    stable = await h.call("OffsetFetch", 8, body)
    assert [
        (p["partition_index"], p["committed_offset"], p["error_code"])
        for p in stable["groups"][0]["topics"][0]["partitions"]
    ] == [
        (0, 5, NONE),
        (1, -1, 88),
    ]
    body["require_stable"] = False
    loose = await h.call("OffsetFetch", 8, body)
    assert [p["committed_offset"] for p in loose["groups"][0]["topics"][0]["partitions"]] == [5, 6]
    v7 = await h.call("OffsetFetch", 7, {"group_id": "g", "topics": None, "require_stable": True})
    assert [(p["partition_index"], p["error_code"]) for p in v7["topics"][0]["partitions"]] == [
        (0, NONE),
        (1, 88),
    ]
