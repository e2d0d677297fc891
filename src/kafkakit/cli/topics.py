"""``kafkakit topics list|create|delete|describe``: topic administration.

How it works: each sub-command opens one KafkaAdminClient, does its work and prints either plain
lines / a table (default) or JSON (``--json``). describe shows every partition's leader, replicas,
in-sync replicas and start/end offsets, and the topic's non-default configs.

What it must never do: delete or create anything not named on the command line.
"""

from __future__ import annotations

from typing import Any

import click

from kafkakit.cli.common import CliError, Common, kafka_command, parse_pairs, print_json, print_table


@click.group()
def topics() -> None:
    """List, create, delete and describe topics."""


@topics.command("list")
@click.option("--internal", is_flag=True, help="Include internal topics (__consumer_offsets, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@kafka_command
def list_(common: Common, internal: bool, as_json: bool) -> None:
    """Print the topic names, one per line."""
    with common.admin() as admin:
        described = admin.describe_topics()
    names = sorted(t["name"] for t in described if internal or not t["is_internal"])
    if as_json:
        print_json(names)
    else:
        for n in names:
            click.echo(n)


@topics.command()
@click.argument("names", nargs=-1, required=True)
@click.option(
    "--partitions",
    "-p",
    type=click.IntRange(min=1),
    default=None,
    help="Partition count (default: broker's).",
)
@click.option(
    "--replication-factor",
    "-r",
    type=click.IntRange(min=1),
    default=None,
    help="Replicas per partition (default: broker's).",
)
@click.option(
    "--config", "-c", "configs", multiple=True, metavar="KEY=VALUE", help="Topic config; repeatable."
)
@click.option("--if-not-exists", is_flag=True, help="Succeed when the topic already exists.")
@kafka_command
def create(
    common: Common,
    names: tuple[str, ...],
    partitions: int | None,
    replication_factor: int | None,
    configs: tuple[str, ...],
    if_not_exists: bool,
) -> None:
    """Create topics."""
    topic_configs: dict[str, str] = {}
    for c in configs:
        topic_configs.update(parse_pairs(c, "--config"))
    spec = {
        n: {
            "num_partitions": partitions or -1,
            "replication_factor": replication_factor or -1,
            "configs": topic_configs,
        }
        for n in names
    }
    with common.admin() as admin:
        result = admin.create_topics(spec, raise_errors=False, wait_for_metadata=False)
        failed = []
        created = []
        for row in result["topics"]:
            if row["error_code"] == 0:
                created.append(row["name"])
            elif row["error_code"] == 36 and if_not_exists:  # TOPIC_ALREADY_EXISTS
                click.echo(f"Topic {row['name']!r} already exists.")
            else:
                failed.append(row)
        if created:
            admin.wait_for_topics(created)
    for name in created:
        click.echo(f"Created topic {name!r}.")
    if failed:
        from kafkakit.errors import for_code

        msg = "; ".join(
            f"{r['name']!r}: {r['error_message'] or for_code(r['error_code']).description}" for r in failed
        )
        raise CliError(f"could not create topic(s) {msg}")


@topics.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--if-exists", is_flag=True, help="Succeed when the topic does not exist.")
@kafka_command
def delete(common: Common, names: tuple[str, ...], if_exists: bool) -> None:
    """Delete topics (and all their records)."""
    with common.admin() as admin:
        result = admin.delete_topics(list(names), raise_errors=False)
    failed = []
    for row in result["topics"]:
        if row["error_code"] == 0:
            click.echo(f"Deleted topic {row['name']!r}.")
        elif row["error_code"] == 3 and if_exists:  # UNKNOWN_TOPIC_OR_PARTITION
            click.echo(f"Topic {row['name']!r} does not exist.")
        else:
            failed.append(row)
    if failed:
        from kafkakit.errors import for_code

        msg = "; ".join(
            f"{r['name']!r}: {r['error_message'] or for_code(r['error_code']).description}" for r in failed
        )
        raise CliError(f"could not delete topic(s) {msg}")


@topics.command()
@click.argument("names", nargs=-1)
@click.option("--internal", is_flag=True, help="With no names: include internal topics.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@kafka_command
def describe(common: Common, names: tuple[str, ...], internal: bool, as_json: bool) -> None:
    """Show partitions (leader, replicas, ISR, offsets) and modified configs of topics (default: all)."""
    from kafkakit.client.admin import ConfigResource, ConfigResourceType, OffsetSpec
    from kafkakit.structs import TopicPartition

    with common.admin() as admin:
        described = admin.describe_topics(list(names) if names else None)
        if not names:
            described = [t for t in described if internal or not t["is_internal"]]
        described.sort(key=lambda t: t["name"])
        tps = [TopicPartition(t["name"], p["partition_index"]) for t in described for p in t["partitions"]]
        start = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps}) if tps else {}
        end = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps}) if tps else {}
        configs = (
            admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t["name"]) for t in described])
            if described
            else {}
        )
    out: list[dict[str, Any]] = []
    for t in described:
        parts = []
        for p in sorted(t["partitions"], key=lambda p: p["partition_index"]):
            tp = TopicPartition(t["name"], p["partition_index"])
            parts.append(
                {
                    "partition": p["partition_index"],
                    "leader": p["leader_id"],
                    "replicas": p["replica_nodes"],
                    "isr": p["isr_nodes"],
                    "start_offset": start[tp].offset,
                    "end_offset": end[tp].offset,
                }
            )
        cfg = configs.get("topic", {}).get(t["name"], {})
        out.append(
            {
                "name": t["name"],
                "topic_id": t["topic_id"],
                "internal": t["is_internal"],
                "partitions": parts,
                "configs": {k: v["value"] for k, v in sorted(cfg.items())},
            }
        )
    if as_json:
        print_json(out)
        return
    for t in out:
        extra = ", ".join(f"{k}={v}" for k, v in t["configs"].items())
        title = f"Topic {t['name']}  id={t['topic_id']}  partitions={len(t['partitions'])}" + (
            f"  configs: {extra}" if extra else ""
        )
        print_table(
            ["PARTITION", "LEADER", "REPLICAS", "ISR", "START OFFSET", "END OFFSET"],
            [
                [
                    p["partition"],
                    p["leader"],
                    ",".join(map(str, p["replicas"])),
                    ",".join(map(str, p["isr"])),
                    p["start_offset"],
                    p["end_offset"],
                ]
                for p in t["partitions"]
            ],
            title=title,
        )
