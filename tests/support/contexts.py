"""Build contexts as clients send them: tar archives, plain or compressed, built in memory."""

from __future__ import annotations

import gzip
import io
import tarfile

DOCKERFILE = b"FROM busybox\n"


def context(
    files: dict[str, bytes] | None = None, fmt: int = tarfile.PAX_FORMAT, compress: bool = False
) -> bytes:
    """A tar of `files` (name: content), in order; a lone ``FROM busybox`` Dockerfile by
    default. Symbolic links are written as ``{"name": b"->target"}``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for name, data in (files or {"Dockerfile": DOCKERFILE}).items():
            info = tarfile.TarInfo(name)
            if data.startswith(b"->"):
                info.type, info.linkname = tarfile.SYMTYPE, data[2:].decode()
                archive.addfile(info)
                continue
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(out.getvalue()) if compress else out.getvalue()
