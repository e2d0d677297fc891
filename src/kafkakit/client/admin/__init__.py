"""kafkakit.client.admin: KafkaAdminClient and its async engine.

How it works: ``AdminCore`` (core.py, with routing.py and groups.py) holds every admin operation as
a coroutine on one event loop; ``KafkaAdminClient`` (admin.py) runs it on a background loop thread;
types.py has the request/result types named as in kafka-python (``NewTopic``, ``ConfigResource``...).

What it must never do: import the engine when only the value types are needed.
"""

from typing import Any

from kafkakit.client.admin.types import (
    ACLOperation,
    AlterConfigOp,
    ApiKey,
    ConfigFilterType,
    ConfigResource,
    ConfigResourceType,
    ConfigSourceType,
    ConfigType,
    GroupInformation,
    GroupState,
    IsolationLevel,
    MemberInformation,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    OffsetTimestamp,
)

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
    "KafkaAdminClient",
    "MemberInformation",
    "NewPartitions",
    "NewTopic",
    "OffsetSpec",
    "OffsetTimestamp",
]


def __getattr__(name: str) -> Any:
    if name == "KafkaAdminClient":
        from kafkakit.client.admin.admin import KafkaAdminClient

        return KafkaAdminClient
    raise AttributeError(f"module 'kafkakit.client.admin' has no attribute {name!r}")
