"""The transaction coordinator's durable state: ``TxnMetadata`` and ``<data_dir>/transactions.log``.

How it works: every change to a transactional id's metadata is one entry appended to a single
file, ``u32 length, u32 crc32c(payload), payload``, after an 8-byte header (magic ``KKTXNS`` and a
u16 format version). Payloads start with a kind byte; strings are int32-length UTF-8 (-1: null)
and integers big-endian:

- STATE: transactional id, producer id i64, epoch i16, last epoch i16, previous producer id i64,
  timeout ms i32, state u8, transaction start ms i64, last update ms i64, ``n`` x (topic,
  partition i32), ``m`` x group — the whole metadata, replacing what came before;
- OFFSETS: transactional id, producer id i64, epoch i16, group, ``n`` x (topic, partition i32,
  offset i64, leader epoch i32, commit timestamp i64, metadata?) — offsets a TxnOffsetCommit
  added to the open transaction, applied to the group only when it commits;
- REMOVE: transactional id (an expired id is forgotten).

``load()`` replays the file, stops at the first torn or corrupt entry (an interrupted write) and
rewrites it compacted (one STATE, plus OFFSETS while a transaction is open, per id) through a
temporary file, fsync and rename; ``maybe_compact`` does the same once the file has grown to four
times its compacted size. Writes go to the OS with ``os.write`` before the caller changes memory
or answers, so they survive kill -9; ``await flush()`` also fsyncs when opened with ``fsync``
(through the broker's ``GroupCommitter`` when given one: the log is a ``durability.Syncable``).

What it must never do: leave a torn entry before a later one (a failed write is cut off again),
lose an entry a caller saw written because a compaction replaced the file, or block the event
loop on fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crc32c import crc32c

from kafkakit.broker.durability import PendingSync, fsync_dir, fsync_file
from kafkakit.broker.offsets_store import CommittedOffset

log = logging.getLogger("kafkakit.broker.txn")

__all__ = [
    "COMPLETE_ABORT",
    "COMPLETE_COMMIT",
    "EMPTY",
    "ONGOING",
    "PREPARE_ABORT",
    "PREPARE_COMMIT",
    "STATES",
    "TXN_LOG_FILE",
    "TxnLog",
    "TxnLogError",
    "TxnMetadata",
]

TXN_LOG_FILE = "transactions.log"
MAGIC = b"KKTXNS"
FORMAT_VERSION = 1
_HEADER = MAGIC + struct.pack(">H", FORMAT_VERSION)
ROLL_MIN_BYTES = 1024 * 1024
MAX_ENTRY_BYTES = 64 * 1024 * 1024

# the states of Kafka's transaction coordinator, by their Kafka names
EMPTY = "Empty"
ONGOING = "Ongoing"
PREPARE_COMMIT = "PrepareCommit"
PREPARE_ABORT = "PrepareAbort"
COMPLETE_COMMIT = "CompleteCommit"
COMPLETE_ABORT = "CompleteAbort"
STATES = (EMPTY, ONGOING, PREPARE_COMMIT, PREPARE_ABORT, COMPLETE_COMMIT, COMPLETE_ABORT)
_STATE_CODE = {name: code for code, name in enumerate(STATES)}

_STATE = 1
_OFFSETS = 2
_REMOVE = 3

_U32x2 = struct.Struct(">II")
_I32 = struct.Struct(">i")
_B = struct.Struct(">B")
_STATE_FIELDS = struct.Struct(">qhhqiBqq")  # pid, epoch, last epoch, prev pid, timeout, state, start, update
_PID_EPOCH = struct.Struct(">qh")
_OFFSET = struct.Struct(">iqiq")  # partition, offset, leader epoch, commit timestamp

TopicPartition = tuple[str, int]
PendingOffsets = dict[str, dict[TopicPartition, CommittedOffset]]


class TxnLogError(Exception):
    """The transaction log cannot be used (unreadable header, I/O error); the message names the file."""


@dataclass(frozen=True)
class TxnMetadata:
    """What the coordinator knows about one transactional id. Immutable: a transition builds a
    new one (``evolve``), writes it, and only then replaces the old one."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    last_producer_epoch: int = -1
    previous_producer_id: int = -1
    timeout_ms: int = 60_000
    state: str = EMPTY
    partitions: frozenset[TopicPartition] = frozenset()
    groups: frozenset[str] = frozenset()
    start_ms: int = -1
    update_ms: int = -1
    #: offsets of TxnOffsetCommit requests of the open transaction, by group
    pending_offsets: PendingOffsets = field(default_factory=dict, compare=False)

    def evolve(self, **changes: Any) -> TxnMetadata:
        return replace(self, **changes)

    @property
    def open(self) -> bool:
        """Whether a transaction is under way (its markers not all written yet)."""
        return self.state in (ONGOING, PREPARE_COMMIT, PREPARE_ABORT)


# ---------------------------------------------------------------- encoding


def _str(out: list[bytes], s: str | None) -> None:
    if s is None:
        out.append(_I32.pack(-1))
    else:
        b = s.encode("utf-8")
        out.append(_I32.pack(len(b)))
        out.append(b)


def _frame(parts: list[bytes]) -> bytes:
    payload = b"".join(parts)
    return _U32x2.pack(len(payload), crc32c(payload)) + payload


def encode_state(m: TxnMetadata) -> bytes:
    out = [_B.pack(_STATE)]
    _str(out, m.transactional_id)
    out.append(
        _STATE_FIELDS.pack(
            m.producer_id,
            m.producer_epoch,
            m.last_producer_epoch,
            m.previous_producer_id,
            m.timeout_ms,
            _STATE_CODE[m.state],
            m.start_ms,
            m.update_ms,
        )
    )
    out.append(_I32.pack(len(m.partitions)))
    for topic, partition in sorted(m.partitions):
        _str(out, topic)
        out.append(_I32.pack(partition))
    out.append(_I32.pack(len(m.groups)))
    for group in sorted(m.groups):
        _str(out, group)
    return _frame(out)


def encode_offsets(
    txn_id: str, pid: int, epoch: int, group: str, items: Iterable[tuple[str, int, CommittedOffset]]
) -> bytes:
    body: list[bytes] = []
    n = 0
    for topic, partition, c in items:
        _str(body, topic)
        body.append(_OFFSET.pack(partition, c.offset, c.leader_epoch, c.commit_timestamp_ms))
        _str(body, c.metadata)
        n += 1
    out = [_B.pack(_OFFSETS)]
    _str(out, txn_id)
    out.append(_PID_EPOCH.pack(pid, epoch))
    _str(out, group)
    out.append(_I32.pack(n))
    return _frame(out + body)


def encode_remove(txn_id: str) -> bytes:
    out = [_B.pack(_REMOVE)]
    _str(out, txn_id)
    return _frame(out)


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def string(self) -> str | None:
        (n,) = _I32.unpack_from(self.buf, self.pos)
        self.pos += 4
        if n < 0:
            return None
        end = self.pos + n
        if end > len(self.buf):
            raise ValueError("a string runs past the entry")
        s = self.buf[self.pos : end].decode("utf-8")
        self.pos = end
        return s

    def text(self) -> str:
        s = self.string()
        if s is None:
            raise ValueError("null where a string is required")
        return s

    def unpack(self, st: struct.Struct) -> tuple[Any, ...]:
        values = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return values


def apply_entry(txns: dict[str, TxnMetadata], payload: bytes) -> None:
    """Replay one entry into ``txns``; raises ValueError/struct.error/UnicodeDecodeError when it is
    malformed."""
    r = _Reader(payload)
    (kind,) = r.unpack(_B)
    txn_id = r.text()
    if kind == _STATE:
        pid, epoch, last_epoch, prev_pid, timeout, code, start, update = r.unpack(_STATE_FIELDS)
        if code >= len(STATES):
            raise ValueError(f"unknown transaction state {code}")
        (n,) = r.unpack(_I32)
        parts = []
        for _ in range(n):
            topic = r.text()
            (partition,) = r.unpack(_I32)
            parts.append((topic, partition))
        (n,) = r.unpack(_I32)
        groups = [r.text() for _ in range(n)]
        old = txns.get(txn_id)
        new = TxnMetadata(
            txn_id,
            pid,
            epoch,
            last_epoch,
            prev_pid,
            timeout,
            STATES[code],
            frozenset(parts),
            frozenset(groups),
            start,
            update,
        )
        if old is not None and new.open and old.open and old.producer_id == pid:
            new = new.evolve(pending_offsets=old.pending_offsets)
        txns[txn_id] = new
    elif kind == _OFFSETS:
        pid, _epoch = r.unpack(_PID_EPOCH)
        group = r.text()
        (n,) = r.unpack(_I32)
        items = []
        for _ in range(n):
            topic = r.text()
            partition, offset, leader_epoch, ts = r.unpack(_OFFSET)
            metadata = r.string()
            items.append(((topic, partition), CommittedOffset(offset, leader_epoch, metadata or "", ts)))
        m = txns.get(txn_id)
        if m is not None and m.open and m.producer_id == pid:
            m.pending_offsets.setdefault(group, {}).update(items)
    elif kind == _REMOVE:
        txns.pop(txn_id, None)
    else:
        raise ValueError(f"unknown entry kind {kind}")
    if r.pos != len(payload):
        raise ValueError(f"{len(payload) - r.pos} unexpected bytes at the end of the entry")


def snapshot(txns: Iterable[TxnMetadata]) -> bytes:
    """The compacted file content holding ``txns``."""
    out = [_HEADER]
    for m in txns:
        out.append(encode_state(m))
        if m.open:
            for group, offsets in m.pending_offsets.items():
                items = [(t, p, c) for (t, p), c in offsets.items()]
                out.append(encode_offsets(m.transactional_id, m.producer_id, m.producer_epoch, group, items))
    return b"".join(out)


# ---------------------------------------------------------------- the file


class _Fd:
    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


class TxnLog:
    """The append-only file behind the coordinator. Event-loop thread only (``load`` may run in a
    worker thread before use)."""

    def __init__(self, path: Path, *, fsync: bool = False, committer: Any = None) -> None:
        self.path = path
        self.fsync = fsync
        self._committer = committer
        self._fd: int | None = None
        self._size = 0
        self._roll_at = ROLL_MIN_BYTES
        self._written = 0
        self._synced = 0
        self._inflight = 0
        self._retired: list[int] = []
        self._closed = False

    def load(self) -> dict[str, TxnMetadata]:
        """Replay the file (if any), rewrite it compacted, return the metadata by transactional id."""
        path = self.path
        txns: dict[str, TxnMetadata] = {}
        try:
            data = path.read_bytes() if path.exists() else b""
        except OSError as exc:
            raise TxnLogError(f"cannot read the transaction log {path}: {exc}") from exc
        if data:
            if len(data) < len(_HEADER) or data[: len(MAGIC)] != MAGIC:
                raise TxnLogError(f"{path} is not a kafkakit transaction log (bad header)")
            (version,) = struct.unpack_from(">H", data, len(MAGIC))
            if version != FORMAT_VERSION:
                raise TxnLogError(
                    f"{path} has format version {version}; this kafkakit reads {FORMAT_VERSION}"
                )
            pos = len(_HEADER)
            while pos + 8 <= len(data):
                length, crc = _U32x2.unpack_from(data, pos)
                end = pos + 8 + length
                if length > MAX_ENTRY_BYTES or end > len(data) or crc32c(data[pos + 8 : end]) != crc:
                    break
                try:
                    apply_entry(txns, data[pos + 8 : end])
                except (ValueError, struct.error, UnicodeDecodeError) as exc:
                    log.warning(
                        "%s: entry at byte %d is unreadable (%s); ignoring it and what follows",
                        path,
                        pos,
                        exc,
                    )
                    break
                pos = end
            if pos < len(data):
                log.warning(
                    "%s: dropped %d bytes after the last intact entry (at byte %d): an interrupted write",
                    path,
                    len(data) - pos,
                    pos,
                )
        self._rewrite(txns.values())
        return txns

    # ------------------------------------------------------------ writes

    def write_state(self, m: TxnMetadata) -> None:
        """Append ``m``'s metadata (to the OS before returning; OSError with nothing written)."""
        self._append(encode_state(m))

    def write_offsets(
        self, m: TxnMetadata, group: str, items: list[tuple[str, int, CommittedOffset]]
    ) -> None:
        self._append(encode_offsets(m.transactional_id, m.producer_id, m.producer_epoch, group, items))

    def write_remove(self, txn_id: str) -> None:
        self._append(encode_remove(txn_id))

    def _append(self, entry: bytes) -> None:
        if self._closed or self._fd is None:
            raise TxnLogError(f"the transaction log {self.path} is not open")
        fd = self._fd
        view = memoryview(entry)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._size)  # no torn entry may stay before a later one
            raise
        self._size += len(entry)
        self._written += 1

    def maybe_compact(self, txns: Iterable[TxnMetadata]) -> None:
        """Rewrite the file compacted once it grew enough (call with the current metadata)."""
        if self._fd is not None and self._size >= self._roll_at:
            try:
                self._rewrite(txns)
            except TxnLogError:
                log.exception("compacting %s failed; appending to the old file", self.path)
                self._roll_at = self._size * 2

    def _rewrite(self, txns: Iterable[TxnMetadata]) -> None:
        path = self.path
        tmp = path.with_name(path.name + ".tmp")
        data = snapshot(txns)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            fsync_dir(path.parent)
            new_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise TxnLogError(f"cannot write the transaction log {path}: {exc}") from exc
        if self._fd is not None:
            self._retired.append(self._fd)
        self._fd = new_fd
        self._size = len(data)
        self._roll_at = max(ROLL_MIN_BYTES, 4 * len(data))
        self._synced = self._written  # the new file was fsynced with everything in it
        self._close_retired()

    # ------------------------------------------------------------ durability

    async def flush(self) -> None:
        """Wait until everything written so far is fsynced (a no-op without ``fsync``)."""
        if not self.fsync or self._fd is None or self._synced >= self._written:
            return
        if self._committer is not None:
            await self._committer.sync(self)
            return
        pending = self.begin_sync()
        if pending is not None:
            await asyncio.get_running_loop().run_in_executor(None, fsync_file, pending.files[0].fileno())
            pending.done()

    def begin_sync(self) -> PendingSync | None:
        """``durability.Syncable``: the file holding unsynced entries, or None."""
        if self._fd is None or self._synced >= self._written:
            return None
        upto = self._written
        self._inflight += 1
        finished = [False]

        def done() -> None:
            self._synced = max(self._synced, upto)
            if not finished[0]:
                finished[0] = True
                self._inflight -= 1
            self._close_retired()

        return PendingSync([_Fd(self._fd)], done)

    def _close_retired(self) -> None:
        if self._inflight:
            return  # an fsync thread may still hold one of them
        while self._retired:
            with contextlib.suppress(OSError):
                os.close(self._retired.pop())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                if self.fsync:
                    os.fsync(fd)
            self._retired.append(fd)
        self._inflight = 0
        self._close_retired()
