"""Reading JSON request bodies the way Go's encoding/json reads them into dockerd's structs.

Theory of operation
-------------------
dockerd decodes a body with ``json.NewDecoder(r.Body).Decode(&v)`` into a Go struct. A
rule must see exactly the struct Go fills, so `decode_into` replays Go's unmarshal rules
(``encoding/json/decode.go``, Go 1.13 to 1.24; checked against dockerd 20.10 built with
Go 1.19) over a *schema*: the subset of dockerd's struct that the rules read.

Parsing. Python's json module parses the bytes, with hooks that keep what Go needs: every
object as its ordered list of members (duplicates kept), every number as its literal
text. Where Go is more lenient than a guard may be, the body is refused
(`BodyDecodeError`) instead: invalid UTF-8 (Go replaces it with U+FFFD), trailing bytes
after the first value (``Decoder.Decode`` stops after one value and dockerd 20.10 never
looks further), lone UTF-16 surrogates in ``\\u`` escapes (Go: U+FFFD), nesting deeper
than `MAX_DEPTH` (Go allows 10000). NaN and Infinity are invalid JSON for both.

Filling. For each member of an object, in order:

* The key names a struct field if it equals the field's name, else if it equals it under
  Go's case folding, first field in declaration order (``decode.go``: "exact match
  preferred, else case-insensitive"). Keys matching nothing are skipped, as Go skips them.
* ``null`` sets a pointer, slice, map or interface to nil and leaves anything else as it
  was (``literalStore``: "null ... otherwise, ignore"). Here nil means the key is absent.
* Another value is decoded *into the existing one*. So a struct or pointer-to-struct met
  twice merges, a map met twice merges (its elements are fresh each time), a scalar is
  overwritten, an interface is replaced.
* Slices are the trap. ``decode.go``'s ``array`` reuses the existing slice: element ``i``
  is decoded into the old element ``i``, so ``[{"Type":"bind","Source":"/"}]`` followed
  by ``[{"Target":"/x"}]`` leaves a bind mount of "/", and ``["/:/h"]`` followed by
  ``[null]`` leaves ``["/:/h"]``. Past the new length the old elements stay in the
  backing array and come back when a later, longer array reaches them (Go issue 21092).
  That is deterministic: every old element sits below the slice's capacity, so no
  reallocation can drop it; fresh capacity is zeroed. `_Slice` keeps that hidden tail.
  Only ``[]`` (a new empty slice) and ``null`` (nil) start over.
* A value of the wrong JSON type is an error in Go (dockerd answers 400 or 500); it is
  refused here too. Numbers follow ``strconv``: an int field takes only an integer
  literal in range (``1.0`` and ``1e3`` are errors), a uint field no sign at all.

Two dockerd types have their own ``UnmarshalJSON`` and are modelled as such: `StrSlice`
(``strslice.StrSlice``: a string or an array of strings, decoded afresh each time).
"""

from __future__ import annotations

import json
import math
import re
import typing as t
from collections.abc import Mapping
from dataclasses import dataclass, field

MAX_DEPTH = 200  # containers nested deeper are refused (real bodies nest < 10)

# The only non-ASCII characters whose simple case folding reaches an ASCII letter:
# U+212A KELVIN SIGN folds to "k", U+017F LATIN SMALL LETTER LONG S folds to "s".
_GO_FOLDS = str.maketrans({"\u212a": "k", "\u017f": "s"})

MISSING: t.Any = object()


# Go's unicode.IsSpace (the White_Space property), which strings.TrimSpace strips. Python's
# str.strip() strips more (U+001C..U+001F), so the set is spelled out.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


class BodyDecodeError(ValueError):
    """A body that cannot be decoded exactly as Go would decode it."""


def go_fold(key: str) -> str:
    """A key folded so that Go's case-insensitive field match becomes equality.

    Exact for matching against ASCII field names (all of dockerd's): Go's EqualFold
    relates an ASCII letter to its other case, and to K/long s above; Python's lower()
    maps no other non-ASCII character to ASCII (U+0130 becomes two characters).
    """
    return key.translate(_GO_FOLDS).lower()


# -- Schema types --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class String:
    """A Go string (or a string kind such as ``container.NetworkMode``)."""


@dataclass(frozen=True, slots=True)
class Bool:
    pass


@dataclass(frozen=True, slots=True)
class Int:
    """A Go integer kind; `bits` and `unsigned` give its range."""

    bits: int = 64
    unsigned: bool = False


@dataclass(frozen=True, slots=True)
class Float:
    pass


@dataclass(frozen=True, slots=True)
class Any:
    """Go's ``interface{}``: kept as the plain Python value (objects: last key wins)."""


@dataclass(frozen=True, slots=True)
class StrSlice:
    """``strslice.StrSlice`` (CapAdd, Cmd...): a string or an array of strings, replaced whole."""


@dataclass(frozen=True, slots=True)
class Pointer:
    elem: GoType


@dataclass(frozen=True, slots=True)
class Array:
    """A Go slice."""

    elem: GoType


@dataclass(frozen=True, slots=True)
class Map:
    """A Go ``map[string]V``: keys match exactly."""

    value: GoType


@dataclass(frozen=True, slots=True)
class Embedded:
    """An anonymous struct field; its fields are promoted into the embedding struct.

    `key` None: embedded by value, its fields land in the parent's dict. Otherwise
    embedded by pointer: its fields land in a dict under `key`, which exists as soon as
    one of its fields is matched (Go allocates the pointer then, even for ``null``).
    """

    struct: Struct
    key: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Struct:
    fields: Mapping[str, GoType]
    embedded: tuple[Embedded, ...] = ()
    _exact: dict[str, _Field] = field(init=False, repr=False)
    _folded: dict[str, _Field] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        exact: dict[str, _Field] = {}
        for name, found in _flatten(self, 0, ()).items():
            if len(found) > 1 and found[0].depth == found[1].depth:
                # Go drops both (typeFields: "conflicting names"); no dockerd struct we
                # model has one, so treat it as a mistake in the schema.
                raise ValueError(f"field {name!r} is ambiguous in this schema")
            exact[name] = found[0]
        folded: dict[str, _Field] = {}
        for name, ref in exact.items():
            folded.setdefault(go_fold(name), ref)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_folded", folded)

    def lookup(self, key: str) -> _Field | None:
        """The field Go fills for object key `key`: exact name first, then folded."""
        return self._exact.get(key) or self._folded.get(go_fold(key))


GoType = String | Bool | Int | Float | Any | StrSlice | Pointer | Array | Map | Struct


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    depth: int
    path: tuple[str, ...]  # keys of the pointer-embedded dicts that hold it
    type: GoType


def _flatten(struct: Struct, depth: int, path: tuple[str, ...]) -> dict[str, list[_Field]]:
    """Every field name reachable in `struct`, shallowest first (Go's dominance rule)."""
    out: dict[str, list[_Field]] = {}
    for name, go_type in struct.fields.items():
        out.setdefault(name, []).append(_Field(name, depth, path, go_type))
    for embedded in struct.embedded:
        inner = path + ((embedded.key,) if embedded.key is not None else ())
        for name, found in _flatten(embedded.struct, depth + 1, inner).items():
            out.setdefault(name, []).extend(found)
    for found in out.values():
        found.sort(key=lambda f: f.depth)
    return out


# -- Parsing ------------------------------------------------------------------------------


class _Pairs(list[tuple[str, t.Any]]):
    """Keeps an object's members as an ordered list so duplicates survive decoding."""


class _Number:
    """A JSON number as its literal text: Go parses it per target type."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _no_constants(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_Pairs, parse_int=_Number, parse_float=_Number, parse_constant=_no_constants
)


def _parse(body: bytes) -> t.Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyDecodeError(f"request body is not valid UTF-8: {exc}") from None
    try:
        value, end = _DECODER.raw_decode(text, _skip_space(text, 0))
    except RecursionError:
        raise BodyDecodeError("request body is nested too deeply") from None
    except ValueError as exc:
        raise BodyDecodeError(f"request body is not valid JSON: {exc}") from None
    if _skip_space(text, end) != len(text):
        raise BodyDecodeError("bytes after the JSON value (Go would ignore them)")
    _check_strings_and_depth(value)
    return value


_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, the same set in Go


def _skip_space(text: str, pos: int) -> int:
    match = _SPACE.match(text, pos)
    return match.end() if match else pos


def _check_strings_and_depth(value: t.Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, list):  # _Pairs or a JSON array
            if depth > MAX_DEPTH:
                raise BodyDecodeError(f"request body nests deeper than {MAX_DEPTH}")
            if isinstance(item, _Pairs):
                for key, member in item:
                    _check_text(key)
                    stack.append((member, depth + 1))
            else:
                stack.extend((member, depth + 1) for member in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyDecodeError("a lone UTF-16 surrogate escape (Go reads U+FFFD)") from None


def decode_pairs(body: bytes) -> list[tuple[str, t.Any]]:
    """The top-level members of a JSON object body, in order, duplicates kept."""
    value = _parse(body)
    if not isinstance(value, _Pairs):
        raise BodyDecodeError("request body is not a JSON object")
    return [(key, _plain(member)) for key, member in value]


def top_level_field(body: bytes, field: str) -> t.Any:
    """The value Go would store in an ``interface{}`` struct field `field` (last key wins)."""
    wanted = go_fold(field)
    found = MISSING
    for key, value in decode_pairs(body):
        if go_fold(key) == wanted:
            found = value
    return found


# -- Filling ------------------------------------------------------------------------------


def decode_value(body: bytes, go_type: GoType) -> t.Any:
    """The value Go's ``Decode`` fills into a fresh variable of `go_type` (None for nil)."""
    filled = _decode(go_type, _parse(body), MISSING)
    if filled is _KEEP:
        filled = _zero(go_type)
    return _finish(None if filled is _NIL else filled)


def decode_into(body: bytes, schema: Struct) -> dict[str, t.Any]:
    """The struct Go fills from `body`, as a dict of the fields present (canonical names)."""
    result: dict[str, t.Any] = decode_value(body, schema)
    return result


_KEEP: t.Any = object()  # null into a non-nilable: leave the old value
_NIL: t.Any = object()  # null into a pointer, slice, map or interface


class _Slice(list[t.Any]):
    """A Go slice being filled: its elements, plus the old ones past its length."""

    def __init__(self, items: list[t.Any], tail: list[t.Any]) -> None:
        super().__init__(items)
        self.tail = tail


def _type_error(value: t.Any, go_type: GoType) -> BodyDecodeError:
    kind = {str: "string", bool: "bool", _Pairs: "object", list: "array", _Number: "number"}
    return BodyDecodeError(
        f"cannot unmarshal {kind.get(type(value), 'value')} into a Go {type(go_type).__name__}"
    )


def _decode(go_type: GoType, value: t.Any, old: t.Any) -> t.Any:
    """What Go stores when decoding `value` into a variable holding `old` (MISSING: zero)."""
    if value is None:
        return _NIL if isinstance(go_type, Pointer | Array | Map | Any | StrSlice) else _KEEP
    match go_type:
        case String() if isinstance(value, str):
            return value
        case Bool() if isinstance(value, bool):
            return value
        case Int() if isinstance(value, _Number):
            return _int(value.text, go_type)
        case Float() if isinstance(value, _Number):
            return _float(value.text)
        case Any():
            return _plain(value)
        case StrSlice():
            return _strslice(value)
        case Pointer():  # decodes into the pointee, allocated if nil
            return _decode(go_type.elem, value, old)
        case Array() if isinstance(value, list) and not isinstance(value, _Pairs):
            return _array(go_type, value, old)
        case Map() if isinstance(value, _Pairs):
            target = old if isinstance(old, dict) else {}
            for key, member in value:  # each element decoded into a fresh zero value
                filled = _decode(go_type.value, member, MISSING)
                target[key] = _settle(filled, MISSING, go_type.value)
            return target
        case Struct() if isinstance(value, _Pairs):
            return _struct(go_type, value, old)
    raise _type_error(value, go_type)


def _settle(filled: t.Any, old: t.Any, go_type: GoType) -> t.Any:
    """The element value after decoding, for slots that always hold a value."""
    if filled is _KEEP:
        return _zero(go_type) if old is MISSING else old
    return None if filled is _NIL else filled


def _struct(schema: Struct, pairs: _Pairs, old: t.Any) -> dict[str, t.Any]:
    target: dict[str, t.Any] = old if isinstance(old, dict) else {}
    for key, member in pairs:
        ref = schema.lookup(key)
        if ref is None:
            continue  # unknown keys are skipped (Go's decode.go: "d.skip()")
        holder = target
        for embed_key in ref.path:  # Go allocates embedded pointers on the way down
            holder = holder.setdefault(embed_key, {})
        filled = _decode(ref.type, member, holder.get(ref.name, MISSING))
        if filled is _NIL:
            holder.pop(ref.name, None)
        elif filled is not _KEEP:
            holder[ref.name] = filled
    return target


def _array(go_type: Array, items: list[t.Any], old: t.Any) -> _Slice:
    if not items:
        return _Slice([], [])  # decode.go: a new empty slice, not the old one truncated
    backing = [*old, *old.tail] if isinstance(old, _Slice) else []
    for i, member in enumerate(items):
        previous = backing[i] if i < len(backing) else MISSING
        filled = _settle(_decode(go_type.elem, member, previous), previous, go_type.elem)
        if i < len(backing):
            backing[i] = filled
        else:
            backing.append(filled)
    return _Slice(backing[: len(items)], backing[len(items) :])


def _strslice(value: t.Any) -> list[str]:
    # strslice.UnmarshalJSON: json.Unmarshal into a fresh []string, else into a string.
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or isinstance(value, _Pairs):
        raise _type_error(value, StrSlice())
    if all(item is None or isinstance(item, str) for item in value):
        return ["" if item is None else item for item in value]
    raise _type_error(value, StrSlice())


_INT_LITERAL = re.compile(r"-?[0-9]+")


def _int(text: str, go_type: Int) -> int:
    # strconv.ParseInt / ParseUint (base 10): no fraction, no exponent, uint takes no sign.
    if not _INT_LITERAL.fullmatch(text) or (go_type.unsigned and text.startswith("-")):
        raise BodyDecodeError(f"cannot unmarshal number {text} into a Go integer")
    if len(text) > 25:  # longer than any 64-bit value (and than Python's int() limit)
        raise BodyDecodeError(f"number {text[:25]}... overflows a Go int{go_type.bits}")
    number = int(text)
    low, high = (0, 2**go_type.bits - 1) if go_type.unsigned else _signed_range(go_type.bits)
    if not low <= number <= high:
        raise BodyDecodeError(f"number {text} overflows a Go int{go_type.bits}")
    return number


def _signed_range(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # strconv.ParseFloat: ErrRange
        raise BodyDecodeError(f"number {text} overflows a Go float64")
    return number


def _plain(value: t.Any) -> t.Any:
    """A parsed value as Go's interface{} holds it: objects keep the last duplicate."""
    if isinstance(value, _Pairs):
        return {key: _plain(member) for key, member in value}
    if isinstance(value, list):
        return [_plain(member) for member in value]
    if isinstance(value, _Number):
        number = _float(value.text)  # Go: float64, an error if out of range
        return int(value.text) if _INT_LITERAL.fullmatch(value.text) else number
    return value


def _zero(go_type: GoType) -> t.Any:
    match go_type:
        case String():
            return ""
        case Bool():
            return False
        case Int():
            return 0
        case Float():
            return 0.0
        case Struct():
            return {}
    return None


def _finish(value: t.Any) -> t.Any:
    """Plain lists and dicts for the caller (a `_Slice` forgets its hidden tail)."""
    if isinstance(value, dict):
        return {key: _finish(member) for key, member in value.items()}
    if isinstance(value, list):
        return [_finish(member) for member in value]
    return value
