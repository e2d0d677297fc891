"""kafkakit.errors: one class per broker code, kafka-python names, Java retriability, for_code."""

from __future__ import annotations

import inspect

import pytest

import kafkakit.errors as E

kp_errors = pytest.importorskip("kafka.errors")

ALL_CODES = range(-1, 134)
# codes whose Java exception extends RetriableException (clients/.../common/errors)
JAVA_RETRIABLE = {2, 3, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70, 71, 72, 74, 75}
JAVA_RETRIABLE |= {78, 80, 83, 84, 88, 89, 100, 103, 106, 122, 123, 133}
# codes whose Java exception extends InvalidMetadataException
JAVA_INVALID_METADATA = {3, 5, 6, 9, 13, 56, 72, 74, 75, 80, 83, 84, 100, 103}


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_code_has_a_complete_class(code: int) -> None:
    cls = E.for_code(code)
    assert issubclass(cls, E.BrokerResponseError)
    assert cls.errno == code
    assert cls.__name__ != "UnrecognizedBrokerError"
    assert cls.message and cls.message == cls.message.upper() and " " not in cls.message
    assert cls.description and cls.description.endswith(".") and len(cls.description) > 20
    assert cls.retriable is (code in JAVA_RETRIABLE)
    assert cls.invalid_metadata is (code in JAVA_INVALID_METADATA)
    assert isinstance(cls(), E.RetriableError) is (code in JAVA_RETRIABLE)
    assert getattr(E, cls.__name__) is cls


def test_codes_are_unique_and_dense() -> None:
    classes = [
        obj
        for _name, obj in inspect.getmembers(E, inspect.isclass)
        if issubclass(obj, E.BrokerResponseError) and vars(obj).get("errno") is not None
    ]
    assert len({c.errno for c in classes}) == len(set(classes)) == len(ALL_CODES)
    assert E.for_code(35) is E.UnsupportedVersionError
    assert set(E.kafka_errors) == set(ALL_CODES)


def test_names_and_errnos_match_kafka_python() -> None:
    checked = 0
    for code in ALL_CODES:
        theirs = kp_errors.for_code(code)
        if theirs.__name__ == "UnrecognizedBrokerError":
            continue  # a code newer than the installed kafka-python
        assert E.for_code(code).__name__ == theirs.__name__, code
        assert getattr(E, theirs.__name__).errno == theirs.errno == code
        checked += 1
    assert checked >= 120


def test_every_kafka_python_error_name_exists() -> None:
    for name, obj in vars(kp_errors).items():
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            assert hasattr(E, name), name
            ours = getattr(E, name)
            assert issubclass(ours, E.KafkaError), name
            kp_errno = getattr(obj, "errno", None)
            if issubclass(obj, kp_errors.BrokerResponseError) and kp_errno is not None:
                assert ours.errno == kp_errno, name


def test_client_side_errors() -> None:
    for name in (
        "KafkaTimeoutError",
        "NoBrokersAvailable",
        "KafkaConnectionError",
        "NodeNotReadyError",
        "IllegalStateError",
        "IllegalArgumentError",
        "CommitFailedError",
        "NoOffsetForPartitionError",
        "KafkaConfigurationError",
        "TooManyInFlightRequests",
        "StaleMetadata",
        "UnrecognizedBrokerVersion",
        "Cancelled",
        "UnsupportedCodecError",
    ):
        cls = getattr(E, name)
        assert issubclass(cls, E.KafkaError) and not issubclass(cls, E.BrokerResponseError), name
    assert E.KafkaTimeoutError.retriable and not E.KafkaTimeoutError.invalid_metadata
    assert E.KafkaConnectionError.retriable and E.KafkaConnectionError.invalid_metadata
    assert E.StaleMetadata.invalid_metadata
    assert E.NoBrokersAvailable.retriable
    assert not E.CommitFailedError.retriable
    assert "rebalanced" in str(E.CommitFailedError())
    assert issubclass(E.IncompatibleBrokerVersion, E.UnsupportedVersionError)
    assert E.MessageSizeTooLargeError.errno == 10


def test_aliases() -> None:
    assert E.CorruptRecordException is E.CorruptRecordError
    assert E.CorruptRecordError.errno == 2
    assert E.NotLeaderOrFollowerError is E.NotLeaderForPartitionError
    assert E.NotLeaderForPartitionError.message == "NOT_LEADER_OR_FOLLOWER"
    assert E.UnknownServerError is E.UnknownError


def test_coordinator_errors_mean_rediscover_not_refresh_metadata() -> None:
    for cls in (E.NotCoordinatorError, E.CoordinatorNotAvailableError):
        assert cls.invalid_coordinator and cls.retriable and not cls.invalid_metadata
    assert not E.CoordinatorLoadInProgressError.invalid_coordinator
    assert not E.NotLeaderForPartitionError.invalid_coordinator


def test_unknown_codes_keep_their_number() -> None:
    cls = E.for_code(4321)
    assert cls.errno == 4321
    assert issubclass(cls, E.UnknownError) and issubclass(cls, E.BrokerResponseError)
    assert cls is E.for_code(4321)
    assert E.for_code(4322).errno == 4322
    assert "4321" in str(cls())
    assert E.for_code(-1) is E.UnknownError
    assert E.for_code(-1).errno == -1


def test_str_says_what_happened() -> None:
    assert str(E.OffsetOutOfRangeError()).startswith("[Error 1] OffsetOutOfRangeError: The requested offset")
    assert str(E.OffsetOutOfRangeError("topic-0 at 5")) == "[Error 1] OffsetOutOfRangeError: topic-0 at 5"
    assert str(E.KafkaTimeoutError("after 5s")) == "KafkaTimeoutError: after 5s"
    with pytest.raises(E.UnknownTopicOrPartitionError):
        E.raise_for_code(3, "t-0")
    E.raise_for_code(0)


def test_protocol_errors_unchanged() -> None:
    err = E.ProtocolDecodeError("Fetch", 12, "records", "truncated")
    assert (err.api, err.version, err.field, err.reason) == ("Fetch", 12, "records", "truncated")
    assert str(err) == "ProtocolDecodeError: cannot decode Fetch v12 at field 'records': truncated"
    enc = E.ProtocolEncodeError("Produce", 9, "acks", "bad")
    assert str(enc) == "ProtocolEncodeError: cannot encode Produce v9 field 'acks': bad"
    assert isinstance(err, E.KafkaProtocolError) and not err.retriable
