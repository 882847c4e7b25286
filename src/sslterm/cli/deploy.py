"""``sslterm enable``, ``disable``, ``apply`` and ``status``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column
from rich.text import Text

from sslterm import shapes
from sslterm.cli import render
from sslterm.cli.context import service

if TYPE_CHECKING:
    from sslterm.service.rollout import CertStatus, Outcome

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
LbArg = Annotated[str, typer.Argument(metavar="LB", help="A registered load balancer (see: sslterm lb list).")]
LbPortOpt = Annotated[int | None, typer.Option(min=1, max=65535, metavar="PORT", help=(
    "The TLS port on the load balancer (default: the port of its --bind, else 443)."))]
InstancePortOpt = Annotated[int | None, typer.Option(min=1, max=65535, metavar="PORT", help=(
    "The port on the instances that decrypted traffic goes to (default: each backend's own port, else 80)."))]
InstanceProtocolOpt = Annotated[str | None, typer.Option(metavar="HTTP|HTTPS", help=(
    "How traffic goes on to the instances (default: HTTP)."))]
RedirectOpt = Annotated[bool | None, typer.Option("--redirect-http/--no-redirect-http", help=(
    "Answer plain HTTP with a redirect to HTTPS (default: as the listener has it; off on a new one)."))]
HstsOpt = Annotated[bool | None, typer.Option("--hsts/--no-hsts", help=(
    "Send Strict-Transport-Security with HTTPS answers (default: as the listener has it; off on a new one)."))]
ProfileOpt = Annotated[str | None, typer.Option(metavar="PROFILE", help=(
    "Mozilla's TLS profile: modern, intermediate (default) or old."))]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the plan; touch nothing.")]
EXIT_DRIFT = 9
FINGERPRINT_SHOWN = 16  # hex digits of a SHA-256 fingerprint in the table: the same for expected and served


def _print_outcome(outcome: Outcome, as_json: bool, dry_run: bool) -> None:
    if as_json:
        render.print_json(shapes.outcome(outcome, dry_run=dry_run))
        return
    if outcome.waiting_for:
        render.say(f"{outcome.plan.lb}: {'would be ' if dry_run else ''}recorded as pending: it runs beside "
                   f"controller {outcome.waiting_for}, which applies it on its next command or sslterm apply")
        return
    if outcome.plan.empty:
        render.say(f"{outcome.plan.lb}: nothing to change")
        return
    render.say(("plan (dry run, nothing touched)" if dry_run else "applied") + f" on {outcome.plan.lb}:")
    for step in outcome.plan.steps:  # the whole summary: the plan is what the operator approves
        render.say(f"  - {step.summary}")
    for s in outcome.report.served if outcome.report else []:
        render.say(f"  served on :{s.target.port} ({s.target.server_name or 'no SNI'}): {s.target.certificate} "
                   f"sha256 {(s.fingerprint or '')[:16]}... verified by "
                   f"{'a TLS handshake' if s.how == 'handshake' else 'reading the load balancer back'}")


def enable(
    lb: LbArg,
    cert: Annotated[str, typer.Option(metavar="NAME", help=(
        "The stored certificate to serve; the listener's first is its default, the others chosen by SNI."))],
    lb_port: LbPortOpt = None,
    instance_port: InstancePortOpt = None,
    instance_protocol: InstanceProtocolOpt = None,
    redirect_http: RedirectOpt = None,
    hsts: HstsOpt = None,
    tls_profile: ProfileOpt = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Terminate TLS on a load balancer with a stored certificate (several per listener, by SNI)."""
    outcome = service().enable(lb, cert, lb_port=lb_port, instance_port=instance_port,
                               instance_protocol=instance_protocol, redirect_http=redirect_http, hsts=hsts,
                               tls_profile=tls_profile, dry_run=dry_run)
    _print_outcome(outcome, as_json, dry_run)


def disable(
    lb: LbArg,
    lb_port: LbPortOpt = None,
    cert: Annotated[str | None, typer.Option(metavar="NAME", help=(
        "Only drop this certificate from the listener; TLS stays on with the others."))] = None,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove TLS termination; the load balancer keeps serving plain HTTP as before."""
    outcome = service().disable(lb, lb_port=lb_port, cert_name=cert, dry_run=dry_run)
    _print_outcome(outcome, as_json, dry_run)


def apply(
    lb: Annotated[str | None, typer.Argument(metavar="[LB]", help="Only this load balancer.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Converge: finish deployments a command left unfinished, then bring every load balancer (or LB) to what
    the store says, starting a managed HAProxy that died. Safe to run from a timer."""
    outcomes = service().apply(lb)
    if as_json:
        render.print_json([shapes.applied(o) for o in outcomes])
        return
    for outcome in outcomes:
        _print_outcome(outcome, False, False)
    if not outcomes:
        render.say("no load balancers yet; add one with: sslterm lb add NAME --kind KIND ...")


def status(
    lb: Annotated[str | None, typer.Argument(metavar="LB", help="Only this load balancer (default: all).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Configured versus actually served, per certificate; exits 9 on any drift (or a change unfinished or
    pending). A load balancer that runs beside another controller is that controller's to check (remote)."""
    rows = service().status(lb)
    if as_json:
        render.print_json([r.as_json() for r in rows])
    elif rows:
        _print_status(rows)
    else:
        render.say("no TLS termination configured; turn it on with: sslterm enable LB --cert NAME")
    if any(r.state not in HEALTHY for r in rows):
        raise typer.Exit(EXIT_DRIFT)


HEALTHY = ("ok", "remote")


def _print_status(rows: list[CertStatus]) -> None:
    """A table of short, comparable values (both fingerprints cut to the same length, the state never
    wrapped), then each problem on a line of its own, whole: an error text is what the operator acts on."""
    table = render.data_table("load balancer", Column("port", no_wrap=True), "certificate",
                              render.fingerprint_column("expected"), render.fingerprint_column("served"), "expires in",
                              Column("state", no_wrap=True, min_width=len("unreachable")))
    for r in rows:
        table.add_row(*render.cells(r.load_balancer, str(r.lb_port), r.certificate, _short(r.expected),
                                    _short(r.served), "-" if r.days_left is None else f"{r.days_left} d"),
                      Text(render.safe(r.state), style="green" if r.state in HEALTHY else "red"))
    render.out.print(table)
    for r in rows:
        if r.state != "ok":  # a remote one says whose it is
            detail = f": {r.error}" if r.error else ""
            render.say(f"{r.load_balancer} :{r.lb_port} {r.certificate}: {r.state}{detail}")


def _short(fingerprint: str | None) -> str:
    return fingerprint[:FINGERPRINT_SHOWN] if fingerprint else "-"
