"""``sslterm lb ...``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sslterm.cli import render
from sslterm.cli.context import service

app = typer.Typer(no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


@app.command("add")
def add(
    name: str,
    kind: Annotated[str, typer.Option(help="haproxy | aws-elb | aws-alb | rackspace")],
    bind: Annotated[str | None, typer.Option(help="haproxy (managed): TLS bind HOST:PORT; its port is the "
                                             "default --lb-port.")] = None,
    http_bind: Annotated[str | None, typer.Option(help="haproxy (managed): plain HTTP bind HOST:PORT.")] = None,
    backend: Annotated[list[str] | None, typer.Option(help="haproxy (managed): an instance HOST[:PORT]; "
                                                      "repeat for more.")] = None,
    config: Annotated[Path | None, typer.Option(help="haproxy (attached): the existing configuration.")] = None,
    socket: Annotated[Path | None, typer.Option(help="haproxy (attached): runtime API socket.")] = None,
    master_socket: Annotated[Path | None, typer.Option(help="haproxy (attached): master CLI socket.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a load balancer (a managed HAProxy is started, serving plain HTTP)."""
    options: dict[str, Any] = {
        "bind": bind, "http_bind": http_bind, "backends": backend or [],
        "config": str(config.absolute()) if config else None, "socket": str(socket.absolute()) if socket else None,
        "master_socket": str(master_socket.absolute()) if master_socket else None,
    }
    result = service().add_load_balancer(name, kind, {k: v for k, v in options.items() if v})
    if as_json:
        render.print_json(result)
    else:
        render.out.print(f"added load balancer {name} ({kind})", markup=False)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every load balancer and what it terminates."""
    items = service().list_load_balancers()
    if as_json:
        render.print_json(items)
        return
    table = Table("name", "kind", "TLS listeners", "certificates")
    for lb in items:
        listeners = lb["listeners"]
        assert isinstance(listeners, list)
        ports = ", ".join(f":{x['lb_port']}" for x in listeners) or "-"
        certs = lb["certificates"]
        assert isinstance(certs, list)
        table.add_row(*render.cells(str(lb["name"]), str(lb["kind"]), ports, ", ".join(certs) or "-"))
    render.out.print(table)


@app.command("show")
def show(name: str, as_json: JsonOpt = False) -> None:
    """One load balancer: options and listeners."""
    lb = service().show_load_balancer(name)
    if as_json:
        render.print_json(lb)
    else:
        render.out.print_json(data=lb)


@app.command("remove")
def remove(name: str) -> None:
    """Forget a load balancer (refused while it terminates TLS); a managed HAProxy is stopped."""
    service().remove_load_balancer(name)
    render.out.print(f"removed load balancer {name}", markup=False)
