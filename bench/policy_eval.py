"""Micro-benchmark: microseconds per policy decision, for a realistic mix of requests.

The requests are parsed once (head parsing and routing are the core's cost, measured by
bench/run.py); what is timed is `PolicyGate.wants_body` and its judgement driven to the
decision, the gate's whole per-request work (the body decoded once per request), on a
preset. Containers the gate asks about are answered with a clean inspect record, volumes
as new (the I/O layer's cached look-ups are not timed):

    python bench/policy_eval.py [--preset ci-runner] [--rounds 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.deciding.judgement import Judgement, settle
from sockspy.core.deciding.lookups import InspectContainer, Lookup
from sockspy.core.docker.request import Request, classify_request
from sockspy.core.wire.head import parse_request_head
from sockspy.policy.engine import PolicyGate
from sockspy.policy.presets import PRESETS, load_preset

CREATE = json.dumps(
    {
        "Image": "alpine:3.20",
        "Cmd": ["sh", "-c", "make test"],
        "Env": ["CI=1", "HOME=/root"],
        "WorkingDir": "/builds/app",
        "Labels": {"com.gitlab.ci.job": "42"},
        "HostConfig": {
            "Binds": ["/srv/ci-workspace/app:/builds/app"],
            "NetworkMode": "ci-net",
            "LogConfig": {"Type": "json-file", "Config": {}},
        },
    }
).encode()

# (method, target, body): what a CI runner's job sends, roughly in proportion.
MIX: list[tuple[str, str, bytes | None]] = [
    ("HEAD", "/_ping", None),
    ("GET", "/v1.45/version", None),
    ("GET", "/v1.45/containers/json?all=1&filters=%7B%7D", None),
    ("GET", "/v1.45/containers/job-42/json", None),
    ("POST", "/v1.45/images/create?fromImage=alpine&tag=3.20", None),
    ("POST", "/v1.45/containers/create?name=job-42", CREATE),
    ("POST", "/v1.45/containers/job-42/start", b""),
    ("POST", "/v1.45/containers/job-42/attach?stream=1&stdout=1&stderr=1", None),
    ("POST", "/v1.45/containers/job-42/wait?condition=next-exit", None),
    ("GET", "/v1.45/containers/job-42/logs?stdout=1&stderr=1", None),
    ("DELETE", "/v1.45/containers/job-42?v=1&force=1", None),
    ("POST", "/v1.45/plugins/pull?remote=evil", b"[]"),
]


CLEAN = {"HostConfig": {"NetworkMode": "bridge"}, "Mounts": []}


class Clean:
    """Every container is a clean one; every volume is new; the daemon's defaults unknown."""

    def answer(self, lookup: Lookup) -> Any:
        return CLEAN if isinstance(lookup, InspectContainer) else None


ANSWERS = Clean()


def fresh(request: Request) -> Request:
    """The same request as a new one (its body not decoded yet: once per request)."""
    return request if request.body is None else request.with_body(request.body)


def decide(gate: PolicyGate, request: Request, client: Client) -> str:
    request = fresh(request)
    gate.wants_body(request, client)
    return settle(Judgement(gate, request, client), ANSWERS).label


def build(method: str, target: str, body: bytes | None) -> Request:
    lines = [f"{method} {target} HTTP/1.1", "Host: api.moby.localhost"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    if method == "POST" and target.split("?")[0].endswith("/attach"):
        lines += ["Connection: Upgrade", "Upgrade: tcp"]
    return classify_request(parse_request_head(("\r\n".join(lines) + "\r\n\r\n").encode()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ci-runner", choices=PRESETS)
    parser.add_argument("--rounds", type=int, default=20000, help="passes over the mix")
    args = parser.parse_args()

    gate = PolicyGate(load_preset(args.preset))
    client = Client(front="unix:///run/sockspy.sock", peer=PeerCred(4242, 1001, 1001))
    cases: list[Request] = []
    for method, target, body in MIX:
        request = build(method, target, body)
        if gate.wants_body(request, client):
            request = request.with_body(body or b"")
        cases.append(request)

    def one_pass() -> None:
        for request in cases:
            decide(gate, request, client)

    for _ in range(200):  # warm up
        one_pass()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(args.rounds // 5):
            one_pass()
        elapsed = time.perf_counter() - start
        samples.append(elapsed / (args.rounds // 5 * len(cases)) * 1e6)
    verdicts = [decide(gate, request, client) for request in cases]
    print(f"preset {args.preset}: {len(cases)} requests per pass ({', '.join(verdicts)})")
    print(f"{statistics.median(samples):.2f} µs/decision (median of 5, min {min(samples):.2f})")
    print("per request (µs, median of 5):")
    for request, verdict in zip(cases, verdicts, strict=True):
        print(
            f"  {_time_one(gate, client, request, args.rounds):8.2f}  {verdict:<5} "
            f"{request.method} {request.target.raw[:60]}"
        )


def _time_one(gate: PolicyGate, client: Client, request: Request, n: int) -> float:
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n // 5):
            decide(gate, request, client)
        samples.append((time.perf_counter() - start) / (n // 5) * 1e6)
    return statistics.median(samples)


if __name__ == "__main__":
    main()
