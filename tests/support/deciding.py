"""Decision procedures run without a daemon, their look-ups answered from a book.

The core's `Facts` book answers what it holds and says NOT_LOOKED_UP for the rest; these
helpers run the host-access checks with one, and say which look-ups they asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.decision import Finding
from sockspy.core.deciding.gate import Gate
from sockspy.core.deciding.judgement import Answerer, Facts, Judgement, run_offline, settle
from sockspy.core.deciding.lookups import (
    InspectContainer,
    InspectExec,
    InspectImage,
    InspectVolume,
    Lookup,
    ReadDaemonFacts,
)
from sockspy.core.docker.daemon import DaemonFacts
from sockspy.core.docker.request import Request
from sockspy.policy import hostaccess
from sockspy.policy.hostaccess import HostAccessOptions

Objects = Mapping[str, Mapping[str, Any] | None]


def findings(
    request: Request,
    options: HostAccessOptions,
    containers: Objects | None = None,
    daemon: DaemonFacts | None = None,
    volumes: Objects | None = None,
    images: Objects | None = None,
    execs: Objects | None = None,
) -> list[Finding]:
    """hostaccess.findings with the look-ups answered from these objects (a name not
    given was not looked up); with no `images` at all, every image is a plain one."""
    book = Facts(containers or {}, daemon, volumes or {}, images or {}, execs or {})
    answers: Answerer = PlainImages(book) if images is None else book
    return run_offline(hostaccess.findings(request, options), answers)


class PlainImages:
    """`book`'s answers, and every image it does not name one without a WORKDIR."""

    def __init__(self, book: Facts) -> None:
        self.book = book

    def answer(self, lookup: Lookup) -> Any:
        if isinstance(lookup, InspectImage):
            return self.book.images.get(lookup.name, {"Config": {}})
        return self.book.answer(lookup)


class Recorder:
    """A book that remembers every look-up it answered."""

    def __init__(self, book: Answerer) -> None:
        self.book = book
        self.asked: list[Lookup] = []

    def answer(self, lookup: Lookup) -> Any:
        self.asked.append(lookup)
        return self.book.answer(lookup)


def asked(
    request: Request, options: HostAccessOptions, containers: Objects | None = None
) -> list[Lookup]:
    """The look-ups the checks ask for, with these containers known, in order."""
    recorder = Recorder(PlainImages(Facts(containers or {})))
    run_offline(hostaccess.findings(request, options), recorder)
    return list(dict.fromkeys(recorder.asked))


def containers_referenced(request: Request, options: HostAccessOptions) -> tuple[str, ...]:
    return tuple(a.name for a in asked(request, options) if isinstance(a, InspectContainer))


def volumes_referenced(
    request: Request, options: HostAccessOptions, containers: Objects | None = None
) -> tuple[str, ...]:
    looked = asked(request, options, containers)
    return tuple(a.name for a in looked if isinstance(a, InspectVolume))


def daemon_facts_needed(request: Request, options: HostAccessOptions) -> bool:
    return any(isinstance(a, ReadDaemonFacts) for a in asked(request, options))


class EveryContainer:
    """Every container look-up answered with `inspect`; the rest as the empty book does."""

    def __init__(self, inspect: Mapping[str, Any] | None) -> None:
        self.inspect = inspect

    def answer(self, lookup: Lookup) -> Any:
        if isinstance(lookup, InspectContainer):
            return self.inspect
        if isinstance(lookup, InspectExec):  # a plain exec, in a container like the others
            return {"ProcessConfig": {"user": "", "privileged": False}, "ContainerID": "c"}
        return PlainImages(Facts()).answer(lookup)


def asked_by(
    gate: Gate, request: Request, client: Client, book: Facts | None = None
) -> list[Lookup]:
    """The look-ups `gate` asks for on its way to deciding `request` (answered from `book`)."""
    judgement = Judgement(gate, request, client)
    settle(judgement, book or Facts())
    return judgement.asked
