"""What the audit log says of the server certificate: its names and when it expires."""

from __future__ import annotations

import datetime

import pytest

from sockspy.certs import issue, make_ca
from sockspy.core.serving.certinfo import certificate_fields, expiry_level

NOW = datetime.datetime.now(datetime.UTC)


def test_fields_name_the_subject_the_sans_and_the_end_of_validity() -> None:
    server = issue(
        make_ca(), "docker.example", ["docker.example", "10.0.0.5"], server=True, days=90
    )
    fields = certificate_fields(server.cert, NOW)
    assert fields["cert_subject"] == "docker.example"
    assert fields["cert_names"] == ["docker.example", "10.0.0.5"]
    assert fields["cert_days_left"] in (89, 90)
    not_after = datetime.datetime.fromisoformat(fields["cert_not_after"].replace("Z", "+00:00"))
    assert abs(not_after - (NOW + datetime.timedelta(days=90))) < datetime.timedelta(minutes=1)
    assert expiry_level(fields) == "info"


@pytest.mark.parametrize(
    ("days_later", "level"), [(0, "warning"), (10, "warning"), (40, "error")]
)  # fmt: skip
def test_a_certificate_near_or_past_its_end_raises_the_level(days_later: int, level: str) -> None:
    server = issue(make_ca(), "s", ["s"], server=True, days=35)
    later = NOW + datetime.timedelta(days=days_later + 6)  # 29 days left, 19, -11
    assert expiry_level(certificate_fields(server.cert, later)) == level


def test_bytes_without_a_certificate_are_a_value_error() -> None:
    with pytest.raises(ValueError):
        certificate_fields(b"not a certificate", NOW)
