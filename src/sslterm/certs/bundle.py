"""The values sslterm passes around: a checked :class:`Bundle` and its public :class:`CertSummary`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

from sslterm.certs.keys import key_description, to_pem


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def display_name(name: x509.Name) -> str:
    """The CN when there is one, else the RFC 4514 string."""
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if cns:
        value = cns[0].value
        return value if isinstance(value, str) else value.decode(errors="replace")
    return name.rfc4514_string()


def subject_alt_names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names: list[str] = list(ext.value.get_values_for_type(x509.DNSName))
    names += [str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress)]
    return names


@dataclass(frozen=True)
class Bundle:
    """Leaf + chain (issuer of the leaf first) + private key. ``repr`` never shows the key."""

    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: PrivateKeyTypes = field(repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.leaf)

    def certificate_pem(self) -> bytes:
        """Leaf then chain, PEM: what a load balancer serves."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.leaf, *self.chain))

    def key_pem(self) -> bytes:
        """Radioactive: only for encryption at rest and for handing to a load balancer."""
        return to_pem(self.key)


@dataclass(frozen=True)
class ChainEntry:
    subject: str
    issuer: str
    fingerprint_sha256: str


#: days left under which a certificate's expiry is urgent, then soon (see :meth:`CertSummary.urgency`)
URGENT_DAYS, SOON_DAYS = 7, 30


@dataclass(frozen=True)
class CertSummary:
    """Everything about a stored certificate that may be shown: no key material at all."""

    name: str
    subject: str
    sans: tuple[str, ...]
    issuer: str
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    key_type: str
    key_bits: int
    chain: tuple[ChainEntry, ...]
    attached_to: tuple[str, ...] = ()

    def days_left(self, now: datetime) -> int:
        return (self.not_after - now).days

    def urgency(self, now: datetime) -> str:
        """How soon it must be renewed: ``expired``, ``urgent`` (under :data:`URGENT_DAYS` days left),
        ``soon`` (under :data:`SOON_DAYS`) or ``ok``; the CLI colours it, the web UI labels it too."""
        if self.not_after <= now:
            return "expired"
        days = self.days_left(now)
        return "urgent" if days < URGENT_DAYS else "soon" if days < SOON_DAYS else "ok"

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "subject": self.subject,
            "sans": list(self.sans),
            "issuer": self.issuer,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "fingerprint_sha256": self.fingerprint_sha256,
            "key_type": self.key_type,
            "key_bits": self.key_bits,
            "chain": [vars(entry) for entry in self.chain],
            "attached_to": list(self.attached_to),
        }


def summarize(name: str, leaf: x509.Certificate, chain: tuple[x509.Certificate, ...],
              attached_to: tuple[str, ...] = ()) -> CertSummary:
    key_type, key_bits = key_description(leaf.public_key())
    return CertSummary(
        name=name,
        subject=leaf.subject.rfc4514_string(),
        sans=tuple(subject_alt_names(leaf)),
        issuer=leaf.issuer.rfc4514_string(),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        fingerprint_sha256=fingerprint(leaf),
        key_type=key_type,
        key_bits=key_bits,
        chain=tuple(
            ChainEntry(c.subject.rfc4514_string(), c.issuer.rfc4514_string(), fingerprint(c)) for c in chain
        ),
        attached_to=attached_to,
    )
