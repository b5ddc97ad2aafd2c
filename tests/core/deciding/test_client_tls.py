"""A client certificate's names, as `getpeercert()` decodes it, become the client identity."""

from __future__ import annotations

from sockspy.core.deciding.client import Client, tls_identity, tls_serial_and_issuer

# What ssl.SSLSocket.getpeercert() returns for a verified certificate (trimmed).
PEERCERT = {
    "subject": ((("organizationName", "ops"),), (("commonName", "ci-runner"),)),
    "subjectAltName": (
        ("DNS", "ci-runner"),
        ("DNS", "runner.example"),
        ("IP Address", "10.0.0.7"),
        ("email", "ci@example.org"),
        ("othername", "<unsupported>"),
    ),
}


def test_names_are_the_cn_then_the_sans_without_repeats() -> None:
    cn, names = tls_identity(PEERCERT)
    assert cn == "ci-runner"
    assert names == ("ci-runner", "runner.example", "10.0.0.7", "ci@example.org")


def test_a_certificate_without_a_cn_is_named_by_its_sans() -> None:
    assert tls_identity({"subjectAltName": (("DNS", "a.example"),)}) == (None, ("a.example",))


def test_no_certificate_gives_no_names() -> None:
    assert tls_identity(None) == (None, ())
    assert tls_identity({}) == (None, ())


def test_audit_fields_carry_the_certificate_names_only_when_there_are_some() -> None:
    plain = Client(front="tcp://0.0.0.0:2376", ip="10.0.0.7", port=5000)
    assert "tls_cn" not in plain.fields()
    named = Client(
        front="tcp://0.0.0.0:2376", ip="10.0.0.7", port=5000, tls_cn="ci", tls_names=("ci", "x")
    )
    assert named.fields()["tls_cn"] == "ci"
    assert named.fields()["tls_names"] == ["ci", "x"]


def test_a_certificate_is_told_apart_by_its_serial_and_issuer() -> None:
    cert = {
        **PEERCERT,
        "serialNumber": "5F3A9C01",
        "issuer": ((("organizationName", "ops"),), (("commonName", "sockspy CA"),)),
    }
    assert tls_serial_and_issuer(cert) == ("5F3A9C01", "O=ops, CN=sockspy CA")
    assert tls_serial_and_issuer(None) == (None, None)
    client = Client(front="tcp://0.0.0.0:2376", tls_cn="ci", tls_names=("ci",),
                    tls_serial="5F3A9C01", tls_issuer="CN=sockspy CA")  # fmt: skip
    assert (client.fields()["tls_serial"], client.fields()["tls_issuer"]) == (
        "5F3A9C01", "CN=sockspy CA",
    )  # fmt: skip
