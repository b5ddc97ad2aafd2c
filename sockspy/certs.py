"""`sockspy certs DIR`: a CA, a server certificate and client certificates for mTLS fronts.

The layout is the one dockerd's documentation uses and DOCKER_CERT_PATH expects:

    DIR/ca.pem, DIR/ca-key.pem            the CA (keep ca-key.pem secret; mode 0600)
    DIR/server-cert.pem, server-key.pem   for `sockspy serve --tlscert/--tlskey`
    DIR/NAME/ca.pem, cert.pem, key.pem    one client: DOCKER_CERT_PATH=DIR/NAME

An existing CA in DIR is reused, so clients can be added later; an existing server or
client certificate is never overwritten. Keys are ECDSA P-256 (small, fast, and what Go
and OpenSSL both handle well); certificates are built by the `cryptography` library.
The building functions are pure (PEM bytes in and out); only `write_certs` touches files.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DAYS = 825
DEFAULT_SANS = ("localhost", "127.0.0.1")
CLIENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class CertsError(Exception):
    """Bad input, or a file that would be overwritten; the message says which."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert: bytes
    key: bytes


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_usage(*, signs_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certs,
        crl_sign=signs_certs,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(subject: str, issuer: x509.Name, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # tolerate clock skew
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def make_ca(common_name: str = "sockspy CA", days: int = DEFAULT_DAYS) -> Issued:
    key = _new_key()
    cert = (
        _builder(common_name, _name(common_name), days)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def san_entry(text: str) -> x509.GeneralName:
    """An IP address SAN if `text` is one, else a DNS name."""
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        return x509.DNSName(text)


def issue(
    ca: Issued, common_name: str, sans: Sequence[str], *, server: bool, days: int = DEFAULT_DAYS
) -> Issued:
    """A leaf certificate signed by `ca`: for a server (serverAuth) or a client (clientAuth)."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key = serialization.load_pem_private_key(ca.key, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertsError("the CA key is not an ECDSA key made by sockspy certs")
    key = _new_key()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder(common_name, ca_cert.subject, days)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if sans:
        names = [san_entry(s) for s in dict.fromkeys(sans)]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def check_client_name(name: str) -> str:
    if not CLIENT_NAME.fullmatch(name) or name in ("ca", "server"):
        raise CertsError(
            f"client name {name!r}: use letters, digits, '.', '_', '-' (it names a "
            "directory and goes into the certificate's CN and SAN)"
        )
    return name


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    if path.exists():
        raise CertsError(f"{path} exists; not overwriting it")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    with os.fdopen(os.open(path, flags, 0o600 if secret else 0o644), "wb") as out:
        out.write(data)


def write_certs(
    directory: Path, sans: Sequence[str], clients: Sequence[str], days: int = DEFAULT_DAYS
) -> list[Path]:
    """Create (or extend) the layout described in the module docstring; the files written."""
    for name in clients:
        check_client_name(name)
    for name in clients:
        if (directory / name).exists():
            raise CertsError(f"{directory / name} exists; not overwriting a client")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    ca_path, ca_key_path = directory / "ca.pem", directory / "ca-key.pem"
    if ca_path.exists() and ca_key_path.exists():
        ca = Issued(ca_path.read_bytes(), ca_key_path.read_bytes())
    else:
        ca = make_ca(days=days)
        _write(ca_key_path, ca.key, secret=True)
        _write(ca_path, ca.cert)
        written += [ca_path, ca_key_path]
    server_cert, server_key = directory / "server-cert.pem", directory / "server-key.pem"
    if sans or not server_cert.exists():
        chosen = list(sans) or list(DEFAULT_SANS)
        server = issue(ca, chosen[0], chosen, server=True, days=days)
        _write(server_key, server.key, secret=True)
        _write(server_cert, server.cert)
        written += [server_cert, server_key]
    for name in clients:
        client = issue(ca, name, [name], server=False, days=days)
        folder = directory / name
        folder.mkdir()
        _write(folder / "key.pem", client.key, secret=True)
        _write(folder / "cert.pem", client.cert)
        _write(folder / "ca.pem", ca.cert)
        written += [folder / "ca.pem", folder / "cert.pem", folder / "key.pem"]
    return written
