"""Cluster discovery handlers: ApiVersions, Metadata, DescribeCluster and SaslHandshake.

How it works: the broker is a one-node cluster, so every partition's leader, replica set and ISR
is this node, leader epochs are 0 and the controller is this node too. Metadata creates missing
topics when both the request (``allow_auto_topic_creation``, v4+; always for older versions) and
the broker (``auto_create_topics_enable``) allow it; an illegal name gets INVALID_TOPIC_EXCEPTION.
SASL is not offered: SaslHandshake answers UNSUPPORTED_SASL_MECHANISM with an empty mechanism list
and is not advertised.

What it must never do: list a broker other than this one, or create a topic for a request that
only names a topic id.
"""

from __future__ import annotations

from typing import Any

from kafkakit.broker.handlers import api_versions_body
from kafkakit.broker.state import BrokerState, Handler
from kafkakit.broker.topics import Topic, TopicError, validate_topic_name
from kafkakit.protocol.frame import RequestHeader
from kafkakit.protocol.primitives import NIL_UUID

__all__ = ["HANDLERS", "topic_metadata", "maybe_auto_create"]

NO_AUTHORIZED_OPERATIONS = -2147483648
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
UNSUPPORTED_SASL_MECHANISM = 33
MISMATCHED_ENDPOINT_TYPE = 114
UNKNOWN_TOPIC_ID = 100


async def handle_api_versions(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    return api_versions_body(state)


def maybe_auto_create(state: BrokerState, name: str, requested: bool = True) -> Topic | int:
    """The topic ``name``, created with the broker defaults when allowed; else the error code."""
    topic = state.topics.get(name)
    if topic is not None:
        return topic
    if validate_topic_name(name) is not None:
        return INVALID_TOPIC_EXCEPTION
    if not (requested and state.config.auto_create_topics_enable):
        return UNKNOWN_TOPIC_OR_PARTITION
    try:
        return state.topics.create(name)
    except TopicError as exc:
        return exc.code


def topic_metadata(state: BrokerState, topic: Topic) -> dict[str, Any]:
    node = state.node_id
    return {
        "error_code": 0,
        "name": topic.name,
        "topic_id": topic.topic_id,
        "is_internal": topic.is_internal,
        "partitions": [
            {
                "error_code": 0,
                "partition_index": p.index,
                "leader_id": node,
                "leader_epoch": p.leader_epoch,
                "replica_nodes": [node],
                "isr_nodes": [node],
                "offline_replicas": [],
            }
            for p in topic.partitions
        ],
        "topic_authorized_operations": NO_AUTHORIZED_OPERATIONS,
    }


def _error_topic(name: str | None, topic_id: bytes, code: int) -> dict[str, Any]:
    return {
        "error_code": code,
        "name": name,
        "topic_id": topic_id,
        "is_internal": False,
        "partitions": [],
        "topic_authorized_operations": NO_AUTHORIZED_OPERATIONS,
    }


def _brokers(state: BrokerState) -> list[dict[str, Any]]:
    return [{"node_id": state.node_id, "host": state.host, "port": state.port, "rack": None}]


async def handle_metadata(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    requested = body["topics"]
    topics_out: list[dict[str, Any]] = []
    if requested is None or (version == 0 and not requested):
        topics_out = [topic_metadata(state, t) for t in state.topics]
    else:
        # v0-3 always auto-create; v4+ say so in the request
        allow = body["allow_auto_topic_creation"] if version >= 4 else True
        for entry in requested:
            name, topic_id = entry["name"], entry["topic_id"]
            if name is None:
                by_id = state.topics.by_id(topic_id) if topic_id != NIL_UUID else None
                if by_id is None:
                    topics_out.append(_error_topic(None, topic_id, UNKNOWN_TOPIC_ID))
                else:
                    topics_out.append(topic_metadata(state, by_id))
                continue
            found = maybe_auto_create(state, name, allow)
            if isinstance(found, Topic):
                topics_out.append(topic_metadata(state, found))
            else:
                topics_out.append(_error_topic(name, NIL_UUID, found))
    return {
        "throttle_time_ms": 0,
        "brokers": _brokers(state),
        "cluster_id": state.cluster_id,
        "controller_id": state.node_id,
        "topics": topics_out,
        "cluster_authorized_operations": NO_AUTHORIZED_OPERATIONS,
        "error_code": 0,
    }


async def handle_describe_cluster(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    endpoint_type = body["endpoint_type"]
    if endpoint_type != 1:
        return {
            "throttle_time_ms": 0,
            "error_code": MISMATCHED_ENDPOINT_TYPE,
            "error_message": "This broker serves broker endpoints only (endpoint_type 1); it has no separate controllers.",
            "endpoint_type": endpoint_type,
            "cluster_id": state.cluster_id,
            "controller_id": -1,
            "brokers": [],
            "cluster_authorized_operations": NO_AUTHORIZED_OPERATIONS,
        }
    return {
        "throttle_time_ms": 0,
        "error_code": 0,
        "error_message": None,
        "endpoint_type": 1,
        "cluster_id": state.cluster_id,
        "controller_id": state.node_id,
        "brokers": [
            {
                "broker_id": b["node_id"],
                "host": b["host"],
                "port": b["port"],
                "rack": None,
                "is_fenced": False,
            }
            for b in _brokers(state)
        ],
        "cluster_authorized_operations": NO_AUTHORIZED_OPERATIONS,
    }


async def handle_sasl_handshake(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    return {"error_code": UNSUPPORTED_SASL_MECHANISM, "mechanisms": []}


HANDLERS: dict[int, Handler] = {
    18: handle_api_versions,
    3: handle_metadata,
    60: handle_describe_cluster,
    17: handle_sasl_handshake,
}
