"""Consumer metrics: windowed rates, averages and maxima grouped as kafka-python reports them.

How it works: a ``Sensor`` keeps ``metrics_num_samples`` samples of ``metrics_sample_window_ms``
each (count, sum, max per window); ``rate`` is the sum over the live windows divided by the time they
cover, ``avg`` the sum over the count, ``max`` the largest value recorded in them. ``ConsumerMetrics``
owns the consumer's sensors and gauges and renders them as ``{group: {name: value}}``
(``metrics()``) or ``{MetricName: value}`` (``metrics(raw=True)``).

What it must never do: grow without bound (old windows are recycled) or raise while recording.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["ConsumerMetrics", "MetricName", "Sensor"]


class MetricName(NamedTuple):
    name: str
    group: str
    description: str = ""
    tags: tuple[tuple[str, str], ...] = ()


class Sensor:
    """Count/sum/max over a ring of time windows."""

    __slots__ = ("window", "samples", "starts", "counts", "sums", "maxes", "created")

    def __init__(self, window_ms: int = 30000, samples: int = 2) -> None:
        self.window = window_ms / 1000.0
        self.samples = max(samples, 1)
        now = time.monotonic()
        self.created = now
        self.starts = [now] + [0.0] * (self.samples - 1)
        self.counts = [0] * self.samples
        self.sums = [0.0] * self.samples
        self.maxes = [float("-inf")] * self.samples

    def _slot(self, now: float) -> int:
        newest = max(range(self.samples), key=lambda i: self.starts[i])
        if now - self.starts[newest] < self.window:
            return newest
        oldest = min(range(self.samples), key=lambda i: self.starts[i])
        self.starts[oldest] = now
        self.counts[oldest] = 0
        self.sums[oldest] = 0.0
        self.maxes[oldest] = float("-inf")
        return oldest

    def record(self, value: float = 1.0, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        i = self._slot(now)
        self.counts[i] += 1
        self.sums[i] += value
        if value > self.maxes[i]:
            self.maxes[i] = value

    def _live(self, now: float) -> list[int]:
        horizon = self.window * self.samples
        return [i for i in range(self.samples) if self.counts[i] and now - self.starts[i] < horizon]

    def rate(self, now: float | None = None) -> float:
        """Sum of recorded values per second over the live windows."""
        now = time.monotonic() if now is None else now
        live = self._live(now)
        total = sum(self.sums[i] for i in live)
        if not live:
            return 0.0
        elapsed = now - min(self.starts[i] for i in live)
        # like the Java client, never divide by less than the windows that could have been filled
        elapsed = max(elapsed, min(now - self.created, self.window * (self.samples - 1)), 1e-3)
        return total / elapsed

    def count_rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        live = self._live(now)
        if not live:
            return 0.0
        elapsed = now - min(self.starts[i] for i in live)
        elapsed = max(elapsed, min(now - self.created, self.window * (self.samples - 1)), 1e-3)
        return sum(self.counts[i] for i in live) / elapsed

    def avg(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        live = self._live(now)
        n = sum(self.counts[i] for i in live)
        return sum(self.sums[i] for i in live) / n if n else 0.0

    def max(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        live = self._live(now)
        return max((self.maxes[i] for i in live), default=0.0)


class ConsumerMetrics:
    """The sensors a consumer records into, and their report."""

    def __init__(self, prefix: str = "consumer", window_ms: int = 30000, samples: int = 2) -> None:
        self.prefix = prefix or "consumer"

        def s() -> Sensor:
            return Sensor(window_ms, samples)

        self.records_consumed = s()
        self.bytes_consumed = s()
        self.fetch_latency = s()
        self.fetch_size = s()
        self.records_per_request = s()
        self.records_lag = s()
        self.commit_latency = s()
        self.heartbeat = s()
        self.join_time = s()
        self.sync_time = s()
        self.rebalances = s()
        self.last_heartbeat: float | None = None
        self.gauges: dict[tuple[str, str], Callable[[], float]] = {}

    def report(self) -> dict[MetricName, float]:
        now = time.monotonic()
        fm = f"{self.prefix}-fetch-manager-metrics"
        cm = f"{self.prefix}-coordinator-metrics"
        values: dict[MetricName, float] = {
            MetricName(
                "records-consumed-rate", fm, "records consumed per second"
            ): self.records_consumed.rate(now),
            MetricName("records-consumed-total", fm, "records consumed"): float(
                sum(self.records_consumed.sums)
            ),
            MetricName("bytes-consumed-rate", fm, "bytes consumed per second"): self.bytes_consumed.rate(now),
            MetricName("fetch-latency-avg", fm, "average fetch request latency (ms)"): self.fetch_latency.avg(
                now
            ),
            MetricName("fetch-latency-max", fm, "largest fetch request latency (ms)"): self.fetch_latency.max(
                now
            ),
            MetricName("fetch-rate", fm, "fetch requests per second"): self.fetch_latency.count_rate(now),
            MetricName("fetch-size-avg", fm, "average bytes per fetch response"): self.fetch_size.avg(now),
            MetricName("fetch-size-max", fm, "largest fetch response (bytes)"): self.fetch_size.max(now),
            MetricName(
                "records-per-request-avg", fm, "average records per fetch response"
            ): self.records_per_request.avg(now),
            MetricName(
                "records-lag-max", fm, "largest lag in records of any partition"
            ): self.records_lag.max(now),
            MetricName(
                "commit-latency-avg", cm, "average offset commit latency (ms)"
            ): self.commit_latency.avg(now),
            MetricName(
                "commit-latency-max", cm, "largest offset commit latency (ms)"
            ): self.commit_latency.max(now),
            MetricName("commit-rate", cm, "offset commits per second"): self.commit_latency.count_rate(now),
            MetricName("heartbeat-rate", cm, "heartbeats per second"): self.heartbeat.count_rate(now),
            MetricName(
                "heartbeat-response-time-max", cm, "largest heartbeat latency (ms)"
            ): self.heartbeat.max(now),
            MetricName("join-time-avg", cm, "average JoinGroup time (ms)"): self.join_time.avg(now),
            MetricName("sync-time-avg", cm, "average SyncGroup time (ms)"): self.sync_time.avg(now),
            MetricName("rebalance-rate-per-hour", cm, "rebalances per hour"): self.rebalances.count_rate(now)
            * 3600,
            MetricName("last-heartbeat-seconds-ago", cm, "seconds since the last heartbeat response"): (
                -1.0 if self.last_heartbeat is None else now - self.last_heartbeat
            ),
        }
        for (group, name), fn in self.gauges.items():
            try:
                values[MetricName(name, f"{self.prefix}-{group}")] = float(fn())
            except Exception:  # noqa: BLE001 - a gauge must not break the report
                continue
        return values

    def grouped(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for mn, v in self.report().items():
            out.setdefault(mn.group, {})[mn.name] = v
        return out
