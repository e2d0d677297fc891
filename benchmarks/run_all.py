"""kafkakit against its peers, in one run on one machine: ``make bench`` (never part of ``make test``).

Usage::

    .venv/bin/python benchmarks/run_all.py [--quick] [--repeat N] [--broker auto|kafka|tansu|embedded]
        [--sections producer,consumer,e2e,broker,profile] [--clients kafkakit,kafkakit-async,...]
        [--out docs/benchmarks.md] [--json results.json]

How it works: one broker serves every client measurement (Apache Kafka when its jars are
provisioned, else tansu; ``--broker`` picks). Each measurement runs in a fresh subprocess
(``common.run_worker``) so clients never share an interpreter, and repetitions are interleaved
(every client once, then again, in a rotating order) so a noisy moment hits everyone alike.

- producer: records/s and MB/s of ``send()`` x n + ``flush()`` to one partition, for 100 B and 1 KB
  records, acks 1 and all, no compression and lz4 (bench_producer's runners; kafkakit's asyncio
  client from common.py); a fresh topic per measurement, deleted afterwards.
- consumer: records/s and MB/s reading n records of one partition from offset 0, record by record
  (bench_consumer's runners), for each record size and codec; each topic is filled once by
  librdkafka and read by every client.
- e2e: latency p50/p99 from send() to the consumer at 1,000 records/s with linger_ms=0
  (bench_e2e_latency).
- broker: confluent-kafka as the load generator (bench_broker.run_once: 1 KB records, produce then
  consume MB/s) against kafkakit's embedded broker, tansu and Apache Kafka when present, each a
  subprocess of its own.
- profile: one extra, untimed run of each kafkakit client (and the embedded broker under load) with
  cProfile; the functions that dominate go into the report.

Each figure is the median of ``--repeat`` runs (min-max shown); every comparison is a ratio to
kafkakit (sync) from the same run. The report goes to docs/benchmarks.md with a PNG chart beside it
(plot.py) recording the machine (cores, Python, date, load). ``--quick`` is a smoke run (small
counts, one repetition, about a minute); the default run (five repetitions) takes about 10-15
minutes on 2 cores.

What it must never do: run in the test suite, compare figures from different runs, or stop at the
first failed measurement (failures are reported in the document and the run goes on).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_e2e_latency  # noqa: E402
from common import (  # noqa: E402
    REPO,
    BrokerHandle,
    BrokerUnavailable,
    Summary,
    WorkerError,
    create_topic,
    machine_info,
    run_worker,
    start_broker,
    top_functions,
)

ALL_CLIENTS = ["kafkakit", "kafkakit-async", "kafka-python", "aiokafka", "confluent-kafka"]
SECTIONS = ["producer", "consumer", "e2e", "broker", "profile"]
SIZES = [100, 1024]
ACKS: list[int | str] = [1, "all"]
CODECS = ["none", "lz4"]


class Settings:
    def __init__(self, quick: bool, repeat: int | None) -> None:
        self.quick = quick
        self.repeat = repeat or (1 if quick else 5)
        self.records = {100: 20_000, 1024: 5_000} if quick else {100: 200_000, 1024: 50_000}
        self.e2e_rate = 1000.0
        self.e2e_seconds = 1.0 if quick else 3.0
        self.e2e_warmup = 0.5 if quick else 1.0
        self.broker_records = 20_000 if quick else 200_000

    def to_json(self) -> dict[str, Any]:
        return {
            "quick": self.quick,
            "repeat": self.repeat,
            "records": {str(k): v for k, v in self.records.items()},
            "e2e_rate": self.e2e_rate,
            "e2e_seconds": self.e2e_seconds,
            "broker_records": self.broker_records,
        }


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def rotate(items: list[str], k: int) -> list[str]:
    k %= max(len(items), 1)
    return items[k:] + items[:k]


def delete_topic(bootstrap: str, topic: str) -> None:
    try:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
        for fut in admin.delete_topics([topic], operation_timeout=30).values():
            fut.result(30)
    except Exception:  # noqa: BLE001,S110 - cleanup only; the broker is thrown away at the end
        pass


def summarise(values: list[float]) -> dict[str, float] | None:
    return Summary.of(values).to_json() if values else None


# --- sections ---------------------------------------------------------------------------------


def producer_section(bootstrap: str, clients: list[str], st: Settings) -> list[dict[str, Any]]:
    scenarios = [(size, acks, codec) for size in SIZES for acks in ACKS for codec in CODECS]
    secs: dict[tuple[Any, ...], list[float]] = {}
    errors: dict[tuple[Any, ...], str] = {}
    for rep in range(st.repeat):
        for size, acks, codec in scenarios:
            n = st.records[size]
            for client in rotate(clients, rep):
                key = (size, acks, codec, client)
                topic = create_topic(bootstrap, f"bench-p-{uuid.uuid4().hex[:10]}")
                kwargs = {
                    "client": client,
                    "bootstrap": bootstrap,
                    "topic": topic,
                    "n": n,
                    "size": size,
                    "acks": acks,
                    "compression": None if codec == "none" else codec,
                }
                try:
                    s = float(run_worker("common", "produce_cell", kwargs, timeout=240))
                    secs.setdefault(key, []).append(s)
                    log(
                        f"producer {size:>4} B acks={acks!s:<3} {codec:<4} {client:<16} {n / s:>10,.0f} rec/s"
                    )
                except WorkerError as exc:
                    errors[key] = str(exc)
                    log(f"producer {size} B acks={acks} {codec} {client}: FAILED {exc}")
                finally:
                    delete_topic(bootstrap, topic)
    rows = []
    for size, acks, codec in scenarios:
        n = st.records[size]
        for client in clients:
            key = (size, acks, codec, client)
            times = secs.get(key, [])
            rows.append(
                {
                    "size": size,
                    "acks": str(acks),
                    "compression": codec,
                    "client": client,
                    "records": n,
                    "rate": summarise([n / t for t in times]),
                    "mbps": summarise([n * size / t / 1e6 for t in times]),
                    "error": errors.get(key),
                }
            )
    return rows


def consumer_section(bootstrap: str, clients: list[str], st: Settings) -> list[dict[str, Any]]:
    scenarios = [(size, codec) for size in SIZES for codec in CODECS]
    topics: dict[tuple[int, str], str] = {}
    errors: dict[tuple[Any, ...], str] = {}
    for size, codec in scenarios:
        topic = f"bench-c-{size}-{codec}-{uuid.uuid4().hex[:8]}"
        try:
            run_worker(
                "common",
                "fill_topic",
                {
                    "bootstrap": bootstrap,
                    "topic": topic,
                    "n": st.records[size],
                    "size": size,
                    "compression": codec,
                },
                timeout=300,
            )
            topics[(size, codec)] = topic
            log(f"consumer topic {topic}: {st.records[size]} records of {size} B ({codec}) written")
        except WorkerError as exc:
            for client in clients:
                errors[(size, codec, client)] = f"could not fill the topic: {exc}"
    secs: dict[tuple[Any, ...], list[float]] = {}
    for rep in range(st.repeat):
        for size, codec in scenarios:
            if (size, codec) not in topics:
                continue
            n = st.records[size]
            for client in rotate(clients, rep):
                key = (size, codec, client)
                kwargs = {"client": client, "bootstrap": bootstrap, "topic": topics[(size, codec)], "n": n}
                try:
                    s = float(run_worker("common", "consume_cell", kwargs, timeout=240))
                    secs.setdefault(key, []).append(s)
                    log(f"consumer {size:>4} B {codec:<4} {client:<16} {n / s:>10,.0f} rec/s")
                except WorkerError as exc:
                    errors[key] = str(exc)
                    log(f"consumer {size} B {codec} {client}: FAILED {exc}")
    for topic in topics.values():
        delete_topic(bootstrap, topic)
    rows = []
    for size, codec in scenarios:
        n = st.records[size]
        for client in clients:
            key = (size, codec, client)
            times = secs.get(key, [])
            rows.append(
                {
                    "size": size,
                    "compression": codec,
                    "client": client,
                    "records": n,
                    "rate": summarise([n / t for t in times]),
                    "mbps": summarise([n * size / t / 1e6 for t in times]),
                    "error": errors.get(key),
                }
            )
    return rows


def e2e_section(bootstrap: str, clients: list[str], st: Settings) -> list[dict[str, Any]]:
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
    errors: dict[str, str] = {}
    for rep in range(st.repeat):
        for client in rotate(clients, rep):
            try:
                r = bench_e2e_latency.measure(
                    client, bootstrap, st.e2e_rate, st.e2e_seconds, st.e2e_warmup, 100
                )
                runs[client].append(r)
                log(f"e2e {client:<16} p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms")
            except WorkerError as exc:
                errors[client] = str(exc)
                log(f"e2e {client}: FAILED {exc}")
    return [
        {
            "client": c,
            "rate": st.e2e_rate,
            "p50": summarise([r["p50_ms"] for r in runs[c]]),
            "p99": summarise([r["p99_ms"] for r in runs[c]]),
            "samples": sum(r["samples"] for r in runs[c]),
            "error": errors.get(c),
        }
        for c in clients
    ]


def _start_for_load(kind: str, client_broker: BrokerHandle) -> tuple[Any, str, bool]:
    """(handle with .bootstrap and .stop(), version, whether we own it) for the broker section."""
    import bench_broker

    if kind == client_broker.name:
        return client_broker, client_broker.version, False
    if kind == "embedded":
        return bench_broker.start_embedded(False, None), "kafkakit (embedded, subprocess)", True
    if kind == "tansu":
        return bench_broker.start_tansu(), "tansu", True
    h = start_broker(kind)
    return h, h.version, True


def broker_section(client_broker: BrokerHandle, st: Settings, kafka_ok: bool) -> list[dict[str, Any]]:
    kinds = ["embedded", "tansu"] + (["kafka"] if kafka_ok else [])
    rows: list[dict[str, Any]] = []
    for kind in kinds:
        prod: list[float] = []
        cons: list[float] = []
        error = None
        version = kind
        try:
            handle, version, owned = _start_for_load(kind, client_broker)
        except Exception as exc:  # noqa: BLE001 - report it and go on with the next broker
            rows.append(
                {"broker": kind, "version": kind, "produce": None, "consume": None, "error": str(exc)}
            )
            log(f"broker {kind}: cannot start: {exc}")
            continue
        try:
            for _ in range(st.repeat):
                kwargs = {
                    "name": kind,
                    "bootstrap": handle.bootstrap,
                    "topic": f"bench-b-{uuid.uuid4().hex[:10]}",
                    "records": st.broker_records,
                    "size": 1024,
                }
                try:
                    p, c = run_worker("common", "broker_cell", kwargs, timeout=300)
                    prod.append(p)
                    cons.append(c)
                    log(f"broker {kind:<9} produce {p:8.1f} MB/s  consume {c:8.1f} MB/s")
                except WorkerError as exc:
                    error = str(exc)
                    log(f"broker {kind}: FAILED {exc}")
                finally:
                    delete_topic(handle.bootstrap, kwargs["topic"])
        finally:
            if owned:
                handle.stop()
        rows.append(
            {
                "broker": kind,
                "version": version,
                "produce": summarise(prod),
                "consume": summarise(cons),
                "error": error,
            }
        )
    return rows


def profile_section(bootstrap: str, clients: list[str], st: Settings) -> list[dict[str, Any]]:
    """One cProfile'd run of each kafkakit client, and of the embedded broker under confluent load."""
    out: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="kafkakit-bench-prof-"))
    n = 100_000  # enough work that start-up (schema compilation, connecting) does not dominate
    jobs: list[tuple[str, str, str, dict[str, Any]]] = []
    for client in [c for c in clients if c.startswith("kafkakit")]:
        topic = create_topic(bootstrap, f"bench-prof-{uuid.uuid4().hex[:10]}")
        jobs.append(
            (
                f"{client} producer (100 B, acks 1, no compression)",
                "produce_cell",
                topic,
                {
                    "client": client,
                    "bootstrap": bootstrap,
                    "topic": topic,
                    "n": n,
                    "size": 100,
                    "acks": 1,
                    "compression": None,
                },
            )
        )
        jobs.append(
            (
                f"{client} consumer (100 B, reading the records above)",
                "consume_cell",
                topic,
                {"client": client, "bootstrap": bootstrap, "topic": topic, "n": n},
            )
        )
    for i, (name, func, _topic, kwargs) in enumerate(jobs):
        path = str(tmp / f"p{i}.prof")
        try:
            run_worker("common", func, kwargs, profile=path, timeout=300)
            out.append({"name": name, **top_functions(path)})
            log(f"profiled {name}")
        except WorkerError as exc:
            out.append({"name": name, "top": [], "error": str(exc)})
    for topic in {j[2] for j in jobs}:
        delete_topic(bootstrap, topic)
    out.append(_profile_embedded_broker(tmp, st))
    return out


def _profile_embedded_broker(tmp: Path, st: Settings) -> dict[str, Any]:
    import bench_broker

    name = "embedded broker under confluent-kafka load (1 KB records, produce then consume)"
    path = str(tmp / "broker.prof")
    try:
        broker = bench_broker.start_embedded(False, path)
    except Exception as exc:  # noqa: BLE001
        return {"name": name, "top": [], "error": f"cannot start: {exc}"}
    try:
        run_worker(
            "common",
            "broker_cell",
            {
                "name": "embedded",
                "bootstrap": broker.bootstrap,
                "topic": f"bench-prof-{uuid.uuid4().hex[:8]}",
                "records": st.broker_records,
                "size": 1024,
            },
            timeout=300,
        )
    except WorkerError as exc:
        broker.stop()
        return {"name": name, "top": [], "error": str(exc)}
    broker.stop()  # SIGTERM: the broker shuts down cleanly and cProfile writes its file
    if not Path(path).exists():
        return {"name": name, "top": [], "error": "the broker wrote no profile on shutdown"}
    log("profiled the embedded broker")
    return {"name": name, **top_functions(path)}


# --- main ---------------------------------------------------------------------------------------


def pick_broker(choice: str) -> tuple[BrokerHandle, bool]:
    """Start the broker for the client measurements; also say whether Apache Kafka can run here."""
    kafka_ok = True
    try:
        from tests.infra.apache_kafka import check_available

        check_available()
    except Exception:  # noqa: BLE001 - BrokerUnavailable or a broken provisioning: no Kafka
        kafka_ok = False
    order = {"auto": ["kafka", "tansu", "embedded"]}.get(choice, [choice])
    last: Exception | None = None
    for kind in order:
        if kind == "kafka" and not kafka_ok:
            continue
        try:
            return start_broker(kind), kafka_ok
        except BrokerUnavailable as exc:
            last = exc
            log(f"{kind}: unavailable ({exc})")
    raise SystemExit(f"no broker available for the client benchmarks: {last}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: small counts, one repetition")
    ap.add_argument("--repeat", type=int, default=None, help="repetitions per figure (default 3, quick 1)")
    ap.add_argument("--broker", default="auto", choices=["auto", "kafka", "tansu", "embedded"])
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--clients", default=",".join(ALL_CLIENTS))
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    ap.add_argument("--json", default=None, help="also write the raw results here")
    args = ap.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    clients = [c for c in args.clients.split(",") if c]
    for s in sections:
        if s not in SECTIONS:
            ap.error(f"unknown section {s!r}; choose from {', '.join(SECTIONS)}")
    for c in clients:
        if c not in ALL_CLIENTS:
            ap.error(f"unknown client {c!r}; choose from {', '.join(ALL_CLIENTS)}")
    if "kafkakit" in clients:
        clients.remove("kafkakit")
    clients.insert(0, "kafkakit")  # the reference of every ratio
    st = Settings(args.quick, args.repeat)

    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine_info(), "settings": st.to_json(), "clients": clients}
    log(f"machine: {results['machine']['cores']} cores, Python {results['machine']['python']}")
    broker, kafka_ok = pick_broker(args.broker)
    results["broker"] = {"name": broker.name, "version": broker.version}
    log(f"client benchmarks against {broker.version} at {broker.bootstrap_servers}")
    try:
        bs = broker.bootstrap_servers
        if "producer" in sections:
            results["producer"] = producer_section(bs, clients, st)
        if "consumer" in sections:
            results["consumer"] = consumer_section(bs, clients, st)
        if "e2e" in sections:
            results["e2e"] = e2e_section(bs, clients, st)
        if "profile" in sections:
            results["profiles"] = profile_section(bs, clients, st)
        if "broker" in sections:
            results["broker_load"] = broker_section(broker, st, kafka_ok)
    finally:
        broker.stop()
    results["elapsed_s"] = time.monotonic() - started
    results["machine"]["load_average_end"] = os.getloadavg()[0]

    from plot import plot, render_markdown

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    png = out.with_suffix(".png")
    try:
        plot(results, png)
        results["chart"] = png.name
    except ImportError as exc:  # matplotlib is an optional extra
        log(f"no chart: {exc}")
    out.write_text(render_markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    log(
        f"wrote {out}"
        + (f" and {png}" if results.get("chart") else "")
        + f" in {results['elapsed_s'] / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
