"""The objects a request names: in its path, its query, and inside its body.

Ownership (`sockspy.policy.ownership`) lets a tenant touch only its own objects, so it
must find every name dockerd will resolve for a request, wherever the request puts it.
Besides the path (``/containers/{name}/...``, ``/exec/{id}/...``, ``/volumes/{name}``,
``/networks/{id}``, ``/images/{name}/...``) these are:

* the query: ``POST /commit?container=``, ``GET /images/get?names=`` (each one), a
  build's ``networkmode`` (``container:<name>``, or a network) and ``cachefrom`` images;
* a build's context: the images its Dockerfile takes files from (``FROM``, ``COPY
  --from``; `sockspy.core.docker.buildplan`);
* what a save or push takes: a name without a tag there is every tag of that repository
  (`every_tag`), and a push's ``tag`` query completes the name in its path;
* a create (or an old start) body, in both of its HostConfigs: ``VolumesFrom``
  (``name[:ro|rw]``), ``Links`` (``name:alias``), ``NetworkMode``, ``PidMode`` and
  ``IpcMode`` of the form ``container:<name>``, a user network in ``NetworkMode``, named
  volumes in ``Binds`` and in volume ``Mounts``, the image of an image ``Mount`` (API
  1.48: its files mounted into the container); and ``NetworkingConfig``: each network
  it joins, and the containers its endpoints link to; the ``Image``;
* network connect and disconnect bodies: their ``Container``;
* an endpoint's ``NetworkID`` (in a create's ``NetworkingConfig`` and a connect's
  ``EndpointConfig``): dockerd joins the network it names, not the one the key or the
  path names, whenever that one is user-defined.

Raises `BodyDecodeError` for a body dockerd would read otherwise than sockspy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from sockspy.core.docker import buildplan, objects, schemas
from sockspy.core.docker.gojson import Array, BodyDecodeError, String, decode_into, decode_value
from sockspy.core.docker.request import Request
from sockspy.policy.hostaccess import volumes_from
from sockspy.policy.hostconfig import named_volumes

Kind = Literal["container", "exec", "volume", "network", "image"]

# Network modes that name no network object of a tenant (the daemon's own, or none).
BUILTIN_NETWORK_MODES = frozenset({"", "default", "bridge", "host", "none"})


@dataclass(frozen=True, slots=True)
class Reference:
    kind: Kind
    name: str
    where: str  # for messages and the audit: "path", "HostConfig.VolumesFrom"
    every_tag: bool = False  # an image name that, without a tag, takes its whole repository


def references(request: Request) -> list[Reference]:
    """Every object `request` names, path first, then query, then body."""
    found = list(_path(request))
    if request.endpoint in ("image.get", "image.push"):
        found = [_whole(ref, request) for ref in found]
    if request.endpoint == "image.build":
        found += _build_references(request)
    if request.endpoint == "image.commit":
        container = request.query_get("container")
        if container:
            found.append(Reference("container", container, "query container"))
    elif request.endpoint == "image.save":
        found += [
            Reference("image", value, "query names", every_tag=True)
            for key, value in request.query
            if key == "names" and value
        ]
    if request.endpoint == "container.create" or (
        request.endpoint == "container.start" and request.body
    ):
        found += create_references(request.decoded_body(), request.endpoint)
    elif request.endpoint in ("network.connect", "network.disconnect") and request.body:
        body = decode_into(request.body, schemas.NETWORK_CONNECT)
        if body.get("Container"):
            found.append(Reference("container", str(body["Container"]), "Container"))
        found += _endpoint_references(body.get("EndpointConfig") or {}, "EndpointConfig")
    return [ref for ref in found if ref.name]


def _endpoint_references(settings: Mapping[str, Any], where: str) -> list[Reference]:
    """The containers an endpoint links to, and the network its `NetworkID` names."""
    found = [
        Reference("container", _link_name(str(link or "")), f"{where}.Links[{i}]")
        for i, link in enumerate(settings.get("Links") or [])
    ]
    if settings.get("NetworkID"):
        found.append(Reference("network", str(settings["NetworkID"]), f"{where}.NetworkID"))
    return found


def _whole(ref: Reference, request: Request) -> Reference:
    """The image a save or push of the path's name takes (a push's ``tag`` completes it:
    ``sha256:...`` as a digest, anything else as a tag)."""
    tag = request.query_get("tag") if request.endpoint == "image.push" else None
    if tag:
        name = f"{ref.name}@{tag}" if tag.startswith("sha256:") else f"{ref.name}:{tag}"
        return Reference("image", name, "path and query tag")
    return Reference("image", ref.name, ref.where, every_tag=True)


def _build_references(request: Request) -> list[Reference]:
    """A build's RUN steps in another container's network (``networkmode=container:x``)
    or in a user-defined network (``networkmode=<network>``),
    the images it takes its cache from (``cachefrom``, a JSON list), and, when its context
    was read, the images its Dockerfile takes files from (FROM, COPY --from)."""
    found = []
    if request.body is not None:
        found += [
            Reference("image", read.name, f"Dockerfile line {read.line} {read.how}")
            for read in buildplan.images_of(request.decoded_body())
        ]
    mode = request.query_get("networkmode") or ""
    if mode.startswith("container:"):
        found.append(Reference("container", mode.partition(":")[2], "query networkmode"))
    elif mode not in BUILTIN_NETWORK_MODES:  # RUN steps join that network (checked on 20.10)
        found.append(Reference("network", mode, "query networkmode"))
    cache = request.query_get("cachefrom")
    if cache:  # json.Unmarshal into []string: null is an empty list (compose 2.26 sends it)
        try:
            images = decode_value(cache.encode("utf-8", "surrogateescape"), Array(String()))
        except BodyDecodeError as exc:
            raise BodyDecodeError(f"query cachefrom: {exc}") from None
        found += [Reference("image", image, "query cachefrom") for image in images or [] if image]
    return found


def _path(request: Request) -> Iterator[Reference]:
    """The object the path names, as the audit's `object` reads it (a checkpoint's is its
    container)."""
    if request.endpoint.startswith("checkpoint."):
        yield Reference("container", dict(request.params).get("name", ""), "path")
        return
    touched = objects.touched(request)
    if touched is not None:
        kind, name = touched
        yield Reference(cast(Kind, kind), name, "path")


def create_references(body: Mapping[str, Any], endpoint: str) -> list[Reference]:
    """What a decoded create (or old start) body names."""
    found: list[Reference] = []
    if endpoint == "container.create" and body.get("Image"):
        found.append(Reference("image", str(body["Image"]), "Image"))
    for prefix, hc in schemas.host_configs(dict(body)):
        found += _host_config_references(prefix, hc)
    networking = body.get("NetworkingConfig") or {}
    for network, settings in (networking.get("EndpointsConfig") or {}).items():
        where = f"NetworkingConfig.EndpointsConfig[{network!r}]"
        if network not in BUILTIN_NETWORK_MODES:
            found.append(Reference("network", network, where))
        found += _endpoint_references(settings or {}, where)
    return [ref for ref in found if ref.name]


def _host_config_references(prefix: str, hc: Mapping[str, Any]) -> Iterator[Reference]:
    for name in volumes_from(hc):
        yield Reference("container", name, f"{prefix}VolumesFrom")
    for i, link in enumerate(hc.get("Links") or []):
        yield Reference("container", _link_name(str(link or "")), f"{prefix}Links[{i}]")
    for field in ("NetworkMode", "PidMode", "IpcMode"):
        mode = str(hc.get(field) or "")
        kind, _, name = mode.partition(":")
        if kind == "container":
            yield Reference("container", name, f"{prefix}{field}")
        elif field == "NetworkMode" and mode not in BUILTIN_NETWORK_MODES:
            yield Reference("network", mode, f"{prefix}{field}")
    for field, name in named_volumes(dict(hc)):
        yield Reference("volume", name, f"{prefix}{field}")
    for i, mount in enumerate(hc.get("Mounts") or []):  # API 1.48: an image's files, mounted
        if isinstance(mount, Mapping) and mount.get("Type") == "image":
            yield Reference("image", str(mount.get("Source") or ""), f"{prefix}Mounts[{i}]")


def _link_name(link: str) -> str:
    """The container a link names: ``name:alias`` or ``name`` (dockerd strips one "/")."""
    return link.split(":", 1)[0].removeprefix("/")
