"""What a worker of `serve --workers` is started with: serve's own arguments, without
the fronts (it gets them as fd://) and without the worker count."""

from __future__ import annotations

from sockspy.io.workers import worker_argv


def test_a_worker_gets_serves_arguments_without_the_fronts_and_the_worker_count() -> None:
    given = ["-H", "unix:///a", "--workers", "2", "-c", "ci-runner", "--listen=tcp://x:1",
             "-Hfd://3", "--workers=3", "--log-file", "/l", "--upstream", "unix:///d"]  # fmt: skip
    assert worker_argv(given) == ["-c", "ci-runner", "--log-file", "/l", "--upstream", "unix:///d"]
