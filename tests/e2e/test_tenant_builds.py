"""The bypass corpus, builds section: every way a tenant's classic build might read
another tenant's image, and what the daemon shows afterwards (no image was made).

Tenant A's image is built on the daemon directly, with A's owner label and a secret file.
The attacker is tenant B, sending build contexts on raw HTTP through sockspy. Each
attempt names A's image somewhere the classic builder reads it (a base, a stage source,
a base image's ONBUILD trigger), spelled as dockerd resolves it; sockspy must answer 404
as if it did not exist, and nothing may be tagged. The same context sent to the daemon
directly does build (the variant is real), and a tenant's plain multi-stage build passes.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from support.cli import Docker, docker
from support.contexts import context
from support.daemon import DockerDaemon
from support.http import connect, post_context
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]
LABEL = "io.sockspy.owner"


@dataclass(frozen=True)
class Secret:
    owner_a: str
    owner_b: str
    image: str  # A's image, tagged
    id: str  # its full id
    base: str  # the test image (shared: pulled, unlabelled)
    marker: str  # what an attempt would tag


@pytest.fixture(scope="module")
def names() -> dict[str, str]:
    token = secrets.token_hex(4)
    return {"owner_a": f"a-{token}", "owner_b": f"b-{token}", "image": f"sockspy-tb-secret-{token}",
            "marker": f"sockspy-tb-made-{token}"}  # fmt: skip


@pytest.fixture
def secret(
    direct: Docker, test_image: str, names: dict[str, str], tmp_path: Path
) -> Iterator[Secret]:
    (tmp_path / "Dockerfile").write_text(f"FROM {test_image}\nRUN echo s3cret > /secret\n")
    label = f"{LABEL}={names['owner_a']}"
    direct("build", "-q", "--label", label, "-t", names["image"], str(tmp_path),
           env={"DOCKER_BUILDKIT": "0"})  # fmt: skip
    image_id = json.loads(direct("image", "inspect", names["image"]).stdout)[0]["Id"]
    try:
        yield Secret(names["owner_a"], names["owner_b"], names["image"], image_id, test_image,
                     names["marker"])  # fmt: skip
    finally:
        direct("rmi", "-f", names["image"], names["marker"], check=False)


@pytest.fixture
def proxy(start_sockspy: StartProxy, tmp_path: Path, names: dict[str, str]) -> ProxyProcess:
    policy = tmp_path / "owned.toml"
    policy.write_text(
        f'[[profiles]]\nname = "b"\nuids = [0]\nowner = "{names["owner_b"]}"\n\n'
        '[[rules]]\nname = "everything"\naction = "allow"\n'
    )
    return start_sockspy(policy=str(policy))


def build(host: str, query: str, archive: bytes) -> tuple[int, bytes]:
    return post_context(host, f"/v1.41/build?{query}", archive)


def _prefix(image_id: str) -> str:
    """A short id prefix with a letter in it: COPY --from=<digits> is a stage index to the
    builder (an index out of range fails the build), never an image."""
    hexa = image_id.removeprefix("sha256:")
    n = 8
    while hexa[:n].isdigit():
        n += 1
    return hexa[:n]


def attempts(s: Secret) -> dict[str, tuple[str, dict[str, bytes], bool]]:
    """name: (extra query, context files, gzip) of a build that reads A's image."""
    copy = "COPY --from={ref} /secret /stolen\n"
    return {
        "from-tag": ("", {"Dockerfile": f"FROM {s.image}\n"}, False),
        "from-short-id": ("", {"Dockerfile": f"FROM {s.id[7:19]}\n"}, False),
        "from-full-id": ("", {"Dockerfile": f"FROM {s.id}\n"}, False),
        "copy-from-tag": ("", {"Dockerfile": f"FROM {s.base}\n" + copy.format(ref=s.image)}, False),
        "copy-from-short-id": (
            "", {"Dockerfile": f"FROM {s.base}\n" + copy.format(ref=_prefix(s.id))}, False
        ),
        "from-arg-default": ("", {"Dockerfile": f"ARG B={s.image}\nFROM ${{B}}\n"}, False),
        "from-arg-query": (
            "&buildargs=" + quote(json.dumps({"B": s.image})),
            {"Dockerfile": f"ARG B={s.base}\nFROM $B\n"},
            False,
        ),
        "from-arg-modifier": ("", {"Dockerfile": f"ARG B\nFROM ${{B:-{s.image}}}\n"}, False),
        "lowercase-gzip": ("", {"dockerfile": f"FROM {s.image}\n"}, True),
        "named-dockerfile": (
            "&dockerfile=sub/../build.df",
            {"Dockerfile": f"FROM {s.base}\n", "build.df": f"FROM {s.image}\n"},
            False,
        ),
        "duplicate-entry": (
            "", {"Dockerfile": f"FROM {s.base}\n", "./Dockerfile": f"FROM {s.image}\n"}, False
        ),
        "escape-continuation": (
            "",
            {"Dockerfile": f"# escape=`\nFROM {s.base}\nCOPY `\n --from={s.image} /secret /x\n"},
            False,
        ),
        "stage-onbuild": (
            "",
            {"Dockerfile": f"FROM {s.base} AS one\nONBUILD {copy.format(ref=s.image)}FROM one\n"},
            False,
        ),
    }  # fmt: skip


def _files(files: dict[str, str]) -> dict[str, bytes]:
    return {name: text.encode() for name, text in files.items()}


def test_a_tenants_build_cannot_read_another_tenants_image_however_the_dockerfile_names_it(
    proxy: ProxyProcess, secret: Secret, direct: Docker, docker_daemon: DockerDaemon
) -> None:
    for name, (query, files, compress) in attempts(secret).items():
        archive = context(_files(files), compress=compress)  # type: ignore[arg-type]
        status, body = build(proxy.unix_host, f"t={secret.marker}&rm=1{query}", archive)
        assert status == 404, (name, status, body)
        assert b"No such image" in body, (name, body)
        assert direct("image", "inspect", secret.marker, check=False).returncode != 0, name
        status, body = build(docker_daemon.host, f"t={secret.marker}&rm=1{query}", archive)
        assert b"Successfully tagged" in body, (name, "directly, the build reads it", body)
        direct("rmi", "-f", secret.marker)


def test_a_base_images_onbuild_copy_from_another_tenants_image_is_refused(
    proxy: ProxyProcess, secret: Secret, direct: Docker
) -> None:
    base = f"sockspy-tb-onbuild-{secret.owner_b}"
    trigger = f"FROM {secret.base}\nONBUILD COPY --from={secret.image} /secret /x\n"
    status, body = build(proxy.unix_host, f"t={base}", context({"Dockerfile": trigger.encode()}))
    assert status == 200 and b"Successfully tagged" in body, body  # storing it reads nothing
    try:
        child = context({"Dockerfile": f"FROM {base}\n".encode()})
        status, body = build(proxy.unix_host, f"t={secret.marker}", child)
        assert status == 404 and b"No such image" in body, body
        assert direct("image", "inspect", secret.marker, check=False).returncode != 0
    finally:
        direct("rmi", "-f", base, check=False)


def test_a_tenants_own_multi_stage_build_passes_and_is_labelled(
    proxy: ProxyProcess, secret: Secret, direct: Docker
) -> None:
    dockerfile = (
        f"FROM {secret.base} AS build\nRUN echo built > /out\n"
        f"FROM {secret.base}\nCOPY --from=build /out /out\nCOPY --from=0 /out /again\n"
    )
    status, body = build(proxy.unix_host, f"t={secret.marker}&rm=1",
                         context({"Dockerfile": dockerfile.encode()}, compress=True))  # fmt: skip
    assert status == 200 and b"Successfully tagged" in body, body
    labels = json.loads(direct("image", "inspect", secret.marker).stdout)[0]["Config"]["Labels"]
    assert labels[LABEL] == secret.owner_b


def test_the_clis_ways_of_naming_a_dockerfile_build_through_the_context_reader(
    proxy: ProxyProcess, secret: Secret, direct: Docker, tmp_path: Path
) -> None:
    """The docker CLI's classic builds: ``-f`` inside the context, outside it (sent under a
    generated name), from stdin, and a Dockerfile the .dockerignore leaves out."""
    ctx, outside = tmp_path / "ctx", tmp_path / "outside"
    (ctx / "sub").mkdir(parents=True)
    outside.mkdir()
    good = f"FROM {secret.base}\nCOPY f /f\n"
    bad = f"FROM {secret.base}\nCOPY --from={secret.image} /secret /x\n"
    (ctx / "f").write_text("data")
    (ctx / ".dockerignore").write_text("Dockerfile\nsub\n")
    env = {"DOCKER_BUILDKIT": "0"}
    through = functools.partial(docker, proxy.unix_host, env=env)
    for dockerfile, args in (
        (ctx / "Dockerfile", []),
        (ctx / "sub" / "Dockerfile", ["-f", str(ctx / "sub" / "Dockerfile")]),
        (outside / "Dockerfile", ["-f", str(outside / "Dockerfile")]),
        (None, ["-f", "-"]),
    ):
        for text, passes in ((good, True), (bad, False)):
            if dockerfile is not None:
                dockerfile.write_text(text)
            stdin = text.encode() if dockerfile is None else None
            done = through("build", "-q", "-t", secret.marker, *args, str(ctx), input=stdin,
                           check=False)  # fmt: skip
            assert (done.returncode == 0) is passes, (args, text, done.stderr)
            if not passes:
                assert b"No such image" in done.stderr, done.stderr
        direct("rmi", "-f", secret.marker)


def test_a_tenants_build_cannot_run_its_steps_in_another_tenants_network(
    proxy: ProxyProcess, secret: Secret, direct: Docker, docker_daemon: DockerDaemon
) -> None:
    """A classic build's RUN steps join the network ``networkmode`` names (a user-defined
    one too): in A's network they reach A's containers by name. Refused to B (404, as if
    it did not exist); directly, the step does reach A's container."""
    network, victim = f"{secret.image}-net", f"{secret.image}-svc"
    label = f"{LABEL}={secret.owner_a}"
    direct("network", "create", "--label", label, network)
    direct("run", "-d", "--name", victim, "--network", network, "--label", label, secret.base,
           "sleep", "600")  # fmt: skip
    try:
        probe = f"FROM {secret.base}\nRUN ping -c1 -W2 {victim} && echo REACHED\n"
        archive = context({"Dockerfile": probe.encode()})
        query = f"t={secret.marker}&rm=1&nocache=1&networkmode={network}"
        status, body = build(proxy.unix_host, query, archive)
        assert status == 404 and b"not found" in body, body
        status, body = build(docker_daemon.host, query, archive)
        assert b"REACHED" in body, body  # directly: the step is in A's network
    finally:
        direct("rm", "-f", victim, check=False)
        direct("rmi", "-f", secret.marker, check=False)
        direct("network", "rm", network, check=False)


def test_a_tenants_image_list_shows_only_the_images_it_may_use(
    proxy: ProxyProcess, secret: Secret, direct: Docker, docker_daemon: DockerDaemon
) -> None:
    """The image list names every tenant's images (their names are the tenant's
    business): a tenant's list keeps its own and the shared ones (no owner, a tag), as
    the daemon's bytes, and leaves out another owner's and the untagged stages of builds
    (``docker images -a``), which it could not use either."""
    dockerfile = f"FROM {secret.base} AS stage\nRUN echo x > /x\nFROM {secret.base}\n"
    dockerfile += "COPY --from=stage /x /x\n"
    status, body = build(proxy.unix_host, f"t={secret.marker}",
                         context({"Dockerfile": dockerfile.encode()}))  # fmt: skip
    assert status == 200 and b"Successfully tagged" in body, body
    for query in ("", "?all=1"):
        conn = connect(docker_daemon.host)
        conn.request("GET", f"/v1.41/images/json{query}")
        everything = json.loads(conn.getresponse().read())
        conn.close()
        assert any(secret.id == i["Id"] for i in everything)  # the daemon lists A's
        conn = connect(proxy.unix_host)
        conn.request("GET", f"/v1.41/images/json{query}")
        shown = json.loads(conn.getresponse().read())
        conn.close()
        ids = {i["Id"] for i in shown}
        assert secret.id not in ids, query
        tags = {t for i in shown for t in i["RepoTags"] or []}
        assert f"{secret.marker}:latest" in tags and secret.base in tags, query
        assert all((i["Labels"] or {}).get(LABEL, secret.owner_b) == secret.owner_b for i in shown)
        assert "<none>:<none>" not in tags, query  # the stage B's own build left behind
        assert [i for i in everything if i["Id"] in ids] == shown  # the daemon's, in order


def test_a_tenant_cannot_mount_another_tenants_image(
    proxy: ProxyProcess, secret: Secret, direct: Docker, docker_daemon: DockerDaemon
) -> None:
    """An image mount (API 1.48, engine 28) puts an image's files in a container. B's
    mount of A's image is a 404 on every engine; directly, engine 28 mounts it (A's
    secret readable) and older engines refuse the mount type."""
    mount = {"Type": "image", "Source": secret.image, "Target": "/stolen"}
    create = {"Image": secret.base, "Cmd": ["cat", "/stolen/secret"],
              "HostConfig": {"Mounts": [mount]}}  # fmt: skip
    made = f"{secret.marker}-mount"
    version = "v1.48" if docker_daemon.engine >= (28, 0) else "v1.41"
    for host in (proxy.unix_host, docker_daemon.host):
        conn = connect(host)
        conn.request("POST", f"/{version}/containers/create?name={made}", json.dumps(create),
                     headers={"Content-Type": "application/json"})  # fmt: skip
        response = conn.getresponse()
        status, body = response.status, response.read()
        conn.close()
        if host == proxy.unix_host:
            assert status == 404 and b"No such image" in body, body
            assert direct("inspect", made, check=False).returncode != 0
        elif docker_daemon.engine >= (28, 0):
            assert status == 201, body  # the daemon would mount it
            assert direct("start", "-a", made).stdout.strip() == b"s3cret"
        else:
            assert status in (400, 500) and b"mount" in body.lower(), body
    direct("rm", "-f", made, check=False)
