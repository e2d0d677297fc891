"""kafkakit.client.producer: the producer engine (core, accumulator, sender) and its sync facade.

How it works: ``ProducerCore`` (core.py) is the engine shared by ``KafkaProducer`` (producer.py, a
background loop thread) and the asyncio API (the caller's loop). See each module's docstring.

What it must never do: import the engine eagerly beyond what ``KafkaProducer`` needs.
"""

from kafkakit.client.producer.future import FutureRecordMetadata, RecordMetadata
from kafkakit.client.producer.producer import KafkaProducer

__all__ = ["FutureRecordMetadata", "KafkaProducer", "RecordMetadata"]
