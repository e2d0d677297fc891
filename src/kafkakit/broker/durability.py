"""Durability helpers of the embedded broker: group-committed fsync, clean-shutdown marker, atomic files.

How it works:

- ``GroupCommitter`` batches fsync requests. A produce handler appends to a ``PartitionLog`` (the
  bytes reach the OS at once) and, when fsync is on, ``await committer.sync(log)`` before it answers.
  Every ``sync`` call registers its log and a future; one worker task takes everything registered
  so far, asks each log which files hold unsynced bytes (``begin_sync``), fsyncs each distinct file
  once in a dedicated thread (``loop.run_in_executor``), then tells the logs (``PendingSync.done``)
  and resolves the futures. Calls arriving while an fsync runs wait for the next round, so N
  concurrent producers across any number of partitions cost one fsync per file per round.
- ``mark_clean`` writes the clean-shutdown marker into the data dir after every log was closed;
  ``mark_dirty`` removes it at startup (before any write) and remembers, for this process, whether
  it was there; ``was_clean`` answers from that memory or from the file. ``PartitionLog.open``
  skips the recovery scan only when ``was_clean`` says so.
- ``atomic_write`` replaces a small file (checkpoints, snapshots, the producer-id block) by writing
  a temporary sibling, fsyncing it, renaming it over the target and fsyncing the directory, so a
  crash leaves either the old or the new content, never a mix.

What it must never do: block the event loop on fsync (only the executor thread calls it), resolve
a ``sync`` future before the fsync that covers that caller's bytes has returned, or report a clean
shutdown that did not happen (the marker is written last and removed first).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, Protocol

from kafkakit.errors import KafkaStorageError

__all__ = [
    "CLEAN_SHUTDOWN_MARKER",
    "GroupCommitter",
    "PendingSync",
    "SupportsFileno",
    "Syncable",
    "atomic_write",
    "fsync_dir",
    "fsync_file",
    "mark_clean",
    "mark_dirty",
    "read_small_file",
    "was_clean",
]

CLEAN_SHUTDOWN_MARKER = ".kafkakit-clean-shutdown"

# data dir (resolved, as str) -> whether the marker was present when mark_dirty() removed it
_started_clean: dict[str, bool] = {}


class SupportsFileno(Protocol):
    def fileno(self) -> int: ...


class PendingSync(NamedTuple):
    """What one log needs fsynced now: its files, and what to call once they are on disk."""

    files: Sequence[SupportsFileno]
    done: Callable[[], None]


class Syncable(Protocol):
    def begin_sync(self) -> PendingSync | None:
        """The files holding bytes not yet fsynced, or None when everything is on disk."""
        ...


# ---------------------------------------------------------------------------------------------
# fsync primitives


def fsync_file(fd: int) -> None:
    """fdatasync where the OS has it (file size changes are included), else fsync."""
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so that file creations, renames and deletions in it are durable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; nothing more can be done
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new content, never a mix.

    With ``fsync`` the new content is on disk before the rename and the rename is on disk before
    returning; without it the replacement is still atomic against a process crash.
    """
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    if fsync:
        fsync_dir(target.parent)


def read_small_file(path: str | os.PathLike[str]) -> bytes | None:
    """The content of ``path``, or None when it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------------------------------------
# clean-shutdown marker


def _key(data_dir: str | os.PathLike[str]) -> str:
    return str(Path(data_dir).resolve())


def mark_clean(data_dir: str | os.PathLike[str]) -> None:
    """Record a clean shutdown: call it after every log in ``data_dir`` was flushed and closed."""
    atomic_write(Path(data_dir) / CLEAN_SHUTDOWN_MARKER, b"clean shutdown\n", fsync=True)
    _started_clean.pop(_key(data_dir), None)


def mark_dirty(data_dir: str | os.PathLike[str]) -> bool:
    """Remove the marker at startup (before anything is written); returns whether it was there.

    The answer is also remembered for this process, so ``was_clean`` (and through it
    ``PartitionLog.open``) still knows the previous shutdown was clean after the file is gone.
    """
    marker = Path(data_dir) / CLEAN_SHUTDOWN_MARKER
    try:
        marker.unlink()
        clean = True
    except FileNotFoundError:
        clean = False
    if clean:
        fsync_dir(Path(data_dir))
    _started_clean[_key(data_dir)] = clean
    return clean


def was_clean(data_dir: str | os.PathLike[str]) -> bool:
    """Whether the last shutdown of ``data_dir`` was clean (the marker, or what mark_dirty saw)."""
    known = _started_clean.get(_key(data_dir))
    if known is not None:
        return known
    return (Path(data_dir) / CLEAN_SHUTDOWN_MARKER).exists()


# ---------------------------------------------------------------------------------------------
# group commit


def _fsync_all(files: Sequence[SupportsFileno]) -> None:
    for f in files:
        fsync_file(f.fileno())


class GroupCommitter:
    """Batches fsyncs of concurrently appended logs into one fsync per file per round.

    ``await committer.sync(log)`` returns once every byte appended to ``log`` before the call is
    on disk; it raises ``KafkaStorageError`` if the fsync failed (the caller must not acknowledge).
    """

    def __init__(self, *, executor: ThreadPoolExecutor | None = None) -> None:
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafkakit-fsync")
        # id(target) -> (target, futures waiting for it)
        self._pending: dict[int, tuple[Syncable, list[asyncio.Future[None]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        #: rounds run and fsync calls made (for tests and metrics)
        self.rounds = 0
        self.fsyncs = 0

    async def sync(self, target: Syncable) -> None:
        """Wait until everything appended to ``target`` so far is fsynced."""
        if self._closed:
            raise KafkaStorageError("the group committer is closed: the broker is shutting down")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = self._pending.get(id(target))
        if entry is None:
            self._pending[id(target)] = (target, [fut])
        else:
            entry[1].append(fut)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        await fut

    async def drain(self) -> None:
        """Wait for the rounds under way (and the ones they start) to finish."""
        while self._task is not None and not self._task.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._task)

    def close(self) -> None:
        """Refuse further syncs and stop the fsync thread once its current fsync returns."""
        self._closed = True
        if self._own_executor:
            self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, {}
            rounds: list[tuple[PendingSync | None, list[asyncio.Future[None]]]] = []
            files: dict[int, SupportsFileno] = {}
            for target, futs in batch.values():
                try:
                    pending = target.begin_sync()
                except Exception as exc:  # noqa: BLE001 - reported to the waiters
                    _fail(futs, KafkaStorageError(f"cannot start an fsync: {exc}"))
                    continue
                if pending is not None:
                    for f in pending.files:
                        files.setdefault(id(f), f)
                rounds.append((pending, futs))
            self.rounds += 1
            try:
                if files:
                    await loop.run_in_executor(self._executor, _fsync_all, list(files.values()))
                    self.fsyncs += len(files)
            except (OSError, RuntimeError, ValueError) as exc:
                err = KafkaStorageError(f"fsync failed, the data may not be on disk: {exc}")
                for _pending, futs in rounds:
                    _fail(futs, err)
                continue
            for pending, futs in rounds:
                if pending is not None:
                    pending.done()
                for fut in futs:
                    if not fut.done():
                        fut.set_result(None)


def _fail(futs: list[asyncio.Future[None]], exc: BaseException) -> None:
    for fut in futs:
        if not fut.done():
            fut.set_exception(exc)
