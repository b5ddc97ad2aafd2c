"""Image references as dockerd reads them (distribution/reference), for one question:
does a name stand for one image, or for a whole repository?

A save (``GET /images/get?names=``, ``GET /images/{name}/get``) or a push of a name
without a tag or digest takes *every tag* of that repository (moby
image/tarexport/save.go: ``IsNameOnly`` -> ``ReferencesByName``; the push router with an
empty ``tag``), while an inspect of the same name reads only ``name:latest``. So the
name a tenant gives is checked as the daemon reads it there: tag by tag.

Names are compared in their familiar form, the form ``RepoTags`` lists them in:
``docker.io/library/app`` and ``index.docker.io/library/app`` are ``app``,
``docker.io/team/app`` is ``team/app``, ``localhost:5000/app`` stays as it is.
"""

from __future__ import annotations

import re

_DIGEST_ID = re.compile(r"[a-f0-9]{64}")
_DEFAULT_DOMAINS = ("docker.io", "index.docker.io")


def repository(name: str) -> str | None:
    """The familiar repository `name` names when it is name-only (no tag, no digest, not
    a full image id); None otherwise."""
    if not name or "@" in name or _DIGEST_ID.fullmatch(name):
        return None
    if ":" in name.rsplit("/", 1)[-1]:
        return None  # a tag (or "sha256:..." , an id)
    return familiar(name)


def familiar(name: str) -> str:
    """`name` (a repository, without tag) in the form dockerd lists it."""
    first, _, rest = name.partition("/")
    if rest and (first in _DEFAULT_DOMAINS):
        name = rest
    elif rest and ("." in first or ":" in first or first == "localhost"):
        return name  # another registry: its name is familiar as it is
    if name.startswith("library/") and "/" not in name.removeprefix("library/"):
        name = name.removeprefix("library/")
    return name


def tag_repository(repo_tag: str) -> str:
    """The familiar repository of a ``RepoTags`` entry (``app:1`` -> ``app``)."""
    head, _, last = repo_tag.rpartition("/")
    if ":" in last:
        last = last.rsplit(":", 1)[0]
    return familiar(f"{head}/{last}" if head else last)
