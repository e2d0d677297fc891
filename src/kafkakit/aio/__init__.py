"""kafkakit.aio: the asyncio API (AIOKafkaProducer, AIOKafkaConsumer, AIOKafkaAdminClient).

How it works: each class validates its keywords with the same tables as the sync class
(``kafkakit.client.config``) and runs the same engine (``ProducerCore``, the consumer core, the admin
core) directly on the caller's running event loop: no background thread, no second copy of the
client logic. The classes are imported lazily so ``import kafkakit.aio`` stays cheap.

What it must never do: start a thread, block the caller's loop, or hold client logic of its own
beyond adapting the core's coroutines to aiokafka-style method names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kafkakit.aio.admin import AIOKafkaAdminClient
    from kafkakit.aio.consumer import AIOKafkaConsumer
    from kafkakit.aio.producer import AIOKafkaProducer

_LAZY = {
    "AIOKafkaProducer": "kafkakit.aio.producer",
    "AIOKafkaConsumer": "kafkakit.aio.consumer",
    "AIOKafkaAdminClient": "kafkakit.aio.admin",
}

__all__ = ["AIOKafkaAdminClient", "AIOKafkaConsumer", "AIOKafkaProducer"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kafkakit.aio' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
