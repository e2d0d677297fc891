"""``kafkakit produce TOPIC``: send lines from stdin (or --file) as records.

How it works: checks the topic exists (unless --auto-create), then reads the input line by line
(bytes; the trailing newline is dropped), optionally splits each line into key and value at the
first --key-separator, attaches the --headers to every record and sends with one KafkaProducer
(acks, compression, linger as given). After flushing it prints one summary line: records, bytes,
partitions touched, elapsed time. Any failed delivery makes the command fail.

What it must never do: report success before every record was acknowledged (acks >= 1), or send
a line that has no key separator when one was required.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

import click

from kafkakit.cli.common import (
    COMPRESSIONS,
    CliError,
    Common,
    acks_value,
    kafka_command,
    parse_pairs,
    topic_partitions,
)


@click.command()
@click.argument("topic")
@click.option(
    "--file",
    "-f",
    "infile",
    type=click.File("rb"),
    default=None,
    help="Read lines from FILE instead of stdin.",
)
@click.option(
    "--key-separator", "-k", default=None, metavar="SEP", help="Split each line into KEY<SEP>VALUE."
)
@click.option("--headers", "-H", default=None, metavar="K=V,...", help="Headers added to every record.")
@click.option(
    "--partition", "-p", type=click.IntRange(min=0), default=None, help="Send every record to this partition."
)
@click.option("--compression", type=click.Choice(COMPRESSIONS), default="none", show_default=True)
@click.option("--acks", type=click.Choice(["0", "1", "all", "-1"]), default="1", show_default=True)
@click.option("--linger-ms", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--auto-create", is_flag=True, help="Let the broker create a missing topic (if it allows it).")
@kafka_command
def produce(
    common: Common,
    topic: str,
    infile: IO[bytes] | None,
    key_separator: str | None,
    headers: str | None,
    partition: int | None,
    compression: str,
    acks: str,
    linger_ms: int,
    auto_create: bool,
) -> None:
    """Send lines from stdin (or --file) to TOPIC, one record per line."""
    header_list = [(k, v.encode()) for k, v in parse_pairs(headers, "--headers")]
    if key_separator == "":
        raise click.BadParameter("must not be empty", param_hint="--key-separator")
    sep = key_separator.encode() if key_separator is not None else None
    if not auto_create:
        with common.admin() as admin:
            parts = topic_partitions(admin, topic)
        if partition is not None and partition not in parts:
            raise CliError(f"topic {topic!r} has no partition {partition} (partitions: 0-{max(parts)})")
    source = infile if infile is not None else sys.stdin.buffer
    producer = common.producer(
        acks=acks_value(acks),
        compression_type=None if compression == "none" else compression,
        linger_ms=linger_ms,
        allow_auto_create_topics=auto_create,
    )
    count = size = 0
    futures: list[Any] = []
    failures: list[BaseException] = []
    touched: set[int] = set()
    t0 = time.perf_counter()
    try:
        for lineno, raw in enumerate(source, 1):
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if line.endswith(b"\r"):
                line = line[:-1]
            key = None
            if sep is not None:
                if sep not in line:
                    raise CliError(f"line {lineno} has no key separator {key_separator!r}")
                key, line = line.split(sep, 1)
            fut = producer.send(topic, value=line, key=key, headers=header_list or None, partition=partition)
            futures.append(fut)
            count += 1
            size += len(line) + (len(key) if key else 0)
            if len(futures) >= 10000:
                _settle(futures, failures, touched)
        producer.flush()
        _settle(futures, failures, touched)
    finally:
        producer.close()
    elapsed = time.perf_counter() - t0
    if failures:
        raise CliError(f"{len(failures)} of {count} record(s) failed; first error: {failures[0]}")
    where = f"{len(touched)} partition(s)" if acks != "0" else "acks=0, unconfirmed"
    click.echo(f"Produced {count} record(s) ({size} bytes) to {topic!r} [{where}] in {elapsed:.2f} s.")


def _settle(futures: list[Any], failures: list[BaseException], touched: set[int]) -> None:
    for fut in futures:
        try:
            md = fut.get()
        except Exception as exc:  # noqa: BLE001 - collected and reported once
            failures.append(exc)
            continue
        if md.partition is not None and md.offset is not None and md.offset >= 0:
            touched.add(md.partition)
    futures.clear()
