"""kafkakit.protocol: the sans-IO Kafka wire codec shared by the client and the broker.

- ``primitives``: integers, varints, strings, bytes, arrays (bounds-checked readers).
- ``schema``: the ``Api`` class compiling the schema notation (docs/schema-dsl.md) to encoders/decoders.
- ``apis``: one ``Api`` per Kafka API, all versions; ``API_BY_KEY`` / ``API_BY_NAME``.
- ``frame``: size prefix and request/response headers.

Nothing in this package performs I/O.
"""

from kafkakit.protocol.apis import API_BY_KEY, API_BY_NAME, api
from kafkakit.protocol.schema import Api

__all__ = ["API_BY_KEY", "API_BY_NAME", "Api", "api"]
