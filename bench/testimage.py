"""The bench image and payloads, made locally: no registry, nothing compressible.

The image is a static busybox (for `sh`, `cat`, `sleep`) plus one file of random bytes,
imported as a single layer, so `docker save` streams about the file's size and `docker
load` takes it back. It is tagged by size and reused by later runs.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "cat", "sleep", "head", "rm", "true")
MIB = 1 << 20


@dataclass(frozen=True)
class Payload:
    """A file of random bytes and what a correct copy of it must look like."""

    path: Path
    size: int
    sha256: str


def docker_env(host: str) -> dict[str, str]:
    """The environment for a docker CLI that talks to `host` and nothing else."""
    env = dict(os.environ, DOCKER_HOST=host)
    env.pop("DOCKER_CONTEXT", None)
    return env


def docker(host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """The docker CLI against one socket; raises with its stderr when it fails."""
    result = subprocess.run(
        ["docker", *args], env=docker_env(host), capture_output=True, timeout=300
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {result.stderr.decode().strip()}")
    return result


def ensure_image(host: str, size_mib: int) -> str:
    """`sockspy-bench:<size>m` on the daemon, imported now unless an earlier run did."""
    tag = f"sockspy-bench:{size_mib}m"
    if docker(host, "image", "inspect", tag, check=False).returncode == 0:
        return tag
    importer = subprocess.Popen(
        ["docker", "import", "--change", 'CMD ["sh"]', "-", tag],
        env=docker_env(host), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    assert importer.stdin is not None
    with tarfile.open(fileobj=importer.stdin, mode="w|") as tar:
        for name in ("bin", "tmp", "proc", "dev", "sys", "etc"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        busybox = BUSYBOX.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(busybox), 0o755
        tar.addfile(info, io.BytesIO(busybox))
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        info = tarfile.TarInfo("payload.bin")
        info.size, info.mode = size_mib * MIB, 0o644
        tar.addfile(info, _RandomReader())
    importer.stdin.close()
    if importer.wait() != 0:
        raise RuntimeError(f"docker import of {tag} failed")
    return tag


class _RandomReader(io.RawIOBase):
    """An endless file of random bytes (tarfile reads exactly the member's size)."""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return os.urandom(size if size > 0 else MIB)


def random_payload(path: Path, size: int) -> Payload:
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MIB))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return Payload(path, size, digest.hexdigest())


def saved_image(host: str, tag: str, path: Path) -> Payload:
    """`docker save` straight from the daemon: the reference tar for save and load."""
    with open(path, "wb") as out:
        subprocess.run(["docker", "save", tag], env=docker_env(host), stdout=out, check=True)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            digest.update(chunk)
    return Payload(path, path.stat().st_size, digest.hexdigest())
