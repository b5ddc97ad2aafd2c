"""The hash chain over the audit log's lines, and its signed checkpoints.

Theory of operation
-------------------
Every JSON record sockspy writes begins with ``"seq"`` (1, 2, 3, ... over the life of the
log, across rotated files and restarts) and ``"prev"``, the link to the line before it:
``SHA-256`` of that line's exact bytes (UTF-8, without its newline), in hex, or
``HMAC-SHA-256`` under a key when the server has one (``--audit-key``). The first record
of a new log links to 64 zeros. So a line cannot be changed, removed, moved or inserted
without breaking the link of the line after it; `sockspy.core.audit.verify` walks it.

A chain alone does not show that lines were cut off at the end, and anyone who can write
the file can recompute an unkeyed chain from the change on. Checkpoints answer both, like
CloudTrail's digest files: every `checkpoint_every` records or `checkpoint_seconds`, and
at shutdown, sockspy writes a ``checkpoint`` record that signs (Ed25519) the link of the
last line it covers, its ``seq`` and the time. A verifier that trusts the public key (by
its fingerprint) knows every line up to the last checkpoint is the one sockspy wrote; a
log that does not end with a checkpoint ends in a cut (or a server still running).

Sans-IO: `Chain` turns a record into its sealed line and remembers the link; the writer
thread calls it in the order lines are written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENESIS = "0" * 64  # the link of a log's first record
CHECKPOINT_VERSION = "sockspy-checkpoint-v1"


def link_of(line: bytes, key: bytes | None = None) -> str:
    """The link a line gives the record after it."""
    if key is None:
        return hashlib.sha256(line).hexdigest()
    return hmac.new(key, line, hashlib.sha256).hexdigest()


def checkpoint_message(seq: int, covered_link: str, timestamp: str) -> bytes:
    """What a checkpoint's signature signs: the last covered line's link, where it stands."""
    return f"{CHECKPOINT_VERSION}\n{seq}\n{covered_link}\n{timestamp}".encode()


def fingerprint(public: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, in hex, as people compare keys."""
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class Position:
    """Where a chain stands: the last sequence number written and its line's link."""

    seq: int = 0
    link: str = GENESIS


class Chain:
    def __init__(
        self,
        render: Callable[[Mapping[str, Any]], str],
        key: bytes | None = None,
        signer: Ed25519PrivateKey | None = None,
        start: Position = Position(),  # frozen: safe as a default
    ) -> None:
        self.render = render
        self.key = key
        self.signer = signer
        self.position = start
        self.since_checkpoint = 0

    def seal(self, record: Mapping[str, Any]) -> str:
        """`record` as its line (no newline), with its seq and link; moves the chain on."""
        seq = self.position.seq + 1
        line = self.render({"seq": seq, "prev": self.position.link, **record})
        self.position = Position(seq, link_of(line.encode(), self.key))
        self.since_checkpoint += 1
        return line

    def checkpoint(self, timestamp: str, reason: str) -> dict[str, Any] | None:
        """The fields of a checkpoint record over what was written so far (None without a
        signing key). Seal it next: it covers the line before it."""
        if self.signer is None:
            return None
        public = self.signer.public_key()
        covered = self.position
        signature = self.signer.sign(checkpoint_message(covered.seq, covered.link, timestamp))
        self.since_checkpoint = -1  # sealing this record brings it to 0
        return {
            "timestamp": timestamp,
            "level": "info",
            "event": "checkpoint",
            "reason": reason,
            "covers_seq": covered.seq,
            "covers_link": covered.link,
            "keyed": self.key is not None,
            "public_key": base64.b64encode(
                public.public_bytes(Encoding.Raw, PublicFormat.Raw)
            ).decode(),
            "key_fingerprint": fingerprint(public),
            "signature": base64.b64encode(signature).decode(),
        }


def position_after(line: bytes, key: bytes | None = None) -> Position | None:
    """Where the chain stands after this (last) line of an existing log; None if the line
    is not a sealed record (a console log, a torn line): the log cannot be continued."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
        return None
    return Position(record["seq"], link_of(line, key))
