"""dockerd's request structs, as far as the host-access checks read them.

Transcribed from moby/moby (20.10 and current): ``api/types/container/config.go`` and
``host_config.go``, ``api/types/mount/mount.go``, ``runconfig/config_unix.go``
(``ContainerConfigWrapper``), ``api/types/configs.go`` (``ExecConfig``),
``api/types/volume`` (``VolumeCreateBody`` / ``CreateOptions``), ``api/types/swarm``
(``ServiceSpec``, ``TaskSpec``, ``ContainerSpec``, ``InitRequest``, ``JoinRequest``),
``api/types/swarm/runtime/plugin.pb.go`` and ``api/types/plugin.go`` (``PluginPrivilege``).

Field names are the JSON names (a ``json:"Dns"`` tag renames ``DNS``). Fields no check
reads are left out: Go ignores what it does not know and so does `gojson`; a field left
out is only not type-checked. Keep each struct's fields in Go's declaration order.
Some fields are here for the audit record's `summary` only (`sockspy.core.docker.summary`):
what a create asked for is read from the same decoding the rules read. Fields whose Go type
is awkward and that no rule reads (PortBindings, ExposedPorts) are kept raw (`Raw`).
"""

from __future__ import annotations

from typing import Any

from sockspy.core.docker.gojson import Any as Raw
from sockspy.core.docker.gojson import (
    Array,
    Bool,
    Embedded,
    Int,
    Map,
    Pointer,
    String,
    StrSlice,
    Struct,
)

STRING_MAP = Map(String())

# api/types/mount/mount.go
DRIVER = Struct({"Name": String(), "Options": STRING_MAP})
MOUNT = Struct(
    {
        "Type": String(),
        "Source": String(),
        "Target": String(),
        "ReadOnly": Bool(),
        "BindOptions": Pointer(Struct({"Propagation": String(), "CreateMountpoint": Bool()})),
        "VolumeOptions": Pointer(
            Struct(
                {
                    "NoCopy": Bool(),
                    "Labels": STRING_MAP,
                    "DriverConfig": Pointer(DRIVER),
                    "Subpath": String(),  # API 1.45
                }
            )
        ),
        "ImageOptions": Pointer(Struct({"Subpath": String()})),  # API 1.48: Type "image"
    }
)

# api/types/container/host_config.go
DEVICE_MAPPING = Struct(
    {"PathOnHost": String(), "PathInContainer": String(), "CgroupPermissions": String()}
)
DEVICE_REQUEST = Struct(
    {
        "Driver": String(),
        "Count": Int(),
        "DeviceIDs": Array(String()),
        "Capabilities": Array(Array(String())),
        "Options": STRING_MAP,
    }
)
RESOURCES = Struct(
    {
        "CpuShares": Int(),
        "Memory": Int(),
        "CgroupParent": String(),
        "CpusetCpus": String(),
        "Devices": Array(DEVICE_MAPPING),
        "DeviceCgroupRules": Array(String()),
        "DeviceRequests": Array(DEVICE_REQUEST),
        "MemorySwap": Int(),
    }
)
HOST_CONFIG = Struct(
    {
        "Binds": Array(String()),
        "LogConfig": Struct({"Type": String(), "Config": STRING_MAP}),
        "NetworkMode": String(),
        "PortBindings": Raw(),  # nat.PortMap: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
        "RestartPolicy": Struct({"Name": String(), "MaximumRetryCount": Int()}),
        "AutoRemove": Bool(),
        "VolumeDriver": String(),
        "VolumesFrom": Array(String()),
        "CapAdd": StrSlice(),
        "CapDrop": StrSlice(),
        "CgroupnsMode": String(),
        "IpcMode": String(),
        "Links": Array(String()),
        "PidMode": String(),
        "Privileged": Bool(),
        "SecurityOpt": Array(String()),
        "UTSMode": String(),
        "UsernsMode": String(),
        "Mounts": Array(MOUNT),
        "MaskedPaths": Array(String()),
        "ReadonlyPaths": Array(String()),
        "Runtime": String(),
        "OomScoreAdj": Int(),
        "Sysctls": STRING_MAP,
        "Annotations": STRING_MAP,  # API 1.43: copied into the OCI spec
    },
    # Resources is embedded by value (declared between Isolation and Mounts: the order
    # only decides between fields whose names fold alike, and no two here do).
    embedded=(Embedded(RESOURCES),),
)

# runconfig/config_unix.go (20.10). dockerd 20.10 decodes a create body, and a start body
# below API 1.24 (runconfig/hostconfig.go: decodeHostConfig), into this wrapper:
#
#     type ContainerConfigWrapper struct {
#         *container.Config
#         InnerHostConfig  *container.HostConfig `json:"HostConfig,omitempty"`
#         Cpuset           string `json:",omitempty"` // Deprecated.
#         NetworkingConfig *networktypes.NetworkingConfig `json:"NetworkingConfig,omitempty"`
#         *container.HostConfig // Deprecated: read attributes not in the inner host config
#     }
#
# so HostConfig fields beside "Image" (Privileged, Binds...) fill the embedded, legacy
# HostConfig, which getHostConfig uses when "HostConfig" is absent or null. Newer daemons
# dropped the embedded one; checking both is right for every version.
LEGACY_HOST_CONFIG = "<top-level HostConfig>"  # its key in the decoded dict
# container.Config: its WorkingDir is where runc starts the process (CVE-2024-21626).
CONFIG = Struct(
    {
        "Hostname": String(),
        "User": String(),
        "ExposedPorts": Raw(),  # nat.PortSet
        "Tty": Bool(),
        "OpenStdin": Bool(),
        "Env": Array(String()),
        "Cmd": StrSlice(),
        "Image": String(),
        "WorkingDir": String(),
        "Entrypoint": StrSlice(),
        "Labels": STRING_MAP,
    }
)
# api/types/network: EndpointSettings, the part ownership reads: the containers it links,
# and `NetworkID`, which dockerd joins instead of the network the key names when that key
# is a user-defined network (daemon/container_operations.go: getNetworkID).
ENDPOINT_SETTINGS = Struct(
    {"Links": Array(String()), "Aliases": Array(String()), "NetworkID": String()}
)
NETWORKING_CONFIG = Struct({"EndpointsConfig": Map(Pointer(ENDPOINT_SETTINGS))})
CONTAINER_CREATE = Struct(
    {
        "HostConfig": Pointer(HOST_CONFIG),
        "Cpuset": String(),
        "NetworkingConfig": Pointer(NETWORKING_CONFIG),
    },
    embedded=(Embedded(CONFIG), Embedded(HOST_CONFIG, key=LEGACY_HOST_CONFIG)),
)

# moby 27 and later (moby#48007, v27.0): container.CreateRequest{*Config; HostConfig;
# NetworkingConfig}. The wrapper is gone, and with it the legacy top-level HostConfig
# fields and "Cpuset": dockerd ignores them (checked on 28.5.2). sockspy decodes every
# create with CONTAINER_CREATE, and so checks those fields too: more, never less.
CONTAINER_CREATE_27 = Struct(
    {"HostConfig": Pointer(HOST_CONFIG), "NetworkingConfig": Pointer(NETWORKING_CONFIG)},
    embedded=(Embedded(CONFIG),),
)

# api/types/container/host_config.go: UpdateConfig{Resources; RestartPolicy}
CONTAINER_UPDATE = Struct({}, embedded=(Embedded(RESOURCES),))

# api/types/configs.go
EXEC_CONFIG = Struct(
    {
        "User": String(),
        "Privileged": Bool(),
        "Tty": Bool(),
        "Detach": Bool(),
        "Env": Array(String()),
        "WorkingDir": String(),
        "Cmd": Array(String()),  # a plain []string here, not a StrSlice
    }
)

# api/types/volume: VolumeCreateBody (20.10), CreateOptions (newer; adds cluster fields)
VOLUME_CREATE = Struct({"Driver": String(), "DriverOpts": STRING_MAP, "Name": String()})

# api/types/swarm
NETWORK_ATTACHMENT = Struct({"Target": String(), "Aliases": Array(String())})
PRIVILEGES = Struct(
    {
        "SELinuxContext": Pointer(
            Struct(
                {
                    "Disable": Bool(),
                    "User": String(),
                    "Role": String(),
                    "Type": String(),
                    "Level": String(),
                }
            )
        ),
        "Seccomp": Pointer(Struct({"Mode": String(), "Profile": Raw()})),  # Profile: []byte
        "AppArmor": Pointer(Struct({"Mode": String()})),
        "NoNewPrivileges": Bool(),
    }
)
CONTAINER_SPEC = Struct(
    {
        "Image": String(),
        "Labels": STRING_MAP,
        "Command": Array(String()),
        "Args": Array(String()),
        "Env": Array(String()),
        "User": String(),
        "Privileges": Pointer(PRIVILEGES),
        "Mounts": Array(MOUNT),
        "Sysctls": STRING_MAP,
        "CapabilityAdd": Array(String()),
        "Dir": String(),  # the task's working directory
    }
)
# api/types/network: CreateRequest (the audit summary reads it; no rule does)
NETWORK_CREATE = Struct(
    {
        "Name": String(),
        "Driver": String(),
        "Internal": Bool(),
        "Attachable": Bool(),
        "Labels": STRING_MAP,
        "Options": STRING_MAP,  # the driver's: a bridge's name, a macvlan's parent...
        "ConfigOnly": Bool(),
        "ConfigFrom": Pointer(Struct({"Network": String()})),  # another network's options
    }
)
# api/types: NetworkConnect and NetworkDisconnect (the container they name).
NETWORK_CONNECT = Struct({"Container": String(), "EndpointConfig": Pointer(ENDPOINT_SETTINGS)})
# api/types/swarm/runtime/plugin.pb.go: protobuf structs, lower-case JSON names.
RUNTIME_PRIVILEGE = Struct({"name": String(), "description": String(), "value": Array(String())})
PLUGIN_SPEC = Struct(
    {"name": String(), "remote": String(), "privileges": Array(Pointer(RUNTIME_PRIVILEGE))}
)
TASK_SPEC = Struct(
    {
        "ContainerSpec": Pointer(CONTAINER_SPEC),
        "PluginSpec": Pointer(PLUGIN_SPEC),
        "Networks": Array(NETWORK_ATTACHMENT),
        "LogDriver": Pointer(DRIVER),
        "Runtime": String(),
    }
)
SERVICE_SPEC = Struct(
    {"TaskTemplate": TASK_SPEC, "Networks": Array(NETWORK_ATTACHMENT)},  # Networks: deprecated
    embedded=(Embedded(Struct({"Name": String(), "Labels": STRING_MAP})),),  # Annotations
)
SWARM_INIT = Struct({"ListenAddr": String(), "AdvertiseAddr": String(), "ForceNewCluster": Bool()})
SWARM_JOIN = Struct(
    {
        "ListenAddr": String(),
        "AdvertiseAddr": String(),
        "RemoteAddrs": Array(String()),
        "JoinToken": String(),
    }
)

# api/types/plugin.go: the body of plugin pull/upgrade is a PluginPrivileges array; the
# body of plugin set is a []string of "key=value" arguments.
PLUGIN_PRIVILEGES = Array(
    Struct({"Name": String(), "Description": String(), "Value": Array(String())})
)
PLUGIN_SET_ARGS = Array(String())


def host_configs(create: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The HostConfigs a decoded create (or old start) body carries, labelled for messages."""
    found = []
    if isinstance(create.get("HostConfig"), dict):
        found.append(("HostConfig.", create["HostConfig"]))
    if isinstance(create.get(LEGACY_HOST_CONFIG), dict):
        found.append(("top-level ", create[LEGACY_HOST_CONFIG]))
    return found


def effective_host_config(
    create: dict[str, Any], engine: tuple[int, int] = (20, 10)
) -> dict[str, Any] | None:
    """The HostConfig dockerd stores: 20.10's ``ContainerConfigWrapper.getHostConfig``.

    The inner "HostConfig" wins when present, taking Memory, MemorySwap, CpuShares,
    CpusetCpus and VolumeDriver from the legacy top-level fields where its own are zero;
    the deprecated top-level "Cpuset" fills an empty CpusetCpus; NetworkMode defaults to
    "default". From engine 27 the legacy fields are ignored (`CONTAINER_CREATE_27`); from
    26 an empty or "default" NetworkMode is stored as "bridge" (checked on 26.1.5, 28.5.2).
    (`findings` does not use this: it checks both HostConfigs.)
    """
    inner, legacy = create.get("HostConfig"), create.get(LEGACY_HOST_CONFIG)
    if engine >= (27, 0):
        legacy = None
        create = {key: value for key, value in create.items() if key != "Cpuset"}
    if inner is None and legacy is None:
        return None
    if inner is None:
        chosen = dict(legacy or {})
    else:
        chosen = dict(inner)
        for name in ("Memory", "MemorySwap", "CpuShares", "CpusetCpus", "VolumeDriver"):
            if legacy is not None and legacy.get(name) and not chosen.get(name):
                chosen[name] = legacy[name]
    if create.get("Cpuset") and not chosen.get("CpusetCpus"):
        chosen["CpusetCpus"] = create["Cpuset"]
    if engine >= (26, 0) and chosen.get("NetworkMode") in (None, "", "default"):
        chosen["NetworkMode"] = "bridge"  # "default" too (checked on 26.1.5 and 28.5.2)
    elif not chosen.get("NetworkMode"):
        chosen["NetworkMode"] = "default"
    return chosen
