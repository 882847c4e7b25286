"""``sslterm key ...``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sslterm.cli import render
from sslterm.cli.context import service
from sslterm.files import read_passphrase

app = typer.Typer(no_args_is_help=True)


@app.command("decrypt")
def decrypt(
    key_file: Annotated[Path, typer.Argument(metavar="KEYFILE", dir_okay=False)],
    passphrase_file: Annotated[Path, typer.Option(dir_okay=False)],
    output: Annotated[Path, typer.Option("-o", "--output", dir_okay=False)],
    force: Annotated[bool, typer.Option(help="Overwrite OUT if it exists.")] = False,
) -> None:
    """Remove the passphrase from a private key; OUT is written 0600."""
    service().decrypt_key(key_file, read_passphrase(passphrase_file), output, force=force)
    render.out.print(f"wrote {output} (unencrypted, mode 0600)", markup=False)
