"""Where `sockspy serve` takes its policy: -c, then docker-socket-proxy variables, then readonly."""

from __future__ import annotations

from pathlib import Path

import pytest

from sockspy.cli import main
from sockspy.cli.policies import choose_policy
from sockspy.policy.load import PolicyError


def test_an_explicit_config_wins_over_docker_socket_proxy_variables(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('mode = "warn"\n[[rules]]\nname = "all"\naction = "allow"\n')
    policy, note = choose_policy(str(path), {"CONTAINERS": "1"})
    assert policy.source == str(path) and policy.mode == "warn"
    assert str(path) in note


def test_a_preset_name_is_a_config() -> None:
    policy, _ = choose_policy("ci-runner", {})
    assert policy.source == "preset:ci-runner"


def test_docker_socket_proxy_variables_make_the_policy_when_no_config_is_given() -> None:
    policy, note = choose_policy(None, {"CONTAINERS": "1", "PATH": "/usr/bin"})
    assert policy.source == "environment"
    assert "docker-socket-proxy" in note


def test_without_config_or_variables_the_readonly_preset_is_used_and_announced() -> None:
    policy, note = choose_policy(None, {"PATH": "/usr/bin", "HOME": "/root"})
    assert policy.source == "preset:readonly"
    assert "'readonly' preset" in note and "-c" in note


def test_a_bad_docker_socket_proxy_value_is_an_error_not_a_fallback() -> None:
    with pytest.raises(PolicyError) as caught:
        choose_policy(None, {"CONTAINERS": "yes"})
    assert "CONTAINERS='yes'" in str(caught.value.problems[0])


def test_serve_exits_2_with_the_problem_on_stderr_for_a_broken_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[[rules]]\nname = "x"\naction = "maybe"\n')
    assert main(["serve", "-c", str(path), "-H", f"unix://{tmp_path}/s.sock"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3" in err
    assert not (tmp_path / "s.sock").exists()
