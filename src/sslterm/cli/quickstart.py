"""``sslterm quickstart``: the demo."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from sslterm.cli import render
from sslterm.cli.context import service


def quickstart(
    check: Annotated[bool, typer.Option("--check", help="Exit after probing instead of staying up.")] = False,
) -> None:
    """A local HAProxy terminating TLS in front of a demo app; Ctrl-C tears it down."""
    from sslterm.demo import quickstart as qs

    svc = service()

    def say(line: str) -> None:
        render.say(f"• {line}")

    running = qs.start(svc, say)
    try:
        headers = running.response.get("headers")
        say("HTTPS request through HAProxy answered: " + json.dumps(
            {k: v for k, v in (headers.items() if isinstance(headers, dict) else []) if k.lower().startswith("x-")}))
        say(f"HSTS: {running.response.get('hsts')}")
        say("try it yourself:")
        render.say(f"    curl --cacert {running.root_ca} --resolve {qs.HOSTNAME}:{running.tls_port}:127.0.0.1 "
                   f"https://{qs.HOSTNAME}:{running.tls_port}/")
        render.say(f"    curl -i http://127.0.0.1:{running.http_port}/      # 301 to HTTPS")
        if not check:  # with --check the demo is torn down at once: no command to give
            say("while the demo runs, in another terminal:")
            render.say(f"    {status_command(svc.settings.home)}")
            say("running; press Ctrl-C to stop and tear everything down")
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    finally:
        qs.tear_down(svc)
        running.app.stop()
        say("torn down: TLS disabled, HAProxy stopped, demo certificate removed")


def status_command(home: Path) -> str:
    """``sslterm status quickstart`` as it works when pasted into another shell: that shell has neither the
    demo's data directory (``make demo`` sets ``SSLTERM_HOME``) nor, perhaps, ``sslterm`` on its PATH."""
    return f"SSLTERM_HOME={shlex.quote(str(home.absolute()))} {_this_sslterm()} status quickstart"


def _this_sslterm() -> str:
    """How another shell calls the sslterm running now: ``sslterm`` when PATH finds this very program,
    else its absolute path, else this Python with ``-m sslterm``."""
    program = Path(sys.argv[0]).absolute()
    found = shutil.which("sslterm")
    if found and Path(found).resolve() == program.resolve():
        return "sslterm"
    if program.name == "sslterm" and os.access(program, os.X_OK):
        return shlex.quote(str(program))
    return f"{shlex.quote(sys.executable)} -m sslterm"
