"""`sockspy audit report` as JSON, Markdown or one self-contained HTML page.

The HTML page has no external resource (no script, font or stylesheet to fetch): a
timeline drawn as inline SVG (exchanges per minute, denials in red) and a section per
client with its endpoints, denials, sessions and created objects. Every value from the
log is escaped: a log is untrusted input (a container name is whatever its creator
chose). Markdown, read in a terminal as often as rendered, gets what a client wrote
through `view.printable`: no control sequence of it reaches the screen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from sockspy.core.audit.view import printable


def to_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def _md(value: Any) -> str:
    text = (
        ""
        if value is None
        else " ".join(map(str, value))
        if isinstance(value, list)
        else str(value)
    )
    return printable(text.replace("|", "\\|").replace("\n", " "))


def to_markdown(report: Mapping[str, Any]) -> str:
    out = [
        "# sockspy audit report",
        "",
        f"{report['exchanges']} exchanges from {report['from']} to {report['to']}, "
        f"{report['denied']} denied, {len(report['clients'])} clients.",
        "",
        "| client | requests | denied | sessions | created | first | last |",
        "|---|---|---|---|---|---|---|",
    ]
    for client in report["clients"]:
        out.append(
            f"| {_md(client['client'])} | {client['requests']} | {client['denied']} | "
            f"{len(client['sessions'])} | {len(client['created'])} | {client['first']} | "
            f"{client['last']} |"
        )
    for client in report["clients"]:
        out += ["", f"## {_md(client['client'])}", ""]
        out += [f"- {key}: `{_md(value)}`" for key, value in client["identity"].items()]
        out += ["", "| endpoint | requests |", "|---|---|"]
        out += [f"| {_md(name)} | {count} |" for name, count in client["endpoints"].items()]
        if client["denials"]:
            out += ["", "Denials:", "", "| time | endpoint | rule | reason |", "|---|---|---|---|"]
            out += [
                f"| {d['time']} | {_md(d['endpoint'])} | {_md(d['rule'])} | {_md(d['reason'])} |"
                for d in client["denials"]
            ]
        if client["sessions"]:
            out += [
                "",
                "Sessions:",
                "",
                "| time | endpoint | command | exit | ms |",
                "|---|---|---|---|---|",
            ]
            out += [
                f"| {s['time']} | {_md(s['endpoint'])} | {_md(s.get('command'))} | "
                f"{_md(s.get('exit_code'))} | {_md(s.get('duration_ms'))} |"
                for s in client["sessions"]
            ]
        if client["created"]:
            out += ["", "Created:", "", "| time | kind | name | id | as |", "|---|---|---|---|---|"]
            out += [
                f"| {c['time']} | {_md(c['kind'])} | {_md(c.get('name'))} | {_md(c['id'][:19])} | "
                f"{_md(c.get('run'))} |"
                for c in client["created"]
            ]
    return "\n".join(out) + "\n"


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3} .deny{color:#b00020;font-weight:600} code{font-size:90%}
section{border-top:2px solid #ddd;margin-top:1.5em} svg{border:1px solid #ddd}
"""


def _cell(value: Any) -> str:
    if isinstance(value, list):
        value = " ".join(map(str, value))
    return f"<td>{escape('' if value is None else str(value))}</td>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], css: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f"<tr>{''.join(_cell(v) for v in row)}</tr>" for row in rows)
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _timeline(points: Sequence[Mapping[str, Any]]) -> str:
    if not points:
        return "<p>No exchanges.</p>"
    width, height = 800, 120
    top = max(p["allowed"] + p["denied"] for p in points) or 1
    step = width / len(points)
    bars = []
    for i, point in enumerate(points):
        x, bar = i * step, max(step - 1, 1)
        allowed_h = height * point["allowed"] / top
        denied_h = height * point["denied"] / top
        title = escape(f"{point['minute']}: {point['allowed']} allowed, {point['denied']} denied")
        bars.append(
            f"<g><title>{title}</title>"
            f'<rect x="{x:.1f}" y="{height - allowed_h - denied_h:.1f}" width="{bar:.1f}" '
            f'height="{denied_h:.1f}" fill="#b00020"/>'
            f'<rect x="{x:.1f}" y="{height - allowed_h:.1f}" width="{bar:.1f}" '
            f'height="{allowed_h:.1f}" fill="#4a7"/></g>'
        )
    first, last = escape(points[0]["minute"]), escape(points[-1]["minute"])
    return (
        f'<svg id="timeline" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="exchanges per minute">{"".join(bars)}</svg>'
        f"<p>{first} … {last}: exchanges per minute (green allowed, red denied)</p>"
    )


def to_html(report: Mapping[str, Any]) -> str:
    clients = report["clients"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>sockspy audit report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>sockspy audit report</h1>",
        f"<p>{report['exchanges']} exchanges from {escape(report['from'])} to "
        f'{escape(report["to"])}, <span class="deny">{report["denied"]} denied</span>, '
        f"{len(clients)} clients.</p>",
        "<h2>Timeline</h2>",
        _timeline(report["timeline"]),
        "<h2>Clients</h2>",
        _table(
            ["client", "requests", "denied", "sessions", "created", "first", "last"],
            [
                [
                    c["client"],
                    c["requests"],
                    c["denied"],
                    len(c["sessions"]),
                    len(c["created"]),
                    c["first"],
                    c["last"],
                ]
                for c in clients
            ],
            "clients",
        ),
    ]
    for n, client in enumerate(clients):
        parts.append(f'<section id="client-{n}"><h2>{escape(client["client"])}</h2>')
        parts.append(_table(["fact", "value"], list(client["identity"].items()), "identity"))
        parts.append(
            _table(["endpoint", "requests"], list(client["endpoints"].items()), "endpoints")
        )
        if client["denials"]:
            parts.append("<h3>Denials</h3>")
            rows = [[d["time"], d["endpoint"], d["rule"], d["reason"]] for d in client["denials"]]
            parts.append(_table(["time", "endpoint", "rule", "reason"], rows, "denials deny"))
        if client["sessions"]:
            parts.append("<h3>Sessions</h3>")
            rows = [
                [s["time"], s["endpoint"], s.get("command"), s.get("exit_code"),
                 s.get("duration_ms"), s.get("transcript")]
                for s in client["sessions"]
            ]  # fmt: skip
            parts.append(
                _table(
                    ["time", "endpoint", "command", "exit", "ms", "transcript"], rows, "sessions"
                )
            )
        if client["created"]:
            parts.append("<h3>Created</h3>")
            rows = [
                [c["time"], c["kind"], c.get("name"), c["id"], c.get("run")]
                for c in client["created"]
            ]
            parts.append(_table(["time", "kind", "name", "id", "asked as"], rows, "created"))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
