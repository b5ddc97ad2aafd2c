"""Which request bodies sockspy reads, and the dockerd struct each one is decoded into.

A body is read only where a host-access check needs its content. It is decoded exactly
as dockerd decodes it (`gojson` over the structs in `schemas`); anything Go would read
otherwise raises `BodyDecodeError`, and the request is refused.

container.start takes a body only below API 1.24 (a HostConfig that re-configures the
container); a non-empty body on start is read like a create body. A build's body is its
context (a tar): it decodes to what its Dockerfile reads (`build_body`). Not
plugin.create (a tar: deny it by policy).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sockspy.core.docker import schemas
from sockspy.core.docker.buildcontext import DEFAULT_DOCKERFILE, BuildContextError, dockerfile_of
from sockspy.core.docker.buildplan import BuildPlanError, as_record, plan
from sockspy.core.docker.gojson import BodyDecodeError, GoType, Struct, decode_into, decode_value

BODY_SCHEMAS: Mapping[str, GoType] = MappingProxyType(
    {
        "container.create": schemas.CONTAINER_CREATE,
        "container.start": schemas.CONTAINER_CREATE,  # runconfig.decodeHostConfig: the same
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
        # Read by ownership (the name and labels of a network, the container and network
        # an endpoint names): decoded here too, so that their records keep them for replay.
        "network.create": schemas.NETWORK_CREATE,
        "network.connect": schemas.NETWORK_CONNECT,
        "network.disconnect": schemas.NETWORK_CONNECT,
    }
)
BODY_ENDPOINTS = frozenset(BODY_SCHEMAS) | {"image.build"}
# A compressed context may expand this many times its size (at least 64 MiB, at most
# 1 GiB) before it is refused: what is read is bounded by what was sent.
EXPANSION = 16
MIN_EXPANDED, MAX_EXPANDED = 64 << 20, 1 << 30


def decode_body(endpoint: str, body: bytes, query: Mapping[str, str] | None = None) -> Any:
    """`body` as dockerd's struct for `endpoint` holds it. Raises BodyDecodeError.

    A Struct decodes to a dict; a JSON array body that is null or empty to []; a build's
    context to `build_body`'s record of what its Dockerfile reads (`query`: the
    request's first value of each parameter).
    """
    if endpoint == "image.build":
        return build_body(body, query or {})
    schema = BODY_SCHEMAS[endpoint]
    if isinstance(schema, Struct):
        return decode_into(body, schema)
    decoded = decode_value(body, schema)
    return decoded if decoded is not None else []


def build_body(context: bytes, query: Mapping[str, str]) -> dict[str, Any]:
    """What a classic build reads (`sockspy.core.docker.buildplan.as_record`): the
    images and URLs of the Dockerfile dockerd finds in `context`."""
    limit = min(MAX_EXPANDED, max(MIN_EXPANDED, EXPANSION * len(context)))
    dockerfile = query.get("dockerfile") or DEFAULT_DOCKERFILE
    try:
        text = dockerfile_of(context, dockerfile, limit)
        return as_record(dockerfile, plan(text, query))
    except (BuildContextError, BuildPlanError) as exc:
        raise BodyDecodeError(f"build: {exc}") from None
