"""PEM checks, as Atlas's ZeusUtils.buildZeusCrtFileLbassValidation makes them."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .texts import _PEM, KEY_MISMATCH, RSA_ONLY

# -- PEM checks ([atlas] ZeusUtils.buildZeusCrtFileLbassValidation) -------------------------------------------------


@dataclass(frozen=True)
class _PemBlock:
    label: str
    text: str
    line: int


def _pem_blocks(text: str) -> list[_PemBlock]:
    return [_PemBlock(m.group(1), m.group(0), text.count("\n", 0, m.start()) + 1) for m in _PEM.finditer(text)]


def _check_key(key_pem: str | None) -> tuple[rsa.RSAPrivateKey | None, list[str]]:
    blocks = _pem_blocks(key_pem or "")
    if not blocks:
        return None, ["Key Required"]
    if len(blocks) > 1:
        return None, ["Multiple pem blocks used in Key"]
    try:
        # Only the public numbers are compared (as [atlas] does), so the costly RSA consistency check is skipped.
        key = load_pem_private_key(blocks[0].text.encode(), password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None, ["Unable to parse pemblock to RSA Key"]
    if not isinstance(key, rsa.RSAPrivateKey):
        return None, [RSA_ONLY]
    return key, []


def _check_cert(cert_pem: str | None) -> tuple[x509.Certificate | None, list[str]]:
    blocks = _pem_blocks(cert_pem or "")
    if not blocks:
        return None, ["Cert Required"]
    if len(blocks) > 1:
        return None, ["Multiple pem blocks used in Cert"]
    if blocks[0].label != "CERTIFICATE":
        return None, ["Unable to read userCrt"]
    try:
        return x509.load_pem_x509_certificate(blocks[0].text.encode()), []
    except ValueError:
        return None, ["Unable to read userCrt"]


def _check_chain(chain_pem: str | None) -> list[str]:
    errors: list[str] = []
    for block in _pem_blocks(chain_pem or ""):
        if block.label != "CERTIFICATE":
            errors.append(f"Object at line {block.line} decoded to class {block.label} but was expecting "
                          "org.bouncycastle.cert.X509CertificateHolder")
            continue
        try:
            x509.load_pem_x509_certificate(block.text.encode())
        except ValueError:
            errors.append(f"Empty object at line starting at line {block.line}")
    return errors


def _check_bundle(key_pem: str | None, cert_pem: str | None, chain_pem: str | None) -> list[str]:
    """Fatal errors only: expired or not-yet-valid certificates and chain order are not fatal in [atlas]."""
    key, errors = _check_key(key_pem)
    cert, cert_errors = _check_cert(cert_pem)
    errors += cert_errors + _check_chain(chain_pem)
    if key is not None and cert is not None:
        public = cert.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            errors.append("Unable to extract public RSA key from x509 certificate")
        else:
            mine, theirs = key.public_key().public_numbers(), public.public_numbers()
            if mine.n != theirs.n:
                errors.append(KEY_MISMATCH)
            if mine.e != theirs.e:
                errors.append("Cert and key public exponent do not match")
    return errors


def _blank_to_none(text: str | None) -> str | None:
    return None if text is None or not text.strip() else text
