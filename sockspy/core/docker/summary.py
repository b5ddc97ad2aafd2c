"""What a create asked for, in Docker's terms: the `summary` of an audit record.

An auditor reading `container.create` wants "privileged, / bound at /host, image alpine",
not a JSON body. The summary is built from the body *as dockerd decoded it* (the same
`Request.decoded_body` the rules read, so a duplicate key or a case-folded name means
here what it means to the daemon), plus the query where the endpoint takes its options
there (build, plugin install). It ends with the `docker run` (or `docker exec`...) line
that asks for the same.

Secrets never reach it (`sockspy.core.docker.secrets` lists them): environment variables
and build arguments by name only, volume driver options by name only; registry
credentials and join tokens are never read into it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from sockspy.core.docker import schemas
from sockspy.core.docker.gojson import BodyDecodeError, decode_into
from sockspy.core.docker.request import Request, query_bool
from sockspy.core.docker.secrets import env_names, names_only

Summary = dict[str, Any]
# A create's body is kept for its summary, as it is forwarded, up to this size.
BODY_CAP = 1024 * 1024


# A summary is kept whole up to this many characters of JSON; past it, its largest values
# (labels, environment names...) give way to how large they were, largest first: what a
# rule reads of a create (binds, privileges, capabilities) is small and stays.
SUMMARY_CAP = 16 * 1024


def bounded(summary: Summary) -> Summary:
    """`summary` within SUMMARY_CAP characters of JSON."""
    sizes = {key: len(json.dumps(value, default=str)) for key, value in summary.items()}
    total = sum(sizes.values())
    if total <= SUMMARY_CAP:
        return summary
    out = dict(summary)
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        out[key] = f"<{sizes[key]} characters left out>"
        total -= sizes[key]
        if total <= SUMMARY_CAP:
            break
    return out


def summarised(endpoint: str) -> bool:
    """Does this endpoint's record carry a summary (and so its body get read for it)?"""
    return endpoint in _SUMMARIES


def needs_body(endpoint: str) -> bool:
    return endpoint in _SUMMARIES and endpoint not in _QUERY_ONLY


def summarise(request: Request) -> Summary | None:
    """The summary of `request` (whose `body` holds the de-chunked body), or None for an
    endpoint that has none. A body dockerd would refuse gives {"error": why}."""
    build = _SUMMARIES.get(request.endpoint)
    if build is None:
        return None
    try:
        return build(request)
    except BodyDecodeError as exc:
        return {"error": f"body not decodable: {exc}"}


# -- container.create -----------------------------------------------------------------


def _container_create(request: Request) -> Summary:
    body = request.decoded_body()
    host = schemas.effective_host_config(body) or {}
    out: Summary = {}
    name = request.query_get("name")
    _put(out, "name", name)
    _put(out, "image", body.get("Image"))
    _put(out, "entrypoint", _strings(body.get("Entrypoint")))
    _put(out, "command", _strings(body.get("Cmd")))
    _put(out, "user", body.get("User"))
    _put(out, "working_dir", body.get("WorkingDir"))
    _put(out, "tty", body.get("Tty") or None)
    _put(out, "privileged", host.get("Privileged") or None)
    _put(out, "cap_add", _strings(host.get("CapAdd")))
    _put(out, "cap_drop", _strings(host.get("CapDrop")))
    _put(out, "devices", _devices(host))
    _put(out, "binds", _strings(host.get("Binds")))
    _put(out, "mounts", _mounts(host.get("Mounts")))
    _put(out, "volumes_from", _strings(host.get("VolumesFrom")))
    namespaces = {
        kind: host.get(key)
        for kind, key in _NAMESPACES
        if host.get(key) and host.get(key) != "private"
    }
    _put(out, "namespaces", namespaces)
    _put(out, "network", host.get("NetworkMode"))
    _put(out, "ports", _ports(host.get("PortBindings")))
    _put(out, "restart", _restart(host.get("RestartPolicy")))
    _put(out, "security_opt", _strings(host.get("SecurityOpt")))
    _put(out, "annotations", dict(host.get("Annotations") or {}))
    _put(out, "labels", dict(body.get("Labels") or {}))
    _put(out, "env", env_names(body.get("Env")))
    out["run"] = _run_line(out, host)
    return out


_NAMESPACES = (
    ("pid", "PidMode"),
    ("ipc", "IpcMode"),
    ("uts", "UTSMode"),
    ("userns", "UsernsMode"),
    ("cgroupns", "CgroupnsMode"),
)


def _devices(host: Mapping[str, Any]) -> list[str]:
    out = []
    for device in host.get("Devices") or []:
        if isinstance(device, Mapping):
            spec = str(device.get("PathOnHost") or "")
            inside = device.get("PathInContainer")
            if inside and inside != spec:
                spec += f":{inside}"
            out.append(spec)
    for request in host.get("DeviceRequests") or []:
        if isinstance(request, Mapping):
            out.append(f"gpus:{request.get('Driver') or ''}:{request.get('Count')}")
    return out


def _mounts(mounts: Any) -> list[str]:
    out = []
    for mount in mounts or []:
        if isinstance(mount, Mapping):
            spec = f"type={mount.get('Type') or ''}"
            if mount.get("Source"):
                spec += f",src={mount['Source']}"
            spec += f",dst={mount.get('Target') or ''}"
            for options, flag in (
                ("VolumeOptions", "volume-subpath"),
                ("ImageOptions", "image-subpath"),
            ):
                subpath = (mount.get(options) or {}).get("Subpath")
                if subpath:
                    spec += f",{flag}={subpath}"
            if mount.get("ReadOnly"):
                spec += ",readonly"
            out.append(spec)
    return out


def _ports(bindings: Any) -> list[str]:
    """nat.PortMap as `docker run -p` spells it: [ip:]hostport:containerport/proto."""
    out: list[str] = []
    if not isinstance(bindings, Mapping):
        return out
    for port, hosts in bindings.items():
        for host in hosts if isinstance(hosts, list) else []:
            if not isinstance(host, Mapping):
                continue
            ip, host_port = host.get("HostIp") or "", host.get("HostPort") or ""
            spec = f"{host_port}:{port}" if host_port else str(port)
            out.append(f"{ip}:{spec}" if ip else spec)
    return out


def _restart(policy: Any) -> str | None:
    if not isinstance(policy, Mapping) or not policy.get("Name") or policy["Name"] == "no":
        return None
    retries = policy.get("MaximumRetryCount")
    return f"{policy['Name']}:{retries}" if retries else str(policy["Name"])


def _run_line(summary: Summary, host: Mapping[str, Any]) -> str:
    args = ["docker", "run"]
    if summary.get("name"):
        args += ["--name", summary["name"]]
    if summary.get("privileged"):
        args.append("--privileged")
    if summary.get("user"):
        args += ["--user", summary["user"]]
    if summary.get("working_dir"):
        args += ["--workdir", summary["working_dir"]]
    if summary.get("tty"):
        args.append("-t")
    for flag, key in (
        ("--cap-add", "cap_add"),
        ("--cap-drop", "cap_drop"),
        ("--device", "devices"),
        ("-v", "binds"),
        ("--mount", "mounts"),
        ("--volumes-from", "volumes_from"),
        ("-p", "ports"),
        ("--security-opt", "security_opt"),
        ("-e", "env"),
    ):
        for value in summary.get(key) or []:
            args += [flag, value]
    for kind, mode in (summary.get("namespaces") or {}).items():
        args.append(f"--{kind}={mode}")
    network = summary.get("network")
    if network and network != "default":
        args.append(f"--network={network}")
    if summary.get("restart"):
        args.append(f"--restart={summary['restart']}")
    if host.get("AutoRemove"):
        args.append("--rm")
    for key, value in (summary.get("annotations") or {}).items():
        args += ["--annotation", f"{key}={value}"]
    for key, value in (summary.get("labels") or {}).items():
        args += ["--label", f"{key}={value}"]
    if summary.get("entrypoint"):
        args += ["--entrypoint", " ".join(summary["entrypoint"])]
    args.append(summary.get("image") or "<no image>")
    args += summary.get("command") or []
    return shlex.join(args)


# -- the others -------------------------------------------------------------------------


def _exec_create(request: Request) -> Summary:
    body = request.decoded_body()
    out: Summary = {}
    container = dict(request.params).get("name")
    _put(out, "container", container)
    _put(out, "command", _strings(body.get("Cmd")))
    _put(out, "user", body.get("User"))
    _put(out, "working_dir", body.get("WorkingDir"))
    _put(out, "tty", body.get("Tty") or None)
    _put(out, "privileged", body.get("Privileged") or None)
    _put(out, "env", env_names(body.get("Env")))
    args = ["docker", "exec"]
    if out.get("privileged"):
        args.append("--privileged")
    if out.get("user"):
        args += ["--user", out["user"]]
    if out.get("working_dir"):
        args += ["--workdir", out["working_dir"]]
    if out.get("tty"):
        args.append("-t")
    for name in out.get("env") or []:
        args += ["-e", name]
    args.append(container or "<no container>")
    args += out.get("command") or []
    out["run"] = shlex.join(args)
    return out


def _service_create(request: Request) -> Summary:
    body = request.decoded_body()
    task = body.get("TaskTemplate") or {}
    spec = task.get("ContainerSpec") or {}
    out: Summary = {}
    _put(out, "name", body.get("Name"))
    _put(out, "image", spec.get("Image"))
    _put(out, "command", [*(spec.get("Command") or []), *(spec.get("Args") or [])])
    _put(out, "user", spec.get("User"))
    _put(out, "cap_add", _strings(spec.get("CapabilityAdd")))
    _put(out, "mounts", _mounts(spec.get("Mounts")))
    _put(out, "labels", dict(body.get("Labels") or {}))
    _put(out, "env", env_names(spec.get("Env")))
    return out


def _volume_create(request: Request) -> Summary:
    body = request.decoded_body()
    out: Summary = {}
    _put(out, "name", body.get("Name"))
    _put(out, "driver", body.get("Driver"))
    _put(out, "driver_opts", names_only(body.get("DriverOpts")))  # may hold passwords (cifs)
    return out


def _network_create(request: Request) -> Summary:
    body = decode_into(request.body or b"", schemas.NETWORK_CREATE)
    out: Summary = {}
    _put(out, "name", body.get("Name"))
    _put(out, "driver", body.get("Driver"))
    _put(out, "internal", body.get("Internal") or None)
    _put(out, "attachable", body.get("Attachable") or None)
    _put(out, "labels", dict(body.get("Labels") or {}))
    return out


def _image_build(request: Request) -> Summary:
    """A build's options are in its query (its body is the context tar)."""
    out: Summary = {}
    _put(out, "tags", [value for key, value in request.query if key == "t"])
    _put(out, "dockerfile", request.query_get("dockerfile"))
    _put(out, "remote", request.query_get("remote"))
    _put(out, "target", request.query_get("target"))
    _put(out, "network", request.query_get("networkmode"))
    _put(out, "platform", request.query_get("platform"))
    _put(out, "build_arg_names", _json_keys(request.query_get("buildargs")))
    _put(out, "extra_hosts", request.query_get("extrahosts"))
    _put(out, "buildkit", request.query_get("version") == "2" or None)
    _put(out, "pull", query_bool(request.query_get("pull")) or None)
    return out


def _plugin_pull(request: Request) -> Summary:
    out: Summary = {}
    _put(out, "remote", request.query_get("remote"))
    _put(out, "name", request.query_get("name"))
    granted = []
    for privilege in request.decoded_body() or []:
        if isinstance(privilege, Mapping):
            granted.append(f"{privilege.get('Name')}={','.join(privilege.get('Value') or [])}")
    _put(out, "privileges", granted)
    return out


_SUMMARIES: Mapping[str, Callable[[Request], Summary]] = {
    "container.create": _container_create,
    "exec.create": _exec_create,
    "service.create": _service_create,
    "volume.create": _volume_create,
    "network.create": _network_create,
    "image.build": _image_build,
    "plugin.pull": _plugin_pull,
}
_QUERY_ONLY = frozenset({"image.build"})


# -- helpers ----------------------------------------------------------------------------


def _put(out: Summary, key: str, value: Any) -> None:
    """Only what was asked for: empty and default values are left out."""
    if value is not None and value != "" and value != [] and value != {}:
        out[key] = value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value if item is not None]
    return []


def _json_keys(text: str | None) -> list[str]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return ["<not JSON>"]
    return sorted(str(key) for key in value) if isinstance(value, dict) else []
