"""The bypass corpus: raw requests that try every known way past a Docker socket guard.

Each `Attempt` comes from one class of the Docker API facts (docker-api-facts.md: every
line there is a way some proxy got bypassed) and is written as templates of raw HTTP
requests. `build` fills the placeholders in with a `Scene` (the containers, image and
names of one test run) *before* it computes Content-Length and chunk sizes, so the
framing of every request is exactly what the template says it is.

Placeholders (bytes, replaced everywhere: target, headers, body):

    @IMAGE@          the test image
    @VICTIM@         a running container with a host bind (its bind dir is mounted at /host)
    @VICTIM_PCT@     the victim's name, every character percent-encoded
    @VICTIM_ID@      the victim's full id; @VICTIM_PREFIX@ its shortest unique prefix (>= 4)
    @PLAIN@          a running container with no host access
    @LINKER@         a running container linked to the victim as "x": @LINKER@/x *is* the victim
    @DORMANT@        a created, never started container with a host bind
    @FRESH@          a created, never started container with no host access
    @PRIV_EXEC@      an exec made on the daemon directly in @PLAIN@, with Privileged: true
    @ROOT_EXEC@      the same with User "0"
    @WORKDIR_IMAGE@  an image whose WORKDIR is /proc/self/fd/7
    @MARKER@         a unique name for whatever the attempt would create (container, volume,
                     plugin, image tag); every create body also labels with it
    @HOSTDIR@        a host path that does not exist: a bind would make the daemon create it
    @TAR@            (a whole body) a tar archive holding one file named @MARKER@
    @CONTEXT@        (a whole body) a build context: a Dockerfile FROM @IMAGE@
    @LEN@, @HEXLEN@  (Raw framing only) the length of the filled body, in decimal and hex

An attempt is refused (400, 413, 431, 501, 505: sockspy cannot read it exactly as dockerd
would) or denied (403: a rule says no). `forwarded` counts leading requests that the
policy allows on purpose (a ping before a smuggled request): those reach the daemon, and
nothing after them may.
"""

from __future__ import annotations

import io
import tarfile
from collections import Counter
from dataclasses import dataclass
from typing import Literal

HOST = "api.moby.localhost"  # what the docker CLI sends

# The classes of the facts file, in its order: key -> what the class is about.
FACTS: dict[str, str] = {
    "percent-encoding": "the path is percent-decoded before routing",
    "non-canonical-path": "//, /./, /../ and encoded dots get a 301, no handler",
    "lenient-version": "/vX.Y is parsed numerically and leniently",
    "fragment-absolute-form": "'#...' stays in the path; absolute-form targets route on their path",
    "method-case": "methods are exact-case",
    "head-options-debug": "HEAD on archive, OPTIONS on any path, /debug/* with any method",
    "legacy-link-name": "path variables contain '/': /containers/web/db/exec runs in db",
    "id-prefix": "containers are found by a unique id prefix of 4 hex digits",
    "go-json": "Go's encoding/json: folding, escapes, duplicates, trailing bytes, legacy fields",
    "start-below-1.24": "API < 1.24 takes a HostConfig on container start",
    "capability-names": "CapAdd ignores case and the CAP_ prefix",
    "chunked-body": "bodies may be chunked",
    "content-type": "Content-Type may carry parameters or odd case",
    "body-too-large": "a body that cannot be inspected completely is denied",
    "host-access": "every way a create request reaches the host",
    "volume-options": "local volumes with o=bind / device=",
    "host-network": "networks on a host interface: macvlan/ipvlan on a parent, a bridge "
    "network adopting an existing host bridge by name, options taken with ConfigFrom",
    "target-container": "archive, export, exec, attach, start on a container with host mounts",
    "plugin": "plugins run with host privileges",
    "exec-create": "exec create with Privileged or a root User",
    "build": "/build with networkmode=host or cgroupparent, or BuildKit (version=2)",
    "swarm": "swarm init/join, services with mounts or caps",
    "buildkit-session": "/session and /grpc: HTTP/2 no rule can read",
    "query-duplicates": "Go takes the first of repeated parameters",
    "query-boolean": "only '', 0, no, false, none are false",
    "form-body": "a form-urlencoded body overrides the query string",
    "framing": "TE with CL, HTTP/1.0 with TE, repeated or odd framing headers",
    "pipelining": "every request on a connection passes the rules, not just the first",
    "hijack-without-upgrade": "hijacking routes without an Upgrade header",
    "upgrade-smuggling": "Upgrade on a request the daemon does not hijack, then more requests",
    "existing-exec": "an exec made on the daemon directly, started through the proxy",
    "runc-workdir": "a WorkingDir under /proc/<n>/fd: runc's leaked-fd escape (CVE-2024-21626)",
    "runtime": "HostConfig.Runtime names another runtime the daemon has registered",
    "host-resources": "a negative OomScoreAdj; sysctls outside the container's namespaces",
}


@dataclass(frozen=True, slots=True)
class Req:
    """One request, as a template; `build` adds Host and framing headers."""

    method: str
    target: str
    body: bytes = b""
    headers: tuple[str, ...] = ()  # extra header lines: "Name: value"
    framing: Literal["length", "chunked"] = "length"
    version: str = "HTTP/1.1"
    content_type: str | None = "application/json"  # sent only with a body
    chunk: int = 0  # chunked: bytes per chunk (0: the whole body in one chunk)
    chunk_ext: str = ""  # chunked: an extension after each size (";name=value")
    chunk_upper: bool = False  # chunked: sizes in upper-case hex with leading zeros
    trailer: str = ""  # chunked: a trailer field after the last chunk


@dataclass(frozen=True, slots=True)
class Raw:
    """Bytes sent as written: `head`, then `before`, `body`, `after` (a hand-made framing).

    After the placeholders are filled in, @LEN@ and @HEXLEN@ in `head`, `before` and
    `after` become the length of the filled `body`, in decimal and in hex.
    """

    head: bytes
    body: bytes = b""
    before: bytes = b""
    after: bytes = b""
    method: str = "POST"  # how to read its response (HEAD responses have no body)


@dataclass(frozen=True, slots=True)
class Attempt:
    id: str  # readable and unique: the test id
    fact: str  # a key of FACTS
    requests: tuple[Req | Raw, ...]
    forwarded: int = 0  # leading requests the policy allows (they reach the daemon)


@dataclass(frozen=True, slots=True)
class Scene:
    image: str
    victim: str
    victim_id: str
    victim_prefix: str
    plain: str
    linker: str
    dormant: str
    fresh: str
    marker_prefix: str  # every marker starts with it: "sockspy-bypass-<hex>"
    hostdir: str
    priv_exec: str
    root_exec: str
    workdir_image: str

    def marker(self, attempt: Attempt) -> str:
        return f"{self.marker_prefix}-{attempt.id}"


@dataclass(frozen=True, slots=True)
class Built:
    """An attempt with its placeholders filled in: the bytes to send."""

    attempt: Attempt
    marker: str
    payload: bytes
    methods: tuple[str, ...]  # of each request, to read the responses


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _fill(template: bytes, scene: Scene, marker: str) -> bytes:
    victim_pct = "".join(f"%{byte:02X}" for byte in scene.victim.encode())
    values = {
        "@IMAGE@": scene.image,
        "@VICTIM_PCT@": victim_pct,
        "@VICTIM_ID@": scene.victim_id,
        "@VICTIM_PREFIX@": scene.victim_prefix,
        "@VICTIM@": scene.victim,
        "@PLAIN@": scene.plain,
        "@LINKER@": scene.linker,
        "@DORMANT@": scene.dormant,
        "@FRESH@": scene.fresh,
        "@MARKER@": marker,
        "@HOSTDIR@": scene.hostdir,
        "@PRIV_EXEC@": scene.priv_exec,
        "@ROOT_EXEC@": scene.root_exec,
        "@WORKDIR_IMAGE@": scene.workdir_image,
    }
    for key, value in values.items():
        template = template.replace(key.encode(), value.encode())
    return template


def _body(template: bytes, scene: Scene, marker: str) -> bytes:
    if template == b"@TAR@":
        return _tar({marker: b"written through the proxy\n"})
    if template == b"@CONTEXT@":
        return _tar({"Dockerfile": f"FROM {scene.image}\nRUN true\n".encode()})
    return _fill(template, scene, marker)


def _chunked(body: bytes, req: Req) -> bytes:
    size = req.chunk or max(len(body), 1)
    out = b""
    for start in range(0, len(body), size):
        piece = body[start : start + size]
        length = f"{len(piece):04X}" if req.chunk_upper else f"{len(piece):x}"
        out += f"{length}{req.chunk_ext}\r\n".encode() + piece + b"\r\n"
    trailer = f"{req.trailer}\r\n" if req.trailer else ""
    return out + f"0{req.chunk_ext}\r\n{trailer}\r\n".encode()


def _render(req: Req | Raw, scene: Scene, marker: str) -> bytes:
    if isinstance(req, Raw):
        body = _body(req.body, scene, marker)
        framing = b"".join(_fill(part, scene, marker) for part in (req.head, req.before))
        after = _fill(req.after, scene, marker)
        for key, value in ((b"@LEN@", f"{len(body)}"), (b"@HEXLEN@", f"{len(body):x}")):
            framing = framing.replace(key, value.encode())
            after = after.replace(key, value.encode())
        return framing + body + after
    body = _body(req.body, scene, marker)
    lines = [f"{req.method} {req.target} {req.version}", f"Host: {HOST}", *req.headers]
    if body and req.content_type is not None:
        lines.append(f"Content-Type: {req.content_type}")
    if req.framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        body = _chunked(body, req)
    elif body:
        lines.append(f"Content-Length: {len(body)}")
    head = _fill("\r\n".join(lines).encode("utf-8"), scene, marker)
    return head + b"\r\n\r\n" + body


def build(attempt: Attempt, scene: Scene) -> Built:
    marker = scene.marker(attempt)
    payload = b"".join(_render(req, scene, marker) for req in attempt.requests)
    return Built(attempt, marker, payload, tuple(req.method for req in attempt.requests))


def attempts(scene: Scene) -> list[Built]:
    """Every attempt of the corpus, filled in for `scene`."""
    return [build(attempt, scene) for attempt in ATTEMPTS]


# -- Templates ----------------------------------------------------------------------------

V = "/v1.41"
CREATE = f"{V}/containers/create?name=@MARKER@"
LABELS = '"Labels":{"sockspy.bypass":"@MARKER@"}'


def create(host_config: str | None, top: str = "") -> bytes:
    """A create body: the test image, the marker label, `top` fields, a HostConfig."""
    text = '{"Image":"@IMAGE@","Cmd":["true"],' + LABELS + top
    if host_config is not None:
        text += ',"HostConfig":{' + host_config + "}"
    return (text + "}").encode("utf-8")


def post(
    target: str,
    body: bytes = b"",
    *headers: str,
    framing: Literal["length", "chunked"] = "length",
    version: str = "HTTP/1.1",
    content_type: str | None = "application/json",
    chunk: int = 0,
    chunk_ext: str = "",
    chunk_upper: bool = False,
    trailer: str = "",
) -> Req:
    return Req(
        "POST", target, body, headers, framing, version, content_type,
        chunk, chunk_ext, chunk_upper, trailer,
    )  # fmt: skip


def get(target: str, *headers: str) -> Req:
    return Req("GET", target, b"", headers)


EXEC_BODY = b'{"Cmd":["touch","/host/@MARKER@"],"AttachStdout":true}'
PRIVILEGED = create('"Privileged":true')
BIND_ROOT = create('"Binds":["/:/host"]')
UPGRADE = ("Connection: Upgrade", "Upgrade: tcp")
H2C = ("Connection: Upgrade", "Upgrade: h2c")
S = "\u017f"  # LATIN SMALL LETTER LONG S: Go's case folding matches it with "s" and "S"
K = "\u212a"  # KELVIN SIGN: folds with "k" and "K"
PAD = "x" * 70_000  # over the policy's max_body_bytes (65536)


CHUNK = {"before": "@HEXLEN@\r\n", "after": "\r\n0\r\n\r\n"}  # one chunk, then the last
LAST_CHUNK = CHUNK["after"]


def raw_create(
    *framing: str,
    version: str = "HTTP/1.1",
    before: str = "",
    after: str = "",
    eol: str = "\r\n",
) -> Raw:
    """A privileged create with hand-written framing header lines (`framing`)."""
    lines = [f"POST {CREATE} {version}"]
    if version == "HTTP/1.1":
        lines.append(f"Host: {HOST}")
    lines += ["Content-Type: application/json", *framing]
    head = eol.join(lines) + "\r\n\r\n"
    return Raw(head.encode(), PRIVILEGED, before.encode(), after.encode())


def _a(id: str, fact: str, *requests: Req | Raw, forwarded: int = 0) -> Attempt:
    return Attempt(id, fact, requests, forwarded)


def _host_access() -> list[Attempt]:
    """One create per way to the host, each alone in an otherwise plain create."""
    ways = {
        "privileged": '"Privileged":true',
        "devices": '"Devices":[{"PathOnHost":"/dev/mem","PathInContainer":"/dev/mem",'
        '"CgroupPermissions":"rwm"}]',
        "device-cgroup-rules": '"DeviceCgroupRules":["a *:* rwm"]',
        "device-requests": '"DeviceRequests":[{"Driver":"nvidia","Count":-1,'
        '"Capabilities":[["gpu"]]}]',
        "seccomp-unconfined": '"SecurityOpt":["seccomp=unconfined"]',
        "seccomp-colon": '"SecurityOpt":["seccomp:unconfined"]',
        "apparmor-unconfined": '"SecurityOpt":["apparmor=unconfined"]',
        "label-disable": '"SecurityOpt":["label=disable"]',
        "label-type": '"SecurityOpt":["label=type:spc_t"]',
        "no-new-privileges-false": '"SecurityOpt":["no-new-privileges=false"]',
        "systempaths-unconfined": '"SecurityOpt":["systempaths=unconfined"]',
        "masked-paths-empty": '"MaskedPaths":[]',
        "readonly-paths-empty": '"ReadonlyPaths":[]',
        "pid-host": '"PidMode":"host"',
        "pid-container": '"PidMode":"container:@VICTIM@"',
        "network-host": '"NetworkMode":"host"',
        "network-container": '"NetworkMode":"container:@PLAIN@"',
        "ipc-host": '"IpcMode":"host"',
        "ipc-container": '"IpcMode":"container:@PLAIN@"',
        "uts-host": '"UTSMode":"host"',
        "userns-host": '"UsernsMode":"host"',
        "cgroupns-host": '"CgroupnsMode":"host"',
        "cgroupns-container": '"CgroupnsMode":"container:@VICTIM@"',
        "cgroup-parent": '"CgroupParent":"/"',
        "binds-root": '"Binds":["/:/host"]',
        "binds-missing-path": '"Binds":["@HOSTDIR@:/h"]',
        "binds-unclean-root": '"Binds":["//etc/../:/host:ro"]',
        "mounts-bind": '"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]',
        "mounts-volume-bind-options": '"Mounts":[{"Type":"volume","Source":"@MARKER@",'
        '"Target":"/v","BindOptions":{"Propagation":"rshared"}}]',
        "mounts-local-volume-o-bind": '"Mounts":[{"Type":"volume","Source":"@MARKER@",'
        '"Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local","Options":'
        '{"type":"none","o":"bind","device":"@HOSTDIR@"}}}}]',
        "mounts-default-driver-device": '"Mounts":[{"Type":"volume","Source":"@MARKER@",'
        '"Target":"/v","VolumeOptions":{"DriverConfig":{"Options":{"device":"/dev/sda1",'
        '"type":"ext4"}}}}]',
        "volumes-from-bind-container": '"VolumesFrom":["@VICTIM@"]',
        "volumes-from-read-only": '"VolumesFrom":["@VICTIM@:ro"]',
        "log-driver-syslog": '"LogConfig":{"Type":"syslog","Config":{}}',
        "log-driver-gelf": '"LogConfig":{"Type":"gelf","Config":'
        '{"gelf-address":"udp://127.0.0.1:12201"}}',
        # What sockspy does not know fails closed: mount types newer daemons add (an image
        # mount reads any image, API 1.48), plugin volume drivers, runtime annotations
        # (dockerd >= 23 copies them into the OCI spec; 20.10 creates the container).
        "mounts-type-image": '"Mounts":[{"Type":"image","Source":"@IMAGE@","Target":"/i"}]',
        "mounts-type-cluster": '"Mounts":[{"Type":"cluster","Source":"csi","Target":"/c"}]',
        "mounts-plugin-driver": '"Mounts":[{"Type":"volume","Source":"@MARKER@",'
        '"Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local-persist",'
        '"Options":{"mountpoint":"/etc"}}}}]',
        "volume-driver-binds": '"Binds":["@MARKER@:/v"],"VolumeDriver":"local-persist"',
        "annotations-systemd": '"Annotations":{"org.systemd.property.ExecStopPost":'
        '"/bin/sh -c id"}',
        "annotations-folded": '"annotations":{"org.systemd.property.Delegate":"yes"}',
    }
    found = [
        _a(f"create-{way}", "host-access", post(CREATE, create(hc))) for way, hc in ways.items()
    ]
    found.append(
        _a(
            "update-device-cgroup-rules",
            "host-access",
            post(f"{V}/containers/@PLAIN@/update", b'{"DeviceCgroupRules":["a *:* rwm"]}'),
        )
    )
    return found


ATTEMPTS: tuple[Attempt, ...] = (
    # -- the path is percent-decoded before routing -------------------------------------
    _a("pct-letter-create", "percent-encoding",
       post(f"{V}/contain%65rs/create?name=@MARKER@", PRIVILEGED)),
    _a("pct-every-letter-create", "percent-encoding",
       post(f"{V}/%63%6f%6e%74%61%69%6e%65%72%73/%63reate?name=@MARKER@", BIND_ROOT)),
    _a("pct-slash-create", "percent-encoding",
       post(f"{V}/containers%2fcreate?name=@MARKER@", PRIVILEGED)),
    _a("pct-version-create", "percent-encoding",
       post("/%761.41/containers/create?name=@MARKER@", PRIVILEGED)),
    _a("pct-slash-exec-victim", "percent-encoding",
       post(f"{V}/containers%2F@VICTIM@%2Fexec", EXEC_BODY)),
    _a("pct-name-exec-victim", "percent-encoding",
       post(f"{V}/containers/@VICTIM_PCT@/exec", EXEC_BODY)),
    _a("pct-name-archive-put-victim", "percent-encoding",
       Req("PUT", f"{V}/containers/@VICTIM_PCT@/archive?path=/host", b"@TAR@",
           content_type="application/x-tar")),
    _a("pct-plugin-pull", "percent-encoding",
       post(f"{V}/plugin%73/pull?remote=@MARKER@&name=@MARKER@", b"[]")),
    _a("pct-swarm-init", "percent-encoding",
       post(f"{V}/swar%6d/init", b'{"ListenAddr":"127.0.0.1:2377"}')),
    _a("pct-debug", "percent-encoding", get("/%64ebug/pprof/cmdline")),
    _a("pct-invalid-escape", "percent-encoding",
       post(f"{V}/containers/create%zz?name=@MARKER@", PRIVILEGED)),
    _a("pct-invalid-utf8", "percent-encoding",
       post(f"{V}/containers/%ff%fe/exec", EXEC_BODY)),
    # -- non-canonical paths ------------------------------------------------------------
    _a("path-double-slash-front", "non-canonical-path",
       post(f"/{V}/containers/create?name=@MARKER@", PRIVILEGED)),
    _a("path-double-slash-middle", "non-canonical-path",
       post(f"{V}//containers/create?name=@MARKER@", PRIVILEGED)),
    _a("path-dot", "non-canonical-path",
       post(f"{V}/./containers/create?name=@MARKER@", PRIVILEGED)),
    _a("path-dot-dot", "non-canonical-path",
       post(f"{V}/images/../containers/create?name=@MARKER@", PRIVILEGED)),
    _a("path-encoded-dot-dot", "non-canonical-path",
       post(f"{V}/images/%2e%2e/containers/create?name=@MARKER@", PRIVILEGED)),
    _a("path-encoded-double-slash", "non-canonical-path",
       post(f"{V}/containers%2f%2fcreate?name=@MARKER@", PRIVILEGED)),
    _a("path-dot-dot-to-victim-exec", "non-canonical-path",
       post(f"{V}/containers/@PLAIN@/../@VICTIM@/exec", EXEC_BODY)),
    _a("path-upper-case", "non-canonical-path",
       post(f"{V}/Containers/create?name=@MARKER@", PRIVILEGED)),
    _a("path-trailing-slash", "non-canonical-path",
       post(f"{V}/containers/create/?name=@MARKER@", PRIVILEGED)),
    # -- lenient API versions -----------------------------------------------------------
    _a("version-trailing-zero", "lenient-version",
       post("/v1.41.0/containers/create?name=@MARKER@", PRIVILEGED)),
    _a("version-leading-zeros", "lenient-version",
       post("/v01.041/containers/create?name=@MARKER@", BIND_ROOT)),
    _a("version-major-only", "lenient-version",
       post("/v2/containers/create?name=@MARKER@", PRIVILEGED)),
    _a("version-empty-part", "lenient-version",
       post("/v1..41/containers/create?name=@MARKER@", PRIVILEGED)),
    _a("version-trailing-dot", "lenient-version",
       post("/v1.41./containers/create?name=@MARKER@", PRIVILEGED)),
    _a("version-huge-part", "lenient-version",
       post("/v1.4100000000000/containers/create?name=@MARKER@", PRIVILEGED)),
    # -- a HostConfig on start below API 1.24 -------------------------------------------
    _a("start-v1.23-hostconfig", "start-below-1.24",
       post("/v1.23/containers/@FRESH@/start", b'{"Privileged":true,"Binds":["/:/host"]}')),
    _a("start-v1.9-hostconfig", "start-below-1.24",
       post("/v1.9/containers/@FRESH@/start", b'{"Binds":["/:/host"]}')),
    _a("start-v1.023-hostconfig", "start-below-1.24",
       post("/v1.023/containers/@FRESH@/start", b'{"Privileged":true}')),
    _a("start-v1.23.9-hostconfig", "start-below-1.24",
       post("/v1.23.9/containers/@FRESH@/start", b'{"Privileged":true}')),
    _a("start-v1.23-chunked-hostconfig", "start-below-1.24",
       post("/v1.23/containers/@FRESH@/start", b'{"CapAdd":["ALL"]}', framing="chunked")),
    _a("start-v1.24-hostconfig", "start-below-1.24",
       post("/v1.24/containers/@FRESH@/start", b'{"Privileged":true}')),
    _a("start-unversioned-hostconfig", "start-below-1.24",
       post("/containers/@FRESH@/start", b'{"Binds":["/:/host"]}')),
    # -- fragments and absolute-form targets --------------------------------------------
    _a("fragment-create", "fragment-absolute-form",
       post(f"{V}/containers/create#x?name=@MARKER@", PRIVILEGED)),
    _a("fragment-encoded", "fragment-absolute-form",
       post(f"{V}/containers/create%23x?name=@MARKER@", PRIVILEGED)),
    _a("absolute-form-http", "fragment-absolute-form",
       post(f"http://{HOST}{V}/containers/create?name=@MARKER@", PRIVILEGED)),
    _a("absolute-form-unix", "fragment-absolute-form",
       post(f"unix://{V}/containers/create?name=@MARKER@", PRIVILEGED)),
    _a("asterisk-form", "fragment-absolute-form", Req("OPTIONS", "*")),
    # -- exact-case methods -------------------------------------------------------------
    _a("method-lower-create", "method-case",
       Req("post", CREATE, PRIVILEGED)),
    _a("method-mixed-exec-victim", "method-case",
       Req("Post", f"{V}/containers/@VICTIM@/exec", EXEC_BODY)),
    _a("method-lower-archive-put", "method-case",
       Req("put", f"{V}/containers/@VICTIM@/archive?path=/host", b"@TAR@",
           content_type="application/x-tar")),
    _a("method-unknown", "method-case", Req("FOO", CREATE, PRIVILEGED)),
    # -- HEAD, OPTIONS, /debug ----------------------------------------------------------
    _a("options-create", "head-options-debug", Req("OPTIONS", CREATE, PRIVILEGED)),
    _a("options-exec-victim", "head-options-debug",
       Req("OPTIONS", f"{V}/containers/@VICTIM@/exec")),
    _a("head-archive-victim", "head-options-debug",
       Req("HEAD", f"{V}/containers/@VICTIM@/archive?path=/host")),
    _a("head-create", "head-options-debug", Req("HEAD", CREATE)),
    _a("debug-cmdline", "head-options-debug", get("/debug/pprof/cmdline")),
    _a("debug-pprof-index", "head-options-debug", get("/debug/pprof/")),
    _a("debug-vars", "head-options-debug", get("/debug/vars")),
    _a("debug-post-symbol", "head-options-debug",
       post("/debug/pprof/symbol", b"0x0", content_type="text/plain")),
    _a("debug-versioned", "head-options-debug", get(f"{V}/debug/pprof/cmdline")),
    # -- legacy link names: @LINKER@/x is the victim ------------------------------------
    _a("link-exec", "legacy-link-name", post(f"{V}/containers/@LINKER@/x/exec", EXEC_BODY)),
    _a("link-archive-put", "legacy-link-name",
       Req("PUT", f"{V}/containers/@LINKER@/x/archive?path=/host", b"@TAR@",
           content_type="application/x-tar")),
    _a("link-archive-get", "legacy-link-name",
       get(f"{V}/containers/@LINKER@/x/archive?path=/host")),
    _a("link-export", "legacy-link-name", get(f"{V}/containers/@LINKER@/x/export")),
    _a("link-attach", "legacy-link-name",
       post(f"{V}/containers/@LINKER@/x/attach?stream=1&stdin=1&stdout=1", b"", *UPGRADE)),
    _a("link-volumes-from", "legacy-link-name",
       post(CREATE, create('"VolumesFrom":["@LINKER@/x"]'))),
    # -- unique id prefixes -------------------------------------------------------------
    _a("prefix-archive-put", "id-prefix",
       Req("PUT", f"{V}/containers/@VICTIM_PREFIX@/archive?path=/host", b"@TAR@",
           content_type="application/x-tar")),
    _a("prefix-archive-get", "id-prefix",
       get(f"{V}/containers/@VICTIM_PREFIX@/archive?path=/host")),
    _a("prefix-archive-head", "id-prefix",
       Req("HEAD", f"{V}/containers/@VICTIM_PREFIX@/archive?path=/host")),
    _a("prefix-export", "id-prefix", get(f"{V}/containers/@VICTIM_PREFIX@/export")),
    _a("prefix-exec", "id-prefix", post(f"{V}/containers/@VICTIM_PREFIX@/exec", EXEC_BODY)),
    _a("prefix-volumes-from", "id-prefix",
       post(CREATE, create('"VolumesFrom":["@VICTIM_PREFIX@"]'))),
    _a("full-id-exec", "id-prefix", post(f"{V}/containers/@VICTIM_ID@/exec", EXEC_BODY)),
    # -- Go's encoding/json ------------------------------------------------------------
    _a("json-lower-case-keys", "go-json",
       post(CREATE, b'{"image":"@IMAGE@","cmd":["true"],"labels":{"sockspy.bypass":"@MARKER@"},'
                    b'"hostconfig":{"privileged":true}}')),
    _a("json-upper-case-keys", "go-json", post(CREATE, create('"BINDS":["/:/host"]'))),
    _a("json-long-s-folds-to-s", "go-json",
       post(CREATE, create(None, f',"Ho{S}tconfig":{{"Bind{S}":["/:/host"]}}'))),
    _a("json-kelvin-sign-folds-to-k", "go-json",
       post(CREATE, create(f'"Networ{K}Mode":"host"'))),
    _a("json-escaped-keys", "go-json",
       post(CREATE, create(None, ',"Host\\u0043onfig":{"\\u0050rivileged":true}'))),
    _a("json-escaped-long-s", "go-json", post(CREATE, create('"Bind\\u017f":["/:/host"]'))),
    _a("json-escaped-value", "go-json", post(CREATE, create('"PidMode":"\\u0068ost"'))),
    _a("json-duplicate-objects-merge", "go-json",
       post(CREATE, PRIVILEGED[:-1] + b',"HostConfig":{"Memory":0}}')),
    _a("json-duplicate-scalar-last-wins", "go-json",
       post(CREATE, create('"Privileged":false,"Privileged":true'))),
    _a("json-duplicate-folded-last-wins", "go-json",
       post(CREATE, create('"privileged":false,"PRIVILEGED":true'))),
    _a("json-null-then-object", "go-json",
       post(CREATE, create('"Privileged":true', ',"HostConfig":null'))),
    _a("json-slice-element-reuse", "go-json",
       post(CREATE, create('"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}],'
                           '"Mounts":[{"Target":"/host"}]'))),
    _a("json-trailing-value", "go-json",
       post(CREATE, PRIVILEGED + b' {"HostConfig":{"Privileged":false}}')),
    _a("json-trailing-garbage", "go-json", post(CREATE, PRIVILEGED + b"]]garbage")),
    _a("json-invalid-utf8-value", "go-json",
       post(CREATE, create('"Binds":["/:/h\xff"]').replace(b"\xc3\xbf", b"\xff"))),
    _a("json-invalid-utf8-key", "go-json",
       post(CREATE, create('"Privileged":true,"\xff":1').replace(b"\xc3\xbf", b"\xff"))),
    _a("json-byte-order-mark", "go-json", post(CREATE, b"\xef\xbb\xbf" + PRIVILEGED)),
    _a("json-type-error-beside-privileged", "go-json",
       post(CREATE, create('"Privileged":true,"Memory":"lots"'))),
    _a("json-legacy-top-level-no-hostconfig", "go-json",
       post(CREATE, create(None, ',"Privileged":true'))),
    _a("json-legacy-top-level-null-hostconfig", "go-json",
       post(CREATE, create(None, ',"HostConfig":null,"Binds":["@HOSTDIR@:/h"]'))),
    _a("json-legacy-top-level-folded", "go-json",
       post(CREATE, create(None, f',"bind{S}":["/:/host"]'))),
    _a("json-legacy-top-level-capadd", "go-json",
       post(CREATE, create(None, ',"CapAdd":["SYS_ADMIN"]'))),
    # -- capability names ---------------------------------------------------------------
    _a("cap-lower-case", "capability-names", post(CREATE, create('"CapAdd":["sys_admin"]'))),
    _a("cap-prefix", "capability-names", post(CREATE, create('"CapAdd":["CAP_SYS_ADMIN"]'))),
    _a("cap-lower-prefix", "capability-names",
       post(CREATE, create('"CapAdd":["cap_sys_admin"]'))),
    _a("cap-mixed-case", "capability-names", post(CREATE, create('"CapAdd":["Cap_Sys_Ptrace"]'))),
    _a("cap-all", "capability-names", post(CREATE, create('"CapAdd":["ALL"]'))),
    _a("cap-all-lower", "capability-names", post(CREATE, create('"CapAdd":["all"]'))),
    _a("cap-long-s", "capability-names", post(CREATE, create(f'"CapAdd":["{S}ys_admin"]'))),
    # -- chunked bodies -----------------------------------------------------------------
    _a("chunked-extensions", "chunked-body",
       post(CREATE, PRIVILEGED, framing="chunked", chunk=7, chunk_ext=";ext=1")),
    _a("chunked-one-byte-chunks", "chunked-body",
       post(CREATE, BIND_ROOT, framing="chunked", chunk=1)),
    _a("chunked-odd-sizes-upper-hex", "chunked-body",
       post(CREATE, PRIVILEGED, framing="chunked", chunk=13, chunk_upper=True)),
    _a("chunked-trailer", "chunked-body",
       post(CREATE, PRIVILEGED, framing="chunked", chunk=31, trailer="X-Trailer: 1")),
    _a("chunked-exec-victim", "chunked-body",
       post(f"{V}/containers/@VICTIM@/exec", EXEC_BODY, framing="chunked", chunk=5)),
    _a("chunked-volume-bind", "chunked-body",
       post(f"{V}/volumes/create",
            b'{"Name":"@MARKER@","DriverOpts":{"type":"none","o":"bind","device":"/"}}',
            framing="chunked", chunk=3)),
    _a("chunked-te-odd-case", "chunked-body", raw_create("Transfer-Encoding: ChUnKeD", **CHUNK)),
    _a("chunked-size-0x-prefix", "chunked-body",
       raw_create("Transfer-Encoding: chunked", before="0x@HEXLEN@\r\n", after=LAST_CHUNK)),
    _a("chunked-size-with-space", "chunked-body",
       raw_create("Transfer-Encoding: chunked", before="@HEXLEN@ \r\n", after=LAST_CHUNK)),
    _a("chunked-size-overflow", "chunked-body",
       raw_create("Transfer-Encoding: chunked", before="10000000000000000@HEXLEN@\r\n",
                  after=LAST_CHUNK)),
    # -- Content-Type -------------------------------------------------------------------
    _a("content-type-params-odd-case", "content-type",
       post(CREATE, PRIVILEGED, content_type="Application/JSON; charset=UTF-8")),
    _a("content-type-text-plain", "content-type",
       post(CREATE, PRIVILEGED, content_type="text/plain")),
    _a("content-type-absent", "content-type", post(CREATE, PRIVILEGED, content_type=None)),
    _a("content-type-json-suffix", "content-type",
       post(CREATE, BIND_ROOT, content_type="application/vnd.docker+json")),
    # -- bodies too large to inspect ----------------------------------------------------
    _a("too-large-create", "body-too-large",
       post(CREATE, create('"Privileged":true', f',"Env":["PAD={PAD}"]'))),
    _a("too-large-create-chunked", "body-too-large",
       post(CREATE, create('"Privileged":true', f',"Env":["PAD={PAD}"]'),
            framing="chunked", chunk=8192)),
    _a("too-large-volume", "body-too-large",
       post(f"{V}/volumes/create",
            f'{{"Name":"@MARKER@","Labels":{{"pad":"{PAD}"}},'
            '"DriverOpts":{"o":"bind","device":"/"}}'.encode())),
    _a("too-large-exec", "body-too-large",
       post(f"{V}/containers/@PLAIN@/exec",
            f'{{"Cmd":["true"],"Env":["PAD={PAD}"],"Privileged":true}}'.encode())),
    # -- every way a create reaches the host (and an update) ----------------------------
    *_host_access(),
    # -- local volumes with bind options ------------------------------------------------
    _a("volume-o-bind", "volume-options",
       post(f"{V}/volumes/create", b'{"Name":"@MARKER@","Driver":"local","DriverOpts":'
                                  b'{"type":"none","o":"bind","device":"@HOSTDIR@"}}')),
    _a("volume-device", "volume-options",
       post(f"{V}/volumes/create", b'{"Name":"@MARKER@","Driver":"local","DriverOpts":'
                                  b'{"type":"ext4","device":"/dev/sda1"}}')),
    _a("volume-default-driver", "volume-options",
       post(f"{V}/volumes/create", b'{"Name":"@MARKER@","DriverOpts":'
                                  b'{"type":"none","o":"bind","device":"/etc"}}')),
    _a("volume-driver-opts-merge", "volume-options",
       post(f"{V}/volumes/create", b'{"Name":"@MARKER@","DriverOpts":{"o":"bind"},'
                                  b'"DriverOpts":{"type":"none","device":"/"}}')),
    _a("volume-plugin-driver", "volume-options",
       post(f"{V}/volumes/create", b'{"Name":"@MARKER@","Driver":"local-persist",'
                                  b'"DriverOpts":{"mountpoint":"/etc"}}')),
    _a("volume-folded-keys", "volume-options",
       post(f"{V}/volumes/create", b'{"name":"@MARKER@","driveropts":'
                                  b'{"type":"none","o":"bind","device":"/"}}')),
    # -- networks built on the host's interfaces (checked on 20.10: a macvlan container
    # sits on its parent; a bridge network adopts an existing bridge by its name) ---------
    _a("network-macvlan-parent", "host-network",
       post(f"{V}/networks/create", b'{"Name":"@MARKER@","Driver":"macvlan",'
                                   b'"Options":{"parent":"eth0"}}')),
    _a("network-ipvlan", "host-network",
       post(f"{V}/networks/create", b'{"Name":"@MARKER@","driver":"ipvlan"}')),
    _a("network-bridge-name", "host-network",
       post(f"{V}/networks/create", b'{"Name":"@MARKER@","Options":'
                                   b'{"com.docker.network.bridge.name":"docker0"}}')),
    _a("network-config-from", "host-network",
       post(f"{V}/networks/create", b'{"Name":"@MARKER@","Driver":"macvlan",'
                                   b'"ConfigFrom":{"Network":"cfg"}}')),
    _a("network-options-folded", "host-network",
       post(f"{V}/networks/create", b'{"Name":"@MARKER@","options":'
                                   b'{"com.docker.network.bridge.name":"eth0"}}')),
    # -- existing containers with host mounts -------------------------------------------
    _a("archive-put-victim", "target-container",
       Req("PUT", f"{V}/containers/@VICTIM@/archive?path=/host", b"@TAR@",
           content_type="application/x-tar")),
    _a("archive-put-victim-chunked", "target-container",
       Req("PUT", f"{V}/containers/@VICTIM@/archive?path=/host", b"@TAR@",
           content_type="application/x-tar", framing="chunked", chunk=4096)),
    _a("archive-get-victim", "target-container",
       get(f"{V}/containers/@VICTIM@/archive?path=/host")),
    _a("export-victim", "target-container", get(f"{V}/containers/@VICTIM@/export")),
    _a("exec-victim", "target-container", post(f"{V}/containers/@VICTIM@/exec", EXEC_BODY)),
    _a("attach-victim", "target-container",
       post(f"{V}/containers/@VICTIM@/attach?stream=1&stdin=1&stdout=1", b"", *UPGRADE)),
    _a("start-dormant-bind-container", "target-container",
       post(f"{V}/containers/@DORMANT@/start")),
    # -- plugins ------------------------------------------------------------------------
    _a("plugin-pull", "plugin",
       post(f"{V}/plugins/pull?remote=@MARKER@&name=@MARKER@",
            b'[{"Name":"mount","Value":["/"]}]')),
    _a("plugin-create", "plugin",
       Req("POST", f"{V}/plugins/create?name=@MARKER@", b"@TAR@",
           content_type="application/x-tar")),
    _a("plugin-enable", "plugin", post(f"{V}/plugins/@MARKER@/enable?timeout=0")),
    _a("plugin-set", "plugin", post(f"{V}/plugins/@MARKER@/set", b'["mount.source=/"]')),
    _a("plugin-upgrade", "plugin",
       post(f"{V}/plugins/@MARKER@/upgrade?remote=@MARKER@", b"[]")),
    # -- exec create --------------------------------------------------------------------
    _a("exec-privileged", "exec-create",
       post(f"{V}/containers/@PLAIN@/exec", b'{"Cmd":["true"],"Privileged":true}')),
    _a("exec-user-root", "exec-create",
       post(f"{V}/containers/@PLAIN@/exec", b'{"Cmd":["true"],"User":"root"}')),
    _a("exec-user-0", "exec-create",
       post(f"{V}/containers/@PLAIN@/exec", b'{"Cmd":["true"],"User":"0"}')),
    _a("exec-user-0-group", "exec-create",
       post(f"{V}/containers/@PLAIN@/exec", b'{"Cmd":["true"],"User":"0:0"}')),
    _a("exec-user-plus-zeros", "exec-create",
       post(f"{V}/containers/@PLAIN@/exec", b'{"Cmd":["true"],"User":"+00"}')),
    _a("exec-folded-keys", "exec-create",
       post(f"{V}/containers/@PLAIN@/exec", f'{{"cmd":["true"],"U{S}er":"root"}}'.encode())),
    _a("exec-duplicate-privileged", "exec-create",
       post(f"{V}/containers/@PLAIN@/exec",
            b'{"Cmd":["true"],"Privileged":false,"privileged":true}')),
    # -- build --------------------------------------------------------------------------
    _a("build-network-host", "build",
       Req("POST", f"{V}/build?t=@MARKER@&networkmode=host", b"@CONTEXT@",
           content_type="application/x-tar")),
    _a("build-network-host-upper", "build",
       Req("POST", f"{V}/build?t=@MARKER@&networkmode=HOST", b"@CONTEXT@",
           content_type="application/x-tar")),
    _a("build-network-container", "build",
       Req("POST", f"{V}/build?t=@MARKER@&networkmode=container:@PLAIN@", b"@CONTEXT@",
           content_type="application/x-tar")),
    _a("build-cgroup-parent", "build",
       Req("POST", f"{V}/build?t=@MARKER@&cgroupparent=/", b"@CONTEXT@",
           content_type="application/x-tar")),
    _a("build-network-host-chunked", "build",
       Req("POST", f"{V}/build?t=@MARKER@&networkmode=host", b"@CONTEXT@",
           content_type="application/x-tar", framing="chunked", chunk=1000)),
    _a("build-buildkit-without-session", "build",
       Req("POST", f"{V}/build?version=2&t=@MARKER@", b"@CONTEXT@",
           content_type="application/x-tar")),
    _a("build-buildkit-pct-version", "build",
       Req("POST", f"{V}/build?t=@MARKER@&version=%32", b"@CONTEXT@",
           content_type="application/x-tar")),
    # -- swarm --------------------------------------------------------------------------
    _a("swarm-init", "swarm", post(f"{V}/swarm/init", b'{"ListenAddr":"127.0.0.1:2377"}')),
    _a("swarm-join", "swarm",
       post(f"{V}/swarm/join", b'{"RemoteAddrs":["127.0.0.1:1"],"JoinToken":"SWMTKN-x"}')),
    _a("service-create-bind", "swarm",
       post(f"{V}/services/create",
            b'{"Name":"@MARKER@","TaskTemplate":{"ContainerSpec":{"Image":"@IMAGE@",'
            b'"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}}}')),
    _a("service-create-caps", "swarm",
       post(f"{V}/services/create",
            b'{"Name":"@MARKER@","TaskTemplate":{"ContainerSpec":{"Image":"@IMAGE@",'
            b'"CapabilityAdd":["CAP_SYS_ADMIN"]}}}')),
    # -- BuildKit sessions --------------------------------------------------------------
    _a("session-upgrade", "buildkit-session",
       post("/session", b"", *H2C, "X-Docker-Expose-Session-Uuid: 1")),
    _a("grpc-upgrade", "buildkit-session",
       post(f"{V}/grpc", b"", *H2C)),
    # -- query strings ------------------------------------------------------------------
    _a("query-duplicate-networkmode", "query-duplicates",
       Req("POST", f"{V}/build?t=@MARKER@&networkmode=host&networkmode=default", b"@CONTEXT@",
           content_type="application/x-tar")),
    _a("query-duplicate-remote", "query-duplicates",
       post(f"{V}/build?t=@MARKER@&remote=http://127.0.0.1:1/x.tar&remote=",
            content_type=None)),
    _a("query-boolean-off-is-true", "query-boolean",
       post(f"{V}/build?t=@MARKER@&remote=off", content_type=None)),
    _a("query-boolean-zero-point-zero", "query-boolean",
       post(f"{V}/build?t=@MARKER@&remote=0.0", content_type=None)),
    _a("form-body-networkmode", "form-body",
       Req("POST", f"{V}/build?t=@MARKER@&networkmode=default", b"networkmode=host",
           content_type="application/x-www-form-urlencoded")),
    _a("form-body-remote", "form-body",
       Req("POST", f"{V}/build?t=@MARKER@", b"remote=http://127.0.0.1:1/x.tar",
           content_type="application/x-www-form-urlencoded")),
    _a("form-body-odd-case-params", "form-body",
       Req("POST", f"{V}/build?t=@MARKER@", b"networkmode=host",
           content_type="Application/X-WWW-Form-URLEncoded; charset=utf-8")),
    _a("form-body-multipart", "form-body",
       Req("POST", f"{V}/build?t=@MARKER@",
           b'--b\r\nContent-Disposition: form-data; name="networkmode"\r\n\r\nhost\r\n--b--\r\n',
           content_type="multipart/form-data; boundary=b")),
    # -- framing ------------------------------------------------------------------------
    _a("http10-te-and-cl", "framing",
       raw_create("Transfer-Encoding: chunked", "Content-Length: @LEN@", version="HTTP/1.0")),
    _a("http10-te-and-cl-chunked-body", "framing",
       raw_create("Transfer-Encoding: chunked", "Content-Length: 3", version="HTTP/1.0",
                  **CHUNK)),
    _a("http10-te-only", "framing",
       raw_create("Transfer-Encoding: chunked", version="HTTP/1.0", **CHUNK)),
    _a("http11-te-and-cl", "framing",
       raw_create("Content-Length: 4", "Transfer-Encoding: chunked", **CHUNK)),
    _a("http11-cl-and-te", "framing",
       raw_create("Transfer-Encoding: chunked", "Content-Length: @LEN@")),
    _a("duplicate-content-length", "framing",
       raw_create("Content-Length: @LEN@", "Content-Length: @LEN@")),
    _a("conflicting-content-length", "framing",
       raw_create("Content-Length: @LEN@", "Content-Length: 0")),
    _a("content-length-list", "framing", raw_create("Content-Length: @LEN@, @LEN@")),
    _a("content-length-plus-sign", "framing", raw_create("Content-Length: +@LEN@")),
    _a("content-length-hex", "framing", raw_create("Content-Length: 0x@HEXLEN@")),
    _a("transfer-encoding-identity", "framing", raw_create("Transfer-Encoding: identity")),
    _a("transfer-encoding-gzip-chunked", "framing",
       raw_create("Transfer-Encoding: gzip, chunked", **CHUNK)),
    _a("transfer-encoding-twice", "framing",
       raw_create("Transfer-Encoding: chunked", "Transfer-Encoding: chunked", **CHUNK)),
    _a("bare-lf-head", "framing", raw_create("Content-Length: @LEN@", eol="\n")),
    _a("obsolete-line-folding", "framing",
       raw_create("X-Folded: a", " b", "Content-Length: @LEN@")),
    _a("http-version-1.2", "framing", post(CREATE, PRIVILEGED, version="HTTP/1.2")),
    _a("head-too-large", "framing",
       post(CREATE, PRIVILEGED, "X-Pad: " + "y" * (1024 * 1024 + 10))),
    # -- pipelining ---------------------------------------------------------------------
    _a("pipeline-ping-then-privileged", "pipelining",
       get(f"{V}/_ping"), post(CREATE, PRIVILEGED), forwarded=1),
    _a("pipeline-version-then-exec-victim", "pipelining",
       get(f"{V}/version"), post(f"{V}/containers/@VICTIM@/exec", EXEC_BODY), forwarded=1),
    _a("pipeline-two-pings-then-plugin", "pipelining",
       get(f"{V}/_ping"), Req("HEAD", f"{V}/_ping"),
       post(f"{V}/plugins/pull?remote=@MARKER@", b"[]"), forwarded=2),
    _a("pipeline-chunked-failed-create-then-bind", "pipelining",
       post(f"{V}/containers/create?name=@MARKER@-first",
            b'{"Image":"sockspy-no-such-image:never","Labels":{"sockspy.bypass":"@MARKER@"}}',
            framing="chunked", chunk=9),
       post(CREATE, BIND_ROOT), forwarded=1),
    # -- hijacking routes need Upgrade --------------------------------------------------
    _a("attach-without-upgrade-then-create", "hijack-without-upgrade",
       post(f"{V}/containers/@PLAIN@/attach?stream=1&stdin=1&stdout=1"),
       post(CREATE, PRIVILEGED)),
    _a("exec-start-without-upgrade", "hijack-without-upgrade",
       post(f"{V}/exec/sockspy-no-such-exec/start", b'{"Detach":false,"Tty":false}'),
       post(CREATE, PRIVILEGED)),
    _a("session-without-upgrade", "hijack-without-upgrade", post("/session")),
    # -- Upgrade where the daemon does not hijack ---------------------------------------
    _a("upgrade-on-version-then-create", "upgrade-smuggling",
       Req("GET", f"{V}/version", b"", UPGRADE), post(CREATE, PRIVILEGED), forwarded=1),
    _a("upgrade-on-failed-exec-start-then-exec", "upgrade-smuggling",
       post(f"{V}/exec/sockspy-no-such-exec/start", b'{"Detach":false,"Tty":false}', *UPGRADE),
       post(f"{V}/containers/@VICTIM@/exec", EXEC_BODY), forwarded=1),
    _a("upgrade-h2c-on-ping-then-bind", "upgrade-smuggling",
       Req("GET", f"{V}/_ping", b"", H2C),
       post(CREATE, BIND_ROOT), forwarded=1),
    # -- objects made without sockspy: judged by what they are ---------------------------
    _a("exec-start-privileged-made-elsewhere", "existing-exec",
       post(f"{V}/exec/@PRIV_EXEC@/start", b'{"Detach":false,"Tty":false}', *UPGRADE)),
    _a("exec-start-privileged-made-elsewhere-detached", "existing-exec",
       post(f"{V}/exec/@PRIV_EXEC@/start", b'{"Detach":true,"Tty":false}')),
    _a("exec-start-privileged-made-elsewhere-pct-path", "existing-exec",
       post(f"{V}/exec%2F@PRIV_EXEC@%2Fstart", b'{"Detach":true,"Tty":false}')),
    _a("exec-start-root-made-elsewhere-detached", "existing-exec",
       post(f"{V}/exec/@ROOT_EXEC@/start", b'{"Detach":true,"Tty":false}')),
    _a("restart-dormant", "target-container", post(f"{V}/containers/@DORMANT@/restart")),
    # -- runc's leaked fd as the working directory ----------------------------------------
    _a("create-workdir-proc-self-fd", "runc-workdir",
       post(CREATE, create(None, ',"WorkingDir":"/proc/self/fd/7"'))),
    _a("create-workdir-thread-self-fd", "runc-workdir",
       post(CREATE, create(None, ',"WorkingDir":"/proc/thread-self/fd/8"'))),
    _a("create-workdir-pid-fd-uncleaned", "runc-workdir",
       post(CREATE, create(None, ',"WorkingDir":"/proc/./1/../self//fd/7/"'))),
    _a("create-workdir-dev-fd", "runc-workdir",
       post(CREATE, create(None, ',"WorkingDir":"/dev/fd/7"'))),
    _a("create-workdir-folded-key", "runc-workdir",
       post(CREATE, create(None, ',"workingdir":"/proc/self/fd/7"'))),
    _a("create-from-image-with-fd-workdir", "runc-workdir",
       post(CREATE, b'{"Image":"@WORKDIR_IMAGE@","Cmd":["true"],' + LABELS.encode() + b"}")),
    _a("exec-workdir-proc-self-fd", "runc-workdir",
       post(f"{V}/containers/@PLAIN@/exec", b'{"Cmd":["true"],"WorkingDir":"/proc/self/fd/7"}')),
    # -- runtimes and the host's resources --------------------------------------------------
    _a("create-runtime-shim-v2", "runtime",
       post(CREATE, create('"Runtime":"io.containerd.runc.v2"'))),
    _a("create-runtime-legacy-v1", "runtime",
       post(CREATE, create('"Runtime":"io.containerd.runtime.v1.linux"'))),
    _a("create-oom-score-adj-negative", "host-resources",
       post(CREATE, create('"OomScoreAdj":-1000'))),
    _a("create-sysctl-core-pattern", "host-resources",
       post(CREATE, create('"Sysctls":{"kernel.core_pattern":"|/tmp/x"}'))),
    _a("create-sysctl-with-slashes", "host-resources",
       post(CREATE, create('"Sysctls":{"kernel/core_pattern":"|/tmp/x"}'))),
    _a("create-sysctl-vm", "host-resources",
       post(CREATE, create('"Sysctls":{"vm.overcommit_memory":"1"}'))),
)  # fmt: skip


def _check_corpus() -> None:
    ids = [attempt.id for attempt in ATTEMPTS]
    duplicates = [name for name, count in Counter(ids).items() if count > 1]
    assert not duplicates, f"duplicate attempt ids: {duplicates}"
    unknown = {attempt.fact for attempt in ATTEMPTS} - set(FACTS)
    assert not unknown, f"attempts of unknown fact classes: {unknown}"
    missing = set(FACTS) - {attempt.fact for attempt in ATTEMPTS}
    assert not missing, f"fact classes without an attempt: {missing}"


_check_corpus()
