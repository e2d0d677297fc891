"""kafkakit's consumer: KafkaConsumer (sync facade), ConsumerCore (asyncio engine), assignors, listener.

How it works: this package only re-exports the public names of its modules, lazily for the heavy
ones so that importing an assignor does not start the client machinery.

What it must never do: grow logic of its own.
"""

from __future__ import annotations

from typing import Any

from kafkakit.client.consumer.assignors import (
    AbstractPartitionAssignor,
    CooperativeStickyAssignor,
    RangePartitionAssignor,
    RoundRobinPartitionAssignor,
    StickyPartitionAssignor,
)
from kafkakit.client.consumer.listener import ConsumerRebalanceListener
from kafkakit.client.consumer.records import ConsumerRecord, RecordDeserializationError

__all__ = [
    "AbstractPartitionAssignor",
    "ConsumerCore",
    "ConsumerRebalanceListener",
    "ConsumerRecord",
    "CooperativeStickyAssignor",
    "KafkaConsumer",
    "RangePartitionAssignor",
    "RecordDeserializationError",
    "RoundRobinPartitionAssignor",
    "StickyPartitionAssignor",
]

_LAZY = {
    "KafkaConsumer": "kafkakit.client.consumer.consumer",
    "ConsumerCore": "kafkakit.client.consumer.core",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kafkakit.client.consumer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
