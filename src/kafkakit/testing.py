"""pytest plugin: a real Kafka-compatible broker for your tests, with no Docker and no JVM.

Installed with kafkakit and registered as the ``pytest11`` entry point ``kafkakit``, so its
fixtures are available in any project that has kafkakit installed::

    def test_roundtrip(kafka_broker):
        producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers)
        producer.send("events", b"hello").get(timeout=10)

Fixtures:

- ``kafka_broker`` (function scope): a fresh ``kafkakit.broker.Broker`` on a free 127.0.0.1 port
  with its own temporary data dir, stopped and removed after the test. Tests never see each
  other's topics or groups.
- ``kafka_broker_session`` (session scope): one broker shared by the whole session; cheaper when
  tests use unique topic names.
- ``kafka_bootstrap_servers`` (function scope): ``kafka_broker.bootstrap_servers``.
- ``kafka_broker_factory`` (function scope): ``kafka_broker_factory(**config)`` starts a broker with
  ``BrokerConfig`` keyword arguments (``num_partitions=3``, ``auto_create_topics_enable=False``,
  ``data_dir=...``, ...); every broker it started is stopped after the test.

Outside pytest, ``broker_for_tests(**config)`` is the same thing as a context manager.

What it must never do: leave a broker thread or a temporary directory behind after its fixture
ends, or listen on anything but loopback unless asked to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kafkakit.broker import Broker

__all__ = [
    "broker_for_tests",
    "kafka_broker",
    "kafka_broker_session",
    "kafka_bootstrap_servers",
    "kafka_broker_factory",
]


@contextlib.contextmanager
def broker_for_tests(**config: Any) -> Iterator[Broker]:
    """A started ``Broker`` (temp data dir and free port unless given), stopped on exit."""
    from kafkakit.broker import Broker

    with Broker(**config) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_broker_session() -> Iterator[Broker]:
    """One kafkakit broker for the whole test session (use unique topic names per test)."""
    with broker_for_tests() as broker:
        yield broker


@pytest.fixture
def kafka_broker() -> Iterator[Broker]:
    """A fresh kafkakit broker for this test only (own port, own temp data dir)."""
    with broker_for_tests() as broker:
        yield broker


@pytest.fixture
def kafka_bootstrap_servers(kafka_broker: Broker) -> str:
    """``"127.0.0.1:PORT"`` of this test's ``kafka_broker``."""
    return kafka_broker.bootstrap_servers


@pytest.fixture
def kafka_broker_factory() -> Iterator[Callable[..., Broker]]:
    """Start brokers with custom settings: ``kafka_broker_factory(num_partitions=3)``."""
    with contextlib.ExitStack() as stack:

        def start(**config: Any) -> Broker:
            return stack.enter_context(broker_for_tests(**config))

        yield start
