"""The asyncio client core: config validation, the loop thread, BrokerConnection and AsyncClient.

Real sockets throughout: real brokers through the ``bootstrap`` fixture (versions checked against
tests.infra's independent wire client), and small scripted loopback servers for the failure modes a
real broker will not produce on demand (silence, disconnects, old ApiVersions).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkakit.client.cluster import AsyncClient, ClusterMetadata
from kafkakit.client.config import UnrecognizedConfigError, parse_bootstrap_servers, resolve_config
from kafkakit.client.connection import CLIENT_MAX_VERSIONS, BrokerConnection, ReconnectBackoff
from kafkakit.client.loop import LoopThread
from kafkakit.errors import (
    IllegalStateError,
    KafkaConfigurationError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NoBrokersAvailable,
    TLSVerificationError,
)
from kafkakit.protocol import frame as F
from kafkakit.protocol.apis import API_BY_KEY, api
from tests.infra import api_versions, create_topics, free_port, parse_bootstrap

# --- config ------------------------------------------------------------------------------------


def test_unknown_config_key_is_named() -> None:
    with pytest.raises(UnrecognizedConfigError) as ei:
        resolve_config("producer", {"foo": 1, "acks": 1})
    assert "Unrecognized configs: {'foo'}" in str(ei.value)
    assert isinstance(ei.value, ValueError)  # kafka-python raises ValueError here
    assert isinstance(ei.value, KafkaConfigurationError)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("acks", 2),
        ("acks", "some"),
        ("compression_type", "brotli"),
        ("linger_ms", -1),
        ("batch_size", "big"),
        ("api_version", [2, 8]),
        ("api_version", "x.y"),
        ("retries", -1),
        ("max_in_flight_requests_per_connection", 0),
        ("security_protocol", "TLS"),
        ("key_serializer", "not callable"),
        ("bootstrap_servers", 9092),
        ("bootstrap_servers", "host:notaport"),
    ],
)
def test_invalid_values_raise_naming_the_key(key: str, value: Any) -> None:
    with pytest.raises(KafkaConfigurationError) as ei:
        resolve_config("producer", {key: value})
    msg = str(ei.value)
    assert (key in msg) or ("bootstrap_servers" in msg)


def test_defaults_and_normalisation() -> None:
    cfg = resolve_config("producer", {})
    assert cfg["acks"] == 1 and cfg["retries"] == 0 and cfg["linger_ms"] == 0
    assert cfg["batch_size"] == 16384 and cfg["enable_idempotence"] is False
    assert cfg["buffer_memory"] == 33554432 and cfg["max_block_ms"] == 60000
    assert cfg["bootstrap_hosts"] == [("localhost", 9092)]
    assert resolve_config("producer", {"acks": "all"})["acks"] == -1
    assert resolve_config("producer", {"compression_type": "GZIP"})["compression_type"] == "gzip"
    assert resolve_config("producer", {"api_version": "2.8.0"})["api_version"] == (2, 8, 0)
    idem = resolve_config("producer", {"enable_idempotence": True})
    assert idem["acks"] == -1 and idem["retries"] > 0
    with pytest.raises(KafkaConfigurationError, match="acks"):
        resolve_config("producer", {"enable_idempotence": True, "acks": 1})
    with pytest.raises(KafkaConfigurationError, match="not supported"):
        resolve_config("producer", {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "GSSAPI"})
    consumer = resolve_config("consumer", {"auto_offset_reset": "smallest"})
    assert consumer["auto_offset_reset"] == "earliest" and consumer["session_timeout_ms"] == 10000
    with pytest.raises(KafkaConfigurationError, match="heartbeat_interval_ms"):
        resolve_config("consumer", {"heartbeat_interval_ms": 20000})
    with pytest.raises(UnrecognizedConfigError):
        resolve_config("admin", {"acks": 1})


def test_bootstrap_servers_parsing() -> None:
    assert parse_bootstrap_servers("h") == [("h", 9092)]
    assert parse_bootstrap_servers("h:1234, k") == [("h", 1234), ("k", 9092)]
    assert parse_bootstrap_servers(["[::1]:9093", "::1", "PLAINTEXT://x:7"]) == [
        ("::1", 9093),
        ("::1", 9092),
        ("x", 7),
    ]
    bad: Any
    for bad in ("h:0", "h:70000", "[::1", "", []):
        with pytest.raises(KafkaConfigurationError):
            parse_bootstrap_servers(bad)


def test_reconnect_backoff_grows_with_jitter_and_caps() -> None:
    b = ReconnectBackoff(50, 1000)
    delays = [b.failed(0.0) for _ in range(8)]
    assert 0.04 <= delays[0] <= 0.06
    assert 0.08 <= delays[1] <= 0.12
    assert all(d <= 1.0 for d in delays) and delays[-1] >= 0.8
    b.succeeded()
    assert b.delay(0.0) == 0.0 and b.failures == 0


# --- loop thread -------------------------------------------------------------------------------


def test_loop_thread_runs_times_out_and_stops() -> None:
    lt = LoopThread("t").start()
    try:

        async def add(a: int, b: int) -> int:
            await asyncio.sleep(0)
            return a + b

        assert lt.run(add(1, 2)) == 3
        cancelled = threading.Event()

        async def slow() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        with pytest.raises(KafkaTimeoutError):
            lt.run(slow(), timeout=0.05)
        assert cancelled.wait(5)

        async def inner() -> None:
            coro = add(1, 1)
            with pytest.raises(IllegalStateError):
                lt.run(coro)

        lt.run(inner())
        seen: list[int] = []
        done = threading.Event()

        def mark() -> None:
            seen.append(threading.get_ident())
            done.set()

        lt.call_soon_threadsafe(mark)
        assert done.wait(5) and seen == [lt.thread_id]
    finally:
        lt.stop()
        lt.stop()
    assert not lt.running


# --- scripted servers --------------------------------------------------------------------------


class ScriptedServer:
    """A loopback TCP server whose per-connection behaviour is a function of the socket."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.conns: list[socket.socket] = []
        self.requests: list[tuple[int, int, int]] = []  # (api_key, version, correlation id)
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        try:
            self.handler(c)
        except OSError:
            pass

    def read_request(self, c: socket.socket) -> tuple[int, int, int] | None:
        """Read one request frame; return its (api_key, api_version, correlation_id)."""
        head = _recv_exact(c, 4)
        if head is None:
            return None
        (size,) = struct.unpack(">i", head)
        body = _recv_exact(c, size)
        if body is None:
            return None
        key, version, cid = struct.unpack_from(">hhi", body, 0)
        self.requests.append((key, version, cid))
        return key, version, cid

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def _recv_exact(c: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


# Kafka refuses ApiVersions v3+ without a client software name (INVALID_REQUEST)
AV_BODY = {"client_software_name": "kafkakit-tests", "client_software_version": "1.0"}

API_RANGES = {k: (a.min_version, a.max_version) for k, a in API_BY_KEY.items()}


def _api_versions_body(ranges: dict[int, tuple[int, int]], error: int = 0) -> dict[str, Any]:
    return {
        "error_code": error,
        "api_keys": [{"api_key": k, "min_version": lo, "max_version": hi} for k, (lo, hi) in ranges.items()],
        "throttle_time_ms": 0,
    }


def answer_api_versions(server: ScriptedServer, c: socket.socket, ranges: dict[int, tuple[int, int]]) -> None:
    req = server.read_request(c)
    assert req is not None
    _key, version, cid = req
    c.sendall(F.encode_response(api("ApiVersions"), version, cid, _api_versions_body(ranges)))


@pytest.fixture
def run() -> Iterator[Callable[..., Any]]:
    lt = LoopThread("test-core").start()
    yield lambda coro, timeout=30: lt.run(coro, timeout)
    lt.stop()


def _cfg(**kw: Any) -> dict[str, Any]:
    return resolve_config("admin", kw)


def test_api_versions_falls_back_per_kip511(run: Callable[..., Any]) -> None:
    """A broker that knows ApiVersions only up to v2 answers v3 with a v0 UNSUPPORTED_VERSION reply."""
    old = dict(API_RANGES)
    old[18] = (0, 2)
    old[3] = (0, 8)

    def handler(c: socket.socket) -> None:
        req = server.read_request(c)
        assert req is not None
        # the UNSUPPORTED_VERSION answer is always v0-encoded and lists the ApiVersions range
        c.sendall(F.encode_response(api("ApiVersions"), 0, req[2], _api_versions_body(old, 35)))
        answer_api_versions(server, c, old)
        time.sleep(5)

    server = ScriptedServer(handler)
    try:

        async def go() -> tuple[int, int]:
            conn = BrokerConnection("127.0.0.1", server.port, node_id=1, config=_cfg())
            await conn.connect(5)
            try:
                return conn.version("Metadata"), conn.version("ApiVersions")
            finally:
                conn.close()

        assert run(go()) == (8, 2)
        assert [(k, v) for k, v, _ in server.requests] == [(18, 3), (18, 2)]
    finally:
        server.close()


def test_request_timeout_and_disconnect_fail_in_flight(run: Callable[..., Any]) -> None:
    def silent(c: socket.socket) -> None:
        answer_api_versions(server, c, API_RANGES)
        while server.read_request(c) is not None:
            if len(server.requests) >= 4:  # handshake + 3 requests: hang up without answering
                c.close()
                return

    server = ScriptedServer(silent)
    try:

        async def go() -> list[str]:
            conn = BrokerConnection(
                "127.0.0.1", server.port, node_id=1, config=_cfg(request_timeout_ms=60000)
            )
            await conn.connect(5)
            futs = [conn.send("Metadata", {"topics": []}) for _ in range(3)]
            assert conn.in_flight == 3
            out = []
            for f in futs:
                try:
                    await f
                except KafkaConnectionError as exc:
                    out.append(type(exc).__name__)
            assert conn.closed and conn.in_flight == 0
            after = conn.send("Metadata", {"topics": []})
            with pytest.raises(KafkaConnectionError):
                await after
            return out

        assert run(go()) == ["KafkaConnectionError"] * 3
    finally:
        server.close()

    def mute(c: socket.socket) -> None:
        answer_api_versions(server2, c, API_RANGES)
        while server2.read_request(c) is not None:
            pass

    server2 = ScriptedServer(mute)
    try:

        async def go2() -> tuple[type, type, bool]:
            conn = BrokerConnection("127.0.0.1", server2.port, node_id=1, config=_cfg(request_timeout_ms=200))
            await conn.connect(5)
            f1 = conn.send("Metadata", {"topics": []})
            f2 = conn.send("Metadata", {"topics": []}, timeout_ms=60000)
            e1 = await asyncio.gather(f1, return_exceptions=True)
            e2 = await asyncio.gather(f2, return_exceptions=True)
            return type(e1[0]), type(e2[0]), conn.closed

        t1, t2, closed = run(go2())
        assert t1 is KafkaTimeoutError and t2 is KafkaConnectionError and closed
    finally:
        server2.close()


def test_pipelining_matches_out_of_band_versions(bootstrap: str, run: Callable[..., Any]) -> None:
    host, port = parse_bootstrap(bootstrap)[0]
    broker_ranges = api_versions(host, port)

    async def go() -> tuple[dict[int, int], list[int]]:
        conn = BrokerConnection(host, port, node_id=-1, config=_cfg(max_in_flight_requests_per_connection=3))
        await conn.connect(10)
        try:
            negotiated = {}
            for key in broker_ranges:
                if key in API_BY_KEY and conn.supports(key):
                    negotiated[key] = conn.version(key)
            # more concurrent requests than slots: request() waits for a slot, all complete in order
            results = await asyncio.gather(*(conn.request("ApiVersions", AV_BODY) for _ in range(10)))
            return negotiated, [r["error_code"] for r in results]
        finally:
            conn.close()

    negotiated, codes = run(go())
    assert codes == [0] * 10
    for key, v in negotiated.items():
        ours = min(API_BY_KEY[key].max_version, CLIENT_MAX_VERSIONS.get(key, 99))
        assert v == min(ours, broker_ranges[key][1])
    assert 3 in negotiated and 0 in negotiated


# --- AsyncClient -------------------------------------------------------------------------------


def test_bootstrap_skips_dead_servers_and_routes(
    bootstrap: str, topic_name: str, run: Callable[..., Any]
) -> None:
    host, port = parse_bootstrap(bootstrap)[0]
    create_topics(host, port, {topic_name: (3, -1)})
    dead = free_port()
    cfg = resolve_config("producer", {"bootstrap_servers": [f"127.0.0.1:{dead}", bootstrap]})

    async def go() -> tuple[ClusterMetadata, Any, int | None, set[int | None], int]:
        client = AsyncClient(cfg)
        try:
            cluster = await client.bootstrap(20)
            assert client.bootstrap_connected()
            parts = await client.wait_for_topic(topic_name, 20)
            node = client.least_loaded_node()
            leaders = {client.cluster.leader_for_partition((topic_name, p)) for p in parts}  # type: ignore[arg-type]
            resp = await client.send(next(iter(leaders)), "Metadata", {"topics": [{"name": topic_name}]})  # type: ignore[arg-type]
            any_resp = await client.send_to_any("ApiVersions", AV_BODY)
            return cluster, resp, node, leaders, any_resp["error_code"]
        finally:
            await client.close()

    cluster, resp, node, leaders, code = run(go(), 60)
    assert cluster.brokers() and node in cluster.broker_ids()
    assert leaders <= set(cluster.broker_ids())
    assert [t["name"] for t in resp["topics"]] == [topic_name]
    assert len(resp["topics"][0]["partitions"]) == 3
    assert code == 0


def test_concurrent_refreshes_coalesce(bootstrap: str, run: Callable[..., Any]) -> None:
    cfg = resolve_config("producer", {"bootstrap_servers": bootstrap})

    async def go() -> int:
        client = AsyncClient(cfg)
        try:
            await client.bootstrap(20)
            await client.refresh_metadata()
            conn = client.connection(client.least_loaded_node())  # type: ignore[arg-type]
            assert conn is not None
            before = conn._next_cid
            results = await asyncio.gather(*(client.refresh_metadata() for _ in range(20)))
            assert all(r is results[0] for r in results)
            return conn._next_cid - before
        finally:
            await client.close()

    assert run(go(), 60) == 1


def test_no_brokers_available_is_bounded(run: Callable[..., Any]) -> None:
    cfg = resolve_config(
        "producer", {"bootstrap_servers": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    )

    async def go() -> None:
        client = AsyncClient(cfg)
        try:
            await client.bootstrap(0.5)
        finally:
            await client.close()

    with pytest.raises(NoBrokersAvailable, match="bootstrap_servers"):
        run(go(), 30)


def test_unknown_topic_wait_is_bounded(
    bootstrap: str, bootstrap_broker: str, topic_name: str, run: Callable[..., Any]
) -> None:
    if bootstrap_broker == "tansu":
        pytest.skip("tansu creates topics on Metadata even when auto-creation is not allowed")
    cfg = resolve_config("admin", {"bootstrap_servers": bootstrap})

    async def go() -> None:
        client = AsyncClient(cfg)
        try:
            await client.bootstrap(20)
            await client.wait_for_topic(topic_name, 0.5)
        finally:
            await client.close()

    with pytest.raises(KafkaTimeoutError, match=topic_name):
        run(go(), 30)


def test_reconnects_after_connection_loss(bootstrap: str, run: Callable[..., Any]) -> None:
    cfg = resolve_config("producer", {"bootstrap_servers": bootstrap, "reconnect_backoff_ms": 10})

    async def go() -> tuple[bool, int]:
        client = AsyncClient(cfg)
        try:
            await client.bootstrap(20)
            node = client.cluster.broker_ids()[0]
            conn = await client.get_connection(node)
            conn.close(KafkaConnectionError("test closes it"))
            resp = await client.send(node, "ApiVersions", AV_BODY)
            fresh = await client.get_connection(node)
            return fresh is not conn and fresh.connected, resp["error_code"]
        finally:
            await client.close()

    assert run(go(), 60) == (True, 0)


def test_tls_connection_through_a_tls_proxy(bootstrap: str, run: Callable[..., Any], tmp_path: Any) -> None:
    """security_protocol='SSL': the handshake and requests go through a TLS-terminating proxy."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    host, port = parse_bootstrap(bootstrap)[0]
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(str(cert), str(key))

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        r2, w2 = await asyncio.open_connection(host, port)
        await asyncio.gather(pipe(reader, w2), pipe(r2, writer), return_exceptions=True)

    async def go() -> tuple[int, str]:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        proxy_port = server.sockets[0].getsockname()[1]
        try:
            conn = BrokerConnection(
                "127.0.0.1",
                proxy_port,
                node_id=-1,
                config=_cfg(security_protocol="SSL", ssl_cafile=str(cert)),
            )
            await conn.connect(10)
            resp = await conn.request("Metadata", {"topics": []})
            conn.close()
            untrusted = BrokerConnection(
                "127.0.0.1", proxy_port, node_id=-1, config=_cfg(security_protocol="SSL")
            )
            try:
                await untrusted.connect(10)
                failure = "connected"
            except KafkaConnectionError as exc:
                assert isinstance(exc, TLSVerificationError) and not exc.retriable
                failure = str(exc)
            return len(resp["brokers"]), failure
        finally:
            server.close()

    nbrokers, failure = run(go())
    assert nbrokers >= 1
    assert "CERTIFICATE_VERIFY_FAILED" in failure or "certificate verify failed" in failure


# --- framing -----------------------------------------------------------------------------------


class _FrameSink:
    """Receives the frames _KafkaProtocol cuts out of the byte stream (the connection's side)."""

    max_frame = 100_000_000
    closed = False

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def _on_frame(self, frame: bytes) -> None:
        self.frames.append(frame)

    def _fatal(self, exc: BaseException) -> None:
        raise AssertionError(f"unexpected fatal: {exc}")


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([4, 5, 100, 70_000, 262_144, 300_001, 1_100_000]), min_size=1, max_size=6),
    cuts=st.lists(st.integers(1, 400_000), min_size=1, max_size=40),
)
def test_frames_survive_any_chunking(sizes: list[int], cuts: list[int]) -> None:
    """Small frames and large ones (collected as chunks and joined) come out byte for byte, whatever
    the chunk boundaries -- a large frame's last chunk may carry the start of the next frame."""
    from kafkakit.client.connection import _KafkaProtocol

    frames = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    stream = b"".join(struct.pack(">i", len(f)) + f for f in frames)
    sink = _FrameSink()
    proto = _KafkaProtocol(sink)  # type: ignore[arg-type]
    pos = 0
    for cut in cuts * (len(stream) // max(1, sum(cuts)) + 1):
        if pos >= len(stream):
            break
        proto.data_received(stream[pos : pos + cut])
        pos += cut
    if pos < len(stream):
        proto.data_received(stream[pos:])
    assert [len(f) for f in sink.frames] == sizes
    assert sink.frames == frames
