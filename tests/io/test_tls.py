"""TLS fronts with trio and real sockets: certificates from `sockspy certs`, the mTLS
handshake, the client identity, and TLS's stand-in for half-close (close_notify)."""

from __future__ import annotations

import contextlib
import ssl
from pathlib import Path

import pytest
import trio

from sockspy.certs import CertsError, write_certs
from sockspy.cli import main
from sockspy.core.deciding.client import Client
from sockspy.core.serving.address import TcpAddress
from sockspy.io.sockstream import StreamClosed
from sockspy.io.tls import (
    TlsConfigError,
    TlsFiles,
    TlsHandshakeError,
    TlsStream,
    accept_tls,
    client_context,
    connect_tls,
    server_context,
)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("certs")
    write_certs(folder, ["127.0.0.1", "localhost"], ["alice", "bob"])
    return folder


def _server(certs: Path, verify: bool = True) -> ssl.SSLContext:
    return server_context(
        TlsFiles(
            verify=verify,
            cacert=str(certs / "ca.pem"),
            cert=str(certs / "server-cert.pem"),
            key=str(certs / "server-key.pem"),
        )
    )


def _client(certs: Path, who: str | None) -> ssl.SSLContext:
    return client_context(
        TlsFiles(
            verify=True,
            cacert=str(certs / "ca.pem"),
            cert=str(certs / who / "cert.pem") if who else None,
            key=str(certs / who / "key.pem") if who else None,
        )
    )


async def _pair(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext
) -> tuple[TlsStream | TlsHandshakeError, TlsStream | OSError, Client | None]:
    """Handshake both ends over a real tcp connection on 127.0.0.1."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    served: list[TlsStream | TlsHandshakeError] = []
    client: list[Client] = []
    connected: list[TlsStream | OSError] = []

    async def serve() -> None:
        stream = await listeners[0].accept()
        try:
            opened, who = await accept_tls(stream, server_ctx, "tcp://test")
        except TlsHandshakeError as exc:
            served.append(exc)
        else:
            served.append(opened)
            client.append(who)

    async def connect() -> None:
        try:
            connected.append(await connect_tls(TcpAddress("127.0.0.1", port), client_ctx))
        except OSError as exc:
            connected.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        nursery.start_soon(connect)
    await listeners[0].aclose()
    return served[0], connected[0], client[0] if client else None


async def _refused_after_handshake(connected: TlsStream) -> None:
    """TLS 1.3: the client's side of the handshake can end before the server's verdict;
    then its first read finds the connection closed (an alert, or a bare EOF)."""
    with contextlib.suppress(StreamClosed):
        assert await connected.receive_some() == b""


def test_certs_writes_the_docker_cert_path_layout_and_keeps_keys_private(certs: Path) -> None:
    for name in ("ca.pem", "ca-key.pem", "server-cert.pem", "server-key.pem"):
        assert (certs / name).is_file()
    for name in ("ca.pem", "cert.pem", "key.pem"):
        assert (certs / "alice" / name).is_file()
    assert (certs / "alice" / "ca.pem").read_bytes() == (certs / "ca.pem").read_bytes()
    for key in (certs / "ca-key.pem", certs / "server-key.pem", certs / "bob" / "key.pem"):
        assert key.stat().st_mode & 0o077 == 0


def test_certs_reuses_the_ca_and_never_overwrites_a_client(certs: Path) -> None:
    ca = (certs / "ca.pem").read_bytes()
    write_certs(certs, [], ["carol"])
    assert (certs / "ca.pem").read_bytes() == ca
    with pytest.raises(CertsError, match="exists"):
        write_certs(certs, [], ["alice"])
    with pytest.raises(CertsError, match="client name"):
        write_certs(certs, [], ["../evil"])


def test_a_front_context_needs_its_certificate_and_a_ca_to_verify(tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match="--tlscert"):
        server_context(TlsFiles(verify=False))
    with pytest.raises(TlsConfigError, match="cannot load"):
        server_context(TlsFiles(verify=False, cert=str(tmp_path / "no.pem"), key="x"))


def test_front_contexts_allow_tls_1_2_or_later_only(certs: Path) -> None:
    assert _server(certs).minimum_version == ssl.TLSVersion.TLSv1_2
    assert _client(certs, None).minimum_version == ssl.TLSVersion.TLSv1_2


def test_mtls_client_identity_is_its_certificate_names(certs: Path) -> None:
    served, connected, client = trio.run(_pair, _server(certs), _client(certs, "alice"))
    assert isinstance(served, TlsStream) and isinstance(connected, TlsStream)
    assert client is not None
    assert (client.tls_cn, client.tls_names, client.ip) == ("alice", ("alice",), "127.0.0.1")


def test_a_client_without_a_certificate_is_refused_at_the_handshake(certs: Path) -> None:
    async def main() -> tuple[object, object]:
        served, connected, _ = await _pair(_server(certs), _client(certs, None))
        if isinstance(connected, TlsStream):
            await _refused_after_handshake(connected)
        return served, connected

    served, _ = trio.run(main)
    assert isinstance(served, TlsHandshakeError)
    assert "CERTIFICATE" in str(served).upper()


def test_a_certificate_from_another_ca_is_refused(certs: Path, tmp_path: Path) -> None:
    write_certs(tmp_path, [], ["mallory"])
    rogue = client_context(
        TlsFiles(
            verify=True,
            cacert=str(certs / "ca.pem"),
            cert=str(tmp_path / "mallory" / "cert.pem"),
            key=str(tmp_path / "mallory" / "key.pem"),
        )
    )

    async def main() -> object:
        served, connected, _ = await _pair(_server(certs), rogue)
        if isinstance(connected, TlsStream):
            await _refused_after_handshake(connected)
        return served

    served = trio.run(main)
    assert isinstance(served, TlsHandshakeError)
    assert "certificate rejected" in str(served) or "CERTIFICATE" in str(served).upper()


def test_close_notify_is_a_half_close_both_ways(certs: Path) -> None:
    """The CLI's CloseWrite (close_notify) ends the client's direction only: the server
    reads EOF and still answers; the server's send_eof lets the client read EOF after it."""

    async def main() -> tuple[bytes, bytes, bytes]:
        served, connected, _ = await _pair(_server(certs), _client(certs, "bob"))
        assert isinstance(served, TlsStream) and isinstance(connected, TlsStream)
        await connected.send_all(b"stdin")
        await connected.send_eof()
        got = b""
        while data := await served.receive_some():
            got += data
        await served.send_all(b"output after stdin EOF")
        await served.send_eof()
        out = b""
        while data := await connected.receive_some():
            out += data
        tail = await served.receive_some()  # the client has nothing more to say
        await served.aclose()
        await connected.aclose()
        return got, out, tail

    assert trio.run(main) == (b"stdin", b"output after stdin EOF", b"")


def test_certs_command_lists_the_files_and_says_how_to_use_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", str(tmp_path / "tls"), "--client", "ci"]) == 0
    out, err = capsys.readouterr()
    assert all(Path(line).is_file() for line in out.splitlines())
    flags = err.splitlines()[1].split()
    assert flags[0] == "--tlsverify"
    assert all(Path(path).is_file() for path in flags[2::2])  # --tlscacert ca.pem ...
    assert f"client ci: DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={tmp_path / 'tls' / 'ci'}" in err
