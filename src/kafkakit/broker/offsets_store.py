"""Durable committed offsets (and the little group metadata worth keeping) for the embedded broker.

How it works: every change is one entry appended to a single log file,
``<data_dir>/group-offsets.log``: ``u32 length, u32 crc32c(payload), payload``. A payload is a kind
byte and its fields (int32-length UTF-8 strings, -1 for null; big-endian integers):

- COMMIT: group, then ``n`` x (topic, partition i32, offset i64, leader epoch i32, commit
  timestamp i64, expire timestamp i64, metadata string?);
- DELETE_OFFSETS: group, then ``n`` x (topic, partition i32);
- DELETE_GROUP: group (its offsets and its group record go);
- GROUP: group, protocol type?, generation i32, protocol name?, state timestamp i64.

The file starts with an 8-byte header (magic ``KKOFFS`` and a u16 format version). ``OffsetsStore``
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

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from crc32c import crc32c as _crc32c

from kafkakit.broker.durability import PendingSync, fsync_file

log = logging.getLogger("kafkakit.broker.offsets")

__all__ = ["CommittedOffset", "GroupRecord", "OffsetsStore", "OffsetsStoreError", "FILE_NAME"]

FILE_NAME = "group-offsets.log"
MAGIC = b"KKOFFS"
FORMAT_VERSION = 1
_HEADER = MAGIC + struct.pack(">H", FORMAT_VERSION)
#: compaction is never triggered by a file smaller than this
ROLL_MIN_BYTES = 4 * 1024 * 1024
#: an entry larger than this is taken as corruption when loading
MAX_ENTRY_BYTES = 256 * 1024 * 1024

_COMMIT = 1
_DELETE_OFFSETS = 2
_DELETE_GROUP = 3
_GROUP = 4

_U32x2 = struct.Struct(">II")
_I32 = struct.Struct(">i")
_OFFSET = struct.Struct(">iqiqq")  # partition, offset, leader epoch, commit ts, expire ts
_GROUP_TAIL = struct.Struct(">i")
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


def _crc(data: bytes | memoryview) -> int:
    return int(_crc32c(data))


def _str(out: list[bytes], s: str | None) -> None:
    if s is None:
        out.append(_I32.pack(-1))
    else:
        b = s.encode("utf-8")
        out.append(_I32.pack(len(b)))
        out.append(b)


def _frame(payload: bytes) -> bytes:
    return _U32x2.pack(len(payload), _crc(payload)) + payload


def _encode_commit(group: str, items: Iterable[tuple[str, int, CommittedOffset]]) -> bytes:
    body: list[bytes] = []
    n = 0
    for topic, partition, c in items:
        _str(body, topic)
        body.append(
            _OFFSET.pack(partition, c.offset, c.leader_epoch, c.commit_timestamp_ms, c.expire_timestamp_ms)
        )
        _str(body, c.metadata)
        n += 1
    head: list[bytes] = [_B.pack(_COMMIT)]
    _str(head, group)
    head.append(_I32.pack(n))
    return _frame(b"".join(head + body))


def _encode_delete_offsets(group: str, items: Iterable[tuple[str, int]]) -> bytes:
    body: list[bytes] = []
    n = 0
    for topic, partition in items:
        _str(body, topic)
        body.append(_I32.pack(partition))
        n += 1
    head: list[bytes] = [_B.pack(_DELETE_OFFSETS)]
    _str(head, group)
    head.append(_I32.pack(n))
    return _frame(b"".join(head + body))


def _encode_delete_group(group: str) -> bytes:
    out: list[bytes] = [_B.pack(_DELETE_GROUP)]
    _str(out, group)
    return _frame(b"".join(out))


def _encode_group(group: str, rec: GroupRecord) -> bytes:
    out: list[bytes] = [_B.pack(_GROUP)]
    _str(out, group)
    _str(out, rec.protocol_type)
    out.append(_I32.pack(rec.generation_id))
    _str(out, rec.protocol_name)
    out.append(_I64.pack(rec.state_timestamp_ms))
    return _frame(b"".join(out))


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
            raise ValueError("string runs past the entry")
        s = self.buf[self.pos : end].decode("utf-8")
        self.pos = end
        return s

    def text(self) -> str:
        s = self.string()
        if s is None:
            raise ValueError("null where a string is required")
        return s

    def unpack(self, st: struct.Struct) -> tuple[int, ...]:
        values = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return tuple(int(v) for v in values)


# ---------------------------------------------------------------- the store


class OffsetsStore:
    """Committed offsets by group, durable in one append-only file (or memory only when ``path`` is
    None). Used from the event-loop thread only; ``load()`` may run in a worker thread before use."""

    def __init__(
        self, path: str | os.PathLike[str] | None, fsync: bool = False, committer: Any = None
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.fsync = fsync
        #: a ``durability.GroupCommitter`` to batch fsyncs with the logs' (else fsyncs are our own)
        self._committer = committer
        self._inflight = 0  # begin_sync() handed out, done() not called yet
        self._offsets: dict[str, dict[tuple[str, int], CommittedOffset]] = {}
        self._groups: dict[str, GroupRecord] = {}
        self._fd: int | None = None
        self._size = 0
        self._roll_at = ROLL_MIN_BYTES
        self._written = 0  # count of entries written, for fsync coalescing
        self._synced = 0
        self._sync_task: asyncio.Task[None] | None = None
        self._retired_fds: list[int] = []
        self._closed = False

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
        self._append(_encode_commit(group, items))
        offs = self._offsets.setdefault(group, {})
        for topic, partition, c in items:
            offs[(topic, partition)] = c
        self._maybe_roll()

    def delete_offsets(self, group: str, items: list[tuple[str, int]]) -> int:
        """Forget some of a group's offsets; returns how many existed."""
        offs = self._offsets.get(group)
        present = [tp for tp in items if offs is not None and tp in offs]
        if not present or offs is None:
            return 0
        self._append(_encode_delete_offsets(group, present))
        for tp in present:
            offs.pop(tp, None)
        if not offs:
            del self._offsets[group]
        self._maybe_roll()
        return len(present)

    def delete_group(self, group: str) -> None:
        """Forget a group's offsets and group record."""
        if group not in self._offsets and group not in self._groups:
            return
        self._append(_encode_delete_group(group))
        self._offsets.pop(group, None)
        self._groups.pop(group, None)
        self._maybe_roll()

    def set_group_record(self, group: str, rec: GroupRecord) -> None:
        """Remember a group's protocol type/generation (written only when it changed)."""
        if self._groups.get(group) == rec:
            return
        self._append(_encode_group(group, rec))
        self._groups[group] = rec
        self._maybe_roll()

    async def flush(self) -> None:
        """Wait until every change made so far is on disk (fsync); a no-op without ``fsync``.
        Raises OffsetsStoreError when the fsync failed."""
        if not self.fsync or self._fd is None:
            return
        if self._committer is not None:
            try:
                await self._committer.sync(self)
            except Exception as exc:  # noqa: BLE001 - KafkaStorageError or an OSError from the thread
                raise OffsetsStoreError(f"fsync of {self.path} failed: {exc}") from exc
            return
        target = self._written
        while self._synced < target and self._fd is not None:
            task = self._sync_task
            if task is None:
                task = self._sync_task = asyncio.get_running_loop().create_task(self._sync_once())
            try:
                await asyncio.shield(task)
            except OSError as exc:
                raise OffsetsStoreError(f"fsync of {self.path} failed: {exc}") from exc

    async def _sync_once(self) -> None:
        pending = self.begin_sync()
        ok = False
        try:
            if pending is not None:
                fd = pending.files[0].fileno()
                await asyncio.get_running_loop().run_in_executor(None, fsync_file, fd)
                pending.done()
                ok = True
        finally:
            if pending is not None and not ok:
                self._inflight -= 1  # the fsync failed: done() was not called
            self._sync_task = None
            self._close_retired()

    def begin_sync(self) -> PendingSync | None:
        """``durability.Syncable``: the file holding unsynced entries, or None when all are synced."""
        if self._fd is None or self._synced >= self._written:
            return None
        upto = self._written
        self._inflight += 1
        taken = [False]

        def done() -> None:
            self._synced = max(self._synced, upto)
            if not taken[0]:
                taken[0] = True
                self._inflight -= 1
            self._close_retired()

        return PendingSync([_Fd(self._fd)], done)

    # ------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Read the file (if any), keep every intact entry and rewrite it compacted."""
        if self.path is None:
            return
        path = self.path
        try:
            data = path.read_bytes() if path.exists() else None
        except OSError as exc:
            raise OffsetsStoreError(f"cannot read the committed offsets file {path}: {exc}") from exc
        entries = 0
        if data is not None and len(data) > 0:
            if len(data) < len(_HEADER) or data[: len(MAGIC)] != MAGIC:
                raise OffsetsStoreError(
                    f"{path} is not a kafkakit committed offsets file (bad header); move it away to start afresh"
                )
            (version,) = struct.unpack_from(">H", data, len(MAGIC))
            if version != FORMAT_VERSION:
                raise OffsetsStoreError(
                    f"{path} has format version {version}; this kafkakit reads {FORMAT_VERSION}"
                )
            pos = len(_HEADER)
            while pos + 8 <= len(data):
                length, crc = _U32x2.unpack_from(data, pos)
                end = pos + 8 + length
                if length > MAX_ENTRY_BYTES or end > len(data):
                    break
                payload = data[pos + 8 : end]
                if _crc(payload) != crc:
                    break
                try:
                    self._apply(payload)
                except (ValueError, struct.error, UnicodeDecodeError) as exc:
                    log.warning(
                        "%s: entry at byte %d is unreadable (%s); ignoring it and what follows",
                        path,
                        pos,
                        exc,
                    )
                    break
                entries += 1
                pos = end
            if pos < len(data):
                log.warning(
                    "%s: dropped %d bytes after the last intact entry (at byte %d) - an interrupted write",
                    path,
                    len(data) - pos,
                    pos,
                )
        self._rewrite()
        log.info(
            "loaded %d committed offsets of %d groups from %s (%d entries)",
            sum(len(o) for o in self._offsets.values()),
            len(self.group_ids()),
            path,
            entries,
        )

    def close(self) -> None:
        """Close the file. Changes were already written to the OS; with ``fsync`` they are synced."""
        if self._closed:
            return
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                if self.fsync:
                    os.fsync(fd)
            # a worker thread may still be fsyncing it: then it is closed when that finishes
            self._retired_fds.append(fd)
        self._close_retired()

    # ------------------------------------------------------------ internals

    def _apply(self, payload: bytes) -> None:
        r = _Reader(payload)
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
        if r.pos != len(payload):
            raise ValueError(f"{len(payload) - r.pos} unexpected bytes at the end of the entry")

    def _snapshot(self) -> list[bytes]:
        out = [_HEADER]
        for group in self.group_ids():
            rec = self._groups.get(group)
            if rec is not None:
                out.append(_encode_group(group, rec))
            offs = self._offsets.get(group)
            if offs:
                out.append(_encode_commit(group, [(t, p, c) for (t, p), c in offs.items()]))
        return out

    def _rewrite(self) -> None:
        """Write the live state to a new file and switch appends to it (crash-safe)."""
        assert self.path is not None
        path = self.path
        tmp = path.with_name(path.name + ".tmp")
        data = b"".join(self._snapshot())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
            new_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise OffsetsStoreError(f"cannot write the committed offsets file {path}: {exc}") from exc
        old = self._fd
        self._fd = new_fd
        self._size = len(data)
        self._roll_at = max(ROLL_MIN_BYTES, 4 * len(data))
        self._synced = self._written  # the new file was fsynced with everything in it
        if old is not None:
            self._retired_fds.append(old)
            self._close_retired()

    def _close_retired(self) -> None:
        if self._inflight or self._sync_task is not None:
            return  # an fsync thread may be using one of them
        while self._retired_fds:
            with contextlib.suppress(OSError):
                os.close(self._retired_fds.pop())

    def _append(self, entry: bytes) -> None:
        if self._closed:
            raise OffsetsStoreError("the committed offsets store is closed")
        if self.path is None:
            return
        if self._fd is None:
            raise OffsetsStoreError(f"the committed offsets file {self.path} is not open (load() first)")
        fd = self._fd
        try:
            _write_all(fd, entry)
        except OSError:
            # cut off whatever part of the entry made it, so later entries stay readable
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._size)
            raise
        self._size += len(entry)
        self._written += 1

    def _maybe_roll(self) -> None:
        """Compact the file once it has grown enough (called after memory reflects every entry)."""
        if self.path is not None and self._fd is not None and self._size >= self._roll_at:
            try:
                self._rewrite()
            except OffsetsStoreError:
                log.exception("compacting %s failed; appending to the old file", self.path)
                self._roll_at = self._size * 2


class _Fd:
    """A raw descriptor with ``fileno()``, as ``durability.GroupCommitter`` expects."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


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
