"""`serve --workers N`: N sockspy processes behind the same fronts, one audit log.

Theory of operation
-------------------
One Python process decides and relays on one core. With `--workers N` the process that
was started becomes a supervisor: it opens the fronts itself (unix, tcp, fd://), then
starts N workers, each a `sockspy serve` given the listening sockets as ``fd://N``
(the kernel hands each accepted connection to one of them) and one end of a socketpair
for its audit records. A worker is the whole proxy (policy, rules, ownership, pump); it
renders its records as JSON lines, with their timestamps, and writes them to its pipe.

The supervisor is the log's one writer: it reads the lines of every worker and seals
them, in the order they arrive, into the one hash chain (`AuditLog.emit_shaped`), with
checkpoints, rotation and the durability mode as without workers. When its log cannot
take more it stops reading; a worker's pipe then fills, its writer waits, its queue
fills, and the worker's own durability mode decides (refuse, wait or drop and count).

Signals: SIGHUP is passed to every worker (each reloads the policy and certificates);
SIGTERM and SIGINT too, and the supervisor waits for the workers to drain and exit, reads
what they still wrote, and closes the log. A worker that exits on its own stops the
others: the service fails loudly (systemd restarts it) rather than serving with fewer.

Per worker (documented): `--max-connections` and the per-client limit, the rate limit,
the lineage of objects made (each worker rebuilds it from the log file at start and then
knows what it saw made).

The admin address (`--admin-listen`) is the supervisor's: each worker sends its counters
every `REPORT_SECONDS` through its pipe (a `worker_metrics` line, never logged), and
/metrics answers their sums (counters and gauges alike; `uptime_s` is the supervisor's,
`tls_cert_not_after` the earliest), /healthz the daemon's reachability with each worker's
state.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import trio

from sockspy.core.records import ListeningRecord
from sockspy.core.serving.address import ListenAddress
from sockspy.io.admin import Admin
from sockspy.io.listeners import FRONT_NAMES_ENV, Front, close_fronts, open_fronts
from sockspy.io.logsink import AuditLog
from sockspy.io.upstream import Upstream

STOP_SECONDS = 60.0  # a worker still running this long after SIGTERM is killed
REPORT_SECONDS = 1.0  # how often a worker sends its counters (how stale /metrics may be)
_EARLIEST = frozenset({"tls_cert_not_after"})  # summed, these would mean nothing
_OWN = frozenset({"uptime_s"})
_FLAGS_WITH_VALUE = ("-H", "--listen", "--workers", "--admin-listen")


def worker_argv(argv: Sequence[str]) -> list[str]:
    """`serve`'s own arguments without the fronts, the admin addresses and `--workers`
    (the supervisor gives each worker its fronts as fd:// and serves the admin itself)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _FLAGS_WITH_VALUE:
            skip = True
            continue
        if arg.startswith(("--listen=", "--workers=", "--admin-listen=")) or (
            arg.startswith("-H") and arg != "-H"
        ):
            continue
        out.append(arg)
    return out


class Supervisor:
    """`serve --workers N`: opens the fronts, starts N workers on them, is the one writer
    of the audit log (their records arrive rendered), passes signals on, and answers the
    admin address with the workers' counters summed."""

    def __init__(
        self,
        count: int,
        listen: list[ListenAddress],
        serve_args: list[str],
        log: AuditLog,
        socket_mode: int,
        socket_group: str | None,
        admin: list[ListenAddress] | None = None,
        upstream: Upstream | None = None,
    ) -> None:
        self.count = count
        self.admin = admin or []
        self.upstream = upstream
        self.reports: dict[int, dict[str, Any]] = {}  # worker index -> its last counters
        # A worker is ready once its first report came: its signal receivers are open by
        # then. A SIGHUP for one not ready yet is passed on when it is.
        self.hangup_owed: set[int] = set()
        self.started = time.monotonic()
        self.listen = listen
        self.serve_args = serve_args
        self.log = log
        self.socket_mode = socket_mode
        self.socket_group = socket_group
        self.workers: list[subprocess.Popen[bytes]] = []
        self.stopping = False
        self.failed: str | None = None

    async def run(self) -> int:
        with trio.open_signal_receiver(signal.SIGHUP, signal.SIGTERM, signal.SIGINT) as signals:
            fronts = await open_fronts(self.listen, self.socket_mode, self.socket_group)
            admin_fronts = await open_fronts(self.admin, self.socket_mode, self.socket_group)
            try:
                pipes = self._start(fronts)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._signals, signals)
                    if admin_fronts and self.upstream is not None:
                        admin = Admin(self.upstream, self.health, self.metrics, self.exchanges)
                        for front in admin_fronts:
                            self.log.emit(
                                ListeningRecord(event="listening", address=front.name, admin=True)
                            )
                            nursery.start_soon(admin.serve, front)
                    async with trio.open_nursery() as readers:
                        for index, pipe in enumerate(pipes):
                            readers.start_soon(self._read, index, pipe)
                    nursery.cancel_scope.cancel()  # every worker's pipe has ended
            finally:
                await self._stop()
                await close_fronts(fronts + admin_fronts)
        if self.failed is not None:
            print(f"sockspy: {self.failed}", file=sys.stderr)
            return 1
        return 0

    def _start(self, fronts: list[Front]) -> list[trio.socket.SocketType]:
        fds = [front.listener.socket.fileno() for front in fronts]
        names = ";".join(f"{fd}={front.name}" for fd, front in zip(fds, fronts, strict=True))
        env = dict(os.environ, **{FRONT_NAMES_ENV: names})
        env.pop("NOTIFY_SOCKET", None)  # readiness is the supervisor's to tell
        env.pop("LISTEN_FDS", None)
        env.pop("LISTEN_PID", None)
        pipes = []
        for _ in range(self.count):
            ours, theirs = socket.socketpair()
            command = [
                sys.executable, "-m", "sockspy", "serve", *self.serve_args,
                *(arg for fd in fds for arg in ("-H", f"fd://{fd}")),
                "--worker-audit-fd", str(theirs.fileno()),
            ]  # fmt: skip
            self.workers.append(
                subprocess.Popen(
                    command,
                    pass_fds=(*fds, theirs.fileno()),
                    env=env,
                    # Ignored until the worker's own receiver runs: a SIGHUP while it
                    # starts must not end it (an ignored signal stays so across exec).
                    preexec_fn=_ignore_hangups,
                )
            )
            theirs.close()
            ours.setblocking(False)
            pipes.append(trio.socket.from_stdlib_socket(ours))
        return pipes

    async def _read(self, index: int, pipe: trio.socket.SocketType) -> None:
        """One worker's records into the log, line by line, as fast as the log takes them."""
        buffered = b""
        with pipe:
            while True:
                data = await pipe.recv(1 << 16)
                if not data:
                    break
                buffered += data
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    if line:
                        await self._emit(index, line)
        if not self.stopping and self.failed is None:
            code = self.workers[index].poll()
            self.failed = f"worker {index + 1} ended (exit status {code}): stopping the others"
            self._signal_all(signal.SIGTERM)

    async def _emit(self, index: int, line: bytes) -> None:
        try:
            record: dict[str, Any] = orjson.loads(line)
            if record.get("event") == "worker_metrics":
                first = index not in self.reports
                self.reports[index] = record
                if first and index in self.hangup_owed:
                    self.hangup_owed.discard(index)
                    self._signal(index, signal.SIGHUP)
                return
        except orjson.JSONDecodeError:
            record = {
                "level": "error",
                "event": "worker_record_unreadable",
                "line": line[:200].decode("utf-8", "replace"),
            }
        while True:
            if self.log.emit_shaped(record):
                return
            await trio.sleep(0.005)  # the log is full: the worker's pipe fills behind us

    def metrics(self) -> dict[str, Any]:
        """Every worker's last counters, summed (see the module docstring)."""
        total: dict[str, Any] = {}
        for report in self.reports.values():
            for key, value in (report.get("metrics") or {}).items():
                if not isinstance(value, int | float) or key in _OWN:
                    continue
                if key in _EARLIEST:
                    total[key] = min(total.get(key, value), value)
                else:
                    total[key] = total.get(key, 0) + value
        total["uptime_s"] = round(time.monotonic() - self.started, 3)
        total["workers"] = sum(1 for worker in self.workers if worker.poll() is None)
        return total

    def exchanges(self) -> Mapping[str, int]:
        total: Counter[str] = Counter()
        for report in self.reports.values():
            total.update(report.get("exchanges") or {})
        return total

    def health(self) -> dict[str, Any]:
        workers = []
        for index, worker in enumerate(self.workers):
            health = (self.reports.get(index) or {}).get("health") or {}
            workers.append({"pid": worker.pid, "running": worker.poll() is None, **health})
        first = workers[0] if workers else {}
        return {
            "policy": first.get("policy"),
            "open_connections": sum(int(w.get("open_connections") or 0) for w in workers),
            "uptime_s": round(time.monotonic() - self.started, 3),
            "stopping": self.stopping,
            "workers": workers,
        }

    async def _signals(self, signals: Any) -> None:
        async for signum in signals:
            if signum == signal.SIGHUP:
                for index in range(len(self.workers)):
                    if index in self.reports:
                        self._signal(index, signal.SIGHUP)
                    else:
                        self.hangup_owed.add(index)
                continue
            self.stopping = True
            self._signal_all(signal.SIGTERM)

    def _signal_all(self, signum: int) -> None:
        for index in range(len(self.workers)):
            self._signal(index, signum)

    def _signal(self, index: int, signum: int) -> None:
        worker = self.workers[index]
        if worker.poll() is None:
            worker.send_signal(signum)

    async def _stop(self) -> None:
        self.stopping = True
        self._signal_all(signal.SIGTERM)
        deadline = trio.current_time() + STOP_SECONDS
        for worker in self.workers:
            left = max(0.0, deadline - trio.current_time())
            try:
                await trio.to_thread.run_sync(worker.wait, left)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _ignore_hangups() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
