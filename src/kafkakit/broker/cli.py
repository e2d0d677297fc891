"""``kafkakit broker``: run the embedded broker in the foreground until SIGTERM or Ctrl-C.

How it works: ``main(argv)`` parses the options, configures logging, and runs ``BrokerServer`` on
a fresh asyncio loop. SIGTERM and SIGINT set a stop event; the server then shuts down cleanly
(connections closed, logs flushed and closed, the clean-shutdown marker written) and ``main``
returns 0. A startup failure (port in use, data dir locked by another broker, unreadable data)
prints one line naming the problem and returns 1. The ``kafkakit`` click CLI calls ``main``;
``python -m kafkakit.broker`` does too.

What it must never do: exit without closing the logs on SIGTERM/SIGINT, or listen on an address
the user did not ask for.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from kafkakit.broker.server import BrokerServer
from kafkakit.broker.state import BrokerConfig

__all__ = ["main", "build_parser"]

_LEVELS = ("debug", "info", "warning", "error")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kafkakit broker",
        description="Run kafkakit's embedded Kafka-compatible broker (one node).",
    )
    p.add_argument(
        "--data-dir",
        default="./kafkakit-data",
        help="where topics and offsets are stored (default: %(default)s)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=9092,
        help="TCP port to listen on; 0 picks a free one (default: %(default)s)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument(
        "--advertised-host", default=None, help="host clients are told to connect to (default: --host)"
    )
    p.add_argument(
        "--node-id", type=int, default=1, help="broker id reported in metadata (default: %(default)s)"
    )
    p.add_argument(
        "--fsync",
        action="store_true",
        help="fsync appended data (grouped across producers) before acknowledging acks>=1 produce requests",
    )
    p.add_argument(
        "--log-level", default="info", choices=_LEVELS, help="logging level (default: %(default)s)"
    )
    p.add_argument(
        "--num-partitions",
        type=int,
        default=1,
        help="partitions of auto-created topics (default: %(default)s)",
    )
    p.add_argument(
        "--auto-create-topics",
        dest="auto_create_topics",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="create topics on first Metadata/Produce (default: on)",
    )
    return p


def config_from_args(args: argparse.Namespace) -> BrokerConfig:
    return BrokerConfig(
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        advertised_host=args.advertised_host,
        node_id=args.node_id,
        fsync=args.fsync,
        num_partitions=args.num_partitions,
        auto_create_topics_enable=args.auto_create_topics,
    )


async def serve(config: BrokerConfig, ready: asyncio.Event | None = None) -> None:
    """Run the broker until SIGTERM/SIGINT (or until cancelled), then stop it cleanly."""
    server = BrokerServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / platform
            pass
    try:
        await server.start()
        print(
            f"kafkakit broker listening on {config.host}:{server.port} (data dir {server.data_dir})",
            flush=True,
        )
        if ready is not None:
            ready.set()
        await stop.wait()
        logging.getLogger("kafkakit.broker").info("shutting down")
    finally:
        await server.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kafkakit broker``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"kafkakit broker: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
    except OSError as exc:
        print(f"kafkakit broker: cannot start on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"kafkakit broker: {exc}", file=sys.stderr)
        return 1
    return 0
