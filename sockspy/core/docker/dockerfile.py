"""A Dockerfile split into instructions as the classic builder's parser splits it.

dockerd 20.10 parses a Dockerfile with BuildKit v0.8's ``frontend/dockerfile/parser``;
this is a port of the parts that decide what an instruction is and which words it has:

* parser directives (``# escape=`` and ``# syntax=``) only before anything else; the
  escape token (``\\`` or a backtick) also continues a line when it ends one;
* comment lines are dropped, also inside a continued instruction, and so are blank
  continuation lines; a byte-order mark before the first line is ignored; lines end at
  ``\\n`` (a ``\\r`` before it is dropped);
* the first word is the instruction (any case); ``--name=value`` words right after it
  are its flags (``extractBuilderFlags``, which reads the line byte by byte);
* ``FROM`` arguments split on ASCII whitespace; ``ADD`` and ``COPY`` are a JSON array of
  strings when they decode as one (Go reads the first JSON value only), else split like
  FROM; ``ARG`` splits as ``parseWords`` does; ``ONBUILD`` holds one instruction.

It does not judge: it gives back what the builder will dispatch (`sockspy.core.docker.
buildplan` does). A text the parser refuses raises `DockerfileError` (the build would
fail: refusing it costs nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sockspy.core.docker.gojson import GO_SPACE, Any, Array, BodyDecodeError, decode_value

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(
    r"^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$"
)
_COMMENT = re.compile(r"^#.*$")
_BYTE_SPACE = frozenset(b"\t\n\v\f\r \x85\xa0")  # unicode.IsSpace(rune(b)) for a byte b
MAX_LINE = 64 * 1024 - 1  # bufio.Scanner's token limit
KNOWN = frozenset(
    {
        "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck",
        "label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume",
        "workdir",
    }
)  # fmt: skip
_JSON_LISTS = frozenset({"add", "copy", "volume"})
_WORDS = frozenset({"from", "expose"})
_NAME_WORDS = frozenset({"arg"})


class DockerfileError(ValueError):
    """A Dockerfile the builder would refuse (or sockspy cannot read as it does)."""


@dataclass(frozen=True, slots=True)
class Instruction:
    command: str  # lower case: "from", "copy", "onbuild"...
    flags: tuple[str, ...]  # "--from=build", as written
    args: tuple[str, ...]  # for ONBUILD: the trigger's command and its original text
    original: str  # the whole instruction, continuations joined
    line: int  # where it starts (1-based)
    json: bool = False  # ADD/COPY/VOLUME written as a JSON array


@dataclass(frozen=True, slots=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    escape: str


def _trim_left_space(text: str) -> str:
    return text.lstrip(GO_SPACE)


def _is_comment(line: str) -> bool:
    return _COMMENT.match(_trim_left_space(line)) is not None


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.done = False
        self.seen: set[str] = set()
        self._continuation = self._pattern()

    def _pattern(self) -> re.Pattern[str]:
        e = re.escape(self.escape)
        return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def possible(self, line: str) -> None:
        if self.done:
            return
        match = _DIRECTIVE.match(line)
        if match is None or match.group(1).lower() not in ("escape", "syntax"):
            self.done = True
            return
        key = match.group(1).lower()
        if key in self.seen:
            raise DockerfileError(f"only one {key} parser directive can be used")
        self.seen.add(key)
        if key == "escape":
            if match.group(2) not in ("`", "\\"):
                raise DockerfileError(f"invalid escape token {match.group(2)!r}")
            self.escape = match.group(2)
            self._continuation = self._pattern()

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """The line without its continuation token, and whether the instruction ends."""
        if self._continuation.search(line):
            return self._continuation.sub(r"\1", line), False
        return line, True


def _process_line(d: _Directives, line: str, strip_left: bool) -> str:
    if strip_left:
        line = _trim_left_space(line)
    directive_input = line
    line = _COMMENT.sub("", line)
    d.possible(directive_input)
    return line


def _lines(text: bytes) -> list[str]:
    """bufio.ScanLines: split at \\n, drop one \\r before it; no empty last line."""
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    raw = text.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    lines = []
    for item in raw:
        if item.endswith(b"\r"):
            item = item[:-1]
        if len(item) > MAX_LINE:
            raise DockerfileError(f"dockerfile line greater than max allowed size of {MAX_LINE}")
        lines.append(item.decode("utf-8", "surrogateescape"))
    return lines


def parse(text: bytes) -> Dockerfile:
    """The instructions of a Dockerfile. Raises DockerfileError."""
    d = _Directives()
    lines = _lines(text)
    instructions: list[Instruction] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        start = i
        line, ended = d.trim_continuation(_process_line(d, raw, True))
        if ended and line == "":
            continue
        while not ended and i < len(lines):
            raw = lines[i]
            i += 1
            processed = _process_line(d, raw, False)
            if _is_comment(raw) or _trim_left_space(processed) == "":
                continue
            more, ended = d.trim_continuation(processed)
            line += more
        instructions.append(_instruction(line, d.escape, start))
    if not instructions:
        raise DockerfileError("file with no instructions")
    return Dockerfile(tuple(instructions), d.escape)


def _instruction(line: str, escape: str, number: int) -> Instruction:
    parts = _WHITESPACE.split(line.strip(GO_SPACE), maxsplit=1)
    command = parts[0].lower()
    if command not in KNOWN:  # (Go lower-cases Unicode its own way: ASCII only here)
        raise DockerfileError(f"unknown instruction: {parts[0]}")
    rest, flags = _extract_flags(parts[1]) if len(parts) == 2 else ("", [])
    rest = rest.strip(GO_SPACE)
    if command == "onbuild":
        if not rest:
            return Instruction(command, tuple(flags), (), line, number)
        trigger = _instruction(rest, escape, number)
        return Instruction(command, tuple(flags), (trigger.command, trigger.original), line, number)
    json_form = False
    args: list[str]
    if command in _JSON_LISTS:
        parsed = _json_list(rest)
        json_form = parsed is not None
        args = parsed if parsed is not None else _split(rest)
    elif command in _WORDS:
        args = _split(rest)
    elif command in _NAME_WORDS:
        args = _parse_words(rest, escape)
    else:
        args = [rest] if rest else []  # not read by sockspy
    return Instruction(command, tuple(flags), tuple(args), line, number, json_form)


def _split(rest: str) -> list[str]:
    """parseStringsWhitespaceDelimited: regexp.Split keeps empty words at the ends."""
    return _WHITESPACE.split(rest) if rest else []


def _json_list(rest: str) -> list[str] | None:
    """parseJSON: the first JSON value, when it is an array; None when it is not JSON (the
    words are then split); an array holding anything but strings fails the build."""
    rest = _trim_left_space(rest)
    if not rest.startswith("["):
        return None
    data = rest.encode("utf-8", "surrogateescape")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:  # Go reads U+FFFD there: refused rather than guessed
        raise DockerfileError("a JSON array that is not valid UTF-8") from None
    end = _first_value_end(data)
    if end is None:
        return None
    try:
        value = decode_value(data[:end], Array(Any()))
    except BodyDecodeError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise DockerfileError("a JSON array of strings was expected")
    return value


def _first_value_end(data: bytes) -> int | None:
    """Where the first JSON array in `data` ends (brackets outside strings), or None."""
    depth, in_string, escaped = 0, False, False
    for pos, byte in enumerate(data):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte == 0x5B:
            depth += 1
        elif byte == 0x5D:
            depth -= 1
            if depth == 0:
                return pos + 1
    return None


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """extractBuilderFlags, byte by byte as Go reads it: the leading ``--`` words."""
    data = line.encode("utf-8", "surrogateescape")
    words: list[bytes] = []
    word = bytearray()
    phase = "spaces"
    quote = 0
    blank_ok = False
    pos = 0
    while pos <= len(data):
        at_end = pos == len(data)
        ch = data[pos] if not at_end else 0
        if phase == "spaces":
            if at_end:
                break
            if ch in _BYTE_SPACE:
                pos += 1
                continue
            if ch != 0x2D or pos + 1 == len(data) or data[pos + 1] != 0x2D:
                return _text(data[pos:]), [_text(w) for w in words]
            phase = "word"
        if phase in ("word", "quote") and at_end:
            if bytes(word) != b"--" and (blank_ok or word):
                words.append(bytes(word))
            break
        if phase == "word":
            if ch in _BYTE_SPACE:
                phase = "spaces"
                if bytes(word) == b"--":
                    return _text(data[pos:]), [_text(w) for w in words]
                if blank_ok or word:
                    words.append(bytes(word))
                word, blank_ok = bytearray(), False
                pos += 1
                continue
            if ch in (0x27, 0x22):
                quote, blank_ok, phase = ch, True, "quote"
                pos += 1
                continue
            if ch == 0x5C:
                if pos + 1 == len(data):
                    pos += 1
                    continue
                pos += 1
                ch = data[pos]
            word.append(ch)
            pos += 1
            continue
        # phase == "quote"
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == 0x5C:
            if pos + 1 == len(data):
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = data[pos]
        word.append(ch)
        pos += 1
    return "", [_text(w) for w in words]


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _parse_words(rest: str, escape: str) -> list[str]:
    """parseWords: words split at Unicode spaces, quotes and escapes kept in them."""
    words: list[str] = []
    word = ""
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    while pos <= len(rest):
        at_end = pos == len(rest)
        ch = rest[pos] if not at_end else ""
        if phase == "spaces":
            if at_end:
                break
            if ch in GO_SPACE:
                pos += 1
                continue
            phase = "word"
        if phase in ("word", "quote") and at_end:
            if blank_ok or word:
                words.append(word)
            break
        if phase == "word":
            if ch in GO_SPACE:
                phase = "spaces"
                if blank_ok or word:
                    words.append(word)
                word, blank_ok = "", False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if pos + 1 == len(rest):
                    pos += 1
                    continue
                word += ch
                pos += 1
                ch = rest[pos]
            word += ch
            pos += 1
            continue
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if pos + 1 == len(rest):
                phase = "word"
                pos += 1
                continue
            pos += 1
            word += ch
            ch = rest[pos]
        word += ch
        pos += 1
    return words
