"""What-if: decide recorded requests again under a candidate policy, offline.

Each exchange record that was decided (not refused by the core before a decision) is
rebuilt (`sockspy.core.audit.inputs`) and judged by the candidate gate with the daemon's
recorded answers. The change is in what happens to the bytes: newly denied (the live
run let it through, the candidate would not) or newly allowed. A "would_deny" counts as
let through.

A look-up the live gate did not make (a log recorded under `audit-only` holds none) is
unknown to the replay: the candidate decides as the live one would with a look-up that
failed, closed, and a request it then denies is "undecided", not newly denied: the log
cannot say what the daemon would have answered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sockspy.core.audit.inputs import client_from, facts_from, request_from
from sockspy.core.deciding.decision import Decision
from sockspy.core.deciding.gate import Gate
from sockspy.core.deciding.judgement import Facts, decide_offline
from sockspy.core.deciding.lookups import NOT_LOOKED_UP, Lookup, ReadDaemonFacts
from sockspy.core.docker.bodies import BODY_ENDPOINTS
from sockspy.core.wire.head import ProtocolError

_LET_THROUGH = frozenset({"allow", "would_deny"})


@dataclass(frozen=True, slots=True)
class Replayed:
    record: Mapping[str, Any]
    then: str  # the recorded decision
    now: Decision  # the candidate's
    approximate: bool  # the record kept no decision input (audit level metadata)
    unknown: tuple[Lookup, ...] = ()  # look-ups the candidate made that the record lacks

    @property
    def change(self) -> str | None:
        """ "newly denied", "newly allowed", "undecided" (denied for want of a look-up the
        log does not hold), or None (the bytes would go the same way)."""
        before = self.then in _LET_THROUGH
        after = self.now.allowed
        if before and not after:
            return "undecided" if self.unknown else "newly denied"
        if after and not before:
            return "newly allowed"
        return None


def replay(gate: Gate, records: Iterable[Mapping[str, Any]]) -> Iterator[Replayed]:
    for record in records:
        if record.get("event") != "exchange" or record.get("decision") in (None, "reject"):
            continue  # refused by the core before any policy: no policy changes that
        if record.get("rule") in ("audit", "rate_limit") or record.get("code") in (
            "audit_unavailable", "transcript_unavailable", "rate_limited",
        ):  # fmt: skip
            continue  # refused by the server's state then, not by its policy
        if "target_bytes" in record:
            continue  # its target was cut in the record: the request cannot be rebuilt
        try:
            request = request_from(record)
        except (KeyError, ProtocolError):
            continue
        facts = _Noting(facts_from(record))
        decision = decide_offline(gate, request, client_from(record), facts)
        # Without its input, a decision that could have read a body replays on less.
        given = record.get("decision_input")
        whole = isinstance(given, Mapping) and "omitted" not in given
        approximate = not whole and request.endpoint in BODY_ENDPOINTS
        then = str(record["decision"])
        yield Replayed(record, then, decision, approximate, tuple(facts.unknown))


class _Noting:
    """The record's answers, noting each look-up they do not hold."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self.unknown: list[Lookup] = []

    def answer(self, lookup: Lookup) -> Any:
        answer = self.facts.answer(lookup)
        # Daemon facts a record lacks read as None (unknown), not as not looked up.
        if answer is NOT_LOOKED_UP or (answer is None and isinstance(lookup, ReadDaemonFacts)):
            self.unknown.append(lookup)
        return answer
