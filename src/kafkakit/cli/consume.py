"""``kafkakit consume TOPIC``: print records as they arrive.

How it works: checks the topic exists, then consumes with one KafkaConsumer: as a member of
--group (subscription, committed offsets, auto-commit) or, without a group, by assigning every
partition (or just --partition). --from-beginning starts at the earliest offset where no committed
offset says otherwise; --partition with --offset starts there. Each record prints as its value
(--format value) or as one JSON object per line (--format json: topic, partition, offset,
timestamp, key, value, headers; bytes decoded as UTF-8, undecodable bytes escaped). It stops after
--max-messages, after --idle-timeout seconds without a record, or on Ctrl-C; in every case the
consumer is closed with autocommit, so a group's offsets cover exactly what was printed.

What it must never do: lose the group's progress on Ctrl-C, or print a record twice.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from kafkakit.cli.common import CliError, Common, kafka_command, topic_partitions


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
    configs: dict[str, Any] = {
        "group_id": group,
        "auto_offset_reset": "earliest" if from_beginning else "latest",
        "enable_auto_commit": group is not None,
    }
    if idle_timeout is not None:
        configs["consumer_timeout_ms"] = idle_timeout * 1000.0
    consumer = common.consumer(**configs)
    count = 0
    interrupted = False
    tty = sys.stdout.isatty()
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
        out = sys.stdout
        for msg in consumer:
            out.write(_render(msg, fmt))
            out.write("\n")
            count += 1
            if tty or count % 1000 == 0:
                out.flush()
            if max_messages is not None and count >= max_messages:
                break
        out.flush()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        try:
            consumer.close(autocommit=True)
        except KeyboardInterrupt:
            interrupted = True
    sys.stdout.flush()
    note = " (interrupted)" if interrupted else ""
    click.echo(f"Consumed {count} record(s) from {topic!r}{note}.", err=True)
