"""Transaction handlers: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit.

How it works: each handler checks what the topic table can answer alone (unknown topics and
partitions), then asks the transaction coordinator (``state.txn``,
``kafkakit.broker.txn.TransactionCoordinator``) and shapes its answer into the response of the
request's version. AddPartitionsToTxn v0-3 carry one transaction in the ``v3_and_below_*`` fields;
v4+ batch several (``transactions``) and may only verify (``verify_only``, KIP-890). As Kafka does,
a transaction naming an unknown partition adds nothing: those partitions get
UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED. Clients older than KIP-588
(AddPartitionsToTxn, AddOffsetsToTxn and EndTxn before v2) get INVALID_PRODUCER_EPOCH where newer
ones get PRODUCER_FENCED. InitProducerId with a transactional id is answered from
``handlers/admin.py`` through the same coordinator.

What it must never do: raise on a client's input (every refusal is an error code), answer before
the coordinator stored the change, or report success for a partition it did not add.
"""

from __future__ import annotations

from typing import Any

from kafkakit.broker.state import BrokerState, Handler
from kafkakit.protocol.frame import RequestHeader

__all__ = ["HANDLERS", "fenced_code"]

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
COORDINATOR_NOT_AVAILABLE = 15
INVALID_REQUEST = 42
INVALID_PRODUCER_EPOCH = 47
OPERATION_NOT_ATTEMPTED = 55
PRODUCER_FENCED = 90


def fenced_code(error: int, version: int, first_version: int) -> int:
    """PRODUCER_FENCED as a request of ``version`` understands it (INVALID_PRODUCER_EPOCH before
    ``first_version``)."""
    return INVALID_PRODUCER_EPOCH if error == PRODUCER_FENCED and version < first_version else error


# ---------------------------------------------------------------- AddPartitionsToTxn


async def _one_transaction(
    state: BrokerState, version: int, txn: dict[str, Any]
) -> tuple[str, list[dict[str, Any]]]:
    """One transaction's (id, topic results) of AddPartitionsToTxn."""
    txn_id: str = txn["transactional_id"]
    wanted = [(t["name"], p) for t in txn["topics"] for p in t["partitions"]]
    coordinator = state.txn
    errors: dict[tuple[str, int], int] = {}
    unknown = {tp for tp in wanted if state.topics.get_partition(*tp) is None}
    if coordinator is None:
        errors = dict.fromkeys(wanted, COORDINATOR_NOT_AVAILABLE)
    elif unknown:
        errors = {
            tp: UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else OPERATION_NOT_ATTEMPTED for tp in wanted
        }
    elif txn["verify_only"]:
        verified = coordinator.verify_partitions(txn_id, txn["producer_id"], txn["producer_epoch"], wanted)
        errors = dict.fromkeys(wanted, verified) if isinstance(verified, int) else verified
    else:
        error = await coordinator.add_to_txn(txn_id, txn["producer_id"], txn["producer_epoch"], wanted)
        errors = dict.fromkeys(wanted, fenced_code(error, version, 2))
    results: dict[str, list[dict[str, Any]]] = {}
    for topic, partition in wanted:
        results.setdefault(topic, []).append(
            {"partition_index": partition, "partition_error_code": errors[(topic, partition)]}
        )
    return txn_id, [{"name": name, "results_by_partition": parts} for name, parts in results.items()]


async def add_partitions_to_txn(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    if version < 4:
        txn = {
            "transactional_id": body["v3_and_below_transactional_id"],
            "producer_id": body["v3_and_below_producer_id"],
            "producer_epoch": body["v3_and_below_producer_epoch"],
            "verify_only": False,
            "topics": body["v3_and_below_topics"],
        }
        _txn_id, topics = await _one_transaction(state, version, txn)
        return {"throttle_time_ms": 0, "error_code": NONE, "results_by_topic_v3_and_below": topics}
    out = []
    for txn in body["transactions"]:
        txn_id, topics = await _one_transaction(state, version, txn)
        out.append({"transactional_id": txn_id, "topic_results": topics})
    return {"throttle_time_ms": 0, "error_code": NONE, "results_by_transaction": out}


# ---------------------------------------------------------------- AddOffsetsToTxn / EndTxn


async def add_offsets_to_txn(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = state.txn
    if coordinator is None:
        error = COORDINATOR_NOT_AVAILABLE
    elif not body["group_id"]:
        error = INVALID_REQUEST
    else:
        error = await coordinator.add_to_txn(
            body["transactional_id"], body["producer_id"], body["producer_epoch"], group=body["group_id"]
        )
    return {"throttle_time_ms": 0, "error_code": fenced_code(error, version, 2)}


async def end_txn(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = state.txn
    if coordinator is None:
        error, pid, epoch = COORDINATOR_NOT_AVAILABLE, -1, -1
    else:
        error, pid, epoch = await coordinator.end_txn(
            body["transactional_id"], body["producer_id"], body["producer_epoch"], bool(body["committed"])
        )
    return {
        "throttle_time_ms": 0,
        "error_code": fenced_code(error, version, 2),
        "producer_id": pid,
        "producer_epoch": epoch,
    }


# ---------------------------------------------------------------- TxnOffsetCommit


async def txn_offset_commit(
    state: BrokerState, header: RequestHeader, version: int, body: dict[str, Any]
) -> dict[str, Any]:
    coordinator = state.txn
    topics = body["topics"]
    # errors[i][j]: the answer for request topic i, partition j (None: ask the coordinator)
    errors: list[list[int | None]] = []
    items: list[tuple[str, int, int, int, str | None]] = []
    where: list[tuple[int, int]] = []
    for i, topic in enumerate(topics):
        row: list[int | None] = []
        for j, p in enumerate(topic["partitions"]):
            if state.topics.get_partition(topic["name"], p["partition_index"]) is None:
                row.append(UNKNOWN_TOPIC_OR_PARTITION)
                continue
            row.append(None)
            items.append(
                (
                    topic["name"],
                    p["partition_index"],
                    p["committed_offset"],
                    p["committed_leader_epoch"],
                    p["committed_metadata"],
                )
            )
            where.append((i, j))
        errors.append(row)
    if items:
        item_errors: list[int]
        if coordinator is None:
            top, item_errors = COORDINATOR_NOT_AVAILABLE, []
        elif not body["group_id"]:
            top, item_errors = INVALID_REQUEST, []
        else:
            top, item_errors = await coordinator.txn_offset_commit(
                body["transactional_id"],
                body["group_id"],
                body["producer_id"],
                body["producer_epoch"],
                (body["member_id"], body["group_instance_id"], body["generation_id"]),
                items,
                version,
            )
        for k, (i, j) in enumerate(where):
            errors[i][j] = top if top else item_errors[k]
    return {
        "throttle_time_ms": 0,
        "topics": [
            {
                "name": topic["name"],
                "partitions": [
                    {"partition_index": p["partition_index"], "error_code": errors[i][j] or NONE}
                    for j, p in enumerate(topic["partitions"])
                ],
            }
            for i, topic in enumerate(topics)
        ],
    }


HANDLERS: dict[int, Handler] = {
    24: add_partitions_to_txn,
    25: add_offsets_to_txn,
    26: end_txn,
    28: txn_offset_commit,
}
