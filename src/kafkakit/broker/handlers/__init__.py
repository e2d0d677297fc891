"""The broker's dispatch table: every request handler, by API key, and what ApiVersions advertises.

How it works: each handler module exports ``HANDLERS: dict[int, Handler]``; they are merged here
into one table (the group handlers are imported only when ``handlers/groups.py`` exists). The
advertised APIs are exactly the keys of that table (minus ``NOT_ADVERTISED``) with the codec's
version range, narrowed by ``ADVERTISED_VERSIONS`` (InitProducerId 0-5, as Kafka 4.4);
``ACCEPTED_VERSIONS`` narrows what is answered normally (Produce v0-2 are listed for librdkafka's
feature detection but answered with UNSUPPORTED_VERSION, InitProducerId v6 is not listed and
answered with UNSUPPORTED_VERSION). ``error_response``
builds the response a request gets when it fails as a whole: it mirrors the request's
topics/partitions (or resources, groups, ...) and puts the error code in every error field.

What it must never do: advertise an API or version that has no handler, or raise while building
an error response.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from kafkakit.broker.state import BrokerState, Handler
from kafkakit.protocol.apis import API_BY_KEY
from kafkakit.protocol.schema import Api, Field

log = logging.getLogger("kafkakit.broker")

__all__ = [
    "HANDLERS",
    "ACCEPTED_VERSIONS",
    "ADVERTISED_VERSIONS",
    "NOT_ADVERTISED",
    "advertised_versions",
    "api_versions_body",
    "error_response",
]

HANDLERS: dict[int, Handler] = {}

#: advertised ranges narrower than the codec's: InitProducerId v6 (KIP-939 two-phase commit) is
#: not stable in Kafka 4.4, which lists 0-5, and its 2PC fields are not implemented here
ADVERTISED_VERSIONS: dict[int, tuple[int, int]] = {22: (0, 5)}

#: versions answered normally when narrower than the codec's range (the rest get UNSUPPORTED_VERSION)
ACCEPTED_VERSIONS: dict[int, tuple[int, int]] = {0: (3, 13), 22: (0, 5)}

#: APIs with a handler that ApiVersions does not list (SaslHandshake only refuses every mechanism)
NOT_ADVERTISED: frozenset[int] = frozenset({17})


def advertised_versions() -> dict[int, tuple[int, int]]:
    """``{api_key: (min, max)}`` for every API this broker serves, as ApiVersions lists them."""
    out: dict[int, tuple[int, int]] = {}
    for key in sorted(HANDLERS):
        api = API_BY_KEY.get(key)
        if api is not None and key not in NOT_ADVERTISED:
            out[key] = ADVERTISED_VERSIONS.get(key, (api.min_version, api.max_version))
    return out


def api_versions_body(state: BrokerState, error_code: int = 0) -> dict[str, Any]:
    """The ApiVersions response body (any version) listing every advertised API."""
    return {
        "error_code": error_code,
        "api_keys": [
            {"api_key": key, "min_version": lo, "max_version": hi}
            for key, (lo, hi) in state.api_versions.items()
        ],
        "throttle_time_ms": 0,
        "supported_features": [],
        "finalized_features_epoch": -1,
        "finalized_features": [],
        "zk_migration_ready": False,
    }


# ---------------------------------------------------------------- error responses

#: request field -> response field names that carry the same identity
_ALIASES = {
    "partition_index": ("partition_index", "partition", "index"),
    "partition": ("partition", "partition_index", "index"),
    "index": ("index", "partition_index", "partition"),
    "name": ("name", "topic", "group_id", "key"),
    "topic": ("topic", "name"),
    "group_id": ("group_id", "name"),
    "key": ("key", "name"),
}
_NO_VALUE_FIELDS = ("records",)
_OFFSET_LIKE = ("base_offset", "high_watermark", "offset", "end_offset", "low_watermark", "committed_offset")


def error_response(
    api: Api, version: int, body: dict[str, Any], code: int, message: str | None = None
) -> dict[str, Any]:
    """A response to ``body`` in which every topic/partition/resource (mirrored from the request)
    and every top-level error field carries ``code``."""
    try:
        return _mirror(api.response_fields, version, [body], code, message)
    except Exception:  # noqa: BLE001 - fall back to a body with only the top-level error
        log.exception("building the %s error response failed", api.name)
        return {"error_code": code, "throttle_time_ms": 0}


def _has_error_field(fields: list[Field]) -> bool:
    return any(f.name == "error_code" or (f.type == "array" and _has_error_field(f.children)) for f in fields)


def _mirror(
    fields: list[Field], version: int, sources: list[Any], code: int, message: str | None
) -> dict[str, Any]:
    """One response struct built from the request struct(s) ``sources`` (first one wins)."""
    src = sources[0] if sources else None
    out: dict[str, Any] = {}
    for f in fields:
        if f.name == "error_code" and f.type == "int16":
            out[f.name] = code
        elif f.name in ("error_message", "batch_index_error_message") and f.type == "string":
            out[f.name] = message if message is not None or f.nullable(version) else ""
        elif f.name in _OFFSET_LIKE and f.type == "int64":
            out[f.name] = -1
        elif f.type == "array" and isinstance(src, dict) and _has_error_field(f.children):
            out[f.name] = _mirror_array(f, version, src, code, message)
        elif isinstance(src, dict) and f.type not in ("array", "struct") and f.name not in _NO_VALUE_FIELDS:
            value = _lookup(src, f.name)
            out[f.name] = value if value is not None or f.nullable(version) else f.default_value(version)
        elif isinstance(src, str) and f.name in ("name", "topic", "group_id", "key"):
            out[f.name] = src
        elif (
            isinstance(src, int) and not isinstance(src, bool) and f.name in ("partition", "partition_index")
        ):
            out[f.name] = src
        else:
            out[f.name] = f.default_value(version)
    return out


def _lookup(src: dict[str, Any], name: str) -> Any:
    for alias in _ALIASES.get(name, (name,)):
        if alias in src:
            return src[alias]
    return None


def _mirror_array(
    f: Field, version: int, src: dict[str, Any], code: int, message: str | None
) -> list[dict[str, Any]]:
    # the request array this response array answers: the one with the same name, else the first
    candidates = [v for v in src.values() if isinstance(v, list)]
    items = src.get(f.name)
    if not isinstance(items, list):
        items = candidates[0] if candidates else None
    if not items:
        return []
    return [_mirror(f.children, version, [item], code, message) for item in items]


# imported last: the handler modules use the helpers above
for _name in ("meta", "produce", "fetch", "offsets", "admin", "groups", "txn"):
    try:
        _mod = importlib.import_module(f"kafkakit.broker.handlers.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"kafkakit.broker.handlers.{_name}":
            raise
        log.debug("kafkakit.broker.handlers.%s is missing; its APIs are not served", _name)
        continue
    HANDLERS.update(_mod.HANDLERS)
