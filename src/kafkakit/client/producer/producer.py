"""KafkaProducer: kafka-python's synchronous producer API over the asyncio ProducerCore.

How it works: the constructor validates the configuration (unknown keys and bad values raise
here), starts one background event-loop thread (``LoopThread``) and starts the core on it, which
bootstraps (NoBrokersAvailable when no broker answers, unless api_version is given). ``send()``
is the core's hot-path closure (``core.make_send``), run directly in the caller's thread (no thread
hop per record); it falls back to the core's bounded blocking path only when metadata or buffer
memory is missing. ``flush()`` and
``close()`` wait in the caller's thread; everything else is marshalled to the loop.

What it must never do: contain producer logic of its own (the core has it, shared with the asyncio
API), hang past the timeouts it was given, or leave the loop thread running after close().
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kafkakit.client.config import resolve_config
from kafkakit.client.loop import LoopThread
from kafkakit.client.producer.core import NeedMetadata, NeedSpace, ProducerCore
from kafkakit.client.producer.future import FutureRecordMetadata, RecordMetadata
from kafkakit.errors import KafkaTimeoutError

log = logging.getLogger(__name__)

__all__ = ["FutureRecordMetadata", "KafkaProducer", "RecordMetadata"]


class KafkaProducer:
    """Publish records to a Kafka cluster (see ../shared/spec/api.md for every option)."""

    def __init__(self, **configs: Any) -> None:
        self.config = resolve_config("producer", configs)
        self._closed = False
        self._core = ProducerCore(self.config)
        self._loop = LoopThread(f"kafkakit-producer-{self.config['client_id']}").start()
        try:
            self._loop.run(self._core.start())
        except BaseException:
            self._closed = True
            try:
                self._loop.run(self._core.shutdown(), timeout=5.0)
            finally:
                self._loop.stop()
            raise
        # the hot path itself (a closure built by the core), shadowing the method below per instance
        self.send = self._core.make_send(self._send_slow, yield_gil=True)  # type: ignore[method-assign]

    def _send_slow(self, args: tuple[Any, ...], _need: Exception) -> FutureRecordMetadata:
        return self._core.send_blocking(args, self._loop.run)

    # --- sending -------------------------------------------------------------------------------

    def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> FutureRecordMetadata:
        """Queue one record and return its future at once (blocks only up to max_block_ms when the
        topic's metadata is unknown or buffer_memory is full)."""
        try:
            return self._core.try_send(topic, value, key, headers, partition, timestamp_ms)
        except (NeedMetadata, NeedSpace):
            return self._core.send_blocking(
                (topic, value, key, headers, partition, timestamp_ms), self._loop.run
            )

    def flush(self, timeout: float | None = None) -> None:
        """Make every buffered record sendable now and wait until all of them completed."""
        self._core.flush_blocking(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush (up to ``timeout`` seconds), stop the sender and release connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        core = self._core
        core.begin_close()
        try:
            try:
                core.flush_blocking(timeout)
            except KafkaTimeoutError:
                n = core.abort_pending(
                    f"KafkaProducer.close(timeout={timeout}) gave up before the record was acknowledged"
                )
                log.warning("producer closed with %d unacknowledged batch(es); their futures failed", n)
            try:
                self._loop.run(core.shutdown(), timeout=10.0)
            except KafkaTimeoutError:  # pragma: no cover - shutdown is bounded by connection closes
                log.warning("producer shutdown did not finish within 10 s")
        finally:
            self._loop.stop()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            try:
                self.close(timeout=0)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def __enter__(self) -> KafkaProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- queries -------------------------------------------------------------------------------

    def partitions_for(self, topic: str) -> set[int]:
        """The partition ids of ``topic``, fetching metadata (up to max_block_ms) if needed."""
        parts = self._core.known_partitions(topic)
        if parts:
            return parts
        timeout = self._core.max_block
        try:
            found = self._loop.run(self._core.client.wait_for_topic(topic, timeout), timeout + 1.0)
        except KafkaTimeoutError:
            raise KafkaTimeoutError(
                f"Failed to update metadata after {self.config['max_block_ms']} ms (max_block_ms): "
                f"topic {topic!r} is not present in the cluster metadata"
            ) from None
        return set(found)

    def bootstrap_connected(self) -> bool:
        """True once a bootstrap broker answered."""
        return self._core.client.bootstrap_connected()

    def metrics(self, raw: bool = False) -> dict[Any, Any]:
        """Producer metrics grouped like kafka-python's: {'producer-metrics': {name: value}}."""
        return self._core.metrics_snapshot(raw)
