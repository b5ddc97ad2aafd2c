"""`sockspy audit report`: who did what, from records, in JSON, Markdown and HTML."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from sockspy.core.audit.report import build
from sockspy.core.audit.report_render import to_html, to_json, to_markdown

ALICE = {"front": "unix:///s", "peer_uid": 0, "peer_user": "root", "peer_login_user": "alice",
         "peer_exe": "/usr/bin/docker"}  # fmt: skip
TRAEFIK = {"front": "tcp://0.0.0.0:2375", "client_ip": "172.18.0.5",
           "client_container": "traefik<script>"}  # fmt: skip


def exchange(
    who: dict[str, object], conn: int, n: int, endpoint: str, **more: object
) -> dict[str, object]:
    return {"event": "exchange", "timestamp": f"2026-12-03T10:0{n % 3}:00.000000Z",
            "record_id": f"r1-{conn}-{n}", "conn_id": conn, "request_no": n, **who,
            "endpoint": endpoint, "decision": "allow", **more}  # fmt: skip


RECORDS = [
    exchange(ALICE, 1, 1, "container.create",
             made={"kind": "container", "id": "ab" * 32, "name": "db"},
             summary={"run": "docker run --name db busybox"}),
    exchange(ALICE, 2, 1, "exec.create"),
    exchange(ALICE, 2, 2, "exec.start", status=101),
    {"event": "session_end", "timestamp": "2026-12-03T10:01:30.000000Z", "record_id": "r1-2-2",
     "endpoint": "exec.start", "exec_command": ["sh", "-c", "exit 3"], "exit_code": 3,
     "duration_ms": 900.0},
    exchange(TRAEFIK, 3, 1, "container.list"),
    exchange(TRAEFIK, 3, 2, "container.create", decision="deny", rule="readonly",
             reason="no rule allows container.create"),
]  # fmt: skip


def test_each_client_gets_its_endpoints_denials_sessions_and_objects() -> None:
    report = build(RECORDS).as_dict()
    assert (report["exchanges"], report["denied"]) == (5, 1)
    alice, traefik = report["clients"]
    assert alice["client"] == "alice(root) docker" and alice["requests"] == 3
    assert alice["endpoints"] == {"container.create": 1, "exec.create": 1, "exec.start": 1}
    assert alice["sessions"][0]["command"] == ["sh", "-c", "exit 3"]
    assert alice["sessions"][0]["exit_code"] == 3  # joined by its connection, not by a name
    assert alice["created"][0]["name"] == "db" and alice["created"][0]["run"].startswith("docker")
    assert traefik["denials"][0]["rule"] == "readonly" and traefik["sessions"] == []
    assert sum(p["denied"] for p in report["timeline"]) == 1


def test_the_renderings_carry_the_same_facts_and_escape_the_log() -> None:
    report = build(RECORDS).as_dict()
    assert json.loads(to_json(report)) == report
    markdown = to_markdown(report)
    assert "## alice(root) docker" in markdown and "| sh -c exit 3 | 3 |" in markdown
    page = to_html(report)
    assert "<script>" not in page and "traefik&lt;script&gt;" in page

    class Tables(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.classes: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "table":
                self.classes.append(dict(attrs).get("class") or "")

    parser = Tables()
    parser.feed(page)
    assert parser.classes.count("identity") == 2 and "sessions" in parser.classes
    assert "src=" not in page and "href=" not in page  # self-contained
