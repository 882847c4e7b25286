"""Turn the files an operator gives into a checked :class:`Bundle`, or every reason it is refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from sslterm.certs.bundle import Bundle
from sslterm.certs.chain import order_chain, self_signed
from sslterm.certs.checks import check_chain, check_dates, check_key_strength, check_signatures, check_usage
from sslterm.certs.findings import Finding, error
from sslterm.certs.keys import public_bytes
from sslterm.certs.pem import Parsed, parse, parse_key, parse_pkcs12


@dataclass(frozen=True)
class BundleInput:
    """Raw bytes of what the operator gave; file names only label messages."""

    cert: bytes | None = field(default=None, repr=False)
    cert_source: str = "certificate"
    key: bytes | None = field(default=None, repr=False)
    key_source: str = "key"
    chain: bytes | None = field(default=None, repr=False)
    chain_source: str = "chain"
    pkcs12: bytes | None = field(default=None, repr=False)
    pkcs12_source: str = "pkcs12"
    passphrase: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Result:
    bundle: Bundle | None
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.is_error)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.is_error)


def _collect(inp: BundleInput) -> tuple[list[Parsed], Parsed | None]:
    parts: list[Parsed] = []
    if inp.pkcs12 is not None:
        parts.append(parse_pkcs12(inp.pkcs12, inp.pkcs12_source, inp.passphrase))
    if inp.cert is not None:
        parts.append(parse(inp.cert, inp.cert_source))
    if inp.chain is not None:
        parts.append(parse(inp.chain, inp.chain_source))
    key_part = parse_key(inp.key, inp.key_source) if inp.key is not None else None
    return parts, key_part


def _load_key(parts: list[Parsed], key_part: Parsed | None,
              passphrase: bytes | None) -> PrivateKeyTypes | Finding:
    blobs = key_part.keys if key_part is not None else [b for p in parts for b in p.keys]
    if not blobs and key_part is not None:
        return key_part.problems[-1]  # "no private key found in KEYFILE", already reported
    if not blobs:
        return error("no-private-key", "no private key was given",
                     "add --key FILE, or put the key in the certificate file")
    return blobs[0].load(passphrase)


def _pick_leaf(certs: Sequence[x509.Certificate], key: PrivateKeyTypes | None) -> x509.Certificate:
    if key is not None:
        wanted = public_bytes(key)
        for cert in certs:
            if public_bytes(cert.public_key()) == wanted:
                return cert
    non_ca = [c for c in certs if not _is_ca(c)]
    return non_ca[0] if non_ca else certs[0]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def validate_bundle(inp: BundleInput, *, now: datetime, anchors: Sequence[x509.Certificate] = (),
                    warn_days: int = 30) -> Result:
    """Run every check and report all findings at once; a bundle only when there is no error."""
    parts, key_part = _collect(inp)
    findings = [p for part in [*parts, *([key_part] if key_part else [])] for p in part.problems]
    certs = [c for part in parts for c in part.certificates]
    if not certs:
        if not findings:
            findings.append(error("no-certificate", "no certificate was found in what was given",
                                  "give the certificate with --cert (PEM or DER) or --pkcs12"))
        return Result(None, tuple(findings))
    loaded = _load_key(parts, key_part, inp.passphrase)
    key = loaded if not isinstance(loaded, Finding) else None
    if isinstance(loaded, Finding):
        findings.append(loaded)
    leaf = _pick_leaf(certs, key)
    findings += check_dates(leaf, now, warn_days)
    if key is not None:
        if public_bytes(key) != public_bytes(leaf.public_key()):
            findings.append(error("key-mismatch", "the private key does not belong to the certificate",
                                  "give the key that was generated with this certificate's request"))
        findings += check_key_strength(key)
    ordered = order_chain(leaf, certs, leaf_first=leaf is certs[0])
    findings += check_signatures([leaf, *(c for c in ordered.path if not self_signed(c))])
    findings += check_usage(leaf)
    findings += check_chain(leaf, ordered, anchors)
    if any(f.is_error for f in findings) or key is None:
        return Result(None, tuple(findings))
    served = tuple(c for c in ordered.path if not self_signed(c))
    return Result(Bundle(leaf, served, key), tuple(findings))
