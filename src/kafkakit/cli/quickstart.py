"""``kafkakit quickstart``: the end-to-end demo behind ``make run``.

How it works: starts an embedded broker in a temporary data dir (or uses --bootstrap-server),
creates a topic with --partitions partitions, starts a group of --consumers KafkaConsumer threads
and waits until the group has assigned every partition, then produces --records records (value =
8-byte sequence number + padding) with a progress bar while the consumers read them. Each consumer
notes every sequence number it sees and its end-to-end latency (arrival minus record timestamp).
When every number has arrived (or nothing arrived for --idle-timeout seconds) the consumers close,
committing their offsets, and the summary shows produce/consume throughput, latency percentiles,
the partitions and records per member, and the group's final lag read back with the admin client.
The check passes when every record arrived exactly once and the final lag is 0; otherwise the
command exits 1. On an external cluster the topic and group are deleted afterwards (--keep keeps
them).

What it must never do: report success without checking every sequence number, or leave the
embedded broker or its temporary data dir behind.
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import click

from kafkakit.cli.common import (
    CliError,
    Common,
    kafka_command_with,
    latency_row,
    print_table,
    stderr_console,
)

_SEQ = struct.Struct(">Q")
MB = 1024 * 1024


@dataclass
class Member:
    """What one consumer thread saw (written by that thread only, read after it stopped)."""

    index: int
    seen: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    assignment: set[Any] = field(default_factory=set)
    first_at: float = 0.0
    last_at: float = 0.0
    error: BaseException | None = None


def _consume(
    common: Common, topic: str, group: str, m: Member, stop: threading.Event, ready: threading.Event
) -> None:
    try:
        consumer = common.consumer(
            topic,
            group_id=group,
            client_id=f"quickstart-consumer-{m.index}",
            auto_offset_reset="earliest",
            enable_auto_commit=True,
            max_poll_records=2000,
        )
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        m.error = exc
        ready.set()
        return
    try:
        while not stop.is_set():
            batch = consumer.poll(timeout_ms=100)
            m.assignment = set(consumer.assignment())
            ready.set()
            if not batch:
                continue
            now = time.perf_counter()
            wall = time.time() * 1000.0
            if not m.first_at:
                m.first_at = now
            m.last_at = now
            for msgs in batch.values():
                for r in msgs:
                    m.seen.append(_SEQ.unpack_from(r.value, 0)[0])
                    m.latencies_ms.append(max(wall - r.timestamp, 0.0))
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        m.error = exc
    finally:
        try:
            consumer.close(autocommit=True)
        except BaseException as exc:  # noqa: BLE001
            m.error = m.error or exc


@contextlib.contextmanager
def _cluster(common: Common) -> Iterator[tuple[str, bool]]:
    """(bootstrap servers, embedded?) — an embedded broker in a temp dir when none was given."""
    if common.bootstrap_server is not None:
        yield common.bootstrap_server, False
        return
    from kafkakit.broker import Broker

    with Broker() as broker:
        click.echo(
            f"Started an embedded broker on {broker.bootstrap_servers} (temporary data dir).", err=True
        )
        yield broker.bootstrap_servers, True


@click.command()
@click.option("--records", "-n", type=click.IntRange(min=1), default=200_000, show_default=True)
@click.option(
    "--record-size", type=click.IntRange(min=8), default=100, show_default=True, help="Bytes per value."
)
@click.option("--partitions", type=click.IntRange(min=1), default=6, show_default=True)
@click.option(
    "--consumers", type=click.IntRange(min=1), default=3, show_default=True, help="Members of the group."
)
@click.option(
    "--idle-timeout", type=click.FloatRange(min=1.0), default=30.0, show_default=True, metavar="SECONDS"
)
@click.option("--keep", is_flag=True, help="On an external cluster: keep the topic and group afterwards.")
@kafka_command_with(None, "Run against this cluster instead of an embedded broker")
def quickstart(
    common: Common,
    records: int,
    record_size: int,
    partitions: int,
    consumers: int,
    idle_timeout: float,
    keep: bool,
) -> None:
    """Produce and consume records through a consumer group, then check every one arrived once."""
    with _cluster(common) as (servers, embedded):
        common.bootstrap_server = servers
        run = f"{uuid.uuid4().hex[:8]}"
        topic, group = f"quickstart-{run}", f"quickstart-group-{run}"
        with common.admin() as admin:
            admin.create_topics({topic: {"num_partitions": partitions}}, wait_for_metadata=True)
            try:
                ok = _run(
                    common, admin, topic, group, records, record_size, partitions, consumers, idle_timeout
                )
            finally:
                if not embedded and not keep:
                    with contextlib.suppress(Exception):
                        admin.delete_groups([group])
                    with contextlib.suppress(Exception):
                        admin.delete_topics([topic])
    if not ok:
        raise CliError("quickstart check FAILED (see the summary above)")


def _run(
    common: Common,
    admin: Any,
    topic: str,
    group: str,
    records: int,
    record_size: int,
    partitions: int,
    consumers: int,
    idle_timeout: float,
) -> bool:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    stop = threading.Event()
    members = [Member(i) for i in range(consumers)]
    readies = [threading.Event() for _ in members]
    threads = [
        threading.Thread(
            target=_consume, args=(common, topic, group, m, stop, r), name=f"qs-consumer-{m.index}"
        )
        for m, r in zip(members, readies, strict=True)
    ]
    for t in threads:
        t.start()
    produced_at = produce_end = 0.0
    try:
        _wait_for_group(members, readies, partitions, common.timeout + 60.0)
        producer = common.producer(linger_ms=5, batch_size=65536, acks=1)
        padding = b"\x00" * (record_size - _SEQ.size)
        cols = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*cols, console=stderr_console()) as bar:
            ptask = bar.add_task("produced", total=records)
            ctask = bar.add_task("consumed", total=records)
            produced_at = time.perf_counter()
            next_ui = 0.0
            try:
                for seq in range(records):
                    producer.send(topic, _SEQ.pack(seq) + padding)
                    if seq % 1000 == 0 and time.perf_counter() >= next_ui:
                        bar.update(ptask, completed=seq)
                        bar.update(ctask, completed=sum(len(m.seen) for m in members))
                        next_ui = time.perf_counter() + 0.1
                producer.flush()
            finally:
                producer.close()
            produce_end = time.perf_counter()
            bar.update(ptask, completed=records)
            last_count, last_change = -1, time.perf_counter()
            while True:
                count = sum(len(m.seen) for m in members)
                bar.update(ctask, completed=min(count, records))
                if count >= records or any(m.error for m in members):
                    break
                if count != last_count:
                    last_count, last_change = count, time.perf_counter()
                elif time.perf_counter() - last_change > idle_timeout:
                    break
                time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    for m in members:
        if m.error is not None:
            raise m.error
    return _report(admin, topic, group, records, record_size, members, produced_at, produce_end)


def _wait_for_group(
    members: list[Member], readies: list[threading.Event], partitions: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    for r in readies:
        r.wait(max(deadline - time.monotonic(), 0.0))
    for m in members:
        if m.error is not None:
            raise m.error
    want = min(len(members), partitions)
    console = stderr_console()
    with console.status(f"waiting for {len(members)} consumers to join the group..."):
        while time.monotonic() < deadline:
            sizes = [len(m.assignment) for m in members]
            if sum(sizes) == partitions and sum(1 for s in sizes if s) == want:
                return
            if any(m.error for m in members):
                raise next(m.error for m in members if m.error is not None)
            time.sleep(0.05)
    raise CliError(f"the consumer group did not assign all {partitions} partitions within {timeout:.0f} s")


def _report(
    admin: Any,
    topic: str,
    group: str,
    records: int,
    record_size: int,
    members: list[Member],
    produced_at: float,
    produce_end: float,
) -> bool:
    from kafkakit.client.admin import OffsetSpec
    from kafkakit.structs import TopicPartition

    seen_total = sum(len(m.seen) for m in members)
    unique = set()
    for m in members:
        unique.update(m.seen)
    duplicates = seen_total - len(unique)
    missing = records - len(unique & set(range(records)))
    first = min((m.first_at for m in members if m.first_at), default=produced_at)
    last = max((m.last_at for m in members), default=produce_end)
    produce_s = max(produce_end - produced_at, 1e-9)
    consume_s = max(last - first, 1e-9)
    parts = sorted({p["partition_index"] for p in admin.describe_topics([topic])[0]["partitions"]})
    tps = [TopicPartition(topic, p) for p in parts]
    committed = admin.list_group_offsets(group)[group]
    end = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps})
    lag = sum(
        end[tp].offset - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
        for tp in tps
    )
    print_table(
        ["STAGE", "RECORDS", "SECONDS", "RECORDS/S", "MB/S"],
        [
            [
                "produce",
                records,
                f"{produce_s:.2f}",
                f"{records / produce_s:,.0f}",
                f"{records * record_size / MB / produce_s:.2f}",
            ],
            [
                "consume",
                seen_total,
                f"{consume_s:.2f}",
                f"{seen_total / consume_s:,.0f}",
                f"{seen_total * record_size / MB / consume_s:.2f}",
            ],
        ],
        title=f"Throughput ({record_size}-byte records, topic {topic})",
    )
    print_table(
        ["", "AVG", "P50", "P95", "P99", "MAX (ms)"],
        [latency_row("end-to-end", [x for m in members for x in m.latencies_ms])],
        title="Latency (record timestamp to consumer)",
    )
    print_table(
        ["MEMBER", "PARTITIONS", "ASSIGNED", "RECORDS"],
        [
            [
                f"consumer-{m.index}",
                len(m.assignment),
                ",".join(str(tp.partition) for tp in sorted(m.assignment)),
                len(m.seen),
            ]
            for m in members
        ],
        title=f"Group {group}",
    )
    ok = missing == 0 and duplicates == 0 and lag == 0
    print_table(
        ["CHECK", "RESULT"],
        [
            [
                "records delivered exactly once",
                "yes"
                if missing == 0 and duplicates == 0
                else f"NO ({missing} missing, {duplicates} duplicated)",
            ],
            ["final consumer lag (admin client)", str(lag)],
            ["overall", "PASS" if ok else "FAIL"],
        ],
        title="Check",
    )
    return ok
