"""Entry point: runs the Typer app and maps every error to one or two lines and an exit code.

A user mistake is an SSLTermError with a stable code. Anything else is a bug or an environment problem
(a database that cannot be reached, a full disk): still one line, never a traceback, unless
SSLTERM_DEBUG=1 asks for it.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys

from sslterm.cli import EXIT_INTERRUPTED
from sslterm.cli.app import app
from sslterm.cli.context import changed_anything
from sslterm.cli.render import err, print_error, say
from sslterm.errors import SSLTermError, unexpected


def main(argv: list[str] | None = None) -> None:
    sys.unraisablehook = _redeliver_interrupts
    try:
        try:
            code = _run(argv)
        finally:  # the command is over: a Ctrl-C now would only turn its exit code into "killed by SIGINT"
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:  # outside a command's own handling (while Typer reads the command line, or after)
        code = _interrupted()
    sys.exit(code)


def _interrupted() -> int:
    """The exit code of a Ctrl-C: 130 when nothing was saved; after a change was saved (and is served), 0 and
    a warning, since 130 would say nothing changed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if not changed_anything():
        return EXIT_INTERRUPTED
    say("warning[interrupted]: interrupted after the change was saved; it is in place "
        "(see: sslterm log, sslterm status)", err)
    return 0


def _redeliver_interrupts(unraisable: sys.UnraisableHookArgs) -> None:
    """A Ctrl-C that lands in a finalizer (a weakref callback, a ``__del__``) cannot propagate from there and
    would print "Exception ignored ... KeyboardInterrupt" with a traceback: deliver it again, at once, in the
    command's own code, where it is handled like any other Ctrl-C."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _thread.interrupt_main()
        return
    sys.__unraisablehook__(unraisable)


def _run(argv: list[str] | None) -> int | str | None:
    """Run the command; its exit code (Typer's, or the one of the error it raised)."""
    try:
        app(args=argv, prog_name="sslterm")
    except SystemExit as exc:
        return _interrupted() if exc.code == EXIT_INTERRUPTED else exc.code
    except SSLTermError as exc:
        print_error(exc)
        return exc.exit_code
    except Exception as exc:
        if os.environ.get("SSLTERM_DEBUG") == "1":
            raise
        print_error(unexpected(exc, hint="run again with SSLTERM_DEBUG=1 for the details"))
        return 1
    return 0
