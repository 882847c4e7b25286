"""Split raw bytes into certificates and private keys: PEM (any line endings, text around the blocks),
DER, and PKCS#12. Never raises anything but :class:`ParseProblem`."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from sslterm.certs.findings import Finding, error
from sslterm.certs.keys import KeyBlob

_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]{1,40})-----\s*?\n(.*?)-----END \1-----", re.DOTALL
)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE"}
_KEY_LABELS = {b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"}


@dataclass
class Parsed:
    """What one input file held. Keys stay as blobs until a passphrase (if any) is applied."""

    certificates: list[x509.Certificate] = field(default_factory=list)
    keys: list[KeyBlob] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)


def _normalise(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


_DAMAGE = (ValueError, TypeError, x509.InvalidVersion, x509.DuplicateExtension, UnsupportedAlgorithm)


def load_certificate(data: bytes, source: str, *, der: bool = False) -> x509.Certificate | Finding:
    """Load one certificate, or the finding that says why not. cryptography parses lazily, so every
    part the checks read is touched here: damage shows now, as a finding, not later as a crash."""
    try:
        with warnings.catch_warnings():  # e.g. negative serial numbers: not our finding to make
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(data) if der else x509.load_pem_x509_certificate(data)
            _ = (cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), list(cert.extensions),
                 cert.not_valid_before_utc, cert.not_valid_after_utc, cert.tbs_certificate_bytes,
                 cert.signature_hash_algorithm)
    except _DAMAGE:
        return error("unreadable-certificate", f"{source}: a CERTIFICATE block is damaged or not a certificate")
    try:
        cert.public_key()
    except _DAMAGE:
        return error("weak-key", f"{source}: the certificate's key type is not supported",
                     "use an RSA or EC (P-256, P-384, P-521) key")
    return cert


def _add(out: Parsed, loaded: x509.Certificate | Finding) -> None:
    if isinstance(loaded, Finding):
        out.problems.append(loaded)
    else:
        out.certificates.append(loaded)


def parse(data: bytes, source: str) -> Parsed:
    """Parse every certificate and key found in ``data`` (PEM, else a DER certificate); unknown blocks
    are ignored."""
    text = _normalise(data)
    out = Parsed()
    blocks = list(_BLOCK.finditer(text))
    if not blocks:
        loaded = load_certificate(data, source, der=True)
        if isinstance(loaded, Finding):
            loaded = error("unreadable-certificate", f"{source}: neither PEM nor DER",
                           "give a PEM file (-----BEGIN CERTIFICATE-----), a DER certificate or --pkcs12")
        _add(out, loaded)
        return out
    for match in blocks:
        label, pem = match.group(1), match.group(0) + b"\n"
        if label in _CERT_LABELS:
            _add(out, load_certificate(pem.replace(b"X509 ", b""), source))
        elif label in _KEY_LABELS:
            out.keys.append(KeyBlob(pem, "pem", source, encrypted=_pem_encrypted(label, match.group(2))))
    return out


def parse_key(data: bytes, source: str) -> Parsed:
    """A key file: PEM key blocks, or one DER key (PKCS#8, encrypted or not, or traditional)."""
    out = parse(data, source) if _BLOCK.search(_normalise(data)) else Parsed(keys=_der_key(data, source))
    if not out.keys:
        out.problems.append(error("no-private-key", f"{source}: no private key found in it",
                                  "give the private key file (PEM or DER) with --key"))
    return out


def _der_key(data: bytes, source: str) -> list[KeyBlob]:
    try:
        key = serialization.load_der_private_key(data, None, unsafe_skip_rsa_key_validation=True)
    except TypeError:  # "password was not given but private key is encrypted"
        return [KeyBlob(data, "der", source, encrypted=True)]
    except (ValueError, UnsupportedAlgorithm):
        return []
    return [KeyBlob.from_key(key, source)]


def _pem_encrypted(label: bytes, body: bytes) -> bool:
    return label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in body


def parse_pkcs12(data: bytes, source: str, passphrase: bytes | None) -> Parsed:
    """Unpack a PKCS#12 file into certificates and an (already decrypted) key."""
    out = Parsed()
    try:
        p12 = pkcs12.load_pkcs12(data, passphrase)
    except ValueError as exc:
        message = str(exc).lower()
        if "password" in message or "mac" in message:
            code, hint = (("encrypted-key", "give its passphrase with --passphrase-file") if passphrase is None
                          else ("bad-passphrase", "check the passphrase file"))
            out.problems.append(error(code, f"{source}: the PKCS#12 file could not be opened", hint))
        else:
            out.problems.append(error("unreadable-certificate", f"{source}: not a readable PKCS#12 file"))
        return out
    except TypeError:
        out.problems.append(error("unreadable-certificate", f"{source}: unsupported PKCS#12 contents"))
        return out
    for cert in [p12.cert, *p12.additional_certs]:
        if cert is not None:
            _add(out, load_certificate(cert.certificate.public_bytes(serialization.Encoding.DER), source, der=True))
    if p12.key is not None:
        out.keys.append(KeyBlob.from_key(p12.key, source))
    return out
