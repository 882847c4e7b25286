"""The checks a careful human runs on a bundle. Each returns findings; none raises."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from sslterm.certs.bundle import display_name
from sslterm.certs.chain import OrderedChain, issued_by, self_signed
from sslterm.certs.findings import Finding, error, warning
from sslterm.certs.keys import key_description

MIN_RSA_BITS = 2048
SUPPORTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
WEAK_HASHES = (hashes.SHA1, hashes.MD5)


def check_dates(leaf: x509.Certificate, now: datetime, warn_days: int) -> list[Finding]:
    name = display_name(leaf.subject)
    if leaf.not_valid_after_utc <= now:
        return [error("expired", f"{name} expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                      "renew it with its issuer and add the new certificate")]
    if leaf.not_valid_before_utc > now:
        return [error("not-yet-valid", f"{name} is valid only from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                      "check the clock, or add it once its start date has passed")]
    left = leaf.not_valid_after_utc - now
    if left < timedelta(days=warn_days):
        return [warning("expires-soon", f"{name} expires in {left.days} days "
                        f"({leaf.not_valid_after_utc:%Y-%m-%d})", "plan its renewal")]
    return []


def check_key_strength(key: PrivateKeyTypes) -> list[Finding]:
    kind, bits = key_description(key)
    if isinstance(key, rsa.RSAPrivateKey):
        if bits < MIN_RSA_BITS:
            return [error("weak-key", f"RSA key of {bits} bits; at least {MIN_RSA_BITS} are needed",
                          "issue a new certificate with an RSA-2048 or EC P-256 key")]
        return []
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in SUPPORTED_CURVES:
            return [error("weak-key", f"EC curve {key.curve.name} is not supported by load balancers",
                          "use P-256, P-384 or P-521")]
        return []
    return [error("weak-key", f"{kind} keys are not supported by load balancers", "use an RSA or EC key")]


def check_signatures(certs: Iterable[x509.Certificate]) -> list[Finding]:
    """SHA-1 and MD5 signatures are refused on the leaf and intermediates (a root's own signature
    does not matter, and roots are not checked here)."""
    found = []
    for cert in certs:
        try:
            algorithm = cert.signature_hash_algorithm
        except UnsupportedAlgorithm:
            algorithm = None
        if isinstance(algorithm, WEAK_HASHES):
            found.append(error("weak-signature", f"{display_name(cert.subject)} is signed with "
                               f"{algorithm.name.upper()}", "have it reissued with SHA-256 or better"))
    return found


def check_usage(leaf: x509.Certificate) -> list[Finding]:
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    if ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in eku:
        return []
    return [warning("not-server-auth", f"{display_name(leaf.subject)} is not meant for TLS servers "
                    "(no serverAuth extended key usage)", "browsers will refuse it; use a server certificate")]


_AnchorIndex = dict[x509.Name, list[x509.Certificate]]
_anchor_index: tuple[tuple[x509.Certificate, ...], _AnchorIndex | None] | None = None


def _by_subject(anchors: Sequence[x509.Certificate]) -> _AnchorIndex | None:
    index: _AnchorIndex = {}
    try:
        for anchor in anchors:
            index.setdefault(anchor.subject, []).append(anchor)
    except ValueError:  # an unparsable subject: keep to the plain scan, which fails as it always did
        return None
    return index


def anchors_named(anchors: Sequence[x509.Certificate], subject: x509.Name) -> Sequence[x509.Certificate]:
    """The anchors, in their order, that can have issued a certificate whose issuer is ``subject``: those
    with that subject. A tuple of anchors (immutable: the system trust store is loaded once) is indexed by
    subject once, so a fleet import does not compare each chain's issuer with ~140 roots."""
    global _anchor_index
    if not isinstance(anchors, tuple):  # a list may change between calls: nothing to index
        return anchors
    cached = _anchor_index
    if cached is None or cached[0] is not anchors:
        cached = _anchor_index = (anchors, _by_subject(anchors))
    index = cached[1]
    return anchors if index is None else index.get(subject, ())


def check_chain(leaf: x509.Certificate, ordered: OrderedChain,
                anchors: Sequence[x509.Certificate]) -> list[Finding]:
    found: list[Finding] = []
    for stray in ordered.unrelated:
        found.append(error("chain-mismatch", f"{display_name(stray.subject)} in the chain does not link to "
                           f"{display_name(leaf.subject)}", "remove it, or give the chain that belongs to this "
                           "certificate"))
    if ordered.reordered:
        found.append(warning("chain-reordered", "the chain was not in order; it is stored issuer of the "
                             "leaf first"))
    if self_signed(leaf):
        found.append(warning("self-signed", f"{display_name(leaf.subject)} is self-signed; clients will "
                             "not trust it", "fine for tests; use a CA-issued certificate in production"))
        return found
    roots = [c for c in ordered.path if self_signed(c)]
    if roots:
        found.append(warning("root-in-chain", f"the root {display_name(roots[0].subject)} was in the chain; "
                             "it is not served (clients must already have it)"))
        return found
    top = ordered.path[-1] if ordered.path else leaf
    if not any(issued_by(top, anchor) for anchor in anchors_named(anchors, top.issuer)):
        found.append(_incomplete_chain(leaf, top))
    return found


def _incomplete_chain(leaf: x509.Certificate, top: x509.Certificate) -> Finding:
    """The path stops below a root this machine does not know. With intermediates given, that is most often a
    complete chain of a private CA (its root is rightly not served): say so first, and ask for intermediates
    only in case the issuer is not that root. With no chain at all, intermediates are what is missing."""
    issuer = display_name(top.issuer)
    message = (f"the chain ends at {display_name(top.subject)}, issued by {issuer}, which is neither given "
               "nor a root this machine trusts")
    if top is leaf:
        return warning("incomplete-chain", message, f"add the intermediate certificates with --chain (if {issuer} "
                       "is itself a private root, clients must trust it)")
    return warning("incomplete-chain", message, f"the chain may be complete: if {issuer} is a private root, "
                   "clients must trust it (this machine does not); if it is an intermediate, add it with --chain")
