"""The Typer application: one sub-application per noun.

Help is Click's plain layout (``rich_markup_mode=None`` here and on every sub-application): Rich's help
panels cut long option names (``--instance-prot…``) on an 80-column terminal, the plain layout never does.
"""

from __future__ import annotations

import typer

from sslterm.cli import cert, deploy, key, lb, log, quickstart, serve

app = typer.Typer(
    name="sslterm", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    rich_markup_mode=None, help="Turn on SSL/TLS termination on load balancers, automatically and safely.",
)
app.add_typer(cert.app, name="cert", help="Add, list, show, check and remove certificates.")
app.add_typer(key.app, name="key", help="Private key utilities.")
app.add_typer(lb.app, name="lb", help="Register, list, show and remove load balancers.")
app.command("enable")(deploy.enable)
app.command("disable")(deploy.disable)
app.command("apply")(deploy.apply)
app.command("status")(deploy.status)
app.command("log")(log.show_log)
app.command("quickstart")(quickstart.quickstart)
app.command("serve")(serve.serve)
