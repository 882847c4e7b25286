"""Find certificate bundles in a directory: certbot's live layout, or NAME.crt + NAME.key pairs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sslterm.certs.validate import BundleInput
from sslterm.files import read_limited


@dataclass(frozen=True)
class Found:
    name: str
    cert: Path
    key: Path
    chain: Path | None = None

    def read(self) -> BundleInput:
        return BundleInput(
            cert=read_limited(self.cert), cert_source=str(self.cert),
            key=read_limited(self.key), key_source=str(self.key),
            chain=read_limited(self.chain) if self.chain else None,
            chain_source=str(self.chain) if self.chain else "chain",
        )


def find_bundles(root: Path) -> Iterator[Found]:
    """certbot: ``root/NAME/{cert.pem,privkey.pem,chain.pem}`` (or ``fullchain.pem``); then every
    ``NAME.crt``/``NAME.pem`` with a ``NAME.key`` beside it. Sorted by name; symlinks followed."""
    for entry in sorted(root.iterdir()):
        if entry.is_dir():
            found = _certbot_lineage(entry)
            if found:
                yield found
    for cert in sorted(root.iterdir()):
        if cert.suffix in {".crt", ".pem"} and cert.with_suffix(".key").is_file():
            yield Found(cert.stem, cert, cert.with_suffix(".key"))


def _certbot_lineage(folder: Path) -> Found | None:
    key = folder / "privkey.pem"
    if not key.is_file():
        return None
    if (folder / "cert.pem").is_file():
        chain = folder / "chain.pem"
        return Found(folder.name, folder / "cert.pem", key, chain if chain.is_file() else None)
    if (folder / "fullchain.pem").is_file():
        return Found(folder.name, folder / "fullchain.pem", key)
    return None
