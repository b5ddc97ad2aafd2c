"""What a classic build reads, as dockerd 20.10's builder reads its Dockerfile: the images
it takes files from and the URLs it downloads, found however the Dockerfile spells them."""

from __future__ import annotations

import json

import pytest

from sockspy.core.docker.buildplan import BuildPlanError, may_be_url, plan, trigger_reads
from sockspy.core.docker.shellwords import ExpansionError, process_word


def images(dockerfile: str, **query: str) -> list[tuple[str, str]]:
    return [(r.name, r.how) for r in plan(dockerfile.encode(), query).images]


def fetched(dockerfile: str) -> list[str]:
    return [f.source for f in plan(dockerfile.encode(), {}).fetches]


def test_from_is_expanded_with_the_args_before_it_and_the_querys_values() -> None:
    assert images("ARG B=app\nFROM $B") == [("app", "FROM")]
    assert images("ARG B=app\nARG T=1\nFROM ${B}:${T}") == [("app:1", "FROM")]
    assert images("ARG B=app\nFROM $B", buildargs=json.dumps({"B": "other"})) == [("other", "FROM")]
    assert images("ARG B\nFROM ${B:-fallback}") == [("fallback", "FROM")]
    with pytest.raises(BuildPlanError, match="blank"):  # one ARG's pairs see the ones before it
        plan(b"ARG A=x B=$A\nFROM $B", {})
    assert images("ARG A=x\nARG B=${A}y\nFROM $B") == [("xy", "FROM")]
    # A build arg the Dockerfile does not declare is not a FROM variable (proxies aside).
    with pytest.raises(BuildPlanError, match="blank"):
        plan(b"FROM $B", {"buildargs": json.dumps({"B": "x"})})
    assert images("FROM x$HTTP_PROXY", buildargs=json.dumps({"HTTP_PROXY": "y"})) == [
        ("xy", "FROM")
    ]


def test_stages_are_named_in_any_case_and_only_earlier_ones_count() -> None:
    dockerfile = "FROM base AS Build\nFROM build\nCOPY --from=BUILD /a /b\nCOPY --from=0 /a /b"
    assert images(dockerfile) == [("base", "FROM")]
    # A stage named later is an image here (the classic builder runs stage by stage).
    assert images("FROM a\nCOPY --from=later /x /y\nFROM b AS later") == [
        ("a", "FROM"), ("later", "COPY --from"), ("b", "FROM"),
    ]  # fmt: skip
    assert images("FROM scratch\nCOPY --from=img /x /y") == [("img", "COPY --from")]
    big = "9" * 20  # past int64: not an index, an image name (hex digits: an id prefix)
    assert images(f"FROM a\nCOPY --from={big} /x /y") == [("a", "FROM"), (big, "COPY --from")]
    with pytest.raises(BuildPlanError, match="no such stage"):
        plan(b"FROM a\nCOPY --from=1 /x /y", {})


def test_copy_from_is_never_expanded() -> None:
    assert images("ARG X=img\nFROM a\nCOPY --from=$X /x /y") == [
        ("a", "FROM"), ("$X", "COPY --from"),
    ]  # fmt: skip


def test_a_target_stops_the_build_at_its_stage() -> None:
    dockerfile = "FROM a AS one\nFROM b AS two\nCOPY --from=secret /x /y"
    assert images(dockerfile, target="ONE") == [("a", "FROM")]
    with pytest.raises(BuildPlanError, match="target"):
        plan(dockerfile.encode(), {"target": "three"})


def test_continuations_comments_and_the_escape_directive_are_the_parsers() -> None:
    assert images("FROM a\nCOPY \\\n# a comment\n\n  --from=img /x /y") == [
        ("a", "FROM"), ("img", "COPY --from"),
    ]  # fmt: skip
    assert images("# escape=`\nFROM a\nCOPY `\n --from=img /x /y") == [
        ("a", "FROM"), ("img", "COPY --from"),
    ]  # fmt: skip
    assert images("\ufeffFROM a\r\ncopy --from=img /x /y\r\n") == [
        ("a", "FROM"), ("img", "COPY --from"),
    ]  # fmt: skip
    # A directive after anything else is a comment; the escape stays a backslash.
    assert images("FROM a\n# escape=`\nCOPY \\\n --from=img /x /y") == [
        ("a", "FROM"), ("img", "COPY --from"),
    ]  # fmt: skip


def test_flags_are_read_byte_by_byte_with_quotes_as_extractbuilderflags_reads_them() -> None:
    assert images('FROM a\nCOPY "--from=img" /x /y') == [("a", "FROM")]  # not a flag: a source
    assert images("FROM a\nCOPY --from='im g' /x /y") == [("a", "FROM"), ("im g", "COPY --from")]
    with pytest.raises(BuildPlanError, match="unknown flag"):
        plan(b"FROM a\nCOPY --From=img /x /y", {})
    with pytest.raises(BuildPlanError, match="duplicate"):
        plan(b"FROM a\nCOPY --from=a --from=img /x /y", {})


def test_onbuild_triggers_of_an_earlier_stage_run_where_from_names_it() -> None:
    dockerfile = "FROM a AS one\nONBUILD COPY --from=img /x /y\nONBUILD ADD http://h/ /z\nFROM one"
    found = plan(dockerfile.encode(), {})
    assert [(r.name, r.how) for r in found.images] == [
        ("a", "FROM"),
        ("img", "ONBUILD COPY --from"),
    ]
    assert [(f.source, f.how) for f in found.fetches] == [("http://h/", "ONBUILD ADD")]
    # Stored only (not FROM'd in this build): this build reads nothing through them.
    assert images("FROM a\nONBUILD COPY --from=img /x /y") == [("a", "FROM")]


def test_an_images_triggers_read_what_their_instructions_name() -> None:
    reads = trigger_reads(["COPY --from=img /x /y", "ADD $U /z", "RUN true"], ["build"], 3)
    assert [(r.name, r.line) for r in reads.images] == [("img", 3)]
    assert [f.source for f in reads.fetches] == ["$U"]
    assert trigger_reads(["COPY --from=build /x /y"], ["build"], 1).images == []


def test_add_sources_that_are_or_may_become_urls() -> None:
    assert fetched("FROM a\nADD http://h/x https://h/y /d/") == ["http://h/x", "https://h/y"]
    assert fetched('FROM a\nADD ["http://h/x", "/d"]') == ["http://h/x"]
    assert fetched('FROM a\nADD ["http://h/x", "/d"] trailing') == ["http://h/x"]  # Go: 1st value
    assert fetched("FROM a\nADD src /d\nADD ./http:/x /d\nCOPY http://h/x /d") == []
    for word in ("$U", "${U}", 'h"ttp"://x', "h\\ttp://x", "'http://x'", "ht$P://x", "http$S"):
        assert may_be_url(word), word
    for word in ("src/$U", "f$x", "hx$tp", "./$U"):
        assert not may_be_url(word), word


def test_what_the_builder_refuses_is_refused() -> None:
    for dockerfile in (
        "RUN x",  # no stage
        "FROM a\nFROM b AS 1x",  # a stage name must start with a letter
        "FROM a AS x\nFROM b AS X",  # used twice
        "FROM a b",
        "FROM a\nFROBNICATE x",
        "FROM a\nCOPY only-one",
        'FROM a\nADD [1, "/d"]',
        "",
    ):
        with pytest.raises(BuildPlanError):
            plan(dockerfile.encode(), {})


@pytest.mark.parametrize(
    ("word", "expanded"),
    [
        ("plain", "plain"),
        ("he'll'o", "hello"),
        ('"$A"-${A}-$A_', "a-a-"),
        ("'$A'", "$A"),
        ('"\\$A"', "$A"),
        ("\\$A", "$A"),
        ("${A:+set}${B:+set}", "set"),
        ("${B:-${A}}", "a"),
        ("$", "$"),
        ("$1x", "x"),
    ],
)
def test_words_expand_as_the_builders_lexer_expands_them(word: str, expanded: str) -> None:
    assert process_word(word, {"A": "a"}) == expanded


def test_what_the_lexer_refuses_is_an_error() -> None:
    for word in ("'open", '"open', "${A", "${}", "${A:?}", "${A%x}"):
        with pytest.raises(ExpansionError):
            process_word(word, {"A": ""})
