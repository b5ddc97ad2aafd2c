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
from typing import Any

from sockspy.core.docker import objects, summary
from sockspy.core.docker.objects import ObjectRef
from sockspy.core.proxy import recording
from sockspy.core.proxy.exchange import Exchange
from sockspy.core.records import ExchangeRecord, ObjectFields

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
    """A bounded memory of the objects made through sockspy, and by whom.

    Three indexes over one table, kept consistent by every method (a hypothesis state
    machine holds them to a model: tests/core/proxy/test_lineage_model.py):
    `_made` (kind, id) -> entry, in least-recently-used order; `_names` (kind, name) -> id;
    `_aliases` (kind, id) -> every name indexed to it. An image can carry several tags
    and a tag can move to another image, so a name is never assumed to be an object's
    only one: removing a name removes it from the object it points to, and removing an
    object removes every name it has.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._made: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._names: dict[tuple[str, str], str] = {}  # (kind, name) -> id
        self._aliases: dict[tuple[str, str], set[str]] = {}  # (kind, id) -> its names
        self._short: dict[tuple[str, str], str] = {}  # (kind, 12-char prefix) -> id

    def __len__(self) -> int:
        return len(self._made)

    def made(self, ref: ObjectRef, record_id: str, client: Mapping[str, Any]) -> ObjectFields:
        """`ref` was created by the client of the record `record_id` (whose `summary`, if
        any, is kept for an exec: its session's start names the command); its fields."""
        entry: dict[str, Any] = {"record_id": record_id}
        entry.update((key, client[key]) for key in CREATOR_FIELDS if key in client)
        key = (ref.kind, ref.id)
        names = self._aliases.setdefault(key, set())
        if ref.name:
            self._name(ref.kind, ref.name, ref.id)
        # Made again without a name (a cached build): the names it had still point at it.
        shown = ref.name or min(names, default=None)
        fields = _object_fields(ObjectRef(ref.kind, ref.id, shown, ref.parent))
        self._made[key] = {"object": fields, "created_by": entry}
        summary = client.get("summary")
        if ref.kind == "exec" and isinstance(summary, Mapping):
            self._made[key]["asked"] = {k: summary[k] for k in EXEC_DETAILS if k in summary}
        self._made.move_to_end(key)
        if len(ref.id) > SHORT_ID:
            self._short[(ref.kind, _short(ref.id))] = ref.id
        while len(self._made) > self.limit:
            (kind, object_id), _ = self._made.popitem(last=False)
            self._unindex(kind, object_id)
        return fields

    def find(self, kind: str, ref: str) -> dict[str, Any] | None:
        """{"object": ..., "created_by": ...} for the object `ref` names, or None."""
        object_id = self._resolve(kind, ref)
        if object_id is None:
            return None
        self._made.move_to_end((kind, object_id))
        return self._made[(kind, object_id)]

    def forget(self, kind: str, ref: str) -> None:
        """A delete of `ref` succeeded. An image named by one of several tags only loses
        that tag (dockerd untags it); anything else is gone, with all its names, which
        another object may take."""
        object_id = self._resolve(kind, ref)
        if object_id is None:
            return
        names = self._aliases.get((kind, object_id), set())
        if kind == "image" and ref in names and len(names) > 1:
            self._unname(kind, ref)
            return
        del self._made[(kind, object_id)]
        self._unindex(kind, object_id)

    def renamed(self, kind: str, ref: str, new_name: str) -> None:
        """A rename succeeded: the object has `new_name` and no other (containers)."""
        object_id = self._resolve(kind, ref)
        if object_id is None:
            return
        for old in list(self._aliases.get((kind, object_id), ())):
            self._unname(kind, old)
        self._name(kind, new_name, object_id)

    def link(self, record: ExchangeRecord, exchange: Exchange) -> None:
        """The one write an exchange makes to this server-wide memory, right after its
        record is built: remember what a create made (its record gets `made`); name the
        maker of what a request touches (`object`, `created_by`); forget what a delete
        removed and rename what a rename renamed."""
        request = exchange.request
        if request is None or exchange.local is not None:
            return
        touched = objects.touched(request)
        if touched is not None:
            found = self.find(*touched)
            if found is not None:
                record["object"] = found["object"]
                record["created_by"] = found["created_by"]
                if 200 <= (exchange.status or 0) < 300:
                    if request.endpoint.endswith(".delete"):
                        self.forget(*touched)
                    elif request.endpoint == "container.rename" and request.query_get("name"):
                        self.renamed(*touched, str(request.query_get("name")))
        if exchange.response_body is None:
            return
        asked = record.get("summary")
        if asked is None and summary.summarised(request.endpoint):
            asked = recording.asked_for(exchange)  # at level "metadata" too, for its name
        name = asked.get("name") if asked else None
        if request.endpoint == "image.build" and asked and asked.get("tags"):
            name = asked["tags"][0]
        made = objects.created(request, exchange.status, exchange.response_body, name)
        if made is not None:
            record["made"] = self.made(made, record["record_id"], record)

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

    def _name(self, kind: str, name: str, object_id: str) -> None:
        """Point `name` at `object_id`, taking it from whichever object had it."""
        if self._names.get((kind, name)) not in (None, object_id):
            self._unname(kind, name)
        self._names[(kind, name)] = object_id
        self._aliases.setdefault((kind, object_id), set()).add(name)
        entry = self._made.get((kind, object_id))
        if entry is not None:
            entry["object"] = {**entry["object"], "name": name}

    def _unname(self, kind: str, name: str) -> None:
        """`name` points at nothing any more; its object shows another name, or none."""
        object_id = self._names.pop((kind, name))
        names = self._aliases.get((kind, object_id), set())
        names.discard(name)
        entry = self._made.get((kind, object_id))
        if entry is not None and entry["object"].get("name") == name:
            fields = {k: v for k, v in entry["object"].items() if k != "name"}
            if names:
                fields["name"] = min(names)
            entry["object"] = fields  # a new dict: records already written keep theirs

    def _unindex(self, kind: str, object_id: str) -> None:
        for name in self._aliases.pop((kind, object_id), set()):
            if self._names.get((kind, name)) == object_id:
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
