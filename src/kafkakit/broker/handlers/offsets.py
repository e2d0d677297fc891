"""Offset lookup handlers: ListOffsets, DeleteRecords and OffsetForLeaderEpoch.

How it works: each partition is answered from its ``PartitionLog``. ListOffsets understands the
special timestamps -1 (latest: the high watermark, which is also the last stable offset since
there are no transactions), -2 (earliest: the log start offset), -3 (the record with the largest
timestamp), -4 (earliest local, the same as -2 without tiered storage), -5 (latest tiered) and -6
(earliest pending upload; nothing is tiered, so both are offset -1); any timestamp >= 0 finds the
first record at or after it (-1/-1 when there is none). A special timestamp older than the request
version that introduced it (-3 v7, -4 v8, -5 v9, -6 v11), or any other negative timestamp, is
UNSUPPORTED_VERSION for that partition, decided before the partition is looked up, as in Kafka.
DeleteRecords moves the log start offset (offset -1 means the high watermark); OffsetForLeaderEpoch
asks the log for the end offset of the requested epoch.

What it must never do: return an offset beyond the high watermark, or move a log start offset
backwards.
"""

from __future__ import annotations

from typing import Any

from kafkakit.broker.state import BrokerState, Handler
from kafkakit.broker.topics import Partition
from kafkakit.errors import BrokerResponseError
from kafkakit.protocol.frame import RequestHeader

__all__ = ["HANDLERS"]

OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
UNSUPPORTED_VERSION = 35
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
EARLIEST_LOCAL = -4
LATEST_TIERED = -5
EARLIEST_PENDING_UPLOAD = -6

#: the first ListOffsets version that may ask for each special timestamp; any other negative
#: timestamp (and these below their version) is UNSUPPORTED_VERSION (Kafka's ReplicaManager)
_MIN_VERSION = {
    LATEST: 1,
    EARLIEST: 1,
    MAX_TIMESTAMP: 7,  # KIP-734
    EARLIEST_LOCAL: 8,  # KIP-405
    LATEST_TIERED: 9,  # KIP-1005
    EARLIEST_PENDING_UPLOAD: 11,  # KIP-1023
}
_NEVER = 1 << 15


def _resolve(state: BrokerState, topic: str, index: int, current_leader_epoch: int = -1) -> Partition | int:
    p = state.topics.get_partition(topic, index)
    if p is None:
        return UNKNOWN_TOPIC_OR_PARTITION
    if current_leader_epoch >= 0 and current_leader_epoch != p.leader_epoch:
        return UNKNOWN_LEADER_EPOCH if current_leader_epoch > p.leader_epoch else FENCED_LEADER_EPOCH
    return p


def _list_one(p: Partition, timestamp: int, read_committed: bool) -> tuple[int, int, int]:
    """(timestamp, offset, leader_epoch) for one ListOffsets partition."""
    plog = p.log
    if timestamp == LATEST:
        return -1, plog.last_stable_offset if read_committed else plog.high_watermark, p.leader_epoch
    if timestamp in (EARLIEST, EARLIEST_LOCAL):
        return -1, plog.log_start_offset, p.leader_epoch
    if timestamp in (LATEST_TIERED, EARLIEST_PENDING_UPLOAD):  # nothing is ever tiered
        return -1, -1, -1
    found = (
        plog.max_timestamp_offset() if timestamp == MAX_TIMESTAMP else plog.offset_for_timestamp(timestamp)
    )
    if found is None or found[0] < 0:
        return -1, -1, -1
    offset, ts = found
    return ts, offset, p.leader_epoch


async def handle_list_offsets(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    read_committed = body["isolation_level"] == 1
    topics_out = []
    for t in body["topics"]:
        parts_out = []
        for pr in t["partitions"]:
            index, timestamp = pr["partition_index"], pr["timestamp"]
            out = {
                "partition_index": index,
                "error_code": 0,
                "timestamp": -1,
                "offset": -1,
                "leader_epoch": -1,
            }
            if timestamp < 0 and version < _MIN_VERSION.get(timestamp, _NEVER):
                # checked before the partition is looked up, as Kafka does
                out["error_code"] = UNSUPPORTED_VERSION
            elif isinstance(found := _resolve(state, t["name"], index, pr["current_leader_epoch"]), int):
                out["error_code"] = found
            else:
                out["timestamp"], out["offset"], out["leader_epoch"] = _list_one(
                    found, timestamp, read_committed
                )
            parts_out.append(out)
        topics_out.append({"name": t["name"], "partitions": parts_out})
    return {"throttle_time_ms": 0, "topics": topics_out}


async def handle_delete_records(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    topics_out = []
    for t in body["topics"]:
        parts_out = []
        for pr in t["partitions"]:
            index, offset = pr["partition_index"], pr["offset"]
            out = {"partition_index": index, "low_watermark": -1, "error_code": 0}
            found = _resolve(state, t["name"], index)
            if isinstance(found, int):
                out["error_code"] = found
            else:
                plog = found.log
                hw = plog.high_watermark
                if offset == -1:
                    offset = hw
                if offset < 0 or offset > hw:
                    out["error_code"] = OFFSET_OUT_OF_RANGE
                else:
                    try:
                        if offset > plog.log_start_offset:
                            plog.delete_records_before(offset)
                        out["low_watermark"] = plog.log_start_offset
                    except BrokerResponseError as exc:
                        out["error_code"] = exc.errno if exc.errno is not None else -1
            parts_out.append(out)
        topics_out.append({"name": t["name"], "partitions": parts_out})
    return {"throttle_time_ms": 0, "topics": topics_out}


async def handle_offset_for_leader_epoch(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    topics_out = []
    for t in body["topics"]:
        parts_out = []
        for pr in t["partitions"]:
            index = pr["partition"]
            out = {"error_code": 0, "partition": index, "leader_epoch": -1, "end_offset": -1}
            found = _resolve(state, t["topic"], index, pr["current_leader_epoch"])
            if isinstance(found, int):
                out["error_code"] = found
            else:
                out["leader_epoch"], out["end_offset"] = found.log.end_offset_for_epoch(pr["leader_epoch"])
            parts_out.append(out)
        topics_out.append({"topic": t["topic"], "partitions": parts_out})
    return {"throttle_time_ms": 0, "topics": topics_out}


HANDLERS: dict[int, Handler] = {
    2: handle_list_offsets,
    21: handle_delete_records,
    23: handle_offset_for_leader_epoch,
}
