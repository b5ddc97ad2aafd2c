"""What-if: decide recorded requests again under a candidate policy, offline.

Each exchange record that was decided (not refused by the core before a decision) is
rebuilt (`sockspy.core.audit.inputs`) and judged by the candidate gate with the daemon's
recorded answers; a look-up the live gate did not make is unknown to the replay, and the
candidate then decides as the live one would with a look-up that failed: closed. The
change is in what happens to the bytes: newly denied (the live run let it through, the
candidate would not) or newly allowed. A "would_deny" counts as let through.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sockspy.core.audit.inputs import client_from, facts_from, request_from
from sockspy.core.deciding.decision import Decision
from sockspy.core.deciding.gate import Gate
from sockspy.core.deciding.judgement import decide_offline
from sockspy.core.docker.bodies import BODY_ENDPOINTS
from sockspy.core.wire.head import ProtocolError

_LET_THROUGH = frozenset({"allow", "would_deny"})


@dataclass(frozen=True, slots=True)
class Replayed:
    record: Mapping[str, Any]
    then: str  # the recorded decision
    now: Decision  # the candidate's
    approximate: bool  # the record kept no decision input (audit level metadata)

    @property
    def change(self) -> str | None:
        """ "newly denied", "newly allowed", or None (the bytes would go the same way)."""
        before = self.then in _LET_THROUGH
        after = self.now.allowed
        if before and not after:
            return "newly denied"
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
        try:
            request = request_from(record)
        except (KeyError, ProtocolError):
            continue
        decision = decide_offline(gate, request, client_from(record), facts_from(record))
        # Without its input, a decision that could have read a body replays on less.
        approximate = "decision_input" not in record and request.endpoint in BODY_ENDPOINTS
        yield Replayed(record, str(record["decision"]), decision, approximate)
