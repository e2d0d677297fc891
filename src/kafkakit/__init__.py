"""kafkakit: a fast pure-Python Apache Kafka client with kafka-python's API, and an embedded broker."""

from __future__ import annotations

__version__ = "0.1.0"

from kafkakit.structs import OffsetAndMetadata, TopicPartition

__all__ = ["OffsetAndMetadata", "TopicPartition", "__version__"]
