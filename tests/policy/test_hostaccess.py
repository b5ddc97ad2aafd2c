"""Host-access findings: one minimal request per code, and real CLI requests that have none."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from support.contexts import context
from support.deciding import containers_referenced, findings, volumes_referenced

from sockspy.core.docker.bindpaths import bind_source, go_clean, is_allowed
from sockspy.core.docker.daemon import DaemonFacts
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request, classify_request
from sockspy.core.docker.schemas import CONTAINER_CREATE, effective_host_config
from sockspy.core.wire.head import parse_request_head
from sockspy.policy.hostaccess import FINDING_CODES, Finding, HostAccessOptions

BODIES = Path(__file__).parent / "bodies"
DEFAULTS = HostAccessOptions()
Containers = Mapping[str, Mapping[str, Any] | None]
EXEC = {"Cmd": ["sh"]}


def request(method: str, target: str, body: object = None) -> Request:
    """The Request the core builds; a dict or list body is sent as JSON, bytes as they are."""
    raw = json.dumps(body).encode() if isinstance(body, dict | list) else body
    head = parse_request_head(f"{method} {target} HTTP/1.1\r\nHost: docker\r\n\r\n".encode())
    parsed = classify_request(head)
    return parsed if raw is None else parsed.with_body(raw)


def volumes_of(
    req: Request, containers: Containers | None, volumes: Containers | None
) -> Containers:
    """`volumes`, or else every volume the checks look up, as not existing yet."""
    if volumes is None:
        return dict.fromkeys(volumes_referenced(req, DEFAULTS, containers))
    return volumes


def codes(
    req: Request,
    containers: Containers | None = None,
    options: HostAccessOptions = DEFAULTS,
    volumes: Containers | None = None,
) -> set[str]:
    """The finding codes; named volumes not given are looked up as not existing yet."""
    volumes = volumes_of(req, containers, volumes)
    return {f.code for f in findings(req, options, containers or {}, volumes=volumes)}


def create(host_config: dict[str, Any]) -> Request:
    return request("POST", "/v1.41/containers/create", {"Image": "bb", "HostConfig": host_config})


def service(task: dict[str, Any]) -> Request:
    return request("POST", "/v1.41/services/create", {"Name": "s", "TaskTemplate": task})


def exec_in_web(config: dict[str, Any]) -> Request:
    return request("POST", "/v1.41/containers/web/exec", {**EXEC, **config})


def stored(**host_config: Any) -> dict[str, Any]:
    return {"HostConfig": host_config, "Mounts": []}


BIND_VOLUME = {
    "Type": "volume",
    "Source": "v",
    "Target": "/v",
    "VolumeOptions": {"DriverConfig": {"Options": {"type": "none", "o": "bind", "device": "/"}}},
}

# code -> (request, inspect answers). Each request is the smallest that should raise it.
CREATE_URL = "/v1.41/containers/create"
ONE_PER_CODE: dict[str, tuple[Request, Containers]] = {
    "privileged": (create({"Privileged": True}), {}),
    "cap_add": (create({"CapAdd": ["cap_sys_admin"]}), {}),
    "devices": (create({"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/d"}]}), {}),
    "device_cgroup_rules": (create({"DeviceCgroupRules": ["c *:* rwm"]}), {}),
    "device_requests": (create({"DeviceRequests": [{"Driver": "nvidia", "Count": -1}]}), {}),
    "security_opt": (create({"SecurityOpt": ["seccomp=unconfined"]}), {}),
    "masked_paths": (create({"MaskedPaths": []}), {}),
    "pid_mode": (create({"PidMode": "host"}), {}),
    "network_mode": (create({"NetworkMode": "host"}), {}),
    "ipc_mode": (create({"IpcMode": "host"}), {}),
    "uts_mode": (create({"UTSMode": "host"}), {}),
    "userns_mode": (create({"UsernsMode": "host"}), {}),
    "cgroupns_mode": (create({"CgroupnsMode": "host"}), {}),
    "cgroup_parent": (create({"CgroupParent": "/"}), {}),
    "bind_mount": (create({"Binds": ["/etc:/host-etc:ro"]}), {}),
    "local_volume_options": (create({"Mounts": [BIND_VOLUME]}), {}),
    "log_driver": (create({"LogConfig": {"Type": "syslog"}}), {}),
    "mount_type": (create({"Mounts": [{"Type": "npipe", "Source": "p", "Target": "/p"}]}), {}),
    "volume_driver": (create({"VolumeDriver": "local-persist"}), {}),
    "annotations": (create({"Annotations": {"org.systemd.property.ExecStopPost": "x"}}), {}),
    "volumes_from": (create({"VolumesFrom": ["src:ro"]}), {"src": stored(Binds=["/:/h"])}),
    "container_unknown": (request("POST", "/v1.41/containers/web/exec", EXEC), {}),
    "target_privileged": (
        request("POST", "/v1.41/containers/web/exec", EXEC),
        {"web": stored(Privileged=True)},
    ),
    "target_bind_mount": (
        request("GET", "/v1.41/containers/web/archive?path=/h"),
        {"web": stored(Binds=["/var/run/docker.sock:/h"])},
    ),
    "target_host_access": (
        request("POST", "/v1.41/containers/web/attach?stream=1"),
        {"web": stored(PidMode="host")},
    ),
    "exec_privileged": (exec_in_web({"Privileged": True}), {"web": None}),
    "exec_user": (exec_in_web({"User": "0"}), {"web": None}),
    "build_network_mode": (request("POST", "/v1.41/build?networkmode=host"), {}),
    "build_cgroup_parent": (request("POST", "/v1.41/build?cgroupparent=/"), {}),
    "build_buildkit": (request("POST", "/v1.41/build?version=2"), {}),
    "build_remote": (request("POST", "/v1.41/build?remote=http://127.0.0.1:8080/c.tar"), {}),
    "build_add_url": (
        request("POST", "/v1.41/build", context({"Dockerfile": b"FROM scratch\nADD http://h/x /"})),
        {},
    ),
    "import_url": (request("POST", "/v1.41/images/create?fromSrc=http://127.0.0.1/i.tar"), {}),
    "network_driver": (
        request("POST", "/v1.41/networks/create", {"Name": "n", "Driver": "ipvlan"}),
        {},
    ),
    "network_host_interface": (
        request("POST", "/v1.41/networks/create",
                {"Name": "n", "Options": {"com.docker.network.bridge.name": "br0"}}),
        {},
    ),
    "service_privileges": (
        service({"ContainerSpec": {"Privileges": {"Seccomp": {"Mode": "unconfined"}}}}),
        {},
    ),
    "service_host_network": (service({"ContainerSpec": {}, "Networks": [{"Target": "host"}]}), {}),
    "service_plugin": (service({"Runtime": "plugin", "PluginSpec": {"name": "p"}}), {}),
    "plugin_privileges": (
        request("POST", "/v1.41/plugins/pull?remote=p", [{"Name": "network", "Value": ["host"]}]),
        {},
    ),
    "plugin_set": (request("POST", "/v1.41/plugins/p/set", ["mnt.source=/etc"]), {}),
    "swarm_init": (request("POST", "/v1.41/swarm/init", {"ListenAddr": "0.0.0.0:2377"}), {}),
    "swarm_join": (request("POST", "/v1.41/swarm/join", {"RemoteAddrs": ["10.0.0.1:2377"]}), {}),
    "volume_unknown": (create({"Binds": ["cache:/cache"]}), {}),
    "runtime": (create({"Runtime": "sysbox-runc"}), {}),
    "oom_score_adj": (create({"OomScoreAdj": -500}), {}),
    "sysctls": (create({"Sysctls": {"kernel.core_pattern": "|/tmp/x"}}), {}),
    "working_dir": (request("POST", CREATE_URL, {"Image": "bb", "WorkingDir": "/proc/1/fd/7"}), {}),
    "image_unknown": (create({}), {}),
    "exec_unknown": (request("POST", "/v1.41/exec/abc/start"), {}),
}  # fmt: skip
# Codes whose look-up the test's book leaves unanswered (the others are all answered).
UNANSWERED = {"image_unknown": {"images": {}}, "exec_unknown": {"execs": {}}}


@pytest.mark.parametrize("code", sorted(ONE_PER_CODE))
def test_each_code_has_a_minimal_request_that_raises_only_it(code: str) -> None:
    req, containers = ONE_PER_CODE[code]
    volumes = {} if code == "volume_unknown" else None  # None: each one looked up, absent
    book = UNANSWERED.get(code, {})
    assert {
        f.code
        for f in findings(
            req, DEFAULTS, containers, volumes=volumes_of(req, containers, volumes), **book
        )
    } == {code}


def test_every_documented_code_is_exercised_and_snake_case() -> None:
    assert set(FINDING_CODES) == set(ONE_PER_CODE)
    for code, description in FINDING_CODES.items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code), code
        assert description and "\n" not in description


# -- What real clients send: no findings ---------------------------------------------------

CLI_REQUESTS = [
    ("POST", "/v1.41/containers/create?name=x", "cli28_run_rm_i_cat.json"),  # run --rm -i bb cat
    ("POST", "/v1.41/containers/create?name=x", "cli28_run_d_volume.json"),  # run -d -v myvol:/data
    ("POST", "/v1.41/containers/create?name=x", "cli28_create_hardened.json"),  # cap-drop ALL...
    ("POST", "/v1.41/containers/web/exec", "cli28_exec.json"),  # exec web true
    ("POST", "/v1.41/containers/web/exec", "cli28_exec_i.json"),  # exec -i web cat
    ("POST", "/v1.41/containers/web/update", "cli28_update.json"),  # update --cpus --memory...
    ("POST", "/v1.41/volumes/create", "cli28_volume_create.json"),  # volume create x
]


# How dockerd 20.10 inspects a container run with a named volume (docker run -v myvol:/data).
WEB = json.loads((BODIES / "dockerd2010_inspect_volume_container.json").read_text())
# dockerd 20.10's GET /volumes/{name}: `docker volume create plainvol`, and
# `docker volume create -o type=none -o o=bind -o device=/etc bindvol`.
PLAIN_VOLUME = json.loads((BODIES / "dockerd2010_volume_plain.json").read_text())
BIND_VOLUME_INSPECT = json.loads((BODIES / "dockerd2010_volume_bind.json").read_text())


@pytest.mark.parametrize(("method", "target", "name"), CLI_REQUESTS)
def test_docker_cli_28_everyday_requests_have_no_findings(
    method: str, target: str, name: str
) -> None:
    req = request(method, target, (BODIES / name).read_bytes())
    volumes = {name: PLAIN_VOLUME for name in volumes_referenced(req, DEFAULTS, {"web": WEB})}
    assert findings(req, DEFAULTS, {"web": WEB}, volumes=volumes) == []


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("POST", "/v1.41/containers/web/start", None),
        ("POST", "/v1.41/containers/web/attach?stream=1&stdin=1", None),
        ("GET", "/v1.41/containers/web/export", None),
        ("GET", "/v1.41/containers/web/archive?path=/data", None),
        ("PUT", "/v1.41/containers/web/archive?path=/", b"tar bytes"),
    ],
)
def test_requests_on_an_ordinary_container_have_no_findings(
    method: str, target: str, body: bytes | None
) -> None:
    req = request(method, target, body)
    assert volumes_referenced(req, DEFAULTS, {"web": WEB}) == ("gojson-diff-myvol",)
    assert findings(req, DEFAULTS, {"web": WEB}, volumes={"gojson-diff-myvol": PLAIN_VOLUME}) == []


# -- Request bodies decoded as dockerd decodes them ---------------------------------------


def test_legacy_top_level_host_config_is_checked_beside_the_inner_one() -> None:
    legacy = request("POST", "/v1.41/containers/create", b'{"Image":"bb","Privileged":true}')
    assert codes(legacy) == {"privileged"}
    # dockerd 20.10 ignores legacy fields when "HostConfig" is present; both are checked.
    both = b'{"Image":"bb","Binds":["/:/h"],"HostConfig":{"CapAdd":["SYS_ADMIN"]}}'
    assert codes(request("POST", "/v1.41/containers/create", both)) == {"bind_mount", "cap_add"}
    nulled = b'{"Image":"bb","HostConfig":{"Privileged":true},"hostconfig":null}'
    assert codes(request("POST", "/v1.41/containers/create", nulled)) == set()


def test_go_slice_reuse_cannot_hide_a_bind_mount() -> None:
    body = (
        b'{"Image":"bb","HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/x"}],'
        b'"Mounts":[{"Target":"/y"}]}}'
    )
    found = findings(request("POST", "/v1.41/containers/create", body), DEFAULTS, {})
    assert found == [Finding("bind_mount", "HostConfig.Mounts[0] mounts host path '/'")]


@pytest.mark.parametrize(
    "body",
    [
        b'{"Image":"bb"} trailing',
        b'{"Image":"bb","HostConfig":{"Privileged":"yes"}}',
        b'{"Image":"\xff"}',
        b"",
    ],
)
def test_bodies_dockerd_would_read_otherwise_raise(body: bytes) -> None:
    with pytest.raises(BodyDecodeError):
        findings(request("POST", "/v1.41/containers/create", body), DEFAULTS, {})


def test_effective_host_config_is_getHostConfig() -> None:
    from sockspy.core.docker.gojson import decode_into

    def effective(body: bytes) -> dict[str, Any] | None:
        return effective_host_config(decode_into(body, CONTAINER_CREATE))

    assert effective(b'{"Image":"bb"}') is None
    assert effective(b'{"Privileged":true}') == {"Privileged": True, "NetworkMode": "default"}
    assert effective(b'{"Privileged":true,"Memory":5,"HostConfig":{"NetworkMode":"none"}}') == {
        "NetworkMode": "none",
        "Memory": 5,
    }
    assert effective(b'{"Cpuset":"0","HostConfig":{}}') == {
        "CpusetCpus": "0",
        "NetworkMode": "default",
    }


# -- The allow-lists and how values are compared --------------------------------------------


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ("/srv/ci:/w", True),
        ("/srv/ci/job/../cache:/w:ro", True),
        ("//srv//ci/:/w", True),
        ("/srv/ci/../../etc:/w", False),
        ("/srv/cix:/w", False),
        ("/srv:/w", False),
        ("/:/w", False),
        ("rel/ci:/w", False),  # dockerd refuses it as a volume name; reported all the same
        ("myvolume:/w", True),  # a named volume
        ("/data", True),  # an anonymous volume at /data
    ],
)
def test_binds_outside_the_allowed_paths_are_reported(spec: str, allowed: bool) -> None:
    options = HostAccessOptions(allowed_bind_paths=("/srv/ci",))
    assert codes(create({"Binds": [spec]}), options=options) == (
        set() if allowed else {"bind_mount"}
    )


def test_bind_path_helpers_follow_go() -> None:
    assert go_clean("//etc/../") == "/"
    assert go_clean("a/../../b/./c/") == "../b/c"
    assert go_clean("") == "."
    assert bind_source("/a:/b:ro") == "/a"
    assert bind_source("vol:/b") is None
    assert bind_source(":/b") is None
    assert is_allowed("/", ["/"]) and not is_allowed("x", ["/"])


@pytest.mark.parametrize(
    ("mount", "reported"),
    [
        ({"Type": "bind", "Source": "/etc", "Target": "/e"}, True),
        ({"Type": "Bind", "Source": "/etc", "Target": "/e"}, True),  # refused by dockerd
        ({"Type": "volume", "Source": "v", "Target": "/v", "BindOptions": {}}, True),
        ({"Type": "tmpfs", "Target": "/t"}, False),
        ({"Type": "volume", "Source": "v", "Target": "/v"}, False),
        (
            {"Type": "volume", "Target": "/v",
             "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"size": "1G"}}}},
            False,
        ),
        (
            {"Type": "volume", "Target": "/v",
             "VolumeOptions": {"DriverConfig": {"Name": "rexray", "Options": {"o": "bind"}}}},
            True,  # a plugin driver: volume_driver
        ),
    ],
)  # fmt: skip
def test_mount_types(mount: dict[str, Any], reported: bool) -> None:
    assert bool(codes(create({"Mounts": [mount]}))) is reported


def test_capabilities_fold_case_and_prefix_and_skip_the_defaults() -> None:
    options = HostAccessOptions(allowed_capabilities=("NET_ADMIN",))
    for cap in ("NET_ADMIN", "net_admin", "CAP_net_admin", "CAP_CHOWN", "kill"):
        assert codes(create({"CapAdd": [cap]}), options=options) == set(), cap
    for cap in ("ALL", "all", "SYS_ADMIN", "CAP_SYS_PTRACE", "\u017fys_admin"):
        assert codes(create({"CapAdd": cap}), options=options) == {"cap_add"}, cap


def test_devices_and_log_drivers_follow_their_allow_lists() -> None:
    options = HostAccessOptions(allowed_devices=("/dev/fuse",), allowed_log_drivers=("local",))
    fuse = {"PathOnHost": "/dev//fuse", "PathInContainer": "/dev/fuse"}
    assert codes(create({"Devices": [fuse]}), options=options) == set()
    assert codes(create({"LogConfig": {"Type": "local"}}), options=options) == set()
    assert codes(create({"LogConfig": {"Type": ""}}), options=options) == {"log_driver"}
    update = request("POST", "/v1.41/containers/web/update", {"Memory": 1})  # no LogConfig
    assert codes(update, options=options) == set()
    assert codes(create({"LogConfig": {"Type": "JSON-FILE"}})) == {"log_driver"}


@pytest.mark.parametrize(
    ("opt", "reported"),
    [
        ("no-new-privileges", False),
        ("no-new-privileges=true", False),
        ("no-new-privileges:1", False),
        ("label=level:s0:c100,c200", False),
        ("seccomp=builtin", False),
        ("apparmor=docker-default", False),
        ("no-new-privileges=false", True),
        ("seccomp:unconfined", True),
        ('seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', True),
        ("apparmor=unconfined", True),
        ("label=disable", True),
        ("label:disable", True),
        ("disable", True),
        ("label=type:spc_t", True),
        ("systempaths=unconfined", True),
        ("writable-cgroups=true", True),
    ],
)
def test_security_options(opt: str, reported: bool) -> None:
    assert codes(create({"SecurityOpt": [opt]})) == ({"security_opt"} if reported else set())


@pytest.mark.parametrize(
    ("mode", "reported"),
    [
        ("host", True),
        ("HOST", True),
        ("container:db", True),
        ("", False),
        ("private", False),
        ("shareable", False),
        ("bridge", False),
    ],
)
def test_namespace_modes(mode: str, reported: bool) -> None:
    assert codes(create({"IpcMode": mode})) == ({"ipc_mode"} if reported else set())


def test_masked_paths_must_keep_every_default() -> None:
    baseline = WEB["HostConfig"]["MaskedPaths"]  # what dockerd 20.10 stores
    assert codes(create({"MaskedPaths": [*baseline, "/proc/extra"]})) == {"masked_paths"}
    newer = [*baseline, "/sys/devices/virtual/powercap", "/proc/interrupts"]
    assert codes(create({"MaskedPaths": newer, "ReadonlyPaths": None})) == set()
    assert codes(create({"ReadonlyPaths": ["/proc/sys"]})) == {"masked_paths"}


@pytest.mark.parametrize(
    ("user", "root"),
    [("", False), ("app", False), ("1000", False), ("1000:0", False), ("0", True),
     ("root", True), ("root:root", True), ("00", True), ("+0", True), ("0:1000", True)],
)  # fmt: skip
def test_exec_user_root(user: str, root: bool) -> None:
    req = request("POST", "/v1.41/containers/web/exec", {**EXEC, "User": user})
    assert codes(req, {"web": None}) == ({"exec_user"} if root else set())


# -- Existing containers --------------------------------------------------------------------


def test_start_body_below_api_1_24_is_a_host_config() -> None:
    for body in ({"Binds": ["/:/h"]}, {"HostConfig": {"Binds": ["/:/h"]}}):
        req = request("POST", "/v1.23/containers/web/start", body)
        assert codes(req, {"web": WEB}) == {"bind_mount"}


def test_start_body_volumes_from_is_looked_up() -> None:
    req = request("POST", "/v1.23/containers/web/start", {"VolumesFrom": ["src:rw"]})
    assert containers_referenced(req, DEFAULTS) == ("web", "src")
    assert codes(req, {"web": WEB, "src": stored(Binds=["/:/h"])}) == {"volumes_from"}


def test_volumes_from_a_container_with_inherited_binds() -> None:
    # A container that took its binds by VolumesFrom shows them in its top-level Mounts only.
    src = {"HostConfig": {"VolumesFrom": ["a"]}, "Mounts": [{"Type": "bind", "Source": "/etc"}]}
    req = create({"VolumesFrom": ["src"]})
    assert codes(req, {"src": src}) == {"volumes_from"}
    assert codes(req, {"src": None}) == set()  # no such container: dockerd refuses the create
    assert codes(req, {}) == {"container_unknown"}


def test_reading_a_container_only_cares_about_its_host_mounts() -> None:
    privileged = {"web": stored(Privileged=True, Binds=["/srv/ci/x:/x"])}
    options = HostAccessOptions(allowed_bind_paths=("/srv/ci",))
    assert codes(request("GET", "/v1.41/containers/web/export"), privileged, options) == set()
    put = request("PUT", "/v1.41/containers/web/archive?path=/", b"tar")
    assert codes(put, privileged, options) == {"target_privileged"}


def test_stored_defaults_are_not_reported() -> None:
    # cgroup v1 hosts store CgroupnsMode "host" for every container; exec or attach on
    # one is no more than the container already has.
    web = stored(CgroupnsMode="host", IpcMode="private", LogConfig={"Type": "syslog"})
    assert codes(request("POST", "/v1.41/containers/web/exec", EXEC), {"web": web}) == set()


def test_containers_referenced() -> None:
    assert containers_referenced(create({"VolumesFrom": ["a:ro", "b", "a"]}), DEFAULTS) == (
        "a",
        "b",
    )
    legacy = request("POST", "/v1.41/containers/create", {"VolumesFrom": ["c"]})
    assert containers_referenced(legacy, DEFAULTS) == ("c",)
    for method, target in [
        ("GET", "/v1.41/containers/web/archive"),
        ("HEAD", "/v1.41/containers/web/archive"),
        ("PUT", "/v1.41/containers/web/archive"),
        ("GET", "/v1.41/containers/web/export"),
        ("POST", "/v1.41/containers/web/attach"),
        ("GET", "/v1.41/containers/web/attach/ws"),
        ("POST", "/v1.41/containers/web/start"),
    ]:
        assert containers_referenced(request(method, target), DEFAULTS) == ("web",), target
    assert containers_referenced(request("POST", "/v1.41/containers/a/b/exec", EXEC), DEFAULTS) == (
        "a/b",
    )
    assert containers_referenced(request("GET", "/v1.41/containers/web/logs"), DEFAULTS) == ()


# -- Other endpoints ------------------------------------------------------------------------


def test_volume_create_with_local_mount_options() -> None:
    bind = {
        "Name": "v",
        "Driver": "local",
        "DriverOpts": {"type": "none", "o": "bind", "device": "/"},
    }
    assert codes(request("POST", "/v1.41/volumes/create", bind)) == {"local_volume_options"}
    plain = {"Name": "v", "DriverOpts": {"device": "/dev/sda1", "type": "ext4"}}
    assert codes(request("POST", "/v1.41/volumes/create", plain)) == {"local_volume_options"}
    other = {"Name": "v", "Driver": "rexray", "DriverOpts": {"size": "1"}}
    assert codes(request("POST", "/v1.41/volumes/create", other)) == {"volume_driver"}
    sized = {"Name": "v", "Driver": "local", "DriverOpts": {"size": "1"}}
    assert codes(request("POST", "/v1.41/volumes/create", sized)) == set()


def test_update_reports_device_fields() -> None:
    body = {"Devices": [{"PathOnHost": "/dev/mem"}], "DeviceCgroupRules": ["a *:* rwm"]}
    req = request("POST", "/v1.41/containers/web/update", body)
    assert codes(req) == {"devices", "device_cgroup_rules"}


def test_service_specs() -> None:
    spec = {
        "ContainerSpec": {
            "Image": "bb",
            "Mounts": [{"Type": "bind", "Source": "/", "Target": "/h"}],
            "CapabilityAdd": ["CAP_SYS_ADMIN"],
            "Privileges": {"SELinuxContext": {"Disable": True}, "AppArmor": {"Mode": "disabled"}},
        },
        "LogDriver": {"Name": "gelf"},
    }
    assert codes(service(spec)) == {"bind_mount", "cap_add", "service_privileges", "log_driver"}
    plain = {"ContainerSpec": {"Image": "bb", "Privileges": {"NoNewPrivileges": True}}}
    assert codes(service(plain)) == set()
    update = request("POST", "/v1.41/services/s/update?version=3", {"TaskTemplate": spec})
    assert "bind_mount" in codes(update)


def test_plugin_bodies() -> None:
    assert codes(request("POST", "/v1.41/plugins/pull?remote=p", [])) == set()
    assert codes(request("POST", "/v1.41/plugins/p/upgrade?remote=p", [{"Name": "mount"}])) == {
        "plugin_privileges"
    }
    assert codes(request("POST", "/v1.41/plugins/p/set", [])) == set()


def test_build_query_parameters() -> None:
    assert codes(request("POST", "/v1.41/build?networkmode=container:abc")) == {
        "build_network_mode"
    }
    assert codes(request("POST", "/v1.41/build?networkmode=default&cgroupparent=")) == set()
    with pytest.raises(BodyDecodeError, match="repeated"):
        findings(request("POST", "/v1.41/build?networkmode=bridge&networkmode=host"), DEFAULTS, {})


# -- Named volumes that exist already --------------------------------------------------------


def test_named_volumes_of_binds_and_volume_mounts_are_looked_up_once_each() -> None:
    req = create(
        {
            "Binds": ["cache:/cache:ro", "/srv/x:/x", "anon", "cache:/again"],
            "Mounts": [{"Type": "volume", "Source": "data", "Target": "/d"},
                       {"Type": "volume", "Target": "/anonymous"},
                       {"Type": "bind", "Source": "/etc", "Target": "/e"}],
        }
    )  # fmt: skip
    assert volumes_referenced(req, DEFAULTS) == ("cache", "data")
    legacy = request("POST", "/v1.41/containers/create", {"Image": "bb", "Binds": ["old:/o"]})
    assert volumes_referenced(legacy, DEFAULTS) == ("old",)
    assert volumes_referenced(request("POST", "/v1.41/containers/web/start"), DEFAULTS) == ()


@pytest.mark.parametrize(
    "host_config",
    [
        {"Binds": ["innocent:/data"]},
        {"Mounts": [{"Type": "volume", "Source": "innocent", "Target": "/data"}]},
    ],
)
def test_an_existing_volume_with_bind_options_is_host_access(host_config: dict[str, Any]) -> None:
    req = create(host_config)
    found = findings(req, DEFAULTS, {}, volumes={"innocent": BIND_VOLUME_INSPECT})
    [finding] = found
    assert finding.code == "local_volume_options"
    assert "existing volume 'innocent'" in finding.message
    assert "device=/etc" in finding.message and "o=bind" in finding.message


def test_plain_and_new_volumes_are_not_host_access_and_plugin_ones_fail_closed() -> None:
    req = create({"Binds": ["a:/a", "b:/b", "c:/c"]})
    plugin = {**BIND_VOLUME_INSPECT, "Driver": "some-plugin"}  # made on the daemon directly
    volumes = {"a": PLAIN_VOLUME, "b": None, "c": plugin}
    assert [f.code for f in findings(req, DEFAULTS, {}, volumes=volumes)] == ["volume_driver"]
    allowed = HostAccessOptions(allowed_volume_drivers=("local", "some-plugin"))
    assert findings(req, allowed, {}, volumes=volumes) == []


def test_an_existing_container_with_a_bind_like_volume_has_a_host_mount() -> None:
    # WEB runs with -v gojson-diff-myvol:/data; here that volume binds /etc (type=none,o=bind).
    bind_like = {"gojson-diff-myvol": BIND_VOLUME_INSPECT}
    for method, target, body in [
        ("POST", "/v1.41/containers/web/exec", EXEC),
        ("GET", "/v1.41/containers/web/archive?path=/data", None),
        ("POST", "/v1.41/containers/web/attach?stream=1&stdin=1", None),
    ]:
        req = request(method, target, body)
        assert volumes_referenced(req, DEFAULTS, {"web": WEB}) == ("gojson-diff-myvol",)
        found = findings(req, DEFAULTS, {"web": WEB}, volumes=bind_like)
        assert [f.code for f in found] == ["target_bind_mount"], (target, found)
        assert (
            "volume 'gojson-diff-myvol'" in found[0].message and "device=/etc" in found[0].message
        )
    take = create({"VolumesFrom": ["web"]})
    assert codes(take, {"web": WEB}, volumes=bind_like) == {"volumes_from"}
    assert codes(take, {"web": WEB}, volumes={}) == {"volume_unknown"}  # not looked up
    assert "volume_unknown" in {
        f.code for f in findings(request("POST", "/v1.41/containers/web/exec", EXEC), DEFAULTS,
                                 {"web": WEB}, volumes={})
    }  # fmt: skip


def test_only_version_2_is_a_buildkit_build() -> None:
    for version, found in (("2", {"build_buildkit"}), ("1", set()), ("", set())):
        assert codes(request("POST", f"/v1.41/build?version={version}")) == found, version
    assert codes(request("POST", "/v1.41/build")) == set()


def test_an_exec_is_judged_by_what_the_daemon_says_it_is() -> None:
    start = request("POST", "/v1.41/exec/ba14/start", {"Detach": True})
    # GET /exec/{id}/json of dockerd 20.10 for an exec made with Privileged and User "0".
    made = {
        "ID": "ba14", "Running": False, "ExitCode": None, "Pid": 0, "ContainerID": "c1",
        "ProcessConfig": {"tty": False, "entrypoint": "true", "arguments": [],
                          "privileged": True, "user": "0"},
    }  # fmt: skip
    found = {f.code for f in findings(start, DEFAULTS, {"c1": stored()}, execs={"ba14": made})}
    assert found == {"exec_privileged", "exec_user"}
    plain = {**made, "ProcessConfig": {"privileged": False, "user": ""}}
    assert findings(start, DEFAULTS, {"c1": stored()}, execs={"ba14": plain}) == []
    in_privileged = findings(
        start, DEFAULTS, {"c1": stored(Privileged=True)}, execs={"ba14": plain}
    )
    assert {f.code for f in in_privileged} == {"target_privileged"}
    assert findings(start, DEFAULTS, execs={"ba14": None}) == []  # the daemon answers 404
    assert {f.code for f in findings(start, DEFAULTS)} == {"exec_unknown"}


@pytest.mark.parametrize(
    ("workdir", "reported"),
    [
        ("/proc/self/fd/7", True), ("/proc/thread-self/fd/8", True), ("/proc/1/fd/3", True),
        ("/proc/self/task/1/fd/5", True), ("/proc/./self/../self//fd/7/", True),
        ("/dev/fd/7", True), ("/dev/stdin", True), ("/proc", True),
        ("/work", False), ("/procfs/x", False), ("/dev/fdx", False), ("", False),
    ],
)  # fmt: skip
def test_a_working_dir_under_proc_or_dev_fd_is_reported(workdir: str, reported: bool) -> None:
    body = {"Image": "bb", "WorkingDir": workdir}
    assert ("working_dir" in codes(request("POST", CREATE_URL, body))) is reported
    exec_body = {"Cmd": ["sh"], "WorkingDir": workdir}
    exec_codes = codes(request("POST", "/v1.41/containers/web/exec", exec_body), {"web": None})
    assert ("working_dir" in exec_codes) is reported


def test_an_image_workdir_counts_when_the_create_names_none() -> None:
    plain_create = request("POST", CREATE_URL, {"Image": "evil"})
    evil = {"Config": {"WorkingDir": "/proc/self/fd/7"}}
    assert {f.code for f in findings(plain_create, DEFAULTS, images={"evil": evil})} == {
        "working_dir"
    }
    own = request("POST", CREATE_URL, {"Image": "evil", "WorkingDir": "/app"})
    assert findings(own, DEFAULTS, images={"evil": evil}) == []  # its own one wins
    assert findings(plain_create, DEFAULTS, images={"evil": None}) == []  # no such image
    stored_in = stored(Privileged=False)
    stored_in["Config"] = {"WorkingDir": "/proc/1/fd/9"}
    attach = request("POST", "/v1.41/containers/web/attach?stream=1")
    assert codes(attach, {"web": stored_in}) == {"target_host_access"}


@pytest.mark.parametrize(
    ("host_config", "reported"),
    [
        ({"Sysctls": {"net.ipv4.ip_forward": "1"}}, False),
        ({"Sysctls": {"kernel.shmmax": "1"}}, False),
        ({"Sysctls": {"fs.mqueue.msg_max": "1"}}, False),
        ({"Sysctls": {"kernel.domainname": "x"}}, False),
        ({"Sysctls": {"kernel.core_pattern": "|/x"}}, True),
        ({"Sysctls": {"kernel/core_pattern": "|/x"}}, True),
        ({"Sysctls": {"vm.overcommit_memory": "1"}}, True),
        ({"Sysctls": {"kernel.hostname": "x"}}, True),
        ({"Sysctls": {"net.ipv4.ip_forward": "1"}, "NetworkMode": "host"}, True),
        ({"Sysctls": {"kernel.shmmax": "1"}, "IpcMode": "host"}, True),
        ({"Sysctls": {"kernel.domainname": "x"}, "UTSMode": "host"}, True),
    ],
)
def test_sysctls_outside_the_containers_namespaces_are_reported(
    host_config: dict[str, Any], reported: bool
) -> None:
    assert ("sysctls" in codes(create(host_config))) is reported


def test_runtimes_and_oom_scores_follow_the_options() -> None:
    runtime = create({"Runtime": "kata"})
    assert "runtime" in codes(runtime)
    assert "runtime" not in codes(runtime, options=HostAccessOptions(allowed_runtimes=("kata",)))
    daemon_default = DaemonFacts("Engine", "20.10.24", "1.41", "1", (), default_runtime="kata")
    assert findings(runtime, DEFAULTS, daemon=daemon_default) == []
    assert codes(create({"Runtime": ""})) == set()
    assert "oom_score_adj" in codes(create({"OomScoreAdj": -1}))
    assert codes(create({"OomScoreAdj": 500})) == set()
    lenient = HostAccessOptions(min_oom_score_adj=-1000)
    assert codes(create({"OomScoreAdj": -1000}), options=lenient) == set()


def test_a_service_task_is_checked_for_its_working_dir_and_sysctls() -> None:
    assert codes(service({"ContainerSpec": {"Image": "bb", "Dir": "/proc/self/fd/7"}})) == {
        "working_dir"
    }
    core = {"ContainerSpec": {"Image": "bb", "Sysctls": {"kernel.core_pattern": "|/x"}}}
    assert codes(service(core)) == {"sysctls"}
    own_net = {"ContainerSpec": {"Sysctls": {"net.core.somaxconn": "1"}}}
    assert codes(service(own_net)) == set()


PLUGIN_VOLUME = {"Name": "data", "Driver": "local-persist", "Options": {"mountpoint": "/etc"}}


@pytest.mark.parametrize(
    "req",
    [
        create({"Mounts": [{"Type": "image", "Source": "other", "Target": "/i"}]}),
        create({"Mounts": [{"Type": "cluster", "Source": "csi", "Target": "/c"}]}),
        create({"Mounts": [{"Type": "Bind", "Source": "/srv", "Target": "/s"}]}),
        create({"Mounts": [{"Source": "v", "Target": "/v"}]}),  # no type
        service({"ContainerSpec": {"Mounts": [{"Type": "cluster", "Target": "/c"}]}}),
    ],
    ids=["image", "cluster", "capitalised", "empty", "service"],
)
def test_a_mount_type_sockspy_does_not_judge_fails_closed(req: Request) -> None:
    assert "mount_type" in codes(req)


@pytest.mark.parametrize(
    "req",
    [
        create({"VolumeDriver": "local-persist", "Binds": ["data:/data"]}),
        create({"Mounts": [{"Type": "volume", "Source": "d", "Target": "/d",
                            "VolumeOptions": {"DriverConfig": {"Name": "local-persist"}}}]}),
        create({"Mounts": [{"Type": "volume", "Target": "/d",  # anonymous
                            "VolumeOptions": {"DriverConfig": {"Name": "LOCAL"}}}]}),
        request("POST", "/v1.41/volumes/create", {"Name": "d", "Driver": "local-persist"}),
        request("POST", "/v1.41/containers/create",  # the legacy top-level HostConfig
                {"Image": "bb", "VolumeDriver": "local-persist"}),
        service({"ContainerSpec": {"Mounts": [{"Type": "volume", "Source": "d", "Target": "/d",
                "VolumeOptions": {"DriverConfig": {"Name": "nfs-plugin"}}}]}}),
    ],
    ids=["volume-driver", "mount-driver", "case", "volume-create", "legacy", "service"],
)  # fmt: skip
def test_a_volume_driver_other_than_local_fails_closed(req: Request) -> None:
    assert "volume_driver" in codes(req)


def test_an_existing_plugin_volume_mounted_by_name_or_held_by_a_target_is_reported() -> None:
    by_name = create({"Binds": ["data:/data"]})
    assert codes(by_name, volumes={"data": PLUGIN_VOLUME}) == {"volume_driver"}
    mount = {"Type": "volume", "Name": "data", "Driver": "local-persist", "Destination": "/d"}
    held = {"HostConfig": {}, "Mounts": [mount]}
    exec_in = request("POST", "/v1.41/containers/web/exec", EXEC)
    assert codes(exec_in, {"web": held}) == {"target_host_access"}
    local = {"HostConfig": {}, "Mounts": [{"Type": "volume", "Name": "data", "Driver": "local"}]}
    assert codes(exec_in, {"web": local}, volumes={"data": {"Driver": "local"}}) == set()


def test_known_mounts_drivers_and_annotations_need_no_allowance() -> None:
    known = [
        {"Type": "bind", "Source": "/srv/ci", "Target": "/ci"},
        {"Type": "volume", "Source": "v", "Target": "/v",
         "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"size": "1G"}}}},
        {"Type": "tmpfs", "Target": "/t"},
    ]  # fmt: skip
    options = HostAccessOptions(allowed_bind_paths=("/srv/ci",))
    assert codes(create({"Mounts": known, "VolumeDriver": "local"}), options=options) == set()
    assert codes(create({"Annotations": {}})) == set()


def test_the_allow_lists_lift_each_fail_closed_finding() -> None:
    options = HostAccessOptions(
        allowed_mount_types=("bind", "volume", "tmpfs", "image"),
        allowed_volume_drivers=("local", "local-persist"),
        allowed_annotations=("io.example.team",),
    )
    image = create({"Mounts": [{"Type": "image", "Source": "bb", "Target": "/i"}]})
    assert codes(image, options=options) == set()
    assert codes(create({"VolumeDriver": "local-persist"}), options=options) == set()
    team = create({"annotations": {"io.example.team": "a"}})  # Go folds the key's case
    assert codes(team, options=options) == set()
    assert codes(team) == {"annotations"}
    systemd = create({"Annotations": {"io.example.team": "a", "org.systemd.property.X": "y"}})
    assert codes(systemd, options=options) == {"annotations"}


@pytest.mark.parametrize(
    ("target", "reported"),
    [
        ("/v1.41/build?remote=https://github.com/a/b.git", True),
        ("/v1.41/build?remote=git@127.0.0.1:repo", True),
        ("/v1.41/build?remote=http://localhost:8080/Dockerfile&t=x", True),
        ("/v1.41/build?remote=client-session&version=2", False),  # build_buildkit's
        ("/v1.41/build?t=x", False),
        ("/v1.41/images/create?fromSrc=-&repo=x", False),  # the request's own body
        ("/v1.41/images/create?fromImage=busybox&tag=1", False),  # a registry pull
    ],
)
def test_what_dockerd_fetches_itself_on_the_hosts_network_is_host_access(
    target: str, reported: bool
) -> None:
    found = codes(request("POST", target))
    assert bool(found & {"build_remote", "import_url"}) is reported, found


def test_a_network_on_a_host_interface_is_host_access() -> None:
    def network(body: dict[str, Any]) -> set[str]:
        return codes(request("POST", "/v1.41/networks/create", {"Name": "n", **body}))

    assert network({}) == set() and network({"Driver": "bridge"}) == set()
    assert network({"Driver": "macvlan", "Options": {"parent": "eth0"}}) == {
        "network_driver", "network_host_interface",
    }  # fmt: skip
    assert network({"Driver": "weave"}) == {"network_driver"}  # a plugin's
    assert network({"Options": {"com.docker.network.bridge.name": "docker0"}}) == {
        "network_host_interface"
    }
    assert network({"ConfigFrom": {"Network": "cfg"}}) == {"network_host_interface"}
    assert network({"Options": {"com.docker.network.bridge.enable_icc": "false"}}) == set()
    allowed = HostAccessOptions(allowed_network_drivers=("bridge", "macvlan"))
    macvlan = request("POST", "/v1.41/networks/create", {"Name": "n", "Driver": "macvlan"})
    assert codes(macvlan, options=allowed) == set()
