"""What the audit log says about the fronts' server certificate: whom it names, until when.

A server certificate that expires takes every TLS client down at once, typically two
years after whoever made it has forgotten. sockspy states its names and end of validity
when it starts and after each reload (`tls` and `tls_reload` records, `/healthz`), and
raises the record's level to a warning inside `EXPIRY_WARNING_DAYS` (an error once it
has expired), so a log alert can catch it in time.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from sockspy.core.records import CertFields

EXPIRY_WARNING_DAYS = 30


def certificate_fields(pem: bytes, now: datetime.datetime) -> CertFields:
    """Audit fields of the first certificate in `pem`: subject CN, names (its SANs),
    not_after (UTC, ISO 8601) and days_left (negative once expired). Raises ValueError
    for bytes that hold no PEM certificate."""
    cert = x509.load_pem_x509_certificate(pem)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n.value) for n in sans if isinstance(n, x509.DNSName | x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    not_after = cert.not_valid_after_utc
    return {
        "cert_subject": str(cns[0].value) if cns else None,
        "cert_names": names,
        "cert_not_after": not_after.isoformat().replace("+00:00", "Z"),
        "cert_days_left": (not_after - now).days,
    }


def expiry_level(fields: Mapping[str, Any]) -> str:
    """The audit level for a certificate with these fields: info, warning (expiring), error."""
    days = int(fields["cert_days_left"])
    if days < 0:
        return "error"
    return "warning" if days < EXPIRY_WARNING_DAYS else "info"
