"""A throw-away certificate authority for the demo, the benchmarks and the tests' fixtures.

Makes a root, an intermediate and leaves, with ``cryptography`` alone. Nothing here is for production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def new_key(kind: str = "ec") -> CertificateIssuerPrivateKeyTypes:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sslterm demo"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Issued:
    cert: x509.Certificate
    key: PrivateKeyTypes = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self, passphrase: bytes | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption())
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


class DemoCA:
    """Root -> intermediate -> leaves. ``issue`` is cheap: keys may be shared through ``key=``."""

    def __init__(self, name: str = "sslterm demo", *, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)
        self.root_key = new_key()
        self.root = self._sign(_name(f"{name} root CA"), self.root_key.public_key(), _name(f"{name} root CA"),
                               self.root_key, ca=True, days=3650)
        self.inter_key = new_key()
        self.intermediate = self._sign(_name(f"{name} intermediate CA"), self.inter_key.public_key(),
                                       self.root.subject, self.root_key, ca=True, days=1825)

    def _sign(self, subject: x509.Name, public_key: object, issuer: x509.Name,
              signing_key: CertificateIssuerPrivateKeyTypes, *, ca: bool, days: int,
              sans: tuple[str, ...] = (), start: datetime | None = None) -> x509.Certificate:
        start = start or self.now - timedelta(hours=1)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(public_key)  # type: ignore[arg-type]
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]), critical=False)
        if not ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                            critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    def issue(self, *names: str, key: CertificateIssuerPrivateKeyTypes | None = None, days: int = 90,
              start: datetime | None = None, key_kind: str = "ec") -> Issued:
        """A leaf for ``names`` (first is the CN), signed by the intermediate."""
        key = key or new_key(key_kind)
        cert = self._sign(_name(names[0]), key.public_key(), self.intermediate.subject, self.inter_key,
                          ca=False, days=days, sans=names, start=start)
        return Issued(cert, key, (self.intermediate,))
