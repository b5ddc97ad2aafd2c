"""What SIGHUP reloads, atomically: the policy and the TLS certificates of the fronts.

The loader (given by the command line) re-reads the policy from the same source it was
first read from: the same file or preset, or the docker-socket-proxy variables of the
environment. It runs in a worker thread, so a slow disk never stalls the bytes. A policy
that does not load changes nothing: the old one stays in force, and the `policy_reload`
record says why (with the FILE:LINE problems). One that loads replaces the gate in one
reference store; each request decided from then on uses it, including new requests on
open keep-alive connections. A request whose head was already read keeps the gate it was
read with, and nothing already decided or forwarded is judged again.

The fronts' certificates, key and client CA are read again the same way (`CertReloader`):
rotated files take effect for the next handshake, open TLS connections keep theirs, and
files that do not load leave the old context in force (`tls_reload` says why). The
server certificate's names and end of validity are logged at start (`tls`) and with each
reload, as a warning when it expires within 30 days.
"""

from __future__ import annotations

import datetime
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from sockspy.core.deciding.gate import Gate, GateInForce
from sockspy.core.records import (
    CertFields,
    PolicyFields,
    PolicyReloadRecord,
    TlsRecord,
    TlsReloadRecord,
)
from sockspy.core.serving.certinfo import certificate_fields, expiry_level
from sockspy.io.logsink import AuditLog
from sockspy.io.tls import ServingTls


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    """A gate ready to use (its body limit with it), with what the audit log and /healthz
    say about it."""

    gate: Gate
    fields: PolicyFields = field(default_factory=lambda: PolicyFields())  # source, mode, ...


class ReloadError(Exception):
    """The policy did not load; `problems` are its FILE:LINE messages."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


Loader = Callable[[], LoadedPolicy]


class PolicyReloader:
    def __init__(
        self,
        gates: GateInForce,
        loaded: LoadedPolicy,
        loader: Loader | None,
        log: AuditLog,
        wrap: Callable[[Gate], Gate],
    ) -> None:
        self.gates = gates
        self.loaded = loaded
        self.loader = loader
        self.log = log
        self.wrap = wrap
        self.loaded_at = time.time()
        self.reloads = 0
        self.failures = 0

    def describe(self) -> dict[str, Any]:
        return {
            **self.loaded.fields,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at)),
            "reloads": self.reloads,
            "reload_failures": self.failures,
        }

    async def reload(self) -> bool:
        """Load the policy again; True if it replaced the one in force."""
        if self.loader is None:
            return False
        source = self.loaded.fields.get("source")
        try:
            loaded = await trio.to_thread.run_sync(self.loader)
        except ReloadError as exc:
            return self._failed(source, exc.problems)
        except Exception as exc:  # whatever breaks, the old policy stays in force
            return self._failed(source, [f"{source}: {exc!r}"])
        self.gates.current = self.wrap(loaded.gate)  # the swap: one reference store
        self.loaded = loaded
        self.loaded_at = time.time()
        self.reloads += 1
        # mypy's extra checks fear a PolicyFields subtype with more keys; ours have none.
        record: PolicyReloadRecord = {"event": "policy_reload", "ok": True, **loaded.fields}  # type: ignore[typeddict-item]
        self.log.emit(record)
        return True

    def _failed(self, source: str | None, problems: list[str]) -> bool:
        self.failures += 1
        record = PolicyReloadRecord(
            event="policy_reload",
            ok=False,
            error="the policy did not load; the previous one stays in force",
            problems=problems,
        )
        if source is not None:
            record["source"] = source
        self.log.emit(record, "error")
        return False


class CertReloader:
    """The TLS context of the fronts, replaced by SIGHUP when the files load again; and
    what the server certificate in force says of itself (`certinfo`), for the audit log,
    /healthz and /metrics."""

    def __init__(
        self, tls: ServingTls, loader: Callable[[], ServingTls] | None, log: AuditLog
    ) -> None:
        self.current = tls
        self.loader = loader
        self.log = log
        self.reloads = 0
        self.failures = 0

    @property
    def context(self) -> ssl.SSLContext:
        return self.current.context

    def describe(self) -> CertFields:
        """The names and validity of the certificate in force (held in memory: never
        read from disk here, on the event loop)."""
        try:
            return certificate_fields(self.current.cert_pem, datetime.datetime.now(datetime.UTC))
        except ValueError as exc:
            return {"cert_error": str(exc)}

    def announce(self) -> None:
        """The `tls` record at start: a warning when the certificate expires soon."""
        fields = self.describe()
        record: TlsRecord = {"event": "tls", **fields}
        self.log.emit(record, _level(fields))

    async def reload(self) -> bool:
        """Read the certificate files again; True if the new context replaced the old."""
        if self.loader is None:
            return False
        try:
            loaded = await trio.to_thread.run_sync(self.loader)
        except Exception as exc:  # TlsConfigError, or whatever else breaks: keep the old one
            self.failures += 1
            failed = TlsReloadRecord(
                event="tls_reload", ok=False, reason=str(exc),
                error="the certificates did not load; the previous ones stay in force",
            )  # fmt: skip
            self.log.emit(failed, "error")
            return False
        self.current = loaded  # the next handshake uses it; open connections keep theirs
        self.reloads += 1
        fields = self.describe()
        record: TlsReloadRecord = {"event": "tls_reload", "ok": True, **fields}  # type: ignore[typeddict-item]
        self.log.emit(record, _level(fields))
        return True


def _level(fields: CertFields) -> str:
    return expiry_level(fields) if "cert_days_left" in fields else "info"
