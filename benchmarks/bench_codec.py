"""Micro-benchmark of RecordBatch v2 encode/decode: kafkakit beside kafka-python, same run.

How it works: builds batches of 1000 records with 100-byte values (16-byte keys, no headers),
times encode and decode (CRC checked, as consumers do by default) for codecs none and lz4, takes
the best of several rounds and prints records/s, microseconds per record and the ratio over
kafka-python's DefaultRecordBatchBuilder / DefaultRecordBatch. ``--profile`` runs cProfile on
kafkakit's encode and decode instead.

What it must never do: run as part of the test suite or assert on timings (machines differ).

Usage: python benchmarks/bench_codec.py [--rounds N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from collections.abc import Callable
from functools import partial

from kafkakit.record.batch import decode_batch, encode_batch

try:
    from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
except ImportError:  # kafka-python is a test dependency only
    DefaultRecordBatch = DefaultRecordBatchBuilder = None

BATCH = 1000
VALUE_SIZE = 100
CODECS = {"none": 0, "lz4": 3}


def make_records() -> list[tuple[int, bytes, bytes, None]]:
    now = int(time.time() * 1000)
    value = os.urandom(VALUE_SIZE // 2).hex().encode()  # text-like, mildly compressible
    return [(now + i // 100, b"key-%012d" % i, value, None) for i in range(BATCH)]


def best_of(fn: Callable[[], object], rounds: int, inner: int) -> float:
    """Best seconds per call over ``rounds`` rounds of ``inner`` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def kp_encode(records: list[tuple[int, bytes, bytes, None]], codec: int) -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec, False, -1, -1, -1, 1 << 24)
    for i, (ts, key, value, _h) in enumerate(records):
        builder.append(i, ts, key, value, [])
    return bytes(builder.build())


def kp_decode(data: bytes) -> list[object]:
    batch = DefaultRecordBatch(data)
    if not batch.validate_crc():
        raise RuntimeError("crc")
    return list(batch)


def run(rounds: int) -> None:
    records = make_records()
    inner = 20
    print(f"{BATCH} records/batch, {VALUE_SIZE}-byte values, best of {rounds} rounds x {inner} batches")
    print(
        f"{'codec':<6}{'op':<8}{'kafkakit rec/s':>16}{'us/rec':>9}{'kafka-python rec/s':>20}{'us/rec':>9}{'ratio':>8}"
    )
    for name, codec in CODECS.items():
        ours_bytes = encode_batch(records, compression=codec)
        rows: list[tuple[str, Callable[[], object], Callable[[], object] | None]] = [
            ("encode", partial(encode_batch, records, compression=codec), None),
            ("decode", partial(decode_batch, ours_bytes), None),
        ]
        if DefaultRecordBatchBuilder is not None:
            theirs_bytes = kp_encode(records, codec)
            rows = [
                ("encode", rows[0][1], partial(kp_encode, records, codec)),
                ("decode", rows[1][1], partial(kp_decode, theirs_bytes)),
            ]
        for op, ours, theirs in rows:
            t_ours = best_of(ours, rounds, inner) / BATCH
            line = f"{name:<6}{op:<8}{1 / t_ours:>16,.0f}{t_ours * 1e6:>9.3f}"
            if theirs is not None:
                t_theirs = best_of(theirs, rounds, inner) / BATCH
                line += f"{1 / t_theirs:>20,.0f}{t_theirs * 1e6:>9.3f}{t_theirs / t_ours:>7.1f}x"
            print(line)


def profile() -> None:
    records = make_records()
    for name, codec in CODECS.items():
        data = encode_batch(records, compression=codec)
        for label, stmt in (
            ("encode", "encode_batch(records, compression=codec)"),
            ("decode", "decode_batch(data)"),
        ):
            prof = cProfile.Profile()
            env = {"encode_batch": encode_batch, "decode_batch": decode_batch, "records": records}
            env.update(codec=codec, data=data)
            prof.runctx(f"for _ in range(200): {stmt}", env, {})
            print(f"--- {label} {name}")
            pstats.Stats(prof).sort_stats("tottime").print_stats(6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.profile:
        profile()
    else:
        run(args.rounds)


if __name__ == "__main__":
    main()
