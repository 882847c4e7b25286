"""Entry point: runs the Typer app and maps every sslterm error to one or two lines and an exit code."""

from __future__ import annotations

import sys

from sslterm.cli.app import app
from sslterm.cli.render import print_error
from sslterm.errors import SSLTermError

EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="sslterm")
    except SSLTermError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted: nothing was changed", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
