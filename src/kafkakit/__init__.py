"""kafkakit: a fast pure-Python Apache Kafka client with kafka-python's API, and an embedded broker.

``from kafkakit import KafkaProducer, KafkaConsumer, KafkaAdminClient`` gives kafka-python's API;
``kafkakit.broker.Broker`` runs a Kafka-compatible broker in-process; ``kafkakit.aio`` holds the
asyncio classes. The client classes are imported lazily so ``import kafkakit`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from kafkakit.structs import OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

__version__ = "0.1.0"

_LAZY = {
    "KafkaProducer": "kafkakit.client.producer.producer",
    "KafkaConsumer": "kafkakit.client.consumer.consumer",
    "KafkaAdminClient": "kafkakit.client.admin.admin",
    "ConsumerRebalanceListener": "kafkakit.client.consumer.listener",
}

__all__ = [
    "ConsumerRebalanceListener",
    "KafkaAdminClient",
    "KafkaConsumer",
    "KafkaProducer",
    "OffsetAndMetadata",
    "OffsetAndTimestamp",
    "TopicPartition",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kafkakit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
