"""Which Docker object a request made, and which one it touches.

A create's response names what it made: ``{"Id": ...}`` for a container, an exec or a
network, ``{"Name": ...}`` for a volume, ``{"ID": ...}`` for a service, and a build's
JSON message stream an ``{"aux": {"ID": "sha256:..."}}`` line. A later request names an
object in its path (``/containers/{name}/...``, ``/exec/{id}/start``, ``/volumes/{name}``),
by id, by name, or (containers, images, networks) by an id prefix. `sockspy.core.proxy.
lineage` joins the two, so a record can say who made the object it touches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sockspy.core.docker.request import Request


@dataclass(frozen=True, slots=True)
class ObjectRef:
    kind: str  # container, exec, volume, network, service, image
    id: str
    name: str | None = None
    parent: str | None = None  # an exec's container, as its create named it


# What each creating endpoint makes, and its success status.
_MAKES = {
    "container.create": ("container", 201, "Id"),
    "exec.create": ("exec", 201, "Id"),
    "volume.create": ("volume", 201, "Name"),
    "network.create": ("network", 201, "Id"),
    "service.create": ("service", 201, "ID"),
    "image.build": ("image", 200, None),
}
CREATING = frozenset(_MAKES)
RESPONSE_CAP = 64 * 1024  # bytes of a create's response kept to read its id


def created(
    request: Request, status: int | None, body: bytes, name: str | None
) -> ObjectRef | None:
    """What a successful create made, from the (de-chunked) response body; `name` is the
    one its request gave (the summary's), if any."""
    made = _MAKES.get(request.endpoint)
    if made is None or status != made[1]:
        return None
    kind, _, key = made
    if key is None:
        object_id = _built_image(body)
    else:
        try:
            answer = json.loads(body)
        except ValueError:
            return None
        object_id = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(object_id, str) or not object_id:
        return None
    parent = dict(request.params).get("name") if kind == "exec" else None
    return ObjectRef(kind, object_id, _plain_name(name), parent)


def _built_image(stream: bytes) -> str | None:
    """The image id in a build's message stream: its last {"aux": {"ID": ...}} line."""
    found = None
    for line in stream.splitlines():
        if b'"aux"' not in line:
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        aux = message.get("aux") if isinstance(message, dict) else None
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            found = aux["ID"]
    return found


# The families of endpoints whose path variable names one object of that kind.
_KINDS = frozenset({"container", "exec", "volume", "network", "service", "image"})
_NOT_ONE_OBJECT = frozenset(
    {
        "container.list", "container.create", "container.prune", "image.list",
        "image.search", "image.save", "image.load", "image.create", "image.prune",
        "volume.list", "volume.create", "volume.prune", "network.list", "network.create",
        "network.prune", "service.list", "service.create",
    }
)  # fmt: skip


def touched(request: Request) -> tuple[str, str] | None:
    """(kind, id or name) of the one object the request's path names, or None."""
    endpoint = request.endpoint
    if endpoint in _NOT_ONE_OBJECT:
        return None
    kind = endpoint.partition(".")[0]
    if kind not in _KINDS:
        return None
    params = dict(request.params)
    ref = params.get("name") or params.get("id")
    if not ref:
        return None
    if endpoint == "exec.create":
        return ("container", _plain_name(ref) or ref)
    return (kind, _plain_name(ref) or ref)


def _plain_name(name: str | None) -> str | None:
    """dockerd keeps container names with a leading "/"; clients send them either way."""
    if name is None:
        return None
    return name[1:] if name.startswith("/") else name
