"""``kafkakit groups list|describe|delete|reset-offsets``: consumer-group administration.

How it works: one KafkaAdminClient per command. describe joins the group description (state,
members and their assignments) with the committed offsets and each partition's end offset, and
shows the lag (end - committed) per partition. reset-offsets computes the new offsets (earliest,
latest, an offset, a time, or a shift), prints the plan, and commits it only with --execute, and
only when the group has no live members.

What it must never do: change offsets without --execute, or reset a group whose consumers are
running (their next commit would undo it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from kafkakit.cli.common import CliError, Common, kafka_command, print_json, print_table


@click.group()
def groups() -> None:
    """List, describe, delete consumer groups and reset their offsets."""


@groups.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@kafka_command
def list_(common: Common, as_json: bool) -> None:
    """Show every group with its state."""
    with common.admin() as admin:
        found = sorted(admin.list_groups(), key=lambda g: g["group_id"])
    if as_json:
        print_json(found)
        return
    print_table(
        ["GROUP", "STATE", "TYPE", "PROTOCOL"],
        [[g["group_id"], g["group_state"], g["group_type"], g["protocol_type"]] for g in found],
    )


def _describe(admin: Any, group: str) -> dict[str, Any]:
    from kafkakit.client.admin import OffsetSpec
    from kafkakit.structs import TopicPartition

    desc = admin.describe_groups([group])[group]
    if desc["error"]:
        raise CliError(desc["error"])
    if desc["group_state"] == "Dead":
        raise CliError(f"group {group!r} does not exist")
    owner: dict[Any, dict[str, Any]] = {}
    for m in desc["members"]:
        a = m["member_assignment"]
        if isinstance(a, dict):
            for row in a["assigned_partitions"]:
                for p in row["partitions"]:
                    owner[TopicPartition(row["topic"], p)] = m
    committed = admin.list_group_offsets(group)[group]
    tps = sorted(set(committed) | set(owner))
    end = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps}) if tps else {}
    partitions = []
    for tp in tps:
        c = committed.get(tp)
        off = c.offset if c is not None and c.offset >= 0 else None
        log_end = end[tp].offset
        m = owner.get(tp)
        partitions.append(
            {
                "topic": tp.topic,
                "partition": tp.partition,
                "committed_offset": off,
                "end_offset": log_end,
                "lag": None if off is None else max(log_end - off, 0),
                "member_id": m["member_id"] if m else None,
                "client_id": m["client_id"] if m else None,
                "host": m["client_host"] if m else None,
            }
        )
    return {
        "group": group,
        "state": desc["group_state"],
        "protocol_type": desc["protocol_type"],
        "assignor": desc["protocol_data"],
        "members": len(desc["members"]),
        "partitions": partitions,
    }


@groups.command()
@click.argument("names", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@kafka_command
def describe(common: Common, names: tuple[str, ...], as_json: bool) -> None:
    """Show state, members, committed offsets and lag per partition."""
    with common.admin() as admin:
        found = [_describe(admin, g) for g in names]
    if as_json:
        print_json(found)
        return
    for d in found:
        total = sum(p["lag"] or 0 for p in d["partitions"])
        title = (
            f"Group {d['group']}  state={d['state']}  members={d['members']}  "
            f"assignor={d['assignor'] or '-'}  total lag={total}"
        )
        print_table(
            ["TOPIC", "PARTITION", "COMMITTED", "END OFFSET", "LAG", "MEMBER", "CLIENT", "HOST"],
            [
                [
                    p["topic"],
                    p["partition"],
                    "-" if p["committed_offset"] is None else p["committed_offset"],
                    p["end_offset"],
                    "-" if p["lag"] is None else p["lag"],
                    p["member_id"] or "-",
                    p["client_id"] or "-",
                    p["host"] or "-",
                ]
                for p in d["partitions"]
            ],
            title=title,
        )


@groups.command()
@click.argument("names", nargs=-1, required=True)
@kafka_command
def delete(common: Common, names: tuple[str, ...]) -> None:
    """Delete groups (they must have no live members)."""
    with common.admin() as admin:
        result = admin.delete_groups(list(names))
    failed = {g: r for g, r in result.items() if r != "OK"}
    for g, r in result.items():
        if r == "OK":
            click.echo(f"Deleted group {g!r}.")
    if failed:
        raise CliError("could not delete " + "; ".join(f"group {g!r}: {r}" for g, r in failed.items()))


def _targets(admin: Any, group: str, topics: tuple[str, ...], all_topics: bool) -> list[Any]:
    from kafkakit.structs import TopicPartition

    if all_topics:
        tps = sorted(admin.list_group_offsets(group)[group])
        if not tps:
            raise CliError(f"group {group!r} has no committed offsets; name the topics with --topic")
        return tps
    if not topics:
        raise click.UsageError("give --topic TOPIC[:P,...] (repeatable) or --all-topics")
    out: list[TopicPartition] = []
    for spec in topics:
        name, _, plist = spec.partition(":")
        described = admin.describe_topics([name])[0]
        known = sorted(p["partition_index"] for p in described["partitions"])
        if plist:
            try:
                wanted = [int(p) for p in plist.split(",")]
            except ValueError:
                raise click.BadParameter(
                    f"{spec!r}: partitions must be numbers", param_hint="--topic"
                ) from None
            missing = [p for p in wanted if p not in known]
            if missing:
                raise CliError(f"topic {name!r} has no partition(s) {missing}")
        else:
            wanted = known
        out.extend(TopicPartition(name, p) for p in wanted)
    return out


@groups.command("reset-offsets")
@click.argument("group")
@click.option(
    "--topic", "-t", "topics", multiple=True, metavar="TOPIC[:P,...]", help="Partitions to reset; repeatable."
)
@click.option("--all-topics", is_flag=True, help="Every partition the group has committed offsets for.")
@click.option("--to-earliest", "mode", flag_value="earliest", help="Reset to the earliest offset.")
@click.option("--to-latest", "mode", flag_value="latest", help="Reset to the end of each partition.")
@click.option("--to-offset", type=click.IntRange(min=0), default=None, help="Reset to this offset.")
@click.option(
    "--to-datetime",
    type=click.DateTime(),
    default=None,
    help="Reset to the first record at or after this local time.",
)
@click.option("--shift-by", type=int, default=None, help="Move each committed offset by N (negative: back).")
@click.option("--execute", is_flag=True, help="Commit the new offsets (without it: only show them).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@kafka_command
def reset_offsets(
    common: Common,
    group: str,
    topics: tuple[str, ...],
    all_topics: bool,
    mode: str | None,
    to_offset: int | None,
    to_datetime: datetime | None,
    shift_by: int | None,
    execute: bool,
    as_json: bool,
) -> None:
    """Reset GROUP's committed offsets (dry run unless --execute)."""
    from kafkakit.client.admin import OffsetSpec, OffsetTimestamp

    chosen = [x for x in (mode, to_offset, to_datetime, shift_by) if x is not None]
    if len(chosen) != 1:
        raise click.UsageError(
            "choose exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by"
        )
    with common.admin() as admin:
        desc = admin.describe_groups([group])[group]
        if desc["members"]:
            raise CliError(
                f"group {group!r} has {len(desc['members'])} live member(s) (state {desc['group_state']}); "
                "stop its consumers first"
            )
        tps = _targets(admin, group, topics, all_topics)
        committed = admin.list_group_offsets({group: tps})[group]
        earliest = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps})
        latest = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps})
        specs: dict[Any, Any] = {}
        for tp in tps:
            if mode == "earliest":
                specs[tp] = OffsetSpec.EARLIEST
            elif mode == "latest":
                specs[tp] = OffsetSpec.LATEST
            elif to_offset is not None:
                specs[tp] = to_offset
            elif to_datetime is not None:
                specs[tp] = OffsetTimestamp(int(to_datetime.timestamp() * 1000))
            else:
                cur = committed.get(tp)
                base = cur.offset if cur is not None and cur.offset >= 0 else earliest[tp].offset
                specs[tp] = max(base + (shift_by or 0), 0)
        if execute:
            result = admin.reset_group_offsets(group, specs)
            plan = {tp: r["offset"] for tp, r in result.items()}
            errors = {tp: r["error"] for tp, r in result.items() if r["error"].errno}
        else:
            plan = _preview(admin, specs, earliest, latest)
            errors = {}
    rows = []
    for tp in tps:
        cur = committed.get(tp)
        rows.append(
            {
                "topic": tp.topic,
                "partition": tp.partition,
                "current_offset": cur.offset if cur is not None and cur.offset >= 0 else None,
                "new_offset": plan.get(tp),
            }
        )
    if as_json:
        print_json({"group": group, "executed": execute, "partitions": rows})
    else:
        print_table(
            ["TOPIC", "PARTITION", "CURRENT OFFSET", "NEW OFFSET"],
            [
                [
                    r["topic"],
                    r["partition"],
                    "-" if r["current_offset"] is None else r["current_offset"],
                    r["new_offset"],
                ]
                for r in rows
            ],
            title=f"Group {group}: " + ("offsets reset" if execute else "dry run (add --execute to apply)"),
        )
    if errors:
        raise CliError("; ".join(f"{tp.topic}-{tp.partition}: {err.__name__}" for tp, err in errors.items()))


def _preview(
    admin: Any, specs: dict[Any, Any], earliest: dict[Any, Any], latest: dict[Any, Any]
) -> dict[Any, int]:
    """The offsets reset_group_offsets would commit, without committing."""
    from kafkakit.client.admin import OffsetSpec, OffsetTimestamp

    resolve = {tp: s for tp, s in specs.items() if isinstance(s, (OffsetSpec, OffsetTimestamp))}
    resolved = admin.list_partition_offsets(resolve) if resolve else {}
    out = {}
    for tp, s in specs.items():
        raw = resolved[tp].offset if tp in resolved else s
        lo, hi = earliest[tp].offset, latest[tp].offset
        out[tp] = hi if raw < 0 or raw > hi else max(raw, lo)
    return out
