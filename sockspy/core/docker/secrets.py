"""What never reaches an audit record: the mask list, in one place.

sockspy's records hold a request's method, target and the `summary` of a create, never
its headers and never a raw body. What in those could be a secret is masked here, before
any record is built (the README's "Secrets" section repeats this list):

* environment variables (container create, exec create, service create): names only;
* build arguments (`/build?buildargs=...`, often tokens): names in the summary, the
  value masked in the recorded target;
* volume driver options (`--opt o=...,password=...` of a cifs volume): names only;
* `X-Registry-Auth` and `X-Registry-Config` (registry credentials, base64 JSON), like
  every header: never recorded;
* swarm join tokens and unlock keys (`/swarm/join`, `/swarm/unlock` bodies), login
  passwords (`/auth`), secret and config data (`/secrets/create`, `/configs/create`),
  like every body: never recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

MASK = "***"
# Query parameters whose value is masked in the recorded target.
MASKED_PARAMETERS = frozenset({"buildargs"})
# Request headers that hold credentials (documentation: no header is ever recorded).
CREDENTIAL_HEADERS = frozenset({"x-registry-auth", "x-registry-config", "authorization"})


def env_names(env: Any) -> list[str]:
    """["NAME=value", "FLAG"] -> ["NAME", "FLAG"]: the names, never the values."""
    if not isinstance(env, list):
        return []
    return [str(item).partition("=")[0] for item in env if item is not None]


def names_only(options: Any) -> list[str]:
    """A map of options, by name (sorted): the values may be credentials."""
    return sorted(str(key) for key in options) if isinstance(options, Mapping) else []


def mask_target(target: str | None) -> str | None:
    """The request target as recorded: the value of each masked parameter replaced."""
    if target is None or "?" not in target:
        return target
    path, _, query = target.partition("?")
    parts = query.split("&")
    changed = False
    for index, part in enumerate(parts):
        key, equals, _ = part.partition("=")
        if equals and unquote_plus(key) in MASKED_PARAMETERS:
            parts[index] = f"{key}={MASK}"
            changed = True
    return f"{path}?{'&'.join(parts)}" if changed else target
