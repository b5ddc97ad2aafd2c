"""The benchmark of issue 4: sockspy against a direct connection to the daemon, and socat.

    python bench/run.py [--short] [--daemon unix:///...] [--json out.json]
                        [--only WORKLOAD,...] [--rounds N] [--contender NAME=COMMAND]...

Every workload runs on every target in one run: `direct` (the daemon socket), `sockspy`
(the `ci-runner` preset, audit log as JSON to a file) and `socat` (when installed),
interleaved, with the order of the targets rotated each round so that no target always
goes first or last. The table gives the median with the min-max spread, the ratio of
each proxy's median to direct's, the issue's goal for sockspy and whether it is met;
ratios are judged on medians, limits (memory, time) on the worst sample. Every sample
goes to a JSON file (`--json`, default /tmp/sockspy-bench-DATE.json). The exit status is
1 when a correctness check failed or a sample errored on direct or sockspy, whatever the
speed.

`--short` (about 5 minutes) takes fewer, shorter samples, saves and loads a 128 MiB
image instead of 512 MiB, and opens 2,000 connections at once instead of 10,000.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import targets
import testimage
from report import (
    JUDGED,
    Record,
    Row,
    audit_summary,
    build_rows,
    fmt,
    machine,
    print_checks,
    print_generator,
    print_target_cpu,
    render_table,
)
from targets import Target
from testimage import MIB, docker
from workloads import DEFAULT_CLIENTS, WORKLOADS, Context, Fixtures, Workload, with_client_counts

SOCAT_CROWD_MAX = 2000  # socat forks a process per connection; spare the shared pid space
CONTAINER_PREFIX = "sockspy-bench-"


@dataclass(frozen=True)
class Settings:
    short: bool
    rounds: int
    seconds: float  # per request/response sample
    image_mib: int
    exec_mib: int
    eof_mib: int
    clients: tuple[int, ...]  # the concurrent workload runs once per count
    workers: int
    streams: int
    crowd: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        short = args.short
        return cls(
            short=short,
            rounds=args.rounds or (3 if short else 5),
            seconds=2.0 if short else 5.0,
            image_mib=128 if short else 512,
            exec_mib=256,
            eof_mib=16,
            clients=args.clients,
            workers=2,
            streams=1000,
            crowd=2000 if short else 10000,
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    keys = [w.key for w in WORKLOADS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="a quick run (about 5 minutes)")
    parser.add_argument(
        "--daemon",
        default="unix:///var/run/docker.sock",
        help="the daemon socket (default: %(default)s)",
    )
    parser.add_argument(
        "--json", type=Path, help="write every sample here (default: /tmp/sockspy-bench-DATE.json)"
    )
    parser.add_argument("--only", help=f"comma-separated workloads: {','.join(keys)}")
    parser.add_argument("--rounds", type=int, help="rounds (default: 5, or 3 with --short)")
    parser.add_argument(
        "--clients",
        type=client_counts,
        default=(DEFAULT_CLIENTS,),
        help="comma-separated client counts for the concurrent workload, e.g. 1,8,64,512 "
        f"for the scaling figures (default: {DEFAULT_CLIENTS})",
    )
    parser.add_argument("--no-socat", action="store_true", help="leave socat out")
    parser.add_argument(
        "--contender",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="another proxy to run beside the others, e.g. "
        "cetusguard='./cetusguard -frontend-addr {listen_url} -backend-addr {upstream_url}' "
        "({listen}/{upstream}: socket paths; {listen_url}/{upstream_url}: unix:// URLs); "
        "repeatable",
    )
    args = parser.parse_args(argv)
    try:
        args.contenders = [targets.parse_contender(spec) for spec in args.contender]
    except ValueError as exc:
        parser.error(str(exc))
    if len({name for name, _ in args.contenders}) != len(args.contenders):
        parser.error("two --contender have the same name")
    if not args.daemon.startswith("unix://"):
        parser.error("--daemon must be unix:///path (the load generator speaks unix sockets)")
    if args.only:
        unknown = set(args.only.split(",")) - set(keys)
        if unknown:
            parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    return args


def client_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not counts or min(counts) < 1 or len(set(counts)) != len(counts):
        raise argparse.ArgumentTypeError(f"client counts must be distinct and >= 1: {text!r}")
    return counts


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.from_args(args)
    chosen = [w for w in WORKLOADS if not args.only or w.key in args.only.split(",")]
    workloads = with_client_counts(chosen, settings.clients)
    daemon_path = args.daemon.removeprefix("unix://")
    fd_limit = targets.raise_fd_limit()
    began = datetime.now(UTC)
    facts = machine(args.daemon)
    facts["load_at_start"] = f"{os.getloadavg()[0]:.2f}"
    with tempfile.TemporaryDirectory(prefix="sockspy-bench-", dir="/tmp") as tmp:
        rundir = Path(tmp)
        with fixtures(args.daemon, rundir, settings, workloads) as fx:
            all_targets = [targets.direct(daemon_path), targets.sockspy(daemon_path, rundir)]
            if shutil.which("socat") and not args.no_socat:
                all_targets.append(targets.socat(daemon_path, rundir))
            for name, template in args.contenders:
                all_targets.append(targets.contender(name, template, daemon_path, rundir))
            with running(all_targets):
                ctx = Context(
                    direct_host=args.daemon,
                    seconds=settings.seconds,
                    workers=settings.workers,
                    events_streams=settings.streams,
                    crowd_sizes=crowd_sizes(all_targets, settings.crowd),
                    fx=fx,
                )
                log(f"fd limit: bench {fd_limit}; " + ", ".join(
                    f"{t.name} {t.fd_limit()}" for t in all_targets if t.proc))  # fmt: skip
                records = run_rounds(workloads, all_targets, ctx, settings.rounds)
            audit = audit_summary(rundir / "audit.jsonl")
            problems = {t.name: t.problems for t in all_targets if t.problems}
            stderr_tails = {
                t.name: tail(rundir / f"{t.name}.stderr") for t in all_targets if t.proc
            }
    facts["load_at_end"] = f"{os.getloadavg()[0]:.2f}"
    names = [t.name for t in all_targets]
    labels = {
        "image_mib": str(settings.image_mib),
        "exec_mib": str(settings.exec_mib),
        "streams": f"{settings.streams:,}",
        "crowd": crowd_label(ctx.crowd_sizes),
    }
    rows = build_rows(records, workloads, names, labels)
    print_report(began, facts, settings, ctx, rows, names, records, audit, problems)
    json_path = args.json or Path(f"/tmp/sockspy-bench-{began:%Y%m%d-%H%M%S}.json")
    json_path.write_text(json.dumps({
        "date": began.isoformat(timespec="seconds"),
        "machine": facts,
        "settings": asdict(settings),
        "crowd_sizes": ctx.crowd_sizes,
        "targets": {t.name: {"command": t.command, "restarts": t.restarts,
                             "problems": t.problems} for t in all_targets},
        "rows": [{"label": r.label, "unit": r.metric.unit, "met": r.met(),
                  "goal": asdict(r.metric.goal) if r.metric.goal else None,
                  "medians": {n: c.median for n, c in r.cells.items()},
                  "ratios": {n: r.ratio(n) for n in names if n != "direct"}}
                 for r in rows],
        "audit_log": audit,
        "target_stderr_tail": stderr_tails,
        "samples": [asdict(r) for r in records],
    }, indent=1))  # fmt: skip
    print(f"every sample: {json_path}")
    # socat and the contenders are references, not under test: their failures are
    # reported, not fatal.
    broken = [
        r for r in records if r.target in ("direct", "sockspy") and (r.error or r.failed_checks)
    ]
    return 1 if broken or audit.get("denied") else 0


@contextlib.contextmanager
def fixtures(
    host: str, rundir: Path, settings: Settings, workloads: Sequence[Workload]
) -> Iterator[Fixtures]:
    """The image, its reference tar, the payloads and a long-lived container for exec."""
    keys = {w.key for w in workloads}
    log(f"bench image: {settings.image_mib} MiB of random bytes + busybox (cached by tag)")
    image = testimage.ensure_image(host, settings.image_mib)
    if keys & {"save", "load"}:
        log("reference docker save, straight from the daemon")
        tar = testimage.saved_image(host, image, rundir / "image.tar")
    else:
        tar = testimage.Payload(rundir / "image.tar", 0, "")
    exec_payload = testimage.random_payload(rundir / "exec.bin", settings.exec_mib * MIB)
    eof_payload = testimage.random_payload(rundir / "eof.bin", settings.eof_mib * MIB)
    stale = docker(host, "ps", "-aq", "--filter", f"name={CONTAINER_PREFIX}").stdout.split()
    if stale:
        docker(host, "rm", "-f", *(s.decode() for s in stale))
    container = f"{CONTAINER_PREFIX}{rundir.name.rsplit('-', 1)[-1]}"
    docker(host, "run", "-d", "--name", container, "--network", "none", image, "sleep", "86400")
    try:
        yield Fixtures(image, tar, exec_payload, eof_payload, container)
    finally:
        docker(host, "rm", "-f", container, check=False)


@contextlib.contextmanager
def running(all_targets: Sequence[Target]) -> Iterator[None]:
    try:
        for target in all_targets:
            target.start()
        yield
    finally:
        for target in all_targets:
            target.stop()


def crowd_sizes(all_targets: Sequence[Target], wanted: int) -> dict[str, int]:
    """Connections each target gets in the crowd workload.

    A proxy holds two descriptors per connection (client and daemon side), so its open
    file limit caps the count; socat is held to SOCAT_CROWD_MAX processes.
    """
    sizes = {}
    for target in all_targets:
        size = wanted
        if target.proc is not None:
            soft = target.fd_limit().split("/")[0]
            if soft.isdigit():
                size = min(size, (int(soft) - 64) // 2)
        if target.name == "socat":
            size = min(size, SOCAT_CROWD_MAX)
        sizes[target.name] = size
    return sizes


def crowd_label(sizes: dict[str, int]) -> str:
    """The judged target's count, starred when other targets got another (see the notes)."""
    count = sizes.get(JUDGED, max(sizes.values()))
    return f"{count:,}" + ("" if len(set(sizes.values())) == 1 else "*")


def run_rounds(
    workloads: Sequence[Workload], all_targets: Sequence[Target], ctx: Context, rounds: int
) -> list[Record]:
    """Each round: every workload on every target, the target order rotated by one."""
    records: list[Record] = []
    start = time.monotonic()
    for round_no in range(rounds):
        shift = round_no % len(all_targets)
        order = [*all_targets[shift:], *all_targets[:shift]]
        for workload in workloads:
            if workload.max_rounds is not None and round_no >= workload.max_rounds:
                continue
            for position, target in enumerate(order):
                target.check_alive()
                if workload.fresh_process:
                    target.restart()
                record = Record(workload.key, target.name, round_no, position,
                                round(time.monotonic() - start, 2))  # fmt: skip
                busy_before, total_before = targets.cpu_ticks()
                try:
                    record.sample = workload.run(target, ctx)
                except Exception as exc:  # one bad sample must not end the run
                    record.error = f"{type(exc).__name__}: {exc}"
                busy, total = targets.cpu_ticks()
                if record.sample and total > total_before:
                    # The whole machine's, this run's work included: 1.0 = every CPU busy.
                    share = (busy - busy_before) / (total - total_before)
                    record.sample.extra["machine_busy"] = round(share, 3)
                records.append(record)
                log(f"[round {round_no + 1}/{rounds} {time.monotonic() - start:6.0f}s] "
                    f"{workload.key:16} {target.name:8} {describe(record, workload)}")  # fmt: skip
    return records


def describe(record: Record, workload: Workload) -> str:
    if record.sample is None:
        return f"ERROR {record.error}"
    parts = [
        f"{metric.key}={fmt(record.sample.values[metric.key], metric.unit)}"
        for metric in workload.metrics
        if metric.key in record.sample.values
    ]
    failed = record.failed_checks
    return " ".join(parts) + (f"  FAILED: {'; '.join(failed)}" if failed else "")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def print_report(
    began: datetime,
    facts: dict[str, str],
    settings: Settings,
    ctx: Context,
    rows: Sequence[Row],
    names: Sequence[str],
    records: Sequence[Record],
    audit: dict[str, int],
    problems: dict[str, list[str]],
) -> None:
    short = f" (--short: a {settings.image_mib} MiB image, not 512)" if settings.short else ""
    print(f"sockspy benchmark, {began:%Y-%m-%d %H:%M} UTC{short}")
    print(f"machine: {facts['cpus']} x {facts['cpu_model']}, {facts['memory']}, "
          f"kernel {facts['kernel']}, Python {facts['python']}")  # fmt: skip
    print(
        f"load average (1 min): {facts['load_at_start']} at the start, "
        f"{facts['load_at_end']} at the end (other work on the machine widens the spread)"
    )
    print(f"docker: server {facts['docker_server']}, client {facts['docker_client']}; "
          f"socat {facts['socat']}; sockspy {facts['sockspy_commit']} "
          f"(-c {targets.SOCKSPY_POLICY}, JSON audit log to a file)")  # fmt: skip
    print(f"{settings.rounds} rounds, targets rotated each round; request/response samples "
          f"{settings.seconds:g} s; median [min-max]; ratios on medians, limits on the worst "
          f"sample; '!' marks a cell with an error or a failed check")  # fmt: skip
    print()
    print(render_table(rows, names))
    print()
    print_checks(records, names)
    print_generator(records)
    print_target_cpu(records, names)
    print(f"audit log: {audit['records']:,} records ({audit['exchange']:,} exchanges), "
          f"{audit['denied']} denied, {audit['dropped']} dropped")  # fmt: skip
    if any(size != settings.crowd for size in ctx.crowd_sizes.values()):
        print(f"* crowd: {settings.crowd:,} asked; " + ", ".join(
            f"{name} {size:,}" for name, size in ctx.crowd_sizes.items())
            + f" (a proxy needs 2 fds per connection under its fd limit; socat is held to "
            f"{SOCAT_CROWD_MAX:,} forked processes)")  # fmt: skip
    for name, notes in problems.items():
        print(f"{name}: {'; '.join(notes)}")
    errors = [r for r in records if r.error]
    for record in errors:
        print(f"error: {record.workload} on {record.target}, round {record.round + 1}: "
              f"{record.error}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
