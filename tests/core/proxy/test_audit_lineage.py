"""What a record says a create asked for, what it made, and who made what a request touches
(scripted conversations, no sockets)."""

from __future__ import annotations

import json

from sockspy.core.deciding.client import Client, PeerCred, PeerProcess
from sockspy.core.deciding.decision import ALLOW, Decision
from sockspy.core.deciding.gate import AllowAll, GateInForce
from sockspy.core.docker.objects import ObjectRef
from sockspy.core.docker.request import classify_request
from sockspy.core.docker.secrets import mask_target
from sockspy.core.docker.summary import summarise
from sockspy.core.proxy.conversation import Conversation
from sockspy.core.proxy.lineage import Lineage
from sockspy.core.wire.head import parse_request_head

ALICE = Client(
    front="unix:///run/sockspy.sock",
    peer=PeerCred(pid=42, uid=0, gid=0),
    exe="/usr/bin/docker",
    process=PeerProcess(user="root", login_uid=1000, login_user="alice"),
)
BOB = Client(front="unix:///run/sockspy.sock", peer=PeerCred(pid=43, uid=1001, gid=1001))
CID = "4f" * 32
EXEC_ID = "e1" * 32


def post(target: str, body: bytes, chunked: bool = False) -> bytes:
    head = f"POST {target} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
    if chunked:
        framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + framed
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: docker\r\n\r\n".encode()


def response(status: int, body: bytes, chunked: bool = False) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
    if chunked:
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + (
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        )
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def exchange(
    conv: Conversation, request: bytes, answer: bytes, decision: Decision = ALLOW
) -> dict[str, object]:
    """Send one request, let the gate say `decision`, answer it; its exchange record."""
    conv.client_data(request)
    while conv.pending_decision is not None:
        conv.decided(decision)
    assert b"".join(i for i in conv.to_upstream if isinstance(i, bytes)) == request
    conv.to_upstream.clear()
    conv.upstream_data(answer)
    assert b"".join(i for i in conv.to_client if isinstance(i, bytes)) == answer
    conv.to_client.clear()
    records = [r for r in conv.records if r["event"] == "exchange"]
    conv.records.clear()
    return records[-1] if records else {}


def conversation(client: Client, lineage: Lineage, conn_id: int = 1) -> Conversation:
    return Conversation(
        conn_id, client, GateInForce(AllowAll()), clock=lambda: 0.0, lineage=lineage, run_id="r1"
    )


PRIVILEGED_CREATE = json.dumps(
    {
        "Image": "busybox",
        "Cmd": ["sh", "-c", "id"],
        "Env": ["TOKEN=hunter2", "DEBUG"],
        "HostConfig": {
            "Privileged": True,
            "Binds": ["/:/host"],
            "CapAdd": ["SYS_ADMIN"],
            "PidMode": "host",
            "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
            "RestartPolicy": {"Name": "always"},
        },
        "Labels": {"team": "a"},
    }
).encode()


def test_a_create_record_summarises_what_it_asked_for_without_env_values() -> None:
    conv = conversation(ALICE, Lineage())
    record = exchange(
        conv,
        post("/v1.41/containers/create?name=probe", PRIVILEGED_CREATE),
        response(201, b'{"Id":"%s","Warnings":[]}' % CID.encode()),
    )
    summary = record["summary"]
    assert isinstance(summary, dict)
    assert summary["image"] == "busybox"
    assert summary["privileged"] is True
    assert summary["binds"] == ["/:/host"]
    assert summary["cap_add"] == ["SYS_ADMIN"]
    assert summary["namespaces"] == {"pid": "host"}
    assert summary["ports"] == ["8080:80/tcp"]
    assert summary["restart"] == "always"
    assert summary["env"] == ["TOKEN", "DEBUG"]
    assert summary["run"] == (
        "docker run --name probe --privileged --cap-add SYS_ADMIN -v /:/host -p 8080:80/tcp "
        "-e TOKEN -e DEBUG --pid=host --restart=always --label team=a busybox sh -c id"
    )
    assert "hunter2" not in json.dumps(record)
    assert record["made"] == {"kind": "container", "id": CID, "name": "probe"}
    assert record["record_id"] == "r1-1-1"


def test_a_chunked_create_is_summarised_from_its_de_chunked_body() -> None:
    conv = conversation(ALICE, Lineage())
    record = exchange(
        conv,
        post("/containers/create", PRIVILEGED_CREATE, chunked=True),
        response(201, b'{"Id":"%s"}' % CID.encode(), chunked=True),
    )
    assert record["summary"]["privileged"] is True  # type: ignore[index]
    assert record["made"]["id"] == CID  # type: ignore[index]


def test_the_summary_reads_the_body_as_go_does_duplicate_keys_last_wins() -> None:
    body = b'{"Image":"busybox","HostConfig":{"Privileged":false,"privileged":true}}'
    request = classify_request(
        parse_request_head(post("/containers/create", body).split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    )
    assert summarise(request.with_body(body))["privileged"] is True  # type: ignore[index]


def test_the_summary_shows_subpaths_image_mounts_and_annotations() -> None:
    host_config = {
        "Mounts": [
            {"Type": "volume", "Source": "data", "Target": "/d", "VolumeOptions": {"Subpath": "a"}},
            {"Type": "image", "Source": "app:1", "Target": "/i", "ImageOptions": {"Subpath": "b"}},
        ],
        "Annotations": {"org.systemd.property.Delegate": "yes"},
    }
    body = json.dumps({"Image": "busybox", "HostConfig": host_config}).encode()
    request = classify_request(
        parse_request_head(post("/containers/create", body).split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    )
    summary = summarise(request.with_body(body))
    assert summary["mounts"] == [  # type: ignore[index]
        "type=volume,src=data,dst=/d,volume-subpath=a",
        "type=image,src=app:1,dst=/i,image-subpath=b",
    ]
    assert summary["annotations"] == {"org.systemd.property.Delegate": "yes"}  # type: ignore[index]
    assert "--annotation org.systemd.property.Delegate=yes" in summary["run"]  # type: ignore[index]


def test_an_undecodable_create_body_is_summarised_as_an_error() -> None:
    conv = conversation(ALICE, Lineage())
    record = exchange(
        conv, post("/containers/create", b'{"Image": 5}'), response(400, b'{"message":"x"}')
    )
    assert "error" in record["summary"]  # type: ignore[operator]
    assert "made" not in record


def test_metadata_level_keeps_the_exchange_without_the_summary_and_none_drops_it() -> None:
    lineage = Lineage()
    conv = conversation(ALICE, lineage)
    metadata = Decision(True, "r", audit_level="metadata")
    record = exchange(
        conv,
        post("/containers/create?name=a", PRIVILEGED_CREATE),
        response(201, b'{"Id":"%s"}' % CID.encode()),
        metadata,
    )
    assert record["endpoint"] == "container.create" and "summary" not in record
    assert record["made"]["id"] == CID  # type: ignore[index]
    quiet = Decision(True, "ping", audit_level="none")
    assert exchange(conv, get("/_ping"), response(200, b"OK"), quiet) == {}
    closing = conv.connection_closed()
    assert closing["event"] == "connection" and closing["requests"] == 2


def test_a_later_exec_into_a_container_names_the_containers_creator() -> None:
    lineage = Lineage()
    alice = conversation(ALICE, lineage, conn_id=1)
    exchange(
        alice,
        post("/containers/create?name=db", PRIVILEGED_CREATE),
        response(201, b'{"Id":"%s"}' % CID.encode()),
    )
    bob = conversation(BOB, lineage, conn_id=2)
    exec_body = b'{"Cmd":["sh"],"Tty":true,"AttachStdin":true,"Env":["PASSWORD=x"]}'
    record = exchange(
        bob,
        post("/v1.41/containers/db/exec", exec_body),
        response(201, b'{"Id":"%s"}' % EXEC_ID.encode()),
    )
    assert record["object"] == {"kind": "container", "id": CID, "name": "db"}
    created_by = record["created_by"]
    assert isinstance(created_by, dict)
    assert created_by["record_id"] == "r1-1-1"
    assert created_by["peer_login_user"] == "alice" and created_by["peer_uid"] == 0
    assert record["made"] == {"kind": "exec", "id": EXEC_ID, "parent": "db"}
    assert record["summary"]["run"] == "docker exec -t -e PASSWORD db sh"  # type: ignore[index]
    # By a short id prefix, as `docker ps` prints it:
    inspect = exchange(bob, get(f"/containers/{CID[:12]}/json"), response(200, b"{}"))
    assert inspect["created_by"]["record_id"] == "r1-1-1"  # type: ignore[index]
    # A shorter prefix could name another object: no claim is made.
    assert "object" not in exchange(bob, get(f"/containers/{CID[:6]}/json"), response(200, b"{}"))


def test_a_deleted_containers_name_no_longer_points_at_it() -> None:
    lineage = Lineage()
    conv = conversation(ALICE, lineage)
    exchange(
        conv, post("/containers/create?name=db", b'{"Image":"busybox"}'),
        response(201, b'{"Id":"%s"}' % CID.encode()),
    )  # fmt: skip
    gone = exchange(conv, b"DELETE /containers/db HTTP/1.1\r\nHost: d\r\n\r\n", response(204, b""))
    assert gone["object"]["id"] == CID  # type: ignore[index]
    assert "object" not in exchange(conv, get("/containers/db/json"), response(404, b"{}"))
    assert len(lineage) == 0


def test_a_renamed_container_is_found_by_its_new_name() -> None:
    lineage = Lineage()
    conv = conversation(ALICE, lineage)
    exchange(
        conv, post("/containers/create?name=old", b'{"Image":"busybox"}'),
        response(201, b'{"Id":"%s"}' % CID.encode()),
    )  # fmt: skip
    exchange(conv, post("/containers/old/rename?name=new", b""), response(204, b""))
    assert exchange(conv, get("/containers/new/json"), response(200, b"{}"))["object"] == {
        "kind": "container", "id": CID, "name": "new",
    }  # fmt: skip
    assert "object" not in exchange(conv, get("/containers/old/json"), response(404, b"{}"))


def test_a_build_records_the_image_it_made_from_the_end_of_its_stream() -> None:
    stream = b"".join(
        [b'{"stream":"Step 1/1 : FROM busybox\\n"}\r\n'] * 5000
        + [b'{"aux":{"ID":"sha256:' + b"ab" * 32 + b'"}}\r\n', b'{"stream":"done\\n"}\r\n']
    )
    conv = conversation(ALICE, Lineage())
    head = (
        b"POST /build?t=app:1&buildargs=%7B%22TOKEN%22%3A%22s3cret%22%7D HTTP/1.1\r\n"
        b"Host: d\r\nContent-Length: 3\r\n\r\nabc"
    )
    record = exchange(conv, head, response(200, stream, chunked=True))
    assert record["made"] == {"kind": "image", "id": "sha256:" + "ab" * 32, "name": "app:1"}
    assert record["summary"]["build_arg_names"] == ["TOKEN"]  # type: ignore[index]
    assert "s3cret" not in json.dumps(record)
    assert record["target"] == "/build?t=app:1&buildargs=***"


def test_lineage_forgets_the_least_recently_used_object_past_its_limit() -> None:
    lineage = Lineage(limit=2)
    for n in range(3):
        lineage.made(ObjectRef("volume", f"v{n}", f"v{n}"), f"r-{n}", {"peer_uid": n})
    assert lineage.find("volume", "v0") is None
    assert lineage.find("volume", "v2")["created_by"] == {"record_id": "r-2", "peer_uid": 2}  # type: ignore[index]


def test_lineage_rebuilds_from_the_records_it_wrote() -> None:
    lineage = Lineage()
    conv = conversation(ALICE, lineage)
    record = exchange(
        conv, post("/volumes/create", b'{"Name":"data","DriverOpts":{"password":"pw"}}'),
        response(201, b'{"Name":"data","Driver":"local"}'),
    )  # fmt: skip
    assert record["summary"] == {"name": "data", "driver_opts": ["password"]}
    rebuilt = Lineage()
    rebuilt.learn(json.loads(json.dumps(record)))
    assert rebuilt.find("volume", "data") == lineage.find("volume", "data")


def test_only_masked_parameters_change_in_a_recorded_target() -> None:
    assert mask_target("/build?buildargs=%7B%7D&t=x") == "/build?buildargs=***&t=x"
    assert mask_target("/containers/json?all=1") == "/containers/json?all=1"
    assert mask_target("/_ping") == "/_ping"


def test_a_docker_command_line_keeps_its_flags_but_not_its_secret_values() -> None:
    from sockspy.core.docker.secrets import mask_cmdline

    argv = (
        "docker", "run", "-e", "TOKEN=s1", "--env=KEY=s2", "-eX=s3", "-ite", "Y=s4",
        "-e", "NAME_ONLY", "--build-arg", "PW=s5", "-p", "8080:80", "busybox",
    )  # fmt: skip
    assert mask_cmdline(argv) == (
        "docker", "run", "-e", "TOKEN=***", "--env=KEY=***", "-eX=***", "-ite", "Y=***",
        "-e", "NAME_ONLY", "--build-arg", "PW=***", "-p", "8080:80", "busybox",
    )  # fmt: skip
    assert mask_cmdline(("docker", "login", "-u", "me", "-p", "pw")) == (
        "docker", "login", "-u", "me", "-p", "***",
    )  # fmt: skip
    assert mask_cmdline(("docker", "login", "--password=pw")) == (
        "docker",
        "login",
        "--password=***",
    )


def test_an_exec_sessions_start_names_the_command_its_create_asked_for_and_its_maker() -> None:
    lineage = Lineage()
    conv = conversation(ALICE, lineage)
    exchange(
        conv, post("/containers/create?name=db", b'{"Image":"busybox"}'),
        response(201, b'{"Id":"%s"}' % CID.encode()),
    )  # fmt: skip
    body = b'{"Cmd":["sh","-c","id"],"User":"nobody","Tty":true,"WorkingDir":"/srv"}'
    created = exchange(
        conv, post("/containers/db/exec", body), response(201, b'{"Id":"%s"}' % EXEC_ID.encode())
    )
    start = (
        f"POST /exec/{EXEC_ID}/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\n"
        "Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
        '{"Tty": true}'
    ).encode()
    conv.client_data(start)
    while conv.pending_decision is not None:
        conv.decided(ALLOW)
    conv.upstream_data(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    [session] = [r for r in conv.records if r["event"] == "session_start"]
    assert session["exec_command"] == ["sh", "-c", "id"] and session["exec_user"] == "nobody"
    assert session["exec_tty"] is True and session["exec_working_dir"] == "/srv"
    assert session["created_by"]["record_id"] == created["record_id"]
