"""``sslterm key ...``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sslterm.cli import render
from sslterm.cli.context import service
from sslterm.files import read_passphrase

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


@app.command("decrypt")
def decrypt(
    key_file: Annotated[Path, typer.Argument(metavar="KEYFILE", dir_okay=False, help="The encrypted private key.")],
    passphrase_file: Annotated[Path, typer.Option(dir_okay=False, metavar="FILE", help=(
        "A file holding its passphrase (a trailing newline is ignored)."))],
    output: Annotated[Path, typer.Option("-o", "--output", dir_okay=False, metavar="OUT", help=(
        "Where to write the key without a passphrase."))],
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
) -> None:
    """Remove the passphrase from a private key; OUT is written 0600."""
    service().decrypt_key(key_file, read_passphrase(passphrase_file), output, force=force)
    render.say(f"wrote {output} (unencrypted, mode 0600)")
