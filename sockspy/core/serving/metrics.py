"""The admin address's counters in Prometheus' text format (what a `/metrics` scraper reads).

Each server counter has one metric with its type and help line; exchanges are counted by
decision (`allow`, `deny`, `would_deny`, `reject`) in one labelled counter. The JSON form
of the same values stays available (`/metrics?format=json`).
"""

from __future__ import annotations

from collections.abc import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# counter name in Server.metrics() -> (metric name, type, help)
_METRICS: dict[str, tuple[str, str, str]] = {
    "connections_accepted": (
        "sockspy_connections_accepted_total", "counter", "Client connections served."),
    "connections_refused": (
        "sockspy_connections_refused_total", "counter",
        "Client connections turned away by --max-connections or --max-connections-per-client."),
    "rate_limited": (
        "sockspy_requests_rate_limited_total", "counter", "Requests denied by --rate-limit."),
    "policy_reloads": ("sockspy_policy_reloads_total", "counter", "Policies reloaded (SIGHUP)."),
    "policy_reload_failures": (
        "sockspy_policy_reload_failures_total", "counter",
        "Reloads that kept the old policy because the new one did not load."),
    "tls_reloads": ("sockspy_tls_reloads_total", "counter", "TLS certificates reloaded."),
    "tls_reload_failures": (
        "sockspy_tls_reload_failures_total", "counter",
        "Reloads that kept the old certificates because the new ones did not load."),
    "open_connections": ("sockspy_open_connections", "gauge", "Client connections open now."),
    "tls_handshakes": (
        "sockspy_tls_handshakes", "gauge", "TLS handshakes in progress (counted as open)."),
    "tls_cert_not_after": (
        "sockspy_tls_cert_not_after_seconds", "gauge",
        "End of validity of the TLS fronts' server certificate (Unix time)."),
    "uptime_s": ("sockspy_uptime_seconds", "gauge", "Seconds since sockspy started."),
    "workers": ("sockspy_workers", "gauge", "serve --workers: worker processes running now."),
}  # fmt: skip
METRIC_KEYS = frozenset(_METRICS)  # a test feeds every counter the servers report to it

_EXCHANGES = "sockspy_exchanges_total"


def prometheus_text(values: Mapping[str, float], exchanges: Mapping[str, int]) -> str:
    """The exposition text: `values` as named in `_METRICS` (others are left out), then
    `exchanges` (decision -> count) as one counter labelled by decision."""
    lines: list[str] = []
    for key, value in values.items():
        known = _METRICS.get(key)
        if known is None:
            continue
        name, kind, text = known
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {_number(value)}"]
    lines += [
        f"# HELP {_EXCHANGES} Request/response exchanges, by the policy's decision.",
        f"# TYPE {_EXCHANGES} counter",
    ]
    for decision in sorted(exchanges):
        lines.append(f'{_EXCHANGES}{{decision="{decision}"}} {exchanges[decision]}')
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    """Integers as integers, floats in full (a Unix time must not lose its seconds)."""
    return str(value) if isinstance(value, int) else repr(float(value))
