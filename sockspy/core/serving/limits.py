"""Operating limits, sans-IO: connection counts, per-client request rates, the gate in force.

Theory of operation
-------------------
A *client key* names who a limit counts against: the verified client certificate on a
mTLS front (`tls:alice`, its CN or else its first name), the uid of a unix peer
(`uid:0`), the address of a tcp peer (`ip:192.0.2.7`), else the front (a socket whose
peer is unknown). All clients of one key share its allowance.

`ConnectionLimits` counts open connections in total and per key; `admit` answers None or
a `Refusal` (503 over the total, 429 over a client's share) and counts the connection,
`release` uncounts it. TLS connections count against the total from accept on
(`begin_handshake`), before their certificate names the client.

By default (`default_connection_limits`) both maxima come from the process's open-file
limit, so that no client can take sockspy to it: a connection holds up to three
descriptors (the client, the daemon, a look-up or a transcript), a reserve stays for the
log files, listeners and look-ups, and one client key may hold a quarter of the rest.
With the limits this process usually runs under (sockspy raises its soft limit to the
hard one, 524288 under systemd), those are numbers no real deployment meets.

`RateLimiter` keeps one token bucket per key (`rate` tokens a second, up to `burst`); the
gate wrapper `RateLimitedGate` takes a token when a request is decided and denies it with
429 when there is none. Buckets of idle clients are forgotten (a full bucket is the same
as no bucket), so the table stays small.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sockspy.core.deciding.client import Client, client_key
from sockspy.core.deciding.decision import Decision
from sockspy.core.deciding.gate import Gate, GateWrapper
from sockspy.core.deciding.lookups import Procedure
from sockspy.core.docker.request import Request

FDS_PER_CONNECTION = 3
CLIENT_SHARE = 4  # one client key may hold 1/CLIENT_SHARE of the connections


def default_connection_limits(open_files: int) -> tuple[int, int]:
    """(total, per client) open connections that keep a process whose open-file limit is
    `open_files` clear of it, with a reserve of 32 plus one sixteenth."""
    total = max(8, (open_files - _reserve(open_files)) // FDS_PER_CONNECTION)
    return total, max(2, total // CLIENT_SHARE)


def default_refusals(open_files: int) -> int:
    """Refusals answered at once (each holds its descriptor a few seconds, waiting for
    the request head): half the reserve. Beyond it a refused connection is closed
    without an answer, so that a flood of them cannot reach the open-file limit."""
    return max(4, _reserve(open_files) // 2)


def _reserve(open_files: int) -> int:
    return 32 + open_files // 16


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a connection is not served: the status, the audit code and the sentence."""

    status: int
    code: str
    reason: str


class ConnectionLimits:
    """Open connections, in total and per client key, against optional maxima."""

    def __init__(
        self, total: int | None = None, per_client: int | None = None, refusals: int | None = None
    ) -> None:
        self.total = total
        self.per_client = per_client
        self.refusals = refusals  # refusals answered at once; None: any number
        self.refusing = 0
        self.open = 0
        self.handshaking = 0  # TLS connections whose client is not known yet
        self.by_client: dict[str, int] = {}

    def _over_total(self) -> Refusal | None:
        held = self.open + self.handshaking
        if self.total is not None and held >= self.total:
            return Refusal(
                503,
                "too_many_connections",
                f"too many connections ({held} open, at most {self.total})",
            )
        return None

    def begin_handshake(self) -> Refusal | None:
        """Count a TLS connection against the total while its handshake runs (its client
        key comes from the certificate, so only then can `admit` count it per client).
        A flood of connections that never finish their handshake hits the total too."""
        refusal = self._over_total()
        if refusal is None:
            self.handshaking += 1
        return refusal

    def end_handshake(self) -> None:
        self.handshaking -= 1

    def admit(self, key: str) -> Refusal | None:
        """Count a new connection of `key`, or say why it is refused (and count nothing)."""
        refusal = self._over_total()
        if refusal is not None:
            return refusal
        mine = self.by_client.get(key, 0)
        if self.per_client is not None and mine >= self.per_client:
            return Refusal(
                429,
                "too_many_client_connections",
                f"too many connections from {key} ({mine} open, at most {self.per_client})",
            )
        self.open += 1
        self.by_client[key] = mine + 1
        return None

    def begin_refusal(self) -> bool:
        """Count a refusal about to be answered; False: too many already, close this one
        without an answer."""
        if self.refusals is not None and self.refusing >= self.refusals:
            return False
        self.refusing += 1
        return True

    def end_refusal(self) -> None:
        self.refusing -= 1

    def release(self, key: str) -> None:
        self.open -= 1
        left = self.by_client[key] - 1
        if left:
            self.by_client[key] = left
        else:
            del self.by_client[key]


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; starts full."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float) -> bool:
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimiter:
    """One token bucket per client key. Buckets that have refilled are forgotten."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 4096,
    ) -> None:
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self.clock = clock
        self.max_clients = max_clients
        self.buckets: dict[str, TokenBucket] = {}
        self.limited = 0  # requests refused so far

    def allow(self, key: str) -> bool:
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_clients:
                self._forget_full(now)
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst, now)
        if bucket.take(now):
            return True
        self.limited += 1
        return False

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self.buckets.items()):
            bucket.refill(now)
            if bucket.tokens >= bucket.burst:
                del self.buckets[key]


class RateLimitedGate(GateWrapper):
    """A gate that first takes a token of the client's bucket, then asks `inner`.

    The token is taken when the request is decided; a request without one is denied with
    429 (code ``rate_limited``) whatever the policy or its mode says.
    """

    rule = "rate-limit"

    def __init__(self, inner: Gate, limiter: RateLimiter) -> None:
        super().__init__(inner)
        self.limiter = limiter

    def judge(self, request: Request, client: Client) -> Procedure[Decision]:
        key = client_key(client)
        if not self.limiter.allow(key):
            limiter = self.limiter
            return Decision(
                allowed=False,
                rule=self.rule,
                reason=f"too many requests from {key} (over {limiter.rate:g}/s, "
                f"burst {limiter.burst:g})",
                status=429,
                code="rate_limited",
            )
        return (yield from self.inner.judge(request, client))
