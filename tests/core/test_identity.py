"""Client identity: audit fields and the container a peer process runs in."""

from __future__ import annotations

import pytest

from sockspy.core.serving.identity import Client, PeerCred, container_id_from_cgroup

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
