"""Configuration tables and validation shared by KafkaProducer, KafkaConsumer and KafkaAdminClient.

How it works: each client kind has a table mapping every accepted keyword (kafka-python's names) to
its default (the values of ../shared/spec/api.md where it names one, kafka-python 3.x's otherwise).
``resolve_config(kind, configs)`` merges the user's keywords over a copy of the table, rejects unknown
keys with ``UnrecognizedConfigError`` ("Unrecognized configs: {'foo'}"), then runs the validators
registered for that kind, which check values and normalise a few of them in place (acks 'all' -> -1,
compression_type names lower-cased, bootstrap_servers parsed into ``(host, port)`` pairs stored under
``"bootstrap_hosts"``). Every error names the key and the value that was wrong.

What it must never do: accept an unknown key silently, let a bad value through to be discovered later
in a background thread, or mutate the caller's dict or the shared default tables.
"""

from __future__ import annotations

import math
import re
import socket
import ssl
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from kafkakit.errors import KafkaConfigurationError

__all__ = [
    "ADMIN_DEFAULTS",
    "COMMON_DEFAULTS",
    "CONSUMER_DEFAULTS",
    "PRODUCER_DEFAULTS",
    "UnrecognizedConfigError",
    "parse_bootstrap_servers",
    "resolve_config",
]

DEFAULT_PORT = 9092
SUPPORTED_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


class UnrecognizedConfigError(KafkaConfigurationError, ValueError):
    """A keyword argument that the client class does not know (a typo, or another client's key)."""


# --- default tables ---------------------------------------------------------------------------

COMMON_DEFAULTS: dict[str, Any] = {
    "bootstrap_servers": "localhost:9092",
    "client_id": None,  # generated per client kind when None
    "request_timeout_ms": 30000,
    "connections_max_idle_ms": 540000,
    "reconnect_backoff_ms": 50,
    "reconnect_backoff_max_ms": 30000,
    "max_in_flight_requests_per_connection": 5,
    "receive_buffer_bytes": None,
    "send_buffer_bytes": None,
    "socket_options": [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
    "sock_chunk_bytes": 4096,  # kafka-python 2.x, accepted and unused
    "sock_chunk_buffer_count": 1000,  # kafka-python 2.x, accepted and unused
    "retry_backoff_ms": 100,
    "metadata_max_age_ms": 300000,
    "security_protocol": "PLAINTEXT",
    "ssl_context": None,
    "ssl_check_hostname": True,
    "ssl_cafile": None,
    "ssl_certfile": None,
    "ssl_keyfile": None,
    "ssl_password": None,
    "ssl_crlfile": None,
    "ssl_ciphers": None,
    "api_version": None,
    "api_version_auto_timeout_ms": 2000,
    "bootstrap_timeout_ms": 30000,
    "client_dns_lookup": "use_all_dns_ips",
    "receive_message_max_bytes": 100000000,
    "selector": None,
    "kafka_client": None,
    "metrics_enabled": True,
    "metric_reporters": [],
    "metrics_num_samples": 2,
    "metrics_sample_window_ms": 30000,
    "metric_group_prefix": "",
    "sasl_mechanism": None,
    "sasl_plain_username": None,
    "sasl_plain_password": None,
    "sasl_kerberos_name": None,
    "sasl_kerberos_service_name": "kafka",
    "sasl_kerberos_domain_name": None,
    "sasl_oauth_token_provider": None,
    "socks5_proxy": None,
    "proxy_url": None,
}

PRODUCER_DEFAULTS: dict[str, Any] = {
    **COMMON_DEFAULTS,
    "key_serializer": None,
    "value_serializer": None,
    "acks": 1,
    "compression_type": None,
    "retries": 0,
    "batch_size": 16384,
    "linger_ms": 0,
    "partitioner": None,  # None means kafkakit.partitioner.DefaultPartitioner
    "buffer_memory": 33554432,
    "max_block_ms": 60000,
    "max_request_size": 1048576,
    "enable_idempotence": False,
    "delivery_timeout_ms": 120000,
    "transactional_id": None,
    "transaction_timeout_ms": 60000,
    "allow_auto_create_topics": True,
    "metric_group_prefix": "producer",
}

CONSUMER_DEFAULTS: dict[str, Any] = {
    **COMMON_DEFAULTS,
    "group_id": None,
    "group_instance_id": None,
    "key_deserializer": None,
    "value_deserializer": None,
    "auto_offset_reset": "latest",
    "enable_auto_commit": True,
    "auto_commit_interval_ms": 5000,
    "default_offset_commit_callback": None,
    "check_crcs": True,
    "fetch_min_bytes": 1,
    "fetch_max_wait_ms": 500,
    "fetch_max_bytes": 52428800,
    "max_partition_fetch_bytes": 1048576,
    "max_poll_records": 500,
    "max_poll_interval_ms": 300000,
    "session_timeout_ms": 10000,
    "heartbeat_interval_ms": 3000,
    "partition_assignment_strategy": None,  # None means [Range, RoundRobin]
    "consumer_timeout_ms": math.inf,
    "legacy_iterator": False,
    "isolation_level": "read_uncommitted",
    "exclude_internal_topics": True,
    "allow_auto_create_topics": True,
    "client_rack": "",
    "enable_incremental_fetch_sessions": True,
    "metric_group_prefix": "consumer",
}

ADMIN_DEFAULTS: dict[str, Any] = {**COMMON_DEFAULTS, "metric_group_prefix": "admin"}

_TABLES: dict[str, dict[str, Any]] = {
    "producer": PRODUCER_DEFAULTS,
    "consumer": CONSUMER_DEFAULTS,
    "admin": ADMIN_DEFAULTS,
}


def config_keys(kind: str) -> frozenset[str]:
    """The config keys a client kind ("producer", "consumer", "admin") accepts."""
    return frozenset(_TABLES[kind])


# --- parsing helpers --------------------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z0-9_]+://")


def parse_bootstrap_servers(value: Any) -> list[tuple[str, int]]:
    """Parse 'host[:port]', 'h1:p1,h2:p2', '[::1]:9092' or a list of those into (host, port) pairs.

    A leading 'PROTOCOL://' is ignored (as the Java client does); the default port is 9092.
    """
    if isinstance(value, str):
        items = [s for s in (p.strip() for p in value.split(",")) if s]
    elif isinstance(value, (list, tuple)):
        items = []
        for v in value:
            if not isinstance(v, str):
                raise KafkaConfigurationError(
                    f"bootstrap_servers entries must be 'host[:port]' strings, got {v!r} ({type(v).__name__})"
                )
            items.extend(s for s in (p.strip() for p in v.split(",")) if s)
    else:
        raise KafkaConfigurationError(
            f"bootstrap_servers must be 'host[:port]' or a list of them, got {value!r} ({type(value).__name__})"
        )
    if not items:
        raise KafkaConfigurationError("bootstrap_servers is empty: give at least one 'host[:port]'")
    out: list[tuple[str, int]] = []
    for item in items:
        hp = _SCHEME.sub("", item)
        port_s: str | None
        if hp.startswith("["):
            end = hp.find("]")
            if end < 0:
                raise KafkaConfigurationError(
                    f"bootstrap_servers entry {item!r}: unclosed '[' in IPv6 address"
                )
            host, rest = hp[1:end], hp[end + 1 :]
            if rest and not rest.startswith(":"):
                raise KafkaConfigurationError(f"bootstrap_servers entry {item!r}: expected ':port' after ']'")
            port_s = rest[1:] if rest else None
        elif hp.count(":") > 1:  # a bare IPv6 address, no port
            host, port_s = hp, None
        elif ":" in hp:
            host, port_s = hp.rsplit(":", 1)
        else:
            host, port_s = hp, None
        if not host:
            raise KafkaConfigurationError(f"bootstrap_servers entry {item!r} has no host")
        if port_s is None or port_s == "":
            port = DEFAULT_PORT
        else:
            try:
                port = int(port_s)
            except ValueError:
                raise KafkaConfigurationError(
                    f"bootstrap_servers entry {item!r}: port {port_s!r} is not a number"
                ) from None
            if not 0 < port < 65536:
                raise KafkaConfigurationError(f"bootstrap_servers entry {item!r}: port {port} out of range")
        out.append((host, port))
    return out


# --- validators -------------------------------------------------------------------------------

Validator = Callable[[dict[str, Any]], None]


def _bad(key: str, value: Any, expect: str) -> KafkaConfigurationError:
    return KafkaConfigurationError(f"invalid value for {key}: {value!r} ({expect})")


def _int_at_least(
    cfg: dict[str, Any], key: str, lo: int, *, allow_none: bool = False, allow_inf: bool = False
) -> None:
    v = cfg[key]
    if v is None and allow_none:
        return
    if allow_inf and isinstance(v, float) and math.isinf(v) and v > 0:
        return
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer() and v >= lo:
            cfg[key] = int(v)
            return
        raise _bad(key, v, f"expected an integer >= {lo}")
    if v < lo:
        raise _bad(key, v, f"must be >= {lo}")


def _common(cfg: dict[str, Any]) -> None:
    cfg["bootstrap_hosts"] = parse_bootstrap_servers(cfg["bootstrap_servers"])
    if cfg["client_id"] is not None and not isinstance(cfg["client_id"], str):
        raise _bad("client_id", cfg["client_id"], "expected a string")
    for key in (
        "request_timeout_ms",
        "reconnect_backoff_ms",
        "reconnect_backoff_max_ms",
        "retry_backoff_ms",
        "metadata_max_age_ms",
        "connections_max_idle_ms",
        "bootstrap_timeout_ms",
        "api_version_auto_timeout_ms",
    ):
        _int_at_least(cfg, key, 0)
    _int_at_least(cfg, "max_in_flight_requests_per_connection", 1)
    _int_at_least(cfg, "receive_buffer_bytes", 1, allow_none=True)
    _int_at_least(cfg, "send_buffer_bytes", 1, allow_none=True)
    _int_at_least(cfg, "metrics_num_samples", 1)
    _int_at_least(cfg, "metrics_sample_window_ms", 1)
    _int_at_least(cfg, "receive_message_max_bytes", 1)
    opts = cfg["socket_options"]
    if not isinstance(opts, (list, tuple)) or not all(
        isinstance(o, (list, tuple)) and len(o) == 3 for o in opts
    ):
        raise _bad("socket_options", opts, "expected a list of (level, optname, value) tuples")
    sp = cfg["security_protocol"]
    if sp not in SECURITY_PROTOCOLS:
        raise _bad("security_protocol", sp, f"expected one of {', '.join(SECURITY_PROTOCOLS)}")
    if cfg["ssl_context"] is not None and not isinstance(cfg["ssl_context"], ssl.SSLContext):
        raise _bad("ssl_context", cfg["ssl_context"], "expected an ssl.SSLContext")
    if sp.startswith("SASL"):
        mech = cfg["sasl_mechanism"]
        if mech is None:
            raise KafkaConfigurationError(
                f"security_protocol={sp} needs sasl_mechanism (one of {', '.join(SUPPORTED_SASL_MECHANISMS)})"
            )
        if mech not in SUPPORTED_SASL_MECHANISMS:
            raise KafkaConfigurationError(
                f"sasl_mechanism={mech!r} is not supported yet by kafkakit; "
                f"use one of {', '.join(SUPPORTED_SASL_MECHANISMS)}"
            )
        if cfg["sasl_plain_username"] is None or cfg["sasl_plain_password"] is None:
            raise KafkaConfigurationError(
                f"sasl_mechanism={mech} needs sasl_plain_username and sasl_plain_password"
            )
    if cfg["socks5_proxy"] is not None or cfg["proxy_url"] is not None:
        raise KafkaConfigurationError(
            "socks5_proxy/proxy_url are not supported yet by kafkakit; leave them None"
        )
    av = cfg["api_version"]
    if av is not None:
        if isinstance(av, str):
            try:
                av = tuple(int(p) for p in av.split("."))
            except ValueError:
                raise _bad(
                    "api_version", cfg["api_version"], "expected a tuple of ints like (2, 8, 0)"
                ) from None
            cfg["api_version"] = av
        if (
            not isinstance(av, tuple)
            or not av
            or not all(isinstance(p, int) and not isinstance(p, bool) for p in av)
        ):
            raise _bad(
                "api_version", av, "expected None (probe the broker) or a tuple of ints like (2, 8, 0)"
            )
    reporters = cfg["metric_reporters"]
    if not isinstance(reporters, (list, tuple)):
        raise _bad("metric_reporters", reporters, "expected a list of reporter classes")


def _callable_or_none(cfg: dict[str, Any], key: str) -> None:
    v = cfg[key]
    if v is not None and not callable(v):
        raise _bad(key, v, "expected a callable or None")


def _producer(cfg: dict[str, Any]) -> None:
    if cfg["client_id"] is None:
        cfg["client_id"] = f"kafkakit-producer-{uuid.uuid4().hex[:8]}"
    acks = cfg["acks"]
    if acks == "all":
        acks = -1
    if isinstance(acks, str) and acks.lstrip("-").isdigit():
        acks = int(acks)
    if isinstance(acks, bool) or acks not in (0, 1, -1):
        raise _bad("acks", cfg["acks"], "expected 0, 1, 'all' or -1")
    cfg["acks"] = acks
    ct = cfg["compression_type"]
    if ct is not None:
        if not isinstance(ct, str) or ct.lower() not in ("none", "gzip", "snappy", "lz4", "zstd"):
            raise _bad("compression_type", ct, "expected None, 'gzip', 'snappy', 'lz4' or 'zstd'")
        ct = None if ct.lower() == "none" else ct.lower()
    cfg["compression_type"] = ct
    _int_at_least(cfg, "retries", 0, allow_inf=True)
    for key in ("batch_size", "linger_ms", "max_block_ms", "transaction_timeout_ms"):
        _int_at_least(cfg, key, 0)
    _int_at_least(cfg, "buffer_memory", 1)
    _int_at_least(cfg, "max_request_size", 1)
    _int_at_least(cfg, "delivery_timeout_ms", 1)
    for key in ("key_serializer", "value_serializer", "partitioner"):
        _callable_or_none(cfg, key)
    if cfg["transactional_id"] is not None:
        raise KafkaConfigurationError(
            "transactional_id is not supported yet by kafkakit's producer; leave it None "
            "(enable_idempotence=True gives exactly-once per partition)"
        )
    if cfg["enable_idempotence"]:
        if cfg["acks"] != -1:
            if "acks" in cfg.get("_explicit", ()):
                raise KafkaConfigurationError(
                    f"enable_idempotence=True requires acks='all', got acks={cfg['acks']!r}"
                )
            cfg["acks"] = -1
        if cfg["max_in_flight_requests_per_connection"] > 5:
            raise KafkaConfigurationError(
                "enable_idempotence=True requires max_in_flight_requests_per_connection <= 5, got "
                f"{cfg['max_in_flight_requests_per_connection']}"
            )
        if cfg["retries"] == 0:
            if "retries" in cfg.get("_explicit", ()):
                raise KafkaConfigurationError("enable_idempotence=True requires retries > 0, got retries=0")
            cfg["retries"] = math.inf
    if not isinstance(cfg["allow_auto_create_topics"], bool):
        raise _bad("allow_auto_create_topics", cfg["allow_auto_create_topics"], "expected True or False")


def _consumer(cfg: dict[str, Any]) -> None:
    if cfg["client_id"] is None:
        cfg["client_id"] = f"kafkakit-consumer-{uuid.uuid4().hex[:8]}"
    reset = cfg["auto_offset_reset"]
    aliases = {"smallest": "earliest", "largest": "latest"}
    if not isinstance(reset, str) or aliases.get(reset, reset) not in ("earliest", "latest", "none"):
        raise _bad("auto_offset_reset", reset, "expected 'earliest', 'latest' or 'none'")
    cfg["auto_offset_reset"] = aliases.get(reset, reset)
    if cfg["isolation_level"] not in ("read_uncommitted", "read_committed"):
        raise _bad(
            "isolation_level", cfg["isolation_level"], "expected 'read_uncommitted' or 'read_committed'"
        )
    for key in (
        "auto_commit_interval_ms",
        "fetch_min_bytes",
        "fetch_max_wait_ms",
        "fetch_max_bytes",
        "max_partition_fetch_bytes",
        "max_poll_interval_ms",
        "session_timeout_ms",
        "heartbeat_interval_ms",
    ):
        _int_at_least(cfg, key, 0)
    _int_at_least(cfg, "max_poll_records", 1)
    if cfg["heartbeat_interval_ms"] >= cfg["session_timeout_ms"]:
        raise KafkaConfigurationError(
            f"heartbeat_interval_ms ({cfg['heartbeat_interval_ms']}) must be below session_timeout_ms "
            f"({cfg['session_timeout_ms']}), typically a third of it"
        )
    ct = cfg["consumer_timeout_ms"]
    if isinstance(ct, bool) or not isinstance(ct, (int, float)) or ct < 0:
        raise _bad("consumer_timeout_ms", ct, "expected a number of milliseconds >= 0 or float('inf')")
    for key in ("key_deserializer", "value_deserializer", "default_offset_commit_callback"):
        _callable_or_none(cfg, key)
    if cfg["group_id"] is not None and not isinstance(cfg["group_id"], str):
        raise _bad("group_id", cfg["group_id"], "expected a string or None")


def _consumer_strategy(cfg: dict[str, Any]) -> None:
    """partition_assignment_strategy, deserializers and group_instance_id (after ``_consumer``)."""
    # imported here: the consumer package imports this module
    from kafkakit.client.consumer.assignors import resolve_assignors
    from kafkakit.client.consumer.records import make_deserializer

    resolve_assignors(cfg["partition_assignment_strategy"])
    for key in ("key_deserializer", "value_deserializer"):
        try:
            make_deserializer(cfg[key])
        except TypeError as exc:
            raise KafkaConfigurationError(f"invalid value for {key}: {exc}") from None
    if cfg["group_instance_id"] is not None:
        if not isinstance(cfg["group_instance_id"], str) or not cfg["group_instance_id"]:
            raise KafkaConfigurationError(
                f"invalid value for group_instance_id: {cfg['group_instance_id']!r} (expected a non-empty string)"
            )
        if cfg["group_id"] is None:
            raise KafkaConfigurationError("group_instance_id needs a group_id")


def _admin(cfg: dict[str, Any]) -> None:
    if cfg["client_id"] is None:
        cfg["client_id"] = f"kafkakit-admin-{uuid.uuid4().hex[:8]}"


_VALIDATORS: dict[str, list[Validator]] = {
    "producer": [_common, _producer],
    "consumer": [_common, _consumer, _consumer_strategy],
    "admin": [_common, _admin],
}


def resolve_config(
    kind: str,
    configs: Mapping[str, Any],
    *,
    extra_defaults: Mapping[str, Any] | None = None,
    extra_validators: list[Validator] | None = None,
) -> dict[str, Any]:
    """Merge ``configs`` over the defaults of ``kind`` ('producer', 'consumer', 'admin') and validate.

    ``extra_defaults``/``extra_validators`` let a client class accept keys of its own. The result
    also holds ``bootstrap_hosts`` (parsed bootstrap_servers) and ``_explicit`` (keys the user gave).
    """
    try:
        table = _TABLES[kind]
    except KeyError:
        raise ValueError(f"unknown client kind {kind!r}; expected one of {sorted(_TABLES)}") from None
    defaults = dict(table)
    if extra_defaults:
        defaults.update(extra_defaults)
    unknown = set(configs) - set(defaults)
    if unknown:
        raise UnrecognizedConfigError(f"Unrecognized configs: {unknown}")
    cfg = dict(defaults)
    cfg["socket_options"] = list(cfg["socket_options"])
    cfg["metric_reporters"] = list(cfg["metric_reporters"])
    cfg.update(configs)
    cfg["_explicit"] = frozenset(configs)
    for validate in _VALIDATORS[kind] + list(extra_validators or ()):
        validate(cfg)
    return cfg
