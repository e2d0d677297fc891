"""Consumer-group operations of the admin core: list, describe, delete, and group offsets.

How it works: every group request goes to the group's coordinator (``AdminRouting.coordinators``,
one request per coordinator bucket). A coordinator error in an answer (NOT_COORDINATOR,
COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS) forgets the cached coordinator and retries
the operation until the deadline; any other error is raised (or reported per partition where
kafka-python reports it). Results have kafka-python 3.x's shapes; the kafka-python 2.x method names
(``list_consumer_groups``, ``describe_consumer_groups``, ``delete_consumer_groups``,
``list_consumer_group_offsets``) return 2.x shapes so 2.x code keeps working. OffsetFetch and
OffsetCommit are capped at v9: v10 names topics by id only.

What it must never do: commit offsets for a group with live members behind the caller's back
(the broker refuses it, and the refusal is reported), or hide a partition-level error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kafkakit.client.admin.routing import COORDINATOR_ERRORS, AdminRouting, Retry, broker_error
from kafkakit.client.admin.types import (
    GroupInformation,
    MemberAssignment,
    MemberInformation,
    MemberMetadata,
    OffsetSpec,
    OffsetTimestamp,
    authorized_operations,
    enum_from,
)
from kafkakit.errors import BrokerResponseError, KafkaError, ProtocolDecodeError, for_code
from kafkakit.protocol import consumer_protocol as CP
from kafkakit.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

__all__ = ["GroupOps"]

_OFFSET_API_MAX = 9  # v10 of OffsetFetch/OffsetCommit addresses topics by id only


def _group_ids(group_ids: Any, what: str) -> list[str]:
    if isinstance(group_ids, str):
        return [group_ids]
    ids = list(group_ids)
    for g in ids:
        if not isinstance(g, str):
            raise TypeError(f"{what}: group ids must be str, got {type(g).__name__} ({g!r})")
    return ids


def _tp(tp: Any, what: str) -> TopicPartition:
    if isinstance(tp, tuple) and len(tp) == 2 and isinstance(tp[0], str) and isinstance(tp[1], int):
        return TopicPartition(tp[0], tp[1])
    raise TypeError(f"{what}: expected a TopicPartition, got {tp!r}")


def _topic_rows(tps: Iterable[TopicPartition]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for tp in tps:
        out.setdefault(tp.topic, []).append(tp.partition)
    return out


def _subscription_dict(raw: bytes) -> Any:
    try:
        s = CP.decode_subscription(raw)
    except ProtocolDecodeError:
        return raw
    out: dict[str, Any] = {"topics": s["topics"], "user_data": s["user_data"]}
    if s["version"] >= 1:
        out["owned_partitions"] = [{"topic": t, "partitions": p} for t, p in s["owned_partitions"].items()]
    if s["version"] >= 2:
        out["generation_id"] = s["generation_id"]
    if s["version"] >= 3:
        out["rack_id"] = s["rack_id"]
    return out


def _assignment_dict(raw: bytes) -> Any:
    try:
        a = CP.decode_assignment(raw)
    except ProtocolDecodeError:
        return raw
    return {
        "assigned_partitions": [{"topic": t, "partitions": p} for t, p in a["assigned_partitions"].items()],
        "user_data": a["user_data"],
    }


class GroupOps(AdminRouting):
    """Consumer-group operations (see module docstring)."""

    # implemented by AdminCore (core.py); declared here for reset_group_offsets
    async def list_partition_offsets(
        self,
        topic_partition_specs: Mapping[TopicPartition, Any],
        isolation_level: Any = 0,
        timeout_ms: float | None = None,
    ) -> dict[TopicPartition, OffsetAndTimestamp]:
        raise NotImplementedError

    async def _coordinator_of(self, group_id: str, given: int | None, deadline: float) -> int:
        if given is not None:
            return given
        return (await self.coordinators([group_id], deadline))[group_id]

    async def _buckets(
        self, group_ids: list[str], given: int | None, deadline: float
    ) -> dict[int, list[str]]:
        if given is not None:
            return {given: list(group_ids)}
        out: dict[int, list[str]] = {}
        for g, node in (await self.coordinators(group_ids, deadline)).items():
            out.setdefault(node, []).append(g)
        return out

    # --- list / describe / delete ------------------------------------------------------------

    async def list_groups(
        self,
        broker_ids: Iterable[int] | None = None,
        states_filter: Iterable[str] | None = None,
        types_filter: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every group known to the given brokers (default: all), as dicts with group_id,
        protocol_type, group_state and group_type."""
        body = {"states_filter": list(states_filter or ()), "types_filter": list(types_filter or ())}

        async def attempt(deadline: float) -> list[dict[str, Any]]:
            nodes = list(broker_ids) if broker_ids is not None else sorted(self.client.cluster.broker_ids())
            seen: dict[str, dict[str, Any]] = {}
            for node in nodes:
                resp = await self.request(node, "ListGroups", body, deadline)
                code = resp["error_code"]
                if code in COORDINATOR_ERRORS:
                    raise Retry(broker_error(code, f"ListGroups on node {node}"))
                if code:
                    raise broker_error(code, f"ListGroups on node {node}")
                for g in resp["groups"]:
                    seen.setdefault(
                        g["group_id"],
                        {
                            "group_id": g["group_id"],
                            "protocol_type": g["protocol_type"],
                            "group_state": g["group_state"],
                            "group_type": g["group_type"],
                        },
                    )
            return list(seen.values())

        return await self.retrying("list_groups", attempt)

    async def describe_groups(
        self,
        group_ids: Iterable[str],
        group_coordinator_id: int | None = None,
        include_authorized_operations: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """{group_id: description}: state, protocol, members with decoded subscription and
        assignment, authorized operations, and 'error' (None, or the error the broker gave)."""
        ids = _group_ids(group_ids, "describe_groups")
        raw = await self._describe_raw(ids, group_coordinator_id)
        return {g: self._group_description(row) for g, row in raw.items()}

    async def _describe_raw(self, ids: list[str], given: int | None) -> dict[str, dict[str, Any]]:
        async def attempt(deadline: float) -> dict[str, dict[str, Any]]:
            out: dict[str, dict[str, Any]] = {}
            for node, groups in (await self._buckets(ids, given, deadline)).items():
                resp = await self.request(
                    node,
                    "DescribeGroups",
                    {"groups": groups, "include_authorized_operations": True},
                    deadline,
                )
                for g in resp["groups"]:
                    self.check_coordinator_error(g["error_code"], g["group_id"], "DescribeGroups")
                    out[g["group_id"]] = g
            return {g: out[g] for g in ids if g in out}

        return await self.retrying("describe_groups", attempt)

    @staticmethod
    def _group_description(g: dict[str, Any]) -> dict[str, Any]:
        consumer = g["protocol_type"] in ("consumer", "")
        members = []
        for m in g["members"]:
            meta, assign = bytes(m["member_metadata"]), bytes(m["member_assignment"])
            members.append(
                {
                    "member_id": m["member_id"],
                    "group_instance_id": m["group_instance_id"],
                    "client_id": m["client_id"],
                    "client_host": m["client_host"],
                    "member_metadata": _subscription_dict(meta) if consumer and meta else meta,
                    "member_assignment": _assignment_dict(assign) if consumer and assign else assign,
                }
            )
        code = g["error_code"]
        return {
            "group_id": g["group_id"],
            "group_state": g["group_state"],
            "protocol_type": g["protocol_type"],
            "protocol_data": g["protocol_data"],
            "members": members,
            "authorized_operations": authorized_operations(g["authorized_operations"]),
            "error": str(broker_error(code, f"group {g['group_id']!r}", g["error_message"]))
            if code
            else None,
        }

    async def delete_groups(
        self, group_ids: Iterable[str], group_coordinator_id: int | None = None
    ) -> dict[str, str]:
        """Delete groups (they must be empty): {group_id: 'OK' or the error class name}."""
        ids = _group_ids(group_ids, "delete_groups")
        results: dict[str, str] = {}

        async def attempt(deadline: float) -> dict[str, str]:
            pending = [g for g in ids if g not in results]
            retry: BaseException | None = None
            for node, groups in (await self._buckets(pending, group_coordinator_id, deadline)).items():
                resp = await self.request(node, "DeleteGroups", {"groups_names": groups}, deadline)
                for r in resp["results"]:
                    code = r["error_code"]
                    if code in COORDINATOR_ERRORS and group_coordinator_id is None:
                        self.forget_coordinator(r["group_id"])
                        retry = broker_error(code, f"DeleteGroups for group {r['group_id']!r}")
                        continue
                    results[r["group_id"]] = "OK" if code == 0 else for_code(code).__name__
            if retry is not None:
                raise Retry(retry)
            return {g: results[g] for g in ids if g in results}

        return await self.retrying("delete_groups", attempt)

    # --- offsets -----------------------------------------------------------------------------

    async def list_group_offsets(
        self, group_specs: Any
    ) -> dict[str, dict[TopicPartition, OffsetAndMetadata]]:
        """Committed offsets: ``group_specs`` is a group id, a list of them, or {group_id: [TopicPartition]
        or None (all)}; returns {group_id: {TopicPartition: OffsetAndMetadata}}."""
        if isinstance(group_specs, str):
            specs: dict[str, list[TopicPartition] | None] = {group_specs: None}
        elif isinstance(group_specs, Mapping):
            specs = {
                g: None if parts is None else [_tp(tp, f"list_group_offsets({g!r})") for tp in parts]
                for g, parts in group_specs.items()
            }
        else:
            specs = {g: None for g in _group_ids(group_specs, "list_group_offsets")}
        if not specs:
            raise ValueError("list_group_offsets: no group given")
        _group_ids(list(specs), "list_group_offsets")

        async def attempt(deadline: float) -> dict[str, dict[TopicPartition, OffsetAndMetadata]]:
            out: dict[str, dict[TopicPartition, OffsetAndMetadata]] = {}
            for node, groups in (await self._buckets(list(specs), None, deadline)).items():
                version = await self.api_version(node, "OffsetFetch", deadline)
                version = min(version or 1, _OFFSET_API_MAX)
                if version >= 8:
                    body = {
                        "groups": [
                            {
                                "group_id": g,
                                "member_id": None,
                                "member_epoch": -1,
                                "topics": self._fetch_topics(specs[g]),
                            }
                            for g in groups
                        ],
                        "require_stable": False,
                    }
                    resp = await self.request(node, "OffsetFetch", body, deadline, version=version)
                    for grp in resp["groups"]:
                        out[grp["group_id"]] = self._parse_offsets(grp["group_id"], grp)
                    continue
                for g in groups:
                    topics = self._fetch_topics(specs[g])
                    if topics is None and version < 2:
                        raise KafkaError(
                            f"list_group_offsets({g!r}): the broker's OffsetFetch v{version} needs the "
                            "partitions listed; pass {group_id: [TopicPartition, ...]}"
                        )
                    body = {"group_id": g, "topics": topics, "require_stable": False}
                    resp = await self.request(node, "OffsetFetch", body, deadline, version=version)
                    out[g] = self._parse_offsets(g, resp)
            return out

        return await self.retrying("list_group_offsets", attempt)

    @staticmethod
    def _fetch_topics(parts: list[TopicPartition] | None) -> list[dict[str, Any]] | None:
        if parts is None:
            return None
        return [{"name": t, "partition_indexes": p} for t, p in _topic_rows(parts).items()]

    def _parse_offsets(self, group_id: str, body: dict[str, Any]) -> dict[TopicPartition, OffsetAndMetadata]:
        code = body["error_code"]
        self.check_coordinator_error(code, group_id, "OffsetFetch")
        if code:
            raise broker_error(code, f"list_group_offsets for group {group_id!r}")
        out: dict[TopicPartition, OffsetAndMetadata] = {}
        for t in body["topics"]:
            for p in t["partitions"]:
                tp = TopicPartition(t["name"], p["partition_index"])
                pcode = p["error_code"]
                self.check_coordinator_error(pcode, group_id, "OffsetFetch")
                if pcode:
                    raise broker_error(
                        pcode,
                        f"list_group_offsets for group {group_id!r}, partition {tp.topic}-{tp.partition}",
                    )
                out[tp] = OffsetAndMetadata(p["committed_offset"], p["metadata"], p["committed_leader_epoch"])
        return out

    async def alter_group_offsets(
        self,
        group_id: str,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
        group_coordinator_id: int | None = None,
    ) -> dict[TopicPartition, type[BrokerResponseError]]:
        """Commit offsets for a group with no live members: {TopicPartition: error class (NoError)}."""
        clean: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, oam in offsets.items():
            tp = _tp(tp, "alter_group_offsets")
            if isinstance(oam, int) and not isinstance(oam, bool):
                oam = OffsetAndMetadata(oam, "", -1)
            elif not isinstance(oam, tuple) or not isinstance(oam[0], int):
                raise TypeError(f"alter_group_offsets: offset for {tp} must be an OffsetAndMetadata or int")
            clean[tp] = oam
        if not clean:
            return {}
        return await self.retrying(
            "alter_group_offsets",
            lambda deadline: self._commit(group_id, clean, group_coordinator_id, deadline),
        )

    async def _commit(
        self,
        group_id: str,
        offsets: Mapping[TopicPartition, OffsetAndMetadata],
        given: int | None,
        deadline: float,
    ) -> dict[TopicPartition, type[BrokerResponseError]]:
        node = await self._coordinator_of(group_id, given, deadline)
        topics: dict[str, list[dict[str, Any]]] = {}
        for tp, oam in offsets.items():
            epoch = getattr(oam, "leader_epoch", -1)
            topics.setdefault(tp.topic, []).append(
                {
                    "partition_index": tp.partition,
                    "committed_offset": oam[0],
                    "committed_leader_epoch": -1 if epoch is None else epoch,
                    "committed_metadata": oam[1] if len(oam) > 1 else "",
                }
            )
        body = {
            "group_id": group_id,
            "generation_id_or_member_epoch": -1,
            "member_id": "",
            "group_instance_id": None,
            "retention_time_ms": -1,
            "topics": [{"name": t, "partitions": p} for t, p in topics.items()],
        }
        resp = await self.request(node, "OffsetCommit", body, deadline, max_version=_OFFSET_API_MAX)
        out: dict[TopicPartition, type[BrokerResponseError]] = {}
        for t in resp["topics"]:
            for p in t["partitions"]:
                if given is None:
                    self.check_coordinator_error(p["error_code"], group_id, "OffsetCommit")
                out[TopicPartition(t["name"], p["partition_index"])] = for_code(p["error_code"])
        return out

    async def reset_group_offsets(
        self,
        group_id: str,
        offset_specs: Mapping[TopicPartition, Any],
        group_coordinator_id: int | None = None,
    ) -> dict[TopicPartition, dict[str, Any]]:
        """Reset a group's committed offsets to an OffsetSpec (EARLIEST, LATEST, ...), an
        OffsetTimestamp or a plain offset, clamped to [earliest, latest]:
        {TopicPartition: {'error': error class, 'offset': committed offset}}."""
        if not offset_specs:
            return {}
        explicit: dict[TopicPartition, int] = {}
        resolve: dict[TopicPartition, int] = {}
        for tp, spec in offset_specs.items():
            tp = _tp(tp, "reset_group_offsets")
            if isinstance(spec, (OffsetSpec, OffsetTimestamp)):
                resolve[tp] = int(spec)
            elif isinstance(spec, str):
                resolve[tp] = int(enum_from(OffsetSpec, spec, f"reset_group_offsets {tp}"))
            elif isinstance(spec, int) and not isinstance(spec, bool):
                explicit[tp] = spec
            else:
                raise TypeError(
                    f"reset_group_offsets: target for {tp} must be an OffsetSpec, OffsetTimestamp or int "
                    f"offset, got {spec!r}"
                )
        tps = list(explicit) + list(resolve)
        current = (await self.list_group_offsets({group_id: tps}))[group_id]
        earliest = await self.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps})
        latest = await self.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps})
        resolved = await self.list_partition_offsets(resolve) if resolve else {}
        target: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp in tps:
            raw = resolved[tp].offset if tp in resolved else explicit[tp]
            lo, hi = earliest[tp].offset, latest[tp].offset
            offset = hi if raw < 0 or raw > hi else max(raw, lo)
            cur = current.get(tp)
            target[tp] = OffsetAndMetadata(offset, cur.metadata if cur and cur.metadata else "", -1)
        errors = await self.retrying(
            "reset_group_offsets",
            lambda deadline: self._commit(group_id, target, group_coordinator_id, deadline),
        )
        return {tp: {"error": errors[tp], "offset": target[tp].offset} for tp in tps if tp in errors}

    async def delete_group_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition], group_coordinator_id: int | None = None
    ) -> dict[TopicPartition, type[BrokerResponseError]]:
        """Delete a group's committed offsets: {TopicPartition: error class (NoError)}."""
        tps = [_tp(tp, "delete_group_offsets") for tp in partitions]
        if not tps:
            return {}

        async def attempt(deadline: float) -> dict[TopicPartition, type[BrokerResponseError]]:
            node = await self._coordinator_of(group_id, group_coordinator_id, deadline)
            body = {
                "group_id": group_id,
                "topics": [
                    {"name": t, "partitions": [{"partition_index": p} for p in ps]}
                    for t, ps in _topic_rows(tps).items()
                ],
            }
            resp = await self.request(node, "OffsetDelete", body, deadline)
            code = resp["error_code"]
            self.check_coordinator_error(code, group_id, "OffsetDelete")
            if code:
                raise broker_error(code, f"delete_group_offsets for group {group_id!r}")
            return {
                TopicPartition(t["name"], p["partition_index"]): for_code(p["error_code"])
                for t in resp["topics"]
                for p in t["partitions"]
            }

        return await self.retrying("delete_group_offsets", attempt)

    # --- kafka-python 2.x names and shapes ---------------------------------------------------

    async def list_consumer_groups(self, broker_ids: Iterable[int] | None = None) -> list[tuple[str, str]]:
        """kafka-python 2.x: [(group_id, protocol_type)]."""
        return [(g["group_id"], g["protocol_type"]) for g in await self.list_groups(broker_ids)]

    async def describe_consumer_groups(
        self,
        group_ids: Iterable[str],
        group_coordinator_id: int | None = None,
        include_authorized_operations: bool = False,
    ) -> list[GroupInformation]:
        """kafka-python 2.x: a list of GroupInformation named tuples; a group error is raised."""
        raw = await self._describe_raw(
            _group_ids(group_ids, "describe_consumer_groups"), group_coordinator_id
        )
        out = []
        for gid, row in raw.items():
            if row["error_code"]:
                raise broker_error(
                    row["error_code"], f"describe_consumer_groups: group {gid!r}", row["error_message"]
                )
            d = self._group_description(row)
            members = []
            for m in d["members"]:
                meta, assign = m["member_metadata"], m["member_assignment"]
                if isinstance(meta, dict):
                    meta = MemberMetadata(0, list(meta["topics"]), meta["user_data"])
                if isinstance(assign, dict):
                    assign = MemberAssignment(
                        0,
                        [(a["topic"], list(a["partitions"])) for a in assign["assigned_partitions"]],
                        assign["user_data"],
                    )
                members.append(
                    MemberInformation(m["member_id"], m["client_id"], m["client_host"], meta, assign)
                )
            out.append(
                GroupInformation(
                    0,
                    gid,
                    d["group_state"],
                    d["protocol_type"],
                    d["protocol_data"],
                    members,
                    d["authorized_operations"] if include_authorized_operations else None,
                )
            )
        return out

    async def delete_consumer_groups(
        self, group_ids: Iterable[str], group_coordinator_id: int | None = None
    ) -> list[tuple[str, type[BrokerResponseError]]]:
        """kafka-python 2.x: [(group_id, error class)]."""
        res = await self.delete_groups(group_ids, group_coordinator_id)
        return [(g, for_code(0) if r == "OK" else _error_named(r)) for g, r in res.items()]

    async def list_consumer_group_offsets(
        self,
        group_id: str,
        group_coordinator_id: int | None = None,
        partitions: Iterable[TopicPartition] | None = None,
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """kafka-python 2.x: {TopicPartition: OffsetAndMetadata} of one group."""
        if not isinstance(group_id, str):
            raise TypeError(f"list_consumer_group_offsets: group_id must be a str, got {group_id!r}")
        if group_coordinator_id is not None:
            self._coordinators[group_id] = group_coordinator_id
        spec = {group_id: None if partitions is None else list(partitions)}
        return (await self.list_group_offsets(spec))[group_id]


def _error_named(name: str) -> type[BrokerResponseError]:
    from kafkakit import errors

    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, BrokerResponseError):
        return cls
    return errors.UnknownError
