"""PartitionLog storage: appends, reads, indexes, retention, recovery (incl. a real kill -9), fsync.

Batches come from kafkakit.record and from kafka-python's builders (a peer encoder); what the log
stores is read back with kafka-python's MemoryRecords as the oracle decoder.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from crc32c import crc32c
from kafka.record import MemoryRecords
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder

from kafkakit.broker.durability import (
    CLEAN_SHUTDOWN_MARKER,
    GroupCommitter,
    PendingSync,
    atomic_write,
    mark_clean,
    mark_dirty,
    was_clean,
)
from kafkakit.broker.log import LogConfig, PartitionLog
from kafkakit.errors import (
    CorruptRecordError,
    InvalidConfigurationError,
    InvalidRecordError,
    KafkaStorageError,
    MessageSizeTooLargeError,
    OffsetOutOfRangeError,
    RecordListTooLargeError,
    UnsupportedForMessageFormatError,
)
from kafkakit.record import decode_records, encode_batch, encode_control_batch, read_batch_header

SMALL = LogConfig(segment_bytes=4096, index_interval_bytes=256)


def batch(values: list[bytes], ts: int = 1_000, **kw: object) -> bytes:
    return encode_batch([(ts + i, b"key", v, None) for i, v in enumerate(values)], **kw)  # type: ignore[arg-type]


def peer_batch(values: list[bytes], ts: int = 1_000, compression: int = 0) -> bytes:
    b = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=compression,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for i, v in enumerate(values):
        b.append(i, timestamp=ts + i, key=None, value=v, headers=[("h", b"x")])
    return bytes(b.build())


def peer_records(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, timestamp, value) of every record, decoded by kafka-python with CRC checks."""
    out: list[tuple[int, int, bytes]] = []
    mr = MemoryRecords(data)
    while True:
        b = mr.next_batch()
        if b is None:
            return out
        assert b.validate_crc()
        out.extend((r.offset, r.timestamp, r.value) for r in b)


def all_records(log: PartitionLog) -> list[tuple[int, int, bytes]]:
    out: list[tuple[int, int, bytes]] = []
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        res = log.read(offset, 1 << 20)
        recs = [r for r in peer_records(res.to_bytes()) if r[0] >= offset]
        out.extend(recs)
        offset = recs[-1][0] + 1
    return out


def open_log(path: Path, config: LogConfig = SMALL, clean: bool = False, **kw: object) -> PartitionLog:
    return PartitionLog.open(path, config, clean=clean, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- basics


def test_append_assigns_offsets_and_reads_back(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig())
    r1 = log.append(batch([b"a", b"b", b"c"]))
    r2 = log.append(batch([b"d"]))
    assert (r1.base_offset, r1.last_offset, r1.log_append_time_ms, r1.log_start_offset) == (0, 2, -1, 0)
    assert (r2.base_offset, r2.last_offset) == (3, 3)
    assert [h.base_offset for h in r1.batch_headers + r2.batch_headers] == [0, 3]
    assert log.log_end_offset == 4 and log.high_watermark == 4
    data = log.read(0, 1 << 20).to_bytes()
    assert [(o, v) for o, _t, v in peer_records(data)] == [(0, b"a"), (1, b"b"), (2, b"c"), (3, b"d")]
    headers = [h for h, _ in decode_records(data)]
    assert [(h.base_offset, h.partition_leader_epoch) for h in headers] == [(0, 0), (3, 0)]
    assert log.size_in_bytes == len(data)
    log.close()


def test_stored_bytes_are_the_received_batch_with_offset_and_epoch(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig())
    log.append(batch([b"x"]))
    sent = peer_batch([b"p1", b"p2"], compression=1)  # gzip, built by kafka-python
    log.append(sent, leader_epoch=7)
    res = log.read(1, 1 << 20)
    stored = res.to_bytes()
    assert stored[8:12] == sent[8:12] and stored[16:] == sent[16:]
    assert struct.unpack(">qii", stored[:16]) == (1, len(sent) - 12, 7)
    assert [(o, v) for o, _t, v in peer_records(stored)] == [(1, b"p1"), (2, b"p2")]
    assert log.end_offset_for_epoch(7) == (7, 3)
    assert log.end_offset_for_epoch(0) == (0, 1)
    assert log.end_offset_for_epoch(3) == (0, 1)
    assert log.end_offset_for_epoch(8) == (-1, -1)


def test_peer_batches_round_trip_through_reopen(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    cfg = LogConfig(segment_bytes=1500, index_interval_bytes=128)
    log = open_log(path, cfg)
    expected: list[tuple[int, bytes]] = []
    for i in range(40):
        values = [f"{i}-{j}".encode() * 10 for j in range(i % 4 + 1)]
        res = log.append(peer_batch(values, ts=10_000 + i, compression=i % 2))
        expected.extend((res.base_offset + j, v) for j, v in enumerate(values))
    assert len(log.segments) > 3
    assert [(o, v) for o, _t, v in all_records(log)] == expected
    log.close()
    for clean in (True, False):
        again = open_log(path, cfg, clean=clean)
        assert [(o, v) for o, _t, v in all_records(again)] == expected
        again.close()


def test_read_from_the_middle_of_a_batch_returns_the_whole_batch(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig())
    log.append(batch([b"a", b"b"]))
    log.append(batch([b"c", b"d", b"e", b"f"]))
    res = log.read(4, 1 << 20)
    assert res.first_offset == 2
    assert [o for o, _t, _v in peer_records(res.to_bytes())] == [2, 3, 4, 5]


def test_max_bytes_cuts_at_batch_boundaries_and_kip74_returns_one_oversized_batch(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig(index_interval_bytes=0))
    sizes = [len(b) for b in (batch([b"v" * 100]),) * 5]
    for _ in range(5):
        log.append(batch([b"v" * 100]))
    one = sizes[0]
    res = log.read(0, int(one * 2.5))
    assert res.size == 2 * one and [o for o, *_ in peer_records(res.to_bytes())] == [0, 1]
    assert log.read(0, one).size == one
    big = log.append(batch([os.urandom(50_000)]))
    res = log.read(big.base_offset, 1000)
    assert res.size == len(batch([b"x" * 50_000])) and res.first_offset == 5
    assert log.read(big.base_offset, 1000, min_one=False).size == 0
    assert log.read(big.base_offset, 0).size == res.size
    # max_offset (the last stable offset for read_committed) stops before the batch holding it
    assert log.read(0, 1 << 20, max_offset=2).size == 2 * one
    assert log.read(2, 1 << 20, max_offset=2).size == 0


def test_out_of_range_reads(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig())
    log.append(batch([b"a"]))
    assert log.read(1, 100).size == 0
    for bad in (-1, 2):
        with pytest.raises(OffsetOutOfRangeError, match=f"offset {bad} is out of range"):
            log.read(bad, 100)


def test_file_regions_serve_the_same_bytes_with_sendfile(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", SMALL)
    for i in range(30):
        log.append(batch([bytes([i]) * 200]))
    res = log.read(7, 2000)
    expected = res.to_bytes()
    a, b = socket.socketpair()
    with a, b:
        for region in res.regions:
            sent = 0
            while sent < region.length:
                sent += os.sendfile(
                    a.fileno(), region.file.fileno(), region.position + sent, region.length - sent
                )
        got = b""
        while len(got) < len(expected):
            got += b.recv(1 << 16)
    assert got == expected


# ----------------------------------------------------------------------------------- validation


def _recrc(data: bytearray) -> bytearray:
    struct.pack_into(">I", data, 17, crc32c(memoryview(data)[21:]))
    return data


def test_invalid_requests_append_nothing(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig(max_message_bytes=5000))
    log.append(batch([b"first"]))
    good = batch([b"ok"])
    flipped = bytearray(batch([b"payload"]))
    flipped[-2] ^= 0xFF
    control = encode_control_batch(True, producer_id=5, producer_epoch=0, timestamp=1)
    miscounted = bytearray(batch([b"a", b"b"]))
    struct.pack_into(">i", miscounted, 57, 3)
    legacy = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1 << 16)
    legacy.append(0, timestamp=1, key=None, value=b"old")
    cases = [
        (good + bytes(flipped), CorruptRecordError, "fails its CRC-32C check"),
        (good + good[:40], CorruptRecordError, "truncated"),
        (good[:-1], CorruptRecordError, "truncated: it declares"),
        (bytes(legacy.build()), UnsupportedForMessageFormatError, "message format v1"),
        (good + batch([b"x" * 6000]), MessageSizeTooLargeError, "6073 bytes, over max.message.bytes=5000"),
        (b"", InvalidRecordError, "no record batch"),
        (control, InvalidRecordError, "control batches"),
        (bytes(_recrc(miscounted)), InvalidRecordError, "last offset delta 1 but 3 records"),
        (good[:16] + b"\x07" + good[17:], CorruptRecordError, "unknown magic byte 7"),
    ]
    size = log.size_in_bytes
    for data, exc, text in cases:
        with pytest.raises(exc, match=text):
            log.append(data)
        assert (log.log_end_offset, log.size_in_bytes) == (1, size)
    assert log.append(control, allow_control=True).base_offset == 1
    small = open_log(tmp_path / "t-1", LogConfig(segment_bytes=100))
    with pytest.raises(RecordListTooLargeError, match="segment.bytes=100"):
        small.append(batch([b"y" * 200]))


def test_log_append_time_rewrites_timestamp_and_crc(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig(message_timestamp_type="LogAppendTime"))
    res = log.append(peer_batch([b"a", b"b"], ts=5), now_ms=1_700_000_000_123)
    assert res.log_append_time_ms == 1_700_000_000_123
    data = log.read(0, 1 << 20).to_bytes()
    mr = MemoryRecords(data).next_batch()
    assert mr.validate_crc() and mr.timestamp_type == 1 and mr.max_timestamp == 1_700_000_000_123
    assert [r.timestamp for r in MemoryRecords(data).next_batch()] == [1_700_000_000_123] * 2
    plain = open_log(tmp_path / "t-1", LogConfig())
    assert plain.append(batch([b"a"]), timestamp_type_log_append=True, now_ms=77).log_append_time_ms == 77


# ------------------------------------------------------------------------- segments and indexes


def test_segment_roll_by_size_and_index_lookups(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = open_log(path)
    bounds = []
    for i in range(120):
        res = log.append(batch([bytes([i % 250]) * random.Random(i).randint(10, 300)] * (i % 3 + 1)))
        bounds.append((res.base_offset, res.last_offset))
    segs = log.segments
    assert len(segs) > 5 and all(s.size <= SMALL.segment_bytes for s in segs)
    assert [s.base_offset for s in segs[1:]] == [s.next_offset for s in segs[:-1]]
    names = sorted(p.name for p in path.glob("*.log"))
    assert names == [f"{s.base_offset:020d}.log" for s in segs]

    def check(lg: PartitionLog) -> None:
        for base, last in bounds:
            for offset in (base, last):
                res = lg.read(offset, 1)
                head = read_batch_header(res.to_bytes())
                assert (head.base_offset, head.last_offset) == (base, last)
        for seg in lg.segments:
            entries = seg.index_entries()
            assert entries, seg
            for offset, position in entries:
                assert seg.read_header(position).base_offset == offset

    check(log)
    before = [s.index_entries() for s in log.segments]
    log.close()
    for clean in (True, False):
        again = open_log(path, clean=clean)
        assert [s.index_entries() for s in again.segments] == before
        check(again)
        again.close()


def test_segment_roll_by_time(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig(segment_ms=1000))
    log.append(batch([b"a"], ts=10_000), now_ms=10_000)
    log.append(batch([b"b"], ts=10_900), now_ms=10_900)
    assert len(log.segments) == 1
    log.append(batch([b"c"], ts=11_001), now_ms=11_001)
    assert [s.base_offset for s in log.segments] == [0, 2]
    assert not log.maybe_roll(now_ms=11_500)
    assert log.maybe_roll(now_ms=12_002)
    assert [s.base_offset for s in log.segments] == [0, 2, 3]
    assert not log.maybe_roll(now_ms=99_000)  # an empty active segment never rolls


def brute_offset_for_timestamp(records: list[tuple[int, int, bytes]], ts: int) -> tuple[int, int] | None:
    hits = [(o, t) for o, t, _v in records if t >= ts]
    return min(hits) if hits else None


def test_offset_for_timestamp_matches_a_full_scan(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = open_log(path)
    rng = random.Random(7)
    ts = 1_000_000
    for _ in range(150):
        ts += rng.randint(-50, 200)  # not monotonic, like CreateTime from many producers
        log.append(
            encode_batch(
                [(ts + rng.randint(-30, 30), None, b"v" * 40, None) for _ in range(rng.randint(1, 4))]
            )
        )
    records = all_records(log)
    stamps = sorted({t for _o, t, _v in records})
    targets = [stamps[0] - 1, *stamps[:: max(1, len(stamps) // 60)], stamps[-1], stamps[-1] + 1]
    for t in targets:
        assert log.offset_for_timestamp(t) == brute_offset_for_timestamp(records, t), t
    best = max(t for _o, t, _v in records)
    assert log.max_timestamp_offset() == (min(o for o, t, _v in records if t == best), best)
    log.close()
    again = open_log(path, clean=False)
    for t in targets:
        assert again.offset_for_timestamp(t) == brute_offset_for_timestamp(records, t), t
    assert open_log(tmp_path / "empty").max_timestamp_offset() == (-1, -1)


# ------------------------------------------------------------------------------ retention


def test_retention_by_bytes_deletes_whole_oldest_segments(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = open_log(path, LogConfig(segment_bytes=1000, retention_bytes=2500, retention_ms=-1))
    for i in range(40):
        log.append(batch([bytes([i]) * 100]))
    sizes = [s.size for s in log.segments]
    total = sum(sizes)
    assert log.apply_retention(now_ms=0) > 0
    remaining = log.segments
    # Kafka's rule: drop the oldest segments while what remains stays at or above retention.bytes
    assert log.size_in_bytes - remaining[0].size < 2500 <= log.size_in_bytes
    assert log.log_start_offset == remaining[0].base_offset > 0
    assert total - log.size_in_bytes == sum(sizes[: len(sizes) - len(remaining)])
    assert not (path / "00000000000000000000.log").exists()
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0, 100)
    assert log.read(log.log_start_offset, 100).first_offset == log.log_start_offset
    assert log.log_end_offset == 40
    log.close()
    assert open_log(path, clean=False).log_start_offset == remaining[0].base_offset


def test_retention_by_time_can_empty_the_log_but_keeps_its_end(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0", LogConfig(segment_bytes=1000, retention_ms=10_000))
    for i in range(20):
        log.append(batch([b"v" * 100], ts=1_000 + i * 100), now_ms=5_000)
    n = len(log.segments)
    assert log.apply_retention(now_ms=10_000) == 0
    cut = log.segments[1].base_offset
    assert log.apply_retention(now_ms=1_000 + (cut - 1) * 100 + 10_001) == 1
    assert log.log_start_offset == cut
    assert log.apply_retention(now_ms=100_000) == n - 1
    assert (log.log_start_offset, log.log_end_offset, log.size_in_bytes) == (20, 20, 0)
    assert log.append(batch([b"again"])).base_offset == 20
    forever = open_log(tmp_path / "t-1", LogConfig(segment_bytes=1000, retention_ms=-1))
    for _ in range(20):
        forever.append(batch([b"v" * 100], ts=1))
    assert forever.apply_retention(now_ms=10**12) == 0
    compact = open_log(
        tmp_path / "t-2", LogConfig(segment_bytes=1000, retention_ms=1, cleanup_policy="compact")
    )
    for _ in range(20):
        compact.append(batch([b"v" * 100], ts=1))
    assert compact.apply_retention(now_ms=10**12) == 0


def test_delete_records_before_moves_and_persists_the_log_start(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log = open_log(path, LogConfig(segment_bytes=1000))
    for _ in range(30):
        log.append(batch([b"v" * 100, b"w" * 100]))
    target = log.segments[2].base_offset + 3
    assert log.delete_records_before(target) == target
    assert log.segments[0].base_offset == log.segments[0].base_offset <= target
    assert log.segments[0].next_offset > target
    with pytest.raises(OffsetOutOfRangeError):
        log.read(target - 1, 100)
    assert log.read(target, 100).first_offset <= target
    assert log.delete_records_before(2) == target  # never moves back
    with pytest.raises(OffsetOutOfRangeError, match="high watermark 60"):
        log.delete_records_before(61)
    for clean in (False, True):
        again = open_log(path, LogConfig(segment_bytes=1000), clean=clean)
        assert again.log_start_offset == target
        assert again.offset_for_timestamp(0) == (target, 1000 + (target % 2))
        again.close()
    again = open_log(path, LogConfig(segment_bytes=1000), clean=True)
    assert again.delete_records_before(-1) == 60
    assert again.read(60, 10).size == 0


# ------------------------------------------------------------------------------ crash recovery


def _filled(path: Path, n: int = 30) -> tuple[PartitionLog, list[tuple[int, int]]]:
    log = open_log(path)
    spans = []
    for i in range(n):
        res = log.append(batch([bytes([65 + i % 26]) * 150, b"tail"]))
        spans.append((res.base_offset, res.last_offset))
    return log, spans


@pytest.mark.parametrize("damage", ["cut-last-batch", "garbage-tail", "flip-crc-covered", "flip-base-offset"])
def test_unclean_open_truncates_at_the_last_valid_batch(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "t-0"
    log, spans = _filled(path)
    log.flush()  # recovery point at the end: recovery must still check the tail written later
    res = log.append(batch([b"last" * 50]))
    active = log.segments[-1]
    end = active.size
    good_end = end - (res.batch_headers[0].batch_length + 12)
    expected_index = active.index_entries()
    del log  # kill -9: no close, no clean marker
    seg_path = active.log_path
    if damage == "cut-last-batch":
        os.truncate(seg_path, end - 37)
    elif damage == "garbage-tail":
        with open(seg_path, "ab") as f:
            f.write(b"\x00\x01garbage" * 10)
        good_end = end
    else:
        with open(seg_path, "r+b") as f:
            pos = good_end + (100 if damage == "flip-crc-covered" else 3)
            f.seek(pos)
            byte = f.read(1)
            f.seek(pos)
            f.write(bytes([byte[0] ^ 0x40]))
    again = open_log(path, clean=False)
    assert again.recovery_truncated_bytes > 0
    assert again.segments[-1].size == good_end == os.path.getsize(seg_path)
    want_end = spans[-1][1] + 1 if damage != "garbage-tail" else res.last_offset + 1
    assert again.log_end_offset == want_end
    assert [e for e in again.segments[-1].index_entries() if e[1] < good_end] == [
        e for e in expected_index if e[1] < good_end
    ]
    assert [o for o, *_ in all_records(again)] == list(range(want_end))
    assert again.append(batch([b"after"])).base_offset == want_end
    assert all_records(again)[-1][2] == b"after"


def test_corruption_in_an_old_segment_drops_the_later_ones(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log, _spans = _filled(path, 60)
    segs = log.segments
    assert len(segs) >= 4
    victim = segs[1]
    first_batch = victim.read_header(0)
    bad_at = first_batch.batch_length + 12 + 80  # inside the second batch of segment 1
    del log
    with open(victim.log_path, "r+b") as f:
        f.seek(bad_at)
        f.write(b"\xff\xff\xff")
    again = open_log(path, clean=False)  # no flush ever happened: recovery point 0
    assert [s.base_offset for s in again.segments] == [segs[0].base_offset, victim.base_offset]
    assert again.log_end_offset == first_batch.next_offset
    assert not segs[2].log_path.exists() and not segs[2].index_path.exists()
    assert [o for o, *_ in all_records(again)] == list(range(first_batch.next_offset))


def test_clean_open_with_damaged_tail_or_indexes_still_recovers(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log, spans = _filled(path)
    log.close()
    active, first = log.segments[-1], log.segments[0]
    with open(active.log_path, "ab") as f:
        f.write(b"\x00" * 20)
    os.truncate(first.index_path, 5)
    first.time_index_path.unlink()
    again = open_log(path, clean=True)
    assert again.log_end_offset == spans[-1][1] + 1
    assert again.recovery_truncated_bytes == 20
    assert [o for o, *_ in all_records(again)] == list(range(spans[-1][1] + 1))
    assert again.segments[0].index_entries()
    assert again.offset_for_timestamp(0) == (0, 1000)


CHILD = textwrap.dedent(
    """
    import sys
    from kafkakit.broker.log import LogConfig, PartitionLog
    from kafkakit.record import encode_batch
    log = PartitionLog.open(sys.argv[1], LogConfig(segment_bytes=1 << 20), clean=False)
    i = 0
    while True:
        value = (b"%08d" % i) * 8000
        res = log.append(encode_batch([(i, b"%d" % i, value, None), (i, None, b"two", None)]))
        sys.stdout.write(f"{res.base_offset} {i}\\n")
        sys.stdout.flush()
        i += 1
    """
)


def test_kill_9_loses_no_acknowledged_append(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    acked: dict[int, int] = {}
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            offset, i = map(int, line.split())
            acked[offset] = i
            if len(acked) >= 300:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    log = open_log(path, LogConfig(segment_bytes=1 << 20), clean=False)
    assert len(log.segments) > 1
    stored: dict[int, tuple[bytes | None, bytes]] = {}
    offset = 0
    while offset < log.log_end_offset:
        data = log.read(offset, 1 << 22).to_bytes()
        mr = MemoryRecords(data)
        while (b := mr.next_batch()) is not None:
            assert b.validate_crc()
            for r in b:
                stored[r.offset] = (r.key, r.value)
                offset = r.offset + 1
    assert sorted(stored) == list(range(log.log_end_offset))
    for off, i in acked.items():
        assert stored[off] == (b"%d" % i, (b"%08d" % i) * 8000)
        assert stored[off + 1] == (None, b"two")
    assert log.append(batch([b"x"])).base_offset == log.log_end_offset - 1


# ----------------------------------------------------------------------------- durability


def test_group_commit_covers_concurrent_appends_with_one_fsync_per_file(tmp_path: Path) -> None:
    logs = [open_log(tmp_path / f"t-{i}", LogConfig(), fsync=True) for i in range(3)]
    committer = GroupCommitter()

    async def produce(k: int) -> int:
        lg = logs[k % 3]
        res = lg.append(batch([b"%d" % k]))
        await committer.sync(lg)
        assert lg.synced_offset > res.last_offset
        return res.base_offset

    async def main() -> list[int]:
        return await asyncio.gather(*(produce(k) for k in range(30)))

    offsets = asyncio.run(main())
    assert sorted(offsets) == sorted(list(range(10)) * 3)
    assert committer.rounds == 1 and committer.fsyncs == 3
    assert all(lg.begin_sync() is None for lg in logs)
    logs[0].append(batch([b"more"]))
    pending = logs[0].begin_sync()
    assert pending is not None and [f.fileno() for f in pending.files] == [logs[0].segments[-1].file.fileno()]
    committer.close()


def test_group_commit_reports_fsync_failures(tmp_path: Path) -> None:
    r, w = os.pipe()  # fsync on a pipe fails with EINVAL

    class Pipe:
        def fileno(self) -> int:
            return r

        def begin_sync(self) -> PendingSync:
            return PendingSync([self], lambda: None)

    committer = GroupCommitter()
    try:
        with pytest.raises(KafkaStorageError, match="fsync failed"):
            asyncio.run(committer.sync(Pipe()))
    finally:
        committer.close()
        os.close(r)
        os.close(w)
    with pytest.raises(KafkaStorageError, match="closed"):
        asyncio.run(committer.sync(Pipe()))


def test_clean_marker_life_cycle(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert not was_clean(data)
    mark_clean(data)
    assert (data / CLEAN_SHUTDOWN_MARKER).exists() and was_clean(data)
    assert mark_dirty(data) is True
    assert not (data / CLEAN_SHUTDOWN_MARKER).exists()
    assert was_clean(data)  # remembered for the logs opened after mark_dirty
    assert mark_dirty(data) is False and not was_clean(data)
    atomic_write(data / "f", b"one")
    atomic_write(data / "f", b"two", fsync=False)
    assert (data / "f").read_bytes() == b"two" and sorted(p.name for p in data.iterdir()) == ["f"]


def test_open_follows_the_marker_of_the_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log, spans = _filled(path, 5)
    log.close()
    with open(log.segments[-1].log_path, "ab") as f:
        f.write(b"junk")
    mark_clean(tmp_path)
    mark_dirty(tmp_path)
    again = PartitionLog.open(path, SMALL)  # clean: the tail check alone finds the junk
    assert again.recovery_truncated_bytes == 4 and again.log_end_offset == spans[-1][1] + 1


def test_log_config_from_topic_configs() -> None:
    cfg = LogConfig.from_topic_configs(
        {
            "segment.bytes": "2048",
            "retention.ms": "-1",
            "cleanup.policy": "compact,delete",
            "message.timestamp.type": "LogAppendTime",
            "min.insync.replicas": "2",
        }
    )
    assert (cfg.segment_bytes, cfg.retention_ms, cfg.delete_enabled, cfg.max_message_bytes) == (
        2048,
        -1,
        True,
        1048588,
    )
    assert LogConfig.from_topic_configs({}) == LogConfig()
    with pytest.raises(InvalidConfigurationError, match="segment.bytes: must be an integer"):
        LogConfig.from_topic_configs({"segment.bytes": "big"})
    with pytest.raises(InvalidConfigurationError, match="message.timestamp.type"):
        LogConfig.from_topic_configs({"message.timestamp.type": "Now"})
    with pytest.raises(InvalidConfigurationError, match="retention.ms"):
        LogConfig(retention_ms=-5)


def test_iter_batch_headers_and_flush_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    log, spans = _filled(path, 20)
    assert [(h.base_offset, h.last_offset) for h in log.iter_batch_headers(0)] == spans
    assert [h.base_offset for h in log.iter_batch_headers(spans[5][1])] == [s[0] for s in spans[5:]]
    assert log.recovery_point == 0
    log.flush()
    assert log.recovery_point == log.log_end_offset == log.synced_offset
    assert "recovery_point=40" in (path / "partition.checkpoint").read_text()
