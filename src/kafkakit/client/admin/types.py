"""Value types of the admin API, named and shaped as kafka-python's (``kafka.admin``).

How it works: plain classes and enums the caller builds requests from (``NewTopic``,
``NewPartitions``, ``ConfigResource``, ``OffsetSpec``, ``OffsetTimestamp``), the enums the admin
client turns wire numbers into names with (``ConfigResourceType``, ``ConfigSourceType``,
``ConfigType``, ``ACLOperation``, ``ApiKey``), and the named tuples the kafka-python 2.x method names
return (``GroupInformation``, ``MemberInformation``, ``MemberMetadata``, ``MemberAssignment``).
Constructors check their arguments and raise ``TypeError``/``ValueError`` naming the bad one.

What it must never do: do I/O, or accept a value that would only fail later on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum, IntEnum
from typing import Any, NamedTuple

__all__ = [
    "ACLOperation",
    "AlterConfigOp",
    "ApiKey",
    "ConfigFilterType",
    "ConfigResource",
    "ConfigResourceType",
    "ConfigSourceType",
    "ConfigType",
    "GroupInformation",
    "GroupState",
    "IsolationLevel",
    "MemberAssignment",
    "MemberInformation",
    "MemberMetadata",
    "NewPartitions",
    "NewTopic",
    "OffsetSpec",
    "OffsetTimestamp",
    "enum_from",
]


def enum_from(cls: type[Enum], value: Any, what: str) -> Any:
    """``cls`` member for a member, its value, or its name (any case, '-' for '_')."""
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        pass
    try:
        return cls[str(value).strip().upper().replace("-", "_")]
    except KeyError:
        names = ", ".join(m.name for m in cls)
        raise ValueError(f"{what}: unknown {cls.__name__} {value!r}; expected one of {names}") from None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {type(value).__name__} ({value!r})")
    return value


# --- requests ----------------------------------------------------------------------------------


class NewTopic:
    """A topic to create: ``NewTopic(name, num_partitions=-1, replication_factor=-1,
    replica_assignments=None, topic_configs=None)``; -1 means the broker's default."""

    def __init__(
        self,
        name: str,
        num_partitions: int = -1,
        replication_factor: int = -1,
        replica_assignments: Mapping[int, Sequence[int]] | None = None,
        topic_configs: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"NewTopic name must be a non-empty str, got {name!r}")
        self.name = name
        self.num_partitions = _int(num_partitions, f"NewTopic({name!r}) num_partitions")
        self.replication_factor = _int(replication_factor, f"NewTopic({name!r}) replication_factor")
        if self.num_partitions == 0 or self.num_partitions < -1:
            raise ValueError(f"NewTopic({name!r}) num_partitions must be >= 1 or -1, got {num_partitions}")
        if self.replication_factor == 0 or self.replication_factor < -1:
            raise ValueError(
                f"NewTopic({name!r}) replication_factor must be >= 1 or -1, got {replication_factor}"
            )
        self.replica_assignments: dict[int, list[int]] = {
            _int(p, f"NewTopic({name!r}) replica_assignments key"): [int(b) for b in brokers]
            for p, brokers in (replica_assignments or {}).items()
        }
        self.topic_configs: dict[str, Any] = dict(topic_configs or {})

    def __repr__(self) -> str:
        return (
            f"NewTopic(name={self.name!r}, num_partitions={self.num_partitions}, "
            f"replication_factor={self.replication_factor}, replica_assignments={self.replica_assignments}, "
            f"topic_configs={self.topic_configs})"
        )


class NewPartitions:
    """Grow a topic to ``total_count`` partitions; ``new_assignments`` lists the replicas (broker
    ids) of each new partition, or None to let the broker place them."""

    def __init__(self, total_count: int, new_assignments: Sequence[Sequence[int]] | None = None) -> None:
        self.total_count = _int(total_count, "NewPartitions total_count")
        if self.total_count < 1:
            raise ValueError(f"NewPartitions total_count must be >= 1, got {total_count}")
        self.new_assignments = (
            None if new_assignments is None else [[int(b) for b in a] for a in new_assignments]
        )

    def __repr__(self) -> str:
        return f"NewPartitions(total_count={self.total_count}, new_assignments={self.new_assignments})"


class ConfigResourceType(IntEnum):
    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    CLIENT_METRICS = 16
    GROUP = 32


class ConfigResource:
    """A resource whose configs to describe or alter.

    ``configs``: for describe_configs, the keys to fetch (None: all); for alter_configs, a dict
    ``{key: value}`` or ``{key: (AlterConfigOp, value)}``.
    """

    def __init__(self, resource_type: ConfigResourceType | str | int, name: str, configs: Any = None) -> None:
        self.resource_type: ConfigResourceType = enum_from(
            ConfigResourceType, resource_type, "ConfigResource resource_type"
        )
        if not isinstance(name, str):
            if isinstance(name, int) and not isinstance(name, bool):
                name = str(name)
            else:
                raise TypeError(f"ConfigResource name must be a str, got {type(name).__name__} ({name!r})")
        self.name = name
        self.configs = configs

    def __str__(self) -> str:
        return f"ConfigResource {self.name}={self.resource_type}"

    def __repr__(self) -> str:
        return f"ConfigResource({self.resource_type}, {self.name}, {self.configs})"


class AlterConfigOp(IntEnum):
    SET = 0
    DELETE = 1
    APPEND = 2
    SUBTRACT = 3


class ConfigSourceType(IntEnum):
    UNKNOWN = 0
    DYNAMIC_TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5
    DYNAMIC_BROKER_LOGGER_CONFIG = 6
    DYNAMIC_CLIENT_METRICS_CONFIG = 7
    DYNAMIC_GROUP_CONFIG = 8

    def is_modified(self) -> bool:
        """True for values set on the resource itself (not defaults, not static broker files)."""
        return self.value not in (3, 4, 5)


class ConfigType(IntEnum):
    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class ConfigFilterType(IntEnum):
    """Which configs describe_configs returns: ALL, DYNAMIC (alterable), MODIFIED (set on the
    resource, the default), DEFAULT, STATIC."""

    ALL = 0
    DYNAMIC = 1
    MODIFIED = 2
    DEFAULT = 3
    STATIC = 4

    def skips(self, source: ConfigSourceType, read_only: bool) -> bool:
        if self is ConfigFilterType.DYNAMIC:
            return read_only
        if self is ConfigFilterType.MODIFIED:
            return not source.is_modified()
        if self is ConfigFilterType.DEFAULT:
            return source.is_modified()
        if self is ConfigFilterType.STATIC:
            return source is not ConfigSourceType.STATIC_BROKER_CONFIG
        return False


class OffsetSpec(IntEnum):
    """Which offset ListOffsets resolves: LATEST (the next offset to be written), EARLIEST, ..."""

    LATEST = -1
    EARLIEST = -2
    MAX_TIMESTAMP = -3
    EARLIEST_LOCAL = -4
    LATEST_TIERED = -5


class OffsetTimestamp(int):
    """A millisecond timestamp to resolve to the first offset whose timestamp is >= it (tells a
    timestamp apart from a plain offset in reset_group_offsets)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"OffsetTimestamp({int(self)})"


class IsolationLevel(IntEnum):
    READ_UNCOMMITTED = 0
    READ_COMMITTED = 1


class GroupState(str, Enum):
    UNKNOWN = "Unknown"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"
    EMPTY = "Empty"
    ASSIGNING = "Assigning"
    RECONCILING = "Reconciling"


class ACLOperation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


def authorized_operations(bits: int) -> list[str] | None:
    """Names of the operations set in an authorized-operations bit field (None when not asked)."""
    if bits == -2147483648:
        return None
    out = []
    for op in ACLOperation:
        if op.value > 2 and bits & (1 << op.value):
            out.append(op.name)
    return out


class ApiKey(IntEnum):
    """Kafka API keys by name (``ApiKey.Produce == 0``): the keys of ``api_versions()``."""

    Produce = 0
    Fetch = 1
    ListOffsets = 2
    Metadata = 3
    LeaderAndIsr = 4
    StopReplica = 5
    UpdateMetadata = 6
    ControlledShutdown = 7
    OffsetCommit = 8
    OffsetFetch = 9
    FindCoordinator = 10
    JoinGroup = 11
    Heartbeat = 12
    LeaveGroup = 13
    SyncGroup = 14
    DescribeGroups = 15
    ListGroups = 16
    SaslHandshake = 17
    ApiVersions = 18
    CreateTopics = 19
    DeleteTopics = 20
    DeleteRecords = 21
    InitProducerId = 22
    OffsetForLeaderEpoch = 23
    AddPartitionsToTxn = 24
    AddOffsetsToTxn = 25
    EndTxn = 26
    WriteTxnMarkers = 27
    TxnOffsetCommit = 28
    DescribeAcls = 29
    CreateAcls = 30
    DeleteAcls = 31
    DescribeConfigs = 32
    AlterConfigs = 33
    AlterReplicaLogDirs = 34
    DescribeLogDirs = 35
    SaslAuthenticate = 36
    CreatePartitions = 37
    CreateDelegationToken = 38
    RenewDelegationToken = 39
    ExpireDelegationToken = 40
    DescribeDelegationToken = 41
    DeleteGroups = 42
    ElectLeaders = 43
    IncrementalAlterConfigs = 44
    AlterPartitionReassignments = 45
    ListPartitionReassignments = 46
    OffsetDelete = 47
    DescribeClientQuotas = 48
    AlterClientQuotas = 49
    DescribeUserScramCredentials = 50
    AlterUserScramCredentials = 51
    Vote = 52
    BeginQuorumEpoch = 53
    EndQuorumEpoch = 54
    DescribeQuorum = 55
    AlterPartition = 56
    UpdateFeatures = 57
    Envelope = 58
    FetchSnapshot = 59
    DescribeCluster = 60
    DescribeProducers = 61
    BrokerRegistration = 62
    BrokerHeartbeat = 63
    UnregisterBroker = 64
    DescribeTransactions = 65
    ListTransactions = 66
    AllocateProducerIds = 67
    ConsumerGroupHeartbeat = 68
    ConsumerGroupDescribe = 69
    ControllerRegistration = 70
    GetTelemetrySubscriptions = 71
    PushTelemetry = 72
    AssignReplicasToDirs = 73
    ListConfigResources = 74
    DescribeTopicPartitions = 75
    ShareGroupHeartbeat = 76
    ShareGroupDescribe = 77
    ShareFetch = 78
    ShareAcknowledge = 79
    AddRaftVoter = 80
    RemoveRaftVoter = 81
    UpdateRaftVoter = 82
    InitializeShareGroupState = 83
    ReadShareGroupState = 84
    WriteShareGroupState = 85
    DeleteShareGroupState = 86
    ReadShareGroupStateSummary = 87
    StreamsGroupHeartbeat = 88
    StreamsGroupDescribe = 89
    DescribeShareGroupOffsets = 90
    AlterShareGroupOffsets = 91
    DeleteShareGroupOffsets = 92


# --- kafka-python 2.x result tuples ------------------------------------------------------------


class MemberMetadata(NamedTuple):
    """A consumer's subscription as DescribeGroups reports it (2.x shape)."""

    version: int
    subscription: list[str]
    user_data: bytes | None


class MemberAssignment(NamedTuple):
    """A consumer's assignment as DescribeGroups reports it (2.x shape)."""

    version: int
    assignment: list[tuple[str, list[int]]]
    user_data: bytes | None

    def partitions(self) -> list[tuple[str, int]]:
        from kafkakit.structs import TopicPartition

        return [TopicPartition(t, p) for t, parts in self.assignment for p in parts]


class MemberInformation(NamedTuple):
    member_id: str
    client_id: str
    client_host: str
    member_metadata: Any
    member_assignment: Any


class GroupInformation(NamedTuple):
    error_code: int
    group: str
    state: str
    protocol_type: str
    protocol: str
    members: list[MemberInformation]
    authorized_operations: list[str] | None
