"""Redacting container inspect and list responses: secrets a profile should not see.

Traefik and Homepage read a container's labels, names and networks; neither needs its
environment (where passwords and tokens live) nor where its mounts come from on the
host. A profile with `redact` gets those removed from the daemon's answer:

* ``env``: each ``Config.Env`` entry keeps its name and loses its value (``"DB_PASSWORD"``
  for ``"DB_PASSWORD=hunter2"``);
* ``mounts``: the host side of ``HostConfig.Binds`` entries (``":/data:ro"``), and the
  ``Source`` of ``HostConfig.Mounts`` and of the ``Mounts`` list (``""``).

Everything else is kept as the daemon sent it, in its order; the JSON is re-encoded
compactly with a trailing newline, as dockerd encodes it. A body that is not the JSON
the endpoint returns raises `RedactionError`: the caller answers 502, never the
unredacted bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

REDACTIONS = ("env", "mounts")
ENDPOINTS = frozenset({"container.inspect", "container.list"})
MAX_REDACTED_BODY = 16 * 1024 * 1024  # a larger answer is refused (502), not passed on


class RedactionError(ValueError):
    """The response cannot be redacted safely."""


def redact(endpoint: str, body: bytes, what: Iterable[str]) -> bytes:
    """`body` (a 200 answer of `endpoint`) with `what` removed."""
    fields = frozenset(what)
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RedactionError(f"the daemon's answer is not JSON: {exc}") from None
    if endpoint == "container.inspect":
        if not isinstance(value, dict):
            raise RedactionError("a container inspect answer that is not an object")
        _container(value, fields)
    elif endpoint == "container.list":
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise RedactionError("a container list answer that is not a list of objects")
        for item in value:
            _container(item, fields)
    else:
        raise RedactionError(f"{endpoint} answers are not redacted")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def _container(container: dict[str, Any], fields: frozenset[str]) -> None:
    if "env" in fields:
        config = container.get("Config")
        if isinstance(config, dict) and isinstance(config.get("Env"), list):
            config["Env"] = [str(entry).split("=", 1)[0] for entry in config["Env"]]
    if "mounts" in fields:
        host_config = container.get("HostConfig")
        if isinstance(host_config, dict):
            if isinstance(host_config.get("Binds"), list):
                host_config["Binds"] = [_bind_without_source(b) for b in host_config["Binds"]]
            _clear_sources(host_config.get("Mounts"))
        _clear_sources(container.get("Mounts"))


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
