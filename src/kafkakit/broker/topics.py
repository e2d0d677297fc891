"""Topics and partitions of the embedded broker: names, ids, configs and their on-disk metadata.

How it works: ``TopicManager`` keeps ``Topic`` objects (name, 16-byte uuid topic id, config
overrides, a list of ``Partition``). Each ``Partition`` owns its ``PartitionLog`` (opened from
``data_dir/<topic>-<partition>``) and the set of futures of Fetch requests parked on it: an append
calls ``partition.notify()``, which wakes every parked fetch at once. The topic table (names, ids,
partition counts, config overrides) lives in ``data_dir/topics.json``, rewritten atomically
(temp file, fsync, rename) on every change, and read back on start. A deleted topic's directories
are renamed out of the way first and removed afterwards, so a crash never leaves a half topic.

What it must never do: accept a topic name Kafka would refuse, reuse a topic id, let a config
change reach the logs without being persisted first, or touch the network.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kafkakit.broker.log import LogConfig, PartitionLog
from kafkakit.broker.state import BrokerConfig, now_ms
from kafkakit.errors import InvalidConfigurationError

log = logging.getLogger("kafkakit.broker.topics")

__all__ = [
    "Partition",
    "Topic",
    "TopicError",
    "TopicManager",
    "validate_topic_name",
    "validate_topic_configs",
    "INTERNAL_TOPICS",
]

MAX_TOPIC_NAME = 249
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})
_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
_METADATA_FILE = "topics.json"

# error codes (kafkakit.errors classes carry the same numbers)
INVALID_TOPIC_EXCEPTION = 17
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_CONFIG = 40
UNKNOWN_TOPIC_OR_PARTITION = 3


class TopicError(Exception):
    """A topic operation refused: ``code`` is the Kafka error code, ``message`` says why."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def validate_topic_name(name: object) -> str | None:
    """None when ``name`` is a legal topic name, else the reason it is not."""
    if not isinstance(name, str) or not name:
        return "Topic name is empty"
    if name in (".", ".."):
        return f"Topic name cannot be {name!r}"
    if len(name) > MAX_TOPIC_NAME:
        return f"Topic name is longer than {MAX_TOPIC_NAME} characters ({len(name)})"
    if not _LEGAL.match(name):
        return f"Topic name {name!r} is illegal: it may contain only ASCII letters, digits, '.', '_' and '-'"
    return None


# ---------------------------------------------------------------- configs


def _long(lo: int) -> Any:
    def check(value: str) -> str | None:
        try:
            n = int(value)
        except ValueError:
            return "must be an integer"
        if n < lo:
            return f"must be at least {lo}"
        if n > (1 << 63) - 1:
            return "is out of range for a long"
        return None

    return check


def _int(lo: int) -> Any:
    check_long = _long(lo)

    def check(value: str) -> str | None:
        err = check_long(value)
        if err is None and int(value) > (1 << 31) - 1:
            return "is out of range for an int"
        return err

    return check


def _choice(*allowed: str) -> Any:
    def check(value: str) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _cleanup_policy(value: str) -> str | None:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts or any(p not in ("delete", "compact") for p in parts):
        return "must be a list of 'delete' and/or 'compact'"
    return None


def _bool(value: str) -> str | None:
    return None if value.lower() in ("true", "false") else "must be true or false"


def _ratio(value: str) -> str | None:
    try:
        f = float(value)
    except ValueError:
        return "must be a number"
    return None if 0.0 <= f <= 1.0 else "must be between 0 and 1"


#: topic configs that change how kafkakit's logs behave
APPLIED_CONFIGS: dict[str, Any] = {
    "cleanup.policy": _cleanup_policy,
    "retention.ms": _long(-1),
    "retention.bytes": _long(-1),
    "segment.bytes": _int(14),
    "segment.ms": _long(1),
    "max.message.bytes": _int(0),
    "message.timestamp.type": _choice("CreateTime", "LogAppendTime"),
    "min.insync.replicas": _int(1),
    "index.interval.bytes": _int(0),
    "file.delete.delay.ms": _long(0),
}

#: Kafka topic configs accepted and stored for compatibility; kafkakit does not act on them
STORED_CONFIGS: dict[str, Any] = {
    "compression.type": _choice("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"),
    "delete.retention.ms": _long(0),
    "flush.messages": _long(1),
    "flush.ms": _long(0),
    "local.retention.bytes": _long(-2),
    "local.retention.ms": _long(-2),
    "max.compaction.lag.ms": _long(1),
    "message.timestamp.after.max.ms": _long(0),
    "message.timestamp.before.max.ms": _long(0),
    "message.timestamp.difference.max.ms": _long(0),
    "message.downconversion.enable": _bool,
    "min.cleanable.dirty.ratio": _ratio,
    "min.compaction.lag.ms": _long(0),
    "preallocate": _bool,
    "segment.index.bytes": _int(4),
    "segment.jitter.ms": _long(0),
    "unclean.leader.election.enable": _bool,
    "remote.storage.enable": _choice("false"),
}

STORED_DEFAULTS = {
    "compression.type": "producer",
    "delete.retention.ms": "86400000",
    "flush.messages": "9223372036854775807",
    "flush.ms": "9223372036854775807",
    "local.retention.bytes": "-2",
    "local.retention.ms": "-2",
    "max.compaction.lag.ms": "9223372036854775807",
    "message.timestamp.after.max.ms": "9223372036854775807",
    "message.timestamp.before.max.ms": "9223372036854775807",
    "message.timestamp.difference.max.ms": "9223372036854775807",
    "message.downconversion.enable": "true",
    "min.cleanable.dirty.ratio": "0.5",
    "min.compaction.lag.ms": "0",
    "preallocate": "false",
    "segment.index.bytes": "10485760",
    "segment.jitter.ms": "0",
    "unclean.leader.election.enable": "false",
    "remote.storage.enable": "false",
}


def validate_topic_configs(configs: dict[str, str | None]) -> str | None:
    """None when every entry is a known topic config with a valid value, else the reason."""
    for name, value in configs.items():
        check = APPLIED_CONFIGS.get(name) or STORED_CONFIGS.get(name)
        if check is None:
            return f"Unknown topic config name: {name}"
        if value is None:
            return f"Null value not supported for topic config {name}"
        err = check(value.strip())
        if err is not None:
            return f"Invalid value {value} for configuration {name}: {err}"
    return None


# ---------------------------------------------------------------- topics and partitions


class Partition:
    """One partition: its log and the Fetch requests parked until it grows."""

    __slots__ = ("topic", "index", "log", "waiters", "leader_epoch")

    def __init__(self, topic: Topic, index: int, log: PartitionLog) -> None:
        self.topic = topic
        self.index = index
        self.log = log
        self.leader_epoch = 0
        self.waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        """Wake every Fetch parked on this partition (called after each append)."""
        if self.waiters:
            waiters, self.waiters = self.waiters, set()
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def __repr__(self) -> str:
        return f"Partition({self.topic.name!r}, {self.index})"


class Topic:
    __slots__ = ("name", "topic_id", "configs", "partitions")

    def __init__(self, name: str, topic_id: bytes, configs: dict[str, str]) -> None:
        self.name = name
        self.topic_id = topic_id
        self.configs = configs  # overrides only
        self.partitions: list[Partition] = []

    @property
    def is_internal(self) -> bool:
        return self.name in INTERNAL_TOPICS


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class TopicManager:
    """Every topic of the broker. Used only from the event-loop thread."""

    def __init__(self, data_dir: Path, config: BrokerConfig) -> None:
        self.data_dir = data_dir
        self.config = config
        self._topics: dict[str, Topic] = {}
        self._by_id: dict[bytes, Topic] = {}
        self._closed = False

    # ------------------------------------------------------------ queries

    def exists(self, topic: str) -> bool:
        return topic in self._topics

    def get(self, topic: str) -> Topic | None:
        return self._topics.get(topic)

    def by_id(self, topic_id: bytes) -> Topic | None:
        return self._by_id.get(topic_id)

    def names(self) -> list[str]:
        return sorted(self._topics)

    def __iter__(self) -> Iterator[Topic]:
        return iter(list(self._topics.values()))

    def __len__(self) -> int:
        return len(self._topics)

    def partition_count(self, topic: str) -> int:
        """Number of partitions of ``topic`` (0 when it does not exist)."""
        t = self._topics.get(topic)
        return len(t.partitions) if t is not None else 0

    def get_partition(self, topic: str, partition: int) -> Partition | None:
        t = self._topics.get(topic)
        if t is None or not 0 <= partition < len(t.partitions):
            return None
        return t.partitions[partition]

    def get_log(self, topic: str, partition: int) -> PartitionLog | None:
        """The ``PartitionLog`` of ``topic``/``partition``, or None when there is no such partition."""
        p = self.get_partition(topic, partition)
        return p.log if p is not None else None

    def effective_configs(self, topic: Topic) -> dict[str, str]:
        merged = dict(self.config.topic_defaults())
        merged.update(STORED_DEFAULTS)
        merged.update(topic.configs)
        return merged

    # ------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Read the topic table and open every partition's log (recovering it if needed)."""
        path = self.data_dir / _METADATA_FILE
        if not path.exists():
            return
        try:
            doc = json.loads(path.read_text("utf-8"))
            entries = doc["topics"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"cannot read the topic table {path}: {exc}") from exc
        for name, entry in sorted(entries.items()):
            topic = Topic(name, bytes.fromhex(entry["id"]), dict(entry.get("configs", {})))
            self._register(topic)
            for index in range(int(entry["partitions"])):
                topic.partitions.append(Partition(topic, index, self._open_log(topic, index)))
        self._remove_leftovers()

    def close(self) -> None:
        """Close every log (flushing it). Idempotent."""
        if self._closed:
            return
        self._closed = True
        for topic in self._topics.values():
            for p in topic.partitions:
                try:
                    p.log.close()
                except Exception:  # noqa: BLE001 - keep closing the others
                    log.exception("closing the log of %s-%d failed", topic.name, p.index)

    # ------------------------------------------------------------ changes

    def check_new_topic(self, name: str, num_partitions: int, configs: dict[str, str | None]) -> None:
        """Raise TopicError when a topic with these settings could not be created."""
        err = validate_topic_name(name)
        if err is not None:
            raise TopicError(INVALID_TOPIC_EXCEPTION, err)
        if name in self._topics:
            raise TopicError(TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists.")
        collision = name.replace(".", "_")
        for other in self._topics:
            if other.replace(".", "_") == collision:
                raise TopicError(
                    INVALID_TOPIC_EXCEPTION,
                    f"Topic '{name}' collides with existing topic: {other} ('.' and '_' are the same in metric names)",
                )
        if num_partitions < 1:
            raise TopicError(
                INVALID_PARTITIONS, f"Number of partitions must be at least 1, got {num_partitions}."
            )
        if num_partitions > 100_000:
            raise TopicError(
                INVALID_PARTITIONS, f"Number of partitions {num_partitions} is more than 100000."
            )
        err = validate_topic_configs(configs)
        if err is not None:
            raise TopicError(INVALID_CONFIG, err)
        self._check_log_config({k: v for k, v in configs.items() if v is not None})

    def _check_log_config(self, overrides: dict[str, str]) -> LogConfig:
        merged = dict(self.config.topic_defaults())
        merged.update(overrides)
        try:
            return LogConfig.from_topic_configs(merged)
        except InvalidConfigurationError as exc:
            raise TopicError(INVALID_CONFIG, str(exc.args[0]) if exc.args else str(exc)) from None

    def create(
        self, name: str, num_partitions: int | None = None, configs: dict[str, str] | None = None
    ) -> Topic:
        """Create a topic (``num_partitions`` None: the broker default); raise TopicError if refused."""
        n = self.config.num_partitions if num_partitions is None else num_partitions
        cfg = {k: v.strip() for k, v in (configs or {}).items()}
        self.check_new_topic(name, n, dict(cfg))
        topic_id = uuid.uuid4().bytes
        while topic_id in self._by_id or topic_id == bytes(16):
            topic_id = uuid.uuid4().bytes
        topic = Topic(name, topic_id, cfg)
        self._register(topic)
        try:
            # a crash between opening the logs and saving the table can leave stray directories
            for index in range(n):
                stray = self._partition_dir(name, index)
                if stray.exists():
                    shutil.rmtree(stray)
            for index in range(n):
                topic.partitions.append(Partition(topic, index, self._open_log(topic, index)))
            self._save()
        except BaseException:
            self._unregister(topic)
            for p in topic.partitions:
                p.log.close()
            raise
        log.info("created topic %s with %d partition(s)", name, n)
        return topic

    def delete(self, name: str) -> Topic:
        """Delete a topic and its data; raise TopicError(UNKNOWN_TOPIC_OR_PARTITION) if absent."""
        topic = self._topics.get(name)
        if topic is None:
            raise TopicError(UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        self._unregister(topic)
        self._save()
        doomed: list[Path] = []
        for p in topic.partitions:
            try:
                p.log.close()
            except Exception:  # noqa: BLE001
                log.exception("closing the log of %s-%d failed", name, p.index)
            p.notify()  # parked fetches re-check and see the topic is gone
            src = self._partition_dir(name, p.index)
            if src.exists():
                dst = src.with_name(f"{src.name}.{topic.topic_id.hex()}-delete")
                os.replace(src, dst)
                doomed.append(dst)
        _fsync_dir(self.data_dir)
        if doomed:
            threading.Thread(
                target=_remove_dirs, args=(doomed,), name="kafkakit-topic-delete", daemon=True
            ).start()
        log.info("deleted topic %s", name)
        return topic

    def add_partitions(self, name: str, count: int, validate_only: bool = False) -> None:
        """Grow a topic to ``count`` partitions; raise TopicError when that is not an increase."""
        topic = self._topics.get(name)
        if topic is None:
            raise TopicError(UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        current = len(topic.partitions)
        if count < current:
            raise TopicError(
                INVALID_PARTITIONS,
                f"Topic currently has {current} partitions, which is higher than the requested {count}.",
            )
        if count == current:
            raise TopicError(INVALID_PARTITIONS, f"Topic already has {current} partitions.")
        if count > 100_000:
            raise TopicError(INVALID_PARTITIONS, f"Number of partitions {count} is more than 100000.")
        if validate_only:
            return
        for index in range(current, count):
            topic.partitions.append(Partition(topic, index, self._open_log(topic, index)))
        self._save()
        log.info("topic %s now has %d partitions", name, count)

    def set_configs(self, name: str, overrides: dict[str, str], validate_only: bool = False) -> None:
        """Replace a topic's config overrides (validated), persist them and apply them to its logs."""
        topic = self._topics.get(name)
        if topic is None:
            raise TopicError(UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
        cfg = {k: v.strip() for k, v in overrides.items()}
        err = validate_topic_configs(dict(cfg))
        if err is not None:
            raise TopicError(INVALID_CONFIG, err)
        log_config = self._check_log_config(cfg)
        if validate_only:
            return
        topic.configs = cfg
        self._save()
        for p in topic.partitions:
            p.log.update_config(log_config)

    def housekeeping(self) -> None:
        """Apply retention and time-based segment rolling to every log; forget idle producers."""
        now = now_ms()
        expiration = self.config.producer_id_expiration_ms
        for topic in list(self._topics.values()):
            for p in topic.partitions:
                try:
                    p.log.maybe_roll()
                    p.log.apply_retention()
                    p.log.producer_state.remove_expired(now, expiration)
                except Exception:  # noqa: BLE001 - one bad log must not stop the others
                    log.exception("retention on %s-%d failed", topic.name, p.index)

    # ------------------------------------------------------------ internals

    def _register(self, topic: Topic) -> None:
        self._topics[topic.name] = topic
        self._by_id[topic.topic_id] = topic

    def _unregister(self, topic: Topic) -> None:
        self._topics.pop(topic.name, None)
        self._by_id.pop(topic.topic_id, None)

    def _partition_dir(self, name: str, index: int) -> Path:
        return self.data_dir / f"{name}-{index}"

    def _log_config(self, topic: Topic) -> LogConfig:
        return LogConfig.from_topic_configs(self.effective_configs(topic))

    def _open_log(self, topic: Topic, index: int) -> PartitionLog:
        return PartitionLog.open(
            self._partition_dir(topic.name, index), self._log_config(topic), fsync=self.config.fsync
        )

    def _save(self) -> None:
        doc = {
            "version": 1,
            "topics": {
                t.name: {"id": t.topic_id.hex(), "partitions": len(t.partitions), "configs": t.configs}
                for t in self._topics.values()
            },
        }
        path = self.data_dir / _METADATA_FILE
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.data_dir)

    def _remove_leftovers(self) -> None:
        """Finish deletions a crash interrupted and drop directories of topics not in the table."""
        doomed = [p for p in self.data_dir.iterdir() if p.is_dir() and p.name.endswith("-delete")]
        if doomed:
            _remove_dirs(doomed)


def _remove_dirs(paths: list[Path]) -> None:
    for p in paths:
        shutil.rmtree(p, ignore_errors=True)
