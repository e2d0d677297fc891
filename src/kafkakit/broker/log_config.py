"""Topic configuration of the embedded broker's partition log: ``LogConfig``.

How it works: a frozen dataclass of the topic configs the log acts on, under Kafka's names and with
Kafka's defaults; ``from_topic_configs`` builds it from the config strings of CreateTopics /
AlterConfigs, and every value is checked on construction.

What it must never do: accept a value the log cannot act on (it raises InvalidConfigurationError
naming the config and the rule), or silently drop a config it acts on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from kafkakit.broker.segment import INT32_MAX
from kafkakit.errors import InvalidConfigurationError

__all__ = ["LogConfig"]

_DAY_MS = 24 * 3600 * 1000

_TOPIC_KEYS = {
    "segment.bytes": "segment_bytes",
    "segment.ms": "segment_ms",
    "retention.ms": "retention_ms",
    "retention.bytes": "retention_bytes",
    "max.message.bytes": "max_message_bytes",
    "cleanup.policy": "cleanup_policy",
    "message.timestamp.type": "message_timestamp_type",
    "index.interval.bytes": "index_interval_bytes",
    "file.delete.delay.ms": "file_delete_delay_ms",
}


@dataclass(frozen=True)
class LogConfig:
    """The topic configs the log acts on (Kafka's names, Kafka's defaults)."""

    segment_bytes: int = 1 << 30
    segment_ms: int = 7 * _DAY_MS
    retention_ms: int = 7 * _DAY_MS  # -1: keep forever
    retention_bytes: int = -1  # -1: no size limit
    max_message_bytes: int = 1048588
    cleanup_policy: str = "delete"  # "compact" is accepted, compaction is not implemented
    message_timestamp_type: str = "CreateTime"
    index_interval_bytes: int = 4096
    file_delete_delay_ms: int = 60000

    def __post_init__(self) -> None:
        def need(ok: bool, key: str, value: Any, rule: str) -> None:
            if not ok:
                raise InvalidConfigurationError(f"invalid value {value!r} for topic config {key}: {rule}")

        for f in fields(self):
            value = getattr(self, f.name)
            want = str if f.name in ("cleanup_policy", "message_timestamp_type") else int
            if not isinstance(value, want) or isinstance(value, bool):
                raise InvalidConfigurationError(f"LogConfig.{f.name} must be {want.__name__}, got {value!r}")
        need(
            14 <= self.segment_bytes <= INT32_MAX,
            "segment.bytes",
            self.segment_bytes,
            "must be 14..2147483647",
        )
        need(self.segment_ms >= 1, "segment.ms", self.segment_ms, "must be at least 1")
        need(self.retention_ms >= -1, "retention.ms", self.retention_ms, "must be -1 or more")
        need(self.retention_bytes >= -1, "retention.bytes", self.retention_bytes, "must be -1 or more")
        need(self.max_message_bytes >= 0, "max.message.bytes", self.max_message_bytes, "must be 0 or more")
        need(
            self.index_interval_bytes >= 0,
            "index.interval.bytes",
            self.index_interval_bytes,
            "must be 0 or more",
        )
        need(
            self.file_delete_delay_ms >= 0,
            "file.delete.delay.ms",
            self.file_delete_delay_ms,
            "must be 0 or more",
        )
        policies = [p.strip() for p in self.cleanup_policy.split(",")]
        need(
            bool(policies) and all(p in ("delete", "compact") for p in policies),
            "cleanup.policy",
            self.cleanup_policy,
            "must be delete, compact or both (comma-separated)",
        )
        need(
            self.message_timestamp_type in ("CreateTime", "LogAppendTime"),
            "message.timestamp.type",
            self.message_timestamp_type,
            "must be CreateTime or LogAppendTime",
        )

    @property
    def delete_enabled(self) -> bool:
        return "delete" in [p.strip() for p in self.cleanup_policy.split(",")]

    @classmethod
    def from_topic_configs(cls, configs: Mapping[str, str]) -> LogConfig:
        """Build from Kafka topic config strings; keys the log does not act on are ignored."""
        values: dict[str, Any] = {}
        for key, attr in _TOPIC_KEYS.items():
            raw = configs.get(key)
            if raw is None:
                continue
            raw = str(raw).strip()
            if attr in ("cleanup_policy", "message_timestamp_type"):
                values[attr] = raw
                continue
            try:
                values[attr] = int(raw)
            except ValueError:
                raise InvalidConfigurationError(
                    f"invalid value {raw!r} for topic config {key}: must be an integer"
                ) from None
        return cls(**values)
