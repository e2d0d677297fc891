"""Durable partition log of the embedded broker: ``PartitionLog`` (configured by ``LogConfig``,
``kafkakit.broker.log_config``, re-exported here).

How it works: a partition lives in ``<data_dir>/<topic>-<partition>/`` as segments named by their
20-digit base offset (``kafkakit.broker.segment``), plus ``partition.checkpoint`` (log start
offset and recovery point), ``leader-epoch-checkpoint`` and producer-state ``<offset>.snapshot``
files. ``append`` validates every batch of a request first (size, magic 2, CRC-32C — one C call
per batch over a memoryview —, offset delta vs record count, max.message.bytes) and the producer
sequences (``kafkakit.broker.producer_state``); any failure raises and nothing is written. Then it
rolls the segment if needed, rewrites each batch's base offset and partition leader epoch in a
61-byte header copy (the CRC does not cover them; LogAppendTime topics also rewrite attributes
and max timestamp and recompute the CRC), and writes the whole request with one ``os.writev``:
no per-record work. The bytes are in the OS before ``append`` returns (they survive kill -9);
with ``fsync=True`` the caller awaits ``GroupCommitter.sync(log)`` (``kafkakit.broker.durability``)
before acknowledging, which fsyncs through ``begin_sync`` without blocking the event loop.

``read`` returns whole stored batches starting with the one holding the requested offset (the
consumer skips the records before it), up to ``max_bytes`` but at least one batch (KIP-74), from a
single segment, as file regions for ``os.sendfile`` plus ``to_bytes()``. Retention deletes whole
old segments by time, bytes and log start offset (moved by DeleteRecords and persisted before
returning). Deleted segments are unlinked at once but their files are closed only after
``file.delete.delay.ms``, so a region handed to a reader stays valid while it is sent.

Opening after a clean shutdown (``durability.was_clean`` or ``clean=True``) trusts the files after
checking the active segment's tail; otherwise every segment from the recovery point on is
re-validated (size, CRC, contiguous offsets), truncated at the first invalid byte, later segments
dropped and indexes rebuilt. Producer state is rebuilt from the newest snapshot plus the headers
after it; that replay also recomputes the aborted transactions it passes, whose index
(``kafkakit.broker.txn_index``, fed by ``append(..., allow_control=True)`` when an ABORT marker
closes a transaction) answers read_committed fetches. ``cleanup.policy=compact`` is accepted but compaction is not implemented: such a topic
is kept whole (``delete,compact`` applies the delete part).

What it must never do: write part of a request, serve or keep bytes past the last valid batch,
move the log start offset without persisting it first, reuse an offset, or let a reader see a
region of a file that was already closed.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from bisect import bisect_right
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from crc32c import crc32c

from kafkakit.broker import producer_state as ps
from kafkakit.broker.durability import PendingSync, atomic_write, fsync_dir, read_small_file, was_clean
from kafkakit.broker.log_config import LogConfig
from kafkakit.broker.segment import HEADER, INT32_MAX, FileRegion, ReadResult, Segment, parse_request
from kafkakit.broker.txn_index import AbortedTxn, AbortedTxnIndex, control_type, record_batches
from kafkakit.errors import (
    CorruptRecordError,
    InvalidRecordError,
    KafkaStorageError,
    OffsetOutOfRangeError,
    RecordListTooLargeError,
)
from kafkakit.record import BatchHeader

if TYPE_CHECKING:
    from kafkakit.broker.durability import GroupCommitter

__all__ = ["AppendResult", "FileRegion", "LogConfig", "PartitionLog", "ReadResult"]

CHECKPOINT_FILE = "partition.checkpoint"
LEADER_EPOCH_FILE = "leader-epoch-checkpoint"
SNAPSHOTS_KEPT = 3
_unpack = HEADER.unpack_from
_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_U32 = struct.Struct(">I")
_I16 = struct.Struct(">h")
_CONTROL = 0x20
_new = tuple.__new__


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---------------------------------------------------------------------------------------------
# results


class AppendResult(NamedTuple):
    """Where an append went. ``duplicate``: an idempotent resend, answered with the original offsets."""

    base_offset: int
    last_offset: int
    log_append_time_ms: int
    log_start_offset: int
    batch_headers: list[BatchHeader]
    duplicate: bool = False


# ---------------------------------------------------------------------------------------------
# the log


class PartitionLog:
    """The durable log of one partition. Open it with ``PartitionLog.open``; every method locks."""

    def __init__(self, path: Path, config: LogConfig, *, fsync: bool) -> None:
        self.path = path
        self.name = path.name
        self.config = config
        self.fsync = fsync
        self.producer_state = ps.ProducerStateManager()
        #: bytes cut off by the last open's recovery (0 after a clean start)
        self.recovery_truncated_bytes = 0
        self._lock = threading.RLock()
        self._segments: list[Segment] = []
        self._bases: list[int] = []
        self._log_start_offset = 0
        self._recovery_point = 0
        self._synced_offset = 0
        self._epochs: list[tuple[int, int]] = []  # (leader epoch, start offset)
        self._retired: list[tuple[int, Segment]] = []  # (close after ms, segment)
        self._txn_index: AbortedTxnIndex | None = None
        self._closed = False

    # ------------------------------------------------------------------ opening and recovery

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        config: LogConfig,
        *,
        fsync: bool = False,
        clean: bool | None = None,
        now_ms: int | None = None,
    ) -> PartitionLog:
        """Open (creating if needed) the log in ``path``; recover it unless the last stop was clean.

        ``clean=None`` asks ``durability.was_clean`` about the parent (data) directory.
        """
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        if clean is None:
            clean = was_clean(p.parent)
        log = cls(p, config, fsync=fsync)
        with log._lock:
            log._load(clean, _now_ms() if now_ms is None else now_ms)
        return log

    def _load(self, clean: bool, now: int) -> None:
        interval = self.config.index_interval_bytes
        lso, recovery_point = self._read_checkpoint()
        bases = []
        names = os.listdir(self.path)
        logs = {n[:-4] for n in names if n.endswith(".log")}
        for n in names:
            stem, _, ext = n.partition(".")
            if n.endswith(".tmp") or (ext in ("index", "timeindex") and stem not in logs):
                (self.path / n).unlink(missing_ok=True)
            elif ext == "log" and len(stem) == 20 and stem.isdigit():
                bases.append(int(stem))
        bases.sort()
        segs = [Segment.open_existing(self.path, b, index_interval=interval) for b in bases]
        for i in range(len(segs) - 1):
            segs[i].next_offset = segs[i + 1].base_offset
        truncated = 0
        if segs and clean:
            if not segs[-1].check_tail():
                truncated += segs[-1].recover()
        elif segs:
            first = max(0, bisect_right(bases, recovery_point) - 1)
            for i in range(first, len(segs)):
                seg = segs[i]
                cut = seg.recover()
                truncated += cut
                if i < len(segs) - 1:
                    seg.seal()
                if cut:
                    for later in segs[i + 1 :]:
                        truncated += later.size
                        later.file.close()
                        later.delete_files()
                    del segs[i + 1 :]
                    break
        for seg in segs[:-1]:
            if not seg.index_path.exists() or not seg.time_index_path.exists():
                seg.rebuild_indexes()
        self.recovery_truncated_bytes = truncated
        if segs:
            lso = max(lso, segs[0].base_offset)
        if not segs or segs[-1].next_offset < lso:
            # nothing on disk, or the data above the persisted log start offset is gone
            for seg in segs:
                seg.file.close()
                seg.delete_files()
            segs = [Segment.create(self.path, lso, index_interval=interval, now_ms=now)]
        self._segments = segs
        self._bases = [s.base_offset for s in segs]
        self._log_start_offset = lso
        leo = segs[-1].next_offset
        self._recovery_point = leo if clean else min(recovery_point, leo)
        self._synced_offset = self._recovery_point
        self._epochs = [e for e in self._read_epochs() if e[1] <= leo]
        self._rebuild_producer_state(leo)
        if self.fsync:  # make a new partition directory and its first segment durable
            fsync_dir(self.path)
            fsync_dir(self.path.parent)

    def _rebuild_producer_state(self, leo: int) -> None:
        ps.delete_snapshots(self.path, above=leo)
        mgr = ps.load_latest_snapshot(self.path, leo)
        start = self._segments[0].base_offset
        if mgr is None:
            mgr = ps.ProducerStateManager()
        else:
            start = max(start, mgr.map_end_offset)
        aborted: list[AbortedTxn] = []
        if start < leo:
            aborted = record_batches(
                mgr, self.iter_batch_headers(start), lambda _i, h: self._stored_control_type(h.base_offset)
            )
        mgr.map_end_offset = leo
        self.producer_state = mgr
        self._txn_index = AbortedTxnIndex.open(
            self.path,
            fsync=self.fsync,
            replay_from=start,
            log_start=self._log_start_offset,
            log_end=leo,
            recomputed=aborted,
        )

    def _stored_control_type(self, offset: int) -> int:
        """The marker type of the stored control batch at ``offset`` (-1 when unreadable)."""
        i = max(0, bisect_right(self._bases, offset) - 1)
        info = self._segments[i].find_batch(offset)
        if info is None or info.base_offset != offset:
            return -1
        try:
            return control_type(self._segments[i].read_bytes(info.position, info.size))
        except (InvalidRecordError, CorruptRecordError, OSError):
            return -1

    def _read_checkpoint(self) -> tuple[int, int]:
        raw = read_small_file(self.path / CHECKPOINT_FILE)
        values = {"log_start_offset": 0, "recovery_point": 0}
        if raw:
            for line in raw.decode("ascii", "replace").splitlines()[1:]:
                key, _, value = line.partition("=")
                if key in values and value.strip().isdigit():
                    values[key] = int(value)
        return values["log_start_offset"], values["recovery_point"]

    def _write_checkpoint(self) -> None:
        text = (
            "kafkakit-partition-checkpoint 1\n"
            f"log_start_offset={self._log_start_offset}\n"
            f"recovery_point={self._recovery_point}\n"
        )
        atomic_write(self.path / CHECKPOINT_FILE, text.encode(), fsync=True)

    def _read_epochs(self) -> list[tuple[int, int]]:
        raw = read_small_file(self.path / LEADER_EPOCH_FILE)
        out: list[tuple[int, int]] = []
        if raw:
            lines = raw.decode("ascii", "replace").split("\n")
            for line in lines[2:]:
                parts = line.split()
                if len(parts) == 2 and all(p.lstrip("-").isdigit() for p in parts):
                    out.append((int(parts[0]), int(parts[1])))
        return out

    def _write_epochs(self) -> None:
        body = "".join(f"{e} {o}\n" for e, o in self._epochs)
        atomic_write(
            self.path / LEADER_EPOCH_FILE, f"0\n{len(self._epochs)}\n{body}".encode(), fsync=self.fsync
        )

    # ------------------------------------------------------------------ properties

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        """The next offset to assign; also the high watermark (single node)."""
        return self._segments[-1].next_offset

    high_watermark = log_end_offset

    @property
    def last_stable_offset(self) -> int:
        """Offsets below this hold no record of a still-open transaction."""
        first = self.producer_state.first_unstable_offset()
        leo = self.log_end_offset
        return leo if first is None else min(first, leo)

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def recovery_point(self) -> int:
        return self._recovery_point

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(self._segments)

    def latest_offset(self) -> int:
        """ListOffsets -1 (LATEST)."""
        return self.log_end_offset

    def earliest_offset(self) -> int:
        """ListOffsets -2 (EARLIEST)."""
        return self._log_start_offset

    # ------------------------------------------------------------------ append

    def append(
        self,
        records: bytes | bytearray | memoryview,
        *,
        leader_epoch: int = 0,
        timestamp_type_log_append: bool = False,
        now_ms: int | None = None,
        allow_control: bool = False,
    ) -> AppendResult:
        """Validate and append the record batches of one produce request (all or nothing).

        Raises CorruptRecordError (size/CRC/truncation), UnsupportedForMessageFormatError
        (magic 0/1), InvalidRecordError (inconsistent header, control batch from a client unless
        ``allow_control``), MessageSizeTooLargeError (batch > max.message.bytes),
        RecordListTooLargeError (request > segment.bytes), OutOfOrderSequenceNumberError /
        InvalidProducerEpochError (idempotence), KafkaStorageError (the write failed).
        """
        mv = memoryview(records)
        if mv.ndim != 1 or mv.itemsize != 1:
            mv = mv.cast("B")
        n = len(mv)
        name = self.name
        cfg = self.config
        if n == 0:
            raise InvalidRecordError(f"{name}: the produce request holds no record batch")
        if n > cfg.segment_bytes:
            raise RecordListTooLargeError(
                f"{name}: {n} bytes of records exceed the segment size segment.bytes={cfg.segment_bytes}"
            )
        parsed, idempotent = parse_request(mv, name, cfg.max_message_bytes, allow_control)
        # transaction markers (only the broker writes them): their type, by batch position
        markers = (
            {
                i: control_type(mv[pos : pos + size])
                for i, (pos, size, h) in enumerate(parsed)
                if h[5] & _CONTROL
            }
            if allow_control
            else None
        )

        with self._lock:
            if self._closed:
                raise KafkaStorageError(f"{name}: the log is closed")
            now = _now_ms() if now_ms is None else now_ms
            log_append = timestamp_type_log_append or cfg.message_timestamp_type == "LogAppendTime"
            producers = self.producer_state
            if idempotent:
                dup = producers.validate([_new(BatchHeader, h) for _p, _s, h in parsed if h[9] >= 0])
                if dup is not None:
                    return AppendResult(
                        dup.base_offset,
                        dup.last_offset,
                        dup.timestamp if log_append else -1,
                        self._log_start_offset,
                        [],
                        True,
                    )
            offset = self.log_end_offset
            last_offset = offset + sum(h[6] + 1 for _p, _s, h in parsed) - 1
            incoming_ts = now if log_append else max(h[8] for _p, _s, h in parsed)
            seg = self._segments[-1]
            if self._should_roll(seg, n, last_offset, incoming_ts, now):
                seg = self._roll(now)
            buffers: list[bytes | bytearray | memoryview] = []
            infos: list[tuple[int, int, int, int]] = []
            headers: list[BatchHeader] = []
            for pos, size, h in parsed:
                head = bytearray(mv[pos : pos + 61])
                _I64.pack_into(head, 0, offset)
                _I32.pack_into(head, 12, leader_epoch)
                attributes, max_ts, crc = h[5], h[8], h[4]
                if log_append:
                    attributes |= 0x08
                    max_ts = now
                    _I16.pack_into(head, 21, attributes)
                    _I64.pack_into(head, 35, now)
                    crc = crc32c(mv[pos + 61 : pos + size], crc32c(memoryview(head)[21:]))
                    _U32.pack_into(head, 17, crc)
                buffers.append(head)
                if size > 61:
                    buffers.append(mv[pos + 61 : pos + size])
                last = offset + h[6]
                infos.append((offset, last, size, max_ts))
                headers.append(
                    _new(
                        BatchHeader,
                        (
                            offset,
                            h[1],
                            leader_epoch,
                            2,
                            crc,
                            attributes,
                            h[6],
                            h[7],
                            max_ts,
                            h[9],
                            h[10],
                            h[11],
                            h[12],
                        ),
                    )
                )
                offset = last + 1
            seg.append(buffers, n, infos)
            if markers:
                # an ABORT that closes a transaction with data here goes into the aborted index
                aborted = record_batches(producers, headers, lambda i, _h: markers[i])
                if aborted and self._txn_index is not None:
                    self._txn_index.append(aborted)
            elif idempotent:
                for bh in headers:
                    if bh.producer_id >= 0:
                        producers.update(bh)
            producers.map_end_offset = offset
            if not self._epochs or leader_epoch > self._epochs[-1][0]:
                self._epochs.append((leader_epoch, headers[0].base_offset))
                if len(self._epochs) > 1 or leader_epoch != 0:  # a lone epoch 0 is the default anyway
                    self._write_epochs()
            return AppendResult(
                headers[0].base_offset,
                offset - 1,
                now if log_append else -1,
                self._log_start_offset,
                headers,
            )

    def aborted_transactions(self, start: int, end: int) -> list[AbortedTxn]:
        """Aborted transactions overlapping offsets [start, end) (for read_committed fetches)."""
        with self._lock:
            return self._txn_index.collect(start, end) if self._txn_index is not None else []

    async def append_durable(
        self,
        records: bytes | bytearray | memoryview,
        committer: GroupCommitter | None,
        **kwargs: Any,
    ) -> AppendResult:
        """``append``, then, with fsync on, wait until the committer has fsynced it."""
        result = self.append(records, **kwargs)
        if self.fsync and committer is not None:
            await committer.sync(self)
        return result

    def _should_roll(self, seg: Segment, incoming: int, last_offset: int, incoming_ts: int, now: int) -> bool:
        if seg.size == 0:
            return False
        if seg.size + incoming > self.config.segment_bytes or last_offset - seg.base_offset > INT32_MAX:
            return True
        if seg.rolling_timestamp >= 0 and incoming_ts >= 0:
            waited = incoming_ts - seg.rolling_timestamp
        else:
            waited = now - seg.created_ms
        return waited > self.config.segment_ms

    def _roll(self, now: int) -> Segment:
        old = self._segments[-1]
        if old.size == 0:
            return old
        old.seal()
        new = Segment.create(
            self.path, old.next_offset, index_interval=self.config.index_interval_bytes, now_ms=now
        )
        self._segments.append(new)
        self._bases.append(new.base_offset)
        mgr = self.producer_state
        mgr.map_end_offset = new.base_offset
        if self._txn_index is not None:
            self._txn_index.checkpoint(fsync=self.fsync)
        mgr.write_snapshot(self.path, fsync=self.fsync)
        self._prune_snapshots()
        if self.fsync:
            fsync_dir(self.path)
        return new

    def _prune_snapshots(self) -> None:
        snaps = ps.list_snapshots(self.path)
        first = self._segments[0].base_offset
        for i, (offset, path) in enumerate(snaps):
            if offset < first or i < len(snaps) - SNAPSHOTS_KEPT:
                path.unlink(missing_ok=True)

    def maybe_roll(self, now_ms: int | None = None) -> bool:
        """Roll the active segment if it is older than segment.ms (size rolls happen in append)."""
        with self._lock:
            now = _now_ms() if now_ms is None else now_ms
            seg = self._segments[-1]
            if self._closed or not self._should_roll(seg, 0, seg.next_offset, now, now):
                return False
            self._roll(now)
            return True

    def roll(self, now_ms: int | None = None) -> None:
        """Start a new segment now (no-op when the active one is empty)."""
        with self._lock:
            self._roll(_now_ms() if now_ms is None else now_ms)

    # ------------------------------------------------------------------ reads

    def _check_offset(self, offset: int) -> None:
        if offset < self._log_start_offset or offset > self.log_end_offset:
            raise OffsetOutOfRangeError(
                f"{self.name}: offset {offset} is out of range: the log holds offsets "
                f"{self._log_start_offset} to {self.log_end_offset} (exclusive)"
            )

    def read(
        self, offset: int, max_bytes: int, *, min_one: bool = True, max_offset: int | None = None
    ) -> ReadResult:
        """Whole batches from the one holding ``offset``: at most ``max_bytes``, at least one if ``min_one``.

        ``max_offset`` (e.g. the last stable offset) excludes batches at or above it. Raises
        OffsetOutOfRangeError below the log start offset or above the log end offset.
        """
        with self._lock:
            self._check_offset(offset)
            lso, leo = self._log_start_offset, self.log_end_offset
            limit = leo if max_offset is None else min(max_offset, leo)
            empty = ReadResult([], -1, lso, leo)
            if offset >= limit:
                return empty
            i = max(0, bisect_right(self._bases, offset) - 1)
            while i < len(self._segments):
                seg = self._segments[i]
                info = seg.find_batch(offset)
                if info is None:
                    i += 1
                    continue
                if info.base_offset >= limit:
                    return empty
                end_pos = seg.size
                if limit < seg.next_offset:
                    stop = seg.find_batch(limit)
                    end_pos = stop.position if stop is not None else seg.size
                start = info.position
                if end_pos <= start:
                    return empty
                if info.size > max_bytes:
                    if not min_one:
                        return empty
                    end = start + info.size
                else:
                    end = seg.batch_boundary(start, min(start + max_bytes, end_pos))
                return ReadResult([FileRegion(seg.file, start, end - start)], info.base_offset, lso, leo)
            return empty

    def iter_batch_headers(self, from_offset: int = 0) -> Iterator[BatchHeader]:
        """Headers of the stored batches from the one holding ``from_offset`` (snapshot of the segments)."""
        segs = list(self._segments)
        i = max(0, bisect_right([s.base_offset for s in segs], from_offset) - 1)
        for seg in segs[i:]:
            yield from seg.iter_headers(from_offset)

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the earliest record with timestamp >= ``timestamp``, None if none."""
        with self._lock:
            lso = self._log_start_offset
            for seg in self._segments:
                if seg.next_offset <= lso or seg.max_timestamp < timestamp:
                    continue
                found = seg.offset_for_timestamp(timestamp, lso)
                if found is not None:
                    return found
            return None

    def max_timestamp_offset(self) -> tuple[int, int]:
        """ListOffsets -3: (offset, timestamp) of the record with the largest timestamp; (-1, -1) if empty."""
        with self._lock:
            best: Segment | None = None
            for seg in self._segments:
                if seg.max_timestamp >= 0 and (best is None or seg.max_timestamp > best.max_timestamp):
                    best = seg
            return (-1, -1) if best is None else best.max_timestamp_record()

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """OffsetForLeaderEpoch: (epoch, end offset) as Kafka's leader-epoch cache answers; (-1, -1) unknown."""
        with self._lock:
            epochs = self._epochs or [(0, self._log_start_offset)]
            latest = epochs[-1][0]
            if epoch < 0 or epoch > latest:
                return (-1, -1)
            if epoch == latest:
                return (epoch, self.log_end_offset)
            higher = next(e for e in epochs if e[0] > epoch)
            floor = [e for e in epochs if e[0] <= epoch]
            return (floor[-1][0] if floor else epoch, higher[1])

    # ------------------------------------------------------------------ deletion

    def delete_records_before(self, offset: int) -> int:
        """DeleteRecords: make ``offset`` (-1: the high watermark) the log start offset; returns it."""
        with self._lock:
            leo = self.log_end_offset
            if offset == -1:
                offset = leo
            if offset < 0 or offset > leo:
                raise OffsetOutOfRangeError(
                    f"{self.name}: cannot delete records before offset {offset}: "
                    f"it must lie between 0 and the high watermark {leo}"
                )
            if offset > self._log_start_offset:
                self._log_start_offset = offset
                self._write_checkpoint()
                self._delete_oldest(lambda seg, nxt: nxt is not None and nxt.base_offset <= offset, _now_ms())
            return self._log_start_offset

    def apply_retention(self, now_ms: int | None = None) -> int:
        """Delete whole old segments by log start offset, retention.ms and retention.bytes; returns how many."""
        with self._lock:
            if self._closed:
                return 0
            now = _now_ms() if now_ms is None else now_ms
            self._close_retired(now)
            lso = self._log_start_offset
            deleted = self._delete_oldest(lambda seg, nxt: nxt is not None and nxt.base_offset <= lso, now)
            cfg = self.config
            if not cfg.delete_enabled:
                return deleted
            if cfg.retention_ms >= 0:
                deleted += self._delete_oldest(
                    lambda seg, nxt: seg.size > 0 and now - _largest_timestamp(seg) > cfg.retention_ms, now
                )
            if cfg.retention_bytes >= 0:
                excess = self.size_in_bytes - cfg.retention_bytes

                def over(seg: Segment, nxt: Segment | None) -> bool:
                    nonlocal excess
                    if seg.size > 0 and excess - seg.size >= 0:
                        excess -= seg.size
                        return True
                    return False

                deleted += self._delete_oldest(over, now)
            return deleted

    def _delete_oldest(self, doomed: Any, now: int) -> int:
        """Delete the oldest segments while ``doomed(segment, next_segment)`` holds."""
        segs = self._segments
        count = 0
        while count < len(segs) and doomed(segs[count], segs[count + 1] if count + 1 < len(segs) else None):
            count += 1
        if count == 0:
            return 0
        if count == len(segs):
            self._roll(now)  # a log always keeps one (active) segment
        delay = self.config.file_delete_delay_ms
        for seg in segs[:count]:
            seg.delete_files()
            self._retired.append((now + delay, seg))
        del segs[:count]
        self._bases = [s.base_offset for s in segs]
        if segs[0].base_offset > self._log_start_offset:
            self._log_start_offset = segs[0].base_offset
        self._write_checkpoint()
        self._prune_snapshots()
        if self._txn_index is not None:
            self._txn_index.prune(self._log_start_offset)
        self._close_retired(now)
        return count

    def _close_retired(self, now: int) -> None:
        keep = []
        for due, seg in self._retired:
            if due <= now:
                seg.file.close()
            else:
                keep.append((due, seg))
        self._retired = keep

    # ------------------------------------------------------------------ durability

    def begin_sync(self) -> PendingSync | None:
        """For ``GroupCommitter``: the files with bytes not yet fsynced, or None."""
        with self._lock:
            target = self.log_end_offset
            if self._synced_offset >= target or self._closed:
                return None
            synced = self._synced_offset
            files = [s.file for s in reversed(self._segments) if s.next_offset > synced and s.size]
            files.reverse()

            def done() -> None:
                with self._lock:
                    if target > self._synced_offset:
                        self._synced_offset = target

            return PendingSync(files, done)

    @property
    def synced_offset(self) -> int:
        """Everything below this offset is known to be fsynced."""
        return self._synced_offset

    def flush(self) -> None:
        """fsync data and indexes of every segment not yet flushed, then persist the recovery point."""
        with self._lock:
            if self._closed:
                return
            leo = self.log_end_offset
            for seg in self._segments:
                if seg.next_offset > self._recovery_point or seg is self._segments[-1]:
                    seg.save_indexes(fsync=True)
                    seg.fsync()
            if self._txn_index is not None:
                self._txn_index.checkpoint(fsync=True)
            fsync_dir(self.path)
            self._recovery_point = leo
            if leo > self._synced_offset:
                self._synced_offset = leo
            self._write_checkpoint()

    def update_config(self, config: LogConfig) -> None:
        with self._lock:
            self.config = config
            for seg in self._segments:
                seg.index_interval = config.index_interval_bytes

    def close(self) -> None:
        """Write a producer snapshot, flush, close every file. Idempotent."""
        with self._lock:
            if self._closed:
                return
            try:
                if self._txn_index is not None:
                    self._txn_index.checkpoint(fsync=True)
                self.producer_state.map_end_offset = self.log_end_offset
                self.producer_state.write_snapshot(self.path, fsync=True)
                self._prune_snapshots()
                self._segments[-1].seal()
                self.flush()
            finally:
                self._closed = True
                if self._txn_index is not None:
                    self._txn_index.close()
                for seg in self._segments:
                    seg.close()
                for _due, seg in self._retired:
                    seg.file.close()
                self._retired = []

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return (
            f"PartitionLog({self.name!r}, start={self._log_start_offset}, end={self.log_end_offset}, "
            f"segments={len(self._segments)})"
        )


def _largest_timestamp(seg: Segment) -> int:
    if seg.max_timestamp >= 0:
        return seg.max_timestamp
    return os.fstat(seg.file.fileno()).st_mtime_ns // 1_000_000
