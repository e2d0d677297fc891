"""Wire tests for the group and admin API schemas and the classic consumer-protocol payloads.

1. Golden bytes: fixed bodies compared byte for byte, both ways, with independent peers
   (kafka-python's hand-written ``kafka.protocol.old`` structs, aiokafka's structs) and with bytes
   written out by hand from the protocol spec where no hand-written peer has the version.
2. A hypothesis differential against kafka-python's message classes for every version of every API
   that it has, and hypothesis round trips for every version of every API in groups.py/admin.py.
3. Truncated or garbage buffers raise ProtocolDecodeError and nothing else.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiokafka.protocol.admin as ak_admin
import aiokafka.protocol.commit as ak_commit
import aiokafka.protocol.coordination as ak_coord
import aiokafka.protocol.group as ak_group
import kafka.protocol.admin.configs as kp_configs
import kafka.protocol.admin.groups as kp_groups
import kafka.protocol.admin.topics as kp_topics
import kafka.protocol.consumer.group as kp_group
import kafka.protocol.metadata.find_coordinator as kp_find
import kafka.protocol.old.admin as old_admin
import kafka.protocol.old.commit as old_commit
import kafka.protocol.old.find_coordinator as old_find
import kafka.protocol.old.group as old_group
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.protocol.consumer.metadata import ConsumerProtocolAssignment as KpAssignment
from kafka.protocol.consumer.metadata import ConsumerProtocolSubscription as KpSubscription
from kafka.protocol.old.consumer_protocol import (
    ConsumerProtocolMemberAssignment_v0,
    ConsumerProtocolMemberMetadata_v0,
)

from kafkakit.errors import ProtocolDecodeError, ProtocolEncodeError
from kafkakit.protocol import consumer_protocol as cp
from kafkakit.protocol.apis import API_BY_KEY, admin, groups
from kafkakit.protocol.schema import Api, Field

G = groups
A = admin
ALL_APIS: list[Api] = groups.APIS + admin.APIS
KINDS = ("request", "response")

NIL = bytes(16)
TOPIC_ID = bytes(range(1, 17))  # 01 02 ... 10

# ---------------------------------------------------------------- schema walking helpers


def _fields(api: Api, kind: str) -> list[Field]:
    return api.request_fields if kind == "request" else api.response_fields


def _codec(
    api: Api, kind: str
) -> tuple[Callable[[int, dict[str, Any]], bytes], Callable[..., dict[str, Any]]]:
    if kind == "request":
        return api.encode_request, api.decode_request
    return api.encode_response, api.decode_response


def _present(fields: list[Field], v: int, flexible: bool) -> list[Field]:
    return [f for f in fields if f.present(v) and (f.tag is None or flexible)]


def project(d: dict[str, Any], fields: list[Field], v: int, flexible: bool) -> dict[str, Any]:
    """The part of a decoded body that version ``v`` carries on the wire."""
    out: dict[str, Any] = {}
    for f in _present(fields, v, flexible):
        x = d[f.name]
        if x is not None and f.type == "array":
            x = [project(e, f.children, v, flexible) for e in x]
        elif x is not None and f.type == "struct":
            x = project(x, f.children, v, flexible)
        out[f.name] = x
    return out


def check_complete(d: dict[str, Any], fields: list[Field], v: int, flexible: bool) -> None:
    """A decoded body has every schema field; those the version lacks hold their default."""
    assert set(d) == {f.name for f in fields}
    wire = {f.name for f in _present(fields, v, flexible)}
    for f in fields:
        x = d[f.name]
        if f.name not in wire:
            assert x == f.default_value(v), f.name
        elif x is not None and f.type == "array":
            for e in x:
                check_complete(e, f.children, v, flexible)
        elif x is not None and f.type == "struct":
            check_complete(x, f.children, v, flexible)


def _probe_empty_body_bug() -> bool:
    """schema.py (as first written) generates an empty ``try:`` block for a non-flexible body
    without fields, so encoding e.g. ListGroups v0-2 requests raises IndentationError."""
    try:
        Api(-1, "Probe", versions=(0, 0), flexible=None, request="", response="").encode_request(0, {})
    except SyntaxError:
        return True
    return False


EMPTY_BODY_BUG = _probe_empty_body_bug()


def _empty_encode_bug(api: Api, v: int, kind: str) -> bool:
    return EMPTY_BODY_BUG and not api.is_flexible(v) and not _present(_fields(api, kind), v, False)


def _xfail_empty(api: Api, v: int, kind: str) -> list[pytest.MarkDecorator]:
    if _empty_encode_bug(api, v, kind):
        return [
            pytest.mark.xfail(
                raises=SyntaxError,
                strict=True,
                reason="schema.py bug: non-flexible body with no fields compiles to an empty try block",
            )
        ]
    return []


ALL_CASES = [
    pytest.param(api, v, kind, id=f"{api.name}-v{v}-{kind}", marks=_xfail_empty(api, v, kind))
    for api in ALL_APIS
    for v in range(api.min_version, api.max_version + 1)
    for kind in KINDS
]

# ---------------------------------------------------------------- 0. the API table


EXPECTED_TABLE = {
    # name: (key, min, max, flexible_from)
    "FindCoordinator": (10, 0, 6, 3),
    "JoinGroup": (11, 0, 9, 6),
    "SyncGroup": (14, 0, 5, 4),
    "Heartbeat": (12, 0, 4, 4),
    "LeaveGroup": (13, 0, 5, 4),
    "OffsetCommit": (8, 2, 10, 8),
    "OffsetFetch": (9, 1, 10, 6),
    "DescribeGroups": (15, 0, 6, 5),
    "ListGroups": (16, 0, 5, 3),
    "DeleteGroups": (42, 0, 2, 2),
    "OffsetDelete": (47, 0, 0, None),
    "ConsumerGroupHeartbeat": (68, 0, 1, 0),
    "CreateTopics": (19, 2, 7, 5),
    "DeleteTopics": (20, 1, 6, 4),
    "CreatePartitions": (37, 0, 3, 2),
    "DescribeConfigs": (32, 1, 4, 4),
    "AlterConfigs": (33, 0, 2, 2),
    "IncrementalAlterConfigs": (44, 0, 1, 1),
}


def test_api_table() -> None:
    got = {a.name: (a.key, a.min_version, a.max_version, a.flexible_from) for a in ALL_APIS}
    assert got == EXPECTED_TABLE
    for a in ALL_APIS:
        assert API_BY_KEY[a.key] is a


# ---------------------------------------------------------------- 1. golden bytes


@dataclass
class Golden:
    id: str
    api: Api
    version: int
    kind: str
    body: dict[str, Any]  # every field the version carries
    wire: Callable[[], bytes]  # the peer's (or hand-written) bytes


def h(text: str) -> bytes:
    """Hex with spaces and ``#`` comments, for hand-written expected bytes."""
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in text.splitlines()))


GOLDEN: list[Golden] = [
    # ---- FindCoordinator
    Golden(
        "kp-old",
        G.FIND_COORDINATOR,
        0,
        "request",
        {"key": "grp"},
        lambda: old_find.FindCoordinatorRequest[0]("grp").encode(),
    ),
    Golden(
        "kp-old",
        G.FIND_COORDINATOR,
        2,
        "request",
        {"key": "txn-1", "key_type": 1},
        lambda: old_find.FindCoordinatorRequest[2]("txn-1", 1).encode(),
    ),
    Golden(
        "aiokafka",
        G.FIND_COORDINATOR,
        1,
        "request",
        {"key": "grp", "key_type": 0},
        lambda: ak_coord.FindCoordinatorRequest_v1("grp", 0).encode(),
    ),
    Golden(
        "kp-old",
        G.FIND_COORDINATOR,
        0,
        "response",
        {"error_code": 0, "node_id": 3, "host": "broker-3", "port": 9092},
        lambda: old_find.FindCoordinatorResponse[0](0, 3, "broker-3", 9092).encode(),
    ),
    Golden(
        "aiokafka",
        G.FIND_COORDINATOR,
        1,
        "response",
        {
            "throttle_time_ms": 7,
            "error_code": 15,
            "error_message": None,
            "node_id": -1,
            "host": "",
            "port": -1,
        },
        lambda: ak_coord.FindCoordinatorResponse_v1(7, 15, None, -1, "", -1).encode(),
    ),
    Golden(
        "hand",
        G.FIND_COORDINATOR,
        4,
        "request",
        {"key_type": 0, "coordinator_keys": ["g1", "g2"]},
        lambda: h("""
               00                # key_type 0 (group); v4 has no single key
               03 03 6731 03 6732  # coordinator_keys: compact array of 2, "g1", "g2"
               00                # tagged fields
           """),
    ),
    Golden(
        "hand",
        G.FIND_COORDINATOR,
        4,
        "response",
        {
            "throttle_time_ms": 0,
            "coordinators": [
                {"key": "g1", "node_id": 1, "host": "h", "port": 9092, "error_code": 0, "error_message": None}
            ],
        },
        lambda: h("""
               00000000          # throttle_time_ms
               02                # coordinators: compact array of 1
                 03 6731         #   key "g1"
                 00000001        #   node_id 1
                 02 68           #   host "h"
                 00002384        #   port 9092
                 0000            #   error_code
                 00              #   error_message null
                 00              #   tagged fields (coordinator)
               00                # tagged fields
           """),
    ),
    # ---- JoinGroup
    Golden(
        "kp-old",
        G.JOIN_GROUP,
        0,
        "request",
        {
            "group_id": "g",
            "session_timeout_ms": 10000,
            "member_id": "",
            "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": b"\x00\x01"}],
        },
        lambda: old_group.JoinGroupRequest[0]("g", 10000, "", "consumer", [("range", b"\x00\x01")]).encode(),
    ),
    Golden(
        "aiokafka",
        G.JOIN_GROUP,
        1,
        "request",
        {
            "group_id": "g",
            "session_timeout_ms": 10000,
            "rebalance_timeout_ms": 300000,
            "member_id": "m-1",
            "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": b"r"}, {"name": "roundrobin", "metadata": b""}],
        },
        lambda: ak_group.JoinGroupRequest_v1(
            "g", 10000, 300000, "m-1", "consumer", [("range", b"r"), ("roundrobin", b"")]
        ).encode(),
    ),
    Golden(
        "aiokafka",
        G.JOIN_GROUP,
        5,
        "request",
        {
            "group_id": "g",
            "session_timeout_ms": 45000,
            "rebalance_timeout_ms": 300000,
            "member_id": "",
            "group_instance_id": "static-1",
            "protocol_type": "consumer",
            "protocols": [{"name": "sticky", "metadata": b"\x00\x03meta"}],
        },
        lambda: ak_group.JoinGroupRequest_v5(
            "g", 45000, 300000, "", "static-1", "consumer", [("sticky", b"\x00\x03meta")]
        ).encode(),
    ),
    Golden(
        "kp-old",
        G.JOIN_GROUP,
        4,
        "request",
        {
            "group_id": "g",
            "session_timeout_ms": 1,
            "rebalance_timeout_ms": 2,
            "member_id": "m",
            "protocol_type": "consumer",
            "protocols": [],
        },
        lambda: old_group.JoinGroupRequest[4]("g", 1, 2, "m", "consumer", []).encode(),
    ),
    Golden(
        "kp-old",
        G.JOIN_GROUP,
        0,
        "response",
        {
            "error_code": 0,
            "generation_id": 1,
            "protocol_name": "range",
            "leader": "m-1",
            "member_id": "m-1",
            "members": [{"member_id": "m-1", "metadata": b"abc"}, {"member_id": "m-2", "metadata": b""}],
        },
        lambda: old_group.JoinGroupResponse[0](
            0, 1, "range", "m-1", "m-1", [("m-1", b"abc"), ("m-2", b"")]
        ).encode(),
    ),
    Golden(
        "aiokafka",
        G.JOIN_GROUP,
        2,
        "response",
        {
            "throttle_time_ms": 0,
            "error_code": 27,
            "generation_id": -1,
            "protocol_name": "",
            "leader": "",
            "member_id": "",
            "members": [],
        },
        lambda: ak_group.JoinGroupResponse_v2(0, 27, -1, "", "", "", []).encode(),
    ),
    Golden(
        "kp-old",
        G.JOIN_GROUP,
        5,
        "response",
        {
            "throttle_time_ms": 3,
            "error_code": 0,
            "generation_id": 9,
            "protocol_name": "range",
            "leader": "m-1",
            "member_id": "m-2",
            "members": [
                {"member_id": "m-1", "group_instance_id": None, "metadata": b"x"},
                {"member_id": "m-2", "group_instance_id": "i-2", "metadata": b"y"},
            ],
        },
        lambda: old_group.JoinGroupResponse[5](
            3, 0, 9, "range", "m-1", "m-2", [("m-1", None, b"x"), ("m-2", "i-2", b"y")]
        ).encode(),
    ),
    Golden(
        "hand",
        G.JOIN_GROUP,
        9,
        "response",
        {
            "throttle_time_ms": 0,
            "error_code": 0,
            "generation_id": 2,
            "protocol_type": "consumer",
            "protocol_name": None,
            "leader": "a",
            "skip_assignment": True,
            "member_id": "a",
            "members": [{"member_id": "a", "group_instance_id": None, "metadata": b"\x01"}],
        },
        lambda: h("""
               00000000          # throttle_time_ms
               0000              # error_code
               00000002          # generation_id 2
               09 636f6e73756d6572  # protocol_type "consumer" (compact, nullable)
               00                # protocol_name null (nullable from v7)
               02 61             # leader "a"
               01                # skip_assignment true (v9+)
               02 61             # member_id "a"
               02                # members: compact array of 1
                 02 61           #   member_id "a"
                 00              #   group_instance_id null
                 02 01           #   metadata: compact bytes of 1
                 00              #   tagged fields (member)
               00                # tagged fields
           """),
    ),
    # ---- SyncGroup
    Golden(
        "kp-old",
        G.SYNC_GROUP,
        0,
        "request",
        {
            "group_id": "g",
            "generation_id": 4,
            "member_id": "m-1",
            "assignments": [{"member_id": "m-1", "assignment": b"\x00\x00"}],
        },
        lambda: old_group.SyncGroupRequest[0]("g", 4, "m-1", [("m-1", b"\x00\x00")]).encode(),
    ),
    Golden(
        "aiokafka",
        G.SYNC_GROUP,
        3,
        "request",
        {
            "group_id": "g",
            "generation_id": 4,
            "member_id": "m-2",
            "group_instance_id": None,
            "assignments": [],
        },
        lambda: ak_group.SyncGroupRequest_v3("g", 4, "m-2", None, []).encode(),
    ),
    Golden(
        "kp-old",
        G.SYNC_GROUP,
        1,
        "response",
        {"throttle_time_ms": 0, "error_code": 0, "assignment": b"\x00\x01\x02"},
        lambda: old_group.SyncGroupResponse[1](0, 0, b"\x00\x01\x02").encode(),
    ),
    Golden(
        "aiokafka",
        G.SYNC_GROUP,
        0,
        "response",
        {"error_code": 25, "assignment": b""},
        lambda: ak_group.SyncGroupResponse_v0(25, b"").encode(),
    ),
    Golden(
        "hand",
        G.SYNC_GROUP,
        5,
        "request",
        {
            "group_id": "g",
            "generation_id": 1,
            "member_id": "m",
            "group_instance_id": None,
            "protocol_type": "consumer",
            "protocol_name": "range",
            "assignments": [{"member_id": "m", "assignment": b""}],
        },
        lambda: h("""
               02 67             # group_id "g"
               00000001          # generation_id
               02 6d             # member_id "m"
               00                # group_instance_id null
               09 636f6e73756d6572  # protocol_type "consumer" (v5+)
               06 72616e6765     # protocol_name "range" (v5+)
               02                # assignments: compact array of 1
                 02 6d           #   member_id "m"
                 01              #   assignment: empty compact bytes
                 00              #   tagged fields (assignment)
               00                # tagged fields
           """),
    ),
    # ---- Heartbeat
    Golden(
        "kp-old",
        G.HEARTBEAT,
        0,
        "request",
        {"group_id": "g", "generation_id": 5, "member_id": "m"},
        lambda: old_group.HeartbeatRequest[0]("g", 5, "m").encode(),
    ),
    Golden(
        "kp-old",
        G.HEARTBEAT,
        3,
        "request",
        {"group_id": "g", "generation_id": 5, "member_id": "m", "group_instance_id": "i"},
        lambda: old_group.HeartbeatRequest[3]("g", 5, "m", "i").encode(),
    ),
    Golden(
        "aiokafka",
        G.HEARTBEAT,
        1,
        "response",
        {"throttle_time_ms": 100, "error_code": 27},
        lambda: ak_group.HeartbeatResponse_v1(100, 27).encode(),
    ),
    Golden(
        "hand",
        G.HEARTBEAT,
        4,
        "request",
        {"group_id": "g", "generation_id": -1, "member_id": "", "group_instance_id": None},
        lambda: h("""
               02 67             # group_id "g" (compact)
               ffffffff          # generation_id -1
               01                # member_id "" (compact: length 0 + 1)
               00                # group_instance_id null
               00                # tagged fields
           """),
    ),
    # ---- LeaveGroup
    Golden(
        "aiokafka",
        G.LEAVE_GROUP,
        1,
        "request",
        {"group_id": "g", "member_id": "m-1"},
        lambda: ak_group.LeaveGroupRequest_v1("g", "m-1").encode(),
    ),
    Golden(
        "kp-old",
        G.LEAVE_GROUP,
        3,
        "request",
        {
            "group_id": "g",
            "members": [
                {"member_id": "m-1", "group_instance_id": None},
                {"member_id": "", "group_instance_id": "i-2"},
            ],
        },
        lambda: old_group.LeaveGroupRequest[3]("g", [("m-1", None), ("", "i-2")]).encode(),
    ),
    Golden(
        "kp-old",
        G.LEAVE_GROUP,
        3,
        "response",
        {
            "throttle_time_ms": 0,
            "error_code": 0,
            "members": [{"member_id": "m-1", "group_instance_id": None, "error_code": 0}],
        },
        lambda: old_group.LeaveGroupResponse[3](0, 0, [("m-1", None, 0)]).encode(),
    ),
    Golden(
        "hand",
        G.LEAVE_GROUP,
        5,
        "request",
        {"group_id": "g", "members": [{"member_id": "m", "group_instance_id": None, "reason": "bye"}]},
        lambda: h("""
               02 67             # group_id "g"
               02                # members: compact array of 1
                 02 6d           #   member_id "m"
                 00              #   group_instance_id null
                 04 627965       #   reason "bye" (v5+)
                 00              #   tagged fields (member)
               00                # tagged fields
           """),
    ),
    # ---- OffsetCommit
    Golden(
        "kp-old",
        G.OFFSET_COMMIT,
        2,
        "request",
        {
            "group_id": "g",
            "generation_id_or_member_epoch": 3,
            "member_id": "m",
            "retention_time_ms": -1,
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {"partition_index": 0, "committed_offset": 42, "committed_metadata": ""},
                        {"partition_index": 1, "committed_offset": 7, "committed_metadata": None},
                    ],
                }
            ],
        },
        lambda: old_commit.OffsetCommitRequest[2](
            "g", 3, "m", -1, [("t", [(0, 42, ""), (1, 7, None)])]
        ).encode(),
    ),
    Golden(
        "aiokafka",
        G.OFFSET_COMMIT,
        3,
        "request",
        {
            "group_id": "g",
            "generation_id_or_member_epoch": -1,
            "member_id": "",
            "retention_time_ms": 86400000,
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {"partition_index": 2, "committed_offset": 1 << 40, "committed_metadata": "meta"}
                    ],
                }
            ],
        },
        lambda: ak_commit.OffsetCommitRequest_v3(
            "g", -1, "", 86400000, [("t", [(2, 1 << 40, "meta")])]
        ).encode(),
    ),
    Golden(
        "kp-old",
        G.OFFSET_COMMIT,
        6,
        "request",
        {
            "group_id": "g",
            "generation_id_or_member_epoch": 3,
            "member_id": "m",
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {
                            "partition_index": 0,
                            "committed_offset": 42,
                            "committed_leader_epoch": 5,
                            "committed_metadata": "",
                        }
                    ],
                }
            ],
        },
        lambda: old_commit.OffsetCommitRequest[6]("g", 3, "m", [("t", [(0, 42, 5, "")])]).encode(),
    ),
    Golden(
        "kp-old",
        G.OFFSET_COMMIT,
        7,
        "request",
        {
            "group_id": "g",
            "generation_id_or_member_epoch": 3,
            "member_id": "m",
            "group_instance_id": "i",
            "topics": [],
        },
        lambda: old_commit.OffsetCommitRequest[7]("g", 3, "m", "i", []).encode(),
    ),
    Golden(
        "kp-old",
        G.OFFSET_COMMIT,
        2,
        "response",
        {"topics": [{"name": "t", "partitions": [{"partition_index": 0, "error_code": 22}]}]},
        lambda: old_commit.OffsetCommitResponse[2]([("t", [(0, 22)])]).encode(),
    ),
    Golden(
        "aiokafka",
        G.OFFSET_COMMIT,
        3,
        "response",
        {
            "throttle_time_ms": 1,
            "topics": [{"name": "t", "partitions": [{"partition_index": 0, "error_code": 0}]}],
        },
        lambda: ak_commit.OffsetCommitResponse_v3(1, [("t", [(0, 0)])]).encode(),
    ),
    Golden(
        "hand",
        G.OFFSET_COMMIT,
        10,
        "request",
        {
            "group_id": "g",
            "generation_id_or_member_epoch": 5,
            "member_id": "m",
            "group_instance_id": None,
            "topics": [
                {
                    "topic_id": TOPIC_ID,
                    "partitions": [
                        {
                            "partition_index": 0,
                            "committed_offset": 42,
                            "committed_leader_epoch": -1,
                            "committed_metadata": "",
                        }
                    ],
                }
            ],
        },
        lambda: h("""
               02 67             # group_id "g"
               00000005          # generation_id_or_member_epoch 5
               02 6d             # member_id "m"
               00                # group_instance_id null
               02                # topics: compact array of 1
                 0102030405060708090a0b0c0d0e0f10  # topic_id (v10 replaces the name)
                 02              #   partitions: compact array of 1
                   00000000      #     partition_index 0
                   000000000000002a  # committed_offset 42
                   ffffffff      #     committed_leader_epoch -1
                   01            #     committed_metadata ""
                   00            #     tagged fields (partition)
                 00              #   tagged fields (topic)
               00                # tagged fields
           """),
    ),
    Golden(
        "hand",
        G.OFFSET_COMMIT,
        10,
        "response",
        {
            "throttle_time_ms": 0,
            "topics": [{"topic_id": TOPIC_ID, "partitions": [{"partition_index": 3, "error_code": 0}]}],
        },
        lambda: h("""
               00000000          # throttle_time_ms
               02                # topics: compact array of 1
                 0102030405060708090a0b0c0d0e0f10  # topic_id
                 02              #   partitions: compact array of 1
                   00000003 0000 00  # partition_index 3, error_code 0, tagged fields
                 00              #   tagged fields (topic)
               00                # tagged fields
           """),
    ),
    # ---- OffsetFetch
    Golden(
        "kp-old",
        G.OFFSET_FETCH,
        1,
        "request",
        {"group_id": "g", "topics": [{"name": "t", "partition_indexes": [0, 1, 2]}]},
        lambda: old_commit.OffsetFetchRequest[1]("g", [("t", [0, 1, 2])]).encode(),
    ),
    Golden(
        "aiokafka",
        G.OFFSET_FETCH,
        3,
        "request",
        {"group_id": "g", "topics": None},
        lambda: ak_commit.OffsetFetchRequest_v3("g", None).encode(),
    ),
    Golden(
        "kp-old",
        G.OFFSET_FETCH,
        1,
        "response",
        {
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {"partition_index": 0, "committed_offset": -1, "metadata": "", "error_code": 0}
                    ],
                }
            ]
        },
        lambda: old_commit.OffsetFetchResponse[1]([("t", [(0, -1, "", 0)])]).encode(),
    ),
    Golden(
        "aiokafka",
        G.OFFSET_FETCH,
        3,
        "response",
        {
            "throttle_time_ms": 0,
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {"partition_index": 1, "committed_offset": 99, "metadata": None, "error_code": 0}
                    ],
                }
            ],
            "error_code": 0,
        },
        lambda: ak_commit.OffsetFetchResponse_v3(0, [("t", [(1, 99, None, 0)])], 0).encode(),
    ),
    Golden(
        "kp-old",
        G.OFFSET_FETCH,
        5,
        "response",
        {
            "throttle_time_ms": 0,
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {
                            "partition_index": 1,
                            "committed_offset": 99,
                            "committed_leader_epoch": 4,
                            "metadata": "m",
                            "error_code": 0,
                        }
                    ],
                }
            ],
            "error_code": 16,
        },
        lambda: old_commit.OffsetFetchResponse[5](0, [("t", [(1, 99, 4, "m", 0)])], 16).encode(),
    ),
    Golden(
        "hand",
        G.OFFSET_FETCH,
        7,
        "request",
        {"group_id": "g", "topics": None, "require_stable": True},
        lambda: h("""
               02 67             # group_id "g"
               00                # topics null: all partitions (compact nullable array)
               01                # require_stable true (v7+)
               00                # tagged fields
           """),
    ),
    Golden(
        "hand",
        G.OFFSET_FETCH,
        9,
        "request",
        {
            "groups": [
                {
                    "group_id": "g",
                    "member_id": "m",
                    "member_epoch": 3,
                    "topics": [{"name": "t", "partition_indexes": [0]}],
                }
            ],
            "require_stable": False,
        },
        lambda: h("""
               02                # groups: compact array of 1 (v8+)
                 02 67           #   group_id "g"
                 02 6d           #   member_id "m" (v9+)
                 00000003        #   member_epoch 3 (v9+)
                 02              #   topics: compact array of 1
                   02 74         #     name "t"
                   02 00000000   #     partition_indexes [0]
                   00            #     tagged fields (topic)
                 00              #   tagged fields (group)
               00                # require_stable false
               00                # tagged fields
           """),
    ),
    Golden(
        "hand",
        G.OFFSET_FETCH,
        10,
        "response",
        {
            "throttle_time_ms": 0,
            "groups": [
                {
                    "group_id": "g",
                    "topics": [
                        {
                            "topic_id": TOPIC_ID,
                            "partitions": [
                                {
                                    "partition_index": 0,
                                    "committed_offset": 5,
                                    "committed_leader_epoch": -1,
                                    "metadata": None,
                                    "error_code": 0,
                                }
                            ],
                        }
                    ],
                    "error_code": 0,
                }
            ],
        },
        lambda: h("""
               00000000          # throttle_time_ms
               02                # groups: compact array of 1
                 02 67           #   group_id "g"
                 02              #   topics: compact array of 1
                   0102030405060708090a0b0c0d0e0f10  # topic_id (v10)
                   02            #     partitions: compact array of 1
                     00000000    #       partition_index
                     0000000000000005  # committed_offset 5
                     ffffffff    #       committed_leader_epoch -1
                     00          #       metadata null
                     0000        #       error_code
                     00          #       tagged fields (partition)
                   00            #     tagged fields (topic)
                 0000            #   error_code (group)
                 00              #   tagged fields (group)
               00                # tagged fields
           """),
    ),
    # ---- DescribeGroups
    Golden(
        "kp-old",
        G.DESCRIBE_GROUPS,
        0,
        "request",
        {"groups": ["a", "b"]},
        lambda: old_admin.DescribeGroupsRequest[0](["a", "b"]).encode(),
    ),
    Golden(
        "aiokafka",
        G.DESCRIBE_GROUPS,
        3,
        "request",
        {"groups": ["a"], "include_authorized_operations": True},
        lambda: ak_admin.DescribeGroupsRequest_v3(["a"], True).encode(),
    ),
    Golden(
        "kp-old",
        G.DESCRIBE_GROUPS,
        1,
        "response",
        {
            "throttle_time_ms": 0,
            "groups": [
                {
                    "error_code": 0,
                    "group_id": "g",
                    "group_state": "Stable",
                    "protocol_type": "consumer",
                    "protocol_data": "range",
                    "members": [
                        {
                            "member_id": "m",
                            "client_id": "c",
                            "client_host": "/127.0.0.1",
                            "member_metadata": b"md",
                            "member_assignment": b"ma",
                        }
                    ],
                }
            ],
        },
        lambda: old_admin.DescribeGroupsResponse[1](
            0, [(0, "g", "Stable", "consumer", "range", [("m", "c", "/127.0.0.1", b"md", b"ma")])]
        ).encode(),
    ),
    Golden(
        "aiokafka",
        G.DESCRIBE_GROUPS,
        3,
        "response",
        {
            "throttle_time_ms": 0,
            "groups": [
                {
                    "error_code": 69,
                    "group_id": "g",
                    "group_state": "Dead",
                    "protocol_type": "",
                    "protocol_data": "",
                    "members": [],
                    "authorized_operations": -2147483648,
                }
            ],
        },
        lambda: ak_admin.DescribeGroupsResponse_v3(0, [(69, "g", "Dead", "", "", [], -2147483648)]).encode(),
    ),
    # ---- ListGroups
    Golden("kp-old", G.LIST_GROUPS, 0, "request", {}, lambda: old_admin.ListGroupsRequest[0]().encode()),
    Golden(
        "kp-old",
        G.LIST_GROUPS,
        0,
        "response",
        {"error_code": 0, "groups": [{"group_id": "g", "protocol_type": "consumer"}]},
        lambda: old_admin.ListGroupsResponse[0](0, [("g", "consumer")]).encode(),
    ),
    Golden(
        "aiokafka",
        G.LIST_GROUPS,
        2,
        "response",
        {"throttle_time_ms": 2, "error_code": 0, "groups": [{"group_id": "g", "protocol_type": ""}]},
        lambda: ak_admin.ListGroupsResponse_v2(2, 0, [("g", "")]).encode(),
    ),
    Golden(
        "hand",
        G.LIST_GROUPS,
        5,
        "request",
        {"states_filter": ["Stable"], "types_filter": ["classic"]},
        lambda: h("""
               02 07 537461626c65  # states_filter ["Stable"] (v4+)
               02 08 636c6173736963  # types_filter ["classic"] (v5+)
               00                # tagged fields
           """),
    ),
    # ---- DeleteGroups
    Golden(
        "kp-old",
        G.DELETE_GROUPS,
        0,
        "request",
        {"groups_names": ["a", "b"]},
        lambda: old_admin.DeleteGroupsRequest[0](["a", "b"]).encode(),
    ),
    Golden(
        "aiokafka",
        G.DELETE_GROUPS,
        1,
        "response",
        {
            "throttle_time_ms": 0,
            "results": [{"group_id": "a", "error_code": 0}, {"group_id": "b", "error_code": 69}],
        },
        lambda: ak_admin.DeleteGroupsResponse_v1(0, [("a", 0), ("b", 69)]).encode(),
    ),
    # ---- OffsetDelete (no hand-written peer)
    Golden(
        "hand",
        G.OFFSET_DELETE,
        0,
        "request",
        {"group_id": "g", "topics": [{"name": "t", "partitions": [{"partition_index": 1}]}]},
        lambda: h("""
               0001 67           # group_id "g" (int16 length)
               00000001          # topics: array of 1
                 0001 74         #   name "t"
                 00000001        #   partitions: array of 1
                   00000001      #     partition_index 1
           """),
    ),
    Golden(
        "hand",
        G.OFFSET_DELETE,
        0,
        "response",
        {
            "error_code": 0,
            "throttle_time_ms": 0,
            "topics": [{"name": "t", "partitions": [{"partition_index": 1, "error_code": 86}]}],
        },
        lambda: h("""
               0000              # error_code (before throttle_time_ms in this API)
               00000000          # throttle_time_ms
               00000001          # topics: array of 1
                 0001 74         #   name "t"
                 00000001        #   partitions: array of 1
                   00000001 0056 #     partition_index 1, error_code 86
           """),
    ),
    # ---- ConsumerGroupHeartbeat (no Python peer)
    Golden(
        "hand",
        G.CONSUMER_GROUP_HEARTBEAT,
        0,
        "request",
        {
            "group_id": "g",
            "member_id": "m",
            "member_epoch": 0,
            "instance_id": None,
            "rack_id": "r1",
            "rebalance_timeout_ms": 300000,
            "subscribed_topic_names": ["t"],
            "server_assignor": None,
            "topic_partitions": None,
        },
        lambda: h("""
               02 67             # group_id "g"
               02 6d             # member_id "m"
               00000000          # member_epoch 0 (join)
               00                # instance_id null
               03 7231           # rack_id "r1"
               000493e0          # rebalance_timeout_ms 300000
               02 02 74          # subscribed_topic_names ["t"]
               00                # server_assignor null
               00                # topic_partitions null
               00                # tagged fields
           """),
    ),
    Golden(
        "hand",
        G.CONSUMER_GROUP_HEARTBEAT,
        1,
        "request",
        {
            "group_id": "g",
            "member_id": "m",
            "member_epoch": 4,
            "instance_id": None,
            "rack_id": None,
            "rebalance_timeout_ms": -1,
            "subscribed_topic_names": None,
            "subscribed_topic_regex": "^t.*$",
            "server_assignor": "uniform",
            "topic_partitions": [{"topic_id": TOPIC_ID, "partitions": [0, 1]}],
        },
        lambda: h("""
               02 67             # group_id "g"
               02 6d             # member_id "m"
               00000004          # member_epoch 4
               00                # instance_id null
               00                # rack_id null
               ffffffff          # rebalance_timeout_ms -1 (unchanged)
               00                # subscribed_topic_names null (unchanged)
               06 5e742e2a24     # subscribed_topic_regex "^t.*$" (v1+)
               08 756e69666f726d  # server_assignor "uniform"
               02                # topic_partitions: compact array of 1
                 0102030405060708090a0b0c0d0e0f10  # topic_id
                 03 00000000 00000001  # partitions [0, 1]
                 00              #   tagged fields (topic partitions)
               00                # tagged fields
           """),
    ),
    Golden(
        "hand",
        G.CONSUMER_GROUP_HEARTBEAT,
        1,
        "response",
        {
            "throttle_time_ms": 0,
            "error_code": 0,
            "error_message": None,
            "member_id": "m",
            "member_epoch": 3,
            "heartbeat_interval_ms": 5000,
            "assignment": {"topic_partitions": [{"topic_id": TOPIC_ID, "partitions": [0, 1]}]},
        },
        lambda: h("""
               00000000          # throttle_time_ms
               0000              # error_code
               00                # error_message null
               02 6d             # member_id "m"
               00000003          # member_epoch 3
               00001388          # heartbeat_interval_ms 5000
               01                # assignment present (nullable struct marker)
                 02              #   topic_partitions: compact array of 1
                   0102030405060708090a0b0c0d0e0f10  # topic_id
                   03 00000000 00000001  # partitions [0, 1]
                   00            #     tagged fields (topic partitions)
                 00              #   tagged fields (assignment)
               00                # tagged fields
           """),
    ),
    Golden(
        "hand",
        G.CONSUMER_GROUP_HEARTBEAT,
        0,
        "response",
        {
            "throttle_time_ms": 0,
            "error_code": 110,
            "error_message": "fenced",
            "member_id": None,
            "member_epoch": 0,
            "heartbeat_interval_ms": 0,
            "assignment": None,
        },
        lambda: h("""
               00000000          # throttle_time_ms
               006e              # error_code 110 (FENCED_MEMBER_EPOCH)
               07 66656e636564   # error_message "fenced"
               00                # member_id null
               00000000 00000000 # member_epoch, heartbeat_interval_ms
               ff                # assignment null (nullable struct marker -1)
               00                # tagged fields
           """),
    ),
    # ---- CreateTopics
    Golden(
        "kp-old",
        A.CREATE_TOPICS,
        2,
        "request",
        {
            "topics": [
                {
                    "name": "t",
                    "num_partitions": 3,
                    "replication_factor": 1,
                    "assignments": [],
                    "configs": [
                        {"name": "cleanup.policy", "value": "compact"},
                        {"name": "retention.ms", "value": None},
                    ],
                }
            ],
            "timeout_ms": 30000,
            "validate_only": False,
        },
        lambda: old_admin.CreateTopicsRequest[2](
            [("t", 3, 1, [], [("cleanup.policy", "compact"), ("retention.ms", None)])], 30000, False
        ).encode(),
    ),
    Golden(
        "aiokafka",
        A.CREATE_TOPICS,
        3,
        "request",
        {
            "topics": [
                {
                    "name": "t",
                    "num_partitions": -1,
                    "replication_factor": -1,
                    "assignments": [{"partition_index": 0, "broker_ids": [1, 2]}],
                    "configs": [],
                }
            ],
            "timeout_ms": 1000,
            "validate_only": True,
        },
        lambda: ak_admin.CreateTopicsRequest_v3([("t", -1, -1, [(0, [1, 2])], [])], 1000, True).encode(),
    ),
    Golden(
        "kp-old",
        A.CREATE_TOPICS,
        3,
        "response",
        {"throttle_time_ms": 0, "topics": [{"name": "t", "error_code": 36, "error_message": "exists"}]},
        lambda: old_admin.CreateTopicsResponse[3](0, [("t", 36, "exists")]).encode(),
    ),
    Golden(
        "hand",
        A.CREATE_TOPICS,
        5,
        "response",
        {
            "throttle_time_ms": 0,
            "topics": [
                {
                    "name": "t",
                    "error_code": 0,
                    "error_message": None,
                    "topic_config_error_code": 29,
                    "num_partitions": 3,
                    "replication_factor": 1,
                    "configs": None,
                }
            ],
        },
        lambda: h("""
               00000000          # throttle_time_ms
               02                # topics: compact array of 1
                 02 74           #   name "t"
                 0000            #   error_code
                 00              #   error_message null
                 00000003        #   num_partitions 3 (v5+)
                 0001            #   replication_factor 1 (v5+)
                 00              #   configs null (v5+)
                 01 00 02 001d   #   tagged fields: 1 field, tag 0 (topic_config_error_code), 2 bytes, 29
               00                # tagged fields
           """),
    ),
    Golden(
        "hand",
        A.CREATE_TOPICS,
        7,
        "response",
        {
            "throttle_time_ms": 0,
            "topics": [
                {
                    "name": "t",
                    "topic_id": TOPIC_ID,
                    "error_code": 0,
                    "error_message": None,
                    "topic_config_error_code": 0,
                    "num_partitions": 1,
                    "replication_factor": 1,
                    "configs": [
                        {
                            "name": "k",
                            "value": "v",
                            "read_only": False,
                            "config_source": 5,
                            "is_sensitive": False,
                        }
                    ],
                }
            ],
        },
        lambda: h("""
               00000000          # throttle_time_ms
               02                # topics: compact array of 1
                 02 74           #   name "t"
                 0102030405060708090a0b0c0d0e0f10  # topic_id (v7+)
                 0000 00         #   error_code, error_message null
                 00000001 0001   #   num_partitions, replication_factor
                 02              #   configs: compact array of 1
                   02 6b 02 76   #     name "k", value "v"
                   00 05 00      #     read_only, config_source 5, is_sensitive
                   00            #     tagged fields (config)
                 00              #   tagged fields (topic): topic_config_error_code 0 is left out
               00                # tagged fields
           """),
    ),
    # ---- DeleteTopics
    Golden(
        "kp-old",
        A.DELETE_TOPICS,
        1,
        "request",
        {"topic_names": ["a", "b"], "timeout_ms": 5000},
        lambda: old_admin.DeleteTopicsRequest[1](["a", "b"], 5000).encode(),
    ),
    Golden(
        "aiokafka",
        A.DELETE_TOPICS,
        3,
        "response",
        {"throttle_time_ms": 0, "responses": [{"name": "a", "error_code": 3}]},
        lambda: ak_admin.DeleteTopicsResponse_v3(0, [("a", 3)]).encode(),
    ),
    Golden(
        "hand",
        A.DELETE_TOPICS,
        6,
        "request",
        {"topics": [{"name": None, "topic_id": TOPIC_ID}], "timeout_ms": 5000},
        lambda: h("""
               02                # topics: compact array of 1 (v6+)
                 00              #   name null (deleting by id)
                 0102030405060708090a0b0c0d0e0f10  # topic_id
                 00              #   tagged fields (topic)
               00001388          # timeout_ms 5000
               00                # tagged fields
           """),
    ),
    # ---- CreatePartitions
    Golden(
        "kp-old",
        A.CREATE_PARTITIONS,
        0,
        "request",
        {
            "topics": [
                {"name": "t", "count": 4, "assignments": [{"broker_ids": [1]}, {"broker_ids": [2]}]},
                {"name": "u", "count": 2, "assignments": None},
            ],
            "timeout_ms": 1000,
            "validate_only": False,
        },
        lambda: old_admin.CreatePartitionsRequest[0](
            [("t", (4, [[1], [2]])), ("u", (2, None))], 1000, False
        ).encode(),
    ),
    Golden(
        "aiokafka",
        A.CREATE_PARTITIONS,
        1,
        "response",
        {"throttle_time_ms": 0, "results": [{"name": "t", "error_code": 37, "error_message": "bad"}]},
        lambda: ak_admin.CreatePartitionsResponse_v1(0, [("t", 37, "bad")]).encode(),
    ),
    # ---- DescribeConfigs
    Golden(
        "kp-old",
        A.DESCRIBE_CONFIGS,
        1,
        "request",
        {
            "resources": [{"resource_type": 2, "resource_name": "t", "configuration_keys": None}],
            "include_synonyms": True,
        },
        lambda: old_admin.DescribeConfigsRequest[1]([(2, "t", None)], True).encode(),
    ),
    Golden(
        "aiokafka",
        A.DESCRIBE_CONFIGS,
        2,
        "request",
        {
            "resources": [{"resource_type": 4, "resource_name": "1", "configuration_keys": ["a", "b"]}],
            "include_synonyms": False,
        },
        lambda: ak_admin.DescribeConfigsRequest_v2([(4, "1", ["a", "b"])], False).encode(),
    ),
    Golden(
        "kp-old",
        A.DESCRIBE_CONFIGS,
        2,
        "response",
        {
            "throttle_time_ms": 0,
            "results": [
                {
                    "error_code": 0,
                    "error_message": None,
                    "resource_type": 2,
                    "resource_name": "t",
                    "configs": [
                        {
                            "name": "k",
                            "value": None,
                            "read_only": True,
                            "config_source": 5,
                            "is_sensitive": True,
                            "synonyms": [{"name": "k", "value": None, "source": 5}],
                        }
                    ],
                }
            ],
        },
        lambda: old_admin.DescribeConfigsResponse[2](
            0, [(0, None, 2, "t", [("k", None, True, 5, True, [("k", None, 5)])])]
        ).encode(),
    ),
    # ---- AlterConfigs
    Golden(
        "kp-old",
        A.ALTER_CONFIGS,
        0,
        "request",
        {
            "resources": [
                {
                    "resource_type": 2,
                    "resource_name": "t",
                    "configs": [{"name": "retention.ms", "value": "1000"}],
                }
            ],
            "validate_only": False,
        },
        lambda: old_admin.AlterConfigsRequest[0]([(2, "t", [("retention.ms", "1000")])], False).encode(),
    ),
    Golden(
        "aiokafka",
        A.ALTER_CONFIGS,
        1,
        "response",
        {
            "throttle_time_ms": 0,
            "responses": [{"error_code": 0, "error_message": None, "resource_type": 2, "resource_name": "t"}],
        },
        lambda: ak_admin.AlterConfigsResponse_v1(0, [(0, None, 2, "t")]).encode(),
    ),
    # ---- IncrementalAlterConfigs (no hand-written peer)
    Golden(
        "hand",
        A.INCREMENTAL_ALTER_CONFIGS,
        0,
        "request",
        {
            "resources": [
                {
                    "resource_type": 2,
                    "resource_name": "t",
                    "configs": [{"name": "k", "config_operation": 1, "value": None}],
                }
            ],
            "validate_only": True,
        },
        lambda: h("""
               00000001          # resources: array of 1
                 02              #   resource_type 2 (topic)
                 0001 74         #   resource_name "t"
                 00000001        #   configs: array of 1
                   0001 6b       #     name "k"
                   01            #     config_operation 1 (delete)
                   ffff          #     value null
               01                # validate_only true
           """),
    ),
    Golden(
        "hand",
        A.INCREMENTAL_ALTER_CONFIGS,
        1,
        "response",
        {
            "throttle_time_ms": 0,
            "responses": [{"error_code": 40, "error_message": "x", "resource_type": 2, "resource_name": "t"}],
        },
        lambda: h("""
               00000000          # throttle_time_ms
               02                # responses: compact array of 1
                 0028 02 78      #   error_code 40, error_message "x"
                 02 02 74        #   resource_type 2, resource_name "t"
                 00              #   tagged fields (response)
               00                # tagged fields
           """),
    ),
]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            c,
            id=f"{c.api.name}-v{c.version}-{c.kind}-{c.id}-{i}",
            marks=_xfail_empty(c.api, c.version, c.kind),
        )
        for i, c in enumerate(GOLDEN)
    ],
)
def test_golden_bytes(case: Golden) -> None:
    encode, decode = _codec(case.api, case.kind)
    fields = _fields(case.api, case.kind)
    flex = case.api.is_flexible(case.version)
    wire = bytes(case.wire())
    decoded = decode(case.version, wire)
    assert project(decoded, fields, case.version, flex) == case.body
    check_complete(decoded, fields, case.version, flex)
    assert encode(case.version, case.body) == wire
    assert encode(case.version, decoded) == wire
    # fields the version lacks are ignored whatever they hold
    noisy = {**case.body, **{f.name: object() for f in fields if f.name not in case.body}}
    assert encode(case.version, noisy) == wire


def test_golden_covers_every_api_both_kinds() -> None:
    covered = {(c.api.name, c.kind) for c in GOLDEN}
    assert covered == {(a.name, k) for a in ALL_APIS for k in KINDS}


# ---------------------------------------------------------------- 2. hypothesis strategies

_INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}


def _scalar(t: str) -> st.SearchStrategy[Any]:
    if t in _INT_BITS:
        n = _INT_BITS[t]
        return st.integers(-(1 << (n - 1)), (1 << (n - 1)) - 1)
    if t == "uint16":
        return st.integers(0, 0xFFFF)
    if t == "uint32":
        return st.integers(0, 0xFFFFFFFF)
    if t == "float64":
        return st.floats(allow_nan=False)
    if t == "bool":
        return st.booleans()
    if t == "string":
        return st.text(max_size=6)
    if t in ("bytes", "records"):
        return st.binary(max_size=8)
    if t == "uuid":
        return st.binary(min_size=16, max_size=16)
    raise AssertionError(t)


def value_strategy(f: Field, v: int, flexible: bool) -> st.SearchStrategy[Any]:
    if f.type == "parray":
        base: st.SearchStrategy[Any] = st.lists(_scalar(f.elem or ""), max_size=4)
    elif f.type == "array":
        base = st.lists(body_strategy(f.children, v, flexible), max_size=3)
    elif f.type == "struct":
        base = body_strategy(f.children, v, flexible)
    else:
        base = _scalar(f.type)
    if f.nullable(v) or f.type == "records":
        base = st.none() | base
    return base


def body_strategy(fields: list[Field], v: int, flexible: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies carrying exactly the fields version ``v`` puts on the wire."""
    return st.fixed_dictionaries(
        {f.name: value_strategy(f, v, flexible) for f in _present(fields, v, flexible)}
    )


@functools.cache
def strategy_for(api: Api, v: int, kind: str) -> st.SearchStrategy[dict[str, Any]]:
    return body_strategy(_fields(api, kind), v, api.is_flexible(v))


HYPO = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("api,v,kind", ALL_CASES)
@HYPO
@given(data=st.data())
def test_round_trip(api: Api, v: int, kind: str, data: st.DataObject) -> None:
    encode, decode = _codec(api, kind)
    fields = _fields(api, kind)
    flex = api.is_flexible(v)
    body = data.draw(strategy_for(api, v, kind))
    wire = encode(v, body)
    decoded, end = api.decoder(v, kind == "request")(wire, 0)
    assert end == len(wire)
    assert project(decoded, fields, v, flex) == body
    check_complete(decoded, fields, v, flex)
    assert encode(v, decoded) == wire
    # decoding at an offset inside a larger buffer
    assert api.decoder(v, kind == "request")(b"\xaa" * 3 + wire + b"\xbb", 3) == (decoded, end + 3)


# ---------------------------------------------------------------- 2b. differential with kafka-python

_KP_MODULES = (kp_find, kp_group, kp_groups, kp_topics, kp_configs)


def kp_class(api: Api, kind: str) -> Any:
    name = f"{api.name}{kind.capitalize()}"
    for mod in _KP_MODULES:
        if hasattr(mod, name):
            return getattr(mod, name)
    return None


def _kp_is_bitfield(kf: Any) -> bool:
    return getattr(getattr(kf, "_type", None), "__name__", "") == "BitField"


def kp_build(
    container: Any, fields: list[Field], d: dict[str, Any], v: int, flexible: bool, top: bool = False
) -> Any:
    """Build kafka-python's object for one of our bodies (field names must match theirs)."""
    kwargs: dict[str, Any] = {}
    for f in _present(fields, v, flexible):
        kf = container.fields[f.name]
        x = d[f.name]
        if x is not None and f.type == "array":
            x = [kp_build(kf.data_class, f.children, e, v, flexible) for e in x]
        elif x is not None and f.type == "struct":
            x = kp_build(kf.data_class, f.children, x, v, flexible)
        elif f.type == "uuid":
            x = uuid.UUID(bytes=x)
        elif _kp_is_bitfield(kf):
            x = {i for i in range(32) if (x & 0xFFFFFFFF) >> i & 1}
        kwargs[f.name] = x
    return container[v](**kwargs) if top else container(**kwargs)


def kp_normalize(
    container: Any, fields: list[Field], d: dict[str, Any], v: int, flexible: bool
) -> dict[str, Any]:
    """kafka-python's decoded dict in our representation (uuid bytes, int bitfields, bytes)."""
    out: dict[str, Any] = {}
    for f in _present(fields, v, flexible):
        kf = container.fields[f.name]
        x = d[f.name]
        if x is not None and f.type == "array":
            x = [kp_normalize(kf.data_class, f.children, e, v, flexible) for e in x]
        elif x is not None and f.type == "struct":
            x = kp_normalize(kf.data_class, f.children, x, v, flexible)
        elif f.type == "uuid":
            x = NIL if x is None else x.bytes
        elif _kp_is_bitfield(kf):
            u = 1 << 31 if x is None else sum(1 << b for b in x)
            x = u - (1 << 32) if u >= 1 << 31 else u
        elif isinstance(x, (bytearray, memoryview)):
            x = bytes(x)
        out[f.name] = x
    return out


KP_CASES = [
    pytest.param(api, v, kind, id=f"{api.name}-v{v}-{kind}", marks=_xfail_empty(api, v, kind))
    for api in ALL_APIS
    if kp_class(api, "request") is not None
    for v in range(api.min_version, api.max_version + 1)
    for kind in KINDS
]


def test_kafka_python_has_all_but_consumer_group_heartbeat() -> None:
    missing = {a.name for a in ALL_APIS if kp_class(a, "request") is None or kp_class(a, "response") is None}
    assert missing == {"ConsumerGroupHeartbeat"}


@pytest.mark.parametrize("api,v,kind", KP_CASES)
@HYPO
@given(data=st.data())
def test_differential_kafka_python(api: Api, v: int, kind: str, data: st.DataObject) -> None:
    encode, decode = _codec(api, kind)
    fields = _fields(api, kind)
    flex = api.is_flexible(v)
    cls = kp_class(api, kind)
    body = data.draw(strategy_for(api, v, kind))
    ours = encode(v, body)
    # theirs -> ours: kafka-python encodes the same body to the same bytes
    theirs = bytes(kp_build(cls, fields, body, v, flex, top=True).encode(version=v))
    assert theirs == ours
    # ours -> theirs: kafka-python decodes our bytes to the same body
    got = cls.decode(ours, version=v).to_dict(json=False)
    assert kp_normalize(cls, fields, got, v, flex) == body


# ---------------------------------------------------------------- 3. malformed input


@pytest.mark.parametrize("api,v,kind", ALL_CASES)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_truncated_raises_protocol_decode_error(api: Api, v: int, kind: str, data: st.DataObject) -> None:
    encode, decode = _codec(api, kind)
    wire = encode(v, data.draw(strategy_for(api, v, kind)))
    for n in range(len(wire)):
        with pytest.raises(ProtocolDecodeError) as info:
            decode(v, wire[:n])
        assert info.value.api == f"{api.name}{kind.capitalize()}"
        assert info.value.version == v


DECODE_CASES = [
    pytest.param(api, v, kind, id=f"{api.name}-v{v}-{kind}")
    for api in ALL_APIS
    for v in range(api.min_version, api.max_version + 1)
    for kind in KINDS
]


@pytest.mark.parametrize("api,v,kind", DECODE_CASES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.binary(max_size=64))
def test_garbage_decodes_or_raises_protocol_decode_error(api: Api, v: int, kind: str, garbage: bytes) -> None:
    _, decode = _codec(api, kind)
    try:
        decode(v, garbage)
    except ProtocolDecodeError:
        pass


def test_huge_lengths_do_not_allocate() -> None:
    # DescribeGroups v0 request: an array length of 2**31-1 followed by nothing.
    with pytest.raises(ProtocolDecodeError):
        G.DESCRIBE_GROUPS.decode_request(0, b"\x7f\xff\xff\xff")
    # JoinGroup v6 (flexible) request: a compact string length of ~2**35.
    with pytest.raises(ProtocolDecodeError):
        G.JOIN_GROUP.decode_request(6, b"\xff\xff\xff\xff\x7f")


def test_unsupported_versions_are_refused() -> None:
    with pytest.raises(ValueError):
        G.OFFSET_COMMIT.encode_request(1, {})
    with pytest.raises(ValueError):
        A.CREATE_TOPICS.decode_response(8, b"")


# ---------------------------------------------------------------- consumer protocol payloads

_KP_SUB_TP = KpSubscription.TopicPartition
_KP_ASG_TP = KpAssignment.TopicPartition


@pytest.mark.parametrize("version", range(4))
def test_subscription_matches_kafka_python(version: int) -> None:
    owned = {"a": [0, 2], "c": [1]}
    ours = cp.encode_subscription(
        ["a", "b"], b"ud", owned, generation_id=12, rack_id="rack-1", version=version
    )
    theirs = KpSubscription(
        version=version,
        topics=["a", "b"],
        user_data=b"ud",
        owned_partitions=[_KP_SUB_TP(topic=t, partitions=p) for t, p in owned.items()],
        generation_id=12,
        rack_id="rack-1",
    ).encode()
    assert ours == bytes(theirs)
    got = cp.decode_subscription(theirs)
    assert got["version"] == version and got["topics"] == ["a", "b"] and got["user_data"] == b"ud"
    assert got["owned_partitions"] == (owned if version >= 1 else {})
    assert got["generation_id"] == (12 if version >= 2 else -1)
    assert got["rack_id"] == ("rack-1" if version >= 3 else None)
    back = KpSubscription.decode(ours).to_dict(json=False)
    assert back["topics"] == ["a", "b"]


@pytest.mark.parametrize("version", range(4))
def test_assignment_matches_kafka_python(version: int) -> None:
    parts = {"a": [0, 1], "b": []}
    ours = cp.encode_assignment(parts, user_data=None, version=version)
    theirs = KpAssignment(
        version=version,
        assigned_partitions=[_KP_ASG_TP(topic=t, partitions=p) for t, p in parts.items()],
        user_data=None,
    ).encode()
    assert ours == bytes(theirs)
    assert cp.decode_assignment(theirs) == {
        "version": version,
        "assigned_partitions": parts,
        "user_data": None,
    }


def test_consumer_protocol_v0_matches_kafka_python_old_structs() -> None:
    meta = ConsumerProtocolMemberMetadata_v0(0, ["t1", "t2"], b"").encode()
    assert cp.encode_subscription(["t1", "t2"], b"", version=0) == meta
    assert cp.decode_subscription(meta)["topics"] == ["t1", "t2"]
    asg = ConsumerProtocolMemberAssignment_v0(0, [("t1", [0, 1]), ("t2", [3])], b"x").encode()
    assert cp.encode_assignment({"t1": [0, 1], "t2": [3]}, b"x", version=0) == asg
    assert cp.decode_assignment(asg)["assigned_partitions"] == {"t1": [0, 1], "t2": [3]}


def test_subscription_v3_hand_bytes() -> None:
    wire = h("""
        0003                  # version 3
        00000001 0001 74      # topics ["t"]
        ffffffff              # user_data null
        00000001              # owned_partitions: 1 topic
          0001 74             #   topic "t"
          00000001 00000005   #   partitions [5]
        00000007              # generation_id 7 (v2+)
        ffff                  # rack_id null (v3+)
    """)
    assert cp.encode_subscription(["t"], None, {"t": [5]}, 7, None) == wire
    assert cp.decode_subscription(wire) == {
        "version": 3,
        "topics": ["t"],
        "user_data": None,
        "owned_partitions": {"t": [5]},
        "generation_id": 7,
        "rack_id": None,
    }


def test_newer_versions_decode_known_prefix() -> None:
    v3 = cp.encode_subscription(["t"], b"u", {"t": [1]}, 3, "r")
    v9 = b"\x00\x09" + v3[2:] + b"\x00\x00\x00\x2a future fields"
    got = cp.decode_subscription(v9)
    assert got["version"] == 9
    assert (got["topics"], got["owned_partitions"], got["generation_id"], got["rack_id"]) == (
        ["t"],
        {"t": [1]},
        3,
        "r",
    )
    a3 = cp.encode_assignment({"t": [0]}, b"u")
    got_a = cp.decode_assignment(b"\x00\x07" + a3[2:] + b"\x01\x02")
    assert got_a == {"version": 7, "assigned_partitions": {"t": [0]}, "user_data": b"u"}


def test_consumer_protocol_defaults_and_errors() -> None:
    assert cp.decode_assignment(b"") == {"version": 0, "assigned_partitions": {}, "user_data": None}
    with pytest.raises(ProtocolDecodeError):
        cp.decode_subscription(b"\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff")  # negative version
    with pytest.raises(ProtocolEncodeError):
        cp.encode_subscription(["t"], version=4)
    with pytest.raises(ProtocolEncodeError):
        cp.encode_assignment({"t": [1 << 31]})
    # owned partitions may be given as (topic, partitions) pairs too
    assert cp.encode_subscription(["t"], owned_partitions=[("t", (1, 2))]) == cp.encode_subscription(
        ["t"], owned_partitions={"t": [1, 2]}
    )


_tp_maps = st.dictionaries(
    st.text(max_size=5), st.lists(st.integers(-(1 << 31), (1 << 31) - 1), max_size=4), max_size=3
)


@settings(max_examples=100, deadline=None)
@given(
    version=st.integers(0, 3),
    topics=st.lists(st.text(max_size=5), max_size=4),
    user_data=st.none() | st.binary(max_size=8),
    owned=_tp_maps,
    generation_id=st.integers(-(1 << 31), (1 << 31) - 1),
    rack_id=st.none() | st.text(max_size=5),
)
def test_subscription_round_trip_and_truncation(
    version: int,
    topics: list[str],
    user_data: bytes | None,
    owned: dict[str, list[int]],
    generation_id: int,
    rack_id: str | None,
) -> None:
    wire = cp.encode_subscription(topics, user_data, owned, generation_id, rack_id, version=version)
    got = cp.decode_subscription(wire)
    assert got == {
        "version": version,
        "topics": topics,
        "user_data": user_data,
        "owned_partitions": owned if version >= 1 else {},
        "generation_id": generation_id if version >= 2 else -1,
        "rack_id": rack_id if version >= 3 else None,
    }
    for n in range(len(wire)):
        with pytest.raises(ProtocolDecodeError):
            cp.decode_subscription(wire[:n])


@settings(max_examples=100, deadline=None)
@given(version=st.integers(0, 3), parts=_tp_maps, user_data=st.none() | st.binary(max_size=8))
def test_assignment_round_trip_and_truncation(
    version: int, parts: dict[str, list[int]], user_data: bytes | None
) -> None:
    wire = cp.encode_assignment(parts, user_data, version=version)
    assert cp.decode_assignment(wire) == {
        "version": version,
        "assigned_partitions": parts,
        "user_data": user_data,
    }
    for n in range(1, len(wire)):  # n == 0 is the empty assignment
        with pytest.raises(ProtocolDecodeError):
            cp.decode_assignment(wire[:n])


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=48))
def test_consumer_protocol_garbage(garbage: bytes) -> None:
    for fn in (cp.decode_subscription, cp.decode_assignment):
        try:
            fn(garbage)
        except ProtocolDecodeError:
            pass
