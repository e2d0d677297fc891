"""murmur2 and the default partitioner: Java vectors, kafka-python as a second implementation."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkakit.partitioner import DefaultPartitioner, murmur2, to_positive

kp_default = pytest.importorskip("kafka.partitioner.default")

# expected values from the Java client's UtilsTest.testMurmur2 (signed 32-bit ints)
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "expected"), JAVA_VECTORS.items())
def test_java_vectors(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected
    assert murmur2(bytearray(key)) == expected
    assert murmur2(memoryview(key)) == expected


def test_every_length_matches_kafka_python() -> None:
    rng = random.Random(1234)
    for n in range(0, 600):
        data = bytes(rng.getrandbits(8) for _ in range(n))
        ours = murmur2(data)
        assert -(2**31) <= ours < 2**31
        # kafka-python returns the same 32 bits unsigned
        assert ours & 0xFFFFFFFF == kp_default.murmur2(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_random_keys_match_kafka_python(data: bytes) -> None:
    assert murmur2(data) & 0xFFFFFFFF == kp_default.murmur2(data)


def test_keyed_partition_is_javas_choice() -> None:
    part = DefaultPartitioner()
    partitions = list(range(12))
    for key, h in JAVA_VECTORS.items():
        assert part(key, partitions, [0]) == partitions[to_positive(h) % 12]
    # -973932308 & 0x7fffffff = 1173551340; 1173551340 % 12 = 0
    assert part(b"21", partitions, partitions) == 0
    assert part(b"foobar", list(range(7)), []) == (-790332482 & 0x7FFFFFFF) % 7
    # availability never moves a keyed record
    assert part(b"foobar", partitions, [3]) == part(b"foobar", partitions, partitions)


def test_unkeyed_records_go_to_available_partitions() -> None:
    part = DefaultPartitioner()
    seen = Counter(part(None, [0, 1, 2, 3], [1, 3]) for _ in range(400))
    assert set(seen) == {1, 3}
    seen = Counter(part(None, [0, 1, 2], []) for _ in range(400))
    assert set(seen) == {0, 1, 2}
    assert part(None, [5], None) == 5


def test_kafka_python_3_partition_interface() -> None:
    class Cluster:
        def partitions_for_topic(self, topic: str) -> set[int]:
            return {2, 0, 1} if topic == "t" else set()

        def available_partitions_for_topic(self, topic: str) -> set[int]:
            return {2}

    part = DefaultPartitioner()
    assert part.partition("t", "k", b"21", None, None, Cluster()) == to_positive(-973932308) % 3
    assert part.partition("t", None, None, None, None, Cluster()) == 2
    with pytest.raises(ValueError, match="no known partitions"):
        part.partition("missing", None, None, None, None, Cluster())
