"""Presentation: Rich tables for people, JSON for scripts, short error lines for both.

Every piece of text that reaches a person goes through :func:`safe` here, and only here: subjects, names
and issuers come from certificates anyone can make, and error text comes from remote APIs and HAProxy, so
an escape sequence, a bell, a newline or a right-to-left override in them must show as a visible escape
instead of acting on the terminal (recolouring it, faking an extra line, reversing a name). ``--json``
prints the exact data: ``json.dumps`` escapes control characters itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from sslterm.certs import CertSummary, Finding
from sslterm.errors import CertificateError, SSLTermError
from sslterm.text import escape_controls, short_name

# Piped output is for scripts and grep: never cut a name or fingerprint to a terminal width there.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 100_000)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def safe(text: object) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``, ``\\u202e``): printable as it
    is on any terminal, one line, in the order it is stored."""
    return escape_controls(text)


def say(text: str, stream: Console | None = None) -> None:
    """One line of human output, through :func:`safe`, never read as Rich markup."""
    (stream or out).print(Text(safe(text)))


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def print_error(exc: SSLTermError) -> None:
    if isinstance(exc, CertificateError):
        print_findings(exc.findings, stream=err)
        return
    _problem_line(err, "error", exc.code, exc.message, exc.hint)


def print_findings(findings: Iterable[Finding], stream: Console = err) -> None:
    for f in sorted(findings, key=lambda f: not f.is_error):
        _problem_line(stream, f.severity.value, f.code, f.message, f.hint)


def _problem_line(stream: Console, severity: str, code: str, message: str, hint: str | None) -> None:
    """``error[code]: message`` and an optional ``  hint: ...`` line; never markup from the message."""
    line = Text(f"{severity}[{safe(code)}]", style="red" if severity == "error" else "yellow")
    line.append(f": {safe(message)}", style="")
    stream.print(line)
    if hint:
        say(f"  hint: {hint}", stream)


def cells(*values: str) -> list[Text]:
    """Table cells from data: never read as Rich markup (a subject may hold '[/x]'), controls escaped."""
    return [Text(safe(value)) for value in values]


def data_table(*headers: str | Column) -> Table:
    """A table whose cells fold onto more lines in a narrow terminal and are never cut: a cut name or
    fingerprint (``169eefa3…``) can pass for another one."""
    return Table(*(Column(h, overflow="fold") if isinstance(h, str) else h for h in headers))


def detail_table() -> Table:
    """Label / value rows (``cert show``, ``lb show``); values fold, never cut, like :func:`data_table`."""
    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def fingerprint_column(header: str, digits: int = 16) -> Column:
    """A column of fingerprints cut to ``digits`` by the caller, and shown at that width whatever the terminal."""
    return Column(header, no_wrap=True, min_width=digits)


def expiry_cell(summary: CertSummary, now: datetime) -> Text:
    colour = {"expired": "red", "urgent": "red", "soon": "yellow"}.get(summary.urgency(now), "green")
    return Text(f"{summary.not_after:%Y-%m-%d} ({summary.days_left(now)} d)", style=colour)


def certificates_table(items: Iterable[CertSummary], now: datetime) -> Table:
    table = data_table("name", "subject", "names (SAN)", "issuer", "expires", "key", "attached to")
    for s in items:
        sans = ", ".join(s.sans[:3]) + (f" +{len(s.sans) - 3}" if len(s.sans) > 3 else "")
        table.add_row(*cells(s.name, short_name(s.subject), sans, short_name(s.issuer)), expiry_cell(s, now),
                      *cells(f"{s.key_type}-{s.key_bits}", ", ".join(s.attached_to) or "-"))
    return table


def certificate_detail(s: CertSummary, now: datetime) -> Table:
    table = detail_table()
    rows: list[tuple[str, str | Text]] = [
        ("name", s.name), ("subject", s.subject), ("names (SAN)", ", ".join(s.sans) or "-"),
        ("issuer", s.issuer), ("valid from", f"{s.not_before:%Y-%m-%d %H:%M} UTC"),
        ("expires", expiry_cell(s, now)), ("key", f"{s.key_type}-{s.key_bits}"),
        ("fingerprint (SHA-256)", s.fingerprint_sha256), ("attached to", ", ".join(s.attached_to) or "-"),
    ]
    for label, value in rows:
        table.add_row(label, value if isinstance(value, Text) else Text(safe(value)))
    for i, entry in enumerate(s.chain, 1):
        table.add_row(f"chain {i}", Text(f"{safe(entry.subject)}\n  issued by {safe(entry.issuer)}"))
    return table
