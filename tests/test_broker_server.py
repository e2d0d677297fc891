"""The embedded broker's server over real sockets: framing, ApiVersions, ordering, bad input.

Requests are built and responses decoded with kafkakit's own codec (``Wire`` below), which the
other broker test modules import too. Peer clients are the oracles elsewhere; here the assertions
are on exact wire behaviour: which error code, which correlation id, whether the connection closed.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafkakit.broker import Broker
from kafkakit.broker.handlers import HANDLERS, advertised_versions
from kafkakit.protocol.apis import API_BY_KEY, api
from kafkakit.protocol.frame import decode_response, encode_request, response_correlation_id
from kafkakit.record import encode_batch

UNSUPPORTED_VERSION = 35


class Wire:
    """A blocking raw-protocol client: one socket, kafkakit's codec, nothing else."""

    def __init__(self, address: str, client_id: str | None = "wire-test", timeout: float = 15.0) -> None:
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.client_id = client_id
        self.corr = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, name: str | int, version: int, body: dict[str, Any]) -> int:
        self.corr += 1
        self.sock.sendall(encode_request(api(name), version, self.corr, self.client_id, body))
        return self.corr

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_frame(self) -> bytes:
        size = struct.unpack(">i", self._exact(4))[0]
        return self._exact(size)

    def recv(self, name: str | int, version: int, corr: int | None = None) -> dict[str, Any]:
        frame = self.recv_frame()
        got = response_correlation_id(frame)
        if corr is not None:
            assert got == corr, f"response correlation id {got}, expected {corr}"
        return decode_response(api(name), version, frame)

    def request(self, name: str | int, version: int, body: dict[str, Any]) -> dict[str, Any]:
        corr = self.send(name, version, body)
        return self.recv(name, version, corr)

    def closed_by_peer(self) -> bool:
        """True when the broker closed the connection (EOF or reset) before sending anything."""
        try:
            data = self.sock.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            return True
        return data == b""

    def _exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)


def produce_body(
    topic: str, values: list[bytes], partition: int = 0, acks: int = -1, **batch: Any
) -> dict[str, Any]:
    records = encode_batch([(1_700_000_000_000 + i, None, v, None) for i, v in enumerate(values)], **batch)
    return {
        "transactional_id": None,
        "acks": acks,
        "timeout_ms": 10_000,
        "topic_data": [{"name": topic, "partition_data": [{"index": partition, "records": records}]}],
    }


def metadata_body(topics: list[str] | None, auto_create: bool = True) -> dict[str, Any]:
    return {
        "topics": None if topics is None else [{"name": t, "topic_id": bytes(16)} for t in topics],
        "allow_auto_topic_creation": auto_create,
    }


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    with Broker() as b:
        yield b


# ---------------------------------------------------------------- ApiVersions


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_api_versions_lists_exactly_what_the_dispatch_table_serves(broker: Broker, version: int) -> None:
    body = {"client_software_name": "wire-test", "client_software_version": "1.0"}
    with Wire(broker.bootstrap_servers) as w:
        resp = w.request("ApiVersions", version, body)
    listed = {a["api_key"]: (a["min_version"], a["max_version"]) for a in resp["api_keys"]}
    assert resp["error_code"] == 0
    assert listed == advertised_versions()
    assert set(listed) == set(HANDLERS) - {17}  # SaslHandshake is served but not advertised
    assert listed[0] == (0, 13)  # Produce: 0-13 advertised (librdkafka feature detection)
    assert listed[18] == (0, 4)
    assert listed[22] == (0, 5)  # InitProducerId: v6 (two-phase commit) is not listed, as in Kafka 4.4
    for key, (lo, hi) in listed.items():
        codec = (API_BY_KEY[key].min_version, API_BY_KEY[key].max_version)
        assert (lo, hi) == (codec if key != 22 else (0, 5))
    for txn_key in (22, 24, 25, 26, 28):  # transactions are served (tests/test_broker_txn.py)
        assert txn_key in listed
    assert resp["finalized_features"] == []  # no transaction.version 2: clients keep protocol v1


def test_api_versions_newer_than_supported_answers_v0_with_error_35(broker: Broker) -> None:
    # KIP-511: a v127 request (header v2, unknown body) gets a v0-encoded UNSUPPORTED_VERSION
    # answer that still lists what the broker serves.
    payload = b"\x0bwire-test\x041.0\x00"  # compact strings + tagged fields, as a v3+ body
    client = b"wire-test"
    header = struct.pack(">hhih", 18, 127, 42, len(client)) + client + b"\x00"
    with Wire(broker.bootstrap_servers) as w:
        w.send_raw(struct.pack(">i", len(header) + len(payload)) + header + payload)
        frame = w.recv_frame()
    assert response_correlation_id(frame) == 42
    resp = api("ApiVersions").decode_response(0, frame, 4)  # response header v0, body v0
    assert resp["error_code"] == UNSUPPORTED_VERSION
    assert {
        a["api_key"]: (a["min_version"], a["max_version"]) for a in resp["api_keys"]
    } == advertised_versions()


def test_produce_v2_is_advertised_but_answered_unsupported_version(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        resp = w.request("Produce", 2, produce_body("old-produce", [b"x"]))
        [topic] = resp["responses"]
        [part] = topic["partition_responses"]
        assert (topic["name"], part["index"], part["error_code"]) == ("old-produce", 0, UNSUPPORTED_VERSION)
        # the connection stays usable
        assert w.request("ApiVersions", 3, {})["error_code"] == 0


def test_sasl_handshake_refuses_every_mechanism(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        resp = w.request("SaslHandshake", 1, {"mechanism": "PLAIN"})
    assert resp == {"error_code": 33, "mechanisms": []}


def test_api_not_implemented_gets_unsupported_version_in_its_error_field(broker: Broker) -> None:
    body = {"group_id": "g", "member_id": "m", "member_epoch": 0, "subscribed_topic_names": ["t"]}
    with Wire(broker.bootstrap_servers) as w:
        resp = w.request("ConsumerGroupHeartbeat", 0, body)  # KIP-848 groups are not served
    assert resp["error_code"] == UNSUPPORTED_VERSION


# ---------------------------------------------------------------- ordering and no-response requests


def test_pipelined_requests_are_answered_in_request_order(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        sent = []
        for i in range(60):
            kind = i % 3
            if kind == 0:
                sent.append((w.send("Produce", 9, produce_body("pipelined", [b"v%d" % i])), "Produce", 9))
            elif kind == 1:
                sent.append((w.send("Metadata", 12, metadata_body(["pipelined"])), "Metadata", 12))
            else:
                sent.append((w.send("ApiVersions", 3, {}), "ApiVersions", 3))
        offsets = []
        for corr, name, version in sent:
            resp = w.recv(name, version, corr)
            if name == "Produce":
                part = resp["responses"][0]["partition_responses"][0]
                assert part["error_code"] == 0
                offsets.append(part["base_offset"])
    assert offsets == list(range(20))


def test_acks_0_produce_gets_no_response_but_is_written(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        w.send("Produce", 9, produce_body("acks0", [b"a", b"b"], acks=0))
        corr = w.send("ListOffsets", 7, _list_offsets_body("acks0", -1))
        resp = w.recv("ListOffsets", 7)  # the very next frame answers ListOffsets
    assert resp["topics"][0]["partitions"][0]["offset"] == 2
    assert corr == 2


def _list_offsets_body(topic: str, timestamp: int) -> dict[str, Any]:
    return {
        "replica_id": -1,
        "isolation_level": 0,
        "topics": [
            {
                "name": topic,
                "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": timestamp}],
            }
        ],
        "timeout_ms": 1000,
    }


def test_parked_fetch_does_not_hold_back_other_connections(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as setup:
        setup.request("Metadata", 12, metadata_body(["parked"]))
    fetch = {
        "max_wait_ms": 10_000,
        "min_bytes": 1,
        "max_bytes": 1 << 20,
        "isolation_level": 0,
        "session_id": 0,
        "session_epoch": -1,
        "topics": [
            {
                "topic": "parked",
                "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}],
            }
        ],
        "forgotten_topics_data": [],
        "rack_id": "",
    }
    with Wire(broker.bootstrap_servers) as waiter, Wire(broker.bootstrap_servers) as other:
        corr = waiter.send("Fetch", 12, fetch)
        # other connections are served while the fetch is parked
        for _ in range(5):
            assert other.request("Metadata", 12, metadata_body(["parked"]))["topics"][0]["error_code"] == 0
        assert (
            other.request("Produce", 9, produce_body("parked", [b"wake"]))["responses"][0][
                "partition_responses"
            ][0]["error_code"]
            == 0
        )
        resp = waiter.recv("Fetch", 12, corr)
    part = resp["responses"][0]["partitions"][0]
    assert part["error_code"] == 0 and part["high_watermark"] == 1 and part["records"]


# ---------------------------------------------------------------- bad input


def _assert_alive(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        assert w.request("ApiVersions", 3, {})["error_code"] == 0


def test_unknown_api_key_closes_only_that_connection(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as bystander, Wire(broker.bootstrap_servers) as bad:
        assert bystander.request("ApiVersions", 3, {})["error_code"] == 0
        bad.send_raw(struct.pack(">ihhih", 10, 999, 0, 1, -1))
        assert bad.closed_by_peer()
        assert bystander.request("ApiVersions", 3, {})["error_code"] == 0


def test_oversized_frame_is_refused_before_its_body_is_sent(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        w.send_raw(struct.pack(">i", 200 * 1024 * 1024))  # only the size: the broker must not wait for 200 MB
        assert w.closed_by_peer()
    _assert_alive(broker)


@pytest.mark.parametrize("size", [-1, 0, 3, 9])
def test_impossible_frame_sizes_close_the_connection(broker: Broker, size: int) -> None:
    with Wire(broker.bootstrap_servers) as w:
        w.send_raw(struct.pack(">i", size) + b"\x00" * 16)
        assert w.closed_by_peer()
    _assert_alive(broker)


def test_request_max_bytes_is_configurable() -> None:
    with Broker(socket_request_max_bytes=4096) as b, Wire(b.bootstrap_servers) as w:
        assert (
            w.request("Produce", 9, produce_body("small", [b"x" * 100]))["responses"][0][
                "partition_responses"
            ][0]["error_code"]
            == 0
        )
        w.send("Produce", 9, produce_body("small", [b"x" * 5000]))
        assert w.closed_by_peer()


def test_truncated_body_closes_the_connection(broker: Broker) -> None:
    frame = encode_request(api("Metadata"), 12, 7, "wire", metadata_body(["a-topic"]))
    cut = frame[4:-3]
    with Wire(broker.bootstrap_servers) as w:
        w.send_raw(struct.pack(">i", len(cut)) + cut)
        assert w.closed_by_peer()
    _assert_alive(broker)


def test_unparseable_unsupported_version_closes_the_connection(broker: Broker) -> None:
    # Fetch v3 is below what the codec knows: the body cannot be parsed, so no error response
    with Wire(broker.bootstrap_servers) as w:
        w.send_raw(struct.pack(">ihhih", 10, 1, 3, 5, -1))
        assert w.closed_by_peer()


def test_a_failing_handler_answers_unknown_server_error_and_the_broker_lives_on(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("simulated handler bug")

    monkeypatch.setitem(HANDLERS, 60, broken)
    with Wire(broker.bootstrap_servers) as w:
        resp = w.request("DescribeCluster", 0, {"include_cluster_authorized_operations": False})
        assert resp["error_code"] == -1
        assert w.request("ApiVersions", 3, {})["error_code"] == 0


def test_large_frames_arrive_whole(broker: Broker) -> None:
    values = [bytes([i % 256]) * 200_000 for i in range(4)]  # one ~800 KB request, read in many chunks
    with Wire(broker.bootstrap_servers) as w:
        resp = w.request("Produce", 9, produce_body("big-frame", values))
        assert resp["responses"][0]["partition_responses"][0]["error_code"] == 0
        assert (
            w.request("ListOffsets", 7, _list_offsets_body("big-frame", -1))["topics"][0]["partitions"][0][
                "offset"
            ]
            == 4
        )


def _valid_frames() -> list[bytes]:
    return [
        encode_request(
            api("ApiVersions"), 3, 1, "fuzz", {"client_software_name": "f", "client_software_version": "1"}
        ),
        encode_request(api("Metadata"), 12, 2, "fuzz", metadata_body(["fuzz-topic"])),
        encode_request(api("Produce"), 9, 3, "fuzz", produce_body("fuzz-topic", [b"payload"])),
    ]


@st.composite
def bad_frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["random", "truncated", "huge", "garbage-body", "bad-key"]))
    if kind == "random":
        body = draw(st.binary(min_size=0, max_size=300))
        return struct.pack(">i", len(body)) + body
    if kind == "truncated":
        frame = draw(st.sampled_from(_valid_frames()))
        cut = draw(st.integers(min_value=1, max_value=len(frame) - 5))
        body = frame[4 : 4 + cut]
        return struct.pack(">i", len(body)) + body
    if kind == "huge":
        return struct.pack(">i", draw(st.integers(min_value=100 * 1024 * 1024 + 1, max_value=2**31 - 1)))
    if kind == "bad-key":
        key = draw(st.integers(min_value=-(2**15), max_value=2**15 - 1).filter(lambda k: k not in API_BY_KEY))
        return struct.pack(">ihhih", 10, key, 0, 9, -1)
    frame = draw(st.sampled_from(_valid_frames()))
    header_len = 4 + 8 + 2 + 4  # size, api key/version/corr, client id "fuzz"
    garbage = draw(st.binary(min_size=1, max_size=200))
    body = frame[4:header_len] + b"\x00" + garbage  # every frame above uses a flexible (v2) header
    return struct.pack(">i", len(body)) + body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=bad_frames())
def test_fuzzed_frames_never_disturb_another_client(broker: Broker, frame: bytes) -> None:
    # a second client keeps working whatever the first one sends
    with Wire(broker.bootstrap_servers) as bystander, Wire(broker.bootstrap_servers) as fuzzer:
        fuzzer.send_raw(frame)
        fuzzer.sock.shutdown(socket.SHUT_WR)
        try:
            while fuzzer.sock.recv(65536):
                pass  # an error response, or nothing: either way the broker ends this connection
        except (ConnectionResetError, TimeoutError):
            pass
        assert bystander.request("ApiVersions", 3, {})["error_code"] == 0


def test_broker_alive_after_concurrent_garbage(broker: Broker) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def spam() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                with socket.create_connection((broker.host, broker.port), timeout=5) as s:
                    s.sendall(struct.pack(">i", 40) + bytes((i * 7 + j) % 256 for j in range(40)))
                    s.recv(1)
            except OSError:
                pass
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=spam) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        with Wire(broker.bootstrap_servers) as w:
            for i in range(100):
                resp = w.request("Produce", 9, produce_body("under-garbage", [b"%d" % i]))
                assert resp["responses"][0]["partition_responses"][0]["base_offset"] == i
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors


def test_idle_connections_are_closed() -> None:
    with Broker(connections_max_idle_ms=200) as b, Wire(b.bootstrap_servers) as idle:
        assert idle.request("ApiVersions", 3, {})["error_code"] == 0
        idle.sock.settimeout(30)
        assert idle.closed_by_peer()  # the broker ends it once idle for longer than 200 ms


def test_connection_with_a_parked_fetch_is_not_idle() -> None:
    with Broker(connections_max_idle_ms=200) as b, Wire(b.bootstrap_servers) as w:
        w.request("Metadata", 12, metadata_body(["idle-parked"]))
        fetch = {
            "max_wait_ms": 1500,
            "min_bytes": 1,
            "max_bytes": 1 << 20,
            "isolation_level": 0,
            "session_id": 0,
            "session_epoch": -1,
            "topics": [
                {
                    "topic": "idle-parked",
                    "partitions": [{"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}],
                }
            ],
            "forgotten_topics_data": [],
            "rack_id": "",
        }
        resp = w.request("Fetch", 12, fetch)  # parked for 1.5 s, far past the idle limit
        assert resp["responses"][0]["partitions"][0]["records"] == b""
        assert w.request("ApiVersions", 3, {})["error_code"] == 0  # and the connection is still open


def test_requests_before_a_half_close_are_still_answered(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        corrs = [w.send("ApiVersions", 3, {}) for _ in range(3)]
        w.sock.shutdown(socket.SHUT_WR)
        for corr in corrs:
            assert w.recv("ApiVersions", 3, corr)["error_code"] == 0
        assert w.closed_by_peer()


def _all_advertised() -> list[tuple[int, int]]:
    return [(key, v) for key, (lo, hi) in advertised_versions().items() for v in range(lo, hi + 1)]


@pytest.mark.parametrize(("key", "version"), _all_advertised())
def test_every_advertised_api_version_is_answered(broker: Broker, key: int, version: int) -> None:
    # the codec's defaults make a minimal (often empty) request; whatever the broker thinks of
    # it, the answer must decode at that version and carry the request's correlation id
    body = {"acks": 1} if key == 0 else {}  # an acks=0 Produce is (rightly) never answered
    with Wire(broker.bootstrap_servers) as w:
        resp = w.request(key, version, body)
        assert isinstance(resp, dict)
        assert w.request("ApiVersions", 3, {})["error_code"] == 0  # and the connection lives on


_UNMANGLED = encode_batch([(1_700_000_000_000, b"k", b"v" * 40, None)] * 3)


@st.composite
def mangled_records(draw: st.DrawFn) -> bytes:
    good = _UNMANGLED
    kind = draw(st.sampled_from(["random", "flip", "cut", "extend"]))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=200))
    if kind == "cut":
        return good[: draw(st.integers(min_value=1, max_value=len(good) - 1))]
    if kind == "extend":
        return good + draw(st.binary(min_size=1, max_size=80))
    buf = bytearray(good)
    # any byte but the base offset and partition leader epoch, which the broker rewrites anyway
    pos = draw(
        st.one_of(st.integers(min_value=8, max_value=11), st.integers(min_value=16, max_value=len(buf) - 1))
    )
    buf[pos] ^= draw(st.integers(min_value=1, max_value=255))
    return bytes(buf)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=mangled_records())
def test_mangled_record_batches_are_refused_per_partition(broker: Broker, records: bytes) -> None:
    body = {
        "transactional_id": None,
        "acks": 1,
        "timeout_ms": 1000,
        "topic_data": [
            {
                "name": "mangled",
                "partition_data": [
                    {"index": 0, "records": records},
                    {"index": 0, "records": encode_batch([(1_700_000_000_000, None, b"fine", None)])},
                ],
            }
        ],
    }
    with Wire(broker.bootstrap_servers) as w:
        bad, good = w.request("Produce", 9, body)["responses"][0]["partition_responses"]
    # the mangled batch is refused with a validation error; the good one lands
    assert good["error_code"] == 0
    if bad["error_code"] == 0:
        # only a whole batch followed by bytes too short to be another one, which Kafka ignores
        assert records.startswith(_UNMANGLED) and len(records) > len(_UNMANGLED), bad
        return
    assert bad["error_code"] in (2, 10, 42, 43, 87), bad
    assert bad["base_offset"] == -1
