"""Request handlers of the group APIs: FindCoordinator, the classic group protocol and offsets.

How it works: each handler turns a decoded request body (any version) into a call on the group
coordinator (``state.groups``, a ``kafkakit.broker.groups.GroupCoordinator``) and shapes its answer
into the response body of the request's version: JoinGroup's protocol name is "" before v7 and
null from v7 when none; LeaveGroup v0-2 carries one member's error at the top level; OffsetFetch
v1 puts a group error on every partition, v2-7 at the top, v8+ per group; v10 of OffsetCommit and
OffsetFetch name topics by id. Offset requests are checked against the topic table first (unknown
topics or partitions get UNKNOWN_TOPIC_OR_PARTITION, unknown topic ids UNKNOWN_TOPIC_ID), as
Kafka does before it asks its coordinator. OffsetFetch with ``require_stable`` answers
UNSTABLE_OFFSET_COMMIT for partitions an open transaction holds offsets for (asking the
transaction coordinator, ``state.txn``, when there is one). JoinGroup and SyncGroup await the coordinator's future,
which may take a whole rebalance; other connections are served meanwhile. The broker coordinates
every group and transaction itself, so FindCoordinator always names this node. The KIP-848
ConsumerGroupHeartbeat API is not served (not in ``HANDLERS``, so not advertised).

What it must never do: raise on a client's input (a missing coordinator or bad values become error
codes), answer a commit before the coordinator stored it, or advertise an API it does not serve.
"""

from __future__ import annotations

import logging
from typing import Any

from kafkakit.broker.group_model import (
    COORDINATOR_NOT_AVAILABLE,
    GROUP_ID_NOT_FOUND,
    INCONSISTENT_GROUP_PROTOCOL,
    NONE,
    UNKNOWN_TOPIC_OR_PARTITION,
    JoinRequest,
)
from kafkakit.broker.state import BrokerState, Handler
from kafkakit.protocol.frame import RequestHeader

log = logging.getLogger("kafkakit.broker.groups")

__all__ = ["HANDLERS"]

INVALID_REQUEST = 42
UNSTABLE_OFFSET_COMMIT = 88
UNKNOWN_TOPIC_ID = 100
#: DescribeGroups authorized_operations when asked: READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS and
#: ALTER_CONFIGS (every operation a group supports; there are no ACLs)
GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)
OPERATIONS_OMITTED = -(2**31)
#: InetAddress.toString() of a loopback client, what Kafka shows as a member's host
DEFAULT_CLIENT_HOST = "/127.0.0.1"


def _coordinator(state: BrokerState) -> Any:
    return getattr(state, "groups", None)


def _client_host(header: RequestHeader) -> str:
    host = getattr(header, "client_host", None)
    return host if isinstance(host, str) and host else DEFAULT_CLIENT_HOST


# ---------------------------------------------------------------- FindCoordinator


async def find_coordinator(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    key_type = body.get("key_type", 0)
    ok = key_type in (0, 1)  # group, transaction; share coordinators (2) are not served
    node = (state.node_id, state.host, state.port) if ok else (-1, "", -1)
    error = NONE if ok else INVALID_REQUEST
    message = None if ok else f"coordinator key type {key_type} is not supported (0: group, 1: transaction)"
    if version < 4:
        return {
            "throttle_time_ms": 0,
            "error_code": error,
            "error_message": message,
            "node_id": node[0],
            "host": node[1],
            "port": node[2],
        }
    return {
        "throttle_time_ms": 0,
        "coordinators": [
            {
                "key": key,
                "node_id": node[0],
                "host": node[1],
                "port": node[2],
                "error_code": error,
                "error_message": message,
            }
            for key in body.get("coordinator_keys", [])
        ],
    }


# ---------------------------------------------------------------- JoinGroup / SyncGroup / Heartbeat / LeaveGroup


async def join_group(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = _coordinator(state)
    if coordinator is None:
        resp: dict[str, Any] = {"error_code": COORDINATOR_NOT_AVAILABLE, "member_id": body["member_id"]}
    else:
        req = JoinRequest(
            group_id=body["group_id"],
            member_id=body["member_id"],
            group_instance_id=body.get("group_instance_id"),
            client_id=header.client_id or "",
            client_host=_client_host(header),
            session_timeout_ms=body["session_timeout_ms"],
            # v0 has no rebalance timeout: the session timeout serves as one
            rebalance_timeout_ms=body["session_timeout_ms"]
            if version == 0
            else body.get("rebalance_timeout_ms", -1),
            protocol_type=body["protocol_type"],
            protocols=[(p["name"], p["metadata"]) for p in body.get("protocols", [])],
            version=version,
            reason=body.get("reason"),
        )
        resp = dict(await coordinator.join_group(req))
    name = resp.get("protocol_name")
    if version < 7:
        resp["protocol_name"] = name or ""
    elif name == "":
        resp["protocol_name"] = None
    resp.setdefault("generation_id", -1)
    resp.setdefault("leader", "")
    resp.setdefault("members", [])
    resp["throttle_time_ms"] = 0
    return resp


async def sync_group(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = _coordinator(state)
    if coordinator is None:
        resp: dict[str, Any] = {"error_code": COORDINATOR_NOT_AVAILABLE}
    elif version >= 5 and (body.get("protocol_type") is None or body.get("protocol_name") is None):
        # from v5 both are mandatory
        resp = {"error_code": INCONSISTENT_GROUP_PROTOCOL}
    else:
        resp = dict(
            await coordinator.sync_group(
                body["group_id"],
                body["member_id"],
                body.get("group_instance_id"),
                body["generation_id"],
                body.get("protocol_type"),
                body.get("protocol_name"),
                [(a["member_id"], a["assignment"]) for a in body.get("assignments", [])],
            )
        )
    resp.setdefault("assignment", b"")
    resp["throttle_time_ms"] = 0
    return resp


async def heartbeat(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = _coordinator(state)
    if coordinator is None:
        return {"throttle_time_ms": 0, "error_code": COORDINATOR_NOT_AVAILABLE}
    error = coordinator.heartbeat(
        body["group_id"], body["member_id"], body.get("group_instance_id"), body["generation_id"]
    )
    return {"throttle_time_ms": 0, "error_code": error}


async def leave_group(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = _coordinator(state)
    if version < 3:
        leaving: list[tuple[str, str | None]] = [(body["member_id"], None)]
    else:
        leaving = [(m["member_id"], m.get("group_instance_id")) for m in body.get("members", [])]
    if coordinator is None:
        top, results = COORDINATOR_NOT_AVAILABLE, []
    else:
        top, results = coordinator.leave_group(body["group_id"], leaving)
    if version < 3:
        # one member: its error is the answer's error
        error = top or next((err for _mid, _iid, err in results if err), NONE)
        return {"throttle_time_ms": 0, "error_code": error}
    return {
        "throttle_time_ms": 0,
        "error_code": top,
        "members": [
            {"member_id": mid, "group_instance_id": iid, "error_code": err} for mid, iid, err in results
        ],
    }


# ---------------------------------------------------------------- offsets


def _topic_name(state: BrokerState, version: int, topic: dict[str, Any], min_id_version: int) -> str | None:
    """The topic's name (v10 names it by id; None when that id is unknown)."""
    if version >= min_id_version:
        t = state.topics.by_id(topic.get("topic_id", b""))
        return t.name if t is not None else None
    name = topic.get("name")
    return name if isinstance(name, str) else None


async def offset_commit(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = _coordinator(state)
    # errors[i][j]: the answer for request topic i, partition j (None: ask the coordinator)
    errors: list[list[int | None]] = []
    names: list[str | None] = []
    items: list[tuple[str, int, int, int, str | None]] = []
    where: list[tuple[int, int]] = []
    for i, topic in enumerate(body.get("topics", [])):
        name = _topic_name(state, version, topic, 10)
        names.append(name)
        row: list[int | None] = []
        for j, p in enumerate(topic.get("partitions", [])):
            if name is None:
                row.append(UNKNOWN_TOPIC_ID if version >= 10 else UNKNOWN_TOPIC_OR_PARTITION)
            elif state.topics.get_partition(name, p["partition_index"]) is None:
                row.append(UNKNOWN_TOPIC_OR_PARTITION)
            else:
                row.append(None)
                items.append(
                    (
                        name,
                        p["partition_index"],
                        p["committed_offset"],
                        p.get("committed_leader_epoch", -1),
                        p.get("committed_metadata"),
                    )
                )
                where.append((i, j))
        errors.append(row)
    if items:
        if coordinator is None:
            group_error, item_errors = COORDINATOR_NOT_AVAILABLE, []
        else:
            group_error, item_errors = await coordinator.commit_offsets(
                body["group_id"],
                body.get("member_id", ""),
                body.get("group_instance_id"),
                body.get("generation_id_or_member_epoch", -1),
                version,
                items,
                body.get("retention_time_ms", -1) if version <= 4 else -1,
            )
        for k, (i, j) in enumerate(where):
            errors[i][j] = group_error if group_error else item_errors[k]
    return {
        "throttle_time_ms": 0,
        "topics": [
            {
                "name": names[i] or topic.get("name", ""),
                "topic_id": topic.get("topic_id", b"\x00" * 16),
                "partitions": [
                    {"partition_index": p["partition_index"], "error_code": errors[i][j] or NONE}
                    for j, p in enumerate(topic.get("partitions", []))
                ],
            }
            for i, topic in enumerate(body.get("topics", []))
        ],
    }


def _fetch_group(
    state: BrokerState, version: int, group_id: str, topics: list[dict[str, Any]] | None, require_stable: bool
) -> dict[str, Any]:
    """One group's OffsetFetch answer in the v8+ shape (topics carry name and topic_id). With
    ``require_stable``, partitions an open transaction holds offsets for are UNSTABLE_OFFSET_COMMIT."""
    group = _fetch_group_rows(state, version, group_id, topics)
    pending = getattr(getattr(state, "txn", None), "has_pending_offsets", None)
    if require_stable and pending is not None and not group["error_code"]:
        for t in group["topics"]:
            for p in t["partitions"]:
                if not p["error_code"] and pending(group_id, t["name"], p["partition_index"]):
                    p.update(
                        committed_offset=-1,
                        committed_leader_epoch=-1,
                        metadata="",
                        error_code=UNSTABLE_OFFSET_COMMIT,
                    )
    return group


def _fetch_group_rows(
    state: BrokerState, version: int, group_id: str, topics: list[dict[str, Any]] | None
) -> dict[str, Any]:
    coordinator = _coordinator(state)
    if coordinator is None:
        return {"group_id": group_id, "topics": [], "error_code": COORDINATOR_NOT_AVAILABLE}
    by_id = version >= 10
    if topics is None:
        out = []
        for name, rows in coordinator.fetch_offsets(group_id, None):
            t = state.topics.get(name)
            if by_id and t is None:
                continue  # a deleted topic has no id to name it by
            out.append(
                {
                    "name": name,
                    "topic_id": t.topic_id if t is not None else b"\x00" * 16,
                    "partitions": _rows(rows),
                }
            )
        return {"group_id": group_id, "topics": out, "error_code": NONE}
    out = []
    for topic in topics:
        name = _topic_name(state, version, topic, 10)
        topic_id = topic.get("topic_id", b"\x00" * 16)
        parts = list(topic.get("partition_indexes", []))
        if name is None:
            rows = [(p, -1, -1, "") for p in parts]
            out.append({"name": "", "topic_id": topic_id, "partitions": _rows(rows, UNKNOWN_TOPIC_ID)})
        else:
            for _name, rows in coordinator.fetch_offsets(group_id, [(name, parts)]):
                out.append({"name": name, "topic_id": topic_id, "partitions": _rows(rows)})
    return {"group_id": group_id, "topics": out, "error_code": NONE}


def _rows(rows: list[tuple[int, int, int, str]], error: int = NONE) -> list[dict[str, Any]]:
    return [
        {
            "partition_index": p,
            "committed_offset": off,
            "committed_leader_epoch": epoch,
            "metadata": md,
            "error_code": error,
        }
        for p, off, epoch, md in rows
    ]


async def offset_fetch(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    if version >= 8:
        return {
            "throttle_time_ms": 0,
            "groups": [
                _fetch_group(state, version, g["group_id"], g.get("topics"), bool(body.get("require_stable")))
                for g in body.get("groups", [])
            ],
        }
    topics = body.get("topics")
    if version < 2 and topics is None:
        topics = []
    group = _fetch_group(state, version, body["group_id"], topics, bool(body.get("require_stable")))
    error = group["error_code"]
    out_topics = group["topics"]
    if version < 2 and error:
        # v1 has no top-level error: every partition carries it
        for t in out_topics:
            for p in t["partitions"]:
                p.update(committed_offset=-1, committed_leader_epoch=-1, metadata="", error_code=error)
    return {"throttle_time_ms": 0, "topics": out_topics, "error_code": error}


async def offset_delete(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = _coordinator(state)
    errors: dict[tuple[int, int], int] = {}
    wanted: list[tuple[str, list[int]]] = []
    for i, topic in enumerate(body.get("topics", [])):
        valid = []
        for j, p in enumerate(topic.get("partitions", [])):
            if state.topics.get_partition(topic["name"], p["partition_index"]) is None:
                errors[(i, j)] = UNKNOWN_TOPIC_OR_PARTITION
            else:
                valid.append(p["partition_index"])
        if valid:
            wanted.append((topic["name"], valid))
    if coordinator is None:
        return {"error_code": COORDINATOR_NOT_AVAILABLE, "throttle_time_ms": 0, "topics": []}
    top, results = await coordinator.delete_offsets(body["group_id"], wanted)
    if top:
        return {"error_code": top, "throttle_time_ms": 0, "topics": []}
    found: dict[tuple[str, int], int] = {(name, p): err for name, rows in results for p, err in rows}
    return {
        "error_code": NONE,
        "throttle_time_ms": 0,
        "topics": [
            {
                "name": topic["name"],
                "partitions": [
                    {
                        "partition_index": p["partition_index"],
                        "error_code": errors.get(
                            (i, j), found.get((topic["name"], p["partition_index"]), NONE)
                        ),
                    }
                    for j, p in enumerate(topic.get("partitions", []))
                ],
            }
            for i, topic in enumerate(body.get("topics", []))
        ],
    }


# ---------------------------------------------------------------- DescribeGroups / ListGroups / DeleteGroups


async def describe_groups(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = _coordinator(state)
    ops = GROUP_OPERATIONS if body.get("include_authorized_operations") else OPERATIONS_OMITTED
    out = []
    for gid in body.get("groups", []):
        described = coordinator.describe_group(gid) if coordinator is not None else None
        if described is not None:
            described.update(error_code=NONE, error_message=None, authorized_operations=ops)
            out.append(described)
            continue
        if coordinator is None:
            error, message = COORDINATOR_NOT_AVAILABLE, "the group coordinator is not running"
        elif version >= 6:
            error, message = GROUP_ID_NOT_FOUND, f"Group {gid} not found."
        else:
            error, message = NONE, None  # before v6 an unknown group is described as Dead
        out.append(
            {
                "error_code": error,
                "error_message": message,
                "group_id": gid,
                "group_state": "Dead",
                "protocol_type": "",
                "protocol_data": "",
                "members": [],
                "authorized_operations": OPERATIONS_OMITTED,
            }
        )
    return {"throttle_time_ms": 0, "groups": out}


async def list_groups(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = _coordinator(state)
    if coordinator is None:
        return {"throttle_time_ms": 0, "error_code": COORDINATOR_NOT_AVAILABLE, "groups": []}
    states = body.get("states_filter", []) if version >= 4 else []
    types = body.get("types_filter", []) if version >= 5 else []
    return {"throttle_time_ms": 0, "error_code": NONE, "groups": coordinator.list_groups(states, types)}


async def delete_groups(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = _coordinator(state)
    names = list(body.get("groups_names", []))
    if coordinator is None:
        results = [(g, COORDINATOR_NOT_AVAILABLE) for g in dict.fromkeys(names)]
    else:
        results = await coordinator.delete_groups(names)
    return {"throttle_time_ms": 0, "results": [{"group_id": g, "error_code": err} for g, err in results]}


HANDLERS: dict[int, Handler] = {
    10: find_coordinator,
    11: join_group,
    12: heartbeat,
    13: leave_group,
    14: sync_group,
    8: offset_commit,
    9: offset_fetch,
    47: offset_delete,
    15: describe_groups,
    16: list_groups,
    42: delete_groups,
}
