"""The aborted-transaction index of one partition log (what read_committed fetches must be told).

How it works: every time an ABORT marker closes a transaction that wrote data to the partition,
the log records an ``AbortedTxn``: the producer id, the first offset of the transaction in this
partition, the offset of the marker (``last_offset``) and the last stable offset right after it.
Entries live in memory in marker order (so by ``last_offset``) and in
``<partition dir>/aborted.txnindex``, 32 bytes each (four big-endian int64), appended with one
``os.write`` right after the marker itself was written. A Fetch at isolation level
read_committed asks ``collect(start, end)`` for the transactions that overlap the fetched range
(``last_offset >= start`` and ``first_offset < end``): a bisect on the last offsets, then a short
scan. Retention drops entries whose marker is below the log start offset.

On open, the file is trusted only below ``replay_from`` (the offset the producer state was
rebuilt from): everything from there on is recomputed by the log while it replays its batches and
handed in as ``recomputed``, so a crash between writing a marker and writing its index entry
loses nothing. A torn entry at the end of the file is ignored, and the file is rewritten
(atomically) whenever what is kept differs from what was read.

What it must never do: hold an entry whose marker is not in the log, lose an entry the log's
replay cannot recompute, or change memory when the file write failed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from bisect import bisect_left
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from kafkakit.broker.durability import atomic_write, fsync_file, read_small_file
from kafkakit.errors import CorruptRecordError, InvalidRecordError
from kafkakit.record import BatchHeader, ControlRecordType, decode_batch, decode_control_record_key

if TYPE_CHECKING:
    from kafkakit.broker.producer_state import ProducerStateManager

log = logging.getLogger("kafkakit.broker")

__all__ = ["TXN_INDEX_FILE", "AbortedTxn", "AbortedTxnIndex", "control_type", "record_batches"]

TXN_INDEX_FILE = "aborted.txnindex"
_ENTRY = struct.Struct(">qqqq")
_CONTROL = 0x20


class AbortedTxn(NamedTuple):
    """One aborted transaction of one producer in one partition."""

    producer_id: int
    first_offset: int
    #: offset of the ABORT marker
    last_offset: int
    #: the partition's last stable offset once the marker was written
    last_stable_offset: int


def control_type(batch: bytes | bytearray | memoryview) -> int:
    """ControlRecordType (0 ABORT, 1 COMMIT) of a stored control batch; InvalidRecordError when
    the batch holds no readable transaction marker."""
    try:
        _header, records = decode_batch(batch)
        if not records:
            raise InvalidRecordError("the control batch holds no record")
        _version, ctype = decode_control_record_key(records[0].key)
    except CorruptRecordError as exc:
        raise InvalidRecordError(f"unreadable control batch: {exc}") from None
    if ctype not in (ControlRecordType.ABORT, ControlRecordType.COMMIT):
        raise InvalidRecordError(f"control record type {ctype} is not a transaction marker")
    return int(ctype)


def record_batches(
    producers: ProducerStateManager,
    headers: Iterable[BatchHeader],
    marker_type: Callable[[int, BatchHeader], int],
) -> list[AbortedTxn]:
    """Record written batches (their headers, offsets assigned) in the producer state; returns
    the aborted transactions that ABORT markers among them close. ``marker_type(i, header)`` is
    the ControlRecordType of the i-th header when it is a control batch."""
    aborted: list[AbortedTxn] = []
    for i, h in enumerate(headers):
        first = -1
        if h.attributes & _CONTROL and h.producer_id >= 0:
            entry = producers.entry(h.producer_id)
            first = entry.txn_first_offset if entry is not None else -1
        producers.update(h)
        if first >= 0 and marker_type(i, h) == ControlRecordType.ABORT:
            lso = producers.first_unstable_offset()
            end = h.base_offset + 1 if lso is None else lso
            aborted.append(AbortedTxn(h.producer_id, first, h.base_offset, end))
    return aborted


class AbortedTxnIndex:
    """Aborted transactions of one partition, in memory and in ``aborted.txnindex``.

    Not thread safe: the owning ``PartitionLog`` calls it under its lock.
    """

    def __init__(self, directory: Path, *, fsync: bool) -> None:
        self.path = directory / TXN_INDEX_FILE
        self.fsync = fsync
        self._entries: list[AbortedTxn] = []
        self._last: list[int] = []  # last offsets, for bisect
        self._fd: int | None = None
        self._dirty = False  # an append failed: the file misses entries memory has
        self._closed = False

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        fsync: bool,
        replay_from: int,
        log_start: int,
        log_end: int,
        recomputed: Iterable[AbortedTxn],
    ) -> AbortedTxnIndex:
        """Load the index: file entries with a marker below ``replay_from``, then ``recomputed``
        (the entries the log found replaying its batches from ``replay_from``)."""
        index = cls(directory, fsync=fsync)
        raw = read_small_file(index.path) or b""
        stored = [AbortedTxn(*_ENTRY.unpack_from(raw, pos)) for pos in range(0, len(raw) - 31, 32)]
        kept = [e for e in stored if log_start <= e.last_offset < replay_from]
        kept.extend(e for e in recomputed if log_start <= e.last_offset < log_end)
        kept.sort(key=lambda e: e.last_offset)
        index._entries = kept
        index._last = [e.last_offset for e in kept]
        if kept != stored or len(raw) % 32:
            if len(raw) % 32:
                log.warning("%s: ignoring a torn entry at its end", index.path)
            index._rewrite()
        return index

    def _open_fd(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _rewrite(self) -> None:
        atomic_write(self.path, b"".join(_ENTRY.pack(*e) for e in self._entries), fsync=self.fsync)
        if self._fd is not None:  # the old descriptor points at the replaced file
            os.close(self._fd)
            self._open_fd()

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[AbortedTxn]:
        return list(self._entries)

    def append(self, entries: list[AbortedTxn]) -> None:
        """Record aborted transactions whose markers were just written (in offset order).

        Never raises: the markers are already in the log, so memory must know them; when the file
        write fails the file is rewritten whole at the next sync or close."""
        if not entries:
            return
        for e in entries:
            self._entries.append(e)
            self._last.append(e.last_offset)
        if self._dirty or self._closed:
            self._dirty = True
            return
        view = memoryview(b"".join(_ENTRY.pack(*e) for e in entries))
        try:
            if self._fd is None:  # the file is created with the first aborted transaction
                self._open_fd()
                assert self._fd is not None
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            log.error("%s: cannot append (%s); it will be rewritten whole", self.path, exc)
            self._dirty = True

    def collect(self, start: int, end: int) -> list[AbortedTxn]:
        """Aborted transactions overlapping offsets [start, end): marker at or after ``start``
        and first offset before ``end``."""
        i = bisect_left(self._last, start)
        return [e for e in self._entries[i:] if e.first_offset < end]

    def prune(self, log_start_offset: int) -> None:
        """Forget transactions whose marker lies below the log start offset."""
        i = bisect_left(self._last, log_start_offset)
        if i == 0:
            return
        del self._entries[:i]
        del self._last[:i]
        try:
            self._rewrite()
        except OSError as exc:  # the stale entries are harmless: they are dropped at the next open
            log.warning("%s: cannot rewrite after retention: %s", self.path, exc)

    def checkpoint(self, *, fsync: bool) -> None:
        """Bring the file up to date with memory (after a failed append); fsync it with ``fsync``.

        Called before a producer snapshot is written: the file is trusted below the snapshot."""
        if self._dirty:
            self._rewrite()
            self._dirty = False
        if fsync and self._fd is not None:
            fsync_file(self._fd)

    def close(self) -> None:
        if self._dirty:
            with contextlib.suppress(OSError):
                self._rewrite()
                self._dirty = False
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                if self.fsync:
                    os.fsync(fd)
            os.close(fd)
