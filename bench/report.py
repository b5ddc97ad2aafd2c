"""Turning samples into the table: medians, min-max spread, ratios to direct, goals met."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from testimage import docker_env
from workloads import Goal, Metric, Sample, Workload

JUDGED = "sockspy"  # the target the goals are about


@dataclass
class Record:
    """One sample of one workload on one target, or the error that stopped it."""

    workload: str
    target: str
    round: int
    position: int  # place of the target in this round's order
    started: float  # seconds since the run began
    sample: Sample | None = None
    error: str | None = None

    @property
    def failed_checks(self) -> list[str]:
        if self.sample is None:
            return []
        return [f"{c.name} ({c.detail})" for c in self.sample.checks if not c.ok]


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    errors: int = 0
    failed: int = 0  # samples with a failed correctness check

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None


@dataclass
class Row:
    label: str
    metric: Metric
    cells: dict[str, Cell]

    def ratio(self, target: str) -> float | None:
        mine, direct = self.cells[target].median, self.cells["direct"].median
        if not self.metric.per_direct or mine is None or not direct:
            return None
        return mine / direct

    def met(self) -> str:
        goal = self.metric.goal
        cell = self.cells.get(JUDGED)
        if goal is None:
            return ""
        if cell is None or (not cell.values and not cell.errors):
            return "n/a"
        if cell.errors or cell.failed:
            return "NO (errors)" if cell.errors else "NO (checks)"
        return "yes" if _meets(goal, cell.values, self.ratio(JUDGED)) else "NO"


def _meets(goal: Goal, values: list[float], ratio: float | None) -> bool:
    if goal.kind == "ratio":
        return ratio is not None and ratio >= goal.value
    if goal.kind == "max":
        return max(values) <= goal.value  # judged on the worst sample
    return min(values) >= 1.0


def build_rows(
    records: Sequence[Record],
    workloads: Sequence[Workload],
    targets: Sequence[str],
    labels: dict[str, str],
) -> list[Row]:
    rows = []
    for workload in workloads:
        mine = [r for r in records if r.workload == workload.key]
        if not mine:
            continue
        for metric in workload.metrics:
            cells = {name: Cell() for name in targets}
            for record in mine:
                cell = cells[record.target]
                if record.sample is None:
                    cell.errors += 1
                    continue
                if record.failed_checks:
                    cell.failed += 1
                if metric.key in record.sample.values:
                    cell.values.append(record.sample.values[metric.key])
            rows.append(Row(metric.label.format(**labels), metric, cells))
    return rows


def fmt(value: float, unit: str) -> str:
    if unit == "share":
        return "all" if value >= 1.0 else f"{value * 100:.1f}%"
    if unit == "req/s" or (unit == "MiB/s" and value >= 100):
        return f"{value:,.0f}"
    if unit == "s":
        return f"{value:.2f}"
    return f"{value:,.1f}"


def fmt_cell(cell: Cell | None, unit: str) -> str:
    if cell is None:
        return "-"
    if not cell.values:
        return "ERROR" if cell.errors else "n/a"
    text = fmt(statistics.median(cell.values), unit)
    low, high = min(cell.values), max(cell.values)
    if len(cell.values) > 1 and fmt(low, unit) != fmt(high, unit):
        text += f" [{fmt(low, unit)}-{fmt(high, unit)}]"
    if cell.errors or cell.failed:
        text += " !"
    return text


def render_table(rows: Sequence[Row], targets: Sequence[str]) -> str:
    others = [t for t in targets if t != "direct"]
    header = ["workload", "unit", *targets, *(f"{t}/direct" for t in others), "target", "met?"]
    lines = [header]
    for row in rows:
        unit = row.metric.unit if row.metric.unit != "share" else ""
        ratios = []
        for target in others:
            ratio = row.ratio(target)
            ratios.append("-" if ratio is None else f"{ratio:.2f}x")
        goal = row.metric.goal.describe(row.metric.unit) if row.metric.goal else ""
        cells = [fmt_cell(row.cells.get(t), row.metric.unit) for t in targets]
        lines.append([row.label, unit, *cells, *ratios, goal, row.met()])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        out.append(
            "  ".join(
                text.ljust(width) if col < 2 or col >= len(header) - 2 else text.rjust(width)
                for col, (text, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def machine(direct_host: str) -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    server = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}} (API {{.Server.APIVersion}})"],
        env=docker_env(direct_host), capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    client = subprocess.run(
        ["docker", "version", "--format", "{{.Client.Version}}"],
        env=docker_env(direct_host), capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    socat = subprocess.run(["socat", "-V"], capture_output=True, text=True).stdout
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {
        "cpus": str(os.cpu_count()),
        "cpu_model": cpu,
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker_server": server,
        "docker_client": client,
        "socat": next((ln.split("version")[1].split()[0] for ln in socat.splitlines()
                       if "socat version" in ln), "not installed"),
        "sockspy_commit": commit,
    }  # fmt: skip


def audit_summary(path: Path) -> dict[str, int]:
    """Lines in sockspy's audit log, and the ones that would void the run (denials, drops)."""
    summary = {"records": 0, "exchange": 0, "denied": 0, "dropped": 0, "unparsable": 0}
    if not path.exists():
        return summary
    with open(path, "rb") as f:
        for line in f:
            summary["records"] += 1
            if b'"event": "exchange"' in line or b'"event":"exchange"' in line:
                summary["exchange"] += 1
            if b'"deny"' in line or b"audit_dropped" in line:
                try:
                    record = json.loads(line)
                except ValueError:
                    summary["unparsable"] += 1
                    continue
                if record.get("decision") == "deny":
                    summary["denied"] += 1
                if record.get("event") == "audit_dropped":
                    summary["dropped"] += int(record.get("dropped", 0))
    return summary


def print_checks(records: Sequence[Record], names: Sequence[str]) -> None:
    """Each correctness check, with how many samples passed it per target."""
    tally: dict[str, dict[str, list[int]]] = {}
    for record in records:
        if record.sample is None:
            continue
        for check in record.sample.checks:
            counts = tally.setdefault(check.name, {}).setdefault(record.target, [0, 0])
            counts[0] += check.ok
            counts[1] += 1
    print("correctness checks (passed/samples):")
    for name, per_target in tally.items():
        cells = ", ".join(
            f"{t} {per_target[t][0]}/{per_target[t][1]}" for t in names if t in per_target
        )
        flag = "" if all(p == n for p, n in per_target.values()) else "   <-- FAILED"
        print(f"  {name}: {cells}{flag}")


def print_generator(records: Sequence[Record]) -> None:
    """The load generator's own cost, so its ceiling can be compared to the rates."""
    by_workload: dict[str, list[tuple[float, float, float]]] = {}
    for record in records:
        extra = record.sample.extra if record.sample else {}
        if "generator_cpu_us_per_request" in extra and record.sample:
            by_workload.setdefault(record.workload, []).append((
                float(extra["generator_cpu_us_per_request"]),
                float(extra["generator_cores"]),
                record.sample.values["rate"],
            ))  # fmt: skip
    if not by_workload:
        return
    parts = []
    for workload, figures in by_workload.items():
        cost = min(f[0] for f in figures)
        busiest = max(figures, key=lambda f: f[2])
        parts.append(
            f"{workload} {cost:.1f} us/req (ceiling ~{1e6 / cost:,.0f} req/s per core; at its "
            f"top rate {busiest[2]:,.0f} req/s it used {busiest[1]:.2f} cores)"
        )
    print("load generator CPU: " + "; ".join(parts))


def print_target_cpu(records: Sequence[Record], names: Sequence[str]) -> None:
    """What each proxy's process spent per request (median), where it could be measured."""
    per: dict[str, dict[str, list[float]]] = {}
    for record in records:
        if record.sample and "target_cpu_us_per_request" in record.sample.extra:
            cost = float(record.sample.extra["target_cpu_us_per_request"])
            per.setdefault(record.workload, {}).setdefault(record.target, []).append(cost)
    if per:
        parts = [
            f"{workload} "
            + ", ".join(f"{t} {statistics.median(c[t]):.0f}" for t in names if t in c)
            for workload, c in per.items()
        ]
        print("proxy CPU per request, us (median): " + "; ".join(parts))
