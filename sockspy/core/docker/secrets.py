"""What never reaches an audit record: the mask list, in one place.

sockspy's records hold a request's method, target and the `summary` of a create, never
its headers and never a raw body. What in those could be a secret is masked here, before
any record is built (the README's "Secrets" section repeats this list):

* environment variables (container create, exec create, service create): names only;
* the same in a unix peer's command line (`docker run -e TOKEN=...`, `--env=`,
  `--build-arg`, `docker login -p`): the value replaced by `***` in `peer_cmdline`;
* build arguments (`/build?buildargs=...`, often tokens): names in the summary, the
  value masked in the recorded target;
* volume driver options (`--opt o=...,password=...` of a cifs volume): names only in the
  summary; in a record's `decision_input` (what a replay decides on) every
  ``password=`` is masked, and environment values are, as everywhere;
* `X-Registry-Auth` and `X-Registry-Config` (registry credentials, base64 JSON), like
  every header: never recorded;
* swarm join tokens and unlock keys (`/swarm/join`, `/swarm/unlock` bodies), login
  passwords (`/auth`), secret and config data (`/secrets/create`, `/configs/create`),
  like every body: never recorded.
"""

from __future__ import annotations

import re
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


# Flags whose value is NAME=VALUE with a secret VALUE (docker run/exec/create/build...).
_VALUE_FLAGS = frozenset({"-e", "--env", "--build-arg", "--secret"})
_PASSWORD_FLAGS = frozenset({"-p", "--password"})  # docker login only


def mask_cmdline(args: tuple[str, ...]) -> tuple[str, ...]:
    """A command line as recorded: values of `-e NAME=value` and the like replaced."""
    out = list(args)
    login = "login" in args
    secret_next = False  # the previous argument was a flag whose value is a secret
    password_next = False
    for index, arg in enumerate(args):
        if secret_next:
            out[index] = _mask_assignment(arg)
        elif password_next:
            out[index] = MASK
        secret_next = password_next = False
        if arg in _VALUE_FLAGS or _short_cluster_ending_in_e(arg):
            secret_next = True
        elif login and arg in _PASSWORD_FLAGS:
            password_next = True
        elif arg.startswith("--") and "=" in arg:
            flag, _, value = arg.partition("=")
            if flag in _VALUE_FLAGS:
                out[index] = f"{flag}={_mask_assignment(value)}"
            elif login and flag == "--password":
                out[index] = f"{flag}={MASK}"
        elif arg.startswith("-e") and len(arg) > 2 and not arg.startswith("--"):
            out[index] = f"-e{_mask_assignment(arg[2:])}"
    return tuple(out)


def _mask_assignment(value: str) -> str:
    name, equals, _ = value.partition("=")
    return f"{name}={MASK}" if equals else value


def _short_cluster_ending_in_e(arg: str) -> bool:
    """`-ite`: boolean shorthands, then -e, whose value is the next argument."""
    return (
        len(arg) > 2 and arg[0] == "-" and arg[1] != "-" and arg.endswith("e") and arg[1:].isalpha()
    )


_PASSWORD = re.compile(r"(password=)[^,]*", re.IGNORECASE)


def masked_decoded(value: Any) -> Any:
    """A decoded body or an inspect answer, as a record keeps it for replay: every "Env"
    list by name (NAME=***) and every password= option masked; the rest as it was."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "Env" and isinstance(item, list):
                out[key] = [_mask_assignment(str(e)) if e is not None else None for e in item]
            elif isinstance(item, str):
                out[key] = _PASSWORD.sub(rf"\g<1>{MASK}", item)
            else:
                out[key] = masked_decoded(item)
        return out
    if isinstance(value, list):
        return [masked_decoded(item) for item in value]
    return value
