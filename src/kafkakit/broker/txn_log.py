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

The file mechanics (framing, writing, fsync, torn-tail recovery, compaction) are
``record_log.RecordLog``'s. ``load()`` replays the file, stops at the first torn or corrupt entry (an interrupted write) and
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

import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kafkakit.broker.offsets_store import CommittedOffset
from kafkakit.broker.record_log import Reader, RecordLog, frame, put_str

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


def _frame(parts: list[bytes]) -> bytes:
    return frame(b"".join(parts))


def encode_state(m: TxnMetadata) -> bytes:
    out = [_B.pack(_STATE)]
    put_str(out, m.transactional_id)
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
        put_str(out, topic)
        out.append(_I32.pack(partition))
    out.append(_I32.pack(len(m.groups)))
    for group in sorted(m.groups):
        put_str(out, group)
    return _frame(out)


def encode_offsets(
    txn_id: str, pid: int, epoch: int, group: str, items: Iterable[tuple[str, int, CommittedOffset]]
) -> bytes:
    body: list[bytes] = []
    n = 0
    for topic, partition, c in items:
        put_str(body, topic)
        body.append(_OFFSET.pack(partition, c.offset, c.leader_epoch, c.commit_timestamp_ms))
        put_str(body, c.metadata)
        n += 1
    out = [_B.pack(_OFFSETS)]
    put_str(out, txn_id)
    out.append(_PID_EPOCH.pack(pid, epoch))
    put_str(out, group)
    out.append(_I32.pack(n))
    return _frame(out + body)


def encode_remove(txn_id: str) -> bytes:
    out = [_B.pack(_REMOVE)]
    put_str(out, txn_id)
    return _frame(out)


def apply_entry(txns: dict[str, TxnMetadata], payload: bytes) -> None:
    """Replay one entry into ``txns``; raises ValueError/struct.error/UnicodeDecodeError when it is
    malformed."""
    r = Reader(payload)
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
    r.end()


def snapshot(txns: Iterable[TxnMetadata]) -> list[bytes]:
    """The compacted file's entries holding ``txns`` (the header is ``RecordLog``'s)."""
    out: list[bytes] = []
    for m in txns:
        out.append(encode_state(m))
        if m.open:
            for group, offsets in m.pending_offsets.items():
                items = [(t, p, c) for (t, p), c in offsets.items()]
                out.append(encode_offsets(m.transactional_id, m.producer_id, m.producer_epoch, group, items))
    return out


# ---------------------------------------------------------------- the file


class TxnLog(RecordLog):
    """The append-only file behind the coordinator. Event-loop thread only (``load`` may run in a
    worker thread before use). ``flush``/``close``/``begin_sync`` (a ``durability.Syncable``) come
    from ``RecordLog``."""

    magic = MAGIC
    version = FORMAT_VERSION
    what = "transaction log"
    error = TxnLogError
    max_entry_bytes = MAX_ENTRY_BYTES

    def __init__(self, path: Path, *, fsync: bool = False, committer: Any = None) -> None:
        super().__init__(path, roll_min_bytes=ROLL_MIN_BYTES, fsync=fsync, committer=committer)

    def load(self) -> dict[str, TxnMetadata]:
        """Replay the file (if any), rewrite it compacted, return the metadata by transactional id."""
        txns: dict[str, TxnMetadata] = {}
        self.replay(lambda payload: apply_entry(txns, payload), log)
        self.rewrite(snapshot(txns.values()))
        return txns

    # ------------------------------------------------------------ writes

    def write_state(self, m: TxnMetadata) -> None:
        """Append ``m``'s metadata (to the OS before returning; OSError with nothing written)."""
        self.append(encode_state(m))

    def write_offsets(
        self, m: TxnMetadata, group: str, items: list[tuple[str, int, CommittedOffset]]
    ) -> None:
        self.append(encode_offsets(m.transactional_id, m.producer_id, m.producer_epoch, group, items))

    def write_remove(self, txn_id: str) -> None:
        self.append(encode_remove(txn_id))

    def maybe_compact(self, txns: Iterable[TxnMetadata]) -> None:
        """Rewrite the file compacted once it grew enough (call with the current metadata)."""
        self.compact_if_grown(lambda: snapshot(txns))
