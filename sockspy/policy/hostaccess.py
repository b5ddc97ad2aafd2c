"""Every way a request reaches the host: the findings a "no host access" policy reads.

Theory of operation
-------------------
A request body is decoded exactly as dockerd decodes it, once per request
(`Request.decoded_body`); anything Go would read otherwise raises `BodyDecodeError` and
the caller refuses the request. The decoded structs are then read by small predicates, one
per kind of host access, each named in `FINDING_CODES`. A predicate yields messages;
`findings` turns them into `Finding`s.

`findings` is a decision procedure (`sockspy.core.deciding.lookups`): where a check
depends on the daemon's state it yields the look-up (a container, a volume, the daemon's
defaults) and reads the answer, so the I/O layer and `explain` answer the same questions
in the same order.

The HostConfig predicates (`hostconfig.HOST_CONFIG_CHECKS`) read these HostConfigs alike:

* a request's: the "HostConfig" of a create body *and* its legacy top-level fields
  (dockerd 20.10 honours those when "HostConfig" is absent or null: both are checked),
  the HostConfig of a start body below API 1.24, the UpdateConfig of an update;
* a container's, from ``GET /containers/{id}/json`` ("stored": the daemon's own record,
  with its defaults filled in), for requests that act on an existing container: exec,
  attach, start and archive upload run code or write files in it; archive download and
  export read its files, so only its host mounts matter there.

Values are compared the way dockerd compares them, or more broadly where being broader
only refuses more (a mode "HOST" is reported though dockerd only honours "host").

Two checks compare a request with what *this* daemon would fill in by itself: the
MaskedPaths it adds by default (a list that grew over the releases) and CgroupnsMode
"host" (its own default on cgroup v1). They read `DaemonFacts` (the daemon's ``GET
/version`` and ``GET /info``, asked for only by a create that lists MaskedPaths or asks
for CgroupnsMode "host") and take their strict form whenever those are unknown.

Existing named volumes are looked up too: one created with bind
options outside sockspy is a host mount under a harmless-looking name, whether a create
mounts it or an existing container (exec, cp, VolumesFrom) already has it.

Out of reach here, by design: volumes on other swarm nodes; symlinks under an allowed
bind path (resolved on the host); a user name the image maps to uid 0; a service network
given by the ID of the host network; and bodies no rule can read (plugin.create's tar,
/session and /grpc): deny those by policy. URLs the daemon fetches (build ``remote``,
image import ``fromSrc``, a classic build's ``ADD <url>``) are findings of their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sockspy.core.deciding.decision import Finding
from sockspy.core.deciding.lookups import (
    NOT_LOOKED_UP,
    InspectContainer,
    InspectExec,
    InspectImage,
    InspectVolume,
    Procedure,
    ReadDaemonFacts,
)
from sockspy.core.docker import buildplan, schemas
from sockspy.core.docker.bindpaths import go_clean, is_allowed
from sockspy.core.docker.bodies import BODY_ENDPOINTS
from sockspy.core.docker.daemon import DaemonFacts
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request
from sockspy.policy.hostconfig import (
    HOST_CONFIG_CODES,
    Where,
    bind_mount_sources,
    capability_messages,
    host_config_findings,
    local_volume_options,
    mount_findings,
    named_volumes,
    normalize_capability,
    reads_daemon_facts,
    sysctl_findings,
    volume_driver_allowed,
)


@dataclass(frozen=True, slots=True)
class HostAccessOptions:
    # Host paths (and below) that binds may use; cleaned like Go's filepath.Clean.
    allowed_bind_paths: tuple[str, ...] = ()
    allowed_log_drivers: tuple[str, ...] = ("", "json-file", "local", "journald", "none")
    allowed_capabilities: tuple[str, ...] = ()  # normalized names, e.g. "NET_ADMIN"
    allowed_devices: tuple[str, ...] = ()  # host device paths
    allowed_runtimes: tuple[str, ...] = ()  # besides the daemon's default runtime
    # What sockspy judges; anything else fails closed unless listed.
    allowed_mount_types: tuple[str, ...] = ("bind", "volume", "tmpfs")
    allowed_volume_drivers: tuple[str, ...] = ("local",)  # "" is the local driver too
    allowed_annotations: tuple[str, ...] = ()  # HostConfig.Annotations keys
    allowed_network_drivers: tuple[str, ...] = ("bridge",)  # "" is the bridge driver too
    min_oom_score_adj: int = 0  # OomScoreAdj below it is a finding (-1000: allow all)


_OTHER_CODES = {
    "volumes_from": "VolumesFrom a container that has host mounts",
    "container_unknown": "a container the checks need was not inspected (fail closed)",
    "volume_unknown": "a named volume the checks need was not looked up (fail closed)",
    "target_privileged": "exec, attach, start or archive upload: a privileged container",
    "target_bind_mount": "exec, attach, start, archive or export: a container with host mounts",
    "target_host_access": "exec, attach, start or archive upload: a container with host access",
    "exec_privileged": "an exec created, or started, with Privileged: true",
    "exec_user": "an exec created, or started, as User root or uid 0",
    "exec_unknown": "an exec the checks need was not looked up (fail closed)",
    "working_dir": "a WorkingDir (a create's, its image's, an exec's, a service task's or an "
    "existing container's) under /proc or /dev/fd: runc's leaked-fd escape (CVE-2024-21626)",
    "image_unknown": "an image the checks need was not looked up (fail closed)",
    "build_network_mode": "a build with networkmode host or container:<id>",
    "build_cgroup_parent": "a build with a cgroupparent",
    "build_buildkit": "a BuildKit build (version=2): entitlements in its Dockerfile are unseen",
    "build_remote": "a build whose context dockerd fetches (remote= a URL or a git "
    "repository) from the host's network, loopback services included",
    "build_add_url": "a classic build whose Dockerfile (or a base image's ONBUILD trigger) "
    "ADDs a URL, which dockerd downloads from the host's network, loopback services included",
    "network_driver": "a network create with a driver not in allowed_network_drivers "
    "(macvlan, ipvlan: containers straight on a host interface; a plugin's driver)",
    "network_host_interface": "a network create that names a host interface or takes "
    "another network's options: a bridge's com.docker.network.bridge.name (an existing "
    "host bridge is adopted), a parent, ConfigFrom",
    "import_url": "an image import whose content dockerd fetches (fromSrc= a URL) from the "
    "host's network, loopback services included",
    "service_privileges": "a service's Privileges loosen confinement (SELinux, seccomp, AppArmor)",
    "service_host_network": "a service attached to the host network",
    "service_plugin": "a service that installs a plugin (plugin runtime) on its nodes",
    "plugin_privileges": "a plugin pull or upgrade that grants the plugin a privilege",
    "plugin_set": "plugin settings (mount sources, device paths, env, args)",
    "swarm_init": "swarm init: a manager runs services that bypass sockspy",
    "swarm_join": "swarm join: the swarm's managers get this node",
}
FINDING_CODES: Mapping[str, str] = MappingProxyType({**HOST_CONFIG_CODES, **_OTHER_CODES})

_START = "container.start"
# Requests that run code or write files in an existing container: all of its host access.
# A container is judged by what it is (its inspect answer), whoever created it and however.
_RUNS_IN_TARGET = frozenset(
    {
        "exec.create", "container.attach", "container.attach_ws", _START, "container.restart",
        "container.archive_put",
    }
)  # fmt: skip
# Requests that read an existing container's files: its host mounts only. (export leaves
# out mounted volumes; it is checked like the others all the same.)
_READS_TARGET = frozenset({"container.archive_get", "container.archive_head", "container.export"})


def body_endpoints() -> frozenset[str]:
    """Endpoints whose JSON body the checks read (`sockspy.core.docker.bodies`)."""
    return BODY_ENDPOINTS


def findings(request: Request, options: HostAccessOptions) -> Procedure[list[Finding]]:
    """Every way this request reaches the host, in a stable order: a procedure that
    yields the look-ups it needs. Raises BodyDecodeError for a body that cannot be
    decoded exactly as dockerd would (before it asks anything).

    The container a request acts on (route parameter ``name``) is inspected, and so are
    the VolumesFrom sources of a create (or old start) body and the named volumes it
    mounts; an inspected container's local volumes are looked up too. An answer of None
    (no such container: the daemon refuses the request itself; no such volume: dockerd
    creates it plain) finds nothing; `NOT_LOOKED_UP` is a finding of its own
    ("container_unknown", "volume_unknown"), so a decision without it fails closed.
    """
    if _reads_body(request):
        request.decoded_body()  # an undecodable body is refused before anything is asked
    found: list[Finding] = []
    target = _target(request)
    if target is not None:
        found += yield from _target_findings(request.endpoint, target, options)
    if request.endpoint in _CONTAINER_CONFIG:
        found += yield from _container_config(request, options)
    elif request.endpoint == "exec.start":
        found += yield from _exec_start(request, options)
    elif request.endpoint == "image.build":
        found += yield from _build(request, options)
    else:
        check = _ENDPOINT_CHECKS.get(request.endpoint)
        if check is not None:
            found += check(request, options)
    return found


def _reads_body(request: Request) -> bool:
    """Whether the checks decode this request's body: a start's only when it has one; a
    build's context when it was held, for the classic builder (BuildKit and a remote
    context are findings of their own)."""
    if request.endpoint == "image.build":
        classic = query_value(request, "version") != "2" and not query_value(request, "remote")
        return request.body is not None and classic
    return request.endpoint in BODY_ENDPOINTS and bool(request.body or request.endpoint != _START)


# -- Per endpoint --------------------------------------------------------------------------

EndpointCheck = Callable[[Request, HostAccessOptions], list[Finding]]
_CONTAINER_CONFIG = frozenset({"container.create", _START})


def _container_config(request: Request, options: HostAccessOptions) -> Procedure[list[Finding]]:
    """A create (or old start) body: its HostConfigs, the containers it takes volumes
    from, the named volumes it mounts, and where it needs them, the daemon's defaults."""
    if request.endpoint == _START and not request.body:
        return []  # the usual start: no body
    body = request.decoded_body()
    host_configs = schemas.host_configs(body)
    daemon: DaemonFacts | None = None
    runtimes = frozenset(options.allowed_runtimes)
    if any(reads_daemon_facts(hc, runtimes) for _, hc in host_configs):
        daemon = yield ReadDaemonFacts()
    found = []
    if request.endpoint != _START:  # a start body carries a HostConfig only
        found += yield from _create_working_dir(body)
    for prefix, host_config in host_configs:
        where = _where(prefix, options, daemon=daemon)
        found += _collect(host_config_findings(host_config, where))
        for name in volumes_from(host_config):
            found += yield from _volumes_from_findings(prefix, name, options)
        for field, name in named_volumes(host_config):
            volume = yield InspectVolume(name)
            found += _named_volume_findings(f"{prefix}{field}", name, volume, options)
    return found


def _create_working_dir(body: Mapping[str, Any]) -> Procedure[list[Finding]]:
    """The WorkingDir the container's process starts in: the create's, else its image's
    (a WORKDIR in a Dockerfile is the usual way in), looked up on the daemon."""
    workdir = str(body.get("WorkingDir") or "")
    if workdir:
        return _working_dir_findings("WorkingDir", workdir)
    image = str(body.get("Image") or "")
    if not image:
        return []
    inspect = yield InspectImage(image)
    if inspect is NOT_LOOKED_UP:
        return [Finding("image_unknown", f"image {image!r} was not looked up")]
    if not isinstance(inspect, Mapping):
        return []  # no such image: the daemon refuses the create
    stored = str((inspect.get("Config") or {}).get("WorkingDir") or "")
    return _working_dir_findings(f"image {image!r} WorkingDir", stored)


# CVE-2024-21626: runc (< 1.1.12) leaked a host directory's file descriptor into the
# container's process, so a working directory of /proc/self/fd/<n> (/proc/<pid>/fd/<n>,
# /proc/thread-self/fd/<n>, /proc/self/task/<tid>/fd/<n>...) started it outside the
# container. /dev/fd and /dev/std* are links into /proc/self/fd. No container needs a
# working directory under /proc, so all of it is reported, after Go's path cleaning (as
# dockerd cleans it), whatever runc the daemon runs. A link to /proc planted elsewhere in
# an image is out of reach: sockspy does not read images' files.
_PROC_LINKS = ("/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr")


def _working_dir_findings(label: str, workdir: str) -> list[Finding]:
    cleaned = go_clean(workdir)
    under = [prefix for prefix in ("/proc", *_PROC_LINKS) if is_allowed(cleaned, (prefix,))]
    if not under:
        return []
    return [Finding("working_dir", f"{label} is {workdir!r}, under {under[0]}")]


def _named_volume_findings(
    label: str, name: str, volume: Any, options: HostAccessOptions
) -> list[Finding]:
    if volume is NOT_LOOKED_UP:
        return [Finding("volume_unknown", f"{label}: volume {name!r} was not looked up")]
    found = _volume_host_access(volume, options)  # none: no such volume yet, made plain
    return [Finding(code, f"{label} mounts existing volume {name!r}: {m}") for code, m in found]


def _container_update(request: Request, options: HostAccessOptions) -> list[Finding]:
    # UpdateConfig{Resources; RestartPolicy}: the Resources predicates apply. (dockerd
    # 20.10 ignores Devices, DeviceCgroupRules and CgroupParent on update; reported anyway.)
    return _collect(host_config_findings(request.decoded_body(), _where("", options)))


def _exec_create(request: Request, options: HostAccessOptions) -> list[Finding]:
    body = request.decoded_body()
    found = []
    if body.get("Privileged"):
        found.append(Finding("exec_privileged", "exec Privileged is true"))
    user = body.get("User", "")
    if _is_root(user):
        found.append(Finding("exec_user", f"exec User {user!r} is root"))
    found += _working_dir_findings("exec WorkingDir", str(body.get("WorkingDir") or ""))
    return found


def _exec_start(request: Request, options: HostAccessOptions) -> Procedure[list[Finding]]:
    """An exec is judged by what it is, not by how it was made: one created on the daemon
    directly (by an admin, another tool, or before a policy reload) is looked up, with the
    container it runs in."""
    exec_id = dict(request.params).get("name", "")
    inspect = yield InspectExec(exec_id)
    if inspect is NOT_LOOKED_UP:
        return [Finding("exec_unknown", f"exec {exec_id!r} was not looked up")]
    if not isinstance(inspect, Mapping):
        return []  # no such exec: the daemon answers 404
    process = inspect.get("ProcessConfig") or {}
    found = []
    if process.get("privileged") is True:
        found.append(Finding("exec_privileged", f"exec {exec_id[:12]!r} is privileged"))
    user = str(process.get("user") or "")
    if _is_root(user):
        found.append(Finding("exec_user", f"exec {exec_id[:12]!r} runs as user {user!r}"))
    container = str(inspect.get("ContainerID") or "")
    if container:
        found += yield from _target_findings("exec.start", container, options)
    return found


_UID = re.compile(r"[+-]?[0-9]+")  # strconv.Atoi, as moby/sys/user reads a numeric user


def _is_root(user: str) -> bool:
    """User "root" or uid 0 ("0", "00", "+0", with or without ":group").

    An empty User runs as the container's configured user, which is often root too: that
    is the container's own setting, not something the exec asks for, so it is not reported.
    Neither is a user name that the image maps to uid 0 (sockspy cannot read the image).
    """
    name = user.split(":", 1)[0]
    return name == "root" or (_UID.fullmatch(name) is not None and int(name) == 0)


# Driver options that name a host interface the network is built on (checked on 20.10: a
# bridge network adopts an existing host bridge by name; macvlan and ipvlan sit on their
# parent). ConfigFrom takes such options from a config-only network.
_INTERFACE_OPTIONS = ("com.docker.network.bridge.name", "parent")


def _network_create(request: Request, options: HostAccessOptions) -> list[Finding]:
    body = request.decoded_body()
    label = f"network {body.get('Name', '')!r}"
    found = []
    driver = body.get("Driver") or ""
    if (driver or "bridge") not in options.allowed_network_drivers:
        found.append(Finding("network_driver", f"{label}: driver {driver!r}"))
    for key in _INTERFACE_OPTIONS:
        value = (body.get("Options") or {}).get(key)
        if value:
            found.append(Finding("network_host_interface", f"{label}: option {key}={value!r}"))
    source = (body.get("ConfigFrom") or {}).get("Network")
    if source:
        found.append(Finding("network_host_interface", f"{label}: ConfigFrom {source!r}"))
    return found


def _volume_create(request: Request, options: HostAccessOptions) -> list[Finding]:
    body = request.decoded_body()
    label = f"volume {body.get('Name', '')!r}"
    found = _volume_host_access(body, options, options_key="DriverOpts")
    return [Finding(code, f"{label}: {message}") for code, message in found]


def _service(request: Request, options: HostAccessOptions) -> list[Finding]:
    spec = request.decoded_body()
    task = spec.get("TaskTemplate", {})
    container = task.get("ContainerSpec") or {}
    where = _where("TaskTemplate.ContainerSpec.", options)
    found = _collect(mount_findings(container.get("Mounts"), where))
    caps = capability_messages(container.get("CapabilityAdd") or [], "CapabilityAdd", where)
    found += [Finding("cap_add", message) for message in caps]
    found += [Finding("service_privileges", m) for m in _service_privileges(container)]
    found += _working_dir_findings(f"{where.prefix}Dir", str(container.get("Dir") or ""))
    found += _collect(sysctl_findings(container.get("Sysctls"), where))
    networks = [*(task.get("Networks") or []), *(spec.get("Networks") or [])]
    for network in networks:
        if (network or {}).get("Target", "").lower() == "host":
            found.append(Finding("service_host_network", "the service joins the host network"))
    log_driver = (task.get("LogDriver") or {}).get("Name", "")
    if log_driver not in options.allowed_log_drivers:
        found.append(Finding("log_driver", f"TaskTemplate.LogDriver.Name is {log_driver!r}"))
    if task.get("PluginSpec") is not None or task.get("Runtime", "").lower() == "plugin":
        found.append(Finding("service_plugin", "the service installs a plugin on its nodes"))
    return found


def _service_privileges(container: Mapping[str, Any]) -> Iterator[str]:
    privileges = container.get("Privileges") or {}
    selinux = privileges.get("SELinuxContext") or {}
    if selinux.get("Disable"):
        yield "Privileges.SELinuxContext.Disable is true"
    for name in ("User", "Role", "Type"):
        if selinux.get(name):
            yield f"Privileges.SELinuxContext.{name} is {selinux[name]!r}"
    seccomp = (privileges.get("Seccomp") or {}).get("Mode", "")
    if seccomp not in ("", "default"):
        yield f"Privileges.Seccomp.Mode is {seccomp!r}"
    apparmor = (privileges.get("AppArmor") or {}).get("Mode", "")
    if apparmor not in ("", "default"):
        yield f"Privileges.AppArmor.Mode is {apparmor!r}"


def _plugin_privileges(request: Request, _: HostAccessOptions) -> list[Finding]:
    # Each privilege the client accepts is one the plugin's config asks for (plugin
    # backend computePrivileges: network, host pid/ipc namespace, mount, device,
    # allow-all-devices, capabilities): every one of them reaches the host.
    return [
        Finding(
            "plugin_privileges",
            f"plugin privilege {p.get('Name', '')!r}: {', '.join(p.get('Value') or [])}",
        )
        for p in request.decoded_body()
    ]


def _plugin_set(request: Request, _: HostAccessOptions) -> list[Finding]:
    args: list[str] = request.decoded_body()
    if not args:
        return []
    return [Finding("plugin_set", f"plugin settings: {', '.join(args)}")]


def _swarm(request: Request, _: HostAccessOptions) -> list[Finding]:
    """Swarm init and join reach the host whatever the body says.

    After init the daemon is a manager: its join tokens (``GET /swarm``) let any machine
    that reaches the manager port join as a manager and schedule services here, with
    binds and capabilities, never passing through sockspy. A join hands this node to
    the remote managers outright. The body is decoded only to refuse what Go would not
    read the same way; no field of it makes either more or less dangerous.
    """
    request.decoded_body()
    if request.endpoint == "swarm.join":
        return [Finding("swarm_join", "joining a swarm gives its managers this node")]
    return [Finding("swarm_init", "a swarm manager runs services that bypass sockspy")]


def _build(request: Request, _: HostAccessOptions) -> Procedure[list[Finding]]:
    found = _build_query(request)
    if not _reads_body(request):
        return found
    # The Dockerfile's ADD of a URL, and its base images' ONBUILD ADDs (dockerd downloads
    # each itself, on the host's network: checked on 20.10 against 127.0.0.1).
    plan = request.decoded_body()
    fetches = list(buildplan.fetches_of(plan))
    for read in buildplan.images_of(plan):
        if not read.base:
            continue
        image = yield InspectImage(read.name)
        if image is NOT_LOOKED_UP:
            found.append(Finding("image_unknown", f"base image {read.name!r} was not looked up"))
            continue
        triggers = ((image or {}).get("Config") or {}).get("OnBuild") or []
        try:
            fetches += buildplan.trigger_reads(
                triggers, read.stages_before or (), read.line
            ).fetches
        except buildplan.BuildPlanError as exc:
            raise BodyDecodeError(f"build: base image {read.name!r}: {exc}") from None
    for fetch in fetches:
        found.append(
            Finding("build_add_url", f"Dockerfile line {fetch.line}: {fetch.how} {fetch.source!r}")
        )
    return found


def _build_query(request: Request) -> list[Finding]:
    found = []
    network = query_value(request, "networkmode").lower()
    if network == "host" or network.startswith("container:"):
        found.append(Finding("build_network_mode", f"build networkmode is {network!r}"))
    parent = query_value(request, "cgroupparent")
    if parent:
        found.append(Finding("build_cgroup_parent", f"build cgroupparent is {parent!r}"))
    # api/server/router/build: remote= is a context URL, a git repository or a Dockerfile
    # URL, which dockerd fetches itself, on the host's network whatever networkmode says
    # (a service bound to the host's 127.0.0.1 answered it: checked on 20.10).
    # "client-session" is BuildKit's (version=2, a finding of its own).
    remote = query_value(request, "remote")
    if remote and remote != "client-session":
        found.append(Finding("build_remote", f"build remote is {remote!r}: dockerd fetches it"))
    # api/server/router/build: version "2" is BuildKit (anything else but "1" or "" is an
    # error). It builds from the body's context without a session (checked on 20.10), and
    # its Dockerfile can ask for entitlements (RUN --network=host) that no query shows.
    if query_value(request, "version") == "2":
        found.append(
            Finding(
                "build_buildkit",
                "build version 2 is BuildKit, whose Dockerfile can use the host's network "
                "(RUN --network=host) unseen; build with the classic builder, DOCKER_BUILDKIT=0",
            )
        )
    return found


def _image_import(request: Request, _: HostAccessOptions) -> list[Finding]:
    # images/create?fromSrc=URL: dockerd downloads the tar itself (host network, checked on
    # 20.10 against a service on 127.0.0.1); "-" is the request's own body.
    source = query_value(request, "fromSrc")
    if source and source != "-":
        return [Finding("import_url", f"image import fromSrc is {source!r}: dockerd fetches it")]
    return []


_ENDPOINT_CHECKS: Mapping[str, EndpointCheck] = MappingProxyType(
    {
        "image.create": _image_import,
        "container.update": _container_update,
        "exec.create": _exec_create,
        "volume.create": _volume_create,
        "network.create": _network_create,
        "service.create": _service,
        "service.update": _service,
        "plugin.pull": _plugin_privileges,
        "plugin.upgrade": _plugin_privileges,
        "plugin.set": _plugin_set,
        "swarm.init": _swarm,
        "swarm.join": _swarm,
    }
)


# -- Existing containers -------------------------------------------------------------------

# A stored HostConfig finding, as the code reported for a request on that container.
_TARGET_CODES = {"privileged": "target_privileged", "bind_mount": "target_bind_mount"}


def _target_findings(
    endpoint: str, name: str, options: HostAccessOptions
) -> Procedure[list[Finding]]:
    inspect = yield InspectContainer(name)
    if inspect is NOT_LOOKED_UP:
        return [Finding("container_unknown", f"container {name!r} was not inspected")]
    if inspect is None:
        return []  # no such container: the daemon answers 404
    found = yield from _stored_findings(inspect, f"container {name!r}: ", options)
    if endpoint in _READS_TARGET:
        found = [f for f in found if f.code in ("bind_mount", "volume_unknown")]
    return [_as_target(f) for f in found]


def _as_target(finding: Finding) -> Finding:
    """A stored finding, as reported for a request on that container."""
    if finding.code == "volume_unknown":
        return finding  # not a fact about the container: fail closed under its own code
    return Finding(_TARGET_CODES.get(finding.code, "target_host_access"), finding.message)


def _volumes_from_findings(
    prefix: str, name: str, options: HostAccessOptions
) -> Procedure[list[Finding]]:
    inspect = yield InspectContainer(name)
    if inspect is NOT_LOOKED_UP:
        return [Finding("container_unknown", f"container {name!r} was not inspected")]
    if inspect is None:
        return []
    label = f"{prefix}VolumesFrom {name!r}: "
    stored = yield from _stored_findings(inspect, label, options)
    mounts = [Finding("volumes_from", f.message) for f in stored if f.code in _MOUNT_CODES]
    return mounts + [f for f in stored if f.code == "volume_unknown"]  # fail closed


_MOUNT_CODES = frozenset({"bind_mount", "local_volume_options"})


def _stored_findings(
    inspect: Mapping[str, Any],
    label: str,
    options: HostAccessOptions,
) -> Procedure[list[Finding]]:
    """The host access of an existing container, from its inspect answer (and the options
    of its local volumes, looked up: a volume made with bind options is a bind mount)."""
    host_config = inspect.get("HostConfig") or {}
    where = _where(f"{label}HostConfig.", options, stored=True)
    found = _collect(host_config_findings(host_config, where))
    workdir = str((inspect.get("Config") or {}).get("WorkingDir") or "")
    found += _working_dir_findings(f"{label}Config.WorkingDir", workdir)
    # Top-level "Mounts" holds every mount in effect, binds inherited by VolumesFrom too;
    # those its own HostConfig already names are not repeated.
    named = {go_clean(source) for _, source in bind_mount_sources(host_config)}
    for i, mount in enumerate(inspect.get("Mounts") or []):
        source = go_clean(str(mount.get("Source", "")))
        if mount.get("Type") != "bind" or source in named:
            continue
        if not is_allowed(source, options.allowed_bind_paths):
            found.append(Finding("bind_mount", f"{label}Mounts[{i}] mounts host path {source!r}"))
    drivers = frozenset(options.allowed_volume_drivers)
    for i, name, driver in _stored_volumes(inspect):
        if not volume_driver_allowed(driver, drivers):
            text = f"{label}Mounts[{i}] mounts volume {name!r} of driver {driver!r}"
            found.append(Finding("volume_driver", text))
            continue
        volume = yield InspectVolume(name)
        if volume is NOT_LOOKED_UP:
            found.append(Finding("volume_unknown", f"{label}volume {name!r} was not looked up"))
            continue
        for _, message in _volume_host_access(volume, options):
            text = f"{label}Mounts[{i}] mounts volume {name!r}: {message}"
            found.append(Finding("bind_mount", text))
    return found


def _volume_host_access(
    volume: Mapping[str, Any] | None, options: HostAccessOptions, options_key: str = "Options"
) -> list[tuple[str, str]]:
    """(code, message) for how a volume reaches the host: an existing one's
    `GET /volumes/{name}` answer (None: no such volume), or a create body's."""
    if volume is None:
        return []
    driver = str(volume.get("Driver", ""))
    if not volume_driver_allowed(driver, frozenset(options.allowed_volume_drivers)):
        return [("volume_driver", f"volume driver {driver!r}")]
    message = local_volume_options(driver, volume.get(options_key))
    return [] if message is None else [("local_volume_options", message)]


def _stored_volumes(inspect: Mapping[str, Any]) -> Iterator[tuple[int, str, str]]:
    """(index in Mounts, name, driver) of an existing container's volumes."""
    for i, mount in enumerate(inspect.get("Mounts") or []):
        mount = mount or {}
        if mount.get("Type") == "volume" and mount.get("Name"):
            yield i, str(mount["Name"]), str(mount.get("Driver", ""))


# -- Helpers -------------------------------------------------------------------------------


def _where(
    prefix: str,
    options: HostAccessOptions,
    stored: bool = False,
    daemon: DaemonFacts | None = None,
) -> Where:
    return Where(
        prefix=prefix,
        allowed_bind_paths=options.allowed_bind_paths,
        allowed_log_drivers=options.allowed_log_drivers,
        allowed_capabilities=frozenset(
            normalize_capability(cap) for cap in options.allowed_capabilities
        ),
        allowed_devices=frozenset(go_clean(path) for path in options.allowed_devices),
        allowed_runtimes=frozenset(options.allowed_runtimes),
        allowed_mount_types=frozenset(options.allowed_mount_types),
        allowed_volume_drivers=frozenset(options.allowed_volume_drivers),
        allowed_annotations=frozenset(options.allowed_annotations),
        min_oom_score_adj=options.min_oom_score_adj,
        stored=stored,
        daemon=daemon,
    )


def _collect(pairs: Iterator[tuple[str, str]]) -> list[Finding]:
    return [Finding(code, message) for code, message in pairs]


def _target(request: Request) -> str | None:
    if request.endpoint not in _RUNS_IN_TARGET and request.endpoint not in _READS_TARGET:
        return None
    return dict(request.params).get("name")


def volumes_from(host_config: Mapping[str, Any]) -> list[str]:
    # volume/mounts.ParseVolumesFrom: "name[:mode]", split at the first ":".
    return [spec.split(":", 1)[0] for spec in host_config.get("VolumesFrom") or [] if spec]


def query_value(request: Request, name: str) -> str:
    """A query parameter as dockerd reads it (Go takes the first); repeats are refused."""
    if request.query_count(name) > 1:
        raise BodyDecodeError(f"repeated query parameter {name!r}")
    return request.query_get(name) or ""
