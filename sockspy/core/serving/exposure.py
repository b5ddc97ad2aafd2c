"""Whether an unauthenticated tcp front would hand the Docker daemon to the network.

The Docker API is root on the host: whoever can open a connection to it can start a
privileged container. dockerd itself refuses plain `-H tcp://` on anything but loopback
since v27; sockspy does the same, for `tcp://` fronts and for tcp sockets inherited
through `fd://`, unless the fronts require client certificates (`--tlsverify`) or
`--insecure-plain-tcp` says the operator knows. `--tls` alone encrypts but authenticates
nobody, so it counts as unauthenticated too (dockerd: "without --tlsverify is insecure").
sockspy's policy narrows what a client may do, but without client certificates it cannot
tell one client from another beyond the source address.

Loopback is 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and the name "localhost". The
wildcards 0.0.0.0 and :: listen on every interface, so they are not loopback; neither is
any other host name, which could resolve to anything.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

INSECURE_FLAG = "--insecure-plain-tcp"


@dataclass(frozen=True, slots=True)
class TcpFront:
    """A tcp front as the exposure check sees it: its audit name and its bound host."""

    name: str
    host: str


def is_loopback(host: str) -> bool:
    """True if `host` (an address literal or a name, IPv6 without brackets) is loopback."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.partition("%")[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def exposed_fronts(fronts: Sequence[TcpFront]) -> list[TcpFront]:
    """The fronts that listen beyond loopback."""
    return [front for front in fronts if not is_loopback(front.host)]


def refusal(exposed: Sequence[TcpFront], tls_without_verify: bool = False) -> str:
    """What to tell the operator when unauthenticated tcp fronts would listen beyond loopback."""
    names = ", ".join(front.name for front in exposed)
    what = "TLS without client certificates" if tls_without_verify else "plain tcp"
    return (
        f"refusing to serve {what} on {names}: anyone who can reach it gets the Docker "
        "API, which is root on this host (dockerd refuses this too since v27). Either\n"
        "  - serve it over TLS with client certificates: --tlsverify --tlscacert ca.pem "
        "--tlscert server-cert.pem --tlskey server-key.pem (`sockspy certs DIR` makes them),\n"
        "  - or listen on loopback only, e.g. -H tcp://127.0.0.1:2375,\n"
        f"  - or, knowing the risk, pass {INSECURE_FLAG}."
    )
