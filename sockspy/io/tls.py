"""TLS: the contexts for tcp fronts and a tcp upstream, the handshake, and a TLS stream.

TLS and half-close (the trap in this file)
------------------------------------------
TCP lets a side say "I am done sending" (shutdown(SHUT_WR)) and go on reading. The docker
CLI relies on it: after stdin EOF in `docker exec -i` or `attach` it half-closes and waits
for the rest of the output. TLS has no half-close record. The nearest thing is the
close_notify alert, and Go's `tls.Conn.CloseWrite`, which the CLI calls on a TLS
connection, sends exactly that and keeps reading. dockerd takes a close_notify as the
client's EOF and keeps writing. So here:

* a received close_notify is the peer's EOF: `receive_some` returns b"" (OpenSSL lets us
  write after it), and sockspy passes the EOF on to the daemon as a plain half-close;
* `TlsStream.send_eof` sends a close_notify and leaves the connection open for reading.
  trio's `SSLStream` has no `send_eof`; this calls SSL_shutdown once, as
  `SSLStream.aclose` does, without closing the transport. OpenSSL's SSL_shutdown closes
  only the write direction: SSL_read goes on until the peer's own close_notify.

Older clients drop TCP under TLS without a close_notify; `OP_IGNORE_UNEXPECTED_EOF` makes
that an EOF too rather than an error, so their output after stdin EOF is not lost either.

The handshake runs in the connection's own task (never in the accept loop) under
`HANDSHAKE_TIMEOUT`: a client that connects and says nothing costs one task for that long.
"""

from __future__ import annotations

import ssl
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path

import trio

from sockspy.core.deciding.client import Client, tls_identity, tls_serial_and_issuer
from sockspy.core.serving.address import TcpAddress
from sockspy.io.peer import identify
from sockspy.io.sockstream import RAW_STREAM_ERRORS, RECEIVE_SIZE, StreamClosed, wait_hung_up

HANDSHAKE_TIMEOUT = 10.0
# TLS 1.2 suites with forward secrecy and an AEAD cipher only (TLS 1.3's are all of that).
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


class TlsConfigError(Exception):
    """Certificates or keys that cannot be used; the message says which and why."""


class TlsHandshakeError(Exception):
    """A client that failed the TLS handshake; the message is the reason."""

    def __init__(self, reason: str, client: Client) -> None:
        super().__init__(reason)
        self.client = client


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """dockerd's and the CLI's TLS settings: --tlsverify, --tlscacert, --tlscert, --tlskey."""

    verify: bool
    cacert: str | None = None
    cert: str | None = None
    key: str | None = None


def _modern(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_IGNORE_UNEXPECTED_EOF
    return context


def _load_chain(context: ssl.SSLContext, cert: str, key: str | None) -> None:
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot load certificate {cert} with key {key}: {exc}") from None


def _load_ca(context: ssl.SSLContext, cacert: str) -> None:
    try:
        context.load_verify_locations(cacert)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot load CA certificate {cacert}: {exc}") from None


@dataclass(frozen=True, slots=True)
class ServingTls:
    """The fronts' TLS context and the server certificate it was made from, loaded
    together: what /healthz, /metrics and the audit log say of the certificate is the one
    in force, whatever the file holds now (a reload that fails leaves both as they were)."""

    context: ssl.SSLContext
    cert_pem: bytes


def load_server_tls(files: TlsFiles) -> ServingTls:
    """`server_context(files)` and the bytes of its certificate file. Raises TlsConfigError."""
    context = server_context(files)
    assert files.cert is not None  # server_context refuses a front without one
    try:
        pem = Path(files.cert).read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"cannot read certificate {files.cert}: {exc.strerror}") from None
    return ServingTls(context, pem)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """The context of TLS fronts; with `verify`, a client certificate signed by `cacert`
    is required (mTLS), and a client without one fails the handshake."""
    if not files.cert or not files.key:
        raise TlsConfigError("a TLS front needs --tlscert and --tlskey")
    context = _modern(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    # No TLS 1.3 session tickets: they would be sent right after the handshake, into a
    # connection the client may not read yet, and each connection is short-lived anyway.
    context.num_tickets = 0
    _load_chain(context, files.cert, files.key)
    if files.verify:
        if not files.cacert:
            raise TlsConfigError("--tlsverify needs --tlscacert (the CA of client certificates)")
        _load_ca(context, files.cacert)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """The context for a TLS upstream; with `verify`, the daemon's certificate must be
    signed by `cacert` (or a system CA) and name the upstream host."""
    context = _modern(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    if files.verify:
        if files.cacert:
            _load_ca(context, files.cacert)
        else:
            context.load_default_certs()
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if files.cert:
        _load_chain(context, files.cert, files.key)
    return context


class TlsStream:
    """A TLS connection with the pump's stream interface (`sockstream.ByteStream`)."""

    def __init__(self, stream: trio.SSLStream[trio.SocketStream]) -> None:
        self.tls = stream
        self._eof_sent = False

    async def receive_some(self, max_bytes: int = RECEIVE_SIZE) -> bytes:
        try:
            data = await self.tls.receive_some(max_bytes)
        except trio.BrokenResourceError as exc:
            # The peer's close_notify after ours: Python reports it as an error (it returns
            # b"" only while our side is still open), but it is the peer's clean EOF.
            if isinstance(exc.__cause__, ssl.SSLZeroReturnError):
                return b""
            raise StreamClosed.of(exc) from exc
        except RAW_STREAM_ERRORS as exc:
            raise StreamClosed.of(exc) from exc
        return data if isinstance(data, bytes) else bytes(data)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self.tls.send_all(data)
        except RAW_STREAM_ERRORS as exc:
            raise StreamClosed.of(exc) from exc

    async def send_eof(self) -> None:
        """Send close_notify and keep reading: TLS's nearest thing to a half-close."""
        if self._eof_sent:
            await trio.lowlevel.checkpoint()
            return
        self._eof_sent = True
        tls = self.tls
        # trio has no public call for this (see the module docstring); these are the
        # internals `SSLStream.aclose` uses, under the send-side conflict detector so that
        # a concurrent send_all fails loudly instead of interleaving.
        try:
            with tls._outer_send_conflict_detector:
                await tls._retry(tls._ssl_object.unwrap, ignore_want_read=True)
        except RAW_STREAM_ERRORS as exc:
            raise StreamClosed.of(exc) from exc

    async def aclose(self) -> None:
        with suppress(*RAW_STREAM_ERRORS):
            await self.tls.aclose()

    async def wait_hung_up(self) -> None:
        await wait_hung_up(self.tls.transport_stream.socket)

    def peer_identity(self, client: Client) -> Client:
        """`client` with the names, serial and issuer of its verified certificate."""
        cert = self.tls.getpeercert()
        cn, names = tls_identity(cert)
        serial, issuer = tls_serial_and_issuer(cert)
        return replace(client, tls_cn=cn, tls_names=names, tls_serial=serial, tls_issuer=issuer)


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"certificate rejected: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return cause.reason or str(cause)
    if cause is not None:
        return str(cause) or type(cause).__name__
    return str(exc) or "connection closed during the handshake"


async def accept_tls(
    stream: trio.SocketStream, context: ssl.SSLContext, front: str
) -> tuple[TlsStream, Client]:
    """Run the server side of the handshake on an accepted tcp connection.

    Returns the stream and the client, whose `tls_cn`/`tls_names` come from its
    certificate. Raises TlsHandshakeError (with the client's address in `.client`) after
    closing the connection, if the handshake fails or takes over HANDSHAKE_TIMEOUT.
    """
    client = identify(stream, front)
    tls = trio.SSLStream(stream, context, server_side=True)
    try:
        with trio.fail_after(HANDSHAKE_TIMEOUT):
            await tls.do_handshake()
    except (trio.BrokenResourceError, trio.TooSlowError, OSError) as exc:
        await trio.aclose_forcefully(stream)
        reason = (
            f"no handshake within {HANDSHAKE_TIMEOUT:g} s"
            if isinstance(exc, trio.TooSlowError)
            else _reason(exc)
        )
        raise TlsHandshakeError(reason, client) from None
    opened = TlsStream(tls)
    return opened, opened.peer_identity(client)


async def connect_tls(address: TcpAddress, context: ssl.SSLContext) -> TlsStream:
    """Open a TLS connection to a remote daemon; OSError if it cannot be reached or
    the handshake fails (the caller's deadline bounds both)."""
    stream = await trio.open_tcp_stream(address.host, address.port)
    tls = trio.SSLStream(stream, context, server_hostname=address.host)
    try:
        await tls.do_handshake()
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(stream)
        raise OSError(f"TLS handshake failed: {_reason(exc)}") from None
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return TlsStream(tls)
