"""Produce handler: append producer batches to partition logs and acknowledge them.

How it works: every partition's records go to ``PartitionLog.append``, which validates the
batches (framing, CRC, magic, size, timestamps), runs the idempotent-producer sequence checks and
writes them to the OS; a resent duplicate comes back as success with its original offset. Errors
the log raises are ``kafkakit.errors.BrokerResponseError`` subclasses whose ``errno`` goes into
that partition's ``error_code`` (and the text into ``error_message``, v8+). After the appends,
parked Fetch requests on those partitions are woken. With ``--fsync``, acks=1/-1 answers wait for
the group committer to fsync the touched logs; acks=0 gets no response at all. Topics are created
on first use when ``auto_create_topics_enable`` is on. acks=-1 is the same as acks=1 on one node.

What it must never do: acknowledge a batch the log refused or has not written, answer an acks=0
request, or let one partition's failure affect another partition of the same request.
"""

from __future__ import annotations

import asyncio
import logging
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
INVALID_REQUIRED_ACKS = 21
INVALID_TXN_STATE = 48
UNKNOWN_TOPIC_ID = 100
KAFKA_STORAGE_ERROR = 56


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
    elif body["transactional_id"] is not None:
        fail_all = (INVALID_TXN_STATE, "transactions are not supported by the kafkakit broker")
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
            if not records:
                parts_out.append(
                    _partition_result(index, CORRUPT_MESSAGE, "the partition's record set is empty")
                )
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
