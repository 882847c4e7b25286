"""Split raw bytes into certificates and private keys: PEM (any line endings, text around the blocks),
DER, and PKCS#12. Never raises anything but :class:`ParseProblem`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cryptography import x509
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


def parse(data: bytes, source: str, *, allow_der_key: bool = False) -> Parsed:
    """Parse every certificate and key found in ``data``; unknown blocks are ignored."""
    text = _normalise(data)
    out = Parsed()
    blocks = list(_BLOCK.finditer(text))
    if not blocks:
        return _parse_der(data, source, allow_der_key)
    for match in blocks:
        label, pem = match.group(1), match.group(0) + b"\n"
        if label in _CERT_LABELS:
            try:
                out.certificates.append(x509.load_pem_x509_certificate(pem.replace(b"X509 ", b"")))
            except ValueError:
                out.problems.append(error(
                    "unreadable-certificate", f"{source}: a CERTIFICATE block is not a valid certificate",
                ))
        elif label in _KEY_LABELS:
            out.keys.append(KeyBlob(pem, "pem", source, encrypted=_pem_encrypted(label, match.group(2))))
    return out


def _pem_encrypted(label: bytes, body: bytes) -> bool:
    return label == b"ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in body


def _parse_der(data: bytes, source: str, allow_der_key: bool) -> Parsed:
    out = Parsed()
    try:
        out.certificates.append(x509.load_der_x509_certificate(data))
        return out
    except ValueError:
        pass
    if allow_der_key and data[:1] == b"\x30":
        out.keys.append(KeyBlob(data, "der", source, encrypted=False))
        return out
    out.problems.append(error(
        "unreadable-certificate",
        f"{source}: neither PEM nor DER",
        "give a PEM file (-----BEGIN CERTIFICATE-----), a DER certificate or --pkcs12",
    ))
    return out


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
    if p12.cert is not None:
        out.certificates.append(p12.cert.certificate)
    out.certificates.extend(c.certificate for c in p12.additional_certs)
    if p12.key is not None:
        out.keys.append(KeyBlob.from_key(p12.key, source))
    return out
