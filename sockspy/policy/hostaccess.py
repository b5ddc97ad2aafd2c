"""Every way a request reaches the host: the findings a "no host access" policy reads.

Theory of operation
-------------------
A request body is decoded exactly as dockerd decodes it (`sockspy.core.docker.gojson` over the
structs in `schemas`); anything Go would read otherwise raises `BodyDecodeError` and the
caller refuses the request. The decoded structs are then read by small predicates, one
per kind of host access, each named in `FINDING_CODES`. A predicate yields messages;
`findings` turns them into `Finding`s.

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
/version`` and ``GET /info``, fetched by the I/O layer when `daemon_facts_needed` says
so) and take their strict form whenever those are unknown.

Existing named volumes are looked up too (`volumes_referenced`): one created with bind
options outside sockspy is a host mount under a harmless-looking name, whether a create
mounts it or an existing container (exec, cp, VolumesFrom) already has it.

Out of reach here, by design: volumes on other swarm nodes; symlinks under an allowed
bind path (resolved on the host); a user name the image maps to uid 0; a service network
given by the ID of the host network; URLs the daemon fetches (build ``remote``, image
import ``fromSrc``); and bodies no rule can read (plugin.create's tar, /session and
/grpc): deny those by policy.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sockspy.core.deciding.decision import Containers, Facts
from sockspy.core.docker import schemas
from sockspy.core.docker.daemon import DaemonFacts
from sockspy.core.docker.gojson import BodyDecodeError, GoType, Struct, decode_into, decode_value
from sockspy.core.docker.request import Request
from sockspy.policy.bindpaths import go_clean, is_allowed
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
)


@dataclass(frozen=True, slots=True)
class Finding:
    code: str  # stable snake_case reason code, e.g. "privileged"
    message: str  # for people: "HostConfig.Privileged is true"


@dataclass(frozen=True, slots=True)
class HostAccessOptions:
    # Host paths (and below) that binds may use; cleaned like Go's filepath.Clean.
    allowed_bind_paths: tuple[str, ...] = ()
    allowed_log_drivers: tuple[str, ...] = ("", "json-file", "local", "journald", "none")
    allowed_capabilities: tuple[str, ...] = ()  # normalized names, e.g. "NET_ADMIN"
    allowed_devices: tuple[str, ...] = ()  # host device paths


_OTHER_CODES = {
    "volumes_from": "VolumesFrom a container that has host mounts",
    "container_unknown": "a container the checks need was not inspected (fail closed)",
    "volume_unknown": "a named volume the checks need was not looked up (fail closed)",
    "target_privileged": "exec, attach, start or archive upload: a privileged container",
    "target_bind_mount": "exec, attach, start, archive or export: a container with host mounts",
    "target_host_access": "exec, attach, start or archive upload: a container with host access",
    "exec_privileged": "an exec with Privileged: true",
    "exec_user": "an exec as User root or uid 0",
    "build_network_mode": "a build with networkmode host or container:<id>",
    "build_cgroup_parent": "a build with a cgroupparent",
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
_RUNS_IN_TARGET = frozenset(
    {"exec.create", "container.attach", "container.attach_ws", _START, "container.archive_put"}
)
# Requests that read an existing container's files: its host mounts only. (export leaves
# out mounted volumes; it is checked like the others all the same.)
_READS_TARGET = frozenset({"container.archive_get", "container.archive_head", "container.export"})

_BODY_SCHEMAS: Mapping[str, GoType] = MappingProxyType(
    {
        "container.create": schemas.CONTAINER_CREATE,
        _START: schemas.CONTAINER_CREATE,  # runconfig.decodeHostConfig: the same wrapper
        "container.update": schemas.CONTAINER_UPDATE,
        "exec.create": schemas.EXEC_CONFIG,
        "volume.create": schemas.VOLUME_CREATE,
        "service.create": schemas.SERVICE_SPEC,
        "service.update": schemas.SERVICE_SPEC,
        "plugin.pull": schemas.PLUGIN_PRIVILEGES,
        "plugin.upgrade": schemas.PLUGIN_PRIVILEGES,
        "plugin.set": schemas.PLUGIN_SET_ARGS,
        "swarm.init": schemas.SWARM_INIT,
        "swarm.join": schemas.SWARM_JOIN,
    }
)


def body_endpoints() -> frozenset[str]:
    """Endpoints whose JSON body must be buffered and decoded.

    container.start takes a body only below API 1.24 (a HostConfig that re-configures the
    container); any non-empty body on start is inspected. Not image.build (its body is a
    tar; its danger is in the query), nor plugin.create (a tar: deny it by policy).
    """
    return frozenset(_BODY_SCHEMAS)


def containers_referenced(request: Request, options: HostAccessOptions) -> tuple[str, ...]:
    """Existing containers whose inspect JSON `findings` needs. May raise BodyDecodeError.

    The target of a request that acts on a container (route parameter ``name``), and the
    VolumesFrom sources of a create (or old start) body, ":ro"/":rw" stripped.
    """
    names: list[str] = []
    target = _target(request)
    if target is not None:
        names.append(target)
    if request.endpoint in ("container.create", _START) and request.body:
        body = _decode_body(request)
        for _, host_config in schemas.host_configs(body):
            names.extend(_volumes_from(host_config))
    return tuple(dict.fromkeys(names))


def volumes_referenced(
    request: Request, options: HostAccessOptions, containers: Containers | None = None
) -> tuple[str, ...]:
    """Named volumes whose options `findings` needs. May raise BodyDecodeError.

    An existing volume is mounted with the options it was created with: one made with
    ``type=none,o=bind,device=/etc`` (outside sockspy, or before it) is a bind of /etc
    under a harmless-looking name. So the named volumes a create (or old start) body
    mounts are looked up, and so are the local volumes of the containers `containers`
    holds (the inspect answers for `containers_referenced`): an exec into a container
    that has such a volume reaches the host as one with a bind mount does.
    """
    names: list[str] = []
    if request.endpoint in ("container.create", _START) and request.body:
        for _, host_config in schemas.host_configs(_decode_body(request)):
            names.extend(name for _, name in named_volumes(host_config))
    for inspect in (containers or {}).values():
        names.extend(name for _, name in _stored_local_volumes(inspect or {}))
    return tuple(dict.fromkeys(names))


def daemon_facts_needed(request: Request, options: HostAccessOptions) -> bool:
    """Whether `findings` reads the daemon's own defaults for this request. May raise
    BodyDecodeError.

    Only a create (or old start) body that lists MaskedPaths or asks for CgroupnsMode
    "host" is compared with what the daemon would fill in itself; every other request
    is decided without asking the daemon about itself.
    """
    if request.endpoint not in ("container.create", _START) or not request.body:
        return False
    body = _decode_body(request)
    return any(reads_daemon_facts(hc) for _, hc in schemas.host_configs(body))


def findings(
    request: Request,
    options: HostAccessOptions,
    containers: Containers,
    daemon: DaemonFacts | None = None,
    volumes: Containers | None = None,
) -> list[Finding]:
    """Every way this request reaches the host, in a stable order.

    `containers` maps each name `containers_referenced` gave to the daemon's inspect
    answer, or None if there is no such container (the daemon will then refuse the
    request itself). A name missing from `containers` is reported ("container_unknown").
    `volumes` does the same for `volumes_referenced` (None: a volume dockerd will create
    plain; missing: "volume_unknown").
    `daemon` is what the daemon says of itself (`daemon_facts_needed`); None means unknown,
    and the checks that depend on it take their strict form.
    Raises BodyDecodeError for a body that cannot be decoded exactly as dockerd would.
    """
    facts = Facts(containers, daemon, volumes or {})
    found: list[Finding] = []
    target = _target(request)
    if target is not None:
        found += _target_findings(request.endpoint, target, options, facts)
    check = _ENDPOINT_CHECKS.get(request.endpoint)
    if check is not None:
        found += check(request, options, facts)
    return found


# -- Per endpoint --------------------------------------------------------------------------

EndpointCheck = Callable[[Request, HostAccessOptions, Facts], list[Finding]]


def _container_config(request: Request, options: HostAccessOptions, facts: Facts) -> list[Finding]:
    if request.endpoint == _START and not request.body:
        return []  # the usual start: no body
    found = []
    for prefix, host_config in schemas.host_configs(_decode_body(request)):
        where = _where(prefix, options, daemon=facts.daemon)
        found += _collect(host_config_findings(host_config, where))
        for name in _volumes_from(host_config):
            found += _volumes_from_findings(prefix, name, options, facts)
        for field, name in named_volumes(host_config):
            found += _named_volume_findings(f"{prefix}{field}", name, facts.volumes)
    return found


def _named_volume_findings(label: str, name: str, volumes: Containers) -> list[Finding]:
    if name not in volumes:
        return [Finding("volume_unknown", f"{label}: volume {name!r} was not looked up")]
    message = _volume_host_access(volumes[name])  # None: no such volume yet, made plain
    if message is None:
        return []
    return [Finding("local_volume_options", f"{label} mounts existing volume {name!r}: {message}")]


def _container_update(request: Request, options: HostAccessOptions, _: Facts) -> list[Finding]:
    # UpdateConfig{Resources; RestartPolicy}: the Resources predicates apply. (dockerd
    # 20.10 ignores Devices, DeviceCgroupRules and CgroupParent on update; reported anyway.)
    return _collect(host_config_findings(_decode_body(request), _where("", options)))


def _exec_create(request: Request, options: HostAccessOptions, _: Facts) -> list[Finding]:
    body = _decode_body(request)
    found = []
    if body.get("Privileged"):
        found.append(Finding("exec_privileged", "exec Privileged is true"))
    user = body.get("User", "")
    if _is_root(user):
        found.append(Finding("exec_user", f"exec User {user!r} is root"))
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


def _volume_create(request: Request, options: HostAccessOptions, _: Facts) -> list[Finding]:
    body = _decode_body(request)
    message = local_volume_options(body.get("Driver", ""), body.get("DriverOpts"))
    if message is None:
        return []
    return [Finding("local_volume_options", f"volume {body.get('Name', '')!r}: {message}")]


def _service(request: Request, options: HostAccessOptions, _: Facts) -> list[Finding]:
    spec = _decode_body(request)
    task = spec.get("TaskTemplate", {})
    container = task.get("ContainerSpec") or {}
    where = _where("TaskTemplate.ContainerSpec.", options)
    found = _collect(mount_findings(container.get("Mounts"), where))
    caps = capability_messages(container.get("CapabilityAdd") or [], "CapabilityAdd", where)
    found += [Finding("cap_add", message) for message in caps]
    found += [Finding("service_privileges", m) for m in _service_privileges(container)]
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


def _plugin_privileges(request: Request, _: HostAccessOptions, __: Facts) -> list[Finding]:
    # Each privilege the client accepts is one the plugin's config asks for (plugin
    # backend computePrivileges: network, host pid/ipc namespace, mount, device,
    # allow-all-devices, capabilities): every one of them reaches the host.
    return [
        Finding(
            "plugin_privileges",
            f"plugin privilege {p.get('Name', '')!r}: {', '.join(p.get('Value') or [])}",
        )
        for p in _decode_body(request)
    ]


def _plugin_set(request: Request, _: HostAccessOptions, __: Facts) -> list[Finding]:
    args: list[str] = _decode_body(request)
    if not args:
        return []
    return [Finding("plugin_set", f"plugin settings: {', '.join(args)}")]


def _swarm(request: Request, _: HostAccessOptions, __: Facts) -> list[Finding]:
    """Swarm init and join reach the host whatever the body says.

    After init the daemon is a manager: its join tokens (``GET /swarm``) let any machine
    that reaches the manager port join as a manager and schedule services here, with
    binds and capabilities, never passing through sockspy. A join hands this node to
    the remote managers outright. The body is decoded only to refuse what Go would not
    read the same way; no field of it makes either more or less dangerous.
    """
    _decode_body(request)
    if request.endpoint == "swarm.join":
        return [Finding("swarm_join", "joining a swarm gives its managers this node")]
    return [Finding("swarm_init", "a swarm manager runs services that bypass sockspy")]


def _build(request: Request, _: HostAccessOptions, __: Facts) -> list[Finding]:
    found = []
    network = _query(request, "networkmode").lower()
    if network == "host" or network.startswith("container:"):
        found.append(Finding("build_network_mode", f"build networkmode is {network!r}"))
    parent = _query(request, "cgroupparent")
    if parent:
        found.append(Finding("build_cgroup_parent", f"build cgroupparent is {parent!r}"))
    return found


_ENDPOINT_CHECKS: Mapping[str, EndpointCheck] = MappingProxyType(
    {
        "container.create": _container_config,
        _START: _container_config,
        "container.update": _container_update,
        "exec.create": _exec_create,
        "volume.create": _volume_create,
        "service.create": _service,
        "service.update": _service,
        "plugin.pull": _plugin_privileges,
        "plugin.upgrade": _plugin_privileges,
        "plugin.set": _plugin_set,
        "swarm.init": _swarm,
        "swarm.join": _swarm,
        "image.build": _build,
    }
)


# -- Existing containers -------------------------------------------------------------------

# A stored HostConfig finding, as the code reported for a request on that container.
_TARGET_CODES = {"privileged": "target_privileged", "bind_mount": "target_bind_mount"}


def _target_findings(
    endpoint: str, name: str, options: HostAccessOptions, facts: Facts
) -> list[Finding]:
    if name not in facts.containers:
        return [Finding("container_unknown", f"container {name!r} was not inspected")]
    inspect = facts.containers[name]
    if inspect is None:
        return []  # no such container: the daemon answers 404
    found = _stored_findings(inspect, f"container {name!r}: ", options, facts.volumes)
    if endpoint in _READS_TARGET:
        found = [f for f in found if f.code in ("bind_mount", "volume_unknown")]
    return [_as_target(f) for f in found]


def _as_target(finding: Finding) -> Finding:
    """A stored finding, as reported for a request on that container."""
    if finding.code == "volume_unknown":
        return finding  # not a fact about the container: fail closed under its own code
    return Finding(_TARGET_CODES.get(finding.code, "target_host_access"), finding.message)


def _volumes_from_findings(
    prefix: str, name: str, options: HostAccessOptions, facts: Facts
) -> list[Finding]:
    if name not in facts.containers:
        return [Finding("container_unknown", f"container {name!r} was not inspected")]
    inspect = facts.containers[name]
    if inspect is None:
        return []
    label = f"{prefix}VolumesFrom {name!r}: "
    stored = _stored_findings(inspect, label, options, facts.volumes)
    mounts = [Finding("volumes_from", f.message) for f in stored if f.code in _MOUNT_CODES]
    return mounts + [f for f in stored if f.code == "volume_unknown"]  # fail closed


_MOUNT_CODES = frozenset({"bind_mount", "local_volume_options"})


def _stored_findings(
    inspect: Mapping[str, Any],
    label: str,
    options: HostAccessOptions,
    volumes: Containers,
) -> list[Finding]:
    """The host access of an existing container, from its inspect answer (and the options
    of its local volumes, looked up: a volume made with bind options is a bind mount)."""
    host_config = inspect.get("HostConfig") or {}
    where = _where(f"{label}HostConfig.", options, stored=True)
    found = _collect(host_config_findings(host_config, where))
    # Top-level "Mounts" holds every mount in effect, binds inherited by VolumesFrom too;
    # those its own HostConfig already names are not repeated.
    named = {go_clean(source) for _, source in bind_mount_sources(host_config)}
    for i, mount in enumerate(inspect.get("Mounts") or []):
        source = go_clean(str(mount.get("Source", "")))
        if mount.get("Type") != "bind" or source in named:
            continue
        if not is_allowed(source, options.allowed_bind_paths):
            found.append(Finding("bind_mount", f"{label}Mounts[{i}] mounts host path {source!r}"))
    for i, name in _stored_local_volumes(inspect):
        if name not in volumes:
            found.append(Finding("volume_unknown", f"{label}volume {name!r} was not looked up"))
            continue
        message = _volume_host_access(volumes[name])
        if message is not None:
            text = f"{label}Mounts[{i}] mounts volume {name!r}: {message}"
            found.append(Finding("bind_mount", text))
    return found


def _volume_host_access(volume: Mapping[str, Any] | None) -> str | None:
    """How an existing volume (its `GET /volumes/{name}` answer) reaches the host, or None."""
    if volume is None:
        return None
    return local_volume_options(str(volume.get("Driver", "")), volume.get("Options"))


def _stored_local_volumes(inspect: Mapping[str, Any]) -> Iterator[tuple[int, str]]:
    """(index in Mounts, name) of an existing container's local-driver volumes."""
    for i, mount in enumerate(inspect.get("Mounts") or []):
        mount = mount or {}
        local = str(mount.get("Driver", "")).lower() in ("", "local")
        if mount.get("Type") == "volume" and mount.get("Name") and local:
            yield i, str(mount["Name"])


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
        stored=stored,
        daemon=daemon,
    )


def _collect(pairs: Iterator[tuple[str, str]]) -> list[Finding]:
    return [Finding(code, message) for code, message in pairs]


def _target(request: Request) -> str | None:
    if request.endpoint not in _RUNS_IN_TARGET and request.endpoint not in _READS_TARGET:
        return None
    return dict(request.params).get("name")


def _volumes_from(host_config: Mapping[str, Any]) -> list[str]:
    # volume/mounts.ParseVolumesFrom: "name[:mode]", split at the first ":".
    return [spec.split(":", 1)[0] for spec in host_config.get("VolumesFrom") or [] if spec]


def _decode_body(request: Request) -> Any:
    """The body as dockerd's struct would hold it. Treat the result as read-only: it is
    shared between the engine's two questions about one request (which containers to
    inspect, then the findings), so a create body is decoded once, not twice."""
    return _decode(request.endpoint, request.body if request.body is not None else b"")


@functools.lru_cache(maxsize=4)  # small: it keeps the bodies alive
def _decode(endpoint: str, body: bytes) -> Any:
    schema = _BODY_SCHEMAS[endpoint]
    if isinstance(schema, Struct):
        return decode_into(body, schema)
    decoded = decode_value(body, schema)
    return decoded if decoded is not None else []


def _query(request: Request, name: str) -> str:
    """A query parameter as dockerd reads it (Go takes the first); repeats are refused."""
    if request.query_count(name) > 1:
        raise BodyDecodeError(f"repeated query parameter {name!r}")
    return request.query_get(name) or ""
