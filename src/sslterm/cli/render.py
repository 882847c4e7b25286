"""Presentation: Rich tables for people, JSON for scripts, short error lines for both."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sslterm.certs import CertSummary, Finding
from sslterm.errors import CertificateError, SSLTermError

# Piped output is for scripts and grep: never cut a name or fingerprint to a terminal width there.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 100_000)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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
    line = Text(f"{severity}[{code}]", style="red" if severity == "error" else "yellow")
    line.append(f": {message}", style="")
    stream.print(line)
    if hint:
        stream.print(Text(f"  hint: {hint}"))


def short_name(rfc4514: str) -> str:
    """The CN of an RFC 4514 name for tables; the whole name when it has none."""
    for part in rfc4514.split(","):
        if part.startswith("CN="):
            return part[3:]
    return rfc4514


def cells(*values: str) -> list[Text]:
    """Table cells from data: shown as they are, never read as Rich markup (a subject may hold '[/x]')."""
    return [Text(value) for value in values]


def expiry_cell(summary: CertSummary, now: datetime) -> Text:
    days = summary.days_left(now)
    colour = "red" if days < 7 else "yellow" if days < 30 else "green"
    return Text(f"{summary.not_after:%Y-%m-%d} ({days} d)", style=colour)


def certificates_table(items: Iterable[CertSummary], now: datetime) -> Table:
    table = Table("name", "subject", "names (SAN)", "issuer", "expires", "key", "attached to")
    for s in items:
        sans = ", ".join(s.sans[:3]) + (f" +{len(s.sans) - 3}" if len(s.sans) > 3 else "")
        table.add_row(*cells(s.name, short_name(s.subject), sans, short_name(s.issuer)), expiry_cell(s, now),
                      *cells(f"{s.key_type}-{s.key_bits}", ", ".join(s.attached_to) or "-"))
    return table


def certificate_detail(s: CertSummary, now: datetime) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("name", s.name), ("subject", s.subject), ("names (SAN)", ", ".join(s.sans) or "-"),
        ("issuer", s.issuer), ("valid from", f"{s.not_before:%Y-%m-%d %H:%M} UTC"),
        ("expires", expiry_cell(s, now)), ("key", f"{s.key_type}-{s.key_bits}"),
        ("fingerprint (SHA-256)", s.fingerprint_sha256), ("attached to", ", ".join(s.attached_to) or "-"),
    ]
    for label, value in rows:
        table.add_row(label, value if isinstance(value, Text) else Text(value))
    for i, entry in enumerate(s.chain, 1):
        table.add_row(f"chain {i}", Text(f"{entry.subject}\n  issued by {entry.issuer}"))
    return table
