"""Run the real docker CLI against a chosen DOCKER_HOST (a proxy front or the daemon)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

# Variables that would point the CLI somewhere other than the host we pass.
# ``docker(host, ...)`` with the host bound: through a proxy front, or direct.
Docker = Callable[..., subprocess.CompletedProcess[bytes]]

_CLI_SELECTORS = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


@functools.cache
def _config_dir() -> str:
    # An empty config dir: no user contexts, credential helpers or proxies configured
    # on the machine can change what the CLI sends.
    path = tempfile.mkdtemp(prefix="sockspy-dockercfg-")
    atexit.register(shutil.rmtree, path, True)
    return path


def docker_env(host: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLI_SELECTORS}
    env["DOCKER_HOST"] = host
    env["DOCKER_CONFIG"] = _config_dir()
    env["DOCKER_CLI_HINTS"] = "false"
    if extra:
        env.update(extra)
    return env


def docker(
    host: str,
    *args: str,
    input: bytes | None = None,
    timeout: float = 120,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``docker ARGS`` with DOCKER_HOST=host; with ``check``, fail on a non-zero exit."""
    result = subprocess.run(
        ["docker", *args],
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        env=docker_env(host, env),
    )
    if check and result.returncode != 0:
        raise AssertionError(describe(result))
    return result


def docker_popen(
    host: str, *args: str, env: Mapping[str, str] | None = None, **kwargs: Any
) -> subprocess.Popen[bytes]:
    """Start ``docker ARGS`` in the background (for streams: attach, logs -f, events)."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(["docker", *args], env=docker_env(host, env), **kwargs)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """End a background CLI (a stream the test is done with): TERM, then KILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def describe(result: subprocess.CompletedProcess[bytes]) -> str:
    args = result.args if isinstance(result.args, list) else [result.args]
    out = result.stdout[-2000:].decode(errors="replace") if result.stdout else ""
    err = result.stderr[-2000:].decode(errors="replace") if result.stderr else ""
    return (
        f"{' '.join(map(str, args))!s} exited {result.returncode}\n"
        f"--- stdout (tail) ---\n{out}\n--- stderr (tail) ---\n{err}"
    )
