"""What the daemon says about itself, as far as the policy's defaults depend on it.

Two host-access checks compare a request with what dockerd would fill in by itself: the
MaskedPaths it adds by default (a list that grew over the releases) and the cgroup
namespace it gives a container that asks for none ("host" on cgroup v1). sockspy learns
both from the daemon's own ``GET /version`` and ``GET /info`` answers; this module turns
those answers into a value, without any I/O. Anything it cannot read stays unknown, and
the checks then apply their strict form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# dockerd names its own component "Engine" in GET /version (Podman's compatible API says
# "Podman Engine"): the release tables sockspy knows are moby's, and only moby's.
MOBY_ENGINE = "Engine"
# "20.10.24", "20.10.24+dfsg1" (Debian), "28.0.2-rc.1", "24.0.7-0ubuntu2~22.04.1".
_RELEASE = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)(?:[-+~.]|$)")
# Year-based moby versions started with 17.03; an older scheme cannot be one of moby's.
_FIRST_YEAR_RELEASE = 17


@dataclass(frozen=True, slots=True)
class DaemonFacts:
    """The daemon's answers that decide its defaults; "" or None where it said nothing."""

    engine: str = ""  # GET /version: the Name of the engine component ("Engine": dockerd)
    version: str = ""  # GET /version: Version, e.g. "20.10.24+dfsg1"
    api_version: str = ""  # GET /version: ApiVersion, e.g. "1.41"
    cgroup_version: str = ""  # GET /info: CgroupVersion, "1" or "2"
    # GET /info: SecurityOptions ("name=seccomp,profile=default", "name=cgroupns"...);
    # None when the answer had no such field.
    security_options: tuple[str, ...] | None = None
    default_runtime: str = ""  # GET /info: DefaultRuntime, e.g. "runc"

    @property
    def moby_release(self) -> tuple[int, int, int] | None:
        """(major, minor, patch) of a moby daemon, or None (not moby, or not a release)."""
        if self.engine != MOBY_ENGINE:
            return None
        match = _RELEASE.match(self.version)
        if match is None:
            return None
        major, minor, patch = (int(part) for part in match.groups())
        if major < _FIRST_YEAR_RELEASE:
            return None
        return major, minor, patch


def read_daemon_facts(version: Mapping[str, Any], info: Mapping[str, Any]) -> DaemonFacts:
    """DaemonFacts from the JSON objects of ``GET /version`` and ``GET /info``."""
    engine = ""
    for component in version.get("Components") or []:
        name = component.get("Name") if isinstance(component, Mapping) else None
        if isinstance(name, str) and name.endswith(MOBY_ENGINE):
            engine = name
            break
    options: tuple[str, ...] | None = None
    if "SecurityOptions" in info:
        raw = info["SecurityOptions"]
        if raw is None:  # Go encodes an empty (nil) slice as null
            options = ()
        elif isinstance(raw, list):
            options = tuple(str(option) for option in raw)
    return DaemonFacts(
        engine=engine,
        version=_text(version.get("Version")),
        api_version=_text(version.get("ApiVersion")),
        cgroup_version=_text(info.get("CgroupVersion")),
        security_options=options,
        default_runtime=_text(info.get("DefaultRuntime")),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
