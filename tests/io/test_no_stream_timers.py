"""No timer can cut a stream: every trio timer in sockspy is listed here, with its reason.

Streams (events, logs -f, attach, exec, wait) must never be cut by a timer. This test reads
sockspy's source and fails on any trio timer (a sleep, a move_on/fail_after/at, a
CancelScope deadline) outside the places below, none of which runs while a request or a
stream is open on a client connection. A new timer needs a line here, and a reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sockspy

TIMER_CALLS = {"sleep", "sleep_until", "move_on_after", "move_on_at", "fail_after", "fail_at"}

ALLOWED: dict[tuple[str, str, str], str] = {
    ("io/upstream.py", "connect", "fail_after"): "connecting to the daemon, before any byte flows",
    ("io/inspector.py", "_read_response", "fail_after"): "sockspy's own request to the daemon",
    ("io/pump.py", "_linger", "move_on_after"): "after sockspy closed the connection itself",
    ("io/sessions.py", "_outcome", "move_on_after"): (
        "after a session has ended: how it ended (exit code), asked once"
    ),
    ("io/server.py", "_drain", "move_on_after"): "the shutdown grace period (SIGTERM)",
    ("io/server.py", "_accept_loop", "sleep"): "back-off after accept fails (out of fds)",
    ("io/server.py", "_report", "sleep"): (
        "a --workers worker's counters sent to its supervisor every second: a task of its "
        "own, on no client connection"
    ),
    ("io/workers.py", "_emit", "sleep"): (
        "the --workers supervisor waiting for room in its audit log: it holds no client "
        "connection (a worker's streams run in the worker)"
    ),
    ("io/tls.py", "accept_tls", "fail_after"): "the TLS handshake, before any request",
    ("io/pump.py", "_receive_client", "move_on_after"): (
        "--head-timeout: only while a request head is incomplete (slowloris); "
        "--idle-timeout: only between exchanges on a keep-alive connection, nothing pending "
        "either way; never on a body, a response or a stream"
    ),
    ("io/pump.py", "_arm_idle_timeout", "deadline"): (
        "--idle-timeout's deadline, set only when the connection is idle: nothing under way "
        "and no head begun; any byte from the client ends the wait"
    ),
    ("io/sockstream.py", "wait_hung_up", "sleep"): (
        "after a client's half-close: checks every 15 s whether the client is gone "
        "altogether (hung up, or reset by a keep-alive probe); a live one is never cut"
    ),
    ("io/refuse.py", "refuse", "move_on_after"): (
        "a connection over a limit: waiting for its first head, then lingering after the "
        "refusal; nothing is forwarded"
    ),
    ("io/admin.py", "_handle", "move_on_after"): "an admin request (/healthz), never proxied",
    ("io/admin.py", "ping", "fail_after"): "/healthz's own ping to the daemon",
    ("io/admin.py", "serve", "sleep"): "back-off after the admin accept fails (out of fds)",
    ("io/peer_container.py", "complete", "move_on_after"): (
        "naming a new client's container, before its first byte is read"
    ),
    ("io/peer_container.py", "_watch_events", "sleep"): (
        "sockspy's own events stream: back-off before reconnecting it"
    ),
    ("cli/tail.py", "_records", "sleep"): "`sockspy tail` polling the log file: not the server",
    ("io/logsink.py", "wait_for_room", "sleep"): (
        "--audit-durability block: the byte path waits for room in the audit log; it "
        "delays bytes, never ends a stream"
    ),
    ("io/sessions.py", "_tty", "move_on_after"): (
        "asking whether a recorded session has a tty, while its request is decided (before "
        "any byte of it is forwarded)"
    ),
}


def _timers(tree: ast.AST) -> list[tuple[str, str, int]]:
    """(enclosing function, timer name, line) for every timer call or deadline."""
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if isinstance(child, ast.Call):
                callee = child.func
                called = (
                    callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", "")
                )
                if called in TIMER_CALLS:
                    found.append((function, called, child.lineno))
                if called == "CancelScope" and any(k.arg == "deadline" for k in child.keywords):
                    found.append((function, "CancelScope(deadline=)", child.lineno))
            if (
                isinstance(child, ast.Attribute)
                and child.attr in ("deadline", "relative_deadline")
                and isinstance(child.ctx, ast.Store)
            ):
                found.append((function, child.attr, child.lineno))
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_every_timer_in_sockspy_is_one_that_cannot_cut_a_stream() -> None:
    root = Path(sockspy.__file__).parent
    unexpected = []
    seen = set()
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root).as_posix()
        for function, timer, line in _timers(ast.parse(path.read_text(), str(path))):
            key = (module, function, timer)
            seen.add(key)
            if key not in ALLOWED:
                unexpected.append(f"sockspy/{module}:{line}: {timer} in {function}()")
    assert not unexpected, "timers that could cut a stream:\n" + "\n".join(unexpected)
    assert seen == set(ALLOWED), f"listed but gone (remove them): {set(ALLOWED) - seen}"


def test_the_scanner_finds_timers() -> None:
    """The check above would be worthless if the scanner missed the usual spellings."""
    source = (
        "import trio\n"
        "async def relay():\n"
        "    with trio.move_on_after(600):\n"
        "        await trio.sleep(1)\n"
        "    scope = trio.CancelScope(deadline=5)\n"
        "    scope.deadline = 9\n"
    )
    assert [(f, t) for f, t, _ in _timers(ast.parse(source))] == [
        ("relay", "move_on_after"),
        ("relay", "sleep"),
        ("relay", "CancelScope(deadline=)"),
        ("relay", "deadline"),
    ]
