"""The bypass corpus, ownership section: every way a tenant might reach another tenant's
container, and what the daemon shows afterwards (nothing happened).

Tenant A's objects are made on the daemon directly, with A's owner label: a running
victim with a named volume, a stopped container, and a container linked to the victim
as "x" (so ``/containers/<linker>/x/...`` *is* the victim). The attacker is tenant B, on
raw HTTP through sockspy. Each attempt must be answered 404, 400 or 409 by sockspy, never
by the daemon, and the victim must be as it was. Lists, prunes and event streams must
leave A's objects out, whatever filters B writes into the query.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from support.cli import Docker, docker
from support.http import connect
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]
LABEL = "io.sockspy.owner"


@dataclass(frozen=True)
class Scene:
    owner_a: str
    owner_b: str
    victim: str
    victim_id: str
    volume: str
    stopped: str
    linker: str
    image: str
    marker: str  # what an attempt would name a container it makes


@pytest.fixture(scope="module")
def scene_names() -> dict[str, str]:
    token = secrets.token_hex(4)
    return {
        "owner_a": f"a-{token}", "owner_b": f"b-{token}",
        "victim": f"sockspy-own-victim-{token}", "volume": f"sockspy-own-vol-{token}",
        "stopped": f"sockspy-own-stopped-{token}", "linker": f"sockspy-own-linker-{token}",
        "marker": f"sockspy-own-made-{token}",
    }  # fmt: skip


@pytest.fixture
def scene(direct: Docker, test_image: str, scene_names: dict[str, str]) -> Iterator[Scene]:
    n = scene_names
    label = f"{LABEL}={n['owner_a']}"
    direct("volume", "create", "--label", label, n["volume"])
    direct("run", "-d", "--name", n["victim"], "--label", label, "-v", f"{n['volume']}:/data",
           test_image, "sleep", "600")  # fmt: skip
    direct("create", "--name", n["stopped"], "--label", label, test_image, "true")
    direct("run", "-d", "--name", n["linker"], "--label", label, "--link", f"{n['victim']}:x",
           test_image, "sleep", "600")  # fmt: skip
    victim_id = json.loads(direct("inspect", n["victim"]).stdout)[0]["Id"]
    try:
        yield Scene(n["owner_a"], n["owner_b"], n["victim"], victim_id, n["volume"], n["stopped"],
                    n["linker"], test_image, n["marker"])  # fmt: skip
    finally:
        direct("rm", "-f", n["victim"], n["stopped"], n["linker"], n["marker"], check=False)
        direct("volume", "rm", "-f", n["volume"], check=False)


@pytest.fixture
def proxy(start_sockspy: StartProxy, tmp_path: Path, scene_names: dict[str, str]) -> ProxyProcess:
    policy = tmp_path / "owned.toml"
    policy.write_text(
        f'[[profiles]]\nname = "b"\nuids = [0]\nowner = "{scene_names["owner_b"]}"\n\n'
        '[[rules]]\nname = "everything"\naction = "allow"\n'
    )
    return start_sockspy(policy=str(policy))


def call(proxy: ProxyProcess, method: str, target: str, body: Any = None) -> tuple[int, bytes]:
    conn = connect(proxy.unix_host)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, target, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def state(direct: Docker, name: str) -> dict[str, Any]:
    found = json.loads(direct("inspect", name).stdout)[0]
    return {"Name": found["Name"], "State": found["State"], "HostConfig": found["HostConfig"]}


def path_attempts(s: Scene) -> list[tuple[str, str]]:
    pct = "".join(f"%{b:02X}" for b in s.victim.encode())
    prefix = s.victim_id[:6]
    return [
        ("POST", f"/v1.41/containers/{s.victim}/stop"),
        ("POST", f"/v1.41/containers/{pct}/kill"),  # percent-encoded: decoded before routing
        ("POST", f"/v1.41/containers/{prefix}/pause"),  # an id prefix
        ("DELETE", f"/v1.41/containers/{s.victim_id}?force=1"),  # the full id
        ("POST", f"/v1.41/containers/{s.linker}/x/stop"),  # the legacy link name: the victim
        ("GET", f"/v1.41/containers/{s.linker}/x/json"),
        ("POST", f"/v1.41/containers/{s.victim}/rename?name={s.marker}"),
        ("POST", f"/v1.41/containers/{s.victim}/update"),
        ("GET", f"/v1.41/containers/{s.victim}/archive?path=/data"),
        ("GET", f"/v1.41/containers/{s.victim}/export"),
        ("POST", f"/v1.41/commit?container={s.victim}&repo={s.marker}"),
        ("GET", f"/v1.41/volumes/{s.volume}"),
        ("DELETE", f"/v1.41/volumes/{s.volume}?force=1"),
        ("DELETE", f"/v1.41/containers/{s.stopped}"),
    ]


def test_every_path_naming_the_other_tenants_objects_is_a_404_from_sockspy(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    before = state(direct, scene.victim)
    for method, target in path_attempts(scene):
        status, body = call(proxy, method, target, {} if target.endswith("/update") else None)
        assert status == 404, (target, status, body)
        message = json.loads(body)["message"]
        assert message.startswith(("No such container:", "get ")), (target, message)
    assert state(direct, scene.victim) == before
    assert direct("inspect", scene.stopped, check=False).returncode == 0
    assert direct("volume", "inspect", scene.volume, check=False).returncode == 0
    assert direct("inspect", scene.marker, check=False).returncode != 0


def test_an_exec_in_the_other_tenants_container_cannot_be_started_or_read(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    status, body = call(proxy, "POST", f"/v1.41/containers/{scene.victim}/exec", {"Cmd": ["true"]})
    assert status == 404
    made = direct("exec", "-d", scene.victim, "true")  # an exec made on the daemon directly
    assert made.returncode == 0
    listed = json.loads(direct("inspect", scene.victim).stdout)[0]["ExecIDs"] or []
    for exec_id in listed:
        for method, target in (
            ("GET", f"/v1.41/exec/{exec_id}/json"),
            ("POST", f"/v1.41/exec/{exec_id}/resize?h=1&w=1"),
        ):
            status, body = call(proxy, method, target)
            assert status == 404 and b"No such exec instance" in body, (target, body)


def create_attempts(s: Scene) -> list[dict[str, Any]]:
    hc = [
        {"VolumesFrom": [s.victim]}, {"VolumesFrom": [f"{s.victim}:ro"]},
        {"VolumesFrom": [s.victim_id[:8]]}, {"NetworkMode": f"container:{s.victim}"},
        {"PidMode": f"container:{s.victim_id}"}, {"IpcMode": f"container:{s.victim}"},
        {"Links": [f"{s.victim}:db"]}, {"Links": [f"/{s.victim}:db"]},
        {"Binds": [f"{s.volume}:/stolen"]},
        {"Mounts": [{"Type": "volume", "Source": s.volume, "Target": "/stolen"}]},
    ]  # fmt: skip
    bodies: list[dict[str, Any]] = [{"Image": s.image, "HostConfig": h} for h in hc]
    bodies += [
        {"Image": s.image, "VolumesFrom": [s.victim]},  # the legacy top-level HostConfig
        {"Image": s.image, "hostconfig": {"volumesFROM": [s.victim]}},  # Go's case folding
        {
            "Image": s.image,
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Links": [f"{s.victim}:x"]}}},
        },
    ]
    return bodies


def test_every_create_body_referring_to_the_other_tenants_objects_is_refused(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    before = state(direct, scene.victim)
    for body in create_attempts(scene):
        status, answer = call(proxy, "POST", f"/v1.41/containers/create?name={scene.marker}", body)
        assert status == 404, (body, status, answer)
        assert direct("inspect", scene.marker, check=False).returncode != 0, body
    assert state(direct, scene.victim) == before


def test_names_the_other_tenant_holds_are_refused_without_its_ids(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    status, body = call(
        proxy, "POST", f"/v1.41/containers/create?name={scene.victim}", {"Image": scene.image}
    )
    assert status == 409 and scene.victim_id[:12].encode() not in body, body
    status, body = call(proxy, "POST", "/v1.41/volumes/create", {"Name": scene.volume})
    assert status == 409, body
    volume = json.loads(direct("volume", "inspect", scene.volume).stdout)[0]
    assert volume["Labels"][LABEL] == scene.owner_a


def test_the_owner_label_cannot_be_planted(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    plant = {"Image": scene.image, "Labels": {LABEL: scene.owner_a}}
    status, _ = call(proxy, "POST", f"/v1.41/containers/create?name={scene.marker}", plant)
    assert status == 400
    escaped = b'{"Image":"%s","Labels":{"io.sockspy\\u002eowner":"%s"}}' % (
        scene.image.encode(),
        scene.owner_a.encode(),
    )
    conn = connect(proxy.unix_host)
    conn.request("POST", f"/v1.41/containers/create?name={scene.marker}", body=escaped,
                 headers={"Content-Type": "application/json"})  # fmt: skip
    assert conn.getresponse().status == 400
    conn.close()
    assert direct("inspect", scene.marker, check=False).returncode != 0


def test_lists_prunes_and_events_leave_the_other_tenant_out_whatever_the_query_says(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    since = int(time.time()) - 1
    direct("restart", "-t", "0", scene.linker)  # events of A's container in the window
    until = int(time.time()) + 1
    time.sleep(1.2)
    widen = [
        "", f"&filters={quote(json.dumps({'name': [scene.victim]}))}",
        f"&filters={quote(json.dumps({'label': {f'{LABEL}={scene.owner_a}': True}}))}",
        f"&filt%65rs={quote(json.dumps({'name': [scene.victim]}))}",  # an encoded key
    ]  # fmt: skip
    for extra in widen:
        status, body = call(proxy, "GET", f"/v1.41/containers/json?all=1{extra}")
        assert status == 200 and scene.victim_id.encode() not in body, extra
        status, body = call(proxy, "GET", f"/v1.41/volumes?x=1{extra}")
        assert status == 200 and scene.volume.encode() not in body, extra
        status, body = call(proxy, "GET", f"/v1.41/events?since={since}&until={until}{extra}")
        assert status == 200 and scene.linker.encode() not in body, (extra, body[:300])
    status, _ = call(proxy, "GET", "/v1.41/containers/json?filters=%7B%7D&filters=%7B%7D")
    assert status == 400  # which of two filters dockerd reads must not be in doubt
    for target in ("/v1.41/containers/prune", "/v1.41/volumes/prune"):
        status, body = call(proxy, "POST", target)
        assert status == 200, (target, body)
    assert direct("inspect", scene.stopped, check=False).returncode == 0
    assert direct("volume", "inspect", scene.volume, check=False).returncode == 0


def test_an_endpoints_network_id_cannot_join_the_other_tenants_network(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    """dockerd joins the network an endpoint's `NetworkID` names, not the (user-defined)
    one its key or the connect path names: B, keying its own network, must not reach A's."""
    net_a, net_b = f"{scene.marker}-net-a", f"{scene.marker}-net-b"
    direct("network", "create", "--label", f"{LABEL}={scene.owner_a}", net_a)
    direct("network", "create", "--label", f"{LABEL}={scene.owner_b}", net_b)
    joiner = f"{scene.marker}-joiner"
    try:
        a_id = json.loads(direct("network", "inspect", net_a).stdout)[0]["Id"]
        for field in ("NetworkID", "networkid"):  # Go folds the case of field names
            body = {
                "Image": scene.image,
                "HostConfig": {"NetworkMode": net_b},
                "NetworkingConfig": {"EndpointsConfig": {net_b: {field: a_id}}},
            }
            status, answer = call(proxy, "POST", f"/v1.41/containers/create?name={joiner}", body)
            assert status == 404, (field, status, answer)
            assert direct("inspect", joiner, check=False).returncode != 0
        status, _ = call(
            proxy, "POST", f"/v1.41/containers/create?name={joiner}",
            {"Image": scene.image, "HostConfig": {"NetworkMode": net_b}},
        )  # fmt: skip
        assert status == 201  # B's own network, named plainly: allowed
        connect = {"Container": joiner, "EndpointConfig": {"NetworkID": a_id[:12]}}
        status, answer = call(proxy, "POST", f"/v1.41/networks/{net_b}/connect", connect)
        assert status == 404, answer
        direct("start", joiner)
        members = json.loads(direct("network", "inspect", net_a).stdout)[0]["Containers"]
        assert not members, members  # A's network has no container of B
    finally:
        direct("rm", "-f", joiner, check=False)
        direct("network", "rm", net_a, net_b, check=False)


def test_a_bare_repository_name_cannot_save_or_push_the_other_tenants_tags(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    """dockerd saves every tag of a repository named without a tag (and pushes them all),
    while an inspect of that name reads only `name:latest`, which need not exist."""
    repo = f"{scene.marker}-repo"
    maker = f"{scene.marker}-maker"
    direct("create", "--name", maker, scene.image, "true")
    try:
        for owner, tag in ((scene.owner_a, "a"), (scene.owner_b, "b")):
            direct("commit", "-c", f"LABEL {LABEL}={owner}", maker, f"{repo}:{tag}")
        for target in (
            f"/v1.41/images/get?names={repo}",
            f"/v1.41/images/get?names=docker.io/library/{repo}",
            f"/v1.41/images/{repo}/get",
        ):
            status, body = call(proxy, "GET", target)
            assert status == 404 and f"{repo}:a".encode() not in body, (target, status)
        for target in (f"/v1.41/images/{repo}/push", f"/v1.41/images/{repo}/push?tag=a"):
            status, body = call(proxy, "POST", target)
            assert status == 404 and b"No such image" in body, (target, body)
        status, body = call(proxy, "GET", f"/v1.41/images/get?names={repo}:b")
        assert status == 200 and f"{repo}:b".encode() in body  # B's own tag: allowed
        assert f"{repo}:a".encode() not in body
    finally:
        direct("rm", "-f", maker, check=False)
        direct("rmi", f"{repo}:a", f"{repo}:b", check=False)


def test_a_commit_carries_the_committers_label_however_the_client_sets_labels(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    """B commits its own container: a LABEL change (also through ENV expansion) or the
    body's Labels must not make the image A's (or nobody's, shared with every tenant)."""
    mine = f"{scene.marker}-committed"
    status, body = call(
        proxy, "POST", f"/v1.41/containers/create?name={mine}",
        {"Image": scene.image, "Cmd": ["true"]},
    )  # fmt: skip
    assert status == 201, body
    owner_change = quote(f"LABEL {LABEL}={scene.owner_a}")
    attempts = {
        "change": (f"changes={owner_change}", None),
        "env": (
            f"changes={quote(f'ENV K={LABEL}')}&changes={quote(f'LABEL $K={scene.owner_a}')}",
            None,
        ),
        "encoded-key": (f"chang%65s={owner_change}", None),
        "body": ("", {"Labels": {LABEL: scene.owner_a}}),
        "plain": ("", None),
    }
    made = []
    try:
        for tag, (query, config) in attempts.items():
            target = f"/v1.41/commit?container={mine}&repo={scene.marker}-img&tag={tag}&{query}"
            status, answer = call(proxy, "POST", target, config)
            assert status == 201, (tag, status, answer)
            made.append(f"{scene.marker}-img:{tag}")
            labels = json.loads(direct("image", "inspect", made[-1]).stdout)[0]["Config"]["Labels"]
            assert labels.get(LABEL) == scene.owner_b, (tag, labels)
    finally:
        direct("rm", "-f", mine, check=False)
        if made:
            direct("rmi", *made, check=False)


def test_a_container_named_with_a_leading_slash_is_read_as_dockerd_reads_it(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    """dockerd reads "/web" as the name "web" (never as an id): a tenant's own name with a
    slash works as it does directly, and the other tenant's stays a 404."""
    mine = f"{scene.marker}-slash"
    try:
        status, body = call(
            proxy, "POST", f"/v1.41/containers/create?name=/{mine}",
            {"Image": scene.image, "Cmd": ["true"]},
        )  # fmt: skip
        assert status == 201, body
        uses = {"Image": scene.image, "HostConfig": {"VolumesFrom": [f"/{mine}"]}}
        status, body = call(proxy, "POST", f"/v1.41/containers/create?name={mine}-2", uses)
        assert status == 201, body
        status, body = call(
            proxy, "POST", "/v1.41/networks/bridge/connect", {"Container": f"/{mine}"}
        )
        assert status == 200, body
        for name in (f"/{scene.victim}", f"/{scene.victim_id[:12]}"):
            theirs = {"Image": scene.image, "HostConfig": {"VolumesFrom": [name]}}
            status, body = call(proxy, "POST", f"/v1.41/containers/create?name={mine}-3", theirs)
            assert status == 404, (name, status, body)
        assert direct("inspect", f"{mine}-3", check=False).returncode != 0
    finally:
        direct("rm", "-f", mine, f"{mine}-2", f"{mine}-3", check=False)


def test_a_tenants_container_named_like_another_owners_id_prefix_is_served_pinned(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    """Tenant B names its container after the first two hex digits of A's container id.
    dockerd resolves the name first, so `stop <name>` is B's own: sockspy forwards it
    pinned to the id it checked (no race with a rename can turn it into A's prefix), and
    never refuses it (it refused such names whenever another owner's id shared them)."""
    name = scene.victim_id[:2]
    label = f"{LABEL}={scene.owner_b}"
    direct("run", "-d", "--name", name, "--label", label, scene.image, "sleep", "600")
    try:
        own_id = json.loads(direct("inspect", name).stdout)[0]["Id"]
        status, body = call(proxy, "POST", f"/v1.41/containers/{name}/stop?t=0")
        assert status == 204, body
        assert json.loads(direct("inspect", name).stdout)[0]["State"]["Running"] is False
        assert state(direct, scene.victim)["State"]["Running"] is True  # A's is untouched
        deadline = time.monotonic() + 5  # the log is written off the byte path
        while not (stops := [r for r in proxy.exchanges() if r["endpoint"] == "container.stop"]):
            assert time.monotonic() < deadline, "no record of the stop"
            time.sleep(0.05)
        assert stops[-1]["mutation"] == f"container {name!r} pinned to {own_id[:12]}"
    finally:
        direct("rm", "-f", name, check=False)


def test_a_body_naming_a_container_like_another_owners_id_prefix_is_pinned_not_refused(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    """Tenant B's container is named after the first two hex digits of A's container id.
    A create that takes its volumes and its network by that name (and a connect of it)
    is B's own: sockspy forwards the body with the name pinned to the id it checked (a
    member appended at the end: Go reads the last one, the rest of HostConfig stays), so
    a rename in between cannot turn it into A's prefix. It refused these before."""
    name = scene.victim_id[:2]
    label = f"{LABEL}={scene.owner_b}"
    direct("run", "-d", "--name", name, "--label", label, scene.image, "sleep", "600")
    made = f"{scene.marker}-pinned"
    try:
        own_id = json.loads(direct("inspect", name).stdout)[0]["Id"]
        host_config = {"VolumesFrom": [f"{name}:ro"], "NetworkMode": f"container:{name}",
                       "Memory": 64 << 20}  # fmt: skip
        create = {"Image": scene.image, "Cmd": ["true"], "HostConfig": host_config}
        status, body = call(proxy, "POST", f"/v1.41/containers/create?name={made}", create)
        assert status == 201, body
        stored = json.loads(direct("inspect", made).stdout)[0]["HostConfig"]
        assert stored["VolumesFrom"] == [f"{own_id}:ro"]
        assert stored["NetworkMode"] == f"container:{own_id}"
        assert stored["Memory"] == 64 << 20  # the client's other fields, as sent
        assert scene.victim_id not in json.dumps(stored)
        status, body = call(proxy, "POST", "/v1.41/networks/bridge/disconnect",
                            {"Container": name})  # fmt: skip
        assert status == 200, body
        networks = json.loads(direct("inspect", name).stdout)[0]["NetworkSettings"]["Networks"]
        assert "bridge" not in networks
        assert "bridge" in json.loads(direct("inspect", scene.victim).stdout)[0][
            "NetworkSettings"]["Networks"]  # fmt: skip
    finally:
        direct("rm", "-f", name, made, check=False)


def test_an_id_prefix_other_tenants_make_ambiguous_resolves_to_the_tenants_own(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    """dockerd answers 500 "multiple IDs found" for a prefix two containers share. B's
    one-digit prefix that only A's containers make ambiguous is B's container to B (as
    if A's did not exist), and a prefix only A's containers have is a 404 to B."""
    label = f"{LABEL}={scene.owner_b}"
    mine = direct("run", "-d", "--label", label, scene.image, "sleep", "600").stdout
    own_id = mine.decode().strip()
    prefix = own_id[:1]
    others: list[str] = []
    try:
        while not any(o.startswith(prefix) for o in others):  # A's sharing B's first digit
            made = direct("create", "--label", f"{LABEL}={scene.owner_a}", scene.image, "true")
            others.append(made.stdout.decode().strip())
        direct_answer = direct("inspect", prefix, check=False)
        assert direct_answer.returncode != 0  # the daemon: ambiguous
        status, body = call(proxy, "POST", f"/v1.41/containers/{prefix}/stop?t=0")
        assert status == 204, body
        assert json.loads(direct("inspect", own_id).stdout)[0]["State"]["Running"] is False
        theirs = next(o for o in others if not o.startswith(own_id[:2]))[:2]  # A's only
        if not own_id.startswith(theirs):
            status, body = call(proxy, "GET", f"/v1.41/containers/{theirs}/json")
            assert status == 404 and json.loads(body)["message"].startswith("No such container")
    finally:
        direct("rm", "-f", own_id, *others, check=False)


def test_the_shared_bridge_networks_inspect_shows_a_tenant_no_other_tenants_container(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    network = json.loads(direct("network", "inspect", "bridge").stdout)[0]
    assert scene.victim_id in network["Containers"]  # A's, with its name and address
    status, body = call(proxy, "GET", "/v1.41/networks/bridge")
    assert status == 200 and scene.victim_id.encode() not in body
    shown = json.loads(body)
    assert shown["Containers"] == {} and shown["Id"] == network["Id"]


def test_a_build_stages_intermediate_image_is_no_other_tenants_to_run(
    proxy: ProxyProcess, scene: Scene, direct: Docker, tmp_path: Path
) -> None:
    """A's multi-stage build, labelled as sockspy labels a tenant's build: only its last
    step carries the owner label (checked on 20.10), its stages' images neither a label
    nor a tag. B creating a container from such an image would read A's stage files."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {scene.image} AS secret\nRUN echo stage-secret > /s\n"
        f"FROM {scene.image}\nCOPY --from=secret /s /s\n"
    )
    built = direct("build", "-t", scene.marker, "--label", f"{LABEL}={scene.owner_a}",
                   str(context), env={"DOCKER_BUILDKIT": "0"})  # fmt: skip
    steps = built.stdout.decode().split("Step ")
    stage = next(s for s in steps if "RUN echo stage-secret" in s).split("---> ")[-1].split()[0]
    try:
        assert json.loads(direct("image", "inspect", stage).stdout)[0]["RepoTags"] == []
        body = {"Image": stage, "Cmd": ["cat", "/s"]}
        status, answer = call(proxy, "POST", f"/v1.41/containers/create?name={scene.marker}", body)
        assert status == 404, answer
        made = direct("container", "inspect", scene.marker, check=False)
        assert made.returncode != 0  # no container was made
    finally:
        direct("rm", "-f", scene.marker, check=False)
        direct("rmi", "-f", scene.marker, check=False)


def test_a_tenant_cannot_squat_another_tenants_network_name(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    """dockerd makes a second network of a name when CheckDuplicate is false, and from
    then on every use of the name is "ambiguous" (A's `docker run --network` fails), and
    its answer's Warning names A's network id. B's create of A's network name is a 409."""
    network = f"{scene.marker}-net"
    direct("network", "create", "--label", f"{LABEL}={scene.owner_a}", network)
    try:
        create = {"Name": network, "CheckDuplicate": False}
        status, body = call(proxy, "POST", "/v1.41/networks/create", create)
        assert status == 409 and b"in use" in body, body
        listed = direct("network", "ls", "-q", "--filter", f"name=^{network}$").stdout.split()
        assert len(listed) == 1  # only A's
        direct("run", "--rm", "--network", network, scene.image, "true")  # A's use still works
    finally:  # by id: two of that name could not be removed by name
        made = direct("network", "ls", "-q", "--filter", f"name=^{network}$").stdout.split()
        direct("network", "rm", *[m.decode() for m in made], check=False)


def test_a_container_named_after_a_tenants_id_prefix_cannot_take_its_body_references(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    """A (the other tenant here) names a container after the first hex digits of B's
    container id. dockerd resolves names first: B's `--volumes-from <its id prefix>`
    would take A's container's volumes. Through sockspy it is B's own, pinned by id."""
    label = f"{LABEL}={scene.owner_b}"
    own_id = direct("run", "-d", "--label", label, scene.image, "sleep", "600").stdout
    own_id = own_id.decode().strip()
    prefix, made = own_id[:8], f"{scene.marker}-prefixed"
    direct("run", "-d", "--name", prefix, "--label", f"{LABEL}={scene.owner_a}",
           "-v", f"{scene.volume}:/data", scene.image, "sleep", "600")  # fmt: skip
    try:
        direct_use = direct("create", "--volumes-from", prefix, scene.image, "true")
        taken = json.loads(direct("inspect", direct_use.stdout.decode().strip()).stdout)[0]
        assert any(m.get("Name") == scene.volume for m in taken["Mounts"])  # the daemon: A's
        direct("rm", "-f", taken["Id"])
        create = {"Image": scene.image, "Cmd": ["true"], "HostConfig": {"VolumesFrom": [prefix]}}
        status, body = call(proxy, "POST", f"/v1.41/containers/create?name={made}", create)
        assert status == 201, body
        stored = json.loads(direct("inspect", made).stdout)[0]
        assert stored["HostConfig"]["VolumesFrom"] == [own_id]
        assert not any(m.get("Name") == scene.volume for m in stored["Mounts"])
    finally:
        direct("rm", "-f", own_id, prefix, made, check=False)


def test_a_name_the_daemon_refuses_outright_is_answered_as_the_daemon_answers(
    proxy: ProxyProcess, scene: Scene, direct: Docker
) -> None:
    """An upper-case name is no image reference: dockerd answers 400 (and the CLI's
    `inspect` tries the next kind), where a failed look-up used to be sockspy's 502."""
    status, body = call(proxy, "GET", "/v1.41/images/NoSuchUpper/json")
    assert status == 400 and b"invalid reference" in body, (status, body)
    through = docker(proxy.unix_host, "inspect", "NoSuchUpper", check=False)
    directly = direct("inspect", "NoSuchUpper", check=False)
    assert through.returncode == directly.returncode != 0
    assert through.stderr == directly.stderr, (through.stderr, directly.stderr)
