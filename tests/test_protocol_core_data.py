"""Wire tests for the core, data and transaction API schemas (apis/core.py, data.py, txn.py).

1. Golden bytes against independent peers: aiokafka's and kafka-python's hand-written protocol
   structs, kafka-python 3's JSON-driven codec (every version, property-based, both directions)
   and hand-assembled bytes for versions no hand-written peer has.
2. Our schemas against the message definitions kafka-python bundles: field order, version
   ranges, nullability, tags and defaults for every version.
3. Property-based round trips for every version of every API, requests and responses.
4. Truncated and garbage buffers raise ProtocolDecodeError, never IndexError/struct.error.
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiokafka.protocol.admin as aio_admin
import aiokafka.protocol.fetch as aio_fetch
import aiokafka.protocol.metadata as aio_metadata
import aiokafka.protocol.offset as aio_offset
import aiokafka.protocol.produce as aio_produce
import aiokafka.protocol.transaction as aio_txn
import kafka.protocol.old.add_partitions_to_txn as old_apt
import kafka.protocol.old.api_versions as old_apiv
import kafka.protocol.old.end_txn as old_end
import kafka.protocol.old.fetch as old_fetch
import kafka.protocol.old.init_producer_id as old_init
import kafka.protocol.old.list_offsets as old_lo
import kafka.protocol.old.metadata as old_metadata
import kafka.protocol.old.offset_for_leader_epoch as old_ofle
import kafka.protocol.old.produce as old_produce
import kafka.protocol.old.txn_offset_commit as old_toc
import kafka.protocol.schemas
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.protocol.admin.cluster import DescribeClusterRequest, DescribeClusterResponse
from kafka.protocol.admin.topics import DeleteRecordsRequest, DeleteRecordsResponse
from kafka.protocol.consumer.fetch import FetchRequest, FetchResponse
from kafka.protocol.consumer.offsets import (
    ListOffsetsRequest,
    ListOffsetsResponse,
    OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
)
from kafka.protocol.metadata.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafka.protocol.metadata.metadata import MetadataRequest, MetadataResponse
from kafka.protocol.producer.produce import ProduceRequest, ProduceResponse
from kafka.protocol.producer.transaction import (
    AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse,
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    EndTxnRequest,
    EndTxnResponse,
    InitProducerIdRequest,
    InitProducerIdResponse,
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
)
from kafka.protocol.sasl import (
    SaslAuthenticateRequest,
    SaslAuthenticateResponse,
    SaslHandshakeRequest,
    SaslHandshakeResponse,
)

from kafkakit.errors import ProtocolDecodeError
from kafkakit.protocol.apis import core, data, txn
from kafkakit.protocol.schema import MAX_VERSION, Api, Field

APIS: list[Api] = [*core.APIS, *data.APIS, *txn.APIS]
SIDES = ("request", "response")
Body = dict[str, Any]


# ---------------------------------------------------------------- helpers


def fields_of(api: Api, side: str) -> list[Field]:
    return api.request_fields if side == "request" else api.response_fields


def encode(api: Api, side: str, version: int, body: Body) -> bytes:
    fn = api.encode_request if side == "request" else api.encode_response
    return fn(version, body)


def decode(api: Api, side: str, version: int, buf: bytes) -> Body:
    fn = api.decode_request if side == "request" else api.decode_response
    return fn(version, buf)


def in_version(f: Field, version: int, flexible: bool) -> bool:
    """Whether ``f`` is on the wire at ``version`` (tagged fields only exist in flexible versions)."""
    return f.present(version) and (f.tag is None or flexible)


def fill(fields: list[Field], version: int, flexible: bool, body: Body) -> Body:
    """What decoding the encoding of ``body`` must give: every schema field, defaults for the absent."""
    out: Body = {}
    for f in fields:
        if in_version(f, version, flexible) and f.name in body:
            val = body[f.name]
            if val is not None and f.type == "array":
                val = [fill(f.children, version, flexible, x) for x in val]
            elif val is not None and f.type == "struct":
                val = fill(f.children, version, flexible, val)
            out[f.name] = val
        else:
            out[f.name] = f.default_value(version)
    return out


CASES = [
    pytest.param(api, v, side, id=f"{api.name}-v{v}-{side}")
    for api in APIS
    for v in range(api.min_version, api.max_version + 1)
    for side in SIDES
]


# ---------------------------------------------------------------- strategies from the field tree

_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
}
_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)


def _primitive(t: str) -> st.SearchStrategy[Any]:
    if t in _INT_RANGES:
        lo, hi = _INT_RANGES[t]
        return st.integers(lo, hi)
    if t == "bool":
        return st.booleans()
    if t == "float64":
        return st.floats(allow_nan=False)
    if t == "string":
        return _TEXT
    if t in ("bytes", "records"):
        return st.binary(max_size=24)
    if t == "uuid":
        return st.binary(min_size=16, max_size=16)
    raise AssertionError(t)


def _value(f: Field, version: int, flexible: bool) -> st.SearchStrategy[Any]:
    if f.type == "array":
        base: st.SearchStrategy[Any] = st.lists(body_strategy(f.children, version, flexible), max_size=3)
    elif f.type == "parray":
        base = st.lists(_primitive(f.elem or ""), max_size=4)
    elif f.type == "struct":
        base = body_strategy(f.children, version, flexible)
    else:
        base = _primitive(f.type)
    if f.nullable(version) or f.type == "records":
        base = st.none() | base
    if f.tag is not None:  # tagged fields are only written when they differ from the default
        base = st.just(f.default_value(version)) | base
    return base


def body_strategy(fields: list[Field], version: int, flexible: bool) -> st.SearchStrategy[Body]:
    """A body with every field that exists at ``version``, walking the compiled field tree."""
    return st.fixed_dictionaries(
        {f.name: _value(f, version, flexible) for f in fields if in_version(f, version, flexible)}
    )


def rich_body(fields: list[Field], version: int, flexible: bool) -> Body:
    """A deterministic body with every field present and non-default, one element per array."""
    out: Body = {}
    for i, f in enumerate(fields):
        if not in_version(f, version, flexible):
            continue
        n = i + 1
        if f.type == "array":
            out[f.name] = [rich_body(f.children, version, flexible)]
        elif f.type == "struct":
            out[f.name] = rich_body(f.children, version, flexible)
        elif f.type == "parray":
            out[f.name] = [_rich_primitive(f.elem or "", n), _rich_primitive(f.elem or "", n + 1)]
        else:
            out[f.name] = _rich_primitive(f.type, n)
    return out


def _rich_primitive(t: str, n: int) -> Any:
    if t in _INT_RANGES:
        return n + 3
    if t == "bool":
        return True
    if t == "float64":
        return n + 0.5
    if t == "string":
        return f"s{n}é"
    if t in ("bytes", "records"):
        return bytes(range(n, n + 5))
    if t == "uuid":
        return bytes(range(n, n + 16))
    raise AssertionError(t)


# ---------------------------------------------------------------- 3. round trips, every version


@pytest.mark.parametrize(("api", "version", "side"), CASES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_round_trip_every_version(api: Api, version: int, side: str, rnd: st.DataObject) -> None:
    flexible = api.is_flexible(version)
    fields = fields_of(api, side)
    body = rnd.draw(body_strategy(fields, version, flexible))
    wire = encode(api, side, version, body)
    decoded = decode(api, side, version, wire)
    assert decoded == fill(fields, version, flexible, body)
    # decoding fills every field of the schema, whatever the version
    assert set(decoded) == {f.name for f in fields}
    # and re-encoding the decoded body is byte-stable
    assert encode(api, side, version, decoded) == wire


@pytest.mark.parametrize(("api", "version", "side"), CASES)
def test_rich_body_round_trip(api: Api, version: int, side: str) -> None:
    flexible = api.is_flexible(version)
    fields = fields_of(api, side)
    body = rich_body(fields, version, flexible)
    wire = encode(api, side, version, body)
    assert decode(api, side, version, wire) == fill(fields, version, flexible, body)


# ---------------------------------------------------------------- 4. truncated / garbage input


@pytest.mark.parametrize(("api", "version", "side"), CASES)
def test_every_truncation_raises_decode_error(api: Api, version: int, side: str) -> None:
    flexible = api.is_flexible(version)
    wire = encode(api, side, version, rich_body(fields_of(api, side), version, flexible))
    for cut in range(len(wire)):
        with pytest.raises(ProtocolDecodeError) as info:
            decode(api, side, version, wire[:cut])
        assert info.value.version == version


@pytest.mark.parametrize(("api", "version", "side"), CASES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_truncation_and_garbage(api: Api, version: int, side: str, rnd: st.DataObject) -> None:
    flexible = api.is_flexible(version)
    body = rnd.draw(body_strategy(fields_of(api, side), version, flexible))
    wire = encode(api, side, version, body)
    if wire:
        cut = rnd.draw(st.integers(0, len(wire) - 1))
        with pytest.raises(ProtocolDecodeError):
            decode(api, side, version, wire[:cut])
    # arbitrary bytes either decode or raise ProtocolDecodeError, nothing else
    junk = rnd.draw(st.binary(max_size=64))
    try:
        decode(api, side, version, junk)
    except ProtocolDecodeError:
        pass
    # a flipped byte in a valid message likewise
    if wire:
        i = rnd.draw(st.integers(0, len(wire) - 1))
        mutated = wire[:i] + bytes([wire[i] ^ rnd.draw(st.integers(1, 255))]) + wire[i + 1 :]
        try:
            decode(api, side, version, mutated)
        except ProtocolDecodeError:
            pass


# ---------------------------------------------------------------- 2. conformance to the published definitions

_KP_RESOURCES = Path(kafka.protocol.schemas.__file__).parent / "resources"


def _load_definition(name: str) -> dict[str, Any]:
    text = (_KP_RESOURCES / f"{name}.json").read_text()
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))  # type: ignore[no-any-return]


def _vrange(s: str | None) -> tuple[int, int] | None:
    if s is None or s == "none":
        return None
    if s.endswith("+"):
        return int(s[:-1]), MAX_VERSION
    lo, _, hi = s.partition("-")
    return int(lo), int(hi or lo)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _spec_default(spec: dict[str, Any]) -> Any:
    dv = spec["default"]
    if not isinstance(dv, str):
        return dv
    if dv == "null":
        return None
    if dv in ("true", "false"):
        return dv == "true"
    if spec["type"] == "string":
        return dv
    return int(dv, 0)


def _compare(
    ours: list[Field], spec: list[dict[str, Any]], common: dict[str, Any], v: int, path: str
) -> list[str]:
    errs: list[str] = []

    def live(s: dict[str, Any]) -> bool:
        r = _vrange(s["versions"])
        return r is not None and r[0] <= v <= r[1]

    spec_live = [s for s in spec if live(s)]
    names = [f.name for f in ours if f.present(v)]
    if names != [_snake(s["name"]) for s in spec_live]:
        return [f"{path} v{v}: fields {names} != {[_snake(s['name']) for s in spec_live]}"]
    by_name = {f.name: f for f in ours}
    for s in spec_live:
        f = by_name[_snake(s["name"])]
        where = f"{path}.{f.name} v{v}"
        t: str = s["type"]
        inner = t[2:] if t.startswith("[]") else t
        children = s.get("fields") or (common[inner]["fields"] if inner in common else None)
        want_type = (
            ("array" if t.startswith("[]") else "struct")
            if children
            else ("parray" if t.startswith("[]") else t)
        )
        if f.type != want_type or (want_type == "parray" and f.elem != inner):
            errs.append(f"{where}: type {f.type}/{f.elem} != {t}")
        nr = _vrange(s.get("nullableVersions"))
        if f.type != "records" and f.nullable(v) != (nr is not None and nr[0] <= v <= nr[1]):
            errs.append(f"{where}: nullable {f.nullable(v)}")
        tr = _vrange(s.get("taggedVersions"))
        tag = s.get("tag") if tr is not None and tr[0] <= v <= tr[1] else None
        if f.tag != tag:
            errs.append(f"{where}: tag {f.tag} != {tag}")
        if children:
            errs += _compare(f.children, children, common, v, f"{path}.{f.name}")
        elif "default" in s and f.default_value(v) != _spec_default(s):
            errs.append(f"{where}: default {f.default_value(v)!r} != {_spec_default(s)!r}")
    return errs


@pytest.mark.parametrize("api", APIS, ids=lambda a: a.name)
def test_schema_matches_published_definitions(api: Api) -> None:
    errs: list[str] = []
    for side, fields in (("Request", api.request_fields), ("Response", api.response_fields)):
        spec = _load_definition(api.name + side)
        common = {c["name"]: c for c in spec.get("commonStructs", [])}
        valid = _vrange(spec["validVersions"])
        flex = _vrange(spec["flexibleVersions"])
        assert valid is not None and valid[1] == api.max_version, (side, valid)
        assert (flex[0] if flex else None) == api.flexible_from
        for v in range(api.min_version, api.max_version + 1):
            errs += _compare(fields, spec["fields"], common, v, api.name + side)
    assert not errs, "\n".join(errs)


# ---------------------------------------------------------------- 1a. kafka-python 3's codec, every version

KP: dict[str, tuple[Any, Any]] = {
    "ApiVersions": (ApiVersionsRequest, ApiVersionsResponse),
    "Metadata": (MetadataRequest, MetadataResponse),
    "DescribeCluster": (DescribeClusterRequest, DescribeClusterResponse),
    "SaslHandshake": (SaslHandshakeRequest, SaslHandshakeResponse),
    "SaslAuthenticate": (SaslAuthenticateRequest, SaslAuthenticateResponse),
    "Produce": (ProduceRequest, ProduceResponse),
    "Fetch": (FetchRequest, FetchResponse),
    "ListOffsets": (ListOffsetsRequest, ListOffsetsResponse),
    "DeleteRecords": (DeleteRecordsRequest, DeleteRecordsResponse),
    "OffsetForLeaderEpoch": (OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse),
    "InitProducerId": (InitProducerIdRequest, InitProducerIdResponse),
    "AddPartitionsToTxn": (AddPartitionsToTxnRequest, AddPartitionsToTxnResponse),
    "AddOffsetsToTxn": (AddOffsetsToTxnRequest, AddOffsetsToTxnResponse),
    "EndTxn": (EndTxnRequest, EndTxnResponse),
    "TxnOffsetCommit": (TxnOffsetCommitRequest, TxnOffsetCommitResponse),
}


# kafka-python renames the authorized-operations int32 bitfields to "authorized_operations" and
# represents them as sets of bit numbers (None for the "not requested" value, bit 31 alone).
_KP_BITFIELDS = {"cluster_authorized_operations", "topic_authorized_operations"}


def _int_to_bits(n: int) -> set[int] | None:
    bits = {i for i in range(32) if (n >> i) & 1}
    return None if bits == {31} else bits


def _bits_to_int(bits: set[int] | None) -> int:
    n = sum(1 << b for b in (bits if bits is not None else {31}))
    return n - (1 << 32) if n >= 1 << 31 else n


def _kp_name(kp_fields: dict[str, Any], f: Field) -> str:
    return "authorized_operations" if f.name in _KP_BITFIELDS and f.name not in kp_fields else f.name


def _to_kp(
    kp_fields: dict[str, Any],
    fields: list[Field],
    body: Body,
    v: int,
    flexible: bool,
    make: Callable[..., Any],
) -> Any:
    kw: Body = {}
    for f in fields:
        if not in_version(f, v, flexible) or f.name not in body:
            continue
        val = body[f.name]
        if f.tag is not None and val == f.default_value(v):
            continue  # kafka-python writes any tagged struct that is set; Kafka writes non-defaults only
        name = _kp_name(kp_fields, f)
        kf = kp_fields[name]
        if val is None:
            pass
        elif name != f.name:
            val = _int_to_bits(val)
        elif f.type == "array":
            val = [_to_kp(kf.fields, f.children, x, v, flexible, kf.data_class) for x in val]
        elif f.type == "struct":
            val = _to_kp(kf.fields, f.children, val, v, flexible, kf.data_class)
        elif f.type == "uuid":
            val = uuid.UUID(bytes=val)
        kw[name] = val
    return make(**kw)


def _from_kp(obj: Any, fields: list[Field], v: int, flexible: bool) -> Body:
    out: Body = {}
    kp_fields = obj.fields
    for f in fields:
        if not in_version(f, v, flexible):
            continue
        name = _kp_name(kp_fields, f)
        val = getattr(obj, name)
        if name != f.name:
            val = _bits_to_int(val)
        elif val is None and f.tag is not None:
            val = f.default_value(v)
        elif val is None and f.type == "uuid":
            val = bytes(16)  # kafka-python reads the nil UUID as None
        elif val is None:
            pass
        elif f.type == "array":
            val = [_from_kp(x, f.children, v, flexible) for x in val]
        elif f.type == "struct":
            val = _from_kp(val, f.children, v, flexible)
        elif f.type == "uuid":
            val = val.bytes
        elif f.type in ("bytes", "records"):
            val = bytes(val)
        out[f.name] = val
    return out


@pytest.mark.parametrize(("api", "version", "side"), CASES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_kafka_python_codec_agrees(api: Api, version: int, side: str, rnd: st.DataObject) -> None:
    """Bytes from kafka-python 3's codec equal ours, and each side decodes the other's bytes."""
    cls = KP[api.name][0 if side == "request" else 1]
    flexible = api.is_flexible(version)
    fields = fields_of(api, side)
    body = rnd.draw(body_strategy(fields, version, flexible))
    peer = _to_kp(cls.fields, fields, body, version, flexible, lambda **kw: cls(version=version, **kw))
    peer_wire = bytes(peer.encode(version=version))
    ours = encode(api, side, version, body)
    assert ours == peer_wire
    assert decode(api, side, version, peer_wire) == fill(fields, version, flexible, body)
    if api is core.API_VERSIONS and side == "response" and body["error_code"] != 0:
        return  # kafka-python reads any failed ApiVersions answer as v0 (KIP-511 fallback)
    back = _from_kp(cls.decode(ours, version=version), fields, version, flexible)
    assert fill(fields, version, flexible, back) == fill(fields, version, flexible, body)


# ---------------------------------------------------------------- 1b. hand-written peer structs

RECORDS = b"\x00" * 8 + b"\x00\x00\x00\x05" + b"batch"  # opaque to the codec

# (our api, version, side, our body, peer struct class, the same body as the peer's positional args)
GOLDEN: list[tuple[Api, int, str, Body, Any, tuple[Any, ...]]] = [
    # ---- Produce
    (
        data.PRODUCE,
        0,
        "request",
        {
            "acks": 1,
            "timeout_ms": 1500,
            "topic_data": [{"name": "t", "partition_data": [{"index": 2, "records": RECORDS}]}],
        },
        aio_produce.ProduceRequest_v0,
        (1, 1500, [("t", [(2, RECORDS)])]),
    ),
    (
        data.PRODUCE,
        2,
        "request",
        {
            "acks": -1,
            "timeout_ms": 30000,
            "topic_data": [
                {
                    "name": "a",
                    "partition_data": [{"index": 0, "records": RECORDS}, {"index": 1, "records": None}],
                }
            ],
        },
        old_produce.ProduceRequest_v2,
        (-1, 30000, [("a", [(0, RECORDS), (1, None)])]),
    ),
    (
        data.PRODUCE,
        3,
        "request",
        {
            "transactional_id": "tx-1",
            "acks": -1,
            "timeout_ms": 100,
            "topic_data": [{"name": "topic", "partition_data": [{"index": 7, "records": RECORDS}]}],
        },
        aio_produce.ProduceRequest_v3,
        ("tx-1", -1, 100, [("topic", [(7, RECORDS)])]),
    ),
    (
        data.PRODUCE,
        8,
        "request",
        {"transactional_id": None, "acks": 0, "timeout_ms": 1, "topic_data": []},
        aio_produce.ProduceRequest_v8,
        (None, 0, 1, []),
    ),
    (
        data.PRODUCE,
        0,
        "response",
        {
            "responses": [
                {"name": "t", "partition_responses": [{"index": 0, "error_code": 6, "base_offset": -1}]}
            ]
        },
        aio_produce.ProduceResponse_v0,
        ([("t", [(0, 6, -1)])],),
    ),
    (
        data.PRODUCE,
        2,
        "response",
        {
            "responses": [
                {
                    "name": "t",
                    "partition_responses": [
                        {"index": 1, "error_code": 0, "base_offset": 42, "log_append_time_ms": 1700000000000}
                    ],
                }
            ],
            "throttle_time_ms": 5,
        },
        aio_produce.ProduceResponse_v2,
        ([("t", [(1, 0, 42, 1700000000000)])], 5),
    ),
    (
        data.PRODUCE,
        5,
        "response",
        {
            "responses": [
                {
                    "name": "x",
                    "partition_responses": [
                        {
                            "index": 3,
                            "error_code": 0,
                            "base_offset": 9,
                            "log_append_time_ms": -1,
                            "log_start_offset": 4,
                        }
                    ],
                }
            ],
            "throttle_time_ms": 0,
        },
        aio_produce.ProduceResponse_v5,
        ([("x", [(3, 0, 9, -1, 4)])], 0),
    ),
    (
        data.PRODUCE,
        8,
        "response",
        {
            "responses": [
                {
                    "name": "x",
                    "partition_responses": [
                        {
                            "index": 3,
                            "error_code": 87,
                            "base_offset": -1,
                            "log_append_time_ms": -1,
                            "log_start_offset": -1,
                            "record_errors": [
                                {"batch_index": 2, "batch_index_error_message": "bad"},
                                {"batch_index": 4, "batch_index_error_message": None},
                            ],
                            "error_message": "invalid record",
                        }
                    ],
                }
            ],
            "throttle_time_ms": 12,
        },
        aio_produce.ProduceResponse_v8,
        ([("x", [(3, 87, -1, -1, -1, [(2, "bad"), (4, None)], "invalid record")])], 12),
    ),
    # ---- Fetch
    (
        data.FETCH,
        4,
        "request",
        {
            "replica_id": -1,
            "max_wait_ms": 500,
            "min_bytes": 1,
            "max_bytes": 52428800,
            "isolation_level": 1,
            "topics": [
                {
                    "topic": "t",
                    "partitions": [{"partition": 0, "fetch_offset": 10, "partition_max_bytes": 1048576}],
                }
            ],
        },
        aio_fetch.FetchRequest_v4,
        (-1, 500, 1, 52428800, 1, [("t", [(0, 10, 1048576)])]),
    ),
    (
        data.FETCH,
        7,
        "request",
        {
            "replica_id": -1,
            "max_wait_ms": 500,
            "min_bytes": 1,
            "max_bytes": 100,
            "isolation_level": 0,
            "session_id": 3,
            "session_epoch": 9,
            "topics": [
                {
                    "topic": "t",
                    "partitions": [
                        {
                            "partition": 1,
                            "fetch_offset": 10,
                            "log_start_offset": -1,
                            "partition_max_bytes": 99,
                        }
                    ],
                }
            ],
            "forgotten_topics_data": [{"topic": "old", "partitions": [4, 5]}],
        },
        aio_fetch.FetchRequest_v7,
        (-1, 500, 1, 100, 0, 3, 9, [("t", [(1, 10, -1, 99)])], [("old", [4, 5])]),
    ),
    (
        data.FETCH,
        11,
        "request",
        {
            "replica_id": -1,
            "max_wait_ms": 500,
            "min_bytes": 1,
            "max_bytes": 100,
            "isolation_level": 1,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [
                {
                    "topic": "t",
                    "partitions": [
                        {
                            "partition": 1,
                            "current_leader_epoch": 6,
                            "fetch_offset": 10,
                            "log_start_offset": -1,
                            "partition_max_bytes": 99,
                        }
                    ],
                }
            ],
            "forgotten_topics_data": [],
            "rack_id": "rack-a",
        },
        aio_fetch.FetchRequest_v11,
        (-1, 500, 1, 100, 1, 0, -1, [("t", [(1, 6, 10, -1, 99)])], [], "rack-a"),
    ),
    (
        data.FETCH,
        4,
        "response",
        {
            "throttle_time_ms": 0,
            "responses": [
                {
                    "topic": "t",
                    "partitions": [
                        {
                            "partition_index": 0,
                            "error_code": 0,
                            "high_watermark": 100,
                            "last_stable_offset": 90,
                            "aborted_transactions": [{"producer_id": 7, "first_offset": 80}],
                            "records": RECORDS,
                        }
                    ],
                }
            ],
        },
        aio_fetch.FetchResponse_v4,
        (0, [("t", [(0, 0, 100, 90, [(7, 80)], RECORDS)])]),
    ),
    (
        data.FETCH,
        11,
        "response",
        {
            "throttle_time_ms": 1,
            "error_code": 0,
            "session_id": 77,
            "responses": [
                {
                    "topic": "t",
                    "partitions": [
                        {
                            "partition_index": 2,
                            "error_code": 1,
                            "high_watermark": 100,
                            "last_stable_offset": 100,
                            "log_start_offset": 0,
                            "aborted_transactions": None,
                            "preferred_read_replica": -1,
                            "records": None,
                        }
                    ],
                }
            ],
        },
        aio_fetch.FetchResponse_v11,
        (1, 0, 77, [("t", [(2, 1, 100, 100, 0, None, -1, None)])]),
    ),
    (
        data.FETCH,
        9,
        "response",
        {
            "throttle_time_ms": 0,
            "error_code": 0,
            "session_id": 0,
            "responses": [
                {
                    "topic": "t",
                    "partitions": [
                        {
                            "partition_index": 2,
                            "error_code": 0,
                            "high_watermark": 5,
                            "last_stable_offset": 5,
                            "log_start_offset": 0,
                            "aborted_transactions": [],
                            "records": b"",
                        }
                    ],
                }
            ],
        },
        old_fetch.FetchResponse_v9,
        (0, 0, 0, [("t", [(2, 0, 5, 5, 0, [], b"")])]),
    ),
    # ---- Metadata
    (
        core.METADATA,
        0,
        "request",
        {"topics": [{"name": "a"}, {"name": "b"}]},
        aio_metadata.MetadataRequest_v0,
        (["a", "b"],),
    ),
    (core.METADATA, 1, "request", {"topics": None}, aio_metadata.MetadataRequest_v1, (None,)),
    (
        core.METADATA,
        4,
        "request",
        {"topics": [{"name": "a"}], "allow_auto_topic_creation": False},
        aio_metadata.MetadataRequest_v4,
        (["a"], False),
    ),
    (
        core.METADATA,
        8,
        "request",
        {
            "topics": None,
            "allow_auto_topic_creation": True,
            "include_cluster_authorized_operations": True,
            "include_topic_authorized_operations": False,
        },
        old_metadata.MetadataRequest_v8,
        (None, True, True, False),
    ),
    (
        core.METADATA,
        0,
        "response",
        {
            "brokers": [{"node_id": 1, "host": "h", "port": 9092}],
            "topics": [
                {
                    "error_code": 0,
                    "name": "t",
                    "partitions": [
                        {
                            "error_code": 0,
                            "partition_index": 0,
                            "leader_id": 1,
                            "replica_nodes": [1],
                            "isr_nodes": [1],
                        }
                    ],
                }
            ],
        },
        aio_metadata.MetadataResponse_v0,
        ([(1, "h", 9092)], [(0, "t", [(0, 0, 1, [1], [1])])]),
    ),
    (
        core.METADATA,
        2,
        "response",
        {
            "brokers": [{"node_id": 1, "host": "h", "port": 9092, "rack": None}],
            "cluster_id": "c",
            "controller_id": 1,
            "topics": [{"error_code": 3, "name": "missing", "is_internal": False, "partitions": []}],
        },
        aio_metadata.MetadataResponse_v2,
        ([(1, "h", 9092, None)], "c", 1, [(3, "missing", False, [])]),
    ),
    (
        core.METADATA,
        5,
        "response",
        {
            "throttle_time_ms": 0,
            "brokers": [{"node_id": 0, "host": "localhost", "port": 9092, "rack": "r1"}],
            "cluster_id": None,
            "controller_id": 0,
            "topics": [
                {
                    "error_code": 0,
                    "name": "t",
                    "is_internal": True,
                    "partitions": [
                        {
                            "error_code": 0,
                            "partition_index": 0,
                            "leader_id": 0,
                            "replica_nodes": [0, 1],
                            "isr_nodes": [0],
                            "offline_replicas": [1],
                        }
                    ],
                }
            ],
        },
        aio_metadata.MetadataResponse_v5,
        (0, [(0, "localhost", 9092, "r1")], None, 0, [(0, "t", True, [(0, 0, 0, [0, 1], [0], [1])])]),
    ),
    (
        core.METADATA,
        8,
        "response",
        {
            "throttle_time_ms": 0,
            "brokers": [{"node_id": 0, "host": "localhost", "port": 9092, "rack": None}],
            "cluster_id": "abc",
            "controller_id": 0,
            "topics": [
                {
                    "error_code": 0,
                    "name": "t",
                    "is_internal": False,
                    "partitions": [
                        {
                            "error_code": 0,
                            "partition_index": 0,
                            "leader_id": 0,
                            "leader_epoch": 4,
                            "replica_nodes": [0],
                            "isr_nodes": [0],
                            "offline_replicas": [],
                        }
                    ],
                    "topic_authorized_operations": 248,
                }
            ],
            "cluster_authorized_operations": -2147483648,
        },
        old_metadata.MetadataResponse_v8,
        # kafka-python's legacy struct takes the authorized-operations bitfields as sets of bit numbers
        (
            0,
            [(0, "localhost", 9092, None)],
            "abc",
            0,
            [(0, "t", False, [(0, 0, 0, 4, [0], [0], [])], {3, 4, 5, 6, 7})],
            None,
        ),
    ),
    # ---- ListOffsets
    (
        data.LIST_OFFSETS,
        1,
        "request",
        {
            "replica_id": -1,
            "topics": [{"name": "t", "partitions": [{"partition_index": 0, "timestamp": -2}]}],
        },
        aio_offset.OffsetRequest_v1,
        (-1, [("t", [(0, -2)])]),
    ),
    (
        data.LIST_OFFSETS,
        2,
        "request",
        {
            "replica_id": -1,
            "isolation_level": 1,
            "topics": [{"name": "t", "partitions": [{"partition_index": 3, "timestamp": -1}]}],
        },
        aio_offset.OffsetRequest_v2,
        (-1, 1, [("t", [(3, -1)])]),
    ),
    (
        data.LIST_OFFSETS,
        4,
        "request",
        {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {"partition_index": 3, "current_leader_epoch": 5, "timestamp": 1700000000000}
                    ],
                }
            ],
        },
        old_lo.ListOffsetsRequest_v4,
        (-1, 0, [("t", [(3, 5, 1700000000000)])]),
    ),
    (
        data.LIST_OFFSETS,
        1,
        "response",
        {
            "topics": [
                {
                    "name": "t",
                    "partitions": [{"partition_index": 0, "error_code": 0, "timestamp": -1, "offset": 1234}],
                }
            ]
        },
        aio_offset.OffsetResponse_v1,
        ([("t", [(0, 0, -1, 1234)])],),
    ),
    (
        data.LIST_OFFSETS,
        4,
        "response",
        {
            "throttle_time_ms": 3,
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {
                            "partition_index": 0,
                            "error_code": 0,
                            "timestamp": 5,
                            "offset": 6,
                            "leader_epoch": 2,
                        }
                    ],
                }
            ],
        },
        aio_offset.OffsetResponse_v4,
        (3, [("t", [(0, 0, 5, 6, 2)])]),
    ),
    # ---- DeleteRecords
    (
        data.DELETE_RECORDS,
        0,
        "request",
        {"topics": [{"name": "t", "partitions": [{"partition_index": 1, "offset": 50}]}], "timeout_ms": 1000},
        aio_admin.DeleteRecordsRequest_v0,
        ([("t", [(1, 50)])], 1000),
    ),
    (
        data.DELETE_RECORDS,
        2,
        "request",
        {"topics": [{"name": "t", "partitions": [{"partition_index": 1, "offset": 50}]}], "timeout_ms": 1000},
        aio_admin.DeleteRecordsRequest_v2,
        ([("t", [(1, 50, {})], {})], 1000, {}),
    ),
    (
        data.DELETE_RECORDS,
        2,
        "response",
        {
            "throttle_time_ms": 0,
            "topics": [
                {"name": "t", "partitions": [{"partition_index": 1, "low_watermark": 50, "error_code": 0}]}
            ],
        },
        aio_admin.DeleteRecordsResponse_v2,
        (0, [("t", [(1, 50, 0, {})], {})], {}),
    ),
    # ---- OffsetForLeaderEpoch
    (
        data.OFFSET_FOR_LEADER_EPOCH,
        2,
        "request",
        {
            "topics": [
                {"topic": "t", "partitions": [{"partition": 0, "current_leader_epoch": 3, "leader_epoch": 2}]}
            ]
        },
        old_ofle.OffsetForLeaderEpochRequest_v2,
        ([("t", [(0, 3, 2)])],),
    ),
    (
        data.OFFSET_FOR_LEADER_EPOCH,
        3,
        "request",
        {
            "replica_id": -1,
            "topics": [
                {"topic": "t", "partitions": [{"partition": 0, "current_leader_epoch": 3, "leader_epoch": 2}]}
            ],
        },
        old_ofle.OffsetForLeaderEpochRequest_v3,
        (-1, [("t", [(0, 3, 2)])]),
    ),
    (
        data.OFFSET_FOR_LEADER_EPOCH,
        4,
        "request",
        {
            "replica_id": -1,
            "topics": [
                {"topic": "t", "partitions": [{"partition": 0, "current_leader_epoch": 3, "leader_epoch": 2}]}
            ],
        },
        old_ofle.OffsetForLeaderEpochRequest_v4,
        (-1, [("t", [(0, 3, 2, {})], {})], {}),
    ),
    (
        data.OFFSET_FOR_LEADER_EPOCH,
        4,
        "response",
        {
            "throttle_time_ms": 0,
            "topics": [
                {
                    "topic": "t",
                    "partitions": [{"error_code": 0, "partition": 0, "leader_epoch": 2, "end_offset": 77}],
                }
            ],
        },
        old_ofle.OffsetForLeaderEpochResponse_v4,
        (0, [("t", [(0, 0, 2, 77, {})], {})], {}),
    ),
    # ---- ApiVersions
    (
        core.API_VERSIONS,
        0,
        "response",
        {
            "error_code": 0,
            "api_keys": [
                {"api_key": 0, "min_version": 0, "max_version": 13},
                {"api_key": 18, "min_version": 0, "max_version": 4},
            ],
        },
        aio_admin.ApiVersionResponse_v0,
        (0, [(0, 0, 13), (18, 0, 4)]),
    ),
    (
        core.API_VERSIONS,
        2,
        "response",
        {
            "error_code": 35,
            "api_keys": [{"api_key": 18, "min_version": 0, "max_version": 4}],
            "throttle_time_ms": 0,
        },
        aio_admin.ApiVersionResponse_v2,
        (35, [(18, 0, 4)], 0),
    ),
    (
        core.API_VERSIONS,
        3,
        "request",
        {"client_software_name": "kafkakit", "client_software_version": "0.1.0"},
        old_apiv.ApiVersionsRequest_v3,
        ("kafkakit", "0.1.0", {}),
    ),
    (
        core.API_VERSIONS,
        3,
        "response",
        {
            "error_code": 0,
            "api_keys": [{"api_key": 3, "min_version": 0, "max_version": 13}],
            "throttle_time_ms": 0,
        },
        old_apiv.ApiVersionsResponse_v3,
        (0, [(3, 0, 13, {})], 0, {}),
    ),
    # ---- SASL
    (
        core.SASL_HANDSHAKE,
        1,
        "request",
        {"mechanism": "PLAIN"},
        aio_admin.SaslHandShakeRequest_v1,
        ("PLAIN",),
    ),
    (
        core.SASL_HANDSHAKE,
        1,
        "response",
        {"error_code": 33, "mechanisms": ["PLAIN", "SCRAM-SHA-256"]},
        aio_admin.SaslHandShakeResponse_v1,
        (33, ["PLAIN", "SCRAM-SHA-256"]),
    ),
    (
        core.SASL_AUTHENTICATE,
        0,
        "request",
        {"auth_bytes": b"\x00user\x00pass"},
        aio_admin.SaslAuthenticateRequest_v0,
        (b"\x00user\x00pass",),
    ),
    (
        core.SASL_AUTHENTICATE,
        1,
        "response",
        {"error_code": 0, "error_message": None, "auth_bytes": b"", "session_lifetime_ms": 3600000},
        aio_admin.SaslAuthenticateResponse_v1,
        (0, None, b"", 3600000),
    ),
    # ---- transactions
    (
        txn.INIT_PRODUCER_ID,
        0,
        "request",
        {"transactional_id": None, "transaction_timeout_ms": 60000},
        aio_txn.InitProducerIdRequest_v0,
        (None, 60000),
    ),
    (
        txn.INIT_PRODUCER_ID,
        1,
        "request",
        {"transactional_id": "tx", "transaction_timeout_ms": 60000},
        old_init.InitProducerIdRequest_v1,
        ("tx", 60000),
    ),
    (
        txn.INIT_PRODUCER_ID,
        0,
        "response",
        {"throttle_time_ms": 0, "error_code": 0, "producer_id": 1000, "producer_epoch": 2},
        aio_txn.InitProducerIdResponse_v0,
        (0, 0, 1000, 2),
    ),
    (
        txn.ADD_PARTITIONS_TO_TXN,
        0,
        "request",
        {
            "v3_and_below_transactional_id": "tx",
            "v3_and_below_producer_id": 1000,
            "v3_and_below_producer_epoch": 2,
            "v3_and_below_topics": [{"name": "t", "partitions": [0, 1]}],
        },
        aio_txn.AddPartitionsToTxnRequest_v0,
        ("tx", 1000, 2, [("t", [0, 1])]),
    ),
    (
        txn.ADD_PARTITIONS_TO_TXN,
        2,
        "request",
        {
            "v3_and_below_transactional_id": "tx",
            "v3_and_below_producer_id": 1000,
            "v3_and_below_producer_epoch": 2,
            "v3_and_below_topics": [{"name": "t", "partitions": [3]}],
        },
        old_apt.AddPartitionsToTxnRequest_v2,
        ("tx", 1000, 2, [("t", [3])]),
    ),
    (
        txn.ADD_PARTITIONS_TO_TXN,
        0,
        "response",
        {
            "throttle_time_ms": 0,
            "results_by_topic_v3_and_below": [
                {"name": "t", "results_by_partition": [{"partition_index": 0, "partition_error_code": 51}]}
            ],
        },
        aio_txn.AddPartitionsToTxnResponse_v0,
        (0, [("t", [(0, 51)])]),
    ),
    (
        txn.ADD_OFFSETS_TO_TXN,
        0,
        "request",
        {"transactional_id": "tx", "producer_id": 5, "producer_epoch": 0, "group_id": "g"},
        aio_txn.AddOffsetsToTxnRequest_v0,
        ("tx", 5, 0, "g"),
    ),
    (
        txn.ADD_OFFSETS_TO_TXN,
        0,
        "response",
        {"throttle_time_ms": 0, "error_code": 15},
        aio_txn.AddOffsetsToTxnResponse_v0,
        (0, 15),
    ),
    (
        txn.END_TXN,
        0,
        "request",
        {"transactional_id": "tx", "producer_id": 5, "producer_epoch": 1, "committed": True},
        aio_txn.EndTxnRequest_v0,
        ("tx", 5, 1, True),
    ),
    (
        txn.END_TXN,
        2,
        "request",
        {"transactional_id": "tx", "producer_id": 5, "producer_epoch": 1, "committed": False},
        old_end.EndTxnRequest_v2,
        ("tx", 5, 1, False),
    ),
    (txn.END_TXN, 0, "response", {"throttle_time_ms": 7, "error_code": 0}, aio_txn.EndTxnResponse_v0, (7, 0)),
    (
        txn.TXN_OFFSET_COMMIT,
        0,
        "request",
        {
            "transactional_id": "tx",
            "group_id": "g",
            "producer_id": 5,
            "producer_epoch": 1,
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {"partition_index": 0, "committed_offset": 99, "committed_metadata": None}
                    ],
                }
            ],
        },
        aio_txn.TxnOffsetCommitRequest_v0,
        ("tx", "g", 5, 1, [("t", [(0, 99, None)])]),
    ),
    (
        txn.TXN_OFFSET_COMMIT,
        2,
        "request",
        {
            "transactional_id": "tx",
            "group_id": "g",
            "producer_id": 5,
            "producer_epoch": 1,
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {
                            "partition_index": 0,
                            "committed_offset": 99,
                            "committed_leader_epoch": 3,
                            "committed_metadata": "m",
                        }
                    ],
                }
            ],
        },
        old_toc.TxnOffsetCommitRequest_v2,
        ("tx", "g", 5, 1, [("t", [(0, 99, 3, "m")])]),
    ),
    (
        txn.TXN_OFFSET_COMMIT,
        0,
        "response",
        {
            "throttle_time_ms": 0,
            "topics": [{"name": "t", "partitions": [{"partition_index": 0, "error_code": 0}]}],
        },
        aio_txn.TxnOffsetCommitResponse_v0,
        (0, [("t", [(0, 0)])]),
    ),
]


@pytest.mark.parametrize(
    ("api", "version", "side", "body", "peer", "args"),
    [pytest.param(*g, id=f"{g[0].name}-v{g[1]}-{g[2]}-{g[4].__module__.split('.')[0]}") for g in GOLDEN],
)
def test_golden_bytes_hand_written_peers(
    api: Api, version: int, side: str, body: Body, peer: Any, args: tuple[Any, ...]
) -> None:
    assert peer.API_VERSION == version
    peer_wire = bytes(peer(*args).encode())
    assert encode(api, side, version, body) == peer_wire
    flexible = api.is_flexible(version)
    assert decode(api, side, version, peer_wire) == fill(fields_of(api, side), version, flexible, body)
    # the peer reads our bytes back to the same values
    assert bytes(peer.decode(encode(api, side, version, body)).encode()) == peer_wire


def test_aiokafka_list_offsets_v4_peer_is_wrong() -> None:
    """aiokafka's (unused) ListOffsets v4/v5 structs type current_leader_epoch as int64; the protocol
    has int32 (kafka-python agrees, see the golden case above). aiokafka sends at most v3."""
    wire = aio_offset.OffsetRequest_v4(-1, 0, [("t", [(3, 5, 7)])]).encode()
    ours = data.LIST_OFFSETS.encode_request(
        4,
        {
            "replica_id": -1,
            "topics": [
                {
                    "name": "t",
                    "partitions": [{"partition_index": 3, "current_leader_epoch": 5, "timestamp": 7}],
                }
            ],
        },
    )
    assert len(wire) == len(ours) + 4


# ---------------------------------------------------------------- 1c. hand-assembled bytes (newest versions)


def i8(v: int) -> bytes:
    return struct.pack(">b", v)


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def uv(v: int) -> bytes:
    """Unsigned varint."""
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def cstr(s: str | None) -> bytes:
    """Compact (nullable) string: uvarint length+1, 0 for null."""
    if s is None:
        return b"\x00"
    b = s.encode()
    return uv(len(b) + 1) + b


def carr(n: int | None) -> bytes:
    """Compact array length: uvarint n+1, 0 for null."""
    return b"\x00" if n is None else uv(n + 1)


NO_TAGS = b"\x00"
TOPIC_ID = bytes(range(1, 17))


def tagged(*fields: tuple[int, bytes]) -> bytes:
    return uv(len(fields)) + b"".join(uv(tag) + uv(len(v)) + v for tag, v in fields)


HAND: list[tuple[Api, int, str, Body, bytes]] = [
    # Produce v13: the topic is named by its id (KIP-516), flexible encoding throughout.
    (
        data.PRODUCE,
        13,
        "request",
        {
            "transactional_id": None,
            "acks": -1,
            "timeout_ms": 30000,
            "topic_data": [{"topic_id": TOPIC_ID, "partition_data": [{"index": 0, "records": RECORDS}]}],
        },
        cstr(None)  # transactional_id: compact nullable string, null
        + i16(-1)
        + i32(30000)  # acks, timeout_ms
        + carr(1)
        + TOPIC_ID  # topic_data[1]: topic_id (16 raw bytes), no name in v13
        + carr(1)
        + i32(0)  #   partition_data[1]: index
        + uv(len(RECORDS) + 1)
        + RECORDS  # records: compact nullable bytes
        + NO_TAGS
        + NO_TAGS
        + NO_TAGS,
    ),  # partition, topic and body tagged sections
    (
        data.PRODUCE,
        12,
        "response",
        {
            "responses": [
                {
                    "name": "t",
                    "partition_responses": [
                        {
                            "index": 1,
                            "error_code": 6,
                            "base_offset": -1,
                            "log_append_time_ms": -1,
                            "log_start_offset": -1,
                            "record_errors": [],
                            "error_message": None,
                            "current_leader": {"leader_id": 2, "leader_epoch": 9},
                        }
                    ],
                }
            ],
            "throttle_time_ms": 0,
            "node_endpoints": [{"node_id": 2, "host": "b2", "port": 9093, "rack": None}],
        },
        carr(1)
        + cstr("t")  # responses[1]: name (v12 still names topics)
        + carr(1)
        + i32(1)
        + i16(6)
        + i64(-1)  # partition: index, error_code NOT_LEADER, base_offset
        + i64(-1)
        + i64(-1)  # log_append_time_ms, log_start_offset
        + carr(0)
        + cstr(None)  # record_errors [], error_message null
        + tagged((0, i32(2) + i32(9) + NO_TAGS))  # tag 0 current_leader {leader_id 2, leader_epoch 9}
        + NO_TAGS  # topic tagged section
        + i32(0)  # throttle_time_ms
        + tagged((0, carr(1) + i32(2) + cstr("b2") + i32(9093) + cstr(None) + NO_TAGS)),
    ),  # tag 0 node_endpoints
    (
        data.PRODUCE,
        13,
        "response",
        {
            "responses": [
                {
                    "topic_id": TOPIC_ID,
                    "partition_responses": [{"index": 0, "error_code": 0, "base_offset": 10}],
                }
            ],
            "throttle_time_ms": 0,
        },
        carr(1)
        + TOPIC_ID
        + carr(1)
        + i32(0)
        + i16(0)
        + i64(10)
        + i64(-1)
        + i64(-1)  # defaults -1 for the two timestamps
        + carr(0)
        + cstr(None)
        + NO_TAGS  # current_leader at default: not written
        + NO_TAGS
        + i32(0)
        + NO_TAGS,
    ),
    # Fetch v18: tagged replica_state (tag 1) and the per-partition tagged high_watermark (tag 1).
    (
        data.FETCH,
        18,
        "request",
        {
            "replica_state": {"replica_id": 3, "replica_epoch": 7},
            "max_wait_ms": 500,
            "min_bytes": 1,
            "max_bytes": 1000,
            "isolation_level": 1,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [
                {
                    "topic_id": TOPIC_ID,
                    "partitions": [
                        {
                            "partition": 4,
                            "current_leader_epoch": 2,
                            "fetch_offset": 100,
                            "last_fetched_epoch": 1,
                            "log_start_offset": 0,
                            "partition_max_bytes": 1024,
                            "high_watermark": 150,
                        }
                    ],
                }
            ],
            "forgotten_topics_data": [{"topic_id": TOPIC_ID, "partitions": [1]}],
            "rack_id": "",
        },
        i32(500)
        + i32(1)
        + i32(1000)
        + i8(1)  # max_wait_ms, min_bytes, max_bytes, isolation_level (no replica_id v15+)
        + i32(0)
        + i32(-1)  # session_id, session_epoch
        + carr(1)
        + TOPIC_ID  # topics[1] by id
        + carr(1)
        + i32(4)
        + i32(2)
        + i64(100)
        + i32(1)
        + i64(0)
        + i32(1024)
        + tagged((1, i64(150)))  # tag 1 high_watermark (tag 0 replica_directory_id is nil: omitted)
        + NO_TAGS  # topic tagged section
        + carr(1)
        + TOPIC_ID
        + carr(1)
        + i32(1)
        + NO_TAGS  # forgotten_topics_data
        + cstr("")  # rack_id
        + tagged((1, i32(3) + i64(7) + NO_TAGS)),
    ),  # tag 1 replica_state; cluster_id (tag 0) null: omitted
    (
        data.FETCH,
        16,
        "response",
        {
            "throttle_time_ms": 0,
            "error_code": 0,
            "session_id": 5,
            "responses": [
                {
                    "topic_id": TOPIC_ID,
                    "partitions": [
                        {
                            "partition_index": 0,
                            "error_code": 74,
                            "high_watermark": 10,
                            "last_stable_offset": 10,
                            "log_start_offset": 0,
                            "diverging_epoch": {"epoch": 3, "end_offset": 8},
                            "snapshot_id": {"end_offset": 1, "epoch": 2},
                            "aborted_transactions": None,
                            "preferred_read_replica": -1,
                            "records": None,
                        }
                    ],
                }
            ],
            "node_endpoints": [{"node_id": 1, "host": "h", "port": 1, "rack": "r"}],
        },
        i32(0)
        + i16(0)
        + i32(5)
        + carr(1)
        + TOPIC_ID
        + carr(1)
        + i32(0)
        + i16(74)
        + i64(10)
        + i64(10)
        + i64(0)
        + carr(None)
        + i32(-1)
        + b"\x00"  # aborted_transactions null, preferred_read_replica, records null
        + tagged(
            (0, i32(3) + i64(8) + NO_TAGS),  # tag 0 diverging_epoch {epoch, end_offset}
            (2, i64(1) + i32(2) + NO_TAGS),
        )  # tag 2 snapshot_id {end_offset, epoch}; current_leader default
        + NO_TAGS
        + tagged((0, carr(1) + i32(1) + cstr("h") + i32(1) + cstr("r") + NO_TAGS)),
    ),
    # Metadata v13: top-level error_code closes the body (KIP-1102).
    (
        core.METADATA,
        13,
        "response",
        {
            "throttle_time_ms": 0,
            "brokers": [],
            "cluster_id": "c",
            "controller_id": 1,
            "topics": [
                {
                    "error_code": 0,
                    "name": None,
                    "topic_id": TOPIC_ID,
                    "is_internal": False,
                    "partitions": [],
                    "topic_authorized_operations": -2147483648,
                }
            ],
            "error_code": 129,
        },
        i32(0)
        + carr(0)
        + cstr("c")
        + i32(1)
        + carr(1)
        + i16(0)
        + cstr(None)
        + TOPIC_ID
        + b"\x00"
        + carr(0)
        + i32(-2147483648)
        + NO_TAGS
        + i16(129)
        + NO_TAGS,
    ),
    (
        core.METADATA,
        12,
        "request",
        {
            "topics": [{"topic_id": TOPIC_ID, "name": None}],
            "allow_auto_topic_creation": False,
            "include_topic_authorized_operations": True,
        },
        carr(1) + TOPIC_ID + cstr(None) + NO_TAGS + b"\x00" + b"\x01" + NO_TAGS,
    ),
    # DescribeCluster v2: include_fenced_brokers / is_fenced.
    (
        core.DESCRIBE_CLUSTER,
        2,
        "request",
        {"include_cluster_authorized_operations": False, "endpoint_type": 1, "include_fenced_brokers": True},
        b"\x00" + i8(1) + b"\x01" + NO_TAGS,
    ),
    (
        core.DESCRIBE_CLUSTER,
        2,
        "response",
        {
            "throttle_time_ms": 0,
            "error_code": 0,
            "error_message": None,
            "endpoint_type": 1,
            "cluster_id": "c",
            "controller_id": 0,
            "brokers": [{"broker_id": 0, "host": "h", "port": 9092, "rack": None, "is_fenced": True}],
            "cluster_authorized_operations": -2147483648,
        },
        i32(0)
        + i16(0)
        + cstr(None)
        + i8(1)
        + cstr("c")
        + i32(0)
        + carr(1)
        + i32(0)
        + cstr("h")
        + i32(9092)
        + cstr(None)
        + b"\x01"
        + NO_TAGS
        + i32(-2147483648)
        + NO_TAGS,
    ),
    # ApiVersions v4 response with the tagged feature fields.
    (
        core.API_VERSIONS,
        4,
        "response",
        {
            "error_code": 0,
            "api_keys": [{"api_key": 0, "min_version": 0, "max_version": 13}],
            "throttle_time_ms": 0,
            "supported_features": [{"name": "transaction.version", "min_version": 0, "max_version": 2}],
            "finalized_features_epoch": 5,
            "finalized_features": [
                {"name": "transaction.version", "max_version_level": 2, "min_version_level": 2}
            ],
        },
        i16(0)
        + carr(1)
        + i16(0)
        + i16(0)
        + i16(13)
        + NO_TAGS
        + i32(0)
        + tagged(
            (0, carr(1) + cstr("transaction.version") + i16(0) + i16(2) + NO_TAGS),
            (1, i64(5)),
            (2, carr(1) + cstr("transaction.version") + i16(2) + i16(2) + NO_TAGS),
        ),
    ),
    # ListOffsets v11 (same layout as v10: timeout_ms ends the request).
    (
        data.LIST_OFFSETS,
        11,
        "request",
        {
            "replica_id": -1,
            "isolation_level": 0,
            "topics": [
                {
                    "name": "t",
                    "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": -6}],
                }
            ],
            "timeout_ms": 30000,
        },
        i32(-1)
        + i8(0)
        + carr(1)
        + cstr("t")
        + carr(1)
        + i32(0)
        + i32(-1)
        + i64(-6)
        + NO_TAGS
        + NO_TAGS
        + i32(30000)
        + NO_TAGS,
    ),
    # InitProducerId v6 (KIP-939).
    (
        txn.INIT_PRODUCER_ID,
        6,
        "request",
        {
            "transactional_id": "tx",
            "transaction_timeout_ms": 60000,
            "producer_id": -1,
            "producer_epoch": -1,
            "enable2_pc": True,
            "keep_prepared_txn": False,
        },
        cstr("tx") + i32(60000) + i64(-1) + i16(-1) + b"\x01" + b"\x00" + NO_TAGS,
    ),
    (
        txn.INIT_PRODUCER_ID,
        6,
        "response",
        {
            "throttle_time_ms": 0,
            "error_code": 0,
            "producer_id": 4000,
            "producer_epoch": 1,
            "ongoing_txn_producer_id": -1,
            "ongoing_txn_producer_epoch": -1,
        },
        i32(0) + i16(0) + i64(4000) + i16(1) + i64(-1) + i16(-1) + NO_TAGS,
    ),
    # AddPartitionsToTxn v5: batched transactions.
    (
        txn.ADD_PARTITIONS_TO_TXN,
        5,
        "request",
        {
            "transactions": [
                {
                    "transactional_id": "tx",
                    "producer_id": 9,
                    "producer_epoch": 0,
                    "verify_only": True,
                    "topics": [{"name": "t", "partitions": [0, 2]}],
                }
            ]
        },
        carr(1)
        + cstr("tx")
        + i64(9)
        + i16(0)
        + b"\x01"
        + carr(1)
        + cstr("t")
        + carr(2)
        + i32(0)
        + i32(2)
        + NO_TAGS
        + NO_TAGS
        + NO_TAGS,
    ),
    (
        txn.ADD_PARTITIONS_TO_TXN,
        4,
        "response",
        {
            "throttle_time_ms": 0,
            "error_code": 0,
            "results_by_transaction": [
                {
                    "transactional_id": "tx",
                    "topic_results": [
                        {
                            "name": "t",
                            "results_by_partition": [{"partition_index": 2, "partition_error_code": 48}],
                        }
                    ],
                }
            ],
        },
        i32(0)
        + i16(0)
        + carr(1)
        + cstr("tx")
        + carr(1)
        + cstr("t")
        + carr(1)
        + i32(2)
        + i16(48)
        + NO_TAGS
        + NO_TAGS
        + NO_TAGS
        + NO_TAGS,
    ),
    # EndTxn v5 response carries the bumped producer id/epoch.
    (
        txn.END_TXN,
        5,
        "response",
        {"throttle_time_ms": 0, "error_code": 0, "producer_id": 9, "producer_epoch": 3},
        i32(0) + i16(0) + i64(9) + i16(3) + NO_TAGS,
    ),
    # TxnOffsetCommit v5 (same layout as v3/v4).
    (
        txn.TXN_OFFSET_COMMIT,
        5,
        "request",
        {
            "transactional_id": "tx",
            "group_id": "g",
            "producer_id": 9,
            "producer_epoch": 3,
            "generation_id": 4,
            "member_id": "m",
            "group_instance_id": None,
            "topics": [
                {
                    "name": "t",
                    "partitions": [
                        {
                            "partition_index": 0,
                            "committed_offset": 5,
                            "committed_leader_epoch": -1,
                            "committed_metadata": "",
                        }
                    ],
                }
            ],
        },
        cstr("tx")
        + cstr("g")
        + i64(9)
        + i16(3)
        + i32(4)
        + cstr("m")
        + cstr(None)
        + carr(1)
        + cstr("t")
        + carr(1)
        + i32(0)
        + i64(5)
        + i32(-1)
        + cstr("")
        + NO_TAGS
        + NO_TAGS
        + NO_TAGS,
    ),
    # SaslAuthenticate v2 (flexible).
    (
        core.SASL_AUTHENTICATE,
        2,
        "response",
        {"error_code": 58, "error_message": "bad", "auth_bytes": b"", "session_lifetime_ms": 0},
        i16(58) + cstr("bad") + uv(1) + i64(0) + NO_TAGS,
    ),
]


@pytest.mark.parametrize(
    ("api", "version", "side", "body", "wire"),
    [pytest.param(*h, id=f"{h[0].name}-v{h[1]}-{h[2]}") for h in HAND],
)
def test_golden_bytes_by_hand(api: Api, version: int, side: str, body: Body, wire: bytes) -> None:
    assert encode(api, side, version, body) == wire
    flexible = api.is_flexible(version)
    assert decode(api, side, version, wire) == fill(fields_of(api, side), version, flexible, body)


def test_unknown_tagged_fields_are_skipped() -> None:
    """A newer peer's tags we do not know are skipped (here tag 9 at the top of Fetch v12)."""
    body = {"responses": [], "throttle_time_ms": 0}
    wire = data.FETCH.encode_response(12, body)
    assert wire.endswith(NO_TAGS)
    with_unknown = wire[:-1] + tagged((9, b"\x01\x02\x03"))
    assert data.FETCH.decode_response(12, with_unknown) == data.FETCH.decode_response(12, wire)


def test_metadata_v0_has_no_null_topics_but_v1_does() -> None:
    assert core.METADATA.encode_request(1, {"topics": None}) == i32(-1)
    assert core.METADATA.decode_request(1, i32(-1))["topics"] is None
    with pytest.raises(ProtocolDecodeError):
        core.METADATA.decode_request(0, i32(-1))


def test_decoded_defaults_are_fresh_objects() -> None:
    """Absent/tagged containers decode to new objects each time (no shared mutable defaults)."""
    wire = core.API_VERSIONS.encode_response(3, {"error_code": 0, "api_keys": [], "throttle_time_ms": 0})
    first = core.API_VERSIONS.decode_response(3, wire)
    first["supported_features"].append({"name": "x"})
    assert core.API_VERSIONS.decode_response(3, wire)["supported_features"] == []
    wire = data.FETCH.encode_response(
        12, {"responses": [{"topic": "t", "partitions": [{"partition_index": 0}]}]}
    )
    first = data.FETCH.decode_response(12, wire)
    first["responses"][0]["partitions"][0]["current_leader"]["leader_id"] = 5
    again = data.FETCH.decode_response(12, wire)
    assert again["responses"][0]["partitions"][0]["current_leader"] == {"leader_id": -1, "leader_epoch": -1}


def test_empty_bodies() -> None:
    """ApiVersions v0-2 requests have no fields at all; v3+ carry only the client software."""
    for v in (0, 1, 2):
        assert core.API_VERSIONS.encode_request(v, {}) == b""
        assert core.API_VERSIONS.decode_request(v, b"") == {
            "client_software_name": "",
            "client_software_version": "",
        }
    assert core.API_VERSIONS.encode_request(3, {}) == cstr("") + cstr("") + NO_TAGS


@pytest.mark.parametrize("bad", [b"abc", bytes(20)], ids=["short", "long"])
def test_uuid_of_wrong_length_is_an_encode_error(bad: bytes) -> None:
    from kafkakit.errors import ProtocolEncodeError

    with pytest.raises(ProtocolEncodeError):
        data.PRODUCE.encode_request(13, {"topic_data": [{"topic_id": bad, "partition_data": []}]})


def test_api_table() -> None:
    from kafkakit.protocol.apis import API_BY_KEY

    expected = {
        18: ("ApiVersions", 0, 4, 3),
        3: ("Metadata", 0, 13, 9),
        60: ("DescribeCluster", 0, 2, 0),
        17: ("SaslHandshake", 0, 1, None),
        36: ("SaslAuthenticate", 0, 2, 2),
        0: ("Produce", 0, 13, 9),
        1: ("Fetch", 4, 18, 12),
        2: ("ListOffsets", 1, 11, 6),
        21: ("DeleteRecords", 0, 2, 2),
        23: ("OffsetForLeaderEpoch", 2, 4, 4),
        22: ("InitProducerId", 0, 6, 2),
        24: ("AddPartitionsToTxn", 0, 5, 3),
        25: ("AddOffsetsToTxn", 0, 4, 3),
        26: ("EndTxn", 0, 5, 3),
        28: ("TxnOffsetCommit", 0, 5, 3),
    }
    got = {a.key: (a.name, a.min_version, a.max_version, a.flexible_from) for a in APIS}
    assert got == expected
    for key in expected:
        assert API_BY_KEY[key] in APIS
