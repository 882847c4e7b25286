"""``sslterm log``"""

from __future__ import annotations

from typing import Annotated

import typer

from sslterm import shapes
from sslterm.cli import render
from sslterm.cli.context import service


def show_log(
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="How many entries, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The audit log: every change sslterm made, newest first."""
    entries = service().audit_log(limit)
    if as_json:
        render.print_json([shapes.audit(e) for e in entries])
        return
    if not entries:
        render.say("the audit log is empty: nothing has been changed yet")
        return
    table = render.data_table("when (UTC)", "action", "target", render.fingerprint_column("fingerprint"), "detail")
    for e in entries:
        table.add_row(*render.cells(f"{e.at:%Y-%m-%d %H:%M:%S}", e.action, e.target, (e.fingerprint or "")[:16],
                                    e.detail))
    render.out.print(table)
