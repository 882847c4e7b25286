"""Where certificates live on AWS: ACM (regional; re-imported in place) or IAM (global; a new name per
version). Uploads are found again by what they hold, never duplicated: ACM through the location the store
recorded (verified by reading it back), IAM through its deterministic name. Bodies are read back to tell what
an ARN serves, leaf and chain."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from sslterm.certs.bundle import fingerprint, subject_alt_names
from sslterm.certs.chain import issued_by
from sslterm.engine.contract import CertSlot
from sslterm.errors import ProviderError
from sslterm.providers.aws.calls import ClientFactory, aws
from sslterm.providers.aws.checks import ACM_KEYS, Upload
from sslterm.providers.aws.names import IAM_PATH, iam_certificate_name


@dataclass(frozen=True)
class Body:
    """What an ARN holds: the leaf's fingerprint and its chain's, issuer first, as far as each certificate
    issued the one before it (moto's ACM adds a certificate of its own that issued none of them)."""

    leaf: str
    chain: tuple[str, ...]
    sans: tuple[str, ...] = ()

    @property
    def served_id(self) -> str:
        return self.slot("").served_id

    def slot(self, name: str, location: str = "") -> CertSlot:
        """As a listener serves it, under the store's ``name`` for it."""
        return CertSlot(name, self.leaf, self.sans, chain=self.chain, location=location)

    @classmethod
    def of(cls, certificate: str, chain: str | None) -> Body:
        certs = x509.load_pem_x509_certificates((certificate + "\n" + (chain or "")).encode())
        rest: list[x509.Certificate] = []
        for cert in certs[1:]:
            if not issued_by(rest[-1] if rest else certs[0], cert):
                break
            rest.append(cert)
        return cls(fingerprint(certs[0]), tuple(fingerprint(c) for c in rest), tuple(subject_alt_names(certs[0])))


def _upload(slot: CertSlot, lb: str) -> Upload:
    if slot.material is None:
        raise ProviderError(f"{lb}: certificate {slot.name} is not uploaded and its key is not at hand",
                            code="not-staged")
    return Upload.of(slot.material.bundle())


class AcmStore:
    """ACM in the load balancer's region: ``rotate`` re-imports into the same ARN (one write; every listener
    using it serves the new version, no listener change)."""

    kind = "acm"
    rotate_in_place = True

    def __init__(self, lb: str, clients: ClientFactory, account: Callable[[], str]) -> None:
        self.lb, self.clients, self.account = lb, clients, account

    @property
    def scope(self) -> str:
        return f"aws:{self.account()}:{self.clients('acm').meta.region_name}:acm"

    def read(self, arn: str) -> Body:
        with aws(self.lb, f"ACM: read {arn}"):
            got: dict[str, Any] = self.clients("acm").get_certificate(CertificateArn=arn)
        return Body.of(got["Certificate"], got.get("CertificateChain"))

    def find(self, slot: CertSlot) -> str | None:
        """An upload of sslterm's holding exactly ``slot``: the one the store recorded (``slot.location``), or
        one found among ACM's certificates for its names (tagged ``sslterm``, read back and compared): a
        re-run after a crash between the import and its record finds it instead of importing a copy."""
        if ":acm:" in slot.location:
            with contextlib.suppress(ProviderError):
                if self.read(slot.location).served_id == slot.served_id:
                    return slot.location
        client = self.clients("acm")
        with aws(self.lb, "ACM: list certificates"):
            pages = client.get_paginator("list_certificates").paginate(Includes={"keyTypes": list(ACM_KEYS)})
            candidates = [c["CertificateArn"] for page in pages for c in page["CertificateSummaryList"]
                          if c.get("DomainName") in slot.sans]
        for arn in candidates:
            with aws(self.lb, f"ACM: tags of {arn}"):
                tags = client.list_tags_for_certificate(CertificateArn=arn).get("Tags", [])
            if any(t.get("Key") == "sslterm" for t in tags) and self.read(arn).served_id == slot.served_id:
                return str(arn)
        return None

    def put(self, slot: CertSlot) -> str:
        upload = _upload(slot, self.lb)
        extra = {"CertificateChain": upload.chain} if upload.chain else {}
        with aws(self.lb, f"ACM: import {slot.name}"):
            arn: str = self.clients("acm").import_certificate(
                Certificate=upload.certificate, PrivateKey=upload.private_key, **extra,
                Tags=[{"Key": "sslterm", "Value": slot.name}])["CertificateArn"]
        return arn

    def replace(self, arn: str, slot: CertSlot) -> str:
        """Re-import ``slot`` into ``arn``; no write when it holds that already (another load balancer of this
        scope rotated it first)."""
        if self.read(arn).served_id == slot.served_id:
            return arn
        upload = _upload(slot, self.lb)
        extra = {"CertificateChain": upload.chain} if upload.chain else {}
        with aws(self.lb, f"ACM: re-import {slot.name} into {arn}"):
            self.clients("acm").import_certificate(CertificateArn=arn, Certificate=upload.certificate,
                                                   PrivateKey=upload.private_key, **extra)
        return arn

    def delete(self, arn: str) -> None:
        try:
            with aws(self.lb, f"ACM: delete {arn}"):
                self.clients("acm").delete_certificate(CertificateArn=arn)
        except ProviderError as exc:
            if exc.code != "aws-resource-not-found":
                raise


class IamStore:
    """IAM server certificates under ``/sslterm/``, one name per version (``sslterm-NAME-FINGERPRINT``): a
    rotation uploads the new version and swaps listeners; the old one is deleted once nothing uses it."""

    kind = "iam"
    rotate_in_place = False

    def __init__(self, lb: str, clients: ClientFactory, account: Callable[[], str]) -> None:
        self.lb, self.clients, self.account = lb, clients, account

    @property
    def scope(self) -> str:
        return f"aws:{self.account()}:iam"

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            with aws(self.lb, f"IAM: read {name}"):
                got: dict[str, Any] = self.clients("iam").get_server_certificate(ServerCertificateName=name)
        except ProviderError as exc:
            if exc.code == "aws-no-such-entity":
                return None
            raise
        return got["ServerCertificate"]  # type: ignore[no-any-return]

    def read(self, arn: str) -> Body:
        got = self._get(arn.rsplit("/", 1)[-1])
        if got is None:
            raise ProviderError(f"{self.lb}: IAM has no server certificate {arn}", code="aws-no-such-entity")
        return Body.of(got["CertificateBody"], got.get("CertificateChain"))

    def find(self, slot: CertSlot) -> str | None:
        """sslterm's upload of ``slot``: by its name, else any under ``/sslterm/`` named for its served id (the
        same bundle stored under another name), read back and compared."""
        names = [iam_certificate_name(slot.name, slot.served_id)]
        suffix = names[0].rsplit("-", 1)[-1]
        with aws(self.lb, "IAM: list server certificates"):
            pages = self.clients("iam").get_paginator("list_server_certificates").paginate(PathPrefix=IAM_PATH)
            names += [m["ServerCertificateName"] for page in pages for m in page["ServerCertificateMetadataList"]
                      if m["ServerCertificateName"].endswith("-" + suffix) and m["ServerCertificateName"] != names[0]]
        for name in names:
            got = self._get(name)
            if got is not None and Body.of(got["CertificateBody"], got.get("CertificateChain")).served_id == \
                    slot.served_id:
                return str(got["ServerCertificateMetadata"]["Arn"])
        return None

    def put(self, slot: CertSlot) -> str:
        upload = _upload(slot, self.lb)
        name = iam_certificate_name(slot.name, slot.served_id)
        extra = {"CertificateChain": upload.chain.decode()} if upload.chain else {}
        try:
            with aws(self.lb, f"IAM: upload {slot.name} as {name}"):
                meta = self.clients("iam").upload_server_certificate(
                    ServerCertificateName=name, Path=IAM_PATH, CertificateBody=upload.certificate.decode(),
                    PrivateKey=upload.private_key.decode(), **extra)["ServerCertificateMetadata"]
        except ProviderError as exc:
            found = self.find(slot) if exc.code == "aws-entity-already-exists" else None
            if found is None:
                raise
            return found
        return str(meta["Arn"])

    def replace(self, arn: str, slot: CertSlot) -> str:
        raise ProviderError(f"{self.lb}: IAM certificates cannot be replaced in place", code="unsupported")

    def delete(self, arn: str) -> None:
        name = arn.rsplit("/", 1)[-1]
        try:
            with aws(self.lb, f"IAM: delete {name}"):
                self.clients("iam").delete_server_certificate(ServerCertificateName=name)
        except ProviderError as exc:
            if exc.code != "aws-no-such-entity":
                raise


CertStore = AcmStore | IamStore

