"""Connection-level and cluster-discovery APIs: ApiVersions, Metadata, DescribeCluster and SASL.

Every version a Kafka 4.x broker serves is described, including the old ones that older clients
still send (Metadata v0-3 for kafka-python/aiokafka, ApiVersions v0-2). Field version ranges,
nullability, tags and defaults follow the protocol's published message definitions.
"""

from __future__ import annotations

from kafkakit.protocol.schema import Api

API_VERSIONS = Api(
    18, "ApiVersions", versions=(0, 4), flexible=3,
    request="""
        client_software_name: string 3+
        client_software_version: string 3+
    """,
    # Answers always go out with response header v0 (see frame.py), even in flexible versions.
    response="""
        error_code: int16
        api_keys: []
            api_key: int16
            min_version: int16
            max_version: int16
        throttle_time_ms: int32 1+
        supported_features: [] 3+ tag=0
            name: string
            min_version: int16
            max_version: int16
        finalized_features_epoch: int64 3+ tag=1 =-1
        finalized_features: [] 3+ tag=2
            name: string
            max_version_level: int16
            min_version_level: int16
        zk_migration_ready: bool 3+ tag=3 =false
    """,
)

METADATA = Api(
    3, "Metadata", versions=(0, 13), flexible=9,
    request="""
        topics: [] null=1+                 # null (v1+) asks for every topic; v0 uses an empty list
            topic_id: uuid 10+
            name: string null=10+
        allow_auto_topic_creation: bool 4+ =true
        include_cluster_authorized_operations: bool 8-10
        include_topic_authorized_operations: bool 8+
    """,
    response="""
        throttle_time_ms: int32 3+
        brokers: []
            node_id: int32
            host: string
            port: int32
            rack: string? 1+
        cluster_id: string? 2+
        controller_id: int32 1+ =-1
        topics: []
            error_code: int16
            name: string null=12+
            topic_id: uuid 10+
            is_internal: bool 1+ =false
            partitions: []
                error_code: int16
                partition_index: int32
                leader_id: int32
                leader_epoch: int32 7+ =-1
                replica_nodes: [int32]
                isr_nodes: [int32]
                offline_replicas: [int32] 5+
            topic_authorized_operations: int32 8+ =-2147483648
        cluster_authorized_operations: int32 8-10 =-2147483648
        error_code: int16 13+              # top-level error, e.g. REBOOTSTRAP_REQUIRED (KIP-1102)
    """,
)

DESCRIBE_CLUSTER = Api(
    60, "DescribeCluster", versions=(0, 2), flexible=0,
    request="""
        include_cluster_authorized_operations: bool
        endpoint_type: int8 1+ =1          # 1 brokers, 2 controllers
        include_fenced_brokers: bool 2+
    """,
    response="""
        throttle_time_ms: int32
        error_code: int16
        error_message: string?
        endpoint_type: int8 1+ =1
        cluster_id: string
        controller_id: int32 =-1
        brokers: []
            broker_id: int32
            host: string
            port: int32
            rack: string?
            is_fenced: bool 2+
        cluster_authorized_operations: int32 =-2147483648
    """,
)

SASL_HANDSHAKE = Api(
    17, "SaslHandshake", versions=(0, 1), flexible=None,
    request="""
        mechanism: string
    """,
    response="""
        error_code: int16
        mechanisms: [string]
    """,
)

SASL_AUTHENTICATE = Api(
    36, "SaslAuthenticate", versions=(0, 2), flexible=2,
    request="""
        auth_bytes: bytes
    """,
    response="""
        error_code: int16
        error_message: string?
        auth_bytes: bytes
        session_lifetime_ms: int64 1+
    """,
)

APIS: list[Api] = [API_VERSIONS, METADATA, DESCRIBE_CLUSTER, SASL_HANDSHAKE, SASL_AUTHENTICATE]
