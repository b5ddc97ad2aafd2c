"""Ownership: a tenant sees and touches only the objects that carry its owner label.

Theory of operation
-------------------
A profile with an `owner` makes its clients tenants. Per request, after the rules have
allowed it, `judge` either refuses it or says how its bytes change (`Mutation`):

* **Creates are labelled.** A container, volume or network create gets the owner label
  in its body (`labelling.body_with_label`), a build gets it in its ``labels`` query
  (the image it makes carries it), a commit in one last ``changes`` value. A body that
  sets the owner label itself anywhere (a Mount's ``VolumeOptions.Labels`` labels the
  volume it creates) is refused.
* **Lists are filtered by the daemon.** A list, prune or events request gets
  ``label=<owner label>=<owner>`` added to its ``filters`` query; the daemon filters,
  the response is never rewritten. Label filters AND, so a client's own filters narrow
  further and never widen.
* **Everything named is checked.** Every object the request names
  (`sockspy.policy.references`: path, query, body references) is looked up on the
  daemon as it resolves the name *now* (`InspectNow`, never cached), and must carry the
  tenant's label, or the request gets the daemon's own 404 ("No such container: web"):
  another tenant's object and a missing one look alike. An exec is the tenant's if its
  container is.
* **Shared objects.** Images are shared: an unlabelled image (pulled, loaded, imported)
  is usable by every tenant; a labelled one (built or committed by a tenant) only by its
  owner. The image list cannot be filtered by the daemon (a label filter cannot say
  "mine or unlabelled"): a tenant's answer leaves out, as it streams, the images the
  tenant may not use (`redaction.foreign_images`).
  The daemon's own networks (bridge, host, none) are usable by every tenant.
* **Names are one namespace.** A container, volume or tag name taken by another tenant
  is refused without the daemon's answer (which names the other object's id). A name
  made only of hex digits could resolve as an id prefix once the name is gone (dockerd
  tries full id, then name, then id prefix): when another tenant's container id begins
  with such a name, the tenant must use the id (and always for a network), so a rename
  between the check and the daemon's use cannot move the request onto someone else's
  object.
* **What a tenant cannot reach.** Swarm (services, tasks, nodes, secrets, configs),
  plugins, BuildKit (sessions, ``version=2`` builds, the build cache) and ``system df``
  (it lists every tenant's objects) are refused for tenants (403).

Denials follow the policy mode (in warn and audit mode they are forwarded as
``would_deny``); labels and filters are the profile's and apply in every mode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sockspy.core.deciding.client import Client
from sockspy.core.deciding.decision import Decision, Mutation
from sockspy.core.deciding.lookups import (
    NOT_LOOKED_UP,
    ContainersWithIdPrefix,
    ImagesOfRepository,
    InspectNow,
    Procedure,
)
from sockspy.core.docker import buildplan, imageref, labelling, objects, schemas
from sockspy.core.docker.gojson import BodyDecodeError, decode_into
from sockspy.core.docker.request import Request
from sockspy.policy.hostaccess import query_value
from sockspy.policy.references import Reference, references

OWNER_LABEL = "io.sockspy.owner"
RULE = "ownership"

LABELLED_BODIES = frozenset({"container.create", "volume.create", "network.create"})
FILTERED = frozenset(
    {
        "container.list", "container.prune", "volume.list", "volume.prune",
        "network.list", "network.prune", "image.prune", "system.events",
    }
)  # fmt: skip
# Bodies ownership reads: what creates name, and what connect/disconnect name.
BODY_ENDPOINTS = LABELLED_BODIES | {
    "network.connect", "network.disconnect", "container.start", "image.build",
}  # fmt: skip
UNAVAILABLE_FAMILIES = frozenset(
    {"swarm", "service", "node", "task", "secret", "config", "plugin", "session", "grpc"}
)
# system df lists every tenant's objects; the build cache (BuildKit's, which tenants do
# not use) is the daemon's, shared by all: pruning or cancelling it is no tenant's call.
UNAVAILABLE = frozenset({"system.df", "build.prune", "build.cancel"})
PREDEFINED_NETWORKS = frozenset({"bridge", "host", "none"})

# The placeholders an owner template may use, and where each comes from.
PLACEHOLDERS = (
    "uid", "gid", "login_uid", "tls_cn", "container_id", "container_name", "unit", "profile",
)  # fmt: skip
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_HEX = re.compile(r"[0-9a-f]{1,63}")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9._:@/+-]+")  # a LABEL value that needs no quoting
_NOT_FOUND = {
    "container": "No such container: {}",
    "exec": "No such exec instance: {}",
    "volume": "get {}: no such volume",
    "network": "network {} not found",
    "image": "No such image: {}",
}


@dataclass(frozen=True, slots=True)
class Tenant:
    owner: str
    label: str = OWNER_LABEL

    @property
    def pair(self) -> str:
        return f"{self.label}={self.owner}"


def template_problem(template: str) -> str | None:
    """Why `template` is not a usable owner template, or None."""
    if not template:
        return "an owner cannot be empty"
    unknown = [p for p in _PLACEHOLDER.findall(template) if p not in PLACEHOLDERS]
    if unknown:
        return f"unknown placeholder {{{unknown[0]}}} (known: {', '.join(PLACEHOLDERS)})"
    if template.count("{") != template.count("}"):
        return "unbalanced braces"
    return None


def owner_of(template: str, client: Client, profile: str) -> str | None:
    """The owner a client gets from its profile's template; None when the client lacks
    a fact the template names (it then gets no access at all: fail closed)."""
    process = client.process
    facts: dict[str, object | None] = {
        "uid": client.peer.uid if client.peer else None,
        "gid": client.peer.gid if client.peer else None,
        "login_uid": process.login_uid if process else None,
        "tls_cn": client.tls_cn,
        "container_id": client.container_id,
        "container_name": client.container_name,
        "unit": process.unit if process else None,
        "profile": profile,
    }
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = facts.get(match.group(1))
        if value is None or value == "":
            missing = True
            return ""
        return str(value)

    owner = _PLACEHOLDER.sub(fill, template)
    return None if missing or not owner else owner


def wants_body(request: Request) -> bool:
    return request.endpoint in BODY_ENDPOINTS


def judge(request: Request, tenant: Tenant | None, profile: str) -> Procedure[Decision | Mutation]:
    """A refusal (a denying `Decision`), or how the request changes (`Mutation`, maybe empty)."""
    if tenant is None:
        return _deny(
            403, "no_owner", f"profile {profile} names an owner this client has no fact for"
        )
    endpoint = request.endpoint
    family = endpoint.split(".", 1)[0]
    if family in UNAVAILABLE_FAMILIES and endpoint.endswith(".inspect"):
        # `docker inspect NAME` asks every kind in turn and goes on past a 404 only: for a
        # tenant, these kinds hold nothing.
        name = dict(request.params).get("name") or dict(request.params).get("id") or ""
        reason = f"{endpoint} is not available to tenants"
        return _deny(404, "not_for_tenants", reason, answer=f"{family} {name} not found")
    if family in UNAVAILABLE_FAMILIES or endpoint in UNAVAILABLE:
        return _deny(403, "not_for_tenants", f"{endpoint} is not available to tenants")
    if endpoint == "image.load" or (endpoint == "image.create" and request.query_get("fromSrc")):
        reason = (
            f"{endpoint}: an image a tenant loads or imports could take any tag without an "
            "owner label, and every tenant would run it"
        )
        return _deny(403, "not_for_tenants", reason)
    if endpoint == "image.build":
        refusal = _unreadable_build(request)
        if refusal is not None:
            return refusal
    try:
        refs = references(request)
        if endpoint in LABELLED_BODIES:
            body = request.body or b""
            if not body.strip():
                return _deny(400, "owner_label", f"{endpoint} without a JSON body")
            if labelling.sets_label(body, tenant.label):
                return _deny(400, "owner_label", f"the label {tenant.label} is sockspy's to set")
    except BodyDecodeError as exc:
        return _deny(400, "undecodable_body", str(exc))
    pins: list[tuple[Reference, str]] = []
    for ref in refs:
        checked = yield from _check(ref, tenant)
        if (
            isinstance(checked, Decision)
            and checked.code == "not_owner"
            and _pinnable(request, ref)
        ):
            checked = (yield from _own_by_prefix(ref, tenant)) or checked
        if isinstance(checked, str):  # the tenant's own, by a name that must be pinned
            if not _pinnable(request, ref):
                return _ambiguous(ref, "another owner's container id begins with it; use the id")
            pins.append((ref, checked))
        elif checked is not None:
            return checked
    if endpoint == "image.build":
        refusal = yield from _triggers_usable(request, tenant)
        if refusal is not None:
            return refusal
    mutation = yield from _mutation(request, tenant)
    if pins and isinstance(mutation, Mutation):
        try:
            return _pinned_in_body(request, mutation, pins)
        except BodyDecodeError as exc:
            return _deny(400, "undecodable_body", str(exc))
    return mutation


def _unreadable_build(request: Request) -> Decision | None:
    """A build whose Dockerfile sockspy cannot read: the images it takes files from (a
    base, a stage source) would go unchecked."""
    remote = request.query_get("remote")
    if remote:
        reason = f"a build from remote={remote!r}: dockerd fetches its Dockerfile, unseen"
        return _deny(403, "build_unchecked", reason)
    if request.query_get("version") == "2":
        reason = (
            "a BuildKit build (version=2): the images its Dockerfile reads are not checked "
            "for tenants yet; build with the classic builder (DOCKER_BUILDKIT=0)"
        )
        return _deny(403, "build_unchecked", reason)
    if request.body is None:
        return _deny(403, "build_unchecked", "the build's context was not read")
    return None


def _triggers_usable(request: Request, tenant: Tenant) -> Procedure[Decision | None]:
    """A refusal when an ONBUILD trigger of a build's base image (run in this build)
    copies from an image that is not the tenant's to read."""
    try:
        plan = request.decoded_body()
        for read in buildplan.images_of(plan):
            if not read.base:
                continue
            image = yield InspectNow("image", read.name)  # answered from the check's ask
            triggers = (
                ((image or {}).get("Config") or {}).get("OnBuild")
                if isinstance(image, Mapping)
                else None
            )
            if not triggers:
                continue
            found = buildplan.trigger_reads(triggers, read.stages_before or (), read.line)
            for copied in found.images:
                where = f"Dockerfile line {copied.line}: {read.name}'s {copied.how}"
                refusal = yield from _check(Reference("image", copied.name, where), tenant)
                if isinstance(refusal, Decision):
                    return refusal
    except (BodyDecodeError, buildplan.BuildPlanError) as exc:
        return _deny(400, "undecodable_body", str(exc))
    return None


def hides_members(request: Request, tenant: Tenant | None) -> Procedure[bool]:
    """Whether a tenant's network inspect is of a network that is not its own (the
    daemon's `bridge`, or one no tenant labels): its answer then loses its members,
    every tenant's containers with their names and addresses. (An allowed inspect of a
    network is the tenant's own or shared: `_check` refused the others.)"""
    touched = objects.touched(request)
    if request.endpoint != "network.inspect" or tenant is None or touched is None:
        return False
    answer = yield InspectNow("network", touched[1])  # answered from the check's ask
    return not (isinstance(answer, Mapping) and _mine(_labels("network", answer), tenant))


def pin_path(
    request: Request, tenant: Tenant | None
) -> Procedure[Decision | tuple[str, str] | None]:
    """The container a tenant's path names by an all-hex name, resolved as dockerd would
    resolve it were the tenant's containers the only ones: (name, its full id), to be
    forwarded by that id (`Mutation.path_name`); None when there is nothing to pin; a
    refusal when the tenant has no such container (404, as if nothing else existed) or
    several with that prefix.

    dockerd resolves a full id, then a name, then a unique id prefix. Pinned, the request
    reaches exactly the container checked, whatever is renamed or made meanwhile; and
    another tenant's containers change nothing in the answer: no 502 for a prefix they
    made ambiguous, no refusal of a name their ids begin with."""
    touched = objects.touched(request)
    if tenant is None or touched is None or touched[0] != "container":
        return None  # no owner: `judge` refuses it
    name = touched[1]
    if not _HEX.fullmatch(name) or len(name) >= 64:
        return None
    found = yield ContainersWithIdPrefix(name)
    if found is NOT_LOOKED_UP or not isinstance(found, list):
        return _deny(403, "not_looked_up", f"the containers called {name!r} were not looked up")
    own = resolve_container(name, [c for c in found if _mine(c.get("Labels") or {}, tenant)])
    ref = Reference("container", name, "path")
    if not own:
        return _not_found(ref, "no container of this tenant is called so")
    if len(own) > 1:
        return _ambiguous(ref, "multiple ids of this tenant's containers begin with it")
    return name, str(own[0]["Id"])


def _own_by_prefix(ref: Reference, tenant: Tenant) -> Procedure[str | None]:
    """The full id of the tenant's one container a body's hex name resolves to were the
    tenant's containers the only ones, or None. (Another tenant may name a container
    after this tenant's id prefix: dockerd resolves the name first, so unpinned the
    tenant's `--volumes-from 3fa2` would be the other's, and refused.)"""
    if ref.kind != "container" or not _HEX.fullmatch(ref.name) or len(ref.name) >= 64:
        return None
    found = yield ContainersWithIdPrefix(ref.name)
    if found is NOT_LOOKED_UP or not isinstance(found, list):
        return None
    own = resolve_container(ref.name, [c for c in found if _mine(c.get("Labels") or {}, tenant)])
    return str(own[0]["Id"]) if len(own) == 1 else None


def resolve_container(name: str, containers: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """What dockerd resolves `name` to among `containers` (daemon.GetContainer): the one
    with that full id, else the one named so, else those whose id begins with it (one:
    resolved; several: ambiguous)."""
    for matches in (
        [c for c in containers if c.get("Id") == name],
        [c for c in containers if f"/{name}" in (c.get("Names") or [])],
    ):
        if matches:
            return matches[:1]
    return [c for c in containers if str(c.get("Id") or "").startswith(name)]


def _mutation(request: Request, tenant: Tenant) -> Procedure[Decision | Mutation]:
    endpoint = request.endpoint
    try:
        if endpoint in FILTERED:  # a repeated parameter is refused: which one Go reads
            filters = query_value(request, "filters")
            value = labelling.filters_with_label(filters, tenant.label, tenant.owner)
            return Mutation(query=("filters", value), added=f"filter label={tenant.pair}")
        if endpoint == "image.build":
            refusal = yield from _tags_free(request.query_values("t"), tenant)
            if refusal is not None:
                return refusal
            labels = query_value(request, "labels")
            value = labelling.labels_with_label(labels, tenant.label, tenant.owner)
            return Mutation(query=("labels", value), added=f"label {tenant.pair}")
    except BodyDecodeError as exc:
        return _deny(400, "undecodable_query", str(exc))
    if endpoint in ("image.tag", "image.commit"):
        repo, tag = request.query_get("repo") or "", request.query_get("tag") or "latest"
        refusal = yield from _tags_free([f"{repo}:{tag}"] if repo else [], tenant)
        if refusal is not None:
            return refusal
    if endpoint == "image.commit":
        return _commit_labelled(request, tenant)
    if endpoint == "image.create":
        refusal = yield from _pull_tags_free(request, tenant)
        if refusal is not None:
            return refusal
    if endpoint == "image.delete":
        image_name = dict(request.params).get("name", "")
        image = yield InspectNow("image", image_name)  # answered from the first ask
        if isinstance(image, Mapping) and not _mine(_labels("image", image), tenant):
            reason = f"image {image_name!r} is shared (no owner label): not a tenant's to remove"
            return _deny(403, "shared_image", reason)
    if endpoint in ("container.create", "container.rename"):
        refusal = yield from _name_free("container", request.query_get("name"), tenant)
        if refusal is not None:
            return refusal
    if endpoint == "volume.create":
        name = decode_into(request.body or b"{}", schemas.VOLUME_CREATE).get("Name")
        refusal = yield from _name_free("volume", name, tenant)
        if refusal is not None:
            return refusal
    if endpoint == "network.create":  # dockerd makes a second network of a name (without
        # CheckDuplicate): every later use of the name is then "ambiguous" (checked on 20.10)
        name = decode_into(request.body or b"{}", schemas.NETWORK_CREATE).get("Name")
        refusal = yield from _name_free("network", name, tenant)
        if refusal is not None:
            return refusal
    if endpoint in LABELLED_BODIES:
        return Mutation(body_label=(tenant.label, tenant.owner), added=f"label {tenant.pair}")
    return Mutation()


def _commit_labelled(request: Request, tenant: Tenant) -> Decision | Mutation:
    """A commit's image carries the committer's label, however the client set labels.

    dockerd applies a commit's ``changes`` (every value, joined by newlines, read as a
    Dockerfile) after the body's config and the container's: its body ``Labels`` and a
    ``LABEL`` change, with ``ENV`` variables and escapes, could set any owner, or none
    (a shared image every tenant would run). One more ``changes`` value, last, sets the
    label: the last LABEL wins."""
    changes = request.query_values("changes")
    if any(value.rstrip().endswith(("\\", "`")) for value in changes):
        reason = "a commit change ends in an escape: it would continue into sockspy's label"
        return _deny(400, "owner_label", reason)
    if not _LABEL_VALUE.fullmatch(tenant.owner):
        reason = f"the owner {tenant.owner!r} cannot be written as a LABEL change"
        return _deny(403, "owner_label", reason)
    change = f"LABEL {tenant.label}={tenant.owner}"
    return Mutation(query_added=("changes", change), added=f"label {tenant.pair}")


def _check(ref: Reference, tenant: Tenant) -> Procedure[Decision | str | None]:
    """None when `tenant` may use the object `ref` names; else the refusal. A container
    the tenant owns, named by a body with a hex name that is also the id prefix of
    another owner's container, gives its full id: the name must be pinned to it."""
    repository = imageref.repository(ref.name) if ref.every_tag else None
    if repository is not None:
        refusal = yield from _repository_usable(ref, repository, tenant)
        if refusal is not None:
            return refusal
    answer = yield InspectNow(ref.kind, ref.name)
    if answer is NOT_LOOKED_UP:
        return _deny(
            403, "not_looked_up", f"{ref.kind} {ref.name!r} ({ref.where}) was not looked up"
        )
    if ref.kind == "exec":
        if not isinstance(answer, Mapping):
            return _not_found(ref, "no such exec")
        owned = yield InspectNow("container", str(answer.get("ContainerID") or ""))
        if not isinstance(owned, Mapping) or not _mine(_labels("container", owned), tenant):
            return _not_found(ref, "its container is not the tenant's")
        return None
    if not isinstance(answer, Mapping):
        if ref.kind == "image":
            return None  # the daemon pulls it (create) or answers its own 404
        if ref.kind == "volume" and ref.where != "path":
            reason = (
                f"volume {ref.name!r} ({ref.where}) does not exist; a tenant creates it first "
                "(docker volume create), so that it carries the owner label"
            )
            return _deny(400, "volume_not_owned", reason)
        return _not_found(ref, "no such object")
    labels = _labels(ref.kind, answer)
    if ref.kind == "image" and tenant.label not in labels:
        # Shared when it came in under a name (pulled, loaded, tagged by an admin). One
        # with neither tag nor digest and no owner is a build's intermediate image (the
        # classic builder labels only the last step; checked on 20.10): a stage's files
        # are its builder's, and no tenant's to run.
        if answer.get("RepoTags") or answer.get("RepoDigests"):
            return None
        return _not_found(ref, "an untagged image without an owner (a build's intermediate)")
    if ref.kind == "network" and answer.get("Name") in PREDEFINED_NETWORKS and not labels:
        return None  # the daemon's own
    if not _mine(labels, tenant):
        return _not_found(ref, f"owned by {labels.get(tenant.label) or 'nobody'}")
    resolved_by_name = not str(answer.get("Id") or "").startswith(ref.name)
    if ref.kind == "container" and _HEX.fullmatch(ref.name) and resolved_by_name:
        claimed = yield from _prefix_claimed(ref, tenant)
        if isinstance(claimed, Decision):
            return claimed
        return str(answer.get("Id") or "") if claimed else None
    if ref.kind == "network" and _HEX.fullmatch(ref.name) and resolved_by_name:
        return _ambiguous(ref, "a tenant names a network whose name is all hex digits by its id")
    return None


def _pull_tags_free(request: Request, tenant: Tenant) -> Procedure[Decision | None]:
    """A refusal when a pull would move a tag off another tenant's image. dockerd pulls
    ``fromImage`` at ``tag``; with no tag and a name-only image, every tag of the
    repository (``docker pull -a``); a digest writes no tag. (A shared tag may move: a
    pull is how public images are updated.)"""
    image, tag = request.query_get("fromImage") or "", request.query_get("tag") or ""
    if not image or "@" in image or tag.startswith("sha256:"):
        return None
    if tag:
        names = [f"{image}:{tag}"]
    elif (repository := imageref.repository(image)) is not None:
        images = yield ImagesOfRepository(repository)
        if images is NOT_LOOKED_UP or not isinstance(images, list):
            return _deny(403, "not_looked_up", f"the images of {repository!r} were not looked up")
        for item in images:
            if _others(item.get("Labels"), tenant):
                return _tag_taken(f"{repository} (every tag: a pull without a tag)")
        return None
    else:
        names = [image]
    for name in names:
        answer = yield InspectNow("image", name)
        if answer is NOT_LOOKED_UP:
            return _deny(403, "not_looked_up", f"tag {name!r} was not looked up")
        if isinstance(answer, Mapping) and _others(_labels("image", answer), tenant):
            return _tag_taken(name)
    return None


def _others(labels: Any, tenant: Tenant) -> bool:
    """Labels that say another tenant owns the object."""
    return isinstance(labels, Mapping) and tenant.label in labels and not _mine(labels, tenant)


def _tag_taken(name: str) -> Decision:
    reason = f"the tag {name!r} names an image that is another tenant's"
    return _deny(409, "name_in_use", reason, answer=f"Conflict. The tag {name!r} is in use.")


def _repository_usable(
    ref: Reference, repository: str, tenant: Tenant
) -> Procedure[Decision | None]:
    """A refusal when a tag of `repository` (which a save or push of `ref` takes whole)
    names an image that is another tenant's."""
    images = yield ImagesOfRepository(repository)
    if images is NOT_LOOKED_UP or not isinstance(images, list):
        return _deny(403, "not_looked_up", f"the images of {repository!r} were not looked up")
    for item in images:
        labels = item.get("Labels") or {}
        if isinstance(labels, Mapping) and tenant.label in labels and not _mine(labels, tenant):
            why = (
                f"it takes every tag of {repository!r}, and one is owned by {labels[tenant.label]}"
            )
            return _not_found(ref, why)
    return None


def _prefix_claimed(ref: Reference, tenant: Tenant) -> Procedure[bool | Decision]:
    """Whether the tenant's container named `ref` (all hex digits) has a name that is
    also the id prefix of another owner's container: were the name renamed away between
    this check and the daemon's use, dockerd would resolve it as that prefix, so the
    caller pins the name to the id (or refuses where it cannot). A refusal when the
    containers with that prefix were not looked up."""
    others = yield ContainersWithIdPrefix(ref.name)
    if others is NOT_LOOKED_UP or not isinstance(others, list):
        return _ambiguous(ref, "the containers with that id prefix were not looked up")
    return any(
        str(item.get("Id") or "").startswith(ref.name)
        and not _mine(item.get("Labels") or {}, tenant)
        for item in others
    )


# Where a create or connect body names a container by a value sockspy can replace with
# the container's full id (a member appended at the end: `_pinned_in_body`).
_PINNABLE = {
    "container.create": ("HostConfig.VolumesFrom", "HostConfig.Links[", "HostConfig.NetworkMode",
                         "HostConfig.PidMode", "HostConfig.IpcMode"),
    "network.connect": ("Container",),
    "network.disconnect": ("Container",),
}  # fmt: skip


def _pinnable(request: Request, ref: Reference) -> bool:
    places = _PINNABLE.get(request.endpoint, ())
    return any(ref.where == p or (p.endswith("[") and ref.where.startswith(p)) for p in places)


def _pinned_in_body(
    request: Request, mutation: Mutation, pins: list[tuple[Reference, str]]
) -> Mutation:
    """`mutation`, with the body's hex container names replaced by the full ids they were
    checked as: Go reads the last member, so a ``HostConfig`` (or ``Container``) member
    appended at the end replaces just those fields (`sockspy.core.docker.bodymembers`)."""
    ids = {ref.name: full for ref, full in pins}
    body = request.decoded_body()
    if request.endpoint != "container.create":
        members: tuple[tuple[str, Any], ...] = (("Container", ids[str(body["Container"])]),)
    else:
        host_config = body["HostConfig"]
        fields: dict[str, Any] = {}
        if any(ref.where == "HostConfig.VolumesFrom" for ref, _ in pins):
            fields["VolumesFrom"] = [_pin_spec(spec, ids) for spec in host_config["VolumesFrom"]]
        if any(ref.where.startswith("HostConfig.Links[") for ref, _ in pins):
            fields["Links"] = [_pin_link(link, ids) for link in host_config["Links"]]
        for field in ("NetworkMode", "PidMode", "IpcMode"):
            if any(ref.where == f"HostConfig.{field}" for ref, _ in pins):
                fields[field] = "container:" + ids[str(host_config[field]).partition(":")[2]]
        members = (("HostConfig", fields),)
    pinned = "; ".join(
        f"container {ref.name!r} ({ref.where}) pinned to {full[:12]}" for ref, full in pins
    )
    added = f"{mutation.added}; {pinned}" if mutation.added else pinned
    return replace(mutation, body_members=members, added=added)


def _pin_spec(spec: str, ids: Mapping[str, str]) -> str:
    """A VolumesFrom entry ``name[:mode]`` with its name pinned."""
    name, colon, mode = spec.partition(":")
    return f"{ids[name]}{colon}{mode}" if name in ids else spec


def _pin_link(link: str, ids: Mapping[str, str]) -> str:
    """A link (opts.ParseLink: ``name``, ``name:alias``, ``/name:/x/alias``) pinned, with
    the alias it had."""
    parts = link.split(":")
    name = parts[0].removeprefix("/")
    if name not in ids:
        return link
    alias = (
        parts[1].rsplit("/", 1)[-1] if len(parts) == 2 and parts[0].startswith("/") else parts[-1]
    )
    return f"{ids[name]}:{alias}"


def _ambiguous(ref: Reference, why: str) -> Decision:
    return _deny(400, "ambiguous_name", f"{ref.kind} name {ref.name!r} ({ref.where}): {why}")


def _name_free(kind: str, name: str | None, tenant: Tenant) -> Procedure[Decision | None]:
    """A refusal when `name` is taken by a container, volume or network that is not the
    tenant's (a shared network's name too: squatted, it would fail everyone's use)."""
    if not name:
        return None
    answer = yield InspectNow(kind, name)
    if answer is NOT_LOOKED_UP:
        return _deny(403, "not_looked_up", f"{kind} name {name!r} was not looked up")
    if not isinstance(answer, Mapping):
        return None
    exact = answer.get("Name") in (name, f"/{name.removeprefix('/')}")
    if exact and not _mine(_labels(kind, answer), tenant):
        reason = f"the {kind} name {name!r} is in use by another owner"
        return _deny(
            409,
            "name_in_use",
            reason,
            answer=f"Conflict. The {kind} name {name!r} is already in use.",
        )
    return None


def _tags_free(tags: list[str], tenant: Tenant) -> Procedure[Decision | None]:
    """A refusal when a tag would move off an image that is not the tenant's: another
    tenant's, or a shared one (`alpine:latest` re-pointed at a tenant's image would fail
    every other tenant's next run)."""
    for tag in tags:
        answer = yield InspectNow("image", tag)
        if answer is NOT_LOOKED_UP:
            return _deny(403, "not_looked_up", f"tag {tag!r} was not looked up")
        if isinstance(answer, Mapping) and not _mine(_labels("image", answer), tenant):
            reason = f"the tag {tag!r} names an image that is not this tenant's"
            answer_text = f"Conflict. The tag {tag!r} is in use."
            return _deny(409, "name_in_use", reason, answer=answer_text)
    return None


def _labels(kind: str, answer: Mapping[str, Any]) -> Mapping[str, Any]:
    holder = answer.get("Config") if kind in ("container", "image") else answer
    labels = holder.get("Labels") if isinstance(holder, Mapping) else None
    return labels if isinstance(labels, Mapping) else {}


def _mine(labels: Mapping[str, Any], tenant: Tenant) -> bool:
    return labels.get(tenant.label) == tenant.owner


def _not_found(ref: Reference, why: str) -> Decision:
    return _deny(
        404,
        "not_owner",
        f"{ref.kind} {ref.name!r} ({ref.where}): {why}",
        answer=_NOT_FOUND[ref.kind].format(ref.name),
    )


def _deny(status: int, code: str, reason: str, answer: str | None = None) -> Decision:
    return Decision(False, RULE, reason, status, code, answer=answer)
