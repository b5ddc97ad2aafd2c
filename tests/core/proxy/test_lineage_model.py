"""The lineage memory against a model, under any sequence of what clients do to objects.

A hypothesis state machine creates, tags, renames, deletes and prunes objects by id, name
and id prefix, on `Lineage` and on a plain model of what dockerd then holds (as far as
sockspy saw it). After every step, every reference ever used resolves in both to the same
object, with a name the model says it has. This is the class of the live defect of issue
21: a name left pointing at a forgotten id made `find` raise KeyError while a build's
record was being built, and that cut the client's connection.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sockspy.core.docker.objects import ObjectRef
from sockspy.core.proxy.lineage import SHORT_ID, Lineage

KINDS = ("image", "container")
# Ids with distinct 12-character prefixes (the memory's prefix index keeps one per prefix).
IDS = tuple(f"sha256:{i:02x}{'ab' * 31}" for i in range(6)) + tuple(
    f"{i:02x}{'cd' * 31}" for i in range(6)
)
NAMES = ("build2", "web", "db", "latest", "x")


def _prefix(object_id: str, length: int) -> str:
    return object_id.removeprefix("sha256:")[:length]


class Model:
    """What exists, as the lineage should remember it: objects and their names."""

    def __init__(self) -> None:
        self.names: dict[tuple[str, str], str] = {}
        self.objects: dict[tuple[str, str], set[str]] = {}

    def resolve(self, kind: str, ref: str) -> str | None:
        if (kind, ref) in self.objects:
            return ref
        if (kind, ref) in self.names:
            return self.names[(kind, ref)]
        bare = ref.removeprefix("sha256:")
        if len(bare) < SHORT_ID:
            return None
        found = [
            i for (k, i) in self.objects if k == kind and i.removeprefix("sha256:").startswith(bare)
        ]
        return found[0] if len(found) == 1 else None

    def name(self, kind: str, name: str, object_id: str) -> None:
        old = self.names.get((kind, name))
        if old is not None:
            self.objects[(kind, old)].discard(name)
        self.names[(kind, name)] = object_id
        self.objects[(kind, object_id)].add(name)

    def create(self, kind: str, object_id: str, name: str | None) -> None:
        self.objects.setdefault((kind, object_id), set())
        if name:
            self.name(kind, name, object_id)

    def delete(self, kind: str, ref: str) -> None:
        object_id = self.resolve(kind, ref)
        if object_id is None:
            return
        names = self.objects[(kind, object_id)]
        if kind == "image" and ref in names and len(names) > 1:  # untag
            names.discard(ref)
            del self.names[(kind, ref)]
            return
        for name in self.objects.pop((kind, object_id)):
            del self.names[(kind, name)]

    def rename(self, kind: str, ref: str, new: str) -> None:
        object_id = self.resolve(kind, ref)
        if object_id is None:
            return
        for name in self.objects[(kind, object_id)].copy():
            self.objects[(kind, object_id)].discard(name)
            del self.names[(kind, name)]
        self.name(kind, new, object_id)


refs = st.one_of(
    st.sampled_from(NAMES),
    st.sampled_from(IDS),
    st.builds(_prefix, st.sampled_from(IDS), st.integers(SHORT_ID, 20)),
    st.builds(_prefix, st.sampled_from(IDS), st.integers(4, SHORT_ID - 1)),
)


class LineageMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lineage = Lineage(limit=1000)
        self.model = Model()
        self.used: set[tuple[str, str]] = set()

    @rule(
        kind=st.sampled_from(KINDS),
        object_id=st.sampled_from(IDS),
        name=st.none() | st.sampled_from(NAMES),
    )
    def create(self, kind: str, object_id: str, name: str | None) -> None:
        """A create or a build (with or without a tag); the same id again is a cached build."""
        self.lineage.made(ObjectRef(kind, object_id, name), "r", {"peer_uid": 0})
        self.model.create(kind, object_id, name)
        self.used.add((kind, object_id))

    @rule(object_id=st.sampled_from(IDS), name=st.sampled_from(NAMES))
    def tag(self, object_id: str, name: str) -> None:
        """`docker tag`: the lineage learns it as a build of that name (no new maker)."""
        if ("image", object_id) in self.model.objects:
            self.lineage.made(ObjectRef("image", object_id, name), "r", {"peer_uid": 0})
            self.model.create("image", object_id, name)

    @rule(kind=st.sampled_from(KINDS), ref=refs)
    def delete(self, kind: str, ref: str) -> None:
        self.lineage.forget(kind, ref)
        self.model.delete(kind, ref)
        self.used.add((kind, ref))

    @rule(ref=refs, new=st.sampled_from(NAMES))
    def rename(self, ref: str, new: str) -> None:
        self.lineage.renamed("container", ref, new)
        self.model.rename("container", ref, new)
        self.used.add(("container", ref))

    @rule(kind=st.sampled_from(KINDS))
    def prune(self, kind: str) -> None:
        """A prune removed every object of the kind: each is forgotten by its id."""
        for k, object_id in list(self.model.objects):
            if k == kind:
                self.lineage.forget(kind, object_id)
                self.model.delete(kind, object_id)

    @invariant()
    def every_reference_resolves_as_in_the_model(self) -> None:
        for kind in KINDS:
            for ref in [*NAMES, *IDS, *(r for k, r in self.used if k == kind)]:
                expected = self.model.resolve(kind, ref)
                found = self.lineage.find(kind, ref)
                if expected is None:
                    assert found is None, (kind, ref, found)
                    continue
                assert found is not None, (kind, ref)
                assert found["object"]["id"] == expected
                names = self.model.objects[(kind, expected)]
                shown = found["object"].get("name")
                assert (shown in names) if names else shown is None, (kind, ref, shown, names)

    @invariant()
    def it_remembers_exactly_what_exists(self) -> None:
        assert len(self.lineage) == len(self.model.objects)


LineageMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_lineage_stays_consistent_with_the_objects_dockerd_holds = LineageMachine.TestCase


def test_a_rebuilt_tag_after_its_image_was_deleted_is_found_again() -> None:
    """docker-py's api_build_test: build -t build2, delete it, build -t build2 again, on
    an image id another tag shared (the case that raised KeyError)."""
    lineage = Lineage()
    image = IDS[0]
    lineage.made(ObjectRef("image", image, "first"), "r1", {})
    lineage.made(ObjectRef("image", image, "build2"), "r2", {})
    lineage.forget("image", "build2")
    lineage.forget("image", "first")
    assert lineage.find("image", "build2") is None and lineage.find("image", "first") is None
    lineage.made(ObjectRef("image", image, "build2"), "r3", {})
    found = lineage.find("image", "build2")
    assert found is not None and found["created_by"]["record_id"] == "r3"
