"""Shared pieces of the ``kafkakit`` command line: options, error handling, clients, output.

How it works: ``@kafka_command`` gives a click command the options every command takes
(``--bootstrap-server``, ``--timeout``, ``-X KEY=VALUE`` client configs, ``--debug``) and hands the
function a ``Common`` holding them, with helpers that build clients against that server: each
client gets the ``-X`` keys its kind knows (security options reach every client). It also turns any exception into a
``CliError``: one line on stderr (``kafkakit <command>: error: ...``) and exit code 1, with the
traceback printed first under ``--debug``. Output helpers render rich tables (never wrapped when
stdout is not a terminal) and JSON.

What it must never do: print a traceback without ``--debug``, write anything but results to
stdout (progress and messages go to stderr), or let library log records clutter stderr unless
``--debug`` asked for them.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kafkakit.errors import KafkaError, UnknownTopicOrPartitionError

if TYPE_CHECKING:
    from rich.console import Console

    from kafkakit import KafkaAdminClient, KafkaConsumer, KafkaProducer

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_BOOTSTRAP = "localhost:9092"
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")


class CliError(click.ClickException):
    """A failure to report on one stderr line, exit code 1."""

    exit_code = 1


def one_line(exc: BaseException) -> str:
    """The error as one readable line: kafkakit errors already name their class."""
    if isinstance(exc, KafkaError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        name = f" {exc.filename!r}" if exc.filename else ""
        text = f"{exc.strerror}{name}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return re.sub(r"\s*\n\s*", " ", text).strip()


def setup_logging(debug: bool) -> None:
    """--debug: library logs to stderr at DEBUG; otherwise logs and warnings stay silent."""
    if debug:
        logging.disable(logging.NOTSET)
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    else:
        logging.disable(logging.CRITICAL)
        warnings.simplefilter("ignore")  # e.g. an un-awaited coroutine left behind by Ctrl-C


@dataclass
class Common:
    """The options every command takes, and clients built from them."""

    bootstrap_server: str | None
    timeout: float
    debug: bool
    extra: dict[str, Any] = field(default_factory=dict)  # -X KEY=VALUE

    def _base(self, kind: str) -> dict[str, Any]:
        from kafkakit.client.config import config_keys

        if self.bootstrap_server is None:
            raise CliError("no --bootstrap-server given")
        known = config_keys(kind)
        return {
            "bootstrap_servers": self.bootstrap_server,
            "bootstrap_timeout_ms": int(self.timeout * 1000),
            **{k: v for k, v in self.extra.items() if k in known},
        }

    def admin(self) -> KafkaAdminClient:
        from kafkakit import KafkaAdminClient

        return KafkaAdminClient(**{"client_id": "kafkakit-cli-admin", **self._base("admin")})

    def producer(self, **configs: Any) -> KafkaProducer:
        from kafkakit import KafkaProducer

        return KafkaProducer(**{"client_id": "kafkakit-cli-producer", **configs, **self._base("producer")})

    def consumer(self, *topics: str, **configs: Any) -> KafkaConsumer:
        from kafkakit import KafkaConsumer

        return KafkaConsumer(
            *topics, **{"client_id": "kafkakit-cli-consumer", **configs, **self._base("consumer")}
        )


def client_configs(pairs: Sequence[str]) -> dict[str, Any]:
    """``-X KEY=VALUE`` options as client configs: kafka-python's names (dots read as underscores),
    values as int, float, bool or None when they read so, else strings. Unknown keys are refused."""
    from kafkakit.client.config import config_keys

    known = config_keys("producer") | config_keys("consumer") | config_keys("admin")
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace(".", "_").replace("-", "_")
        if not sep or not key:
            raise CliError(f"-X {pair!r}: expected KEY=VALUE, e.g. -X security_protocol=SASL_SSL")
        if key not in known:
            raise CliError(f"-X {key}: not a client config (kafka-python's names, e.g. sasl_mechanism)")
        value: Any = text
        low = text.strip().lower()
        if low in ("true", "false"):
            value = low == "true"
        elif low in ("none", "null"):
            value = None
        else:
            for conv in (int, float):
                try:
                    value = conv(text)
                    break
                except ValueError:
                    continue
        if key.endswith(("_password", "_username", "_id", "_name")) and isinstance(value, (int, float)):
            value = text  # (a numeric password is still a string)
        out[key] = value
    return out


def topic_partitions(admin: KafkaAdminClient, topic: str) -> list[int]:
    """Partition ids of ``topic``; CliError naming it when it does not exist."""
    try:
        described = admin.describe_topics([topic])
    except UnknownTopicOrPartitionError:
        raise CliError(
            f"topic {topic!r} does not exist (create it with: kafkakit topics create {topic})"
        ) from None
    return sorted(p["partition_index"] for p in described[0]["partitions"])


def kafka_command(fn: F) -> F:
    """Add --bootstrap-server/--timeout/--debug, pass ``common`` first, and report errors on one line."""
    return kafka_command_with(DEFAULT_BOOTSTRAP, "Kafka broker(s) to connect to")(fn)


def kafka_command_with(bootstrap_default: str | None, bootstrap_help: str) -> Callable[[F], F]:
    """``kafka_command`` with another --bootstrap-server default (None: the command decides)."""
    return functools.partial(_decorate, bootstrap_default=bootstrap_default, bootstrap_help=bootstrap_help)


def _decorate(fn: F, *, bootstrap_default: str | None, bootstrap_help: str) -> F:

    @functools.wraps(fn)
    def wrapper(
        *args: Any,
        bootstrap_server: str | None,
        timeout: float,
        client_config: tuple[str, ...],
        debug: bool,
        **kwargs: Any,
    ) -> Any:
        ctx = click.get_current_context()
        root = ctx.find_root()
        debug = debug or bool((root.obj or {}).get("debug"))
        setup_logging(debug)
        common = Common(bootstrap_server, timeout, debug, client_configs(client_config))
        try:
            return fn(common, *args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            if debug:
                traceback.print_exc()
            raise CliError(one_line(exc)) from exc

    options = [
        click.option(
            "--bootstrap-server",
            "-b",
            default=bootstrap_default,
            show_default=bootstrap_default is not None,
            envvar="KAFKAKIT_BOOTSTRAP_SERVER",
            metavar="HOST:PORT[,...]",
            help=f"{bootstrap_help} (env KAFKAKIT_BOOTSTRAP_SERVER).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1),
            default=10.0,
            show_default=True,
            metavar="SECONDS",
            help="How long to wait for the cluster to answer before giving up.",
        ),
        click.option(
            "--client-config",
            "-X",
            multiple=True,
            metavar="KEY=VALUE",
            help="A client config, repeatable (kafka-python's names), e.g. -X security_protocol=SASL_SSL "
            "-X sasl_mechanism=SCRAM-SHA-256 -X sasl_plain_username=me -X ssl_cafile=ca.pem.",
        ),
        click.option("--debug", is_flag=True, help="Show library logs and full tracebacks."),
    ]
    out: Any = wrapper
    for opt in reversed(options):
        out = opt(out)
    return out  # type: ignore[no-any-return]


# --- parsing helpers ---------------------------------------------------------------------------


def parse_pairs(text: str | None, what: str) -> list[tuple[str, str]]:
    """'k=v,k2=v2' -> [('k', 'v'), ('k2', 'v2')]; BadParameter naming the bad item."""
    if not text:
        return []
    out = []
    for item in text.split(","):
        if "=" not in item or not item.split("=", 1)[0]:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint=what)
        k, v = item.split("=", 1)
        out.append((k.strip(), v))
    return out


def acks_value(text: str) -> int:
    return -1 if text == "all" else int(text)


# --- output ------------------------------------------------------------------------------------


def stdout_console() -> Console:
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=200, no_color=True, soft_wrap=True)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    title: str | None = None,
    console: Console | None = None,
) -> None:
    """A rich table on stdout; numbers right-aligned."""
    from rich import box
    from rich.table import Table

    rows = [["" if v is None else str(v) for v in row] for row in rows]
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for i, col in enumerate(columns):
        numeric = bool(rows) and all(re.fullmatch(r"-?[\d.,]+", r[i] or "0") for r in rows)
        table.add_column(col, justify="right" if numeric else "left", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    (console or stdout_console()).print(table)


def print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False, default=str))


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, nearest-rank; 0 when empty."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, int(round(q / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def latency_row(label: str, values_ms: Sequence[float]) -> list[str]:
    v = sorted(values_ms)
    avg = sum(v) / len(v) if v else 0.0
    return [label] + [
        f"{x:.2f}"
        for x in (avg, percentile(v, 50), percentile(v, 95), percentile(v, 99), v[-1] if v else 0.0)
    ]
