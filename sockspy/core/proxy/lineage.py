"""Who made which object: the memory behind a record's `object` and `created_by`.

Every create that succeeds through sockspy is remembered with its creator's identity and
the id of the record that made it; a later record touching the object (by id, name or
id prefix) carries both, so "who created the container that later misbehaved" is one
look at the record, not a search. The memory is bounded (least recently used objects go
first, `limit`), and what it holds is in the log: `learn` takes exchange records, so a
restarted server rebuilds it from the log it wrote (`sockspy.io.lineage_log`).

Ids match exactly, or by a prefix of 12 or more characters (what `docker ps` prints);
names exactly. A name is not the object (it can be renamed and reused), so a name is
forgotten when its object is deleted or renamed through sockspy.
"""

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from sockspy.core.docker.objects import ObjectRef


class ObjectFields(TypedDict):
    """An object in a record (`made`, `object`)."""

    kind: str  # container, exec, volume, network, service, image
    id: str
    name: NotRequired[str]
    parent: NotRequired[str]  # an exec's container


DEFAULT_LIMIT = 10_000
# What an exec's create asked for, kept for its session (`session_start`).
EXEC_DETAILS = ("command", "user", "tty", "privileged", "working_dir")
SHORT_ID = 12
# The identity fields a `created_by` keeps (the rest of a record's client fields repeat).
CREATOR_FIELDS = (
    "front", "peer_uid", "peer_user", "peer_login_uid", "peer_login_user", "peer_exe",
    "peer_unit", "peer_container", "peer_container_name", "client_ip", "client_container",
    "tls_cn", "tls_serial",
)  # fmt: skip


class Lineage:
    """A bounded memory of the objects made through sockspy, and by whom."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._made: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._names: dict[tuple[str, str], str] = {}  # (kind, name) -> id
        self._short: dict[tuple[str, str], str] = {}  # (kind, 12-char prefix) -> id

    def __len__(self) -> int:
        return len(self._made)

    def made(self, ref: ObjectRef, record_id: str, client: Mapping[str, Any]) -> ObjectFields:
        """`ref` was created by the client of the record `record_id` (whose `summary`, if
        any, is kept for an exec: its session's start names the command); its fields."""
        entry: dict[str, Any] = {"record_id": record_id}
        entry.update((key, client[key]) for key in CREATOR_FIELDS if key in client)
        key = (ref.kind, ref.id)
        fields = _object_fields(ref)
        self._made[key] = {"object": fields, "created_by": entry}
        summary = client.get("summary")
        if ref.kind == "exec" and isinstance(summary, Mapping):
            self._made[key]["asked"] = {k: summary[k] for k in EXEC_DETAILS if k in summary}
        self._made.move_to_end(key)
        if ref.name:
            self._names[(ref.kind, ref.name)] = ref.id
        if len(ref.id) > SHORT_ID:
            self._short[(ref.kind, _short(ref.id))] = ref.id
        while len(self._made) > self.limit:
            (kind, object_id), old = self._made.popitem(last=False)
            self._unindex(kind, object_id, old["object"].get("name"))
        return fields

    def find(self, kind: str, ref: str) -> dict[str, Any] | None:
        """{"object": ..., "created_by": ...} for the object `ref` names, or None."""
        object_id = self._resolve(kind, ref)
        if object_id is None:
            return None
        entry = self._made[(kind, object_id)]
        self._made.move_to_end((kind, object_id))
        return entry

    def forget(self, kind: str, ref: str) -> None:
        """The object was deleted: its name (and id) may be taken by another one."""
        object_id = self._resolve(kind, ref)
        if object_id is not None:
            entry = self._made.pop((kind, object_id))
            self._unindex(kind, object_id, entry["object"].get("name"))

    def renamed(self, kind: str, ref: str, new_name: str) -> None:
        object_id = self._resolve(kind, ref)
        if object_id is None:
            return
        entry = self._made[(kind, object_id)]
        old = entry["object"].get("name")
        if old and self._names.get((kind, old)) == object_id:
            del self._names[(kind, old)]
        entry["object"] = {**entry["object"], "name": new_name}
        self._names[(kind, new_name)] = object_id

    def learn(self, record: Mapping[str, Any]) -> None:
        """Rebuild from an exchange record read back from the log: what it made."""
        made = record.get("made")
        if record.get("event") != "exchange" or not isinstance(made, Mapping):
            return
        try:
            ref = ObjectRef(
                str(made["kind"]), str(made["id"]), made.get("name"), made.get("parent")
            )
        except KeyError:
            return
        self.made(ref, str(record.get("record_id")), record)

    def _resolve(self, kind: str, ref: str) -> str | None:
        if (kind, ref) in self._made:
            return ref
        by_name = self._names.get((kind, ref))
        if by_name is not None:
            return by_name
        bare = ref.removeprefix("sha256:")
        if len(bare) >= SHORT_ID:
            by_prefix = self._short.get((kind, bare[:SHORT_ID]))
            if by_prefix is not None and by_prefix.removeprefix("sha256:").startswith(bare):
                return by_prefix
        return None

    def _unindex(self, kind: str, object_id: str, name: str | None) -> None:
        if name and self._names.get((kind, name)) == object_id:
            del self._names[(kind, name)]
        short = (kind, _short(object_id))
        if self._short.get(short) == object_id:
            del self._short[short]


def _short(object_id: str) -> str:
    return object_id.removeprefix("sha256:")[:SHORT_ID]


def _object_fields(ref: ObjectRef) -> ObjectFields:
    fields: ObjectFields = {"kind": ref.kind, "id": ref.id}
    if ref.name:
        fields["name"] = ref.name
    if ref.parent:
        fields["parent"] = ref.parent
    return fields
