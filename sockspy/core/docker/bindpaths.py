"""Host paths in mount requests, read as dockerd reads them (Linux daemon).

dockerd cleans a bind source with Go's ``filepath.Clean`` before mounting it
(``"//etc/../"`` mounts ``/``: checked on dockerd 20.10), so sources are compared after
the same cleaning. The allow-list is a list of host directories; a source is allowed if
it is one of them or lies below one. Symlinks are not resolved: the daemon follows them
on the host, where sockspy cannot look, so an allowed directory must not hold symlinks
the client can create or control.
"""

from __future__ import annotations

from collections.abc import Iterable


def go_clean(path: str) -> str:
    """Go's ``path/filepath.Clean`` for Unix paths (Python's normpath keeps a leading ``//``)."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def bind_source(spec: str) -> str | None:
    """The host path a ``Binds`` entry mounts, or None for a volume (named or anonymous).

    ``volume/mounts/linux_parser.go``: the spec splits on ``:`` into at most three parts
    (source, target, mode); one part is an anonymous volume at that target. An absolute
    source is a bind; any other source is a volume name, and dockerd refuses names with
    a ``/``, but a relative path is still returned here (as written) so that it is
    reported rather than guessed about.
    """
    parts = spec.split(":", 2)
    if len(parts) < 2 or not parts[0]:
        return None
    source = parts[0]
    return source if "/" in source else None


def bind_volume_name(spec: str) -> str | None:
    """The named volume a ``Binds`` entry mounts (``cache:/cache:ro`` -> ``cache``), or
    None for a host path or an anonymous volume (the split of `bind_source`)."""
    parts = spec.split(":", 2)
    if len(parts) < 2 or not parts[0] or "/" in parts[0]:
        return None
    return parts[0]


def is_allowed(path: str, allowed: Iterable[str]) -> bool:
    """Whether host path `path` (cleaned here) is one of `allowed` or below one.

    Relative paths are never allowed: the daemon would resolve them against its own
    working directory, or refuse them.
    """
    if not path.startswith("/"):
        return False
    cleaned = go_clean(path)
    for root in allowed:
        base = go_clean(root)
        if not base.startswith("/"):
            continue
        if base == "/" or cleaned == base or cleaned.startswith(base + "/"):
            return True
    return False
