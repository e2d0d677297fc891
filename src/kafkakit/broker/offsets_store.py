"""Durable committed offsets (and the little group metadata worth keeping) for the embedded broker.

How it works: every change is one entry appended to a single log file,
``<data_dir>/group-offsets.log``: ``u32 length, u32 crc32c(payload), payload``. A payload is a kind
byte and its fields (int32-length UTF-8 strings, -1 for null; big-endian integers):

- COMMIT: group, then ``n`` x (topic, partition i32, offset i64, leader epoch i32, commit
  timestamp i64, expire timestamp i64, metadata string?);
- DELETE_OFFSETS: group, then ``n`` x (topic, partition i32);
- DELETE_GROUP: group (its offsets and its group record go);
- GROUP: group, protocol type?, generation i32, protocol name?, state timestamp i64.

The file starts with an 8-byte header (magic ``KKOFFS`` and a u16 format version); the file
mechanics (framing, writing, fsync, torn-tail recovery, compaction) are ``record_log.RecordLog``'s.
``OffsetsStore``
keeps the live state in memory: ``{group: {(topic, partition): CommittedOffset}}`` and
``{group: GroupRecord}``. ``load()`` replays the file, stops at the first torn or corrupt entry
(a crash in the middle of a write) and rewrites the file compacted (one GROUP and one COMMIT entry
per group) through a temporary file, fsync and rename. While running, the file is compacted the
same way when it has grown to four times its size after the last compaction (and at least
``ROLL_MIN_BYTES``). Each change is written to the OS with ``os.write`` before memory is updated
and before the caller answers the client, so it survives the process being killed (kill -9);
``await flush()`` also fsyncs when the store was opened with ``fsync=True``: through the broker's
``durability.GroupCommitter`` when given one (the store is a ``Syncable``), else with its own
coalescing fsync in a worker thread. A write that fails is cut off the file again, so
the file never keeps a torn entry in the middle.

What it must never do: change memory when the write failed, leave an entry half-written before a
later one, lose a change acknowledged by the caller because a compaction replaced the file, block
the event loop on fsync, or touch the network.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from kafkakit.broker.record_log import Reader, RecordLog, frame, put_str

log = logging.getLogger("kafkakit.broker.offsets")

__all__ = ["CommittedOffset", "GroupRecord", "OffsetsStore", "OffsetsStoreError", "FILE_NAME"]

FILE_NAME = "group-offsets.log"
MAGIC = b"KKOFFS"
FORMAT_VERSION = 1
#: compaction is never triggered by a file smaller than this
ROLL_MIN_BYTES = 4 * 1024 * 1024
#: an entry larger than this is taken as corruption when loading
MAX_ENTRY_BYTES = 256 * 1024 * 1024

_COMMIT = 1
_DELETE_OFFSETS = 2
_DELETE_GROUP = 3
_GROUP = 4

_I32 = struct.Struct(">i")
_OFFSET = struct.Struct(">iqiqq")  # partition, offset, leader epoch, commit ts, expire ts
_I64 = struct.Struct(">q")
_B = struct.Struct(">B")


class OffsetsStoreError(Exception):
    """The offsets file cannot be used (unreadable header, I/O error); the message names the file."""


class CommittedOffset(NamedTuple):
    """One committed offset as OffsetFetch returns it."""

    offset: int
    leader_epoch: int = -1
    metadata: str = ""
    commit_timestamp_ms: int = -1
    #: explicit expiry (OffsetCommit v2-4 retention time), -1 when the broker's retention applies
    expire_timestamp_ms: int = -1


class GroupRecord(NamedTuple):
    """What is kept of a group across restarts (members are not kept: they rejoin)."""

    protocol_type: str | None
    generation_id: int
    protocol_name: str | None
    #: when the group last changed state (used for the retention of an empty group's offsets)
    state_timestamp_ms: int


# ---------------------------------------------------------------- encoding


def _encode_commit(group: str, items: Iterable[tuple[str, int, CommittedOffset]]) -> bytes:
    body: list[bytes] = []
    n = 0
    for topic, partition, c in items:
        put_str(body, topic)
        body.append(
            _OFFSET.pack(partition, c.offset, c.leader_epoch, c.commit_timestamp_ms, c.expire_timestamp_ms)
        )
        put_str(body, c.metadata)
        n += 1
    head: list[bytes] = [_B.pack(_COMMIT)]
    put_str(head, group)
    head.append(_I32.pack(n))
    return frame(b"".join(head + body))


def _encode_delete_offsets(group: str, items: Iterable[tuple[str, int]]) -> bytes:
    body: list[bytes] = []
    n = 0
    for topic, partition in items:
        put_str(body, topic)
        body.append(_I32.pack(partition))
        n += 1
    head: list[bytes] = [_B.pack(_DELETE_OFFSETS)]
    put_str(head, group)
    head.append(_I32.pack(n))
    return frame(b"".join(head + body))


def _encode_delete_group(group: str) -> bytes:
    out: list[bytes] = [_B.pack(_DELETE_GROUP)]
    put_str(out, group)
    return frame(b"".join(out))


def _encode_group(group: str, rec: GroupRecord) -> bytes:
    out: list[bytes] = [_B.pack(_GROUP)]
    put_str(out, group)
    put_str(out, rec.protocol_type)
    out.append(_I32.pack(rec.generation_id))
    put_str(out, rec.protocol_name)
    out.append(_I64.pack(rec.state_timestamp_ms))
    return frame(b"".join(out))


# ---------------------------------------------------------------- the store


class OffsetsStore(RecordLog):
    """Committed offsets by group, durable in one append-only file (or memory only when ``path`` is
    None). Used from the event-loop thread only; ``load()`` may run in a worker thread before use.
    ``flush``/``close``/``begin_sync`` (a ``durability.Syncable``) come from ``RecordLog``."""

    magic = MAGIC
    version = FORMAT_VERSION
    what = "committed offsets file"
    error = OffsetsStoreError
    max_entry_bytes = MAX_ENTRY_BYTES

    def __init__(
        self, path: str | os.PathLike[str] | None, fsync: bool = False, committer: Any = None
    ) -> None:
        super().__init__(path, roll_min_bytes=ROLL_MIN_BYTES, fsync=fsync, committer=committer)
        self._offsets: dict[str, dict[tuple[str, int], CommittedOffset]] = {}
        self._groups: dict[str, GroupRecord] = {}

    # ------------------------------------------------------------ queries

    def group_ids(self) -> list[str]:
        """Every group with offsets or a group record."""
        return sorted(set(self._offsets) | set(self._groups))

    def offsets(self, group: str) -> Mapping[tuple[str, int], CommittedOffset]:
        """The group's committed offsets (a read-only view; empty when none)."""
        return self._offsets.get(group, {})

    def get(self, group: str, topic: str, partition: int) -> CommittedOffset | None:
        g = self._offsets.get(group)
        return g.get((topic, partition)) if g is not None else None

    def has_offsets(self, group: str) -> bool:
        return bool(self._offsets.get(group))

    def group_record(self, group: str) -> GroupRecord | None:
        return self._groups.get(group)

    def __iter__(self) -> Iterator[tuple[str, str, int, CommittedOffset]]:
        for group, offs in self._offsets.items():
            for (topic, partition), c in offs.items():
                yield group, topic, partition, c

    # ------------------------------------------------------------ changes

    def commit(self, group: str, items: list[tuple[str, int, CommittedOffset]]) -> None:
        """Record committed offsets; written to the OS before this returns (raises OSError, with
        nothing changed, when the write fails)."""
        if not items:
            return
        self.append(_encode_commit(group, items))
        offs = self._offsets.setdefault(group, {})
        for topic, partition, c in items:
            offs[(topic, partition)] = c
        self.compact_if_grown(self._snapshot)

    def delete_offsets(self, group: str, items: list[tuple[str, int]]) -> int:
        """Forget some of a group's offsets; returns how many existed."""
        offs = self._offsets.get(group)
        present = [tp for tp in items if offs is not None and tp in offs]
        if not present or offs is None:
            return 0
        self.append(_encode_delete_offsets(group, present))
        for tp in present:
            offs.pop(tp, None)
        if not offs:
            del self._offsets[group]
        self.compact_if_grown(self._snapshot)
        return len(present)

    def delete_group(self, group: str) -> None:
        """Forget a group's offsets and group record."""
        if group not in self._offsets and group not in self._groups:
            return
        self.append(_encode_delete_group(group))
        self._offsets.pop(group, None)
        self._groups.pop(group, None)
        self.compact_if_grown(self._snapshot)

    def set_group_record(self, group: str, rec: GroupRecord) -> None:
        """Remember a group's protocol type/generation (written only when it changed)."""
        if self._groups.get(group) == rec:
            return
        self.append(_encode_group(group, rec))
        self._groups[group] = rec
        self.compact_if_grown(self._snapshot)

    # ------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Read the file (if any), keep every intact entry and rewrite it compacted."""
        if self.path is None:
            return
        entries = self.replay(self._apply, log)
        self.rewrite(self._snapshot())
        log.info(
            "loaded %d committed offsets of %d groups from %s (%d entries)",
            sum(len(o) for o in self._offsets.values()),
            len(self.group_ids()),
            self.path,
            entries,
        )

    # ------------------------------------------------------------ internals

    def _apply(self, payload: bytes) -> None:
        r = Reader(payload)
        (kind,) = r.unpack(_B)
        group = r.text()
        if kind == _COMMIT:
            (n,) = r.unpack(_I32)
            offs = self._offsets.setdefault(group, {})
            for _ in range(n):
                topic = r.text()
                partition, offset, epoch, ts, expire = r.unpack(_OFFSET)
                metadata = r.string()
                offs[(topic, partition)] = CommittedOffset(offset, epoch, metadata or "", ts, expire)
            if not offs:
                del self._offsets[group]
        elif kind == _DELETE_OFFSETS:
            (n,) = r.unpack(_I32)
            offs = self._offsets.get(group, {})
            for _ in range(n):
                topic = r.text()
                (partition,) = r.unpack(_I32)
                offs.pop((topic, partition), None)
            if not offs:
                self._offsets.pop(group, None)
        elif kind == _DELETE_GROUP:
            self._offsets.pop(group, None)
            self._groups.pop(group, None)
        elif kind == _GROUP:
            protocol_type = r.string()
            (generation,) = r.unpack(_I32)
            protocol_name = r.string()
            (ts,) = r.unpack(_I64)
            self._groups[group] = GroupRecord(protocol_type, generation, protocol_name, ts)
        else:
            raise ValueError(f"unknown entry kind {kind}")
        r.end()

    def _snapshot(self) -> list[bytes]:
        """The live state as entries (one GROUP and one COMMIT per group)."""
        out: list[bytes] = []
        for group in self.group_ids():
            rec = self._groups.get(group)
            if rec is not None:
                out.append(_encode_group(group, rec))
            offs = self._offsets.get(group)
            if offs:
                out.append(_encode_commit(group, [(t, p, c) for (t, p), c in offs.items()]))
        return out
