"""The test image: a static busybox imported as a one-layer image (no registry needed)."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tarfile
from pathlib import Path

from support.cli import docker

TEST_IMAGE = "sockspy-bb:latest"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


class ImageUnavailable(Exception):
    """No static busybox on this host; the message says what to install."""


def find_static_busybox() -> Path:
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.is_file() and _is_static_elf(path):
            return path
    raise ImageUnavailable("no statically linked busybox found (install Debian's busybox-static)")


def _is_static_elf(path: Path) -> bool:
    """True for a 64-bit little-endian ELF without a PT_INTERP (dynamic loader) header."""
    with open(path, "rb") as f:
        header = f.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
            return False
        (phoff,) = struct.unpack_from("<Q", header, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    pt_interp = 3
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


def busybox_rootfs_tar(busybox: Path) -> bytes:
    """A root filesystem: /bin/busybox, a symlink per applet, and the usual empty dirs."""
    applets = subprocess.run(
        [str(busybox), "--list"], capture_output=True, check=True, text=True
    ).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, mode in [
            ("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("proc", 0o755),
            ("root", 0o700), ("sys", 0o755), ("tmp", 0o1777), ("usr", 0o755),
            ("usr/bin", 0o755), ("var", 0o755),
        ]:  # fmt: skip
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
        data = busybox.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        group = b"root:x:0:\nnogroup:x:65534:\n"
        for name, content in [("etc/passwd", passwd), ("etc/group", group)]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def ensure_test_image(daemon_host: str) -> str:
    """Import the busybox image into the daemon unless it is already there."""
    if shutil.which("docker") is None:
        raise ImageUnavailable("the docker CLI is not on PATH")
    if docker(daemon_host, "image", "inspect", TEST_IMAGE, check=False).returncode == 0:
        return TEST_IMAGE
    rootfs = busybox_rootfs_tar(find_static_busybox())
    docker(daemon_host, "import", "--change", 'CMD ["sh"]', "-", TEST_IMAGE, input=rootfs)
    return TEST_IMAGE
