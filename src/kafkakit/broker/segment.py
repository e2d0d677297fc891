"""One log segment: ``<base>.log`` (record batches), ``<base>.index`` and ``<base>.timeindex``.

How it works: the ``.log`` file holds v2 record batches back to back exactly as appended (offsets
already assigned). It is opened once in append mode (``O_APPEND``): ``append`` writes a whole
request with one ``os.writev`` (header copies + untouched payload views), reads use ``os.pread``
and ``os.sendfile`` with explicit positions, so nothing ever depends on the file position. The
sparse offset index maps a batch's base offset (relative to the segment's base, int32) to its file
position (int32), one 8-byte big-endian entry whenever more than ``index_interval`` bytes were
appended since the last one; the time index maps the largest timestamp so far (int64) to the
relative last offset of the batch holding it (int32), 12 bytes, appended with offset entries when
the timestamp grew, plus a final one when the segment is sealed. Both live in memory as
``array``s (bisect runs in C) and are written to their files at roll, flush and close; they
carry no checksum, so an unclean start rebuilds them from the log (``recover``), which also
validates every batch (size, magic 2, CRC-32C, contiguous offsets) and truncates the file at the
first invalid byte.

A lookup bisects the index for the last entry at or before the target and walks batch headers
from there (one ``pread`` of a few KiB covers several headers), so a read never touches more than
about one index interval of headers. Also here, because they are about stored batch bytes:
``parse_request`` (the all-or-nothing validation of a produce request's batches) and
``ReadResult``/``FileRegion`` (what a read hands out: file regions or a copy).

What it must never do: return or index bytes past ``size`` (the valid end), write anything but
whole batches, assume the index is right after an unclean stop, or close a deleted segment's file
while a reader may still hold it (the owning log retires it and closes it later).
"""

from __future__ import annotations

import io
import os
import struct
import sys
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from crc32c import crc32c

from kafkakit.errors import (
    CorruptRecordError,
    InvalidRecordError,
    KafkaStorageError,
    MessageSizeTooLargeError,
    UnsupportedForMessageFormatError,
)
from kafkakit.record import BatchHeader, decode_batch

__all__ = [
    "BATCH_HEADER_SIZE",
    "LOG_OVERHEAD",
    "BatchInfo",
    "FileRegion",
    "ReadResult",
    "Segment",
    "parse_request",
    "segment_path",
]

BATCH_HEADER_SIZE = 61
LOG_OVERHEAD = 12
MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - LOG_OVERHEAD
#: the smallest batch length of any magic (a magic-0 message): below it Kafka does not look at the magic
MIN_LEGACY_LENGTH = 14
_I32_AT = struct.Struct(">i")
INT32_MAX = 0x7FFFFFFF
HEADER = struct.Struct(">qiibIhiqqqhii")
_unpack = HEADER.unpack_from
_TIME_ENTRY = struct.Struct(">qi")
_SCAN_CHUNK = 8192
_RECOVERY_CHUNK = 4 << 20
_IOV_MAX = min(os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024, 1024) or 1024
_LITTLE = sys.byteorder == "little"

Buffer = bytes | bytearray | memoryview


class BatchInfo(NamedTuple):
    """Where one stored batch is and what it holds, from its header alone."""

    position: int
    base_offset: int
    last_offset: int
    size: int
    max_timestamp: int


def segment_path(directory: Path, base_offset: int, suffix: str) -> Path:
    return directory / f"{base_offset:020d}{suffix}"


def _write_all(fd: int, buffers: Sequence[Buffer], total: int) -> None:
    """Write every buffer, in order, with as few syscalls as the OS allows (one, normally)."""
    if len(buffers) == 1:
        view = memoryview(buffers[0])
        while view:
            view = view[os.write(fd, view) :]
        return
    bufs = [memoryview(b) for b in buffers]
    i = 0
    left = total
    while left > 0:
        n = os.writev(fd, bufs[i : i + _IOV_MAX])
        left -= n
        while i < len(bufs) and n >= len(bufs[i]):
            n -= len(bufs[i])
            i += 1
        if n:
            bufs[i] = bufs[i][n:]


class FileRegion(NamedTuple):
    """``length`` bytes at ``position`` of ``file``: use ``os.sendfile``/``os.pread`` with the position."""

    file: io.FileIO
    position: int
    length: int


class ReadResult:
    """Whole stored batches of one read: as file regions (zero copy) or ``to_bytes()``.

    Keep the object alive until the regions are sent; never rely on the file's position.
    """

    __slots__ = ("regions", "size", "first_offset", "log_start_offset", "log_end_offset")

    def __init__(
        self, regions: list[FileRegion], first_offset: int, log_start_offset: int, log_end_offset: int
    ) -> None:
        self.regions = regions
        self.size = sum(r.length for r in regions)
        #: base offset of the first batch returned, -1 when empty
        self.first_offset = first_offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset

    def __len__(self) -> int:
        return self.size

    def to_bytes(self) -> bytes:
        parts = [_pread_exactly(r.file.fileno(), r.position, r.length) for r in self.regions]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def __repr__(self) -> str:
        return f"ReadResult(first_offset={self.first_offset}, size={self.size}, regions={len(self.regions)})"


def _pread_exactly(fd: int, pos: int, length: int) -> bytes:
    data = os.pread(fd, length, pos)
    while len(data) < length:
        more = os.pread(fd, length - len(data), pos + len(data))
        if not more:
            raise KafkaStorageError(f"short read: {len(data)} of {length} bytes at position {pos} (fd {fd})")
        data += more
    return data


def parse_request(
    mv: memoryview, name: str, max_size: int, allow_control: bool
) -> tuple[list[tuple[int, int, tuple[Any, ...]]], bool]:
    """Check every batch of a produce request (size, magic 2, CRC-32C, header consistency).

    Returns [(position, size, raw header tuple)] and whether any batch has a producer id; raises
    the error the produce response should carry, naming the partition and the batch's position.
    """
    n = len(mv)
    parsed: list[tuple[int, int, tuple[Any, ...]]] = []
    idempotent = False
    pos = 0
    while pos < n:
        left = n - pos
        at = f"{name}: the batch at position {pos}"
        if left <= 16:
            raise CorruptRecordError(f"{name}: {left} trailing bytes at position {pos} are not a whole batch")
        length = _I32_AT.unpack_from(mv, pos + 8)[0]
        if length < MIN_LEGACY_LENGTH:  # Kafka checks the length before the magic byte
            raise CorruptRecordError(
                f"{at} declares record size {length}, less than the minimum record overhead ({MIN_LEGACY_LENGTH})"
            )
        magic = mv[pos + 16]
        if magic in (0, 1):
            raise UnsupportedForMessageFormatError(
                f"{at} uses message format v{magic}; only v2 batches (Kafka 0.11+ clients) are stored"
            )
        if magic != 2:
            raise CorruptRecordError(f"{at} has unknown magic byte {magic}")
        if left < BATCH_HEADER_SIZE:
            raise CorruptRecordError(f"{at} has a truncated header ({left} of 61 bytes)")
        h = _unpack(mv, pos)
        size = h[1] + LOG_OVERHEAD
        if h[1] < MIN_BATCH_LENGTH:
            raise CorruptRecordError(f"{at} has an impossible length {h[1]}")
        if size > left:
            raise CorruptRecordError(f"{at} is truncated: it declares {size} bytes, {left} are present")
        if size > max_size:
            raise MessageSizeTooLargeError(f"{at} is {size} bytes, over max.message.bytes={max_size}")
        crc = crc32c(mv[pos + 21 : pos + size])
        if crc != h[4]:
            raise CorruptRecordError(
                f"{at} fails its CRC-32C check (stored {h[4]:#010x}, computed {crc:#010x})"
            )
        if h[6] < 0 or h[12] != h[6] + 1:
            raise InvalidRecordError(f"{at} has last offset delta {h[6]} but {h[12]} records")
        if h[5] & 0x20 and not allow_control:
            raise InvalidRecordError(f"{at} is a control batch: clients may not write control batches")
        idempotent = idempotent or h[9] >= 0
        parsed.append((pos, size, h))
        pos += size
    return parsed, idempotent


class Segment:
    """One segment of a partition log. Not thread safe: the owning ``PartitionLog`` locks."""

    __slots__ = (
        "directory",
        "base_offset",
        "file",
        "size",
        "next_offset",
        "max_timestamp",
        "offset_of_max_timestamp",
        "rolling_timestamp",
        "created_ms",
        "index_interval",
        "_idx_off",
        "_idx_pos",
        "_idx_saved",
        "_ti_ts",
        "_ti_off",
        "_ti_saved",
        "_bytes_since_index",
        "_indexes_loaded",
    )

    def __init__(self, directory: Path, base_offset: int, file: io.FileIO, *, index_interval: int) -> None:
        self.directory = directory
        self.base_offset = base_offset
        self.file = file
        #: bytes of valid batches (the file holds nothing else once open)
        self.size = 0
        self.next_offset = base_offset
        self.max_timestamp = -1
        #: last offset of the batch holding ``max_timestamp`` (-1 when no timestamp yet)
        self.offset_of_max_timestamp = -1
        #: max timestamp of the first batch: time-based rolling counts from it
        self.rolling_timestamp = -1
        self.created_ms = time.time_ns() // 1_000_000
        self.index_interval = index_interval
        self._idx_off = array("i")
        self._idx_pos = array("i")
        self._idx_saved = 0
        self._ti_ts = array("q")
        self._ti_off = array("i")
        self._ti_saved = 0
        self._bytes_since_index = 0
        self._indexes_loaded = True

    # ------------------------------------------------------------------ files

    @property
    def log_path(self) -> Path:
        return segment_path(self.directory, self.base_offset, ".log")

    @property
    def index_path(self) -> Path:
        return segment_path(self.directory, self.base_offset, ".index")

    @property
    def time_index_path(self) -> Path:
        return segment_path(self.directory, self.base_offset, ".timeindex")

    @classmethod
    def create(cls, directory: Path, base_offset: int, *, index_interval: int, now_ms: int) -> Segment:
        """A new empty segment (any leftover files with its name are emptied)."""
        f = open(segment_path(directory, base_offset, ".log"), "a+b", buffering=0)  # noqa: SIM115
        os.ftruncate(f.fileno(), 0)
        seg = cls(directory, base_offset, f, index_interval=index_interval)
        seg.created_ms = now_ms
        seg.index_path.unlink(missing_ok=True)  # the index files appear when first saved
        seg.time_index_path.unlink(missing_ok=True)
        return seg

    @classmethod
    def open_existing(cls, directory: Path, base_offset: int, *, index_interval: int) -> Segment:
        """Open a segment written before, trusting its files; check them with ``check_tail``."""
        f = open(segment_path(directory, base_offset, ".log"), "a+b", buffering=0)  # noqa: SIM115
        seg = cls(directory, base_offset, f, index_interval=index_interval)
        st = os.fstat(f.fileno())
        seg.size = st.st_size
        seg.created_ms = st.st_mtime_ns // 1_000_000
        seg._indexes_loaded = False
        seg._load_max_timestamp()
        return seg

    def _load_max_timestamp(self) -> None:
        """Read the last time-index entry (the segment's max timestamp after a clean seal)."""
        try:
            with open(self.time_index_path, "rb") as f:
                end = f.seek(0, os.SEEK_END)
                if end >= _TIME_ENTRY.size and end % _TIME_ENTRY.size == 0:
                    f.seek(end - _TIME_ENTRY.size)
                    ts, rel = _TIME_ENTRY.unpack(f.read(_TIME_ENTRY.size))
                    self.max_timestamp = ts
                    self.offset_of_max_timestamp = self.base_offset + rel
        except FileNotFoundError:
            pass

    def _ensure_indexes(self) -> None:
        if self._indexes_loaded:
            return
        self._indexes_loaded = True
        if not self._load_index_files():
            self.rebuild_indexes()

    def _load_index_files(self) -> bool:
        """Load both index files; False when missing or failing the sanity checks."""
        try:
            with open(self.index_path, "rb") as f:
                raw = f.read()
            with open(self.time_index_path, "rb") as f:
                traw = f.read()
        except FileNotFoundError:
            return False
        if len(raw) % 8 or len(traw) % _TIME_ENTRY.size:
            return False
        both = array("i")
        both.frombytes(raw)
        if _LITTLE:
            both.byteswap()
        off, pos = both[0::2], both[1::2]
        if len(off) and (off[0] < 0 or pos[-1] >= max(self.size, 1) or pos[0] < 0):
            return False
        ts = array("q")
        toff = array("i")
        for t, o in _TIME_ENTRY.iter_unpack(traw):
            ts.append(t)
            toff.append(o)
        if len(toff) and toff[0] < 0:
            return False
        self._idx_off, self._idx_pos, self._ti_ts, self._ti_off = off, pos, ts, toff
        self._idx_saved, self._ti_saved = len(off), len(ts)
        self._bytes_since_index = self.size - (pos[-1] if len(pos) else 0)
        if len(ts) and ts[-1] > self.max_timestamp:
            self.max_timestamp = ts[-1]
            self.offset_of_max_timestamp = self.base_offset + toff[-1]
        return True

    def _write_index_files(self, *, rewrite: bool, fsync: bool, create: bool = False) -> None:
        """Append the unsaved index entries to the files (or rewrite them whole)."""
        if rewrite:
            self._idx_saved = self._ti_saved = 0
        mode = "wb" if rewrite else "ab"
        n = len(self._idx_off)
        both = array("i", bytes(8 * (n - self._idx_saved)))
        both[0::2] = self._idx_off[self._idx_saved :]
        both[1::2] = self._idx_pos[self._idx_saved :]
        if _LITTLE:
            both.byteswap()
        times = b"".join(
            _TIME_ENTRY.pack(self._ti_ts[i], self._ti_off[i]) for i in range(self._ti_saved, len(self._ti_ts))
        )
        for path, data in ((self.index_path, both.tobytes()), (self.time_index_path, times)):
            if data or rewrite or fsync or create:
                with open(path, mode, buffering=0) as f:
                    if data:
                        f.write(data)
                    if fsync:
                        os.fsync(f.fileno())
        self._idx_saved, self._ti_saved = n, len(self._ti_ts)

    def save_indexes(self, *, fsync: bool = False, create: bool = False) -> None:
        if self._indexes_loaded:
            self._write_index_files(rewrite=False, fsync=fsync, create=create)

    def seal(self) -> None:
        """The segment stops being the active one: record the final max timestamp and save indexes."""
        self._ensure_indexes()
        if self.max_timestamp >= 0 and (not self._ti_ts or self.max_timestamp > self._ti_ts[-1]):
            self._ti_ts.append(self.max_timestamp)
            self._ti_off.append(self.offset_of_max_timestamp - self.base_offset)
        self.save_indexes(create=True)

    def fsync(self) -> None:
        os.fsync(self.file.fileno())

    def close(self) -> None:
        if not self.file.closed:
            self.save_indexes()
            self.file.close()

    def delete_files(self) -> None:
        """Unlink the files (the open file stays readable until the owner closes it)."""
        for path in (self.log_path, self.index_path, self.time_index_path):
            path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ append

    def append(
        self, buffers: Sequence[Buffer], total: int, batches: Sequence[tuple[int, int, int, int]]
    ) -> None:
        """Write one request's batches: ``batches`` holds (base, last offset, size, max timestamp)."""
        start = self.size
        fd = self.file.fileno()
        try:
            _write_all(fd, buffers, total)
        except OSError as exc:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass
            raise KafkaStorageError(f"cannot write to {self.log_path}: {exc}") from exc
        self._ensure_indexes()
        pos = start
        account = self._account
        for base, last, size, max_ts in batches:
            account(pos, base, last, size, max_ts)
            pos += size
        self.size = pos
        self.next_offset = batches[-1][1] + 1

    def _account(self, pos: int, base: int, last: int, size: int, max_ts: int) -> None:
        """Update timestamps and the sparse indexes for the batch just stored at ``pos``."""
        if max_ts > self.max_timestamp:
            self.max_timestamp = max_ts
            self.offset_of_max_timestamp = last
        if pos == 0:
            self.rolling_timestamp = max_ts
        if self._bytes_since_index > self.index_interval:
            self._idx_off.append(base - self.base_offset)
            self._idx_pos.append(pos)
            mts = self.max_timestamp
            if mts >= 0 and (not self._ti_ts or mts > self._ti_ts[-1]):
                self._ti_ts.append(mts)
                self._ti_off.append(self.offset_of_max_timestamp - self.base_offset)
            self._bytes_since_index = 0
        self._bytes_since_index += size

    # ------------------------------------------------------------------ recovery

    def recover(self) -> int:
        """Validate every batch, truncate at the first invalid byte, rebuild the indexes.

        Checks size, magic 2, CRC-32C and that offsets continue exactly from the previous batch
        (the CRC does not cover the base offset). Returns the number of bytes cut off.
        """
        fd = self.file.fileno()
        file_size = os.fstat(fd).st_size
        self._reset_indexes()
        expected = self.base_offset
        pos = 0
        buf = b""
        buf_pos = 0
        while pos < file_size:
            remain = file_size - pos
            if remain < BATCH_HEADER_SIZE:
                break
            off = pos - buf_pos
            if off + BATCH_HEADER_SIZE > len(buf):
                buf = os.pread(fd, min(_RECOVERY_CHUNK, remain), pos)
                buf_pos, off = pos, 0
            if buf[off + 16] != 2:
                break
            h = _unpack(buf, off)
            size = h[1] + LOG_OVERHEAD
            if h[1] < MIN_BATCH_LENGTH or size > remain:
                break
            if off + size > len(buf):
                buf = os.pread(fd, max(min(_RECOVERY_CHUNK, remain), size), pos)
                buf_pos, off = pos, 0
            if crc32c(memoryview(buf)[off + 21 : off + size]) != h[4]:
                break
            base, delta = h[0], h[6]
            if base != expected or delta < 0 or base + delta - self.base_offset > INT32_MAX:
                break
            self._account(pos, base, base + delta, size, h[8])
            expected = base + delta + 1
            pos += size
        cut = file_size - pos
        if cut:
            os.ftruncate(fd, pos)
        self.size = pos
        self.next_offset = expected
        self._write_index_files(rewrite=True, fsync=False)
        return cut

    def rebuild_indexes(self) -> None:
        """Rebuild both indexes from the batch headers (no CRC check, nothing truncated)."""
        self._reset_indexes()
        for pos, h in self._walk(0, self.size):
            self._account(pos, h[0], h[0] + h[6], h[1] + LOG_OVERHEAD, h[8])
        self._write_index_files(rewrite=True, fsync=False)

    def check_tail(self) -> bool:
        """After a clean open: find the end offset by walking from the last index entry.

        False when the headers do not end exactly at the end of the file (then ``recover``).
        """
        try:
            self._ensure_indexes()
            start = self._idx_pos[-1] if len(self._idx_pos) else 0
            next_offset = self.base_offset if start == 0 else -1
            end = start
            for pos, h in self._walk(start, self.size):
                if next_offset >= 0 and h[0] != next_offset:
                    return False
                if pos == 0:
                    self.rolling_timestamp = h[8]
                next_offset = h[0] + h[6] + 1
                end = pos + h[1] + LOG_OVERHEAD
                if h[8] > self.max_timestamp:
                    self.max_timestamp = h[8]
                    self.offset_of_max_timestamp = h[0] + h[6]
        except CorruptRecordError:
            return False
        if end != self.size:
            return False
        if self.size and self.rolling_timestamp < 0 and start:
            first = self.read_header(0)
            self.rolling_timestamp = first.max_timestamp
        self.next_offset = next_offset if self.size else self.base_offset
        return True

    def _reset_indexes(self) -> None:
        self._idx_off, self._idx_pos = array("i"), array("i")
        self._ti_ts, self._ti_off = array("q"), array("i")
        self._idx_saved = self._ti_saved = 0
        self._bytes_since_index = 0
        self._indexes_loaded = True
        self.max_timestamp = self.offset_of_max_timestamp = self.rolling_timestamp = -1

    # ------------------------------------------------------------------ reads

    def _walk(self, start: int, end: int) -> Iterator[tuple[int, tuple[int, ...]]]:
        """(position, raw header tuple) of every batch starting in [start, end)."""
        fd = self.file.fileno()
        buf = b""
        buf_pos = start
        pos = start
        while pos < end:
            off = pos - buf_pos
            if off + BATCH_HEADER_SIZE > len(buf):
                buf = os.pread(fd, max(min(_SCAN_CHUNK, end - pos), BATCH_HEADER_SIZE), pos)
                buf_pos, off = pos, 0
                if len(buf) < BATCH_HEADER_SIZE:
                    raise CorruptRecordError(f"{self.log_path}: batch header at position {pos} is truncated")
            h = _unpack(buf, off)
            if h[1] < MIN_BATCH_LENGTH:
                raise CorruptRecordError(f"{self.log_path}: batch at position {pos} has length {h[1]}")
            yield pos, h
            pos += h[1] + LOG_OVERHEAD

    def read_header(self, pos: int) -> BatchHeader:
        data = os.pread(self.file.fileno(), BATCH_HEADER_SIZE, pos)
        if len(data) < BATCH_HEADER_SIZE:
            raise CorruptRecordError(f"{self.log_path}: batch header at position {pos} is truncated")
        return tuple.__new__(BatchHeader, _unpack(data))

    def read_bytes(self, pos: int, length: int) -> bytes:
        return _pread_exactly(self.file.fileno(), pos, length)

    def iter_headers(self, from_offset: int) -> Iterator[BatchHeader]:
        """Headers of the batches from the one holding ``from_offset`` to the end."""
        self._ensure_indexes()
        new = tuple.__new__
        for _pos, h in self._walk(self._floor_position(from_offset), self.size):
            if h[0] + h[6] >= from_offset:
                yield new(BatchHeader, h)

    def _floor_position(self, offset: int) -> int:
        i = bisect_right(self._idx_off, offset - self.base_offset) - 1
        return self._idx_pos[i] if i >= 0 else 0

    def find_batch(self, offset: int) -> BatchInfo | None:
        """The first batch whose last offset is >= ``offset``, or None when there is none."""
        self._ensure_indexes()
        for pos, h in self._walk(self._floor_position(offset), self.size):
            last = h[0] + h[6]
            if last >= offset:
                return BatchInfo(pos, h[0], last, h[1] + LOG_OVERHEAD, h[8])
        return None

    def batch_boundary(self, start: int, limit: int) -> int:
        """The largest batch boundary in [start, limit], ``start`` being one."""
        if limit >= self.size:
            return self.size
        self._ensure_indexes()
        i = bisect_right(self._idx_pos, limit) - 1
        pos = start
        if i >= 0 and self._idx_pos[i] > pos:
            pos = self._idx_pos[i]
        for p, h in self._walk(pos, self.size):
            if p + h[1] + LOG_OVERHEAD > limit:
                return p
        return self.size

    def offset_for_timestamp(self, timestamp: int, min_offset: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or after ``min_offset`` with ts >= ``timestamp``."""
        if self.max_timestamp < timestamp:
            return None
        self._ensure_indexes()
        i = bisect_left(self._ti_ts, timestamp) - 1  # last entry with a smaller timestamp
        start = self._floor_position(self.base_offset + self._ti_off[i]) if i >= 0 else 0
        for pos, h in self._walk(start, self.size):
            if h[8] >= timestamp and h[0] + h[6] >= min_offset:
                _header, records = decode_batch(self.read_bytes(pos, h[1] + LOG_OVERHEAD))
                for r in records:
                    if r.timestamp >= timestamp and r.offset >= min_offset:
                        return r.offset, r.timestamp
        return None

    def max_timestamp_record(self) -> tuple[int, int]:
        """(offset, timestamp) of the first record holding the segment's max timestamp."""
        info = self.find_batch(self.offset_of_max_timestamp)
        if info is not None:
            _header, records = decode_batch(self.read_bytes(info.position, info.size))
            for r in records:
                if r.timestamp == self.max_timestamp:
                    return r.offset, r.timestamp
        return self.offset_of_max_timestamp, self.max_timestamp

    def index_entries(self) -> list[tuple[int, int]]:
        """(absolute offset, position) of every offset-index entry (for tests and tools)."""
        self._ensure_indexes()
        return [(self.base_offset + o, p) for o, p in zip(self._idx_off, self._idx_pos, strict=True)]

    def time_index_entries(self) -> list[tuple[int, int]]:
        """(timestamp, absolute offset) of every time-index entry (for tests and tools)."""
        self._ensure_indexes()
        return [(t, self.base_offset + o) for t, o in zip(self._ti_ts, self._ti_off, strict=True)]

    def __repr__(self) -> str:
        return f"Segment(base={self.base_offset}, next={self.next_offset}, size={self.size})"
