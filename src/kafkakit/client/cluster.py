"""Cluster metadata and AsyncClient: bootstrap, metadata refresh, connections and request routing.

How it works: ``ClusterMetadata`` is an immutable snapshot built from one Metadata response (brokers,
topics, partitions with leader/leader_epoch/replicas/isr, controller, cluster id). ``AsyncClient``
replaces ``client.cluster`` with a new snapshot after each refresh, so other threads (the sync facades)
may read ``client.cluster`` at any time without locks.

``AsyncClient(config)`` lives on one event loop (the background loop thread of a sync facade or the
caller's loop for the asyncio API). ``await client.bootstrap(timeout)`` tries the bootstrap servers in
turn (ids -1, -2, ... until real broker ids are known) until one answers ApiVersions + Metadata, and
raises NoBrokersAvailable when none did within the timeout. A background task then refreshes metadata
every metadata_max_age_ms and whenever ``request_update()`` is called; concurrent requests coalesce
into one Metadata request and all of them get its result. Metadata asks for the topics of interest
(``add_topics``/``set_topics``) or every topic (``set_all_topics(True)``).

Connections are per (node id, channel): ``channel`` lets a caller keep a separate connection to the same
broker (e.g. a consumer's coordinator traffic next to long-polling fetches). ``get_connection`` connects
on demand, honouring per-node reconnect backoff; ``send(node_id, api, body)`` routes one request and
returns the decoded response dict; ``send_to_any`` uses the least loaded reachable node and fails over.
Broker-level errors inside a response are returned, not raised: callers inspect error codes.

What it must never do: block the loop, hang without a bound (every wait has a timeout), hand a
half-built snapshot to readers, or retry a request on its own (callers decide about retries, because
only they know whether a request is idempotent).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from kafkakit.client.connection import BrokerConnection, ReconnectBackoff
from kafkakit.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    RebootstrapRequiredError,
    SaslAuthenticationFailedError,
    TLSVerificationError,
    UnsupportedSaslMechanismError,
    for_code,
)
from kafkakit.protocol.apis import API_BY_NAME
from kafkakit.protocol.primitives import NIL_UUID
from kafkakit.structs import BrokerMetadata, PartitionMetadata, TopicPartition

log = logging.getLogger(__name__)

__all__ = ["AsyncClient", "ClusterMetadata", "TopicMetadata"]

_UNKNOWN_TOPIC = 3
_LEADER_NOT_AVAILABLE = 5
_CONNECT_TIMEOUT_CAP = 10.0
# a bootstrap that fails with these is given up at once: new attempts would fail the same way
_AUTH_ERRORS = (
    SaslAuthenticationFailedError,
    UnsupportedSaslMechanismError,
    IllegalSaslStateError,
    TLSVerificationError,
)


class TopicMetadata(NamedTuple):
    name: str
    topic_id: bytes
    is_internal: bool
    error_code: int
    partitions: dict[int, PartitionMetadata]


class ClusterMetadata:
    """An immutable snapshot of the cluster as of one Metadata response."""

    def __init__(
        self,
        brokers: Mapping[int, BrokerMetadata] | None = None,
        topics: Mapping[str, TopicMetadata] | None = None,
        *,
        cluster_id: str | None = None,
        controller_id: int = -1,
        topic_errors: Mapping[str, int] | None = None,
        refreshed_at: float = 0.0,
    ) -> None:
        self._brokers: dict[int, BrokerMetadata] = dict(brokers or {})
        self._topics: dict[str, TopicMetadata] = dict(topics or {})
        self.cluster_id = cluster_id
        self.controller_id = controller_id
        self.topic_errors: dict[str, int] = dict(topic_errors or {})
        self.refreshed_at = refreshed_at  # time.monotonic() of the response, 0 when never
        self._partitions: dict[str, frozenset[int]] = {}
        self._available: dict[str, frozenset[int]] = {}
        for name, t in self._topics.items():
            self._partitions[name] = frozenset(t.partitions)
            self._available[name] = frozenset(p for p, m in t.partitions.items() if m.leader >= 0)

    @classmethod
    def from_response(
        cls, resp: Mapping[str, Any], previous: ClusterMetadata | None = None, *, all_topics: bool = False
    ) -> ClusterMetadata:
        """Build a snapshot; topics absent from a partial response keep their previous metadata."""
        brokers = {
            b["node_id"]: BrokerMetadata(b["node_id"], b["host"], b["port"], b.get("rack"))
            for b in resp["brokers"]
        }
        topics: dict[str, TopicMetadata] = {}
        if previous is not None and not all_topics:
            topics.update(previous._topics)
        errors: dict[str, int] = {}
        for t in resp["topics"]:
            name = t["name"]
            if name is None:
                continue
            code = t["error_code"]
            if code and code != _LEADER_NOT_AVAILABLE:
                errors[name] = code
                topics.pop(name, None)
                continue
            if code:
                errors[name] = code
            parts: dict[int, PartitionMetadata] = {}
            for p in t["partitions"]:
                idx = p["partition_index"]
                parts[idx] = PartitionMetadata(
                    name,
                    idx,
                    p["leader_id"],
                    p["leader_epoch"],
                    list(p["replica_nodes"]),
                    list(p["isr_nodes"]),
                    list(p["offline_replicas"]),
                    p["error_code"],
                )
            if not parts and code:
                topics.pop(name, None)
                continue
            topics[name] = TopicMetadata(
                name, t.get("topic_id") or NIL_UUID, bool(t["is_internal"]), code, parts
            )
        return cls(
            brokers,
            topics,
            cluster_id=resp.get("cluster_id"),
            controller_id=resp.get("controller_id", -1),
            topic_errors=errors,
            refreshed_at=time.monotonic(),
        )

    # --- queries (kafka-python's ClusterMetadata names) ------------------------------------

    def brokers(self) -> set[BrokerMetadata]:
        return set(self._brokers.values())

    def broker_ids(self) -> list[int]:
        return list(self._brokers)

    def broker_metadata(self, node_id: int) -> BrokerMetadata | None:
        return self._brokers.get(node_id)

    @property
    def controller(self) -> BrokerMetadata | None:
        return self._brokers.get(self.controller_id)

    def topics(self, exclude_internal_topics: bool = True) -> set[str]:
        if exclude_internal_topics:
            return {n for n, t in self._topics.items() if not t.is_internal}
        return set(self._topics)

    def topic_metadata(self, topic: str) -> TopicMetadata | None:
        return self._topics.get(topic)

    def topic_id(self, topic: str) -> bytes | None:
        t = self._topics.get(topic)
        return t.topic_id if t is not None else None

    def partitions_for_topic(self, topic: str) -> frozenset[int] | None:
        """Every partition id of ``topic``, or None when the topic is unknown."""
        return self._partitions.get(topic)

    def available_partitions_for_topic(self, topic: str) -> frozenset[int] | None:
        """Partition ids of ``topic`` that currently have a leader, or None when unknown."""
        return self._available.get(topic)

    def partition_metadata(self, tp: TopicPartition) -> PartitionMetadata | None:
        t = self._topics.get(tp[0])
        return t.partitions.get(tp[1]) if t is not None else None

    def leader_for_partition(self, tp: TopicPartition) -> int | None:
        """The leader's node id, None when the partition is unknown, -1 when it has no leader."""
        t = self._topics.get(tp[0])
        if t is None:
            return None
        p = t.partitions.get(tp[1])
        return p.leader if p is not None else None

    def leader_epoch_for_partition(self, tp: TopicPartition) -> int | None:
        pm = self.partition_metadata(tp)
        return pm.leader_epoch if pm is not None else None

    def partitions_for_broker(self, node_id: int) -> set[TopicPartition]:
        return {
            TopicPartition(t.name, p)
            for t in self._topics.values()
            for p, m in t.partitions.items()
            if m.leader == node_id
        }

    def topic_error(self, topic: str) -> int:
        return self.topic_errors.get(topic, 0)

    def __repr__(self) -> str:
        return (
            f"ClusterMetadata(cluster_id={self.cluster_id!r}, brokers={len(self._brokers)}, "
            f"topics={len(self._topics)}, controller={self.controller_id})"
        )


class AsyncClient:
    """Connections, metadata and routing for one client instance (see module docstring)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.cluster = ClusterMetadata()
        self._loop: asyncio.AbstractEventLoop | None = None
        hosts = config.get("bootstrap_hosts")
        if hosts is None:
            from kafkakit.client.config import parse_bootstrap_servers

            hosts = parse_bootstrap_servers(config.get("bootstrap_servers", "localhost:9092"))
        self._bootstrap: dict[int, tuple[str, int]] = {-(i + 1): hp for i, hp in enumerate(hosts)}
        self._conns: dict[tuple[int, str], BrokerConnection] = {}
        self._connecting: dict[tuple[int, str], asyncio.Task[BrokerConnection]] = {}
        self._backoff: dict[int, ReconnectBackoff] = {}
        self._topics: set[str] = set()
        self._all_topics = False
        self._update_event: asyncio.Event | None = None
        self._update_waiters: list[asyncio.Future[ClusterMetadata]] = []
        self._metadata_task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[ClusterMetadata], None]] = []
        self._bootstrapped = False
        self._closed = False
        self.retry_backoff = config.get("retry_backoff_ms", 100) / 1000.0
        self.max_age = config.get("metadata_max_age_ms", 300000) / 1000.0
        self.request_timeout_ms = float(config.get("request_timeout_ms", 30000))

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _start(self) -> None:
        if self._metadata_task is None and not self._closed:
            self._update_event = asyncio.Event()
            self._metadata_task = self.loop.create_task(self._metadata_loop())

    async def bootstrap(self, timeout: float | None = None) -> ClusterMetadata:
        """Fetch metadata from a bootstrap server, retrying them in turn until ``timeout`` seconds pass.

        Raises NoBrokersAvailable when none answered. Starts the background metadata refresh.
        """
        self._loop = asyncio.get_running_loop()
        if timeout is None:
            timeout = self.config.get("bootstrap_timeout_ms", 30000) / 1000.0
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while True:
            for node_id in self._bootstrap:
                remaining = deadline - time.monotonic()
                try:
                    await self._refresh_from(node_id, max(remaining, 0.05))
                except _AUTH_ERRORS:
                    raise  # wrong credentials or mechanism: retrying cannot help (as the Java client)
                except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                    last = exc
                    continue
                self._start()
                return self.cluster
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(self.retry_backoff * 2, remaining, 1.0))
        servers = ", ".join(f"{h}:{p}" for h, p in self._bootstrap.values())
        raise NoBrokersAvailable(
            f"no broker among bootstrap_servers ({servers}) answered within {timeout:.3g} s; "
            f"last error: {last}. Check the addresses and that the brokers are up."
        )

    def bootstrap_connected(self) -> bool:
        """True once any broker has answered a Metadata request."""
        return self._bootstrapped

    async def close(self) -> None:
        """Stop the refresh task and close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        tasks: list[asyncio.Task[Any]] = list(self._connecting.values())
        if self._metadata_task is not None:
            tasks.append(self._metadata_task)
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except BaseException:  # noqa: BLE001,S110 - cancelled tasks unwind here
                pass
        for w in self._update_waiters:
            if not w.done():
                w.set_exception(KafkaConnectionError("client closed"))
        self._update_waiters.clear()
        for conn in list(self._conns.values()):
            conn.close(KafkaConnectionError(f"{conn} closed by the client"))
        self._conns.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    # --- topics of interest and metadata ---------------------------------------------------

    def add_topics(self, topics: Iterable[str]) -> bool:
        """Add topics to the metadata requests; True when any was new (then an update is requested)."""
        new = set(topics) - self._topics
        if new:
            self._topics |= new
            if self._loop is not None and self._metadata_task is not None:
                self.request_update()
        return bool(new)

    def set_topics(self, topics: Iterable[str]) -> None:
        self._topics = set(topics)
        if self._loop is not None and self._metadata_task is not None:
            self.request_update()

    def set_all_topics(self, value: bool) -> None:
        self._all_topics = value

    @property
    def topics_of_interest(self) -> frozenset[str]:
        return frozenset(self._topics)

    def add_metadata_listener(self, fn: Callable[[ClusterMetadata], None]) -> None:
        """Call ``fn(cluster)`` on the loop after every metadata update."""
        self._listeners.append(fn)

    def remove_metadata_listener(self, fn: Callable[[ClusterMetadata], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def request_update(self) -> asyncio.Future[ClusterMetadata]:
        """Ask for a metadata refresh soon; the future resolves with the next snapshot (or its error).

        Concurrent calls share one Metadata request.
        """
        fut: asyncio.Future[ClusterMetadata] = self.loop.create_future()
        fut.add_done_callback(_retrieve)  # fire-and-forget callers must not trigger "never retrieved"
        if self._closed:
            fut.set_exception(KafkaConnectionError("client closed"))
            return fut
        self._start()
        self._update_waiters.append(fut)
        assert self._update_event is not None
        self._update_event.set()
        return fut

    async def refresh_metadata(self, timeout: float | None = None) -> ClusterMetadata:
        """Refresh now (coalesced with concurrent callers) and return the new snapshot."""
        fut = self.request_update()
        if timeout is None:
            timeout = self.request_timeout_ms / 1000.0
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            raise KafkaTimeoutError(f"metadata refresh did not complete within {timeout:.3g} s") from None

    async def wait_for_topic(self, topic: str, timeout: float) -> frozenset[int]:
        """Wait until ``topic`` has partitions in the metadata (auto-creating it when allowed).

        Returns its partition ids; KafkaTimeoutError naming the topic after ``timeout`` seconds; a
        non-retriable topic error (invalid name, not authorized) is raised at once.
        """
        self.add_topics((topic,))
        deadline = time.monotonic() + timeout
        first = True
        while True:
            parts = self.cluster.partitions_for_topic(topic)
            if parts:
                return parts
            code = self.cluster.topic_error(topic)
            if code and not first:
                err = for_code(code)
                if not err.retriable:
                    raise err(f"metadata for topic {topic!r}: {err.description}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                detail = f" (last error {for_code(code).__name__})" if code else ""
                raise KafkaTimeoutError(
                    f"topic {topic!r} not found in metadata after {timeout:.3g} s{detail}; "
                    "create it or enable auto-creation"
                )
            if not first:
                await asyncio.sleep(min(self.retry_backoff, remaining))
                remaining = deadline - time.monotonic()
            first = False
            try:
                await asyncio.wait_for(asyncio.shield(self.request_update()), max(remaining, 0.001))
            except asyncio.TimeoutError:
                continue
            except KafkaError as exc:
                log.debug("metadata refresh for %r failed: %s", topic, exc)

    async def _metadata_loop(self) -> None:
        assert self._update_event is not None
        failures = 0
        while not self._closed:
            idle_check = self.config.get("connections_max_idle_ms", 540000) / 1000.0
            wait = min(max(0.0, self.cluster.refreshed_at + self.max_age - time.monotonic()), idle_check)
            if not self._update_waiters:
                try:
                    await asyncio.wait_for(self._update_event.wait(), wait)
                except asyncio.TimeoutError:
                    pass
            self._close_idle(idle_check)
            if (
                not self._update_event.is_set()
                and time.monotonic() < self.cluster.refreshed_at + self.max_age
            ):
                continue
            self._update_event.clear()
            waiters, self._update_waiters = self._update_waiters, []
            try:
                cluster = await self._refresh_any()
            except asyncio.CancelledError:
                self._update_waiters = waiters + self._update_waiters
                raise
            except Exception as exc:  # noqa: BLE001 - reported to waiters, retried later
                failures += 1
                for w in waiters:
                    if not w.done():
                        w.set_exception(
                            exc if isinstance(exc, KafkaError) else KafkaConnectionError(str(exc))
                        )
                delay = min(self.retry_backoff * (2 ** min(failures, 6)), 5.0)
                log.debug("metadata refresh failed (%s); next attempt in %.2f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            for w in waiters:
                if not w.done():
                    w.set_result(cluster)

    def _close_idle(self, idle: float) -> None:
        now = time.monotonic()
        for key, conn in list(self._conns.items()):
            if conn.in_flight == 0 and now - conn.last_activity > idle:
                log.debug("closing idle %s", conn)
                conn.close(KafkaConnectionError(f"{conn} closed after {idle:.0f} s idle"))
                self._conns.pop(key, None)

    async def _refresh_any(self) -> ClusterMetadata:
        """One Metadata round trip through the best reachable node, falling back to the bootstrap list."""
        candidates = self._candidate_nodes()
        last: BaseException | None = None
        for node_id in candidates:
            try:
                return await self._refresh_from(node_id, self.request_timeout_ms / 1000.0)
            except RebootstrapRequiredError:
                self.cluster = ClusterMetadata()
                last = RebootstrapRequiredError("broker asked for a re-bootstrap")
            except (KafkaError, OSError, asyncio.TimeoutError) as exc:
                last = exc
        raise NoBrokersAvailable(f"no broker answered a Metadata request; last error: {last}")

    def _candidate_nodes(self) -> list[int]:
        first = self.least_loaded_node()
        nodes = [n for n in self.cluster.broker_ids() if n != first]
        random.shuffle(nodes)
        out = ([first] if first is not None else []) + nodes
        out += [n for n in self._bootstrap if n not in out]
        return out

    async def _refresh_from(self, node_id: int, timeout: float) -> ClusterMetadata:
        conn = await self.get_connection(node_id, timeout=timeout)
        version = conn.version("Metadata")
        topics: list[dict[str, Any]] | None
        if self._all_topics:
            topics = [] if version == 0 else None
        else:
            topics = [{"name": t, "topic_id": NIL_UUID} for t in sorted(self._topics)]
        body = {
            "topics": topics,
            "allow_auto_topic_creation": bool(self.config.get("allow_auto_create_topics", False)),
            "include_cluster_authorized_operations": False,
            "include_topic_authorized_operations": False,
        }
        resp = await conn.request("Metadata", body, version=version, timeout_ms=timeout * 1000.0)
        if resp.get("error_code"):
            raise for_code(resp["error_code"])("Metadata request failed")
        self._apply_metadata(resp, all_topics=self._all_topics or (version == 0 and not topics))
        return self.cluster

    def _apply_metadata(self, resp: Mapping[str, Any], *, all_topics: bool) -> None:
        old = self.cluster
        new = ClusterMetadata.from_response(resp, old, all_topics=all_topics)
        # move bootstrap connections under the broker id they turned out to be
        for b in new.brokers():
            for boot_id, (host, port) in self._bootstrap.items():
                conn = self._conns.get((boot_id, ""))
                if (
                    conn is not None
                    and (host, port) == (b.host, b.port)
                    and (b.nodeId, "") not in self._conns
                ):
                    del self._conns[(boot_id, "")]
                    conn.node_id = b.nodeId
                    self._conns[(b.nodeId, "")] = conn
        # drop connections to brokers that moved or left
        for (node_id, channel), conn in list(self._conns.items()):
            if node_id < 0:
                continue
            bm = new.broker_metadata(node_id)
            if bm is None or (bm.host, bm.port) != (conn.host, conn.port):
                if conn.in_flight == 0:
                    conn.close(KafkaConnectionError(f"{conn} closed: broker {node_id} moved or left"))
                    self._conns.pop((node_id, channel), None)
        self.cluster = new
        self._bootstrapped = True
        for fn in list(self._listeners):
            try:
                fn(new)
            except Exception:  # pragma: no cover - a listener must not break the refresh
                log.exception("metadata listener %r failed", fn)

    # --- connections -----------------------------------------------------------------------

    def _address(self, node_id: int) -> tuple[str, int] | None:
        if node_id < 0:
            return self._bootstrap.get(node_id)
        b = self.cluster.broker_metadata(node_id)
        return (b.host, b.port) if b is not None else None

    def connection(self, node_id: int, channel: str = "") -> BrokerConnection | None:
        """The open connection to ``node_id`` if there is one (no connecting)."""
        conn = self._conns.get((node_id, channel))
        if conn is not None and conn.connected and not conn.closed:
            return conn
        return None

    def is_ready(self, node_id: int, channel: str = "") -> bool:
        conn = self.connection(node_id, channel)
        return conn is not None and conn.can_send()

    def connect_delay(self, node_id: int) -> float:
        """Seconds before a (re)connect to ``node_id`` is allowed (reconnect backoff)."""
        b = self._backoff.get(node_id)
        return b.delay(time.monotonic()) if b is not None else 0.0

    async def get_connection(
        self, node_id: int, channel: str = "", *, timeout: float | None = None
    ) -> BrokerConnection:
        """An open, handshaken connection to ``node_id``, connecting (after any backoff) if needed."""
        key = (node_id, channel)
        conn = self._conns.get(key)
        if conn is not None and conn.connected and not conn.closed:
            return conn
        if self._closed:
            raise KafkaConnectionError("client closed")
        task = self._connecting.get(key)
        if task is None:
            task = self.loop.create_task(self._connect(node_id, channel, timeout))
            self._connecting[key] = task
            task.add_done_callback(lambda t, k=key: self._connecting.pop(k, None))  # type: ignore[misc]
        if timeout is None:
            return await asyncio.shield(task)
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout)
        except asyncio.TimeoutError:
            raise KafkaConnectionError(
                f"could not connect to node {node_id} within {timeout:.3g} s"
            ) from None

    async def _connect(self, node_id: int, channel: str, timeout: float | None) -> BrokerConnection:
        addr = self._address(node_id)
        if addr is None:
            raise KafkaConnectionError(f"node {node_id} is not in the cluster metadata")
        backoff = self._backoff.get(node_id)
        if backoff is None:
            backoff = self._backoff[node_id] = ReconnectBackoff(
                self.config.get("reconnect_backoff_ms", 50),
                self.config.get("reconnect_backoff_max_ms", 30000),
            )
        delay = backoff.delay(time.monotonic())
        if delay > 0:
            await asyncio.sleep(delay)
        conn = BrokerConnection(addr[0], addr[1], node_id=node_id, config=self.config, loop=self.loop)
        connect_timeout = min(self.request_timeout_ms / 1000.0, _CONNECT_TIMEOUT_CAP)
        if timeout is not None:
            connect_timeout = max(min(connect_timeout, timeout), 0.05)
        try:
            await conn.connect(connect_timeout)
        except KafkaError as exc:
            d = backoff.failed(time.monotonic())
            log.debug("connect to node %s (%s:%s) failed: %s; backoff %.3f s", node_id, *addr, exc, d)
            if node_id >= 0 and not self._closed and self._metadata_task is not None:
                self.request_update()
            raise
        backoff.succeeded()
        key = (node_id, channel)
        self._conns[key] = conn
        conn.add_close_listener(lambda c, _e, k=key: self._on_conn_closed(k, c))  # type: ignore[misc]
        return conn

    def _on_conn_closed(self, key: tuple[int, str], conn: BrokerConnection) -> None:
        for k, c in list(self._conns.items()):
            if c is conn:
                del self._conns[k]
        if self._closed:
            return
        b = self._backoff.get(conn.node_id)
        if b is not None and b.failures == 0:
            b.next_attempt = time.monotonic() + self.config.get("reconnect_backoff_ms", 50) / 1000.0

    def least_loaded_node(self) -> int | None:
        """The known node with the fewest in-flight requests, preferring connected ones and those
        not in reconnect backoff; bootstrap ids (< 0) only while no broker is known."""
        nodes = self.cluster.broker_ids() or list(self._bootstrap)
        random.shuffle(nodes)
        best: int | None = None
        best_score = float("inf")
        now = time.monotonic()
        for n in nodes:
            conn = self._conns.get((n, ""))
            score: float
            if conn is not None and conn.connected and not conn.closed:
                score = conn.in_flight
            else:
                b = self._backoff.get(n)
                score = 1000 if b is None or b.delay(now) == 0 else 1_000_000 + b.delay(now)
            if score < best_score:
                best, best_score = n, score
        return best

    # --- requests --------------------------------------------------------------------------

    async def send(
        self,
        node_id: int,
        api: str,
        body: dict[str, Any],
        *,
        version: int | None = None,
        timeout_ms: float | None = None,
        channel: str = "",
    ) -> Any:
        """Send one request to ``node_id`` (connecting if needed) and return the decoded response.

        Connection problems raise KafkaConnectionError; error codes inside the response are returned.
        """
        if api not in API_BY_NAME:
            raise KeyError(f"unknown Kafka API {api!r}")
        t = (timeout_ms if timeout_ms is not None else self.request_timeout_ms) / 1000.0
        conn = await self.get_connection(node_id, channel, timeout=t)
        return await conn.request(api, body, version=version, timeout_ms=timeout_ms)

    async def send_to_any(
        self, api: str, body: dict[str, Any], *, version: int | None = None, timeout_ms: float | None = None
    ) -> Any:
        """Send to the least loaded node, failing over to others on connection errors."""
        last: BaseException | None = None
        tried: set[int] = set()
        for node_id in self._candidate_nodes():
            if node_id in tried:
                continue
            tried.add(node_id)
            try:
                return await self.send(node_id, api, body, version=version, timeout_ms=timeout_ms)
            except KafkaConnectionError as exc:
                last = exc
        raise NoBrokersAvailable(f"no broker could take the {api} request; last error: {last}")

    def api_version(self, api: str, node_id: int | None = None) -> int | None:
        """The negotiated version of ``api`` on an open connection (to ``node_id`` or any)."""
        conns = [c for (n, _ch), c in self._conns.items() if node_id is None or n == node_id]
        for c in conns:
            if c.connected and not c.closed and c.api_versions:
                return c.version(api) if c.supports(api) else None
        return None


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()
