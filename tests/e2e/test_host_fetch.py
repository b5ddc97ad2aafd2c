"""dockerd fetches URLs itself, on its host's network, whatever network a build asks for:
a build's remote context and an image import's source. A service bound only to the
host's loopback answers it. Under a preset that denies host access each is refused
before the daemon sees it, and the service is never asked; directly, dockerd does fetch
(so the variant is real on this engine)."""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from support.daemon import DockerDaemon
from support.http import connect
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]


class _Loopback(http.server.BaseHTTPRequestHandler):
    asked: list[str] = []

    def do_GET(self) -> None:  # http.server's name
        type(self).asked.append(self.path)
        body = f"FROM {self.server.image}\n".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback(test_image: str) -> Iterator[tuple[str, list[str]]]:
    """A service on the host's 127.0.0.1 only: (its URL, the paths it was asked for)."""
    asked: list[str] = []
    handler = type("Handler", (_Loopback,), {"asked": asked})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.image = test_image  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def post(host: str, target: str, method: str = "POST") -> tuple[int, bytes]:
    conn = connect(host, timeout=60)
    try:
        conn.request(method, target, body=b"", headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


FETCHES = {
    "build-remote-dockerfile": "/v1.41/build?remote={url}/Dockerfile&t=sockspy-fetch-{name}",
    "build-remote-network-none": "/v1.41/build?remote={url}/Dockerfile&t=sockspy-fetch-{name}"
    "&networkmode=none",  # no network asked for: the fetch is dockerd's own
    "import-from-url": "/v1.41/images/create?fromSrc={url}/image.tar&repo=sockspy-fetch-{name}",
}


@pytest.mark.parametrize("name", sorted(FETCHES))
def test_a_fetch_dockerd_makes_on_its_hosts_network_is_refused_under_ci_runner(
    name: str, start_sockspy: StartProxy, docker_daemon: DockerDaemon,
    loopback: tuple[str, list[str]],
) -> None:  # fmt: skip
    url, asked = loopback
    target = FETCHES[name].format(url=quote(url, safe=":/"), name=name)
    proxy = start_sockspy(policy="ci-runner")
    status, body = post(proxy.unix_host, target)
    assert status == 403, body
    assert "host" in json.loads(body)["message"]
    assert asked == [], "the daemon fetched through sockspy"
    status, body = post(docker_daemon.host, target)  # directly: dockerd does fetch
    assert asked, (status, body)
    for line in io.BytesIO(body):
        if b"Successfully tagged" in line:  # a build that fetched: its image goes away
            post(docker_daemon.host, f"/v1.41/images/sockspy-fetch-{name}?force=1", "DELETE")
