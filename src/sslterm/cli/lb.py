"""``sslterm lb ...``"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from sslterm.cli import render
from sslterm.cli.context import service
from sslterm.providers.registry import KINDS

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="A registered load balancer.")]
#: The kinds that exist, from the registry: a new provider shows up in --help by itself.
KIND_CHOICES = " | ".join(sorted(KINDS))


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Its name: 1-64 of A-Z a-z 0-9 . _ -")],
    kind: Annotated[str, typer.Option(metavar="KIND", help=f"The load balancer kind: {KIND_CHOICES}.")],
    bind: Annotated[str | None, typer.Option(metavar="HOST:PORT", help="haproxy (managed): TLS bind; its port is "
                                             "the default --lb-port.")] = None,
    http_bind: Annotated[str | None, typer.Option(metavar="HOST:PORT", help="haproxy (managed): plain HTTP "
                                                  "bind.")] = None,
    backend: Annotated[list[str] | None, typer.Option(metavar="HOST[:PORT]", help="haproxy (managed): an "
                                                      "instance; repeat for more.")] = None,
    config: Annotated[Path | None, typer.Option(metavar="FILE", help="haproxy (attached): the existing "
                                                "configuration.")] = None,
    socket: Annotated[Path | None, typer.Option(metavar="PATH", help="haproxy (attached): runtime API "
                                                "socket.")] = None,
    master_socket: Annotated[Path | None, typer.Option(metavar="PATH", help="haproxy (attached): master CLI "
                                                       "socket.")] = None,
    aws_name: Annotated[str | None, typer.Option("--name", metavar="AWS-NAME", help="aws-elb, aws-alb: the load "
                                                 "balancer's name in AWS.")] = None,
    region: Annotated[str | None, typer.Option(metavar="REGION", help="aws-*: its region (default: boto3's "
                                               "own setting); rackspace: DFW|ORD|IAD|LON|SYD|HKG.")] = None,
    cert_store: Annotated[str | None, typer.Option(metavar="acm|iam", help="aws-*: where certificates are kept "
                                                   "(default acm).")] = None,
    target_group: Annotated[str | None, typer.Option(metavar="ARN", help="aws-alb: where TLS traffic goes "
                                                     "(default: where its plain listener forwards).")] = None,
    lb_id: Annotated[str | None, typer.Option(metavar="ID", help="rackspace: the load balancer's id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a load balancer (a managed HAProxy is started, serving plain HTTP; a cloud one must exist)."""
    options: dict[str, Any] = {
        "bind": bind, "http_bind": http_bind, "backends": backend or [],
        "config": str(config.absolute()) if config else None, "socket": str(socket.absolute()) if socket else None,
        "master_socket": str(master_socket.absolute()) if master_socket else None,
        "name": aws_name, "region": region, "cert_store": cert_store, "target_group": target_group, "lb_id": lb_id,
    }
    result = service().add_load_balancer(name, kind, options)
    if as_json:
        render.print_json(result)
    else:
        render.say(f"added load balancer {name} ({kind}); turn TLS on with: sslterm enable {name} --cert NAME")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every load balancer and what it terminates."""
    items = service().list_load_balancers()
    if as_json:
        render.print_json(items)
    elif not items:
        render.say("no load balancers yet; add one with: sslterm lb add NAME --kind haproxy --bind HOST:PORT "
                   "--backend HOST:PORT")
    else:
        table = render.data_table("name", "kind", "TLS listeners", "certificates")
        for lb in items:
            ports = ", ".join(f":{x['lb_port']}" for x in _listeners(lb)) or "-"
            table.add_row(*render.cells(str(lb["name"]), str(lb["kind"]), ports, ", ".join(_names(lb)) or "-"))
        render.out.print(table)


@app.command("show")
def show(name: NameArg, as_json: JsonOpt = False) -> None:
    """One load balancer: options, listeners and their certificates."""
    lb = service().show_load_balancer(name)
    if as_json:
        render.print_json(lb)
    else:
        render.out.print(_detail(lb))


@app.command("remove")
def remove(name: NameArg) -> None:
    """Forget a load balancer (refused while it terminates TLS); a managed HAProxy is stopped."""
    service().remove_load_balancer(name)
    render.say(f"removed load balancer {name}")


def _listeners(lb: Mapping[str, object]) -> list[dict[str, Any]]:
    listeners = lb.get("listeners")
    return [x for x in listeners if isinstance(x, dict)] if isinstance(listeners, list) else []


def _names(lb: Mapping[str, object]) -> list[str]:
    names = lb.get("certificates")
    return [str(n) for n in names] if isinstance(names, list) else []


def _detail(lb: Mapping[str, object]) -> Table:
    """Label / value rows, as ``cert show`` prints them: the options as given, then each listener."""
    table = render.detail_table()
    rows = [("name", str(lb["name"])), ("kind", str(lb["kind"]))]
    options = lb.get("options")
    rows += [(key.replace("_", " "), _value(value)) for key, value in
             (options.items() if isinstance(options, dict) else [])]
    listeners = _listeners(lb)
    rows += [row for listener in listeners for row in _listener_rows(listener)]
    if not listeners:
        rows.append(("TLS", f"off; turn it on with: sslterm enable {lb['name']} --cert NAME"))
    for label, value in rows:
        table.add_row(*render.cells(label, value))
    return table


def _listener_rows(x: Mapping[str, Any]) -> list[tuple[str, str]]:
    """One listener: where TLS ends and where the traffic goes on to, its options, its certificates
    (the first answers clients without SNI)."""
    port = f"instance port {x['instance_port']}" if x["instance_port"] else "each backend's own port (80 if none)"
    certs = [f"{c['name']} (sha256 {str(c['fingerprint_sha256'])[:16]}...)" for c in x.get("certificates", [])]
    return [
        (f"listener :{x['lb_port']}", f"HTTPS :{x['lb_port']} -> {x['instance_protocol']} on {port}"),
        ("  redirect HTTP", _value(x["redirect_http"])),
        ("  HSTS", _value(x["hsts"])),
        ("  TLS profile", str(x["tls_profile"])),
        ("  certificates", ", ".join(certs) + (" (the first is the default; the others by SNI)"
                                               if len(certs) > 1 else "") if certs else "-"),
    ]


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "-"
    return "-" if value is None else str(value)
