"""The ``kafkakit`` command (console script and ``python -m kafkakit``).

How it works: a click group with one sub-command (or group) per module: produce, consume, topics,
groups, bench, quickstart, and ``broker``, which hands its arguments untouched to the embedded
broker's own parser (``kafkakit.broker.cli.main``). ``main()`` runs click in non-standalone mode so
every failure is reported here on exactly one stderr line: usage errors (bad flag, bad value,
unreadable file) exit 2, command failures exit 1, Ctrl-C exits 130; ``--debug`` anywhere on the
command line shows the traceback too.

What it must never do: print a traceback without ``--debug``, or swallow a command's exit code.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

import click

from kafkakit import __version__
from kafkakit.cli import bench, consume, groups, produce, quickstart, topics
from kafkakit.cli.common import one_line, setup_logging

__all__ = ["cli", "main"]

# click >= 8.2 raises this for a group called without a sub-command (older versions print help)
_NO_ARGS_IS_HELP: type[Exception] = getattr(
    click.exceptions, "NoArgsIsHelpError", type("_Never", (Exception,), {})
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="kafkakit")
@click.option("--debug", is_flag=True, help="Show library logs and full tracebacks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """kafkakit: a pure-Python Kafka client and embedded broker.

    Every command takes --bootstrap-server (default localhost:9092). Try
    `kafkakit quickstart` for a demo on an embedded broker.
    """
    ctx.obj = {"debug": debug}


@cli.command(
    "broker",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def broker(args: tuple[str, ...]) -> int:
    """Run the embedded Kafka-compatible broker (see `kafkakit broker --help`)."""
    from kafkakit.broker.cli import main as broker_main

    return broker_main(list(args))


cli.add_command(produce.produce)
cli.add_command(consume.consume)
cli.add_command(topics.topics)
cli.add_command(groups.groups)
cli.add_command(bench.bench)
cli.add_command(quickstart.quickstart)


def _usage_line(exc: click.UsageError) -> str:
    path = exc.ctx.command_path if exc.ctx is not None else "kafkakit"
    message = " ".join(exc.format_message().split())
    return f"{path}: error: {message} (see '{path} --help')"


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``kafkakit`` console script; exits with the command's status."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args and (not args or args[0] != "broker")
    try:
        rv = cli.main(args=args, prog_name="kafkakit", standalone_mode=False)
    except click.UsageError as exc:
        if isinstance(exc, _NO_ARGS_IS_HELP) and exc.ctx is not None:  # `kafkakit`, `kafkakit topics`
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        click.echo(_usage_line(exc), err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        path = _command_path(args)
        click.echo(f"{path}: error: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo("kafkakit: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - a bug outside any command: still one line
        if debug:
            setup_logging(True)
            traceback.print_exc()
        click.echo(f"kafkakit: error: {one_line(exc)}", err=True)
        sys.exit(1)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    sys.exit(rv if isinstance(rv, int) else 0)


def _command_path(args: list[str]) -> str:
    words = ["kafkakit"]
    group: click.Group | None = cli
    for a in args:
        if a.startswith("-") or group is None:
            continue
        cmd = group.commands.get(a)
        if cmd is None:
            break
        words.append(a)
        group = cmd if isinstance(cmd, click.Group) else None
    return " ".join(words)


def _quiet_stdout() -> None:
    """After a closed pipe (``| head``): point stdout at /dev/null so exit does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


if __name__ == "__main__":
    main()
