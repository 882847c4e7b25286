"""``sslterm serve``"""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    listen: Annotated[str, typer.Option(metavar="HOST:PORT", help=(
        "Where to listen: an IP address or localhost, and a port. Anything but loopback needs --tls-cert."))
    ] = "127.0.0.1:8700",
    tls_cert: Annotated[str | None, typer.Option(metavar="NAME", help=(
        "Serve over TLS with this stored certificate."))] = None,
    apply_every: Annotated[float, typer.Option(min=0, metavar="SECONDS", help=(
        "Run `sslterm apply` this often (0: never); it finishes what a crash left, applies pending changes "
        "and restarts a managed HAProxy that died."))] = 300.0,
) -> None:
    """The REST API (/api/v1) and web UI, with the token in SSLTERM_API_TOKEN; until Ctrl-C."""
    from sslterm.api.server import serve as run  # FastAPI and uvicorn only for this command
    from sslterm.settings import from_environment

    run(from_environment(), listen=listen, tls_cert=tls_cert, apply_every=apply_every)
