"""What the benchmark measures against: the daemon itself, sockspy, socat, and any other
proxy given with `--contender` (a Go guard built locally, HAProxy).

Each target is a unix socket path that forwards to the same daemon. sockspy runs the way
the issue asks it to be judged: the `ci-runner` preset (rules engine on, host-access
checks on every create and exec) and the audit log written as JSON to a file. socat is
the plain byte-forwarding reference, one forked process per connection.
"""

from __future__ import annotations

import os
import resource
import shlex
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOCKSPY_POLICY = "ci-runner"


@dataclass
class Memory:
    """Resident memory of a process and all its descendants, in KiB.

    PSS (proportional set size) divides each shared page among the processes that map it,
    so summing it over socat's forks does not count the shared binary a thousand times;
    for a single process such as sockspy it is close to RSS.
    """

    pss_kib: int
    rss_kib: int
    processes: int


@dataclass
class Target:
    name: str
    path: str  # the unix socket clients connect to
    command: list[str] | None = None  # None: the daemon itself
    log_dir: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> None:
        if self.command is None:
            return
        assert self.log_dir is not None
        with suppress(FileNotFoundError):
            os.unlink(self.path)
        stderr = open(self.log_dir / f"{self.name}.stderr", "ab")  # noqa: SIM115 (kept by Popen)
        self.proc = subprocess.Popen(
            self.command,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        stderr.close()
        wait_for_socket(self.path, self.proc)

    def restart(self) -> None:
        self.stop()
        self.start()

    def check_alive(self) -> None:
        """Restart a target that died (and note it): one crash must not void the whole run."""
        if self.proc is not None and self.proc.poll() is not None:
            self.problems.append(f"exited with status {self.proc.returncode}; restarted")
            self.restarts += 1
            self.start()

    def memory(self) -> Memory | None:
        return None if self.proc is None else tree_memory(self.proc.pid)

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the process, its live descendants and its reaped children.

        socat's forks each serve one connection and are gone soon after it closes; their
        time then shows in the parent's cutime/cstime.
        """
        if self.proc is None:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            fields = _stat_fields(pid)
            if fields is not None:
                total += int(fields[11]) + int(fields[12])  # utime, stime
                if pid == self.proc.pid:
                    total += int(fields[13]) + int(fields[14])  # cutime, cstime
        return total / ticks

    def fd_limit(self) -> str:
        if self.proc is None:
            return "n/a"
        for line in Path(f"/proc/{self.proc.pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return f"{soft}/{hard}"
        return "?"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        forks = descendants(self.proc.pid)  # socat's, each holding one connection
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.problems.append("did not stop within 15 s of SIGTERM; killed")
            self.proc.kill()
            self.proc.wait()
        for pid in forks:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def direct(daemon_path: str) -> Target:
    return Target("direct", daemon_path)


def sockspy(daemon_path: str, rundir: Path) -> Target:
    front = str(rundir / "sockspy.sock")
    command = [
        sys.executable, "-m", "sockspy", "serve", "-H", f"unix://{front}",
        "--upstream", f"unix://{daemon_path}", "-c", SOCKSPY_POLICY,
        "--log-format", "json", "--log-file", str(rundir / "audit.jsonl"),
    ]  # fmt: skip
    return Target("sockspy", front, command, rundir)


def socat(daemon_path: str, rundir: Path) -> Target:
    front = str(rundir / "socat.sock")
    command = ["socat", f"UNIX-LISTEN:{front},fork,reuseaddr", f"UNIX-CONNECT:{daemon_path}"]
    return Target("socat", front, command, rundir)


RESERVED = frozenset({"direct", "sockspy", "socat"})


def parse_contender(spec: str) -> tuple[str, str]:
    """`NAME=COMMAND` of `--contender`: COMMAND must listen on `{listen}` (a unix socket
    path) and forward to `{upstream}` (the daemon's socket path). Raises ValueError."""
    name, equals, command = spec.partition("=")
    name = name.strip()
    if not equals or not name or not command.strip():
        raise ValueError(f"--contender {spec!r}: give NAME='COMMAND with {{listen}} {{upstream}}'")
    if not name.replace("-", "").replace("_", "").isalnum() or name in RESERVED:
        raise ValueError(
            f"--contender {spec!r}: {name!r} is not a free name (letters, digits, -, _)"
        )
    if "{listen}" not in command and "{listen_url}" not in command:
        raise ValueError(f"--contender {name}: the command has no {{listen}} to listen on")
    return name, command


def contender(name: str, template: str, daemon_path: str, rundir: Path) -> Target:
    """Any proxy, run as the template says: {listen} and {upstream} are socket paths
    ({listen_url} and {upstream_url} the same as unix:// URLs)."""
    front = str(rundir / f"{name}.sock")
    text = template.format(
        listen=front, upstream=daemon_path,
        listen_url=f"unix://{front}", upstream_url=f"unix://{daemon_path}",
    )  # fmt: skip
    return Target(name, front, shlex.split(text), rundir)


def raise_fd_limit() -> int:
    """Raise this process's open-file limit as far as allowed; children inherit it.

    Without CAP_SYS_RESOURCE only the soft limit can rise, up to the hard one.
    """
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    wanted = 1 << 17
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
    except (ValueError, OSError):
        if hard != resource.RLIM_INFINITY:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def wait_for_socket(path: str, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with status {proc.returncode}")
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(path)
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"nothing listens on {path} after {timeout} s")


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, from the parent links in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def tree_memory(pid: int) -> Memory:
    pss = rss = count = 0
    for each in [pid, *descendants(pid)]:
        try:
            text = Path(f"/proc/{each}/smaps_rollup").read_text()
        except OSError:
            continue
        count += 1
        for line in text.splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
            elif line.startswith("Rss:"):
                rss += int(line.split()[1])
    return Memory(pss, rss, count)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # guest time is already in user
    return total - idle, total


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()
