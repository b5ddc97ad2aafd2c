"""A Python base image made on this host, to build the Dockerfile without a registry.

The Dockerfile starts ``FROM ${BASE}`` (``python:3.11-slim`` by default). Docker Hub is
unreachable here, and ``docker build`` containers have no network, so the end-to-end test
builds it from a base we assemble from the interpreter that runs the tests, and imports
with ``docker import``:

- ``/usr/local/bin/pythonX.Y`` (and ``python3``, ``python``), the standard library under
  ``/usr/local/lib/pythonX.Y`` and pip in its ``site-packages``: the layout of the official
  ``python`` images, so the Dockerfile sees the same paths on either base;
- every shared library the interpreter and its extension modules load (found with
  ``ldd``), and those that manylinux wheels may assume, at the path ``ldd`` gives, or in
  ``/usr/lib`` when that path is private to a Python installation (pyenv's
  ``libpython``): the loader searches ``/usr/lib`` by default;
- a static busybox for ``/bin/sh`` and the usual tools (`support.image`).

The wheels built on the host then match the base's Python exactly. This needs a CPython
with the ``prefix`` layout (python.org builds, pyenv, the official images), not Debian's
patched ``/usr/bin/python3`` (its ``dist-packages`` scheme puts packages elsewhere).

The image is tagged by Python version and recipe number, and made only when the daemon
does not have it yet: bump ``RECIPE`` when the recipe changes.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from tarfile import TarInfo

from support.cli import docker
from support.image import ImageUnavailable, busybox_rootfs_tar, find_static_busybox

RECIPE = 2
IMAGE_REPO = "sockspy-pybase"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Parts of the standard library no server needs: the test suite (most of its size), GUI
# toolkits, the static libpython of config-*, bundled pip wheels, bytecode caches.
_STDLIB_SKIP = frozenset(
    {"site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip"}
)
_STDLIB_SKIP_PREFIXES = ("config-",)
_DYNLOAD_SKIP = re.compile(r"^_tkinter\.|^_test|^xxlimited")
# Libraries a manylinux wheel may assume on the system (PEP 600's policy: glibc's own
# and libgcc_s) without ldd listing them for the interpreter: cryptography's Rust module
# links libpthread.so.0 and libdl.so.2, and libgcc_s.so.1 is dlopen()ed for unwinding.
_MANYLINUX = ("libgcc_s.so.1", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
              "libm.so.6", "libresolv.so.2", "libz.so.1")  # fmt: skip
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def base_tag() -> str:
    v = sys.version_info
    return f"{IMAGE_REPO}:py{v.major}.{v.minor}.{v.micro}-r{RECIPE}"


def ensure_python_base(daemon_host: str) -> str:
    """Import the Python base into the daemon unless it already has it; return its tag."""
    tag = base_tag()
    if docker(daemon_host, "image", "inspect", tag, check=False).returncode == 0:
        return tag
    rootfs = python_rootfs_tar()
    docker(
        daemon_host, "import",
        "--change", f"ENV PATH={PATH}",
        "--change", 'CMD ["python3"]',
        "-", tag,
        input=rootfs, timeout=300,
    )  # fmt: skip
    return tag


def python_rootfs_tar() -> bytes:
    """The root filesystem described in the module docstring, as an uncompressed tar."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    prefix = Path(sys.base_prefix)
    stdlib = Path(sysconfig.get_path("stdlib"))
    dynload = Path(sysconfig.get_config_var("DESTSHARED") or stdlib / "lib-dynload")
    binary = prefix / "bin" / f"python{version}"
    if stdlib != prefix / "lib" / f"python{version}" or not binary.is_file():
        raise ImageUnavailable(
            f"the Python base needs a CPython with the prefix layout ({binary}, "
            f"{prefix}/lib/python{version}); this one has its standard library at {stdlib}"
        )
    import pip  # the one running the tests; its package is copied as it is

    pip_dir = Path(pip.__file__).parent
    dest_lib = f"usr/local/lib/python{version}"
    extensions = [p for p in dynload.iterdir() if not _DYNLOAD_SKIP.match(p.name)]

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar(find_static_busybox()))) as bb:
            for member in bb.getmembers():
                tar.addfile(member, bb.extractfile(member) if member.isfile() else None)
        added = {"usr"}  # directories the busybox tree has or we add here
        for name in ("lib", "lib64", "usr/lib", "usr/local", "usr/local/bin", "usr/local/lib"):
            _add_dir(tar, name)
            added.add(name)
        tar.add(binary, f"usr/local/bin/python{version}", filter=_as_root)
        for alias in ("python3", "python"):
            _add_symlink(tar, f"usr/local/bin/{alias}", f"python{version}")
        tar.add(stdlib, dest_lib, filter=_skip(dest_lib, _STDLIB_SKIP))
        if dynload.parent != stdlib:
            tar.add(dynload, f"{dest_lib}/lib-dynload", filter=_skip(f"{dest_lib}/lib-dynload"))
        _add_dir(tar, f"{dest_lib}/site-packages")
        tar.add(pip_dir, f"{dest_lib}/site-packages/pip", filter=_skip(dest_lib))
        for path, target in _shared_libraries([binary, *extensions]):
            _add_dir_parents(tar, target, added)
            tar.add(path, target, filter=_as_root)
    return buf.getvalue()


def _shared_libraries(objects: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """(file on the host, path in the image) for every library ``objects`` load."""
    found: dict[str, Path] = {}
    for obj in objects:
        out = subprocess.run(["ldd", str(obj)], capture_output=True, text=True).stdout
        for match in _LDD_PATH.finditer(out):
            found.setdefault(match.group(1), Path(match.group(1)))
    for name in _MANYLINUX:
        for libdir in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib"):
            if Path(libdir, name).exists():
                found.setdefault(f"{libdir}/{name}", Path(libdir, name))
                break
    for listed, path in sorted(found.items()):
        if listed.startswith(("/lib", "/usr/lib")):
            target = listed.lstrip("/")
        else:  # e.g. pyenv's libpython3.11.so.1.0: off the loader's default path
            target = f"usr/lib/{path.name}"
        yield path.resolve(), target


def _skip(under: str, names: frozenset[str] = frozenset()) -> Callable[[TarInfo], TarInfo | None]:
    """A tar filter for a tree copied to ``under``: drop entries named in ``names``,
    bytecode caches, and extension modules no server needs."""

    def keep(info: TarInfo) -> TarInfo | None:
        parts = PurePosixPath(info.name).relative_to(under).parts
        if any(p == "__pycache__" or p in names or p.startswith(_STDLIB_SKIP_PREFIXES)
               for p in parts):  # fmt: skip
            return None
        if parts and _DYNLOAD_SKIP.match(parts[-1]) and "lib-dynload" in parts:
            return None
        return _as_root(info)

    return keep


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def _add_dir_parents(tar: tarfile.TarFile, target: str, added: set[str]) -> None:
    for parent in reversed(PurePosixPath(target).parents[:-1]):  # all but "."
        if str(parent) not in added:
            _add_dir(tar, str(parent))
            added.add(str(parent))


def _add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)
