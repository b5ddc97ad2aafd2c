"""The TOML loader: a valid file becomes a Policy; every mistake is reported with its line."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from sockspy.policy.load import PolicyError, load_policy, parse_policy
from sockspy.policy.model import DEFAULT_MAX_BODY_BYTES, Rule

FULL = """\
mode = "warn"
min_api_version = "1.40"
max_body_bytes = 2048

[host_access]
allowed_bind_paths = ["/srv/ci-workspace"]

[[profiles]]
name = "ci"
uids = [1001]
executables = ["/usr/bin/gitlab-runner"]

[[profiles]]
name = "lan"
cidrs = ["10.0.0.0/8", "fd00::/8"]

[[rules]]
name = "no-host-access"
action = "deny"
message = "no host access"
profiles = ["ci"]
methods = ["POST"]
endpoints = ["container.create", "exec.*"]
if_findings = ["privileged", "host_access"]

[[rules]]
name = "list-all"
action = "allow"
paths = ["/containers/json"]
query = { all = "1" }
query_true = ["size"]
query_false = ["digests"]
unless_findings = ["bind_mount"]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.toml")
    return [str(p) for p in caught.value.problems]


def test_a_full_policy_loads_with_every_key() -> None:
    policy = parse_policy(FULL, "p.toml")
    assert policy.mode == "warn"
    assert policy.min_api_version == "1.40"
    assert policy.max_body_bytes == 2048
    assert policy.host_access.allowed_bind_paths == ("/srv/ci-workspace",)
    ci, lan = policy.profiles
    assert (ci.name, ci.uids, ci.executables, ci.line) == (
        "ci",
        (1001,),
        ("/usr/bin/gitlab-runner",),
        8,
    )
    assert lan.cidrs == (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))
    deny, allow = policy.rules
    assert deny == Rule(
        name="no-host-access",
        action="deny",
        message="no host access",
        profiles=("ci",),
        methods=("POST",),
        endpoints=("container.create", "exec.*"),
        if_findings=("privileged", "host_access"),
        line=17,
    )
    assert allow.query == (("all", "1"),)
    assert allow.query_names == ("all", "size", "digests")
    assert (allow.paths, allow.unless_findings, allow.line) == (
        ("/containers/json",),
        ("bind_mount",),
        26,
    )


def test_an_empty_file_is_a_policy_that_denies_everything() -> None:
    policy = parse_policy("", "empty.toml")
    assert (policy.mode, policy.min_api_version, policy.max_body_bytes) == (
        "enforce",
        "1.24",
        DEFAULT_MAX_BODY_BYTES,
    )
    assert policy.rules == () and policy.profiles == ()


def test_toml_syntax_errors_carry_their_line() -> None:
    assert problems('mode = "enforce"\n\n[[rules]]\nname = \n') == [
        "p.toml:4: TOML syntax: Invalid value"
    ]


def test_unknown_keys_are_reported_at_their_own_line() -> None:
    text = (
        'mode = "enforce"\nmodes = "x"\n[[rules]]\nname = "a"\naction = "allow"\nendpoint = ["x"]\n'
    )
    assert problems(text) == [
        "p.toml:2: unknown key 'modes' in top level (known: mode, min_api_version, "
        "max_body_bytes, max_build_context_bytes, owner_label, host_access, profiles, rules)",
        "p.toml:6: unknown key 'endpoint' in [[rules]] (known: name, action, message, profiles, "
        "methods, endpoints, paths, query, query_true, query_false, if_findings, unless_findings, "
        "audit, record, record_required, redact)",
    ]


def test_a_rule_without_action_points_at_its_rules_header() -> None:
    text = '[[rules]]\nname = "a"\naction = "allow"\n\n[[rules]]\nname = "b"\n'
    assert problems(text) == ["p.toml:5: rule 'b' has no action (allow or deny)"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('mode = "block"', "p.toml:1: mode 'block' is not one of enforce, warn, audit"),
        ("mode = 1", "p.toml:1: mode must be a string, not an integer"),
        ('min_api_version = "1.x"', "p.toml:1: min_api_version '1.x' is not a version"),
        ("max_body_bytes = 0", "p.toml:1: max_body_bytes must be 1 to 67108864"),
        (
            "max_body_bytes = true",
            "p.toml:1: max_body_bytes must be an integer (bytes), not a boolean",
        ),
        ('rules = "x"', "p.toml:1: rules must be an array of tables ([[rules]])"),
        (
            '[host_access]\nallowed_bind_paths = ["srv"]',
            "p.toml:2: allowed_bind_paths: 'srv' is not an absolute path",
        ),
        (
            "[host_access]\nallowed_binds = []",
            "p.toml:2: unknown key 'allowed_binds' in [host_access] (known: allowed_bind_paths, "
            "allowed_log_drivers, allowed_capabilities, allowed_devices, allowed_runtimes, "
            "allowed_mount_types, allowed_volume_drivers, allowed_annotations, "
            "allowed_network_drivers, min_oom_score_adj)",
        ),
    ],
)
def test_top_level_mistakes(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_min_api_version_as_a_toml_number_is_refused_with_the_reason() -> None:
    (message,) = problems("min_api_version = 1.40")
    assert message.startswith("p.toml:1: min_api_version must be a string like")
    assert "1.4" in message


RULE = '[[rules]]\nname = "r"\naction = "deny"\n'


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ("action2 = 1", "unknown key 'action2'"),
        ('endpoints = ["containers.create"]', "endpoints: 'containers.create' matches no endpoint"),
        ('endpoints = ["exec.*", "nope.*"]', "endpoints: 'nope.*' matches no endpoint"),
        ('endpoints = "container.create"', "endpoints must be a list of strings, not a string"),
        ('if_findings = ["priviledged"]', "if_findings: 'priviledged' is not a finding code"),
        ('unless_findings = ["x"]', "unless_findings: 'x' is not a finding code"),
        ('methods = ["post"]', "methods: 'post': methods are exact-case in dockerd, write 'POST'"),
        ('methods = ["FETCH"]', "methods: 'FETCH' is not an HTTP method dockerd serves"),
        ('profiles = ["ci"]', "profiles: no profile is named 'ci' (profiles: default)"),
        ('paths = ["/v1.41/containers/json"]', "paths are matched without the /vX.Y prefix"),
        ('paths = ["containers/json"]', "paths: 'containers/json' does not start with '/'"),
        ("query = { all = 1 }", 'query.all must be a string (dockerd compares text: write "1")'),
        ("query = { all = true }", 'write "1"'),
        ('query = "all=1"', "query must be a table"),
        ("query_true = [1]", "query_true: 1 is not a string"),
        ("message = 3", "message must be a string, not an integer"),
    ],
)
def test_rule_mistakes_point_at_the_offending_key(lines: str, expected: str) -> None:
    (message,) = problems(RULE + lines + "\n")
    assert message.startswith("p.toml:4: ")
    assert expected in message


def test_bad_action_and_names() -> None:
    text = (
        "[[rules]]\n"
        'name = "default"\n'
        'action = "permit"\n'
        "[[rules]]\n"
        'name = "a b"\n'
        'action = "allow"\n'
    )
    assert problems(text) == [
        "p.toml:2: the rule name 'default' is reserved",
        "p.toml:3: action 'permit' is not allow or deny",
        "p.toml:5: rule name 'a b': use letters, digits, _ . : -",
    ]


def test_duplicate_and_missing_rule_names() -> None:
    text = (
        "[[rules]]\n"
        'name = "a"\n'
        'action = "allow"\n'
        "[[rules]]\n"
        'name = "a"\n'
        'action = "deny"\n'
        "[[rules]]\n"
        'action = "deny"\n'
    )
    assert problems(text) == [
        "p.toml:5: rule name 'a' is used twice",
        "p.toml:7: this rule has no name",
    ]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('cidrs = ["10.0.0.300/8"]', "p.toml:3: cidrs: '10.0.0.300/8' is not a CIDR"),
        (
            'cidrs = ["10.0.0.1/8"]',
            "p.toml:3: cidrs: '10.0.0.1/8' is not a CIDR: 10.0.0.1/8 has host bits set",
        ),
        ("uids = [-1]", "p.toml:3: uids: -1 is not a uid/gid"),
        ('uids = ["1000"]', "p.toml:3: uids: '1000' is not an integer"),
        ('containers = ["ABC"]', "p.toml:3: containers: 'ABC' is not a container id prefix"),
        ('executables = ["runner"]', "p.toml:3: executables: 'runner' is not an absolute path"),
    ],
)
def test_profile_mistakes(lines: str, expected: str) -> None:
    messages = problems(f'[[profiles]]\nname = "p"\n{lines}\n')
    assert messages[0].startswith(expected)


def test_profile_names_default_is_reserved_and_criteria_are_required() -> None:
    assert problems('[[profiles]]\nname = "default"\nuids = [1]\n[[profiles]]\nname = "x"\n') == [
        "p.toml:2: the profile name 'default' is reserved for clients no profile matches",
        "p.toml:4: profile 'x' has no criteria (uids, gids, executables, containers, cidrs): "
        "it would match every client",
    ]


def test_every_problem_is_reported_at_once() -> None:
    text = (
        'mode = "x"\n'
        "[[rules]]\n"
        'name = "a"\n'
        'action = "allow"\n'
        'endpoints = ["bogus"]\n'
        "[[rules]]\n"
        'name = "b"\n'
        'action = "nope"\n'
    )
    assert [m.split(":")[1] for m in problems(text)] == ["1", "5", "8"]


def test_sub_tables_of_a_rule_are_located_under_it() -> None:
    text = RULE + "\n[rules.query]\nall = 1\n"
    assert problems(text) == [
        'p.toml:6: query.all must be a string (dockerd compares text: write "1"), not an integer'
    ]


def test_header_lookalikes_inside_multiline_strings_are_ignored() -> None:
    text = (
        'mode = "enforce"\n'
        "[[rules]]\n"
        'name = "a"\n'
        'action = "deny"\n'
        'message = """\n'
        "[[rules]]\n"
        '"""\n'
        "[[rules]]\n"
        'name = "b"\n'
        "bad = 1\n"
    )
    assert problems(text) == [
        "p.toml:10: unknown key 'bad' in [[rules]] (known: name, action, message, profiles, "
        "methods, endpoints, paths, query, query_true, query_false, if_findings, unless_findings, "
        "audit, record, record_required, redact)",
        "p.toml:8: rule 'b' has no action (allow or deny)",
    ]


def test_load_policy_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        'mode = "enforce"\n[[rules]]\nname = "x"\naction = "allow"\nendpoints = ["nope"]\n'
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}:5: endpoints: 'nope' matches no endpoint")


def test_a_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "absent.toml")
    assert "cannot read the policy" in str(caught.value)


def test_a_loaded_file_keeps_its_source(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text('[[rules]]\nname = "all"\naction = "allow"\n')
    assert load_policy(path).source == str(path)


def test_the_example_policy_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "configs" / "example.toml"
    policy = load_policy(example)
    assert [p.name for p in policy.profiles] == [
        "ci", "monitoring", "sidecar", "proxy", "operators",
    ]  # fmt: skip
    operators = policy.profiles[-1]
    assert (operators.record, operators.record_required) == ("all", True)
    assert policy.profiles[3].container_names == ("traefik*",)
    assert {r.name: r.audit for r in policy.rules}["everyone-pings"] == "none"
    assert policy.rules[0].name == "no-host-access"
