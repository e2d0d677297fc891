"""Fetch on the embedded broker: long-poll, byte limits (KIP-74), errors and fetch sessions (KIP-227).

Raw requests through ``Wire`` (kafkakit's codec over a real socket); records are decoded with
kafkakit.record and compared exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kafkakit.broker import Broker
from kafkakit.record import decode_records
from tests.test_broker_server import Wire, metadata_body, produce_body

OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
FETCH_SESSION_ID_NOT_FOUND = 70
INVALID_FETCH_SESSION_EPOCH = 71
UNKNOWN_TOPIC_ID = 100


@pytest.fixture
def broker() -> Iterator[Broker]:
    with Broker(num_partitions=2) as b:
        yield b


def fetch_body(
    topic: str,
    partitions: dict[int, int],
    *,
    max_wait_ms: int = 0,
    min_bytes: int = 1,
    max_bytes: int = 50 << 20,
    partition_max_bytes: int = 1 << 20,
    session_id: int = 0,
    session_epoch: int = -1,
    topic_id: bytes = bytes(16),
    forgotten: list[dict[str, Any]] | None = None,
    isolation_level: int = 0,
) -> dict[str, Any]:
    return {
        "max_wait_ms": max_wait_ms,
        "min_bytes": min_bytes,
        "max_bytes": max_bytes,
        "isolation_level": isolation_level,
        "session_id": session_id,
        "session_epoch": session_epoch,
        "topics": [
            {
                "topic": topic,
                "topic_id": topic_id,
                "partitions": [
                    {"partition": p, "fetch_offset": off, "partition_max_bytes": partition_max_bytes}
                    for p, off in partitions.items()
                ],
            }
        ]
        if partitions
        else [],
        "forgotten_topics_data": forgotten or [],
        "rack_id": "",
    }


def values_of(records: bytes | None) -> list[bytes | None]:
    return [r.value for _, recs in decode_records(records or b"") for r in recs]


def produce(w: Wire, topic: str, values: list[bytes], partition: int = 0) -> int:
    resp = w.request("Produce", 9, produce_body(topic, values, partition=partition))
    part = resp["responses"][0]["partition_responses"][0]
    assert part["error_code"] == 0
    return int(part["base_offset"])


def parts_by_index(resp: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {p["partition_index"]: p for t in resp["responses"] for p in t["partitions"]}


# ---------------------------------------------------------------- long-poll


def test_parked_fetch_is_answered_as_soon_as_data_is_appended(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w, Wire(broker.bootstrap_servers) as producer:
        w.request("Metadata", 12, metadata_body(["lp"]))
        corr = w.send("Fetch", 12, fetch_body("lp", {0: 0}, max_wait_ms=5000))

        def later() -> None:
            time.sleep(0.3)
            produce(producer, "lp", [b"wake up"])

        t = threading.Thread(target=later)
        started = time.monotonic()
        t.start()
        resp = w.recv("Fetch", 12, corr)
        elapsed = time.monotonic() - started
        t.join()
    part = parts_by_index(resp)[0]
    assert values_of(part["records"]) == [b"wake up"]
    assert elapsed < 5.0  # it did not sit out max_wait_ms


def test_fetch_waits_until_min_bytes_are_there(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w, Wire(broker.bootstrap_servers) as producer:
        w.request("Metadata", 12, metadata_body(["minb"]))
        corr = w.send("Fetch", 12, fetch_body("minb", {0: 0}, max_wait_ms=20_000, min_bytes=3000))
        produce(producer, "minb", [b"small"])  # far below min_bytes: the fetch stays parked
        produce(producer, "minb", [b"x" * 4000])  # now there is enough
        resp = w.recv("Fetch", 12, corr)
    assert values_of(parts_by_index(resp)[0]["records"]) == [b"small", b"x" * 4000]


def test_fetch_without_data_returns_empty_after_max_wait(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        w.request("Metadata", 12, metadata_body(["empty-wait"]))
        resp = w.request("Fetch", 12, fetch_body("empty-wait", {0: 0}, max_wait_ms=200))
    part = parts_by_index(resp)[0]
    assert (part["error_code"], part["high_watermark"], part["records"]) == (0, 0, b"")


def test_parked_fetch_wakes_for_any_of_its_partitions(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w, Wire(broker.bootstrap_servers) as producer:
        w.request("Metadata", 12, metadata_body(["two-parts"]))
        corr = w.send("Fetch", 12, fetch_body("two-parts", {0: 0, 1: 0}, max_wait_ms=20_000))
        produce(producer, "two-parts", [b"on one"], partition=1)
        resp = w.recv("Fetch", 12, corr)
    parts = parts_by_index(resp)
    assert values_of(parts[1]["records"]) == [b"on one"]
    assert parts[0]["records"] == b""


# ---------------------------------------------------------------- byte limits


def test_first_batch_is_returned_whole_even_above_the_limits(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        produce(w, "kip74", [b"a" * 5000])
        produce(w, "kip74", [b"b" * 10])
        resp = w.request("Fetch", 12, fetch_body("kip74", {0: 0}, partition_max_bytes=100, max_bytes=100))
    assert values_of(parts_by_index(resp)[0]["records"]) == [b"a" * 5000]


def test_max_bytes_caps_the_whole_response(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        produce(w, "cap", [b"a" * 3000], partition=0)
        produce(w, "cap", [b"b" * 3000], partition=1)
        resp = w.request("Fetch", 12, fetch_body("cap", {0: 0, 1: 0}, max_bytes=4000))
        both = w.request("Fetch", 12, fetch_body("cap", {0: 0, 1: 0}, max_bytes=1 << 20))
    parts = parts_by_index(resp)
    assert values_of(parts[0]["records"]) == [b"a" * 3000]
    assert parts[1]["records"] == b""  # no room left for a whole batch
    assert parts[1]["high_watermark"] == 1
    parts = parts_by_index(both)
    assert values_of(parts[0]["records"]) == [b"a" * 3000] and values_of(parts[1]["records"]) == [b"b" * 3000]


def test_partition_max_bytes_stops_at_a_batch_boundary(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        for i in range(10):
            produce(w, "pmb", [bytes([65 + i]) * 500])
        resp = w.request("Fetch", 12, fetch_body("pmb", {0: 0}, partition_max_bytes=1800))
    got = values_of(parts_by_index(resp)[0]["records"])
    assert got == [bytes([65 + i]) * 500 for i in range(len(got))]
    assert 1 <= len(got) <= 3


# ---------------------------------------------------------------- errors and versions


def test_offset_out_of_range(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        produce(w, "oor", [b"1", b"2"])
        resp = w.request("Fetch", 12, fetch_body("oor", {0: 3}))
        part = parts_by_index(resp)[0]
        # as Kafka: a failed partition reports its offsets as -1
        assert (
            part["error_code"],
            part["high_watermark"],
            part["last_stable_offset"],
            part["log_start_offset"],
        ) == (OFFSET_OUT_OF_RANGE, -1, -1, -1)
        w.request(
            "DeleteRecords",
            2,
            {
                "topics": [{"name": "oor", "partitions": [{"partition_index": 0, "offset": 1}]}],
                "timeout_ms": 1000,
            },
        )
        part = parts_by_index(w.request("Fetch", 12, fetch_body("oor", {0: 0})))[0]
        assert (part["error_code"], part["log_start_offset"]) == (OFFSET_OUT_OF_RANGE, -1)
        # below the new log start offset: out of range; from it: the records
        part = parts_by_index(w.request("Fetch", 12, fetch_body("oor", {0: 1})))[0]
        assert (part["error_code"], part["high_watermark"], part["log_start_offset"]) == (0, 2, 1)


def test_unknown_topic_and_partition(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        produce(w, "known", [b"x"])
        resp = w.request("Fetch", 12, fetch_body("never-created", {0: 0}))
        assert parts_by_index(resp)[0]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
        resp = w.request("Fetch", 12, fetch_body("known", {7: 0}))
        assert parts_by_index(resp)[7]["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
        resp = w.request("Fetch", 13, fetch_body("", {0: 0}, topic_id=b"\x01" * 16))
        assert parts_by_index(resp)[0]["error_code"] == UNKNOWN_TOPIC_ID


def test_fetch_by_topic_id_from_v13(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        produce(w, "by-id", [b"v"])
        topic_id = w.request("Metadata", 12, metadata_body(["by-id"]))["topics"][0]["topic_id"]
        resp = w.request("Fetch", 16, fetch_body("", {0: 0}, topic_id=topic_id))
    [topic] = resp["responses"]
    assert topic["topic_id"] == topic_id
    assert values_of(topic["partitions"][0]["records"]) == [b"v"]


@pytest.mark.parametrize("version", range(4, 19))
def test_every_fetch_version_reads_the_same_records(broker: Broker, version: int) -> None:
    with Wire(broker.bootstrap_servers) as w:
        produce(w, "versions", [b"one", b"two"])
        topic_id = w.request("Metadata", 12, metadata_body(["versions"]))["topics"][0]["topic_id"]
        resp = w.request("Fetch", version, fetch_body("versions", {0: 0}, topic_id=topic_id))
    part = parts_by_index(resp)[0]
    assert part["error_code"] == 0 and part["high_watermark"] == 2
    assert values_of(part["records"]) == [b"one", b"two"]
    if version >= 5:
        assert part["log_start_offset"] == 0
    assert part["aborted_transactions"] is None


def test_read_committed_reports_no_aborted_transactions(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        produce(w, "rc", [b"v"])
        part = parts_by_index(w.request("Fetch", 12, fetch_body("rc", {0: 0}, isolation_level=1)))[0]
    assert part["aborted_transactions"] == [] and part["last_stable_offset"] == 1
    assert values_of(part["records"]) == [b"v"]


# ---------------------------------------------------------------- fetch sessions


def test_full_and_incremental_fetch_sessions(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w, Wire(broker.bootstrap_servers) as producer:
        produce(producer, "sess", [b"p0-a"], partition=0)
        full = w.request("Fetch", 12, fetch_body("sess", {0: 0, 1: 0}, session_epoch=0))
        sid = full["session_id"]
        assert full["error_code"] == 0 and sid != 0
        parts = parts_by_index(full)
        assert set(parts) == {0, 1}  # a full response lists every partition
        assert values_of(parts[0]["records"]) == [b"p0-a"]

        # incremental, epoch 1: p0 moves past its data; nothing changed anywhere -> nothing listed
        inc = w.request("Fetch", 12, fetch_body("sess", {0: 1}, session_id=sid, session_epoch=1))
        assert (inc["error_code"], inc["session_id"], inc["responses"]) == (0, sid, [])

        # new data on p1 (whose offset 0 the session remembers): only p1 is listed
        produce(producer, "sess", [b"p1-a"], partition=1)
        inc = w.request("Fetch", 12, fetch_body("sess", {}, session_id=sid, session_epoch=2))
        parts = parts_by_index(inc)
        assert list(parts) == [1] and values_of(parts[1]["records"]) == [b"p1-a"]

        # forget p1; new data on both: only p0 is listed
        forget = [{"topic": "sess", "topic_id": bytes(16), "partitions": [1]}]
        produce(producer, "sess", [b"p0-b"], partition=0)
        produce(producer, "sess", [b"p1-b"], partition=1)
        inc = w.request(
            "Fetch", 12, fetch_body("sess", {}, session_id=sid, session_epoch=3, forgotten=forget)
        )
        parts = parts_by_index(inc)
        assert list(parts) == [0] and values_of(parts[0]["records"]) == [b"p0-b"]

        # a wrong epoch, then an unknown session
        bad = w.request("Fetch", 12, fetch_body("sess", {}, session_id=sid, session_epoch=9))
        assert (bad["error_code"], bad["responses"]) == (INVALID_FETCH_SESSION_EPOCH, [])
        bad = w.request("Fetch", 12, fetch_body("sess", {}, session_id=sid + 12345, session_epoch=1))
        assert bad["error_code"] == FETCH_SESSION_ID_NOT_FOUND

        # epoch -1 closes the session; the request itself is a sessionless full fetch
        closing = w.request("Fetch", 12, fetch_body("sess", {0: 0}, session_id=sid, session_epoch=-1))
        assert closing["session_id"] == 0 and values_of(parts_by_index(closing)[0]["records"]) == [
            b"p0-a",
            b"p0-b",
        ]
        gone = w.request("Fetch", 12, fetch_body("sess", {}, session_id=sid, session_epoch=4))
        assert gone["error_code"] == FETCH_SESSION_ID_NOT_FOUND


def test_incremental_fetch_parks_on_the_whole_session(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w, Wire(broker.bootstrap_servers) as producer:
        w.request("Metadata", 12, metadata_body(["sess-park"]))
        sid = w.request("Fetch", 12, fetch_body("sess-park", {0: 0, 1: 0}, session_epoch=0))["session_id"]
        corr = w.send(
            "Fetch", 12, fetch_body("sess-park", {}, session_id=sid, session_epoch=1, max_wait_ms=20_000)
        )
        produce(producer, "sess-park", [b"late"], partition=1)
        inc = w.recv("Fetch", 12, corr)
    parts = parts_by_index(inc)
    assert list(parts) == [1] and values_of(parts[1]["records"]) == [b"late"]


def test_sessionless_fetch_has_session_id_zero(broker: Broker) -> None:
    with Wire(broker.bootstrap_servers) as w:
        produce(w, "nosess", [b"v"])
        resp = w.request("Fetch", 12, fetch_body("nosess", {0: 0}))
    assert resp["session_id"] == 0 and resp["error_code"] == 0
