"""The Java client (Apache Kafka's own command line tools) against kafkakit's embedded broker.

The Java producer and consumer are the reference clients: everything they write must come back
byte for byte, read by the Java console consumer and cross-checked with kafka-python (an
independent decoder) and with raw Fetch requests (which show what the broker actually stored:
codec, producer id, sequence numbers, offsets).

The console producer is driven through ``tests.infra.apache_kafka.console_produce``, which passes
the codec as ``--compression-codec`` (the tool ignores a ``compression.type`` property) and sets
``linger.ms`` 0 with ``--sync`` (the tool's ``--timeout`` would otherwise delay every record).
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pytest

from tests.infra import wait_until
from tests.infra.wire import Wire

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
CODEC_ID = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def cell(feature: str) -> pytest.MarkDecorator:
    return pytest.mark.cell(client="java", broker="embedded", feature=feature)


@pytest.fixture(scope="module")
def java() -> Any:
    """tests.infra.apache_kafka, once Java 17+ and the Kafka jars are known to be there."""
    from tests import infra
    from tests.infra import BrokerUnavailable
    from tests.infra import apache_kafka as ak

    try:
        ak.check_available()
    except BrokerUnavailable as exc:
        infra.unavailable(f"Java client: {exc}")
    return ak


@pytest.fixture(scope="module")
def bs(embedded_broker_module: Any) -> str:
    return embedded_broker_module.bootstrap_servers


# --------------------------------------------------------------------------------------
# helpers


def acked(res: subprocess.CompletedProcess[str]) -> None:
    """The console producer run finished with every record acknowledged: asynchronous sends only
    log their failures, so any ERROR line or exception means a record was lost."""
    assert " ERROR " not in res.stderr and "Exception" not in res.stderr, res.stderr[-3000:]


def raw_batches(bootstrap: str, topic: str, partition: int = 0) -> list[tuple[Any, list[Any]]]:
    """Every stored batch of a partition, as (BatchHeader, records), read with raw Fetch v12."""
    from kafkakit.record import decode_batch, iter_batches

    out: list[tuple[Any, list[Any]]] = []
    offset = 0
    with Wire(bootstrap) as w:
        while True:
            resp = w.call(
                "Fetch",
                12,
                {
                    "max_wait_ms": 0,
                    "min_bytes": 0,
                    "max_bytes": 64 * 1024 * 1024,
                    "isolation_level": 0,
                    "session_id": 0,
                    "session_epoch": -1,
                    "topics": [
                        {
                            "topic": topic,
                            "partitions": [
                                {
                                    "partition": partition,
                                    "fetch_offset": offset,
                                    "partition_max_bytes": 8 << 20,
                                }
                            ],
                        }
                    ],
                },
            )
            assert resp["error_code"] == 0, resp
            p = resp["responses"][0]["partitions"][0]
            assert p["error_code"] == 0, p
            records = p["records"] or b""
            got = 0
            for _pos, header, view in iter_batches(records):
                if header.last_offset < offset:
                    continue
                out.append(decode_batch(view))
                offset = header.next_offset
                got += 1
            if offset >= p["high_watermark"]:
                return out
            assert got, f"no progress fetching {topic}-{partition} at offset {offset}"


def kp_read(
    bootstrap: str, topic: str, partitions: int = 1
) -> dict[int, list[tuple[int, bytes | None, bytes]]]:
    """kafka-python: every record of every partition as (offset, key, value), by partition."""
    from kafka import KafkaConsumer, TopicPartition

    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: dict[int, list[tuple[int, bytes | None, bytes]]] = {tp.partition: [] for tp in tps}
        deadline = time.monotonic() + 30
        while sum(len(v) for v in out.values()) < sum(ends.values()) and time.monotonic() < deadline:
            for tp, msgs in consumer.poll(timeout_ms=500).items():
                out[tp.partition] += [(m.offset, m.key, m.value) for m in msgs]
        return out
    finally:
        consumer.close()


def kp_create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


def payloads(tag: str, n: int) -> list[tuple[str, str]]:
    """(key, value) text lines: keys repeat, values vary in size and repeat (compressible)."""
    return [(f"k{i % 7}", f"{tag}-{i:05d}-" + "abcdefghij"[: i % 11] * (1 + i % 13)) for i in range(n)]


# --------------------------------------------------------------------------------------
# produce / consume with every codec


@pytest.mark.parametrize("codec", [pytest.param(c, marks=cell(f"produce/consume {c}")) for c in CODECS])
def test_java_produce_consume_codec(java: Any, bs: str, topic_name: str, codec: str) -> None:
    n = 400
    sent = payloads(codec, n)
    # linger.ms 50 without --sync: the producer sends multi-record batches
    acked(java.console_produce(bs, topic_name, sent, compression=codec, sync=False, props={"linger.ms": 50}))

    # what the broker stored: the producer's codec (compression.type=producer), offsets 0..n-1
    batches = raw_batches(bs, topic_name)
    assert {h.compression for h, _ in batches} == {CODEC_ID[codec]}
    assert len(batches) < n  # linger.ms=50: the producer really sent multi-record batches
    stored = [(r.offset, r.key, r.value) for _, recs in batches for r in recs]
    want = [(i, k.encode(), v.encode()) for i, (k, v) in enumerate(sent)]
    assert stored == want

    # the Java consumer reads back exactly what was sent, in order
    got = java.console_consume(bs, topic_name, max_messages=n, print_key=True, timeout_ms=20000)
    assert got == sent

    # cross-check with kafka-python
    assert kp_read(bs, topic_name) == {0: want}


# --------------------------------------------------------------------------------------
# idempotent producer


@cell("idempotent producer")
def test_java_idempotent_producer(java: Any, bs: str, topic_name: str) -> None:
    """Java's defaults (enable.idempotence=true, acks=all), spelled out: every stored batch carries
    the producer id from InitProducerId, epoch 0 and consecutive sequence numbers; a second producer
    gets a new id and starts again at sequence 0."""
    first, second = payloads("a", 30), payloads("b", 20)
    props = {"enable.idempotence": "true", "acks": "all"}
    acked(java.console_produce(bs, topic_name, first, props=props))  # --sync, linger.ms 0
    acked(java.console_produce(bs, topic_name, second, props=props))

    batches = raw_batches(bs, topic_name)
    headers = [h for h, _ in batches]
    assert [h.records_count for h in headers] == [1] * 50  # --sync, linger 0: one record per batch
    assert [h.base_offset for h in headers] == list(range(50))
    pids = [h.producer_id for h in headers]
    assert pids[0] >= 0 and pids[30] >= 0
    assert set(pids[:30]) == {pids[0]} and set(pids[30:]) == {pids[30]} and pids[0] != pids[30]
    assert [h.producer_epoch for h in headers] == [0] * 50
    assert [h.base_sequence for h in headers] == list(range(30)) + list(range(20))
    assert not any(h.is_transactional for h in headers)

    want = first + second
    assert java.console_consume(bs, topic_name, max_messages=50, print_key=True, timeout_ms=20000) == want
    assert kp_read(bs, topic_name) == {0: [(i, k.encode(), v.encode()) for i, (k, v) in enumerate(want)]}


# --------------------------------------------------------------------------------------
# consumer group of console consumers


def _group_members(bootstrap: str, group: str) -> dict[str, list[int]]:
    """member_id -> assigned partitions (DescribeGroups via kafka-python), {} unless Stable."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        desc = admin.describe_groups([group])[group]
    finally:
        admin.close()
    if desc.get("group_state") != "Stable":
        return {}
    out = {}
    for m in desc.get("members", []):
        assignment = m.get("member_assignment") or {}
        parts: list[int] = []
        for t in assignment.get("assigned_partitions", []) or []:
            parts += list(t.get("partitions", []))
        out[m["member_id"]] = sorted(parts)
    return out


@cell("consumer group: 2 members split partitions, commit, resume")
def test_java_console_consumer_group(java: Any, bs: str, topic_name: str) -> None:
    from kafka import KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient

    parts, per_part = 4, 25
    n = parts * per_part
    group = f"{topic_name}-g"
    kp_create_topic(bs, topic_name, parts)

    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def consume(name: str) -> None:
        try:
            results[name] = java.console_consume(
                bs, topic_name, max_messages=n // 2, group=group, timeout_ms=45000, from_beginning=True
            )
        except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=consume, args=(name,)) for name in ("c1", "c2")]
    for t in threads:
        t.start()
    # both members joined and got partitions before anything is produced
    members = wait_until(
        lambda: (m := _group_members(bs, group)) and len(m) == 2 and all(m.values()) and m,
        timeout=45,
        what="2 console consumers in a stable group",
    )
    assert sorted(p for ps in members.values() for p in ps) == [0, 1, 2, 3]
    assert sorted(len(ps) for ps in members.values()) == [2, 2]

    producer = KafkaProducer(bootstrap_servers=bs, linger_ms=5)
    sent = [f"p{p}-{i}" for p in range(parts) for i in range(per_part)]
    for value in sent:
        producer.send(topic_name, value=value.encode(), partition=int(value[1]))
    producer.flush()
    producer.close()

    for t in threads:
        t.join(90)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    c1, c2 = results["c1"], results["c2"]
    assert len(c1) == n // 2 and len(c2) == n // 2
    assert sorted(c1 + c2) == sorted(sent)  # every record exactly once across the group
    p1 = {v.split("-")[0] for v in c1}
    p2 = {v.split("-")[0] for v in c2}
    assert len(p1) == 2 and len(p2) == 2 and not p1 & p2  # each member read exactly its 2 partitions
    for part in range(parts):  # per-partition order preserved
        mine = c1 if f"p{part}" in p1 else c2
        assert [v for v in mine if v.startswith(f"p{part}-")] == [f"p{part}-{i}" for i in range(per_part)]

    # committed offsets: the end of every partition
    admin = KafkaAdminClient(bootstrap_servers=bs)
    try:
        committed = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    assert {tp: om.offset for tp, om in committed.items()} == {
        TopicPartition(topic_name, p): per_part for p in range(parts)
    }

    # a third member resumes from the commits: it sees only what is produced afterwards
    producer = KafkaProducer(bootstrap_servers=bs)
    more = [f"p{p}-late" for p in range(parts)]
    for value in more:
        producer.send(topic_name, value=value.encode(), partition=int(value[1]))
    producer.flush()
    producer.close()
    c3 = java.console_consume(bs, topic_name, max_messages=parts, group=group, timeout_ms=30000)
    assert sorted(c3) == sorted(more)


# --------------------------------------------------------------------------------------
# perf tools


@cell("producer/consumer perf test 50k")
def test_java_perf_tools_50k(java: Any, bs: str, topic_name: str) -> None:
    from kafka import KafkaConsumer, TopicPartition

    n = 50_000
    kp_create_topic(bs, topic_name, 1)
    res = java.producer_perf_test(bs, topic_name, num_records=n, record_size=100, timeout=120)
    assert res.records == n
    assert res.records_per_sec > 0

    consumer = KafkaConsumer(bootstrap_servers=bs)
    tp = TopicPartition(topic_name, 0)
    try:
        assert consumer.end_offsets([tp]) == {tp: n}
        assert consumer.beginning_offsets([tp]) == {tp: 0}
    finally:
        consumer.close()

    batches = raw_batches(bs, topic_name)
    assert sum(h.records_count for h, _ in batches) == n
    assert all(len(r.value) == 100 and r.key is None for _, recs in batches for r in recs)
    assert [r.offset for _, recs in batches for r in recs] == list(range(n))

    cres = java.consumer_perf_test(bs, topic_name, messages=n, timeout_ms=30000)
    assert cres.records == n


# --------------------------------------------------------------------------------------
# Apache Kafka's admin command line tools (the Java AdminClient)


@cell("admin tools: topics, consumer groups, configs, offsets, delete records")
def test_java_admin_tools(java: Any, bs: str, topic_name: str) -> None:
    """kafka-topics, kafka-consumer-groups, kafka-configs, kafka-get-offsets and kafka-delete-records
    (their main classes) against the embedded broker; every change is read back with kafkakit."""
    import json
    import re
    import tempfile

    from kafkakit import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafkakit.client.admin import ConfigResource, ConfigResourceType

    t, group = topic_name, f"{topic_name}-g"

    def tool(main: str, *args: str) -> str:
        out: str = java.run_java_tool(main, ["--bootstrap-server", bs, *args]).stdout
        return out

    topics, groups = (
        "org.apache.kafka.tools.TopicCommand",
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    )
    assert f"Created topic {t}." in tool(
        topics, "--create", "--topic", t, "--partitions", "3", "--config", "retention.ms=3600000"
    )
    described = tool(topics, "--describe", "--topic", t)
    assert "PartitionCount: 3" in described and "Configs: retention.ms=3600000" in described
    assert sorted(re.findall(r"Partition: (\d+)\tLeader: 1\t", described)) == ["0", "1", "2"]
    tool(topics, "--alter", "--topic", t, "--partitions", "4")
    assert t in tool(topics, "--list").split()

    admin = KafkaAdminClient(bootstrap_servers=bs)
    try:
        assert len(admin.describe_topics([t])[0]["partitions"]) == 4
        producer = KafkaProducer(bootstrap_servers=bs)
        for i in range(20):
            producer.send(t, b"v%d" % i, partition=i % 4)
        producer.flush()
        producer.close()
        consumer = KafkaConsumer(
            t, bootstrap_servers=bs, group_id=group, auto_offset_reset="earliest", consumer_timeout_ms=3000
        )
        assert sum(1 for _ in consumer) == 20
        consumer.commit()
        rows = re.findall(
            rf"^{group}\s+{t}\s+(\d)\s+(\d+)\s+(\d+)\s+(\d+)\s+kafkakit",
            tool(groups, "--describe", "--group", group),
            re.M,
        )
        assert sorted(rows) == [(str(p), "5", "5", "0") for p in range(4)]  # current, log end, lag
        consumer.close()
        reset = tool(groups, "--reset-offsets", "--group", group, "--topic", t, "--to-earliest", "--execute")
        assert sorted(re.findall(rf"^{group}\s+{t}\s+(\d)\s+(\d+)", reset, re.M)) == [
            (str(p), "0") for p in range(4)
        ]
        committed = admin.list_consumer_group_offsets(group)
        assert {tp.partition: om.offset for tp, om in committed.items()} == {p: 0 for p in range(4)}
        assert "Empty" in tool(groups, "--describe", "--group", group, "--state")
        assert "was successful" in tool(groups, "--delete", "--group", group)
        assert group not in tool(groups, "--list").split()

        configs = "org.apache.kafka.tools.ConfigCommand"
        assert "retention.ms=3600000" in tool(
            configs, "--describe", "--entity-type", "topics", "--entity-name", t
        )
        tool(
            configs,
            "--alter",
            "--entity-type",
            "topics",
            "--entity-name",
            t,
            "--add-config",
            "retention.ms=7200000",
        )
        got = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)])
        assert got["topic"][t]["retention.ms"]["value"] == "7200000"

        ends = tool("org.apache.kafka.tools.GetOffsetShell", "--topic", t)
        assert sorted(ends.split()) == [f"{t}:{p}:5" for p in range(4)]
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump({"version": 1, "partitions": [{"topic": t, "partition": 0, "offset": 2}]}, f)
            f.flush()
            assert "low_watermark: 2" in tool(
                "org.apache.kafka.tools.DeleteRecordsCommand", "--offset-json-file", f.name
            )
        reader = KafkaConsumer(bootstrap_servers=bs)
        assert reader.beginning_offsets([TopicPartition(t, 0)]) == {TopicPartition(t, 0): 2}
        reader.close()

        tool(topics, "--delete", "--topic", t)
        wait_until(lambda: t not in tool(topics, "--list").split(), timeout=30, what="topic deleted")
        assert t not in admin.list_topics()
    finally:
        admin.close()
