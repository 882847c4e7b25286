"""Command-line adapter: parse, call the service, render. No logic of its own."""

from __future__ import annotations

import sys

#: what Ctrl-C before anything was saved exits with (as Typer does for an interrupted command)
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    """The ``sslterm`` command. Its modules are imported here, so that a Ctrl-C while they load (nothing has
    been done yet) exits 130 quietly instead of printing a traceback."""
    try:
        from sslterm.cli.main import main as run
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    run(argv)


__all__ = ["main"]
