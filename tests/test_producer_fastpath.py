"""The producer's send() fast path and batch encoder: what their shortcuts must not change.

send() keeps the last partition's open batch and appends to it without looking anything up, takes
the accumulator lock without ``with`` and returns a tuple-subclass future; the sender encodes
records of one shape from cached record heads. These tests pin the invariants those shortcuts rely
on: records from many threads land in the partition they were sent to, with gapless offsets; a batch
taken out of its queue (aborted) never takes more records; an asynchronous exception in the middle
of send() never leaves the lock held; the encoder's output decodes to exactly the records given.
Brokers: kafkakit's embedded broker (in-process) and tansu.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest

from kafkakit import KafkaProducer
from kafkakit.client.producer import FutureRecordMetadata
from kafkakit.errors import KafkaError
from kafkakit.record import decode_batch, encode_batch
from tests.infra import create_topics, parse_bootstrap

ck = pytest.importorskip("confluent_kafka")


@pytest.fixture(params=["embedded", "tansu"])
def broker(request: pytest.FixtureRequest) -> str:
    if request.param == "embedded":
        return str(request.getfixturevalue("embedded_broker_module").bootstrap_servers)
    return str(request.getfixturevalue("tansu_broker").bootstrap_servers)


def new_topic(bootstrap: str, partitions: int) -> str:
    name = f"fastpath-{uuid.uuid4().hex[:10]}"
    host, port = parse_bootstrap(bootstrap)[0]
    create_topics(host, port, {name: (partitions, 1)})
    return name


def read_all(bootstrap: str, topic: str, partitions: int, count: int) -> list[Any]:
    c = ck.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"fastpath-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    out: list[Any] = []
    try:
        c.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + 30
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append(m)
    finally:
        c.close()
    return out


def test_threads_sending_to_many_partitions(broker: str) -> None:
    """Four threads, two topics of two partitions, small batches: every record in its partition."""
    topics = [new_topic(broker, 2), new_topic(broker, 2)]
    per_thread = 3000
    futures: dict[int, list[tuple[str, int, bytes, FutureRecordMetadata]]] = {}
    with KafkaProducer(bootstrap_servers=broker, batch_size=2048, linger_ms=2) as p:
        for t in topics:
            p.send(t, b"warm-up", partition=0).get(30)
            p.send(t, b"warm-up", partition=1).get(30)

        def run(n: int) -> None:
            rnd = random.Random(n)
            mine = futures[n] = []
            for i in range(per_thread):
                topic = topics[rnd.randrange(2)]
                part = rnd.randrange(2) if i % 50 else 0
                value = f"{topic}/{part}/{n}/{i}".encode()
                mine.append((topic, part, value, p.send(topic, value, partition=part)))

        threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        p.flush(30)
    offsets: dict[tuple[str, int], list[int]] = {}
    for mine in futures.values():
        for topic, part, _value, fut in mine:
            md = fut.get(0)
            assert (md.topic, md.partition) == (topic, part)
            offsets.setdefault((topic, part), []).append(md.offset)
    for key, got in offsets.items():
        # one warm-up record at offset 0, then every record exactly once
        assert sorted(got) == list(range(1, len(got) + 1)), key
    for topic in topics:
        msgs = read_all(broker, topic, 2, sum(len(v) for k, v in offsets.items() if k[0] == topic) + 2)
        for m in msgs:
            if m.value() == b"warm-up":
                continue
            t, part, _n, _i = m.value().decode().split("/")
            assert (t, int(part)) == (m.topic(), m.partition())


def test_aborted_open_batch_takes_no_more_records(broker: str) -> None:
    """A batch failed while still open is sealed: the next send opens a new batch."""
    topic = new_topic(broker, 1)
    with KafkaProducer(bootstrap_servers=broker, linger_ms=60_000, batch_size=1 << 20) as p:
        first = p.send(topic, b"first", partition=0)
        p.flush(30)
        assert first.get(0).offset == 0
        doomed = p.send(topic, b"doomed", partition=0)
        acc = p._core.acc
        assert acc.abort(KafkaError("aborted by the test"), acc.queued_batches()) == 1
        with pytest.raises(KafkaError, match="aborted by the test"):
            doomed.get(5)
        after = p.send(topic, b"after", partition=0)
        assert after[0] is not doomed[0]
        p.flush(30)
        md = after.get(0)
    assert md.offset == 1  # the aborted record never reached the broker
    assert [m.value() for m in read_all(broker, topic, 1, 2)] == [b"first", b"after"]


def test_future_is_a_light_handle(broker: str) -> None:
    topic = new_topic(broker, 1)
    with KafkaProducer(bootstrap_servers=broker, linger_ms=1) as p:
        a = p.send(topic, b"a", partition=0)
        b = p.send(topic, b"b", partition=0)
        p.flush(30)
    assert isinstance(a, FutureRecordMetadata)
    assert a is not b and a != b
    assert a.get(0).offset + 1 == b.get(0).offset
    assert a.is_done and a.succeeded() and a.exception is None and a.value == a.get(0)
    assert repr(a).startswith("<FutureRecordMetadata ")


class _Interrupt(Exception):
    pass


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs POSIX signals")
def test_async_exception_in_send_never_leaves_the_lock_held(broker: str) -> None:
    """Exceptions raised by signal handlers in the middle of send() (as Ctrl-C raises
    KeyboardInterrupt) leave the producer usable: the fast path takes the lock without ``with``."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    topic = new_topic(broker, 1)
    armed = [False]

    def handler(_sig: int, frame: Any) -> None:
        # raise only inside send() itself (anywhere in it, between acquire and release too)
        if armed[0] and frame is not None and frame.f_code.co_name == "send":
            armed[0] = False
            raise _Interrupt()

    old = signal.signal(signal.SIGUSR1, handler)
    interrupts = leaked = 0
    with KafkaProducer(bootstrap_servers=broker, linger_ms=1) as p:
        p.send(topic, b"warm-up", partition=0).get(30)
        lock = p._core.acc.lock
        send = p.send
        # signals from another process: a thread of this one would need the GIL to send them
        killer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import os, signal, time\n"
                f"while True:\n    os.kill({os.getpid()}, signal.SIGUSR1)\n    time.sleep(0.0003)",
            ]
        )
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and interrupts < 300:
                try:
                    armed[0] = True
                    for _ in range(2000):
                        send(topic, b"x" * 20, partition=0)
                    armed[0] = False
                except _Interrupt:
                    interrupts += 1
                    while lock._is_owned():  # (a leak would wedge the sender: undo it, fail below)
                        leaked += 1
                        lock.release()
        finally:
            armed[0] = False
            killer.kill()
            killer.wait()
            signal.signal(signal.SIGUSR1, old)
        assert interrupts > 0
        assert leaked == 0, f"{leaked} of {interrupts} interruptions left the accumulator lock held"
        p.send(topic, b"last", partition=0).get(30)  # neither the lock nor the sender is stuck
        p.flush(30)


def test_encoder_round_trips_every_shape() -> None:
    """Cached record heads (repeated shapes) and the general path give the records back."""
    rnd = random.Random(7)
    base = 1_700_000_000_000
    values = [b"", b"v", b"v" * 100, b"w" * 8191, b"w" * 8192, b"z" * 20000]
    for trial in range(400):
        n = rnd.choice([1, 2, 3, 64, 600, 5000])
        mode = trial % 4
        recs: list[Any] = []
        for i in range(n):
            if mode == 0:  # one shape: the cached heads
                recs.append((base + i // 100, None, values[2], None))
            elif mode == 1:  # a few shapes, runs of each
                recs.append((base + (i // 7) % 3, None, values[(i // 5) % 3], None))
            else:
                recs.append(
                    (
                        base + rnd.choice([0, 0, 1, 63, 64, 9000, 20000, -1]),
                        rnd.choice([None, None, b"", b"k" * rnd.randrange(300)]),
                        rnd.choice([None, *values]) if n < 100 else values[rnd.randrange(3)],
                        rnd.choice([None, None, [], [("h", b"1")], [("n", None)]]),
                    )
                )
        header, decoded = decode_batch(encode_batch(recs))
        assert header.records_count == n
        assert [(r.offset, r.timestamp, r.key, r.value) for r in decoded] == [
            (i, ts, k, v) for i, (ts, k, v, _h) in enumerate(recs)
        ]
        assert [r.headers for r in decoded] == [list(h or []) for _ts, _k, _v, h in recs]
