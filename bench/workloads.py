"""The workloads of issue 4, each a function that takes one sample on one target.

A sample is a few measured values plus the correctness checks made on the way: every
byte streamed is counted and hashed and compared to what was sent, every HTTP answer
must be a 200, every event must reach every stream. A workload that raises yields an
error sample instead; the run goes on.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import loadgen
from crowd import Crowd
from targets import Target
from testimage import MIB, Payload, docker, docker_env

Value = float | int | str
STREAM_TIMEOUT = 120.0  # seconds a streaming docker command may take (256 MiB at 2 MiB/s)


@dataclass(frozen=True)
class Goal:
    """What the issue asks of sockspy for one metric.

    `ratio`: the median over the direct median is at least `value`; `max`: the worst
    sample is at most `value`; `all`: every sample is complete (the value is 1.0).
    """

    kind: Literal["ratio", "max", "all"]
    value: float = 1.0

    def describe(self, unit: str) -> str:
        if self.kind == "ratio":
            return f">= {self.value:.2f}x"
        if self.kind == "max":
            return f"<= {self.value:g} {unit}"
        return "all"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str  # "req/s", "MiB/s", "MiB", "KiB", "s", or "share" (1.0 = all)
    goal: Goal | None = None
    per_direct: bool = True  # whether a ratio to direct means anything


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Sample:
    values: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    extra: dict[str, Value] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))


@dataclass(frozen=True)
class Fixtures:
    """What the streaming workloads send and compare against, made before the first round."""

    image: str
    image_tar: Payload  # `docker save` of `image`, taken directly: the reference
    exec_payload: Payload
    eof_payload: Payload
    container: str  # a long-lived container to exec in


@dataclass(frozen=True)
class Context:
    """Settings and fixtures shared by all samples of a run."""

    direct_host: str
    seconds: float  # length of one request/response sample
    workers: int
    events_streams: int
    crowd_sizes: dict[str, int]  # target name -> connections for the crowd workload
    fx: Fixtures


Runner = Callable[[Target, Context], Sample]


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    metrics: tuple[Metric, ...]
    run: Runner
    max_rounds: int | None = None  # heavy workloads take fewer samples
    # Memory workloads start from a fresh proxy process: one that has served earlier
    # workloads reuses memory it kept from them, and the figure would depend on history.
    fresh_process: bool = False


# -- request/response -------------------------------------------------------------------


def _rate_sample(result: loadgen.RateResult, target: Target, cpu_before: float | None) -> Sample:
    sample = Sample(values={"rate": result.rate})
    sample.check("every answer a 200", result.bad_status == 0, f"{result.bad_status} were not")
    sample.extra["requests"] = result.requests
    sample.extra["seconds"] = round(result.seconds, 4)
    sample.extra["generator_cpu_us_per_request"] = round(
        result.cpu_seconds / result.requests * 1e6, 2
    )
    sample.extra["generator_cores"] = round(result.cpu_seconds / result.seconds, 3)
    cpu_after = target.cpu_seconds()
    if cpu_before is not None and cpu_after is not None:
        sample.extra["target_cpu_us_per_request"] = round(
            (cpu_after - cpu_before) / result.requests * 1e6, 2
        )
    return sample


def ping_keepalive(target: Target, ctx: Context) -> Sample:
    cpu = target.cpu_seconds()
    return _rate_sample(loadgen.keepalive_rate(target.path, loadgen.PING, ctx.seconds), target, cpu)


def containers_keepalive(target: Target, ctx: Context) -> Sample:
    cpu = target.cpu_seconds()
    result = loadgen.keepalive_rate(target.path, loadgen.CONTAINERS, ctx.seconds)
    return _rate_sample(result, target, cpu)


def ping_new_connection(target: Target, ctx: Context) -> Sample:
    cpu = target.cpu_seconds()
    result = loadgen.new_connection_rate(target.path, loadgen.PING, ctx.seconds)
    return _rate_sample(result, target, cpu)


def ping_concurrent(clients: int) -> Runner:
    """`clients` keep-alive connections at once, each one request at a time."""

    def run(target: Target, ctx: Context) -> Sample:
        cpu = target.cpu_seconds()
        result = loadgen.concurrent_rate(
            target.path, loadgen.PING, clients, ctx.seconds, workers=ctx.workers
        )
        return _rate_sample(result, target, cpu)

    return run


def with_client_counts(workloads: Sequence[Workload], counts: Sequence[int]) -> list[Workload]:
    """`ping-concurrent` once per client count (the scaling figures), the rest as they are."""
    out: list[Workload] = []
    for workload in workloads:
        if workload.key != "ping-concurrent":
            out.append(workload)
            continue
        for n in counts:
            metric = Metric("rate", f"GET /_ping {n} clients", RATE, Goal("ratio", 0.60))
            key = workload.key if n == DEFAULT_CLIENTS else f"{workload.key}-{n}"
            out.append(Workload(key, f"GET /_ping, {n} concurrent keep-alive clients",
                                (metric,), ping_concurrent(n)))  # fmt: skip
    return out


# -- streams through the docker CLI -------------------------------------------------------


def _hash_output(
    command: list[str], host: str, stdin: BinaryIO | int, timeout: float = STREAM_TIMEOUT
) -> tuple[int, str, int, float, str]:
    """Run a docker command, hashing its stdout as it comes; (bytes, sha256, exit, s, stderr).

    A command still running after `timeout` is killed (a proxy that hangs a stream, as
    one contender does with exec stdin, fails its sample instead of stalling the run).
    """
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(MIB)
    view = memoryview(buf)
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(
            command, env=docker_env(host), stdin=stdin, stdout=subprocess.PIPE, stderr=errors
        )
        assert proc.stdout is not None
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        try:
            with open(proc.stdout.fileno(), "rb", buffering=0, closefd=False) as out:
                while n := out.readinto(buf):
                    digest.update(view[:n])
                    size += n
            status = proc.wait()
        finally:
            watchdog.cancel()
        elapsed = time.perf_counter() - start
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()
        if elapsed >= timeout:
            message = f"killed after {timeout:g} s. {message}"
    return size, digest.hexdigest(), status, elapsed, message


def _check_copy(sample: Sample, what: str, want: Payload, size: int, sha: str) -> None:
    sample.check(f"{what}: byte count", size == want.size, f"{size} of {want.size} bytes")
    sample.check(f"{what}: sha256", sha == want.sha256, sha[:16])


def save(target: Target, ctx: Context) -> Sample:
    size, sha, status, elapsed, err = _hash_output(
        ["docker", "save", ctx.fx.image], target.host, subprocess.DEVNULL
    )
    sample = Sample(values={"mibps": size / elapsed / MIB})
    sample.check("docker save exits 0", status == 0, err[-200:])
    _check_copy(sample, "saved tar = the daemon's own", ctx.fx.image_tar, size, sha)
    return sample


def load(target: Target, ctx: Context) -> Sample:
    start = time.perf_counter()
    command = ["docker", "load", "-i", str(ctx.fx.image_tar.path)]
    env = docker_env(target.host)
    try:
        result = subprocess.run(command, env=env, capture_output=True, timeout=STREAM_TIMEOUT)
        status, output = result.returncode, result.stdout + result.stderr
    except subprocess.TimeoutExpired as exc:  # a proxy that stalls the upload
        status, output = -9, b"killed after %g s. " % exc.timeout + (exc.stderr or b"")
    elapsed = time.perf_counter() - start
    sample = Sample(values={"mibps": ctx.fx.image_tar.size / elapsed / MIB})
    said = output.decode(errors="replace")
    sample.check("docker load exits 0", status == 0, said.strip()[-200:])
    sample.check("docker load names the image", f"Loaded image: {ctx.fx.image}" in said)
    return sample


CONTEXT_MIB = 48  # under ci-runner's max_build_context_bytes (64 MiB)


def _build_context(ctx: Context) -> Path:
    """A classic build's context: CONTEXT_MIB of the exec payload's random bytes and a
    Dockerfile that only names the bench image (the daemon unpacks the whole context,
    then has nothing to build)."""
    path = ctx.fx.exec_payload.path.with_name("context.tar")
    if not path.exists():
        with open(ctx.fx.exec_payload.path, "rb") as source:
            payload = source.read(CONTEXT_MIB * MIB)
        with tarfile.open(path, "w") as archive:
            for name, data in (
                ("payload.bin", payload),
                ("Dockerfile", f"FROM {ctx.fx.image}\n".encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def build(target: Target, ctx: Context) -> Sample:
    """`docker build -` of a context of the exec payload's size, classic builder: under
    ci-runner sockspy holds the whole context and reads its Dockerfile before forwarding."""
    context = _build_context(ctx)
    env = {**docker_env(target.host), "DOCKER_BUILDKIT": "0"}
    start = time.perf_counter()
    with open(context, "rb") as stdin:
        try:
            result = subprocess.run(["docker", "build", "-q", "-"], env=env, stdin=stdin,
                                    capture_output=True, timeout=STREAM_TIMEOUT)  # fmt: skip
            status, output = result.returncode, result.stdout + result.stderr
        except subprocess.TimeoutExpired as exc:
            status, output = -9, b"killed after %g s. " % exc.timeout + (exc.stderr or b"")
    elapsed = time.perf_counter() - start
    sample = Sample(values={"mibps": context.stat().st_size / elapsed / MIB})
    sample.check("docker build exits 0", status == 0, output.decode(errors="replace")[-200:])
    sample.check("docker build names an image", b"sha256:" in output)
    return sample


def exec_cat(target: Target, ctx: Context) -> Sample:
    with open(ctx.fx.exec_payload.path, "rb") as stdin:
        size, sha, status, elapsed, err = _hash_output(
            ["docker", "exec", "-i", ctx.fx.container, "cat"], target.host, stdin
        )
    sample = Sample(values={"mibps": ctx.fx.exec_payload.size / elapsed / MIB})
    sample.check("docker exec exits 0", status == 0, err[-200:])
    _check_copy(sample, "exec cat output = input", ctx.fx.exec_payload, size, sha)
    return sample


# Reads all of stdin, and only after its EOF answers: a proxy that closes the connection
# on the client's half-close (or soon after) loses the answer.
AFTER_EOF = 'f=/tmp/eof.$$; cat >"$f"; sleep 1; cat "$f"; rm -f "$f"'


def exec_after_eof(target: Target, ctx: Context) -> Sample:
    with open(ctx.fx.eof_payload.path, "rb") as stdin:
        size, sha, status, elapsed, err = _hash_output(
            ["docker", "exec", "-i", ctx.fx.container, "sh", "-c", AFTER_EOF], target.host, stdin
        )
    sample = Sample(values={"arrived": size / ctx.fx.eof_payload.size})
    sample.check("docker exec exits 0", status == 0, err[-200:])
    _check_copy(sample, "output after stdin EOF = input", ctx.fx.eof_payload, size, sha)
    sample.extra["seconds"] = round(elapsed, 3)
    return sample


# -- many connections -------------------------------------------------------------------


def _warm_up(target: Target, request: bytes, *, until_head: bool) -> None:
    """A few connections of the kind measured, so one-time costs (imports, caches, the
    allocator's first arenas) are not counted as the cost of each connection."""
    crowd = Crowd(target.path, 16, request, until_head=until_head)
    try:
        crowd.open(timeout=30)
    finally:
        crowd.close()
    time.sleep(0.3)


def idle_events(target: Target, ctx: Context) -> Sample:
    """`events_streams` idle `GET /events`; then one event must reach every one of them."""
    count = ctx.events_streams
    _warm_up(target, loadgen.EVENTS, until_head=True)
    before = target.memory()
    crowd = Crowd(target.path, count, loadgen.EVENTS, until_head=True)
    sample = Sample()
    try:
        sample.values["open_s"] = crowd.open(timeout=60)
        time.sleep(0.3)  # let the proxy finish its bookkeeping for the last ones
        during = target.memory()
        name = f"sockspy-bench-{uuid.uuid4().hex[:12]}"
        docker(ctx.direct_host, "volume", "create", name)  # the event, made on the daemon
        reached, waited = crowd.reached_by(name.encode(), timeout=15)
        docker(ctx.direct_host, "volume", "rm", name)
        bad = crowd.unexpected_status()
    finally:
        crowd.close()
    sample.values["reached"] = reached / count
    sample.extra["event_seconds"] = round(waited, 3)
    sample.check("every stream answered 200", bad == 0, f"{bad} were not")
    sample.check("the event reached every stream", reached == count, f"{reached} of {count}")
    if before is not None and during is not None:
        added = during.pss_kib - before.pss_kib
        sample.values["mem_added"] = added / 1024
        sample.values["kib_per_conn"] = added / count
        sample.extra["rss_added_mib"] = round((during.rss_kib - before.rss_kib) / 1024, 2)
        sample.extra["processes"] = during.processes
        time.sleep(0.5)
        after = target.memory()
        if after is not None:
            sample.extra["pss_added_after_close_mib"] = round(
                (after.pss_kib - before.pss_kib) / 1024, 2
            )
    return sample


def crowd_pings(target: Target, ctx: Context) -> Sample:
    """Thousands of keep-alive connections open at once, each answered twice."""
    count = ctx.crowd_sizes[target.name]
    _warm_up(target, loadgen.PING, until_head=False)
    before = target.memory()
    crowd = Crowd(target.path, count, loadgen.PING, until_head=False)
    sample = Sample()
    try:
        sample.values["open_s"] = crowd.open(timeout=180)
        sample.extra["again_s"] = round(crowd.again(timeout=120), 3)
        sample.values["answered"] = crowd.answered() / count
        during = target.memory()
        bad = crowd.unexpected_status()
    finally:
        crowd.close()
    sample.extra["connections"] = count
    sample.check("every connection answered twice, all 200", bad == 0, f"{bad} were not")
    if before is not None and during is not None:
        sample.values["kib_per_conn"] = (during.pss_kib - before.pss_kib) / count
        sample.extra["pss_added_mib"] = round((during.pss_kib - before.pss_kib) / 1024, 2)
    return sample


RATE = "req/s"
DEFAULT_CLIENTS = 64
WORKLOADS: tuple[Workload, ...] = (
    Workload("ping", "GET /_ping, 1 keep-alive conn",
             (Metric("rate", "GET /_ping keep-alive", RATE, Goal("ratio", 0.80)),),
             ping_keepalive),
    Workload("containers", "GET /containers/json, 1 keep-alive conn",
             (Metric("rate", "GET /containers/json keep-alive", RATE, Goal("ratio", 0.85)),),
             containers_keepalive),
    Workload("ping-newconn", "GET /_ping, new connection each",
             (Metric("rate", "GET /_ping new conn each", RATE, Goal("ratio", 0.50)),),
             ping_new_connection),
    Workload("ping-concurrent", "GET /_ping, concurrent keep-alive clients",
             (Metric("rate", f"GET /_ping {DEFAULT_CLIENTS} clients", RATE, Goal("ratio", 0.60)),),
             ping_concurrent(DEFAULT_CLIENTS)),
    Workload("save", "docker save",
             (Metric("mibps", "docker save {image_mib} MiB", "MiB/s", Goal("ratio", 0.95)),),
             save),
    Workload("load", "docker load",
             (Metric("mibps", "docker load {image_mib} MiB", "MiB/s", Goal("ratio", 0.95)),),
             load),
    Workload("build", "docker build - (classic), its context uploaded",
             (Metric("mibps", f"docker build context {CONTEXT_MIB} MiB", "MiB/s", None),),
             build),
    Workload("exec-cat", "docker exec -i cat, both ways",
             (Metric("mibps", "docker exec -i cat {exec_mib} MiB", "MiB/s", Goal("ratio", 0.95)),),
             exec_cat),
    Workload("exec-eof", "docker exec output after stdin EOF",
             (Metric("arrived", "exec output after stdin EOF", "share", Goal("all"), False),),
             exec_after_eof),
    Workload("events", "idle /events streams",
             (Metric("mem_added", "{streams} idle /events: memory added", "MiB",
                     Goal("max", 25.0), False),
              Metric("kib_per_conn", "{streams} idle /events: per stream", "KiB",
                     None, False),
              Metric("open_s", "{streams} idle /events: all open in", "s",
                     Goal("max", 1.0), False),
              Metric("reached", "{streams} idle /events: event reached", "share",
                     Goal("all"), False)),
             idle_events, fresh_process=True),
    Workload("crowd", "many keep-alive connections at once",
             (Metric("answered", "{crowd} conns x 2 pings: answered", "share", Goal("all"), False),
              Metric("kib_per_conn", "{crowd} conns: memory per conn", "KiB", None, False),
              Metric("open_s", "{crowd} conns: open + 1st ping", "s", None, False)),
             crowd_pings, max_rounds=1, fresh_process=True),
)  # fmt: skip
