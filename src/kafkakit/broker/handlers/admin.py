"""Admin handlers: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
IncrementalAlterConfigs and InitProducerId.

How it works: topic changes go through ``TopicManager`` (which validates names, partition counts
and configs, persists the topic table and applies config changes to the logs). This is a
one-broker cluster: replication factor 1 (or -1, the default) is the only one accepted, and any
explicit replica assignment must name this node. BROKER config resources are described (read-only
values of ``BrokerConfig``); altering them is refused. Configs are answered with Kafka's config
sources: 1 (topic override) or 5 (default).

InitProducerId without a transactional id (idempotent producers) hands out producer ids from
``ProducerIdManager`` (persisted, never reused across restarts); given an existing producer id
and epoch (v3+, KIP-360) it bumps the epoch, or issues a new id when the epoch would overflow.
With a transactional id it asks the transaction coordinator (``state.txn``), which fences the
previous producer of that id; PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH before v4.

What it must never do: create, change or delete anything for a ``validate_only`` request, accept a
config it does not know, or hand out a producer id twice.
"""

from __future__ import annotations

import logging
from typing import Any

from kafkakit.broker.state import BrokerState, Handler
from kafkakit.broker.topics import (
    APPLIED_CONFIGS,
    STORED_DEFAULTS,
    Topic,
    TopicError,
)
from kafkakit.protocol.frame import RequestHeader

log = logging.getLogger("kafkakit.broker")

__all__ = ["HANDLERS"]

UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_REPLICA_ASSIGNMENT = 39
INVALID_CONFIG = 40
INVALID_REQUEST = 42
COORDINATOR_NOT_AVAILABLE = 15
INVALID_PRODUCER_EPOCH = 47
PRODUCER_FENCED = 90
TOPIC_DELETION_DISABLED = 73
UNKNOWN_TOPIC_ID = 100

TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4

SOURCE_TOPIC = 1
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5

# ConfigType of DescribeConfigs v3+
_BOOLEAN, _STRING, _INT, _LONG, _DOUBLE, _LIST = 1, 2, 3, 5, 6, 7
_LIST_CONFIGS = frozenset({"cleanup.policy"})

_BROKER_SYNONYM = {
    "cleanup.policy": "log.cleanup.policy",
    "retention.ms": "log.retention.ms",
    "retention.bytes": "log.retention.bytes",
    "segment.bytes": "log.segment.bytes",
    "segment.ms": "log.roll.ms",
    "max.message.bytes": "message.max.bytes",
    "message.timestamp.type": "log.message.timestamp.type",
    "min.insync.replicas": "min.insync.replicas",
}

_DOCS = {
    "cleanup.policy": "'delete' discards old segments by retention.ms/retention.bytes; 'compact' is accepted but kafkakit does not compact.",
    "retention.ms": "Oldest data kept, in milliseconds, before whole segments are deleted (-1: no time limit).",
    "retention.bytes": "Largest size a partition may grow to before old segments are deleted (-1: no size limit).",
    "segment.bytes": "Size at which a partition's active segment file is rolled.",
    "segment.ms": "Age at which a partition's active segment is rolled even if not full.",
    "max.message.bytes": "Largest record batch accepted, in bytes (after compression).",
    "message.timestamp.type": "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's time.",
    "min.insync.replicas": "Accepted for compatibility; a one-node cluster always has one in-sync replica.",
}


def _config_type(name: str, value: str) -> int:
    if name in _LIST_CONFIGS:
        return _LIST
    if value in ("true", "false"):
        return _BOOLEAN
    if name.endswith((".ms", ".bytes", ".messages")):
        return _LONG
    if name == "min.cleanable.dirty.ratio":
        return _DOUBLE
    try:
        int(value)
    except ValueError:
        return _STRING
    return _INT


# ---------------------------------------------------------------- CreateTopics


def _created_configs(state: BrokerState, overrides: dict[str, str]) -> list[dict[str, Any]]:
    defaults = dict(state.config.topic_defaults())
    defaults.update(STORED_DEFAULTS)
    out = []
    for name in sorted(set(defaults) | set(overrides)):
        override = name in overrides
        out.append(
            {
                "name": name,
                "value": overrides[name] if override else defaults[name],
                "read_only": False,
                "config_source": SOURCE_TOPIC if override else SOURCE_DEFAULT,
                "is_sensitive": False,
            }
        )
    return out


def _check_create(state: BrokerState, t: dict[str, Any]) -> tuple[int, dict[str, str]]:
    """Number of partitions and configs of one CreateTopics entry; raises TopicError."""
    node = state.node_id
    num_partitions: int = t["num_partitions"]
    rf: int = t["replication_factor"]
    assignments = t["assignments"]
    if assignments:
        if num_partitions != -1 or rf != -1:
            raise TopicError(
                INVALID_REQUEST,
                "Both num_partitions/replication_factor and a replica assignment were given; give one or the other.",
            )
        indexes = sorted(a["partition_index"] for a in assignments)
        if indexes != list(range(len(assignments))):
            raise TopicError(
                INVALID_REPLICA_ASSIGNMENT,
                f"Partitions of a replica assignment must be 0..{len(assignments) - 1}, got {indexes}.",
            )
        for a in assignments:
            if a["broker_ids"] != [node]:
                raise TopicError(
                    INVALID_REPLICA_ASSIGNMENT,
                    f"Partition {a['partition_index']} is assigned to brokers {a['broker_ids']}, but this cluster has only broker {node}.",
                )
        num_partitions = len(assignments)
    else:
        if rf not in (1, -1):
            raise TopicError(
                INVALID_REPLICATION_FACTOR,
                f"Replication factor {rf} cannot be met: this cluster has only 1 broker (use 1, or -1 for the default).",
            )
        if num_partitions == -1:
            num_partitions = state.config.num_partitions
        elif num_partitions < 1:
            raise TopicError(
                INVALID_PARTITIONS,
                f"Number of partitions must be at least 1 (or -1 for the default), got {num_partitions}.",
            )
    configs: dict[str, Any] = {}
    for c in t["configs"]:
        if c["name"] in configs:
            raise TopicError(INVALID_REQUEST, f"Config {c['name']} is given more than once.")
        configs[c["name"]] = c["value"]
    state.topics.check_new_topic(t["name"], num_partitions, configs)
    return num_partitions, configs


async def handle_create_topics(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    validate_only = body["validate_only"]
    seen: set[str] = set()
    duplicates: dict[str, None] = {}  # ordered set
    for t in body["topics"]:
        if t["name"] in seen:
            duplicates[t["name"]] = None
        seen.add(t["name"])
    results = []
    # a name given more than once is not created: one INVALID_REQUEST result for it, after the
    # others (as Kafka's controller answers)
    for t in [t for t in body["topics"] if t["name"] not in duplicates] + [
        {"name": name} for name in duplicates
    ]:
        name = t["name"]
        out: dict[str, Any] = {
            "name": name,
            "topic_id": bytes(16),
            "error_code": 0,
            "error_message": None,
            "topic_config_error_code": 0,
            "num_partitions": -1,
            "replication_factor": -1,
            "configs": None,
        }
        results.append(out)
        try:
            if name in duplicates:
                raise TopicError(INVALID_REQUEST, f"Topic {name} is given more than once in the request.")
            num_partitions, configs = _check_create(state, t)
            if not validate_only:
                topic = state.topics.create(name, num_partitions, configs)
                out["topic_id"] = topic.topic_id
        except TopicError as exc:
            out["error_code"], out["error_message"] = exc.code, exc.message
            continue
        out["num_partitions"] = num_partitions
        out["replication_factor"] = 1
        out["configs"] = _created_configs(state, configs)
    return {"throttle_time_ms": 0, "topics": results}


# ---------------------------------------------------------------- DeleteTopics


async def handle_delete_topics(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    if version >= 6:
        wanted = [(t["name"], t["topic_id"]) for t in body["topics"]]
    else:
        wanted = [(n, bytes(16)) for n in body["topic_names"]]
    responses = []
    deleted: list[Topic] = []
    for name, topic_id in wanted:
        out: dict[str, Any] = {"name": name, "topic_id": topic_id, "error_code": 0, "error_message": None}
        responses.append(out)
        if name is None:
            topic = state.topics.by_id(topic_id)
            if topic is None:
                out["error_code"], out["error_message"] = UNKNOWN_TOPIC_ID, "No topic has this topic id."
                continue
            out["name"] = name = topic.name
        if not state.config.delete_topic_enable:
            out["error_code"] = TOPIC_DELETION_DISABLED
            out["error_message"] = "Topic deletion is disabled (delete_topic_enable is off)."
            continue
        try:
            topic = state.topics.delete(name)
        except TopicError as exc:
            out["error_code"], out["error_message"] = exc.code, exc.message
            continue
        out["topic_id"] = topic.topic_id
        deleted.append(topic)
    hook = getattr(state.groups, "on_topics_deleted", None)
    if deleted and hook is not None:
        try:
            hook([t.name for t in deleted])
        except Exception:  # noqa: BLE001
            log.exception("the group coordinator failed to forget deleted topics")
    return {"throttle_time_ms": 0, "responses": responses}


# ---------------------------------------------------------------- CreatePartitions


async def handle_create_partitions(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    names = [t["name"] for t in body["topics"]]
    results = []
    for t in body["topics"]:
        name, count, assignments = t["name"], t["count"], t["assignments"]
        out: dict[str, Any] = {"name": name, "error_code": 0, "error_message": None}
        results.append(out)
        try:
            if names.count(name) > 1:
                raise TopicError(INVALID_REQUEST, f"Topic {name} is given more than once in the request.")
            current = state.topics.partition_count(name)
            if assignments is not None and current:
                if len(assignments) != count - current:
                    raise TopicError(
                        INVALID_REPLICA_ASSIGNMENT,
                        f"{len(assignments)} assignments were given for {count - current} new partitions.",
                    )
                for a in assignments:
                    if a["broker_ids"] != [state.node_id]:
                        raise TopicError(
                            INVALID_REPLICA_ASSIGNMENT,
                            f"Assignment {a['broker_ids']} names brokers other than this cluster's only broker {state.node_id}.",
                        )
            state.topics.add_partitions(name, count, validate_only=body["validate_only"])
        except TopicError as exc:
            out["error_code"], out["error_message"] = exc.code, exc.message
    return {"throttle_time_ms": 0, "results": results}


# ---------------------------------------------------------------- DescribeConfigs


def _topic_config_entries(
    state: BrokerState, topic: Topic, keys: list[str] | None, synonyms: bool, docs: bool
) -> list[dict[str, Any]]:
    defaults = dict(state.config.topic_defaults())
    defaults.update(STORED_DEFAULTS)
    out = []
    for name in sorted(defaults):
        if keys is not None and name not in keys:
            continue
        override = topic.configs.get(name)
        value = override if override is not None else defaults[name]
        syn: list[dict[str, Any]] = []
        if synonyms:
            if override is not None:
                syn.append({"name": name, "value": override, "source": SOURCE_TOPIC})
            broker_name = _BROKER_SYNONYM.get(name)
            if broker_name is not None:
                syn.append({"name": broker_name, "value": defaults[name], "source": SOURCE_DEFAULT})
        out.append(
            {
                "name": name,
                "value": value,
                "read_only": False,
                "config_source": SOURCE_TOPIC if override is not None else SOURCE_DEFAULT,
                "is_sensitive": False,
                "synonyms": syn,
                "config_type": _config_type(name, value),
                "documentation": (
                    _DOCS.get(name, "Stored for compatibility; kafkakit does not act on it.")
                    if docs
                    else None
                ),
            }
        )
    return out


def _broker_config_entries(
    state: BrokerState, keys: list[str] | None, synonyms: bool, docs: bool
) -> list[dict[str, Any]]:
    out = []
    for name, value in sorted(state.config.broker_configs().items()):
        if keys is not None and name not in keys:
            continue
        out.append(
            {
                "name": name,
                "value": value,
                "read_only": True,
                "config_source": SOURCE_STATIC_BROKER,
                "is_sensitive": False,
                "synonyms": [{"name": name, "value": value, "source": SOURCE_STATIC_BROKER}]
                if synonyms
                else [],
                "config_type": _config_type(name, value),
                "documentation": "Set on the kafkakit broker's command line; read-only at runtime."
                if docs
                else None,
            }
        )
    return out


def _broker_resource_error(state: BrokerState, name: str) -> str | None:
    if name in ("", str(state.node_id)):
        return None
    return f"Broker {name!r} is not this cluster's broker (its id is {state.node_id})."


async def handle_describe_configs(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    synonyms = body["include_synonyms"]
    docs = body["include_documentation"]
    results = []
    for res in body["resources"]:
        rtype, rname, keys = res["resource_type"], res["resource_name"], res["configuration_keys"]
        out: dict[str, Any] = {
            "error_code": 0,
            "error_message": None,
            "resource_type": rtype,
            "resource_name": rname,
            "configs": [],
        }
        results.append(out)
        if rtype == TOPIC_RESOURCE:
            topic = state.topics.get(rname)
            if topic is None:
                out["error_code"] = UNKNOWN_TOPIC_OR_PARTITION
                out["error_message"] = f"Topic '{rname}' does not exist."
            else:
                out["configs"] = _topic_config_entries(state, topic, keys, synonyms, docs)
        elif rtype == BROKER_RESOURCE:
            err = _broker_resource_error(state, rname)
            if err is not None:
                out["error_code"], out["error_message"] = INVALID_REQUEST, err
            else:
                out["configs"] = _broker_config_entries(state, keys, synonyms, docs)
        else:
            out["error_code"] = INVALID_REQUEST
            out["error_message"] = (
                f"Config resource type {rtype} is not supported (only TOPIC 2 and BROKER 4)."
            )
    return {"throttle_time_ms": 0, "results": results}


# ---------------------------------------------------------------- AlterConfigs / IncrementalAlterConfigs


def _alter(
    state: BrokerState, rtype: int, rname: str, new_configs: Any, validate_only: bool
) -> tuple[int, str | None]:
    """Apply ``new_configs(topic) -> overrides`` to one resource; (error_code, message)."""
    if rtype == BROKER_RESOURCE:
        if _broker_resource_error(state, rname) is not None:
            return INVALID_REQUEST, _broker_resource_error(state, rname)
        return (
            INVALID_CONFIG,
            "Broker configs of the kafkakit broker are read-only; set them on its command line.",
        )
    if rtype != TOPIC_RESOURCE:
        return INVALID_REQUEST, f"Config resource type {rtype} is not supported (only TOPIC 2 and BROKER 4)."
    topic = state.topics.get(rname)
    if topic is None:
        return UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{rname}' does not exist."
    try:
        overrides = new_configs(topic)
        state.topics.set_configs(rname, overrides, validate_only=validate_only)
    except TopicError as exc:
        return exc.code, exc.message
    return 0, None


async def handle_alter_configs(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    responses = []
    for res in body["resources"]:

        def replace(topic: Topic, res: dict[str, Any] = res) -> dict[str, str]:
            overrides: dict[str, Any] = {}
            for c in res["configs"]:
                if c["name"] in overrides:
                    raise TopicError(INVALID_REQUEST, f"Config {c['name']} is given more than once.")
                if c["value"] is None:
                    raise TopicError(
                        INVALID_REQUEST, f"Null value not supported for topic config {c['name']}."
                    )
                overrides[c["name"]] = c["value"]
            return overrides

        code, message = _alter(
            state, res["resource_type"], res["resource_name"], replace, body["validate_only"]
        )
        responses.append(
            {
                "error_code": code,
                "error_message": message,
                "resource_type": res["resource_type"],
                "resource_name": res["resource_name"],
            }
        )
    return {"throttle_time_ms": 0, "responses": responses}


SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def _incremental(state: BrokerState, topic: Topic, configs: list[dict[str, Any]]) -> dict[str, str]:
    overrides = dict(topic.configs)
    defaults = state.topics.effective_configs(topic)
    seen: set[str] = set()
    for c in configs:
        name, op, value = c["name"], c["config_operation"], c["value"]
        if name in seen:
            raise TopicError(INVALID_REQUEST, f"Config {name} is given more than once.")
        seen.add(name)
        if op == SET:
            if value is None:
                raise TopicError(INVALID_REQUEST, f"Null value not supported for topic config {name}.")
            overrides[name] = value
        elif op == DELETE:
            if name not in APPLIED_CONFIGS and name not in STORED_DEFAULTS:
                raise TopicError(INVALID_CONFIG, f"Unknown topic config name: {name}")
            overrides.pop(name, None)
        elif op in (APPEND, SUBTRACT):
            if name not in _LIST_CONFIGS:
                known = name in APPLIED_CONFIGS or name in STORED_DEFAULTS
                what = "is not a list config" if known else "is not a known topic config"
                raise TopicError(
                    INVALID_CONFIG, f"Config {name} {what}: APPEND/SUBTRACT apply to list configs only."
                )
            current = [v.strip() for v in overrides.get(name, defaults.get(name, "")).split(",") if v.strip()]
            items = [v.strip() for v in (value or "").split(",") if v.strip()]
            if op == APPEND:
                current += [v for v in items if v not in current]
            else:
                current = [v for v in current if v not in items]
            overrides[name] = ",".join(current)
        else:
            raise TopicError(
                INVALID_REQUEST,
                f"Config operation {op} for {name} is unknown (0 set, 1 delete, 2 append, 3 subtract).",
            )
    return overrides


async def handle_incremental_alter_configs(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    responses = []
    for res in body["resources"]:
        code, message = _alter(
            state,
            res["resource_type"],
            res["resource_name"],
            lambda topic, res=res: _incremental(state, topic, res["configs"]),
            body["validate_only"],
        )
        responses.append(
            {
                "error_code": code,
                "error_message": message,
                "resource_type": res["resource_type"],
                "resource_name": res["resource_name"],
            }
        )
    return {"throttle_time_ms": 0, "responses": responses}


# ---------------------------------------------------------------- InitProducerId

_MAX_EPOCH = 32767


def _was_issued(manager: Any, pid: int) -> bool:
    """Whether ``pid`` is one this data dir handed out (so bumping its epoch cannot collide)."""
    issued = getattr(manager, "was_issued", None)
    if issued is not None:
        return bool(issued(pid))
    ceiling = getattr(manager, "_next", None)  # ProducerIdManager: the first id not handed out yet
    return isinstance(ceiling, int) and pid < ceiling


async def handle_init_producer_id(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "throttle_time_ms": 0,
        "error_code": 0,
        "producer_id": -1,
        "producer_epoch": -1,
        "ongoing_txn_producer_id": -1,
        "ongoing_txn_producer_epoch": -1,
    }
    manager = state.producer_ids
    pid, epoch = body["producer_id"], body["producer_epoch"]
    if (pid >= 0) != (epoch >= 0):
        out["error_code"] = INVALID_REQUEST
        return out
    if body["transactional_id"] is not None:
        if state.txn is None:
            out["error_code"] = COORDINATOR_NOT_AVAILABLE
            return out
        error, out["producer_id"], out["producer_epoch"] = await state.txn.init_producer_id(
            body["transactional_id"], body["transaction_timeout_ms"], (pid, epoch) if pid >= 0 else None
        )
        out["error_code"] = INVALID_PRODUCER_EPOCH if error == PRODUCER_FENCED and version < 4 else error
        return out
    if pid >= 0 and _was_issued(manager, pid) and epoch + 1 < _MAX_EPOCH:
        out["producer_id"], out["producer_epoch"] = pid, epoch + 1
    else:
        out["producer_id"], out["producer_epoch"] = manager.next_id(), 0
    return out


HANDLERS: dict[int, Handler] = {
    19: handle_create_topics,
    20: handle_delete_topics,
    37: handle_create_partitions,
    32: handle_describe_configs,
    33: handle_alter_configs,
    44: handle_incremental_alter_configs,
    22: handle_init_producer_id,
}
