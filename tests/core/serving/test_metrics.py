"""The admin counters in Prometheus' text format."""

from __future__ import annotations

from sockspy.core.serving.metrics import prometheus_text


def test_counters_gauges_and_exchanges_by_decision_in_exposition_format() -> None:
    text = prometheus_text(
        {"connections_accepted": 7, "uptime_s": 12.5, "tls_cert_not_after": 1_872_345_678,
         "not_a_metric": 3},
        {"deny": 2, "allow": 5},
    )  # fmt: skip
    assert text.endswith("\n")
    lines = text.splitlines()
    assert lines[:3] == [
        "# HELP sockspy_connections_accepted_total Client connections served.",
        "# TYPE sockspy_connections_accepted_total counter",
        "sockspy_connections_accepted_total 7",
    ]
    assert "sockspy_uptime_seconds 12.5" in lines
    assert "sockspy_tls_cert_not_after_seconds 1872345678" in lines  # every digit kept
    assert not any("not_a_metric" in line for line in lines)
    assert lines[-2:] == [
        'sockspy_exchanges_total{decision="allow"} 5',
        'sockspy_exchanges_total{decision="deny"} 2',
    ]
