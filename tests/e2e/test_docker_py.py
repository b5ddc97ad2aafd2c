"""docker-py, a second real client, through sockspy on the unix front and the tcp front."""

from __future__ import annotations

import io
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest
from support.cli import Docker
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(sockspy: ProxyProcess, front: str) -> Iterator[docker.DockerClient]:
    # docker-py speaks http:// for tcp:// hosts and its own adapter for unix:// hosts.
    client = docker.DockerClient(base_url=sockspy.host(front), version="auto", timeout=60)
    try:
        yield client
    finally:
        client.close()


def test_ping_and_version_answer_through_the_proxy(
    client: docker.DockerClient, direct: Docker
) -> None:
    assert client.ping() is True
    version = client.version()
    daemon_version = direct("version", "--format", "{{.Server.Version}}").stdout.decode()
    assert version["Version"] == daemon_version.strip()
    assert version["ApiVersion"]


def test_containers_run_returns_the_containers_output(
    client: docker.DockerClient, test_image: str
) -> None:
    output = client.containers.run(test_image, ["echo", "hello from docker-py"], remove=True)
    assert output == b"hello from docker-py\n"


def test_images_list_includes_the_test_image(client: docker.DockerClient, test_image: str) -> None:
    tags = {tag for image in client.images.list() for tag in image.tags}
    assert test_image in tags


def test_event_stream_delivers_an_event_for_a_new_container(
    client: docker.DockerClient, direct: Docker, test_image: str, new_name: Callable[[], str]
) -> None:
    name = new_name()
    events = client.events(decode=True, since=int(time.time()) - 1, filters={"container": name})
    received: queue.Queue[dict[str, Any]] = queue.Queue()

    def pump() -> None:
        for event in events:
            received.put(event)

    threading.Thread(target=pump, daemon=True).start()
    try:
        direct("create", "--name", name, test_image, "true")
        deadline = time.monotonic() + 30
        while True:
            event = received.get(timeout=max(0.0, deadline - time.monotonic()))
            if event.get("Action") == "create":
                assert event["Actor"]["Attributes"]["name"] == name
                break
    finally:
        events.close()


def test_follow_logs_stream_lines_as_they_are_written(
    client: docker.DockerClient, test_image: str, new_name: Callable[[], str]
) -> None:
    container = client.containers.run(
        test_image,
        ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done; sleep 600"],
        name=new_name(),
        detach=True,
    )
    stream = container.logs(stream=True, follow=True)
    try:
        seen = b""
        deadline = time.monotonic() + 30
        for chunk in stream:
            seen += chunk
            if b"line 3\n" in seen or time.monotonic() > deadline:
                break
        assert seen == b"line 1\nline 2\nline 3\n"
    finally:
        stream.close()


def test_a_tag_rebuilt_after_its_shared_image_was_removed_keeps_the_connection_and_records(
    sockspy: ProxyProcess, test_image: str, direct: Docker
) -> None:
    """docker-py's api_build_test through sockspy, on one keep-alive connection: two tags
    of one (cached) image, both removed, the tag built again. The lineage once kept a name
    pointing at the forgotten id, and the record of the next request raised KeyError: the
    connection was cut ("Remote end closed connection without response")."""
    api = docker.APIClient(base_url=sockspy.host("unix"), version="auto", timeout=60)
    token = secrets.token_hex(4)
    first, again = f"sockspy-e2e-first-{token}", f"sockspy-e2e-build2-{token}"
    dockerfile = f"FROM {test_image}\nLABEL sockspy.test={token}\n".encode()
    try:
        for tag in (first, again):
            list(api.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True, decode=True))
        assert api.inspect_image(first)["Id"] == api.inspect_image(again)["Id"]  # cached
        api.remove_image(again)  # untags
        api.remove_image(first)  # deletes the image
        list(api.build(fileobj=io.BytesIO(dockerfile), tag=again, rm=True, decode=True))
        assert api.ping() is True  # the same connection still serves
    finally:
        api.close()
        direct("rmi", "-f", first, again, check=False)
    sockspy.stop()  # every record written
    records = sockspy.audit_records()
    assert [r for r in records if r.get("event") == "internal_error"] == []
    builds = [r for r in records if r.get("endpoint") == "image.build"]
    assert len(builds) == 3 and builds[-1]["made"]["name"] == again
    removed = [r for r in records if r.get("endpoint") == "image.delete"]
    assert [r["created_by"]["record_id"] for r in removed] == [builds[1]["record_id"]] * 2
