"""AIOKafkaAdminClient: the asyncio admin client, running ``AdminCore`` on the caller's event loop.

How it works: the constructor validates the keywords with the admin table shared with
``KafkaAdminClient`` and builds an ``AdminCore``; ``await start()`` (or ``async with``) binds it to
the running loop and bootstraps (NoBrokersAvailable when no broker answers within
bootstrap_timeout_ms). Every method is the core coroutine of the same name, awaited on the caller's
loop, with kafka-python 3.x's arguments and result shapes (and the 2.x alias names), exactly as
``KafkaAdminClient`` exposes them synchronously.

What it must never do: start a thread, block the loop, or contain admin logic of its own (argument
checks, routing, retries and result shapes live in the core, shared with KafkaAdminClient).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from kafkakit.client.admin.core import AdminCore
from kafkakit.client.admin.types import (
    ConfigFilterType,
    ConfigResource,
    GroupInformation,
    IsolationLevel,
)
from kafkakit.client.config import resolve_config
from kafkakit.errors import BrokerResponseError, IllegalStateError
from kafkakit.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

__all__ = ["AIOKafkaAdminClient"]


class AIOKafkaAdminClient:
    """Administer a Kafka cluster from asyncio code (same options and methods as KafkaAdminClient)."""

    def __init__(self, **configs: Any) -> None:
        self.config = resolve_config("admin", configs)
        self._core = AdminCore(self.config)
        self._started = False
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop and bootstrap. Idempotent."""
        if self._closed:
            raise IllegalStateError(
                "AIOKafkaAdminClient is closed: create a new client instead of restarting"
            )
        if self._started:
            return
        try:
            await self._core.start()
        except BaseException:
            self._closed = True
            await self._core.close()
            raise
        self._started = True

    async def close(self) -> None:
        """Close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._core.close()

    async def __aenter__(self) -> AIOKafkaAdminClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _check(self) -> AdminCore:
        if self._closed:
            raise IllegalStateError("AIOKafkaAdminClient is closed")
        if not self._started:
            raise IllegalStateError("AIOKafkaAdminClient is not started: await admin.start() first")
        return self._core

    # --- topics ----------------------------------------------------------------------------------

    async def create_topics(
        self,
        new_topics: Any,
        timeout_ms: int | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
        wait_for_metadata: bool = False,
    ) -> dict[str, Any]:
        """Create topics (names, NewTopic objects, or {name: {num_partitions, replication_factor,
        assignments, configs}}); returns {'topics': [per-topic result]}."""
        return await self._check().create_topics(
            new_topics, timeout_ms, validate_only, raise_errors, wait_for_metadata
        )

    async def wait_for_topics(self, topic_names: Iterable[str], timeout_ms: int = 10000) -> None:
        """Wait until each topic is in the metadata with a leader for every partition."""
        return await self._check().wait_for_topics(topic_names, timeout_ms)

    async def delete_topics(
        self, topics: Any, timeout_ms: int | None = None, raise_errors: bool = True
    ) -> dict[str, Any]:
        """Delete topics by name (or uuid.UUID id); returns {'topics': [per-topic result]}."""
        return await self._check().delete_topics(topics, timeout_ms, raise_errors)

    async def list_topics(self) -> list[str]:
        """Names of every topic in the cluster."""
        return await self._check().list_topics()

    async def describe_topics(self, topics: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Metadata of the given topics (None: all), with partitions, leaders, replicas and ISR."""
        return await self._check().describe_topics(topics)

    async def create_partitions(
        self,
        topic_partitions: Mapping[str, Any],
        timeout_ms: int | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
    ) -> dict[str, Any]:
        """Grow topics to the given total partition counts (int, NewPartitions or {'count', 'assignments'})."""
        return await self._check().create_partitions(
            topic_partitions, timeout_ms, validate_only, raise_errors
        )

    # --- cluster ---------------------------------------------------------------------------------

    async def describe_cluster(self) -> dict[str, Any]:
        """Brokers, cluster id and controller id."""
        return await self._check().describe_cluster()

    async def api_versions(self) -> dict[Any, tuple[int, int]]:
        """{ApiKey: (min_version, max_version)} the broker supports."""
        return await self._check().api_versions()

    # --- configs ---------------------------------------------------------------------------------

    async def describe_configs(
        self,
        config_resources: Iterable[ConfigResource],
        include_synonyms: bool = False,
        config_filter: ConfigFilterType | str = "modified",
    ) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
        """{resource type: {resource name: {config key: {value, config_source, ...}}}}."""
        return await self._check().describe_configs(config_resources, include_synonyms, config_filter)

    async def alter_configs(
        self,
        config_resources: Iterable[ConfigResource],
        validate_only: bool = False,
        raise_on_unknown: bool = True,
        incremental: bool | None = None,
    ) -> dict[str, dict[str, str]]:
        """Set configs ({key: value} or {key: (AlterConfigOp, value)} per resource)."""
        return await self._check().alter_configs(
            config_resources, validate_only, raise_on_unknown, incremental
        )

    # --- groups ----------------------------------------------------------------------------------

    async def list_groups(
        self,
        broker_ids: Iterable[int] | None = None,
        states_filter: Iterable[str] | None = None,
        types_filter: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every group: [{'group_id', 'protocol_type', 'group_state', 'group_type'}]."""
        return await self._check().list_groups(broker_ids, states_filter, types_filter)

    async def describe_groups(
        self,
        group_ids: Iterable[str],
        group_coordinator_id: int | None = None,
        include_authorized_operations: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """{group_id: {group_state, protocol_type, protocol_data, members, authorized_operations, error}}."""
        return await self._check().describe_groups(
            group_ids, group_coordinator_id, include_authorized_operations
        )

    async def delete_groups(
        self, group_ids: Iterable[str], group_coordinator_id: int | None = None
    ) -> dict[str, str]:
        """Delete empty groups: {group_id: 'OK' or error class name}."""
        return await self._check().delete_groups(group_ids, group_coordinator_id)

    async def list_group_offsets(
        self, group_specs: Any
    ) -> dict[str, dict[TopicPartition, OffsetAndMetadata]]:
        """Committed offsets of groups: {group_id: {TopicPartition: OffsetAndMetadata}}."""
        return await self._check().list_group_offsets(group_specs)

    async def alter_group_offsets(
        self,
        group_id: str,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
        group_coordinator_id: int | None = None,
    ) -> dict[TopicPartition, type[BrokerResponseError]]:
        """Commit offsets for a group without live members: {TopicPartition: error class}."""
        return await self._check().alter_group_offsets(group_id, offsets, group_coordinator_id)

    async def reset_group_offsets(
        self,
        group_id: str,
        offset_specs: Mapping[TopicPartition, Any],
        group_coordinator_id: int | None = None,
    ) -> dict[TopicPartition, dict[str, Any]]:
        """Reset to OffsetSpec / OffsetTimestamp / offset: {TopicPartition: {'error', 'offset'}}."""
        return await self._check().reset_group_offsets(group_id, offset_specs, group_coordinator_id)

    async def delete_group_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition], group_coordinator_id: int | None = None
    ) -> dict[TopicPartition, type[BrokerResponseError]]:
        """Delete committed offsets: {TopicPartition: error class}."""
        return await self._check().delete_group_offsets(group_id, partitions, group_coordinator_id)

    # kafka-python 2.x names, 2.x shapes

    async def list_consumer_groups(self, broker_ids: Iterable[int] | None = None) -> list[tuple[str, str]]:
        """kafka-python 2.x: [(group_id, protocol_type)]."""
        return await self._check().list_consumer_groups(broker_ids)

    async def describe_consumer_groups(
        self,
        group_ids: Iterable[str],
        group_coordinator_id: int | None = None,
        include_authorized_operations: bool = False,
    ) -> list[GroupInformation]:
        """kafka-python 2.x: [GroupInformation]."""
        return await self._check().describe_consumer_groups(
            group_ids, group_coordinator_id, include_authorized_operations
        )

    async def delete_consumer_groups(
        self, group_ids: Iterable[str], group_coordinator_id: int | None = None
    ) -> list[tuple[str, type[BrokerResponseError]]]:
        """kafka-python 2.x: [(group_id, error class)]."""
        return await self._check().delete_consumer_groups(group_ids, group_coordinator_id)

    async def list_consumer_group_offsets(
        self,
        group_id: str,
        group_coordinator_id: int | None = None,
        partitions: Iterable[TopicPartition] | None = None,
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """kafka-python 2.x: {TopicPartition: OffsetAndMetadata} of one group."""
        return await self._check().list_consumer_group_offsets(group_id, group_coordinator_id, partitions)

    # --- partitions and records ------------------------------------------------------------------

    async def list_partition_offsets(
        self,
        topic_partition_specs: Mapping[TopicPartition, Any],
        isolation_level: IsolationLevel | int | str = IsolationLevel.READ_UNCOMMITTED,
        timeout_ms: float | None = None,
    ) -> dict[TopicPartition, OffsetAndTimestamp]:
        """Resolve OffsetSpec (EARLIEST, LATEST, ...) or timestamps: {TopicPartition: OffsetAndTimestamp}."""
        return await self._check().list_partition_offsets(topic_partition_specs, isolation_level, timeout_ms)

    async def delete_records(
        self,
        records_to_delete: Mapping[TopicPartition, int],
        timeout_ms: int | None = None,
        partition_leader_id: int | None = None,
    ) -> dict[TopicPartition, dict[str, Any]]:
        """Delete records below the given offsets: {TopicPartition: {'low_watermark', ...}}."""
        return await self._check().delete_records(records_to_delete, timeout_ms, partition_leader_id)
