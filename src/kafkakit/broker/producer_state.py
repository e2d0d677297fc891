"""Idempotent-producer state of one partition, its snapshots, and never-reused producer ids.

How it works: ``ProducerStateManager`` keeps, per producer id, the epoch and the metadata of the
last 5 batches written (first/last sequence, base/last offset, max timestamp), plus the first offset
of the transaction it has open. ``PartitionLog.append`` calls ``validate(headers)`` on the headers
of every batch of a request *before* writing anything — duplicates of one of the last 5 batches
come back as ``DuplicateInfo`` (the request is then answered with the original offsets and nothing
is written), sequence or epoch violations raise — and ``update(header)`` with the assigned offsets
*after* the write. The rules (Kafka's): within an epoch a batch's first sequence must follow the
previous last sequence (wrapping from 2**31-1 to 0), else OUT_OF_ORDER_SEQUENCE_NUMBER; a newer
epoch must start at sequence 0; an older epoch is INVALID_PRODUCER_EPOCH; a producer id without
state is accepted at any sequence; batches without a producer id (-1) skip everything; control
batches (transaction markers, written by the broker itself) only move the epoch and close the
transaction. ``update`` never validates, which is what rebuilding from the log needs.

The state is rebuilt when a log opens: from the newest ``<offset>.snapshot`` file at or below the
log end (written at segment roll and clean close, CRC-protected, replaced atomically) and then the
batch headers after it. A snapshot that fails its CRC is ignored, so the worst case is a scan of
every header in the log, which is always correct.

``ProducerIdManager`` hands out producer ids from blocks reserved on disk: the end of the current
block is written (atomically, fsynced) before any id of it is returned, so ids are never reused
across restarts, kill -9 included.

What it must never do: change state in ``validate`` (a failed append must leave no trace), treat a
duplicate as an error, hand out a producer id whose block is not yet on disk, or trust a snapshot
whose checksum does not match.
"""

from __future__ import annotations

import os
import struct
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from crc32c import crc32c

from kafkakit.broker.durability import atomic_write, read_small_file
from kafkakit.errors import InvalidProducerEpochError, InvalidRecordError, OutOfOrderSequenceNumberError
from kafkakit.record import BatchHeader

__all__ = [
    "BATCHES_TO_RETAIN",
    "BatchMetadata",
    "DuplicateInfo",
    "ProducerEntry",
    "ProducerIdManager",
    "ProducerStateManager",
    "delete_snapshots",
    "list_snapshots",
    "snapshot_path",
]

BATCHES_TO_RETAIN = 5
INT32_MAX = 0x7FFFFFFF
SNAPSHOT_SUFFIX = ".snapshot"
_CONTROL = 0x20
_TRANSACTIONAL = 0x10

_SNAP_MAGIC = b"KKPS"
_SNAP_HEAD = struct.Struct(">4sBqi")  # magic, version, map end offset, entry count
_SNAP_ENTRY = struct.Struct(">qhiqqB")  # pid, epoch, coordinator epoch, txn first offset, last ts, n
_SNAP_BATCH = struct.Struct(">iiqqq")  # first seq, last seq, base offset, last offset, timestamp
_SNAP_CRC = struct.Struct(">I")


class BatchMetadata(NamedTuple):
    first_seq: int
    last_seq: int
    base_offset: int
    last_offset: int
    timestamp: int


class DuplicateInfo(NamedTuple):
    """The original placement of a batch that was sent again (answer success with these)."""

    base_offset: int
    last_offset: int
    timestamp: int


class ProducerEntry:
    """What the partition remembers about one producer id."""

    __slots__ = ("producer_id", "epoch", "batches", "last_timestamp", "txn_first_offset", "coordinator_epoch")

    def __init__(self, producer_id: int, epoch: int = -1) -> None:
        self.producer_id = producer_id
        self.epoch = epoch
        self.batches: deque[BatchMetadata] = deque(maxlen=BATCHES_TO_RETAIN)
        self.last_timestamp = -1
        #: first offset of the open transaction, -1 when none
        self.txn_first_offset = -1
        self.coordinator_epoch = -1

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1

    @property
    def last_offset(self) -> int:
        return self.batches[-1].last_offset if self.batches else -1

    def find_duplicate(self, epoch: int, first_seq: int, last_seq: int) -> BatchMetadata | None:
        if epoch != self.epoch:
            return None
        for b in self.batches:
            if b.first_seq == first_seq and b.last_seq == last_seq:
                return b
        return None

    def __repr__(self) -> str:
        return (
            f"ProducerEntry(pid={self.producer_id}, epoch={self.epoch}, last_seq={self.last_seq}, "
            f"batches={len(self.batches)}, txn_first_offset={self.txn_first_offset})"
        )


def in_sequence(last_seq: int, next_seq: int) -> bool:
    """Whether ``next_seq`` directly follows ``last_seq`` (sequences wrap from 2**31-1 to 0)."""
    return next_seq == last_seq + 1 or (last_seq == INT32_MAX and next_seq == 0)


def last_sequence(header: BatchHeader) -> int:
    """Sequence of the batch's last record, wrapping at int32 max like Kafka."""
    return (header.base_sequence + header.last_offset_delta) & INT32_MAX


class ProducerStateManager:
    """Per-partition producer state: sequence/epoch validation, duplicates, snapshots."""

    def __init__(self) -> None:
        self._entries: dict[int, ProducerEntry] = {}
        #: the state covers the log below this offset
        self.map_end_offset = 0

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, producer_id: int) -> ProducerEntry | None:
        return self._entries.get(producer_id)

    def entries(self) -> Iterator[ProducerEntry]:
        return iter(list(self._entries.values()))

    # ----------------------------------------------------------------------- validation

    def validate(self, headers: Iterable[BatchHeader]) -> DuplicateInfo | None:
        """Check the batches of one request, in order, without changing any state.

        Returns the original placement when a batch repeats one of its producer's last 5 batches
        (the whole request is then a duplicate: append nothing); raises
        OutOfOrderSequenceNumberError / InvalidProducerEpochError / InvalidRecordError otherwise.
        """
        overlay: dict[int, tuple[int, int]] = {}  # pid -> (epoch, last seq) after earlier batches
        for h in headers:
            pid = h.producer_id
            if pid < 0 or h.attributes & _CONTROL:
                continue
            first = h.base_sequence
            if first < 0:
                raise InvalidRecordError(
                    f"batch of producer id {pid} has no base sequence ({first}): an idempotent batch must carry one"
                )
            epoch = h.producer_epoch
            last = last_sequence(h)
            committed = self._entries.get(pid)
            if committed is not None:
                dup = committed.find_duplicate(epoch, first, last)
                if dup is not None:
                    return DuplicateInfo(dup.base_offset, dup.last_offset, dup.timestamp)
            state = overlay.get(pid)
            if state is None and committed is not None:
                state = (committed.epoch, committed.last_seq)
            if state is not None and state[0] >= 0:
                cur_epoch, cur_last = state
                if epoch < cur_epoch:
                    raise InvalidProducerEpochError(
                        f"producer id {pid} sent epoch {epoch} but its current epoch is {cur_epoch}: "
                        "a newer producer with the same transactional id or id took over (fenced)"
                    )
                if epoch > cur_epoch:
                    if first != 0:
                        raise OutOfOrderSequenceNumberError(
                            f"producer id {pid} started epoch {epoch} at sequence {first}: "
                            f"a new epoch must start at sequence 0 (current epoch {cur_epoch})"
                        )
                elif not in_sequence(cur_last, first):
                    raise OutOfOrderSequenceNumberError(
                        f"producer id {pid} epoch {epoch}: sequence {first} does not follow the last "
                        f"sequence {cur_last}; expected {0 if cur_last == INT32_MAX else cur_last + 1}"
                    )
            overlay[pid] = (epoch, last)
        return None

    def update(self, header: BatchHeader) -> None:
        """Record a batch as written at ``header.base_offset`` (no validation; used for rebuilds)."""
        next_offset = header.base_offset + header.last_offset_delta + 1
        if next_offset > self.map_end_offset:
            self.map_end_offset = next_offset
        pid = header.producer_id
        if pid < 0:
            return
        entry = self._entries.get(pid)
        if entry is None:
            entry = self._entries[pid] = ProducerEntry(pid, header.producer_epoch)
        elif header.producer_epoch != entry.epoch:
            entry.epoch = header.producer_epoch
            entry.batches.clear()
        entry.last_timestamp = header.max_timestamp
        if header.attributes & _CONTROL:
            entry.txn_first_offset = -1  # a transaction marker closes the open transaction
            return
        if header.base_sequence >= 0:
            entry.batches.append(
                BatchMetadata(
                    header.base_sequence,
                    last_sequence(header),
                    header.base_offset,
                    header.base_offset + header.last_offset_delta,
                    header.max_timestamp,
                )
            )
        if header.attributes & _TRANSACTIONAL and entry.txn_first_offset < 0:
            entry.txn_first_offset = header.base_offset

    def check_and_update(self, header: BatchHeader) -> DuplicateInfo | None:
        """Validate one batch whose offsets are assigned and, unless it is a duplicate, record it."""
        dup = self.validate((header,))
        if dup is None:
            self.update(header)
        return dup

    def set_coordinator_epoch(self, producer_id: int, coordinator_epoch: int) -> None:
        entry = self._entries.get(producer_id)
        if entry is not None:
            entry.coordinator_epoch = coordinator_epoch

    def first_unstable_offset(self) -> int | None:
        """The smallest first offset of an open transaction (bounds the last stable offset)."""
        offsets = [e.txn_first_offset for e in self._entries.values() if e.txn_first_offset >= 0]
        return min(offsets) if offsets else None

    def remove_expired(self, now_ms: int, expiration_ms: int) -> int:
        """Forget producers idle for longer than ``expiration_ms`` with no open transaction."""
        doomed = [
            pid
            for pid, e in self._entries.items()
            if e.txn_first_offset < 0 and e.last_timestamp >= 0 and now_ms - e.last_timestamp > expiration_ms
        ]
        for pid in doomed:
            del self._entries[pid]
        return len(doomed)

    def clear(self, map_end_offset: int = 0) -> None:
        self._entries.clear()
        self.map_end_offset = map_end_offset

    # ----------------------------------------------------------------------- snapshots

    def to_bytes(self) -> bytes:
        parts = [_SNAP_HEAD.pack(_SNAP_MAGIC, 1, self.map_end_offset, len(self._entries))]
        for e in self._entries.values():
            parts.append(
                _SNAP_ENTRY.pack(
                    e.producer_id,
                    e.epoch,
                    e.coordinator_epoch,
                    e.txn_first_offset,
                    e.last_timestamp,
                    len(e.batches),
                )
            )
            parts.extend(_SNAP_BATCH.pack(*b) for b in e.batches)
        body = b"".join(parts)
        return body + _SNAP_CRC.pack(crc32c(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> ProducerStateManager:
        """Parse a snapshot; raises ValueError naming the defect when it is not a valid one."""
        if len(data) < _SNAP_HEAD.size + _SNAP_CRC.size:
            raise ValueError(f"producer snapshot is {len(data)} bytes, too short")
        body = memoryview(data)[: -_SNAP_CRC.size]
        (stored,) = _SNAP_CRC.unpack_from(data, len(data) - _SNAP_CRC.size)
        if crc32c(body) != stored:
            raise ValueError("producer snapshot fails its CRC-32C check")
        magic, version, map_end, count = _SNAP_HEAD.unpack_from(body)
        if magic != _SNAP_MAGIC or version != 1:
            raise ValueError(f"not a kafkakit producer snapshot (magic {magic!r}, version {version})")
        mgr = cls()
        mgr.map_end_offset = map_end
        pos = _SNAP_HEAD.size
        try:
            for _ in range(count):
                pid, epoch, coord, txn_first, last_ts, n = _SNAP_ENTRY.unpack_from(body, pos)
                pos += _SNAP_ENTRY.size
                e = ProducerEntry(pid, epoch)
                e.coordinator_epoch = coord
                e.txn_first_offset = txn_first
                e.last_timestamp = last_ts
                for _b in range(n):
                    e.batches.append(BatchMetadata(*_SNAP_BATCH.unpack_from(body, pos)))
                    pos += _SNAP_BATCH.size
                mgr._entries[pid] = e
        except struct.error as exc:
            raise ValueError(f"producer snapshot is truncated: {exc}") from None
        if pos != len(body):
            raise ValueError(f"producer snapshot has {len(body) - pos} bytes left over")
        return mgr

    def write_snapshot(self, directory: Path, *, fsync: bool = False) -> Path:
        """Write ``<map_end_offset>.snapshot`` into ``directory`` (atomically)."""
        path = snapshot_path(directory, self.map_end_offset)
        atomic_write(path, self.to_bytes(), fsync=fsync)
        return path


def snapshot_path(directory: Path, offset: int) -> Path:
    return directory / f"{offset:020d}{SNAPSHOT_SUFFIX}"


def list_snapshots(directory: Path) -> list[tuple[int, Path]]:
    """(offset, path) of every snapshot file in ``directory``, oldest first."""
    out: list[tuple[int, Path]] = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return out
    for name in names:
        if name.endswith(SNAPSHOT_SUFFIX):
            stem = name[: -len(SNAPSHOT_SUFFIX)]
            if len(stem) == 20 and stem.isdigit():
                out.append((int(stem), directory / name))
    out.sort()
    return out


def delete_snapshots(directory: Path, *, below: int | None = None, above: int | None = None) -> None:
    """Delete snapshots whose offset is < ``below`` or > ``above``."""
    for offset, path in list_snapshots(directory):
        if (below is not None and offset < below) or (above is not None and offset > above):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def load_latest_snapshot(directory: Path, max_offset: int) -> ProducerStateManager | None:
    """The newest valid snapshot at or below ``max_offset`` (invalid files are deleted), or None."""
    for offset, path in reversed(list_snapshots(directory)):
        if offset > max_offset:
            continue
        data = read_small_file(path)
        if data is None:
            continue
        try:
            mgr = ProducerStateManager.from_bytes(data)
        except ValueError:
            path.unlink(missing_ok=True)
            continue
        if mgr.map_end_offset != offset:
            path.unlink(missing_ok=True)
            continue
        return mgr
    return None


def rebuild(mgr: ProducerStateManager, headers: Iterable[BatchHeader]) -> None:
    """Replay batch headers (already in the log) into ``mgr``."""
    update = mgr.update
    for h in headers:
        update(h)


# ---------------------------------------------------------------------------------------------
# producer ids


class ProducerIdManager:
    """Hands out producer ids that are never reused, across restarts and crashes.

    The file ``<data_dir>/producer-id-block`` holds the first id not yet reserved. Ids come from a
    block of ``block_size`` reserved by writing the block's end there (atomically, fsynced) before
    the first id of the block is returned. A crash wastes at most the rest of a block.
    """

    FILE_NAME = "producer-id-block"

    def __init__(self, data_dir: str | os.PathLike[str], *, block_size: int = 1000) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be at least 1, got {block_size}")
        self.path = Path(data_dir) / self.FILE_NAME
        self.block_size = block_size
        self._lock = threading.Lock()
        raw = read_small_file(self.path)
        start = 0
        if raw is not None:
            text = raw.decode("ascii", "replace").strip()
            try:
                start = int(text)
            except ValueError:
                raise ValueError(
                    f"{self.path} is corrupt (holds {text[:40]!r}, not a producer id): "
                    "refusing to start, since producer ids could be reused"
                ) from None
            if start < 0:
                raise ValueError(f"{self.path} holds a negative producer id {start}")
        self._next = start
        self._limit = start  # nothing of the next block is reserved yet

    def next_id(self) -> int:
        """A producer id never returned before by this data dir."""
        with self._lock:
            if self._next >= self._limit:
                limit = self._next + self.block_size
                self.path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(self.path, f"{limit}\n".encode(), fsync=True)
                self._limit = limit
            pid = self._next
            self._next += 1
            return pid

    def close(self) -> None:
        """Give back the unused rest of the block (only ids never handed out)."""
        with self._lock:
            if self._limit > self._next:
                atomic_write(self.path, f"{self._next}\n".encode(), fsync=True)
                self._limit = self._next
