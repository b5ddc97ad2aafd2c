"""Driving a gate's decision procedure: `Judgement`, and the offline answer book `Facts`.

`Judgement` is one request being decided by one gate. Whoever holds it answers the
look-ups it asks for, one at a time, until it returns a `Decision`:

    step = judgement.start()
    while not isinstance(step, Decision):
        step = judgement.answer(<the answer to the look-up `step`>)   # or .failed(reason)

`serve` answers from the daemon (`sockspy.io.inspector`), `explain` and the tests from a
`Facts` book. The failure rules live here, once, so they are the same for both: a
procedure that raises is a broken rule and denies with 500; a look-up the daemon could
not answer denies with 502. Neither ever lets a request through. A look-up asked twice
in one judgement is answered from the first answer without asking again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.decision import Decision, deny
from sockspy.core.deciding.gate import Gate
from sockspy.core.deciding.lookups import (
    NOT_LOOKED_UP,
    ContainersWithIdPrefix,
    ImagesOfRepository,
    InspectContainer,
    InspectExec,
    InspectImage,
    InspectNow,
    InspectVolume,
    Lookup,
    Procedure,
    ReadDaemonFacts,
)
from sockspy.core.docker.daemon import DaemonFacts
from sockspy.core.docker.request import Request

T = TypeVar("T")

# Inspect answers by the name they were asked for; None: the daemon has no such object.
Objects = Mapping[str, Mapping[str, Any] | None]


class Judgement:
    """One request being decided by one gate, one look-up at a time (module docstring)."""

    def __init__(self, gate: Gate, request: Request, client: Client) -> None:
        self.asked: list[Lookup] = []  # every look-up put to the answerer, in order
        self._steps = gate.judge(request, client)
        self._answers: dict[Lookup, Any] = {}

    def start(self) -> Lookup | Decision:
        return self._step(None)

    def answer(self, value: Any) -> Lookup | Decision:
        """The answer to the look-up the last step asked for."""
        self._answers[self.asked[-1]] = value
        return self._step(value)

    @property
    def answered(self) -> tuple[tuple[Lookup, Any], ...]:
        """Each look-up put to the answerer, with its answer, in order (what replay needs
        to decide the request again: the exchange's `asked`)."""
        return tuple(
            (lookup, self._answers[lookup]) for lookup in self.asked if lookup in self._answers
        )

    def failed(self, reason: str) -> Decision:
        """The last look-up could not be answered: deny, and never guess."""
        self._steps.close()
        return deny("internal", reason, status=502, code="inspect_failed")

    def _step(self, value: Any) -> Lookup | Decision:
        try:
            while True:
                lookup = self._steps.send(value)
                if lookup not in self._answers:
                    self.asked.append(lookup)
                    return lookup
                value = self._answers[lookup]
        except StopIteration as done:
            decision: Decision = done.value
            return decision
        except Exception as exc:  # a broken rule denies; it never lets a request through
            return deny("internal", f"policy evaluation failed: {exc!r}", 500, code="internal")


class Answerer(Protocol):
    """Answers look-ups without I/O (explain, tests); `serve` answers from the daemon."""

    def answer(self, lookup: Lookup) -> Any: ...


@dataclass(frozen=True, slots=True)
class Facts:
    """Answers known in advance (explain, tests). What is not in the book was not looked
    up (`NOT_LOOKED_UP`); daemon facts not given are unknown (None: the strict checks)."""

    containers: Objects = field(default_factory=dict)
    daemon: DaemonFacts | None = None
    volumes: Objects = field(default_factory=dict)
    images: Objects = field(default_factory=dict)
    execs: Objects = field(default_factory=dict)
    networks: Objects = field(default_factory=dict)
    id_prefixes: Mapping[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    repositories: Mapping[str, list[Mapping[str, Any]]] = field(default_factory=dict)

    def answer(self, lookup: Lookup) -> Any:
        if isinstance(lookup, InspectContainer):
            return self.containers.get(lookup.name, NOT_LOOKED_UP)
        if isinstance(lookup, InspectVolume):
            return self.volumes.get(lookup.name, NOT_LOOKED_UP)
        if isinstance(lookup, InspectImage):
            return self.images.get(lookup.name, NOT_LOOKED_UP)
        if isinstance(lookup, InspectExec):
            return self.execs.get(lookup.id, NOT_LOOKED_UP)
        if isinstance(lookup, ContainersWithIdPrefix):
            return self.id_prefixes.get(lookup.prefix, NOT_LOOKED_UP)
        if isinstance(lookup, ImagesOfRepository):
            return self.repositories.get(lookup.repository, NOT_LOOKED_UP)
        if isinstance(lookup, InspectNow):
            book = {
                "container": self.containers, "volume": self.volumes, "image": self.images,
                "exec": self.execs, "network": self.networks,
            }[lookup.kind]  # fmt: skip
            return book.get(lookup.name, NOT_LOOKED_UP)
        assert isinstance(lookup, ReadDaemonFacts)
        return self.daemon


NO_FACTS = Facts()


def settle(judgement: Judgement, facts: Answerer = NO_FACTS) -> Decision:
    """Drive `judgement` to its decision with answers from `facts`."""
    step = judgement.start()
    while not isinstance(step, Decision):
        step = judgement.answer(facts.answer(step))
    return step


def decide_offline(
    gate: Gate, request: Request, client: Client, facts: Answerer = NO_FACTS
) -> Decision:
    """The decision `gate` reaches for `request` when `facts` are all that is known."""
    return settle(Judgement(gate, request, client), facts)


def run_offline(procedure: Procedure[T], facts: Answerer = NO_FACTS) -> T:
    """Any procedure's result with answers from `facts` (its exceptions propagate)."""
    try:
        lookup = next(procedure)
        while True:
            lookup = procedure.send(facts.answer(lookup))
    except StopIteration as done:
        result: T = done.value
        return result
