"""Micro-benchmark: microseconds per policy decision, for a realistic mix of requests.

The requests are parsed once (head parsing and routing are the core's cost, measured by
bench/run.py); what is timed is `PolicyGate.wants_body` + `containers_to_inspect` +
`decide`, the gate's whole per-request work, on a preset. Containers the gate asks about
are answered with a clean inspect record (the I/O layer's cached lookup is not timed):

    python bench/policy_eval.py [--preset ci-runner] [--rounds 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from sockspy.core.deciding.judgement import Facts, decide_offline
from sockspy.core.docker.request import Request, classify_request
from sockspy.core.serving.identity import Client, PeerCred
from sockspy.core.wire.head import parse_request_head
from sockspy.policy import hostaccess
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


def fresh() -> None:
    """Forget decoded bodies, as a new request finds them (each is decoded once per request)."""
    hostaccess._decode.cache_clear()


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
    clean = {"HostConfig": {"NetworkMode": "bridge"}, "Mounts": []}
    cases: list[tuple[Request, Facts]] = []
    for method, target, body in MIX:
        request = build(method, target, body)
        if gate.wants_body(request, client):
            request = request.with_body(body or b"")
        names = gate.containers_to_inspect(request, client)
        cases.append((request, Facts(containers={name: clean for name in names})))

    def one_pass() -> None:
        for request, facts in cases:
            fresh()
            gate.wants_body(request, client)
            gate.containers_to_inspect(request, client)
            decide_offline(gate, request, client, facts)

    for _ in range(200):  # warm up
        one_pass()
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(args.rounds // 5):
            one_pass()
        elapsed = time.perf_counter() - start
        samples.append(elapsed / (args.rounds // 5 * len(cases)) * 1e6)
    verdicts = [decide_offline(gate, r, client, facts).label for r, facts in cases]
    print(f"preset {args.preset}: {len(cases)} requests per pass ({', '.join(verdicts)})")
    print(f"{statistics.median(samples):.2f} µs/decision (median of 5, min {min(samples):.2f})")
    print("per request (µs, median of 5):")
    for (request, facts), verdict in zip(cases, verdicts, strict=True):
        print(
            f"  {_time_one(gate, client, request, facts, args.rounds):8.2f}  {verdict:<5} "
            f"{request.method} {request.target.raw[:60]}"
        )


def _time_one(gate: PolicyGate, client: Client, request: Request, facts: Facts, n: int) -> float:
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n // 5):
            fresh()
            gate.wants_body(request, client)
            gate.containers_to_inspect(request, client)
            decide_offline(gate, request, client, facts)
        samples.append((time.perf_counter() - start) / (n // 5) * 1e6)
    return statistics.median(samples)


if __name__ == "__main__":
    main()
