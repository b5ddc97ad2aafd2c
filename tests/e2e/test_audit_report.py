"""`sockspy audit report` over a real run: the CLI through both fronts, a session with its
exit code, a created container, a denial; the HTML page opened in headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support.cli import docker
from support.proxy import ProxyProcess

pytestmark = pytest.mark.e2e

StartProxy = Callable[..., ProxyProcess]

POLICY = """
[[rules]]
name = "no-image-removal"
action = "deny"
endpoints = ["image.delete"]

[[rules]]
name = "rest"
action = "allow"
"""


class Cells(HTMLParser):
    """The text of every table cell, by the class of its table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[str]] = {}
        self._table = ""
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("class") or ""
            self.tables.setdefault(self._table, [])
        self._in_cell = tag == "td"

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.tables[self._table].append(data)


def report(files: list[Path], fmt: str, out: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "sockspy", "audit", "report", *map(str, files), "--format", fmt,
         "-o", str(out)], check=True, timeout=60,
    )  # fmt: skip


def test_a_days_report_names_who_ran_what_and_renders_in_a_browser(
    start_sockspy: StartProxy, test_image: str, new_name: Callable[[], str], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    proxy = start_sockspy(policy=str(policy))
    name = new_name()
    docker(proxy.unix_host, "run", "-d", "--name", name, test_image, "sleep", "600")
    exited = docker(proxy.unix_host, "exec", name, "sh", "-c", "exit 4", check=False)
    assert exited.returncode == 4
    refused = docker(proxy.tcp_host, "rmi", "no-such-image", check=False)
    assert refused.returncode != 0
    proxy.stop()

    as_json = tmp_path / "report.json"
    report([proxy.audit_path], "json", as_json)
    data = json.loads(as_json.read_text())
    unix = next(c for c in data["clients"] if c["identity"]["front"].startswith("unix"))
    tcp = next(c for c in data["clients"] if c["identity"]["front"].startswith("tcp"))
    assert [s["exit_code"] for s in unix["sessions"] if s["endpoint"] == "exec.start"] == [4]
    assert [c["name"] for c in unix["created"] if c["kind"] == "container"] == [name]
    assert [d["rule"] for d in tcp["denials"]] == ["no-image-removal"]

    page = tmp_path / "report.html"
    report([proxy.audit_path], "html", page)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium is not None, "chromium is installed by .ci/run"
    rendered = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    cells = Cells()
    cells.feed(rendered)
    assert name in " ".join(cells.tables["created"])
    assert "sh -c exit 4" in cells.tables["sessions"] and "4" in cells.tables["sessions"]
    assert "no-image-removal" in cells.tables["denials deny"]
    assert 'id="timeline"' in rendered and "<rect" in rendered  # the browser kept the SVG
