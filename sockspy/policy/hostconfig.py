"""The HostConfig predicates: one small function per kind of host access.

Each predicate reads one HostConfig (a request's, decoded by `gojson`, or a container's
as ``GET /containers/{id}/json`` reports it) and yields a message per problem. The table
`HOST_CONFIG_CHECKS` names each predicate's finding code; `HOST_CONFIG_CODES` documents
the codes. Values are compared as dockerd 20.10 and later compare them, or more broadly
where that can only report more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sockspy.core.docker.bindpaths import bind_source, bind_volume_name, go_clean, is_allowed
from sockspy.core.docker.daemon import DaemonFacts


@dataclass(frozen=True, slots=True)
class Where:
    """Whose HostConfig is read, and what the policy allows there."""

    prefix: str  # for messages: "HostConfig.", "top-level ", "container 'web': HostConfig."
    allowed_bind_paths: tuple[str, ...] = ()
    allowed_log_drivers: tuple[str, ...] = ()
    allowed_capabilities: frozenset[str] = frozenset()  # normalized: "NET_ADMIN"
    allowed_devices: frozenset[str] = frozenset()  # cleaned host paths
    allowed_runtimes: frozenset[str] = frozenset()
    allowed_mount_types: frozenset[str] = frozenset({"bind", "volume", "tmpfs"})
    allowed_volume_drivers: frozenset[str] = frozenset({"local"})
    allowed_annotations: frozenset[str] = frozenset()
    min_oom_score_adj: int = 0
    stored: bool = False  # a container's stored HostConfig (inspect), not a request's
    daemon: DaemonFacts | None = None  # what the daemon said of itself; None: unknown


HostConfig = Mapping[str, Any]
Check = Callable[[HostConfig, Where], Iterator[str]]


# -- Privileges ----------------------------------------------------------------------------


def _privileged(hc: HostConfig, where: Where) -> Iterator[str]:
    if hc.get("Privileged") is True:
        yield f"{where.prefix}Privileged is true"


# The capabilities every container gets (oci/caps/defaults.go): adding one is a no-op, and
# "--cap-drop ALL --cap-add CHOWN ..." is common hardening, so those are not reported.
DEFAULT_CAPABILITIES = frozenset(
    {
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
        "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
    }
)  # fmt: skip


def normalize_capability(name: str) -> str:
    """oci/caps NormalizeLegacyCapabilities: upper case (Go's per-rune ToUpper), no "CAP_"."""
    upper = "".join(c.upper() if len(c.upper()) == 1 else c for c in name)
    return upper.removeprefix("CAP_")


def capability_messages(caps: Iterable[str], field: str, where: Where) -> Iterator[str]:
    for cap in caps:
        normalized = normalize_capability(cap)
        if normalized not in DEFAULT_CAPABILITIES | where.allowed_capabilities:
            yield f"{where.prefix}{field} has {cap!r}"


def _cap_add(hc: HostConfig, where: Where) -> Iterator[str]:
    yield from capability_messages(hc.get("CapAdd") or [], "CapAdd", where)


def _security_opt(hc: HostConfig, where: Where) -> Iterator[str]:
    for opt in hc.get("SecurityOpt") or []:
        if not _confining(opt):
            yield f"{where.prefix}SecurityOpt has {opt!r}"


_TRUE = ("1", "t", "T", "TRUE", "true", "True")  # Go's strconv.ParseBool


def _confining(opt: str) -> bool:
    """Whether a security option can only add confinement.

    daemon/daemon_unix.go parseSecurityOpt: "no-new-privileges" alone is true; otherwise
    the option splits at the first "=", else at the first ":". Every seccomp and
    apparmor choice but the default ones, every label but a level, "disable",
    no-new-privileges=false, systempaths=unconfined, writable-cgroups (newer daemons)
    and unknown keys are reported.
    """
    if opt == "no-new-privileges":
        return True
    separator = "=" if "=" in opt else ":"
    key, _, value = opt.partition(separator)
    return (
        (key == "no-new-privileges" and value in _TRUE)
        or (key == "label" and value.startswith("level:"))
        or (key == "seccomp" and value == "builtin")
        or (key == "apparmor" and value == "docker-default")
    )


# oci/defaults.go: dockerd fills these in when the request's list is null. A non-null list
# replaces them, so an empty one unmasks /proc and /sys. A request that lists paths must
# therefore keep every path *this* daemon would have filled in: the list grew over the
# releases (`MASKED_SINCE`), so the daemon's version decides (`default_masked_paths`).
BASELINE_MASKED = frozenset(
    {
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
        "/sys/firmware",
    }
)  # fmt: skip
NEWER_MASKED = frozenset({"/sys/devices/virtual/powercap", "/proc/interrupts"})
BASELINE_READONLY = frozenset(
    {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

Release = tuple[int, int, int]

# The first moby release of each release line that masks a path of NEWER_MASKED; every
# line after the last one listed masks it from its first release.
# - powercap: advisory GHSA-jq35-85cj-fj4p (the PLATYPUS side channel), fixed in master
#   for 25.0 and backported to 20.10.27, 23.0.8 and 24.0.7 (their release notes,
#   "Deny containers access to /sys/devices/virtual/powercap by default").
# - /proc/interrupts: advisory GHSA-6fw5-f8r9-fgfm (thermal interrupt side channel),
#   moby/moby#49560, first released in 28.0.2 (its release notes: "Mask Linux thermal
#   interrupt info in a container's /proc and /sys by default"); no older line has it.
#   The same change masks /sys/devices/system/cpu/cpuN/thermal_throttle for each CPU of
#   the daemon's host that has one: sockspy cannot know those, so it does not ask for them.
# A distribution that backports one of these to an older version number is read as not
# masking it: the request may then leave out that one path.
MASKED_SINCE: Mapping[str, tuple[Release, ...]] = MappingProxyType(
    {
        "/sys/devices/virtual/powercap": ((20, 10, 27), (23, 0, 8), (24, 0, 7), (25, 0, 0)),
        "/proc/interrupts": ((28, 0, 2),),
    }
)


def default_masked_paths(daemon: DaemonFacts | None) -> frozenset[str]:
    """The MaskedPaths this daemon fills in. Unknown (not moby, no release): all we know."""
    release = daemon.moby_release if daemon is not None else None
    if release is None:
        return BASELINE_MASKED | NEWER_MASKED
    added = {path for path, since in MASKED_SINCE.items() if not _predates(release, since)}
    return BASELINE_MASKED | added


def _predates(release: Release, since: tuple[Release, ...]) -> bool:
    """Whether `release` comes before the change that `since` dates, in its own line."""
    same_line = [first for first in since if first[:2] == release[:2]]
    if same_line:
        return release < same_line[0]
    return release < since[0]  # a line between two listed ones has it (fail closed)


def _masked_paths(hc: HostConfig, where: Where) -> Iterator[str]:
    # A stored HostConfig holds what the daemon filled in when the container was created,
    # maybe by an older daemon than the one now running: only BASELINE is asked of it.
    masked = BASELINE_MASKED if where.stored else default_masked_paths(where.daemon)
    for field, required in (("MaskedPaths", masked), ("ReadonlyPaths", BASELINE_READONLY)):
        paths = hc.get(field)
        missing = sorted(required - set(paths or ())) if paths is not None else []
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            yield f"{where.prefix}{field} leaves out {missing[0]}{more}"


# -- Namespaces and cgroups ----------------------------------------------------------------


def _namespace(field: str) -> Check:
    """A mode field that may name the host's namespace or another container's."""

    def check(hc: HostConfig, where: Where) -> Iterator[str]:
        mode = str(hc.get(field) or "")
        if mode.lower() == "host" or mode.lower().startswith("container:"):
            yield f"{where.prefix}{field} is {mode!r}"

    return check


def _cgroupns_mode(hc: HostConfig, where: Where) -> Iterator[str]:
    # On cgroup v1 hosts dockerd stores "host" for every container (its default there),
    # so only a request that asks for it is reported, and not even that where "host" is
    # what this daemon would give the container anyway.
    if where.stored:
        return
    if hc.get("CgroupnsMode") == "host" and cgroupns_host_is_default(where.daemon):
        return
    yield from _namespace("CgroupnsMode")(hc, where)


def cgroupns_host_is_default(daemon: DaemonFacts | None) -> bool:
    """Whether this daemon gives a container that asks for no cgroup namespace the host's.

    dockerd's default-cgroupns-mode is "host" on cgroup v1 and "private" on v2, and
    ``--default-cgroupns-mode private`` (on a kernel with cgroup namespaces) changes it on
    v1 too: GET /info then lists "name=cgroupns" in SecurityOptions (daemon/info.go,
    cgroupNamespacesEnabled). Only a moby daemon that reports cgroup v1 and the absence
    of that option counts; anything else (v2, unknown, not moby) does not.
    """
    return (
        daemon is not None
        and daemon.moby_release is not None
        and daemon.cgroup_version == "1"
        and daemon.security_options is not None
        and "name=cgroupns" not in daemon.security_options
    )


def reads_daemon_facts(hc: HostConfig, allowed_runtimes: frozenset[str] = frozenset()) -> bool:
    """Whether the checks of a request's `hc` depend on the daemon's defaults at all."""
    runtime = str(hc.get("Runtime") or "")
    return (
        hc.get("MaskedPaths") is not None
        or hc.get("CgroupnsMode") == "host"
        or (runtime not in ("", *allowed_runtimes))
    )


def _cgroup_parent(hc: HostConfig, where: Where) -> Iterator[str]:
    if hc.get("CgroupParent"):
        yield f"{where.prefix}CgroupParent is {hc['CgroupParent']!r}"


# -- Runtimes and the host's resources -----------------------------------------------------

# The runtime dockerd uses when none is named ("runc" unless --default-runtime says so).
# A daemon may register others (--add-runtime): kata, gVisor, but also a runtime that
# confines nothing. A request may name the daemon's default, or one the policy allows.
_STOCK_RUNTIME = "runc"


def _runtime(hc: HostConfig, where: Where) -> Iterator[str]:
    runtime = str(hc.get("Runtime") or "")
    if not runtime or runtime in where.allowed_runtimes:
        return
    if where.stored:
        # dockerd stores the runtime a container runs with ("runc" when none was asked):
        # the daemon's default is not looked up for an existing container, the stock one
        # is taken as harmless.
        if runtime == _STOCK_RUNTIME:
            return
    elif where.daemon is not None and where.daemon.default_runtime == runtime:
        return
    yield f"{where.prefix}Runtime is {runtime!r}"


def _oom_score_adj(hc: HostConfig, where: Where) -> Iterator[str]:
    # A negative score makes the kernel's OOM killer pick host processes before this
    # container (down to -1000: never this one). dockerd accepts -1000..1000.
    score = hc.get("OomScoreAdj") or 0
    if isinstance(score, int) and score < where.min_oom_score_adj:
        yield f"{where.prefix}OomScoreAdj is {score} (below {where.min_oom_score_adj})"


# runc libcontainer/configs/validate (sysctl): the sysctls a container may set because they
# belong to one of its own namespaces. Any other one writes to the host's kernel (a runtime
# that does not validate, or a future runc, would let it through). IPC ones need the
# container's own IPC namespace, net.* its own network namespace, kernel.domainname its
# own UTS namespace. Names may be written with "/" instead of ".".
_IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
        "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
    }
)  # fmt: skip


def _shares(hc: HostConfig, field: str) -> bool:
    """Whether `field`'s namespace is the host's or another container's."""
    mode = str(hc.get(field) or "").lower()
    return mode == "host" or mode.startswith("container:")


def _sysctls(hc: HostConfig, where: Where) -> Iterator[str]:
    for name in sorted(hc.get("Sysctls") or {}):
        key = name.replace("/", ".")
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            namespaced = not _shares(hc, "IpcMode")
        elif key.startswith("net."):
            namespaced = not _shares(hc, "NetworkMode")
        else:
            namespaced = key == "kernel.domainname" and not _shares(hc, "UTSMode")
        if not namespaced:
            yield f"{where.prefix}Sysctls sets {name!r} outside the container's namespaces"


# -- Devices -------------------------------------------------------------------------------


def _devices(hc: HostConfig, where: Where) -> Iterator[str]:
    for i, device in enumerate(hc.get("Devices") or []):
        path = go_clean(str((device or {}).get("PathOnHost", "")))
        if path not in where.allowed_devices:
            yield f"{where.prefix}Devices[{i}] maps host device {path!r}"


def _device_cgroup_rules(hc: HostConfig, where: Where) -> Iterator[str]:
    for rule in hc.get("DeviceCgroupRules") or []:
        yield f"{where.prefix}DeviceCgroupRules has {rule!r}"


def _device_requests(hc: HostConfig, where: Where) -> Iterator[str]:
    for i, request in enumerate(hc.get("DeviceRequests") or []):
        driver = (request or {}).get("Driver", "")
        yield f"{where.prefix}DeviceRequests[{i}] asks driver {driver!r} for devices"


# -- Mounts --------------------------------------------------------------------------------

# Mount types that never take a host path; any other type is read as a bind as well as
# judged by `_mount_type` (dockerd refuses unknown types, so that only reports more). A
# mount with BindOptions is a bind.
_NO_HOST_PATH = frozenset({"volume", "tmpfs", "npipe", "image", "cluster"})


def bind_mount_sources(hc: HostConfig) -> Iterator[tuple[str, str]]:
    """(field, host path as written) for every bind in Binds and Mounts."""
    for i, spec in enumerate(hc.get("Binds") or []):
        source = bind_source(str(spec or ""))
        if source is not None:
            yield f"Binds[{i}]", source
    for i, mount in enumerate(hc.get("Mounts") or []):
        mount = mount or {}
        if mount.get("BindOptions") is not None or mount.get("Type") not in _NO_HOST_PATH:
            yield f"Mounts[{i}]", str(mount.get("Source", ""))


def named_volumes(hc: HostConfig) -> Iterator[tuple[str, str]]:
    """(field, volume name) for every named volume in Binds and volume Mounts: an existing
    volume of that name is mounted as it was created (options included); a new one is
    created plain (or with the Mount's own DriverConfig, checked on its own)."""
    for i, spec in enumerate(hc.get("Binds") or []):
        name = bind_volume_name(str(spec or ""))
        if name is not None:
            yield f"Binds[{i}]", name
    for i, mount in enumerate(hc.get("Mounts") or []):
        mount = mount or {}
        if mount.get("Type") == "volume" and mount.get("Source"):
            yield f"Mounts[{i}]", str(mount["Source"])


def _bind_mount(hc: HostConfig, where: Where) -> Iterator[str]:
    for field, source in bind_mount_sources(hc):
        if not is_allowed(source, where.allowed_bind_paths):
            yield f"{where.prefix}{field} mounts host path {go_clean(source)!r}"


def local_volume_options(driver: str, options: Mapping[str, str] | None) -> str | None:
    """Why a volume of `driver` with `options` reaches the host, or None.

    The local driver (volume/local) mounts ``device`` with ``type`` and ``o`` on the
    host: ``type=none,o=bind,device=/etc`` is a bind mount of /etc, ``device=/dev/sda1``
    a host disk, ``type=nfs`` a mount made from the host's network. Only ``size`` is
    harmless. An empty driver name is the default, local driver.
    """
    if driver.lower() not in ("", "local"):
        return None
    risky = sorted(key for key in options or {} if key != "size")
    if not risky:
        return None
    shown = ", ".join(f"{key}={(options or {})[key]}" for key in risky)
    return f"local volume driver options {shown}"


def _local_volume_options(hc: HostConfig, where: Where) -> Iterator[str]:
    for i, mount in enumerate(hc.get("Mounts") or []):
        mount = mount or {}
        if mount.get("Type") != "volume":
            continue
        driver = (mount.get("VolumeOptions") or {}).get("DriverConfig") or {}
        message = local_volume_options(str(driver.get("Name", "")), driver.get("Options"))
        if message is not None:
            yield f"{where.prefix}Mounts[{i}] has {message}"


def volume_driver_allowed(driver: str, allowed: frozenset[str]) -> bool:
    """Whether a volume driver is one the policy knows: "" is the local driver. A plugin
    driver mounts whatever its plugin decides, on the host, as root."""
    return (driver or "local") in allowed


def _mount_type(hc: HostConfig, where: Where) -> Iterator[str]:
    # dockerd 20.10 knows bind, volume and tmpfs; newer ones add image (API 1.48) and
    # cluster (swarm CSI). A type sockspy does not judge fails closed.
    for i, mount in enumerate(hc.get("Mounts") or []):
        kind = str((mount or {}).get("Type", ""))
        if kind not in where.allowed_mount_types:
            yield f"{where.prefix}Mounts[{i}] has type {kind!r}"


def _volume_driver(hc: HostConfig, where: Where) -> Iterator[str]:
    # VolumeDriver makes every new named or anonymous volume of the container (Binds,
    # Config.Volumes) with that driver; a volume Mount names its own in DriverConfig.
    driver = str(hc.get("VolumeDriver") or "")
    if not volume_driver_allowed(driver, where.allowed_volume_drivers):
        yield f"{where.prefix}VolumeDriver is {driver!r}"
    for i, mount in enumerate(hc.get("Mounts") or []):
        mount = mount or {}
        config = (mount.get("VolumeOptions") or {}).get("DriverConfig") or {}
        name = str(config.get("Name", ""))
        if mount.get("Type") == "volume" and not volume_driver_allowed(
            name, where.allowed_volume_drivers
        ):
            yield f"{where.prefix}Mounts[{i}] uses volume driver {name!r}"


def _annotations(hc: HostConfig, where: Where) -> Iterator[str]:
    # dockerd (API 1.43) copies them into the OCI runtime spec, where the runtime acts on
    # some: runc applies org.systemd.property.* as the container's systemd unit properties.
    for key in sorted(hc.get("Annotations") or {}):
        if key not in where.allowed_annotations:
            yield f"{where.prefix}Annotations has {key!r}"


def sysctl_findings(sysctls: Mapping[str, str] | None, where: Where) -> Iterator[tuple[str, str]]:
    """Findings of a Sysctls map alone (a swarm ContainerSpec's: the task has its own
    namespaces, but no sysctl outside them becomes harmless on a node)."""
    for message in _sysctls({"Sysctls": sysctls}, where):
        yield "sysctls", message


def mount_findings(mounts: list[Any] | None, where: Where) -> Iterator[tuple[str, str]]:
    """Findings of a Mounts list alone (a swarm ContainerSpec's)."""
    checks = (
        ("mount_type", _mount_type),
        ("bind_mount", _bind_mount),
        ("volume_driver", _volume_driver),
        ("local_volume_options", _local_volume_options),
    )
    for code, check in checks:
        for message in check({"Mounts": mounts}, where):
            yield code, message


# -- Logging -------------------------------------------------------------------------------


def _log_driver(hc: HostConfig, where: Where) -> Iterator[str]:
    # A log driver runs inside dockerd, on the host: syslog, gelf, fluentd, splunk... reach
    # the network from the host's namespace. A stored container's driver is not the
    # business of a later exec or attach, so only requests are checked; and only a
    # LogConfig the request carries (an update has none; "" is the daemon's default).
    if where.stored or "LogConfig" not in hc:
        return
    kind = (hc["LogConfig"] or {}).get("Type", "")
    if kind not in where.allowed_log_drivers:
        yield f"{where.prefix}LogConfig.Type is {kind!r}"


HOST_CONFIG_CHECKS: tuple[tuple[str, Check], ...] = (
    ("privileged", _privileged),
    ("cap_add", _cap_add),
    ("devices", _devices),
    ("device_cgroup_rules", _device_cgroup_rules),
    ("device_requests", _device_requests),
    ("security_opt", _security_opt),
    ("masked_paths", _masked_paths),
    ("pid_mode", _namespace("PidMode")),
    ("network_mode", _namespace("NetworkMode")),
    ("ipc_mode", _namespace("IpcMode")),
    ("uts_mode", _namespace("UTSMode")),
    ("userns_mode", _namespace("UsernsMode")),
    ("cgroupns_mode", _cgroupns_mode),
    ("cgroup_parent", _cgroup_parent),
    ("runtime", _runtime),
    ("oom_score_adj", _oom_score_adj),
    ("sysctls", _sysctls),
    ("mount_type", _mount_type),
    ("bind_mount", _bind_mount),
    ("volume_driver", _volume_driver),
    ("local_volume_options", _local_volume_options),
    ("log_driver", _log_driver),
    ("annotations", _annotations),
)

HOST_CONFIG_CODES: Mapping[str, str] = MappingProxyType(
    {
        "privileged": "Privileged: every capability and device, no confinement",
        "cap_add": "CapAdd (a service's CapabilityAdd) beyond defaults and allowed_capabilities",
        "devices": "Devices maps host devices not in allowed_devices",
        "device_cgroup_rules": "DeviceCgroupRules open host devices to the container",
        "device_requests": "DeviceRequests hand host devices (GPUs...) to the container",
        "security_opt": "SecurityOpt loosens confinement (seccomp, apparmor, label...)",
        "masked_paths": "MaskedPaths/ReadonlyPaths leave out a path this daemon masks by default "
        "([] unmasks /proc, /sys)",
        "pid_mode": "PidMode shares the host's or another container's PID namespace",
        "network_mode": "NetworkMode shares the host's or another container's network namespace",
        "ipc_mode": "IpcMode shares the host's or another container's IPC namespace",
        "uts_mode": "UTSMode shares the host's UTS namespace",
        "userns_mode": "UsernsMode host: no user-namespace remapping",
        "cgroupns_mode": "CgroupnsMode container:<id>, or host where that is not the daemon's "
        "own default",
        "cgroup_parent": "CgroupParent puts the container in a host cgroup of the client's choice",
        "runtime": "Runtime names a runtime other than the daemon's default and allowed_runtimes",
        "oom_score_adj": "OomScoreAdj below min_oom_score_adj: the OOM killer takes host "
        "processes first",
        "sysctls": "Sysctls outside the container's own IPC, network or UTS namespace",
        "bind_mount": "a host path outside allowed_bind_paths is mounted (Binds, bind Mounts)",
        "mount_type": "a Mounts type not in allowed_mount_types (sockspy judges bind, volume "
        "and tmpfs)",
        "volume_driver": "a volume driver (a plugin, mounting on the host) not in "
        "allowed_volume_drivers: VolumeDriver, a Mount's DriverConfig, a volume create or "
        "an existing volume mounted by name",
        "local_volume_options": "a local-driver volume with options (o=bind, device=, type=), "
        "made now or mounted by name",
        "log_driver": "a log driver (it runs on the host) not in allowed_log_drivers",
        "annotations": "HostConfig.Annotations keys not in allowed_annotations (the runtime "
        "acts on some: org.systemd.property.*)",
    }
)


def host_config_findings(hc: HostConfig, where: Where) -> Iterator[tuple[str, str]]:
    """(code, message) for every predicate that fires on `hc`, in table order."""
    for code, check in HOST_CONFIG_CHECKS:
        for message in check(hc, where):
            yield code, message
