"""Data-path APIs: Produce, Fetch, ListOffsets, DeleteRecords and OffsetForLeaderEpoch.

Every version a Kafka 4.x broker serves or advertises is described (Produce v0-2 are advertised
for librdkafka's feature detection; their layout is v3's without the transactional id). Field
version ranges, nullability, tags and defaults follow the protocol's published message
definitions; ranges reaching below an API's lowest version are kept as published.
"""

from __future__ import annotations

from kafkakit.protocol.schema import Api

PRODUCE = Api(
    0, "Produce", versions=(0, 13), flexible=9,
    request="""
        transactional_id: string? 3+
        acks: int16
        timeout_ms: int32
        topic_data: []
            name: string 0-12
            topic_id: uuid 13+
            partition_data: []
                index: int32
                records: records?
    """,
    response="""
        responses: []
            name: string 0-12
            topic_id: uuid 13+
            partition_responses: []
                index: int32
                error_code: int16
                base_offset: int64
                log_append_time_ms: int64 2+ =-1
                log_start_offset: int64 5+ =-1
                record_errors: [] 8+
                    batch_index: int32
                    batch_index_error_message: string?
                error_message: string? 8+
                current_leader: {} 10+ tag=0
                    leader_id: int32 =-1
                    leader_epoch: int32 =-1
        throttle_time_ms: int32 1+
        node_endpoints: [] 10+ tag=0
            node_id: int32
            host: string
            port: int32
            rack: string?
    """,
)

FETCH = Api(
    1, "Fetch", versions=(4, 18), flexible=12,
    request="""
        cluster_id: string? 12+ tag=0
        replica_id: int32 0-14 =-1
        replica_state: {} 15+ tag=1
            replica_id: int32 =-1
            replica_epoch: int64 =-1
        max_wait_ms: int32
        min_bytes: int32
        max_bytes: int32 3+ =0x7fffffff
        isolation_level: int8 4+
        session_id: int32 7+
        session_epoch: int32 7+ =-1
        topics: []
            topic: string 0-12
            topic_id: uuid 13+
            partitions: []
                partition: int32
                current_leader_epoch: int32 9+ =-1
                fetch_offset: int64
                last_fetched_epoch: int32 12+ =-1
                log_start_offset: int64 5+ =-1
                partition_max_bytes: int32
                replica_directory_id: uuid 17+ tag=0
                high_watermark: int64 18+ tag=1 =9223372036854775807
        forgotten_topics_data: [] 7+
            topic: string 7-12
            topic_id: uuid 13+
            partitions: [int32]
        rack_id: string 11+
    """,
    response="""
        throttle_time_ms: int32 1+
        error_code: int16 7+
        session_id: int32 7+
        responses: []
            topic: string 0-12
            topic_id: uuid 13+
            partitions: []
                partition_index: int32
                error_code: int16
                high_watermark: int64
                last_stable_offset: int64 4+ =-1
                log_start_offset: int64 5+ =-1
                diverging_epoch: {} 12+ tag=0
                    epoch: int32 =-1
                    end_offset: int64 =-1
                current_leader: {} 12+ tag=1
                    leader_id: int32 =-1
                    leader_epoch: int32 =-1
                snapshot_id: {} 12+ tag=2
                    end_offset: int64 =-1
                    epoch: int32 =-1
                aborted_transactions: []? 4+
                    producer_id: int64
                    first_offset: int64
                preferred_read_replica: int32 11+ =-1
                records: records?
        node_endpoints: [] 16+ tag=0
            node_id: int32
            host: string
            port: int32
            rack: string?
    """,
)

LIST_OFFSETS = Api(
    2, "ListOffsets", versions=(1, 11), flexible=6,
    request="""
        replica_id: int32
        isolation_level: int8 2+
        topics: []
            name: string
            partitions: []
                partition_index: int32
                current_leader_epoch: int32 4+ =-1
                timestamp: int64
        timeout_ms: int32 10+
    """,
    response="""
        throttle_time_ms: int32 2+
        topics: []
            name: string
            partitions: []
                partition_index: int32
                error_code: int16
                timestamp: int64 1+ =-1
                offset: int64 1+ =-1
                leader_epoch: int32 4+ =-1
    """,
)

DELETE_RECORDS = Api(
    21, "DeleteRecords", versions=(0, 2), flexible=2,
    request="""
        topics: []
            name: string
            partitions: []
                partition_index: int32
                offset: int64
        timeout_ms: int32
    """,
    response="""
        throttle_time_ms: int32
        topics: []
            name: string
            partitions: []
                partition_index: int32
                low_watermark: int64
                error_code: int16
    """,
)

OFFSET_FOR_LEADER_EPOCH = Api(
    23, "OffsetForLeaderEpoch", versions=(2, 4), flexible=4,
    request="""
        replica_id: int32 3+ =-2           # a follower's broker id; consumers send -1
        topics: []
            topic: string
            partitions: []
                partition: int32
                current_leader_epoch: int32 2+ =-1
                leader_epoch: int32
    """,
    response="""
        throttle_time_ms: int32 2+
        topics: []
            topic: string
            partitions: []
                error_code: int16
                partition: int32
                leader_epoch: int32 1+ =-1
                end_offset: int64 =-1
    """,
)

APIS: list[Api] = [PRODUCE, FETCH, LIST_OFFSETS, DELETE_RECORDS, OFFSET_FOR_LEADER_EPOCH]
