"""ProducerCore: the async producer engine behind both the sync KafkaProducer and the asyncio API.

How it works: the core owns an ``AsyncClient`` (metadata, connections), a ``RecordAccumulator`` and a
``Sender``, all living on one event loop (``await core.start()`` binds them to the running loop).
``make_send()`` builds the send() hot path as a closure; it runs in whatever thread calls send():
it serializes, checks types, looks the topic's partitions up in a cache rebuilt whenever the
client's metadata snapshot changes, picks the partition (the user's partitioner, or the default:
murmur2 for keys, a sticky random available partition for key None that moves on after batch_size
bytes), checks the size against max_request_size, and appends to the partition's open batch under
the accumulator lock (``RecordAccumulator.append`` handles new/full batches and wakes the sender).
Repeated sends to one partition skip the lookups: the closure remembers the last partition's open
batch. In a thread other than the loop's, a send() that seals a full batch waits (briefly, bounded)
for the sender's pass: the GIL then changes hands once per batch and the request pipeline stays
full (``_handoff``). It never blocks otherwise: when metadata is missing it reports
``NeedMetadata`` and when the buffer pool is full ``NeedSpace`` -- raised by ``try_send``, or handed
to the facade's slow path, which waits boundedly (``send_blocking`` in a foreign thread, ``send``
awaiting on the loop), both through the single ``_send_steps`` generator so timeouts and messages
are written once. ``flush``/``close`` come in the same two flavours and share
``begin_flush``/``abort_pending``.

What it must never do: block the event loop, hop threads per record, drop a record silently (every
future completes: acknowledged, failed, or aborted at close with an error), or send after close.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

from kafkakit.client.cluster import AsyncClient
from kafkakit.client.producer.accumulator import ProducerBatch, RecordAccumulator
from kafkakit.client.producer.future import FutureRecordMetadata
from kafkakit.client.producer.metrics import ProducerMetrics
from kafkakit.client.producer.sender import Sender
from kafkakit.errors import (
    IllegalStateError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
)
from kafkakit.partitioner import DefaultPartitioner
from kafkakit.record import estimate_size_in_bytes

__all__ = ["NeedMetadata", "NeedSpace", "ProducerCore"]

RECORD_OVERHEAD = 12  # varint lengths, attributes, deltas of one record, roughly
HANDOFF_TIMEOUT = 0.005  # the longest send() waits for a sender pass when it sealed a full batch

_allocate_lock = threading.Lock


class NeedMetadata(Exception):
    """Internal: the topic (or the partition asked for) is not in the metadata yet."""

    def __init__(self, topic: str, partition: int | None) -> None:
        super().__init__(topic, partition)
        self.topic = topic
        self.partition = partition


class NeedSpace(Exception):
    """Internal: the buffer pool has no room for ``size`` bytes right now."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _serializer(f: Any) -> Callable[[str, Any], Any] | None:
    if f is None:
        return None
    ser = getattr(f, "serialize", None)
    if ser is not None and not isinstance(f, type) and callable(ser):
        return ser  # type: ignore[no-any-return]
    return lambda _topic, data: f(data)


def _as_bytes(data: Any, what: str, topic: str) -> bytes:
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(
        f"{what} must be bytes (or None) for topic {topic!r}, got {type(data).__name__}; "
        f"pass bytes or configure {what}_serializer"
    )


def _check_headers(headers: Any) -> tuple[list[tuple[str, bytes | None]], int]:
    if not isinstance(headers, (list, tuple)):
        raise TypeError(f"headers must be a list of (str, bytes) tuples, got {type(headers).__name__}")
    out: list[tuple[str, bytes | None]] = []
    size = 1
    for h in headers:
        if not isinstance(h, (tuple, list)) or len(h) != 2:
            raise TypeError(f"each header must be a (str, bytes) tuple, got {h!r}")
        k, v = h
        if not isinstance(k, str):
            raise TypeError(f"header key must be str, got {type(k).__name__} ({k!r})")
        if v is not None and not isinstance(v, bytes):
            if isinstance(v, (bytearray, memoryview)):
                v = bytes(v)
            else:
                raise TypeError(f"header {k!r} value must be bytes or None, got {type(v).__name__}")
        out.append((k, v))
        size += len(k) + (len(v) if v is not None else 0) + 4
    return out, size


def _topic_partitions(
    cluster: Any, topic: str, cache: dict[str, tuple[list[int], list[int], frozenset[int]]]
) -> tuple[list[int], list[int], frozenset[int]] | None:
    """(sorted partitions, sorted available partitions, partition set) of ``topic`` in the
    ``cluster`` snapshot, remembered in ``cache``; None when the topic is not in it."""
    all_p = cluster.partitions_for_topic(topic)
    if not all_p:
        return None
    avail = cluster.available_partitions_for_topic(topic) or frozenset()
    parts = cache[topic] = (sorted(all_p), sorted(avail), all_p)
    return parts


class ProducerCore:
    """The producer engine (see module docstring)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.client = AsyncClient(config)
        self.acc = RecordAccumulator(
            batch_size=config["batch_size"],
            buffer_memory=config["buffer_memory"],
            linger_ms=config["linger_ms"],
            wake=self._wake,
        )
        self.metrics = ProducerMetrics(
            config["metrics_num_samples"],
            config["metrics_sample_window_ms"],
            config["buffer_memory"],
            lambda: self.acc.free,
        )
        self.sender = Sender(config, self.client, self.acc, self.metrics)
        self.metrics.metadata_age = lambda: (
            (time.monotonic() - self.client.cluster.refreshed_at) * 1000.0
            if self.client.cluster.refreshed_at
            else 0.0
        )
        self.metrics.connection_count = lambda: len(self.client._conns)
        self._key_ser = _serializer(config["key_serializer"])
        self._value_ser = _serializer(config["value_serializer"])
        user_partitioner = config["partitioner"]
        self._partitioner: Callable[..., int] = user_partitioner or DefaultPartitioner()
        self._sticky_enabled = user_partitioner is None
        self._parts: dict[str, tuple[list[int], list[int], frozenset[int]]] = {}
        self._parts_of: Any = None
        self._sticky: dict[str, list[int]] = {}
        self._batch_size = config["batch_size"]
        self._max_request_size: int = config["max_request_size"]
        self._buffer_memory: int = config["buffer_memory"]
        self.max_block = config["max_block_ms"] / 1000.0
        self.closed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread_id: int | None = None
        # send() without blocking: raises NeedMetadata / NeedSpace when it would have to wait
        self.try_send = self.make_send(None)

    # --- lifecycle (on the loop) ---------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop and bootstrap (NoBrokersAvailable when no broker answers)."""
        self.loop = asyncio.get_running_loop()
        self.thread_id = threading.get_ident()
        self.sender.start(self.loop, self.thread_id)
        if self.config["api_version"] is None:
            await self.client.bootstrap()
        else:
            self.client.request_update()  # connect in the background; send() waits for metadata

    def _wake(self) -> None:
        loop = self.loop
        if loop is None:
            return
        if threading.get_ident() == self.thread_id:
            self.sender.wakeup()
        else:
            try:
                loop.call_soon_threadsafe(self.sender.wakeup)
            except RuntimeError:  # loop closed: nothing left to wake
                pass

    # --- send() --------------------------------------------------------------------------------

    def make_send(
        self,
        slow: Callable[[tuple[Any, ...], Exception], FutureRecordMetadata] | None = None,
        *,
        yield_gil: bool = False,
    ) -> Callable[..., FutureRecordMetadata]:
        """Build the send() hot path as a closure (locals instead of attribute lookups, the common
        accumulator append inlined). When it would block it calls ``slow(args, need)`` with the
        original arguments and the NeedMetadata/NeedSpace reason, or raises the reason when ``slow``
        is None (that variant is ``self.try_send``). ``yield_gil`` (for callers in a thread other
        than the loop's) hands the GIL to the sender each time a full batch is sealed: see
        ``_handoff``."""
        core = self
        acc = self.acc
        lock = acc.lock
        lock_acquire = lock.acquire
        lock_release = lock.release
        lock_owned = lock._is_owned  # type: ignore[attr-defined]  # (an RLock: see the fast path)
        queues = acc.batches
        append_slow = acc.append
        key_ser = self._key_ser
        value_ser = self._value_ser
        partitioner = self._partitioner
        sticky_enabled = self._sticky_enabled
        sticky_of = self._sticky
        batch_size = self._batch_size
        # a record this large may not fit max_request_size or buffer_memory: checked exactly
        size_limit = min(self._max_request_size - 100, self._buffer_memory)
        client = self.client
        new_future = FutureRecordMetadata
        now_ns = time.time_ns
        overhead = RECORD_OVERHEAD
        handoff = self._handoff if yield_gil else None

        # (cluster metadata snapshot, {topic: (sorted partitions, sorted available partitions,
        # partition set)} in it), replaced when the client's snapshot changes
        parts_cache: tuple[Any, dict[str, tuple[list[int], list[int], frozenset[int]]]] = (None, {})
        # (topic, partition, snapshot the partition was checked against, the partition's open
        # batch) of the last send. That batch takes records while it is not sealed: a batch leaves
        # its queue (drained, expired, aborted, completed) only sealed, and a partition's only
        # unsealed batch is the last of its queue. Each cache is one tuple, read and replaced in
        # one step, so that threads sending at once never see a half-updated one.
        last: tuple[Any, Any, Any, Any] = (None, None, None, None)

        def send(
            topic: str,
            value: Any = None,
            key: Any = None,
            headers: Sequence[tuple[str, bytes]] | None = None,
            partition: int | None = None,
            timestamp_ms: int | None = None,
        ) -> FutureRecordMetadata:
            """Queue one record and return its FutureRecordMetadata at once (see KafkaProducer.send)."""
            nonlocal parts_cache, last
            if core.closed:
                raise IllegalStateError("KafkaProducer is closed: send() is not allowed after close()")
            cached = last
            if topic is not cached[0] and type(topic) is not str:
                raise TypeError(f"topic must be a str, got {type(topic).__name__} ({topic!r})")
            kb = key  # the serialized key and value (the slow path retries with the originals)
            vb = value
            if key_ser is not None and key is not None:
                kb = key_ser(topic, key)
            if value_ser is not None and value is not None:
                vb = value_ser(topic, value)
            if type(vb) is bytes:
                size = overhead + len(vb)
            elif vb is None:
                size = overhead
            else:
                vb = _as_bytes(vb, "value", topic)
                size = overhead + len(vb)
            if kb is not None:
                if type(kb) is not bytes:
                    kb = _as_bytes(kb, "key", topic)
                size += len(kb)
            hdrs: list[tuple[str, bytes | None]] | None = None
            if headers:
                hdrs, hsize = _check_headers(headers)
                size += hsize
            cluster = client.cluster
            checked = partition is None
            if checked:  # the partitioner picks one (of the topic's partitions: valid)
                pc = parts_cache
                if pc[0] is not cluster:
                    pc = parts_cache = (cluster, {})
                parts = pc[1].get(topic) or _topic_partitions(cluster, topic, pc[1])
                if parts is None:
                    need: Exception = NeedMetadata(topic, partition)
                    if slow is None:
                        raise need
                    return slow((topic, value, key, headers, partition, timestamp_ms), need)
                if kb is None and sticky_enabled:
                    sticky = sticky_of.get(topic)
                    if sticky is None or sticky[1] >= batch_size or sticky[0] not in parts[2]:
                        sticky = sticky_of[topic] = [partitioner(None, parts[0], parts[1]), 0]
                    sticky[1] += size
                    partition = sticky[0]
                else:
                    partition = partitioner(kb, parts[0], parts[1])
            if partition != cached[1] or topic is not cached[0] or cluster is not cached[2]:
                if not checked:
                    pc = parts_cache
                    if pc[0] is not cluster:
                        pc = parts_cache = (cluster, {})
                    parts = pc[1].get(topic) or _topic_partitions(cluster, topic, pc[1])
                    if parts is None or partition not in parts[2]:
                        if type(partition) is not int:
                            raise TypeError(
                                f"partition must be an int, got {type(partition).__name__} ({partition!r})"
                            )
                        need = NeedMetadata(topic, partition)
                        if slow is None:
                            raise need
                        return slow((topic, value, key, headers, partition, timestamp_ms), need)
                dq = queues.get((topic, partition))  # type: ignore[arg-type]
                # (no batch yet: the slow path below opens one)
                cached = last = (topic, partition, cluster, dq[-1]) if dq else (None, None, None, None)
            if size > size_limit:
                exact = estimate_size_in_bytes(kb, vb, hdrs)
                if exact > core._max_request_size or exact > core._buffer_memory:
                    return core._failed_future(topic, partition, kb, vb, hdrs, timestamp_ms, exact)  # type: ignore[arg-type]
            if timestamp_ms is None:
                timestamp_ms = now_ns() // 1_000_000
            record = (timestamp_ms, kb, vb, hdrs)
            b = cached[3]
            if b is not None:
                # fast path: room in the partition's open batch, whose buffer memory is already
                # charged (RecordAccumulator.append does the rest). The lock is taken without
                # `with` (which costs twice as much); the outer handler releases it if an
                # asynchronous exception (KeyboardInterrupt) struck between acquire and try.
                index = -1
                try:
                    lock_acquire()
                    try:
                        if not b.sealed:
                            grown = b.size + size
                            if grown < batch_size:
                                recs = b.records
                                index = len(recs)
                                recs.append(record)
                                b.size = grown
                    finally:
                        lock_release()
                except BaseException:
                    if lock_owned():
                        lock_release()
                    raise
                if index >= 0:
                    return new_future((b, index))
            fut = append_slow(topic, partition, record, size)  # type: ignore[arg-type]
            if fut is None:
                need = NeedSpace(acc.charge_for(size))
                if slow is None:
                    raise need
                return slow((topic, value, key, headers, partition, timestamp_ms), need)
            last = (topic, partition, cluster, fut[0])
            if handoff is not None and fut[1] == 0:
                handoff()  # this record opened a new batch: a full one may be waiting for the sender
            return fut

        return send

    def _handoff(self) -> None:
        """Called by send() in a thread other than the loop's right after a record opened a new
        batch: when a sender pass is pending (a full batch is waiting), block until it ran, at most
        HANDOFF_TIMEOUT. Without this the sender's thread waits for the GIL until the interpreter
        forces a switch (sys.getswitchinterval(), 5 ms), the thread calling send() fills several
        batches meanwhile and the pipeline of requests runs dry; with it the GIL changes hands
        once per batch, which costs one thread wake-up each way."""
        if threading.get_ident() == self.thread_id:
            return
        acc = self.acc
        w = _allocate_lock()
        w.acquire()
        with acc.lock:
            if not acc.wakeup_pending:
                return
            acc.pass_waiters.append(w)
        w.acquire(timeout=HANDOFF_TIMEOUT)

    def _failed_future(
        self, topic: str, partition: int, key: Any, value: Any, headers: Any, ts: int | None, size: int
    ) -> FutureRecordMetadata:
        limit, name = (
            (self._max_request_size, "max_request_size")
            if size > self._max_request_size
            else (self._buffer_memory, "buffer_memory")
        )
        err = MessageSizeTooLargeError(
            f"The message is {size} bytes when serialized which is larger than {name} ({limit}); "
            f"raise {name} or send smaller records"
        )
        b = ProducerBatch(topic, partition, self.acc.lock, time.monotonic())
        b.records.append((ts if ts is not None else int(time.time() * 1000), key, value, headers))
        b.error = err
        b._finish()
        return FutureRecordMetadata((b, 0))

    def _send_steps(
        self, args: tuple[Any, ...]
    ) -> Generator[tuple[str, Any, float], None, FutureRecordMetadata]:
        """Retry try_send, yielding what to wait for ('metadata', need) / ('space', size) and how long."""
        deadline = time.monotonic() + self.max_block
        while True:
            try:
                return self.try_send(*args)
            except NeedMetadata as need:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._metadata_timeout(need) from None
                yield ("metadata", need, remaining)
            except NeedSpace as need:
                if need.size > self._buffer_memory:
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise KafkaTimeoutError(
                        f"Failed to allocate {need.size} bytes of buffer memory within max_block_ms "
                        f"({self.config['max_block_ms']} ms): buffer_memory ({self._buffer_memory}) is full "
                        "because records are produced faster than the brokers take them"
                    ) from None
                yield ("space", need.size, remaining)

    def _metadata_timeout(self, need: NeedMetadata) -> KafkaTimeoutError:
        ms = self.config["max_block_ms"]
        if need.partition is not None and self.client.cluster.partitions_for_topic(need.topic):
            n = len(self.client.cluster.partitions_for_topic(need.topic) or ())
            return KafkaTimeoutError(
                f"partition {need.partition} of topic {need.topic!r} not in metadata after {ms} ms "
                f"(max_block_ms); the topic has {n} partition(s)"
            )
        return KafkaTimeoutError(
            f"Failed to update metadata after {ms} ms (max_block_ms): topic {need.topic!r} is not "
            "present in the cluster metadata; create it or enable auto-creation"
        )

    async def _wait_metadata(self, need: NeedMetadata, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            parts = await self.client.wait_for_topic(need.topic, timeout)
        except KafkaTimeoutError:
            return  # the caller raises the max_block_ms error
        if need.partition is not None and need.partition not in parts:
            remaining = deadline - time.monotonic()
            if remaining > 0:
                try:
                    await self.client.refresh_metadata(min(remaining, 1.0))
                except Exception:  # noqa: BLE001 - the caller re-checks and times out
                    await asyncio.sleep(min(remaining, self.client.retry_backoff))

    def _not_on_loop(self, what: str) -> None:
        if threading.get_ident() == self.thread_id:
            raise IllegalStateError(
                f"{what} would block the producer's own event loop (called from a callback?); "
                "call it from another thread"
            )

    def send_blocking(self, args: tuple[Any, ...], run: Callable[[Any, float], Any]) -> FutureRecordMetadata:
        """send() for a thread that is not the loop's: ``run(coro, timeout)`` runs on the loop."""
        self._not_on_loop("send() waiting for metadata or buffer memory")
        steps = self._send_steps(args)
        try:
            what = next(steps)
            while True:
                kind, need, remaining = what
                t0 = time.monotonic()
                if kind == "metadata":
                    run(self._wait_metadata(need, remaining), remaining + 1.0)
                else:
                    self._wake()
                    self.acc.wait_for_space(need, remaining)
                    self.metrics.bufferpool_wait.record((time.monotonic() - t0) * 1e9)
                what = steps.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def send(self, *args: Any) -> FutureRecordMetadata:
        """send() on the loop's own thread (the asyncio API): waits by awaiting."""
        steps = self._send_steps(args)
        assert self.loop is not None
        try:
            what = next(steps)
            while True:
                kind, need, remaining = what
                if kind == "metadata":
                    await self._wait_metadata(need, remaining)
                else:
                    fut = self.acc.space_future(self.loop)
                    self._wake()
                    try:
                        await asyncio.wait_for(fut, min(remaining, self.client.retry_backoff * 10))
                    except asyncio.TimeoutError:
                        pass
                what = steps.send(None)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # --- flush / close -------------------------------------------------------------------------

    def flush_blocking(self, timeout: float | None) -> None:
        self._not_on_loop("flush()")
        pending = self.acc.begin_flush()
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            for b in pending:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not b.wait(remaining):
                    raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")
        finally:
            self.acc.end_flush()

    async def flush(self, timeout: float | None = None) -> None:
        pending = self.acc.begin_flush()
        try:
            waits = [self._batch_done_future(b) for b in pending if not b.done]
            if waits:
                done, _ = await asyncio.wait(waits, timeout=timeout)
                if len(done) < len(waits):
                    raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")
        finally:
            self.acc.end_flush()

    def _batch_done_future(self, b: ProducerBatch) -> asyncio.Future[None]:
        assert self.loop is not None
        loop = self.loop
        fut: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not fut.done():
                fut.set_result(None)

        def hook(_b: Any) -> None:
            loop.call_soon_threadsafe(resolve)

        b.add_hook(hook)
        return fut

    async def close(self, timeout: float | None = None) -> None:
        """close() on the loop's own thread (the asyncio API): flush, abort what is left, shut down."""
        self.begin_close()
        try:
            await self.flush(timeout)
        except KafkaTimeoutError:
            self.abort_pending(
                f"producer close(timeout={timeout}) gave up before the record was acknowledged"
            )
        await self.shutdown()

    def begin_close(self) -> None:
        """Refuse new records; everything queued becomes ready to send. Idempotent."""
        self.closed = True
        self.acc.close()

    def abort_pending(self, why: str) -> int:
        """Fail every record not yet acknowledged (close timed out)."""
        return self.acc.abort(KafkaTimeoutError(why))

    async def shutdown(self) -> None:
        """Stop the sender and close connections (after flushing or aborting)."""
        self.sender.stop()
        self.acc.abort(IllegalStateError("producer closed before the record was acknowledged"))
        await self.client.close()

    # --- queries -------------------------------------------------------------------------------

    def metrics_snapshot(self, raw: bool = False) -> dict[Any, Any]:
        return self.metrics.snapshot(raw)

    def known_partitions(self, topic: str) -> set[int] | None:
        parts = self.client.cluster.partitions_for_topic(topic)
        return set(parts) if parts else None
