"""The classic ("consumer" protocol type) group payloads carried opaquely by JoinGroup and SyncGroup.

A member's subscription travels in JoinGroup's protocol metadata and the leader's assignments in
SyncGroup; both are an int16 version followed by a non-flexible (int16-length strings, int32-length
bytes and arrays) struct:

- Subscription v0: topics [string], user_data bytes?; v1 adds owned_partitions [topic, [int32]];
  v2 adds generation_id int32 (-1 when unknown); v3 adds rack_id string?.
- Assignment v0-v3 (one layout): assigned_partitions [topic, [int32]], user_data bytes?.

Decoders accept versions newer than they know by reading the known prefix and ignoring the rest,
as the Java client does, so members running newer clients can still be assigned. Malformed input
raises ``ProtocolDecodeError``. No I/O here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

from kafkakit.errors import ProtocolDecodeError, ProtocolEncodeError
from kafkakit.protocol import primitives as P

SUBSCRIPTION_VERSION = 3
"""Highest ConsumerProtocolSubscription version known (and written by default)."""
ASSIGNMENT_VERSION = 3
"""Highest ConsumerProtocolAssignment version known (and written by default)."""

PROTOCOL_TYPE = "consumer"

_SUBSCRIPTION = "ConsumerProtocolSubscription"
_ASSIGNMENT = "ConsumerProtocolAssignment"

TopicPartitions = Mapping[str, Iterable[int]] | Iterable[tuple[str, Iterable[int]]]

_I16 = P.INT16
_I32 = P.INT32

_DECODE_ERRORS = (struct.error, IndexError, ValueError, UnicodeDecodeError)


# ---------------------------------------------------------------- encoding


def _topic_partitions(parts: TopicPartitions) -> list[tuple[str, list[int]]]:
    items = parts.items() if isinstance(parts, Mapping) else parts
    return [(topic, list(partitions)) for topic, partitions in items]


def _write_topic_partitions(out: list[bytes], parts: list[tuple[str, list[int]]]) -> None:
    out.append(_I32.pack(len(parts)))
    for topic, partitions in parts:
        out.append(P.write_string(topic))
        out.append(struct.pack(f">i{len(partitions)}i", len(partitions), *partitions))


def _check_version(kind: str, version: int, highest: int) -> None:
    if not 0 <= version <= highest:
        raise ProtocolEncodeError(kind, version, "version", f"known versions are 0-{highest}")


def encode_subscription(
    topics: Iterable[str],
    user_data: bytes | None = None,
    owned_partitions: TopicPartitions | None = None,
    generation_id: int = -1,
    rack_id: str | None = None,
    version: int = SUBSCRIPTION_VERSION,
) -> bytes:
    """A JoinGroup protocol metadata payload. Fields the version lacks are left out."""
    _check_version(_SUBSCRIPTION, version, SUBSCRIPTION_VERSION)
    field = "topics"
    try:
        topic_list = list(topics)
        out = [_I16.pack(version), _I32.pack(len(topic_list))]
        out.extend(P.write_string(t) for t in topic_list)
        field = "user_data"
        out.append(P.write_bytes(user_data))
        if version >= 1:
            field = "owned_partitions"
            _write_topic_partitions(out, _topic_partitions(owned_partitions or ()))
        if version >= 2:
            field = "generation_id"
            out.append(_I32.pack(generation_id))
        if version >= 3:
            field = "rack_id"
            out.append(P.write_string(rack_id))
    except (struct.error, ValueError, TypeError, AttributeError, UnicodeEncodeError) as exc:
        raise ProtocolEncodeError(_SUBSCRIPTION, version, field, str(exc) or type(exc).__name__) from None
    return b"".join(out)


def encode_assignment(
    partitions: TopicPartitions,
    user_data: bytes | None = None,
    version: int = ASSIGNMENT_VERSION,
) -> bytes:
    """A SyncGroup assignment payload: ``{topic: [partition, ...]}`` plus optional user data."""
    _check_version(_ASSIGNMENT, version, ASSIGNMENT_VERSION)
    field = "assigned_partitions"
    try:
        out = [_I16.pack(version)]
        _write_topic_partitions(out, _topic_partitions(partitions))
        field = "user_data"
        out.append(P.write_bytes(user_data))
    except (struct.error, ValueError, TypeError, AttributeError, UnicodeEncodeError) as exc:
        raise ProtocolEncodeError(_ASSIGNMENT, version, field, str(exc) or type(exc).__name__) from None
    return b"".join(out)


# ---------------------------------------------------------------- decoding


class _Reader:
    """Sequential reader remembering the field being read, for error messages."""

    __slots__ = ("buf", "pos", "field")

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.pos = 0
        self.field = "version"

    def i16(self) -> int:
        (v,) = _I16.unpack_from(self.buf, self.pos)
        self.pos += 2
        return int(v)

    def i32(self) -> int:
        (v,) = _I32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(v)

    def string(self) -> str:
        s, self.pos = P.read_string(self.buf, self.pos)
        return s

    def nullable_string(self) -> str | None:
        s, self.pos = P.read_nullable_string(self.buf, self.pos)
        return s

    def nullable_bytes(self) -> bytes | None:
        b, self.pos = P.read_nullable_bytes(self.buf, self.pos)
        return b

    def array_len(self) -> int:
        n, self.pos = P.read_array_len(self.buf, self.pos)
        if n < 0:
            raise ValueError("null in a non-nullable array")
        return int(n)

    def int32_array(self) -> list[int]:
        n = self.array_len()
        values = list(struct.unpack_from(f">{n}i", self.buf, self.pos))
        self.pos += 4 * n
        return values

    def topic_partitions(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for _ in range(self.array_len()):
            topic = self.string()
            # a topic listed twice is merged, keeping the first occurrence's order
            out.setdefault(topic, []).extend(self.int32_array())
        return out


def _version(r: _Reader) -> int:
    version = r.i16()
    if version < 0:
        raise ValueError(f"negative version {version}")
    return version


def decode_subscription(buf: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Decode JoinGroup protocol metadata. Returns ``version`` (as written) and every field of the
    newest known version; fields the payload's version lacks take their defaults."""
    r = _Reader(buf)
    version = 0
    try:
        version = _version(r)
        r.field = "topics"
        topics = [r.string() for _ in range(r.array_len())]
        r.field = "user_data"
        user_data = r.nullable_bytes()
        owned: dict[str, list[int]] = {}
        generation_id = -1
        rack_id = None
        if version >= 1:
            r.field = "owned_partitions"
            owned = r.topic_partitions()
        if version >= 2:
            r.field = "generation_id"
            generation_id = r.i32()
        if version >= 3:
            r.field = "rack_id"
            rack_id = r.nullable_string()
    except _DECODE_ERRORS as exc:
        raise ProtocolDecodeError(_SUBSCRIPTION, version, r.field, str(exc) or type(exc).__name__) from None
    return {
        "version": version,
        "topics": topics,
        "user_data": user_data,
        "owned_partitions": owned,
        "generation_id": generation_id,
        "rack_id": rack_id,
    }


def decode_assignment(buf: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Decode a SyncGroup assignment. An empty payload (what the coordinator hands a member the
    leader left out) decodes as an empty v0 assignment."""
    if len(buf) == 0:
        return {"version": 0, "assigned_partitions": {}, "user_data": None}
    r = _Reader(buf)
    version = 0
    try:
        version = _version(r)
        r.field = "assigned_partitions"
        assigned = r.topic_partitions()
        r.field = "user_data"
        user_data = r.nullable_bytes()
    except _DECODE_ERRORS as exc:
        raise ProtocolDecodeError(_ASSIGNMENT, version, r.field, str(exc) or type(exc).__name__) from None
    return {"version": version, "assigned_partitions": assigned, "user_data": user_data}
