"""dockerd fetches URLs itself, on its host's network, whatever network a build asks for:
a build's remote context, an image import's source, and a classic build's ``ADD <url>``
(in its Dockerfile, or in a base image's ONBUILD trigger). A service bound only to the
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
from support.contexts import context
from support.daemon import DockerDaemon
from support.http import connect, post_context
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


# Dockerfiles whose ADD makes dockerd download a URL ({url}: the loopback service), each
# with the query and the way the context is packed. The classic builder expands ADD's
# sources (ARG and ENV, quotes and escapes) before it tells a URL from a path.
ADDS: dict[str, tuple[str, dict[str, bytes], bool]] = {
    "literal": ("", {"Dockerfile": b"FROM {image}\nADD {url}/a /a\n"}, False),
    "json-form": ("", {"Dockerfile": b'FROM {image}\nADD ["{url}/a", "/a"]\n'}, False),
    "build-arg": (
        "&buildargs=" + quote(json.dumps({"U": "{url}/a"})),
        {"Dockerfile": b"FROM {image}\nARG U\nADD $U /a\n"},
        False,
    ),
    "env-quoted": ("", {"Dockerfile": b'FROM {image}\nENV H=http\nADD "$H"{rest}/a /a\n'}, False),
    "lowercase-gzip": ("", {"dockerfile": b"FROM {image}\nADD {url}/a /a\n"}, True),
    "named-dockerfile": (
        "&dockerfile=ci/Build.df",
        {"Dockerfile": b"FROM {image}\n", "ci/Build.df": b"FROM {image}\nADD {url}/a /a\n"},
        False,
    ),
    "duplicate-entry": (
        "",
        {"Dockerfile": b"FROM {image}\n", "./Dockerfile": b"FROM {image}\nADD {url}/a /a\n"},
        False,
    ),
    "large-context": (  # read in a worker thread (over 256 KiB)
        "",
        {"pad.bin": b"\xa5" * (1 << 20), "Dockerfile": b"FROM {image}\nADD {url}/a /a\n"},
        False,
    ),
}


def _filled(files: dict[str, bytes], url: str, image: str) -> dict[str, bytes]:
    rest = url.removeprefix("http")
    return {
        name: data.replace(b"{url}", url.encode())
        .replace(b"{rest}", rest.encode())
        .replace(b"{image}", image.encode())
        for name, data in files.items()
    }


@pytest.mark.parametrize("name", sorted(ADDS))
def test_a_dockerfile_add_of_a_url_is_refused_under_ci_runner_and_dockerd_does_fetch_it(
    name: str, start_sockspy: StartProxy, docker_daemon: DockerDaemon, test_image: str,
    loopback: tuple[str, list[str]],
) -> None:  # fmt: skip
    url, asked = loopback
    query, files, compress = ADDS[name]
    target = f"/v1.41/build?t=sockspy-add-{name}" + query.replace("%7Burl%7D", quote(url, safe=""))
    archive = context(_filled(files, url, test_image), compress=compress)
    proxy = start_sockspy(policy="ci-runner")
    status, body = post_context(proxy.unix_host, target, archive)
    assert status == 403, body
    assert "ADD" in json.loads(body)["message"]
    assert asked == [], "the daemon fetched through sockspy"
    status, body = post_context(docker_daemon.host, target, archive)  # directly: dockerd does fetch
    assert asked == ["/a"], (status, body)
    post(docker_daemon.host, f"/v1.41/images/sockspy-add-{name}?force=1", "DELETE")


def test_a_base_images_onbuild_add_of_a_url_is_refused_and_a_plain_build_passes(
    start_sockspy: StartProxy, docker_daemon: DockerDaemon, test_image: str,
    loopback: tuple[str, list[str]],
) -> None:  # fmt: skip
    url, asked = loopback
    base = f"FROM {test_image}\nONBUILD ADD {url}/a /a\n".encode()
    status, body = post_context(
        docker_daemon.host, "/v1.41/build?t=sockspy-onbuild", context({"Dockerfile": base})
    )
    assert status == 200 and b"Successfully tagged" in body, body
    try:
        proxy = start_sockspy(policy="ci-runner")
        child = context({"Dockerfile": b"FROM sockspy-onbuild\n"})
        status, body = post_context(proxy.unix_host, "/v1.41/build?t=sockspy-onbuild-child", child)
        assert status == 403 and "ONBUILD ADD" in json.loads(body)["message"], body
        assert asked == []
        plain = context({"Dockerfile": f"FROM {test_image}\nRUN true\n".encode()})
        status, body = post_context(proxy.unix_host, "/v1.41/build?t=sockspy-plain&rm=1", plain)
        assert status == 200 and b"Successfully tagged sockspy-plain" in body, body
    finally:
        for image in ("sockspy-plain", "sockspy-onbuild"):
            post(docker_daemon.host, f"/v1.41/images/{image}?force=1", "DELETE")
