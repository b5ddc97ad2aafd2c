"""`sockspy tail`'s lines: who asked, the verdict, the request, in one line a person reads."""

from __future__ import annotations

from sockspy.core.audit.view import RESET, Filter, line, printable_record, who

EXCHANGE = {
    "timestamp": "2026-12-03T17:30:01.123456Z", "event": "exchange", "record_id": "r-1-2",
    "front": "unix:///run/sockspy.sock", "peer_uid": 0, "peer_user": "root",
    "peer_login_user": "alice", "peer_exe": "/usr/bin/docker", "method": "POST",
    "endpoint": "container.create", "target": "/v1.41/containers/create?name=db",
    "decision": "deny", "rule": "no-privileged", "reason": "HostConfig.Privileged is true",
    "status": 403, "duration_ms": 1.5,
    "summary": {"run": "docker run --privileged busybox"},
}  # fmt: skip


def test_a_denial_names_the_person_the_program_the_request_and_the_rule() -> None:
    text = line(EXCHANGE)
    assert text.startswith("17:30:01.123 DENY   alice(root) docker  POST container.create")
    assert "403 1.5ms  rule=no-privileged: HostConfig.Privileged is true" in text
    assert text.endswith("docker run --privileged busybox")


def test_colour_marks_the_verdict_only_when_asked() -> None:
    assert "\x1b[1;31mDENY  " + RESET in line(EXCHANGE, color=True)
    assert "\x1b" not in line(EXCHANGE)


def test_a_tcp_client_in_a_container_is_named_by_its_container() -> None:
    record = {"front": "tcp://0.0.0.0:2375", "client_ip": "172.18.0.5",
              "client_container": "traefik"}  # fmt: skip
    assert who(record) == "[traefik]"
    assert who({"front": "tcp://x", "client_ip": "10.0.0.9", "tls_cn": "ci"}) == "cn=ci 10.0.0.9"


def test_a_session_end_shows_the_command_and_exit_code() -> None:
    end = {"timestamp": "2026-12-03T17:30:09.000001Z", "event": "session_end",
           "endpoint": "exec.start", "object": "abc", "duration_ms": 812.0,
           "client_to_daemon_bytes": 12, "daemon_to_client_bytes": 340,
           "exec_command": ["sh", "-c", "exit 3"], "exit_code": 3}  # fmt: skip
    assert line(end) == (
        "17:30:09.000 ■ END   exec.start abc 812.0ms ↑12B ↓340B  sh -c exit 3  exit=3"
    )


def test_filters_select_denials_clients_endpoints_and_containers() -> None:
    allowed = {**EXCHANGE, "decision": "allow", "endpoint": "container.list",
               "target": "/containers/json", "peer_login_user": "bob"}  # fmt: skip
    assert Filter(denied=True).shows(EXCHANGE) and not Filter(denied=True).shows(allowed)
    assert Filter(client="alice").shows(EXCHANGE) and not Filter(client="alice").shows(allowed)
    assert Filter(endpoint="container.c*").shows(EXCHANGE)
    assert not Filter(endpoint="container.c*").shows(allowed)
    assert Filter(container="db").shows(EXCHANGE) and not Filter(container="db").shows(allowed)
    assert not Filter().shows({"event": "policy"})


HOSTILE = "\x1b]0;owned\x07\x1b[2K\rALLOW \u202eok"  # retitle, erase the line, redraw it


def test_what_a_client_wrote_reaches_the_operators_screen_escaped() -> None:
    """A program name, a target or a command line is the client's text: a terminal
    control sequence in it is shown as written, never obeyed."""
    record = {
        **EXCHANGE,
        "peer_exe": f"/tmp/{HOSTILE}",
        "target": f"/v1.41/containers/create?name={HOSTILE}",
        "summary": {"run": f"docker run {HOSTILE}"},
    }
    for color in (False, True):
        text = line(record, color=color)
        assert "\x07" not in text and "\r" not in text and "\u202e" not in text
        plain = text.replace(RESET, "").replace("\x1b[1;31m", "").replace("\x1b[2m", "")
        assert "\x1b" not in plain, text
        assert "\\x1b]0;owned\\x07\\x1b[2K\\x0dALLOW \\u202eok" in text
    assert line(EXCHANGE) == line(printable_record(EXCHANGE))  # plain text is unchanged


def test_the_markdown_report_escapes_what_a_client_wrote() -> None:
    from sockspy.core.audit.report import build
    from sockspy.core.audit.report_render import to_markdown

    record = {**EXCHANGE, "peer_exe": f"/tmp/{HOSTILE}", "peer_container_name": HOSTILE}
    text = to_markdown(build([record]).as_dict())
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
