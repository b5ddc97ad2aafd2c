"""Real `Request` and `Client` values for policy tests, built through the core's parser."""

from __future__ import annotations

from collections.abc import Sequence

from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.docker.request import Request, classify_request
from sockspy.core.wire.head import parse_request_head


def make_request(
    method: str,
    target: str,
    body: bytes | None = None,
    headers: Sequence[str] = (),
) -> Request:
    """The Request the core builds for this head; `body` as if buffered for a rule."""
    lines = [f"{method} {target} HTTP/1.1", "Host: api.moby.localhost", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    head = parse_request_head(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    request = classify_request(head)
    return request if body is None else request.with_body(body)


def make_client(
    uid: int | None = None,
    gid: int | None = None,
    ip: str | None = None,
    exe: str | None = None,
    container: str | None = None,
    tls_names: tuple[str, ...] = (),
) -> Client:
    peer = None
    if uid is not None or gid is not None:
        peer = PeerCred(
            pid=1234, uid=uid if uid is not None else 0, gid=gid if gid is not None else 0
        )
    return Client(
        front="unix:///run/sockspy.sock" if ip is None else "tcp://0.0.0.0:2375",
        peer=peer,
        ip=ip,
        port=40000 if ip is not None else None,
        exe=exe,
        container_id=container,
        tls_cn=tls_names[0] if tls_names else None,
        tls_names=tls_names,
    )
