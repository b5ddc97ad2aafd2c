"""configs/systemd: socket activation through fd://, Type=notify, and a sandbox that still
reaches the Docker socket. Checked by parsing, and by `systemd-analyze verify` where it
is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "configs" / "systemd"


def directives(unit: str) -> dict[str, list[str]]:
    """`Section.Key` -> every value given, in order (systemd keys may repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in (UNITS / unit).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{unit}: not a key=value line: {line!r}"
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def test_socket_unit_passes_a_group_only_unix_socket_with_a_name() -> None:
    socket_unit = directives("sockspy.socket")
    assert socket_unit["Socket.ListenStream"] == ["/run/sockspy/docker.sock"]
    assert socket_unit["Socket.SocketMode"] == ["0660"]
    assert socket_unit["Socket.SocketGroup"] == ["sockspy"]
    assert socket_unit["Socket.FileDescriptorName"] == ["docker-proxy"]
    assert socket_unit["Install.WantedBy"] == ["sockets.target"]
    assert "Socket.Accept" not in socket_unit  # one sockspy for every connection


def test_service_is_socket_activated_and_notifies() -> None:
    service = directives("sockspy.service")
    assert service["Service.Type"] == ["notify"]
    command = service["Service.ExecStart"][0].split()
    assert command[1:4] == ["serve", "-H", "fd://"]
    assert "--upstream" in command
    assert "sockspy.socket" in service["Unit.Requires"][0].split()


def test_systemctl_reload_sends_sighup() -> None:
    assert directives("sockspy.service")["Service.ExecReload"] == ["/bin/kill -HUP $MAINPID"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("ProtectHome", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("SystemCallArchitectures", "native"),
        ("DynamicUser", "yes"),
    ],
)
def test_service_is_sandboxed(key: str, value: str) -> None:
    assert directives("sockspy.service")[f"Service.{key}"] == [value]


def test_sandboxed_service_can_still_reach_the_docker_socket() -> None:
    service = directives("sockspy.service")
    assert service["Service.SupplementaryGroups"] == ["docker"]
    assert service["Service.ReadWritePaths"] == ["-/run/docker.sock"]
    families = service["Service.RestrictAddressFamilies"][0].split()
    assert "AF_UNIX" in families  # the daemon socket and $NOTIFY_SOCKET
    command = service["Service.ExecStart"][0]
    assert "unix:///run/docker.sock" in command


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in ("sockspy.socket", "sockspy.service"):
        text = (UNITS / unit).read_text()
        # verify insists that ExecStart's program exists: use this interpreter.
        text = text.replace("/usr/local/bin/sockspy", f"{sys.executable} -m sockspy")
        (tmp_path / unit).write_text(text)
    result = subprocess.run(
        [analyze, "verify", "sockspy.socket", "sockspy.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown or misspelt keys are only warnings: any output at all is a failure.
    assert result.returncode == 0 and not result.stderr.strip() and not result.stdout.strip(), (
        result.stdout + result.stderr
    )
