"""What the Rackspace provider's tests share: RSA certificates from a demo CA (as the store hands them over),
a provider wired to an emulator through the real HTTP client, and checks that no secret leaked."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from cryptography.hazmat.primitives import serialization
from emulator import Emulator

from sslterm.certs import BundleInput, validate_bundle
from sslterm.certs.bundle import Bundle, fingerprint, subject_alt_names
from sslterm.certs.keys import key_description
from sslterm.demo.ca import DemoCA, Issued
from sslterm.engine.contract import CertMaterial, CertSlot, ListenerSpec
from sslterm.providers.rackspace import RackspaceProvider, close_accounts
from sslterm.providers.rackspace.balancer import Balancer, Waits
from sslterm.providers.rackspace.client import Pacer, RackspaceClient
from sslterm.providers.rackspace.identity import Credentials
from sslterm.providers.rackspace.options import RackspaceOptions

LB_ID = 123456
REGION = "DFW"
#: fast polls for an emulator whose changes stay PENDING_UPDATE for a fraction of a second
FAST = Waits(max_wait=20.0, first_poll=0.05, max_poll=0.2)


def env_of(rax: Emulator, **extra: str) -> dict[str, str]:
    """The mapping Settings.provider_env() gives a factory for the emulator's account."""
    return {"rackspace_username": rax.username, "rackspace_api_key": rax.api_key,
            "rackspace_identity_url": rax.identity_url, **extra}


def credentials(rax: Emulator) -> Credentials:
    return Credentials(rax.username, rax.api_key, rax.identity_url)


#: every client a test made, closed after it (conftest.py)
MADE: list[RackspaceClient] = []


def client(rax: Emulator, *, pacer: Pacer | None = None, creds: Credentials | None = None) -> RackspaceClient:
    made = RackspaceClient(creds or credentials(rax), pacer=pacer or Pacer({}))  # unpaced unless asked
    MADE.append(made)
    return made


def close_clients() -> None:
    while MADE:
        MADE.pop().close()
    close_accounts()


def provider(rax: Emulator, *, lb_id: int = LB_ID, region: str = REGION, waits: Waits = FAST,
             api: RackspaceClient | None = None, name: str = "legacy") -> RackspaceProvider:
    label = f"{name} (Rackspace {region} load balancer {lb_id})"
    lb = Balancer(api or client(rax), region, lb_id, label, waits)
    return RackspaceProvider(name, RackspaceOptions(lb_id, region), lb)


def checked(issued: Issued, ca: DemoCA) -> Bundle:
    """The bundle as the store hands it over (checked, chain in order)."""
    result = validate_bundle(BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(), key=issued.key_pem()),
                             now=ca.now, anchors=(ca.root,))
    assert result.bundle is not None, result.findings
    return result.bundle


def slot(ca: DemoCA, name: str, *hosts: str, key_kind: str = "rsa") -> CertSlot:
    bundle = checked(ca.issue(*(hosts or (f"{name}.example.test",)), key_kind=key_kind), ca)
    return slot_of(name, bundle)


def slot_of(name: str, bundle: Bundle) -> CertSlot:
    return CertSlot(name, bundle.fingerprint, tuple(subject_alt_names(bundle.leaf)), key_description(bundle.key)[0],
                    CertMaterial.of(bundle), chain=tuple(fingerprint(c) for c in bundle.chain))


def listener(*slots: CertSlot, lb_port: int = 443, redirect: bool = False, profile: str = "intermediate",
             instance_port: int | None = None) -> ListenerSpec:
    return ListenerSpec(lb_port, instance_port, "HTTP", redirect, False, profile, tuple(slots))


def bare(slot_: CertSlot) -> CertSlot:
    """The slot as observe() gives it back: no material."""
    return replace(slot_, material=None)


def key_lines(*bundles: Bundle) -> list[str]:
    """The base64 lines of private keys, PKCS#8 and traditional (what must never show anywhere)."""
    lines = []
    for b in bundles:
        for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
            pem = b.key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
            lines += [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return lines


def assert_no_secrets(texts: Iterable[str], rax: Emulator, *bundles: Bundle) -> None:
    for text in texts:
        assert rax.api_key not in text
        assert "PRIVATE KEY" not in text
        for line in key_lines(*bundles):
            assert line not in text


def writes(rax: Emulator) -> list[tuple[str, str]]:
    """Every accepted or refused write to the load balancer API: (method, path after the tenant)."""
    return [(r.method, r.path.split(f"/v1.0/{rax.tenant_id}", 1)[-1]) for r in rax.writes()]
