"""SockStream: plain-socket I/O that waits only when the kernel would block."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest
import trio
import trio.testing

from sockspy.io.sockstream import FAIR_SHARE, SockStream, SplicePipe, StreamClosed


def pair() -> tuple[SockStream, SockStream]:
    a, b = socket.socketpair()
    return SockStream(a), SockStream(b)


def test_bulk_data_arrives_whole_and_in_order_through_partial_sends() -> None:
    payload = os.urandom(8 * 1024 * 1024)  # far more than a socket buffer holds

    async def main() -> bytes:
        left, right = pair()
        received = bytearray()

        async def reader() -> None:
            while data := await right.receive_some():
                received.extend(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            await left.send_all(payload)
            await left.send_eof()
        await left.aclose()
        await right.aclose()
        return bytes(received)

    got = trio.run(main)
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_half_close_reaches_the_peer_which_can_still_answer() -> None:
    async def main() -> bytes:
        left, right = pair()
        await left.send_all(b"question")
        await left.send_eof()
        assert await right.receive_some() == b"question"
        assert await right.receive_some() == b""
        await right.send_all(b"answer")
        answer = await left.receive_some()
        await left.aclose()
        await right.aclose()
        return answer

    assert trio.run(main) == b"answer"


def test_closing_a_stream_wakes_the_task_waiting_on_it() -> None:
    async def main() -> None:
        left, right = pair()
        with trio.fail_after(5):
            async with trio.open_nursery() as nursery:

                async def waiter() -> None:
                    with pytest.raises(StreamClosed):  # the one error of the byte path
                        await right.receive_some()

                nursery.start_soon(waiter)
                await trio.testing.wait_all_tasks_blocked()
                await right.aclose()
        await left.aclose()

    trio.run(main)


def test_a_task_that_never_waits_still_lets_others_run() -> None:
    """A peer whose socket always has room must not starve the other tasks."""

    async def main() -> int:
        left, right = pair()
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            for _ in range(FAIR_SHARE * 10):
                await left.send_all(b"x" * 100)  # never blocks: the buffer has room
            done = True
        await left.aclose()
        await right.aclose()
        return ticks

    assert trio.run(main) >= 5


def test_receiving_after_a_short_read_still_sees_data_that_is_already_there() -> None:
    async def main() -> list[bytes]:
        left, right = pair()
        await left.send_all(b"one")
        first = await right.receive_some()
        await left.send_all(b"two")  # already buffered when the next receive starts
        second = await right.receive_some()
        await left.aclose()
        await right.aclose()
        return [first, second]

    assert trio.run(main) == [b"one", b"two"]


def test_splice_moves_bulk_data_socket_to_socket_unchanged_and_ends_with_the_source() -> None:
    payload = os.urandom(6 * 1024 * 1024 + 123)

    async def main() -> tuple[bytes, int]:
        client, proxy_in = pair()
        proxy_out, daemon = pair()
        received = bytearray()
        moved = 0

        async def relay() -> None:
            nonlocal moved
            pipe = SplicePipe()
            try:
                while count := await proxy_in.splice_to(proxy_out, pipe):
                    moved += count
            finally:
                pipe.close()
            await proxy_out.send_eof()

        async def reader() -> None:
            while data := await daemon.receive_some():
                received.extend(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(relay)
            nursery.start_soon(reader)
            await client.send_all(payload)
            await client.send_eof()
        for stream in (client, proxy_in, proxy_out, daemon):
            await stream.aclose()
        return bytes(received), moved

    got, moved = trio.run(main)
    assert moved == len(payload)
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
