"""Client identity: audit fields and the container a peer process runs in."""

from __future__ import annotations

import pytest

from sockspy.core.deciding.client import (
    CMDLINE_CAP,
    Client,
    PeerCred,
    PeerProcess,
    container_id_from_cgroup,
    parse_cmdline,
    parse_login_uid,
    parse_ppid,
    unit_from_cgroup,
)

ID = "fbd7ed3128ba821dbd5282b4fe7fae71f2cd9e7cac131a1ee5a3ab1c880b2f10"


@pytest.mark.parametrize(
    "cgroup",
    [
        f"0::/docker/{ID}\n",
        f"12:memory:/docker/{ID}\n0::/\n",
        f"0::/system.slice/docker-{ID}.scope\n",
        f"0::/kubepods/besteffort/pod1234/{ID}\n",
        f"0::/system.slice/containerd.service/kubepods/cri-containerd-{ID}.scope\n",
    ],
)
def test_container_id_is_read_from_any_common_cgroup_layout(cgroup: str) -> None:
    assert container_id_from_cgroup(cgroup) == ID


@pytest.mark.parametrize("cgroup", ["0::/\n", "0::/user.slice/user-1000.slice/session-2.scope\n"])
def test_host_processes_have_no_container_id(cgroup: str) -> None:
    assert container_id_from_cgroup(cgroup) is None


def test_unix_client_fields_name_the_peer() -> None:
    client = Client("unix:///s", PeerCred(pid=7, uid=1000, gid=100), exe="/usr/bin/docker")
    assert client.fields() == {
        "front": "unix:///s",
        "peer_uid": 1000,
        "peer_gid": 100,
        "peer_pid": 7,
        "peer_exe": "/usr/bin/docker",
    }


def test_tcp_client_fields_name_the_address() -> None:
    assert Client("tcp://0.0.0.0:2375", ip="10.0.0.5", port=4242).fields() == {
        "front": "tcp://0.0.0.0:2375",
        "client_ip": "10.0.0.5",
        "client_port": 4242,
    }


def test_the_command_line_is_split_at_nuls_and_capped() -> None:
    assert parse_cmdline(b"docker\0run\0--rm\0busybox\0") == ("docker", "run", "--rm", "busybox")
    assert parse_cmdline(b"") == ()
    assert parse_cmdline(b"x\0\xff\0") == ("x", "\ufffd")
    long = parse_cmdline(b"a" * 10_000 + b"\0")
    assert len("".join(long)) == CMDLINE_CAP


def test_the_login_uid_is_the_person_and_unset_is_none() -> None:
    assert parse_login_uid("1000") == 1000
    assert parse_login_uid("4294967295") is None  # never set: a daemon, a container
    assert parse_login_uid("") is None


def test_the_parent_pid_is_read_after_the_last_parenthesis() -> None:
    assert parse_ppid("4242 (docker) S 4200 4242 4200 34816") == 4200
    assert parse_ppid("7 (a) b) (c) R 1 7 7") == 1  # a command name with ") " in it
    assert parse_ppid("garbage") is None


def test_the_systemd_unit_is_the_innermost_unit_of_the_cgroup_path() -> None:
    v2 = "0::/system.slice/gitlab-runner.service\n"
    assert unit_from_cgroup(v2) == "gitlab-runner.service"
    session = "0::/user.slice/user-1000.slice/session-3.scope\n"
    assert unit_from_cgroup(session) == "session-3.scope"
    v1 = "12:pids:/\n1:name=systemd:/system.slice/cron.service\n"
    assert unit_from_cgroup(v1) == "cron.service"
    assert unit_from_cgroup("0::/\n") is None


def test_the_peer_process_reaches_the_record_fields() -> None:
    process = PeerProcess(cmdline=("docker", "ps"), user="root", login_uid=1000,
                          login_user="alice", ppid=7, parent_exe="/bin/bash",
                          unit="session-3.scope")  # fmt: skip
    fields = Client(front="unix:///s", peer=PeerCred(9, 0, 0), process=process).fields()
    assert {k: v for k, v in fields.items() if k.startswith("peer_")} == {
        "peer_uid": 0, "peer_gid": 0, "peer_pid": 9, "peer_cmdline": ["docker", "ps"],
        "peer_user": "root", "peer_login_uid": 1000, "peer_login_user": "alice",
        "peer_ppid": 7, "peer_parent_exe": "/bin/bash", "peer_unit": "session-3.scope",
    }  # fmt: skip
