"""Every counter a server reports reaches Prometheus: `prometheus_text` leaves out a key
it has no row for, so a new counter without a row would be lost without a sound (the
`workers` gauge of `serve --workers` was, until this test fed them all to the table)."""

from __future__ import annotations

import io

from sockspy.core.deciding.gate import AllowAll
from sockspy.core.serving.address import UnixAddress
from sockspy.core.serving.metrics import METRIC_KEYS, prometheus_text
from sockspy.io.logsink import AuditLog
from sockspy.io.server import ServeConfig, Server
from sockspy.io.workers import Supervisor


def test_every_counter_of_a_server_and_a_supervisor_has_a_prometheus_row() -> None:
    log = AuditLog("json", io.StringIO())
    try:
        config = ServeConfig(
            log=log,
            gate=AllowAll(),
            upstream=UnixAddress("/nonexistent/docker.sock"),
            listen=[UnixAddress("/nonexistent/front.sock")],
        )
        server = Server(config)
        supervisor = Supervisor(2, [], [], log, 0o660, None)
        supervisor.reports[0] = {"metrics": server.metrics(), "exchanges": {"allow": 1}}
        for values in (server.metrics(), supervisor.metrics()):
            assert set(values) <= METRIC_KEYS, sorted(set(values) - METRIC_KEYS)
        text = prometheus_text(supervisor.metrics(), supervisor.exchanges())
        assert "sockspy_workers 0" in text.splitlines()
    finally:
        log.close()
