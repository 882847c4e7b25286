"""Presentation: Rich tables for people, JSON for scripts, short error lines for both."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import datetime

from rich.console import Console
from rich.table import Table

from sslterm.certs import CertSummary, Finding
from sslterm.errors import CertificateError, SSLTermError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: object) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def print_error(exc: SSLTermError) -> None:
    if isinstance(exc, CertificateError):
        print_findings(exc.findings, stream=err)
        return
    err.print(f"[red]error[{exc.code}][/red]: {exc.message}", markup=True, highlight=False)
    if exc.hint:
        err.print(f"  hint: {exc.hint}", markup=False)


def print_findings(findings: Iterable[Finding], stream: Console = err) -> None:
    for f in sorted(findings, key=lambda f: not f.is_error):
        colour = "red" if f.is_error else "yellow"
        stream.print(f"[{colour}]{f.severity.value}[{f.code}][/{colour}]: ", end="", markup=True)
        stream.print(f.message, markup=False)
        if f.hint:
            stream.print(f"  hint: {f.hint}", markup=False)


def expiry_cell(summary: CertSummary, now: datetime) -> str:
    days = summary.days_left(now)
    colour = "red" if days < 7 else "yellow" if days < 30 else "green"
    return f"[{colour}]{summary.not_after:%Y-%m-%d} ({days} d)[/{colour}]"


def certificates_table(items: Iterable[CertSummary], now: datetime) -> Table:
    table = Table("name", "subject", "names (SAN)", "issuer", "expires", "key", "attached to")
    for s in items:
        sans = ", ".join(s.sans[:3]) + (f" +{len(s.sans) - 3}" if len(s.sans) > 3 else "")
        table.add_row(s.name, s.subject, sans, s.issuer, expiry_cell(s, now), f"{s.key_type}-{s.key_bits}",
                      ", ".join(s.attached_to) or "-")
    return table


def certificate_detail(s: CertSummary, now: datetime) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("name", s.name), ("subject", s.subject), ("names (SAN)", ", ".join(s.sans) or "-"),
        ("issuer", s.issuer), ("valid from", f"{s.not_before:%Y-%m-%d %H:%M} UTC"),
        ("expires", expiry_cell(s, now)), ("key", f"{s.key_type}-{s.key_bits}"),
        ("fingerprint (SHA-256)", s.fingerprint_sha256), ("attached to", ", ".join(s.attached_to) or "-"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    for i, entry in enumerate(s.chain, 1):
        table.add_row(f"chain {i}", f"{entry.subject}\n  issued by {entry.issuer}")
    return table
