"""Redacting daemon answers: secrets and host paths a profile should not see.

Traefik and Homepage read a container's labels, names and networks; neither needs its
environment (where passwords and tokens live) nor where its data comes from on the host.
A profile or rule with `redact` gets those removed from every answer it is allowed:

* ``env``, values that hold secrets: each ``Env`` entry (a container's, an image's, a
  service's or task's container spec) keeps its name and loses its value
  (``"DB_PASSWORD"`` for ``"DB_PASSWORD=hunter2"``); log driver options (a splunk token,
  an awslogs key) and volume driver options keep their keys and lose their values; the
  Dockerfile line an image's last layer was made by (``ContainerConfig.Cmd``) goes;
* ``mounts``, host paths: the host side of ``HostConfig.Binds`` (``":/data:ro"``), the
  ``Source`` of every mount (``""``), the storage driver's directories
  (``GraphDriver.Data``: ``{}``), the container's files on the host (``ResolvConfPath``,
  ``HostnamePath``, ``HostsPath``, ``LogPath``), host device paths, a volume's
  ``Mountpoint`` and its options (``device=/srv/x``).

`REDACTED` lists the endpoints whose answers are rewritten so, and the events stream is
rewritten an event at a time (an exec's command line goes from its action); `CLEAN`
lists those whose answers hold neither (ping, version, info, stats, networks, nodes).
The image list holds neither either, but a tenant's loses the images it may not use
(`foreign_images`), each kept item left as the daemon's bytes. Any other endpoint is
refused to a redacting client (`redactable`): a process listing (``top?ps_args=e``
prints environments), an image's history (its ``ENV`` and ``ARG`` lines), a swarm's
join tokens, logs, exec, archives... cannot be redacted.

Everything else is kept as the daemon sent it, in its order; the JSON is re-encoded
compactly with a trailing newline, as dockerd encodes it. A body that is not the JSON
the endpoint returns raises `RedactionError`: the caller answers 502, never the
unredacted bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

REDACTIONS = ("env", "mounts")  # what a policy may ask for
# Ownership's own: a shared network's inspect loses its members (other tenants'
# containers, their names and addresses) for a tenant.
MEMBERS = "members"
# And a tenant's image list loses the images it may not use (`foreign_images`).
FOREIGN_IMAGES = "foreign_images:"
MAX_REDACTED_BODY = 16 * 1024 * 1024  # a larger answer is refused (502), not passed on
CLEAN = frozenset(
    {
        "system.ping", "system.version", "system.info", "container.stats",
        "container.wait", "network.list", "node.list", "node.inspect",
    }
)  # fmt: skip


class RedactionError(ValueError):
    """The response cannot be redacted safely."""


def redactable(endpoint: str) -> bool:
    """Can a redacting client be given this endpoint's answers?"""
    return endpoint in ENDPOINTS or endpoint in CLEAN


def redact(endpoint: str, body: bytes, what: Iterable[str]) -> bytes:
    """`body` (a 200 answer of `endpoint`, one of `REDACTED`) with `what` removed."""
    fields = frozenset(what)
    rewrite = REDACTED.get(endpoint)
    if rewrite is None:
        raise RedactionError(f"{endpoint} answers are not redacted")
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RedactionError(f"the daemon's answer is not JSON: {exc}") from None
    rewrite(value, fields)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


Rewrite = Callable[[Any, frozenset[str]], None]


def _one(rewrite: Rewrite, what: str) -> Rewrite:
    def check(value: Any, fields: frozenset[str]) -> None:
        if not isinstance(value, dict):
            raise RedactionError(f"{what} answer that is not an object")
        rewrite(value, fields)

    return check


def _each(rewrite: Rewrite, what: str, key: str | None = None) -> Rewrite:
    """A list answer (or the list under `key`), each item rewritten."""

    def check(value: Any, fields: frozenset[str]) -> None:
        items = value.get(key) if key is not None and isinstance(value, dict) else value
        if key is not None and items is None:
            return  # {"Volumes": null}
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise RedactionError(f"{what} answer that is not a list of objects")
        for item in items:
            rewrite(item, fields)

    return check


def _container(container: dict[str, Any], fields: frozenset[str]) -> None:
    host_config = _dict(container.get("HostConfig"))
    if "env" in fields:
        _env_names(_dict(container.get("Config")))
        _values(_dict(_dict(host_config.get("LogConfig")).get("Config")))
    if "mounts" in fields:
        if isinstance(host_config.get("Binds"), list):
            host_config["Binds"] = [_bind_without_source(b) for b in host_config["Binds"]]
        _clear_sources(host_config.get("Mounts"))
        _clear_sources(container.get("Mounts"))
        for device in _list(host_config.get("Devices")):
            if isinstance(device, dict) and "PathOnHost" in device:
                device["PathOnHost"] = ""
        for key in ("ResolvConfPath", "HostnamePath", "HostsPath", "LogPath"):
            if key in container:
                container[key] = ""
        _no_graph_driver(container)


def _image(image: dict[str, Any], fields: frozenset[str]) -> None:
    if "env" in fields:
        _env_names(_dict(image.get("Config")))
        made_by = _dict(image.get("ContainerConfig"))  # the build step that made it
        _env_names(made_by)
        if "Cmd" in made_by:  # its Dockerfile line: "#(nop)  ENV TOKEN=..."
            made_by["Cmd"] = []
    if "mounts" in fields:
        _no_graph_driver(image)


def _container_spec(spec: dict[str, Any], fields: frozenset[str]) -> None:
    """A swarm ContainerSpec (a service's task template, a task's spec)."""
    if "env" in fields:
        _env_names(spec)
    if "mounts" in fields:
        _clear_sources(spec.get("Mounts"))


def _task_spec(task_spec: dict[str, Any], fields: frozenset[str]) -> None:
    _container_spec(_dict(task_spec.get("ContainerSpec")), fields)
    if "env" in fields:
        _values(_dict(_dict(task_spec.get("LogDriver")).get("Options")))


def _service(service: dict[str, Any], fields: frozenset[str]) -> None:
    for key in ("Spec", "PreviousSpec"):
        _task_spec(_dict(_dict(service.get(key)).get("TaskTemplate")), fields)


def _task(task: dict[str, Any], fields: frozenset[str]) -> None:
    _task_spec(_dict(task.get("Spec")), fields)


def _volume(volume: dict[str, Any], fields: frozenset[str]) -> None:
    # Options carry both: device= is a host path, o=addr=...,password= a secret.
    _values(_dict(volume.get("Options")))
    if "mounts" in fields and "Mountpoint" in volume:
        volume["Mountpoint"] = ""


def _disk_usage(usage: dict[str, Any], fields: frozenset[str]) -> None:
    _each(_volume, "a df volume", "Volumes")(usage, fields)
    _each(_container, "a df container", "Containers")(usage, fields)


def _network(network: dict[str, Any], fields: frozenset[str]) -> None:
    if MEMBERS in fields and "Containers" in network:
        network["Containers"] = {}


def _env_names(config: dict[str, Any]) -> None:
    if isinstance(config.get("Env"), list):
        config["Env"] = [str(entry).split("=", 1)[0] for entry in config["Env"]]


def _values(options: dict[str, Any]) -> None:
    for key in options:
        options[key] = ""


def _no_graph_driver(value: dict[str, Any]) -> None:
    driver = value.get("GraphDriver")
    if isinstance(driver, dict) and "Data" in driver:
        driver["Data"] = {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _bind_without_source(bind: Any) -> Any:
    """ "src:dst[:mode]" -> ":dst[:mode]"; a bind that is only a destination stays."""
    if not isinstance(bind, str) or ":" not in bind:
        return bind
    return ":" + bind.split(":", 1)[1]


def _clear_sources(mounts: Any) -> None:
    if isinstance(mounts, list):
        for mount in mounts:
            if isinstance(mount, dict) and "Source" in mount:
                mount["Source"] = ""


def redact_event(line: bytes, what: Iterable[str]) -> bytes:
    """One event of the events stream (a JSON object on its own line) with `what`
    removed: under ``env``, an exec's command line, which its action carries
    (``exec_start: sh -c mysql -pSECRET``), leaves the action as ``exec_start``."""
    if not line.strip():
        return line
    try:
        event = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise RedactionError(f"an event is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise RedactionError("an event that is not an object")
    if "env" in frozenset(what):
        for key in ("Action", "status"):  # "status": the same, for old clients
            value = event.get(key)
            if isinstance(value, str) and value.startswith("exec_") and ":" in value:
                event[key] = value.split(":", 1)[0]
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def foreign_images(label: str, owner: str) -> str:
    """The redaction that leaves out of an image list what the tenant `owner` may not use
    (ownership's rule): another owner's images, and untagged ones without an owner (a
    build's stages). Shared images (no owner, a tag or a digest) and its own stay."""
    return f"{FOREIGN_IMAGES}{label}={owner}"


def _image_usable(image: dict[str, Any], fields: frozenset[str]) -> bool:
    owners = [f.removeprefix(FOREIGN_IMAGES) for f in fields if f.startswith(FOREIGN_IMAGES)]
    if not owners:
        return True
    label, _, owner = owners[0].partition("=")
    labels = _dict(image.get("Labels"))
    if label in labels:
        return bool(labels[label] == owner)
    named = [t for t in _list(image.get("RepoTags")) if t != "<none>:<none>"]
    return bool(named or [d for d in _list(image.get("RepoDigests")) if d != "<none>@<none>"])


def _image_list(images: Any, fields: frozenset[str]) -> None:
    if not isinstance(images, list) or not all(isinstance(i, dict) for i in images):
        raise RedactionError("an image list answer that is not a list of objects")
    images[:] = [image for image in images if _image_usable(image, fields)]


def redact_item(endpoint: str, item: bytes, what: Iterable[str]) -> bytes:
    """One item of a list answer of `endpoint` (one of `STREAMED`) with `what` removed:
    a long list is redacted as it streams, an item at a time. An image list's item is
    kept as the daemon's bytes, or left out (b"")."""
    try:
        value = json.loads(item)
    except (ValueError, RecursionError) as exc:
        raise RedactionError(f"an item of the daemon's answer is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RedactionError(f"an item of a {endpoint} answer that is not an object")
    if endpoint == "image.list":  # nothing in it to redact: only whose it is
        return item if _image_usable(value, frozenset(what)) else b""
    STREAMED[endpoint](value, frozenset(what))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


REDACTED: dict[str, Rewrite] = {
    "container.inspect": _one(_container, "a container inspect"),
    "container.list": _each(_container, "a container list"),
    "image.inspect": _one(_image, "an image inspect"),
    "service.inspect": _one(_service, "a service inspect"),
    "service.list": _each(_service, "a service list"),
    "task.inspect": _one(_task, "a task inspect"),
    "task.list": _each(_task, "a task list"),
    "volume.inspect": _one(_volume, "a volume inspect"),
    "volume.list": _each(_volume, "a volume list", "Volumes"),
    "system.df": _one(_disk_usage, "a disk usage"),
    "network.inspect": _one(_network, "a network inspect"),
    "image.list": _image_list,
}
EVENTS = "system.events"  # a stream, redacted an event (a line) at a time
ENDPOINTS = frozenset(REDACTED) | {EVENTS}
# List answers redacted an item at a time (`redact_item`), whatever their length.
STREAMED: dict[str, Rewrite] = {
    "container.list": _container,
    "service.list": _service,
    "task.list": _task,
    "image.list": lambda image, fields: None,  # items are filtered: `redact_item`
}
