"""Sender: drains ready batches from the accumulator into Produce requests, on the event loop.

How it works: ``wakeup()`` schedules one ``_run()`` pass (coalesced) on the loop; the accumulator
wakes it thread-safely when a batch is ready, responses and metadata updates wake it too, and a
timer wakes it at the next linger / retry-backoff / delivery-timeout deadline. A pass:

1. expires queued batches older than delivery_timeout_ms (KafkaTimeoutError on their futures);
2. picks, per partition, the head batch when it is ready (sealed/full, linger elapsed, flush or
   close in progress, retry backoff over) and its leader is known; partitions whose leader is
   unknown trigger a metadata refresh;
3. per leader whose connection has a free in-flight slot, pops one batch per partition (the Produce
   protocol takes one batch per partition per request, and idempotent writes require it), up to
   max_request_size bytes, assigns producer id/epoch/sequence when idempotent, encodes each batch
   with ``encode_batch`` (the only place records are encoded) and writes one Produce request;
   nodes without a connection get one opened in the background.

Responses complete batches (offset, log-append time) or route errors: retriable ones (including
connection loss and request timeouts) put the batch back at the head of its partition queue after
retry_backoff_ms while retries and delivery_timeout_ms allow, refreshing metadata when the error
says so. With idempotence a partition with a failed batch stops sending until all its in-flight
batches are back, then resends them in sequence order with their original sequences, so the broker
deduplicates what it already wrote and nothing is reordered. An unresolvable sequence error
(OUT_OF_ORDER_SEQUENCE_NUMBER on the oldest unacknowledged batch, INVALID_PRODUCER_EPOCH, or an
expired batch that had a sequence) fails only that batch and bumps the epoch (KIP-360:
InitProducerId with the current id and epoch) once nothing is in flight; queued batches then get
fresh sequences from 0. UNKNOWN_PRODUCER_ID bumps the epoch and retries the batch.

MESSAGE_TOO_LARGE for a batch of several records (the topic's max.message.bytes is below what the
producer batched) splits it, as the Java client does: the batch is sent again in pieces of half as
many records, halved again while refused, each piece after the one before it was acknowledged and
nothing else of the partition in flight meanwhile; records keep their futures (offsets run on from
each piece's base offset). With idempotence a piece carries the sequences of its records (a batch
under way in pieces keeps in base_sequence the sequence of its first unsent record), so the
partition's sequence stays gapless. A single
record still too large fails alone -- with idempotence the rest of its batch fails too and the
epoch is bumped, since its sequence cannot be skipped.

What it must never do: block the loop, encode under the accumulator lock, send two batches of one
partition in one request, reorder an idempotent partition, or leave a batch neither completed nor
queued.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from kafkakit.client.cluster import AsyncClient
from kafkakit.client.producer.accumulator import ProducerBatch, RecordAccumulator
from kafkakit.client.producer.metrics import ProducerMetrics
from kafkakit.errors import (
    BrokerResponseError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    UnsupportedVersionError,
    for_code,
)
from kafkakit.protocol.apis import api as _api
from kafkakit.record import codec_id, encode_batch

log = logging.getLogger(__name__)

__all__ = ["Sender"]

PRODUCE = _api("Produce")
_DUPLICATE_SEQUENCE = 46
_OUT_OF_ORDER_SEQUENCE = 45
_INVALID_PRODUCER_EPOCH = 47
_UNKNOWN_PRODUCER_ID = 59
_PRODUCER_FENCED = 90
_MESSAGE_TOO_LARGE = 10
_SEQ_MAX = 0x7FFFFFFF
_NIL_UUID = bytes(16)

TP = tuple[str, int]


class Sender:
    """The background half of the producer (see module docstring)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        client: AsyncClient,
        acc: RecordAccumulator,
        metrics: ProducerMetrics,
    ) -> None:
        self.client = client
        self.acc = acc
        self.metrics = metrics
        self.acks: int = config["acks"]
        self.retries: float = config["retries"]
        self.retry_backoff = config["retry_backoff_ms"] / 1000.0
        self.delivery_timeout = config["delivery_timeout_ms"] / 1000.0
        self.request_timeout_ms = config["request_timeout_ms"]
        self.max_request_size: int = config["max_request_size"]
        self.linger = config["linger_ms"] / 1000.0
        self.compression = codec_id(config["compression_type"])
        self.idempotent: bool = bool(config["enable_idempotence"])
        self.transaction_timeout_ms: int = config["transaction_timeout_ms"]
        self.guarantee_order = not self.idempotent and config["max_in_flight_requests_per_connection"] == 1
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread_id: int | None = None
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._connecting: set[int] = set()
        self._stopped = False
        # in-flight batches per partition, in send order (sequence order when idempotent)
        self._in_flight: dict[TP, list[ProducerBatch]] = {}
        self._requests_in_flight = 0
        # idempotence state
        self.producer_id = -1
        self.producer_epoch = -1
        self._next_seq: dict[TP, int] = {}
        self._last_acked: dict[TP, int] = {}
        self._recovering: set[TP] = set()
        # partitions whose head batch goes in pieces: nothing else of theirs is sent meanwhile
        self._splitting: set[TP] = set()
        self._need_bump = False
        self._pid_task: asyncio.Task[None] | None = None
        self._pid_retry_at = 0.0
        self._fatal: BaseException | None = None

    # --- scheduling ----------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, thread_id: int) -> None:
        self.loop = loop
        self.thread_id = thread_id
        self.client.add_metadata_listener(self._on_metadata)
        self.wakeup()

    def _on_metadata(self, _cluster: Any) -> None:
        self.wakeup()

    def wakeup(self) -> None:
        """Schedule a pass (loop thread only; the accumulator uses ``wake_threadsafe``)."""
        if not self._scheduled and not self._stopped and self.loop is not None:
            self._scheduled = True
            self.loop.call_soon(self._run)

    def stop(self) -> None:
        self._stopped = True
        self.acc.release_pass_waiters()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pid_task is not None:
            self._pid_task.cancel()
        self.client.remove_metadata_listener(self._on_metadata)

    @property
    def in_flight_batches(self) -> int:
        return sum(len(v) for v in self._in_flight.values())

    # --- one pass ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._run_pass()
        finally:
            if self.acc.pass_waiters:
                self.acc.release_pass_waiters()

    def _run_pass(self) -> None:
        self._scheduled = False
        if self._stopped:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        try:
            deadline = self._pass(time.monotonic())
        except Exception:  # pragma: no cover - a bug here must not kill the producer silently
            log.exception("producer sender pass failed")
            deadline = time.monotonic() + self.retry_backoff
            with self.acc.lock:
                self.acc.sender_deadline = deadline
        timer = self._timer
        if timer is not None:
            # a timer due no later than the new deadline stays (it runs one early pass, which
            # sets the next one): cheaper than replacing the timer at every pass
            if timer.when() <= deadline:
                return
            timer.cancel()
            self._timer = None
        if deadline < math.inf:
            assert self.loop is not None
            delay = max(0.0, deadline - time.monotonic())
            self._timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.wakeup()

    def _pass(self, now: float) -> float:
        """One look at the queues; the accumulator lock is taken once (send() contends for it)."""
        acc = self.acc
        cluster = self.client.cluster
        client = self.client
        next_deadline = math.inf
        expired: list[ProducerBatch] = []
        ready: dict[int, list[TP]] = {}
        need_meta = False
        gated = self._fatal is not None or (self.idempotent and (self.producer_id < 0 or self._need_bump))
        to_send: list[tuple[int, Any, list[ProducerBatch]]] = []
        to_connect: list[int] = []
        with acc.lock:
            acc.wakeup_pending = False
            force = acc.flushing > 0 or acc.closed
            for key, dq in acc.batches.items():
                if not dq:
                    continue
                while dq and not dq[0].in_flight and now - dq[0].created >= self.delivery_timeout:
                    gone = dq.popleft()
                    gone.sealed = True
                    expired.append(gone)
                if not dq:
                    continue
                b = dq[0]
                next_deadline = min(next_deadline, b.created + self.delivery_timeout)
                if (
                    gated
                    or key in self._recovering
                    or ((self.guarantee_order or key in self._splitting) and self._in_flight.get(key))
                ):
                    continue
                if b.retry_at > now:
                    next_deadline = min(next_deadline, b.retry_at)
                    continue
                if not (b.sealed or force or len(dq) > 1 or now - b.created >= self.linger):
                    next_deadline = min(next_deadline, b.created + self.linger)
                    continue
                leader = cluster.leader_for_partition(key)  # type: ignore[arg-type]
                if leader is None or leader < 0:
                    need_meta = True
                    continue
                nodes = ready.get(leader)
                if nodes is None:
                    ready[leader] = [key]
                else:
                    nodes.append(key)
            for node, keys in ready.items():
                conn = client.connection(node)
                if conn is None:
                    to_connect.append(node)
                elif conn.can_send():
                    batches = self._drain_locked(keys)
                    if batches:
                        to_send.append((node, conn, batches))
                elif conn.in_flight == 0:  # a write backlog (acks=0) and no response to wake us
                    next_deadline = min(next_deadline, now + 0.005)
            acc.sender_deadline = next_deadline
        for b in expired:
            self._expire(b, now)
        if self._fatal is not None:
            self.acc.abort(self._fatal, [b for dq in list(acc.batches.values()) for b in dq])
            return math.inf
        if gated:
            self._ensure_producer_id(now)
            if self._pid_retry_at > now:
                next_deadline = min(next_deadline, self._pid_retry_at)
            return next_deadline
        if need_meta:
            client.request_update()
        for node in to_connect:
            self._connect(node)
        for node, conn, batches in to_send:
            self._send_batches(node, conn, batches, now)
        return next_deadline

    def _connect(self, node: int) -> None:
        if node in self._connecting:
            return
        self._connecting.add(node)
        assert self.loop is not None
        task = self.loop.create_task(self.client.get_connection(node))

        def done(t: asyncio.Task[Any]) -> None:
            self._connecting.discard(node)
            if not t.cancelled() and t.exception() is not None:
                log.debug("producer: connecting to node %s failed: %s", node, t.exception())
            self.wakeup()

        task.add_done_callback(done)

    # --- building requests ---------------------------------------------------------------------

    def _drain_locked(self, keys: list[TP]) -> list[ProducerBatch]:
        """Pop the head batch of each partition, up to max_request_size (lock held by the caller)."""
        batches: list[ProducerBatch] = []
        total = 0
        for key in keys:
            dq = self.acc.batches.get(key)
            if not dq:
                continue
            b = dq[0]
            est = b.size + 61
            if batches and total + est > self.max_request_size:
                continue
            dq.popleft()
            b.sealed = True
            b.in_flight = True
            total += est
            batches.append(b)
        return batches

    def _send_batches(self, node: int, conn: Any, batches: list[ProducerBatch], now: float) -> None:
        m = self.metrics
        topics: dict[str, list[dict[str, Any]]] = {}
        nrecords = 0
        size = 0
        for b in batches:
            key = (b.topic, b.partition)
            if b.attempts == 0:
                b.drained_at = now
                m.queue_time.record((now - b.created) * 1000.0, now=now)
            b.attempts += 1
            if self.idempotent:
                self._assign_sequence(b, key)
            data = self._encode(b)
            n = len(b.records) if not b.piece_limit else b.piece_end - b.piece_start
            nrecords += n
            size += len(data)
            m.batch_size.record(len(data), now=now)
            m.record_size.record(b.size, n, now=now)
            if self.compression:
                m.compression_rate.record((len(data) - 61) / max(1, b.size - 12 * n), now=now)
            else:
                m.compression_rate.record(1.0, now=now)
            self._in_flight.setdefault(key, []).append(b)
            topics.setdefault(b.topic, []).append({"index": b.partition, "records": data})
        body = {
            "transactional_id": None,
            "acks": self.acks,
            "timeout_ms": self.request_timeout_ms,
            "topic_data": [
                {"name": t, "topic_id": _NIL_UUID, "partition_data": parts} for t, parts in topics.items()
            ],
        }
        m.records_per_request.record(nrecords, now=now)
        m.request_size.record(size, now=now)
        self._requests_in_flight += 1
        m.requests_in_flight = self._requests_in_flight
        fut = conn.send(PRODUCE, body, expect_response=self.acks != 0)
        fut.add_done_callback(lambda f: self._on_response(node, batches, now, f))

    def _assign_sequence(self, b: ProducerBatch, key: TP) -> None:
        if (
            b.base_sequence >= 0
            and b.producer_epoch == self.producer_epoch
            and b.producer_id == self.producer_id
        ):
            return  # a retry keeps its sequence
        seq = self._next_seq.get(key, 0)
        # (a batch part-sent in pieces numbers only its unsent records, from piece_start on)
        b.base_sequence = seq
        b.producer_id = self.producer_id
        b.producer_epoch = self.producer_epoch
        self._next_seq[key] = (seq + len(b.records) - b.piece_start) & _SEQ_MAX

    def _encode(self, b: ProducerBatch) -> bytes:
        stamp = (b.producer_id, b.producer_epoch, b.base_sequence)
        records = b.records
        if b.piece_limit:
            b.piece_end = min(len(records), b.piece_start + b.piece_limit)
            records = records[b.piece_start : b.piece_end]
            b.encoded = None
        if b.encoded is None or b.encoded_for != stamp:
            b.encoded = encode_batch(
                records,
                compression=self.compression,
                producer_id=b.producer_id,
                producer_epoch=b.producer_epoch,
                base_sequence=b.base_sequence,
            )
            b.encoded_for = stamp
        return b.encoded

    # --- responses -----------------------------------------------------------------------------

    def _on_response(
        self, node: int, batches: list[ProducerBatch], sent_at: float, fut: asyncio.Future[Any]
    ) -> None:
        now = time.monotonic()
        m = self.metrics
        self._requests_in_flight -= 1
        m.requests_in_flight = self._requests_in_flight
        m.response.record(1, now=now)
        if fut.cancelled():
            exc: BaseException | None = KafkaConnectionError(f"produce request to node {node} cancelled")
        else:
            exc = fut.exception()
        if exc is not None:
            log.debug("produce request to node %s failed: %s", node, exc)
            self.client.request_update()
            for b in batches:
                self._failed(b, exc, now, None)
            self.wakeup()
            return
        resp = fut.result()
        m.request_latency.record((now - sent_at) * 1000.0, now=now)
        if resp is None:  # acks=0
            for b in batches:
                self._done_in_flight(b)
                m.record_send.record(len(b.records), now=now)
            self.acc.complete_many([(b, -1, -1, None, -1) for b in batches])
            self.wakeup()
            return
        if resp.get("throttle_time_ms"):
            m.throttle_time.record(resp["throttle_time_ms"], now=now)
        results: dict[TP, dict[str, Any]] = {}
        for t in resp["responses"]:
            for p in t["partition_responses"]:
                results[(t["name"], p["index"])] = p
        refresh = False
        succeeded: list[tuple[ProducerBatch, int, int, BaseException | None, int]] = []
        for b in batches:
            pr = results.get((b.topic, b.partition))
            if pr is None:
                self._failed(
                    b,
                    KafkaError(f"produce response from node {node} lacks {b.topic}-{b.partition}"),
                    now,
                    None,
                )
                continue
            code = pr["error_code"]
            if b.piece_limit:
                if code == 0 or code == _DUPLICATE_SEQUENCE:
                    self._piece_settled(b, pr["base_offset"], pr["log_append_time_ms"], None, now, succeeded)
                    continue
                if code == _MESSAGE_TOO_LARGE and not self._split(b, now):
                    # one record, too large alone: it fails, the rest go on (see module docstring)
                    err = for_code(code)(
                        f"{b.topic}-{b.partition}: record {b.piece_start} of the batch is too large"
                    )
                    if self.idempotent:
                        self._fail(b, err, now)
                        self._request_bump(f"a record with sequence {b.base_sequence} failed: {err}")
                    else:
                        self._piece_settled(b, -1, -1, err, now, succeeded)
                if code == _MESSAGE_TOO_LARGE:
                    continue
            elif code == _MESSAGE_TOO_LARGE and len(b.records) > 1:
                self._split(b, now)
                continue
            if code == 0 or code == _DUPLICATE_SEQUENCE:
                self._succeeded(b, now)
                succeeded.append(
                    (b, pr["base_offset"], pr["log_append_time_ms"], None, pr["log_start_offset"])
                )
                continue
            err_cls = for_code(code)
            detail = pr.get("error_message") or err_cls.description
            err = err_cls(f"{b.topic}-{b.partition}: {detail}")
            if err_cls.invalid_metadata:
                refresh = True
            self._failed(b, err, now, code)
        if succeeded:
            self.acc.complete_many(succeeded)
        if refresh:
            self.client.request_update()
        self.wakeup()

    def _split(self, b: ProducerBatch, now: float) -> bool:
        """Resend the refused piece (or whole batch) of ``b`` in halves; False for a single record."""
        start = b.piece_start
        count = (b.piece_end if b.piece_limit else len(b.records)) - start
        if count <= 1:
            return False
        key = (b.topic, b.partition)
        log.info("producer: %s-%s refused %d records as too large; sending them in halves", *key, count)
        self._done_in_flight(b)
        self._splitting.add(key)
        b.piece_limit = (count + 1) // 2
        b.encoded = None
        b.attempts = 0
        self.acc.reenqueue(b, now, by_sequence=self.idempotent)
        return True

    def _piece_settled(
        self,
        b: ProducerBatch,
        base_offset: int,
        log_append_time: int,
        err: BaseException | None,
        now: float,
        succeeded: list[tuple[ProducerBatch, int, int, BaseException | None, int]],
    ) -> None:
        """One piece of a split batch came back: remember its outcome, send the next or complete."""
        self._done_in_flight(b)
        if b.segments is None:
            b.segments = []
        b.segments.append((b.piece_start, base_offset, log_append_time, err))
        n = b.piece_end - b.piece_start
        if (
            err is None
            and self.idempotent
            and b.base_sequence >= 0
            and b.producer_epoch == self.producer_epoch
        ):
            key = (b.topic, b.partition)
            last = (b.base_sequence + n - 1) & _SEQ_MAX
            prev = self._last_acked.get(key, -1)
            if prev < 0 or _seq_after(last, prev):
                self._last_acked[key] = last
        if err is None:
            self.metrics.record_send.record(n, now=now)
        else:
            self.metrics.record_error.record(n, now=now)
            log.warning("producer: %d record(s) for %s-%s failed: %s", n, b.topic, b.partition, err)
        if b.base_sequence >= 0:
            b.base_sequence = (b.base_sequence + n) & _SEQ_MAX  # the next piece's first sequence
        b.piece_start = b.piece_end
        b.encoded = None
        if b.piece_start < len(b.records):
            b.attempts = 0
            self.acc.reenqueue(b, now, by_sequence=self.idempotent)
            return
        self._splitting.discard((b.topic, b.partition))
        first = b.segments[0]
        succeeded.append((b, first[1], first[2], None, -1))

    def _done_in_flight(self, b: ProducerBatch) -> None:
        key = (b.topic, b.partition)
        lst = self._in_flight.get(key)
        if lst is not None:
            try:
                lst.remove(b)
            except ValueError:
                pass
            if not lst:
                del self._in_flight[key]
                self._recovering.discard(key)

    def _succeeded(self, b: ProducerBatch, now: float) -> None:
        """Bookkeeping for an acknowledged batch (the caller completes it)."""
        self._done_in_flight(b)
        if self.idempotent and b.base_sequence >= 0 and b.producer_epoch == self.producer_epoch:
            key = (b.topic, b.partition)
            last = (b.base_sequence + len(b.records) - 1) & _SEQ_MAX
            prev = self._last_acked.get(key, -1)
            if prev < 0 or _seq_after(last, prev):
                self._last_acked[key] = last
        self.metrics.record_send.record(len(b.records), now=now)

    def _failed(self, b: ProducerBatch, err: BaseException, now: float, code: int | None) -> None:
        key = (b.topic, b.partition)
        self._done_in_flight(b)
        if b.done:
            return
        m = self.metrics
        if self._stopped:
            self._fail(b, err, now)
            return
        if self.idempotent and b.base_sequence >= 0:
            if code == _OUT_OF_ORDER_SEQUENCE:
                expected = (self._last_acked.get(key, -1) + 1) & _SEQ_MAX
                if b.base_sequence == expected and b.producer_epoch == self.producer_epoch:
                    # the broker wants exactly this batch and still refuses it: unresolvable
                    self._fail(b, err, now)
                    self._request_bump(f"{err}")
                    return
                # an earlier batch is missing on the broker: resend in order
                self._retry(b, now, key)
                return
            if code in (_INVALID_PRODUCER_EPOCH, _PRODUCER_FENCED):
                self._fail(b, err, now)
                self._request_bump(f"{err}")
                return
            if code == _UNKNOWN_PRODUCER_ID:
                self._request_bump(f"{err}")
                b.base_sequence = -1  # gets a fresh sequence under the new epoch
                self._retry(b, now, key, count=False)
                return
        retriable = bool(getattr(err, "retriable", False)) or isinstance(err, (KafkaConnectionError, OSError))
        if (
            retriable
            and b.attempts <= self.retries
            and now + self.retry_backoff - b.created < self.delivery_timeout
        ):
            m.record_retry.record(len(b.records), now=now)
            self._retry(b, now, key)
            return
        if retriable and now - b.created >= self.delivery_timeout:
            err = KafkaTimeoutError(
                f"Expiring {len(b.records)} record(s) for {b.topic}-{b.partition}: "
                f"{(now - b.created) * 1000:.0f} ms has passed since batch creation (delivery_timeout_ms); "
                f"last error: {err}"
            )
        self._fail(b, err, now)
        if self.idempotent and b.base_sequence >= 0:
            self._request_bump(f"batch with sequence {b.base_sequence} failed for good: {err}")

    def _retry(self, b: ProducerBatch, now: float, key: TP, count: bool = True) -> None:
        if self.idempotent:
            self._recovering.add(key)
            if not self._in_flight.get(key):
                self._recovering.discard(key)
        self.acc.reenqueue(b, now + self.retry_backoff, by_sequence=self.idempotent)

    def _fail(self, b: ProducerBatch, err: BaseException, now: float) -> None:
        self._splitting.discard((b.topic, b.partition))
        self.metrics.record_error.record(len(b.records) - b.piece_start, now=now)
        if isinstance(err, (BrokerResponseError, KafkaError)):
            log.warning(
                "producer: %d record(s) for %s-%s failed: %s", len(b.records), b.topic, b.partition, err
            )
        self.acc.complete(b, -1, -1, err)

    def _expire(self, b: ProducerBatch, now: float) -> None:
        err = KafkaTimeoutError(
            f"Expiring {len(b.records)} record(s) for {b.topic}-{b.partition}: "
            f"{(now - b.created) * 1000:.0f} ms has passed since batch creation (delivery_timeout_ms)"
        )
        had_seq = self.idempotent and b.base_sequence >= 0
        self._fail(b, err, now)
        if had_seq:
            self._request_bump("a batch with a sequence number expired")

    # --- idempotence ---------------------------------------------------------------------------

    def _request_bump(self, why: str) -> None:
        if not self._need_bump:
            log.info("producer: bumping the producer epoch (%s)", why)
        self._need_bump = True

    def _ensure_producer_id(self, now: float) -> None:
        if self._pid_task is not None or now < self._pid_retry_at:
            return
        if self._need_bump and self.in_flight_batches:
            return  # wait until every in-flight batch came back under the old epoch
        assert self.loop is not None
        self._pid_task = self.loop.create_task(self._init_producer_id())

    async def _init_producer_id(self) -> None:
        bump = self._need_bump and self.producer_id >= 0
        try:
            body = {
                "transactional_id": None,
                "transaction_timeout_ms": self.transaction_timeout_ms,
                "producer_id": self.producer_id if bump else -1,
                "producer_epoch": self.producer_epoch if bump else -1,
            }
            node = self.client.least_loaded_node()
            if node is None:
                raise KafkaConnectionError("no broker known for InitProducerId")
            conn = await self.client.get_connection(node)
            if not conn.supports("InitProducerId"):
                self._fatal = UnsupportedVersionError(
                    f"{conn}: the broker does not support InitProducerId, so enable_idempotence=True "
                    "cannot work; upgrade the broker or disable idempotence"
                )
                log.error("producer: %s", self._fatal)
                return
            if bump and conn.version("InitProducerId") < 3:
                body["producer_id"] = body["producer_epoch"] = -1  # old broker: take a new id
            resp = await conn.request("InitProducerId", body)
            code = resp["error_code"]
            if code:
                err = for_code(code)
                if not err.retriable and not getattr(err, "invalid_coordinator", False):
                    self._fatal = err(f"InitProducerId failed: {err.description}")
                    log.error("producer: %s", self._fatal)
                    return
                raise err(f"InitProducerId: {err.description}")
            self.producer_id = resp["producer_id"]
            self.producer_epoch = resp["producer_epoch"]
            self._next_seq.clear()
            self._last_acked.clear()
            self._recovering.clear()
            with self.acc.lock:
                for dq in self.acc.batches.values():
                    for b in dq:
                        b.base_sequence = -1  # re-sequenced under the new epoch
            self._need_bump = False
            log.debug("producer id %s epoch %s", self.producer_id, self.producer_epoch)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried after backoff
            log.debug("InitProducerId failed: %s; retrying", exc)
            self._pid_retry_at = time.monotonic() + self.retry_backoff
        finally:
            self._pid_task = None
            self.wakeup()


def _seq_after(a: int, b: int) -> bool:
    """Whether sequence ``a`` comes after ``b`` (int32 wrap-around)."""
    return ((a - b) & _SEQ_MAX) < (1 << 30) and a != b
