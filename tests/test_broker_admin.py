"""Embedded broker admin and metadata behaviour over the wire: topics, configs, producer ids,
Metadata/DescribeCluster, ListOffsets, DeleteRecords and OffsetForLeaderEpoch.

Exact error codes and messages are asserted on raw requests (``Wire``); persistence is checked by
stopping a broker and starting a new one on the same data dir.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkakit.broker import Broker
from tests.test_broker_server import Wire, metadata_body, produce_body

UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
UNSUPPORTED_VERSION = 35
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_REPLICA_ASSIGNMENT = 39
INVALID_CONFIG = 40
INVALID_REQUEST = 42
UNKNOWN_TOPIC_ID = 100


@pytest.fixture
def broker() -> Iterator[Broker]:
    with Broker() as b:
        yield b


def create(
    w: Wire, *topics: dict[str, Any], validate_only: bool = False, version: int = 7
) -> list[dict[str, Any]]:
    entries = [
        {"num_partitions": 1, "replication_factor": 1, "assignments": [], "configs": [], **t} for t in topics
    ]
    resp = w.request(
        "CreateTopics", version, {"topics": entries, "timeout_ms": 5000, "validate_only": validate_only}
    )
    return list(resp["topics"])


def cfg(**kv: str | None) -> list[dict[str, Any]]:
    return [{"name": k.replace("_", "."), "value": v} for k, v in kv.items()]


def describe(w: Wire, topic: str, keys: list[str] | None = None, resource_type: int = 2) -> dict[str, Any]:
    body = {
        "resources": [{"resource_type": resource_type, "resource_name": topic, "configuration_keys": keys}],
        "include_synonyms": True,
        "include_documentation": True,
    }
    return dict(w.request("DescribeConfigs", 4, body)["results"][0])


def config_values(result: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {c["name"]: (c["value"], c["config_source"]) for c in result["configs"]}


# ---------------------------------------------------------------- CreateTopics


def test_create_topics_validation(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        results = create(
            w,
            {"name": "ok-topic", "num_partitions": 3},
            {"name": "default-topic", "num_partitions": -1, "replication_factor": -1},
            {"name": "rf3", "replication_factor": 3},
            {"name": "bad name!"},
            {"name": "x" * 250},
            {"name": ".."},
            {"name": "zero-parts", "num_partitions": 0},
            {"name": "bad-config", "configs": cfg(retention_ms="soon")},
            {"name": "unknown-config", "configs": cfg(no_such_thing="1")},
            {
                "name": "foreign-replica",
                "num_partitions": -1,
                "replication_factor": -1,
                "assignments": [{"partition_index": 0, "broker_ids": [7]}],
            },
        )
        codes = {r["name"]: r["error_code"] for r in results}
        assert codes == {
            "ok-topic": 0,
            "default-topic": 0,
            "rf3": INVALID_REPLICATION_FACTOR,
            "bad name!": INVALID_TOPIC_EXCEPTION,
            "x" * 250: INVALID_TOPIC_EXCEPTION,
            "..": INVALID_TOPIC_EXCEPTION,
            "zero-parts": INVALID_PARTITIONS,
            "bad-config": INVALID_CONFIG,
            "unknown-config": INVALID_CONFIG,
            "foreign-replica": INVALID_REPLICA_ASSIGNMENT,
        }
        by_name = {r["name"]: r for r in results}
        assert "only 1 broker" in by_name["rf3"]["error_message"]
        assert "retention.ms" in by_name["bad-config"]["error_message"]
        assert "no.such.thing" in by_name["unknown-config"]["error_message"]
        assert (by_name["ok-topic"]["num_partitions"], by_name["ok-topic"]["replication_factor"]) == (3, 1)
        assert by_name["default-topic"]["num_partitions"] == 1
        assert by_name["ok-topic"]["topic_id"] != bytes(16)
        again = create(w, {"name": "ok-topic"})
        assert again[0]["error_code"] == TOPIC_ALREADY_EXISTS
        collide = create(w, {"name": "ok_topic"})
        assert collide[0]["error_code"] == 0  # '-' and '_' do not collide
        collide = create(w, {"name": "ok.topic"})
        assert (collide[0]["error_code"], "collides" in collide[0]["error_message"]) == (
            INVALID_TOPIC_EXCEPTION,
            True,
        )
        md = w.request("Metadata", 12, metadata_body(None))
        assert sorted(t["name"] for t in md["topics"]) == ["default-topic", "ok-topic", "ok_topic"]


def test_create_topics_validate_only_creates_nothing(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        [res] = create(w, {"name": "dry-run", "num_partitions": 4}, validate_only=True)
        assert (res["error_code"], res["num_partitions"]) == (0, 4)
        md = w.request("Metadata", 12, metadata_body(["dry-run"], auto_create=False))
        assert md["topics"][0]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION


def test_create_with_explicit_assignment(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        assignments = [{"partition_index": i, "broker_ids": [1]} for i in range(2)]
        [res] = create(
            w,
            {"name": "assigned", "num_partitions": -1, "replication_factor": -1, "assignments": assignments},
        )
        assert (res["error_code"], res["num_partitions"]) == (0, 2)


# ---------------------------------------------------------------- Metadata and DescribeCluster


def test_metadata_describes_a_one_node_cluster(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        create(w, {"name": "md", "num_partitions": 2})
        md = w.request("Metadata", 12, metadata_body(["md"]))
        dc = w.request("DescribeCluster", 0, {"include_cluster_authorized_operations": False})
    assert md["brokers"] == [{"node_id": 1, "host": "127.0.0.1", "port": broker.port, "rack": None}]
    assert md["controller_id"] == 1 and md["cluster_id"] == dc["cluster_id"] and len(md["cluster_id"]) == 22
    [topic] = md["topics"]
    assert (topic["name"], topic["is_internal"], topic["topic_authorized_operations"]) == (
        "md",
        False,
        -2147483648,
    )
    assert topic["partitions"] == [
        {
            "error_code": 0,
            "partition_index": i,
            "leader_id": 1,
            "leader_epoch": 0,
            "replica_nodes": [1],
            "isr_nodes": [1],
            "offline_replicas": [],
        }
        for i in range(2)
    ]
    assert dc["error_code"] == 0 and dc["controller_id"] == 1
    assert dc["brokers"] == [
        {"broker_id": 1, "host": "127.0.0.1", "port": broker.port, "rack": None, "is_fenced": False}
    ]


@pytest.mark.parametrize("version", range(0, 14))
def test_metadata_every_version_auto_creates(broker: Broker, version: int) -> None:
    with Wire(broker.bootstrap_servers) as w:
        md = w.request("Metadata", version, metadata_body([f"auto-{version}"]))
    [topic] = md["topics"]
    assert (topic["error_code"], topic["name"], len(topic["partitions"])) == (0, f"auto-{version}", 1)


def test_metadata_auto_creation_rules() -> None:
    with Broker(auto_create_topics_enable=False) as b, Wire(b.bootstrap_servers) as w:
        md = w.request("Metadata", 12, metadata_body(["not-created"]))
        assert md["topics"][0]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
        resp = w.request("Produce", 9, produce_body("not-created", [b"x"]))
        assert resp["responses"][0]["partition_responses"][0]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
    with Broker(num_partitions=3) as b, Wire(b.bootstrap_servers) as w:
        md = w.request("Metadata", 12, metadata_body(["declined"], auto_create=False))
        assert md["topics"][0]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
        md = w.request("Metadata", 12, metadata_body(["bad:name"]))
        assert md["topics"][0]["error_code"] == INVALID_TOPIC_EXCEPTION
        md = w.request("Metadata", 12, metadata_body(["three"]))
        assert len(md["topics"][0]["partitions"]) == 3
        unknown_id = {"topics": [{"name": None, "topic_id": b"\x07" * 16}], "allow_auto_topic_creation": True}
        md = w.request("Metadata", 12, unknown_id)
        assert (md["topics"][0]["error_code"], md["topics"][0]["name"]) == (UNKNOWN_TOPIC_ID, None)


def test_produce_auto_creates_with_the_default_partition_count() -> None:
    with Broker(num_partitions=2) as b, Wire(b.bootstrap_servers) as w:
        resp = w.request("Produce", 9, produce_body("from-produce", [b"x"], partition=1))
        assert resp["responses"][0]["partition_responses"][0]["error_code"] == 0
        assert len(w.request("Metadata", 12, metadata_body(["from-produce"]))["topics"][0]["partitions"]) == 2


# ---------------------------------------------------------------- DeleteTopics / CreatePartitions


def test_delete_topics_by_name_and_by_id(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        ids = {r["name"]: r["topic_id"] for r in create(w, {"name": "del-a"}, {"name": "del-b"})}
        resp = w.request("DeleteTopics", 5, {"topic_names": ["del-a", "missing"], "timeout_ms": 1000})
        assert {r["name"]: r["error_code"] for r in resp["responses"]} == {
            "del-a": 0,
            "missing": UNKNOWN_TOPIC_OR_PARTITION,
        }
        body = {
            "topics": [{"name": None, "topic_id": ids["del-b"]}, {"name": None, "topic_id": b"\x09" * 16}],
            "timeout_ms": 1000,
        }
        resp = w.request("DeleteTopics", 6, body)
        assert [(r["name"], r["error_code"]) for r in resp["responses"]] == [
            ("del-b", 0),
            (None, UNKNOWN_TOPIC_ID),
        ]
        assert w.request("Metadata", 12, metadata_body(None))["topics"] == []
        # a topic of the same name is a new topic: new id, empty log
        [again] = create(w, {"name": "del-a"})
        assert again["error_code"] == 0 and again["topic_id"] != ids["del-a"]


def test_create_partitions(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        create(w, {"name": "grow", "num_partitions": 2})

        def grow(count: int, validate_only: bool = False, name: str = "grow") -> dict[str, Any]:
            body = {
                "topics": [{"name": name, "count": count, "assignments": None}],
                "timeout_ms": 1000,
                "validate_only": validate_only,
            }
            return dict(w.request("CreatePartitions", 3, body)["results"][0])

        assert grow(6, validate_only=True)["error_code"] == 0
        assert len(w.request("Metadata", 12, metadata_body(["grow"]))["topics"][0]["partitions"]) == 2
        assert grow(4)["error_code"] == 0
        assert len(w.request("Metadata", 12, metadata_body(["grow"]))["topics"][0]["partitions"]) == 4
        shrink = grow(1)
        assert (
            shrink["error_code"] == INVALID_PARTITIONS
            and "higher than the requested 1" in shrink["error_message"]
        )
        assert grow(4)["error_code"] == INVALID_PARTITIONS
        assert grow(2, name="nope")["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
        resp = w.request("Produce", 9, produce_body("grow", [b"new"], partition=3))
        assert resp["responses"][0]["partition_responses"][0]["error_code"] == 0


# ---------------------------------------------------------------- configs


def test_describe_configs_topic_and_broker(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        create(w, {"name": "cfg", "configs": cfg(retention_ms="60000", cleanup_policy="compact")})
        res = describe(w, "cfg")
        values = config_values(res)
        assert values["retention.ms"] == ("60000", 1)
        assert values["cleanup.policy"] == ("compact", 1)
        assert values["segment.bytes"] == ("1073741824", 5)
        retention = next(c for c in res["configs"] if c["name"] == "retention.ms")
        assert retention["synonyms"] == [
            {"name": "retention.ms", "value": "60000", "source": 1},
            {"name": "log.retention.ms", "value": "604800000", "source": 5},
        ]
        assert retention["config_type"] == 5 and retention["documentation"]
        only = describe(w, "cfg", keys=["retention.ms", "max.message.bytes"])
        assert sorted(config_values(only)) == ["max.message.bytes", "retention.ms"]
        assert describe(w, "cfg", keys=[])["configs"] == []
        missing = describe(w, "no-such-topic")
        assert missing["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
        brk = describe(w, "1", resource_type=4)
        assert brk["error_code"] == 0
        assert config_values(brk)["num.partitions"] == ("1", 4)
        assert all(c["read_only"] for c in brk["configs"])
        assert describe(w, "", resource_type=4)["error_code"] == 0
        assert describe(w, "9", resource_type=4)["error_code"] == INVALID_REQUEST
        assert describe(w, "x", resource_type=8)["error_code"] == INVALID_REQUEST


def test_alter_configs_replaces_and_incremental_alter_edits(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        create(w, {"name": "alter", "configs": cfg(retention_ms="60000")})

        def alter(
            configs: list[dict[str, Any]], validate_only: bool = False, rtype: int = 2, name: str = "alter"
        ) -> dict[str, Any]:
            body = {
                "resources": [{"resource_type": rtype, "resource_name": name, "configs": configs}],
                "validate_only": validate_only,
            }
            return dict(w.request("AlterConfigs", 2, body)["responses"][0])

        def incremental(configs: list[dict[str, Any]], validate_only: bool = False) -> dict[str, Any]:
            body = {
                "resources": [{"resource_type": 2, "resource_name": "alter", "configs": configs}],
                "validate_only": validate_only,
            }
            return dict(w.request("IncrementalAlterConfigs", 1, body)["responses"][0])

        assert alter(cfg(segment_bytes="1048576"))["error_code"] == 0
        values = config_values(describe(w, "alter"))
        assert values["segment.bytes"] == ("1048576", 1) and values["retention.ms"] == ("604800000", 5)
        assert alter(cfg(segment_bytes="2048"), validate_only=True)["error_code"] == 0
        assert config_values(describe(w, "alter"))["segment.bytes"] == ("1048576", 1)
        bad = alter(cfg(max_message_bytes="-5"))
        assert bad["error_code"] == INVALID_CONFIG and "max.message.bytes" in bad["error_message"]
        assert alter(cfg(segment_bytes="1"), rtype=4, name="1")["error_code"] == INVALID_CONFIG
        assert alter(cfg(retention_ms="1"), name="missing")["error_code"] == UNKNOWN_TOPIC_OR_PARTITION

        ops = [
            {"name": "retention.ms", "config_operation": 0, "value": "120000"},
            {"name": "segment.bytes", "config_operation": 1, "value": None},
            {"name": "cleanup.policy", "config_operation": 2, "value": "compact"},
        ]
        assert incremental(ops)["error_code"] == 0
        values = config_values(describe(w, "alter"))
        assert values["retention.ms"] == ("120000", 1)
        assert values["segment.bytes"] == ("1073741824", 5)
        assert values["cleanup.policy"] == ("delete,compact", 1)
        assert (
            incremental([{"name": "cleanup.policy", "config_operation": 3, "value": "delete"}])["error_code"]
            == 0
        )
        assert config_values(describe(w, "alter"))["cleanup.policy"] == ("compact", 1)
        assert (
            incremental([{"name": "retention.ms", "config_operation": 2, "value": "5"}])["error_code"]
            == INVALID_CONFIG
        )
        assert (
            incremental([{"name": "retention.ms", "config_operation": 9, "value": "5"}])["error_code"]
            == INVALID_REQUEST
        )


def test_topics_and_configs_survive_a_restart(tmp_path: Path) -> None:
    with Broker(data_dir=tmp_path) as b, Wire(b.bootstrap_servers) as w:
        [res] = create(w, {"name": "durable", "num_partitions": 2, "configs": cfg(retention_ms="99000")})
        topic_id = res["topic_id"]
        w.request("Produce", 9, produce_body("durable", [b"a", b"b"], partition=1))
        cluster_id = w.request("Metadata", 12, metadata_body(None))["cluster_id"]
    with Broker(data_dir=tmp_path) as b, Wire(b.bootstrap_servers) as w:
        md = w.request("Metadata", 12, metadata_body(None))
        assert md["cluster_id"] == cluster_id
        [topic] = md["topics"]
        assert (topic["name"], topic["topic_id"], len(topic["partitions"])) == ("durable", topic_id, 2)
        assert config_values(describe(w, "durable"))["retention.ms"] == ("99000", 1)
        assert _list_offsets(w, "durable", 1, -1)["offset"] == 2


def test_a_data_dir_serves_one_broker_at_a_time(tmp_path: Path) -> None:
    with Broker(data_dir=tmp_path), pytest.raises(RuntimeError, match="in use by another kafkakit broker"):
        Broker(data_dir=tmp_path).start()


def test_config_changes_reach_the_log(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        create(w, {"name": "small-batches", "configs": cfg(max_message_bytes="1000")})
        resp = w.request("Produce", 9, produce_body("small-batches", [b"x" * 2000]))
        part = resp["responses"][0]["partition_responses"][0]
        assert part["error_code"] == 10 and "max.message.bytes" in part["error_message"]  # MESSAGE_TOO_LARGE
        body = {
            "resources": [
                {
                    "resource_type": 2,
                    "resource_name": "small-batches",
                    "configs": [{"name": "max.message.bytes", "config_operation": 0, "value": "100000"}],
                }
            ],
            "validate_only": False,
        }
        assert w.request("IncrementalAlterConfigs", 1, body)["responses"][0]["error_code"] == 0
        resp = w.request("Produce", 9, produce_body("small-batches", [b"x" * 2000]))
        assert resp["responses"][0]["partition_responses"][0]["error_code"] == 0


# ---------------------------------------------------------------- InitProducerId


def _init_pid(
    w: Wire, version: int = 4, pid: int = -1, epoch: int = -1, txn: str | None = None
) -> dict[str, Any]:
    body = {
        "transactional_id": txn,
        "transaction_timeout_ms": 60000,
        "producer_id": pid,
        "producer_epoch": epoch,
    }
    return dict(w.request("InitProducerId", version, body))


def test_producer_ids_are_never_reused_across_restarts(tmp_path: Path) -> None:
    seen = []
    for _ in range(3):
        with Broker(data_dir=tmp_path) as b, Wire(b.bootstrap_servers) as w:
            for version in (0, 2, 5):
                r = _init_pid(w, version)
                assert (r["error_code"], r["producer_epoch"]) == (0, 0)
                seen.append(r["producer_id"])
    assert len(set(seen)) == len(seen) == 9


def test_init_producer_id_bumps_the_epoch_of_a_known_producer(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        first = _init_pid(w)
        bumped = _init_pid(w, pid=first["producer_id"], epoch=0)
        assert (bumped["error_code"], bumped["producer_id"], bumped["producer_epoch"]) == (
            0,
            first["producer_id"],
            1,
        )
        foreign = _init_pid(w, pid=10**12, epoch=3)  # never issued here: a new id instead
        assert (
            foreign["error_code"] == 0 and foreign["producer_id"] != 10**12 and foreign["producer_epoch"] == 0
        )
        exhausted = _init_pid(w, pid=first["producer_id"], epoch=32766)
        assert exhausted["producer_id"] != first["producer_id"] and exhausted["producer_epoch"] == 0
        assert _init_pid(w, pid=first["producer_id"], epoch=-1)["error_code"] == INVALID_REQUEST


def test_transactional_init_producer_id_fences_the_previous_epoch(broker: Broker) -> None:
    # transactions are served by the transaction coordinator (tests/test_broker_txn.py)
    with Wire(broker.bootstrap_servers) as w:
        first = _init_pid(w, txn="my-txn")
        again = _init_pid(w, txn="my-txn")
    assert (first["error_code"], first["producer_epoch"]) == (0, 0)
    assert (again["error_code"], again["producer_id"], again["producer_epoch"]) == (
        0,
        first["producer_id"],
        1,
    )


# ---------------------------------------------------------------- ListOffsets / DeleteRecords / OffsetForLeaderEpoch


def _list_offsets(
    w: Wire, topic: str, partition: int, timestamp: int, version: int = 7, isolation: int = 0
) -> dict[str, Any]:
    body = {
        "replica_id": -1,
        "isolation_level": isolation,
        "topics": [
            {
                "name": topic,
                "partitions": [
                    {"partition_index": partition, "current_leader_epoch": -1, "timestamp": timestamp}
                ],
            }
        ],
        "timeout_ms": 1000,
    }
    return dict(w.request("ListOffsets", version, body)["topics"][0]["partitions"][0])


def test_list_offsets(broker: Broker) -> None:
    base = 1_700_000_000_000  # produce_body stamps record i with base + i
    with Wire(broker.bootstrap_servers) as w:
        assert _list_offsets(w, "lo", 0, -1)["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
        w.request("Produce", 9, produce_body("lo", [b"a", b"b", b"c"]))
        w.request("Produce", 9, produce_body("lo", [b"d", b"e"]))  # timestamps base .. base+1 again
        latest, earliest = _list_offsets(w, "lo", 0, -1), _list_offsets(w, "lo", 0, -2)
        assert (latest["offset"], latest["timestamp"], latest["leader_epoch"]) == (5, -1, 0)
        assert (earliest["offset"], earliest["timestamp"]) == (0, -1)
        assert _list_offsets(w, "lo", 0, -1, isolation=1)["offset"] == 5
        max_ts = _list_offsets(w, "lo", 0, -3)
        assert (max_ts["offset"], max_ts["timestamp"]) == (2, base + 2)
        at = _list_offsets(w, "lo", 0, base + 1)
        assert (at["offset"], at["timestamp"]) == (1, base + 1)
        none = _list_offsets(w, "lo", 0, base + 10)
        assert (none["error_code"], none["offset"], none["timestamp"]) == (0, -1, -1)
        # an unknown special timestamp, or one older than its version (-3 needs v7): as Kafka
        assert _list_offsets(w, "lo", 0, -7)["error_code"] == UNSUPPORTED_VERSION
        assert _list_offsets(w, "lo", 0, -3, version=6)["error_code"] == UNSUPPORTED_VERSION
        for version in range(1, 12):
            assert _list_offsets(w, "lo", 0, -1, version=version)["offset"] == 5
        assert _list_offsets(w, "lo", 3, -1)["error_code"] == UNKNOWN_TOPIC_OR_PARTITION


def test_delete_records_moves_the_log_start(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        w.request("Produce", 9, produce_body("dr", [b"%d" % i for i in range(10)]))

        def delete(offset: int, topic: str = "dr") -> dict[str, Any]:
            body = {
                "topics": [{"name": topic, "partitions": [{"partition_index": 0, "offset": offset}]}],
                "timeout_ms": 1000,
            }
            return dict(w.request("DeleteRecords", 2, body)["topics"][0]["partitions"][0])

        assert (delete(4)["error_code"], delete(4)["low_watermark"]) == (0, 4)
        assert delete(2)["low_watermark"] == 4  # never backwards
        assert delete(11)["error_code"] == 1  # OFFSET_OUT_OF_RANGE: beyond the high watermark
        assert _list_offsets(w, "dr", 0, -2)["offset"] == 4
        assert delete(-1)["low_watermark"] == 10
        assert delete(0, topic="nope")["error_code"] == UNKNOWN_TOPIC_OR_PARTITION


def test_offset_for_leader_epoch(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        w.request("Produce", 9, produce_body("ofle", [b"a", b"b", b"c"]))

        def ask(epoch: int, current: int = -1, version: int = 4) -> dict[str, Any]:
            body = {
                "replica_id": -1,
                "topics": [
                    {
                        "topic": "ofle",
                        "partitions": [
                            {"partition": 0, "current_leader_epoch": current, "leader_epoch": epoch}
                        ],
                    }
                ],
            }
            return dict(w.request("OffsetForLeaderEpoch", version, body)["topics"][0]["partitions"][0])

        for version in (2, 3, 4):
            r = ask(0, version=version)
            assert (r["error_code"], r["leader_epoch"], r["end_offset"]) == (0, 0, 3)
        assert (ask(5)["leader_epoch"], ask(5)["end_offset"]) == (-1, -1)
        assert ask(0, current=3)["error_code"] == 75  # UNKNOWN_LEADER_EPOCH: newer than ours


def test_retention_applies_topic_configs_to_the_log() -> None:
    with Broker(log_retention_check_interval_ms=50) as b, Wire(b.bootstrap_servers) as w:
        # retention.ms -1: only the size limit applies (the records carry 2023 timestamps)
        create(
            w,
            {
                "name": "retained",
                "configs": cfg(segment_bytes="2000", retention_bytes="3000", retention_ms="-1"),
            },
        )
        for i in range(20):
            w.request("Produce", 9, produce_body("retained", [bytes([i]) * 900]))
        deadline = time.monotonic() + 30
        while _list_offsets(w, "retained", 0, -2)["offset"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        # ten 2-batch segments of 1940 bytes: whole old segments go while the rest still holds
        # at least retention.bytes, so the last two (offsets 16-19) stay
        assert _list_offsets(w, "retained", 0, -2)["offset"] == 16
        assert _list_offsets(w, "retained", 0, -1)["offset"] == 20


def test_fsync_mode_acknowledges_after_the_group_commit(tmp_path: Path) -> None:
    with Broker(data_dir=tmp_path, fsync=True) as b, Wire(b.bootstrap_servers) as w:
        for i in range(5):
            resp = w.request("Produce", 9, produce_body("synced", [b"%d" % i]))
            assert resp["responses"][0]["partition_responses"][0]["base_offset"] == i
        committer = b.state.committer
        assert committer is not None and committer.fsyncs >= 5
        assert b.state.topics.get_log("synced", 0).synced_offset == 5


def test_produce_by_topic_id_from_v13(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        [res] = create(w, {"name": "pid13"})
        body = produce_body("", [b"by id"])
        body["topic_data"][0]["topic_id"] = res["topic_id"]
        resp = w.request("Produce", 13, body)
        [topic] = resp["responses"]
        assert (topic["topic_id"], topic["partition_responses"][0]["error_code"]) == (res["topic_id"], 0)
        body["topic_data"][0]["topic_id"] = b"\x05" * 16
        resp = w.request("Produce", 13, body)
        assert resp["responses"][0]["partition_responses"][0]["error_code"] == UNKNOWN_TOPIC_ID
