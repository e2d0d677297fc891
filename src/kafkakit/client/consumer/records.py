"""ConsumerRecord and the path from a fetch response's record bytes to ConsumerRecords.

How it works: ``decode_partition(...)`` walks the batches of one partition's ``records`` blob with
``kafkakit.record.iter_batches`` (a trailing partial batch is left for the next fetch), skips
batches that end before the fetch offset without decoding them, skips control batches, and under
read_committed skips the batches of aborted transactions: aborted producer ids become active when
the response's ``aborted_transactions`` list says their transaction started at or before a batch,
and inactive again at their ABORT marker. Every other batch is decoded whole by
``kafkakit.record.decode_batch`` (CRC checked when asked) and turned into ConsumerRecord tuples in
one list comprehension (``tuple.__new__``, no per-record function calls) when no deserializer is
configured; records before the fetch offset (the head of a compressed batch) are dropped.

Hot path: for v2 batches without deserializers ``decode_batch`` is handed a ``make`` that builds
ConsumerRecord tuples straight from each record's fields, so the codec's one record parser yields
them in one pass (no intermediate Record tuples) with the codec's CRC check, decompression and
errors. The tests hold the result to match ``decode_batch``'s plain Records field for field. While a partition's records are decoded the cyclic garbage
collector is paused (when it was enabled, and re-enabled right after): records hold no cycles, and
the collections that allocating tens of thousands of tuples would trigger double the decode time.

The result is a ``DecodedPartition``: the records, the offset to fetch next, and an error that
stopped decoding (a corrupt batch, or a deserializer that raised): the records before it are still
delivered, and ``next_offset`` stays on the failing record so the consumer never moves past it.

What it must never do: deliver a record below the fetch offset, a control record, or (read_committed)
a record of an aborted transaction; nor let a decoding error escape without the partition and offset.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from kafkakit.errors import CorruptRecordError, KafkaError
from kafkakit.record import (
    ControlRecordType,
    decode_batch,
    decode_control_record_key,
    iter_batches,
)
from kafkakit.structs import TopicPartition

__all__ = ["ConsumerRecord", "DecodedPartition", "RecordDeserializationError", "decode_partition"]


class ConsumerRecord(NamedTuple):
    """One record as handed to the user (kafka-python's ConsumerRecord fields)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: int
    key: Any
    value: Any
    headers: list[tuple[str, bytes | None]]
    checksum: int | None
    serialized_key_size: int
    serialized_value_size: int
    serialized_header_size: int
    leader_epoch: int


class RecordDeserializationError(KafkaError):
    """A key or value deserializer raised; the consumer stays on this record until you seek past it."""

    def __init__(self, tp: TopicPartition, offset: int, which: str, cause: BaseException) -> None:
        self.topic_partition = tp
        self.offset = offset
        self.cause = cause
        super().__init__(
            f"{which} deserializer failed for the record at offset {offset} of partition "
            f"{tp.topic}-{tp.partition}: {type(cause).__name__}: {cause}. The position stays at offset "
            f"{offset}; seek past it to skip the record."
        )


class DecodedPartition(NamedTuple):
    records: list[ConsumerRecord]
    next_offset: int
    error: KafkaError | None
    size_in_bytes: int


Deserializer = Callable[..., Any] | Any

_new = tuple.__new__
_CR = ConsumerRecord


def _header_size(headers: Sequence[tuple[str, bytes | None]]) -> int:
    return sum(len(k.encode()) + (0 if v is None else len(v)) for k, v in headers)


def _deserializer(d: Any) -> Callable[[str, Any, bytes | None], Any] | None:
    """kafka-python accepts f(bytes) callables and Deserializer objects with deserialize(topic, headers, data)."""
    if d is None:
        return None
    method = getattr(d, "deserialize", None)
    if callable(method):
        return lambda topic, headers, data: method(topic, headers, data)
    if callable(d):
        return lambda topic, headers, data: d(data)
    raise TypeError(f"deserializer must be callable or have deserialize(topic, headers, data), got {d!r}")


def make_deserializer(d: Any) -> Callable[[str, Any, bytes | None], Any] | None:
    return _deserializer(d)


def decode_partition(
    tp: TopicPartition,
    fetch_offset: int,
    blob: bytes | memoryview | None,
    **kwargs: Any,
) -> DecodedPartition:
    """Decode one partition's records blob from a fetch at ``fetch_offset`` (see module docstring)."""
    if not blob:
        return DecodedPartition([], fetch_offset, None, 0)
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        return _decode_partition(tp, fetch_offset, blob, **kwargs)
    finally:
        if enabled:
            gc.enable()


def _decode_partition(
    tp: TopicPartition,
    fetch_offset: int,
    blob: bytes | memoryview | None,
    *,
    check_crcs: bool = True,
    read_committed: bool = False,
    aborted_transactions: Sequence[dict[str, int]] | None = None,
    key_deserializer: Callable[[str, Any, bytes | None], Any] | None = None,
    value_deserializer: Callable[[str, Any, bytes | None], Any] | None = None,
) -> DecodedPartition:
    out: list[ConsumerRecord] = []
    next_offset = fetch_offset
    if not blob:
        return DecodedPartition(out, next_offset, None, 0)
    topic, partition = tp
    aborted: list[tuple[int, int]] = []
    if read_committed and aborted_transactions:
        aborted = sorted((a["first_offset"], a["producer_id"]) for a in aborted_transactions)
    active_aborted: set[int] = set()
    total = 0
    try:
        for _pos, header, view in iter_batches(blob):
            batch_next = header.base_offset + header.last_offset_delta + 1
            if batch_next <= fetch_offset:
                continue  # wholly before what we asked for (the broker starts at a batch boundary)
            attributes = header.attributes
            if read_committed and header.magic >= 2:
                while aborted and aborted[0][0] <= batch_next - 1:
                    active_aborted.add(aborted.pop(0)[1])
                if attributes & 0x20:  # control batch: an ABORT marker closes its transaction
                    if header.producer_id in active_aborted and _is_abort_marker(view, check_crcs):
                        active_aborted.discard(header.producer_id)
                    next_offset = batch_next
                    continue
                if attributes & 0x10 and header.producer_id in active_aborted:
                    next_offset = batch_next
                    continue
            elif header.magic >= 2 and attributes & 0x20:
                next_offset = batch_next
                continue
            direct = key_deserializer is None and value_deserializer is None and header.magic == 2
            try:
                if direct:  # the codec builds the ConsumerRecords itself: one pass, no Record tuples
                    bh, recs = decode_batch(
                        view,
                        check_crc=check_crcs,
                        into=(_CR, topic, partition, (attributes >> 3) & 1, header.partition_leader_epoch),
                    )
                else:
                    bh, recs = decode_batch(view, check_crc=check_crcs)
            except CorruptRecordError as exc:
                detail = str(exc.args[0]) if exc.args else "corrupt batch"
                err = CorruptRecordError(
                    f"partition {topic}-{partition} at offset {max(next_offset, header.base_offset)}: {detail}"
                )
                return DecodedPartition(out, next_offset, err, total)
            total += len(view)
            if direct:
                if recs and recs[0][2] < fetch_offset:
                    recs = [r for r in recs if r[2] >= fetch_offset]
                out.extend(recs)
                next_offset = max(next_offset, batch_next)
                continue
            ts_type = (bh.attributes >> 3) & 1 if bh.magic >= 1 else -1
            epoch = bh.partition_leader_epoch if bh.magic >= 2 else -1
            if recs and recs[0][0] < fetch_offset:
                recs = [r for r in recs if r[0] >= fetch_offset]
            if key_deserializer is None and value_deserializer is None:
                out.extend(
                    [
                        _new(
                            _CR,
                            (
                                topic,
                                partition,
                                o,
                                ts,
                                ts_type,
                                k,
                                v,
                                h,
                                cs,
                                -1 if k is None else len(k),
                                -1 if v is None else len(v),
                                _header_size(h) if h else -1,
                                epoch,
                            ),
                        )
                        for o, ts, k, v, h, _size, cs in recs
                    ]
                )
            else:
                for o, ts, k, v, h, _size, cs in recs:
                    try:
                        dk = k if key_deserializer is None else key_deserializer(topic, h, k)
                    except Exception as exc:  # noqa: BLE001 - any user error is reported with its record
                        return DecodedPartition(out, o, RecordDeserializationError(tp, o, "key", exc), total)
                    try:
                        dv = v if value_deserializer is None else value_deserializer(topic, h, v)
                    except Exception as exc:  # noqa: BLE001
                        return DecodedPartition(
                            out, o, RecordDeserializationError(tp, o, "value", exc), total
                        )
                    out.append(
                        _new(
                            _CR,
                            (
                                topic,
                                partition,
                                o,
                                ts,
                                ts_type,
                                dk,
                                dv,
                                h,
                                cs,
                                -1 if k is None else len(k),
                                -1 if v is None else len(v),
                                _header_size(h) if h else -1,
                                epoch,
                            ),
                        )
                    )
            # v2 keeps the last offset even when compaction removed the last record
            next_offset = max(
                next_offset, batch_next if bh.magic >= 2 else (recs[-1][0] + 1 if recs else next_offset)
            )
    except CorruptRecordError as exc:  # iter_batches: impossible length or magic
        detail = str(exc.args[0]) if exc.args else "corrupt data"
        return DecodedPartition(
            out,
            next_offset,
            CorruptRecordError(f"partition {topic}-{partition} at offset {next_offset}: {detail}"),
            total,
        )
    return DecodedPartition(out, next_offset, None, total)


def _is_abort_marker(view: memoryview, check_crcs: bool) -> bool:
    try:
        _h, recs = decode_batch(view, check_crc=check_crcs)
        if not recs:
            return False
        _version, kind = decode_control_record_key(recs[0].key)
    except (CorruptRecordError, ValueError):
        return False
    return bool(kind == ControlRecordType.ABORT)
