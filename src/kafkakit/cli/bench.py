"""``kafkakit bench producer|consumer``: throughput and latency, like Kafka's perf-test tools.

How it works: ``producer`` sends --records random payloads of --record-size bytes (one buffer
reused, as Kafka's ProducerPerformance does), optionally capped at --throughput records/s, and
records each acknowledgement's latency (send() to ack) from the delivery callback. ``consumer``
reads --records records (default: everything in the topic when it starts) and measures end-to-end
latency as arrival time minus the record's timestamp (meaningful while a producer is writing).
Both show a live progress bar on stderr, then print a table (records, records/s, MB/s with
MB = 2^20 bytes as Kafka's tools, latency avg/p50/p95/p99/max in ms). ``--plot FILE.png`` draws
throughput and latency over time with matplotlib, an optional extra.

What it must never do: count a record that was not acknowledged (or not received) in the
throughput, or start a long run when the plot it was asked for cannot be drawn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import click

from kafkakit.cli.common import (
    COMPRESSIONS,
    CliError,
    Common,
    acks_value,
    kafka_command,
    latency_row,
    print_json,
    print_table,
    stderr_console,
)

MB = 1024 * 1024
POINTS = 60  # intervals of the --plot time series


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CliError(
            "--plot needs matplotlib, an optional extra: pip install 'kafkakit[plot]' (or pip install matplotlib)"
        ) from None


def _progress(total: int, what: str) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=False,
    )


def summary(
    label: str, records: int, nbytes: int, elapsed: float, latencies_ms: Sequence[float]
) -> dict[str, Any]:
    lat = latency_row(label, latencies_ms)
    return {
        "records": records,
        "bytes": nbytes,
        "elapsed_s": round(elapsed, 3),
        "records_per_s": round(records / elapsed, 1) if elapsed > 0 else 0.0,
        "mb_per_s": round(nbytes / MB / elapsed, 2) if elapsed > 0 else 0.0,
        "latency_ms": dict(
            zip(("avg", "p50", "p95", "p99", "max"), (float(x) for x in lat[1:]), strict=True)
        ),
    }


def print_summary(title: str, s: dict[str, Any], latency_label: str) -> None:
    lat = s["latency_ms"]
    print_table(
        ["RECORDS", "RECORDS/S", "MB/S", f"{latency_label} AVG", "P50", "P95", "P99", "MAX (ms)"],
        [
            [
                s["records"],
                f"{s['records_per_s']:.1f}",
                f"{s['mb_per_s']:.2f}",
                f"{lat['avg']:.2f}",
                f"{lat['p50']:.2f}",
                f"{lat['p95']:.2f}",
                f"{lat['p99']:.2f}",
                f"{lat['max']:.2f}",
            ]
        ],
        title=title,
    )


def plot(
    path: str, events: Sequence[tuple[float, float]], record_size: int, title: str, latency_label: str
) -> None:
    """Throughput (records/s) and latency (avg, p99) over time; events are (t, latency_ms).

    The run is cut into about POINTS intervals (at least 10 ms each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    span = max((t for t, _ in events), default=0.0)
    width = max(span / POINTS, 0.01)
    buckets: dict[int, list[float]] = {}
    for t, lat in events:
        buckets.setdefault(int(t / width), []).append(lat)
    xs = [(k + 0.5) * width for k in sorted(buckets)]
    rate_x = [(k + 0.5) * width for k in range(max(buckets, default=-1) + 1)]
    rate = [len(buckets.get(k, ())) / width for k in range(len(rate_x))]
    avg = [sum(buckets[k]) / len(buckets[k]) for k in sorted(buckets)]
    p99 = [sorted(buckets[k])[max(0, int(len(buckets[k]) * 0.99) - 1)] for k in sorted(buckets)]
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(9, 6))
    ax1.plot(rate_x, rate, color="tab:blue", marker=".")
    ax1.set_ylabel("records/s")
    ax1.set_title(f"{title} ({record_size}-byte records)")
    ax1.grid(True, alpha=0.3)
    ax2.plot(xs, avg, label="avg", color="tab:green", marker=".")
    ax2.plot(xs, p99, label="p99", color="tab:red", marker=".")
    ax2.set_ylabel(f"{latency_label} (ms)")
    ax2.set_xlabel("time (s)")
    ax2.legend()
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def ensure_topic(common: Common, topic: str, partitions: int) -> None:
    from kafkakit.errors import UnknownTopicOrPartitionError

    with common.admin() as admin:
        try:
            admin.describe_topics([topic])
        except UnknownTopicOrPartitionError:
            admin.create_topics({topic: {"num_partitions": partitions}}, wait_for_metadata=True)


@click.group()
def bench() -> None:
    """Measure producer or consumer throughput and latency."""


@bench.command()
@click.option("--topic", "-t", default="kafkakit-bench", show_default=True, help="Created when missing.")
@click.option("--records", "-n", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option(
    "--record-size", "-s", type=click.IntRange(min=0), default=100, show_default=True, help="Bytes per value."
)
@click.option("--acks", type=click.Choice(["0", "1", "all", "-1"]), default="1", show_default=True)
@click.option("--linger-ms", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=0), default=65536, show_default=True)
@click.option("--compression", type=click.Choice(COMPRESSIONS), default="none", show_default=True)
@click.option("--throughput", type=int, default=-1, show_default=True, help="Cap in records/s; -1: no cap.")
@click.option(
    "--partitions", type=click.IntRange(min=1), default=6, show_default=True, help="For a created topic."
)
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False, writable=True), default=None, metavar="FILE.png"
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of a table.")
@kafka_command
def producer(
    common: Common,
    topic: str,
    records: int,
    record_size: int,
    acks: str,
    linger_ms: int,
    batch_size: int,
    compression: str,
    throughput: int,
    partitions: int,
    plot_path: str | None,
    as_json: bool,
) -> None:
    """Send records as fast as possible (or at --throughput) and report throughput and latency."""
    if plot_path:
        require_matplotlib()
    ensure_topic(common, topic, partitions)
    payload = os.urandom(record_size)
    prod = common.producer(
        acks=acks_value(acks),
        linger_ms=linger_ms,
        batch_size=batch_size,
        compression_type=None if compression == "none" else compression,
        allow_auto_create_topics=False,
    )
    events: list[tuple[float, float]] = []
    errors: list[BaseException] = []
    perf = time.perf_counter
    t0 = perf()

    def acked(sent_at: float, _md: Any) -> None:  # on the producer's loop thread; append is atomic
        now = perf()
        events.append((now - t0, (now - sent_at) * 1000.0))

    def failed(_sent_at: float, exc: BaseException) -> None:
        errors.append(exc)

    try:
        with _progress(records, "producing") as bar:
            task = bar.add_task("produce", total=records, rate="")
            next_ui = 0.0
            for i in range(records):
                if throughput > 0 and i > throughput * (perf() - t0):
                    time.sleep(max(0.0, i / throughput - (perf() - t0)))
                now = perf()
                fut = prod.send(topic, payload)
                if acks != "0":
                    fut.add_callback(acked, now)
                    fut.add_errback(failed, now)
                if now >= next_ui:
                    done = len(events) if acks != "0" else i
                    bar.update(task, completed=done, rate=f"{done / max(now - t0, 1e-9):,.0f} rec/s")
                    next_ui = now + 0.1
            while acks != "0" and len(events) + len(errors) < records:
                time.sleep(0.05)
                now = perf()
                bar.update(
                    task, completed=len(events), rate=f"{len(events) / max(now - t0, 1e-9):,.0f} rec/s"
                )
            prod.flush()
            bar.update(task, completed=records)
    finally:
        prod.close()
    elapsed = (events[-1][0] if events else perf() - t0) or 1e-9
    if errors:
        raise CliError(f"{len(errors)} of {records} record(s) failed; first error: {errors[0]}")
    s = summary("ack", records, records * record_size, elapsed, [e[1] for e in events])
    s.update(topic=topic, record_size=record_size, acks=acks, compression=compression)
    if as_json:
        print_json(s)
    else:
        print_summary(f"Producer: {records} x {record_size} B to {topic!r}, acks={acks}", s, "ACK LATENCY")
    if plot_path:
        plot(plot_path, events, record_size, f"kafkakit producer to {topic}", "ack latency")
        click.echo(f"Plot written to {plot_path}", err=True)


@bench.command()
@click.option("--topic", "-t", default="kafkakit-bench", show_default=True)
@click.option(
    "--records", "-n", type=click.IntRange(min=1), default=None, help="Default: all records in the topic."
)
@click.option("--group", "-g", default=None, help="Consume as this group (default: assign all partitions).")
@click.option("--fetch-max-wait-ms", type=click.IntRange(min=0), default=500, show_default=True)
@click.option(
    "--idle-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, metavar="SECONDS"
)
@click.option(
    "--plot", "plot_path", type=click.Path(dir_okay=False, writable=True), default=None, metavar="FILE.png"
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of a table.")
@kafka_command
def consumer(
    common: Common,
    topic: str,
    records: int | None,
    group: str | None,
    fetch_max_wait_ms: int,
    idle_timeout: float,
    plot_path: str | None,
    as_json: bool,
) -> None:
    """Read records from the beginning and report throughput and end-to-end latency."""
    from kafkakit.cli.common import topic_partitions
    from kafkakit.structs import TopicPartition

    if plot_path:
        require_matplotlib()
    with common.admin() as admin:
        parts = topic_partitions(admin, topic)
    cons = common.consumer(
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=group is not None,
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_poll_records=5000,
    )
    events: list[tuple[float, float]] = []
    nbytes = 0
    try:
        tps = [TopicPartition(topic, p) for p in parts]
        if group is None:
            cons.assign(tps)
            cons.seek_to_beginning(*tps)
        else:
            cons.subscribe([topic])
        if records is None:
            begin = cons.beginning_offsets(tps)
            end = cons.end_offsets(tps)
            records = sum(end[tp] - begin[tp] for tp in tps)
            if records == 0:
                raise CliError(f"topic {topic!r} is empty; give --records N to wait for new records")
        t0 = time.perf_counter()
        last = t0
        with _progress(records, "consuming") as bar:
            task = bar.add_task("consume", total=records, rate="")
            while len(events) < records:
                batch = cons.poll(timeout_ms=200, max_records=min(5000, records - len(events)))
                now = time.perf_counter()
                wall = time.time() * 1000.0
                if not batch:
                    if now - last > idle_timeout:
                        raise CliError(
                            f"no record for {idle_timeout:g} s after {len(events)} of {records}; "
                            "is something producing to the topic?"
                        )
                    continue
                last = now
                for msgs in batch.values():
                    for m in msgs:
                        events.append((now - t0, max(wall - m.timestamp, 0.0)))
                        nbytes += len(m.value or b"") + len(m.key or b"")
                bar.update(
                    task, completed=len(events), rate=f"{len(events) / max(now - t0, 1e-9):,.0f} rec/s"
                )
        elapsed = max(time.perf_counter() - t0, 1e-9)
    finally:
        cons.close(autocommit=group is not None)
    s = summary("e2e", len(events), nbytes, elapsed, [e[1] for e in events])
    s.update(topic=topic)
    if as_json:
        print_json(s)
    else:
        print_summary(f"Consumer: {len(events)} records from {topic!r}", s, "E2E LATENCY")
    if plot_path:
        avg_size = nbytes // max(len(events), 1)
        plot(plot_path, events, avg_size, f"kafkakit consumer from {topic}", "end-to-end latency")
        click.echo(f"Plot written to {plot_path}", err=True)
