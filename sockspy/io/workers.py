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
knows what it saw made). `--admin-listen` is refused with workers: its /metrics would
show one worker.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import orjson
import trio

from sockspy.core.serving.address import ListenAddress
from sockspy.io.listeners import FRONT_NAMES_ENV, Front, close_fronts, open_fronts
from sockspy.io.logsink import AuditLog

STOP_SECONDS = 60.0  # a worker still running this long after SIGTERM is killed
_FLAGS_WITH_VALUE = ("-H", "--listen", "--workers")


def worker_argv(argv: Sequence[str]) -> list[str]:
    """`serve`'s own arguments without the fronts and `--workers` (the supervisor gives
    each worker its fronts as fd://)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _FLAGS_WITH_VALUE:
            skip = True
            continue
        if arg.startswith(("--listen=", "--workers=")) or (arg.startswith("-H") and arg != "-H"):
            continue
        out.append(arg)
    return out


class Supervisor:
    def __init__(
        self,
        count: int,
        listen: list[ListenAddress],
        serve_args: list[str],
        log: AuditLog,
        socket_mode: int,
        socket_group: str | None,
    ) -> None:
        self.count = count
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
            try:
                pipes = self._start(fronts)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._signals, signals, nursery)
                    async with trio.open_nursery() as readers:
                        for index, pipe in enumerate(pipes):
                            readers.start_soon(self._read, index, pipe)
                    nursery.cancel_scope.cancel()  # every worker's pipe has ended
            finally:
                await self._stop()
                await close_fronts(fronts)
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
                subprocess.Popen(command, pass_fds=(*fds, theirs.fileno()), env=env)
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
                        await self._emit(line)
        if not self.stopping and self.failed is None:
            code = self.workers[index].poll()
            self.failed = f"worker {index + 1} ended (exit status {code}): stopping the others"
            self._signal_all(signal.SIGTERM)

    async def _emit(self, line: bytes) -> None:
        try:
            record: dict[str, Any] = orjson.loads(line)
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

    async def _signals(self, signals: Any, nursery: trio.Nursery) -> None:
        async for signum in signals:
            if signum == signal.SIGHUP:
                self._signal_all(signal.SIGHUP)
                continue
            self.stopping = True
            self._signal_all(signal.SIGTERM)

    def _signal_all(self, signum: int) -> None:
        for worker in self.workers:
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
