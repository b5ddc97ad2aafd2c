"""Micro-benchmark: microseconds of sans-IO core work per keep-alive exchange.

One `GET /_ping` and its response (the heads the docker CLI and dockerd send) go through
a `Conversation` with the ci-runner preset's gate: head parsing, routing, the policy
decision, response framing and the audit record. No sockets, no event loop: this is the
part of each exchange that is sockspy's own Python, measured with warm caches (inside the
real proxy, where the CPU ran the client and dockerd in between, it costs more).

    python bench/core_exchange.py [--rounds 20000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time

from sockspy.core.deciding.client import Client, PeerCred
from sockspy.core.deciding.gate import GateInForce
from sockspy.core.deciding.judgement import NO_FACTS, decide_offline
from sockspy.core.proxy.conversation import Conversation
from sockspy.policy.engine import PolicyGate
from sockspy.policy.presets import load_preset

REQUEST = (
    b"GET /v1.41/_ping HTTP/1.1\r\nHost: api.moby.localhost\r\n"
    b"User-Agent: Docker-Client/28.2.2 (linux)\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nCache-Control: no-cache, no-store, "
    b"must-revalidate\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Docker-Experimental: false\r\nOstype: linux\r\nPragma: no-cache\r\n"
    b"Server: Docker/20.10.24+dfsg1 (linux)\r\nDate: Sat, 28 Nov 2026 13:00:00 GMT\r\n\r\nOK"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one run")
    args = parser.parse_args()
    gate = PolicyGate(load_preset("ci-runner"))
    conv = Conversation(
        1, Client(front="unix:///run/sockspy.sock", peer=PeerCred(1, 0, 0)), GateInForce(gate)
    )

    def exchange() -> None:
        conv.client_data(REQUEST)
        request = conv.pending_decision
        assert request is not None
        conv.decided(decide_offline(gate, request, conv.client, NO_FACTS))
        conv.to_upstream.clear()
        conv.upstream_data(RESPONSE)
        conv.to_client.clear()
        conv.records.clear()

    for _ in range(1000):
        exchange()
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(args.rounds // 5):
            exchange()
        samples.append((time.perf_counter() - started) / (args.rounds // 5) * 1e6)
    print(f"{statistics.median(samples):.1f} µs per exchange (median of 5, min {min(samples):.1f})")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [exchange() for _ in range(args.rounds)])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
