"""``kafkakit consume TOPIC``: print records as they arrive.

How it works: checks the topic exists, then consumes with one KafkaConsumer: as a member of
--group (subscription and committed offsets) or, without a group, by assigning every partition
(or just --partition). --from-beginning starts at the earliest offset where no committed offset
says otherwise; --partition with --offset starts there. Each record prints as its value
(--format value) or as one JSON object per line (--format json: topic, partition, offset,
timestamp, key, value, headers; bytes decoded as UTF-8, undecodable bytes escaped). stdout is
flushed after every poll. It stops after --max-messages, after --idle-timeout seconds without a
record, or on Ctrl-C / SIGTERM (the first one ends the loop after the current poll, a second one
interrupts at once). With a group, the offsets committed are exactly those of the records
printed: after each poll at most once a second, and once more on the way out.

What it must never do: commit past a record it did not print, lose the group's progress on
Ctrl-C, or print a record twice.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import click

from kafkakit.cli.common import CliError, Common, kafka_command, topic_partitions

COMMIT_EVERY = 1.0  # seconds between commits of the printed offsets


def _text(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "backslashreplace")


def _render(msg: Any, fmt: str) -> str:
    if fmt == "value":
        return "null" if msg.value is None else msg.value.decode("utf-8", "backslashreplace")
    return json.dumps(
        {
            "topic": msg.topic,
            "partition": msg.partition,
            "offset": msg.offset,
            "timestamp": msg.timestamp,
            "key": _text(msg.key),
            "value": _text(msg.value),
            "headers": [[k, _text(v)] for k, v in (msg.headers or [])],
        },
        ensure_ascii=False,
    )


class _Stopper:
    """SIGINT/SIGTERM handler: the first signal asks the loop to stop after the current poll
    (so a record is never half handled); a second one interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, _signum: int, _frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


@dataclass
class _Progress:
    count: int = 0
    printed: dict[Any, int] = field(default_factory=dict)  # partition -> next offset to print
    committed: dict[Any, int] = field(default_factory=dict)


def _commit(consumer: Any, state: _Progress) -> None:
    from kafkakit.structs import OffsetAndMetadata

    todo = {tp: off for tp, off in state.printed.items() if state.committed.get(tp) != off}
    if todo:
        consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in todo.items()})
        state.committed.update(todo)


def _print_records(
    consumer: Any,
    group: str | None,
    fmt: str,
    limit: int | None,
    idle: float | None,
    state: _Progress,
    stop: _Stopper,
) -> None:
    out = sys.stdout
    last_record = last_commit = time.monotonic()
    while not stop.requested and (limit is None or state.count < limit):
        want = None if limit is None else limit - state.count
        batch = consumer.poll(timeout_ms=200, max_records=want)
        now = time.monotonic()
        if batch:
            last_record = now
            for tp, msgs in batch.items():
                for msg in msgs:
                    out.write(_render(msg, fmt))
                    out.write("\n")
                    state.count += 1
                    state.printed[tp] = msg.offset + 1
            out.flush()
        elif idle is not None and now - last_record >= idle:
            return
        if group is not None and now - last_commit >= COMMIT_EVERY:
            _commit(consumer, state)
            last_commit = now


@click.command()
@click.argument("topic")
@click.option(
    "--group", "-g", default=None, help="Consume as a member of this consumer group (offsets are committed)."
)
@click.option(
    "--from-beginning", is_flag=True, help="Start at the earliest offset when there is no committed one."
)
@click.option(
    "--max-messages", "-n", type=click.IntRange(min=1), default=None, help="Exit after this many records."
)
@click.option("--format", "fmt", type=click.Choice(["value", "json"]), default="value", show_default=True)
@click.option("--partition", "-p", type=click.IntRange(min=0), default=None, help="Read only this partition.")
@click.option(
    "--offset", "-o", type=click.IntRange(min=0), default=None, help="With --partition: start at this offset."
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0.0),
    default=None,
    metavar="SECONDS",
    help="Exit after this long without a record (default: wait forever).",
)
@kafka_command
def consume(
    common: Common,
    topic: str,
    group: str | None,
    from_beginning: bool,
    max_messages: int | None,
    fmt: str,
    partition: int | None,
    offset: int | None,
    idle_timeout: float | None,
) -> None:
    """Print records of TOPIC; Ctrl-C stops cleanly (offsets committed)."""
    from kafkakit.structs import TopicPartition

    if offset is not None and partition is None:
        raise click.BadParameter("needs --partition", param_hint="--offset")
    if group is not None and partition is not None:
        raise click.BadParameter(
            "cannot be combined with --group (a group assigns partitions)", param_hint="--partition"
        )
    with common.admin() as admin:
        parts = topic_partitions(admin, topic)
    if partition is not None and partition not in parts:
        raise CliError(f"topic {topic!r} has no partition {partition} (partitions: 0-{max(parts)})")
    consumer = common.consumer(
        group_id=group,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
    )
    state = _Progress()
    stop = _Stopper()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if group is not None:
            consumer.subscribe([topic])
        else:
            tps = [TopicPartition(topic, p) for p in ([partition] if partition is not None else parts)]
            consumer.assign(tps)
            if offset is not None:
                consumer.seek(tps[0], offset)
            elif from_beginning:
                consumer.seek_to_beginning(*tps)
            else:
                consumer.seek_to_end(*tps)
        _print_records(consumer, group, fmt, max_messages, idle_timeout, state, stop)
    except KeyboardInterrupt:
        stop.requested = True
    finally:
        try:
            sys.stdout.flush()
            if group is not None:
                _commit(consumer, state)
        finally:
            consumer.close(autocommit=False)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    interrupted = stop.requested
    note = " (interrupted)" if interrupted else ""
    committed = f", offsets committed for group {group!r}" if group is not None and state.committed else ""
    click.echo(f"Consumed {state.count} record(s) from {topic!r}{committed}{note}.", err=True)
