"""kafkakit's own broker as a test peer: in-process and as a subprocess.

In-process (a background thread of the test process)::

    with embedded_broker() as broker:            # kafkakit.broker.Broker(data_dir=None, port=0)
        broker.bootstrap_servers

Subprocess (``python -m kafkakit broker --data-dir D --port P``, falling back to
``python -m kafkakit.broker ...``; ``use_console_script=True`` runs ``kafkakit broker ...``)::

    with EmbeddedBrokerProcess() as b:
        b.bootstrap_servers
        b.kill()            # SIGKILL
        b.restart()         # same data dir, same port; waits until it answers ApiVersions

While ``kafkakit.broker`` does not exist yet, :func:`require_broker_module` raises
BrokerUnavailable (fixtures skip; ``KAFKAKIT_REQUIRE_ALL=1`` turns that into a failure).
Any other import error (a bug in the broker) propagates as an error.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from . import (
    LOOPBACK,
    REPO_ROOT,
    BrokerStartError,
    BrokerUnavailable,
    ManagedProcess,
    free_port,
    keep_temp_dirs,
    log_contains,
    make_temp_dir,
    parse_bootstrap,
    wait_for_kafka_api,
)

__all__ = ["require_broker_module", "broker_class", "embedded_broker", "EmbeddedBrokerProcess"]

_BIND_ERRORS = ("Address already in use", "Errno 98", "EADDRINUSE")


def _module_missing(name: str) -> str | None:
    """A reason string when ``name`` (or a parent package) does not exist, else None."""
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError as exc:
        return f"{exc.name or name} is not importable"
    return None if spec is not None else f"{name} does not exist yet"


def require_broker_module() -> Any:
    """Import ``kafkakit.broker``; BrokerUnavailable when the module is simply not there (yet)."""
    missing = _module_missing("kafkakit.broker")
    if missing:
        raise BrokerUnavailable(f"embedded broker: {missing}")
    try:
        return importlib.import_module("kafkakit.broker")
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == "kafkakit.broker" or "kafkakit.broker".startswith(exc.name + ".")):
            raise BrokerUnavailable(f"embedded broker: {exc}") from None
        raise  # a dependency of the broker is missing: that is a real error


def broker_class() -> type:
    """``kafkakit.broker.Broker`` (BrokerUnavailable while it does not exist)."""
    mod = require_broker_module()
    cls = getattr(mod, "Broker", None)
    if cls is None:
        raise BrokerUnavailable("embedded broker: kafkakit.broker has no Broker class yet")
    return cls


@contextlib.contextmanager
def embedded_broker(
    data_dir: str | os.PathLike[str] | None = None,
    port: int = 0,
    *,
    ready_timeout: float = 30.0,
    **kwargs: Any,
) -> Iterator[Any]:
    """Run ``Broker(data_dir=..., port=..., **kwargs)`` in-process; yield it once it answers."""
    cls = broker_class()
    t0 = time.monotonic()
    with cls(data_dir=data_dir, port=port, **kwargs) as broker:
        bootstrap = getattr(broker, "bootstrap_servers", None)
        if not bootstrap:
            raise BrokerStartError(f"embedded broker {broker!r} has no bootstrap_servers after start")
        host, bport = parse_bootstrap(bootstrap)[0]
        try:
            wait_for_kafka_api(host, bport, timeout=ready_timeout, what="embedded broker")
        except TimeoutError as exc:
            raise BrokerStartError(str(exc)) from None
        with contextlib.suppress(AttributeError):  # informational only (__slots__ classes refuse it)
            broker.startup_seconds = time.monotonic() - t0
        yield broker


def _cli_argv(use_console_script: bool) -> list[str]:
    """How to launch ``<kafkakit> broker``: console script, ``-m kafkakit``, or ``-m kafkakit.broker``."""
    if use_console_script:
        exe = shutil.which("kafkakit") or str(Path(sys.executable).with_name("kafkakit"))
        if not Path(exe).exists():
            raise BrokerUnavailable("embedded broker: the 'kafkakit' console script is not installed")
        return [exe, "broker"]
    if _module_missing("kafkakit.__main__") is None:
        return [sys.executable, "-m", "kafkakit", "broker"]
    if _module_missing("kafkakit.broker.__main__") is None:
        return [sys.executable, "-m", "kafkakit.broker"]
    raise BrokerUnavailable(
        "embedded broker subprocess: neither 'python -m kafkakit' nor 'python -m kafkakit.broker' exists yet"
    )


class EmbeddedBrokerProcess:
    """``kafkakit broker`` in a child process (own process group), for crash/restart tests.

    ``data_dir`` None means a fresh temp dir that survives :meth:`kill`/:meth:`restart` and
    is removed by :meth:`stop` (kept when startup failed or ``KAFKAKIT_KEEP_TMP=1``).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        port: int | None = None,
        *,
        extra_args: Sequence[str] = (),
        use_console_script: bool = False,
        startup_timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self._own_dir = data_dir is None
        self.dir: Path | None = None if data_dir is None else Path(data_dir)
        self.port = port
        self._fixed_port = port is not None
        self.extra_args = list(extra_args)
        self.use_console_script = use_console_script
        self.startup_timeout = startup_timeout
        self.extra_env = dict(env or {})
        self.proc: ManagedProcess | None = None
        self.startup_seconds: float | None = None
        self._failed = False
        self._logs: Path | None = None

    def __enter__(self) -> EmbeddedBrokerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EmbeddedBrokerProcess port={self.port} data_dir={self.data_dir}>"

    @property
    def data_dir(self) -> Path | None:
        return None if self.dir is None else (self.dir / "data" if self._own_dir else self.dir)

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        assert self._logs is not None
        return self._logs / "broker.log"

    def _argv(self) -> list[str]:
        return [
            *_cli_argv(self.use_console_script),
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            *self.extra_args,
        ]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        src = str(REPO_ROOT / "src")
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.update(self.extra_env)
        return env

    def start(self) -> EmbeddedBrokerProcess:
        broker_class()  # BrokerUnavailable while kafkakit.broker.Broker does not exist
        _cli_argv(self.use_console_script)  # BrokerUnavailable when there is no way to launch it
        if self.dir is None:
            self.dir = make_temp_dir("kafkakit-embedded-")
        assert self.data_dir is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._logs = self.dir if self._own_dir else make_temp_dir("kafkakit-embedded-logs-")
        t0 = time.monotonic()
        for attempt in range(1, 4):
            if not self._fixed_port:
                self.port = free_port()
            try:
                self._launch()
                break
            except BrokerStartError as exc:
                self.kill()
                if attempt < 3 and not self._fixed_port and log_contains([self.log_path], _BIND_ERRORS):
                    continue
                self._failed = True
                raise BrokerStartError(
                    f"embedded broker subprocess: {exc}\n(logs kept in {self._logs})"
                ) from None
        self.startup_seconds = time.monotonic() - t0
        return self

    def _launch(self) -> None:
        self.proc = ManagedProcess(
            self._argv(), log_path=self.log_path, cwd=self._logs, env=self._env(), name="kafkakit-broker"
        ).start()

        def abort() -> str | None:
            if self.proc is not None and not self.proc.alive():
                return f"exited with code {self.proc.returncode()}\n{self.proc.log_tail()}"
            return None

        try:
            wait_for_kafka_api(
                LOOPBACK,
                self.port or 0,
                timeout=self.startup_timeout,
                abort=abort,
                what="kafkakit broker subprocess",
            )
        except TimeoutError as exc:
            raise BrokerStartError(f"{exc}\n{self.proc.log_tail()}") from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush beyond what the OS already has."""
        if self.proc is not None:
            self.proc.kill()

    def terminate(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM, SIGKILL after ``timeout``); keeps the data dir."""
        if self.proc is not None:
            self.proc.stop(timeout)

    def restart(self, *, graceful: bool = False) -> float:
        """Stop (SIGKILL, or SIGTERM when ``graceful``) and start on the same port and data dir.

        Returns seconds until it answered again. Retries briefly if the port is still held.
        """
        if graceful:
            self.terminate()
        else:
            self.kill()
        t0 = time.monotonic()
        for attempt in range(1, 4):
            try:
                self._launch()
                return time.monotonic() - t0
            except BrokerStartError:
                self.kill()
                if attempt < 3 and log_contains([self.log_path], _BIND_ERRORS):
                    time.sleep(0.5)
                    continue
                self._failed = True
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Graceful stop and clean up the temp dirs we created."""
        self.terminate()
        if self._failed or keep_temp_dirs():
            return
        if self._own_dir and self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self._logs is not None and self._logs != self.dir:
            shutil.rmtree(self._logs, ignore_errors=True)

    close = stop

    def log_tail(self, lines: int = 60) -> str:
        return self.proc.log_tail(lines) if self.proc else ""
