"""What a decision was made on, as a record keeps it, and the request rebuilt from it.

`sockspy replay` decides recorded requests again under another policy, offline. A
decision reads the request line (the record's ``method`` and ``target``), a few headers
(framing, ``Upgrade``, ``Content-Type``), the body as Go decoded it, and the daemon's
answers to the gate's look-ups. At audit level "request" the record's ``decision_input``
keeps the last three, only where there is something to keep (a ``GET /_ping`` has none),
with secrets masked (`sockspy.core.docker.secrets.masked_decoded`): a rule never reads an
environment value or a password, so a replay decides as the live gate did.

A target whose ``buildargs`` was masked replays with the mask; a request recorded at
level "metadata" replays from its request line alone, and `replay` says so. The live
path writes `decision_input` (`sockspy.core.proxy.recording.recorded_input`); this
module reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sockspy.core.deciding.client import Client, PeerCred, PeerProcess
from sockspy.core.deciding.judgement import Facts
from sockspy.core.docker.daemon import DaemonFacts
from sockspy.core.docker.gojson import BodyDecodeError
from sockspy.core.docker.request import Request, classify_request
from sockspy.core.wire.head import parse_request_head

_KINDS = ("container", "volume", "image", "exec")


def request_from(record: Mapping[str, Any]) -> Request:
    """The request of a record, as the gate saw it. Raises ProtocolError or KeyError."""
    given = record.get("decision_input") or {}
    head = f"{record['method']} {record['target']} HTTP/1.1\r\nHost: docker\r\n"
    for name, value in (given.get("headers") or {}).items():
        head += f"{name}: {value}\r\n"
    request = classify_request(parse_request_head((head + "\r\n").encode("latin-1")))
    if "body_error" in given:
        return request.with_decoded(BodyDecodeError(str(given["body_error"])))
    if "body" in given:
        body = given["body"]
        if body is None:
            return request.with_body(b"")
        # Ownership reads a create's bytes as JSON (its labels, its name): the decoding,
        # written as JSON, says what Go read there.
        return request.with_decoded(body, json.dumps(body).encode())
    return request


def facts_from(record: Mapping[str, Any]) -> Facts:
    """The daemon's recorded answers, as an offline answer book."""
    kinds = (*_KINDS, "network", "id_prefix", "repository")
    books: dict[str, dict[str, Any]] = {kind: {} for kind in kinds}
    daemon = None
    for item in (record.get("decision_input") or {}).get("asked") or []:
        if item.get("lookup") == "daemon":
            answer = item.get("answer")
            if isinstance(answer, Mapping):
                options = answer.get("security_options")
                kept = tuple(options) if options is not None else None
                daemon = DaemonFacts(**{**answer, "security_options": kept})
        elif item.get("lookup") in books:
            books[item["lookup"]][str(item.get("name"))] = item.get("answer")
    return Facts(
        containers=books["container"], daemon=daemon, volumes=books["volume"],
        images=books["image"], execs=books["exec"], networks=books["network"],
        id_prefixes=books["id_prefix"],
        repositories=books["repository"],
    )  # fmt: skip


def client_from(record: Mapping[str, Any]) -> Client:
    """The client identity a record names, as profiles match it."""
    peer = None
    if record.get("peer_uid") is not None:
        pid, gid = int(record.get("peer_pid") or 0), int(record.get("peer_gid") or 0)
        peer = PeerCred(pid, int(record["peer_uid"]), gid)
    process = None
    if peer is not None:
        process = PeerProcess(
            user=record.get("peer_user"), login_uid=record.get("peer_login_uid"),
            login_user=record.get("peer_login_user"), unit=record.get("peer_unit"),
        )  # fmt: skip
    container_id = record.get("peer_container") or record.get("client_container_id")
    container_name = record.get("peer_container_name") or record.get("client_container")
    return Client(
        front=str(record.get("front") or ""),
        peer=peer,
        ip=record.get("client_ip"),
        port=record.get("client_port"),
        exe=record.get("peer_exe"),
        container_id=container_id,
        container_name=container_name,
        process=process,
        tls_cn=record.get("tls_cn"),
        tls_names=tuple(record.get("tls_names") or ()),
        tls_serial=record.get("tls_serial"),
        tls_issuer=record.get("tls_issuer"),
    )
