"""A session's I/O beside the pump: its transcript and what the daemon says of its end.

`SessionRecorder` serves one connection. Before a hijack's `101` (while its request is
decided) it opens the transcript the decision asks for (`Decision.transcript`), after
asking the daemon whether the session is a raw tty or stdcopy frames; if that cannot be
done, a rule with `record_required` refuses the session. After the tunnel ends it asks
the daemon how the session ended (an exec's exit code), for a moment only, and closes
the transcript. The records themselves are built in the core (`sockspy.core.proxy`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

import trio

from sockspy.core.deciding.decision import Decision, transcript_unavailable
from sockspy.core.deciding.lookups import InspectExec, LookupFailed
from sockspy.core.docker import sessions
from sockspy.core.docker.gojson import BodyDecodeError, top_level_field
from sockspy.core.docker.request import Request
from sockspy.io.inspector import DaemonLookups
from sockspy.io.transcripts import Recorder, TranscriptSink

# How long the daemon may take to say how a session ended (exit code), after it ended.
SESSION_OUTCOME_SECONDS = 2.0


class SessionRecorder:
    """The transcript of the session a connection may become, and its outcome."""

    def __init__(self, transcripts: TranscriptSink | None, inspector: DaemonLookups) -> None:
        self.transcripts = transcripts  # where recorded sessions are written (if anywhere)
        self.inspector = inspector
        self.recorder: Recorder | None = None  # the transcript of the session to come
        self._error: str | None = None  # why a session asked to be recorded is not

    async def prepare(self, request: Request, decision: Decision, record_id: str) -> Decision:
        """Open the transcript of the session `request` asks for, before it starts. If it
        cannot be opened, a rule with `record_required` refuses the session (403); else
        the session goes on unrecorded and its `session_end` says why."""
        self.discard_unused()  # an earlier start on this connection got no 101
        try:
            if self.transcripts is None:
                raise OSError("no transcript directory (--transcript-dir)")
            tty = await self._tty(request)
            title = f"{request.endpoint} {dict(request.params).get('name', '')} ({record_id})"
            self.recorder = await self.transcripts.open(
                record_id, tty, decision.transcript == "all", title
            )
            return decision
        except (OSError, LookupFailed) as exc:
            self._error = f"transcript not written: {exc}"
        if not decision.transcript_required:
            return decision
        return transcript_unavailable(decision, self._error)

    async def _tty(self, request: Request) -> bool:
        """Whether the session's stream is a raw tty or stdcopy frames, as the daemon
        frames it. Raises LookupFailed.

        An exec start's framing is its own body's ``Tty`` (dockerd's postContainerExecStart
        writes stdcopy frames unless ``execStartCheck.Tty``, whatever the exec was created
        with: checked on 20.10), read as Go reads it; an attach's is the container's
        ``Config.Tty``. Only an exec start whose body was not held asks the exec."""
        name = dict(request.params).get("name", "")
        if request.endpoint == "exec.start" and request.body is not None:
            try:
                return top_level_field(request.body, "Tty") is True
            except BodyDecodeError as exc:  # dockerd refuses it too: no session to record
                raise LookupFailed(f"exec start body: {exc}") from None
        with trio.move_on_after(SESSION_OUTCOME_SECONDS):
            if request.endpoint == "exec.start":
                answer = await self.inspector.answer(InspectExec(name))
                process = answer.get("ProcessConfig") if isinstance(answer, dict) else None
                return bool((process or {}).get("tty"))
            answer = await self.inspector.inspect(name)
            return bool(((answer or {}).get("Config") or {}).get("Tty"))
        raise LookupFailed("the daemon did not say in time whether the session has a tty")

    async def ended(self, target: tuple[str, str] | None) -> dict[str, Any]:
        """The session ended: what the daemon says of it, and its transcript's fields."""
        return {**await self._outcome(target), **self._close()}

    def _close(self) -> dict[str, Any]:
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.close()
            return recorder.fields()
        if self._error is not None:
            return {"transcript_error": self._error}
        return {}

    def discard_unused(self) -> None:
        """A transcript opened for a session that never started (no 101) is removed."""
        recorder, self.recorder = self.recorder, None
        self._error = None
        if recorder is not None:
            recorder.close()
            with suppress(OSError):
                os.unlink(recorder.path)

    async def _outcome(self, target: tuple[str, str] | None) -> Mapping[str, Any]:
        """What the daemon says of the ended session (an exec's exit code, an attached
        container's state), asked once and for a moment only: never a reason to hold
        the connection's end."""
        if target is None:
            return {}
        endpoint, name = target
        with trio.move_on_after(SESSION_OUTCOME_SECONDS):
            try:
                return sessions.outcome(endpoint, await self.inspector.ended(endpoint, name))
            except LookupFailed:
                return {}
        return {}
