"""``sslterm enable``, ``disable`` and ``status``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from sslterm.cli import render
from sslterm.cli.context import service

if TYPE_CHECKING:
    from sslterm.deployments import Outcome

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
PortOpt = Annotated[int | None, typer.Option(min=1, max=65535)]
EXIT_DRIFT = 9


def _print_outcome(outcome: Outcome, as_json: bool, dry_run: bool) -> None:
    if as_json:
        served = [{"lb_port": s.target.port, "server_name": s.target.server_name, "certificate": s.target.certificate,
                   "fingerprint_sha256": s.fingerprint} for s in (outcome.report.served if outcome.report else [])]
        render.print_json({**outcome.plan.as_json(), "dry_run": dry_run, "served": served})
        return
    if outcome.plan.empty:
        render.out.print(f"{outcome.plan.lb}: nothing to change")
        return
    render.out.print(("plan (dry run, nothing touched)" if dry_run else "applied") + f" on {outcome.plan.lb}:")
    for step in outcome.plan.steps:
        render.out.print(f"  - {step.summary}", markup=False)
    for s in outcome.report.served if outcome.report else []:
        render.out.print(f"  served on :{s.target.port} ({s.target.server_name or 'no SNI'}): {s.target.certificate} "
                         f"sha256 {(s.fingerprint or '')[:16]}... verified by a TLS handshake", markup=False)


def enable(
    lb: str,
    cert: Annotated[str, typer.Option(help="The stored certificate to serve.")],
    lb_port: PortOpt = None,
    instance_port: PortOpt = None,
    instance_protocol: Annotated[str | None, typer.Option(help="HTTP (default) or HTTPS.")] = None,
    redirect_http: Annotated[bool | None, typer.Option("--redirect-http/--no-redirect-http")] = None,
    hsts: Annotated[bool | None, typer.Option("--hsts/--no-hsts")] = None,
    tls_profile: Annotated[str | None, typer.Option(help="modern | intermediate (default) | old")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan; touch nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Terminate TLS on a load balancer with a stored certificate (several per listener, by SNI)."""
    outcome = service().enable(lb, cert, lb_port=lb_port, instance_port=instance_port,
                               instance_protocol=instance_protocol, redirect_http=redirect_http, hsts=hsts,
                               tls_profile=tls_profile, dry_run=dry_run)
    _print_outcome(outcome, as_json, dry_run)


def disable(
    lb: str,
    lb_port: PortOpt = None,
    cert: Annotated[str | None, typer.Option(help="Only drop this certificate from the listener.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the plan; touch nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove TLS termination; the load balancer keeps serving plain HTTP as before."""
    outcome = service().disable(lb, lb_port=lb_port, cert_name=cert, dry_run=dry_run)
    _print_outcome(outcome, as_json, dry_run)


def status(lb: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False) -> None:
    """Configured versus actually served, per certificate; exits 9 on any drift."""
    rows = service().status(lb)
    if as_json:
        render.print_json([r.as_json() for r in rows])
    else:
        table = Table("load balancer", "port", "certificate", "expected", "served", "expires in", "state")
        for r in rows:
            colour = "green" if r.state == "ok" else "red"
            table.add_row(*render.cells(r.load_balancer, str(r.lb_port), r.certificate, (r.expected or "-")[:16],
                                        (r.served or r.error or "-")[:40], f"{r.days_left} d"),
                          Text(r.state, style=colour))
        render.out.print(table if rows else "no TLS termination configured")
    if any(r.state != "ok" for r in rows):
        raise typer.Exit(EXIT_DRIFT)
