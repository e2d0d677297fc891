"""A durable append-only log of small records, shared by the broker's metadata stores
(``offsets_store`` and ``txn_log``).

How it works: the file starts with a header (a magic string and a u16 format version), then
entries ``u32 length, u32 crc32c(payload), payload``; what a payload means is up to the store.
``append`` writes an entry to the OS with ``os.write`` before returning (so it survives kill -9)
and cuts it off again if the write fails. ``replay`` reads the file back, hands every intact
entry to the store and stops at the first torn or corrupt one (an interrupted write).
``rewrite`` replaces the file with the store's live entries through a temporary file, fsync and
rename (compaction; ``compact_if_grown`` does it once the file has grown to four times its
compacted size). ``await flush()`` fsyncs when opened with ``fsync``: through the broker's
``durability.GroupCommitter`` when given one (the log is a ``durability.Syncable``), else with
its own coalescing fsync in a worker thread.

What it must never do: leave a torn entry before a later one, lose an entry a caller saw written
because a compaction replaced the file, close a descriptor an fsync thread may still use, block
the event loop on fsync, or touch the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from crc32c import crc32c as _crc32c

from kafkakit.broker.durability import PendingSync, fsync_dir, fsync_file

__all__ = ["RecordLog", "Reader", "frame", "put_str"]

_U32x2 = struct.Struct(">II")
_I32 = struct.Struct(">i")
_U16 = struct.Struct(">H")


# ---------------------------------------------------------------- entry encoding helpers


def put_str(out: list[bytes], s: str | None) -> None:
    """Append an int32-length UTF-8 string (-1: null) to ``out``."""
    if s is None:
        out.append(_I32.pack(-1))
    else:
        b = s.encode("utf-8")
        out.append(_I32.pack(len(b)))
        out.append(b)


def frame(payload: bytes) -> bytes:
    """One entry: ``u32 length, u32 crc32c(payload), payload``."""
    return _U32x2.pack(len(payload), int(_crc32c(payload))) + payload


class Reader:
    """Reads the fields of one payload; raises ValueError/struct.error/UnicodeDecodeError."""

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
        return tuple(values)

    def end(self) -> None:
        """Raise ValueError unless the whole payload was read."""
        if self.pos != len(self.buf):
            raise ValueError(f"{len(self.buf) - self.pos} unexpected bytes at the end of the entry")


# ---------------------------------------------------------------- the file


class _Fd:
    """A raw descriptor with ``fileno()``, as ``durability.GroupCommitter`` expects."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


class RecordLog:
    """One append-only record file (memory only when ``path`` is None: appends are dropped).
    Event-loop thread only; ``replay``/``rewrite`` may run in a worker thread before use.
    A store subclasses it and sets its file format in the class attributes below."""

    #: the file's magic string and format version (its header)
    magic: bytes
    version: int
    #: names the file in messages
    what: str
    #: the store's exception, raised for an unusable file or a failed fsync
    error: type[Exception]
    #: an entry larger than this is taken as corruption when loading
    max_entry_bytes: int

    def __init__(
        self,
        path: str | os.PathLike[str] | None,
        *,
        roll_min_bytes: int,
        fsync: bool = False,
        committer: Any = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.fsync = fsync
        self.header = self.magic + _U16.pack(self.version)
        #: compaction is never triggered by a file smaller than this
        self.roll_min_bytes = roll_min_bytes
        #: a ``durability.GroupCommitter`` to batch fsyncs with the logs' (else fsyncs are our own)
        self._committer = committer
        self._fd: int | None = None
        self._size = 0
        self._roll_at = roll_min_bytes
        self._written = 0  # count of entries written, for fsync coalescing
        self._synced = 0
        self._inflight = 0  # begin_sync() handed out, done() not called yet
        self._sync_task: asyncio.Task[None] | None = None
        self._retired: list[int] = []
        self._closed = False
        self._log = logging.getLogger(__name__)

    # ------------------------------------------------------------ reading back

    def replay(self, apply: Callable[[bytes], None], logger: logging.Logger | None = None) -> int:
        """Hand every intact entry's payload to ``apply`` (which raises ValueError/struct.error/
        UnicodeDecodeError for a malformed one); stops at the first torn, corrupt or malformed
        entry. Returns the number of entries applied. Does not open the file for appends
        (``rewrite`` does)."""
        if self.path is None:
            return 0
        path = self.path
        lg = logger or self._log
        try:
            data = path.read_bytes() if path.exists() else b""
        except OSError as exc:
            raise self.error(f"cannot read the {self.what} {path}: {exc}") from exc
        if not data:
            return 0
        if len(data) < len(self.header) or data[: len(self.magic)] != self.magic:
            raise self.error(
                f"{path} is not a kafkakit {self.what} (bad header); move it away to start afresh"
            )
        (version,) = _U16.unpack_from(data, len(self.magic))
        if version != self.version:
            raise self.error(f"{path} has format version {version}; this kafkakit reads {self.version}")
        pos = len(self.header)
        entries = 0
        while pos + 8 <= len(data):
            length, crc = _U32x2.unpack_from(data, pos)
            end = pos + 8 + length
            if length > self.max_entry_bytes or end > len(data):
                break
            payload = data[pos + 8 : end]
            if int(_crc32c(payload)) != crc:
                break
            try:
                apply(payload)
            except (ValueError, struct.error, UnicodeDecodeError) as exc:
                lg.warning(
                    "%s: entry at byte %d is unreadable (%s); ignoring it and what follows", path, pos, exc
                )
                break
            entries += 1
            pos = end
        if pos < len(data):
            lg.warning(
                "%s: dropped %d bytes after the last intact entry (at byte %d): an interrupted write",
                path,
                len(data) - pos,
                pos,
            )
        return entries

    # ------------------------------------------------------------ writing

    def append(self, entry: bytes) -> None:
        """Write one framed entry to the OS (OSError, with the file as before, when it fails)."""
        if self._closed:
            raise self.error(f"the {self.what} is closed")
        if self.path is None:
            return
        if self._fd is None:
            raise self.error(f"the {self.what} {self.path} is not open (load() first)")
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

    def rewrite(self, entries: Iterable[bytes]) -> None:
        """Replace the file with the header and ``entries`` (the live state) and switch appends to
        it: temporary file, fsync, rename, fsync of the directory (crash-safe)."""
        if self.path is None:
            return
        path = self.path
        tmp = path.with_name(path.name + ".tmp")
        data = b"".join([self.header, *entries])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            fsync_dir(path.parent)
            new_fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise self.error(f"cannot write the {self.what} {path}: {exc}") from exc
        old = self._fd
        self._fd = new_fd
        self._size = len(data)
        self._roll_at = max(self.roll_min_bytes, 4 * len(data))
        self._synced = self._written  # the new file was fsynced with everything in it
        if old is not None:
            self._retired.append(old)
        self._close_retired()

    def compact_if_grown(self, entries: Callable[[], Iterable[bytes]]) -> None:
        """``rewrite(entries())`` once the file has grown enough (call with memory reflecting every
        entry written); a failure is logged and appends go on to the old file."""
        if self.path is not None and self._fd is not None and self._size >= self._roll_at:
            try:
                self.rewrite(entries())
            except self.error:
                self._log.exception("compacting %s failed; appending to the old file", self.path)
                self._roll_at = self._size * 2

    # ------------------------------------------------------------ durability

    async def flush(self) -> None:
        """Wait until every entry written so far is on disk (fsync); a no-op without ``fsync``.
        Raises ``error`` when the fsync failed."""
        if not self.fsync or self._fd is None:
            return
        if self._committer is not None:
            try:
                await self._committer.sync(self)
            except Exception as exc:  # noqa: BLE001 - KafkaStorageError or an OSError from the thread
                raise self.error(f"fsync of {self.path} failed: {exc}") from exc
            return
        target = self._written
        while self._synced < target and self._fd is not None:
            task = self._sync_task
            if task is None:
                task = self._sync_task = asyncio.get_running_loop().create_task(self._sync_once())
            try:
                await asyncio.shield(task)
            except OSError as exc:
                raise self.error(f"fsync of {self.path} failed: {exc}") from exc

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

    def close(self) -> None:
        """Close the file (fsynced first with ``fsync``). Entries were already written to the OS."""
        if self._closed:
            return
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                if self.fsync:
                    os.fsync(fd)
            # a worker thread may still be fsyncing it: then it is closed when that finishes
            self._retired.append(fd)
        self._close_retired()

    def _close_retired(self) -> None:
        if self._inflight or self._sync_task is not None:
            return  # an fsync thread may be using one of them
        while self._retired:
            with contextlib.suppress(OSError):
                os.close(self._retired.pop())


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
