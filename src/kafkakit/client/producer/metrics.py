"""Producer metrics: windowed averages, maxima and rates, reported like kafka-python's metrics().

How it works: each ``Stat`` keeps ``metrics_num_samples`` samples of ``metrics_sample_window_ms``
each (count, total, max); old samples are dropped as time passes. ``avg`` is total/count over the
live samples, ``rate`` is total per second over the time they cover, padded to at least
(num_samples - 1) full windows as the Java client does so a young producer does not report a huge
rate. The sender records values per batch or per request (never per record on the send() path);
``ProducerMetrics.snapshot()`` returns ``{'producer-metrics': {name: value}}``.

What it must never do: take a lock or allocate on the send() hot path, or raise while reporting.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["ProducerMetrics", "Stat"]


class Stat:
    """Samples of (start, count, total, max) over a sliding window."""

    __slots__ = ("_samples", "_window", "_n", "cumulative")

    def __init__(self, num_samples: int, window_s: float) -> None:
        self._samples: deque[list[float]] = deque()
        self._window = window_s
        self._n = num_samples
        self.cumulative = 0.0  # sum of every value ever recorded (the *-total metrics)

    def record(
        self, value: float, count: int = 1, now: float | None = None, peak: float | None = None
    ) -> None:
        if now is None:
            now = time.monotonic()
        samples = self._samples
        if not samples or now - samples[-1][0] >= self._window:
            samples.append([now, 0.0, 0.0, -math.inf])
            while len(samples) > self._n:
                samples.popleft()
        self.cumulative += value
        s = samples[-1]
        s[1] += count
        s[2] += value
        top = peak if peak is not None else (value / count if count else value)
        if top > s[3]:
            s[3] = top

    def _live(self, now: float) -> list[list[float]]:
        horizon = now - self._window * self._n
        return [s for s in self._samples if s[0] >= horizon]

    def avg(self, now: float | None = None) -> float:
        live = self._live(time.monotonic() if now is None else now)
        count = sum(s[1] for s in live)
        return sum(s[2] for s in live) / count if count else 0.0

    def max(self, now: float | None = None) -> float:
        live = self._live(time.monotonic() if now is None else now)
        return max((s[3] for s in live), default=0.0) if live else 0.0

    def total(self, now: float | None = None) -> float:
        return sum(s[2] for s in self._live(time.monotonic() if now is None else now))

    def rate(self, now: float | None = None, *, of_count: bool = False) -> float:
        if now is None:
            now = time.monotonic()
        live = self._live(now)
        if not live:
            return 0.0
        elapsed = now - live[0][0]
        min_elapsed = (self._n - 1) * self._window
        elapsed = max(elapsed, min_elapsed, 1e-3)
        return sum(s[1] if of_count else s[2] for s in live) / elapsed


class ProducerMetrics:
    """The producer's sensors; values read by ``snapshot()``."""

    def __init__(
        self, num_samples: int, window_ms: int, buffer_total: int, free_bytes: Callable[[], int]
    ) -> None:
        w = window_ms / 1000.0
        n = num_samples
        self.batch_size = Stat(n, w)
        self.compression_rate = Stat(n, w)
        self.queue_time = Stat(n, w)
        self.request_latency = Stat(n, w)
        self.records_per_request = Stat(n, w)
        self.record_send = Stat(n, w)
        self.record_retry = Stat(n, w)
        self.record_error = Stat(n, w)
        self.record_size = Stat(n, w)
        self.request_size = Stat(n, w)
        self.response = Stat(n, w)
        self.bufferpool_wait = Stat(n, w)
        self.throttle_time = Stat(n, w)
        self.requests_in_flight = 0
        self.buffer_total = buffer_total
        self._free = free_bytes
        self.metadata_age: Callable[[], float] = lambda: 0.0
        self.connection_count: Callable[[], int] = lambda: 0

    def snapshot(self, raw: bool = False) -> dict[Any, Any]:
        now = time.monotonic()
        values: dict[str, float] = {
            "batch-size-avg": self.batch_size.avg(now),
            "batch-size-max": self.batch_size.max(now),
            "compression-rate-avg": self.compression_rate.avg(now),
            "record-queue-time-avg": self.queue_time.avg(now),
            "record-queue-time-max": self.queue_time.max(now),
            "request-latency-avg": self.request_latency.avg(now),
            "request-latency-max": self.request_latency.max(now),
            "records-per-request-avg": self.records_per_request.avg(now),
            "record-send-rate": self.record_send.rate(now),
            "record-send-total": self.record_send.cumulative,
            "record-retry-total": self.record_retry.cumulative,
            "record-error-total": self.record_error.cumulative,
            "record-retry-rate": self.record_retry.rate(now),
            "record-error-rate": self.record_error.rate(now),
            "record-size-avg": self.record_size.avg(now),
            "record-size-max": self.record_size.max(now),
            "request-rate": self.request_size.rate(now, of_count=True),
            "request-size-avg": self.request_size.avg(now),
            "request-size-max": self.request_size.max(now),
            "outgoing-byte-rate": self.request_size.rate(now),
            "response-rate": self.response.rate(now, of_count=True),
            "produce-throttle-time-avg": self.throttle_time.avg(now),
            "produce-throttle-time-max": self.throttle_time.max(now),
            "bufferpool-wait-time-ns-total": self.bufferpool_wait.cumulative,
            "requests-in-flight": float(self.requests_in_flight),
            "buffer-available-bytes": float(self._free()),
            "buffer-total-bytes": float(self.buffer_total),
            "metadata-age": self.metadata_age(),
            "connection-count": float(self.connection_count()),
        }
        if raw:
            return {("producer-metrics", name): v for name, v in values.items()}
        return {"producer-metrics": values}
