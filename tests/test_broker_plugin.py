"""The ``kafkakit.testing`` pytest plugin: its fixtures give running brokers a peer client can use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kafkakit.broker import Broker
from kafkakit.testing import broker_for_tests


@pytest.mark.cell(client="kafka-python", broker="embedded", feature="pytest plugin fixture")
def test_kafka_broker_fixture_serves_a_peer_client(
    kafka_broker: Broker, kafka_bootstrap_servers: str
) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    assert kafka_bootstrap_servers == kafka_broker.bootstrap_servers == f"127.0.0.1:{kafka_broker.port}"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap_servers)
    assert producer.send("plugin", b"hello").get(10).offset == 0
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap_servers, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition("plugin", 0)])
    consumer.seek_to_beginning()
    assert next(iter(consumer)).value == b"hello"
    consumer.close()


def test_each_test_gets_a_fresh_broker(kafka_broker: Broker) -> None:
    # the previous test's topic is not here
    assert kafka_broker.state.topics.names() == []


def test_session_broker_is_shared(kafka_broker_session: Broker, kafka_broker: Broker) -> None:
    assert kafka_broker_session.port != kafka_broker.port
    assert kafka_broker_session.running


def test_factory_applies_config_and_stops_its_brokers(
    kafka_broker_factory: Callable[..., Broker], tmp_path: Path
) -> None:
    b = kafka_broker_factory(num_partitions=4, data_dir=tmp_path)
    b.create_topic("four")
    assert b.state.topics.partition_count("four") == 4
    assert b.data_dir == tmp_path


def test_broker_for_tests_removes_its_temp_dir() -> None:
    with broker_for_tests() as b:
        data_dir = b.data_dir
        assert data_dir.is_dir()
    assert not data_dir.exists()
    assert not b.running


def test_broker_rejects_unknown_config() -> None:
    with pytest.raises(TypeError, match="no_such_option"):
        Broker(no_such_option=1)
