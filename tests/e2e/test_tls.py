"""mTLS fronts with the real docker CLI and docker-py: certificates from `sockspy certs`,
per-certificate rules, exec output after stdin EOF over TLS, refused handshakes, and a
TLS upstream (a second sockspy with a TLS front standing in for a remote daemon)."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
from cryptography import x509
from support.cli import Docker
from support.cli import docker as run_docker
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

POLICY = """
mode = "enforce"

[[profiles]]
name = "deployer"
tls_names = ["alice"]

[[profiles]]
name = "viewer"
tls_names = ["bob"]

[[rules]]
name = "deployer-anything"
action = "allow"
profiles = ["deployer"]

[[rules]]
name = "viewer-ps"
action = "allow"
profiles = ["viewer"]
endpoints = ["system.ping", "container.list"]
"""


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sockspy certs` as a user runs it: a CA, a server certificate, alice and bob."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [sys.executable, "-m", "sockspy", "certs", str(folder),
         "--san", "127.0.0.1", "--san", "localhost", "--client", "alice", "--client", "bob"],
        check=True, capture_output=True,
    )  # fmt: skip
    return folder


def records_once(
    proxy: ProxyProcess, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
) -> list[dict[str, Any]]:
    """The audit records, once `done` holds for them (the log is written off the loop)."""
    deadline = time.monotonic() + timeout
    while True:
        records = proxy.audit_records()
        if done(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def tls_args(certs: Path) -> tuple[str, ...]:
    return (
        "--tlsverify",
        "--tlscacert", str(certs / "ca.pem"),
        "--tlscert", str(certs / "server-cert.pem"),
        "--tlskey", str(certs / "server-key.pem"),
    )  # fmt: skip


@pytest.fixture
def mtls(start_sockspy: Callable[..., ProxyProcess], certs: Path, tmp_path: Path) -> ProxyProcess:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    return start_sockspy(*tls_args(certs), policy=str(policy))


def as_client(proxy: ProxyProcess, certs: Path, who: str) -> Docker:
    env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs / who)}

    def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        return run_docker(proxy.tcp_host, *args, env=env, **kwargs)  # type: ignore[arg-type]

    return run


def test_two_client_certificates_get_the_rules_of_their_profiles(
    mtls: ProxyProcess, certs: Path, test_image: str, direct: Docker
) -> None:
    alice, bob = as_client(mtls, certs, "alice"), as_client(mtls, certs, "bob")
    out = alice("run", "--rm", test_image, "echo", "deployed over mTLS").stdout
    assert out == b"deployed over mTLS\n"
    bob("ps")
    denied = bob("run", "--rm", test_image, "true", check=False)
    assert denied.returncode != 0
    assert b"403" in denied.stderr or b"denied" in denied.stderr.lower()
    records = records_once(
        mtls, lambda rs: any(r.get("tls_cn") == "bob" and r.get("decision") == "deny" for r in rs)
    )
    exchanges = [r for r in records if r.get("event") == "exchange"]
    by_cn: dict[str, set[str]] = {}
    for record in exchanges:
        by_cn.setdefault(record.get("tls_cn", ""), set()).add(record["profile"])
        assert record["tls_names"] == [record["tls_cn"]]
    assert by_cn == {"alice": {"deployer"}, "bob": {"viewer"}}
    refused = [r for r in exchanges if r["tls_cn"] == "bob" and r["decision"] == "deny"]
    assert refused and all(r["endpoint"] == "container.create" for r in refused)


def test_exec_over_tls_returns_all_output_written_after_stdin_eof(
    mtls: ProxyProcess, certs: Path, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    # The CLI's CloseWrite on TLS is a close_notify: sockspy must pass it to the daemon
    # as a half-close and keep sending the output, which starts a second later.
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "600")
    payload = secrets.token_bytes(4 * 1024 * 1024)
    result = as_client(mtls, certs, "alice")(
        "exec", "-i", name, "sh", "-c", "cat > /tmp/in; sleep 1; cat /tmp/in",
        input=payload, timeout=120,
    )  # fmt: skip
    assert len(result.stdout) == len(payload)
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(payload).digest()
    records = records_once(mtls, lambda rs: any(r.get("event") == "session_end" for r in rs))
    starts = [r for r in records if r["event"] == "exchange" and r["endpoint"] == "exec.start"]
    assert [(r["tls_cn"], r["upgraded"]) for r in starts] == [("alice", True)]
    # Her certificate, told apart from any other named alice: its serial and its issuer.
    alice = x509.load_pem_x509_certificate((certs / "alice" / "cert.pem").read_bytes())
    assert int(starts[0]["tls_serial"], 16) == alice.serial_number
    assert starts[0]["tls_issuer"] == "CN=sockspy CA"


def test_docker_py_over_mtls_runs_a_container(
    mtls: ProxyProcess, certs: Path, test_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets these variables override the CA a client was given.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    alice = certs / "alice"
    tls = docker.tls.TLSConfig(
        client_cert=(str(alice / "cert.pem"), str(alice / "key.pem")),
        ca_cert=str(alice / "ca.pem"),
        verify=True,
    )
    client = docker.DockerClient(
        base_url=f"https://127.0.0.1:{mtls.tcp_port}", tls=tls, version="auto", timeout=60
    )
    try:
        assert client.ping() is True
        out = client.containers.run(test_image, ["echo", "hello from docker-py"], remove=True)
        assert out == b"hello from docker-py\n"
    finally:
        client.close()
    assert {r["tls_cn"] for r in mtls.exchanges()} == {"alice"}


def test_no_client_certificate_or_one_from_another_ca_is_refused_at_the_handshake(
    mtls: ProxyProcess, certs: Path, tmp_path: Path
) -> None:
    rogue = tmp_path / "rogue"
    subprocess.run(
        [sys.executable, "-m", "sockspy", "certs", str(rogue), "--client", "alice"],
        check=True, capture_output=True,
    )  # fmt: skip
    # alice's name, but signed by another CA, trusting sockspy's CA for the server.
    (rogue / "alice" / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    anonymous = tmp_path / "anonymous"
    anonymous.mkdir()
    (anonymous / "ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    before = len(mtls.exchanges())
    for cert_path in (rogue / "alice", anonymous):
        env = {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(cert_path)}
        result = run_docker(mtls.tcp_host, "ps", env=env, check=False, timeout=30)
        assert result.returncode != 0
    plain = run_docker(mtls.tcp_host, "ps", check=False, timeout=30)  # plain HTTP on TLS
    assert plain.returncode != 0
    assert len(mtls.exchanges()) == before  # not one request reached the policy
    records = records_once(
        mtls, lambda rs: any("CERTIFICATE" in r.get("reason", "").upper() for r in rs)
    )
    reasons = [r["reason"] for r in records if r.get("event") == "tls_refused"]
    assert any("CERTIFICATE" in reason.upper() for reason in reasons)


def test_a_tls_upstream_carries_requests_and_exec_half_close(
    start_sockspy: Callable[..., ProxyProcess],
    certs: Path,
    direct: Docker,
    test_image: str,
    new_name: Callable[[], str],
) -> None:
    # The "remote daemon": a sockspy with an mTLS front that lets only alice in.
    remote = start_sockspy(*tls_args(certs))
    local = start_sockspy(
        "--upstream-tlsverify",
        "--upstream-tlscacert", str(certs / "ca.pem"),
        "--upstream-tlscert", str(certs / "alice" / "cert.pem"),
        "--upstream-tlskey", str(certs / "alice" / "key.pem"),
        upstream=remote.tcp_host,
    )  # fmt: skip
    name = new_name()
    direct("run", "-d", "--name", name, test_image, "sleep", "600")
    assert name in run_docker(local.unix_host, "ps").stdout.decode()
    payload = secrets.token_bytes(1024 * 1024)
    result = run_docker(
        local.unix_host, "exec", "-i", name, "sh", "-c", "cat > /tmp/in; sleep 1; cat /tmp/in",
        input=payload, timeout=120,
    )  # fmt: skip
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(payload).digest()
    assert {r["tls_cn"] for r in remote.exchanges()} == {"alice"}


def ping_on(conn: ssl.SSLSocket) -> bytes:
    """One GET /_ping on an open TLS connection; the whole response."""
    conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
    response = b""
    while not response.endswith(b"\r\n\r\nOK"):
        chunk = conn.recv(4096)
        assert chunk, response
        response += chunk
    return response


def test_sighup_rotates_the_certificates_and_open_connections_keep_theirs(
    start_sockspy: Callable[..., ProxyProcess], certs: Path, tmp_path: Path
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    for name in ("ca.pem", "server-cert.pem", "server-key.pem"):
        shutil.copy(certs / name, live / name)
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    proxy = start_sockspy(*tls_args(live), policy=str(policy))
    old_alice = as_client(proxy, certs, "alice")
    old_alice("ps")
    context = ssl.create_default_context(cafile=certs / "alice" / "ca.pem")
    context.load_cert_chain(certs / "alice" / "cert.pem", certs / "alice" / "key.pem")
    raw = socket.create_connection(("127.0.0.1", proxy.tcp_port), timeout=30)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as open_conn:
        assert ping_on(open_conn).startswith(b"HTTP/1.1 200 ")

        [started] = [r for r in proxy.audit_records() if r["event"] == "tls"]
        assert started["level"] == "info" and started["cert_days_left"] > 800
        assert started["cert_names"] == ["127.0.0.1", "localhost"]

        rotated = tmp_path / "rotated"  # a new CA, server certificate and alice: 20 days
        subprocess.run(
            [sys.executable, "-m", "sockspy", "certs", str(rotated), "--san", "127.0.0.1",
             "--san", "docker.example", "--client", "alice", "--days", "20"],
            check=True, capture_output=True,
        )  # fmt: skip
        for name in ("ca.pem", "server-cert.pem", "server-key.pem"):
            shutil.copy(rotated / name, live / name)
        proxy.proc.send_signal(signal.SIGHUP)
        records_once(proxy, lambda rs: any(r.get("event") == "tls_reload" for r in rs))
        [reloaded] = [r for r in proxy.audit_records() if r["event"] == "tls_reload"]
        assert reloaded["ok"] is True and reloaded["level"] == "warning"  # expires soon
        assert reloaded["cert_names"] == ["127.0.0.1", "docker.example"]
        assert reloaded["cert_days_left"] in (19, 20)

        new_alice = as_client(proxy, rotated, "alice")
        new_alice("ps")
        assert old_alice("ps", check=False, timeout=30).returncode != 0  # old CA: refused
        assert ping_on(open_conn).startswith(b"HTTP/1.1 200 ")  # handshaken before: kept

        (live / "server-key.pem").write_text("not a key\n")
        proxy.proc.send_signal(signal.SIGHUP)
        records = records_once(
            proxy, lambda rs: sum(r.get("event") == "tls_reload" for r in rs) == 2
        )
        failed = [r for r in records if r.get("event") == "tls_reload"][1]
        assert failed["ok"] is False and "server-key.pem" in failed["reason"], failed
        new_alice("ps")  # the rotated certificates stay in force
        assert proxy.proc.poll() is None
