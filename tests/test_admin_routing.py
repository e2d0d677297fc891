"""KafkaAdminClient's routing and retries, driven by scripted brokers on real sockets.

Real brokers rarely move their controller, a group's coordinator or a partition's leader on demand,
so these tests stand up small scripted brokers (kafkakit's own codec on real TCP sockets; the admin
client under test is untouched) that answer NOT_CONTROLLER, NOT_COORDINATOR or NOT_LEADER once and
then point elsewhere. Each test checks where every request went and what the caller got.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kafkakit import KafkaAdminClient
from kafkakit.errors import KafkaTimeoutError
from kafkakit.protocol import frame as F
from kafkakit.protocol.apis import API_BY_KEY
from kafkakit.protocol.primitives import NIL_UUID
from kafkakit.structs import TopicPartition

Handler = Callable[[int, dict[str, Any]], dict[str, Any]]


class ScriptedCluster:
    """Brokers 1..n on 127.0.0.1 answering each API with ``handlers[name](node_id, request_body)``.

    ApiVersions and Metadata are built in (Metadata reports ``self.controller`` and the partitions
    in ``self.leaders``); every request is logged as (node_id, api name, body).
    """

    def __init__(self, brokers: int, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.log: list[tuple[int, str, dict[str, Any]]] = []
        self.controller = 1
        self.leaders: dict[TopicPartition, int] = {}
        self.ports: dict[int, int] = {}
        self._n = brokers
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._servers: list[asyncio.AbstractServer] = []

    def __enter__(self) -> ScriptedCluster:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            for s in self._servers:
                s.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.ports[1]}"

    def calls(self, api: str) -> list[int]:
        """The node ids that received ``api``, in order."""
        return [node for node, name, _ in self.log if name == api]

    async def _start(self) -> None:
        for node in range(1, self._n + 1):
            server = await asyncio.start_server(
                lambda r, w, node=node: self._serve(node, r, w), "127.0.0.1", 0
            )
            self.ports[node] = server.sockets[0].getsockname()[1]
            self._servers.append(server)

    async def _serve(self, node: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = struct.unpack(">i", await reader.readexactly(4))[0]
                frame = await reader.readexactly(size)
                header, pos = F.decode_request_header(frame)
                api = API_BY_KEY[header.api_key]
                body = api.decode_request(header.api_version, frame, pos)
                self.log.append((node, api.name, body))
                resp = self._answer(node, api.name, body)
                writer.write(F.encode_response(api, header.api_version, header.correlation_id, resp))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _answer(self, node: int, api: str, body: dict[str, Any]) -> dict[str, Any]:
        if api == "ApiVersions":
            keys = [
                {"api_key": a.key, "min_version": a.min_version, "max_version": a.max_version}
                for a in API_BY_KEY.values()
            ]
            return {"error_code": 0, "api_keys": keys, "throttle_time_ms": 0}
        if api == "Metadata":
            return self._metadata(body)
        return self.handlers[api](node, body)

    def _metadata(self, body: dict[str, Any]) -> dict[str, Any]:
        wanted = None if body["topics"] is None else {t["name"] for t in body["topics"]}
        topics: dict[str, list[dict[str, Any]]] = {}
        for tp, leader in sorted(self.leaders.items()):
            if wanted is None or tp.topic in wanted:
                topics.setdefault(tp.topic, []).append(
                    {
                        "error_code": 0,
                        "partition_index": tp.partition,
                        "leader_id": leader,
                        "leader_epoch": 0,
                        "replica_nodes": [leader],
                        "isr_nodes": [leader],
                        "offline_replicas": [],
                    }
                )
        return {
            "brokers": [
                {"node_id": n, "host": "127.0.0.1", "port": p, "rack": None} for n, p in self.ports.items()
            ],
            "cluster_id": "scripted",
            "controller_id": self.controller,
            "topics": [
                {"error_code": 0, "name": t, "topic_id": NIL_UUID, "is_internal": False, "partitions": ps}
                for t, ps in topics.items()
            ],
        }


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedCluster]]:
    clusters: list[ScriptedCluster] = []

    def start(brokers: int, handlers: dict[str, Handler]) -> ScriptedCluster:
        c = ScriptedCluster(brokers, handlers).__enter__()
        clusters.append(c)
        return c

    yield start
    for c in clusters:
        c.__exit__()


def test_create_topics_follows_the_controller_after_not_controller(scripted: Any) -> None:
    def create(node: int, body: dict[str, Any]) -> dict[str, Any]:
        names = [t["name"] for t in body["topics"]]
        if node == 1:  # the controller moved: tell the client, and point metadata at broker 2
            cluster.controller = 2
            return {"topics": [{"name": n, "error_code": 41, "error_message": None} for n in names]}
        return {
            "topics": [
                {"name": n, "error_code": 0, "num_partitions": 3, "replication_factor": 1} for n in names
            ]
        }

    cluster = scripted(2, {"CreateTopics": create})
    with KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, retry_backoff_ms=10) as admin:
        result = admin.create_topics(["a", "b"])
    assert [(r["name"], r["error_code"], r["num_partitions"]) for r in result["topics"]] == [
        ("a", 0, 3),
        ("b", 0, 3),
    ]
    assert cluster.calls("CreateTopics") == [1, 2]


def test_only_the_refused_topics_are_resent(scripted: Any) -> None:
    def delete(node: int, body: dict[str, Any]) -> dict[str, Any]:
        names = [t["name"] for t in body["topics"]]
        rows = []
        for n in names:
            refused = node == 1 and n == "b"
            rows.append({"name": n, "topic_id": NIL_UUID, "error_code": 41 if refused else 0})
        if node == 1:
            cluster.controller = 2
        return {"responses": rows}

    cluster = scripted(2, {"DeleteTopics": delete})
    with KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, retry_backoff_ms=10) as admin:
        result = admin.delete_topics(["a", "b"])
    assert [(r["name"], r["error_code"]) for r in result["topics"]] == [("a", 0), ("b", 0)]
    sent = [
        (node, [t["name"] for t in body["topics"]])
        for node, api, body in cluster.log
        if api == "DeleteTopics"
    ]
    assert sent == [(1, ["a", "b"]), (2, ["b"])]


def test_group_requests_follow_the_coordinator(scripted: Any) -> None:
    state = {"coordinator": 1}

    def find(node: int, body: dict[str, Any]) -> dict[str, Any]:
        c = state["coordinator"]
        return {
            "coordinators": [
                {"key": k, "node_id": c, "host": "127.0.0.1", "port": cluster.ports[c], "error_code": 0}
                for k in body["coordinator_keys"]
            ]
        }

    def describe(node: int, body: dict[str, Any]) -> dict[str, Any]:
        if node != state["coordinator"] or node == 1:
            state["coordinator"] = 2
            return {"groups": [{"group_id": g, "error_code": 16} for g in body["groups"]]}
        groups = [
            {"group_id": g, "error_code": 0, "group_state": "Empty", "protocol_type": "consumer"}
            for g in body["groups"]
        ]
        return {"groups": groups}

    cluster = scripted(2, {"FindCoordinator": find, "DescribeGroups": describe})
    with KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, retry_backoff_ms=10) as admin:
        described = admin.describe_groups(["g"])
        assert described["g"]["group_state"] == "Empty"
        assert described["g"]["error"] is None
        assert cluster.calls("DescribeGroups") == [1, 2]
        assert len(cluster.calls("FindCoordinator")) == 2
        admin.describe_groups(["g"])  # the coordinator is cached now
    assert len(cluster.calls("FindCoordinator")) == 2
    assert cluster.calls("DescribeGroups") == [1, 2, 2]


def test_delete_records_follows_the_leader(scripted: Any) -> None:
    tp = TopicPartition("t", 0)

    def delete_records(node: int, body: dict[str, Any]) -> dict[str, Any]:
        code = 0
        if node == 1:  # leadership moved to broker 2
            cluster.leaders[tp] = 2
            code = 6
        return {
            "topics": [
                {"name": "t", "partitions": [{"partition_index": 0, "low_watermark": 4, "error_code": code}]}
            ]
        }

    cluster = scripted(2, {"DeleteRecords": delete_records})
    cluster.leaders[tp] = 1
    with KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, retry_backoff_ms=10) as admin:
        assert admin.delete_records({tp: 4}) == {
            tp: {"partition_index": 0, "low_watermark": 4, "error_code": 0}
        }
    assert cluster.calls("DeleteRecords") == [1, 2]


def test_a_refusal_that_never_ends_times_out_naming_the_error(scripted: Any) -> None:
    def create(node: int, body: dict[str, Any]) -> dict[str, Any]:
        return {"topics": [{"name": t["name"], "error_code": 41} for t in body["topics"]]}

    cluster = scripted(1, {"CreateTopics": create})
    with KafkaAdminClient(
        bootstrap_servers=cluster.bootstrap_servers, retry_backoff_ms=10, request_timeout_ms=1000
    ) as admin:
        with pytest.raises(KafkaTimeoutError, match="create_topics did not complete.*NotControllerError"):
            admin.create_topics(["a"], timeout_ms=0)
    assert len(cluster.calls("CreateTopics")) > 1
