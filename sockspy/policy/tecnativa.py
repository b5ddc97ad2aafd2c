"""Tecnativa docker-socket-proxy compatibility: its environment variables as a `Policy`.

docker-socket-proxy (HAProxy) grants API *sections* by environment variable, ``0`` or
``1``: ``CONTAINERS=1`` allows every path that starts with ``/containers`` (after an
optional ``/vX.Y``), ``POST=0`` allows only GET and HEAD. Its haproxy.cfg, in order:

1. deny unless the method is GET/HEAD or ``POST=1``;
2. allow ``/containers/{id}/(stop|restart|kill)`` if ``ALLOW_RESTARTS=1``,
   ``.../start`` if ``ALLOW_START=1``, ``.../stop`` if ``ALLOW_STOP=1``;
3. allow each section whose variable is 1 (``EVENTS``, ``PING`` and ``VERSION`` default
   to 1, the rest to 0);
4. deny.

sockspy maps each section to the endpoints dockerd routes under that first path segment
(derived from the route table, so ``/containers/{id}/exec`` is CONTAINERS and
``/exec/{id}/start`` is EXEC, exactly as the prefixes fall), with these differences:

* ``ALLOW_START``, ``ALLOW_STOP`` and ``ALLOW_RESTARTS`` work without ``POST=1`` (in
  docker-socket-proxy step 1 denies them first, so they need ``POST=1``, which then opens
  every section's POST too).
* ``docker cp`` (``/containers/{id}/archive``) and ``docker export`` need
  ``ALLOW_ARCHIVE=1`` / ``ALLOW_EXPORT=1`` besides ``CONTAINERS=1``: they read and write
  container files, and host files through its binds. The names are those of
  docker-socket-proxy's newer template and of linuxserver/socket-proxy.
* Requests dockerd does not route (``OPTIONS`` on any path, ``/debug/*``) are denied;
  the prefix match would let ``OPTIONS /containers/x`` through with ``POST=1``.
* The canonical checks of every policy apply (API version floor 1.24, form bodies...).

Variables that only docker-socket-proxy's newer template knows (``ALLOW_EXEC``,
``ALLOW_KILL``, ``DELETE``, ...) change the meaning of the classic ones; they are
refused rather than ignored: write a policy file instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from sockspy.core.docker.routes import ROUTES
from sockspy.policy.load import PolicyError, Problem
from sockspy.policy.model import Policy, Rule

SOURCE = "environment"


def _sections() -> dict[str, tuple[str, ...]]:
    """Section variable -> endpoint names, from each route's first path segment."""
    sections: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for route in ROUTES:
        segment = route.pattern.split("/")[1]
        variable = "PING" if segment == "_ping" else segment.upper()
        if owner.setdefault(route.endpoint, variable) != variable:
            raise AssertionError(f"{route.endpoint} spans two sections")
        names = sections.setdefault(variable, [])
        if route.endpoint not in names:
            names.append(route.endpoint)
    return {variable: tuple(names) for variable, names in sorted(sections.items())}


SECTIONS: Mapping[str, tuple[str, ...]] = _sections()
SECTION_DEFAULTS: Mapping[str, bool] = {
    variable: variable in ("EVENTS", "PING", "VERSION") for variable in SECTIONS
}
ACTIONS: Mapping[str, tuple[str, ...]] = {
    "ALLOW_START": ("container.start",),
    "ALLOW_STOP": ("container.stop",),
    "ALLOW_RESTARTS": ("container.stop", "container.restart", "container.kill"),
}
GUARDS: Mapping[str, tuple[str, ...]] = {
    "ALLOW_ARCHIVE": ("container.archive_get", "container.archive_head", "container.archive_put"),
    "ALLOW_EXPORT": ("container.export",),
}
VARIABLES: tuple[str, ...] = (*SECTIONS, "POST", *ACTIONS, *GUARDS)
# docker-socket-proxy's newer template: these change what the classic variables mean.
UNSUPPORTED: tuple[str, ...] = (
    "ALLOW_EXEC",
    "ALLOW_KILL",
    "ALLOW_ATTACH",
    "ALLOW_LOGS",
    "ALLOW_PAUSE",
    "ALLOW_UNPAUSE",
    "ALLOW_DELETE",
    "DELETE",
    "PUT",
    "PATCH",
)
WRITE_METHODS = ("POST", "PUT", "DELETE", "OPTIONS", "PATCH")


def policy_from_env(env: Mapping[str, str]) -> Policy | None:
    """The policy docker-socket-proxy's variables in `env` describe; None if none is set.

    Raises PolicyError for a value other than "0"/"1" or an unsupported variable.
    """
    if not any(name in env for name in (*VARIABLES, *UNSUPPORTED)):
        return None
    problems: list[Problem] = []
    for name in UNSUPPORTED:
        if name in env:
            problems.append(
                Problem(
                    SOURCE,
                    0,
                    f"{name} (from docker-socket-proxy's newer template) is not supported: "
                    "write a policy file",
                )
            )
    flags: dict[str, bool] = {}
    for name in VARIABLES:
        default = SECTION_DEFAULTS.get(name, False)
        value = env.get(name)
        if value is None:
            flags[name] = default
        elif value.strip() in ("0", "1"):
            flags[name] = value.strip() == "1"
        else:
            problems.append(Problem(SOURCE, 0, f"{name}={value!r}: use 0 or 1"))
            flags[name] = default
    if problems:
        raise PolicyError(problems)
    return Policy(rules=rules_for(flags), source=SOURCE)


def rules_for(flags: Mapping[str, bool]) -> tuple[Rule, ...]:
    """The rules, in order, for a complete set of variable values."""
    rules: list[Rule] = []
    for variable, endpoints in GUARDS.items():
        if not flags[variable]:
            what = variable.removeprefix("ALLOW_").lower()
            rules.append(
                Rule(
                    name=f"tecnativa-{what}",
                    action="deny",
                    message=f"container {what} needs {variable}=1",
                    endpoints=endpoints,
                )
            )
    for variable, endpoints in ACTIONS.items():
        if flags[variable]:
            name = f"tecnativa-{variable.lower().replace('_', '-')}"
            rules.append(Rule(name=name, action="allow", endpoints=endpoints))
    if not flags["POST"]:
        rules.append(
            Rule(
                name="tecnativa-post",
                action="deny",
                message="POST=0: only GET and HEAD requests are allowed",
                methods=WRITE_METHODS,
            )
        )
    for variable, endpoints in SECTIONS.items():
        if flags[variable]:
            rules.append(
                Rule(name=f"tecnativa-{variable.lower()}", action="allow", endpoints=endpoints)
            )
    return tuple(rules)
