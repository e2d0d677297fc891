"""KafkaAdminClient: kafka-python's synchronous admin API over the asyncio AdminCore.

How it works: the constructor validates the configuration (unknown keys and bad values raise
here), starts one background event-loop thread (``LoopThread``) and bootstraps the core on it
(NoBrokersAvailable when no broker answers within bootstrap_timeout_ms). Every method runs the
core coroutine of the same name on that loop and waits for its result; the core bounds each
operation by its timeout. kafka-python 2.x names (list_consumer_groups, describe_consumer_groups,
delete_consumer_groups, list_consumer_group_offsets) are kept with their 2.x result shapes.

What it must never do: contain admin logic of its own (the core has it, shared with the asyncio
API), or leave the loop thread running after close().
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from kafkakit.client.admin.core import AdminCore
from kafkakit.client.admin.types import (
    ConfigFilterType,
    ConfigResource,
    GroupInformation,
    IsolationLevel,
)
from kafkakit.client.config import resolve_config
from kafkakit.client.loop import LoopThread
from kafkakit.errors import BrokerResponseError, IllegalStateError
from kafkakit.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

log = logging.getLogger(__name__)

T = TypeVar("T")

__all__ = ["KafkaAdminClient"]


class KafkaAdminClient:
    """Administer a Kafka cluster: topics, partitions, configs, consumer groups and records."""

    def __init__(self, **configs: Any) -> None:
        self.config = resolve_config("admin", configs)
        self._closed = False
        self._core = AdminCore(self.config)
        self._loop = LoopThread(f"kafkakit-admin-{self.config['client_id']}").start()
        try:
            self._loop.run(self._core.start())
        except BaseException:
            self._closed = True
            try:
                self._loop.run(self._core.close(), timeout=5.0)
            finally:
                self._loop.stop()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise IllegalStateError("KafkaAdminClient is closed")
        return self._loop.run(coro)

    # --- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection and stop the background thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.run(self._core.close(), timeout=10.0)
        finally:
            self._loop.stop()

    def __enter__(self) -> KafkaAdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    # --- topics ----------------------------------------------------------------------------------

    def create_topics(
        self,
        new_topics: Any,
        timeout_ms: int | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
        wait_for_metadata: bool = False,
    ) -> dict[str, Any]:
        """Create topics (names, NewTopic objects, or {name: {num_partitions, replication_factor,
        assignments, configs}}); returns {'topics': [per-topic result]}."""
        return self._run(
            self._core.create_topics(new_topics, timeout_ms, validate_only, raise_errors, wait_for_metadata)
        )

    def wait_for_topics(self, topic_names: Iterable[str], timeout_ms: int = 10000) -> None:
        """Block until each topic is in the metadata with a leader for every partition."""
        return self._run(self._core.wait_for_topics(topic_names, timeout_ms))

    def delete_topics(
        self, topics: Any, timeout_ms: int | None = None, raise_errors: bool = True
    ) -> dict[str, Any]:
        """Delete topics by name (or uuid.UUID id); returns {'topics': [per-topic result]}."""
        return self._run(self._core.delete_topics(topics, timeout_ms, raise_errors))

    def list_topics(self) -> list[str]:
        """Names of every topic in the cluster."""
        return self._run(self._core.list_topics())

    def describe_topics(self, topics: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Metadata of the given topics (None: all), with partitions, leaders, replicas and ISR."""
        return self._run(self._core.describe_topics(topics))

    def create_partitions(
        self,
        topic_partitions: Mapping[str, Any],
        timeout_ms: int | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
    ) -> dict[str, Any]:
        """Grow topics to the given total partition counts (int, NewPartitions or {'count', 'assignments'})."""
        return self._run(
            self._core.create_partitions(topic_partitions, timeout_ms, validate_only, raise_errors)
        )

    # --- cluster ---------------------------------------------------------------------------------

    def describe_cluster(self) -> dict[str, Any]:
        """Brokers, cluster id and controller id."""
        return self._run(self._core.describe_cluster())

    def api_versions(self) -> dict[Any, tuple[int, int]]:
        """{ApiKey: (min_version, max_version)} the broker supports."""
        return self._run(self._core.api_versions())

    # --- configs ---------------------------------------------------------------------------------

    def describe_configs(
        self,
        config_resources: Iterable[ConfigResource],
        include_synonyms: bool = False,
        config_filter: ConfigFilterType | str = "modified",
    ) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
        """{resource type: {resource name: {config key: {value, config_source, ...}}}}."""
        return self._run(self._core.describe_configs(config_resources, include_synonyms, config_filter))

    def alter_configs(
        self,
        config_resources: Iterable[ConfigResource],
        validate_only: bool = False,
        raise_on_unknown: bool = True,
        incremental: bool | None = None,
    ) -> dict[str, dict[str, str]]:
        """Set configs ({key: value} or {key: (AlterConfigOp, value)} per resource)."""
        return self._run(
            self._core.alter_configs(config_resources, validate_only, raise_on_unknown, incremental)
        )

    # --- groups ----------------------------------------------------------------------------------

    def list_groups(
        self,
        broker_ids: Iterable[int] | None = None,
        states_filter: Iterable[str] | None = None,
        types_filter: Iterable[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Every group: [{'group_id', 'protocol_type', 'group_state', 'group_type'}]."""
        return self._run(self._core.list_groups(broker_ids, states_filter, types_filter))

    def describe_groups(
        self,
        group_ids: Iterable[str],
        group_coordinator_id: int | None = None,
        include_authorized_operations: bool = False,
    ) -> dict[str, dict[str, Any]]:
        """{group_id: {group_state, protocol_type, protocol_data, members, authorized_operations, error}}."""
        return self._run(
            self._core.describe_groups(group_ids, group_coordinator_id, include_authorized_operations)
        )

    def delete_groups(
        self, group_ids: Iterable[str], group_coordinator_id: int | None = None
    ) -> dict[str, str]:
        """Delete empty groups: {group_id: 'OK' or error class name}."""
        return self._run(self._core.delete_groups(group_ids, group_coordinator_id))

    def list_group_offsets(self, group_specs: Any) -> dict[str, dict[TopicPartition, OffsetAndMetadata]]:
        """Committed offsets of groups: {group_id: {TopicPartition: OffsetAndMetadata}}."""
        return self._run(self._core.list_group_offsets(group_specs))

    def alter_group_offsets(
        self,
        group_id: str,
        offsets: Mapping[TopicPartition, OffsetAndMetadata | int],
        group_coordinator_id: int | None = None,
    ) -> dict[TopicPartition, type[BrokerResponseError]]:
        """Commit offsets for a group without live members: {TopicPartition: error class}."""
        return self._run(self._core.alter_group_offsets(group_id, offsets, group_coordinator_id))

    def reset_group_offsets(
        self,
        group_id: str,
        offset_specs: Mapping[TopicPartition, Any],
        group_coordinator_id: int | None = None,
    ) -> dict[TopicPartition, dict[str, Any]]:
        """Reset to OffsetSpec / OffsetTimestamp / offset: {TopicPartition: {'error', 'offset'}}."""
        return self._run(self._core.reset_group_offsets(group_id, offset_specs, group_coordinator_id))

    def delete_group_offsets(
        self, group_id: str, partitions: Iterable[TopicPartition], group_coordinator_id: int | None = None
    ) -> dict[TopicPartition, type[BrokerResponseError]]:
        """Delete committed offsets: {TopicPartition: error class}."""
        return self._run(self._core.delete_group_offsets(group_id, partitions, group_coordinator_id))

    # kafka-python 2.x names, 2.x shapes

    def list_consumer_groups(self, broker_ids: Iterable[int] | None = None) -> list[tuple[str, str]]:
        """kafka-python 2.x: [(group_id, protocol_type)]."""
        return self._run(self._core.list_consumer_groups(broker_ids))

    def describe_consumer_groups(
        self,
        group_ids: Iterable[str],
        group_coordinator_id: int | None = None,
        include_authorized_operations: bool = False,
    ) -> list[GroupInformation]:
        """kafka-python 2.x: [GroupInformation]."""
        return self._run(
            self._core.describe_consumer_groups(
                group_ids, group_coordinator_id, include_authorized_operations
            )
        )

    def delete_consumer_groups(
        self, group_ids: Iterable[str], group_coordinator_id: int | None = None
    ) -> list[tuple[str, type[BrokerResponseError]]]:
        """kafka-python 2.x: [(group_id, error class)]."""
        return self._run(self._core.delete_consumer_groups(group_ids, group_coordinator_id))

    def list_consumer_group_offsets(
        self,
        group_id: str,
        group_coordinator_id: int | None = None,
        partitions: Iterable[TopicPartition] | None = None,
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """kafka-python 2.x: {TopicPartition: OffsetAndMetadata} of one group."""
        return self._run(self._core.list_consumer_group_offsets(group_id, group_coordinator_id, partitions))

    # --- partitions and records ------------------------------------------------------------------

    def list_partition_offsets(
        self,
        topic_partition_specs: Mapping[TopicPartition, Any],
        isolation_level: IsolationLevel | int | str = IsolationLevel.READ_UNCOMMITTED,
        timeout_ms: float | None = None,
    ) -> dict[TopicPartition, OffsetAndTimestamp]:
        """Resolve OffsetSpec (EARLIEST, LATEST, ...) or timestamps: {TopicPartition: OffsetAndTimestamp}."""
        return self._run(
            self._core.list_partition_offsets(topic_partition_specs, isolation_level, timeout_ms)
        )

    def delete_records(
        self,
        records_to_delete: Mapping[TopicPartition, int],
        timeout_ms: int | None = None,
        partition_leader_id: int | None = None,
    ) -> dict[TopicPartition, dict[str, Any]]:
        """Delete records below the given offsets: {TopicPartition: {'low_watermark', ...}}."""
        return self._run(self._core.delete_records(records_to_delete, timeout_ms, partition_leader_id))
