"""The ``kafkakit`` command line, driven as a subprocess against an embedded broker.

Every command runs as ``python -m kafkakit ...`` (one test uses the installed console script) against
kafkakit's Broker running in this test process; output and exit codes are checked exactly. What the
commands change is read back through kafka-python (an independent client) where it matters: records
produced by ``kafkakit produce``, offsets committed by ``kafkakit consume``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.infra import REPO_ROOT, free_port

kafka = pytest.importorskip("kafka")

PY = [sys.executable, "-m", "kafkakit"]


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    full_env = dict(os.environ)
    full_env.pop("KAFKAKIT_BOOTSTRAP_SERVER", None)
    full_env["PYTHONPATH"] = str(REPO_ROOT / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    return subprocess.run(
        [*PY, *args], input=input, capture_output=True, text=True, timeout=timeout, env=full_env
    )


def ok(proc: Any) -> Any:
    assert proc.returncode == 0, f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def one_error_line(proc: Any, rc: int, pattern: str) -> None:
    """Failed with ``rc``, exactly one stderr line matching ``pattern``, no traceback."""
    assert proc.returncode == rc, f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(pattern, lines[0]), lines[0]


@pytest.fixture(scope="module")
def bs(embedded_broker_module: Any) -> str:
    return str(embedded_broker_module.bootstrap_servers)


@pytest.fixture
def topic() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}"


def peer_consume(bs: str, topic: str, n: int) -> list[Any]:
    c = kafka.KafkaConsumer(
        topic, bootstrap_servers=bs, auto_offset_reset="earliest", consumer_timeout_ms=10000
    )
    try:
        out = []
        for m in c:
            out.append(m)
            if len(out) == n:
                break
        return out
    finally:
        c.close()


def committed(bs: str, group: str) -> dict[tuple[str, int], int]:
    a = kafka.KafkaAdminClient(bootstrap_servers=bs)
    try:
        return {(tp.topic, tp.partition): o.offset for tp, o in a.list_group_offsets(group)[group].items()}
    finally:
        a.close()


# --- topics --------------------------------------------------------------------------------------


def test_topics_create_list_describe_delete(bs: str, topic: str) -> None:
    created = ok(run("topics", "create", topic, "-p", "3", "-c", "retention.ms=100000", "-b", bs))
    assert (created.stdout, created.stderr) == (f"Created topic '{topic}'.\n", "")
    one_error_line(
        run("topics", "create", topic, "-b", bs), 1, rf"^kafkakit topics create: error: .*'{topic}'.*exists"
    )
    assert (
        ok(run("topics", "create", topic, "--if-not-exists", "-b", bs)).stdout
        == f"Topic '{topic}' already exists.\n"
    )

    assert topic in ok(run("topics", "list", "-b", bs)).stdout.splitlines()
    assert topic in json.loads(ok(run("topics", "list", "--json", "-b", bs)).stdout)

    described = json.loads(ok(run("topics", "describe", topic, "--json", "-b", bs)).stdout)
    assert len(described) == 1
    d = described[0]
    assert (d["name"], d["internal"], d["configs"]) == (topic, False, {"retention.ms": "100000"})
    assert [
        (p["partition"], p["replicas"], p["isr"], p["start_offset"], p["end_offset"]) for p in d["partitions"]
    ] == [(i, [p["leader"]], [p["leader"]], 0, 0) for i, p in enumerate(d["partitions"])]
    table = ok(run("topics", "describe", topic, "-b", bs)).stdout
    assert f"Topic {topic}  id={d['topic_id']}  partitions=3  configs: retention.ms=100000" in table
    assert (
        len([ln for ln in table.splitlines() if re.match(r"^\s+[0-2]\s+\d+\s+\d+\s+\d+\s+0\s+0\s*$", ln)])
        == 3
    )

    assert ok(run("topics", "delete", topic, "-b", bs)).stdout == f"Deleted topic '{topic}'.\n"
    assert topic not in ok(run("topics", "list", "-b", bs)).stdout.splitlines()
    one_error_line(run("topics", "delete", topic, "-b", bs), 1, rf"could not delete topic\(s\) '{topic}'")
    assert (
        ok(run("topics", "delete", topic, "--if-exists", "-b", bs)).stdout
        == f"Topic '{topic}' does not exist.\n"
    )
    one_error_line(run("topics", "describe", topic, "-b", bs), 1, rf"UnknownTopicOrPartitionError.*'{topic}'")


# --- produce / consume ---------------------------------------------------------------------------


def test_produce_then_consume_round_trip(bs: str, topic: str, tmp_path: Path) -> None:
    ok(run("topics", "create", topic, "-p", "2", "-b", bs))
    lines = [f"k{i}:value {i} \u00e9" for i in range(6)]
    produced = ok(
        run(
            "produce",
            topic,
            "-k",
            ":",
            "-H",
            "app=cli,n=1",
            "--acks",
            "all",
            "-b",
            bs,
            input="\n".join(lines) + "\n",
        )
    )
    assert re.fullmatch(
        rf"Produced 6 record\(s\) \(\d+ bytes\) to '{topic}' \[[12] partition\(s\)\] in \d+\.\d\d s\.\n",
        produced.stdout,
    )
    # read back with kafka-python: keys, values and headers as sent
    got = peer_consume(bs, topic, 6)
    assert sorted((m.key, m.value, m.headers) for m in got) == sorted(
        (f"k{i}".encode(), f"value {i} \u00e9".encode(), [("app", b"cli"), ("n", b"1")]) for i in range(6)
    )

    out = ok(run("consume", topic, "--from-beginning", "-n", "6", "--format", "json", "-b", bs))
    records = [json.loads(ln) for ln in out.stdout.splitlines()]
    expected = {(m.partition, m.offset): m for m in got}
    assert len(records) == 6
    for r in records:
        m = expected[(r["partition"], r["offset"])]
        assert r == {
            "topic": topic,
            "partition": m.partition,
            "offset": m.offset,
            "timestamp": m.timestamp,
            "key": m.key.decode(),
            "value": m.value.decode(),
            "headers": [["app", "cli"], ["n", "1"]],
        }
    assert out.stderr == f"Consumed 6 record(s) from '{topic}'.\n"

    # --file, value format, one partition from an offset
    f = tmp_path / "in.txt"
    f.write_text("one\ntwo\n\nfour\n")
    ok(run("produce", topic, "--file", str(f), "--partition", "1", "-b", bs))
    ends = {p: sum(1 for m in got if m.partition == p) for p in (0, 1)}
    tail = ok(run("consume", topic, "-p", "1", "-o", str(ends[1] + 1), "-n", "3", "-b", bs))
    assert tail.stdout == "two\n\nfour\n"
    idle = ok(run("consume", topic, "-p", "0", "--idle-timeout", "0.5", "-b", bs))
    assert (idle.stdout, idle.stderr) == ("", f"Consumed 0 record(s) from '{topic}'.\n")


def test_consume_in_a_group_commits_what_it_printed(bs: str, topic: str) -> None:
    ok(run("topics", "create", topic, "-p", "1", "-b", bs))
    ok(run("produce", topic, "-b", bs, input="".join(f"{i}\n" for i in range(10))))
    group = f"g-{topic}"
    first = ok(run("consume", topic, "-g", group, "--from-beginning", "-n", "4", "-b", bs))
    assert first.stdout == "0\n1\n2\n3\n"
    assert first.stderr == f"Consumed 4 record(s) from '{topic}', offsets committed for group '{group}'.\n"
    assert committed(bs, group) == {(topic, 0): 4}
    second = ok(run("consume", topic, "-g", group, "-n", "6", "-b", bs))
    assert second.stdout == "".join(f"{i}\n" for i in range(4, 10))
    assert committed(bs, group) == {(topic, 0): 10}


def test_ctrl_c_stops_consume_cleanly_with_offsets_committed(bs: str, topic: str) -> None:
    ok(run("topics", "create", topic, "-p", "2", "-b", bs))
    ok(run("produce", topic, "-b", bs, input="".join(f"{i}\n" for i in range(20))))
    group = f"g-{topic}"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "src"))
    proc = subprocess.Popen(
        [*PY, "consume", topic, "-g", group, "--from-beginning", "-b", bs],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        seen = sorted(int(proc.stdout.readline()) for _ in range(20))
        assert seen == list(range(20))
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert rest == ""
    assert (
        err == f"Consumed 20 record(s) from '{topic}', offsets committed for group '{group}' (interrupted).\n"
    )
    offsets = committed(bs, group)
    assert sum(offsets.values()) == 20


# --- groups --------------------------------------------------------------------------------------


def test_groups_list_describe_lag_reset_delete(bs: str, topic: str) -> None:
    ok(run("topics", "create", topic, "-p", "2", "-b", bs))
    ok(run("produce", topic, "-p", "0", "-b", bs, input="".join(f"a{i}\n" for i in range(7))))
    ok(run("produce", topic, "-p", "1", "-b", bs, input="".join(f"b{i}\n" for i in range(3))))
    group = f"g-{topic}"
    ok(run("consume", topic, "-g", group, "--from-beginning", "-n", "10", "-b", bs))
    ok(run("produce", topic, "-p", "0", "-b", bs, input="late1\nlate2\n"))

    listed = json.loads(ok(run("groups", "list", "--json", "-b", bs)).stdout)
    assert {
        "group_id": group,
        "protocol_type": "consumer",
        "group_state": "Empty",
        "group_type": "classic",
    } in listed
    assert re.search(
        rf"^\s*{group}\s+Empty\s+classic\s+consumer\s*$", ok(run("groups", "list", "-b", bs)).stdout, re.M
    )

    [d] = json.loads(ok(run("groups", "describe", group, "--json", "-b", bs)).stdout)
    assert (d["group"], d["state"], d["members"]) == (group, "Empty", 0)
    assert [
        (p["topic"], p["partition"], p["committed_offset"], p["end_offset"], p["lag"])
        for p in d["partitions"]
    ] == [
        (topic, 0, 7, 9, 2),
        (topic, 1, 3, 3, 0),
    ]
    table = ok(run("groups", "describe", group, "-b", bs)).stdout
    assert f"Group {group}  state=Empty  members=0  assignor=-  total lag=2" in table
    assert re.search(rf"^\s*{topic}\s+0\s+7\s+9\s+2\s+-\s+-\s+-\s*$", table, re.M)

    dry = ok(run("groups", "reset-offsets", group, "--all-topics", "--to-earliest", "--json", "-b", bs))
    assert json.loads(dry.stdout)["executed"] is False
    assert [p["new_offset"] for p in json.loads(dry.stdout)["partitions"]] == [0, 0]
    assert committed(bs, group) == {(topic, 0): 7, (topic, 1): 3}
    ok(run("groups", "reset-offsets", group, "-t", f"{topic}:0", "--to-offset", "5", "--execute", "-b", bs))
    assert committed(bs, group) == {(topic, 0): 5, (topic, 1): 3}
    ok(run("groups", "reset-offsets", group, "-t", topic, "--shift-by", "-2", "--execute", "-b", bs))
    assert committed(bs, group) == {(topic, 0): 3, (topic, 1): 1}
    one_error_line(
        run("groups", "reset-offsets", group, "-t", topic, "-b", bs),
        2,
        r"choose exactly one of --to-earliest",
    )

    assert ok(run("groups", "delete", group, "-b", bs)).stdout == f"Deleted group '{group}'.\n"
    one_error_line(run("groups", "describe", group, "-b", bs), 1, rf"GroupIdNotFoundError.*'{group}'")


# --- bench, quickstart ---------------------------------------------------------------------------


def test_bench_producer_and_consumer(bs: str, topic: str, tmp_path: Path) -> None:
    plot = tmp_path / "producer.png"
    prod = ok(
        run(
            "bench",
            "producer",
            "-t",
            topic,
            "-n",
            "3000",
            "-s",
            "50",
            "--json",
            "--plot",
            str(plot),
            "-b",
            bs,
        )
    )
    s = json.loads(prod.stdout)
    assert (s["records"], s["bytes"], s["topic"], s["record_size"]) == (3000, 150000, topic, 50)
    assert s["records_per_s"] > 0 and s["mb_per_s"] > 0
    lat = s["latency_ms"]
    assert set(lat) == {"avg", "p50", "p95", "p99", "max"}
    assert 0 <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "producing" in prod.stderr and "Traceback" not in prod.stderr

    cons = ok(run("bench", "consumer", "-t", topic, "-b", bs))
    assert "Consumer: 3000 records from" in cons.stdout
    header = next(ln for ln in cons.stdout.splitlines() if "RECORDS/S" in ln)
    assert header.split() == [
        "RECORDS",
        "RECORDS/S",
        "MB/S",
        "E2E",
        "LATENCY",
        "AVG",
        "P50",
        "P95",
        "P99",
        "MAX",
        "(ms)",
    ]
    row = cons.stdout.splitlines()[cons.stdout.splitlines().index(header) + 2].split()
    assert row[0] == "3000"
    assert (
        json.loads(ok(run("bench", "consumer", "-t", topic, "-n", "1000", "--json", "-b", bs)).stdout)[
            "bytes"
        ]
        == 50000
    )


def test_bench_plot_without_matplotlib_says_what_to_install(bs: str, topic: str, tmp_path: Path) -> None:
    stub = tmp_path / "stub" / "matplotlib"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('matplotlib is not installed')\n")
    proc = run(
        "bench",
        "producer",
        "-t",
        topic,
        "-n",
        "10",
        "--plot",
        str(tmp_path / "x.png"),
        "-b",
        bs,
        env={"PYTHONPATH": f"{stub.parent}{os.pathsep}{REPO_ROOT / 'src'}"},
    )
    one_error_line(proc, 1, r"--plot needs matplotlib, an optional extra: pip install 'kafkakit\[plot\]'")
    assert not (tmp_path / "x.png").exists()


def test_quickstart_on_an_embedded_broker_and_on_a_given_cluster(bs: str) -> None:
    for extra in ([], ["-b", bs]):
        proc = ok(run("quickstart", "--records", "3000", *extra, timeout=300))
        out = proc.stdout
        assert re.search(r"^\s*records delivered exactly once\s+yes\s*$", out, re.M), out
        assert re.search(r"^\s*final consumer lag \(admin client\)\s+0\s*$", out, re.M), out
        assert re.search(r"^\s*overall\s+PASS\s*$", out, re.M), out
        members = re.findall(r"^\s*consumer-(\d)\s+(\d+)\s+([\d,]+)\s+(\d+)\s*$", out, re.M)
        assert sorted(int(m[0]) for m in members) == [0, 1, 2]
        assert sorted(p for m in members for p in map(int, m[2].split(","))) == [0, 1, 2, 3, 4, 5]
        assert [int(m[1]) for m in members] == [2, 2, 2]
        assert sum(int(m[3]) for m in members) == 3000
        assert re.search(r"^\s*produce\s+3000\s", out, re.M) and re.search(r"^\s*consume\s+3000\s", out, re.M)
        assert re.search(r"^\s*end-to-end(\s+\d+\.\d\d){5}\s*$", out, re.M), out
    assert (
        "Started an embedded broker"
        in ok(run("quickstart", "-n", "600", "--consumers", "2", "--partitions", "2")).stderr
    )


# --- errors --------------------------------------------------------------------------------------


def test_bad_input_gives_one_line_and_a_non_zero_exit(bs: str, topic: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    one_error_line(
        run("topics", "list", "-b", dead, "--timeout", "0.5"),
        1,
        rf"^kafkakit topics list: error: NoBrokersAvailable: .*{dead}",
    )
    debug = run("topics", "list", "-b", dead, "--timeout", "0.5", "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert "Traceback" in run("--debug", "groups", "list", "-b", dead, "--timeout", "0.5").stderr
    one_error_line(
        run("quickstart", "-b", dead, "--timeout", "0.5", "-n", "10"),
        1,
        r"^kafkakit quickstart: error: NoBrokersAvailable",
    )

    one_error_line(
        run("topics", "list", "--nope"), 2, r"^kafkakit topics list: error: No such option '--nope'"
    )
    one_error_line(run("topicz"), 2, r"^kafkakit: error: No such command 'topicz'")
    one_error_line(
        run("produce", topic, "--file", "/nonexistent/in.txt", "-b", bs), 2, r"'/nonexistent/in.txt'"
    )
    one_error_line(
        run("produce", topic, "-H", "novalue", "-b", bs, input="x\n"), 2, r"'novalue' is not key=value"
    )
    one_error_line(run("consume", topic, "--offset", "3", "-b", bs), 2, r"--offset.*needs --partition")
    one_error_line(run("produce", topic, "-b", bs, input="x\n"), 1, rf"topic '{topic}' does not exist")
    one_error_line(run("consume", topic, "-b", bs), 1, rf"topic '{topic}' does not exist")

    ok(run("topics", "create", topic, "-b", bs))
    one_error_line(
        run("produce", topic, "-k", "=", "-b", bs, input="a=1\nno separator\n"),
        1,
        r"line 2 has no key separator '='",
    )
    one_error_line(run("consume", topic, "-p", "4", "-b", bs), 1, rf"topic '{topic}' has no partition 4")

    # -X client configs reach the clients: a mechanism the embedded broker does not enable is refused
    one_error_line(
        run("topics", "list", "-b", bs, "-X", "no_such_key=1"), 1, r"-X no_such_key: not a client config"
    )
    one_error_line(run("topics", "list", "-b", bs, "-X", "novalue"), 1, r"-X 'novalue': expected KEY=VALUE")
    sasl = ["-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl_mechanism=PLAIN"]
    sasl += ["-X", "sasl_plain_username=u", "-X", "sasl_plain_password=1234"]
    one_error_line(
        run("topics", "list", "-b", bs, *sasl), 1, r"UnsupportedSaslMechanismError: .*PLAIN refused"
    )


def test_console_script_version_and_broker_subcommand(bs: str, embedded_broker_process: Any) -> None:
    exe = shutil.which("kafkakit") or str(Path(sys.executable).with_name("kafkakit"))
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout) == (0, "kafkakit, version 0.1.0\n")
    assert ok(run()).stdout.startswith("Usage: kafkakit [OPTIONS] COMMAND [ARGS]...")
    assert "reset-offsets" in ok(run("groups")).stdout
    helped = ok(run("broker", "--help"))
    assert helped.stdout.startswith("usage: kafkakit broker") and "--data-dir" in helped.stdout
    # embedded_broker_process was started with `python -m kafkakit broker --data-dir ... --port ...`
    served = embedded_broker_process.bootstrap_servers
    t = f"cli-{uuid.uuid4().hex[:8]}"
    ok(run("topics", "create", t, "-b", served))
    assert t in ok(run("topics", "list", "-b", served)).stdout.splitlines()
