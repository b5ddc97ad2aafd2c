"""The Dockerfile a classic build runs, found in its context as dockerd finds it.

dockerd 20.10 (``builder/remotecontext``) reads the body of ``POST /build``:

1. ``archive.DecompressStream``: gzip, bzip2 or xz by the first bytes (concatenated
   members or streams are one stream), anything else is a tar;
2. Go's tar reader (`sockspy.core.docker.tarreader`), and moby's ``archive.Unpack`` into
   an empty directory: each name cleaned (``filepath.Clean``; one that climbs out fails
   the build), missing parents made, an entry replacing whatever was at its path (a
   directory merges with a directory), links made as the entry says;
3. ``dockerfile=`` (default ``Dockerfile``) opened inside that directory, symlinks
   followed within it; when the name is exactly ``Dockerfile`` and nothing is there,
   ``dockerfile`` in lower case.

`ContextReader` models the directory by path, keeping the data of the entries that can
be the Dockerfile only. What it does not model exactly it refuses (`BuildContextError`):
an entry written through a symbolic link, a Dockerfile that is (or lies under) a link,
a hard link to a file it did not keep, sparse files, an expansion past its limit. A
refusal never hides a build dockerd would run otherwise: each is either rare in real
contexts or a build dockerd fails as well.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from dataclasses import dataclass
from typing import Any

from sockspy.core.docker.bindpaths import go_clean
from sockspy.core.docker.tarreader import Entry, TarError, TarReader

DEFAULT_DOCKERFILE = "Dockerfile"
MAX_DOCKERFILE = 1 << 20
FEED = 1 << 20  # bytes fed at a time: the reader's buffers stay this small
_GZIP, _BZIP2, _XZ = b"\x1f\x8b\x08", b"BZh", b"\xfd7zXZ\x00"
_DIR, _FILE, _SYMLINK, _OTHER = "dir", "file", "symlink", "other"


class BuildContextError(ValueError):
    """The context is one sockspy cannot read exactly as dockerd would."""


@dataclass(frozen=True, slots=True)
class _Node:
    kind: str
    data: bytearray | None = None  # a file's content, when kept (filled as it arrives)


def _clean(path: bytes) -> bytes:
    return go_clean(path.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def _inside(name: bytes) -> bytes | None:
    """The path below the context root that an entry name writes, or None when it climbs
    out of it (``"/../x"`` is ``x``: Clean stops at the root; ``"../x"`` is outside)."""
    cleaned = _clean(name)
    if cleaned == b".." or cleaned.startswith(b"../"):
        return None
    return cleaned.lstrip(b"/") or b"."


class _Expander:
    """One decompressor over concatenated members, bounded by `limit` bytes of output."""

    def __init__(self, kind: bytes, limit: int) -> None:
        self.kind = kind
        self.limit = limit
        self.produced = 0
        self._one = self._new()

    def _new(self) -> Any:  # zlib's decompressor type has no public name
        if self.kind == _GZIP:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self.kind == _BZIP2:
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)

    def expand(self, data: bytes) -> bytes:
        out = bytearray()
        try:
            while data:
                room = self.limit - self.produced - len(out) + 1
                if self.kind == _GZIP:
                    out += self._one.decompress(data, room)
                    data = self._one.unconsumed_tail or (
                        self._one.unused_data if self._one.eof else b""
                    )
                else:
                    out += self._one.decompress(data, room)
                    data = self._one.unused_data if self._one.eof else b""
                    while not self._one.eof and not self._one.needs_input:
                        if self.produced + len(out) > self.limit:
                            break  # (refused just below)
                        out += self._one.decompress(b"", self.limit - self.produced - len(out) + 1)
                if self.produced + len(out) > self.limit:
                    raise BuildContextError(f"the build context expands past {self.limit} bytes")
                if self._one.eof and data:
                    if self.kind == _XZ and not data.strip(b"\0"):
                        break  # stream padding
                    self._one = self._new()
        except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
            raise BuildContextError(f"the build context does not decompress: {exc}") from None
        self.produced += len(out)
        return bytes(out)

    def finish(self) -> None:
        if not self._one.eof:
            raise BuildContextError("the compressed build context is cut short")


class ContextReader:
    """Finds the Dockerfile in a build context fed to it in pieces (`feed`, `close`)."""

    def __init__(self, dockerfile: str, expanded_limit: int) -> None:
        self.requested = dockerfile or DEFAULT_DOCKERFILE
        path = self.requested.encode("utf-8", "surrogateescape")
        self.path = _clean(path.lstrip(b"/"))
        self._candidates = {self.path}
        if self.requested == DEFAULT_DOCKERFILE:
            self._candidates.add(self.path.lower())
        self._limit = expanded_limit
        self._head = b""  # the first bytes, until the compression is known
        self._expander: _Expander | None = None
        self._plain = False
        self._tar = TarReader(self._keeps, MAX_DOCKERFILE)
        self._tree: dict[bytes, _Node] = {}
        self._tar_bytes = 0

    def _keeps(self, name: bytes) -> bool:
        return _inside(name) in self._candidates

    def feed(self, data: bytes) -> None:
        if not self._plain and self._expander is None:
            self._head += data
            if len(self._head) < 10:
                return
            data, self._head = self._head, b""
            self._start(data[:10])
        if self._expander is not None:
            data = self._expander.expand(data)
        self._tar_bytes += len(data)
        if self._tar_bytes > self._limit:
            raise BuildContextError(f"the build context is over {self._limit} bytes")
        try:
            self._tar.feed(data)
        except TarError as exc:
            raise BuildContextError(f"the build context is not a tar read alike: {exc}") from None
        self._apply()

    def _start(self, first: bytes) -> None:
        for magic in (_GZIP, _BZIP2, _XZ):
            if first.startswith(magic):
                self._expander = _Expander(magic, self._limit)
                return
        self._plain = True

    def close(self) -> bytes:
        """The Dockerfile's content. Raises BuildContextError."""
        if not self._plain and self._expander is None:
            head, self._head = self._head, b""
            self._start(head)
            self.feed(head)
        if self._expander is not None:
            self._expander.finish()
        try:
            self._tar.close()
        except TarError as exc:
            raise BuildContextError(f"the build context is not a whole tar: {exc}") from None
        return self._dockerfile()

    def _apply(self) -> None:
        for entry in self._tar.entries:
            self._unpack(entry)
        self._tar.entries.clear()

    def _unpack(self, entry: Entry) -> None:
        """One entry as moby's Unpack writes it into the directory."""
        if entry.type == ord("g"):
            return
        path = _inside(entry.name)
        if path is None:
            raise BuildContextError(f"entry {entry.name!r} is outside the context")
        node = self._node(entry)
        if path == b".":
            if node.kind != _DIR:
                raise BuildContextError("an entry replaces the context's root")
            return
        parts = path.split(b"/")
        for depth in range(1, len(parts)):
            parent = b"/".join(parts[:depth])
            kind = self._tree.setdefault(parent, _Node(_DIR)).kind
            if kind != _DIR:
                raise BuildContextError(f"entry {entry.name!r} is written through a {kind}")
        old = self._tree.get(path)
        if old is not None and old.kind == _DIR and node.kind != _DIR:
            below = path + b"/"  # os.RemoveAll: the directory and all below it
            for key in [k for k in self._tree if k.startswith(below)]:
                del self._tree[key]
        self._tree[path] = node

    def _node(self, entry: Entry) -> _Node:
        kind = chr(entry.type)
        if kind == "0":
            return _Node(_FILE, entry.data)
        if kind == "5":
            return _Node(_DIR)
        if kind == "2":
            return _Node(_SYMLINK)
        if kind == "1":  # a hard link shares the target's content as it is now
            target = _inside(entry.linkname)
            linked = self._tree.get(target) if target is not None else None
            if linked is not None and linked.kind == _FILE:
                return linked
            return _Node(_OTHER)
        return _Node(_OTHER)

    def _dockerfile(self) -> bytes:
        path = self.path
        if path == b".." or path.startswith(b"../"):
            raise BuildContextError(f"the Dockerfile {self.requested!r} is outside the context")
        if self._missing(path) and self.requested == DEFAULT_DOCKERFILE:
            path = path.lower()
        if self._missing(path):
            raise BuildContextError(f"Cannot locate specified Dockerfile: {self.requested}")
        node = self._tree[path]
        if node.kind != _FILE or node.data is None:
            what = "a file sockspy did not keep" if node.kind == _FILE else f"a {node.kind}"
            raise BuildContextError(f"the Dockerfile {self.requested!r} is {what}")
        return bytes(node.data)

    def _missing(self, path: bytes) -> bool:
        """Whether nothing is at `path`; a symbolic link on the way is refused (dockerd
        follows it within the context: sockspy does not model where it leads)."""
        parts = path.split(b"/")
        for depth in range(1, len(parts) + 1):
            node = self._tree.get(b"/".join(parts[:depth]))
            if node is None:
                return True
            if node.kind == _SYMLINK:
                raise BuildContextError(
                    f"the Dockerfile's path {path!r} goes through a symbolic link"
                )
        return False


def dockerfile_of(body: bytes, dockerfile: str, expanded_limit: int) -> bytes:
    """The Dockerfile dockerd runs for a build whose context is `body`."""
    reader = ContextReader(dockerfile, expanded_limit)
    view = memoryview(body)
    for start in range(0, len(body), FEED):
        reader.feed(bytes(view[start : start + FEED]))
    return reader.close()
