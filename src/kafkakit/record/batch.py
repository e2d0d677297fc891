"""Kafka RecordBatch v2 (magic 2): encode, decode, walk and patch record batches.

How it works: a batch is a 61-byte header (packed and unpacked with one precompiled struct)
followed by the records, each a varint length and a body of varints and raw bytes. Encoding
looks varint bytes up in a precomputed table (``_VARINT``) for values below 16384 and builds the
batch with ``b"".join`` over a flat list of parts; the CRC-32C comes from the C ``crc32c``
package and covers bytes 21..end (attributes onward), so base offset and partition leader epoch
can be rewritten in place. Decoding copies the records area into one ``bytes`` object
(decompressing it if the attributes say so), then walks it with integer indexing; 1- and 2-byte
zigzag varints, by far the most common, are decoded with one table lookup. Legacy magic 0/1
message sets share the framing (offset int64, size int32, magic at byte 16) and are handed to
``kafkakit.record.legacy``.

What it must never do: let IndexError/struct.error/ValueError escape on malformed input (all of
it becomes ``CorruptRecordError`` naming the base offset), compute CRCs in Python, or change a
name in the public API below: the producer, the consumer and the broker are written against it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any, Final, NamedTuple

from crc32c import crc32c

from kafkakit.errors import CorruptRecordError
from kafkakit.record.compression import CODEC_MASK, compress, decompress

__all__ = [
    "BATCH_HEADER_SIZE",
    "LOG_OVERHEAD",
    "MAGIC_OFFSET",
    "BatchHeader",
    "ControlRecordType",
    "Record",
    "RecordInput",
    "batch_crc_ok",
    "decode_batch",
    "decode_control_record_key",
    "decode_control_record_value",
    "decode_records",
    "encode_batch",
    "encode_control_batch",
    "estimate_size_in_bytes",
    "iter_batches",
    "read_batch_header",
    "record_size",
    "set_base_offset",
    "set_partition_leader_epoch",
]

Buffer = bytes | bytearray | memoryview
HeaderList = list[tuple[str, bytes | None]]
# (timestamp_ms, key, value, headers)
RecordInput = tuple[int, bytes | None, bytes | None, Sequence[tuple[str, bytes | None]] | None]

BATCH_HEADER_SIZE: Final = 61
LOG_OVERHEAD: Final = 12  # baseOffset int64 + batchLength int32: the framing shared by every magic
MAGIC_OFFSET: Final = 16
PARTITION_LEADER_EPOCH_OFFSET: Final = 12
CRC_OFFSET: Final = 17
ATTRIBUTES_OFFSET: Final = 21
# batchLength counts the bytes after itself: a batch without records has 61 - 12 = 49
_MIN_BATCH_LENGTH: Final = BATCH_HEADER_SIZE - LOG_OVERHEAD

TIMESTAMP_TYPE_MASK: Final = 0x08
TRANSACTIONAL_MASK: Final = 0x10
CONTROL_MASK: Final = 0x20
# (the consumer relies on these for read_committed)

_HEADER = struct.Struct(">qiibIhiqqqhii")
_HEADER_HEAD = struct.Struct(">qiibI")  # the 21 bytes before attributes (not covered by the CRC)
_HEADER_TAIL = struct.Struct(">hiqqqhii")  # attributes .. recordsCount (40 bytes, covered by the CRC)
_unpack_header = _HEADER.unpack_from
_INT64 = struct.Struct(">q")
_INT32 = struct.Struct(">i")
_CONTROL_KEY = struct.Struct(">hh")
_CONTROL_VALUE = struct.Struct(">hi")


class BatchHeader(NamedTuple):
    """The 61-byte header of a v2 batch (or the synthesized equivalent of a legacy entry)."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def compression(self) -> int:
        return self.attributes & CODEC_MASK

    @property
    def timestamp_type(self) -> int:
        """0: CreateTime, 1: LogAppendTime."""
        return (self.attributes & TIMESTAMP_TYPE_MASK) >> 3

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_MASK)

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def size_in_bytes(self) -> int:
        """Bytes the whole batch occupies, framing included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_sequence(self) -> int:
        """Sequence number of the batch's last record (wrapping at int32 max), -1 without one."""
        if self.base_sequence < 0:
            return -1
        return (self.base_sequence + self.last_offset_delta) & 0x7FFFFFFF


class Record(NamedTuple):
    """One decoded record. ``checksum`` is the legacy message CRC, None for v2 records."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: HeaderList
    size_in_bytes: int
    checksum: int | None = None

    @property
    def serialized_key_size(self) -> int:
        return -1 if self.key is None else len(self.key)

    @property
    def serialized_value_size(self) -> int:
        return -1 if self.value is None else len(self.value)

    @property
    def serialized_header_size(self) -> int:
        if not self.headers:
            return -1
        return sum(len(k.encode()) + (0 if v is None else len(v)) for k, v in self.headers)


class ControlRecordType:
    """Type field of a control record key."""

    ABORT: Final = 0
    COMMIT: Final = 1


_tuple_new = tuple.__new__


def _corrupt(base_offset: int | None, reason: str) -> CorruptRecordError:
    where = "record batch" if base_offset is None else f"record batch at base offset {base_offset}"
    return CorruptRecordError(f"{where} is corrupt: {reason}")


# ---------------------------------------------------------------------------------------------
# varints


def _zigzag_varint(value: int) -> bytes:
    """Zigzag varint (varlong) bytes of any int64."""
    z = (value << 1) ^ (value >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_TABLE_SIZE: Final = 1 << 14
# _VARINT[n] = zigzag varint of n, for 0 <= n < _TABLE_SIZE
_VARINT: Final[list[bytes]] = [_zigzag_varint(n) for n in range(_TABLE_SIZE)]
# _UNZIGZAG[(b1 << 7) | (b0 & 0x7f)] = value of a 1- or 2-byte zigzag varint b0 [b1]
_UNZIGZAG: Final[list[int]] = [(n >> 1) ^ -(n & 1) for n in range(1 << 14)]


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode the zigzag varint at ``pos``; return (value, next position). Any length up to 10 bytes."""
    result = 0
    shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _encode_headers(headers: Sequence[tuple[str, bytes | None]]) -> bytes:
    enc = _VARINT
    parts: list[bytes] = [enc[len(headers)] if len(headers) < _TABLE_SIZE else _zigzag_varint(len(headers))]
    for hkey, hval in headers:
        kb = hkey.encode() if isinstance(hkey, str) else bytes(hkey)
        n = len(kb)
        parts.append(enc[n] if n < _TABLE_SIZE else _zigzag_varint(n))
        parts.append(kb)
        if hval is None:
            parts.append(b"\x01")
        else:
            n = len(hval)
            parts.append(enc[n] if n < _TABLE_SIZE else _zigzag_varint(n))
            parts.append(hval)
    return b"".join(parts)


def _decode_headers(data: bytes, pos: int, count: int) -> tuple[HeaderList, int, int]:
    """(headers, next position, serialized header size: key bytes + value bytes, -1 when none)."""
    headers: HeaderList = []
    size = 0
    for _ in range(count):
        klen, pos = _read_varint(data, pos)
        if klen < 0:
            raise ValueError("negative header key length")
        hkey = data[pos : pos + klen].decode()
        pos += klen
        vlen, pos = _read_varint(data, pos)
        if vlen >= 0:
            hval: bytes | None = data[pos : pos + vlen]
            pos += vlen
            size += klen + vlen
        elif vlen == -1:
            hval = None
            size += klen
        else:
            raise ValueError("header value length below -1")
        headers.append((hkey, hval))
    return headers, pos, size if headers else -1


# ---------------------------------------------------------------------------------------------
# encode


# Encoded record heads (length .. value length) of records without key and headers, by
# (timestamp delta, value length), each a list indexed by offset delta and filled as needed: such
# records repeat these bytes batch after batch, so once two records in a row have the same shape
# the next ones of that shape cost one lookup and two list appends. Each head starts with the
# previous record's headers count (0), which such a record leaves to the next one to write.
# Bounded: at most _ROWS rows of at most _ROW_LENGTH entries (a few MB at worst, some 100 KB for
# a few shapes in practice).
_HEADS: dict[tuple[int, int], list[bytes | None]] = {}
_ROWS: Final = 16
_ROW_LENGTH: Final = 4096  # batches of more records do not use the rows
_HEAD_VALUE_LIMIT: Final = 8192


def _heads_row(tsd: int, vlen: int, count: int) -> list[bytes | None]:
    row = _HEADS.get((tsd, vlen))
    if row is None:
        if len(_HEADS) >= _ROWS:
            _HEADS.clear()
        row = _HEADS[(tsd, vlen)] = []
    if len(row) < count:
        row.extend([None] * (count - len(row)))
    return row


def _encode_records(records: Sequence[RecordInput], base_ts: int) -> tuple[bytes, int]:
    """Serialize ``records`` (offset deltas 0..n-1); return (bytes, max timestamp)."""
    enc = _VARINT
    lim = _TABLE_SIZE
    slow = _zigzag_varint
    parts: list[bytes] = []
    ap = parts.append
    join = b"".join
    max_ts = base_ts
    od = 0
    count = len(records)
    # the heads row in use and its shape (timestamp delta, value length; -1 for none); the shape
    # of the previous record without key and headers (-2 for none, and when rows are not used)
    row: list[bytes | None] = []
    row_tsd = row_vlen = -1
    prev_tsd = prev_vlen = -2 if count > _ROW_LENGTH else -1
    owed = False  # the last record came from a row and its headers count (0) is not written yet
    for ts, key, value, headers in records:
        tsd = ts - base_ts
        if ts > max_ts:
            max_ts = ts
        if key is None and value is not None and not headers:
            vlen = len(value)
            if vlen != row_vlen or tsd != row_tsd:
                if vlen != prev_vlen or tsd != prev_tsd or not (0 <= tsd < lim and vlen < _HEAD_VALUE_LIMIT):
                    if prev_vlen != -2:
                        prev_tsd = tsd
                        prev_vlen = vlen
                    # no key, no headers, not (yet) a repeated shape
                    if owed:
                        ap(b"\x00")
                        owed = False
                    body = join(
                        (
                            b"\x00",
                            enc[tsd] if 0 <= tsd < lim else slow(tsd),
                            enc[od] if od < lim else slow(od),
                            b"\x01",
                            enc[vlen] if vlen < lim else slow(vlen),
                            value,
                            b"\x00",
                        )
                    )
                    n = len(body)
                    ap(enc[n] if n < lim else slow(n))
                    ap(body)
                    od += 1
                    continue
                row = _heads_row(tsd, vlen, count)
                row_tsd = tsd
                row_vlen = vlen
            head = row[od]
            if head is None:
                t = enc[tsd]
                o = enc[od]
                vl = enc[vlen]
                n = 3 + len(t) + len(o) + len(vl) + vlen  # attributes, null key, no headers
                head = row[od] = join((b"\x00", (enc[n] if n < lim else slow(n)), b"\x00", t, o, b"\x01", vl))
            ap(head if owed else head[1:])
            ap(value)
            owed = True
            od += 1
            continue
        if owed:
            ap(b"\x00")
            owed = False
        if key is None:
            kl = b"\x01"
            key = b""
        else:
            n = len(key)
            kl = enc[n] if n < lim else slow(n)
        if value is None:
            vl = b"\x01"
            value = b""
        else:
            n = len(value)
            vl = enc[n] if n < lim else slow(n)
        body = join(
            (
                b"\x00",
                enc[tsd] if 0 <= tsd < lim else slow(tsd),
                enc[od] if od < lim else slow(od),
                kl,
                key,
                vl,
                value,
                _encode_headers(headers) if headers else b"\x00",
            )
        )
        n = len(body)
        ap(enc[n] if n < lim else slow(n))
        ap(body)
        od += 1
    if owed:
        ap(b"\x00")
    return join(parts), max_ts


def encode_batch(
    records: Sequence[RecordInput],
    *,
    base_offset: int = 0,
    compression: int = 0,
    timestamp_type: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    transactional: bool = False,
    is_control: bool = False,
    partition_leader_epoch: int = -1,
) -> bytes:
    """Encode ``records`` — (timestamp_ms, key, value, headers) tuples — as one v2 batch.

    Offset deltas are 0..n-1, the base timestamp is the first record's, the max timestamp the
    largest. ``compression`` is a codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    """
    count = len(records)
    if count == 0:
        raise ValueError("a record batch needs at least one record")
    if compression & ~CODEC_MASK or compression > 4:
        raise ValueError(f"unknown compression codec id {compression}")
    base_ts = records[0][0]
    data, max_ts = _encode_records(records, base_ts)
    if compression:
        data = compress(compression, data)
    attributes = compression
    if timestamp_type:
        attributes |= TIMESTAMP_TYPE_MASK
    if transactional:
        attributes |= TRANSACTIONAL_MASK
    if is_control:
        attributes |= CONTROL_MASK
    tail = _HEADER_TAIL.pack(
        attributes, count - 1, base_ts, max_ts, producer_id, producer_epoch, base_sequence, count
    )
    crc = crc32c(data, crc32c(tail))
    head = _HEADER_HEAD.pack(base_offset, _MIN_BATCH_LENGTH + len(data), partition_leader_epoch, 2, crc)
    return b"".join((head, tail, data))


def encode_control_batch(
    commit: bool,
    producer_id: int,
    producer_epoch: int,
    timestamp: int,
    coordinator_epoch: int = 0,
    *,
    base_offset: int = 0,
    partition_leader_epoch: int = -1,
) -> bytes:
    """A transaction marker: a transactional control batch holding one COMMIT or ABORT record."""
    key = _CONTROL_KEY.pack(0, ControlRecordType.COMMIT if commit else ControlRecordType.ABORT)
    value = _CONTROL_VALUE.pack(0, coordinator_epoch)
    return encode_batch(
        [(timestamp, key, value, None)],
        base_offset=base_offset,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        transactional=True,
        is_control=True,
        partition_leader_epoch=partition_leader_epoch,
    )


def decode_control_record_key(key: bytes | None) -> tuple[int, int]:
    """(version, type) of a control record key; type 0 is ABORT, 1 is COMMIT."""
    if key is None or len(key) < 4:
        raise CorruptRecordError("control record key is shorter than 4 bytes")
    version, ctype = _CONTROL_KEY.unpack_from(key)
    return version, ctype


def decode_control_record_value(value: bytes | None) -> tuple[int, int]:
    """(version, coordinator_epoch) of a transaction marker's value."""
    if value is None or len(value) < 6:
        raise CorruptRecordError("transaction marker value is shorter than 6 bytes")
    version, coordinator_epoch = _CONTROL_VALUE.unpack_from(value)
    return version, coordinator_epoch


def record_size(
    offset_delta: int,
    timestamp_delta: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None = None,
) -> int:
    """Exact encoded size of one record (length prefix included)."""
    body = 1 + len(_zigzag_varint(timestamp_delta)) + len(_zigzag_varint(offset_delta))
    body += 1 if key is None else len(_zigzag_varint(len(key))) + len(key)
    body += 1 if value is None else len(_zigzag_varint(len(value))) + len(value)
    body += len(_encode_headers(headers)) if headers else 1
    return len(_zigzag_varint(body)) + body


def estimate_size_in_bytes(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None = None,
) -> int:
    """Upper bound of a one-record batch's size, for checking against max_request_size."""
    # 21 = worst-case length (5) + attributes (1) + timestamp delta (10) + offset delta (5)
    size = BATCH_HEADER_SIZE + 21
    size += 5 + (0 if key is None else len(key))
    size += 5 + (0 if value is None else len(value))
    size += len(_encode_headers(headers)) if headers else 1
    return size


# ---------------------------------------------------------------------------------------------
# header access and in-place patches


def read_batch_header(buf: Buffer, pos: int = 0) -> BatchHeader:
    """Unpack the 61-byte v2 header at ``pos`` (no CRC check)."""
    if len(buf) - pos < BATCH_HEADER_SIZE or pos < 0:
        raise CorruptRecordError(
            f"record batch header at position {pos} is truncated: "
            f"{max(len(buf) - pos, 0)} of {BATCH_HEADER_SIZE} bytes present"
        )
    return _tuple_new(BatchHeader, _unpack_header(buf, pos))


def batch_crc_ok(batch: Buffer) -> bool:
    """True when the CRC-32C stored in the v2 batch starting at byte 0 of ``batch`` matches."""
    if len(batch) < BATCH_HEADER_SIZE:
        return False
    view = memoryview(batch)
    (length,) = _INT32.unpack_from(view, 8)
    end = LOG_OVERHEAD + length
    if length < _MIN_BATCH_LENGTH or end > len(view):
        return False
    (stored,) = struct.unpack_from(">I", view, CRC_OFFSET)
    return bool(crc32c(view[ATTRIBUTES_OFFSET:end]) == stored)


def set_base_offset(batch: bytearray | memoryview, pos: int, base_offset: int) -> None:
    """Rewrite the base offset of the batch at ``pos`` in place (the CRC does not cover it)."""
    _INT64.pack_into(batch, pos, base_offset)


def set_partition_leader_epoch(batch: bytearray | memoryview, pos: int, epoch: int) -> None:
    """Rewrite the partition leader epoch of the v2 batch at ``pos`` (not covered by the CRC)."""
    _INT32.pack_into(batch, pos + PARTITION_LEADER_EPOCH_OFFSET, epoch)


# ---------------------------------------------------------------------------------------------
# decode


ConsumerLayout = tuple[type, str, int, int, int]
"""``(cls, topic, partition, timestamp_type, leader_epoch)``: decode a v2 batch's records straight
into ``cls`` tuples of kafka-python's ConsumerRecord layout -- (topic, partition, offset, timestamp,
timestamp_type, key, value, headers, checksum=None, serialized_key_size, serialized_value_size,
serialized_header_size, leader_epoch), sizes -1 for None/no headers -- in the one parsing pass,
without a Python call per record (the consumer's fetch path)."""


def _decode_records(
    data: bytes, count: int, base_offset: int, base_ts: int, into: ConsumerLayout | None = None
) -> list[Any]:
    """Parse ``count`` records filling ``data`` exactly: Record tuples, or ConsumerRecords (``into``).

    The one v2 record parser (``decode_batch`` and the consumer's fetch path both use it). Raises
    IndexError/ValueError on garbage.
    """
    if count < 0 or count * 7 > len(data):
        raise ValueError(f"records count {count} does not fit in {len(data)} bytes")
    unzz = _UNZIGZAG
    new = _tuple_new
    rec_cls: type = Record
    if into is not None:
        rec_cls, topic, partition, ts_type, epoch = into
    out: list[Any] = []
    ap = out.append
    pos = 0
    for _ in range(count):
        start = pos
        # length, then the attributes byte (unused)
        b = data[pos]
        if b < 0x80:
            length = unzz[b]
            end = pos + 1 + length
            pos += 2
        else:
            b1 = data[pos + 1]
            if b1 < 0x80:
                length = unzz[(b1 << 7) | (b & 0x7F)]
                end = pos + 2 + length
                pos += 3
            else:
                length, pos = _read_varint(data, pos)
                end = pos + length
                pos += 1
        # timestamp delta
        b = data[pos]
        if b < 0x80:
            tsd = unzz[b]
            pos += 1
        else:
            b1 = data[pos + 1]
            if b1 < 0x80:
                tsd = unzz[(b1 << 7) | (b & 0x7F)]
                pos += 2
            else:
                tsd, pos = _read_varint(data, pos)
        # offset delta
        b = data[pos]
        if b < 0x80:
            od = unzz[b]
            pos += 1
        else:
            b1 = data[pos + 1]
            if b1 < 0x80:
                od = unzz[(b1 << 7) | (b & 0x7F)]
                pos += 2
            else:
                od, pos = _read_varint(data, pos)
        # key
        b = data[pos]
        if b == 1:
            key: bytes | None = None
            ks = -1
            pos += 1
        else:
            if b < 0x80:
                ks = unzz[b]
                pos += 1
            else:
                b1 = data[pos + 1]
                if b1 < 0x80:
                    ks = unzz[(b1 << 7) | (b & 0x7F)]
                    pos += 2
                else:
                    ks, pos = _read_varint(data, pos)
            if ks < 0:
                raise ValueError(f"key length {ks}")
            key = data[pos : pos + ks]
            pos += ks
        # value
        b = data[pos]
        if b == 1:
            value: bytes | None = None
            vs = -1
            pos += 1
        else:
            if b < 0x80:
                vs = unzz[b]
                pos += 1
            else:
                b1 = data[pos + 1]
                if b1 < 0x80:
                    vs = unzz[(b1 << 7) | (b & 0x7F)]
                    pos += 2
                else:
                    vs, pos = _read_varint(data, pos)
            if vs < 0:
                raise ValueError(f"value length {vs}")
            value = data[pos : pos + vs]
            pos += vs
        # headers
        if data[pos] == 0:
            headers: HeaderList = []
            hs = -1
            pos += 1
        else:
            n, pos = _read_varint(data, pos)
            if n < 0:
                raise ValueError(f"header count {n}")
            headers, pos, hs = _decode_headers(data, pos, n)
        if pos != end:
            raise ValueError(
                f"record at offset delta {od} declares {length} bytes but holds {pos - end + length}"
            )
        if into is None:
            ap(new(rec_cls, (base_offset + od, base_ts + tsd, key, value, headers, pos - start, None)))
        else:
            ap(
                new(
                    rec_cls,
                    (
                        topic,
                        partition,
                        base_offset + od,
                        base_ts + tsd,
                        ts_type,
                        key,
                        value,
                        headers,
                        None,
                        ks,
                        vs,
                        hs,
                        epoch,
                    ),
                )
            )
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} bytes left over after {count} records")
    return out


def decode_batch(
    batch: Buffer,
    *,
    check_crc: bool = True,
    max_uncompressed_size: int | None = None,
    into: ConsumerLayout | None = None,
) -> tuple[BatchHeader, list[Any]]:
    """Decode the batch starting at byte 0 of ``batch``: its header and all its records.

    The records are ``Record`` tuples, or (v2 batches only, ``into``) ConsumerRecord-layout tuples
    (see ``ConsumerLayout``; its class must be a NamedTuple with a ``timestamp`` field, for
    LogAppendTime). Legacy entries ignore ``into``.

    Decompresses as needed (``max_uncompressed_size`` bounds the output). With LogAppendTime
    every record gets the batch's max timestamp, as the Java client does. Legacy magic 0/1
    entries are decoded by ``kafkakit.record.legacy``. Raises CorruptRecordError on any defect.
    """
    size = len(batch)
    if size < BATCH_HEADER_SIZE:
        base = _INT64.unpack_from(batch)[0] if size >= 8 else None
        if size <= MAGIC_OFFSET or batch[MAGIC_OFFSET] == 2:
            raise _corrupt(base, f"truncated: only {size} bytes, a v2 batch header needs {BATCH_HEADER_SIZE}")
    magic = batch[MAGIC_OFFSET]
    if magic != 2:
        if magic == 0 or magic == 1:
            from kafkakit.record import legacy

            return legacy.decode_entry(
                batch, check_crc=check_crc, max_uncompressed_size=max_uncompressed_size
            )
        raise _corrupt(_INT64.unpack_from(batch)[0], f"unknown magic byte {magic}")
    header = read_batch_header(batch)
    base_offset = header.base_offset
    end = LOG_OVERHEAD + header.batch_length
    if header.batch_length < _MIN_BATCH_LENGTH:
        raise _corrupt(
            base_offset, f"batch length {header.batch_length} is below the minimum of {_MIN_BATCH_LENGTH}"
        )
    if end > size:
        raise _corrupt(base_offset, f"truncated: batch length says {end} bytes but only {size} are present")
    view = memoryview(batch)
    if check_crc:
        actual = crc32c(view[ATTRIBUTES_OFFSET:end])
        if actual != header.crc:
            raise _corrupt(
                base_offset, f"CRC-32C mismatch (stored {header.crc:#010x}, computed {actual:#010x})"
            )
    codec = header.attributes & CODEC_MASK
    if codec > 4:
        raise _corrupt(base_offset, f"attributes name unknown compression codec {codec}")
    try:
        if codec:
            data = decompress(codec, view[BATCH_HEADER_SIZE:end], max_uncompressed_size)
        else:
            data = bytes(view[BATCH_HEADER_SIZE:end])
        records = _decode_records(data, header.records_count, base_offset, header.base_timestamp, into)
    except CorruptRecordError as exc:
        raise _corrupt(base_offset, str(exc.args[0]) if exc.args else "undecodable") from None
    except (IndexError, ValueError, TypeError) as exc:
        raise _corrupt(base_offset, f"malformed records ({type(exc).__name__}: {exc})") from None
    if header.attributes & TIMESTAMP_TYPE_MASK:
        max_ts = header.max_timestamp
        records = [r._replace(timestamp=max_ts) for r in records]
    return header, records


def iter_batches(buf: Buffer) -> Iterator[tuple[int, BatchHeader, memoryview]]:
    """Walk a concatenation of batches: yield (position, header, view of the whole batch).

    Stops quietly at a trailing partial batch (a fetch response may cut the last one); raises
    CorruptRecordError for a batch whose length or magic is impossible. No CRC check, no
    decompression. Legacy v0/v1 entries yield a header synthesized by ``legacy.read_entry_header``.
    """
    view = memoryview(buf)
    size = len(view)
    pos = 0
    while pos + MAGIC_OFFSET + 1 <= size:
        (length,) = _INT32.unpack_from(view, pos + 8)
        end = pos + LOG_OVERHEAD + length
        magic = view[pos + MAGIC_OFFSET]
        if magic == 2:
            if length < _MIN_BATCH_LENGTH:
                raise _corrupt(
                    _INT64.unpack_from(view, pos)[0], f"batch length {length} at position {pos} is too small"
                )
            if end > size:
                return
            header: BatchHeader = _tuple_new(BatchHeader, _unpack_header(view, pos))
        elif magic == 0 or magic == 1:
            if end > size:
                return
            from kafkakit.record import legacy

            header = legacy.read_entry_header(view, pos)
        else:
            if end > size or length < 0:
                return
            raise _corrupt(_INT64.unpack_from(view, pos)[0], f"unknown magic byte {magic} at position {pos}")
        yield pos, header, view[pos:end]
        pos = end


def decode_records(
    buf: Buffer, *, check_crc: bool = True, max_uncompressed_size: int | None = None
) -> list[tuple[BatchHeader, list[Record]]]:
    """Decode every complete batch of a records blob (a fetch response's records bytes)."""
    return [
        decode_batch(view, check_crc=check_crc, max_uncompressed_size=max_uncompressed_size)
        for _pos, _header, view in iter_batches(buf)
    ]
