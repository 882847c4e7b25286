"""``sslterm cert ...``"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress

from sslterm import shapes
from sslterm.certs import BundleInput
from sslterm.cli import render
from sslterm.cli.context import service
from sslterm.discover import find_bundles
from sslterm.errors import InputError
from sslterm.files import read_limited, read_passphrase
from sslterm.text import short_name

if TYPE_CHECKING:
    from sslterm.service.certificates import Added

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)

EXIT_EXPIRING = 8

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
NewName = Annotated[str, typer.Argument(metavar="NAME", help="Its name in the store: 1-64 of A-Z a-z 0-9 . _ -")]
StoredName = Annotated[str, typer.Argument(metavar="NAME", help="A stored certificate.")]


def _file_option(help_text: str) -> Any:
    """An optional input file: never a directory, shown as FILE in --help."""
    return typer.Option(dir_okay=False, metavar="FILE", help=help_text)


CertOpt = Annotated[Path | None, _file_option(
    "The certificate: PEM or DER; may hold the chain and the key too.")]
KeyOpt = Annotated[Path | None, _file_option(
    "Its private key (RSA or EC, PKCS#8 or traditional PEM, or DER); not needed when in --cert.")]
ChainOpt = Annotated[Path | None, _file_option(
    "The intermediate certificates (PEM), in any order; a root in it is dropped.")]
Pkcs12Opt = Annotated[Path | None, _file_option(
    "A PKCS#12 (.p12/.pfx) file with certificate, key and chain, instead of --cert/--key/--chain.")]
PassphraseOpt = Annotated[Path | None, _file_option(
    "A file holding the passphrase of the key or the PKCS#12 file (a trailing newline is ignored); "
    "the key is stored without it.")]


def _bundle_input(cert: Path | None, key: Path | None, chain: Path | None, pkcs12: Path | None,
                  passphrase_file: Path | None) -> BundleInput:
    if cert is None and pkcs12 is None:
        raise InputError("give the certificate with --cert FILE or --pkcs12 FILE")
    return BundleInput(
        cert=read_limited(cert) if cert else None, cert_source=str(cert),
        key=read_limited(key) if key else None, key_source=str(key),
        chain=read_limited(chain) if chain else None, chain_source=str(chain),
        pkcs12=read_limited(pkcs12) if pkcs12 else None, pkcs12_source=str(pkcs12),
        passphrase=read_passphrase(passphrase_file) if passphrase_file else None,
    )


@app.command("add")
def add(
    name: NewName,
    cert: CertOpt = None,
    key: KeyOpt = None,
    chain: ChainOpt = None,
    pkcs12: Pkcs12Opt = None,
    passphrase_file: PassphraseOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help=(
        "Replace a stored certificate of that name (redeployed wherever it is served).")),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check a certificate, its key and chain, and store them (the key encrypted)."""
    inp = _bundle_input(cert, key, chain, pkcs12, passphrase_file)
    added = service().add_certificate(name, inp, replace=replace)
    if as_json:
        render.print_json(shapes.added(added))
        return
    render.print_findings(added.warnings)
    verb = "replaced" if added.replaced else "added"
    render.say(f"{verb} {name}: {added.summary.subject}, expires {added.summary.not_after:%Y-%m-%d}, "
               f"sha256 {added.summary.fingerprint_sha256[:16]}...")
    _say_where(added)


def _say_where(added: Added) -> None:
    if added.redeployed:
        render.say(f"now served by {', '.join(added.redeployed)} (verified)")
    if added.waiting:
        render.say(f"recorded as pending for {', '.join(added.waiting)}: they run beside another controller, "
                   "which applies it on its next command or sslterm apply")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every stored certificate."""
    svc = service()
    items = svc.list_certificates()
    if as_json:
        render.print_json([s.as_json() for s in items])
    elif not items:
        render.say("no certificates yet; add one with: sslterm cert add NAME --cert FILE --key FILE")
    else:
        render.out.print(render.certificates_table(items, svc.clock()))


@app.command("show")
def show(name: StoredName, as_json: JsonOpt = False) -> None:
    """One certificate in detail."""
    svc = service()
    summary = svc.show_certificate(name)
    if as_json:
        render.print_json(summary.as_json())
    else:
        render.out.print(render.certificate_detail(summary, svc.clock()))


@app.command("history")
def history(name: StoredName, as_json: JsonOpt = False) -> None:
    """Every kept version of a certificate, the current one first (for cert rollback)."""
    versions = service().certificate_history(name)
    if as_json:
        render.print_json([v.as_json() for v in versions])
        return
    table = render.data_table("fingerprint (SHA-256)", "subject", "expires", "chain", "current from", "until")
    for v in versions:
        table.add_row(*render.cells(v.fingerprint_sha256[:16], short_name(v.subject), f"{v.not_after:%Y-%m-%d}",
                                    f"{len(v.chain)} certificate(s)", f"{v.since:%Y-%m-%d %H:%M}",
                                    f"{v.until:%Y-%m-%d %H:%M}" if v.until else "(current)"))
    render.out.print(table)


@app.command("rollback")
def rollback(
    name: StoredName,
    to: Annotated[str | None, typer.Option("--to", metavar="FINGERPRINT", help=(
        "The version to go back to: 8 or more hex digits of its fingerprint (default: the previous one)."))] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a previous version current again and redeploy it wherever the certificate is served."""
    added = service().rollback_certificate(name, to)
    if as_json:
        render.print_json(shapes.added(added, warnings=False))
        return
    render.print_findings(added.warnings)
    render.say(f"rolled back {name} to sha256 {added.summary.fingerprint_sha256[:16]}... "
               f"(was {(added.replaced or '')[:16]}...), expires {added.summary.not_after:%Y-%m-%d}")
    _say_where(added)


@app.command("remove")
def remove(name: StoredName) -> None:
    """Delete a stored certificate (refused while a load balancer serves it)."""
    summary = service().remove_certificate(name)
    render.say(f"removed {name} (sha256 {summary.fingerprint_sha256[:16]}...)")


@app.command("check")
def check(
    days: Annotated[int, typer.Option(min=0, metavar="N", help=(
        "Report certificates expiring within this many days."))] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Expiry report; exits 8 when any certificate expires within --days."""
    svc = service()
    expiring = svc.expiring(days)
    if as_json:
        render.print_json([{**s.as_json(), "days_left": s.days_left(svc.clock())} for s in expiring])
    elif expiring:
        render.out.print(render.certificates_table(expiring, svc.clock()))
    else:
        render.say(f"no certificate expires within {days} days")
    if expiring:
        raise typer.Exit(EXIT_EXPIRING)


@app.command("import")
def import_(
    directory: Annotated[Path, typer.Argument(file_okay=False, metavar="DIR",
                                              help="certbot's live/ directory, or one of NAME.crt + NAME.key")],
    replace: Annotated[bool, typer.Option("--replace", help="Replace stored certificates of the same names.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add every bundle in a directory (certbot's live layout, or NAME.crt + NAME.key pairs)."""
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory")
    found = list(find_bundles(directory))
    # A progress bar only where a person watches: piped, it would leave a blank line in the output.
    with Progress(console=render.err, transient=True, disable=as_json or not render.err.is_terminal) as progress:
        task = progress.add_task("importing", total=len(found))
        report = service().import_bundles(((f.name, f.read) for f in found), replace=replace,
                                          progress=lambda _name: progress.advance(task))
    if as_json:
        render.print_json({
            "added": report.added, "warnings": dict(report.warnings),
            "refused": [{"name": r.name, "findings": [f.as_dict() for f in r.findings]} for r in report.refused],
        })
    else:
        for refused in report.refused:
            render.say(f"refused {refused.name}:", render.err)
            render.print_findings(refused.findings)
        for code, count in sorted(report.warnings.items()):
            render.say(f"warning[{code}]: {count} of the added bundles", render.err)
        render.say(f"{len(report.added)} added, {len(report.refused)} refused, {len(found)} found")
    if report.refused:
        raise typer.Exit(3)
