"""Unix fronts: created with the asked mode, stale files replaced, live sockets never stolen."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from sockspy.core.serving.address import TcpAddress, UnixAddress
from sockspy.io.listeners import ListenError, close_fronts, open_fronts


@pytest.fixture
def rundir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ssl", dir="/tmp"))
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def open_and_close(addresses: list[object], **kwargs: object) -> list[str]:
    async def main() -> list[str]:
        fronts = await open_fronts(addresses, **kwargs)  # type: ignore[arg-type]
        names = [f.name for f in fronts]
        await close_fronts(fronts)
        return names

    return trio.run(main)


def test_unix_front_is_created_with_mode_0660_by_default(rundir: Path) -> None:
    path = rundir / "front.sock"
    modes = []

    async def main() -> None:
        fronts = await open_fronts([UnixAddress(str(path))])
        modes.append(stat.S_IMODE(os.stat(path).st_mode))
        await close_fronts(fronts)

    trio.run(main)
    assert modes == [0o660]
    assert not path.exists()  # removed on close


def test_unix_front_mode_and_group_can_be_chosen(rundir: Path) -> None:
    path = rundir / "front.sock"
    seen = []

    async def main() -> None:
        fronts = await open_fronts([UnixAddress(str(path))], socket_mode=0o600, socket_group="0")
        st = os.stat(path)
        seen.append((stat.S_IMODE(st.st_mode), st.st_gid))
        await close_fronts(fronts)

    trio.run(main)
    assert seen == [(0o600, 0)]


def test_stale_socket_file_is_replaced(rundir: Path) -> None:
    path = rundir / "front.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody answers
    assert path.exists()
    assert open_and_close([UnixAddress(str(path))]) == [f"unix://{path}"]


def test_live_socket_is_not_stolen(rundir: Path) -> None:
    path = rundir / "front.sock"
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(path))
    live.listen(1)
    try:
        with pytest.raises(ListenError, match="in use"):
            open_and_close([UnixAddress(str(path))])
        assert path.exists()
    finally:
        live.close()


def test_a_path_taken_over_by_a_new_instance_survives_the_old_ones_close(rundir: Path) -> None:
    path = rundir / "front.sock"
    answers = []

    async def main() -> None:
        old = await open_fronts([UnixAddress(str(path))])
        await trio.sleep(0.05)  # file times tick by the jiffy: the restart comes later
        await old[0].listener.aclose()  # the old instance stops accepting, then drains
        new = await open_fronts([UnixAddress(str(path))])  # a restart: stale, replaced
        await close_fronts(old)  # the old one's drain ends
        await close_fronts(old)  # (shutdown closes twice: after accepting, after draining)
        client = trio.socket.socket(socket.AF_UNIX)
        await client.connect(str(path))  # the new instance still answers on the path
        answers.append(path.exists())
        client.close()
        await close_fronts(new)
        answers.append(path.exists())

    trio.run(main)
    assert answers == [True, False]


def test_regular_file_in_the_way_is_not_replaced(rundir: Path) -> None:
    path = rundir / "front.sock"
    path.write_text("precious")
    with pytest.raises(ListenError, match="not a socket"):
        open_and_close([UnixAddress(str(path))])
    assert path.read_text() == "precious"


def test_tcp_front_reports_its_bound_address() -> None:
    names = open_and_close([TcpAddress("127.0.0.1", 0)])
    assert len(names) == 1 and names[0].startswith("tcp://127.0.0.1:")
