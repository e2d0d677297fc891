"""Idempotent-producer state: sequence and epoch rules, duplicates, rebuild after reopen, producer ids."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kafka.record.default_records import DefaultRecordBatchBuilder

from kafkakit.broker.log import LogConfig, PartitionLog
from kafkakit.broker.producer_state import (
    DuplicateInfo,
    ProducerIdManager,
    ProducerStateManager,
    list_snapshots,
)
from kafkakit.errors import InvalidProducerEpochError, InvalidRecordError, OutOfOrderSequenceNumberError
from kafkakit.record import BatchHeader, encode_batch, encode_control_batch, read_batch_header

INT32_MAX = 2**31 - 1


def idem(pid: int, epoch: int, seq: int, n: int = 1, *, ts: int = 1000, transactional: bool = False) -> bytes:
    return encode_batch(
        [(ts, None, b"v%d" % (seq + i), None) for i in range(n)],
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
        transactional=transactional,
    )


def header(pid: int, epoch: int, seq: int, n: int = 1, base_offset: int = 0) -> BatchHeader:
    return read_batch_header(idem(pid, epoch, seq, n))._replace(base_offset=base_offset)


def open_log(path: Path, clean: bool = False) -> PartitionLog:
    return PartitionLog.open(path, LogConfig(segment_bytes=2000, index_interval_bytes=100), clean=clean)


# ------------------------------------------------------------------------------ sequence rules


def test_in_order_sequences_are_accepted_and_gaps_rejected(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    assert log.append(idem(7, 0, 0, 3)).base_offset == 0
    assert log.append(idem(7, 0, 3, 2)).base_offset == 3
    end = log.log_end_offset
    for seq in (6, 4, 1):
        with pytest.raises(
            OutOfOrderSequenceNumberError,
            match=f"sequence {seq} does not follow the last sequence 4; expected 5",
        ):
            log.append(idem(7, 0, seq))
    assert log.log_end_offset == end
    assert log.append(idem(7, 0, 5)).base_offset == 5
    entry = log.producer_state.entry(7)
    assert entry is not None and (entry.epoch, entry.last_seq, entry.last_offset) == (0, 5, 5)


def test_each_of_the_last_five_batches_is_a_duplicate_and_the_sixth_is_not(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    placed = []
    for k in range(6):
        res = log.append(idem(9, 2, 2 * k, 2, ts=100 + k))
        placed.append((2 * k, res.base_offset, res.last_offset))
    end = log.log_end_offset
    for seq, base, last in placed[1:]:
        again = log.append(idem(9, 2, seq, 2, ts=100))
        assert again.duplicate and (again.base_offset, again.last_offset) == (base, last)
        assert again.batch_headers == [] and again.log_append_time_ms == -1
    assert log.log_end_offset == end
    with pytest.raises(OutOfOrderSequenceNumberError):
        log.append(idem(9, 2, 0, 2))  # evicted from the last 5: no longer recognised
    with pytest.raises(OutOfOrderSequenceNumberError):
        log.append(idem(9, 2, 2, 1))  # overlapping but not the same range is no duplicate


def test_duplicate_keeps_the_original_log_append_time(tmp_path: Path) -> None:
    log = PartitionLog.open(tmp_path / "t-0", LogConfig(message_timestamp_type="LogAppendTime"), clean=False)
    first = log.append(idem(1, 0, 0), now_ms=555)
    again = log.append(idem(1, 0, 0), now_ms=999)
    assert again.duplicate and (again.base_offset, again.log_append_time_ms) == (first.base_offset, 555)


def test_sequence_wraps_after_int32_max() -> None:
    mgr = ProducerStateManager()
    assert mgr.check_and_update(header(3, 0, INT32_MAX - 1, 2, base_offset=0)) is None
    assert mgr.entry(3).last_seq == INT32_MAX  # type: ignore[union-attr]
    assert mgr.check_and_update(header(3, 0, 0, 1, base_offset=2)) is None
    across = header(3, 0, INT32_MAX - 1, 3, base_offset=10)
    other = ProducerStateManager()
    assert other.check_and_update(across) is None
    # the batch holds sequences MAX-1, MAX, 0
    assert other.entry(3).last_seq == 0  # type: ignore[union-attr]
    with pytest.raises(OutOfOrderSequenceNumberError, match="expected 1"):
        other.check_and_update(header(3, 0, 0, 1, base_offset=13))
    assert other.check_and_update(header(3, 0, 1, 1, base_offset=13)) is None
    assert other.check_and_update(across) == DuplicateInfo(10, 12, 1000)


def test_epoch_bump_fencing_and_unknown_producers(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.append(idem(5, 0, 0, 2))
    with pytest.raises(OutOfOrderSequenceNumberError, match="a new epoch must start at sequence 0"):
        log.append(idem(5, 1, 2))
    assert log.append(idem(5, 1, 0)).base_offset == 2  # Java clients bump the epoch and restart at 0
    with pytest.raises(InvalidProducerEpochError, match="epoch 0 but its current epoch is 1"):
        log.append(idem(5, 0, 2))
    with pytest.raises(InvalidProducerEpochError):
        log.append(idem(5, 0, 0, 2))  # a resend from the fenced epoch is no duplicate either
    assert log.append(idem(77, 4, 1234)).base_offset == 3  # no state for 77: any sequence
    assert log.append(encode_batch([(1, None, b"plain", None)])).base_offset == 4  # no producer id
    with pytest.raises(InvalidRecordError, match="no base sequence"):
        log.append(encode_batch([(1, None, b"x", None)], producer_id=5, producer_epoch=1))


def test_multi_batch_request_is_validated_as_a_whole(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.append(idem(4, 0, 0))
    assert log.append(idem(4, 0, 1, 2) + idem(4, 0, 3)).last_offset == 3
    end = log.log_end_offset
    with pytest.raises(OutOfOrderSequenceNumberError):
        log.append(idem(4, 0, 4) + idem(4, 0, 9))
    assert log.log_end_offset == end and log.producer_state.entry(4).last_seq == 3  # type: ignore[union-attr]
    assert log.append(idem(4, 0, 4)).base_offset == 4


def test_peer_built_idempotent_batches(tmp_path: Path) -> None:
    def peer(seq: int) -> bytes:
        b = DefaultRecordBatchBuilder(
            magic=2,
            compression_type=0,
            is_transactional=False,
            producer_id=1000,
            producer_epoch=3,
            base_sequence=seq,
            batch_size=1 << 16,
        )
        for i in range(4):
            b.append(i, timestamp=10, key=None, value=b"peer", headers=[])
        return bytes(b.build())

    log = open_log(tmp_path / "t-0")
    assert log.append(peer(0)).base_offset == 0
    assert log.append(peer(4)).base_offset == 4
    dup = log.append(peer(0))
    assert dup.duplicate and (dup.base_offset, dup.last_offset) == (0, 3)


def test_transaction_markers_close_the_open_transaction(tmp_path: Path) -> None:
    log = open_log(tmp_path / "t-0")
    log.append(encode_batch([(1, None, b"x", None)]))
    log.append(idem(8, 0, 0, 2, transactional=True))
    log.append(idem(8, 0, 2, 1, transactional=True))
    assert log.last_stable_offset == 1 and log.log_end_offset == 4
    log.append(encode_control_batch(True, 8, 0, timestamp=5), allow_control=True)
    assert log.last_stable_offset == log.log_end_offset == 5
    assert log.append(idem(8, 0, 3)).base_offset == 5  # markers do not disturb sequences


# ------------------------------------------------------------------------------ rebuild


def _state(log: PartitionLog) -> dict[int, tuple[int, list[tuple[int, int, int, int, int]], int]]:
    return {
        e.producer_id: (e.epoch, [tuple(b) for b in e.batches], e.txn_first_offset)  # type: ignore[misc]
        for e in log.producer_state.entries()
    }


def _produce(log: PartitionLog, rounds: int) -> None:
    for k in range(rounds):
        for pid in (11, 12, 13):
            entry = log.producer_state.entry(pid)
            seq = entry.last_seq + 1 if entry else 0
            log.append(idem(pid, 0, seq, 1 + k % 3, ts=k))


@pytest.mark.parametrize("how", ["clean-close", "kill", "kill-after-roll-snapshots", "corrupt-snapshot"])
def test_state_is_rebuilt_on_reopen(tmp_path: Path, how: str) -> None:
    path = tmp_path / "t-0"
    log = open_log(path)
    _produce(log, 20)
    if how == "clean-close":
        log.close()
        assert [o for o, _p in list_snapshots(path)][-1] == log.log_end_offset
    if how == "kill":
        for _o, p in list_snapshots(path):
            p.unlink()  # nothing but the log to rebuild from
    if how == "corrupt-snapshot":
        log.close()
        newest = list_snapshots(path)[-1][1]
        data = bytearray(newest.read_bytes())
        data[10] ^= 1
        newest.write_bytes(bytes(data))
    if how == "kill-after-roll-snapshots":
        assert len(list_snapshots(path)) >= 2
    before = _state(log)
    again = open_log(path, clean=how in ("clean-close", "corrupt-snapshot"))
    assert _state(again) == before
    for pid in (11, 12, 13):
        entry = again.producer_state.entry(pid)
        assert entry is not None
        last = entry.batches[-1]
        dup = again.append(idem(pid, 0, last.first_seq, last.last_seq - last.first_seq + 1))
        assert dup.duplicate and (dup.base_offset, dup.last_offset) == (last.base_offset, last.last_offset)
        assert again.append(idem(pid, 0, last.last_seq + 1)).base_offset == again.log_end_offset - 1


def test_state_after_kill_9_of_a_real_process(tmp_path: Path) -> None:
    path = tmp_path / "t-0"
    child = textwrap.dedent(
        """
        import sys
        from kafkakit.broker.log import LogConfig, PartitionLog
        from kafkakit.record import encode_batch
        log = PartitionLog.open(sys.argv[1], LogConfig(segment_bytes=3000), clean=False)
        seq = 0
        while True:
            b = encode_batch([(1, None, b"x" * 100, None)] * 2, producer_id=42, producer_epoch=1, base_sequence=seq)
            res = log.append(b)
            print(res.base_offset, seq, flush=True)
            seq += 2
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked = []
    try:
        for line in proc.stdout:
            acked.append(tuple(map(int, line.split())))
            if len(acked) >= 200:
                break
    finally:
        proc.kill()
        proc.wait()
    log = open_log(path)
    entry = log.producer_state.entry(42)
    assert entry is not None and entry.epoch == 1
    assert entry.last_offset == log.log_end_offset - 1
    base, seq = acked[-1]
    assert entry.last_seq >= seq + 1
    if entry.last_seq == seq + 1:  # the last acknowledged batch is the newest stored one
        dup = log.append(idem(42, 1, seq, 2))
        assert dup.duplicate and dup.base_offset == base
    nxt = entry.last_seq + 1
    assert log.append(idem(42, 1, nxt, 2)).base_offset == log.log_end_offset - 2


def test_snapshot_bytes_round_trip_and_reject_damage() -> None:
    mgr = ProducerStateManager()
    for k in range(7):
        mgr.update(header(1, 0, k, base_offset=k))
    mgr.update(header(2, 5, 0, 3, base_offset=7))
    mgr.map_end_offset = 10
    data = mgr.to_bytes()
    back = ProducerStateManager.from_bytes(data)
    assert back.map_end_offset == 10
    assert [(e.producer_id, e.epoch, list(e.batches)) for e in back.entries()] == [
        (e.producer_id, e.epoch, list(e.batches)) for e in mgr.entries()
    ]
    assert len(back.entry(1).batches) == 5  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="CRC"):
        ProducerStateManager.from_bytes(data[:20] + bytes([data[20] ^ 1]) + data[21:])
    with pytest.raises(ValueError, match="too short"):
        ProducerStateManager.from_bytes(b"KK")


def test_expired_producers_are_forgotten() -> None:
    mgr = ProducerStateManager()
    mgr.update(header(1, 0, 0))  # max timestamp 1000
    mgr.update(read_batch_header(idem(2, 0, 0, ts=5000)))
    assert mgr.remove_expired(now_ms=6500, expiration_ms=2000) == 1
    assert mgr.entry(1) is None and mgr.entry(2) is not None


# ------------------------------------------------------------------------------ producer ids


def test_producer_ids_are_never_reissued(tmp_path: Path) -> None:
    mgr = ProducerIdManager(tmp_path, block_size=10)
    first = [mgr.next_id() for _ in range(15)]
    assert first == list(range(15))
    assert (tmp_path / "producer-id-block").read_text() == "20\n"
    crashed = ProducerIdManager(tmp_path, block_size=10)  # no close: as after kill -9
    assert crashed.next_id() == 20
    crashed.close()
    assert (tmp_path / "producer-id-block").read_text() == "21\n"
    again = ProducerIdManager(tmp_path, block_size=10)
    assert [again.next_id() for _ in range(3)] == [21, 22, 23]
    (tmp_path / "producer-id-block").write_text("garbage")
    with pytest.raises(ValueError, match="corrupt"):
        ProducerIdManager(tmp_path)
    with pytest.raises(ValueError, match="block_size"):
        ProducerIdManager(tmp_path / "x", block_size=0)


def test_producer_ids_survive_kill_9(tmp_path: Path) -> None:
    child = textwrap.dedent(
        """
        import sys
        from kafkakit.broker.producer_state import ProducerIdManager
        m = ProducerIdManager(sys.argv[1], block_size=7)
        while True:
            print(m.next_id(), flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    issued = []
    try:
        for line in proc.stdout:
            issued.append(int(line))
            if len(issued) >= 50:
                break
    finally:
        proc.kill()
        proc.wait()
    after = ProducerIdManager(tmp_path, block_size=7).next_id()
    assert after > max(issued)
    assert os.path.exists(tmp_path / "producer-id-block")
