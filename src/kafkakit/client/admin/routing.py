"""Request routing for the admin core: which node gets a request, and when to retry it.

How it works: ``AdminRouting`` owns the ``AsyncClient`` (connections, metadata) and adds the
routing Kafka's Java admin client uses:

- the controller for topic changes: ``controller_id`` from the latest Metadata (on KRaft any broker
  forwards to the active controller; brokers report a random live broker). A NOT_CONTROLLER answer
  forgets it, refreshes metadata and retries (``controller_retry``).
- the group coordinator for group APIs: FindCoordinator (v4+ batches keys, older versions take one
  key per request); answers are cached until a coordinator error or a connection failure.
- the partition leader for ListOffsets / DeleteRecords, from a fresh Metadata response.

``retrying(what, attempt, timeout_ms)`` runs ``attempt(deadline)`` until it returns, retrying with
exponential backoff when it raises ``Retry`` (a retriable broker error the attempt recognised) or
the connection failed, and raises KafkaTimeoutError naming the operation and the last error when
the deadline passes. Every request is bounded by that deadline.

What it must never do: block the loop, retry a non-retriable broker error, or retry without a
deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from kafkakit.client.cluster import AsyncClient, ClusterMetadata
from kafkakit.errors import (
    BrokerResponseError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    UnknownTopicOrPartitionError,
    for_code,
)
from kafkakit.protocol.primitives import NIL_UUID
from kafkakit.structs import TopicPartition

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["AdminRouting", "Retry", "broker_error", "uuid_str"]

NOT_CONTROLLER = 41
COORDINATOR_ERRORS = frozenset({14, 15, 16})  # load in progress, not available, not coordinator
_BACKOFF_CAP = 1.0


class Retry(Exception):
    """Internal: the attempt failed in a way that may pass; ``cause`` says how."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _Expired(Exception):
    """Internal: the operation's deadline passed before a request could be sent."""


def broker_error(code: int, what: str, message: str | None = None) -> BrokerResponseError:
    """The kafkakit.errors instance for ``code``, its message naming ``what`` failed."""
    cls = for_code(code)
    return cls(f"{what}: {message or cls.description}")


def uuid_str(raw: bytes | None) -> str | None:
    """A topic id as kafka-python shows it: the UUID string, None for the nil id."""
    if not raw or raw == NIL_UUID:
        return None
    return str(uuid.UUID(bytes=bytes(raw)))


class AdminRouting:
    """Lifecycle, retries and node selection shared by every admin operation."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.client = AsyncClient(config)
        self.request_timeout_ms = float(config["request_timeout_ms"])
        self.retry_backoff = config["retry_backoff_ms"] / 1000.0
        self._controller_id: int | None = None
        self._coordinators: dict[str, int] = {}
        self.closed = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bootstrap: NoBrokersAvailable when no bootstrap server answers within bootstrap_timeout_ms."""
        await self.client.bootstrap()

    async def close(self) -> None:
        """Close every connection. Idempotent."""
        self.closed = True
        await self.client.close()

    # --- retries ---------------------------------------------------------------------------

    def deadline(self, timeout_ms: float | None = None) -> float:
        ms = self.request_timeout_ms if timeout_ms is None else max(float(timeout_ms), 1.0)
        return time.monotonic() + ms / 1000.0

    async def retrying(
        self,
        what: str,
        attempt: Callable[[float], Awaitable[T]],
        timeout_ms: float | None = None,
    ) -> T:
        """Run ``attempt(deadline)``, retrying on ``Retry`` and connection failures until the deadline."""
        if self.closed:
            raise KafkaConnectionError("KafkaAdminClient is closed")
        deadline = self.deadline(timeout_ms)
        failures = 0
        last: BaseException | None = None
        while True:
            try:
                return await attempt(deadline)
            except Retry as exc:
                last = exc.cause
            except _Expired:
                pass
            except (KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable) as exc:
                last = exc
                self._controller_id = None  # the node may be gone: look it up again
                self._coordinators.clear()
            failures += 1
            delay = min(self.retry_backoff * (2 ** min(failures - 1, 8)), _BACKOFF_CAP)
            if time.monotonic() + delay >= deadline:
                waited = (timeout_ms if timeout_ms is not None else self.request_timeout_ms) / 1000.0
                raise KafkaTimeoutError(
                    f"{what} did not complete within {waited:.3g} s; last error: {last or 'none'}"
                ) from None
            log.debug("%s: retrying in %.3f s after %s", what, delay, last)
            await asyncio.sleep(delay)

    # --- requests --------------------------------------------------------------------------

    async def request(
        self,
        node_id: int,
        api: str,
        body: dict[str, Any],
        deadline: float,
        *,
        max_version: int | None = None,
        version: int | None = None,
    ) -> Any:
        """Send one request to ``node_id`` at the negotiated version (capped at ``max_version``)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Expired(api)
        conn = await self.client.get_connection(node_id, timeout=remaining)
        if version is None:
            version = conn.version(api)
            if max_version is not None:
                version = min(version, max_version)
        remaining = max(deadline - time.monotonic(), 0.05)
        return await conn.request(api, body, version=version, timeout_ms=remaining * 1000.0)

    async def api_version(self, node_id: int, api: str, deadline: float) -> int | None:
        """The version of ``api`` spoken with ``node_id``, None when the broker lacks it."""
        conn = await self.client.get_connection(node_id, timeout=max(deadline - time.monotonic(), 0.05))
        return conn.version(api) if conn.supports(api) else None

    def any_node(self) -> int:
        node = self.client.least_loaded_node()
        if node is None:
            raise NoBrokersAvailable("no broker is known: the cluster metadata lists none")
        return node

    async def metadata(
        self, topics: Iterable[str] | None, deadline: float, *, auth_ops: bool = False
    ) -> dict[str, Any]:
        """One Metadata response for ``topics`` (None: every topic), never auto-creating topics."""
        node = self.any_node()
        body = {
            "topics": None if topics is None else [{"name": t, "topic_id": NIL_UUID} for t in topics],
            "allow_auto_topic_creation": False,
            "include_cluster_authorized_operations": False,
            "include_topic_authorized_operations": auth_ops,
        }
        if topics is None and await self.api_version(node, "Metadata", deadline) == 0:
            body["topics"] = []
        resp: dict[str, Any] = await self.request(node, "Metadata", body, deadline)
        return resp

    # --- controller ------------------------------------------------------------------------

    async def controller(self, deadline: float) -> int:
        """The node to send topic changes to (see module docstring)."""
        cid = self._controller_id
        if cid is not None and self.client.cluster.broker_metadata(cid) is not None:
            return cid
        cluster = await self.client.refresh_metadata(max(deadline - time.monotonic(), 0.05))
        cid = cluster.controller_id
        if cid < 0 or cluster.broker_metadata(cid) is None:
            cid = self.any_node()  # no controller reported: any broker forwards (KRaft)
        self._controller_id = cid
        return cid

    async def controller_retry(
        self,
        what: str,
        build: Callable[[list[str]], dict[str, Any]],
        names: list[str],
        api: str,
        results_key: str,
        timeout_ms: float | None,
        key: Callable[[dict[str, Any]], str] = lambda row: str(row["name"]),
    ) -> list[dict[str, Any]]:
        """Send ``build(pending)`` to the controller until no entry answers NOT_CONTROLLER.

        Returns one result row per name (in the order of ``names``).
        """
        done: dict[str, dict[str, Any]] = {}

        async def attempt(deadline: float) -> None:
            pending = [n for n in names if n not in done]
            node = await self.controller(deadline)
            resp = await self.request(node, api, build(pending), deadline)
            again = False
            for row in resp[results_key]:
                if row["error_code"] == NOT_CONTROLLER:
                    again = True
                    continue
                done[key(row)] = row
            if again:
                self._controller_id = None
                raise Retry(broker_error(NOT_CONTROLLER, f"{what} sent to node {node}"))

        await self.retrying(what, attempt, timeout_ms)
        return [done[n] for n in names if n in done]

    # --- group coordinators ----------------------------------------------------------------

    def forget_coordinator(self, group_id: str) -> None:
        self._coordinators.pop(group_id, None)

    async def coordinators(self, group_ids: Iterable[str], deadline: float) -> dict[str, int]:
        """The coordinator node of each group (FindCoordinator; cached)."""
        wanted = list(dict.fromkeys(group_ids))
        out = {g: self._coordinators[g] for g in wanted if g in self._coordinators}
        unknown = [g for g in wanted if g not in out]
        if not unknown:
            return out
        node = self.any_node()
        version = await self.api_version(node, "FindCoordinator", deadline)
        rows: list[dict[str, Any]] = []
        if version is not None and version >= 4:
            resp = await self.request(
                node, "FindCoordinator", {"key_type": 0, "coordinator_keys": unknown}, deadline
            )
            rows = resp["coordinators"]
        else:
            for g in unknown:
                resp = await self.request(node, "FindCoordinator", {"key": g, "key_type": 0}, deadline)
                rows.append({**resp, "key": g})
        for row in rows:
            code = row["error_code"]
            group = row["key"]
            if code in COORDINATOR_ERRORS:
                raise Retry(broker_error(code, f"FindCoordinator for group {group!r}", row["error_message"]))
            if code:
                raise broker_error(code, f"FindCoordinator for group {group!r}", row["error_message"])
            if self.client.cluster.broker_metadata(row["node_id"]) is None:
                await self.client.refresh_metadata(max(deadline - time.monotonic(), 0.05))
                if self.client.cluster.broker_metadata(row["node_id"]) is None:
                    raise Retry(
                        KafkaConnectionError(
                            f"coordinator {row['node_id']} of group {group!r} is not in the metadata"
                        )
                    )
            self._coordinators[group] = row["node_id"]
            out[group] = row["node_id"]
        return out

    def check_coordinator_error(self, code: int, group_id: str, what: str) -> None:
        """Raise ``Retry`` for a coordinator error (forgetting the cached coordinator)."""
        if code in COORDINATOR_ERRORS:
            self.forget_coordinator(group_id)
            raise Retry(broker_error(code, f"{what} for group {group_id!r}"))

    # --- partition leaders -----------------------------------------------------------------

    async def leaders(
        self, partitions: Iterable[TopicPartition], deadline: float
    ) -> dict[int, list[TopicPartition]]:
        """Group ``partitions`` by leader; UnknownTopicOrPartitionError naming the unknown ones."""
        tps = list(dict.fromkeys(partitions))
        resp = await self.metadata(sorted({tp.topic for tp in tps}), deadline)
        cluster = ClusterMetadata.from_response(resp)
        by_leader: dict[int, list[TopicPartition]] = {}
        unknown: list[TopicPartition] = []
        for tp in tps:
            leader = cluster.leader_for_partition(tp)
            if leader is None:
                unknown.append(tp)
            elif leader < 0:
                raise Retry(KafkaError(f"partition {tp.topic}-{tp.partition} has no leader right now"))
            else:
                by_leader.setdefault(leader, []).append(tp)
        if unknown:
            names = ", ".join(f"{tp.topic}-{tp.partition}" for tp in unknown)
            raise UnknownTopicOrPartitionError(f"unknown topic partition(s): {names}")
        return by_leader


def group_by_topic(items: Mapping[TopicPartition, T]) -> dict[str, dict[int, T]]:
    out: dict[str, dict[int, T]] = {}
    for tp, v in items.items():
        out.setdefault(tp.topic, {})[tp.partition] = v
    return out
