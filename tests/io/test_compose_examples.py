"""configs/compose: each example runs the image with the matching preset, the daemon's
socket read-only, and an internal network between sockspy and its one client.

Checked as text (no YAML parser is a dependency); parsed with PyYAML too where it happens
to be installed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "configs" / "compose"
PRESETS = REPO / "sockspy" / "policy" / "presets"
# file -> (preset, the client service, how the client names sockspy's front)
EXAMPLES = {
    "traefik.yml": ("traefik", "traefik", "--providers.docker.endpoint=tcp://sockspy:2375"),
    "portainer.yml": ("portainer", "portainer", '"tcp://sockspy:2375"'),
    "ci-runner.yml": ("ci-runner", "runner", "DOCKER_HOST: tcp://sockspy:2375"),
}


def test_every_compose_example_is_checked() -> None:
    assert sorted(p.name for p in COMPOSE.glob("*.y*ml")) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_compose_example_guards_the_socket_with_its_preset(name: str) -> None:
    preset, client, endpoint = EXAMPLES[name]
    text = (COMPOSE / name).read_text()
    assert "\t" not in text, "YAML indents with spaces only"
    services = _top_level_blocks(text)["services"]
    blocks = _blocks(services, indent=2)
    assert set(blocks) == {"sockspy", client}

    sockspy = blocks["sockspy"]
    assert "image: sockspy:latest" in sockspy
    command = re.search(r"^    command: (\[.*\])$", sockspy, re.MULTILINE)
    assert command is not None
    argv = json.loads(command.group(1))  # a flow sequence of quoted strings is JSON
    assert argv == ["serve", "-H", "tcp://0.0.0.0:2375", "--insecure-plain-tcp", "-c", preset]
    assert (PRESETS / f"{preset}.toml").is_file()
    assert "      - /var/run/docker.sock:/var/run/docker.sock:ro\n" in sockspy
    assert "group_add:" in sockspy
    assert "read_only: true" in sockspy

    assert endpoint in blocks[client]
    assert "/var/run/docker.sock" not in blocks[client]
    assert "condition: service_healthy" in blocks[client]
    for block in blocks.values():
        assert "      - docker-api" in block
    networks = _top_level_blocks(text)["networks"]
    assert re.search(r"^  docker-api:\n    internal: true\b", networks, re.MULTILINE)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_compose_example_parses_as_yaml_where_pyyaml_is_installed(name: str) -> None:
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load((COMPOSE / name).read_text())
    sockspy = doc["services"]["sockspy"]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in sockspy["volumes"]
    assert sockspy["networks"] == ["docker-api"]
    assert doc["networks"]["docker-api"] == {"internal": True}


def _top_level_blocks(text: str) -> dict[str, str]:
    return _blocks(text, indent=0)


def _blocks(text: str, indent: int) -> dict[str, str]:
    """``key:`` lines at ``indent`` spaces -> the lines under each (comments dropped)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    key = re.compile(rf"^ {{{indent}}}([A-Za-z0-9_.-]+):")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = key.match(line)
        if match and (len(line) - len(line.lstrip())) == indent:
            current = found.setdefault(match.group(1), [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v) + "\n" for k, v in found.items()}
