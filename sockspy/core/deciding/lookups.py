"""The daemon facts a decision may ask for, and the type of a procedure that asks.

A decision that depends on the daemon's state (an existing container's HostConfig, a
named volume's options, the daemon's own defaults) is written as a generator: it
*yields* a `Lookup` and is *sent* the answer, as mitmproxy's layers yield commands. It
never does I/O itself, so the same procedure runs in `serve` (the I/O layer answers from
the daemon) and in `explain` (an offline answer book), and is tested without a daemon.

Answers:

* `InspectContainer` -> the daemon's ``GET /containers/{name}/json`` object, or None
  when it has no such container (the daemon will refuse the request itself);
* `InspectVolume` -> ``GET /volumes/{name}``, or None when there is no such volume
  (dockerd will create a plain one);
* `InspectImage` -> ``GET /images/{name}/json``, or None when there is no such image
  (the daemon refuses the create; the CLI pulls and asks again);
* `InspectExec` -> ``GET /exec/{id}/json``, or None when there is no such exec;
* `InspectNow` -> any of those, or ``GET /networks/{name}``, as the daemon resolves the
  name at this moment: never from a cache. Ownership asks this way: a name can change
  its meaning (a rename, a new container) and the check must not read an old one;
* `ContainersWithIdPrefix` -> the daemon's list of the containers whose id begins with
  `prefix`, or that are named it (``GET /containers/json?all=1`` filtered by id and by
  name), each with its ``Id``, ``Names`` and ``Labels``: everything a name made of hex
  digits may resolve to;
* `ImagesOfRepository` -> the daemon's list of the images with a tag in `repository`
  (familiar form: ``app``, ``team/app``, ``localhost:5000/app``), each with its ``Id``,
  ``RepoTags`` and ``Labels``; what a save or push of a name without a tag takes;
* `ReadDaemonFacts` -> `DaemonFacts`, or None when unknown (the checks that read them
  then take their strict form).

`NOT_LOOKED_UP` answers a container, volume, image or exec that was not looked up (explain does not
ask the daemon): the checks report it as a finding of its own and so fail closed. A
look-up that fails in `serve` is not answered at all: the request is denied with 502
(`sockspy.core.deciding.judgement`).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class InspectContainer:
    name: str  # a name or id, as the request gave it


@dataclass(frozen=True, slots=True)
class InspectVolume:
    name: str


@dataclass(frozen=True, slots=True)
class InspectImage:
    name: str  # as a create names it: "busybox", "registry:5000/team/app:1.2", an id


@dataclass(frozen=True, slots=True)
class InspectExec:
    id: str


@dataclass(frozen=True, slots=True)
class InspectNow:
    kind: str  # "container", "exec", "volume", "network" or "image"
    name: str


@dataclass(frozen=True, slots=True)
class ContainersWithIdPrefix:
    prefix: str  # lower-case hex


@dataclass(frozen=True, slots=True)
class ImagesOfRepository:
    repository: str  # familiar form (`sockspy.core.docker.imageref`)


@dataclass(frozen=True, slots=True)
class ReadDaemonFacts:
    pass


Lookup = (
    InspectContainer
    | InspectVolume
    | InspectImage
    | InspectExec
    | InspectNow
    | ContainersWithIdPrefix
    | ImagesOfRepository
    | ReadDaemonFacts
)

# A decision procedure: yields look-ups, is sent their answers, returns its result.
Procedure = Generator[Lookup, Any, T]


class NotLookedUp:
    """The answer for a container or volume nobody looked up (fail closed)."""

    def __repr__(self) -> str:
        return "NOT_LOOKED_UP"


NOT_LOOKED_UP: Final = NotLookedUp()


class LookupFailed(Exception):
    """The daemon gave no usable answer to a look-up: the gate must not guess."""
