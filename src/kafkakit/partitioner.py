"""Default partitioner: Java-compatible murmur2 for keyed records, random choice for unkeyed ones.

How it works: ``murmur2`` is the Java client's ``Utils.murmur2`` (seed 0x9747b28c, m 0x5bd1e995,
r 24) over little-endian 32-bit words, which are unpacked in one ``struct`` call; the result is a
signed 32-bit int exactly as Java returns it. ``DefaultPartitioner()(key, all_partitions,
available)`` maps a key to ``all_partitions[(murmur2(key) & 0x7fffffff) % len(all_partitions)]``
and an absent key to a random available partition (any partition when none is available).

What it must never do: change the partition a key maps to (keyed data placement must agree with
the Java client, librdkafka's murmur2_random and kafka-python), or depend on available
partitions for keyed records.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from typing import Any, TypeVar

__all__ = ["DefaultPartitioner", "murmur2"]

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF

T = TypeVar("T")

# precompiled unpackers of n little-endian uint32 words, for keys up to 256 bytes
_WORDS_CACHED = 65
_WORDS = [struct.Struct(f"<{n}I").unpack_from for n in range(_WORDS_CACHED)]


def murmur2(data: bytes | bytearray | memoryview) -> int:
    """Java ``Utils.murmur2`` of ``data``: a signed 32-bit int."""
    length = len(data)
    h = _SEED ^ length
    nwords = length >> 2
    if nwords:
        m = _M
        mask = _MASK
        unpack = _WORDS[nwords] if nwords < _WORDS_CACHED else struct.Struct(f"<{nwords}I").unpack_from
        for k in unpack(data):
            k = (k * m) & mask
            # masking once after the xor equals masking both products (mask distributes over xor)
            h = ((h * m) ^ ((k ^ (k >> 24)) * m)) & mask
    tail = length & 3
    if tail:
        base = length - tail
        if tail == 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h ^= data[base]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - 0x100000000 if h & 0x80000000 else h


def to_positive(value: int) -> int:
    """Java ``Utils.toPositive``: clear the sign bit."""
    return value & 0x7FFFFFFF


class DefaultPartitioner:
    """Callable ``partitioner(key_bytes, all_partitions, available_partitions)`` as in kafka-python.

    Keyed records: ``all_partitions[(murmur2(key) & 0x7fffffff) % len(all_partitions)]``, the Java
    client's choice; ``all_partitions`` must be sorted by partition id for that to hold. Records
    without a key: a random partition from ``available_partitions`` (or all of them if none is
    available).
    """

    def __call__(
        self,
        key: bytes | None,
        all_partitions: Sequence[T],
        available_partitions: Sequence[T] | None = None,
    ) -> T:
        if key is not None:
            return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
        pool = available_partitions if available_partitions else all_partitions
        return random.choice(pool)

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        """kafka-python 3.x's partitioner interface: pick from ``cluster``'s view of ``topic``."""
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"topic {topic!r} has no known partitions in the cluster metadata")
        all_partitions = sorted(partitions)
        available = sorted(cluster.available_partitions_for_topic(topic) or ())
        chosen: int = self(serialized_key, all_partitions, available)
        return chosen
