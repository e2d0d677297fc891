"""A tiny blocking Kafka connection for tests that send exact requests.

:class:`Wire` speaks kafkakit.protocol's codec over a plain socket, one request at a time, so
kafkakit's client is not involved (the interop and differential tests use it to see exactly what a
broker answers). :meth:`Wire.raw` sends hand-made bytes for versions or APIs the codec refuses to
encode. A broker that closes the connection instead of answering raises :class:`Closed`.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from . import parse_bootstrap

__all__ = ["Closed", "Wire"]


class Closed(ConnectionError):
    """The broker closed the connection instead of answering."""


class Wire:
    """One blocking connection speaking kafkakit.protocol's codec, one request at a time."""

    def __init__(self, bootstrap: str, timeout: float = 15.0, *, client_id: str = "kafkakit-test") -> None:
        host, port = parse_bootstrap(bootstrap)[0]
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.client_id = client_id
        self.correlation_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise Closed(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def send(self, api_name: str, version: int, body: dict[str, Any]) -> int:
        """Send one request; returns its correlation id (for :meth:`receive`)."""
        from kafkakit.protocol import api
        from kafkakit.protocol.frame import encode_request

        self.correlation_id += 1
        self.sock.sendall(encode_request(api(api_name), version, self.correlation_id, self.client_id, body))
        return self.correlation_id

    def receive(self, api_name: str, version: int, correlation_id: int) -> dict[str, Any]:
        """Read the next response frame, check its correlation id and decode it."""
        from kafkakit.protocol import api
        from kafkakit.protocol.frame import decode_response, response_correlation_id

        (size,) = struct.unpack(">i", self._recv(4))
        frame = self._recv(size)
        assert response_correlation_id(frame) == correlation_id
        return decode_response(api(api_name), version, frame)

    def call(self, api_name: str, version: int, body: dict[str, Any]) -> dict[str, Any]:
        return self.receive(api_name, version, self.send(api_name, version, body))

    def raw(self, api_key: int, version: int, body: bytes, *, flexible: bool) -> bytes:
        """Send a hand-made request (any key/version); return the response frame or raise Closed."""
        self.correlation_id += 1
        client = self.client_id.encode()
        header = struct.pack(">hhih", api_key, version, self.correlation_id, len(client)) + client
        if flexible:
            header += b"\x00"
        self.sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        (size,) = struct.unpack(">i", self._recv(4))
        return self._recv(size)
