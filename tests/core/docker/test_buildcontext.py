"""Which Dockerfile dockerd finds in a build context: the tar as Go's reader reads it, the
directory as moby's Unpack writes it, and the file the classic builder then opens."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile

import pytest
from support.contexts import context

from sockspy.core.docker.buildcontext import BuildContextError, dockerfile_of
from sockspy.core.docker.tarreader import TarReader

LIMIT = 64 << 20


def found(archive: bytes, dockerfile: str = "") -> bytes:
    return dockerfile_of(archive, dockerfile, LIMIT)


def refused(archive: bytes, dockerfile: str = "") -> str:
    with pytest.raises(BuildContextError) as caught:
        found(archive, dockerfile)
    return str(caught.value)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_every_tar_format_gives_the_dockerfile_long_names_included(fmt: int) -> None:
    name = "a" * 90 + "/" + "b" * 50 + "/Dockerfile"  # a USTAR prefix, a GNU or PAX long name
    assert found(context({name: b"FROM x\n"}, fmt), name) == b"FROM x\n"


@pytest.mark.parametrize("squeeze", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_contexts_are_read_as_dockerd_reads_them(squeeze: object) -> None:
    archive = context({"Dockerfile": b"FROM z\n"})
    assert found(squeeze(archive)) == b"FROM z\n"  # type: ignore[operator]
    # Concatenated members are one stream (gzip -c a b; Go's multistream reader).
    split = len(archive) // 2
    assert found(gzip.compress(archive[:split]) + gzip.compress(archive[split:])) == b"FROM z\n"


def test_the_last_entry_for_a_path_wins_however_its_name_is_spelled() -> None:
    files = {"Dockerfile": b"FROM first\n", "./x/../Dockerfile": b"FROM last\n"}
    assert found(context(files)) == b"FROM last\n"
    files = {"Dockerfile": b"FROM first\n", "/../Dockerfile": b"FROM rooted\n"}
    assert found(context(files)) == b"FROM rooted\n"  # Clean stops at the root


def test_the_lower_case_dockerfile_is_taken_only_when_the_default_is_missing() -> None:
    assert found(context({"dockerfile": b"FROM lower\n"})) == b"FROM lower\n"
    assert found(context({"dockerfile": b"FROM lower\n"}), "Dockerfile") == b"FROM lower\n"
    both = context({"dockerfile": b"FROM lower\n", "Dockerfile": b"FROM upper\n"})
    assert found(both) == b"FROM upper\n"
    assert "Cannot locate" in refused(context({"dockerfile": b"FROM x\n"}), "./Dockerfile")


def test_a_named_dockerfile_is_cleaned_inside_the_context() -> None:
    files = {"Dockerfile": b"FROM root\n", "ci/build.df": b"FROM named\n"}
    assert found(context(files), "/ci/../ci/./build.df") == b"FROM named\n"
    assert "outside" in refused(context(files), "../build.df")


def test_a_directory_replaced_by_a_file_takes_its_dockerfile_with_it() -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, data in (("sub/Dockerfile", b"FROM x\n"), ("sub", b"file")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    assert "Cannot locate" in refused(out.getvalue(), "sub/Dockerfile")


def test_links_on_the_way_to_the_dockerfile_are_refused_not_followed() -> None:
    assert "symbolic link" in refused(context({"real": b"FROM x\n", "Dockerfile": b"->real"}))
    linked_dir = {"d/Dockerfile": b"FROM x\n", "e": b"->d"}
    assert "symbolic link" in refused(context(linked_dir), "e/Dockerfile")
    through = {"e": b"->/", "e/Dockerfile": b"FROM x\n"}
    assert "written through" in refused(context(through))


def test_a_context_the_cli_ends_right_after_its_last_entrys_data_is_whole() -> None:
    # docker build -f <outside the context>: the CLI appends the Dockerfile and stops,
    # with neither padding nor end blocks; Go's reader takes that as the end.
    archive = context({"f": b"data", ".dockerfile.abc": b"FROM x\n"})
    cut = archive.index(b"FROM x\n") + len(b"FROM x\n")
    assert found(archive[:cut], ".dockerfile.abc") == b"FROM x\n"
    assert "ends inside" in refused(archive[: cut - 1], ".dockerfile.abc")
    assert "ends inside" in refused(archive[:1100], ".dockerfile.abc")  # inside a header


def test_the_dockerfile_may_arrive_in_any_number_of_pieces() -> None:
    text = b"FROM x\n" + b"# " + b"y" * 3000 + b"\n"
    archive = gzip.compress(context({"f": b"z" * 5000, "Dockerfile": text}))
    reader = TarReader(lambda name: name == b"Dockerfile", 1 << 20)
    raw = gzip.decompress(archive)
    for i in range(0, len(raw), 7):
        reader.feed(raw[i : i + 7])
    reader.close()
    assert bytes(reader.entries[-1].data or b"") == text


@pytest.mark.parametrize("squeeze", [gzip.compress, bz2.compress, lzma.compress])
def test_an_expansion_past_the_limit_is_refused(squeeze: object) -> None:
    bomb = squeeze(context({"big": b"\0" * (2 << 20), "Dockerfile": b"FROM x\n"}))  # type: ignore[operator]
    with pytest.raises(BuildContextError, match="expands past"):
        dockerfile_of(bomb, "", 1 << 20)


def test_what_is_not_a_tar_is_refused() -> None:
    assert "Cannot locate" in refused(b"")  # an empty context: nothing to build
    assert "checksum" in refused(b"x" * 1024)
    assert "does not decompress" in refused(b"\x1f\x8b\x08" + b"garbage" * 10)
