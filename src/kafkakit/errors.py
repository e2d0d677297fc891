"""Errors raised by kafkakit, mirroring kafka-python's ``kafka.errors`` names.

Every broker error code has one class (see the table at the bottom) carrying ``errno``,
``retriable`` and ``description``. ``for_code(code)`` maps a wire error code to its class.
"""

from __future__ import annotations


class KafkaError(RuntimeError):
    retriable = False
    # whether metadata should be refreshed before retrying
    invalid_metadata = False

    def __str__(self) -> str:
        if not self.args:
            return self.__class__.__name__
        return f"{self.__class__.__name__}: {super().__str__()}"


class KafkaProtocolError(KafkaError):
    retriable = True


class ProtocolDecodeError(KafkaProtocolError):
    """Bytes that do not decode as the named API/version: truncated, oversized or garbage."""

    retriable = False

    def __init__(self, api: str, version: int, field: str, reason: str = "") -> None:
        self.api = api
        self.version = version
        self.field = field
        self.reason = reason
        super().__init__(f"cannot decode {api} v{version} at field {field!r}: {reason}")


class ProtocolEncodeError(KafkaProtocolError):
    """A message body that cannot be encoded: wrong type or value for a field."""

    retriable = False

    def __init__(self, api: str, version: int, field: str, reason: str = "") -> None:
        self.api = api
        self.version = version
        self.field = field
        self.reason = reason
        super().__init__(f"cannot encode {api} v{version} field {field!r}: {reason}")
