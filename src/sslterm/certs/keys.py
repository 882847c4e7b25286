"""Private keys: load (with or without a passphrase), describe, serialise.

Key material never appears in ``repr``, messages or findings: only its type and size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)

from sslterm.certs.findings import Finding, error

ENCRYPTED_KEY_HINT = (
    "give the passphrase with --passphrase-file FILE, or remove it first: "
    "sslterm key decrypt KEYFILE --passphrase-file FILE -o OUT"
)


@dataclass(frozen=True)
class KeyBlob:
    """A private key as found in a file, not yet decrypted. ``repr`` shows no key bytes."""

    data: bytes = field(repr=False)
    fmt: Literal["pem", "der", "object"]
    source: str
    encrypted: bool
    key: PrivateKeyTypes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_key(cls, key: PrivateKeyTypes, source: str) -> KeyBlob:
        return cls(b"", "object", source, encrypted=False, key=key)

    def load(self, passphrase: bytes | None) -> PrivateKeyTypes | Finding:
        """Return the key, or the finding that says why it could not be loaded."""
        if self.key is not None:
            return self.key
        if self.encrypted and passphrase is None:
            return error("encrypted-key", f"{self.source}: the private key is protected by a passphrase",
                         ENCRYPTED_KEY_HINT)
        password = passphrase if self.encrypted else None
        try:
            if self.fmt == "pem":
                return serialization.load_pem_private_key(
                    self.data, password, unsafe_skip_rsa_key_validation=True)
            return serialization.load_der_private_key(
                self.data, password, unsafe_skip_rsa_key_validation=True)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            if self.encrypted:  # wrong, empty or unusable passphrase
                return error("bad-passphrase", f"{self.source}: the passphrase does not open the private key",
                             "check the passphrase file (a trailing newline is ignored)")
            return error("no-private-key", f"{self.source}: the private key is damaged or of an unsupported type")


def key_description(key: PrivateKeyTypes | CertificatePublicKeyTypes) -> tuple[str, int]:
    """(``RSA``/``EC``/other name, size in bits) of a private or public key."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    return type(key).__name__.removeprefix("_").replace("PrivateKey", "").replace("PublicKey", ""), 0


def public_bytes(key: PrivateKeyTypes | CertificatePublicKeyTypes) -> bytes:
    """The SubjectPublicKeyInfo of a key, to compare a private key with a certificate."""
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def to_pem(key: PrivateKeyTypes) -> bytes:
    """Unencrypted PKCS#8 PEM. Radioactive: only for the store's encryption and the deploy step."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
