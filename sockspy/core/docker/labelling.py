"""The owner label, put where dockerd reads labels: create bodies, filters, build labels.

Each function takes what the client sent and returns it with the owner label added and
nothing else changed in meaning. Where Go would read the input otherwise than Python,
or the input is not one of the shapes dockerd accepts, `BodyDecodeError` is raised and
the request is refused.

Create bodies (`body_with_label`) are changed by insertion, not re-serialized: the
member ``"Labels":{"<key>":"<owner>"}`` goes in just before the top-level object's
closing brace. Go decodes a map field met twice *into the same map* (the members merge),
and a later value for one key wins, so every label the client set is kept and the owner
label is ours whatever the client wrote before it, under any spelling of "Labels" that
Go folds to it. The body is checked first to be one JSON object with nothing after it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sockspy.core.docker.bodymembers import body_with_members, compact_json
from sockspy.core.docker.gojson import BodyDecodeError


def body_with_label(body: bytes, key: str, value: str) -> bytes:
    """A create body with label `key`=`value` added (see the module docstring)."""
    return body_with_members(body, [label_member(key, value)])


def label_member(key: str, value: str) -> tuple[str, dict[str, str]]:
    """The member that adds label `key`=`value` to a create body's Labels."""
    return ("Labels", {key: value})


def sets_label(body: bytes, key: str) -> bool:
    """Whether any object in the body has a member named `key` (a label the client may
    not set: `VolumeOptions.Labels` in a Mount would label the volume it creates)."""
    try:
        parsed = json.loads(body.decode("utf-8", "replace"), object_pairs_hook=_Members)
    except (ValueError, RecursionError) as exc:
        raise BodyDecodeError(f"request body is not valid JSON: {exc}") from None
    return any(name == key for name in _keys(parsed))


def filters_with_label(filters: str | None, key: str, value: str) -> str:
    """The `filters` query value with ``label=<key>=<value>`` added.

    dockerd's ``filters.FromJSON`` reads ``{"name": {"value": true}}``, or the legacy
    ``{"name": ["value"]}``; the result is always the first form, the client's own
    filters kept with their values. An empty value is no filter at all.
    """
    fields: dict[str, dict[str, Any]] = {}
    if filters:
        parsed = _loads(filters, "filters")
        if not isinstance(parsed, dict):
            raise BodyDecodeError("filters is not a JSON object")
        legacy = [isinstance(v, list) for v in parsed.values()]
        if any(legacy) and not all(legacy):
            raise BodyDecodeError("filters mixes the map and the legacy list forms")
        for name, values in parsed.items():
            if isinstance(values, list):
                if not all(isinstance(v, str) for v in values):
                    raise BodyDecodeError(f"filters {name!r} is not a list of strings")
                fields[name] = dict.fromkeys(values, True)
            elif isinstance(values, dict) and all(isinstance(v, bool) for v in values.values()):
                fields[name] = dict(values)
            elif values is None:
                fields[name] = {}
            else:
                raise BodyDecodeError(f"filters {name!r} is neither a map nor a list")
    fields.setdefault("label", {})[f"{key}={value}"] = True
    return compact_json(fields).decode("utf-8")


def labels_with_label(labels: str | None, key: str, value: str) -> str:
    """A build's `labels` query value (a JSON map of strings) with `key`=`value` set."""
    merged: dict[str, str] = {}
    if labels:
        parsed = _loads(labels, "labels")
        if parsed is not None:
            if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
                raise BodyDecodeError("labels is not a JSON map of strings")
            merged.update(parsed)
    merged[key] = value
    return compact_json(merged).decode("utf-8")


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise BodyDecodeError("a repeated key (Go merges what Python would overwrite)")
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise BodyDecodeError(f"{name} is not JSON")


def _loads(text: str, what: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_no_repeats, parse_constant=_no_constants)
    except BodyDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise BodyDecodeError(f"{what} is not valid JSON: {exc}") from None


class _Members(list[tuple[str, Any]]):
    """An object's members in order, repeats kept (every one of them is looked at)."""


def _keys(value: Any) -> Iterator[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Members):
            for name, member in item:
                yield name
                stack.append(member)
        elif isinstance(item, list):
            stack.extend(item)
