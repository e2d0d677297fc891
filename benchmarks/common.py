"""Shared machinery of the cross-client benchmark suite (``run_all.py``): brokers, workers, statistics.

How it works:

- Brokers: ``start_broker(kind)`` starts 'tansu', 'kafka' (Apache Kafka, one KRaft node) or
  'embedded' (kafkakit's broker as a subprocess) through the test infrastructure (tests/infra) and
  returns a handle with ``bootstrap_servers`` and ``stop()``; ``BrokerUnavailable`` says why not.
- Workers: every measurement runs in a fresh interpreter (``run_worker``), so clients never share a
  process, a GIL or warm caches. The child (``python benchmarks/common.py --worker SPEC``) imports
  the benchmark module named in the JSON spec from this directory (bench_producer, bench_consumer,
  bench_broker, bench_e2e_latency, or this module), calls the function with the keyword arguments,
  and prints ``RESULT <json>`` as its last line. With ``profile`` set it runs the call under
  cProfile in every Python thread (the sync clients do their I/O on a background loop thread) and
  writes the merged statistics to that path.
- The asyncio kafkakit clients' runners (``produce_kafkakit_async``, ``consume_kafkakit_async``)
  live here, beside bench_producer's / bench_consumer's functions for the other clients, with the
  same measurement: time ``send()`` x n + ``flush()``, or assignment to the n-th record.
- ``Summary`` holds the median, min and max of repeated measurements; ``machine_info`` describes the
  machine; ``top_functions`` condenses a profile into the functions that dominate it.

What it must never do: run as part of the test suite, assert on timings, or hide a failed
measurement (a failing worker raises ``WorkerError`` with the tail of its output).
"""

from __future__ import annotations

import asyncio
import cProfile
import datetime as _dt
import importlib
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(REPO / "src"), str(REPO), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

LINGER_MS = 5  # producer throughput runs (as bench_producer)
BATCH_SIZE = 65536


# --- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Median, min and max of the repetitions of one measurement."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("no values to summarise")
        return cls(statistics.median(values), min(values), max(values), len(values))

    def to_json(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.n}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest-rank."""
    if not sorted_values:
        raise ValueError("no samples")
    k = max(0, min(len(sorted_values) - 1, int(round(q * len(sorted_values) + 0.5)) - 1))
    return float(sorted_values[k])


# --- machine ----------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "kafkakit": _version("kafkakit"),
        "kafka-python": _version("kafka-python"),
        "aiokafka": _version("aiokafka"),
        "confluent-kafka": _version("confluent-kafka"),
    }
    try:
        import confluent_kafka

        info["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        pass
    try:
        info["load_average"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


# --- brokers ----------------------------------------------------------------------------------


class BrokerUnavailable(Exception):
    """The broker cannot run on this machine; the message says why."""


class BrokerHandle:
    """A running broker process: ``name``, ``bootstrap_servers``, ``version``, ``stop()``."""

    def __init__(self, name: str, impl: Any, version: str) -> None:
        self.name = name
        self.impl = impl
        self.version = version

    @property
    def bootstrap_servers(self) -> str:
        return str(self.impl.bootstrap_servers)

    @property
    def bootstrap(self) -> str:  # the attribute bench_broker.run_once reads
        return self.bootstrap_servers

    def stop(self) -> None:
        self.impl.stop()


def start_broker(kind: str) -> BrokerHandle:
    """Start 'tansu', 'kafka' or 'embedded' on a free loopback port (BrokerUnavailable: why not)."""
    from tests import infra

    try:
        if kind == "tansu":
            from tests.infra.tansu import TansuBroker, tansu_version

            return BrokerHandle("tansu", TansuBroker().start(), f"tansu {tansu_version()}")
        if kind == "kafka":
            from tests.infra.apache_kafka import KafkaCluster, kafka_version

            return BrokerHandle("kafka", KafkaCluster(1).start(), f"Apache Kafka {kafka_version()}")
        if kind == "embedded":
            from tests.infra.embedded import EmbeddedBrokerProcess

            return BrokerHandle(
                "embedded", EmbeddedBrokerProcess().start(), f"kafkakit {_version('kafkakit')}"
            )
    except infra.BrokerUnavailable as exc:
        raise BrokerUnavailable(str(exc)) from None
    raise ValueError(f"unknown broker kind {kind!r}; expected tansu, kafka or embedded")


def create_topic(bootstrap: str, name: str, partitions: int = 1) -> str:
    from tests.infra import create_topics, parse_bootstrap

    host, port = parse_bootstrap(bootstrap)[0]
    create_topics(host, port, {name: (partitions, 1)})
    return name


# --- workers ----------------------------------------------------------------------------------


class WorkerError(RuntimeError):
    """A benchmark subprocess failed or timed out."""


def run_worker(
    module: str,
    func: str,
    kwargs: dict[str, Any],
    *,
    profile: str | None = None,
    timeout: float = 300.0,
) -> Any:
    """Run ``module.func(**kwargs)`` in a fresh interpreter and return its JSON result."""
    spec = json.dumps({"module": module, "func": func, "kwargs": kwargs, "profile": profile})
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONHASHSEED="0")
    try:
        out = subprocess.run(
            [sys.executable, str(HERE / "common.py"), "--worker", spec],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=str(REPO),
        )
    except subprocess.TimeoutExpired:
        raise WorkerError(f"{module}.{func} did not finish within {timeout:.0f} s") from None
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise WorkerError(f"{module}.{func} failed (exit {out.returncode}): {tail[-300:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def _profiled_call(fn: Any, kwargs: dict[str, Any], path: str) -> Any:
    """Call ``fn(**kwargs)`` with a cProfile in the main thread and in every thread it starts."""
    profiles: list[cProfile.Profile] = []
    orig_run = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile()
        profiles.append(prof)
        prof.enable()
        try:
            orig_run(self)
        finally:
            prof.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    main = cProfile.Profile()
    main.enable()
    try:
        result = fn(**kwargs)
    finally:
        main.disable()
        threading.Thread.run = orig_run  # type: ignore[method-assign]
    stats = pstats.Stats(main)
    for prof in profiles:
        try:
            stats.add(prof)
        except (TypeError, ValueError):  # a thread that never ran Python code
            pass
    stats.dump_stats(path)
    return result


def worker_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    mod = importlib.import_module(spec["module"])
    fn = getattr(mod, spec["func"])
    if spec.get("profile"):
        result = _profiled_call(fn, spec["kwargs"], spec["profile"])
    else:
        result = fn(**spec["kwargs"])
    print("RESULT " + json.dumps(result), flush=True)


# Functions in which a thread waits rather than works (event-loop polls, queue/lock waits, sleeps).
IDLE_MARKERS = (
    "of 'select.epoll' objects",
    "of 'select.poll' objects",
    "select.select",
    "of '_queue.SimpleQueue' objects",
    "'acquire' of '_thread.lock' objects",
    "'acquire' of '_thread.RLock' objects",
    "time.sleep",
)


def top_functions(path: str, top: int = 12) -> dict[str, Any]:
    """Where a profile's busy time went: the ``top`` functions by own time, idle waits left out.

    Returns {"busy": seconds of work, "idle": seconds spent waiting, "top": [{function, tottime,
    share (of the busy time), cumtime, calls}]}.
    """
    stats = pstats.Stats(path)
    rows = []
    idle = 0.0
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~" and any(m in name for m in IDLE_MARKERS):
            idle += tottime
            continue
        rows.append((tottime, cumtime, ncalls, _short(filename), line, name))
    busy = sum(r[0] for r in rows) or 1.0
    rows.sort(reverse=True)
    return {
        "busy": busy,
        "idle": idle,
        "top": [
            {
                "function": f"{fname}:{line}({name})" if line else name,
                "tottime": tott,
                "share": tott / busy,
                "cumtime": cumt,
                "calls": calls,
            }
            for tott, cumt, calls, fname, line, name in rows[:top]
        ],
    }


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python"):
        i = filename.find(marker)
        if i >= 0:
            rest = filename[i + len(marker) :]
            return rest.split("/", 1)[1] if marker == "/lib/python" and "/" in rest else rest
    return filename


# --- the asyncio kafkakit clients (the other clients' runners are in bench_producer/_consumer) -------


def produce_kafkakit_async(
    bootstrap: str,
    topic: str,
    n: int,
    value: bytes | str,
    acks: int | str = 1,
    compression: str | None = None,
) -> float:
    """Seconds for ``await send()`` x n to partition 0 then ``flush()`` (after one warm-up record)."""
    from kafkakit.aio import AIOKafkaProducer

    payload = value.encode() if isinstance(value, str) else value

    async def go() -> float:
        async with AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            linger_ms=LINGER_MS,
            batch_size=BATCH_SIZE,
            acks=acks,
            compression_type=compression,
        ) as p:
            await p.send_and_wait(topic, payload, partition=0)
            send = p.send
            t0 = time.perf_counter()
            for _ in range(n):
                await send(topic, payload, partition=0)
            await p.flush()
            return time.perf_counter() - t0

    return asyncio.run(go())


def consume_kafkakit_async(bootstrap: str, topic: str, n: int) -> float:
    """Seconds from assignment to the n-th record of partition 0, with ``async for``."""
    from kafkakit import TopicPartition
    from kafkakit.aio import AIOKafkaConsumer

    async def go() -> float:
        async with AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        ) as c:
            c.assign([TopicPartition(topic, 0)])
            seen = 0
            t0 = time.perf_counter()
            async for _msg in c:
                seen += 1
                if seen == n:
                    break
            return time.perf_counter() - t0

    return asyncio.run(go())


# --- the producer / consumer / broker cells run by run_all ---------------------------------------

PRODUCERS = {
    "kafkakit": ("bench_producer", "run_kafkakit"),
    "kafkakit-async": ("common", "produce_kafkakit_async"),
    "kafka-python": ("bench_producer", "run_kafka_python"),
    "aiokafka": ("bench_producer", "run_aiokafka"),
    "confluent-kafka": ("bench_producer", "run_confluent"),
}

CONSUMERS = {
    "kafkakit": ("bench_consumer", "consume_kafkakit"),
    "kafkakit-async": ("common", "consume_kafkakit_async"),
    "kafka-python": ("bench_consumer", "consume_kafka_python"),
    "aiokafka": ("bench_consumer", "consume_aiokafka"),
    "confluent-kafka": ("bench_consumer", "consume_confluent"),
}


def produce_cell(
    client: str, bootstrap: str, topic: str, n: int, size: int, acks: int | str, compression: str | None
) -> float:
    """(worker side) One producer measurement: seconds for n records of ``size`` bytes."""
    module, func = PRODUCERS[client]
    fn = getattr(importlib.import_module(module), func)
    value = payload(size)
    return float(fn(bootstrap, topic, n, value, acks=acks, compression=compression))


def consume_cell(client: str, bootstrap: str, topic: str, n: int) -> float:
    """(worker side) One consumer measurement: seconds to read n records of partition 0."""
    module, func = CONSUMERS[client]
    return float(getattr(importlib.import_module(module), func)(bootstrap, topic, n))


def fill_topic(bootstrap: str, topic: str, n: int, size: int, compression: str) -> None:
    """(worker side) Write n records of ``size`` bytes to partition 0 with librdkafka (bench_consumer.fill)."""
    import bench_consumer

    bench_consumer.fill(bootstrap, topic, n, size, compression=compression)


def broker_cell(name: str, bootstrap: str, topic: str, records: int, size: int) -> list[float]:
    """(worker side) bench_broker.run_once: librdkafka produce then consume MB/s against one broker."""
    import types

    import bench_broker

    target: Any = types.SimpleNamespace(name=name, bootstrap=bootstrap)
    prod, cons = bench_broker.run_once(target, topic, records, size, 1)
    return [prod, cons]


def payload(size: int) -> bytes:
    """A text-like value of ``size`` bytes (hex digits: compressible about 2:1, like bench_codec's)."""
    return os.urandom((size + 1) // 2).hex().encode()[:size]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2])
    else:
        print("usage: common.py --worker SPEC_JSON  (internal: run_all.py starts workers)", file=sys.stderr)
        sys.exit(2)
