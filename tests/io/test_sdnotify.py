"""sd_notify: datagrams to $NOTIFY_SOCKET, by path or in the abstract namespace."""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sockspy.io.sdnotify import notify


@pytest.fixture
def short_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ssn", dir="/tmp"))  # sun_path is 108 bytes
    yield folder
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()


def test_ready_is_sent_to_a_socket_path(short_dir: Path) -> None:
    path = str(short_dir / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(path)
        assert notify("READY=1", {"NOTIFY_SOCKET": path})
        assert manager.recv(4096) == b"READY=1"


def test_an_at_sign_means_the_abstract_namespace() -> None:
    name = f"sockspy-test-{secrets.token_hex(6)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind("\0" + name)
        assert notify("STOPPING=1", {"NOTIFY_SOCKET": "@" + name})
        assert manager.recv(4096) == b"STOPPING=1"


def test_without_notify_socket_nothing_is_sent() -> None:
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": ""})
    assert not notify("READY=1", {"NOTIFY_SOCKET": "relative/path"})


def test_a_missing_manager_is_reported_not_raised(short_dir: Path) -> None:
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(short_dir / "gone")})


def test_the_process_environment_is_the_default(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(short_dir / "notify")
    monkeypatch.setitem(os.environ, "NOTIFY_SOCKET", path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(path)
        assert notify("READY=1")
        assert manager.recv(4096) == b"READY=1"
