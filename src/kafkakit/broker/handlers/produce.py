"""Produce handler: append producer batches to partition logs and acknowledge them.

How it works: a partition's records must first be exactly one whole magic-2 batch with baseOffset
0, checked in Kafka's order (``_check_record_set``: no whole batch or another magic is
INVALID_RECORD, a length below 14 or an unknown magic CORRUPT_MESSAGE, a second whole batch
INVALID_RECORD, zstd before v7 UNSUPPORTED_COMPRESSION_TYPE; trailing bytes too short for a batch
are dropped as Kafka does), then they go to ``PartitionLog.append``, which validates the
batches (framing, CRC, magic, size, timestamps), runs the idempotent-producer sequence checks and
writes them to the OS; a resent duplicate comes back as success with its original offset. Errors
the log raises are ``kafkakit.errors.BrokerResponseError`` subclasses whose ``errno`` goes into
that partition's ``error_code`` (and the text into ``error_message``, v8+). After the appends,
parked Fetch requests on those partitions are woken. With ``--fsync``, acks=1/-1 answers wait for
the group committer to fsync the touched logs; acks=0 gets no response at all. Topics are created
on first use when ``auto_create_topics_enable`` is on (deliberately: Kafka answers
UNKNOWN_TOPIC_OR_PARTITION, but the project's issue asks for auto-creation on Produce). acks=-1 is
the same as acks=1 on one node.

Transactional batches (attribute bit 4 of a partition's first batch) need the request's
``transactional_id`` (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and are verified with the
transaction coordinator first, as Kafka does since KIP-890 part 1: a partition that is not in the
producer's ongoing transaction gets INVALID_TXN_STATE (TRANSACTION_ABORTABLE from v11), a fenced
epoch INVALID_PRODUCER_EPOCH, a transaction being completed NOT_ENOUGH_REPLICAS (retriable).

What it must never do: acknowledge a batch the log refused or has not written, answer an acks=0
request, let one partition's failure affect another partition of the same request, or append a
transactional batch the coordinator did not verify.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

from kafkakit.broker.handlers.meta import maybe_auto_create
from kafkakit.broker.state import BrokerState, Handler
from kafkakit.broker.topics import Partition, Topic
from kafkakit.errors import BrokerResponseError
from kafkakit.protocol.frame import RequestHeader

log = logging.getLogger("kafkakit.broker")

__all__ = ["HANDLERS", "handle_produce"]

UNKNOWN_SERVER_ERROR = -1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
NOT_ENOUGH_REPLICAS = 19
INVALID_REQUIRED_ACKS = 21
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
CONCURRENT_TRANSACTIONS = 51
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
UNKNOWN_TOPIC_ID = 100
KAFKA_STORAGE_ERROR = 56
PRODUCER_FENCED = 90
TRANSACTION_ABORTABLE = 120
INVALID_RECORD = 87
UNSUPPORTED_COMPRESSION_TYPE = 76
_PID_EPOCH = struct.Struct(">qh")  # producer id and epoch at bytes 43-52 of a v2 batch header
_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_I8 = struct.Struct(">b")
_LOG_OVERHEAD = 12  # baseOffset + batchLength
_HEADER_SIZE_UP_TO_MAGIC = 17
_MIN_RECORD_OVERHEAD = 14  # a magic-0 message: Kafka's smallest legal batch length
_ATTRIBUTES = 21  # int16: its low byte (22) holds the codec and the transactional bit
_ZSTD = 4
_TXN_MESSAGES = {
    INVALID_TXN_STATE: "Partition was not added to the transaction",
    TRANSACTION_ABORTABLE: "Partition was not added to the transaction",
    NOT_ENOUGH_REPLICAS: "Unable to verify the partition has been added to the transaction (CONCURRENT_TRANSACTIONS)",
}


def _partition_result(index: int, code: int, message: str | None = None) -> dict[str, Any]:
    return {
        "index": index,
        "error_code": code,
        "base_offset": -1,
        "log_append_time_ms": -1,
        "log_start_offset": -1,
        "record_errors": [],
        "error_message": message,
    }


async def handle_produce(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any] | None:
    acks = body["acks"]
    fail_all: tuple[int, str] | None = None
    if acks not in (0, 1, -1):
        fail_all = (INVALID_REQUIRED_ACKS, f"acks must be 0, 1 or -1 (all), got {acks}")
    txn_id: str | None = body["transactional_id"]
    topics = state.topics
    touched: list[tuple[Partition, dict[str, Any]]] = []
    responses: list[dict[str, Any]] = []
    for td in body["topic_data"]:
        name: str = td["name"]
        topic_id: bytes = td["topic_id"]
        parts_out: list[dict[str, Any]] = []
        responses.append({"name": name, "topic_id": topic_id, "partition_responses": parts_out})
        if fail_all is not None:
            parts_out.extend(_partition_result(pd["index"], *fail_all) for pd in td["partition_data"])
            continue
        found: Topic | int
        if version >= 13:
            t = topics.by_id(topic_id)
            found = t if t is not None else UNKNOWN_TOPIC_ID
        else:
            found = maybe_auto_create(state, name)
        if not isinstance(found, Topic):
            parts_out.extend(_partition_result(pd["index"], found) for pd in td["partition_data"])
            continue
        partitions = found.partitions
        for pd in td["partition_data"]:
            index: int = pd["index"]
            if not 0 <= index < len(partitions):
                parts_out.append(_partition_result(index, UNKNOWN_TOPIC_OR_PARTITION))
                continue
            records = pd["records"]
            checked = _check_record_set(records, version, f"{found.name}-{index}")
            if isinstance(checked, tuple):
                parts_out.append(_partition_result(index, *checked))
                continue
            if len(records) > checked:
                # Kafka drops trailing bytes that do not make a whole batch (trimInvalidBytes)
                records = memoryview(records)[:checked]
            if checked > 52 and records[22] & 0x10:  # a transactional batch
                code = _verify_transactional(state, txn_id, records, found.name, index, version)
                if code:
                    parts_out.append(_partition_result(index, code, _TXN_MESSAGES.get(code)))
                    continue
            if any(records[:8]):
                # Kafka checks this first when the log validates the batch (before size and CRC)
                base = _I64.unpack_from(records)[0]
                message = f"{found.name}-{index}: the batch's baseOffset should be 0, but it is {base}"
                parts_out.append(_partition_result(index, INVALID_RECORD, message))
                continue
            p = partitions[index]
            try:
                res = p.log.append(records, leader_epoch=p.leader_epoch)
            except BrokerResponseError as exc:
                parts_out.append(_partition_result(index, _code(exc), _message(exc)))
                continue
            except Exception:  # noqa: BLE001 - a storage bug fails this partition only
                log.exception("append to %s-%d failed", found.name, index)
                parts_out.append(_partition_result(index, UNKNOWN_SERVER_ERROR, "internal error appending"))
                continue
            out = {
                "index": index,
                "error_code": 0,
                "base_offset": res.base_offset,
                "log_append_time_ms": res.log_append_time_ms,
                "log_start_offset": res.log_start_offset,
                "record_errors": [],
                "error_message": None,
            }
            touched.append((p, out))
            parts_out.append(out)
    if touched and state.committer is not None and acks != 0:
        await _sync(state, touched)
    for p, _out in touched:
        p.notify()
    if acks == 0:
        return None
    return {"responses": responses, "throttle_time_ms": 0, "node_endpoints": []}


def _batch_size(records: Any, pos: int, n: int, name: str) -> int | None:
    """The size of the batch at ``pos`` when its header is there up to the magic byte, else None;
    a length below the smallest legacy message or an unknown magic is corrupt (Kafka's
    ByteBufferLogInputStream)."""
    if n - pos < _LOG_OVERHEAD:
        return None
    (length,) = _I32.unpack_from(records, pos + 8)
    if length < _MIN_RECORD_OVERHEAD:
        raise _Rejected(
            CORRUPT_MESSAGE,
            f"{name}: record size {length} is less than the minimum record overhead ({_MIN_RECORD_OVERHEAD})",
        )
    if n - pos < _HEADER_SIZE_UP_TO_MAGIC:
        return None
    magic = _I8.unpack_from(records, pos + 16)[0]
    if not 0 <= magic <= 2:
        raise _Rejected(CORRUPT_MESSAGE, f"{name}: invalid magic found in record: {magic}")
    return length + _LOG_OVERHEAD


def _check_record_set(records: Any, version: int, name: str) -> int | tuple[int, str]:
    """A v3+ produce request's partition must carry exactly one whole magic-2 batch (Kafka's
    ProduceRequest.validateRecords, checked before the log looks at the batch): the size of that
    batch, or (error code, message). Trailing bytes too short for a second batch are allowed."""
    n = len(records) if records else 0
    try:
        size = _batch_size(records, 0, n, name) if n else None
        if size is None or size > n:
            return INVALID_RECORD, f"{name}: produce requests v{version} must have at least one record batch"
        magic = _I8.unpack_from(records, 16)[0]
        if magic != 2:
            return (
                INVALID_RECORD,
                f"{name}: produce requests v{version} may only contain record batches with magic version 2 "
                f"(this one has magic {magic})",
            )
        if version < 7 and size > _ATTRIBUTES + 1 and records[_ATTRIBUTES + 1] & 0x07 == _ZSTD:
            return (
                UNSUPPORTED_COMPRESSION_TYPE,
                f"{name}: produce requests v{version} may not use zstd compression (needs v7+)",
            )
        second = _batch_size(records, size, n, name)
        if second is not None and size + second <= n:
            return (
                INVALID_RECORD,
                f"{name}: produce requests v{version} may only contain exactly one record batch per partition",
            )
    except _Rejected as exc:
        return exc.code, exc.message
    return size


class _Rejected(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _verify_transactional(
    state: BrokerState, txn_id: str | None, records: Any, topic: str, partition: int, version: int
) -> int:
    """NONE when the transaction coordinator lets this transactional batch into the partition,
    else the Produce error code (Kafka's translation of the coordinator's answer)."""
    if not txn_id:
        return TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    if state.txn is None:
        return NOT_ENOUGH_REPLICAS
    pid, epoch = _PID_EPOCH.unpack_from(records, 43)
    code: int = state.txn.verify_partition(txn_id, pid, epoch, topic, partition)
    if code == PRODUCER_FENCED:
        return INVALID_PRODUCER_EPOCH
    if code == TRANSACTION_ABORTABLE and version < 11:
        return INVALID_TXN_STATE
    if code == CONCURRENT_TRANSACTIONS:
        return NOT_ENOUGH_REPLICAS
    return code


async def _sync(state: BrokerState, touched: list[tuple[Partition, dict[str, Any]]]) -> None:
    """fsync (grouped) every log appended to; a partition whose fsync failed is answered with
    KAFKA_STORAGE_ERROR instead of its offset."""
    logs = {id(p.log): p.log for p, _ in touched}
    results = await asyncio.gather(
        *(state.committer.sync(lg) for lg in logs.values()), return_exceptions=True
    )
    failed = {key: r for key, r in zip(logs, results, strict=True) if isinstance(r, BaseException)}
    for p, out in touched:
        exc = failed.get(id(p.log))
        if exc is not None:
            out.update(error_code=KAFKA_STORAGE_ERROR, base_offset=-1, error_message=str(exc))


def _code(exc: BrokerResponseError) -> int:
    return exc.errno if exc.errno is not None else UNKNOWN_SERVER_ERROR


def _message(exc: BrokerResponseError) -> str | None:
    text = str(exc.args[0]) if exc.args else None
    return text or None


HANDLERS: dict[int, Handler] = {0: handle_produce}
