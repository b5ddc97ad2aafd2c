"""Where the keep-alive request rate goes: sockspy against bare relays, in one run.

Each target forwards the same keep-alive `GET /_ping` stream to the daemon; all run
interleaved over several rounds and are printed as ratios to a direct connection:

* ``trio-relay``: the smallest trio proxy there is (two tasks per connection copying
  bytes with trio's SocketStream, no parsing): the floor for any trio design;
* ``sock-relay``: the same with sockspy's SockStream (readiness waits only when the
  kernel would block): the floor for sockspy's own I/O layer;
* ``sockspy``: the real thing (`-c ci-runner`, JSON audit log to a file);
* ``socat``: a C relay, when installed.

The gap from ``sock-relay`` to ``sockspy`` is what parsing, policy, audit and the
conversation cost; the gap from direct to ``sock-relay`` is what one more hop through
a Python event loop costs on this machine, whatever the proxy does.

    python bench/floor.py [--daemon unix:///var/run/docker.sock] [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio
from targets import wait_for_socket  # bench/targets.py (this script's folder is on sys.path)

from sockspy.io.sockstream import SockStream

PING = b"GET /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\n\r\n"


def ping_rate(path: str, seconds: float) -> float:
    """Requests per second of sequential keep-alive pings on one connection."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    buf = b""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        sock.sendall(PING)
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                head = buf[:end].lower()
                length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                if len(buf) >= end + 4 + length:
                    buf = buf[end + 4 + length :]
                    break
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("connection closed")
            buf += data
        done += 1
        if done % 64 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - started
    sock.close()
    return done / elapsed


# -- the two bare relays, run in a child process (python bench/floor.py --relay KIND) ----


async def _copy_trio(source: trio.SocketStream, sink: trio.SocketStream) -> None:
    while data := await source.receive_some(65536):
        await sink.send_all(data)
    await sink.send_eof()


async def _copy_sock(source: SockStream, sink: SockStream) -> None:
    while data := await source.receive_some(65536):
        await sink.send_all(data)
    await sink.send_eof()


def relay(kind: str, front: str, upstream: str) -> None:
    async def handle(stream: trio.SocketStream) -> None:
        if kind == "trio-relay":
            up = await trio.open_unix_socket(upstream)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_copy_trio, stream, up)
                nursery.start_soon(_copy_trio, up, stream)
        else:
            client = SockStream.adopt(stream)
            daemon = SockStream.adopt(await trio.open_unix_socket(upstream))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_copy_sock, client, daemon)
                nursery.start_soon(_copy_sock, daemon, client)

    async def main() -> None:
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(front)
        sock.listen(128)
        await trio.serve_listeners(handle, [trio.SocketListener(sock)])

    trio.run(main)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--daemon", default=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--relay", help=argparse.SUPPRESS)
    parser.add_argument("--front", help=argparse.SUPPRESS)
    args = parser.parse_args()
    upstream = args.daemon.removeprefix("unix://")
    if args.relay:
        relay(args.relay, args.front, upstream)
        return 0

    rundir = Path(tempfile.mkdtemp(prefix="ssf", dir="/tmp"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    paths = {"direct": upstream}
    try:
        for kind in ("trio-relay", "sock-relay"):
            path = str(rundir / f"{kind}.sock")
            procs[kind] = subprocess.Popen(
                [sys.executable, __file__, "--daemon", args.daemon, "--relay", kind,
                 "--front", path],
            )  # fmt: skip
            paths[kind] = path
        path = str(rundir / "sockspy.sock")
        procs["sockspy"] = subprocess.Popen(
            [sys.executable, "-m", "sockspy", "serve", "-c", "ci-runner", "-H", f"unix://{path}",
             "--upstream", args.daemon, "--log-format", "json",
             "--log-file", str(rundir / "audit.jsonl")],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        paths["sockspy"] = path
        if shutil.which("socat"):
            path = str(rundir / "socat.sock")
            procs["socat"] = subprocess.Popen(
                ["socat", f"UNIX-LISTEN:{path},fork,reuseaddr", f"UNIX-CONNECT:{upstream}"]
            )
            paths["socat"] = path
        for name, path in paths.items():
            if name in procs:
                wait_for_socket(path, procs[name])

        rates: dict[str, list[float]] = {name: [] for name in paths}
        cpu: dict[str, list[float]] = {name: [] for name in procs if name != "socat"}
        names = list(paths)
        for round_no in range(args.rounds):
            order = names[round_no % len(names) :] + names[: round_no % len(names)]
            for name in order:
                proc = procs.get(name)
                before = _cpu_seconds(proc.pid) if proc and name in cpu else 0.0
                rate = ping_rate(paths[name], args.seconds)
                rates[name].append(rate)
                if proc and name in cpu:
                    used = _cpu_seconds(proc.pid) - before
                    cpu[name].append(used / (rate * args.seconds) * 1e6)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(10)
        shutil.rmtree(rundir, ignore_errors=True)

    direct = statistics.median(rates["direct"])
    load = os.getloadavg()[0]
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    print(f"keep-alive GET /_ping, one connection, {args.rounds} rounds x {args.seconds:g} s "
          f"(load average {load:.2f}, fd limit {limit})")  # fmt: skip
    print(f"{'target':12} {'req/s':>10} {'spread':>19} {'ratio':>7} {'proxy CPU/req':>14}")
    for name in paths:
        median = statistics.median(rates[name])
        spread = f"[{min(rates[name]):,.0f}-{max(rates[name]):,.0f}]"
        per = f"{statistics.median(cpu[name]):.0f} us" if cpu.get(name) else "-"
        print(f"{name:12} {median:10,.0f} {spread:>19} {median / direct:6.2f}x {per:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
