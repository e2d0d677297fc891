"""Group coordination APIs: coordinator lookup, the classic join/sync/heartbeat/leave protocol,
offset commit/fetch/delete, group listing/description/deletion and the KIP-848 consumer heartbeat.

Every version a Kafka 4.x broker serves is described; a field's version range and nullability
follow the protocol's published message definitions.
"""

from __future__ import annotations

from kafkakit.protocol.schema import Api

FIND_COORDINATOR = Api(
    10, "FindCoordinator", versions=(0, 6), flexible=3,
    request="""
        key: string 0-3
        key_type: int8 1+          # 0 group, 1 transaction, 2 share
        coordinator_keys: [string] 4+
    """,
    response="""
        throttle_time_ms: int32 1+
        error_code: int16 0-3
        error_message: string? 1-3
        node_id: int32 0-3
        host: string 0-3
        port: int32 0-3
        coordinators: [] 4+
            key: string
            node_id: int32
            host: string
            port: int32
            error_code: int16
            error_message: string?
    """,
)

JOIN_GROUP = Api(
    11, "JoinGroup", versions=(0, 9), flexible=6,
    request="""
        group_id: string
        session_timeout_ms: int32
        rebalance_timeout_ms: int32 1+ =-1
        member_id: string
        group_instance_id: string? 5+
        protocol_type: string
        protocols: []
            name: string
            metadata: bytes
        reason: string? 8+
    """,
    response="""
        throttle_time_ms: int32 2+
        error_code: int16
        generation_id: int32 =-1
        protocol_type: string? 7+
        protocol_name: string null=7+
        leader: string
        skip_assignment: bool 9+
        member_id: string
        members: []
            member_id: string
            group_instance_id: string? 5+
            metadata: bytes
    """,
)

SYNC_GROUP = Api(
    14, "SyncGroup", versions=(0, 5), flexible=4,
    request="""
        group_id: string
        generation_id: int32
        member_id: string
        group_instance_id: string? 3+
        protocol_type: string? 5+
        protocol_name: string? 5+
        assignments: []
            member_id: string
            assignment: bytes
    """,
    response="""
        throttle_time_ms: int32 1+
        error_code: int16
        protocol_type: string? 5+
        protocol_name: string? 5+
        assignment: bytes
    """,
)

HEARTBEAT = Api(
    12, "Heartbeat", versions=(0, 4), flexible=4,
    request="""
        group_id: string
        generation_id: int32
        member_id: string
        group_instance_id: string? 3+
    """,
    response="""
        throttle_time_ms: int32 1+
        error_code: int16
    """,
)

LEAVE_GROUP = Api(
    13, "LeaveGroup", versions=(0, 5), flexible=4,
    request="""
        group_id: string
        member_id: string 0-2
        members: [] 3+             # batch leave (KIP-345)
            member_id: string
            group_instance_id: string?
            reason: string? 5+
    """,
    response="""
        throttle_time_ms: int32 1+
        error_code: int16
        members: [] 3+
            member_id: string
            group_instance_id: string?
            error_code: int16
    """,
)

OFFSET_COMMIT = Api(
    8, "OffsetCommit", versions=(2, 10), flexible=8,
    request="""
        group_id: string
        generation_id_or_member_epoch: int32 =-1
        member_id: string
        group_instance_id: string? 7+
        retention_time_ms: int64 2-4 =-1
        topics: []
            name: string 2-9
            topic_id: uuid 10+
            partitions: []
                partition_index: int32
                committed_offset: int64
                committed_leader_epoch: int32 6+ =-1
                committed_metadata: string?
    """,
    response="""
        throttle_time_ms: int32 3+
        topics: []
            name: string 2-9
            topic_id: uuid 10+
            partitions: []
                partition_index: int32
                error_code: int16
    """,
)

OFFSET_FETCH = Api(
    9, "OffsetFetch", versions=(1, 10), flexible=6,
    request="""
        group_id: string 1-7
        topics: [] 1-7 null=2-7    # null: every partition the group has offsets for
            name: string
            partition_indexes: [int32]
        groups: [] 8+
            group_id: string
            member_id: string? 9+
            member_epoch: int32 9+ =-1
            topics: []?
                name: string 8-9
                topic_id: uuid 10+
                partition_indexes: [int32]
        require_stable: bool 7+
    """,
    response="""
        throttle_time_ms: int32 3+
        topics: [] 1-7
            name: string
            partitions: []
                partition_index: int32
                committed_offset: int64
                committed_leader_epoch: int32 5+ =-1
                metadata: string?
                error_code: int16
        error_code: int16 2-7
        groups: [] 8+
            group_id: string
            topics: []
                name: string 8-9
                topic_id: uuid 10+
                partitions: []
                    partition_index: int32
                    committed_offset: int64
                    committed_leader_epoch: int32 =-1
                    metadata: string?
                    error_code: int16
            error_code: int16
    """,
)

DESCRIBE_GROUPS = Api(
    15, "DescribeGroups", versions=(0, 6), flexible=5,
    request="""
        groups: [string]
        include_authorized_operations: bool 3+
    """,
    response="""
        throttle_time_ms: int32 1+
        groups: []
            error_code: int16
            error_message: string? 6+
            group_id: string
            group_state: string
            protocol_type: string
            protocol_data: string
            members: []
                member_id: string
                group_instance_id: string? 4+
                client_id: string
                client_host: string
                member_metadata: bytes
                member_assignment: bytes
            authorized_operations: int32 3+ =-2147483648
    """,
)

LIST_GROUPS = Api(
    16, "ListGroups", versions=(0, 5), flexible=3,
    request="""
        states_filter: [string] 4+
        types_filter: [string] 5+
    """,
    response="""
        throttle_time_ms: int32 1+
        error_code: int16
        groups: []
            group_id: string
            protocol_type: string
            group_state: string 4+
            group_type: string 5+
    """,
)

DELETE_GROUPS = Api(
    42, "DeleteGroups", versions=(0, 2), flexible=2,
    request="""
        groups_names: [string]
    """,
    response="""
        throttle_time_ms: int32
        results: []
            group_id: string
            error_code: int16
    """,
)

OFFSET_DELETE = Api(
    47, "OffsetDelete", versions=(0, 0), flexible=None,
    request="""
        group_id: string
        topics: []
            name: string
            partitions: []
                partition_index: int32
    """,
    response="""
        error_code: int16
        throttle_time_ms: int32
        topics: []
            name: string
            partitions: []
                partition_index: int32
                error_code: int16
    """,
)

CONSUMER_GROUP_HEARTBEAT = Api(
    68, "ConsumerGroupHeartbeat", versions=(0, 1), flexible=0,
    request="""
        group_id: string
        member_id: string
        member_epoch: int32        # 0 joins, -1 leaves, -2 static member leaving temporarily
        instance_id: string?
        rack_id: string?
        rebalance_timeout_ms: int32 =-1
        subscribed_topic_names: [string]?
        subscribed_topic_regex: string? 1+
        server_assignor: string?
        topic_partitions: []?
            topic_id: uuid
            partitions: [int32]
    """,
    response="""
        throttle_time_ms: int32
        error_code: int16
        error_message: string?
        member_id: string?
        member_epoch: int32
        heartbeat_interval_ms: int32
        assignment: {}?
            topic_partitions: []
                topic_id: uuid
                partitions: [int32]
    """,
)

APIS = [
    FIND_COORDINATOR,
    JOIN_GROUP,
    SYNC_GROUP,
    HEARTBEAT,
    LEAVE_GROUP,
    OFFSET_COMMIT,
    OFFSET_FETCH,
    DESCRIBE_GROUPS,
    LIST_GROUPS,
    DELETE_GROUPS,
    OFFSET_DELETE,
    CONSUMER_GROUP_HEARTBEAT,
]
