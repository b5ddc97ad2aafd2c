"""The bypass corpus against a strict policy: every attempt is refused or denied, and
nothing of it happens on the daemon.

One sockspy with the policy below serves the whole module. Each attempt of
`e2e.bypass_corpus` goes over its unix front on a connection of its own; the test reads
every response, and then checks three witnesses, none of which trusts sockspy's word alone:

* the bytes: every response from the refused request on is sockspy's own JSON refusal
  (``{"message": "sockspy: ..."}``), and the requests before it got the daemon's answer;
* the daemon, asked directly before and after: no new container, exec, volume, plugin,
  image tag or network with the attempt's marker, the scene's containers unchanged
  (HostConfig, exec ids, running state, mounts), the swarm still inactive; and on the
  host, no file in the victim's bind directory and no bind source created;
* the audit log: the connection's exchanges record the refusal, and nothing but the
  allowed preamble as forwarded.

The positive controls run the everyday CLI flows through the same policy, and the last
test reports how many attempts ran and how many reached the daemon (it must be none).
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.cli import Docker, docker
from support.daemon import DockerDaemon
from support.http import connect
from support.proxy import ProxyProcess, start_proxy

from e2e.bypass_corpus import ATTEMPTS, FACTS, Attempt, Built, Scene, build

pytestmark = pytest.mark.e2e

# No host access, no plugins, no swarm, no BuildKit sessions, no builds that fetch URLs;
# the endpoints of everyday CLI flows; the default rule denies everything else
# (OPTIONS, /debug, checkpoints, image pull and import...).
POLICY = """\
mode = "enforce"
min_api_version = "1.24"
max_body_bytes = 65536

[[rules]]
name = "no-host-access"
action = "deny"
if_findings = ["host_access"]

[[rules]]
name = "no-plugins"
action = "deny"
endpoints = ["plugin.*"]

[[rules]]
name = "no-swarm"
action = "deny"
endpoints = ["swarm.*", "service.*", "node.*", "task.*", "secret.*", "config.*"]

[[rules]]
name = "no-buildkit-sessions"
action = "deny"
endpoints = ["session.start", "grpc.start"]

[[rules]]
name = "no-remote-build"
action = "deny"
message = "builds fetch no URLs"
endpoints = ["image.build"]
query_true = ["remote"]

[[rules]]
name = "cli"
action = "allow"
endpoints = [
    "system.ping", "system.version", "system.info", "system.events",
    "container.list", "container.create", "container.inspect", "container.start",
    "container.wait", "container.attach", "container.resize", "container.logs",
    "container.stop", "container.kill", "container.delete", "container.update",
    "container.archive_*", "container.export",
    "exec.*", "image.list", "image.inspect", "image.build", "image.tag",
    "volume.*", "network.list", "network.inspect",
]
"""

REFUSAL_STATUSES = frozenset({400, 403, 413, 431, 501, 505})
READ_TIMEOUT_S = 15.0
AUDIT_TIMEOUT_S = 5.0

# Attempts that still get through, each with the reason (strict xfail: fixing one fails
# the run until it is removed here).
KNOWN_BYPASSES: dict[str, str] = {}

# Attempts that ask for a HostConfig value (field, value) that some daemons give every
# container anyway: CgroupnsMode "host" is dockerd's default on cgroup v1. Where the daemon
# stored that value for the scene's plain container too, the attempt is no way to the host,
# and sockspy (which reads the daemon's defaults) forwards it: there the test checks that
# the container it made got nothing a plain one does not have; elsewhere (cgroup v2) the
# attempt must be refused like any other.
DAEMON_DEFAULTS: dict[str, tuple[str, str]] = {"create-cgroupns-host": ("CgroupnsMode", "host")}


@dataclass
class Tally:
    """What the corpus did, for the report at the end of the module."""

    ran: int = 0
    reached_daemon: list[str] = field(default_factory=list)
    daemon_defaults: list[str] = field(default_factory=list)  # forwarded, harmless here
    statuses: Counter[int] = field(default_factory=Counter)
    by_fact: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)


TALLY = Tally()


# -- The scene: the containers the attempts aim at ----------------------------------------


@dataclass(frozen=True)
class Stage:
    scene: Scene
    daemon: str  # DOCKER_HOST of the daemon itself
    bind_dir: Path  # the victim's (and the dormant container's) host bind, at /host
    hostdir_root: Path  # must never exist: binds of @HOSTDIR@ would create it
    roles: dict[str, str]  # role -> container name
    plain_host_config: dict[str, Any]  # what the daemon filled in for a plain `docker run`


def _shortest_unique_prefix(full_id: str, all_ids: Sequence[str]) -> str:
    for length in range(4, len(full_id)):
        prefix = full_id[:length]
        if sum(1 for other in all_ids if other.startswith(prefix)) == 1:
            return prefix
    return full_id


@pytest.fixture(scope="module")
def stage(docker_daemon: DockerDaemon, test_image: str) -> Iterator[Stage]:
    direct = functools.partial(docker, docker_daemon.host)
    prefix = f"sockspy-bypass-{secrets.token_hex(4)}"
    bind_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-bind-", dir="/tmp"))
    (bind_dir / "canary").write_text("the victim's host bind\n")
    hostdir_root = Path(f"/tmp/{prefix}-host")
    roles = {role: f"{prefix}-{role}" for role in ("victim", "plain", "linker", "dormant", "fresh")}
    bind = f"{bind_dir}:/host"
    try:
        direct("run", "-d", "--name", roles["victim"], "-v", bind, test_image, "sleep", "3600")
        direct("run", "-d", "--name", roles["plain"], test_image, "sleep", "3600")
        direct("run", "-d", "--name", roles["linker"], "--link", f"{roles['victim']}:x",
               test_image, "sleep", "3600")  # fmt: skip
        direct("create", "--name", roles["dormant"], "-v", bind, test_image, "sleep", "3600")
        direct("create", "--name", roles["fresh"], test_image, "sleep", "3600")
        # An image whose WORKDIR is runc's leaked fd (CVE-2024-21626), as a pulled one may be.
        workdir_image = f"{prefix}-workdir:latest"
        direct("commit", "--change", "WORKDIR /proc/self/fd/7", roles["fresh"], workdir_image)
        daemon = DaemonView(docker_daemon.host)
        # Execs made on the daemon directly, never through sockspy: what they are decides.
        made = [
            daemon.post(f"/containers/{roles['plain']}/exec", {"Cmd": ["true"], **extra})["Id"]
            for extra in ({"Privileged": True}, {"User": "0"})
        ]
        victim_id = daemon.get(f"/containers/{roles['victim']}/json")["Id"]
        all_ids = [c["Id"] for c in daemon.get("/containers/json?all=1")]
        scene = Scene(
            image=test_image,
            victim=roles["victim"],
            victim_id=victim_id,
            victim_prefix=_shortest_unique_prefix(victim_id, all_ids),
            plain=roles["plain"],
            linker=roles["linker"],
            dormant=roles["dormant"],
            fresh=roles["fresh"],
            marker_prefix=prefix,
            hostdir=f"{hostdir_root}/made-by-daemon",
            priv_exec=made[0],
            root_exec=made[1],
            workdir_image=workdir_image,
        )
        plain = daemon.get(f"/containers/{roles['plain']}/json")["HostConfig"]
        yield Stage(scene, docker_daemon.host, bind_dir, hostdir_root, roles, plain)
    finally:
        direct("rm", "-f", *roles.values(), check=False, timeout=60)
        _remove_leftovers(docker_daemon.host, prefix)
        shutil.rmtree(bind_dir, ignore_errors=True)
        shutil.rmtree(hostdir_root, ignore_errors=True)


def _remove_leftovers(host: str, prefix: str) -> None:
    """Whatever an attempt made despite everything (a failed run): do not leave it behind."""
    daemon = DaemonView(host)
    snap = daemon.snapshot(prefix, {})
    direct = functools.partial(docker, host, check=False, timeout=60)
    if snap.containers:
        direct("rm", "-f", *(cid for cid, _ in snap.containers))
    if snap.volumes:
        direct("volume", "rm", "-f", *snap.volumes)
    if snap.images:
        direct("rmi", "-f", *snap.images)
    ours = [name for name in snap.plugins if prefix in name]
    if ours:
        direct("plugin", "rm", "-f", *ours)


@pytest.fixture(scope="module")
def strict_proxy(
    docker_daemon: DockerDaemon, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxyProcess]:
    """One sockspy with the strict policy for the whole module."""
    workdir = tmp_path_factory.mktemp("bypass")
    policy = workdir / "strict.toml"
    policy.write_text(POLICY)
    proxy = start_proxy(docker_daemon.host, workdir / "sockspy", ("-c", str(policy)))
    yield proxy
    proxy.stop()


# -- The daemon, asked directly -----------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What the corpus could change on the daemon and the host."""

    containers: frozenset[tuple[str, str]]  # (id, name) with the corpus's marker
    scene: dict[str, dict[str, Any]]  # role -> what an attempt must not change in it
    volumes: frozenset[str]
    images: frozenset[str]  # tags
    networks: frozenset[str]
    plugins: frozenset[str]  # every plugin (nobody else installs any here)
    swarm: str
    host: tuple[bool, tuple[str, ...]]  # (bind source created, files in the victim's bind)


class DaemonView:
    """Plain GETs to the daemon's own socket (no CLI: a snapshot takes milliseconds)."""

    def __init__(self, host: str) -> None:
        self.host = host

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, json.dumps(body).encode())

    def _call(self, method: str, path: str, body: bytes | None = None) -> Any:
        conn = connect(self.host, timeout=30)
        headers = {"Host": "docker", "Content-Type": "application/json"}
        try:
            conn.request(method, f"/v1.41{path}", body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
        finally:
            conn.close()
        assert response.status in (200, 201), (path, response.status, answer[:300])
        return json.loads(answer)

    def snapshot(self, prefix: str, roles: dict[str, str], stage: Stage | None = None) -> Snapshot:
        def ours(names: Sequence[str] | None) -> bool:
            return any(prefix in (name or "") for name in names or ())

        containers = set()
        for c in self.get("/containers/json?all=1"):
            labels = c.get("Labels") or {}
            if ours(c.get("Names")) or ours([labels.get("sockspy.bypass", "")]):
                containers.add((c["Id"], (c.get("Names") or ["?"])[0]))
        containers -= {
            (cid, name) for cid, name in containers if name.lstrip("/") in roles.values()
        }
        scene = {}
        for role, name in roles.items():
            inspect = self.get(f"/containers/{name}/json")
            state = inspect["State"]
            scene[role] = {
                "Id": inspect["Id"],
                "HostConfig": json.dumps(inspect["HostConfig"], sort_keys=True),
                "ExecIDs": sorted(inspect.get("ExecIDs") or []),  # in no fixed order
                "Mounts": json.dumps(inspect["Mounts"], sort_keys=True),
                "Running": state["Running"],
                "Pid": state["Pid"],
                "StartedAt": state["StartedAt"],
                "RestartCount": inspect["RestartCount"],
            }
        if stage is not None:  # the execs made on the daemon directly: none may run
            for exec_id in (stage.scene.priv_exec, stage.scene.root_exec):
                exec_state = self.get(f"/exec/{exec_id}/json")
                scene[f"exec {exec_id[:12]}"] = {
                    key: exec_state[key] for key in ("Running", "ExitCode", "Pid")
                }
        volumes = self.get("/volumes").get("Volumes") or []
        images = self.get("/images/json")
        host: tuple[bool, tuple[str, ...]] = (False, ())
        if stage is not None:
            host = (stage.hostdir_root.exists(), tuple(sorted(os.listdir(stage.bind_dir))))
        return Snapshot(
            containers=frozenset(containers),
            scene=scene,
            volumes=frozenset(v["Name"] for v in volumes if prefix in v["Name"]),
            images=frozenset(t for i in images for t in i.get("RepoTags") or () if prefix in t),
            networks=frozenset(n["Name"] for n in self.get("/networks") if prefix in n["Name"]),
            plugins=frozenset(p["Name"] for p in self.get("/plugins")),
            swarm=self.get("/info")["Swarm"]["LocalNodeState"],
            host=host,
        )


def _changes(before: Snapshot, after: Snapshot) -> list[str]:
    found = []
    for what in ("containers", "volumes", "images", "networks", "plugins"):
        new = getattr(after, what) - getattr(before, what)
        if new:
            found.append(f"new {what}: {sorted(new)}")
    for role, state in before.scene.items():
        now = after.scene.get(role, {})
        for key, value in state.items():
            if now.get(key) != value:
                found.append(f"the {role} container's {key} changed: {value} -> {now.get(key)}")
    if after.swarm != before.swarm:
        found.append(f"swarm state {before.swarm!r} -> {after.swarm!r}")
    if after.host[0] and not before.host[0]:
        found.append("the bind source @HOSTDIR@ was created on the host")
    if after.host[1] != before.host[1]:
        found.append(f"the victim's bind dir changed: {before.host[1]} -> {after.host[1]}")
    return found


# -- One attempt on the wire --------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    method: str  # of the request it answers
    status: int
    headers: dict[str, str]  # lower-case names; the last value of a repeated header
    body: bytes

    @property
    def from_sockspy(self) -> bool:
        return self.headers.get("server") == "sockspy"

    @property
    def is_clean_refusal(self) -> bool:
        """sockspy's own refusal: a refusal status, and a JSON "sockspy: ..." message (an
        answer to HEAD announces the message's length and sends no body, like any other)."""
        if not self.from_sockspy or self.status not in REFUSAL_STATUSES:
            return False
        if self.method == "HEAD":
            json_type = self.headers.get("content-type") == "application/json"
            return json_type and self.body == b"" and self.headers.get("content-length") != "0"
        return self.refusal_message() is not None

    def refusal_message(self) -> str | None:
        """The message of a sockspy refusal, or None if this is not one."""
        if not self.from_sockspy or self.headers.get("content-type") != "application/json":
            return None
        try:
            message = json.loads(self.body)["message"]
        except (ValueError, KeyError, TypeError):
            return None
        return message if isinstance(message, str) and message.startswith("sockspy: ") else None


def parse_responses(data: bytes, methods: Sequence[str]) -> tuple[list[Response], bytes]:
    """The complete responses in `data` (to requests made with `methods`), and the rest."""
    responses: list[Response] = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return responses, data
        lines = data[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            return responses, data
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        rest = data[end + 4 :]
        method = methods[len(responses)] if len(responses) < len(methods) else "GET"
        if 100 <= status < 200:
            if status == 101:
                return responses, data  # a tunnel: no attempt may get one
            data = rest
            continue
        if method == "HEAD" or status in (204, 304):
            body, rest = b"", rest
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parsed = _dechunk(rest)
            if parsed is None:
                return responses, data
            body, rest = parsed
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if len(rest) < length:
                return responses, data
            body, rest = rest[:length], rest[length:]
        else:
            body, rest = rest, b""  # until the connection closes
        responses.append(Response(method, status, headers, body))
        data = rest


def _dechunk(data: bytes) -> tuple[bytes, bytes] | None:
    body = b""
    while True:
        end = data.find(b"\r\n")
        if end < 0:
            return None
        size = int(data[:end].split(b";")[0], 16)
        if size == 0:
            trailer_end = data.find(b"\r\n\r\n", end)
            if data[end : end + 4] == b"\r\n\r\n":
                return body, data[end + 4 :]
            return None if trailer_end < 0 else (body, data[trailer_end + 4 :])
        if len(data) < end + 2 + size + 2:
            return None
        body += data[end + 2 : end + 2 + size]
        data = data[end + 4 + size :]


def send_attempt(path: str, built: Built) -> tuple[list[Response], bytes, str]:
    """Send the attempt on a new connection; (responses, unparsed bytes, how it ended)."""
    wanted = len(built.methods)
    data = b""
    ended = "closed by sockspy"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(READ_TIMEOUT_S)
        sock.connect(path)
        try:
            sock.sendall(built.payload)
        except (BrokenPipeError, ConnectionResetError):
            ended = "closed by sockspy while the attempt was being sent"
        # Read until every request is answered or sockspy closes; then half-close and
        # read what is left (a connection a refusal keeps open ends on our EOF).
        try:
            while len(parse_responses(data, built.methods)[0]) < wanted:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            else:
                ended = "answered"
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            ended = f"no answer within {READ_TIMEOUT_S} s"
        except (ConnectionResetError, BrokenPipeError, OSError) as exc:
            ended = f"connection error: {exc}"
    responses, rest = parse_responses(data, built.methods)
    return responses, rest, ended


def _connection_exchanges(proxy: ProxyProcess, seen: int) -> tuple[list[dict[str, Any]], int]:
    """The exchange records of our next connection (after `seen` of ours), and its number."""
    deadline = time.monotonic() + AUDIT_TIMEOUT_S
    pid = os.getpid()
    while True:
        records = proxy.audit_records()
        mine = [
            r
            for r in records
            if r.get("event") == "connection" and r.get("peer_pid") == pid and r.get("requests")
        ]  # (the readiness probes of start_proxy connect without a request)
        if len(mine) > seen:
            conn_id = mine[seen]["conn_id"]
            exchanges = [
                r for r in records if r.get("event") == "exchange" and r.get("conn_id") == conn_id
            ]
            return exchanges, seen + 1
        if time.monotonic() > deadline:
            return [], seen
        time.sleep(0.02)


# -- The corpus ---------------------------------------------------------------------------


def _params() -> list[Any]:
    params = []
    for attempt in ATTEMPTS:
        marks = []
        if attempt.id in KNOWN_BYPASSES:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BYPASSES[attempt.id]))
        params.append(pytest.param(attempt, id=attempt.id, marks=marks))
    return params


@pytest.fixture(scope="module")
def audit_cursor() -> list[int]:
    """How many of this process's connections the audit log has shown so far."""
    return [0]


@pytest.mark.parametrize("attempt", _params())
def test_attempt_is_refused_and_nothing_happens_on_the_daemon(
    attempt: Attempt, stage: Stage, strict_proxy: ProxyProcess, audit_cursor: list[int]
) -> None:
    default = DAEMON_DEFAULTS.get(attempt.id)
    if default is not None and stage.plain_host_config.get(default[0]) == default[1]:
        _check_forwarded_as_daemon_default(attempt, stage, strict_proxy, default, audit_cursor)
        return
    built = build(attempt, stage.scene)
    daemon = DaemonView(stage.daemon)
    prefix = stage.scene.marker_prefix
    before = daemon.snapshot(prefix, stage.roles, stage)
    try:
        responses, rest, ended = send_attempt(str(strict_proxy.unix_path), built)
    finally:  # (so that the next attempt does not take this connection's records)
        exchanges, audit_cursor[0] = _connection_exchanges(strict_proxy, audit_cursor[0])
    after = daemon.snapshot(prefix, stage.roles, stage)

    problems: list[str] = []
    reached = _changes(before, after)
    problems += reached
    preamble, answers = responses[: attempt.forwarded], responses[attempt.forwarded :]
    for i, response in enumerate(preamble):
        if response.from_sockspy:
            problems.append(f"allowed request {i} got sockspy's {response.status}")
    if not answers:
        problems.append(f"no refusal came back ({ended})")
    for response in answers:
        TALLY.statuses[response.status] += 1
        if not response.from_sockspy:
            reached.append(f"the daemon answered {response.status}: {response.body[:300]!r}")
            problems.append(reached[-1])
        elif not response.is_clean_refusal:
            problems.append(
                f"unclean refusal {response.status} {response.headers} {response.body!r}"
            )
    if rest:
        problems.append(f"bytes after the last complete response ({ended}): {rest[:300]!r}")
    decisions = [r.get("decision") for r in exchanges]
    if decisions.count("allow") != attempt.forwarded:
        reached.append(f"the audit log shows {decisions.count('allow')} forwarded requests")
        problems.append(f"{reached[-1]}: {exchanges}")
    if not any(d in ("deny", "reject") for d in decisions):
        problems.append(f"no deny or reject record in the audit log: {exchanges}")

    TALLY.ran += 1
    TALLY.by_fact[attempt.fact] += 1
    if reached:
        TALLY.reached_daemon.append(attempt.id)
    shown = [(r.status, r.refusal_message() or r.body[:120]) for r in responses]
    assert not problems, f"{attempt.id} ({FACTS[attempt.fact]}):\n" + "\n".join(
        [*problems, f"responses: {shown}", f"payload: {built.payload[:600]!r}"]
    )


def _check_forwarded_as_daemon_default(
    attempt: Attempt,
    stage: Stage,
    proxy: ProxyProcess,
    default: tuple[str, str],
    audit_cursor: list[int],
) -> None:
    """The attempt asks for what this daemon gives every container: it is forwarded, and
    the container it makes has that value and no more than the scene's plain container."""
    field_name, value = default
    daemon = DaemonView(stage.daemon)
    prefix = stage.scene.marker_prefix
    before = daemon.snapshot(prefix, stage.roles, stage)
    try:
        responses, _, ended = send_attempt(str(proxy.unix_path), build(attempt, stage.scene))
    finally:
        exchanges, audit_cursor[0] = _connection_exchanges(proxy, audit_cursor[0])
    after = daemon.snapshot(prefix, stage.roles, stage)
    made = sorted(after.containers - before.containers)
    try:
        assert [r.status for r in responses] == [201], (ended, responses)
        assert not responses[0].from_sockspy
        assert [r["decision"] for r in exchanges] == ["allow"]
        assert len(made) == 1, made
        host_config = daemon.get(f"/containers/{made[0][0]}/json")["HostConfig"]
        assert host_config[field_name] == value
        for key in ("Privileged", "CapAdd", "Binds", "Devices", "PidMode", "NetworkMode"):
            assert (host_config.get(key) or None) == (stage.plain_host_config.get(key) or None), key
    finally:
        for cid, _ in made:
            docker(stage.daemon, "rm", "-f", cid, check=False)
    TALLY.ran += 1
    TALLY.by_fact[attempt.fact] += 1
    TALLY.daemon_defaults.append(attempt.id)


# -- Positive controls: the same policy lets the everyday CLI flows through --------------


@pytest.fixture
def via_strict(strict_proxy: ProxyProcess) -> Docker:
    return functools.partial(docker, strict_proxy.unix_host)


def test_cli_lists_containers_and_images(via_strict: Docker) -> None:
    assert via_strict("ps", "-a").returncode == 0
    assert via_strict("images").returncode == 0
    assert via_strict("version").returncode == 0


def test_cli_runs_a_container(via_strict: Docker, test_image: str) -> None:
    assert via_strict("run", "--rm", test_image, "echo", "hi").stdout == b"hi\n"


def test_cli_runs_a_container_with_stdin(via_strict: Docker, test_image: str) -> None:
    result = via_strict("run", "--rm", "-i", test_image, "cat", input=b"hi\n")
    assert result.stdout == b"hi\n"


def test_cli_exec_logs_inspect_cp_rm(
    via_strict: Docker, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    name = new_name()
    via_strict("run", "-d", "--name", name, test_image, "sh", "-c", "echo started; sleep 60")
    assert via_strict("exec", name, "echo", "hi").stdout == b"hi\n"
    assert via_strict("exec", "-i", name, "cat", input=b"in\n").stdout == b"in\n"
    assert b"started" in via_strict("logs", name).stdout
    assert via_strict("inspect", "-f", "{{.State.Running}}", name).stdout == b"true\n"
    with tempfile.NamedTemporaryFile(suffix=".txt") as f:
        f.write(b"copied\n")
        f.flush()
        via_strict("cp", f.name, f"{name}:/tmp/copied.txt")
    assert direct("exec", name, "cat", "/tmp/copied.txt").stdout == b"copied\n"
    via_strict("rm", "-f", name)
    assert direct("container", "inspect", name, check=False).returncode != 0


def test_cli_volumes(via_strict: Docker, direct: Docker, test_image: str) -> None:
    volume = f"sockspy-e2e-vol-{secrets.token_hex(4)}"
    try:
        via_strict("volume", "create", volume)
        result = via_strict(
            "run", "--rm", "-v", f"{volume}:/data", test_image,
            "sh", "-c", "echo kept > /data/f && cat /data/f",
        )  # fmt: skip
        assert result.stdout == b"kept\n"
        via_strict("volume", "rm", volume)
    finally:
        direct("volume", "rm", "-f", volume, check=False)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("--privileged",), id="privileged"),
        pytest.param(("-v", "/:/host"), id="bind-root"),
        pytest.param(("--cap-add", "SYS_ADMIN"), id="cap-add"),
        pytest.param(("--pid", "host"), id="pid-host"),
    ],
)
def test_cli_host_access_is_denied_with_a_clear_error(
    via_strict: Docker,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
    args: tuple[str, ...],
) -> None:
    name = new_name()
    result = via_strict("run", "--name", name, *args, test_image, "true", check=False)
    assert result.returncode != 0
    assert b"sockspy: denied by rule no-host-access" in result.stderr, result.stderr
    assert direct("container", "inspect", name, check=False).returncode != 0


# -- The report ---------------------------------------------------------------------------


def test_report(record_property: Callable[[str, object], None]) -> None:
    """How many attempts ran, and how many reached the daemon (must be none)."""
    if TALLY.ran == 0:
        pytest.skip("no attempt of the corpus ran in this session")
    seconds = time.monotonic() - TALLY.started
    statuses = dict(sorted(TALLY.statuses.items()))
    summary = (
        f"bypass corpus: {TALLY.ran} of {len(ATTEMPTS)} attempts ran in {seconds:.0f} s, "
        f"{len(TALLY.reached_daemon)} reached the daemon; refusal statuses {statuses}"
    )
    if TALLY.daemon_defaults:
        summary += (
            f"; forwarded as this daemon's own default (no extra access, checked): "
            f"{', '.join(TALLY.daemon_defaults)}"
        )
    print(summary)
    for fact, count in sorted(TALLY.by_fact.items()):
        print(f"  {count:3d}  {fact}: {FACTS[fact]}")
    record_property("attempts", TALLY.ran)
    record_property("reached_daemon", len(TALLY.reached_daemon))
    record_property("statuses", json.dumps(statuses))
    unexpected = [a for a in TALLY.reached_daemon if a not in KNOWN_BYPASSES]
    assert not unexpected, f"{summary}: {unexpected}"
