"""Each preset, and the policy chosen without one, against the real daemon and real client calls.

The docker CLI is the client where it is installed (readonly, ci-runner, the default policy,
docker-socket-proxy variables). Traefik, watchtower, homepage and Portainer are not here, so
their presets get the requests those tools make, as their sources make them (paths, API
versions, bodies), over raw HTTP or docker-py.

A request counts as forwarded when the answer comes from dockerd (its ``Server`` header),
whatever the daemon said; as denied when sockspy answers 403 with the rule in the message,
and the audit log has the denial with its rule and code. After every denial the daemon is
checked (by name or label) for what the request would have changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import docker
import pytest
from support.cli import Docker
from support.cli import docker as docker_cli
from support.daemon import DockerDaemon
from support.http import connect
from support.proxy import ProxyProcess, start_proxy

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]
V = "/v1.41"  # what the docker CLI here negotiates with dockerd 20.10
DENIED = b"Error response from daemon: sockspy: denied by rule "
WORKSPACE = Path("/srv/ci-workspace")  # ci-runner's allowed_bind_paths
PRIVILEGED = {"Image": "x", "HostConfig": {"Privileged": True}}
HOST_BIND = {"Image": "x", "HostConfig": {"Binds": ["/:/host"]}}


# -- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def forwarded(self) -> bool:
        """The daemon answered (whatever it said), not sockspy."""
        return self.headers.get("Server", "").startswith("Docker/")

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    host: str, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None
) -> Reply:
    """One request on a fresh connection, the whole answer read."""
    conn = connect(host, timeout=60)
    try:
        payload = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json"} if payload is not None else {}
        conn.request(method, path, body=payload, headers={**sent, **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, dict(response.getheaders()), data)
    finally:
        conn.close()


def assert_forwarded(reply: Reply, *, ok: bool = True) -> None:
    assert reply.forwarded, (reply.status, reply.body)
    if ok:
        assert reply.status < 300, (reply.status, reply.body)


def assert_denied(reply: Reply, rule: str) -> None:
    assert reply.status == 403, (reply.status, reply.body)
    assert not reply.forwarded
    message = reply.json()["message"]
    assert message.startswith(f"sockspy: denied by rule {rule}: "), message


def assert_cli_denied(
    result: subprocess.CompletedProcess[bytes], rule: str, *fragments: str
) -> None:
    assert result.returncode != 0, result
    assert DENIED + rule.encode() + b": " in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment.encode() in result.stderr, (fragment, result.stderr)


def logged(
    proxy: ProxyProcess, matches: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """The latest audit record that `matches`, waiting for the log writer (it flushes every
    50 ms) rather than stopping the proxy."""
    deadline = time.monotonic() + 5.0
    while True:
        found = [r for r in proxy.audit_records() if matches(r)]
        if found:
            return found[-1]
        if time.monotonic() > deadline:
            seen = [
                (r.get("method"), r.get("target"), r.get("decision")) for r in proxy.exchanges()
            ]
            raise AssertionError(f"no {what} in the audit log; last exchanges: {seen[-20:]}")
        time.sleep(0.05)


def audit_record(
    proxy: ProxyProcess, endpoint: str, *, contains: str = "", decision: str = "deny"
) -> dict[str, Any]:
    """The latest exchange of `endpoint` (target containing `contains`) with `decision`."""
    return logged(
        proxy,
        lambda r: (
            r.get("event") == "exchange"
            and r["endpoint"] == endpoint
            and contains in r["target"]
            and r["decision"] == decision
        ),
        f"{decision} of {endpoint} ({contains!r})",
    )


def assert_audited_denial(
    proxy: ProxyProcess, endpoint: str, rule: str, code: str, *, contains: str = ""
) -> None:
    record = audit_record(proxy, endpoint, contains=contains)
    assert record["rule"] == rule, record
    assert record["code"] == code, record
    assert record["status"] == 403, record
    assert record["reason"], record


def exists(direct: Docker, kind: str, name: str) -> bool:
    return direct(kind, "inspect", name, check=False).returncode == 0


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def preset(
    docker_daemon: DockerDaemon, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], ProxyProcess]]:
    """``preset("readonly")``: one sockspy per preset for the module (exit 0 at teardown)."""
    started: dict[str, ProxyProcess] = {}

    def _get(name: str) -> ProxyProcess:
        if name not in started:
            logdir = tmp_path_factory.mktemp(f"preset-{name}")
            started[name] = start_proxy(docker_daemon.host, logdir, policy=name)
        return started[name]

    yield _get
    for proxy in started.values():
        proxy.stop()


@pytest.fixture(scope="module")
def target(docker_daemon: DockerDaemon, test_image: str) -> Iterator[str]:
    """A running container (created directly) that has printed one log line."""
    name = f"sockspy-e2e-target-{secrets.token_hex(4)}"
    docker_cli(
        docker_daemon.host, "run", "-d", "--name", name, test_image,
        "sh", "-c", "echo target-ready; exec sleep 600",
    )  # fmt: skip
    try:
        yield name
    finally:
        docker_cli(docker_daemon.host, "rm", "-f", name, check=False, timeout=60)


@pytest.fixture
def workspace() -> Iterator[Path]:
    """A job directory under ci-runner's workspace path, removed afterwards."""
    created_root = not WORKSPACE.exists()
    job = WORKSPACE / f"sockspy-e2e-{secrets.token_hex(4)}"
    job.mkdir(parents=True)
    try:
        yield job
    finally:
        shutil.rmtree(job, ignore_errors=True)
        if created_root:
            with contextlib.suppress(OSError):  # unless something else is there now
                WORKSPACE.rmdir()


# -- no policy given: the readonly preset ----------------------------------------------------


def test_without_policy_or_variables_serve_uses_readonly_and_says_so(
    start_sockspy: StartProxy,
    direct: Docker,
    target: str,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    proxy = start_sockspy(policy=None)
    host = proxy.unix_host
    notice = proxy.stderr_tail()
    assert "no policy given (-c): using the 'readonly' preset" in notice, notice
    policy = logged(proxy, lambda r: r.get("event") == "policy", "policy record")
    assert policy["source"] == "preset:readonly", policy

    assert target.encode() in docker_cli(host, "ps").stdout
    assert test_image.split(":")[0].encode() in docker_cli(host, "images").stdout
    docker_cli(host, "inspect", target)

    name = new_name()
    result = docker_cli(host, "run", "--name", name, test_image, "true", check=False)
    assert_cli_denied(result, "default", "no rule allows container.create")
    assert not exists(direct, "container", name)
    assert_audited_denial(proxy, "container.create", "default", "default_deny", contains=name)


# -- readonly --------------------------------------------------------------------------------


def test_readonly_serves_lists_inspects_logs_and_events(
    preset: Callable[[str], ProxyProcess], direct: Docker, target: str, test_image: str
) -> None:
    proxy = preset("readonly")
    host = proxy.unix_host
    assert target.encode() in docker_cli(host, "ps").stdout
    assert test_image.split(":")[0].encode() in docker_cli(host, "images").stdout
    assert json.loads(docker_cli(host, "inspect", target).stdout)[0]["Name"] == f"/{target}"
    assert docker_cli(host, "logs", target).stdout == b"target-ready\n"
    server = docker_cli(host, "version", "--format", "{{.Server.Version}}").stdout
    assert server == direct("version", "--format", "{{.Server.Version}}").stdout
    docker_cli(host, "info")
    docker_cli(host, "network", "ls")
    docker_cli(host, "volume", "ls")
    now = int(time.time())  # --until now+1: an event in this very second is not cut off
    events = docker_cli(
        host, "events", "--since", str(now - 600), "--until", str(now + 1),
        "--filter", f"container={target}", "--format", "{{.Action}}",
    )  # fmt: skip
    assert b"start" in events.stdout.split()
    for endpoint in ("container.list", "container.logs", "system.events", "system.info"):
        assert audit_record(proxy, endpoint, decision="allow")["rule"] == "read-only"


# Each: CLI arguments ({c}: the running target, {n}: a new name, {tmp}: a scratch dir,
# {image}: the test image) and the endpoint the CLI is denied.
READONLY_DENIALS: list[tuple[str, list[str], str]] = [
    ("run", ["run", "--name", "{n}", "{image}", "true"], "container.create"),
    ("create", ["create", "--name", "{n}", "{image}"], "container.create"),
    ("exec", ["exec", "{c}", "touch", "/tmp/exec-ran"], "exec.create"),
    ("cp-out", ["cp", "{c}:/etc/passwd", "{tmp}/passwd"], "container.archive_get"),
    ("cp-in", ["cp", "{tmp}/in.txt", "{c}:/tmp/in.txt"], "container.archive_put"),
    ("export", ["export", "-o", "{tmp}/export.tar", "{c}"], "container.export"),
    ("rm", ["rm", "-f", "{c}"], "container.delete"),
    ("stop", ["stop", "-t", "0", "{c}"], "container.stop"),
    ("volume-create", ["volume", "create", "{n}"], "volume.create"),
]


@pytest.mark.parametrize(
    ("args", "endpoint"),
    [pytest.param(args, endpoint, id=case) for case, args, endpoint in READONLY_DENIALS],
)
def test_readonly_denies_writes_and_reads_into_containers_with_a_clear_message(
    preset: Callable[[str], ProxyProcess],
    direct: Docker,
    target: str,
    test_image: str,
    new_name: Callable[[], str],
    tmp_path: Path,
    args: list[str],
    endpoint: str,
) -> None:
    proxy = preset("readonly")
    name = new_name()
    (tmp_path / "in.txt").write_text("from the host\n")
    values = {"c": target, "n": name, "tmp": str(tmp_path), "image": test_image}
    argv = [a.format(**values) for a in args]

    result = docker_cli(proxy.unix_host, *argv, check=False)

    assert_cli_denied(result, "default", f"no rule allows {endpoint} for profile default")
    uses_target = any("{c}" in a for a in args)
    contains = target if uses_target else name if endpoint == "container.create" else ""
    assert_audited_denial(proxy, endpoint, "default", "default_deny", contains=contains)
    # Nothing changed on the daemon, nothing came back.
    assert not exists(direct, "container", name)
    assert not exists(direct, "volume", name)
    state = json.loads(direct("inspect", target).stdout)[0]
    assert state["State"]["Running"] and not state["ExecIDs"]
    probe = direct("exec", target, "sh", "-c", "ls /tmp", check=False).stdout
    assert b"in.txt" not in probe and b"exec-ran" not in probe
    assert not (tmp_path / "passwd").exists()
    assert not (tmp_path / "export.tar").exists() or (tmp_path / "export.tar").stat().st_size == 0


def test_readonly_denies_attach_and_the_cli_reports_the_403(
    preset: Callable[[str], ProxyProcess], target: str
) -> None:
    # The CLI drops the body of a refused upgrade (client/hijack.go): all it prints is the
    # status. The reason is in the audit log.
    proxy = preset("readonly")
    result = docker_cli(proxy.unix_host, "attach", "--no-stdin", target, check=False, timeout=30)
    assert result.returncode != 0
    assert b"unable to upgrade to tcp, received 403" in result.stderr, result.stderr
    assert_audited_denial(proxy, "container.attach", "default", "default_deny", contains=target)


# -- ci-runner -------------------------------------------------------------------------------


def test_ci_runner_preset_builds_runs_and_binds_inside_the_workspace(
    preset: Callable[[str], ProxyProcess],
    direct: Docker,
    test_image: str,
    workspace: Path,
    tmp_path: Path,
) -> None:
    policy_text = (Path(__file__).parents[2] / "configs/presets/ci-runner.toml").read_text()
    assert f'allowed_bind_paths = ["{WORKSPACE}"]' in policy_text
    proxy = preset("ci-runner")
    host = proxy.unix_host

    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {test_image}\nRUN echo built > /built\n")
    tag = f"sockspy-e2e-ci-{secrets.token_hex(4)}:latest"
    try:
        docker_cli(host, "build", "-q", "-t", tag, str(context), env={"DOCKER_BUILDKIT": "0"})
        assert docker_cli(host, "run", "--rm", tag, "cat", "/built").stdout == b"built\n"
    finally:
        direct("rmi", "-f", tag, check=False)

    assert docker_cli(host, "run", "--rm", test_image, "echo", "hi").stdout == b"hi\n"
    docker_cli(
        host, "run", "--rm", "-v", f"{workspace}:/w", test_image,
        "sh", "-c", "echo from-the-job > /w/out",
    )  # fmt: skip
    assert (workspace / "out").read_text() == "from-the-job\n"
    assert audit_record(proxy, "image.build", decision="allow")["rule"] == "ci"


CI_DENIALS: list[tuple[str, list[str], str]] = [
    ("privileged", ["--privileged"], "HostConfig.Privileged is true"),
    ("cap-add", ["--cap-add", "SYS_ADMIN"], "CAP_SYS_ADMIN"),
    ("bind-root", ["-v", "/:/host"], "mounts host path '/'"),
    ("bind-etc", ["-v", "/etc:/x"], "mounts host path '/etc'"),
    ("bind-escape", ["-v", f"{WORKSPACE}/../../etc:/x"], "mounts host path '/etc'"),
    ("mount-etc", ["--mount", "type=bind,src=/etc,dst=/x"], "Mounts[0] mounts host path '/etc'"),
    ("pid-host", ["--pid", "host"], "PidMode is 'host'"),
    ("network-host", ["--network", "host"], "NetworkMode is 'host'"),
    ("device", ["--device", "/dev/null"], "maps host device '/dev/null'"),
]


@pytest.mark.parametrize(
    ("options", "finding"),
    [pytest.param(options, finding, id=case) for case, options, finding in CI_DENIALS],
)
def test_ci_runner_preset_denies_host_access(
    preset: Callable[[str], ProxyProcess],
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
    options: list[str],
    finding: str,
) -> None:
    proxy = preset("ci-runner")
    name = new_name()
    label = f"sockspy-e2e-ci={secrets.token_hex(8)}"
    result = docker_cli(
        proxy.unix_host, "run", "--rm", "--name", name, "--label", label, *options,
        test_image, "true", check=False,
    )  # fmt: skip
    assert_cli_denied(result, "no-host-access", "CI jobs get no host access", finding)
    assert_audited_denial(proxy, "container.create", "no-host-access", "host_access", contains=name)
    assert not exists(direct, "container", name)
    assert direct("ps", "-aq", "--filter", f"label={label}").stdout == b""


def test_ci_runner_preset_denies_an_existing_volume_made_with_bind_options(
    preset: Callable[[str], ProxyProcess],
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
    tmp_path: Path,
) -> None:
    # Made outside sockspy (by an admin, or before sockspy): a bind of a host directory
    # under a harmless-looking name. Through the raw socket it exposes the host directory.
    secret = tmp_path / "host-secret"
    secret.mkdir()
    (secret / "key").write_text("host only\n")
    volume, plain = f"cache-{secrets.token_hex(4)}", f"plain-{secrets.token_hex(4)}"
    direct("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={secret}", volume)
    direct("volume", "create", plain)
    try:
        leaked = direct("run", "--rm", "-v", f"{volume}:/c", test_image, "cat", "/c/key").stdout
        assert leaked == b"host only\n"  # the bypass is real on this daemon

        proxy = preset("ci-runner")
        for options in (["-v", f"{volume}:/c"], ["--mount", f"source={volume},target=/c"]):
            name = new_name()
            result = docker_cli(
                proxy.unix_host, "run", "--rm", "--name", name, *options, test_image,
                "cat", "/c/key", check=False,
            )  # fmt: skip
            assert_cli_denied(
                result, "no-host-access", f"mounts existing volume '{volume}'", "o=bind"
            )
            assert b"host only" not in result.stdout
            assert not exists(direct, "container", name)
        record = audit_record(proxy, "container.create", decision="deny")
        assert record["code"] == "host_access", record

        # A container made outside sockspy with that volume: exec and cp reach the host.
        holder = new_name()
        direct("run", "-d", "--name", holder, "-v", f"{volume}:/c", test_image, "sleep", "600")
        try:
            for args in (["exec", holder, "cat", "/c/key"], ["cp", f"{holder}:/c/key", "-"]):
                result = docker_cli(proxy.unix_host, *args, check=False)
                assert_cli_denied(result, "no-host-access", f"mounts volume '{volume}'")
                assert b"host only" not in result.stdout
        finally:
            direct("rm", "-f", holder, check=False)

        # A plain existing volume and a new one are everyday caches: allowed.
        for name in (plain, f"new-{secrets.token_hex(4)}"):
            out = docker_cli(
                proxy.unix_host, "run", "--rm", "-v", f"{name}:/c", test_image, "ls", "/c"
            )
            assert out.returncode == 0
            direct("volume", "rm", "-f", name, check=False)
    finally:
        direct("volume", "rm", "-f", volume, plain, check=False)


# -- traefik ---------------------------------------------------------------------------------


def test_traefik_preset_serves_the_docker_and_swarm_providers_calls(
    preset: Callable[[str], ProxyProcess], target: str
) -> None:
    # pkg/provider/docker: a client pinned to API 1.24 (docker provider) or negotiating
    # (swarm provider, HEAD then GET /_ping); version; containers with all=1, each
    # inspected; events filtered on containers. Swarm: services, version, swarm-scoped
    # networks, running tasks per service, each task's node (503 here: no swarm).
    host = preset("traefik").unix_host
    assert_forwarded(call(host, "HEAD", "/_ping"))
    assert_forwarded(call(host, "GET", "/_ping"))
    assert_forwarded(call(host, "GET", "/v1.24/version"))
    listed = call(host, "GET", "/v1.24/containers/json?all=1")
    assert_forwarded(listed)
    (target_id,) = [c["Id"] for c in listed.json() if f"/{target}" in c["Names"]]
    assert_forwarded(call(host, "GET", f"/v1.24/containers/{target_id}/json"))
    now = int(time.time())
    filters = quote(json.dumps({"type": ["container"]}))
    assert_forwarded(
        call(host, "GET", f"/v1.24/events?filters={filters}&since={now - 5}&until={now}")
    )
    scope = quote(json.dumps({"scope": ["swarm"]}))
    tasks = quote(json.dumps({"service": ["x"], "desired-state": ["running"]}))
    for path in ("/services", f"/networks?filters={scope}", f"/tasks?filters={tasks}", "/nodes/n1"):
        assert_forwarded(call(host, "GET", f"{V}{path}"), ok=False)


@pytest.mark.parametrize(
    ("method", "path", "body", "endpoint"),
    [
        ("POST", "/containers/create", PRIVILEGED, "container.create"),
        ("POST", "/containers/{c}/exec", {"Cmd": ["true"]}, "exec.create"),
        ("GET", "/plugins", None, "plugin.list"),
        ("GET", "/containers/{c}/logs?stdout=1", None, "container.logs"),
        ("GET", "/info", None, "system.info"),
        ("GET", "/secrets", None, "secret.list"),
    ],
)
def test_traefik_preset_denies_everything_else(
    preset: Callable[[str], ProxyProcess],
    target: str,
    method: str,
    path: str,
    body: Any,
    endpoint: str,
) -> None:
    proxy = preset("traefik")
    reply = call(proxy.unix_host, method, V + path.format(c=target), body)
    assert_denied(reply, "default")
    assert f"no rule allows {endpoint} " in reply.json()["message"]
    assert_audited_denial(proxy, endpoint, "default", "default_deny")


# -- watchtower ------------------------------------------------------------------------------


# Fields of an inspected HostConfig that dockerd filled in with its own defaults.
DAEMON_DEFAULTS = {"MaskedPaths": None, "ReadonlyPaths": None, "CgroupnsMode": ""}


def replacement(old: Mapping[str, Any], image: str, host_config: Mapping[str, Any]) -> Any:
    """Watchtower's create body for the replacement of the container inspected as `old`."""
    networks = old["NetworkSettings"]["Networks"]
    first = next(iter(networks))
    return {
        **old["Config"],
        "Image": image,
        "HostConfig": host_config,
        "NetworkingConfig": {"EndpointsConfig": {first: networks[first]}},
    }


@pytest.fixture
def old_tag(direct: Docker, test_image: str) -> Iterator[str]:
    """A second tag of the test image: "the old image" of an update (removed afterwards)."""
    tag = f"sockspy-e2e-wt-{secrets.token_hex(4)}:old"
    direct("tag", test_image, tag)
    try:
        yield tag
    finally:
        direct("rmi", tag, check=False)


def test_watchtower_preset_serves_an_update_of_a_container(
    preset: Callable[[str], ProxyProcess],
    direct: Docker,
    test_image: str,
    old_tag: str,
    new_name: Callable[[], str],
) -> None:
    # pkg/container/client.go, one update: list running containers, inspect each and its
    # image, pull, kill with the stop signal, force-remove, create the replacement from the
    # old Config and HostConfig, re-attach its network (disconnect, connect), start, rename
    # (self-update), remove the old image (--cleanup).
    proxy = preset("watchtower")
    host = proxy.unix_host
    name, renamed = new_name(), new_name()
    direct("run", "-d", "--name", name, "--label", "com.example=1", old_tag, "sleep", "600")

    running = quote(json.dumps({"status": ["running"]}))
    listed = call(host, "GET", f"{V}/containers/json?filters={running}")
    assert_forwarded(listed)
    assert name in [n.lstrip("/") for c in listed.json() for n in c["Names"]]
    info = call(host, "GET", f"{V}/containers/{name}/json")
    assert_forwarded(info)
    old = info.json()
    assert_forwarded(call(host, "GET", f"{V}/images/{old['Image']}/json"))
    assert_forwarded(call(host, "GET", f"{V}/images/{quote(old_tag, safe='')}/json"))
    # No registry here: the pull is forwarded and fails at the daemon.
    pull = call(host, "POST", f"{V}/images/create?fromImage=127.0.0.1%3A9%2Fnone&tag=latest")
    assert_forwarded(pull, ok=False)
    assert_forwarded(call(host, "POST", f"{V}/containers/{old['Id']}/kill?signal=SIGTERM"))
    assert_forwarded(call(host, "DELETE", f"{V}/containers/{old['Id']}?force=1"))

    # The HostConfig as inspect gave it, less what the daemon filled in itself: see
    # test_watchtower_recreates_a_container_from_its_inspected_host_config for why.
    body = replacement(old, test_image, {**old["HostConfig"], **DAEMON_DEFAULTS})
    created = call(host, "POST", f"{V}/containers/create?name={name}", body)
    assert_forwarded(created)
    new_id = created.json()["Id"]
    network, endpoint = next(iter(old["NetworkSettings"]["Networks"].items()))
    disconnect = {"Container": new_id, "Force": True}
    assert_forwarded(call(host, "POST", f"{V}/networks/{network}/disconnect", disconnect))
    connect = {"Container": new_id, "EndpointConfig": endpoint}
    assert_forwarded(call(host, "POST", f"{V}/networks/{network}/connect", connect))
    assert_forwarded(call(host, "POST", f"{V}/containers/{new_id}/start"))
    assert_forwarded(call(host, "POST", f"{V}/containers/{new_id}/rename?name={renamed}"))
    assert_forwarded(call(host, "DELETE", f"{V}/images/{quote(old_tag, safe='')}?force=1"))

    state = json.loads(direct("inspect", renamed).stdout)[0]
    assert state["State"]["Running"] and state["Config"]["Labels"]["com.example"] == "1"
    assert not exists(direct, "image", old_tag)
    record = audit_record(proxy, "container.create", contains=name, decision="allow")
    assert record["rule"] == "watchtower"


def test_watchtower_recreates_a_container_from_its_inspected_host_config(
    preset: Callable[[str], ProxyProcess],
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    # What watchtower really sends (GetCreateHostConfig: the inspected HostConfig, unchanged).
    # dockerd 20.10 stores its own defaults there: the MaskedPaths of 20.10 and, on cgroup v1,
    # CgroupnsMode "host"; sockspy compares them with this daemon's defaults (GET /version,
    # GET /info), not with the newest daemon's.
    proxy = preset("watchtower")
    host = proxy.unix_host
    name = new_name()
    direct("create", "--name", name, test_image, "true")
    old = call(host, "GET", f"{V}/containers/{name}/json").json()
    direct("rm", name)
    created = call(host, "POST", f"{V}/containers/create?name={name}",
                   replacement(old, test_image, old["HostConfig"]))  # fmt: skip
    assert_forwarded(created)
    assert audit_record(proxy, "container.create", contains=name, decision="allow")["rule"] == (
        "watchtower"
    )

    # Leaving out a path this daemon masks is still host access.
    unmasked = new_name()
    fewer = {**old["HostConfig"], "MaskedPaths": old["HostConfig"]["MaskedPaths"][1:]}
    denied = call(host, "POST", f"{V}/containers/create?name={unmasked}",
                  replacement(old, test_image, fewer))  # fmt: skip
    assert_denied(denied, "no-host-access")
    assert_audited_denial(
        proxy, "container.create", "no-host-access", "host_access", contains=unmasked
    )
    assert not exists(direct, "container", unmasked)


def test_watchtower_preset_denies_host_access_hooks_and_reads(
    preset: Callable[[str], ProxyProcess],
    direct: Docker,
    target: str,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    proxy = preset("watchtower")
    host = proxy.unix_host
    for host_config in ({"Privileged": True}, {"Binds": ["/etc:/x"]}, {"NetworkMode": "host"}):
        name = new_name()
        body = {"Image": test_image, "HostConfig": host_config}
        assert_denied(
            call(host, "POST", f"{V}/containers/create?name={name}", body), "no-host-access"
        )
        assert_audited_denial(
            proxy, "container.create", "no-host-access", "host_access", contains=name
        )
        assert not exists(direct, "container", name)

    # A container made elsewhere with host access is not started through watchtower.
    privileged = new_name()
    direct("create", "--name", privileged, "--privileged", test_image, "true")
    assert_denied(call(host, "POST", f"{V}/containers/{privileged}/start"), "no-host-access")
    assert not json.loads(direct("inspect", privileged).stdout)[0]["State"]["Running"]

    # Lifecycle hooks (exec), builds, docker cp and plugins are not in the preset.
    assert_denied(call(host, "POST", f"{V}/containers/{target}/exec", {"Cmd": ["true"]}), "default")
    assert_denied(call(host, "GET", f"{V}/containers/{target}/archive?path=/etc"), "default")
    assert_denied(call(host, "POST", f"{V}/build"), "default")
    assert_denied(call(host, "GET", f"{V}/plugins"), "default")
    assert_audited_denial(proxy, "exec.create", "default", "default_deny", contains=target)
    assert not json.loads(direct("inspect", target).stdout)[0]["ExecIDs"]


# -- homepage --------------------------------------------------------------------------------


def test_homepage_preset_serves_the_status_and_stats_widgets(
    preset: Callable[[str], ProxyProcess], target: str
) -> None:
    # dockerode, as homepage calls it (no API version in the path): listContainers({all}),
    # getContainer(name).stats({stream: false}), .inspect().
    host = preset("homepage").unix_host
    listed = call(host, "GET", "/containers/json?all=true")
    assert_forwarded(listed)
    assert f"/{target}" in [n for c in listed.json() for n in c["Names"]]
    stats = call(host, "GET", f"/containers/{target}/stats?stream=false")
    assert_forwarded(stats)
    assert "memory_stats" in stats.json()
    assert_forwarded(call(host, "GET", f"/containers/{target}/json"))
    assert_forwarded(call(host, "GET", "/version"))


@pytest.mark.parametrize(
    ("method", "path", "body", "endpoint"),
    [
        ("POST", "/containers/create", PRIVILEGED, "container.create"),
        ("POST", "/containers/create", HOST_BIND, "container.create"),
        ("POST", "/containers/{c}/exec", {"Cmd": ["true"]}, "exec.create"),
        ("POST", "/containers/{c}/stop", None, "container.stop"),
        ("GET", "/containers/{c}/logs?stdout=1", None, "container.logs"),
        ("GET", "/containers/{c}/archive?path=/", None, "container.archive_get"),
        ("GET", "/plugins", None, "plugin.list"),
    ],
)
def test_homepage_preset_denies_writes_logs_and_files(
    preset: Callable[[str], ProxyProcess],
    target: str,
    method: str,
    path: str,
    body: Any,
    endpoint: str,
) -> None:
    proxy = preset("homepage")
    reply = call(proxy.unix_host, method, path.format(c=target), body)
    assert_denied(reply, "default")
    assert f"no rule allows {endpoint} " in reply.json()["message"]
    assert_audited_denial(proxy, endpoint, "default", "default_deny")


# -- portainer -------------------------------------------------------------------------------


def test_portainer_preset_manages_containers_images_volumes_and_networks(
    preset: Callable[[str], ProxyProcess],
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    proxy = preset("portainer")
    client = docker.DockerClient(base_url=proxy.unix_host, version="auto", timeout=60)
    volume = network = None
    try:
        client.ping()
        client.info()
        client.df()
        client.images.list()
        client.plugins.list()
        name = new_name()
        container = client.containers.run(test_image, ["sleep", "600"], name=name, detach=True)
        assert container.exec_run(["echo", "console"]).output == b"console\n"
        container.reload()
        assert container.stats(stream=False)["id"] == container.id
        container.stop(timeout=0)
        container.remove()
        volume = client.volumes.create(f"sockspy-e2e-{secrets.token_hex(4)}")
        network = client.networks.create(f"sockspy-e2e-{secrets.token_hex(4)}")
        assert not exists(direct, "container", name)
    finally:
        if volume is not None:
            volume.remove()
        if network is not None:
            network.remove()
        client.close()
    assert audit_record(proxy, "exec.start", decision="allow")["rule"] == "portainer"


def test_portainer_preset_denies_host_access_root_exec_plugins_and_buildkit(
    preset: Callable[[str], ProxyProcess],
    direct: Docker,
    target: str,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    proxy = preset("portainer")
    client = docker.DockerClient(base_url=proxy.unix_host, version="1.41", timeout=60)
    try:
        for options in ({"privileged": True}, {"volumes": ["/etc:/x"]}, {"pid_mode": "host"}):
            name = new_name()
            with pytest.raises(docker.errors.APIError) as denied:
                client.containers.create(test_image, "true", name=name, **options)
            assert denied.value.status_code == 403
            assert (
                "sockspy: denied by rule no-host-access: no host access through Portainer"
                in str(denied.value.explanation)
            )
            assert_audited_denial(
                proxy, "container.create", "no-host-access", "host_access", contains=name
            )
            assert not exists(direct, "container", name)
        for exec_options in ({"user": "root"}, {"privileged": True}):
            with pytest.raises(docker.errors.APIError, match="no-host-access"):
                client.api.exec_create(target, ["true"], **exec_options)
        volume = f"sockspy-e2e-{secrets.token_hex(4)}"
        with pytest.raises(docker.errors.APIError, match="no-host-access"):
            client.volumes.create(
                volume, driver_opts={"type": "none", "o": "bind", "device": "/etc"}
            )
        assert not exists(direct, "volume", volume)
    finally:
        client.close()
    assert not json.loads(direct("inspect", target).stdout)[0]["ExecIDs"]
    grant = [{"Name": "mount", "Value": ["/var/lib/docker"]}]
    pull = f"{V}/plugins/pull?remote=x"
    assert_denied(call(proxy.unix_host, "POST", pull, grant), "no-host-access")
    assert_denied(call(proxy.unix_host, "POST", pull, []), "no-plugin-install")
    assert_denied(call(proxy.unix_host, "POST", f"{V}/plugins/x/enable"), "no-plugin-install")
    upgrade = {"Upgrade": "h2c", "Connection": "Upgrade"}
    session = call(proxy.unix_host, "POST", f"{V}/session", headers=upgrade)
    assert_denied(session, "no-buildkit-session")
    assert_denied(call(proxy.unix_host, "OPTIONS", f"{V}/containers/json"), "default")
    assert_audited_denial(proxy, "session.start", "no-buildkit-session", "rule_deny")


# -- audit-only ------------------------------------------------------------------------------


def test_audit_only_forwards_everything_and_records_each_allow(
    preset: Callable[[str], ProxyProcess],
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    proxy = preset("audit-only")
    name = new_name()
    docker_cli(
        proxy.unix_host, "create", "--name", name, "--privileged", "-v", "/etc:/x:ro", test_image
    )
    host_config = json.loads(direct("inspect", name).stdout)[0]["HostConfig"]
    assert host_config["Privileged"] is True and host_config["Binds"] == ["/etc:/x:ro"]
    record = audit_record(proxy, "container.create", contains=name, decision="allow")
    assert (record["rule"], record["code"], record["status"]) == ("allow-all", None, 201)
    # Canonical refusals stand in every mode.
    old = call(proxy.unix_host, "GET", "/v1.12/version")
    assert old.status == 400 and not old.forwarded
    refused = audit_record(proxy, "system.version", contains="/v1.12/")
    assert (refused["rule"], refused["code"]) == ("canonical", "api_version_too_old")


def test_audit_mode_forwards_what_a_rule_denies_and_records_would_deny(
    start_sockspy: StartProxy,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
    tmp_path: Path,
) -> None:
    policy = tmp_path / "audit.toml"
    policy.write_text(
        'mode = "audit"\n\n'
        '[[rules]]\nname = "no-privileged"\naction = "deny"\nif_findings = ["privileged"]\n\n'
        '[[rules]]\nname = "allow-all"\naction = "allow"\n'
    )
    proxy = start_sockspy(policy=str(policy))
    name = new_name()
    docker_cli(proxy.unix_host, "create", "--name", name, "--privileged", test_image)
    assert exists(direct, "container", name)
    record = audit_record(proxy, "container.create", contains=name, decision="would_deny")
    assert (record["rule"], record["code"], record["status"]) == (
        "no-privileged",
        "host_access",
        201,
    )


# -- docker-socket-proxy variables -----------------------------------------------------------


def test_containers_variable_allows_reads_and_denies_writes_and_archive(
    start_sockspy: StartProxy,
    direct: Docker,
    target: str,
    test_image: str,
    new_name: Callable[[], str],
    tmp_path: Path,
) -> None:
    proxy = start_sockspy(policy=None, env={"CONTAINERS": "1"})
    host = proxy.unix_host
    assert "policy from docker-socket-proxy variables" in proxy.stderr_tail()
    assert target.encode() in docker_cli(host, "ps").stdout

    name = new_name()
    result = docker_cli(host, "run", "--name", name, test_image, "true", check=False)
    assert_cli_denied(result, "tecnativa-post", "POST=0: only GET and HEAD requests are allowed")
    assert_audited_denial(proxy, "container.create", "tecnativa-post", "rule_deny", contains=name)
    assert not exists(direct, "container", name)

    result = docker_cli(host, "cp", f"{target}:/etc/passwd", str(tmp_path / "p"), check=False)
    assert_cli_denied(result, "tecnativa-archive", "container archive needs ALLOW_ARCHIVE=1")
    assert_audited_denial(proxy, "container.archive_get", "tecnativa-archive", "rule_deny")
    assert not (tmp_path / "p").exists()

    result = docker_cli(host, "images", check=False)
    assert_cli_denied(result, "default", "no rule allows image.list")


def test_allow_start_works_without_post_while_create_stays_denied(
    start_sockspy: StartProxy, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    proxy = start_sockspy(policy=None, env={"CONTAINERS": "1", "ALLOW_START": "1"})
    host = proxy.unix_host
    name = new_name()
    direct("create", "--name", name, test_image, "sleep", "600")
    assert_forwarded(call(host, "POST", f"{V}/containers/{name}/start"))
    assert json.loads(direct("inspect", name).stdout)[0]["State"]["Running"]
    assert (
        audit_record(proxy, "container.start", decision="allow")["rule"] == "tecnativa-allow-start"
    )

    assert_denied(call(host, "POST", f"{V}/containers/{name}/stop"), "tecnativa-post")
    assert json.loads(direct("inspect", name).stdout)[0]["State"]["Running"]
    other = new_name()
    assert_denied(
        call(host, "POST", f"{V}/containers/create?name={other}", {"Image": test_image}),
        "tecnativa-post",
    )
    assert not exists(direct, "container", other)


def test_ping_version_and_events_are_on_by_default(start_sockspy: StartProxy) -> None:
    proxy = start_sockspy(policy=None, env={"CONTAINERS": "0"})
    host = proxy.unix_host
    ping = call(host, "HEAD", "/_ping")
    assert_forwarded(ping)
    assert ping.body == b""
    assert_forwarded(call(host, "GET", "/_ping"))
    assert_forwarded(call(host, "GET", f"{V}/version"))
    now = int(time.time())
    assert_forwarded(call(host, "GET", f"{V}/events?since={now - 5}&until={now}"))
    assert_denied(call(host, "GET", f"{V}/containers/json"), "default")
    assert_denied(call(host, "GET", f"{V}/info"), "default")
    assert_audited_denial(proxy, "system.info", "default", "default_deny")


def test_archive_and_export_need_their_own_variables_even_with_post(
    start_sockspy: StartProxy, target: str, tmp_path: Path
) -> None:
    strict = start_sockspy(policy=None, env={"CONTAINERS": "1", "POST": "1"})
    result = docker_cli(
        strict.unix_host, "cp", f"{target}:/etc/passwd", str(tmp_path / "p"), check=False
    )
    assert_cli_denied(result, "tecnativa-archive", "ALLOW_ARCHIVE=1")
    result = docker_cli(
        strict.unix_host, "export", "-o", str(tmp_path / "e.tar"), target, check=False
    )
    assert_cli_denied(result, "tecnativa-export", "container export needs ALLOW_EXPORT=1")
    assert_denied(
        call(strict.unix_host, "PUT", f"{V}/containers/{target}/archive?path=/tmp"),
        "tecnativa-archive",
    )
    assert_audited_denial(
        strict, "container.export", "tecnativa-export", "rule_deny", contains=target
    )
    assert_audited_denial(strict, "container.archive_put", "tecnativa-archive", "rule_deny")

    env = {"CONTAINERS": "1", "POST": "1", "ALLOW_ARCHIVE": "1", "ALLOW_EXPORT": "1"}
    opened = start_sockspy(policy=None, env=env)
    docker_cli(opened.unix_host, "cp", f"{target}:/etc/passwd", str(tmp_path / "p"))
    assert (tmp_path / "p").read_text().startswith("root:")
    docker_cli(opened.unix_host, "export", "-o", str(tmp_path / "e.tar"), target)
    assert (tmp_path / "e.tar").stat().st_size > 100_000


def test_a_variable_that_is_not_0_or_1_stops_serve_with_exit_code_2(
    docker_daemon: DockerDaemon,
) -> None:
    with tempfile.TemporaryDirectory(prefix="ssv", dir="/tmp") as rundir:
        env = {**os.environ, "CONTAINERS": "yes"}
        result = subprocess.run(
            [sys.executable, "-m", "sockspy", "serve", "-H", f"unix://{rundir}/front.sock",
             "--upstream", docker_daemon.host],
            env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert not os.path.exists(f"{rundir}/front.sock")
    assert result.returncode == 2, result
    assert result.stderr.startswith(b"sockspy: "), result.stderr
    assert b"CONTAINERS='yes': use 0 or 1" in result.stderr, result.stderr


def test_a_denied_exec_start_is_denied_at_its_create_where_the_cli_shows_it(
    start_sockspy: StartProxy, target: str
) -> None:
    # docker-socket-proxy's CONTAINERS=1 POST=1 without EXEC: the exec could never start,
    # and the CLI would only print "unable to upgrade to tcp, received 403".
    proxy = start_sockspy(policy=None, env={"CONTAINERS": "1", "POST": "1"})
    for args in (("exec", target, "true"), ("exec", "-d", target, "true"), ("exec", "-i", target)):
        command = (*args, "cat") if args[-1] == target else args
        result = docker_cli(proxy.unix_host, *command, check=False, timeout=30)
        assert_cli_denied(result, "default", "exec.start would be denied")
        assert b"unable to upgrade" not in result.stderr, result.stderr
    assert_audited_denial(proxy, "exec.create", "default", "default_deny", contains=target)
    opened = start_sockspy(policy=None, env={"CONTAINERS": "1", "POST": "1", "EXEC": "1"})
    assert docker_cli(opened.unix_host, "exec", target, "true").returncode == 0


def test_ci_runner_preset_denies_networks_on_the_hosts_interfaces(
    preset: Callable[[str], ProxyProcess], direct: Docker, new_name: Callable[[], str]
) -> None:
    """A macvlan network puts containers straight on a host interface (its parent), and a
    bridge network adopts an existing host bridge by its name: both reach the host's
    networks past its NAT and firewall. Denied under ci-runner; the daemon makes both
    (checked directly, on a bridge made for the test), and a plain network passes."""
    proxy = preset("ci-runner")
    host_bridge = f"spx{secrets.token_hex(4)}"
    subprocess.run(["ip", "link", "add", host_bridge, "type", "bridge"], check=True)
    try:
        for options, finding in (
            (["-d", "macvlan", "-o", f"parent={host_bridge}"], "driver 'macvlan'"),
            (["-o", f"com.docker.network.bridge.name={host_bridge}"], "bridge.name"),
        ):
            name = new_name()
            result = docker_cli(proxy.unix_host, "network", "create", *options, name, check=False)
            assert_cli_denied(result, "no-host-access", "CI jobs get no host access", finding)
            assert not exists(direct, "network", name)
            direct("network", "create", *options, name)  # the daemon builds it on the host's
            direct("network", "rm", name)
        plain = new_name()
        docker_cli(proxy.unix_host, "network", "create", plain)
        direct("network", "rm", plain)
    finally:
        subprocess.run(["ip", "link", "del", host_bridge], check=False)
