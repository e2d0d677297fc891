"""The in-process broker: ``Broker`` runs a ``BrokerServer`` on a background thread's event loop.

How it works::

    with Broker() as broker:                   # temp data dir, free port on 127.0.0.1
        KafkaProducer(bootstrap_servers=broker.bootstrap_servers)

``start()`` creates the data dir (a temp dir when ``data_dir`` is None), starts a daemon thread
running its own asyncio loop, starts the server there and returns once it listens (re-raising any
startup error in the caller). ``stop()`` shuts the server down cleanly on that loop (flushing and
closing the logs, writing the clean-shutdown marker), ends the thread and removes the temp dir.
Keyword arguments other than ``data_dir``/``port``/``host`` are ``BrokerConfig`` fields.

What it must never do: return from ``start()`` before the port accepts connections, leave the
thread or a temp dir behind after ``stop()``, or share its event loop with the caller's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from kafkakit.broker.server import BrokerServer
from kafkakit.broker.state import BrokerConfig, BrokerState

__all__ = ["Broker"]

T = TypeVar("T")


class Broker:
    """A kafkakit broker running in this process (on its own thread)."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        **config: Any,
    ) -> None:
        unknown = set(config) - set(BrokerConfig.field_names())
        if unknown:
            raise TypeError(f"Broker() got unknown config key(s): {', '.join(sorted(unknown))}")
        self._temp_dir: str | None = None
        self._given_dir = data_dir
        self._config_kwargs = dict(config, host=host, port=port)
        self.config: BrokerConfig = BrokerConfig(data_dir=data_dir or ".", **self._config_kwargs)
        self._server: BrokerServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Broker:
        """Start serving; returns once clients can connect. Raises what startup raised."""
        if self._thread is not None:
            return self
        if self._given_dir is None:
            self._temp_dir = tempfile.mkdtemp(prefix="kafkakit-broker-")
            data_dir: str | os.PathLike[str] = self._temp_dir
        else:
            data_dir = self._given_dir
        self.config = BrokerConfig(data_dir=data_dir, **self._config_kwargs)
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="kafkakit-broker", daemon=True
        )
        self._thread.start()
        try:
            started.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            self._remove_temp_dir()
            raise
        return self

    def _run(self, started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = BrokerServer(self.config)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # noqa: BLE001 - handed to start()'s caller
            try:
                loop.run_until_complete(server.stop())
            except BaseException:  # noqa: BLE001
                pass
            loop.close()
            self._loop = None
            started.set_exception(exc)
            return
        self._server = server
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down cleanly (logs flushed and closed, clean marker written). Idempotent."""
        thread, loop, server = self._thread, self._loop, self._server
        if thread is None:
            return
        if loop is not None and server is not None and loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(server.stop(), loop)
            try:
                fut.result(timeout)
            finally:
                loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None
        self._server = None
        self._loop = None
        self._remove_temp_dir()

    close = stop

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"{self.host}:{self.port}" if self.running else "stopped"
        return f"<kafkakit Broker {state} data_dir={str(self.data_dir)!r}>"

    # ------------------------------------------------------------ properties

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        """The port the broker listens on (the one picked by the OS when created with port=0)."""
        if self._server is None:
            raise RuntimeError("the broker is not running: call start() or use it as a context manager")
        return self._server.port

    @property
    def bootstrap_servers(self) -> str:
        """``"host:port"`` for a client's ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return Path(self.config.data_dir)

    @property
    def state(self) -> BrokerState:
        """The running broker's state (for tests and tools; touch it only via ``call``)."""
        if self._server is None:
            raise RuntimeError("the broker is not running")
        return self._server.state

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run ``coro`` on the broker's event loop and return its result."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the broker is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def create_topic(
        self, name: str, num_partitions: int | None = None, configs: dict[str, str] | None = None
    ) -> None:
        """Create a topic directly (no client needed; ``num_partitions`` None: the broker default).
        Raises ``kafkakit.broker.topics.TopicError`` when refused."""

        async def create() -> None:
            self.state.topics.create(name, num_partitions, configs)

        self.call(create())
