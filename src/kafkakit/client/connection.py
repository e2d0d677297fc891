"""BrokerConnection: one asyncio TCP (or TLS) connection to one Kafka broker.

How it works: ``await conn.connect(timeout)`` resolves the host, opens the socket (TCP_NODELAY,
socket_options, send/receive buffer sizes applied before connecting), wraps it in TLS when the
security protocol asks for it, then does the ApiVersions handshake: v3 first; a broker that does not
know v3 answers with a v0-encoded UNSUPPORTED_VERSION reply listing its ApiVersions range (KIP-511),
and the handshake is retried at the highest version both sides know (v0 if the connection was simply
dropped). Each API is then spoken at ``min(ours, broker's max)`` (``conn.version(api)``). SASL PLAIN and
SCRAM-SHA-256/512 authenticate after the handshake (SaslHandshake v1 + SaslAuthenticate).

``conn.send(api, body, version=None, expect_response=True, timeout_ms=None)`` is a plain (non-async)
method: it frames the request with the next correlation id, writes it to the transport and returns an
``asyncio.Future`` resolved with the decoded response dict (or ``None`` right after the write when no
response is expected, e.g. acks=0 Produce). Requests are pipelined; the caller respects
``can_send()`` (in-flight < max_in_flight_requests_per_connection) or uses ``await conn.request(...)``,
which waits for a free slot. Responses arrive in request order and are matched by correlation id.
A request not answered within its timeout fails with KafkaTimeoutError and closes the connection; a
closed or broken connection fails every in-flight future with KafkaConnectionError.

``ReconnectBackoff`` computes reconnect delays: reconnect_backoff_ms doubling per consecutive failure up
to reconnect_backoff_max_ms, with +-20 % jitter.

What it must never do: block the event loop, assume it owns a thread, leave a future unresolved when
the connection goes away, or deliver a response to the wrong request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import random
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from kafkakit import __version__
from kafkakit.errors import (
    CorrelationIdError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    SaslAuthenticationFailedError,
    TLSVerificationError,
    UnsupportedVersionError,
    for_code,
)
from kafkakit.protocol import frame as F
from kafkakit.protocol.apis import API_BY_KEY, API_BY_NAME
from kafkakit.protocol.schema import Api

log = logging.getLogger(__name__)

__all__ = ["CLIENT_MAX_VERSIONS", "BrokerConnection", "ReconnectBackoff", "build_ssl_context"]

# Highest version of each API this client sends, when lower than the codec's maximum.
# Produce v13 addresses topics by id only: stay at v12 so requests can name topics.
CLIENT_MAX_VERSIONS: dict[int, int] = {0: 12}

# can_send() says no while this many bytes wait in the transport (requests without responses, acks=0)
WRITE_BACKLOG_LIMIT = 4 * 1024 * 1024

_SIZE = struct.Struct(">i")
_SIZE_CORR = struct.Struct(">ii")
_I16 = struct.Struct(">h")
API_VERSIONS_KEY = 18
_HANDSHAKE_VERSION = 3


def build_ssl_context(config: Mapping[str, Any]) -> ssl.SSLContext:
    """The TLS context for security_protocol SSL/SASL_SSL, from ssl_context or the ssl_* options."""
    ctx = config.get("ssl_context")
    if ctx is not None:
        return ctx  # type: ignore[no-any-return]
    ctx = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH, cafile=config.get("ssl_cafile"))
    ctx.check_hostname = bool(config.get("ssl_check_hostname", True))
    if config.get("ssl_certfile"):
        ctx.load_cert_chain(
            config["ssl_certfile"], keyfile=config.get("ssl_keyfile"), password=config.get("ssl_password")
        )
    if config.get("ssl_crlfile"):
        ctx.load_verify_locations(config["ssl_crlfile"])
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    if config.get("ssl_ciphers"):
        ctx.set_ciphers(config["ssl_ciphers"])
    return ctx


class ReconnectBackoff:
    """Exponential reconnect backoff with jitter, per node."""

    __slots__ = ("base", "cap", "failures", "next_attempt")

    def __init__(self, base_ms: int, max_ms: int) -> None:
        self.base = base_ms / 1000.0
        self.cap = max(max_ms, base_ms) / 1000.0
        self.failures = 0
        self.next_attempt = 0.0

    def failed(self, now: float) -> float:
        """Record a failed attempt at monotonic time ``now``; return the delay before the next one."""
        self.failures += 1
        delay = min(self.cap, self.base * (2 ** min(self.failures - 1, 30)))
        delay *= random.uniform(0.8, 1.2)
        delay = min(delay, self.cap)
        self.next_attempt = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.next_attempt = 0.0

    def delay(self, now: float) -> float:
        return max(0.0, self.next_attempt - now)


class _InFlight:
    __slots__ = ("correlation_id", "api", "version", "future", "timer", "sent_at")

    def __init__(
        self, correlation_id: int, api: Api, version: int, future: asyncio.Future[Any], sent_at: float
    ) -> None:
        self.correlation_id = correlation_id
        self.api = api
        self.version = version
        self.future = future
        self.timer: asyncio.TimerHandle | None = None
        self.sent_at = sent_at


# a frame at least this large is collected as a list of the chunks read and joined once
_BIG_FRAME = 256 * 1024


class _KafkaProtocol(asyncio.Protocol):
    """Splits the byte stream into frames and hands each to the connection.

    Small frames are cut out of one reusable buffer. A large one (a fetch response) is collected
    as the list of chunks the transport read and joined once it is complete: one fresh copy of
    its bytes instead of a growing buffer plus a copy out of it.
    """

    def __init__(self, conn: BrokerConnection) -> None:
        self.conn = conn
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.parts: list[bytes] | None = None  # chunks of the large frame being collected
        self.have = 0
        self.need = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        parts = self.parts
        if parts is not None:
            parts.append(data)
            self.have += len(data)
            if self.have < self.need:
                return
            self.parts = None
            over = self.have - self.need
            rest = b""
            if over:
                last = parts[-1]
                parts[-1], rest = last[: len(last) - over], last[len(last) - over :]
            self.conn._on_frame(b"".join(parts))
            if self.conn.closed or not rest:
                return
            data = rest
        buf = self.buf
        buf += data
        conn = self.conn
        n = len(buf)
        pos = 0
        while n - pos >= 4:
            size = _SIZE.unpack_from(buf, pos)[0]
            if size < 4 or size > conn.max_frame:
                conn._fatal(KafkaConnectionError(f"{conn}: invalid response frame size {size}; closing"))
                return
            end = pos + 4 + size
            if end > n:
                if size >= _BIG_FRAME:
                    self.parts = [bytes(buf[pos + 4 :])]
                    self.have = n - pos - 4
                    self.need = size
                    pos = n
                break
            with memoryview(buf) as mv, mv[pos + 4 : end] as part:
                frame = bytes(part)  # one copy (a bytearray slice would copy twice)
            pos = end
            conn._on_frame(frame)
            if conn.closed:
                return
        if pos:
            del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn._on_lost(exc)


class BrokerConnection:
    """A pipelined request/response connection to one broker (see module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        node_id: int,
        config: Mapping[str, Any],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.node_id = node_id
        self.config = config
        self.client_id: str | None = config.get("client_id")
        self.max_in_flight: int = int(config.get("max_in_flight_requests_per_connection", 5))
        self.request_timeout = float(config.get("request_timeout_ms", 30000)) / 1000.0
        self.max_frame = int(config.get("receive_message_max_bytes", 100000000))
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._protocol: _KafkaProtocol | None = None
        self._in_flight: deque[_InFlight] = deque()
        self._next_cid = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._close_listeners: list[Callable[[BrokerConnection, BaseException | None], None]] = []
        self.api_versions: dict[int, tuple[int, int]] = {}
        self._versions: dict[int, int] = {}
        self.connected = False
        self.closed = False
        self.close_error: BaseException | None = None
        self.last_activity = time.monotonic()
        self.connected_at = 0.0
        # latency of completed requests (seconds), read by metrics
        self.latency_sum = 0.0
        self.latency_count = 0

    def __repr__(self) -> str:
        return f"<BrokerConnection node={self.node_id} {self.host}:{self.port}>"

    def __str__(self) -> str:
        return f"connection to node {self.node_id} ({self.host}:{self.port})"

    # --- connect ---------------------------------------------------------------------------

    async def connect(self, timeout: float | None = None) -> None:
        """Open the socket, handshake ApiVersions and authenticate; raise KafkaConnectionError on failure."""
        if self.closed:
            raise KafkaConnectionError(f"{self} is closed")
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        if timeout is None:
            timeout = self.request_timeout
        try:
            await asyncio.wait_for(self._connect(loop), timeout)
        except asyncio.TimeoutError:
            err = KafkaConnectionError(
                f"{self}: connect and handshake did not complete within {timeout:.3g} s"
            )
            self.close(err)
            raise err from None
        except KafkaError as exc:
            self.close(exc)
            raise
        except ssl.SSLCertVerificationError as exc:
            tls_err = TLSVerificationError(
                f"{self}: TLS certificate verification failed ({exc}); "
                "check ssl_cafile (the CA that signed the broker's certificate) and ssl_check_hostname"
            )
            self.close(tls_err)
            raise tls_err from None
        except (OSError, ssl.SSLError, EOFError) as exc:
            err = KafkaConnectionError(f"{self}: {type(exc).__name__}: {exc}")
            self.close(err)
            raise err from None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        sock = await self._open_socket(loop)
        ssl_ctx: ssl.SSLContext | None = None
        if self.config.get("security_protocol", "PLAINTEXT") in ("SSL", "SASL_SSL"):
            ssl_ctx = build_ssl_context(self.config)
        transport, protocol = await loop.create_connection(
            lambda: _KafkaProtocol(self),
            sock=sock,
            ssl=ssl_ctx,
            server_hostname=self.host if ssl_ctx is not None else None,
        )
        self._transport = transport  # type: ignore[assignment]
        self._protocol = protocol
        self.connected = True
        self.connected_at = time.monotonic()
        await self._handshake()
        if self.config.get("security_protocol", "PLAINTEXT").startswith("SASL"):
            await self._sasl()

    async def _open_socket(self, loop: asyncio.AbstractEventLoop) -> socket.socket:
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        if not infos:
            raise KafkaConnectionError(f"{self}: host {self.host!r} does not resolve")
        last: BaseException | None = None
        for family, type_, proto, _canon, addr in infos:
            sock = socket.socket(family, type_, proto)
            try:
                sock.setblocking(False)
                if family in (socket.AF_INET, socket.AF_INET6):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for level, optname, value in self.config.get("socket_options", ()):
                    sock.setsockopt(level, optname, value)
                if self.config.get("send_buffer_bytes"):
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_SNDBUF, int(self.config["send_buffer_bytes"])
                    )
                if self.config.get("receive_buffer_bytes"):
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_RCVBUF, int(self.config["receive_buffer_bytes"])
                    )
                await loop.sock_connect(sock, addr)
                return sock
            except OSError as exc:
                sock.close()
                last = exc
        raise KafkaConnectionError(f"{self}: cannot connect: {last}")

    async def _handshake(self) -> None:
        body = {"client_software_name": "kafkakit", "client_software_version": __version__}
        api = API_BY_KEY[API_VERSIONS_KEY]
        version = _HANDSHAKE_VERSION
        for _attempt in range(3):
            resp = await self.send(api, body, version=version)
            code = resp["error_code"]
            ranges = {k["api_key"]: (k["min_version"], k["max_version"]) for k in resp["api_keys"]}
            if code == 0:
                self._set_versions(ranges)
                return
            if code == UnsupportedVersionError.errno and ranges.get(API_VERSIONS_KEY):
                broker_max = ranges[API_VERSIONS_KEY][1]
                new_version = min(_HANDSHAKE_VERSION, broker_max)
                if new_version == version:
                    break
                version = new_version
                continue
            if code == UnsupportedVersionError.errno and version > 0:
                version = 0
                continue
            raise for_code(code)(f"{self}: ApiVersions handshake failed")
        raise UnsupportedVersionError(f"{self}: broker refuses every ApiVersions version kafkakit speaks")

    def _set_versions(self, ranges: dict[int, tuple[int, int]]) -> None:
        self.api_versions = ranges
        versions: dict[int, int] = {}
        for key, (lo, hi) in ranges.items():
            api = API_BY_KEY.get(key)
            if api is None:
                continue
            ours = min(api.max_version, CLIENT_MAX_VERSIONS.get(key, api.max_version))
            v = min(ours, hi)
            if v >= max(lo, api.min_version):
                versions[key] = v
        self._versions = versions

    def version(self, api: Api | str | int) -> int:
        """The version to speak for ``api``: min(ours, broker's max); UnsupportedVersionError if none."""
        a = _api(api)
        v = self._versions.get(a.key)
        if v is None:
            if a.key == API_VERSIONS_KEY:
                return _HANDSHAKE_VERSION
            rng = self.api_versions.get(a.key)
            broker = f"versions {rng[0]}-{rng[1]}" if rng else "no version"
            raise UnsupportedVersionError(
                f"{self}: broker supports {broker} of {a.name}; kafkakit speaks {a.min_version}-"
                f"{min(a.max_version, CLIENT_MAX_VERSIONS.get(a.key, a.max_version))}"
            )
        return v

    def supports(self, api: Api | str | int) -> bool:
        return _api(api).key in self._versions

    async def _sasl(self) -> None:
        mech = self.config["sasl_mechanism"]
        resp = await self.send("SaslHandshake", {"mechanism": mech}, version=1)
        if resp["error_code"]:
            raise for_code(resp["error_code"])(
                f"{self}: SASL mechanism {mech} refused; broker enables {resp['mechanisms']}"
            )
        user = str(self.config["sasl_plain_username"])
        password = str(self.config["sasl_plain_password"])
        if mech == "PLAIN":
            await self._sasl_step(b"\0" + user.encode() + b"\0" + password.encode())
            return
        digest = hashlib.sha256 if mech == "SCRAM-SHA-256" else hashlib.sha512
        await _scram(self, digest, user, password)

    async def _sasl_step(self, payload: bytes) -> bytes:
        resp = await self.send("SaslAuthenticate", {"auth_bytes": payload})
        if resp["error_code"]:
            raise SaslAuthenticationFailedError(
                f"{self}: SASL authentication failed: {resp['error_message'] or 'no detail'}"
            )
        return bytes(resp["auth_bytes"])

    # --- requests --------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def can_send(self) -> bool:
        """A free in-flight slot and no large backlog in the socket's write buffer."""
        t = self._transport
        return (
            self.connected
            and not self.closed
            and len(self._in_flight) < self.max_in_flight
            and t is not None
            and t.get_write_buffer_size() < WRITE_BACKLOG_LIMIT
        )

    def send(
        self,
        api: Api | str | int,
        body: dict[str, Any],
        *,
        version: int | None = None,
        expect_response: bool = True,
        timeout_ms: float | None = None,
    ) -> asyncio.Future[Any]:
        """Write one request now and return the future of its decoded response (see module docstring)."""
        a = _api(api)
        loop = self._loop
        assert loop is not None
        fut: asyncio.Future[Any] = loop.create_future()
        if self.closed or not self.connected or self._transport is None:
            fut.set_exception(self._closed_error())
            return fut
        if version is None:
            try:
                version = self.version(a)
            except KafkaError as exc:
                fut.set_exception(exc)
                return fut
        cid = self._next_cid
        self._next_cid = (cid + 1) & 0x7FFFFFFF
        try:
            data = F.encode_request(a, version, cid, self.client_id, body)
        except Exception as exc:  # encoding errors belong to the caller's request only
            fut.set_exception(exc)
            return fut
        now = time.monotonic()
        self.last_activity = now
        self._transport.write(data)
        if not expect_response:
            fut.set_result(None)
            return fut
        inf = _InFlight(cid, a, version, fut, now)
        timeout = self.request_timeout if timeout_ms is None else timeout_ms / 1000.0
        inf.timer = loop.call_later(timeout, self._on_timeout, inf, timeout)
        self._in_flight.append(inf)
        return fut

    async def request(
        self,
        api: Api | str | int,
        body: dict[str, Any],
        *,
        version: int | None = None,
        timeout_ms: float | None = None,
    ) -> Any:
        """Wait for an in-flight slot, send, and return the decoded response."""
        while self.connected and not self.closed and len(self._in_flight) >= self.max_in_flight:
            assert self._loop is not None
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._slot_waiters:
                    self._slot_waiters.remove(waiter)
        return await self.send(api, body, version=version, timeout_ms=timeout_ms)

    def _wake_slot_waiter(self) -> None:
        while self._slot_waiters:
            w = self._slot_waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    def _on_frame(self, frame: bytes) -> None:
        self.last_activity = time.monotonic()
        if not self._in_flight:
            self._fatal(CorrelationIdError(f"{self}: response with no request in flight; closing"))
            return
        inf = self._in_flight.popleft()
        if inf.timer is not None:
            inf.timer.cancel()
        cid = _SIZE.unpack_from(frame, 0)[0] if len(frame) >= 4 else -1
        if cid != inf.correlation_id:
            self._in_flight.appendleft(inf)
            self._fatal(
                CorrelationIdError(f"{self}: response correlation id {cid}, expected {inf.correlation_id}")
            )
            return
        self.latency_sum += self.last_activity - inf.sent_at
        self.latency_count += 1
        fut = inf.future
        if self._slot_waiters:
            self._wake_slot_waiter()
        if fut.done():  # cancelled by its caller
            return
        try:
            if inf.api.key == API_VERSIONS_KEY and len(frame) >= 6:
                # an UNSUPPORTED_VERSION answer is always v0-encoded (KIP-511)
                if _I16.unpack_from(frame, 4)[0] == UnsupportedVersionError.errno:
                    fut.set_result(F.decode_response(inf.api, 0, frame))
                    return
            fut.set_result(F.decode_response(inf.api, inf.version, frame))
        except Exception as exc:
            fut.set_exception(exc)

    def _on_timeout(self, inf: _InFlight, timeout: float) -> None:
        if inf.future.done() or self.closed:
            return
        err = KafkaTimeoutError(
            f"{inf.api.name} v{inf.version} request to {self} got no response within {timeout:.3g} s "
            "(request_timeout_ms); connection closed"
        )
        inf.future.set_exception(err)
        self.close(KafkaConnectionError(f"{self} closed after a request timed out"))

    # --- closing ---------------------------------------------------------------------------

    def add_close_listener(self, fn: Callable[[BrokerConnection, BaseException | None], None]) -> None:
        self._close_listeners.append(fn)

    def _closed_error(self) -> KafkaConnectionError:
        err = self.close_error
        if err is None:
            return KafkaConnectionError(f"{self} is {'closed' if self.closed else 'not connected'}")
        if isinstance(err, KafkaError) and err.args:
            return KafkaConnectionError(str(err.args[0]))
        return KafkaConnectionError(f"{self} closed: {err}")

    def _fatal(self, exc: BaseException) -> None:
        log.warning("%s", exc)
        self.close(exc)

    def _on_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            detail = f": {exc}" if exc else " by the broker"
            self.close(KafkaConnectionError(f"{self} lost{detail}"))

    def close(self, error: BaseException | None = None) -> None:
        """Close the connection, failing every in-flight request. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.connected = False
        self.close_error = error
        if self._transport is not None:
            self._transport.close()
        while self._in_flight:
            inf = self._in_flight.popleft()
            if inf.timer is not None:
                inf.timer.cancel()
            if not inf.future.done():
                inf.future.set_exception(self._closed_error())
        for w in self._slot_waiters:
            if not w.done():
                w.set_result(None)
        self._slot_waiters.clear()
        for fn in self._close_listeners:
            try:
                fn(self, error)
            except Exception:  # pragma: no cover - listeners must not break closing
                log.exception("close listener of %s failed", self)
        self._close_listeners.clear()


def _api(api: Api | str | int) -> Api:
    if isinstance(api, Api):
        return api
    if isinstance(api, str):
        found = API_BY_NAME.get(api)
    else:
        found = API_BY_KEY.get(api)
    if found is None:
        raise KeyError(f"unknown Kafka API {api!r}")
    return found


def _scram_escape(s: str) -> str:
    return s.replace("=", "=3D").replace(",", "=2C")


async def _scram(conn: BrokerConnection, digest: Callable[..., Any], user: str, password: str) -> None:
    """SCRAM (RFC 5802) over SaslAuthenticate: client-first, server-first, client-final, server-final."""
    nonce = base64.b64encode(os.urandom(24)).decode()
    first_bare = f"n={_scram_escape(user)},r={nonce}"
    server_first = (await conn._sasl_step(("n,," + first_bare).encode())).decode()
    attrs = dict(p.split("=", 1) for p in server_first.split(",") if "=" in p)
    if not attrs.get("r", "").startswith(nonce):
        raise IllegalSaslStateError(f"{conn}: SCRAM server nonce does not extend the client nonce")
    salt = base64.b64decode(attrs["s"])
    iterations = int(attrs["i"])
    name = digest().name
    salted = hashlib.pbkdf2_hmac(name, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    stored_key = digest(client_key).digest()
    final_bare = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{final_bare}".encode()
    signature = hmac.new(stored_key, auth_message, digest).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    server_final = (
        await conn._sasl_step(f"{final_bare},p={base64.b64encode(proof).decode()}".encode())
    ).decode()
    server_key = hmac.new(salted, b"Server Key", digest).digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, digest).digest()).decode()
    if server_final.split(",")[0] != f"v={expected}":
        raise IllegalSaslStateError(f"{conn}: SCRAM server signature does not verify ({server_final!r})")
