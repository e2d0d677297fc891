"""Idempotence and transaction APIs: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn
and TxnOffsetCommit.

Every version a Kafka 4.x broker serves is described. AddPartitionsToTxn v4+ batches several
transactions per request (KIP-890); v0-3 keep the single-transaction layout under the
``v3_and_below_*`` fields. Field version ranges, nullability and defaults follow the protocol's
published message definitions.
"""

from __future__ import annotations

from kafkakit.protocol.schema import Api

INIT_PRODUCER_ID = Api(
    22, "InitProducerId", versions=(0, 6), flexible=2,
    request="""
        transactional_id: string?          # null for an idempotent, non-transactional producer
        transaction_timeout_ms: int32
        producer_id: int64 3+ =-1
        producer_epoch: int16 3+ =-1
        enable2_pc: bool 6+                # KIP-939 two-phase commit
        keep_prepared_txn: bool 6+
    """,
    response="""
        throttle_time_ms: int32
        error_code: int16
        producer_id: int64 =-1
        producer_epoch: int16
        ongoing_txn_producer_id: int64 6+ =-1
        ongoing_txn_producer_epoch: int16 6+ =-1
    """,
)

ADD_PARTITIONS_TO_TXN = Api(
    24, "AddPartitionsToTxn", versions=(0, 5), flexible=3,
    request="""
        transactions: [] 4+
            transactional_id: string
            producer_id: int64
            producer_epoch: int16
            verify_only: bool =false
            topics: []
                name: string
                partitions: [int32]
        v3_and_below_transactional_id: string 0-3
        v3_and_below_producer_id: int64 0-3
        v3_and_below_producer_epoch: int16 0-3
        v3_and_below_topics: [] 0-3
            name: string
            partitions: [int32]
    """,
    response="""
        throttle_time_ms: int32
        error_code: int16 4+
        results_by_transaction: [] 4+
            transactional_id: string
            topic_results: []
                name: string
                results_by_partition: []
                    partition_index: int32
                    partition_error_code: int16
        results_by_topic_v3_and_below: [] 0-3
            name: string
            results_by_partition: []
                partition_index: int32
                partition_error_code: int16
    """,
)

ADD_OFFSETS_TO_TXN = Api(
    25, "AddOffsetsToTxn", versions=(0, 4), flexible=3,
    request="""
        transactional_id: string
        producer_id: int64
        producer_epoch: int16
        group_id: string
    """,
    response="""
        throttle_time_ms: int32
        error_code: int16
    """,
)

END_TXN = Api(
    26, "EndTxn", versions=(0, 5), flexible=3,
    request="""
        transactional_id: string
        producer_id: int64
        producer_epoch: int16
        committed: bool
    """,
    response="""
        throttle_time_ms: int32
        error_code: int16
        producer_id: int64 5+ =-1          # v5+: the epoch bump of transaction protocol v2 (KIP-890)
        producer_epoch: int16 5+ =-1
    """,
)

TXN_OFFSET_COMMIT = Api(
    28, "TxnOffsetCommit", versions=(0, 5), flexible=3,
    request="""
        transactional_id: string
        group_id: string
        producer_id: int64
        producer_epoch: int16
        generation_id: int32 3+ =-1
        member_id: string 3+
        group_instance_id: string? 3+
        topics: []
            name: string
            partitions: []
                partition_index: int32
                committed_offset: int64
                committed_leader_epoch: int32 2+ =-1
                committed_metadata: string?
    """,
    response="""
        throttle_time_ms: int32
        topics: []
            name: string
            partitions: []
                partition_index: int32
                error_code: int16
    """,
)

APIS: list[Api] = [INIT_PRODUCER_ID, ADD_PARTITIONS_TO_TXN, ADD_OFFSETS_TO_TXN, END_TXN, TXN_OFFSET_COMMIT]
