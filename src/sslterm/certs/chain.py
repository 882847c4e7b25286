"""Chain building: from the leaf up, each next certificate is the one that signed the previous."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer`` names and signed ``cert``."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return _legacy_signature_ok(cert, issuer)
    return True


def _legacy_signature_ok(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """cryptography no longer verifies SHA-1/MD5 certificate signatures; check them with the issuer's key
    directly, so a weak link is reported as ``weak-signature``, not as a broken chain."""
    algorithm = cert.signature_hash_algorithm
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


@lru_cache(maxsize=256)
def self_signed(cert: x509.Certificate) -> bool:
    """Cached by certificate (equal certificates, equal answer): a bundle's checks ask it several times
    per certificate, and a fleet shares a handful of intermediates."""
    return issued_by(cert, cert)


@dataclass(frozen=True)
class OrderedChain:
    path: tuple[x509.Certificate, ...]  # issuer of the leaf first
    unrelated: tuple[x509.Certificate, ...]  # given, but not on the leaf's path
    reordered: bool


def order_chain(leaf: x509.Certificate, given: Sequence[x509.Certificate], *,
                leaf_first: bool = True) -> OrderedChain:
    """Put ``given`` in path order from the leaf; report what does not belong.

    ``leaf_first`` False means the leaf was found after other certificates: that is a reordering too.
    """
    given = list(dict.fromkeys(given))  # the same certificate twice (fullchain + chain) is no reordering
    remaining = [c for c in given if c != leaf]
    path: list[x509.Certificate] = []
    current = leaf
    while remaining and not self_signed(current):
        nxt = next((c for c in remaining if issued_by(current, c)), None)
        if nxt is None:
            break
        path.append(nxt)
        remaining = [c for c in remaining if c != nxt]
        current = nxt
    given_order = [c for c in given if c != leaf and c in path]
    return OrderedChain(tuple(path), tuple(remaining), reordered=given_order != path or not leaf_first)
