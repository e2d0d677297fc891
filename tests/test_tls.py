"""TLS against Apache Kafka: security_protocol SSL, SASL_SSL (PLAIN), and client certificates.

A throwaway CA and a broker certificate for 127.0.0.1 are made with the openssl command line; one
Apache Kafka node (KRaft) gets, beside its PLAINTEXT listener, an SSL listener, a SASL_SSL one and
an SSL one that requires a client certificate, all with that PEM keystore. kafkakit's producer and
group consumer verify the broker against the CA (ssl_cafile), host name included; librdkafka
(confluent-kafka), verifying on its own, reads back what kafkakit wrote. A client that does not
trust the CA fails at construction, at once.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkakit import KafkaConsumer, KafkaProducer
from kafkakit.errors import TLSVerificationError
from tests.infra import free_port, librdkafka_values, make_temp_dir

pytestmark = pytest.mark.timeout(180)

USER, PASSWORD = "carol", "carol-secret"


def make_certificates(d: Path) -> tuple[Path, Path]:
    """(CA certificate, broker keystore: PKCS#8 key + certificate for IP 127.0.0.1) in ``d``."""

    def run(*args: str) -> None:
        subprocess.run(
            ["openssl", *args], cwd=d, check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60
        )

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=kafkakit-test-ca",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "broker.key",
        "-out",
        "broker.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "broker.pem", "-days", "2", "-extfile", "san.cnf",
    )  # fmt: skip
    run("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.pk8")
    # a client certificate from the same CA, for the listener that requires one
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "client.key",
        "-out",
        "client.csr",
        "-subj",
        "/CN=client",
    )
    run(
        "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "client.pem", "-days", "2",
    )  # fmt: skip
    keystore = d / "keystore.pem"
    keystore.write_bytes((d / "broker.pk8").read_bytes() + (d / "broker.pem").read_bytes())
    return d / "ca.pem", keystore


class TlsKafka:
    def __init__(self) -> None:
        from tests.infra import apache_kafka as ak

        self.dir = make_temp_dir("kafkakit-tls-")
        self.ca, keystore = make_certificates(self.dir)
        self.ssl_port, self.sasl_ssl_port, self.mtls_port = free_port(), free_port(), free_port()
        ports = (self.ssl_port, self.sasl_ssl_port, self.mtls_port)
        ca = self.ca

        class Cluster(ak.KafkaCluster):
            def _server_config(self, node: Any, voters: str) -> dict[str, str]:
                cfg = super()._server_config(node, voters)
                extra = f",SSL://127.0.0.1:{ports[0]},SASL_SSL://127.0.0.1:{ports[1]}"
                extra += f",MTLS://127.0.0.1:{ports[2]}"
                cfg["listeners"] += extra
                cfg["advertised.listeners"] += extra
                cfg["listener.security.protocol.map"] += ",SSL:SSL,SASL_SSL:SASL_SSL,MTLS:SSL"
                for listener in ("ssl", "sasl_ssl", "mtls"):
                    cfg[f"listener.name.{listener}.ssl.keystore.type"] = "PEM"
                    cfg[f"listener.name.{listener}.ssl.keystore.location"] = str(keystore)
                cfg["listener.name.mtls.ssl.client.auth"] = "required"
                cfg["listener.name.mtls.ssl.truststore.type"] = "PEM"
                cfg["listener.name.mtls.ssl.truststore.location"] = str(ca)
                cfg["sasl.enabled.mechanisms"] = "PLAIN"
                cfg["listener.name.sasl_ssl.plain.sasl.jaas.config"] = (
                    f'org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}="{PASSWORD}";'
                )
                return cfg

        self.cluster = Cluster(1, name="kafka-tls")

    def bootstrap(self, protocol: str) -> str:
        port = {"SSL": self.ssl_port, "SASL_SSL": self.sasl_ssl_port, "MTLS": self.mtls_port}[protocol]
        return f"127.0.0.1:{port}"

    def client_config(self, protocol: str) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "security_protocol": "SSL" if protocol == "MTLS" else protocol,
            "ssl_cafile": str(self.ca),
            "ssl_check_hostname": True,
        }
        if protocol == "MTLS":  # the listener requires a client certificate
            cfg.update(ssl_certfile=str(self.dir / "client.pem"), ssl_keyfile=str(self.dir / "client.key"))
        if protocol == "SASL_SSL":
            cfg.update(sasl_mechanism="PLAIN", sasl_plain_username=USER, sasl_plain_password=PASSWORD)
        return cfg

    def librdkafka_config(self, protocol: str) -> dict[str, Any]:
        cfg: dict[str, Any] = {"security.protocol": "SSL" if protocol == "MTLS" else protocol}
        cfg["ssl.ca.location"] = str(self.ca)
        if protocol == "MTLS":
            cfg["ssl.certificate.location"] = str(self.dir / "client.pem")
            cfg["ssl.key.location"] = str(self.dir / "client.key")
        if protocol == "SASL_SSL":
            cfg.update({"sasl.mechanism": "PLAIN", "sasl.username": USER, "sasl.password": PASSWORD})
        return cfg


@pytest.fixture(scope="module")
def tls_kafka() -> Iterator[TlsKafka]:
    from tests import infra
    from tests.infra import BrokerUnavailable

    if shutil.which("openssl") is None:
        infra.unavailable("no openssl command to make the test certificates")
    try:
        broker = TlsKafka()
        broker.cluster.start()
    except BrokerUnavailable as exc:
        infra.unavailable(f"Apache Kafka with TLS: {exc}")
        raise
    try:
        yield broker
    finally:
        broker.cluster.stop()
        shutil.rmtree(broker.dir, ignore_errors=True)


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL", "MTLS"])
def test_produce_consume_over_tls(tls_kafka: TlsKafka, protocol: str) -> None:
    bs = tls_kafka.bootstrap(protocol)
    topic = f"tls-{protocol.lower()}-{uuid.uuid4().hex[:6]}"
    values = [b"%s-%d" % (protocol.encode(), i) for i in range(30)]
    producer = KafkaProducer(bootstrap_servers=bs, linger_ms=5, **tls_kafka.client_config(protocol))
    try:
        offsets = [f.get(30).offset for f in [producer.send(topic, v, partition=0) for v in values]]
    finally:
        producer.close()
    assert offsets == list(range(30))
    seen = librdkafka_values({"bootstrap.servers": bs, **tls_kafka.librdkafka_config(protocol)}, topic, 30)
    assert seen == values
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bs,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
        **tls_kafka.client_config(protocol),
    )
    try:
        assert [m.value for m in consumer] == values
    finally:
        consumer.close()


def test_listener_requiring_a_client_certificate_refuses_a_client_without_one(tls_kafka: TlsKafka) -> None:
    from kafkakit.errors import KafkaError

    with pytest.raises(KafkaError):
        KafkaProducer(
            bootstrap_servers=tls_kafka.bootstrap("MTLS"),
            security_protocol="SSL",
            ssl_cafile=str(tls_kafka.ca),
            bootstrap_timeout_ms=3000,
        )


def test_untrusted_certificate_fails_at_once(tls_kafka: TlsKafka) -> None:
    t0 = time.monotonic()
    with pytest.raises(TLSVerificationError, match="certificate verify failed|self.signed|unable to get"):
        KafkaProducer(bootstrap_servers=tls_kafka.bootstrap("SSL"), security_protocol="SSL")
    assert time.monotonic() - t0 < 15  # not retried until the bootstrap timeout (30 s)
