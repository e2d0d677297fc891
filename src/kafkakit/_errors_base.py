"""The base and client-side error classes of ``kafkakit.errors`` (kafka-python names).

Split out of errors.py so that module holds the broker error-code table; import these names from
``kafkakit.errors``, which re-exports every one. Must never rename a class users catch by name.
"""

from __future__ import annotations

from typing import Any


class KafkaError(RuntimeError):
    retriable = False
    # whether metadata should be refreshed before retrying
    invalid_metadata = False
    # whether the group/transaction coordinator should be looked up again before retrying
    invalid_coordinator = False

    def __str__(self) -> str:
        if not self.args:
            return self.__class__.__name__
        return f"{self.__class__.__name__}: {super().__str__()}"


class RetriableError(KafkaError):
    """An error that may go away if the operation is retried."""

    retriable = True


class InvalidMetadataError(RetriableError):
    """The client's cluster metadata is stale: refresh it, then retry."""

    invalid_metadata = True


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


# --- client-side errors (kafka-python names) -------------------------------------------------


class Cancelled(RetriableError):
    """The request was cancelled (its connection closed) before a response arrived; retry it."""


class CommitFailedError(KafkaError):
    """An offset commit failed for good, usually because the group rebalanced meanwhile."""

    def __init__(self, *args: Any) -> None:
        if not args:
            args = (
                "Commit cannot be completed since the group has already rebalanced and assigned the "
                "partitions to another member: poll() more often or raise max_poll_interval_ms, "
                "or lower max_poll_records.",
            )
        super().__init__(*args)


class IllegalArgumentError(KafkaError):
    """A method was called with an argument that is not valid."""


class IllegalStateError(KafkaError):
    """A method was called when the client is not in a state that allows it."""


class KafkaConfigurationError(KafkaError):
    """A configuration key is unknown or its value is invalid."""


class KafkaConnectionError(InvalidMetadataError):
    """A connection to a broker failed or broke; the client reconnects after refreshing metadata."""


class TLSVerificationError(KafkaConnectionError):
    """The broker's TLS certificate failed verification (CA, expiry or host name): not retried."""

    retriable = False
    invalid_metadata = False


class CorrelationIdError(RetriableError, KafkaProtocolError):
    """A response's correlation id does not match the request it should answer."""


class InvalidReceiveError(KafkaProtocolError):
    """A received frame is malformed (for example a negative or oversized length)."""

    retriable = False


class KafkaTimeoutError(RetriableError):
    """An operation did not complete within its timeout."""


class MetadataEmptyBrokerList(RetriableError):
    """A metadata response listed no brokers."""


class NoBrokersAvailable(KafkaError):
    """No broker could be reached: check bootstrap_servers and that the brokers are up."""

    retriable = True
    invalid_metadata = True


class NoOffsetForPartitionError(KafkaError):
    """There is no committed offset for a partition and auto_offset_reset is 'none'."""


class LogTruncationError(KafkaError):
    """The leader's log was truncated below the consumer's position (unclean leader election)."""

    def __init__(self, divergent_offsets: Any = None, *args: Any) -> None:
        self.divergent_offsets = divergent_offsets
        super().__init__(*args or (f"Detected truncated partitions: {divergent_offsets}",))


class NodeNotReadyError(RetriableError):
    """The connection to the broker is not ready to send yet."""


class UnknownBrokerIdError(KafkaError):
    """A broker id is not in the client's cluster metadata."""


class QuotaViolationError(KafkaError):
    """A client quota was violated."""


class StaleMetadata(InvalidMetadataError):
    """The client's metadata is out of date; it is refreshed before retrying."""


class TooManyInFlightRequests(RetriableError):
    """The connection already has max_in_flight_requests_per_connection requests outstanding."""


class UnrecognizedBrokerVersion(KafkaError):
    """The broker's version could not be identified; set api_version explicitly."""


class UnsupportedCodecError(KafkaError):
    """A compression codec is unknown or its library is not installed."""


class TransactionAbortedError(KafkaError):
    """A batch was failed because the user aborted the transaction; the producer stays usable."""

    message = "Failing batch since transaction was aborted"
