"""What a classic build will read: the images it takes files from, the URLs it fetches.

dockerd 20.10's classic builder (``builder/dockerfile``) runs the Dockerfile it found in
the context (`sockspy.core.docker.buildcontext`) stage by stage. The images it reads:

* ``FROM <name>``, the name expanded with the ``ARG``s declared before the first FROM
  (the ``buildargs`` query overriding their defaults; the proxy variables without an
  ARG), is an earlier stage when one has that name (any case), nothing for ``scratch``,
  else an image, resolved as ``GET /images/{name}/json`` resolves it (a full or short id,
  a name, a digest), and pulled when missing. That image's ``ONBUILD`` triggers run in
  this build, and so do an earlier stage's when FROM names it;
* ``COPY --from=<x>`` (never expanded) is an earlier stage by name or by index, else an
  image, resolved the same way;
* ``ADD <source>``: a source that is (after expansion) an ``http://`` or ``https://`` URL
  is downloaded by dockerd itself, on the host's network. A source that could expand to
  one (``$URL``, ``h"ttp"://``) counts as one: sockspy does not expand ADD's environment.

``target=`` stops the build at that stage. Reading anything the builder would refuse
raises `BuildPlanError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sockspy.core.docker.dockerfile import DockerfileError, Instruction, parse
from sockspy.core.docker.gojson import BodyDecodeError, Map, Pointer, String, decode_value
from sockspy.core.docker.shellwords import ExpansionError, process_word

SCRATCH = "scratch"
_PROXY_ARGS = frozenset(
    {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
     "NO_PROXY", "no_proxy"}
)  # fmt: skip
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_INDEX = re.compile(r"[+-]?[0-9]+")
_URL_SCHEMES = ("http://", "https://")
_ONBUILD = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.IGNORECASE)
_FLAGS = {"from": ("platform",), "copy": ("chown", "from", "chmod"), "add": ("chown", "chmod")}


class BuildPlanError(ValueError):
    """A Dockerfile the classic builder would refuse, or sockspy cannot read as it does."""


@dataclass(frozen=True, slots=True)
class ImageRead:
    name: str  # as dockerd resolves it
    line: int
    how: str  # "FROM", "COPY --from", "ONBUILD COPY --from"
    # FROM an image: its ONBUILD triggers run in this build, where a trigger's
    # COPY --from can name these earlier stages.
    stages_before: tuple[str, ...] | None = None

    @property
    def base(self) -> bool:
        return self.stages_before is not None


@dataclass(frozen=True, slots=True)
class Fetch:
    source: str  # as written (before expansion)
    line: int
    how: str  # "ADD", "ONBUILD ADD"


@dataclass(slots=True)
class Reads:
    images: list[ImageRead] = field(default_factory=list)
    fetches: list[Fetch] = field(default_factory=list)


def may_be_url(word: str, escape: str = "\\") -> bool:
    """Whether an ADD source is, or could expand to, a URL dockerd downloads."""
    literal = re.split(rf"[$'\"{re.escape(escape)}]", word, maxsplit=1)
    if len(literal) == 1:
        return word.startswith(_URL_SCHEMES)
    prefix = literal[0]
    return any(s.startswith(prefix) or prefix.startswith(s) for s in _URL_SCHEMES)


def _flags(instruction: Instruction) -> dict[str, str]:
    """BFlags.Parse for the flags sockspy reads: unknown, repeated or valueless fail."""
    allowed = _FLAGS.get(instruction.command, ())
    values: dict[str, str] = {}
    for flag in instruction.flags:
        name, equals, value = flag[2:].partition("=")
        if name not in allowed:
            raise BuildPlanError(f"line {instruction.line}: unknown flag: {name}")
        if name in values:
            raise BuildPlanError(f"line {instruction.line}: duplicate flag specified: {name}")
        if not equals:
            raise BuildPlanError(f"line {instruction.line}: missing a value on flag: {name}")
        values[name] = value
    return values


class _Stages:
    """The stages built so far: what FROM and COPY --from can name."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names = list(names)  # lower case; "" for an unnamed stage

    def by_name(self, name: str) -> int | None:
        lowered = name.lower()
        return self.names.index(lowered) if lowered and lowered in self.names else None

    def resolves(self, name_or_index: str, line: int) -> bool:
        """stagesBuildResults.get: a stage by name, else by index (an index out of range
        fails the build), else not a stage."""
        if self.by_name(name_or_index) is not None:
            return True
        if _INDEX.fullmatch(name_or_index) and abs(int(name_or_index)) < 1 << 63:
            if not 0 <= int(name_or_index) < len(self.names):
                raise BuildPlanError(f"line {line}: COPY --from={name_or_index}: no such stage")
            return True
        return False


def _copy_and_add(
    instruction: Instruction, stages: _Stages, escape: str, reads: Reads, prefix: str = ""
) -> None:
    if instruction.command not in ("copy", "add"):
        return
    flags = _flags(instruction)
    if len(instruction.args) < 2:
        raise BuildPlanError(
            f"line {instruction.line}: {instruction.command.upper()} needs a destination"
        )
    if instruction.command == "copy":
        source = flags.get("from", "")
        if source and not stages.resolves(source, instruction.line):
            reads.images.append(ImageRead(source, instruction.line, f"{prefix}COPY --from"))
        return
    for word in instruction.args[:-1]:
        if may_be_url(word, escape):
            reads.fetches.append(Fetch(word, instruction.line, f"{prefix}ADD"))


def trigger_reads(triggers: Iterable[str], stages_before: Iterable[str], line: int) -> Reads:
    """What an image's ONBUILD triggers read when a stage starts FROM it (each trigger is
    parsed as a one-line Dockerfile; `line` is the FROM's)."""
    reads = Reads()
    stages = _Stages(stages_before)
    for trigger in triggers:
        try:
            parsed = parse(trigger.encode("utf-8", "surrogateescape"))
        except DockerfileError as exc:
            raise BuildPlanError(f"line {line}: an ONBUILD trigger: {exc}") from None
        if len(parsed.instructions) != 1:
            raise BuildPlanError(f"line {line}: an ONBUILD trigger is not one instruction")
        instruction = parsed.instructions[0]
        if instruction.command in ("from", "onbuild", "maintainer"):
            continue  # the build fails (or, for ONBUILD, stores it for the next build)
        one = Instruction(
            instruction.command, instruction.flags, instruction.args, instruction.original, line
        )
        _copy_and_add(one, stages, parsed.escape, reads, "ONBUILD ")
    return reads


def build_args(query_value: str | None) -> dict[str, str | None]:
    """The ``buildargs`` query: a JSON object of strings or nulls."""
    if not query_value:
        return {}
    try:
        decoded = decode_value(
            query_value.encode("utf-8", "surrogateescape"), Map(Pointer(String()))
        )
    except BodyDecodeError as exc:
        raise BuildPlanError(f"query buildargs: {exc}") from None
    return dict(decoded or {})


def _meta_env(
    args: list[Instruction], given: Mapping[str, str | None], escape: str
) -> dict[str, str]:
    """The values FROM expands with: ARGs before the first FROM (processMetaArg), each
    expanded with the ones before it, overridden by the query's; and the proxy
    variables the query gives (builtinAllowedBuildArgs)."""
    declared: dict[str, str | None] = {}
    for instruction in args:
        env = _resolved(declared, given)
        expanded = []
        for word in instruction.args:
            key, equals, value = word.partition("=")
            if equals and not key:
                raise BuildPlanError(f"line {instruction.line}: ARG names cannot be blank")
            try:
                key = process_word(key, env, escape)
                expanded.append((key, process_word(value, env, escape) if equals else None))
            except ExpansionError as exc:
                raise BuildPlanError(f"line {instruction.line}: {exc}") from None
        if not instruction.args:
            raise BuildPlanError(f"line {instruction.line}: ARG requires at least one argument")
        declared.update(expanded)
    return _resolved(declared, given)


def _resolved(
    declared: Mapping[str, str | None], given: Mapping[str, str | None]
) -> dict[str, str]:
    env: dict[str, str] = {}
    for key in set(declared) | _PROXY_ARGS:
        override = given.get(key)
        if override is not None:
            env[key] = override
        elif declared.get(key) is not None:
            env[key] = declared[key]  # type: ignore[assignment]
    return env


def _stages_of(
    instructions: Iterable[Instruction],
) -> tuple[list[Instruction], list[list[Instruction]]]:
    """instructions.Parse: ARGs before the first FROM, then each FROM with what follows."""
    meta: list[Instruction] = []
    stages: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.command == "from":
            stages.append([instruction])
        elif stages:
            stages[-1].append(instruction)
        elif instruction.command == "arg":
            meta.append(instruction)
        else:
            raise BuildPlanError(f"line {instruction.line}: no build stage in current context")
    return meta, stages


def _stage_name(instruction: Instruction) -> str:
    args = instruction.args
    if len(args) == 3 and args[1].casefold() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.fullmatch(name):
            raise BuildPlanError(
                f"line {instruction.line}: invalid name for build stage: {args[2]!r}"
            )
        return name
    if len(args) != 1:
        raise BuildPlanError(
            f"line {instruction.line}: FROM requires either one or three arguments"
        )
    return ""


def plan(dockerfile: bytes, query: Mapping[str, str]) -> Reads:
    """What the classic builder reads running `dockerfile` with this build's query
    (``buildargs``, ``target``). Raises BuildPlanError."""
    try:
        parsed = parse(dockerfile)
    except DockerfileError as exc:
        raise BuildPlanError(str(exc)) from None
    meta, stages = _stages_of(parsed.instructions)
    if not stages:
        raise BuildPlanError("no build stage: the Dockerfile has no FROM")
    names = [_stage_name(stage[0]) for stage in stages]
    target = query.get("target") or ""
    if target:
        if target.casefold() not in [n.casefold() for n in names]:
            raise BuildPlanError(f"failed to reach build target {target} in Dockerfile")
        stages = stages[: [n.casefold() for n in names].index(target.casefold()) + 1]
    env = _meta_env(meta, build_args(query.get("buildargs")), parsed.escape)
    reads = Reads()
    built = _Stages()
    triggers: list[list[str]] = []
    for stage, name in zip(stages, names, strict=False):
        if name and built.by_name(name) is not None:
            raise BuildPlanError(f"{name} stage name already used")
        _from(stage[0], built, triggers, env, parsed.escape, reads)
        own: list[str] = []
        for instruction in stage[1:]:
            _copy_and_add(instruction, built, parsed.escape, reads)
            if instruction.command == "onbuild" and instruction.args:
                own.append(_ONBUILD.sub("", instruction.original, count=1))
        triggers.append(own)
        built.names.append(name)
    return reads


def _from(
    instruction: Instruction,
    built: _Stages,
    triggers: list[list[str]],
    env: Mapping[str, str],
    escape: str,
    reads: Reads,
) -> None:
    _flags(instruction)
    try:
        base = process_word(instruction.args[0], env, escape)
    except ExpansionError as exc:
        raise BuildPlanError(f"line {instruction.line}: {exc}") from None
    if not base:
        raise BuildPlanError(
            f"line {instruction.line}: base name ({instruction.args[0]}) should not be blank"
        )
    stage = built.by_name(base)
    if stage is not None:  # its ONBUILD triggers run here, against the stages before this one
        found = trigger_reads(triggers[stage], built.names, instruction.line)
        reads.images += found.images
        reads.fetches += found.fetches
    elif base != SCRATCH:
        reads.images.append(ImageRead(base, instruction.line, "FROM", tuple(built.names)))


def as_record(dockerfile: str, reads: Reads) -> dict[str, Any]:
    """The plan as the decision input records it (and replay reads it back)."""
    return {
        "Dockerfile": dockerfile,
        "Images": [
            {"Name": r.name, "Line": r.line, "How": r.how}
            | ({"StagesBefore": list(r.stages_before)} if r.stages_before is not None else {})
            for r in reads.images
        ],
        "Fetches": [{"Source": f.source, "Line": f.line, "How": f.how} for f in reads.fetches],
    }


def images_of(record: Mapping[str, Any]) -> Iterator[ImageRead]:
    for item in record.get("Images") or []:
        before = item.get("StagesBefore")
        yield ImageRead(str(item["Name"]), int(item["Line"]), str(item["How"]),
                        tuple(before) if before is not None else None)  # fmt: skip


def fetches_of(record: Mapping[str, Any]) -> Iterator[Fetch]:
    for item in record.get("Fetches") or []:
        yield Fetch(str(item["Source"]), int(item["Line"]), str(item["How"]))
