"""Apache Kafka (KRaft) brokers for tests, run straight from the jars ``interop/provision.sh``
put in ``${KAFKAKIT_CACHE:-~/.cache/kafkakit}/kafka-<version>/libs``.

    with KafkaCluster(1) as kafka:            # one combined broker+controller node
        kafka.bootstrap_servers               # '127.0.0.1:PORT'

    with KafkaCluster(3) as cluster:          # 3 combined nodes, controller quorum of 3
        leader = cluster.leader("t", 0)
        cluster.kill(leader)                  # SIGKILL
        cluster.wait_for_leader("t", 0, exclude=[leader])
        cluster.restart(leader)

Every run gets fresh temp dirs (data + logs). Readiness is polled with ApiVersions and
Metadata on the broker port (no sleeps). Startup failures raise BrokerStartError with the
tail of the node's logs; a missing Java or unprovisioned jars raise BrokerUnavailable.

The Java command line tools (console producer / consumer, producer / consumer perf tests)
are wrapped by :func:`console_produce`, :func:`console_consume`, :func:`producer_perf_test`,
:func:`consumer_perf_test` and the generic :func:`run_java_tool`.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from . import (
    LOOPBACK,
    REPO_ROOT,
    BrokerStartError,
    BrokerUnavailable,
    ClusterMetadata,
    KafkaWireError,
    ManagedProcess,
    PartitionInfo,
    cache_dir,
    create_topics,
    describe_quorum_leader,
    free_port,
    keep_temp_dirs,
    log_contains,
    log_excerpt,
    make_temp_dir,
    metadata,
    tail,
    wait_for_kafka_api,
    wait_until,
)

__all__ = [
    "KafkaCluster",
    "KafkaNode",
    "kafka_version",
    "kafka_libs",
    "check_available",
    "run_java_tool",
    "console_produce",
    "console_consume",
    "producer_perf_test",
    "consumer_perf_test",
    "PerfResult",
    "BROKER_JVM_OPTS",
    "BENCHMARK_JVM_OPTS",
    "TOOL_BENCHMARK_JVM_OPTS",
    "CONSOLE_PRODUCER",
    "CONSOLE_CONSUMER",
    "PRODUCER_PERF_TEST",
    "CONSUMER_PERF_TEST",
]

POM = REPO_ROOT / "interop" / "pom.xml"

KAFKA_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
CONSOLE_PRODUCER = "org.apache.kafka.tools.ConsoleProducer"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"
PRODUCER_PERF_TEST = "org.apache.kafka.tools.ProducerPerformance"
CONSUMER_PERF_TEST = "org.apache.kafka.tools.ConsumerPerformance"

# Tests: small heap, serial GC and C1 only. The CI machine has 2 cores shared by up to 4 JVMs
# and the tests; C2 compiler threads fighting for them made a 3-node start 1.5-2x slower.
BROKER_JVM_OPTS = [
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
]
# Benchmarks: what bin/kafka-server-start.sh uses (1G heap, G1, full JIT). Pass as
# KafkaCluster(jvm_opts=BENCHMARK_JVM_OPTS) or via $KAFKAKIT_KAFKA_JVM_OPTS.
BENCHMARK_JVM_OPTS = [
    "-Xms1g",
    "-Xmx1g",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]
# Throughput baselines with the Java tools (producer/consumer perf tests): full JIT.
TOOL_BENCHMARK_JVM_OPTS = [
    "-Xms512m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
]
# Short-lived tools: C1 only starts faster.
TOOL_JVM_OPTS = [
    "-Xms64m",
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
]

_BIND_ERRORS = ("Address already in use", "BindException")


# --------------------------------------------------------------------------------------
# locating Java and the jars


def kafka_version() -> str:
    """``$KAFKAKIT_KAFKA_VERSION``, else ``<kafka.version>`` from interop/pom.xml."""
    env = os.environ.get("KAFKAKIT_KAFKA_VERSION", "").strip()
    if env:
        return env
    m = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", POM.read_text())
    if not m:
        raise RuntimeError(f"no <kafka.version> in {POM}")
    return m.group(1)


def kafka_home(version: str | None = None) -> Path:
    return cache_dir() / f"kafka-{version or kafka_version()}"


def kafka_libs(version: str | None = None) -> Path:
    return kafka_home(version) / "libs"


def java_executable() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        cand = Path(java_home) / "bin" / "java"
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which("java")


@cache
def _java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return 0
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def check_available(version: str | None = None) -> None:
    """Raise BrokerUnavailable (with the reason) unless Java 17+ and the jars are present."""
    version = version or kafka_version()
    java = java_executable()
    if not java:
        raise BrokerUnavailable("Apache Kafka: no 'java' on PATH (need Java 17+)")
    major = _java_major(java)
    if major < 17:
        raise BrokerUnavailable(f"Apache Kafka {version}: needs Java 17+, found {java} (major {major})")
    libs = kafka_libs(version)
    if (
        not (libs / f"kafka_2.13-{version}.jar").is_file()
        or not (libs / f"kafka-tools-{version}.jar").is_file()
    ):
        raise BrokerUnavailable(
            f"Apache Kafka {version}: jars not provisioned in {libs}; run interop/provision.sh"
        )


def _log4j_config(path: Path, *, log_file: Path | None, level: str = "INFO") -> Path:
    """Write a log4j2 properties config: to ``log_file`` when given, else to stderr."""
    lines = ["status = warn", "shutdownHook = disable"]
    if log_file is not None:
        lines += [
            "appender.main.type = File",
            "appender.main.name = MAIN",
            f"appender.main.fileName = {log_file}",
        ]
    else:
        lines += [
            "appender.main.type = Console",
            "appender.main.name = MAIN",
            "appender.main.target = SYSTEM_ERR",
        ]
    lines += [
        "appender.main.layout.type = PatternLayout",
        "appender.main.layout.pattern = [%d] %p %m (%c)%n",
        f"rootLogger.level = {level}",
        "rootLogger.appenderRef.main.ref = MAIN",
        # the per-request log is far too chatty for tests
        "logger.request.name = kafka.request.logger",
        "logger.request.level = WARN",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _env_jvm_opts(var: str, default: Sequence[str]) -> list[str]:
    env = os.environ.get(var)
    return shlex.split(env) if env else list(default)


def new_cluster_id() -> str:
    """A random Kafka Uuid in its base64 form (never starting with '-', which CLIs misread)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


# --------------------------------------------------------------------------------------
# brokers


@dataclass
class KafkaNode:
    node_id: int
    port: int
    controller_port: int
    dir: Path
    proc: ManagedProcess | None = None
    config: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def config_path(self) -> Path:
        return self.dir / "server.properties"

    @property
    def server_log(self) -> Path:
        return self.dir / "logs" / "server.log"

    @property
    def stdout_log(self) -> Path:
        return self.dir / "stdout.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    @property
    def log_files(self) -> list[Path]:
        return [self.stdout_log, self.server_log]

    def log_tail(self, lines: int = 25) -> str:
        """Error lines + last lines of the node's stdout and server.log (for failure messages)."""
        parts = [log_excerpt(p, tail_lines=lines) for p in self.log_files]
        return "\n".join(p for p in parts if p.strip()) or f"(no logs in {self.dir})"

    def bind_failed(self) -> bool:
        return log_contains(self.log_files, _BIND_ERRORS)


class KafkaCluster:
    """N combined broker+controller KRaft nodes on loopback (N=1: a single node).

    ``extra_config`` overrides/extends server.properties for every node; ``jvm_opts``
    replaces the broker JVM options (env ``KAFKAKIT_KAFKA_JVM_OPTS`` does the same).
    """

    def __init__(
        self,
        num_nodes: int = 1,
        *,
        version: str | None = None,
        extra_config: dict[str, object] | None = None,
        jvm_opts: Sequence[str] | None = None,
        startup_timeout: float = 120.0,
        base_dir: Path | None = None,
        name: str | None = None,
    ) -> None:
        if num_nodes < 1:
            raise ValueError("num_nodes must be >= 1")
        self.num_nodes = num_nodes
        self.version = version or kafka_version()
        self.extra_config = {k: str(v) for k, v in (extra_config or {}).items()}
        self.jvm_opts = (
            list(jvm_opts)
            if jvm_opts is not None
            else _env_jvm_opts("KAFKAKIT_KAFKA_JVM_OPTS", BROKER_JVM_OPTS)
        )
        self.startup_timeout = startup_timeout
        self.name = name or ("kafka" if num_nodes == 1 else f"kafka{num_nodes}")
        self._base_dir_arg = base_dir
        self.base_dir: Path | None = None
        self.cluster_id = new_cluster_id()
        self.nodes: dict[int, KafkaNode] = {}
        self.startup_seconds: float | None = None
        self._failed = False

    # ---- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<KafkaCluster {self.name} v{self.version} nodes={sorted(self.nodes)} at {self.base_dir}>"

    def start(self) -> KafkaCluster:
        check_available(self.version)
        self.base_dir = self._base_dir_arg or make_temp_dir(f"kafkakit-{self.name}-")
        t0 = time.monotonic()
        attempts = 3
        for attempt in range(1, attempts + 1):
            self._layout()
            try:
                self._format_all()
                for node in self.nodes.values():
                    self._launch(node)
                self._wait_all_ready(self.startup_timeout)
                break
            except BrokerStartError as exc:
                bind_race = any(n.bind_failed() for n in self.nodes.values())
                self._kill_all()
                if bind_race and attempt < attempts:
                    continue  # someone grabbed a port between free_port() and bind: new ports
                self._failed = True
                raise BrokerStartError(f"{self.name}: {exc}\n(logs kept in {self.base_dir})") from None
            except BaseException:
                self._kill_all()
                self._failed = True
                raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self, *, graceful: bool = False) -> None:
        """Stop every node (SIGKILL unless ``graceful``) and remove the node dirs.

        They survive when startup failed or ``KAFKAKIT_KEEP_TMP=1``.
        """
        if graceful:
            for node in self.nodes.values():
                if node.proc is not None:
                    node.proc.stop()
        self._kill_all()
        if self.base_dir is None or self._failed or keep_temp_dirs():
            return
        if self._base_dir_arg is None:
            shutil.rmtree(self.base_dir, ignore_errors=True)  # our temp dir
        else:
            for node in self.nodes.values():  # a caller's dir: only remove what we put there
                shutil.rmtree(node.dir, ignore_errors=True)

    close = stop

    def _kill_all(self) -> None:
        for node in self.nodes.values():
            if node.proc is not None:
                node.proc.kill()

    def _layout(self) -> None:
        assert self.base_dir is not None
        for old in self.nodes.values():
            shutil.rmtree(old.dir, ignore_errors=True)
        self.nodes = {}
        for node_id in range(1, self.num_nodes + 1):
            d = self.base_dir / f"node{node_id}"
            d.mkdir(parents=True, exist_ok=True)
            self.nodes[node_id] = KafkaNode(node_id, free_port(), free_port(), d)
        voters = ",".join(f"{n.node_id}@{LOOPBACK}:{n.controller_port}" for n in self.nodes.values())
        for node in self.nodes.values():
            node.config = self._server_config(node, voters)
            node.config_path.write_text("".join(f"{k}={v}\n" for k, v in node.config.items()))
            _log4j_config(node.dir / "log4j2.properties", log_file=node.server_log)

    def _server_config(self, node: KafkaNode, voters: str) -> dict[str, str]:
        n = self.num_nodes
        rf = min(n, 3)
        min_isr = 2 if n >= 3 else 1
        internal_parts = 1 if n == 1 else 3
        cfg = {
            "process.roles": "broker,controller",
            "node.id": str(node.node_id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://{LOOPBACK}:{node.port},CONTROLLER://{LOOPBACK}:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(node.data_dir),
            # topics
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            "delete.topic.enable": "true",
            "default.replication.factor": str(rf),
            "min.insync.replicas": str(min_isr),
            # internal topics sized for the node count, small so they are created fast
            "offsets.topic.replication.factor": str(rf),
            "offsets.topic.num.partitions": str(internal_parts),
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(min_isr),
            "transaction.state.log.num.partitions": str(internal_parts),
            "share.coordinator.state.topic.replication.factor": str(rf),
            "share.coordinator.state.topic.min.isr": str(min_isr),
            "share.coordinator.state.topic.num.partitions": str(internal_parts),
            # fast tests
            "group.initial.rebalance.delay.ms": "0",
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",  # a SIGKILLed broker is fenced after ~3s
            "controller.quorum.election.timeout.ms": "1000",
            "controller.quorum.fetch.timeout.ms": "2000",
            # small footprint on a 2-core machine
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            "background.threads": "4",
            "log.cleaner.threads": "1",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        }
        cfg.update(self.extra_config)
        return cfg

    def _java(self) -> str:
        java = java_executable()
        if not java:
            raise BrokerUnavailable("Apache Kafka: no 'java' on PATH")
        return java

    def _jvm_argv(self, node: KafkaNode, main: str, *args: str) -> list[str]:
        return [
            self._java(),
            *self.jvm_opts,
            f"-Dlog4j2.configurationFile={node.dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node.dir / 'logs'}",
            "-cp",
            f"{kafka_libs(self.version)}/*",
            main,
            *args,
        ]

    def _format_all(self) -> None:
        """kafka-storage format for every node, in parallel (one JVM each, ~1s)."""
        procs = []
        for node in self.nodes.values():
            log = node.dir / "format.log"
            argv = self._jvm_argv(
                node,
                STORAGE_TOOL,
                "format",
                "--cluster-id",
                self.cluster_id,
                "--config",
                str(node.config_path),
            )
            # the storage tool should not log into server.log: give it the quiet tools config
            argv = [a for a in argv if not a.startswith("-Dlog4j2.configurationFile=")]
            argv.insert(1, f"-Dlog4j2.configurationFile={_tools_log4j()}")
            with open(log, "wb") as out:
                procs.append(
                    (
                        node,
                        log,
                        subprocess.Popen(
                            argv,
                            stdin=subprocess.DEVNULL,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        ),
                    )
                )
        errors = []
        for node, log, p in procs:
            try:
                rc = p.wait(120)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = "timeout"
            if rc != 0:
                errors.append(f"node {node.node_id}: storage format exited {rc}:\n{tail(log, 30)}")
        if errors:
            raise BrokerStartError("\n".join(errors))

    def _launch(self, node: KafkaNode) -> None:
        node.proc = ManagedProcess(
            self._jvm_argv(node, KAFKA_MAIN, str(node.config_path)),
            log_path=node.stdout_log,
            cwd=node.dir,
            name=f"{self.name}-node{node.node_id}",
        ).start()

    def _abort_check(self, nodes: Iterable[KafkaNode]):  # noqa: ANN202
        nodes = list(nodes)

        def abort() -> str | None:
            for node in nodes:
                if node.proc is not None and not node.proc.alive():
                    return (
                        f"node {node.node_id} exited with code {node.proc.returncode()} during startup\n"
                        f"{node.log_tail()}"
                    )
            return None

        return abort

    def _wait_all_ready(self, timeout: float, nodes: Iterable[KafkaNode] | None = None) -> None:
        nodes = list(nodes if nodes is not None else self.nodes.values())
        deadline = time.monotonic() + timeout
        abort = self._abort_check(nodes)
        # every node that runs must be registered (and unfenced) before we call it ready
        expected = sum(1 for n in self.nodes.values() if n.alive())
        for node in nodes:
            try:
                wait_for_kafka_api(
                    LOOPBACK,
                    node.port,
                    timeout=max(1.0, deadline - time.monotonic()),
                    min_brokers=expected,
                    abort=abort,
                    what=f"{self.name} node {node.node_id}",
                )
            except TimeoutError as exc:
                raise BrokerStartError(f"{exc}\n{node.log_tail()}") from None

    # ---- addresses ---------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated addresses of the live nodes (all nodes if none is alive)."""
        live = [n.bootstrap for n in self.nodes.values() if n.alive()]
        return ",".join(live or [n.bootstrap for n in self.nodes.values()])

    def node_bootstrap(self, node_id: int) -> str:
        return self.nodes[node_id].bootstrap

    def node_ids(self) -> list[int]:
        return sorted(self.nodes)

    def alive_node_ids(self) -> list[int]:
        return [i for i, n in sorted(self.nodes.items()) if n.alive()]

    def is_alive(self, node_id: int) -> bool:
        return self.nodes[node_id].alive()

    # ---- fault injection -----------------------------------------------------------

    def kill(self, node_id: int) -> None:
        """SIGKILL one node (no controlled shutdown, no flush)."""
        node = self.nodes[node_id]
        if node.proc is not None:
            node.proc.kill()

    def stop_node(self, node_id: int, timeout: float = 30.0) -> None:
        """Graceful SIGTERM shutdown of one node (controlled shutdown moves leadership first)."""
        node = self.nodes[node_id]
        if node.proc is not None:
            node.proc.stop(timeout)

    def restart(self, node_id: int, *, wait: bool = True, timeout: float | None = None) -> float:
        """Start a killed/stopped node again (same ports, same data); a live node is killed first.

        Returns the seconds until it answered (0 when ``wait`` is False).
        """
        node = self.nodes[node_id]
        if node.alive():
            self.kill(node_id)
        t0 = time.monotonic()
        for _ in range(3):
            self._launch(node)
            if not wait:
                return 0.0
            try:
                self._wait_all_ready(timeout or self.startup_timeout, [node])
                return time.monotonic() - t0
            except BrokerStartError:
                if node.proc is not None:
                    node.proc.kill()
                # the old socket may linger for a moment after SIGKILL: retry on bind errors
                if not node.bind_failed():
                    raise
                time.sleep(1.0)
        raise BrokerStartError(f"node {node_id}: port still in use after 3 restarts\n{node.log_tail()}")

    def heal(self, timeout: float | None = None) -> None:
        """Restart every dead node and wait until all of them are registered again."""
        for node_id in self.node_ids():
            if not self.is_alive(node_id):
                self.restart(node_id, timeout=timeout)
        self._wait_all_ready(timeout or self.startup_timeout)

    # ---- metadata helpers ----------------------------------------------------------

    def metadata(self, topics: Iterable[str] | None = (), *, timeout: float = 5.0) -> ClusterMetadata:
        """Metadata v4 from the first live node that answers."""
        errors = []
        for node in self.nodes.values():
            if not node.alive():
                continue
            try:
                return metadata(LOOPBACK, node.port, topics, timeout=timeout)
            except (OSError, KafkaWireError) as exc:
                errors.append(f"node {node.node_id}: {exc!r}")
        raise KafkaWireError("no live node answered Metadata: " + "; ".join(errors or ["all nodes down"]))

    def partition(self, topic: str, partition: int = 0) -> PartitionInfo | None:
        md = self.metadata([topic])
        t = md.topics.get(topic)
        return None if t is None else t.partitions.get(partition)

    def leader(self, topic: str, partition: int = 0) -> int:
        """Leader node id of a partition (-1 when leaderless or unknown)."""
        p = self.partition(topic, partition)
        return -1 if p is None else p.leader

    def wait_for_leader(
        self, topic: str, partition: int = 0, *, exclude: Iterable[int] = (), timeout: float = 60.0
    ) -> int:
        """Wait until the partition has a live leader not in ``exclude``; return its id."""
        excluded = set(exclude)

        def check() -> int | None:
            leader = self.leader(topic, partition)
            if leader >= 0 and leader not in excluded and self.is_alive(leader):
                return leader
            return None

        return wait_until(check, timeout=timeout, what=f"a new leader for {topic}-{partition}")

    def wait_for_isr(
        self, topic: str, partition: int = 0, *, size: int | None = None, timeout: float = 60.0
    ) -> list[int]:
        """Wait until the ISR has ``size`` members (default: the replication factor)."""

        def check() -> list[int] | None:
            p = self.partition(topic, partition)
            if p is None or p.leader < 0:
                return None
            want = size if size is not None else len(p.replicas)
            return p.isr if len(p.isr) >= want else None

        return wait_until(check, timeout=timeout, what=f"ISR of {topic}-{partition}")

    def active_controller(self) -> int:
        """Node id of the active KRaft controller (DescribeQuorum through a live broker)."""
        errors = []
        for node in self.nodes.values():
            if node.alive():
                try:
                    leader, _epoch, _voters = describe_quorum_leader(LOOPBACK, node.port)
                    return leader
                except (OSError, KafkaWireError) as exc:
                    errors.append(f"node {node.node_id}: {exc!r}")
        raise KafkaWireError("DescribeQuorum failed: " + "; ".join(errors or ["all nodes down"]))

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int | None = None,
        configs: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        """Create a topic (default RF = min(nodes, 3)) and wait until every partition has a leader."""
        rf = replication_factor if replication_factor is not None else min(self.num_nodes, 3)
        node = next(n for n in self.nodes.values() if n.alive())
        create_topics(LOOPBACK, node.port, {name: (partitions, rf)}, configs=configs, timeout=timeout)

        def ready() -> bool:
            t = self.metadata([name]).topics.get(name)
            return bool(
                t
                and t.error_code == 0
                and len(t.partitions) == partitions
                and all(p.leader >= 0 for p in t.partitions.values())
            )

        wait_until(ready, timeout=timeout, what=f"topic {name} to get leaders")

    def logs(self, node_id: int, lines: int = 60) -> str:
        return self.nodes[node_id].log_tail(lines)


# --------------------------------------------------------------------------------------
# Java command line tools


def _tools_log4j(version: str | None = None) -> Path:
    """log4j2 config for tools: WARN and above to stderr."""
    path = kafka_home(version) / "tools-log4j2.properties"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        _log4j_config(tmp, log_file=None, level="WARN")
        os.replace(tmp, path)
    return path


def run_java_tool(
    main_class: str,
    args: Sequence[str],
    *,
    input: str | None = None,
    timeout: float = 120.0,
    check: bool = True,
    version: str | None = None,
    jvm_opts: Sequence[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one Kafka tool main class from the provisioned jars; stdout/stderr captured as text.

    ``check`` raises RuntimeError (with stderr) on a non-zero exit.
    """
    check_available(version)
    java = java_executable()
    assert java is not None
    opts = list(jvm_opts) if jvm_opts is not None else _env_jvm_opts("KAFKAKIT_TOOL_JVM_OPTS", TOOL_JVM_OPTS)
    argv = [
        java,
        *opts,
        f"-Dlog4j2.configurationFile={_tools_log4j(version)}",
        "-cp",
        f"{kafka_libs(version)}/*",
        main_class,
        *map(str, args),
    ]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        raise RuntimeError(
            f"{main_class} timed out after {timeout}s (killed)\nargs: {list(args)}\n"
            f"stderr:\n{err[-4000:]}\nstdout:\n{out[-2000:]}"
        ) from None
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    res = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    if check and res.returncode != 0:
        raise RuntimeError(
            f"{main_class} exited {res.returncode}\nargs: {list(args)}\n"
            f"stderr:\n{res.stderr[-4000:]}\nstdout:\n{res.stdout[-2000:]}"
        )
    return res


def _prop_args(flag: str, props: dict[str, object] | None) -> list[str]:
    out: list[str] = []
    for k, v in (props or {}).items():
        out += [flag, f"{k}={v}"]
    return out


_NULL_MARKER = "<kafkakit-null>"


def console_produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[str | tuple[str | None, str]],
    *,
    props: dict[str, object] | None = None,
    compression: str | None = None,
    sync: bool = True,
    key_separator: str = "\t",
    timeout: float = 120.0,
    version: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Produce with the Java console producer; returns the finished process (stderr has its log).

    ``messages`` are values, or (key, value) tuples (key None = null key); neither may contain
    newlines, and keys may not contain ``key_separator``. ``props`` are producer configs (acks,
    enable.idempotence, linger.ms, ...).

    ``compression`` is the codec (none, gzip, snappy, lz4, zstd): the console producer overwrites
    ``compression.type`` with its own ``--compression-codec`` option (default none), so a
    ``compression.type`` in ``props`` would be silently ignored; it is passed as the codec instead.
    ``sync`` (the default) sends one record per request and waits for each answer; ``linger.ms``
    is then 0 unless ``props`` says otherwise, because the tool turns its ``--timeout`` (1000 ms)
    into ``linger.ms`` and every record would wait that long.
    """
    all_props = dict(props or {})
    codec = compression if compression is not None else all_props.pop("compression.type", None)
    if sync:
        all_props.setdefault("linger.ms", 0)
    msgs = list(messages)
    keyed = any(isinstance(m, tuple) for m in msgs)
    lines: list[str] = []
    for m in msgs:
        if isinstance(m, tuple):
            k, v = m
            lines.append(f"{_NULL_MARKER if k is None else k}{key_separator}{v}")
        else:
            lines.append(f"{_NULL_MARKER}{key_separator}{m}" if keyed else m)
    args = ["--bootstrap-server", bootstrap, "--topic", topic]
    if sync:
        args.append("--sync")
    if codec is not None:
        args += ["--compression-codec", str(codec)]
    if keyed:
        args += [
            "--reader-property",
            "parse.key=true",
            "--reader-property",
            f"key.separator={key_separator}",
            "--reader-property",
            f"null.marker={_NULL_MARKER}",
        ]
    args += _prop_args("--command-property", all_props)
    return run_java_tool(
        CONSOLE_PRODUCER, args, input="".join(line + "\n" for line in lines), timeout=timeout, version=version
    )


def console_consume(
    bootstrap: str,
    topic: str,
    *,
    max_messages: int,
    from_beginning: bool = True,
    group: str | None = None,
    timeout_ms: int = 30000,
    print_key: bool = False,
    key_separator: str = "\t",
    isolation_level: str | None = None,
    partition: int | None = None,
    offset: str | int | None = None,
    props: dict[str, object] | None = None,
    version: str | None = None,
) -> list:
    """Consume with the Java console consumer; returns values (or (key, value) with ``print_key``).

    Stops after ``max_messages`` or ``timeout_ms`` without a record (then returns what it got).
    """
    args = [
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--max-messages",
        str(max_messages),
        "--timeout-ms",
        str(timeout_ms),
    ]
    if from_beginning and offset is None:
        args.append("--from-beginning")
    if group:
        args += ["--group", group]
    if isolation_level:
        args += ["--isolation-level", isolation_level]
    if partition is not None:
        args += ["--partition", str(partition)]
    if offset is not None:
        args += ["--offset", str(offset)]
    if print_key:
        args += [
            "--formatter-property",
            "print.key=true",
            "--formatter-property",
            f"key.separator={key_separator}",
        ]
    args += _prop_args("--command-property", props)
    res = run_java_tool(CONSOLE_CONSUMER, args, timeout=timeout_ms / 1000 + 90, check=False, version=version)
    if res.returncode != 0 and "Processed a total of" not in res.stderr:
        raise RuntimeError(f"console consumer exited {res.returncode}\nstderr:\n{res.stderr[-4000:]}")
    lines = res.stdout.splitlines()
    if print_key:
        return [
            tuple(line.split(key_separator, 1)) if key_separator in line else (None, line) for line in lines
        ]
    return lines


@dataclass
class PerfResult:
    records: int
    records_per_sec: float
    mb_per_sec: float
    avg_latency_ms: float | None = None
    max_latency_ms: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    raw: str = ""


_PRODUCER_SUMMARY = re.compile(
    r"(?P<records>\d+) records sent, (?P<rps>[\d.]+) records/sec \((?P<mbps>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, (?P<p50>[\d.]+) ms 50th, "
    r"(?P<p95>[\d.]+) ms 95th, (?P<p99>[\d.]+) ms 99th, (?P<p999>[\d.]+) ms 99.9th"
)


def producer_perf_test(
    bootstrap: str,
    topic: str,
    *,
    num_records: int,
    record_size: int = 100,
    throughput: int = -1,
    props: dict[str, object] | None = None,
    timeout: float = 600.0,
    version: str | None = None,
    jvm_opts: Sequence[str] | None = None,
) -> PerfResult:
    """kafka-producer-perf-test; returns the final summary line parsed.

    The tools run C1-only by default (fast start); for throughput baselines pass
    ``jvm_opts=TOOL_BENCHMARK_JVM_OPTS`` (full JIT).
    """
    args = [
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--num-records",
        str(num_records),
        "--record-size",
        str(record_size),
        "--throughput",
        str(throughput),
    ]
    if props:
        args += ["--command-property", *[f"{k}={v}" for k, v in props.items()]]
    res = run_java_tool(PRODUCER_PERF_TEST, args, timeout=timeout, version=version, jvm_opts=jvm_opts)
    matches = list(_PRODUCER_SUMMARY.finditer(res.stdout))
    if not matches:
        raise RuntimeError(f"cannot parse producer perf test output:\n{res.stdout[-2000:]}")
    m = matches[-1]
    return PerfResult(
        records=int(m["records"]),
        records_per_sec=float(m["rps"]),
        mb_per_sec=float(m["mbps"]),
        avg_latency_ms=float(m["avg"]),
        max_latency_ms=float(m["max"]),
        p50_ms=float(m["p50"]),
        p95_ms=float(m["p95"]),
        p99_ms=float(m["p99"]),
        p999_ms=float(m["p999"]),
        raw=res.stdout,
    )


def consumer_perf_test(
    bootstrap: str,
    topic: str,
    *,
    messages: int,
    timeout_ms: int = 60000,
    props: dict[str, object] | None = None,
    version: str | None = None,
    jvm_opts: Sequence[str] | None = None,
) -> PerfResult:
    """kafka-consumer-perf-test (reads ``messages`` records from the beginning)."""
    args = [
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--num-records",
        str(messages),
        "--timeout",
        str(timeout_ms),
    ]
    args += _prop_args("--command-property", props)
    res = run_java_tool(
        CONSUMER_PERF_TEST, args, timeout=timeout_ms / 1000 + 90, version=version, jvm_opts=jvm_opts
    )
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    header_idx = next((i for i, ln in enumerate(lines) if "data.consumed.in.nMsg" in ln), None)
    if header_idx is None or header_idx + 1 >= len(lines):
        raise RuntimeError(f"cannot parse consumer perf test output:\n{res.stdout[-2000:]}")
    keys = [k.strip() for k in lines[header_idx].split(",")]
    vals = [v.strip() for v in lines[header_idx + 1].split(",")]
    row = dict(zip(keys, vals, strict=False))
    return PerfResult(
        records=int(float(row["data.consumed.in.nMsg"])),
        records_per_sec=float(row["nMsg.sec"]),
        mb_per_sec=float(row["MB.sec"]),
        raw=res.stdout,
    )
