"""Turn the files an operator gives into a checked :class:`Bundle`, or every reason it is refused."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from sslterm.certs.bundle import Bundle, display_name, subject_alt_names
from sslterm.certs.chain import OrderedChain, issued_by, order_chain, self_signed
from sslterm.certs.checks import (
    anchors_named,
    check_chain,
    check_dates,
    check_key_strength,
    check_signatures,
    check_usage,
)
from sslterm.certs.findings import Finding, error, warning
from sslterm.certs.keys import public_bytes
from sslterm.certs.names import no_dns_name
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


#: finds intermediates already known (the store's chains) by subject: how a chain given without them is completed
Issuers = Callable[[x509.Name], Sequence[x509.Certificate]]
MAX_COMPLETED = 8  # no real chain has more intermediates; a bound against a loop of cross-signed CAs


def _anchored(cert: x509.Certificate, anchors: Sequence[x509.Certificate]) -> bool:
    return any(issued_by(cert, anchor) for anchor in anchors_named(anchors, cert.issuer))


def complete_chain(leaf: x509.Certificate, ordered: OrderedChain, anchors: Sequence[x509.Certificate],
                   issuers: Issuers) -> tuple[OrderedChain, list[Finding]]:
    """Extend a chain that stops short of a known root with intermediates found by ``issuers``, so that a
    renewal given as leaf and key alone (`cert add shop --cert new.crt --key new.key --replace`) keeps
    serving the full chain."""
    path = list(ordered.path)
    top = path[-1] if path else leaf
    while len(path) < MAX_COMPLETED and not self_signed(top) and not _anchored(top, anchors):
        found = next((c for c in issuers(top.issuer) if c not in path and issued_by(top, c)), None)
        if found is None or self_signed(found):
            break
        path.append(found)
        top = found
    added = path[len(ordered.path):]
    if not added:
        return ordered, []
    names = ", ".join(display_name(c.subject) for c in added)
    return OrderedChain(tuple(path), ordered.unrelated, ordered.reordered), [
        warning("chain-completed", f"the chain was completed with {names}, already in the store",
                "nothing to do; give --chain to serve another chain")]


def validate_bundle(inp: BundleInput, *, now: datetime, anchors: Sequence[x509.Certificate] = (),
                    warn_days: int = 30, issuers: Issuers | None = None) -> Result:
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
    if issuers is not None and not ordered.unrelated:
        ordered, completed = complete_chain(leaf, ordered, anchors, issuers)
        findings += completed
    findings += check_signatures([leaf, *(c for c in ordered.path if not self_signed(c))])
    findings += check_usage(leaf)
    findings += check_chain(leaf, ordered, anchors)
    unnamed = no_dns_name(subject_alt_names(leaf), display_name(leaf.subject))
    findings += [unnamed] if unnamed else []
    if any(f.is_error for f in findings) or key is None:
        return Result(None, tuple(findings))
    served = tuple(c for c in ordered.path if not self_signed(c))
    return Result(Bundle(leaf, served, key), tuple(findings))
