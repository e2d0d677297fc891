"""KafkaAdminClient against real brokers (``bootstrap``: embedded, tansu, Apache Kafka 1 and 3 nodes).

kafka-python 3.x's KafkaAdminClient is the oracle: the same question asked through both clients on the
same cluster must get the same answer (same shapes, same values). Changes made through kafkakit are
read back through kafka-python, and records come from kafkakit's producer and consumer.

tansu lacks several admin APIs (CreatePartitions, OffsetDelete, DeleteRecords, topic configs,
classic group listing); those tests skip on it with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kafkakit import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafkakit.client.admin import (
    ApiKey,
    ConfigResource,
    ConfigResourceType,
    GroupInformation,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    OffsetTimestamp,
)
from kafkakit.client.config import UnrecognizedConfigError
from kafkakit.errors import (
    GroupIdNotFoundError,
    IllegalStateError,
    InvalidPartitionsError,
    NoBrokersAvailable,
    NoError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from kafkakit.structs import OffsetAndMetadata, TopicPartition
from tests.infra import api_versions as wire_api_versions
from tests.infra import free_port, parse_bootstrap, wait_until

kp_admin = pytest.importorskip("kafka.admin")


def skip_on(broker: str | None, *kinds: str, why: str) -> None:
    if broker in kinds:
        pytest.skip(f"{broker}: {why}")


@pytest.fixture
def admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    with KafkaAdminClient(bootstrap_servers=bootstrap) as a:
        yield a


@pytest.fixture
def peer(bootstrap: str) -> Iterator[Any]:
    """kafka-python's admin client on the same cluster (the oracle)."""
    p = kp_admin.KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        yield p
    finally:
        p.close()


def produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    with KafkaProducer(bootstrap_servers=bootstrap, acks=-1, retries=5) as p:
        futures = [
            p.send(topic, f"{part}-{i}".encode(), partition=part)
            for part, n in per_partition.items()
            for i in range(n)
        ]
        p.flush()
        for f in futures:
            f.get(timeout=30)


def text_user_data(described: dict[str, Any]) -> dict[str, Any]:
    """kafka-python shows a member's user_data bytes as str; kafkakit keeps bytes."""
    for g in described.values():
        for m in g["members"]:
            for key in ("member_metadata", "member_assignment"):
                v = m[key]
                if isinstance(v, dict) and isinstance(v.get("user_data"), bytes):
                    v["user_data"] = v["user_data"].decode()
    return described


# --- topics ------------------------------------------------------------------------------------


def test_topic_lifecycle_matches_kafka_python(
    admin: KafkaAdminClient, peer: Any, bootstrap_broker: str, topic_name: str
) -> None:
    created = admin.create_topics([NewTopic(topic_name, 3, 1)], wait_for_metadata=True)
    row = created["topics"][0]
    assert (row["name"], row["error_code"], row["error_message"]) == (topic_name, 0, None)
    assert (row["num_partitions"], row["replication_factor"]) == (3, 1)
    assert uuid.UUID(row["topic_id"]).version is not None

    assert topic_name in admin.list_topics()
    assert sorted(admin.list_topics()) == sorted(peer.list_topics())
    mine = admin.describe_topics([topic_name])
    assert mine == peer.describe_topics([topic_name])
    assert [p["partition_index"] for p in mine[0]["partitions"]] == [0, 1, 2]
    assert mine[0]["topic_id"] == row["topic_id"]

    with pytest.raises(TopicAlreadyExistsError, match=topic_name):
        admin.create_topics([topic_name])
    again = admin.create_topics([topic_name], raise_errors=False)["topics"][0]
    assert (again["name"], again["error_code"]) == (topic_name, TopicAlreadyExistsError.errno)

    deleted = admin.delete_topics([topic_name])
    assert [(r["name"], r["error_code"]) for r in deleted["topics"]] == [(topic_name, 0)]
    wait_until(lambda: topic_name not in peer.list_topics(), timeout=30, what="topic deleted")

    def gone_for_us() -> bool:  # (on a KRaft cluster each broker applies the deletion on its own)
        try:
            admin.describe_topics([topic_name])
        except UnknownTopicOrPartitionError as exc:
            assert topic_name in str(exc)
            return True
        return False

    wait_until(gone_for_us, timeout=30, what="topic deleted for our client")
    with pytest.raises(UnknownTopicOrPartitionError, match=topic_name):
        admin.delete_topics([topic_name])


def test_create_with_options_and_configs(
    admin: KafkaAdminClient, peer: Any, bootstrap_broker: str, topic_name: str
) -> None:
    skip_on(bootstrap_broker, "tansu", why="DescribeConfigs returns no topic configs")
    admin.create_topics(
        {
            topic_name: {
                "num_partitions": 2,
                "configs": {"retention.ms": 86400000, "cleanup.policy": "delete"},
            }
        },
        wait_for_metadata=True,
    )
    resource = [ConfigResource(ConfigResourceType.TOPIC, topic_name)]
    mine = admin.describe_configs(resource)
    assert mine == peer.describe_configs([kp_admin.ConfigResource("TOPIC", topic_name)])
    assert mine["topic"][topic_name]["retention.ms"]["value"] == "86400000"
    assert mine["topic"][topic_name]["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"

    changed = admin.alter_configs([ConfigResource("topic", topic_name, {"retention.ms": "3600000"})])
    assert changed == {"topic": {topic_name: "OK"}}

    def altered() -> Any:  # on a KRaft cluster other brokers learn the change a moment later
        seen = peer.describe_configs([kp_admin.ConfigResource("TOPIC", topic_name)])
        return seen if seen["topic"][topic_name]["retention.ms"]["value"] == "3600000" else None

    after = wait_until(altered, timeout=30, what="altered config visible")
    # incremental: cleanup.policy was left alone
    assert after["topic"][topic_name]["cleanup.policy"]["value"] == "delete"
    assert (
        admin.describe_configs(resource, config_filter="all")["topic"][topic_name]["retention.ms"]["value"]
        == "3600000"
    )

    with pytest.raises(ValueError, match="no.such.key"):
        admin.alter_configs([ConfigResource("topic", topic_name, {"no.such.key": "1"})])
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(UnknownTopicOrPartitionError, match=missing):
        admin.describe_configs([ConfigResource("topic", missing)])


def test_create_partitions(
    admin: KafkaAdminClient, peer: Any, bootstrap_broker: str, topic_name: str
) -> None:
    skip_on(bootstrap_broker, "tansu", why="no CreatePartitions")
    admin.create_topics({topic_name: {"num_partitions": 1}}, wait_for_metadata=True)
    grown = admin.create_partitions({topic_name: NewPartitions(3)})
    assert grown == {"results": [{"name": topic_name, "error_code": 0, "error_message": None}]}

    def three() -> bool:
        return len(peer.describe_topics([topic_name])[0]["partitions"]) == 3

    wait_until(three, timeout=30, what="3 partitions")
    # the broker our client asks may apply the change a moment after the one the peer asked
    wait_until(
        lambda: admin.describe_topics([topic_name]) == peer.describe_topics([topic_name]),
        timeout=30,
        what="both clients see 3 partitions",
    )
    with pytest.raises(InvalidPartitionsError, match=topic_name):
        admin.create_partitions({topic_name: 2})
    assert admin.create_partitions({topic_name: 5}, validate_only=True)["results"][0]["error_code"] == 0
    assert len(admin.describe_topics([topic_name])[0]["partitions"]) == 3


# --- cluster -----------------------------------------------------------------------------------


def test_describe_cluster_and_api_versions(admin: KafkaAdminClient, peer: Any, bootstrap: str) -> None:
    mine = admin.describe_cluster()
    theirs = peer.describe_cluster()
    # KRaft brokers report a random live broker as controller_id: compare the rest exactly
    assert {k: v for k, v in mine.items() if k != "controller_id"} == {
        k: v for k, v in theirs.items() if k != "controller_id"
    }
    assert mine["controller_id"] in {b["broker_id"] for b in mine["brokers"]}
    versions = admin.api_versions()
    # kafka-python's api_versions() fails on keys newer than its ApiKey enum (Kafka 4.x has 93, 94):
    # the infrastructure's wire client is the oracle here
    host, port = parse_bootstrap(bootstrap)[0]
    assert {int(k): v for k, v in versions.items()} == wire_api_versions(host, port)
    assert ApiKey.Produce in versions and versions[ApiKey.Produce] == versions[0]


# --- groups ------------------------------------------------------------------------------------


def test_group_operations_match_kafka_python(
    admin: KafkaAdminClient, peer: Any, bootstrap: str, bootstrap_broker: str, topic_name: str
) -> None:
    skip_on(bootstrap_broker, "tansu", why="no classic group listing, OffsetDelete or admin commits")
    admin.create_topics({topic_name: {"num_partitions": 2}}, wait_for_metadata=True)
    produce(bootstrap, topic_name, {0: 5, 1: 5})
    group = f"g-{topic_name}"
    tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)
    consumer = KafkaConsumer(
        topic_name,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        got = 0
        while got < 10:
            got += sum(len(v) for v in consumer.poll(timeout_ms=1000).values())
        consumer.commit()
        listed = {g["group_id"]: g for g in admin.list_groups()}
        assert listed[group] == next(g for g in peer.list_groups() if g["group_id"] == group)
        assert (listed[group]["group_state"], listed[group]["protocol_type"]) == ("Stable", "consumer")
        described = admin.describe_groups([group])
        assert text_user_data(described) == peer.describe_groups([group])
        member = described[group]["members"][0]
        assert member["member_metadata"]["topics"] == [topic_name]
        assigned = member["member_assignment"]["assigned_partitions"]
        assert [(a["topic"], sorted(a["partitions"])) for a in assigned] == [(topic_name, [0, 1])]
    finally:
        consumer.close()

    offsets = admin.list_group_offsets(group)
    assert offsets == peer.list_group_offsets({group: None})
    assert {tp: o.offset for tp, o in offsets[group].items()} == {tp0: 5, tp1: 5}

    assert admin.alter_group_offsets(group, {tp0: OffsetAndMetadata(2, "note", -1)}) == {tp0: NoError}
    assert admin.list_group_offsets({group: [tp0]})[group][tp0] == (2, "note", -1)

    reset = admin.reset_group_offsets(group, {tp0: OffsetSpec.EARLIEST, tp1: OffsetTimestamp(2**62)})
    assert reset == {tp0: {"error": NoError, "offset": 0}, tp1: {"error": NoError, "offset": 5}}
    assert admin.reset_group_offsets(group, {tp0: 99}) == {tp0: {"error": NoError, "offset": 5}}
    assert admin.reset_group_offsets(group, {tp0: 3})[tp0]["offset"] == 3

    # kafka-python 2.x names keep their 2.x shapes
    assert (group, "consumer") in admin.list_consumer_groups()
    info = admin.describe_consumer_groups([group])
    assert isinstance(info[0], GroupInformation)
    assert (info[0].group, info[0].state, info[0].members) == (group, "Empty", [])
    assert admin.list_consumer_group_offsets(group) == {
        tp0: OffsetAndMetadata(3, "note", -1),
        tp1: peer.list_group_offsets(group)[group][tp1],
    }

    assert admin.delete_group_offsets(group, [tp0]) == {tp0: NoError}
    assert set(admin.list_group_offsets(group)[group]) == {tp1}

    missing = f"missing-{uuid.uuid4().hex[:8]}"
    assert admin.delete_groups([group, missing]) == {group: "OK", missing: "GroupIdNotFoundError"}
    assert admin.delete_consumer_groups([missing]) == [(missing, GroupIdNotFoundError)]
    assert group not in {g["group_id"] for g in peer.list_groups()}


# --- records -----------------------------------------------------------------------------------


def test_partition_offsets_and_delete_records(
    admin: KafkaAdminClient, peer: Any, bootstrap: str, bootstrap_broker: str, topic_name: str
) -> None:
    skip_on(bootstrap_broker, "tansu", why="DeleteRecords is not answered")
    admin.create_topics({topic_name: {"num_partitions": 2}}, wait_for_metadata=True)
    produce(bootstrap, topic_name, {0: 10, 1: 3})
    tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)
    ends = admin.list_partition_offsets({tp0: OffsetSpec.LATEST, tp1: "latest"})
    assert {tp: o.offset for tp, o in ends.items()} == {tp0: 10, tp1: 3}
    theirs = peer.list_partition_offsets({tp0: kp_admin.OffsetSpec.LATEST, tp1: kp_admin.OffsetSpec.LATEST})
    assert {tp: o.offset for tp, o in theirs.items()} == {tp0: 10, tp1: 3}

    deleted = admin.delete_records({tp0: 4})
    assert deleted == {tp0: {"partition_index": 0, "low_watermark": 4, "error_code": 0}}
    starts = admin.list_partition_offsets({tp0: OffsetSpec.EARLIEST, tp1: OffsetSpec.EARLIEST})
    assert {tp: o.offset for tp, o in starts.items()} == {tp0: 4, tp1: 0}
    assert admin.delete_records({tp1: -1})[tp1]["low_watermark"] == 3

    with pytest.raises(UnknownTopicOrPartitionError, match=f"{topic_name}-7"):
        admin.delete_records({TopicPartition(topic_name, 7): 1})


# --- argument checking, lifecycle --------------------------------------------------------------


def test_bad_arguments_name_what_is_wrong(embedded_broker_module: Any) -> None:
    with KafkaAdminClient(bootstrap_servers=embedded_broker_module.bootstrap_servers) as a:
        with pytest.raises(TypeError, match="123"):
            a.create_topics([123])
        with pytest.raises(ValueError, match="num_partitions"):
            a.create_topics([NewTopic("x", 0)])
        with pytest.raises(ValueError, match="'bogus'"):
            a.create_topics({"x": {"bogus": 1}})
        with pytest.raises(TypeError, match="create_partitions"):
            a.create_partitions([("x", 2)])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="ConfigResourceType 'nope'"):
            ConfigResource("nope", "x")
        with pytest.raises(TypeError, match="ConfigResource"):
            a.describe_configs([object()])  # type: ignore[list-item]
        with pytest.raises(TypeError, match="must be a dict"):
            a.alter_configs([ConfigResource("topic", "x", ["retention.ms"])])
        with pytest.raises(TypeError, match="OffsetSpec, OffsetTimestamp or int"):
            a.reset_group_offsets("g", {TopicPartition("x", 0): 1.5})
        with pytest.raises(TypeError, match="TopicPartition"):
            a.delete_group_offsets("g", ["x"])  # type: ignore[list-item]
    with pytest.raises(UnrecognizedConfigError, match="bogus_option"):
        KafkaAdminClient(bootstrap_servers=embedded_broker_module.bootstrap_servers, bogus_option=1)


def test_unreachable_cluster_and_closed_client(embedded_broker_module: Any) -> None:
    port = free_port()
    with pytest.raises(NoBrokersAvailable, match=f"127.0.0.1:{port}"):
        KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", bootstrap_timeout_ms=300)
    a = KafkaAdminClient(bootstrap_servers=embedded_broker_module.bootstrap_servers)
    a.close()
    a.close()
    with pytest.raises(IllegalStateError, match="closed"):
        a.list_topics()
