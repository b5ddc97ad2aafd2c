"""`sockspy check` and `sockspy explain`: output and exit codes."""

from __future__ import annotations

import io
from pathlib import Path

from sockspy.cli.check import check_main
from sockspy.cli.explain import explain_main

POLICY = """\
mode = "enforce"

[[profiles]]
name = "ci"
uids = [1001]

[[rules]]
name = "no-exec"
action = "deny"
message = "no shells"
endpoints = ["exec.*"]

[[rules]]
name = "ci-reads"
action = "allow"
profiles = ["ci"]
methods = ["GET"]
endpoints = ["container.*"]
query = { all = "1" }
"""


def run_check(path: str) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = check_main(path, out)
    return code, out.getvalue().splitlines()


def run_explain(
    path: str,
    line: str,
    body: str | None = None,
    uid: int | None = None,
    gid: int | None = None,
    ip: str | None = None,
) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = explain_main(path, line, body, uid, gid, ip, out)
    return code, out.getvalue().splitlines()


def test_check_prints_the_effective_policy(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    code, lines = run_check(str(path))
    assert code == 0
    assert lines[0] == f"policy: {path}: OK"
    assert lines[1:5] == [
        "mode: enforce",
        "min_api_version: 1.24",
        "max_body_bytes: 1048576",
        "max_build_context_bytes: 67108864",
    ]
    assert lines[5].startswith(
        'host_access: allowed_bind_paths=[] allowed_log_drivers=["", "json-file"'
    )
    assert lines[6:] == [
        "profiles (first match wins; any other client is 'default'):",
        "  ci uids=1001 (line 3)",
        "rules (first match wins; no match: deny by rule 'default'):",
        "   1. deny  no-exec  endpoints=exec.* message='no shells' (line 7)",
        "   2. allow ci-reads profiles=ci methods=GET endpoints=container.* query=all=1 (line 13)",
    ]


def test_check_prints_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'mode = "strict"\n[[rules]]\nname = "x"\naction = "allow"\nendpoints = ["containers.*"]\n'
    )
    code, lines = run_check(str(path))
    assert code == 1
    assert lines == [
        f"{path}:1: mode 'strict' is not one of enforce, warn, audit",
        f"{path}:5: endpoints: 'containers.*' matches no endpoint "
        "(names look like container.create, exec.*)",
    ]


def test_check_accepts_a_preset_name() -> None:
    code, lines = run_check("audit-only")
    assert code == 0
    assert lines[0] == "policy: preset:audit-only: OK"
    assert lines[1] == "mode: audit"
    assert lines[-1] == "   1. allow allow-all (every request) (line 9)"


def test_check_of_a_missing_file() -> None:
    code, lines = run_check("/nonexistent/policy.toml")
    assert code == 1
    assert lines == ["/nonexistent/policy.toml: cannot read the policy: No such file or directory"]


def test_explain_an_allowed_request(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    code, lines = run_explain(str(path), "GET /v1.45/containers/json?all=1", uid=1001, gid=1001)
    assert code == 0
    assert lines == [
        f"policy:    {path} (mode enforce)",
        "request:   GET /v1.45/containers/json?all=1",
        "endpoint:  container.list (API 1.45)",
        "client:    uid=1001 gid=1001 -> profile ci",
        "findings:  none",
        "facts:     none needed",
        "decision:  allow by rule ci-reads (line 13)",
    ]


def test_explain_a_denied_request_shows_the_message_the_client_gets(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(POLICY)
    code, lines = run_explain(str(path), "GET /v1.45/containers/json?all=1", uid=1000)
    assert code == 1
    assert lines[3] == "client:    uid=1000 -> profile default"
    assert lines[-2:] == [
        "decision:  deny 403 by rule default [default_deny]",
        "message:   sockspy: denied by rule default: "
        "no rule allows container.list for profile default",
    ]
    code, lines = run_explain(str(path), "POST /containers/web/exec")
    assert lines[2] == "endpoint:  exec.create (no API version)"
    assert lines[-1] == "message:   sockspy: denied by rule no-exec: no shells"


def test_explain_of_a_request_the_core_refuses() -> None:
    code, lines = run_explain("readonly", "GET /v1.45/containers//json")
    assert code == 1
    assert (
        lines[-1]
        == "decision:  refused by the core, 400 (non_canonical_target): non-canonical request path"
    )


def test_explain_of_a_canonical_refusal() -> None:
    code, lines = run_explain("readonly", "GET /v1.9/containers/json")
    assert code == 1
    assert lines[-2] == "decision:  deny 400 by rule canonical [api_version_too_old]"


def test_explain_in_warn_mode_says_would_deny(tmp_path: Path) -> None:
    path = tmp_path / "warn.toml"
    path.write_text('mode = "warn"\n')
    code, lines = run_explain(str(path), "GET /info", ip="10.0.0.1")
    assert code == 0
    assert lines[3] == "client:    ip=10.0.0.1 -> profile default"
    assert (
        lines[-2]
        == "decision:  would deny (forwarded: mode warn) 403 by rule default [default_deny]"
    )


def test_explain_says_when_the_body_is_needed_but_missing() -> None:
    _, lines = run_explain("ci-runner", "POST /v1.45/containers/create")
    assert "findings:  unknown: the host-access checks read this endpoint's body (--body)" in lines


def test_explain_says_when_serve_would_ask_the_daemon_first() -> None:
    _, lines = run_explain("ci-runner", "GET /v1.45/containers/web/archive?path=/etc")
    facts = next(line for line in lines if line.startswith("facts:"))
    assert facts.startswith(
        "facts:     none: explain does not ask the daemon; serve would inspect web"
    )


def test_explain_says_the_daemon_defaults_are_unknown_and_checks_strictly(
    tmp_path: Path,
) -> None:
    body = tmp_path / "recreate.json"
    body.write_text('{"Image": "bb", "HostConfig": {"CgroupnsMode": "host"}}')
    code, lines = run_explain("watchtower", "POST /v1.41/containers/create", body=str(body))
    assert code == 1
    assert "findings:  cgroupns_mode: HostConfig.CgroupnsMode is 'host'" in lines
    facts = lines.index(next(line for line in lines if line.startswith("facts:")))
    assert lines[facts] == (
        "facts:     none: explain does not ask the daemon; serve would inspect image bb (taken "
        "here as one without a WORKDIR) and read its version and cgroup setup (GET /version, "
        "GET /info) first, and the decision may differ"
    )
    assert "the daemon's defaults are unknown here, so the strict checks apply" in lines[facts + 1]
    body.write_text('{"Image": "bb", "HostConfig": {}}')
    _, lines = run_explain("watchtower", "POST /v1.41/containers/create", body=str(body))
    facts = next(line for line in lines if line.startswith("facts:"))
    assert "read its version" not in facts  # the image's WORKDIR is all serve would ask


def test_explain_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_explain("readonly", "GET")[0] == 2
    assert run_explain("readonly", "GET containers/json")[0] == 2
    assert (
        run_explain("readonly", "POST /containers/create", body=str(tmp_path / "absent.json"))[0]
        == 2
    )
    code, lines = run_explain("no-such-preset-or-file", "GET /info")
    assert code == 2
    assert lines == ["no-such-preset-or-file: cannot read the policy: No such file or directory"]


def test_explain_picks_the_profile_of_a_client_certificate_name(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        """
        [[profiles]]
        name = "deployer"
        tls_names = ["alice"]
        [[rules]]
        name = "deployers-create"
        action = "allow"
        profiles = ["deployer"]
        endpoints = ["container.create"]
        """
    )
    for names, code, profile in ((["alice"], 0, "deployer"), (["bob"], 1, "default")):
        out = io.StringIO()
        got = explain_main(
            str(path), "POST /v1.41/containers/create", None, None, None, None, out,
            tls_names=names,
        )  # fmt: skip
        assert got == code
        assert f"tls_name={names[0]} -> profile {profile}" in out.getvalue()


def test_explain_reads_a_body_up_to_the_policy_limit_as_serve_does(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text(
        "max_body_bytes = 4194304\n"
        '[[rules]]\nname = "no-privileged"\naction = "deny"\nendpoints = ["container.create"]\n'
        'if_findings = ["privileged"]\n'
        '[[rules]]\nname = "rest"\naction = "allow"\n'
    )
    body = tmp_path / "create.json"
    padding = "x" * (2 * 1024 * 1024)
    body.write_text(f'{{"Image": "bb", "Labels": {{"pad": "{padding}"}}}}')
    code, lines = run_explain(str(path), "POST /v1.45/containers/create", body=str(body))
    assert (code, lines[-1]) == (0, "decision:  allow by rule rest (line 7)")
    path.write_text(path.read_text().replace("4194304", "1048576"))
    code, lines = run_explain(str(path), "POST /v1.45/containers/create", body=str(body))
    assert code == 1
    refused = "decision:  refused by the core, 413 (body_too_large): request body over 1048576"
    assert lines[-1].startswith(refused)
