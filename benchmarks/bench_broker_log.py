"""Benchmark of the broker's partition log: append and read throughput, fsync off and on.

How it works: pre-encodes 16 KiB batches of 1 KiB records (15 records each) with kafkakit.record,
then times ``PartitionLog.append`` for ``--mb`` megabytes (fsync off: plain appends, the bytes
only reach the OS; fsync on: ``--producers`` concurrent asyncio producers spread over 4 partitions,
each awaiting ``GroupCommitter.sync`` after every append, as the produce handler does), then
sequential reads with 1 MiB ``max_bytes`` both through ``ReadResult.to_bytes()`` and through the
file regions with ``os.sendfile`` to /dev/null, and random single-batch reads (index lookup cost).
Prints MB/s (10**6 bytes) and per-operation figures. Data goes to a temporary directory under
``--dir`` (default: the system temp dir), removed afterwards.

What it must never do: run as part of the test suite or assert on timings (machines differ).

Usage: python benchmarks/bench_broker_log.py [--mb 256] [--producers 16] [--dir PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from kafkakit.broker.durability import GroupCommitter
from kafkakit.broker.log import LogConfig, PartitionLog
from kafkakit.record import encode_batch, iter_batches, read_batch_header

RECORD = 1024
PER_BATCH = 15  # 15 x ~1 KiB records + overhead: just under 16 KiB


def make_batches(n: int) -> list[bytes]:
    value = os.urandom(RECORD // 2).hex().encode()
    now = int(time.time() * 1000)
    proto = [encode_batch([(now, b"k%05d" % i, value, None) for i in range(PER_BATCH)]) for _ in range(8)]
    return [proto[i % len(proto)] for i in range(n)]


def bench_append_nosync(root: Path, batches: list[bytes]) -> tuple[PartitionLog, float]:
    log = PartitionLog.open(root / "nosync-0", LogConfig(), clean=False)
    start = time.perf_counter()
    for b in batches:
        log.append(b)
    return log, time.perf_counter() - start


def bench_append_fsync(root: Path, batches: list[bytes], producers: int) -> tuple[float, int, int]:
    logs = [PartitionLog.open(root / f"fsync-{i}", LogConfig(), fsync=True, clean=False) for i in range(4)]
    committer = GroupCommitter()

    async def producer(k: int) -> None:
        log = logs[k % len(logs)]
        for b in batches[k::producers]:
            log.append(b)
            await committer.sync(log)

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(producer(k) for k in range(producers)))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    committer.close()
    for log in logs:
        log.close()
    return elapsed, committer.rounds, committer.fsyncs


def bench_reads(log: PartitionLog) -> tuple[float, float, int]:
    total = 0
    start = time.perf_counter()
    offset = log.log_start_offset
    while offset < log.log_end_offset:
        res = log.read(offset, 1 << 20)
        data = res.to_bytes()
        total += len(data)
        offset = _next_offset(data)
    copy_s = time.perf_counter() - start
    devnull = os.open(os.devnull, os.O_WRONLY)
    start = time.perf_counter()
    offset = log.log_start_offset
    try:
        while offset < log.log_end_offset:
            res = log.read(offset, 1 << 20)
            for r in res.regions:
                sent = 0
                while sent < r.length:
                    sent += os.sendfile(devnull, r.file.fileno(), r.position + sent, r.length - sent)
            region = res.regions[-1]
            offset = _last_next_offset(region.file.fileno(), region.position, region.length)
    finally:
        os.close(devnull)
    return copy_s, time.perf_counter() - start, total


def _next_offset(data: bytes) -> int:
    last = None
    for _pos, h, _view in iter_batches(data):
        last = h
    assert last is not None
    return last.next_offset


def _last_next_offset(fd: int, position: int, length: int) -> int:
    # walk the headers of the region to find where the next read starts
    pos, end, nxt = position, position + length, -1
    while pos < end:
        h = read_batch_header(os.pread(fd, 61, pos))
        nxt = h.next_offset
        pos += h.size_in_bytes
    return nxt


def bench_random_reads(log: PartitionLog, n: int = 20000) -> float:
    rng = random.Random(1)
    offsets = [rng.randrange(log.log_start_offset, log.log_end_offset) for _ in range(n)]
    start = time.perf_counter()
    for off in offsets:
        log.read(off, 16384)
    return (time.perf_counter() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=256, help="megabytes to append per mode")
    ap.add_argument("--producers", type=int, default=16, help="concurrent producers with fsync on")
    ap.add_argument("--dir", default=None, help="where to put the data (default: system temp dir)")
    args = ap.parse_args()
    batches = make_batches(args.mb * 10**6 // len(make_batches(1)[0]))
    nbytes = sum(len(b) for b in batches)
    root = Path(tempfile.mkdtemp(prefix="kafkakit-bench-log-", dir=args.dir))
    print(
        f"{len(batches)} batches of {len(batches[0])} bytes ({PER_BATCH} x {RECORD} B records), data in {root}"
    )
    try:
        log, t = bench_append_nosync(root, batches)
        print(
            f"append, fsync off:              {nbytes / t / 1e6:8.0f} MB/s  {len(batches) / t:9.0f} batches/s"
        )
        copy_s, send_s, total = bench_reads(log)
        print(f"read 1 MiB chunks, to_bytes():  {total / copy_s / 1e6:8.0f} MB/s")
        print(f"read 1 MiB chunks, sendfile:    {total / send_s / 1e6:8.0f} MB/s")
        per = bench_random_reads(log)
        print(f"random single-batch read:       {per * 1e6:8.1f} us per read (index lookup + header walk)")
        log.close()
        for producers in (1, args.producers):
            fs_batches = batches[: max(producers * 4, len(batches) // (8 if producers == 1 else 2))]
            fs_bytes = sum(len(b) for b in fs_batches)
            t, rounds, fsyncs = bench_append_fsync(root / f"p{producers}", fs_batches, producers)
            print(
                f"append, fsync on, {producers:2d} producers: {fs_bytes / t / 1e6:8.0f} MB/s  "
                f"{len(fs_batches) / t:9.0f} batches/s  ({rounds} rounds, {fsyncs} fsyncs, "
                f"{len(fs_batches) / max(rounds, 1):.1f} appends per round)"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
