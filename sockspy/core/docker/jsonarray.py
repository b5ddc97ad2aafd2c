"""The items of a JSON array, found as its bytes arrive: a list answer redacted one item
at a time, so that its size is bounded by its largest item, not by the whole list.

Sans-IO: `ArrayItems.take` reads the bytes collected so far (a bytearray the caller keeps
appending to), returns each complete top-level item, and removes what it consumed from
the front, so the buffer holds at most one item and a piece of the next.
"""

from __future__ import annotations

import re

_OUTSIDE = re.compile(rb'["\[\]{},]')  # what changes the structure outside a string
_INSIDE = re.compile(rb'["\\]')  # what ends a string, or escapes its next character
_SPACE = b" \t\r\n"


class NotAnArray(ValueError):
    """The bytes are not one JSON array (or an item grew past the cap)."""


class ArrayItems:
    """The top-level items of one JSON array, in order, as bytes."""

    def __init__(self, item_cap: int) -> None:
        self.item_cap = item_cap
        self.opened = False  # "[" was read
        self.closed = False  # "]" was read
        self._pos = 0  # where scanning goes on in the buffer
        self._depth = 0  # nesting inside the current item
        self._in_string = False
        self._count = 0  # items found

    def take(self, buf: bytearray) -> list[bytes]:
        """The items completed in `buf`; their bytes (and the separators) leave it."""
        items: list[bytes] = []
        if not self.opened:
            start = _skip_space(buf, 0)
            if start == len(buf):
                return items
            if buf[start : start + 1] != b"[":
                raise NotAnArray("the answer is not a JSON array")
            self.opened = True
            del buf[: start + 1]
        while not self.closed:
            end = self._scan(buf)
            if end is None:
                if len(buf) > self.item_cap:
                    raise NotAnArray(f"an item of the answer is over {self.item_cap} bytes")
                return items
            item, closing = bytes(buf[:end]).strip(), buf[end : end + 1] == b"]"
            if item:
                items.append(item)
                self._count += 1
            elif not (closing and self._count == 0):  # "[]" is the one empty place
                raise NotAnArray("an empty item (a stray comma)")
            del buf[: end + 1]
            self._pos = 0
            self.closed = closing
        if buf.strip(_SPACE):
            raise NotAnArray("bytes after the array")
        return items

    def _scan(self, buf: bytearray) -> int | None:
        """The offset of the "," or "]" that ends the current item, or None for now."""
        pos = self._pos
        while True:
            if self._in_string:
                found = _INSIDE.search(buf, pos)
                if found is None:
                    self._pos = len(buf)
                    return None
                if found.group() == b"\\":
                    if found.end() >= len(buf):  # the escaped character is still to come
                        self._pos = found.start()
                        return None
                    pos = found.end() + 1
                    continue
                self._in_string, pos = False, found.end()
                continue
            found = _OUTSIDE.search(buf, pos)
            if found is None:
                self._pos = len(buf)
                return None
            char, pos = found.group(), found.end()
            if char == b'"':
                self._in_string = True
            elif char in (b"[", b"{"):
                self._depth += 1
            elif char in (b"]", b"}"):
                if self._depth == 0 and char == b"]":
                    return found.start()
                self._depth -= 1
                if self._depth < 0:
                    raise NotAnArray("unbalanced brackets")
            elif char == b"," and self._depth == 0:
                return found.start()


def _skip_space(buf: bytearray, pos: int) -> int:
    while pos < len(buf) and buf[pos] in _SPACE:
        pos += 1
    return pos
