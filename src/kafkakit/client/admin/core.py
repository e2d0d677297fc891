"""AdminCore: the async engine behind KafkaAdminClient (and, later, the asyncio admin client).

How it works: ``AdminCore(config)`` lives on one event loop; ``await core.start()`` bootstraps.
Each public coroutine takes kafka-python 3.x's arguments, checks them (TypeError/ValueError naming
what is wrong), builds the request bodies, sends them to the right node through ``AdminRouting``
(controller for CreateTopics/DeleteTopics/CreatePartitions, any broker for Metadata and topic
configs, the broker itself for broker configs, partition leaders for ListOffsets/DeleteRecords,
group coordinators in ``GroupOps``) and returns kafka-python 3.x's result shapes: plain dicts,
topic ids as UUID strings, config sources and types by name. A per-topic or per-resource error is
raised as its kafkakit.errors class with a message naming the topic (``raise_errors=False`` returns
the rows instead, as kafka-python does).

What it must never do: keep logic a facade would have to repeat (the sync and asyncio facades only
marshal calls), create topics by accident (Metadata never auto-creates here), or block the loop.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from kafkakit.client.admin.groups import GroupOps
from kafkakit.client.admin.routing import Retry, broker_error, uuid_str
from kafkakit.client.admin.types import (
    AlterConfigOp,
    ApiKey,
    ConfigFilterType,
    ConfigResource,
    ConfigResourceType,
    ConfigSourceType,
    ConfigType,
    IsolationLevel,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    authorized_operations,
    enum_from,
)
from kafkakit.errors import (
    KafkaError,
    UnsupportedVersionError,
    for_code,
)
from kafkakit.structs import OffsetAndTimestamp, TopicPartition

__all__ = ["AdminCore"]

_LEADER_NOT_AVAILABLE = 5
_NOT_LEADER = 6


def _config_value(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def _raise_rows(what: str, rows: Iterable[dict[str, Any]], name_key: str = "name") -> None:
    """Raise the first failed row's error class, naming every failed topic."""
    failed = [r for r in rows if r["error_code"]]
    if not failed:
        return
    first = failed[0]
    cls = for_code(first["error_code"])
    parts = [
        f"topic {r[name_key]!r}: {r.get('error_message') or for_code(r['error_code']).description}"
        + ("" if r["error_code"] == first["error_code"] else f" ({for_code(r['error_code']).__name__})")
        for r in failed
    ]
    raise cls(f"{what} failed for " + "; ".join(parts))


def _source_name(value: int) -> str:
    """A config source by name; a number newer than this client knows is UNKNOWN."""
    try:
        return ConfigSourceType(value).name
    except ValueError:
        return ConfigSourceType.UNKNOWN.name


def _config_entry(c: dict[str, Any], resource_type: ConfigResourceType, full: bool) -> dict[str, Any]:
    source = c.get("config_source", -1)
    if source is None or source < 0:
        source = (
            ConfigSourceType.STATIC_BROKER_CONFIG
            if c["read_only"] and resource_type is ConfigResourceType.BROKER
            else ConfigSourceType.UNKNOWN
        )
    out: dict[str, Any] = {
        "value": c["value"],
        "read_only": c["read_only"],
        "config_source": _source_name(source),
        "is_sensitive": c["is_sensitive"],
    }
    if full:
        out["synonyms"] = [
            {"name": s["name"], "value": s["value"], "source": _source_name(s["source"])}
            for s in c["synonyms"]
        ]
        try:
            out["config_type"] = ConfigType(c.get("config_type", 0)).name
        except ValueError:
            out["config_type"] = ConfigType.UNKNOWN.name
        out["documentation"] = c.get("documentation")
    return out


class AdminCore(GroupOps):
    """The admin engine (see module docstring)."""

    # --- topics ------------------------------------------------------------------------------

    @staticmethod
    def _creatable(new_topics: Any) -> list[dict[str, Any]]:
        if isinstance(new_topics, (str, NewTopic)):
            new_topics = [new_topics]
        out: list[dict[str, Any]] = []
        if isinstance(new_topics, Mapping):
            items: list[NewTopic] = []
            for name, opts in new_topics.items():
                if not isinstance(opts, Mapping):
                    raise TypeError(f"create_topics: options for topic {name!r} must be a dict, got {opts!r}")
                unknown = set(opts) - {"num_partitions", "replication_factor", "assignments", "configs"}
                if unknown:
                    raise ValueError(f"create_topics: unknown option(s) {sorted(unknown)} for topic {name!r}")
                items.append(
                    NewTopic(
                        name,
                        opts.get("num_partitions", -1),
                        opts.get("replication_factor", -1),
                        opts.get("assignments"),
                        opts.get("configs"),
                    )
                )
        else:
            items = []
            for t in new_topics:
                if isinstance(t, str):
                    t = NewTopic(t)
                elif not isinstance(t, NewTopic):
                    raise TypeError(f"create_topics: expected topic names or NewTopic objects, got {t!r}")
                items.append(t)
        for t in items:
            out.append(
                {
                    "name": t.name,
                    "num_partitions": t.num_partitions,
                    "replication_factor": t.replication_factor,
                    "assignments": [
                        {"partition_index": p, "broker_ids": b} for p, b in t.replica_assignments.items()
                    ],
                    "configs": [{"name": k, "value": _config_value(v)} for k, v in t.topic_configs.items()],
                }
            )
        if not out:
            raise ValueError("create_topics: no topic given")
        return out

    async def create_topics(
        self,
        new_topics: Any,
        timeout_ms: int | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
        wait_for_metadata: bool = False,
    ) -> dict[str, Any]:
        """Create topics: ``new_topics`` is a list of names or NewTopic, or {name: {num_partitions,
        replication_factor, assignments, configs}}. Returns {'topics': [result per topic]}."""
        if validate_only and wait_for_metadata:
            raise ValueError("create_topics: validate_only and wait_for_metadata are mutually exclusive")
        topics = self._creatable(new_topics)
        by_name = {t["name"]: t for t in topics}
        broker_wait = int(timeout_ms if timeout_ms is not None else self.request_timeout_ms)

        def build(pending: list[str]) -> dict[str, Any]:
            return {
                "topics": [by_name[n] for n in pending],
                "timeout_ms": broker_wait,
                "validate_only": bool(validate_only),
            }

        rows = await self.controller_retry(
            "create_topics",
            build,
            list(by_name),
            "CreateTopics",
            "topics",
            broker_wait + self.request_timeout_ms,
        )
        if raise_errors:
            _raise_rows("create_topics", rows)
        result = []
        for r in rows:
            row: dict[str, Any] = {
                "name": r["name"],
                "topic_id": uuid_str(r["topic_id"]),
                "error_code": r["error_code"],
                "error_message": r["error_message"],
                "topic_config_error_code": r["topic_config_error_code"],
                "num_partitions": r["num_partitions"],
                "replication_factor": r["replication_factor"],
            }
            if r["configs"]:
                row["configs"] = {
                    c["name"]: _config_entry(c, ConfigResourceType.TOPIC, False) for c in r["configs"]
                }
            result.append(row)
        if wait_for_metadata:
            await self.wait_for_topics([r["name"] for r in rows if not r["error_code"]])
        return {"topics": result}

    async def wait_for_topics(self, topic_names: Iterable[str], timeout_ms: int = 10000) -> None:
        """Wait until every topic is in the metadata with a leader for each partition."""
        names = list(topic_names)
        if not names:
            return

        async def attempt(deadline: float) -> None:
            resp = await self.metadata(names, deadline)
            ready = {
                t["name"]
                for t in resp["topics"]
                if t["error_code"] == 0
                and t["partitions"]
                and all(p["error_code"] == 0 and p["leader_id"] >= 0 for p in t["partitions"])
            }
            missing = [n for n in names if n not in ready]
            if missing:
                raise Retry(KafkaError(f"topic(s) {missing} not ready yet"))

        await self.retrying("wait_for_topics", attempt, timeout_ms)

    async def delete_topics(
        self, topics: Any, timeout_ms: int | None = None, raise_errors: bool = True
    ) -> dict[str, Any]:
        """Delete topics by name (or uuid.UUID id): {'topics': [result per topic]}."""
        items = [topics] if isinstance(topics, (str, uuid.UUID)) else list(topics)
        if not items:
            raise ValueError("delete_topics: no topic given")
        keys: list[str] = []
        for t in items:
            if not isinstance(t, (str, uuid.UUID)):
                raise TypeError(f"delete_topics: expected topic names or uuid.UUID ids, got {t!r}")
            keys.append(str(t))
        broker_wait = int(timeout_ms if timeout_ms is not None else self.request_timeout_ms)
        by_id = {str(t): t for t in items if isinstance(t, uuid.UUID)}

        def build(pending: list[str]) -> dict[str, Any]:
            if by_id and any(k in by_id for k in pending):
                states = [
                    {"name": None, "topic_id": by_id[k].bytes}
                    if k in by_id
                    else {"name": k, "topic_id": bytes(16)}
                    for k in pending
                ]
            else:
                states = [{"name": k, "topic_id": bytes(16)} for k in pending]
            return {
                "topics": states,
                "topic_names": [k for k in pending if k not in by_id],
                "timeout_ms": broker_wait,
            }

        def key_of(row: dict[str, Any]) -> str:
            tid = uuid_str(row["topic_id"])
            return tid if tid is not None and tid in by_id else str(row["name"])

        rows = await self.controller_retry(
            "delete_topics",
            build,
            keys,
            "DeleteTopics",
            "responses",
            broker_wait + self.request_timeout_ms,
            key=key_of,
        )
        if raise_errors:
            _raise_rows("delete_topics", [{**r, "name": r["name"] or uuid_str(r["topic_id"])} for r in rows])
        return {
            "topics": [
                {
                    "name": r["name"],
                    "topic_id": uuid_str(r["topic_id"]),
                    "error_code": r["error_code"],
                    "error_message": r["error_message"],
                }
                for r in rows
            ]
        }

    async def list_topics(self) -> list[str]:
        """Names of every topic in the cluster (internal topics included, as kafka-python)."""
        resp = await self.retrying("list_topics", lambda d: self.metadata(None, d))
        return [t["name"] for t in resp["topics"] if t["name"] is not None]

    async def describe_topics(self, topics: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Metadata of the given topics (None: all): name, topic_id, is_internal, partitions with
        leader/replicas/isr, authorized operations. An unknown topic raises, naming it."""
        names = None if topics is None else ([topics] if isinstance(topics, str) else list(topics))
        for n in names or ():
            if not isinstance(n, str):
                raise TypeError(f"describe_topics: topic names must be str, got {n!r}")
        resp = await self.retrying("describe_topics", lambda d: self.metadata(names, d, auth_ops=True))
        rows = resp["topics"]
        _raise_rows("describe_topics", [t for t in rows if t["error_code"] != _LEADER_NOT_AVAILABLE])
        return [
            {
                "error_code": t["error_code"],
                "name": t["name"],
                "topic_id": uuid_str(t["topic_id"]),
                "is_internal": t["is_internal"],
                "partitions": [
                    {
                        "error_code": p["error_code"],
                        "partition_index": p["partition_index"],
                        "leader_id": p["leader_id"],
                        "leader_epoch": p["leader_epoch"],
                        "replica_nodes": list(p["replica_nodes"]),
                        "isr_nodes": list(p["isr_nodes"]),
                        "offline_replicas": list(p["offline_replicas"]),
                    }
                    for p in t["partitions"]
                ],
                "authorized_operations": authorized_operations(t["topic_authorized_operations"]),
            }
            for t in rows
        ]

    async def create_partitions(
        self,
        topic_partitions: Mapping[str, Any],
        timeout_ms: int | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
    ) -> dict[str, Any]:
        """Grow topics: {topic: total count, NewPartitions or {'count', 'assignments'}}.
        Returns {'results': [{'name', 'error_code', 'error_message'}]}."""
        if not isinstance(topic_partitions, Mapping) or not topic_partitions:
            raise TypeError("create_partitions: expected a non-empty dict {topic: total partition count}")
        by_name: dict[str, dict[str, Any]] = {}
        for topic, spec in topic_partitions.items():
            if isinstance(spec, Mapping):
                spec = NewPartitions(spec["count"], spec.get("assignments"))
            elif isinstance(spec, int) and not isinstance(spec, bool):
                spec = NewPartitions(spec)
            elif not isinstance(spec, NewPartitions):
                raise TypeError(f"create_partitions: count for topic {topic!r} must be an int, got {spec!r}")
            assignments = (
                None if spec.new_assignments is None else [{"broker_ids": a} for a in spec.new_assignments]
            )
            by_name[topic] = {"name": topic, "count": spec.total_count, "assignments": assignments}
        broker_wait = int(timeout_ms if timeout_ms is not None else self.request_timeout_ms)

        def build(pending: list[str]) -> dict[str, Any]:
            return {
                "topics": [by_name[n] for n in pending],
                "timeout_ms": broker_wait,
                "validate_only": validate_only,
            }

        rows = await self.controller_retry(
            "create_partitions",
            build,
            list(by_name),
            "CreatePartitions",
            "results",
            broker_wait + self.request_timeout_ms,
        )
        if raise_errors:
            _raise_rows("create_partitions", rows)
        return {
            "results": [
                {"name": r["name"], "error_code": r["error_code"], "error_message": r["error_message"]}
                for r in rows
            ]
        }

    # --- cluster -----------------------------------------------------------------------------

    async def describe_cluster(self) -> dict[str, Any]:
        """{'brokers': [...], 'cluster_id', 'controller_id', 'authorized_operations'}."""

        async def attempt(deadline: float) -> dict[str, Any]:
            node = self.any_node()
            version = await self.api_version(node, "DescribeCluster", deadline)
            if version is None:
                resp = await self.metadata([], deadline)
                return {
                    "brokers": [
                        {"broker_id": b["node_id"], "host": b["host"], "port": b["port"], "rack": b["rack"]}
                        for b in resp["brokers"]
                    ],
                    "cluster_id": resp["cluster_id"],
                    "controller_id": resp["controller_id"],
                }
            body = {
                "include_cluster_authorized_operations": True,
                "endpoint_type": 1,
                "include_fenced_brokers": True,
            }
            resp = await self.request(node, "DescribeCluster", body, deadline, version=version)
            if resp["error_code"]:
                raise broker_error(resp["error_code"], "describe_cluster", resp["error_message"])
            fenced = version >= 2  # kafka-python shows the fields of the version spoken
            return {
                "brokers": [
                    {
                        "broker_id": b["broker_id"],
                        "host": b["host"],
                        "port": b["port"],
                        "rack": b["rack"],
                        **({"is_fenced": b["is_fenced"]} if fenced else {}),
                    }
                    for b in resp["brokers"]
                ],
                "cluster_id": resp["cluster_id"],
                "controller_id": resp["controller_id"],
                "authorized_operations": authorized_operations(resp["cluster_authorized_operations"]),
            }

        return await self.retrying("describe_cluster", attempt)

    async def api_versions(self) -> dict[Any, tuple[int, int]]:
        """{ApiKey: (min_version, max_version)} the connected broker supports."""

        async def attempt(deadline: float) -> dict[Any, tuple[int, int]]:
            node = self.any_node()
            conn = await self.client.get_connection(node, timeout=max(deadline - time.monotonic(), 0.05))
            out: dict[Any, tuple[int, int]] = {}
            for key, rng in sorted(conn.api_versions.items()):
                try:
                    out[ApiKey(key)] = rng
                except ValueError:
                    out[key] = rng
            return out

        return await self.retrying("api_versions", attempt)

    # --- configs -----------------------------------------------------------------------------

    @staticmethod
    def _by_node(resources: Iterable[ConfigResource]) -> dict[int | None, list[ConfigResource]]:
        out: dict[int | None, list[ConfigResource]] = {}
        for r in resources:
            if not isinstance(r, ConfigResource):
                raise TypeError(f"expected ConfigResource objects, got {r!r}")
            node: int | None = None
            if r.resource_type in (ConfigResourceType.BROKER, ConfigResourceType.BROKER_LOGGER) and r.name:
                try:
                    node = int(r.name)
                except ValueError:
                    raise ValueError(
                        f"broker config resource name must be a broker id, got {r.name!r}"
                    ) from None
            out.setdefault(node, []).append(r)
        return out

    async def describe_configs(
        self,
        config_resources: Iterable[ConfigResource],
        include_synonyms: bool = False,
        config_filter: ConfigFilterType | str = "modified",
    ) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
        """{resource_type name (lower case): {resource name: {config key: {value, read_only,
        config_source, is_sensitive, synonyms, config_type, documentation}}}}. config_filter:
        'modified' (set on the resource; the default), 'dynamic', 'all', 'default', 'static'."""
        flt = enum_from(ConfigFilterType, config_filter, "describe_configs config_filter")
        resources = list(config_resources)
        groups = self._by_node(resources)

        async def attempt(deadline: float) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
            out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
            for node, rs in groups.items():
                body = {
                    "resources": [
                        {
                            "resource_type": int(r.resource_type),
                            "resource_name": r.name,
                            "configuration_keys": None if r.configs is None else list(r.configs),
                        }
                        for r in rs
                    ],
                    "include_synonyms": include_synonyms,
                    "include_documentation": False,
                }
                resp = await self.request(
                    self.any_node() if node is None else node, "DescribeConfigs", body, deadline
                )
                for res in resp["results"]:
                    rtype = enum_from(ConfigResourceType, res["resource_type"], "resource_type")
                    if res["error_code"]:
                        raise broker_error(
                            res["error_code"],
                            f"describe_configs for {rtype.name.lower()} {res['resource_name']!r}",
                            res["error_message"],
                        )
                    configs: dict[str, dict[str, Any]] = {}
                    for c in res["configs"]:
                        entry = _config_entry(c, rtype, True)
                        if not flt.skips(ConfigSourceType[entry["config_source"]], c["read_only"]):
                            configs[c["name"]] = entry
                    out.setdefault(rtype.name.lower(), {})[res["resource_name"]] = configs
            return out

        return await self.retrying("describe_configs", attempt)

    async def alter_configs(
        self,
        config_resources: Iterable[ConfigResource],
        validate_only: bool = False,
        raise_on_unknown: bool = True,
        incremental: bool | None = None,
    ) -> dict[str, dict[str, str]]:
        """Set configs: each ConfigResource's configs is {key: value} or {key: (AlterConfigOp, value)}.
        Uses IncrementalAlterConfigs when the broker has it (other keys keep their values).
        Returns {resource_type: {name: 'OK'}}; a refused resource raises its error."""
        resources = list(config_resources)
        entries: dict[int, list[tuple[str, int, str | None]]] = {}
        for r in resources:
            if not isinstance(r, ConfigResource):
                raise TypeError(f"alter_configs: expected ConfigResource objects, got {r!r}")
            if not isinstance(r.configs, Mapping):
                raise TypeError(
                    f"alter_configs: configs of {r} must be a dict {{key: value}}, got {r.configs!r}"
                )
            rows: list[tuple[str, int, str | None]] = []
            for key, v in r.configs.items():
                op = AlterConfigOp.SET
                if isinstance(v, tuple):
                    op, v = enum_from(AlterConfigOp, v[0], f"alter_configs {key}"), v[1]
                rows.append((key, int(op), None if op is AlterConfigOp.DELETE else _config_value(v)))
            entries[id(r)] = rows
        if raise_on_unknown:
            known = await self.describe_configs(
                [ConfigResource(r.resource_type, r.name) for r in resources], config_filter="dynamic"
            )
            for r in resources:
                have = known.get(r.resource_type.name.lower(), {}).get(r.name, {})
                unknown = {k for k, _op, _v in entries[id(r)]} - set(have)
                if unknown:
                    raise ValueError(
                        f"alter_configs: unrecognized or read-only config(s) for {r}: {sorted(unknown)}"
                    )
        groups = self._by_node(resources)

        async def attempt(deadline: float) -> dict[str, dict[str, str]]:
            out: dict[str, dict[str, str]] = {}
            for node, rs in groups.items():
                target = self.any_node() if node is None else node
                use_inc = incremental
                if use_inc is None:
                    use_inc = await self.api_version(target, "IncrementalAlterConfigs", deadline) is not None
                if use_inc:
                    api = "IncrementalAlterConfigs"
                    res_rows = [
                        {
                            "resource_type": int(r.resource_type),
                            "resource_name": r.name,
                            "configs": [
                                {"name": k, "config_operation": op, "value": v} for k, op, v in entries[id(r)]
                            ],
                        }
                        for r in rs
                    ]
                else:
                    api = "AlterConfigs"
                    res_rows = [
                        {
                            "resource_type": int(r.resource_type),
                            "resource_name": r.name,
                            "configs": await self._full_configs(r, entries[id(r)]),
                        }
                        for r in rs
                    ]
                body = {"resources": res_rows, "validate_only": validate_only}
                resp = await self.request(target, api, body, deadline)
                for res in resp["responses"]:
                    rtype = enum_from(ConfigResourceType, res["resource_type"], "resource_type")
                    if res["error_code"]:
                        raise broker_error(
                            res["error_code"],
                            f"alter_configs for {rtype.name.lower()} {res['resource_name']!r}",
                            res["error_message"],
                        )
                    out.setdefault(rtype.name.lower(), {})[res["resource_name"]] = "OK"
            return out

        return await self.retrying("alter_configs", attempt)

    async def _full_configs(
        self, r: ConfigResource, rows: list[tuple[str, int, str | None]]
    ) -> list[dict[str, Any]]:
        """Legacy AlterConfigs resets unlisted keys: carry over the other modified values."""
        if any(op != AlterConfigOp.SET for _k, op, _v in rows):
            raise UnsupportedVersionError(
                f"alter_configs for {r}: the broker has no IncrementalAlterConfigs; only SET is possible"
            )
        current = await self.describe_configs([ConfigResource(r.resource_type, r.name)])
        merged = {
            k: c["value"]
            for k, c in current.get(r.resource_type.name.lower(), {}).get(r.name, {}).items()
            if c["value"] is not None
        }
        merged.update({k: v for k, _op, v in rows})
        return [{"name": k, "value": v} for k, v in merged.items()]

    # --- partitions and records ----------------------------------------------------------------

    async def list_partition_offsets(
        self,
        topic_partition_specs: Mapping[TopicPartition, Any],
        isolation_level: Any = IsolationLevel.READ_UNCOMMITTED,
        timeout_ms: float | None = None,
    ) -> dict[TopicPartition, OffsetAndTimestamp]:
        """Resolve OffsetSpec (EARLIEST, LATEST, ...) or timestamps per partition, at each leader:
        {TopicPartition: OffsetAndTimestamp(offset, timestamp, leader_epoch or None)}."""
        level = int(enum_from(IsolationLevel, isolation_level, "list_partition_offsets isolation_level"))
        specs: dict[TopicPartition, int] = {}
        for tp, spec in topic_partition_specs.items():
            if isinstance(spec, bool) or not isinstance(spec, int):
                if isinstance(spec, str):
                    spec = enum_from(OffsetSpec, spec, f"list_partition_offsets {tp}")
                else:
                    raise TypeError(
                        f"list_partition_offsets: spec for {tp} must be an OffsetSpec or timestamp"
                    )
            specs[TopicPartition(*tp)] = int(spec)
        results: dict[TopicPartition, OffsetAndTimestamp] = {}

        async def attempt(deadline: float) -> dict[TopicPartition, OffsetAndTimestamp]:
            pending = {tp: s for tp, s in specs.items() if tp not in results}
            retry: BaseException | None = None
            for leader, tps in (await self.leaders(pending, deadline)).items():
                topics: dict[str, list[dict[str, Any]]] = {}
                for tp in tps:
                    topics.setdefault(tp.topic, []).append(
                        {
                            "partition_index": tp.partition,
                            "current_leader_epoch": -1,
                            "timestamp": pending[tp],
                        }
                    )
                body = {
                    "replica_id": -1,
                    "isolation_level": level,
                    "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
                    "timeout_ms": int(max(deadline - time.monotonic(), 0) * 1000),
                }
                resp = await self.request(leader, "ListOffsets", body, deadline)
                for t in resp["topics"]:
                    for p in t["partitions"]:
                        tp = TopicPartition(t["name"], p["partition_index"])
                        code = p["error_code"]
                        if code:
                            err = broker_error(code, f"list_partition_offsets for {tp.topic}-{tp.partition}")
                            if err.retriable:
                                retry = err
                                continue
                            raise err
                        epoch: Any = p["leader_epoch"] if p["leader_epoch"] >= 0 else None
                        results[tp] = OffsetAndTimestamp(p["offset"], p["timestamp"], epoch)
            if retry is not None:
                raise Retry(retry)
            return {tp: results[tp] for tp in specs}

        return await self.retrying("list_partition_offsets", attempt, timeout_ms)

    async def delete_records(
        self,
        records_to_delete: Mapping[TopicPartition, int],
        timeout_ms: int | None = None,
        partition_leader_id: int | None = None,
    ) -> dict[TopicPartition, dict[str, Any]]:
        """Delete records below the given offset of each partition (-1: up to the high watermark),
        at each partition's leader: {TopicPartition: {'partition_index', 'low_watermark',
        'error_code'}}; a partition error raises, naming the partition."""
        offsets: dict[TopicPartition, int] = {}
        for tp, off in records_to_delete.items():
            if isinstance(off, bool) or not isinstance(off, int):
                raise TypeError(f"delete_records: offset for {tp} must be an int, got {off!r}")
            offsets[TopicPartition(*tp)] = off
        if not offsets:
            return {}
        results: dict[TopicPartition, dict[str, Any]] = {}
        wait = int(timeout_ms if timeout_ms is not None else self.request_timeout_ms)

        async def attempt(deadline: float) -> dict[TopicPartition, dict[str, Any]]:
            pending = [tp for tp in offsets if tp not in results]
            if partition_leader_id is not None:
                buckets = {partition_leader_id: pending}
            else:
                buckets = await self.leaders(pending, deadline)
            retry: BaseException | None = None
            for leader, tps in buckets.items():
                topics: dict[str, list[dict[str, Any]]] = {}
                for tp in tps:
                    topics.setdefault(tp.topic, []).append(
                        {"partition_index": tp.partition, "offset": offsets[tp]}
                    )
                body = {
                    "topics": [{"name": t, "partitions": ps} for t, ps in topics.items()],
                    "timeout_ms": wait,
                }
                resp = await self.request(leader, "DeleteRecords", body, deadline)
                for t in resp["topics"]:
                    for p in t["partitions"]:
                        tp = TopicPartition(t["name"], p["partition_index"])
                        code = p["error_code"]
                        if code in (_NOT_LEADER, _LEADER_NOT_AVAILABLE) and partition_leader_id is None:
                            retry = broker_error(code, f"delete_records for {tp.topic}-{tp.partition}")
                            continue
                        results[tp] = {
                            "partition_index": p["partition_index"],
                            "low_watermark": p["low_watermark"],
                            "error_code": code,
                        }
            if retry is not None:
                raise Retry(retry)
            return results

        out = await self.retrying("delete_records", attempt, wait + self.request_timeout_ms)
        failed = [(tp, r["error_code"]) for tp, r in out.items() if r["error_code"]]
        if failed:
            first = for_code(failed[0][1])
            detail = "; ".join(f"{tp.topic}-{tp.partition}: {for_code(c).__name__}" for tp, c in failed)
            raise first(f"delete_records failed for {detail}")
        return {tp: out[tp] for tp in offsets}
