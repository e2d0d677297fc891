"""Admin APIs: topic creation/deletion, partition addition and config description/alteration.

Every version a Kafka 4.x broker serves is described; a field's version range and nullability
follow the protocol's published message definitions.
"""

from __future__ import annotations

from kafkakit.protocol.schema import Api

CREATE_TOPICS = Api(
    19, "CreateTopics", versions=(2, 7), flexible=5,
    request="""
        topics: []
            name: string
            num_partitions: int32          # -1: broker default (v4+)
            replication_factor: int16      # -1: broker default (v4+)
            assignments: []
                partition_index: int32
                broker_ids: [int32]
            configs: []
                name: string
                value: string?
        timeout_ms: int32 =60000
        validate_only: bool
    """,
    response="""
        throttle_time_ms: int32
        topics: []
            name: string
            topic_id: uuid 7+
            error_code: int16
            error_message: string?
            topic_config_error_code: int16 5+ tag=0
            num_partitions: int32 5+ =-1
            replication_factor: int16 5+ =-1
            configs: []? 5+
                name: string
                value: string?
                read_only: bool
                config_source: int8 =-1
                is_sensitive: bool
    """,
)

DELETE_TOPICS = Api(
    20, "DeleteTopics", versions=(1, 6), flexible=4,
    request="""
        topics: [] 6+
            name: string?
            topic_id: uuid
        topic_names: [string] 1-5
        timeout_ms: int32
    """,
    response="""
        throttle_time_ms: int32
        responses: []
            name: string null=6+
            topic_id: uuid 6+
            error_code: int16
            error_message: string? 5+
    """,
)

CREATE_PARTITIONS = Api(
    37, "CreatePartitions", versions=(0, 3), flexible=2,
    request="""
        topics: []
            name: string
            count: int32
            assignments: []?
                broker_ids: [int32]
        timeout_ms: int32
        validate_only: bool
    """,
    response="""
        throttle_time_ms: int32
        results: []
            name: string
            error_code: int16
            error_message: string?
    """,
)

DESCRIBE_CONFIGS = Api(
    32, "DescribeConfigs", versions=(1, 4), flexible=4,
    request="""
        resources: []
            resource_type: int8
            resource_name: string
            configuration_keys: [string]?
        include_synonyms: bool
        include_documentation: bool 3+
    """,
    response="""
        throttle_time_ms: int32
        results: []
            error_code: int16
            error_message: string?
            resource_type: int8
            resource_name: string
            configs: []
                name: string
                value: string?
                read_only: bool
                config_source: int8 =-1
                is_sensitive: bool
                synonyms: []
                    name: string
                    value: string?
                    source: int8
                config_type: int8 3+
                documentation: string? 3+
    """,
)

ALTER_CONFIGS = Api(
    33, "AlterConfigs", versions=(0, 2), flexible=2,
    request="""
        resources: []
            resource_type: int8
            resource_name: string
            configs: []
                name: string
                value: string?
        validate_only: bool
    """,
    response="""
        throttle_time_ms: int32
        responses: []
            error_code: int16
            error_message: string?
            resource_type: int8
            resource_name: string
    """,
)

INCREMENTAL_ALTER_CONFIGS = Api(
    44, "IncrementalAlterConfigs", versions=(0, 1), flexible=1,
    request="""
        resources: []
            resource_type: int8
            resource_name: string
            configs: []
                name: string
                config_operation: int8     # 0 set, 1 delete, 2 append, 3 subtract
                value: string?
        validate_only: bool
    """,
    response="""
        throttle_time_ms: int32
        responses: []
            error_code: int16
            error_message: string?
            resource_type: int8
            resource_name: string
    """,
)

APIS = [
    CREATE_TOPICS,
    DELETE_TOPICS,
    CREATE_PARTITIONS,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    INCREMENTAL_ALTER_CONFIGS,
]
