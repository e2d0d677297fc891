"""Errors raised by kafkakit, mirroring kafka-python's ``kafka.errors`` names.

How it works: client-side errors are plain ``KafkaError`` subclasses. Every broker error code has one
``BrokerResponseError`` subclass carrying ``errno`` (the wire code), ``message`` (Kafka's upper-case
code name), ``description`` (what happened and what to do) and ``retriable`` (True exactly for the
codes whose Java exception is a ``RetriableException``). Retriable classes derive from
``RetriableError``; those that mean "refresh metadata" derive from ``InvalidMetadataError``
(``invalid_metadata = True``); those that mean "find the coordinator again" set
``invalid_coordinator = True``. ``for_code(code)`` maps a wire code to its class; an unknown code
gets a generated ``UnrecognizedBrokerError`` subclass that keeps the number.

What it must never do: rename or drop a class (users catch these by name, and other kafkakit
modules import ``ProtocolDecodeError``/``ProtocolEncodeError`` as they are), or raise while
looking up a code.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from typing import Any

from kafkakit._errors_base import (  # noqa: F401 - re-exported
    Cancelled,
    CommitFailedError,
    CorrelationIdError,
    IllegalArgumentError,
    IllegalStateError,
    InvalidMetadataError,
    InvalidReceiveError,
    KafkaConfigurationError,
    KafkaConnectionError,
    KafkaError,
    KafkaProtocolError,
    KafkaTimeoutError,
    LogTruncationError,
    MetadataEmptyBrokerList,
    NoBrokersAvailable,
    NodeNotReadyError,
    NoOffsetForPartitionError,
    ProtocolDecodeError,
    ProtocolEncodeError,
    QuotaViolationError,
    RetriableError,
    StaleMetadata,
    TLSVerificationError,
    TooManyInFlightRequests,
    TransactionAbortedError,
    UnknownBrokerIdError,
    UnrecognizedBrokerVersion,
    UnsupportedCodecError,
)

# the base classes live in _errors_base.py; users and tracebacks see them as kafkakit.errors.*
for _cls in list(globals().values()):
    if isinstance(_cls, type) and _cls.__module__ == "kafkakit._errors_base":
        _cls.__module__ = __name__


# --- broker errors ---------------------------------------------------------------------------


class BrokerResponseError(KafkaError):
    """An error code returned by a broker; ``errno`` is the code on the wire."""

    errno: int | None = None
    message: str | None = None
    description: str | None = None

    def __init_subclass__(
        cls, *, errno: int | None = None, message: str | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if errno is not None:
            cls.errno = errno
        if message is not None:
            cls.message = message
            # the class docstring is the description (kept readable in the class table below)
            cls.description = (cls.__doc__ or message).strip()

    def __str__(self) -> str:
        detail = super().__str__() if self.args else f"{self.__class__.__name__}: {self.description}"
        return f"[Error {self.errno}] {detail}"


class AuthorizationError(BrokerResponseError):
    """The client's principal is not allowed to do this; grant the ACLs it needs."""


class _RetriableResponse(RetriableError, BrokerResponseError):
    """Base of the broker errors that Kafka marks retriable."""


class _StaleMetadataResponse(InvalidMetadataError, BrokerResponseError):
    """Base of the retriable broker errors that also mean "refresh metadata first"."""


class UnknownError(BrokerResponseError, errno=-1, message="UNKNOWN_SERVER_ERROR"):
    """The broker hit an unexpected error while handling the request; check the broker log, then retry or report it."""


class NoError(BrokerResponseError, errno=0, message="NONE"):
    """The request succeeded; nothing needs to be done."""


class OffsetOutOfRangeError(BrokerResponseError, errno=1, message="OFFSET_OUT_OF_RANGE"):
    """The requested offset is outside the partition's log (deleted by retention or not yet written); seek to a valid offset or rely on auto_offset_reset."""


class CorruptRecordError(_RetriableResponse, errno=2, message="CORRUPT_MESSAGE"):
    """A record batch failed its CRC check, has an invalid size or is otherwise corrupt; resend it, and if it persists look for a faulty network path, disk or client encoder."""


class UnknownTopicOrPartitionError(_StaleMetadataResponse, errno=3, message="UNKNOWN_TOPIC_OR_PARTITION"):
    """The broker does not host this topic or partition; refresh metadata, and create the topic if it really does not exist."""


class InvalidFetchRequestError(BrokerResponseError, errno=4, message="INVALID_FETCH_SIZE"):
    """The fetch request asked for a negative or otherwise invalid size; fix the fetch size settings."""


class LeaderNotAvailableError(_StaleMetadataResponse, errno=5, message="LEADER_NOT_AVAILABLE"):
    """The partition has no leader right now (an election is under way or the topic is being created); refresh metadata and retry shortly."""


class NotLeaderForPartitionError(_StaleMetadataResponse, errno=6, message="NOT_LEADER_OR_FOLLOWER"):
    """This broker is not the leader (or a follower) for the partition, so the client's metadata is stale; refresh metadata and resend to the current leader."""


class RequestTimedOutError(_RetriableResponse, errno=7, message="REQUEST_TIMED_OUT"):
    """The broker did not finish the request within its timeout (for example waiting for replicas to acknowledge); retry, and raise the request timeout if it keeps happening."""


class BrokerNotAvailableError(BrokerResponseError, errno=8, message="BROKER_NOT_AVAILABLE"):
    """The broker referred to is not alive or not reachable; check the cluster's health and the broker addresses."""


class ReplicaNotAvailableError(_StaleMetadataResponse, errno=9, message="REPLICA_NOT_AVAILABLE"):
    """A replica expected on the broker is not there; refresh metadata and retry (metadata responses can usually ignore this)."""


class MessageSizeTooLargeError(BrokerResponseError, errno=10, message="MESSAGE_TOO_LARGE"):
    """A record or batch is larger than the broker (max.message.bytes) or the client (max_request_size) accepts; send smaller records or raise both limits."""


class StaleControllerEpochError(BrokerResponseError, errno=11, message="STALE_CONTROLLER_EPOCH"):
    """The controller moved to another broker during an inter-broker request; this is internal to the cluster and needs no client action."""


class OffsetMetadataTooLargeError(BrokerResponseError, errno=12, message="OFFSET_METADATA_TOO_LARGE"):
    """The metadata string of an offset commit is longer than the broker allows (offset.metadata.max.bytes); commit shorter metadata."""


class NetworkExceptionError(_StaleMetadataResponse, errno=13, message="NETWORK_EXCEPTION"):
    """The connection broke before a response arrived; the client reconnects and retries after refreshing metadata."""


class CoordinatorLoadInProgressError(_RetriableResponse, errno=14, message="COORDINATOR_LOAD_IN_PROGRESS"):
    """The group or transaction coordinator is still loading its state; retry the request after a short backoff."""


class CoordinatorNotAvailableError(_RetriableResponse, errno=15, message="COORDINATOR_NOT_AVAILABLE"):
    """The coordinator for the group or transactional id is not available (its internal topic may not exist yet); find the coordinator again and retry."""

    invalid_coordinator = True


class NotCoordinatorError(_RetriableResponse, errno=16, message="NOT_COORDINATOR"):
    """This broker is not the coordinator for the group or transactional id; find the coordinator again and resend there."""

    invalid_coordinator = True


class InvalidTopicError(BrokerResponseError, errno=17, message="INVALID_TOPIC_EXCEPTION"):
    """The topic name is invalid (illegal characters or length) or the topic is internal and cannot be written; use a valid, non-internal topic name."""


class RecordListTooLargeError(BrokerResponseError, errno=18, message="RECORD_LIST_TOO_LARGE"):
    """A produced batch is larger than the broker's segment size; send smaller batches (lower batch_size) or raise segment.bytes."""


class NotEnoughReplicasError(_RetriableResponse, errno=19, message="NOT_ENOUGH_REPLICAS"):
    """Fewer in-sync replicas than min.insync.replicas are available, so the broker rejected an acks=all write; retry once replicas catch up."""


class NotEnoughReplicasAfterAppendError(
    _RetriableResponse, errno=20, message="NOT_ENOUGH_REPLICAS_AFTER_APPEND"
):
    """The records were written but fewer in-sync replicas than required acknowledged them; retrying may write duplicates unless idempotence is enabled."""


class InvalidRequiredAcksError(BrokerResponseError, errno=21, message="INVALID_REQUIRED_ACKS"):
    """The produce request's acks value is not -1, 0 or 1; configure acks as 0, 1 or 'all'."""


class IllegalGenerationError(BrokerResponseError, errno=22, message="ILLEGAL_GENERATION"):
    """The group generation in the request is not the current one because the group rebalanced; rejoin the group before committing again."""


class InconsistentGroupProtocolError(BrokerResponseError, errno=23, message="INCONSISTENT_GROUP_PROTOCOL"):
    """The member's protocol type or assignment strategies do not match the group's other members; use a compatible partition_assignment_strategy."""


class InvalidGroupIdError(BrokerResponseError, errno=24, message="INVALID_GROUP_ID"):
    """The group id is empty or invalid; configure a non-empty group_id."""


class UnknownMemberIdError(BrokerResponseError, errno=25, message="UNKNOWN_MEMBER_ID"):
    """The coordinator does not know this member id (it was removed after a session timeout); rejoin the group with an empty member id."""


class InvalidSessionTimeoutError(BrokerResponseError, errno=26, message="INVALID_SESSION_TIMEOUT"):
    """The session timeout is outside the broker's group.min/max.session.timeout.ms range; choose a session_timeout_ms within that range."""


class RebalanceInProgressError(BrokerResponseError, errno=27, message="REBALANCE_IN_PROGRESS"):
    """The group is rebalancing; rejoin the group, then retry the commit or heartbeat."""


class InvalidCommitOffsetSizeError(BrokerResponseError, errno=28, message="INVALID_COMMIT_OFFSET_SIZE"):
    """The offset commit was rejected because its data is too large; commit fewer partitions or shorter metadata."""


class TopicAuthorizationFailedError(AuthorizationError, errno=29, message="TOPIC_AUTHORIZATION_FAILED"):
    """The client's principal is not authorized for this topic; grant the needed ACLs or use other credentials."""


class GroupAuthorizationFailedError(AuthorizationError, errno=30, message="GROUP_AUTHORIZATION_FAILED"):
    """The client's principal is not authorized for this consumer group; grant the needed group ACLs."""


class ClusterAuthorizationFailedError(AuthorizationError, errno=31, message="CLUSTER_AUTHORIZATION_FAILED"):
    """The client's principal is not authorized for this cluster-level operation; grant the needed cluster ACLs."""


class InvalidTimestampError(BrokerResponseError, errno=32, message="INVALID_TIMESTAMP"):
    """A record timestamp is outside the range the broker accepts (message.timestamp.*.ms); send records with current timestamps."""


class UnsupportedSaslMechanismError(BrokerResponseError, errno=33, message="UNSUPPORTED_SASL_MECHANISM"):
    """The broker does not enable the requested SASL mechanism; configure a sasl_mechanism the broker lists."""


class IllegalSaslStateError(BrokerResponseError, errno=34, message="ILLEGAL_SASL_STATE"):
    """A SASL request arrived in the wrong state of the authentication exchange; reconnect and authenticate from the start."""


class UnsupportedVersionError(BrokerResponseError, errno=35, message="UNSUPPORTED_VERSION"):
    """The broker does not support this API version; let the client negotiate versions via ApiVersions or upgrade the broker."""


class IncompatibleBrokerVersion(UnsupportedVersionError):
    """The broker is too old for the requested operation (raised by the client, not the broker)."""


class TopicAlreadyExistsError(BrokerResponseError, errno=36, message="TOPIC_ALREADY_EXISTS"):
    """A topic with this name already exists; use it, or pick another name."""


class InvalidPartitionsError(BrokerResponseError, errno=37, message="INVALID_PARTITIONS"):
    """The requested number of partitions is invalid (below 1, or not more than the current count); request a valid partition count."""


class InvalidReplicationFactorError(BrokerResponseError, errno=38, message="INVALID_REPLICATION_FACTOR"):
    """The replication factor is below 1 or larger than the number of brokers; choose a factor the cluster can host."""


class InvalidReplicationAssignmentError(BrokerResponseError, errno=39, message="INVALID_REPLICA_ASSIGNMENT"):
    """The explicit replica assignment is invalid; list existing, distinct brokers for every partition."""


class InvalidConfigurationError(BrokerResponseError, errno=40, message="INVALID_CONFIG"):
    """A configuration name or value in the request is invalid; fix the config entries."""


class NotControllerError(_RetriableResponse, errno=41, message="NOT_CONTROLLER"):
    """The request went to a broker that is not the active controller; refresh metadata and retry."""


class InvalidRequestError(BrokerResponseError, errno=42, message="INVALID_REQUEST"):
    """The broker could not make sense of the request (malformed, or sent to an incompatible broker); check the broker log for details."""


class UnsupportedForMessageFormatError(
    BrokerResponseError, errno=43, message="UNSUPPORTED_FOR_MESSAGE_FORMAT"
):
    """The topic's message format version does not support this request; upgrade the topic's message format."""


class PolicyViolationError(BrokerResponseError, errno=44, message="POLICY_VIOLATION"):
    """The request breaks a policy configured on the broker; change the request to satisfy the policy."""


class OutOfOrderSequenceNumberError(BrokerResponseError, errno=45, message="OUT_OF_ORDER_SEQUENCE_NUMBER"):
    """The broker received a produce sequence number with a gap, so records may have been lost; the idempotent producer must reset its producer id or fail the batch."""


class DuplicateSequenceNumberError(BrokerResponseError, errno=46, message="DUPLICATE_SEQUENCE_NUMBER"):
    """The broker already has a batch with this sequence number; the batch is a duplicate and was not written again."""


class InvalidProducerEpochError(BrokerResponseError, errno=47, message="INVALID_PRODUCER_EPOCH"):
    """The producer epoch is older than the broker's, so another producer instance took over; close this producer."""


class InvalidTxnStateError(BrokerResponseError, errno=48, message="INVALID_TXN_STATE"):
    """The transactional operation is not valid in the transaction's current state; abort the transaction and start again."""


class InvalidProducerIdMappingError(BrokerResponseError, errno=49, message="INVALID_PRODUCER_ID_MAPPING"):
    """The producer id is not the one assigned to this transactional id; initialize the producer again (InitProducerId)."""


class InvalidTransactionTimeoutError(BrokerResponseError, errno=50, message="INVALID_TRANSACTION_TIMEOUT"):
    """The transaction timeout is larger than the broker's transaction.max.timeout.ms; configure a smaller transaction_timeout_ms."""


class ConcurrentTransactionsError(_RetriableResponse, errno=51, message="CONCURRENT_TRANSACTIONS"):
    """Another operation on the same transaction is still in progress (usually the previous commit or abort); retry after a short backoff."""


class TransactionCoordinatorFencedError(
    BrokerResponseError, errno=52, message="TRANSACTION_COORDINATOR_FENCED"
):
    """The transaction coordinator that sent a marker is no longer the current one; this is internal to the cluster."""


class TransactionalIdAuthorizationFailedError(
    AuthorizationError, errno=53, message="TRANSACTIONAL_ID_AUTHORIZATION_FAILED"
):
    """The client's principal is not authorized for this transactional id; grant the needed ACLs."""


class SecurityDisabledError(BrokerResponseError, errno=54, message="SECURITY_DISABLED"):
    """The request needs security features that are disabled on the broker; enable them or do not use this request."""


class OperationNotAttemptedError(BrokerResponseError, errno=55, message="OPERATION_NOT_ATTEMPTED"):
    """The broker did not try this operation because another part of the same batched request failed; fix that failure and resend."""


class KafkaStorageError(_StaleMetadataResponse, errno=56, message="KAFKA_STORAGE_ERROR"):
    """The broker hit a disk error on the log directory holding this partition; refresh metadata and retry, as leadership may move."""


class LogDirNotFoundError(BrokerResponseError, errno=57, message="LOG_DIR_NOT_FOUND"):
    """The requested log directory is not configured on the broker; name a log directory the broker has."""


class SaslAuthenticationFailedError(BrokerResponseError, errno=58, message="SASL_AUTHENTICATION_FAILED"):
    """SASL authentication failed (wrong credentials or mechanism); check the username, password and mechanism."""


class UnknownProducerIdError(BrokerResponseError, errno=59, message="UNKNOWN_PRODUCER_ID"):
    """The broker has no state for this producer id (its records expired through retention); the producer must reset its sequence or get a new producer id."""


class ReassignmentInProgressError(BrokerResponseError, errno=60, message="REASSIGNMENT_IN_PROGRESS"):
    """A partition reassignment is in progress; wait for it to finish before retrying."""


class DelegationTokenAuthDisabledError(
    BrokerResponseError, errno=61, message="DELEGATION_TOKEN_AUTH_DISABLED"
):
    """Delegation tokens are not enabled on the broker; enable them or authenticate another way."""


class DelegationTokenNotFoundError(BrokerResponseError, errno=62, message="DELEGATION_TOKEN_NOT_FOUND"):
    """The delegation token does not exist on the broker; create a new token."""


class DelegationTokenOwnerMismatchError(
    BrokerResponseError, errno=63, message="DELEGATION_TOKEN_OWNER_MISMATCH"
):
    """The principal is not the owner or a renewer of the delegation token; use the owner's credentials."""


class DelegationTokenRequestNotAllowedError(
    BrokerResponseError, errno=64, message="DELEGATION_TOKEN_REQUEST_NOT_ALLOWED"
):
    """Delegation token requests are not allowed on plaintext, one-way SSL or token-authenticated connections; use an authenticated connection."""


class DelegationTokenAuthorizationFailedError(
    AuthorizationError, errno=65, message="DELEGATION_TOKEN_AUTHORIZATION_FAILED"
):
    """The principal is not authorized for this delegation token operation; grant the needed ACLs."""


class DelegationTokenExpiredError(BrokerResponseError, errno=66, message="DELEGATION_TOKEN_EXPIRED"):
    """The delegation token has expired; create or renew a token."""


class InvalidPrincipalTypeError(BrokerResponseError, errno=67, message="INVALID_PRINCIPAL_TYPE"):
    """The principal type is not supported; use a supported principal type such as 'User'."""


class NonEmptyGroupError(BrokerResponseError, errno=68, message="NON_EMPTY_GROUP"):
    """The group still has active members, so it cannot be deleted or changed; stop its consumers first."""


class GroupIdNotFoundError(BrokerResponseError, errno=69, message="GROUP_ID_NOT_FOUND"):
    """The group id does not exist on the coordinator; check the group name."""


class FetchSessionIdNotFoundError(_RetriableResponse, errno=70, message="FETCH_SESSION_ID_NOT_FOUND"):
    """The broker no longer has the incremental fetch session; the client starts a new full fetch session."""


class InvalidFetchSessionEpochError(_RetriableResponse, errno=71, message="INVALID_FETCH_SESSION_EPOCH"):
    """The fetch session epoch is out of sequence; the client starts a new full fetch session."""


class ListenerNotFoundError(_StaleMetadataResponse, errno=72, message="LISTENER_NOT_FOUND"):
    """The partition leader has no listener matching the one the metadata request used; refresh metadata and check the brokers' listener configuration."""


class TopicDeletionDisabledError(BrokerResponseError, errno=73, message="TOPIC_DELETION_DISABLED"):
    """Topic deletion is disabled on the broker (delete.topic.enable=false); enable it to delete topics."""


class FencedLeaderEpochError(_StaleMetadataResponse, errno=74, message="FENCED_LEADER_EPOCH"):
    """The leader epoch in the request is older than the broker's, so the client's metadata is stale; refresh metadata and retry."""


class UnknownLeaderEpochError(_StaleMetadataResponse, errno=75, message="UNKNOWN_LEADER_EPOCH"):
    """The leader epoch in the request is newer than the broker knows; refresh metadata and retry once the broker catches up."""


class UnsupportedCompressionTypeError(BrokerResponseError, errno=76, message="UNSUPPORTED_COMPRESSION_TYPE"):
    """The client does not support the compression type used by the partition's data; use a client or fetch version that supports it."""


class StaleBrokerEpochError(BrokerResponseError, errno=77, message="STALE_BROKER_EPOCH"):
    """The broker epoch in an inter-broker request is outdated; this is internal to the cluster."""


class OffsetNotAvailableError(_RetriableResponse, errno=78, message="OFFSET_NOT_AVAILABLE"):
    """The new leader's high watermark has not caught up after an election, so the offset cannot be served yet; retry shortly."""


class MemberIdRequiredError(BrokerResponseError, errno=79, message="MEMBER_ID_REQUIRED"):
    """The broker assigned a member id that must be used to join the group; rejoin with the member id from the response."""


class PreferredLeaderNotAvailableError(
    _StaleMetadataResponse, errno=80, message="PREFERRED_LEADER_NOT_AVAILABLE"
):
    """The preferred leader is not available for a leader election; retry when it is back in sync."""


class GroupMaxSizeReachedError(BrokerResponseError, errno=81, message="GROUP_MAX_SIZE_REACHED"):
    """The consumer group has reached group.max.size members; add no more members or raise the limit."""


class FencedInstanceIdError(BrokerResponseError, errno=82, message="FENCED_INSTANCE_ID"):
    """Another consumer joined with the same group_instance_id, so this static member was fenced; give each consumer a unique group_instance_id."""


class EligibleLeadersNotAvailableError(
    _StaleMetadataResponse, errno=83, message="ELIGIBLE_LEADERS_NOT_AVAILABLE"
):
    """No eligible leader is available for the partition election; retry when replicas are back in sync."""


class ElectionNotNeededError(_StaleMetadataResponse, errno=84, message="ELECTION_NOT_NEEDED"):
    """The partition already has the leader the election would choose; nothing needs to be done."""


class NoReassignmentInProgressError(BrokerResponseError, errno=85, message="NO_REASSIGNMENT_IN_PROGRESS"):
    """There is no partition reassignment in progress to cancel or change."""


class GroupSubscribedToTopicError(BrokerResponseError, errno=86, message="GROUP_SUBSCRIBED_TO_TOPIC"):
    """The group is still subscribed to the topic, so its offsets cannot be deleted; unsubscribe the group first."""


class InvalidRecordError(BrokerResponseError, errno=87, message="INVALID_RECORD"):
    """The broker rejected a record that failed validation (for example a null key on a compacted topic); fix the record."""


class UnstableOffsetCommitError(_RetriableResponse, errno=88, message="UNSTABLE_OFFSET_COMMIT"):
    """The partition has pending transactional offset commits; retry the offset fetch after the transaction completes."""


class ThrottlingQuotaExceededError(_RetriableResponse, errno=89, message="THROTTLING_QUOTA_EXCEEDED"):
    """The request exceeded the client's mutation quota; retry after the throttle time has passed."""


class ProducerFencedError(BrokerResponseError, errno=90, message="PRODUCER_FENCED"):
    """A newer producer with the same transactional id fenced this one; close this producer."""


class ResourceNotFoundError(BrokerResponseError, errno=91, message="RESOURCE_NOT_FOUND"):
    """The request referred to a resource that does not exist; check its name."""


class DuplicateResourceError(BrokerResponseError, errno=92, message="DUPLICATE_RESOURCE"):
    """The request named the same resource twice; list each resource once."""


class UnacceptableCredentialError(BrokerResponseError, errno=93, message="UNACCEPTABLE_CREDENTIAL"):
    """The requested credential does not meet the broker's criteria; choose a stronger or valid credential."""


class InconsistentVoterSetError(BrokerResponseError, errno=94, message="INCONSISTENT_VOTER_SET"):
    """The sender or receiver of a voter request is not one of the expected voters; this is internal to the controller quorum."""


class InvalidUpdateVersionError(BrokerResponseError, errno=95, message="INVALID_UPDATE_VERSION"):
    """The update version given is invalid; re-read the current state and retry with its version."""


class FeatureUpdateFailedError(BrokerResponseError, errno=96, message="FEATURE_UPDATE_FAILED"):
    """The finalized features could not be updated because of an unexpected server error; check the controller log."""


class PrincipalDeserializationFailureError(
    BrokerResponseError, errno=97, message="PRINCIPAL_DESERIALIZATION_FAILURE"
):
    """A forwarded request's principal could not be deserialized; check the cluster's security setup."""


class SnapshotNotFoundError(BrokerResponseError, errno=98, message="SNAPSHOT_NOT_FOUND"):
    """The requested metadata snapshot does not exist; this is internal to the controller quorum."""


class PositionOutOfRangeError(BrokerResponseError, errno=99, message="POSITION_OUT_OF_RANGE"):
    """The requested snapshot position is negative or past its end; this is internal to the controller quorum."""


class UnknownTopicIdError(_StaleMetadataResponse, errno=100, message="UNKNOWN_TOPIC_ID"):
    """The broker does not host a topic with this topic id; refresh metadata to get current topic ids."""


class DuplicateBrokerRegistrationError(
    BrokerResponseError, errno=101, message="DUPLICATE_BROKER_REGISTRATION"
):
    """Another broker already registered with this broker id; give each broker a unique node id."""


class BrokerIdNotRegisteredError(BrokerResponseError, errno=102, message="BROKER_ID_NOT_REGISTERED"):
    """The broker id is not registered with the controller; this is internal to the cluster."""


class InconsistentTopicIdError(_StaleMetadataResponse, errno=103, message="INCONSISTENT_TOPIC_ID"):
    """The topic id in the request does not match the log's topic id (the topic was recreated); refresh metadata."""


class InconsistentClusterIdError(BrokerResponseError, errno=104, message="INCONSISTENT_CLUSTER_ID"):
    """The cluster id in the request does not match the server's; the node belongs to another cluster."""


class TransactionalIdNotFoundError(BrokerResponseError, errno=105, message="TRANSACTIONAL_ID_NOT_FOUND"):
    """The transactional id is not known to the coordinator; check the transactional id."""


class FetchSessionTopicIdError(_RetriableResponse, errno=106, message="FETCH_SESSION_TOPIC_ID_ERROR"):
    """The fetch session used topic ids inconsistently; the client starts a new fetch session."""


class IneligibleReplicaError(BrokerResponseError, errno=107, message="INELIGIBLE_REPLICA"):
    """The new in-sync replica set contains an ineligible replica; this is internal to the cluster."""


class NewLeaderElectedError(BrokerResponseError, errno=108, message="NEW_LEADER_ELECTED"):
    """The partition state was updated but the leader changed meanwhile; this is internal to the cluster."""


class OffsetMovedToTieredStorageError(
    BrokerResponseError, errno=109, message="OFFSET_MOVED_TO_TIERED_STORAGE"
):
    """The requested offset has moved to tiered storage; fetch it from the remote tier."""


class FencedMemberEpochError(BrokerResponseError, errno=110, message="FENCED_MEMBER_EPOCH"):
    """The group coordinator fenced this member's epoch; the member must give up its partitions and rejoin."""


class UnreleasedInstanceIdError(BrokerResponseError, errno=111, message="UNRELEASED_INSTANCE_ID"):
    """Another group member still holds this instance id; that member must leave the group first."""


class UnsupportedAssignorError(BrokerResponseError, errno=112, message="UNSUPPORTED_ASSIGNOR"):
    """The group does not support the requested assignor or its version; choose an assignor the broker supports."""


class StaleMemberEpochError(BrokerResponseError, errno=113, message="STALE_MEMBER_EPOCH"):
    """The member epoch is stale; retry after receiving the updated member epoch from ConsumerGroupHeartbeat."""


class MismatchedEndpointTypeError(BrokerResponseError, errno=114, message="MISMATCHED_ENDPOINT_TYPE"):
    """The request was sent to an endpoint of the wrong type (broker versus controller); send it to the right endpoint."""


class UnsupportedEndpointTypeError(BrokerResponseError, errno=115, message="UNSUPPORTED_ENDPOINT_TYPE"):
    """This endpoint type is not supported yet; use a broker endpoint."""


class UnknownControllerIdError(BrokerResponseError, errno=116, message="UNKNOWN_CONTROLLER_ID"):
    """The controller id is not known; check the controller quorum configuration."""


class UnknownSubscriptionIdError(BrokerResponseError, errno=117, message="UNKNOWN_SUBSCRIPTION_ID"):
    """The client telemetry subscription id is invalid or outdated; fetch a new telemetry subscription."""


class TelemetryTooLargeError(BrokerResponseError, errno=118, message="TELEMETRY_TOO_LARGE"):
    """The pushed client telemetry is larger than the broker accepts; send smaller telemetry payloads."""


class InvalidRegistrationError(BrokerResponseError, errno=119, message="INVALID_REGISTRATION"):
    """The controller considers the broker registration invalid; this is internal to the cluster."""


class TransactionAbortableError(BrokerResponseError, errno=120, message="TRANSACTION_ABORTABLE"):
    """The transaction hit an error it cannot finish with; abort the transaction and the transactional id stays usable."""


class InvalidRecordStateError(BrokerResponseError, errno=121, message="INVALID_RECORD_STATE"):
    """The share-group record is not in a state that allows this acknowledgement; the delivery acknowledgement was not applied."""


class ShareSessionNotFoundError(_RetriableResponse, errno=122, message="SHARE_SESSION_NOT_FOUND"):
    """The broker no longer has the share session; the client starts a new share session."""


class InvalidShareSessionEpochError(_RetriableResponse, errno=123, message="INVALID_SHARE_SESSION_EPOCH"):
    """The share session epoch is out of sequence; the client starts a new share session."""


class FencedStateEpochError(BrokerResponseError, errno=124, message="FENCED_STATE_EPOCH"):
    """The share-group state epoch did not match, so the share coordinator rejected the request; this is internal to the cluster."""


class InvalidVoterKeyError(BrokerResponseError, errno=125, message="INVALID_VOTER_KEY"):
    """The voter key does not match the receiving replica's key; this is internal to the controller quorum."""


class DuplicateVoterError(BrokerResponseError, errno=126, message="DUPLICATE_VOTER"):
    """The voter is already part of the voter set; nothing needs to be added."""


class VoterNotFoundError(BrokerResponseError, errno=127, message="VOTER_NOT_FOUND"):
    """The voter is not part of the voter set; check the voter id and directory id."""


class InvalidRegularExpressionError(BrokerResponseError, errno=128, message="INVALID_REGULAR_EXPRESSION"):
    """The subscription regular expression is not valid; fix the pattern."""


class RebootstrapRequiredError(BrokerResponseError, errno=129, message="REBOOTSTRAP_REQUIRED"):
    """The client's metadata is too stale to recover; reconnect to the bootstrap servers and fetch metadata anew."""


class StreamsInvalidTopologyError(BrokerResponseError, errno=130, message="STREAMS_INVALID_TOPOLOGY"):
    """The streams group topology supplied is invalid; fix the application's topology."""


class StreamsInvalidTopologyEpochError(
    BrokerResponseError, errno=131, message="STREAMS_INVALID_TOPOLOGY_EPOCH"
):
    """The streams group topology epoch is invalid; resend with the current topology epoch."""


class StreamsTopologyFencedError(BrokerResponseError, errno=132, message="STREAMS_TOPOLOGY_FENCED"):
    """The streams group topology epoch is outdated, so the member was fenced; rejoin with the current topology."""


class ShareSessionLimitReachedError(_RetriableResponse, errno=133, message="SHARE_SESSION_LIMIT_REACHED"):
    """The broker has reached its limit of share sessions; retry later."""


# --- aliases (names used by kafka-python and by the Java client) -------------------------------

CorruptRecordException = CorruptRecordError
NotLeaderOrFollowerError = NotLeaderForPartitionError
UnknownServerError = UnknownError
RecordTooLargeError = MessageSizeTooLargeError


# --- lookup -----------------------------------------------------------------------------------


def _iter_broker_errors() -> Iterator[type[BrokerResponseError]]:
    for _name, obj in inspect.getmembers(sys.modules[__name__], inspect.isclass):
        # only classes that declare a code themselves (IncompatibleBrokerVersion inherits 35)
        if issubclass(obj, BrokerResponseError) and "errno" in vars(obj):
            yield obj


kafka_errors: dict[int, type[BrokerResponseError]] = {
    _cls.errno: _cls for _cls in _iter_broker_errors() if _cls.errno is not None
}

_unrecognized: dict[int, type[BrokerResponseError]] = {}


def for_code(code: int) -> type[BrokerResponseError]:
    """The error class for a broker error code; unknown codes get a class that keeps the number."""
    cls = kafka_errors.get(code)
    if cls is not None:
        return cls
    cls = _unrecognized.get(code)
    if cls is None:
        cls = type(
            "UnrecognizedBrokerError",
            (UnknownError,),
            {
                "errno": code,
                "message": f"UNRECOGNIZED_ERROR_{code}",
                "description": (
                    f"The broker returned error code {code}, which this client does not know; "
                    "it is probably newer than the client, so check the broker's documentation or log."
                ),
                "__module__": __name__,
            },
        )
        _unrecognized[code] = cls
    return cls


def raise_for_code(code: int, *args: Any) -> None:
    """Raise the error for ``code`` with ``args``; do nothing for 0 (no error)."""
    if code:
        raise for_code(code)(*args)
