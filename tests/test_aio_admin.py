"""AIOKafkaAdminClient against real brokers (``bootstrap``: embedded, tansu, Apache Kafka 1 and 3 nodes).

Every change made through the asyncio admin client is checked with confluent-kafka's admin client
and consumer (librdkafka, an independent peer); results are the same shapes KafkaAdminClient
returns, since both run the same core.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from kafkakit.aio import AIOKafkaAdminClient
from kafkakit.client.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafkakit.errors import (
    IllegalStateError,
    KafkaConfigurationError,
    NoBrokersAvailable,
    TopicAlreadyExistsError,
)
from kafkakit.structs import OffsetAndMetadata, TopicPartition
from tests.infra import free_port, metadata, parse_bootstrap, wait_until
from tests.test_aio_support import ck, ck_produce, run, thread_ids


def ck_admin(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap})


def wire_partitions(bootstrap: str, topic: str) -> int | None:
    """Partition count from a Metadata request that never auto-creates (the infrastructure's wire client)."""
    host, port = parse_bootstrap(bootstrap)[0]
    t = metadata(host, port, [topic]).topics.get(topic)
    return None if t is None or t.error_code else len(t.partitions)


def test_topic_lifecycle(bootstrap: str, bootstrap_broker: str, topic_name: str) -> None:
    before = thread_ids()

    async def body() -> None:
        async with AIOKafkaAdminClient(bootstrap_servers=bootstrap) as a:
            assert not thread_ids() - before
            created = await a.create_topics([NewTopic(topic_name, 2, 1)])
            row = created["topics"][0]
            assert (row["name"], row["error_code"], row["num_partitions"]) == (topic_name, 0, 2)
            with pytest.raises(TopicAlreadyExistsError, match=topic_name):
                await a.create_topics([NewTopic(topic_name, 2, 1)])
            await a.wait_for_topics([topic_name])
            assert topic_name in await a.list_topics()
            (desc,) = await a.describe_topics([topic_name])
            assert desc["name"] == topic_name and desc["error_code"] == 0
            assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1]
            assert wire_partitions(bootstrap, topic_name) == 2
            if bootstrap_broker != "tansu":  # tansu has no CreatePartitions
                await a.create_partitions({topic_name: NewPartitions(3)})
                # Kafka answers once the controller accepted; on a multi-broker cluster the broker
                # asked for metadata may learn of the new partition a moment later
                deadline = asyncio.get_running_loop().time() + 30
                while True:
                    (desc,) = await a.describe_topics([topic_name])
                    if len(desc["partitions"]) == 3 or asyncio.get_running_loop().time() > deadline:
                        break
                    await asyncio.sleep(0.1)
                assert len(desc["partitions"]) == 3
            deleted = await a.delete_topics([topic_name])
            assert [(r["name"], r["error_code"]) for r in deleted["topics"]] == [(topic_name, 0)]

    run(body())
    if bootstrap_broker != "tansu":  # tansu creates topics on Metadata requests
        # (each broker of a KRaft cluster applies the deletion from the metadata log on its own)
        wait_until(lambda: wire_partitions(bootstrap, topic_name) is None, timeout=30, what="topic gone")


def test_configs(bootstrap: str, bootstrap_broker: str, topic_name: str) -> None:
    if bootstrap_broker == "tansu":
        pytest.skip("tansu does not keep topic configs")
    res = ConfigResource(ConfigResourceType.TOPIC, topic_name)

    async def body() -> dict[str, Any]:
        async with AIOKafkaAdminClient(bootstrap_servers=bootstrap) as a:
            await a.create_topics([NewTopic(topic_name, 1, 1, topic_configs={"retention.ms": "1000000"})])
            # on a multi-broker cluster the broker asked may learn of the topic a little later
            await a.wait_for_topics([topic_name])
            got = await a.describe_configs([res])
            assert got["topic"][topic_name]["retention.ms"]["value"] == "1000000"
            assert got["topic"][topic_name]["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
            await a.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic_name, {"retention.ms": "2000000"})]
            )
            # On a KRaft cluster the controller has the change when alter_configs returns; the broker
            # asked next may apply it from the metadata log a moment later. Poll, bounded.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while True:
                got = await a.describe_configs([res])
                if got["topic"][topic_name]["retention.ms"]["value"] == "2000000" or loop.time() > deadline:
                    return got
                await asyncio.sleep(0.2)

    after = run(body())
    assert after["topic"][topic_name]["retention.ms"]["value"] == "2000000"
    from confluent_kafka.admin import ConfigResource as CkResource

    peer = ck_admin(bootstrap)

    def peer_value() -> str | None:  # librdkafka may ask a broker that applies the change later still
        fut = peer.describe_configs([CkResource("topic", topic_name)])
        (entries,) = [f.result(10) for f in fut.values()]
        value: str = entries["retention.ms"].value
        return value if value == "2000000" else None

    assert wait_until(peer_value, timeout=30, what="altered config seen by librdkafka") == "2000000"


def test_cluster_and_api_versions(bootstrap: str) -> None:
    async def body() -> tuple[dict[str, Any], dict[Any, tuple[int, int]]]:
        async with AIOKafkaAdminClient(bootstrap_servers=bootstrap) as a:
            return await a.describe_cluster(), await a.api_versions()

    cluster, versions = run(body())
    md = ck_admin(bootstrap).list_topics(timeout=10)
    assert {b["broker_id"] for b in cluster["brokers"]} == set(md.brokers)
    assert cluster["cluster_id"] == md.cluster_id
    assert versions[0][0] <= versions[0][1] and versions[18][1] >= 3  # Produce, ApiVersions


def test_groups_offsets_and_records(bootstrap: str, bootstrap_broker: str, topic_name: str) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)

    async def create() -> None:
        async with AIOKafkaAdminClient(bootstrap_servers=bootstrap) as a:
            await a.create_topics([NewTopic(topic_name, 2, 1)])
            await a.wait_for_topics([topic_name])

    run(create())
    ck_produce(bootstrap, topic_name, [(i % 2, None, b"v%d" % i) for i in range(20)])
    c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    c.assign([ck.TopicPartition(topic_name, 0, 0), ck.TopicPartition(topic_name, 1, 0)])
    c.commit(
        offsets=[ck.TopicPartition(topic_name, 0, 4), ck.TopicPartition(topic_name, 1, 7)], asynchronous=False
    )
    c.close()

    async def body() -> None:
        async with AIOKafkaAdminClient(bootstrap_servers=bootstrap) as a:
            assert group in {g["group_id"] for g in await a.list_groups()}
            assert group in {g for g, _ in await a.list_consumer_groups()}
            desc = await a.describe_groups([group])
            assert desc[group]["group_state"] == "Empty" and desc[group]["members"] == []
            offs = await a.list_group_offsets([group])
            assert {tp: om.offset for tp, om in offs[group].items()} == {tp0: 4, tp1: 7}
            assert {tp: om.offset for tp, om in (await a.list_consumer_group_offsets(group)).items()} == {
                tp0: 4,
                tp1: 7,
            }
            await a.alter_group_offsets(group, {tp0: OffsetAndMetadata(9, "", -1)})
            assert (await a.list_consumer_group_offsets(group))[tp0].offset == 9
            if bootstrap_broker != "tansu":
                deleted = await a.delete_records({tp1: 5})
                assert deleted[tp1]["low_watermark"] == 5
                assert await a.delete_groups([group]) == {group: "OK"}
                assert group not in {g["group_id"] for g in await a.list_groups()}

    run(body())
    if bootstrap_broker != "tansu":
        c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": f"x-{group}"})
        low, high = c.get_watermark_offsets(ck.TopicPartition(topic_name, 1), timeout=10)
        c.close()
        assert (low, high) == (5, 10)


def test_lifecycle_and_configuration() -> None:
    dead = f"127.0.0.1:{free_port()}"

    async def body() -> None:
        a = AIOKafkaAdminClient(bootstrap_servers=dead, bootstrap_timeout_ms=300)
        with pytest.raises(IllegalStateError, match="start"):
            await a.list_topics()
        with pytest.raises(NoBrokersAvailable, match=dead):
            await a.start()
        with pytest.raises(IllegalStateError, match="closed"):
            await a.list_topics()
        await a.close()  # idempotent

    run(body())
    with pytest.raises(KafkaConfigurationError, match="group_id"):
        AIOKafkaAdminClient(group_id="x")
