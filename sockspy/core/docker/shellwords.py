"""Variable expansion in a Dockerfile word, as the classic builder's ``shell.Lex`` does it.

A port of BuildKit v0.8's ``ProcessWord`` (``frontend/dockerfile/shell/lex.go``), which
dockerd 20.10 runs on a ``FROM`` image name (with the ``ARG``s declared before the first
``FROM``) and on those ``ARG``s' values: quotes are removed (nothing is special inside
single quotes; the escape token escapes ``"``, ``$`` and itself inside double quotes, and
any character outside), ``$name``, ``${name}``, ``${name:-word}``, ``${name:+word}``,
``${name?word}`` and ``${name:?word}`` are expanded, an unset name is empty. What the
lexer rejects raises `ExpansionError` (the build would fail).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

_SPECIAL = frozenset("@*#?-$!0")


class ExpansionError(ValueError):
    pass


def _is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch


def process_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """`word` with its quotes removed and its variables expanded from `env`."""
    return _Word(_Scanner(word), env, escape).until("")


class _Word:
    def __init__(self, scanner: _Scanner, env: Mapping[str, str], escape: str) -> None:
        self.s = scanner
        self.env = env
        self.escape = escape

    def until(self, stop: str) -> str:
        out: list[str] = []
        while self.s.peek():
            ch = self.s.peek()
            if stop and ch == stop:
                self.s.next()
                return "".join(out)
            if ch == "'":
                out.append(self._single())
            elif ch == '"':
                out.append(self._double())
            elif ch == "$":
                out.append(self._dollar())
            else:
                ch = self.s.next()
                if ch == self.escape:
                    ch = self.s.next()
                    if not ch:
                        break
                out.append(ch)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out)

    def _single(self) -> str:
        self.s.next()
        out: list[str] = []
        while True:
            ch = self.s.next()
            if not ch:
                raise ExpansionError("unexpected end of statement while looking for matching '")
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def _double(self) -> str:
        self.s.next()
        out: list[str] = []
        while True:
            ch = self.s.peek()
            if not ch:
                raise ExpansionError('unexpected end of statement while looking for matching "')
            if ch == '"':
                self.s.next()
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            ch = self.s.next()
            if ch == self.escape:
                following = self.s.peek()
                if not following:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self.s.next()
            out.append(ch)

    def _dollar(self) -> str:
        self.s.next()
        if self.s.peek() != "{":
            name = self._name()
            return self.env.get(name, "") if name else "$"
        self.s.next()
        if not self.s.peek():
            raise ExpansionError("syntax error: missing '}'")
        if self.s.peek() in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self._name()
        ch = self.s.next()
        if ch == "}":
            return self.env.get(name, "")
        if ch == "?":
            word = self._until_brace()
            if name not in self.env:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            return self.env[name]
        if ch == ":":
            modifier = self.s.next()
            word = self._until_brace()
            value = self.env.get(name, "")
            if modifier == "+":
                return word if value else value
            if modifier == "-":
                return value or word
            if modifier == "?":
                if name not in self.env:
                    raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
                if not value:
                    raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        raise ExpansionError("missing ':' in substitution")

    def _until_brace(self) -> str:
        try:
            return self.until("}")
        except ExpansionError:
            raise ExpansionError("syntax error: missing '}'") from None

    def _name(self) -> str:
        name: list[str] = []
        while self.s.peek():
            ch = self.s.peek()
            if not name and _is_digit(ch):
                while self.s.peek() and _is_digit(self.s.peek()):
                    name.append(self.s.next())
                return "".join(name)
            if not name and ch in _SPECIAL:
                return self.s.next()
            if not _is_letter(ch) and not _is_digit(ch) and ch != "_":
                break
            name.append(self.s.next())
        return "".join(name)
