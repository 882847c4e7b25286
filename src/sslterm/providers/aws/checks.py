"""What AWS refuses and moto accepts, refused here before any AWS call (nothing is uploaded or changed).

Pure: no I/O, no boto3, no clock (``now`` is passed in). Each check returns :class:`Problem` values with a
stable code (refusals.py); :func:`~sslterm.providers.aws.refusals.refuse` raises them. Messages name
certificates by subject, never key material. Sources (details in docs/aws.md): [acm] ACM User Guide,
"Prerequisites for importing ACM certificates", and the ImportCertificate API reference; [iam] the
UploadServerCertificate API reference; [clb] "SSL/TLS certificates for Classic Load Balancers".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID

from sslterm.certs.bundle import Bundle, display_name
from sslterm.certs.chain import issued_by
from sslterm.certs.keys import public_bytes
from sslterm.providers.aws.refusals import Family, Problem, Store

# -- keys ---------------------------------------------------------------------------------------------

#: what ACM imports [acm], in its KeyAlgorithm names. IAM lists none of its own: the same set is used for it.
ACM_KEYS: Final = frozenset({"RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096",
                             "EC_prime256v1", "EC_secp384r1", "EC_secp521r1"})
#: a classic ELB cannot use an ACM certificate with an RSA-4096 or EC key [clb] (RSA-3072 is not named there:
#: refused too, as unverified; IAM takes them all)
CLASSIC_ACM_KEYS: Final = frozenset({"RSA_1024", "RSA_2048"})
_CURVES = {"secp256r1": "EC_prime256v1", "secp384r1": "EC_secp384r1", "secp521r1": "EC_secp521r1"}


def key_algorithm(key: CertificatePublicKeyTypes) -> str:
    """ACM's name for the key type (``RSA_2048``, ``EC_prime256v1``); other keys named in the same style."""
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA_{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _CURVES.get(key.curve.name, f"EC_{key.curve.name}")
    return type(key).__name__.removeprefix("_").removesuffix("PublicKey")


def key_problems(bundle: Bundle, store: Store, family: Family) -> list[Problem]:
    algorithm = key_algorithm(bundle.leaf.public_key())
    problems = []
    if store == "acm" and family == "classic" and algorithm in ACM_KEYS - CLASSIC_ACM_KEYS:
        problems.append(Problem("aws-key-unsupported", f"a classic ELB cannot use an ACM certificate with an "
                                f"{algorithm} key", "use --cert-store iam, or a certificate with an RSA-2048 key"))
    elif algorithm not in ACM_KEYS:
        problems.append(Problem("aws-key-unsupported", f"{store.upper()} does not take {algorithm} keys (RSA "
                                "1024-4096 in steps of 1024, EC P-256/P-384/P-521 only)",
                                "have the certificate issued for an RSA-2048 or EC P-256 key"))
    if public_bytes(bundle.key) != public_bytes(bundle.leaf.public_key()):
        problems.append(Problem("aws-key-mismatch", f"the private key does not belong to "
                                f"{display_name(bundle.leaf.subject)}", "store the key made with this certificate"))
    return problems


# -- the certificates ---------------------------------------------------------------------------------


def certificate_problems(leaf: x509.Certificate) -> list[Problem]:
    """X.509 v3, a non-empty issuer, an OCSP URL of at most 1000 characters [acm]."""
    name, problems = display_name(leaf.subject), []
    if leaf.version is not x509.Version.v3:
        problems.append(Problem("aws-certificate-unsupported", f"{name} is not an X.509 v3 certificate",
                                "have it reissued as X.509 v3"))
    if not leaf.issuer.rdns:
        problems.append(Problem("aws-certificate-unsupported", f"{name} has an empty issuer name",
                                "have it reissued by a CA that names itself"))
    try:
        access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        access = x509.AuthorityInformationAccess([])
    if any(d.access_method == AuthorityInformationAccessOID.OCSP and len(str(d.access_location.value)) > 1000
           for d in access):
        problems.append(Problem("aws-certificate-unsupported", f"{name} has an OCSP URL over 1000 characters",
                                "have it reissued with a shorter OCSP URL"))
    return problems


def chain_problems(bundle: Bundle) -> list[Problem]:
    """Issuer of the leaf first, each certificate followed by the one that issued it [acm][iam]."""
    hint = "give the chain issuer of the leaf first, each certificate then its issuer, without the leaf"
    if bundle.leaf in bundle.chain:
        return [Problem("aws-chain-order", f"the chain repeats {display_name(bundle.leaf.subject)} itself", hint)]
    current = bundle.leaf
    for position, cert in enumerate(bundle.chain, start=1):
        if not issued_by(current, cert):
            return [Problem("aws-chain-order", f"chain certificate {position} ({display_name(cert.subject)}) did "
                            f"not issue {display_name(current.subject)}", hint)]
        current = cert
    return []


def date_problems(bundle: Bundle, now: datetime) -> list[Problem]:
    """Every certificate sent must be valid at upload time [acm][iam]."""
    problems = []
    for cert in (bundle.leaf, *bundle.chain):
        name = display_name(cert.subject)
        if cert.not_valid_after_utc <= now:
            problems.append(Problem("aws-expired", f"{name} expired on {cert.not_valid_after_utc:%Y-%m-%d} and "
                                    "AWS refuses expired certificates", "renew it and add the new one"))
        elif cert.not_valid_before_utc > now:
            problems.append(Problem("aws-not-yet-valid", f"{name} is valid only from "
                                    f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC and AWS refuses it before",
                                    "deploy it once its start date has passed"))
    return problems


# -- what is sent: PEM text and its size --------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """The PEM texts a provider sends to ACM or IAM; build it with :meth:`of` and send exactly these."""

    certificate: bytes
    chain: bytes  # b"" when there is none (then leave CertificateChain out of the call)
    private_key: bytes = field(repr=False)

    @classmethod
    def of(cls, bundle: Bundle) -> Upload:
        return cls(bundle.leaf.public_bytes(Encoding.PEM),
                   b"".join(c.public_bytes(Encoding.PEM) for c in bundle.chain), bundle.key_pem())


#: the largest part each store takes, in bytes of PEM text [acm] (the 5,120-byte key) [iam] (characters)
SIZE_LIMITS: Final[Mapping[Store, Mapping[str, int]]] = MappingProxyType({
    "acm": {"certificate": 32_768, "chain": 2_097_152, "private key": 5_120},
    "iam": {"certificate": 16_384, "chain": 2_097_152, "private key": 16_384},
})
_B64 = rb"(?:[A-Za-z0-9+/=]{1,76}\r?\n)+"
_CERTS = re.compile(rb"(?:-----BEGIN CERTIFICATE-----\r?\n" + _B64 + rb"-----END CERTIFICATE-----\r?\n)+")
_KEY = re.compile(rb"-----BEGIN (?P<kind>(?:RSA |EC )?PRIVATE KEY)-----\r?\n" + _B64 + rb"-----END (?P=kind)-----\r?\n")


def _pem_ok(part: str, data: bytes) -> bool:
    if part == "private key":
        return _KEY.fullmatch(data) is not None
    if part == "chain" and not data:
        return True
    return _CERTS.fullmatch(data) is not None and (part == "chain" or data.count(b"-----BEGIN") == 1)


def upload_problems(upload: Upload, store: Store) -> list[Problem]:
    """Plain PEM only (no DER, no passphrase) [acm][iam]; sizes within :data:`SIZE_LIMITS`."""
    parts = {"certificate": upload.certificate, "chain": upload.chain, "private key": upload.private_key}
    problems = []
    for part, data in parts.items():
        if not _pem_ok(part, data):
            why = "it is encrypted" if b"ENCRYPTED" in data else "unexpected content"
            problems.append(Problem("aws-pem-invalid", f"the {part} to send is not plain PEM ({why})",
                                    "send what Upload.of(bundle) makes: unencrypted PEM blocks only"))
        if len(data) > SIZE_LIMITS[store][part]:
            problems.append(Problem("aws-too-large", f"the {part} is {len(data)} bytes; {store.upper()} takes at "
                                    f"most {SIZE_LIMITS[store][part]}", "use a smaller key or a shorter chain"))
    return problems


def bundle_problems(bundle: Bundle, store: Store, family: Family, now: datetime) -> list[Problem]:
    """Every reason AWS would refuse to store ``bundle`` in ``store`` for a load balancer of ``family``."""
    return [*key_problems(bundle, store, family), *certificate_problems(bundle.leaf), *chain_problems(bundle),
            *date_problems(bundle, now), *upload_problems(Upload.of(bundle), store)]
