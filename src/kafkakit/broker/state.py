"""The embedded broker's shared state and configuration: ``BrokerConfig`` and ``BrokerState``.

How it works: ``BrokerConfig`` is a plain dataclass of every broker-level setting (listener,
data dir, defaults for new topics, limits). ``BrokerState`` is the one object every request
handler receives: ``async def handler(state, header, version, body) -> dict | None``. It holds the
node identity (``node_id``, ``host``, ``port``, ``cluster_id``), the ``data_dir``, the ``config``,
the ``TopicManager`` (``state.topics``), the group coordinator (``state.groups``), the transaction
coordinator (``state.txn``), the producer-id allocator and, with ``--fsync``, the group
committer. Handlers return the response body dict; the server encodes it (``None`` means "send
no response", used by Produce with acks=0).

What it must never do: perform I/O on construction beyond reading/writing the cluster id file,
or change the meaning of an attribute other modules rely on (handlers/groups.py is written
against this interface).
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kafkakit.protocol.frame import RequestHeader

if TYPE_CHECKING:
    from kafkakit.broker.topics import TopicManager

__all__ = ["BrokerConfig", "BrokerState", "Handler", "now_ms", "load_cluster_id"]

#: A request handler: returns the response body, or None for "no response" (Produce acks=0).
Handler = Callable[["BrokerState", RequestHeader, int, dict[str, Any]], Awaitable["dict[str, Any] | None"]]


def now_ms() -> int:
    """Wall-clock milliseconds, as Kafka timestamps use."""
    return time.time_ns() // 1_000_000


@dataclass
class BrokerConfig:
    """Broker-level settings; names follow Kafka's ``server.properties`` keys with ``_`` for ``.``."""

    data_dir: str | os.PathLike[str] = "./kafkakit-data"
    host: str = "127.0.0.1"
    port: int = 9092
    #: host advertised in Metadata/FindCoordinator (defaults to ``host``)
    advertised_host: str | None = None
    node_id: int = 1
    #: fsync appended data (grouped) before acknowledging acks>=1 produce requests
    fsync: bool = False
    num_partitions: int = 1
    default_replication_factor: int = 1
    auto_create_topics_enable: bool = True
    delete_topic_enable: bool = True
    socket_request_max_bytes: int = 104_857_600
    connections_max_idle_ms: int = 600_000
    # defaults for topics (a topic's own configs override them)
    log_retention_ms: int = 604_800_000
    log_retention_bytes: int = -1
    log_segment_bytes: int = 1_073_741_824
    log_roll_ms: int = 604_800_000
    log_cleanup_policy: str = "delete"
    message_max_bytes: int = 1_048_588
    log_message_timestamp_type: str = "CreateTime"
    min_insync_replicas: int = 1
    log_index_interval_bytes: int = 4096
    log_segment_delete_delay_ms: int = 60_000
    #: how often retention and segment rolling are checked
    log_retention_check_interval_ms: int = 300_000
    # group coordinator settings (used by broker/groups.py)
    group_min_session_timeout_ms: int = 6_000
    group_max_session_timeout_ms: int = 1_800_000
    # Kafka's default is 3000 ms; short here so tests start fast, long enough that members
    # started together join one generation (kafka-python 3 can stall on back-to-back rebalances)
    group_initial_rebalance_delay_ms: int = 100
    offsets_retention_minutes: int = 10_080
    #: idempotent producer state is forgotten after this long without writes
    producer_id_expiration_ms: int = 86_400_000
    #: longest a Fetch may be parked (the client's max_wait_ms is capped to this)
    fetch_max_wait_cap_ms: int = 60_000
    # transaction coordinator settings (used by broker/txn.py)
    #: the longest transaction.timeout.ms a producer may ask for
    transaction_max_timeout_ms: int = 900_000
    #: how often ongoing transactions are checked for expiry (and unfinished markers retried)
    transaction_abort_timed_out_transaction_cleanup_interval_ms: int = 10_000
    #: a transactional id idle (no transaction) for this long is forgotten
    transactional_id_expiration_ms: int = 604_800_000

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"port must be an int in 0..65535, got {self.port!r}")
        if self.num_partitions < 1:
            raise ValueError(f"num_partitions must be >= 1, got {self.num_partitions!r}")
        if self.socket_request_max_bytes < 1024:
            raise ValueError(
                f"socket_request_max_bytes must be >= 1024, got {self.socket_request_max_bytes!r}"
            )
        if self.node_id < 0:
            raise ValueError(f"node_id must be >= 0, got {self.node_id!r}")
        for name in (
            "transaction_max_timeout_ms",
            "transaction_abort_timed_out_transaction_cleanup_interval_ms",
            "transactional_id_expiration_ms",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int (milliseconds), got {value!r}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def topic_defaults(self) -> dict[str, str]:
        """Broker defaults of the topic configs kafkakit supports, as Kafka's topic config names."""
        return {
            "cleanup.policy": self.log_cleanup_policy,
            "retention.ms": str(self.log_retention_ms),
            "retention.bytes": str(self.log_retention_bytes),
            "segment.bytes": str(self.log_segment_bytes),
            "segment.ms": str(self.log_roll_ms),
            "max.message.bytes": str(self.message_max_bytes),
            "message.timestamp.type": self.log_message_timestamp_type,
            "min.insync.replicas": str(self.min_insync_replicas),
            "index.interval.bytes": str(self.log_index_interval_bytes),
            "file.delete.delay.ms": str(self.log_segment_delete_delay_ms),
        }

    def broker_configs(self) -> dict[str, str]:
        """The read-only broker configs DescribeConfigs shows for a BROKER resource."""
        return {
            "node.id": str(self.node_id),
            "broker.id": str(self.node_id),
            "log.dirs": str(self.data_dir),
            "num.partitions": str(self.num_partitions),
            "default.replication.factor": str(self.default_replication_factor),
            "auto.create.topics.enable": str(self.auto_create_topics_enable).lower(),
            "delete.topic.enable": str(self.delete_topic_enable).lower(),
            "socket.request.max.bytes": str(self.socket_request_max_bytes),
            "connections.max.idle.ms": str(self.connections_max_idle_ms),
            "log.retention.ms": str(self.log_retention_ms),
            "log.retention.bytes": str(self.log_retention_bytes),
            "log.segment.bytes": str(self.log_segment_bytes),
            "log.roll.ms": str(self.log_roll_ms),
            "log.cleanup.policy": self.log_cleanup_policy,
            "message.max.bytes": str(self.message_max_bytes),
            "log.message.timestamp.type": self.log_message_timestamp_type,
            "min.insync.replicas": str(self.min_insync_replicas),
            "log.flush.fsync": str(self.fsync).lower(),
            "group.min.session.timeout.ms": str(self.group_min_session_timeout_ms),
            "group.max.session.timeout.ms": str(self.group_max_session_timeout_ms),
            "group.initial.rebalance.delay.ms": str(self.group_initial_rebalance_delay_ms),
            "offsets.retention.minutes": str(self.offsets_retention_minutes),
            "transaction.max.timeout.ms": str(self.transaction_max_timeout_ms),
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": str(
                self.transaction_abort_timed_out_transaction_cleanup_interval_ms
            ),
            "transactional.id.expiration.ms": str(self.transactional_id_expiration_ms),
        }


def load_cluster_id(data_dir: Path) -> str:
    """The cluster id stored in ``data_dir/meta.properties``, created (22 url-safe base64 chars,
    like Kafka's) the first time."""
    path = data_dir / "meta.properties"
    if path.exists():
        for line in path.read_text("utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "cluster.id" and value.strip():
                return value.strip()
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"version=1\ncluster.id={cluster_id}\n", "utf-8")
    os.replace(tmp, path)
    return cluster_id


@dataclass
class BrokerState:
    """Everything a request handler may use. Built by ``kafkakit.broker.server.BrokerServer``."""

    config: BrokerConfig
    data_dir: Path
    cluster_id: str
    topics: TopicManager
    #: the group coordinator (``kafkakit.broker.groups.GroupCoordinator``), None until started
    groups: Any = None
    #: ``kafkakit.broker.producer_state.ProducerIdManager`` (allocates producer ids)
    producer_ids: Any = None
    #: the transaction coordinator (``kafkakit.broker.txn.TransactionCoordinator``), None until started
    txn: Any = None
    #: ``kafkakit.broker.durability.GroupCommitter`` when fsync is on, else None
    committer: Any = None
    #: the port actually bound (``config.port`` may be 0)
    port: int = 0
    #: set by the server at startup: the APIs served, ``{api_key: (min_version, max_version)}``
    api_versions: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: incremental fetch sessions (``kafkakit.broker.handlers.fetch.FetchSessions``), made on first use
    fetch_sessions: Any = None

    @property
    def node_id(self) -> int:
        return self.config.node_id

    @property
    def host(self) -> str:
        """The host clients are told to connect to."""
        return self.config.advertised_host or self.config.host
