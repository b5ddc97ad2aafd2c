"""What /healthz, /metrics and the audit log say of the server certificate is the one in
force: held with the TLS context, never read from the file again."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import trio

from sockspy.certs import write_certs
from sockspy.io.logsink import AuditLog
from sockspy.io.reload import CertReloader
from sockspy.io.tls import TlsFiles, load_server_tls


def server_files(directory: Path, name: str) -> TlsFiles:
    write_certs(directory, [name], [])
    return TlsFiles(
        verify=False, cert=str(directory / "server-cert.pem"), key=str(directory / "server-key.pem")
    )


def test_a_failed_reload_keeps_reporting_the_certificate_in_force(tmp_path: Path) -> None:
    alpha = server_files(tmp_path / "alpha", "alpha.test")
    beta = server_files(tmp_path / "beta", "beta.test")
    assert alpha.cert is not None and beta.cert is not None
    certs = CertReloader(
        load_server_tls(alpha), lambda: load_server_tls(alpha), AuditLog("json", io.StringIO())
    )
    assert certs.describe()["cert_names"] == ["alpha.test"]
    shutil.copy(beta.cert, alpha.cert)  # beta's certificate beside alpha's key: it cannot load
    assert trio.run(certs.reload) is False
    assert certs.describe()["cert_names"] == ["alpha.test"]  # what the fronts still serve
    shutil.copy(beta.key or "", alpha.key or "")  # now the pair matches: the reload takes it
    assert trio.run(certs.reload) is True
    assert certs.describe()["cert_names"] == ["beta.test"]
