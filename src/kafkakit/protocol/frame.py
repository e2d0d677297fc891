"""Request and response framing: the 4-byte size prefix and the request/response headers.

Request header v1 (api_key, api_version, correlation_id, nullable client_id) for non-flexible
versions, v2 (v1 + tagged fields) for flexible ones. Response header v0 (correlation_id) or v1
(+ tagged fields) for flexible versions, except ApiVersions, whose response always uses v0 so a
client can read it before knowing what the broker supports. No I/O here.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from kafkakit.errors import ProtocolDecodeError
from kafkakit.protocol import primitives as P
from kafkakit.protocol.apis import API_BY_KEY
from kafkakit.protocol.schema import Api

API_VERSIONS_KEY = 18

_HDR = struct.Struct(">ihhi")  # size, api_key, api_version, correlation_id
_REQ_HDR = struct.Struct(">hhi")
_SIZE_CORR = struct.Struct(">ii")
_I32 = struct.Struct(">i")


class RequestHeader(NamedTuple):
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    client_host: str = ""  # filled in by a server from the peer address ("/127.0.0.1")


def request_header_flexible(api_key: int, api_version: int) -> bool:
    """Whether a request of this key/version carries header v2. Unknown versions of a known API
    are taken as flexible when the API has flexible versions (a newer client's ApiVersions)."""
    api = API_BY_KEY.get(api_key)
    if api is None or api.flexible_from is None:
        return False
    return api_version >= api.flexible_from


def response_header_flexible(api_key: int, api_version: int) -> bool:
    if api_key == API_VERSIONS_KEY:
        return False
    return request_header_flexible(api_key, api_version)


def encode_request(
    api: Api, version: int, correlation_id: int, client_id: str | None, body: dict[str, Any]
) -> bytes:
    """A whole request frame, size prefix included."""
    payload = api.encode_request(version, body)
    cid = P.write_string(client_id)
    tags = b"\x00" if api.is_flexible(version) else b""
    size = 8 + len(cid) + len(tags) + len(payload)
    return b"".join((_HDR.pack(size, api.key, version, correlation_id), cid, tags, payload))


def decode_request_header(frame: Any) -> tuple[RequestHeader, int]:
    """Parse the header of a request frame (without the size prefix); return it and the body offset."""
    try:
        api_key, api_version, correlation_id = _REQ_HDR.unpack_from(frame, 0)
        client_id, pos = P.read_nullable_string(frame, 8)
        if request_header_flexible(api_key, api_version):
            ntags, pos = P.read_uvarint(frame, pos)
            for _ in range(ntags):
                _, pos = P.read_uvarint(frame, pos)
                size, pos = P.read_uvarint(frame, pos)
                pos += size
            if pos > len(frame):
                raise ValueError("tagged fields run past the end")
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ProtocolDecodeError("RequestHeader", 2, "header", str(exc)) from None
    return RequestHeader(api_key, api_version, correlation_id, client_id), pos


def encode_response(api: Api, version: int, correlation_id: int, body: dict[str, Any]) -> bytes:
    """A whole response frame, size prefix included."""
    payload = api.encode_response(version, body)
    if response_header_flexible(api.key, version):
        return b"".join((_SIZE_CORR.pack(len(payload) + 5, correlation_id), b"\x00", payload))
    return b"".join((_SIZE_CORR.pack(len(payload) + 4, correlation_id), payload))


def encode_response_payload(api_key: int, version: int, correlation_id: int, payload: bytes) -> bytes:
    """Frame an already-encoded response body."""
    if response_header_flexible(api_key, version):
        return b"".join((_SIZE_CORR.pack(len(payload) + 5, correlation_id), b"\x00", payload))
    return b"".join((_SIZE_CORR.pack(len(payload) + 4, correlation_id), payload))


def response_correlation_id(frame: Any) -> int:
    """The correlation id of a response frame (without size prefix)."""
    if len(frame) < 4:
        raise ProtocolDecodeError("ResponseHeader", 0, "correlation_id", "frame shorter than 4 bytes")
    return int(_I32.unpack_from(frame, 0)[0])


def decode_response(api: Api, version: int, frame: Any) -> dict[str, Any]:
    """Decode a response frame (without size prefix) whose correlation id was already matched."""
    pos = 4
    if response_header_flexible(api.key, version):
        try:
            ntags, pos = P.read_uvarint(frame, pos)
            for _ in range(ntags):
                _, pos = P.read_uvarint(frame, pos)
                size, pos = P.read_uvarint(frame, pos)
                pos += size
        except (IndexError, ValueError) as exc:
            raise ProtocolDecodeError(api.name + "Response", version, "header", str(exc)) from None
    return api.decode_response(version, frame, pos)
