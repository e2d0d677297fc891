"""The embedded broker's network server: asyncio TCP listener, framing and request dispatch.

How it works: ``BrokerServer.start()`` opens the data dir (cluster id, topic table, logs,
producer ids, the group committer with ``fsync``, the group and transaction coordinators) and
listens on ``config.host:config.port``. Each connection is a ``_Connection`` (an
``asyncio.BufferedProtocol``): bytes land in a reusable 256 KiB buffer; a frame larger than what
is buffered gets its own exactly-sized buffer that the socket fills directly. The 4-byte size is checked BEFORE any body
byte is read: negative, too small or above ``socket_request_max_bytes`` closes the connection.
Complete frames queue up and one worker task per connection handles them strictly in order, so
responses always leave in request order; a parked Fetch only holds back its own connection.
Responses of pipelined Produce requests are gathered and written with one ``writelines``.
Requests with a broken header, an unknown API key, an undecodable body or an unsupported version
that cannot be parsed close that one connection; a handler that raises is logged and answered
with UNKNOWN_SERVER_ERROR. A periodic task closes connections idle for
``connections_max_idle_ms`` and applies log retention.

What it must never do: let one connection's bad bytes or a handler bug stop the server or touch
another connection, reorder responses on a connection, read a body whose size is over the limit,
or acknowledge acks>=1 produce requests before the data reached the OS (or the disk with fsync).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import struct
import time
from collections import deque
from pathlib import Path
from typing import Any

from kafkakit.broker.handlers import (
    ACCEPTED_VERSIONS,
    HANDLERS,
    advertised_versions,
    api_versions_body,
    error_response,
)
from kafkakit.broker.state import BrokerConfig, BrokerState, load_cluster_id
from kafkakit.broker.topics import TopicManager
from kafkakit.errors import ProtocolDecodeError
from kafkakit.protocol.apis import API_BY_KEY
from kafkakit.protocol.frame import (
    RequestHeader,
    decode_request_header,
    response_header_flexible,
)

log = logging.getLogger("kafkakit.broker")

__all__ = ["BrokerServer"]

_SIZE = struct.Struct(">i")
_HEADER = struct.Struct(">hhih")  # api_key, api_version, correlation_id, client_id length
_KEY = struct.Struct(">h")
_SIZE_CORR = struct.Struct(">ii")
#: a response payload at least this big is written on its own instead of being copied into its frame
_LARGE = 64 * 1024
_READ_BUFFER = 256 * 1024
#: a request header is at least api_key, api_version, correlation_id and a client id length
_MIN_FRAME = 10
_PRODUCE = 0
_API_VERSIONS = 18
UNSUPPORTED_VERSION = 35
UNKNOWN_SERVER_ERROR = -1


class _CloseConnection(Exception):
    """The request cannot be answered: close its connection (the reason is logged)."""


def frame_parts(api_key: int, version: int, correlation_id: int, payload: bytes) -> list[bytes]:
    """A response frame (size, response header, payload) as buffers to write in order."""
    if response_header_flexible(api_key, version):
        head = _SIZE_CORR.pack(len(payload) + 5, correlation_id) + b"\x00"
    else:
        head = _SIZE_CORR.pack(len(payload) + 4, correlation_id)
    if len(payload) >= _LARGE:
        return [head, payload]
    return [head + payload]


def decode_header(frame: bytes | bytearray) -> tuple[RequestHeader, int]:
    """Request header v1/v2 of a frame (without its size prefix) and the offset of the body."""
    try:
        return decode_request_header(frame)
    except ProtocolDecodeError as exc:
        raise _CloseConnection(f"malformed request header: {exc.reason}") from None


class _Connection(asyncio.BufferedProtocol):
    """One client connection: frame reader, in-order request worker, response writer."""

    def __init__(self, server: BrokerServer) -> None:
        self.server = server
        self.state = server.state
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.client_host = "/127.0.0.1"
        self._buf = bytearray(_READ_BUFFER)
        self._view = memoryview(self._buf)
        self._start = 0  # first unparsed byte in _buf
        self._end = 0  # end of received bytes in _buf
        self._big: bytearray | None = None  # the body of a frame larger than what _buf holds
        self._big_got = 0
        self._frames: deque[bytes | bytearray] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._write_ok: asyncio.Future[None] | None = None
        self._paused_reading = False
        self._closed = False
        self._eof = False
        self.busy = False
        self.last_active = time.monotonic()

    # ------------------------------------------------------------ protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = f"{peer[0]}:{peer[1]}"
            self.client_host = f"/{peer[0]}"
        self.server.connections.add(self)
        self._worker = asyncio.get_running_loop().create_task(self._run())
        log.debug("connection from %s", self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.server.connections.discard(self)
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        if self._write_ok is not None and not self._write_ok.done():
            self._write_ok.set_result(None)
        log.debug("connection from %s closed (%s)", self.peer, exc or "eof")

    def pause_writing(self) -> None:
        if self._write_ok is None or self._write_ok.done():
            self._write_ok = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._write_ok is not None and not self._write_ok.done():
            self._write_ok.set_result(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._big is not None:
            return memoryview(self._big)[self._big_got :]
        if self._end == len(self._buf):
            self._compact()
        return self._view[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        self.last_active = time.monotonic()
        if self._big is not None:
            self._big_got += nbytes
            if self._big_got < len(self._big):
                return
            self._frames.append(self._big)
            self._big = None
            self._big_got = 0
        else:
            self._end += nbytes
        self._parse()
        if self._frames:
            self._wake()

    def eof_received(self) -> bool:
        # the client will send nothing more: answer what it sent, then close (see _run)
        self._eof = True
        self._wake()
        return True

    # ------------------------------------------------------------ framing

    def _compact(self) -> None:
        n = self._end - self._start
        if n and self._start:
            self._buf[:n] = self._buf[self._start : self._end]
        self._start, self._end = 0, n

    def _parse(self) -> None:
        buf, start, end = self._buf, self._start, self._end
        limit = self.server.config.socket_request_max_bytes
        while end - start >= 4:
            (size,) = _SIZE.unpack_from(buf, start)
            if size < _MIN_FRAME or size > limit:
                self._start = self._end = 0
                log.info(
                    "closing connection from %s: request size %d is outside 10..%d (socket_request_max_bytes)",
                    self.peer,
                    size,
                    limit,
                )
                self.close()
                return
            if end - start - 4 >= size:
                self._frames.append(bytes(self._view[start + 4 : start + 4 + size]))
                start += 4 + size
                continue
            if size + 4 > len(buf):
                # too big for the shared buffer: give it its own, filled straight by the socket
                got = end - start - 4
                big = bytearray(size)
                big[:got] = buf[start + 4 : end]
                self._big, self._big_got = big, got
                start = end = 0
            break
        if start == end:
            start = end = 0
        self._start, self._end = start, end
        if end == len(buf) and start:
            self._compact()
        if len(self._frames) > 64 and not self._paused_reading and self.transport is not None:
            self._paused_reading = True
            self.transport.pause_reading()

    def _wake(self) -> None:
        w = self._wakeup
        if w is not None and not w.done():
            w.set_result(None)

    def close(self) -> None:
        if not self._closed and self.transport is not None:
            self._closed = True
            self.transport.close()

    # ------------------------------------------------------------ request processing

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        frames = self._frames
        out: list[bytes] = []
        try:
            while not self._closed:
                if not frames:
                    if self._eof:
                        self.close()
                        return
                    self.busy = False
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    self._wakeup = None
                    continue
                if self._paused_reading and len(frames) < 16 and self.transport is not None:
                    self._paused_reading = False
                    self.transport.resume_reading()
                self.busy = True
                frame = frames.popleft()
                try:
                    response = await self._handle(frame)
                except _CloseConnection as exc:
                    if out:
                        self._write(out)
                    log.info("closing connection from %s: %s", self.peer, exc)
                    self.close()
                    return
                if response is not None:
                    out += response
                # keep gathering while more pipelined Produce requests are already here
                if out and not (frames and len(out) < 64 and _KEY.unpack_from(frames[0], 0)[0] == _PRODUCE):
                    self._write(out)
                    out = []
                    if self._write_ok is not None and not self._write_ok.done():
                        await self._write_ok
                self.last_active = time.monotonic()
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - a bug here must only cost this connection
            log.exception("connection from %s failed", self.peer)
            self.close()

    def _write(self, out: list[bytes]) -> None:
        """Write response buffers in order: small ones joined into one send, large ones uncopied."""
        transport = self.transport
        if transport is None or self._closed:
            return
        if len(out) == 1:
            transport.write(out[0])
            return
        small: list[bytes] = []
        for part in out:
            if len(part) >= _LARGE:
                if small:
                    transport.write(b"".join(small))
                    small = []
                transport.write(part)
            else:
                small.append(part)
        if small:
            transport.write(b"".join(small))

    async def _handle(self, frame: bytes | bytearray) -> list[bytes] | None:
        header, pos = decode_header(frame)
        header = header._replace(client_host=self.client_host)
        key, version = header.api_key, header.api_version
        api = API_BY_KEY.get(key)
        if api is None:
            raise _CloseConnection(f"unknown API key {key}")
        if key == _API_VERSIONS and not api.supports(version):
            # KIP-511: answer in v0 with UNSUPPORTED_VERSION, still listing what we serve
            body = api_versions_body(self.state, UNSUPPORTED_VERSION)
            return frame_parts(key, 0, header.correlation_id, api.encode_response(0, body))
        if not api.supports(version):
            raise _CloseConnection(
                f"{api.name} v{version} is not supported (versions {api.min_version}-{api.max_version})"
            )
        try:
            body = api.decode_request(version, frame, pos)
        except ProtocolDecodeError as exc:
            raise _CloseConnection(str(exc)) from None
        handler = HANDLERS.get(key)
        lo, hi = ACCEPTED_VERSIONS.get(key, (api.min_version, api.max_version))
        if handler is None or not lo <= version <= hi:
            what = (
                "is not served by this broker"
                if handler is None
                else f"is not supported (versions {lo}-{hi})"
            )
            log.info("%s v%d from %s %s", api.name, version, self.peer, what)
            failed = error_response(api, version, body, UNSUPPORTED_VERSION, f"{api.name} v{version} {what}")
            return self._encode(api, header, failed)
        try:
            resp = await handler(self.state, header, version, body)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a handler bug must not take the broker down
            log.exception("handler for %s v%d failed (client %s)", api.name, version, header.client_id)
            resp = error_response(api, version, body, UNKNOWN_SERVER_ERROR, "internal error in the broker")
        if resp is None:
            return None
        try:
            return self._encode(api, header, resp)
        except Exception:  # noqa: BLE001
            log.exception("cannot encode the %s v%d response", api.name, version)
        try:
            return self._encode(api, header, error_response(api, version, body, UNKNOWN_SERVER_ERROR))
        except Exception as exc:  # noqa: BLE001
            raise _CloseConnection(f"cannot encode the {api.name} v{version} response: {exc}") from None

    @staticmethod
    def _encode(api: Any, header: RequestHeader, resp: dict[str, Any]) -> list[bytes]:
        payload = api.encode_response(header.api_version, resp)
        return frame_parts(api.key, header.api_version, header.correlation_id, payload)


class BrokerServer:
    """The broker: storage, coordinator and listener, all on one asyncio event loop."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir).resolve()
        self.connections: set[_Connection] = set()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        self._started = False
        self._lock_fd: int | None = None
        self.state: BrokerState = None  # type: ignore[assignment]  # set in start()

    @property
    def port(self) -> int:
        return self.state.port if self.state is not None else 0

    async def start(self) -> None:
        """Open storage and start listening; returns once clients can connect."""
        from kafkakit.broker.durability import GroupCommitter, mark_dirty
        from kafkakit.broker.producer_state import ProducerIdManager

        cfg = self.config
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        mark_dirty(self.data_dir)
        topics = TopicManager(self.data_dir, cfg)
        state = BrokerState(
            config=cfg,
            data_dir=self.data_dir,
            cluster_id=load_cluster_id(self.data_dir),
            topics=topics,
        )
        self.state = state
        state.api_versions = advertised_versions()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, topics.load)
        state.producer_ids = ProducerIdManager(self.data_dir)
        if cfg.fsync:
            state.committer = GroupCommitter()
        state.groups = _make_group_coordinator(state)
        if state.groups is not None:
            await state.groups.start()
        from kafkakit.broker.txn import TransactionCoordinator

        state.txn = TransactionCoordinator(state)
        await state.txn.start()
        self._server = await loop.create_server(
            lambda: _Connection(self),
            host=cfg.host,
            port=cfg.port,
            reuse_address=True,
            backlog=512,
        )
        sock = self._server.sockets[0]
        state.port = sock.getsockname()[1]
        self._tasks.append(loop.create_task(self._housekeeping()))
        self._started = True
        log.info(
            "kafkakit broker %d listening on %s:%d (data dir %s, cluster id %s, fsync %s)",
            state.node_id,
            cfg.host,
            state.port,
            self.data_dir,
            state.cluster_id,
            "on" if cfg.fsync else "off",
        )

    def _lock_data_dir(self) -> None:
        """Hold an exclusive lock on the data dir: two brokers on one dir would corrupt it."""
        fd = os.open(self.data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RuntimeError(f"data dir {self.data_dir} is in use by another kafkakit broker") from None
        self._lock_fd = fd

    async def stop(self) -> None:
        """Stop listening, close every connection, flush and close the logs, mark a clean shutdown."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.state is not None:
                await self._shutdown()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the lock
                self._lock_fd = None

    async def _shutdown(self) -> None:
        from kafkakit.broker.durability import mark_clean

        if self._server is not None:
            self._server.close()
        workers = []
        for conn in list(self.connections):
            conn.close()
            if conn._worker is not None:
                workers.append(conn._worker)
        # no handler may still run (or wake from a parked fetch) once the logs are closed
        for t in [*self._tasks, *workers]:
            t.cancel()
        for t in [*self._tasks, *workers]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        state = self.state
        if state.txn is not None:
            try:
                await state.txn.stop()
            except Exception:  # noqa: BLE001
                log.exception("stopping the transaction coordinator failed")
        if state.groups is not None:
            try:
                await state.groups.stop()
            except Exception:  # noqa: BLE001
                log.exception("stopping the group coordinator failed")
        if state.committer is not None:
            with contextlib.suppress(Exception):
                state.committer.close()
        state.topics.close()
        if state.producer_ids is not None:
            with contextlib.suppress(Exception):
                state.producer_ids.close()
        if self._started:
            # only a broker that fully started has every log open and closed in order
            mark_clean(self.data_dir)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        log.info("kafkakit broker %d stopped%s", state.node_id, " cleanly" if self._started else "")

    async def _housekeeping(self) -> None:
        cfg = self.config
        idle_s = cfg.connections_max_idle_ms / 1000
        retention_every = cfg.log_retention_check_interval_ms / 1000
        tick = max(0.05, min(30.0, idle_s / 10, retention_every))
        next_retention = time.monotonic() + retention_every
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for conn in list(self.connections):
                if not conn.busy and not conn._frames and now - conn.last_active > idle_s:
                    log.info(
                        "closing connection from %s: idle for more than %d ms",
                        conn.peer,
                        cfg.connections_max_idle_ms,
                    )
                    conn.close()
            if now >= next_retention:
                next_retention = now + retention_every
                self.state.topics.housekeeping()


def _make_group_coordinator(state: BrokerState) -> Any:
    try:
        from kafkakit.broker.groups import GroupCoordinator
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("kafkakit.broker."):
            raise
        log.warning("%s is missing: consumer groups are not served", exc.name)
        return None
    return GroupCoordinator(state)
