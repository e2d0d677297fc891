"""SASL authentication against Apache Kafka: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.

One Apache Kafka node (KRaft) gets a second listener, SASL_PLAINTEXT, with all three mechanisms
enabled: PLAIN users come from the listener's JAAS config, SCRAM credentials are created with
Apache Kafka's own kafka-configs tool. kafkakit's producer, consumer (in a group) and admin client
authenticate on that listener; librdkafka (confluent-kafka), authenticating on its own, reads back
what kafkakit wrote. Wrong credentials fail at construction, at once, naming the failure.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kafkakit import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafkakit.errors import SaslAuthenticationFailedError, UnsupportedSaslMechanismError
from tests.infra import free_port, librdkafka_values

pytestmark = pytest.mark.timeout(180)

PLAIN_USER, PLAIN_PASSWORD = "alice", "alice-secret"
SCRAM_USER, SCRAM_PASSWORD = "bob", "bob-secret"
MECHANISMS = {
    "PLAIN": (PLAIN_USER, PLAIN_PASSWORD),
    "SCRAM-SHA-256": (SCRAM_USER, SCRAM_PASSWORD),
    "SCRAM-SHA-512": (SCRAM_USER, SCRAM_PASSWORD),
}


class SaslKafka:
    """A one-node Apache Kafka with a SASL_PLAINTEXT listener beside its PLAINTEXT one."""

    def __init__(self) -> None:
        from tests.infra import apache_kafka as ak

        self.ak = ak
        self.sasl_port = free_port()
        port = self.sasl_port

        class Cluster(ak.KafkaCluster):
            def _server_config(self, node: Any, voters: str) -> dict[str, str]:
                cfg = super()._server_config(node, voters)
                cfg["listeners"] += f",SASL_PLAINTEXT://127.0.0.1:{port}"
                cfg["advertised.listeners"] += f",SASL_PLAINTEXT://127.0.0.1:{port}"
                cfg["listener.security.protocol.map"] += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
                cfg["sasl.enabled.mechanisms"] = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
                prefix = "listener.name.sasl_plaintext"
                cfg[f"{prefix}.plain.sasl.jaas.config"] = (
                    "org.apache.kafka.common.security.plain.PlainLoginModule required "
                    f'user_{PLAIN_USER}="{PLAIN_PASSWORD}";'
                )
                scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                cfg[f"{prefix}.scram-sha-256.sasl.jaas.config"] = scram
                cfg[f"{prefix}.scram-sha-512.sasl.jaas.config"] = scram
                return cfg

        self.cluster = Cluster(1, name="kafka-sasl")

    def start(self) -> SaslKafka:
        self.cluster.start()
        for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):  # one credential per request
            self.ak.run_java_tool(
                "org.apache.kafka.tools.ConfigCommand",
                [
                    "--bootstrap-server",
                    self.cluster.bootstrap_servers,
                    "--alter",
                    "--entity-type",
                    "users",
                    "--entity-name",
                    SCRAM_USER,
                    "--add-config",
                    f"{mech}=[password={SCRAM_PASSWORD}]",
                ],
            )
        return self

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"


@pytest.fixture(scope="module")
def sasl_kafka() -> Iterator[SaslKafka]:
    from tests import infra
    from tests.infra import BrokerUnavailable

    try:
        broker = SaslKafka().start()
    except BrokerUnavailable as exc:
        infra.unavailable(f"Apache Kafka with SASL: {exc}")
        raise
    try:
        yield broker
    finally:
        broker.cluster.stop()


def auth(mechanism: str, password: str | None = None) -> dict[str, Any]:
    user, pw = MECHANISMS[mechanism]
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": pw if password is None else password,
    }


def ck_read(bootstrap: str, mechanism: str, topic: str, n: int) -> list[bytes]:
    """librdkafka, authenticating on its own: the values of ``topic``'s partition 0."""
    user, pw = MECHANISMS[mechanism]
    sasl = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism}
    sasl.update({"sasl.username": user, "sasl.password": pw})
    return librdkafka_values({"bootstrap.servers": bootstrap, **sasl}, topic, n)


@pytest.mark.parametrize("mechanism", list(MECHANISMS))
def test_produce_consume_admin_with_sasl(sasl_kafka: SaslKafka, mechanism: str) -> None:
    bs = sasl_kafka.sasl_bootstrap
    topic = f"sasl-{mechanism.lower()}-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=bs, **auth(mechanism))
    try:
        admin.create_topics({topic: {"num_partitions": 1}}, wait_for_metadata=True)
        assert topic in admin.list_topics()
    finally:
        admin.close()
    values = [b"%s-%d" % (mechanism.encode(), i) for i in range(50)]
    producer = KafkaProducer(bootstrap_servers=bs, linger_ms=5, **auth(mechanism))
    try:
        offsets = [f.get(30).offset for f in [producer.send(topic, v, partition=0) for v in values]]
    finally:
        producer.close()
    assert offsets == list(range(50))
    assert ck_read(bs, mechanism, topic, 50) == values
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bs,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        **auth(mechanism),
    )
    try:
        assert [m.value for m in consumer] == values
        consumer.commit()
    finally:
        consumer.close()


@pytest.mark.parametrize("mechanism", list(MECHANISMS))
def test_wrong_password_fails_at_once(sasl_kafka: SaslKafka, mechanism: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(SaslAuthenticationFailedError, match="SASL authentication failed"):
        KafkaProducer(bootstrap_servers=sasl_kafka.sasl_bootstrap, **auth(mechanism, password="wrong"))
    assert time.monotonic() - t0 < 15  # not retried until the bootstrap timeout (30 s)


def test_mechanism_the_broker_does_not_enable(embedded_broker_module: Any) -> None:
    """The embedded broker enables no SASL mechanism: the refusal names what the broker offers."""
    with pytest.raises(UnsupportedSaslMechanismError, match="PLAIN refused"):
        KafkaConsumer(bootstrap_servers=embedded_broker_module.bootstrap_servers, **auth("PLAIN"))


def test_command_line_with_sasl(sasl_kafka: SaslKafka) -> None:
    """``kafkakit produce``/``consume`` with ``-X`` client configs authenticate with SCRAM."""
    import os
    import subprocess
    import sys

    from tests.infra import REPO_ROOT

    topic = f"sasl-cli-{uuid.uuid4().hex[:6]}"
    user, pw = MECHANISMS["SCRAM-SHA-512"]
    x = ["-b", sasl_kafka.sasl_bootstrap, "-X", "security_protocol=SASL_PLAINTEXT"]
    x += [
        "-X",
        "sasl_mechanism=SCRAM-SHA-512",
        "-X",
        f"sasl_plain_username={user}",
        "-X",
        f"sasl_plain_password={pw}",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}

    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [sys.executable, "-m", "kafkakit", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert out.returncode == 0, out.stderr
        return out

    cli("topics", "create", topic, *x)
    cli("produce", topic, *x, stdin="one\ntwo\nthree\n")
    got = cli("consume", topic, "--from-beginning", "-n", "3", *x)
    assert got.stdout.splitlines() == ["one", "two", "three"]
