"""``sslterm quickstart``: the demo."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from typing import Annotated

import typer

from sslterm.cli import render
from sslterm.cli.context import service


def quickstart(
    check: Annotated[bool, typer.Option("--check", help="Exit after probing instead of staying up.")] = False,
) -> None:
    """A local HAProxy terminating TLS in front of a demo app; Ctrl-C tears it down."""
    from sslterm import quickstart as qs

    svc = service()

    def say(line: str) -> None:
        render.out.print(f"• {line}", markup=False, highlight=False)

    running = qs.start(svc, say)
    try:
        headers = running.response.get("headers")
        say("HTTPS request through HAProxy answered: " + json.dumps(
            {k: v for k, v in (headers.items() if isinstance(headers, dict) else []) if k.lower().startswith("x-")}))
        say(f"HSTS: {running.response.get('hsts')}")
        say("try it yourself:")
        render.out.print(f"    curl --cacert {running.root_ca} --resolve {qs.HOSTNAME}:{running.tls_port}:127.0.0.1 "
                         f"https://{qs.HOSTNAME}:{running.tls_port}/", markup=False)
        render.out.print(f"    curl -i http://127.0.0.1:{running.http_port}/      # 301 to HTTPS", markup=False)
        render.out.print("    sslterm status quickstart", markup=False)
        if not check:
            say("running; press Ctrl-C to stop and tear everything down")
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    finally:
        qs.tear_down(svc)
        running.app.stop()
        say("torn down: TLS disabled, HAProxy stopped, demo certificate removed")
