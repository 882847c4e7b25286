"""TLS termination as configured, seen from real clients: the certificate and chain served, SNI, the HTTP
side (redirect, HSTS, X-Forwarded-*), ALPN, TLS profiles and an HTTPS instance protocol."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from e2e_haproxy import (
    LOCALHOST,
    EchoBackend,
    Kit,
    client_context,
    fingerprint,
    handshake,
    http_get,
    https_get,
)

from sslterm.demo.ca import DemoCA

pytestmark = pytest.mark.haproxy

V = ssl.TLSVersion


def test_serves_the_configured_certificate_with_its_chain(kit: Kit, root_pem: Path) -> None:
    site = kit.issue("www.shop.test", "shop.test")
    kit.add_cert("shop", site)
    lb = kit.add_lb("edge")

    outcome = kit.svc.enable("edge", "shop")

    assert outcome.report is not None
    assert [s.fingerprint for s in outcome.report.served] == [fingerprint(site)]
    seen = handshake(lb.tls_port, "www.shop.test")
    assert seen.fingerprint == fingerprint(site)
    assert seen.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "www.shop.test"
    # a client that trusts only the root (and checks the name) verifies: the intermediate was sent
    verified = handshake(lb.tls_port, "shop.test", client_context(root_pem))
    assert verified.fingerprint == fingerprint(site)
    reply = https_get(lb.tls_port, "www.shop.test", "/cart?id=7", cafile=root_pem)
    assert reply.status == 200
    assert reply.json()["path"] == "/cart?id=7"
    assert reply.json()["message"] == "hello from the demo backend"


def test_a_client_trusting_another_root_is_refused(kit: Kit) -> None:
    """The verifying client above is not trusting everything: the same handshake fails against a
    root that did not issue the chain."""
    kit.add_cert("shop", kit.issue("shop.test"))
    lb = kit.add_lb("edge", http=False)
    kit.svc.enable("edge", "shop")
    stranger = DemoCA("stranger")
    other_root = kit.home / "other-root.pem"
    other_root.write_bytes(stranger.root.public_bytes(serialization.Encoding.PEM))

    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(lb.tls_port, "shop.test", client_context(other_root))


def test_sni_picks_the_certificate_and_the_first_one_is_the_default(kit: Kit, root_pem: Path) -> None:
    first, second = kit.issue("first.test", "www.first.test"), kit.issue("second.test")
    kit.add_cert("first", first)
    kit.add_cert("second", second)
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "first")

    outcome = kit.svc.enable("edge", "second")

    assert outcome.report is not None
    assert {s.fingerprint for s in outcome.report.served} == {fingerprint(first), fingerprint(second)}
    assert handshake(lb.tls_port, "second.test").fingerprint == fingerprint(second)
    assert handshake(lb.tls_port, "www.first.test").fingerprint == fingerprint(first)
    assert handshake(lb.tls_port, None).fingerprint == fingerprint(first)  # no SNI: the default
    assert handshake(lb.tls_port, "unknown.test").fingerprint == fingerprint(first)  # no match: the default
    for name in ("first.test", "second.test"):
        assert https_get(lb.tls_port, name, cafile=root_pem).status == 200


def test_redirect_http_sends_plain_http_to_the_tls_port(kit: Kit) -> None:
    kit.add_cert("shop", kit.issue("shop.test"))
    lb = kit.add_lb("edge")
    assert lb.http_port is not None
    before = http_get(lb.http_port, "/a/b?x=1&y=2", host=f"shop.test:{lb.http_port}")
    assert before.status == 200  # plain HTTP reaches the backend until TLS is enabled with --redirect-http
    assert before.backend_header("X-Forwarded-Proto") == ["http"]

    kit.svc.enable("edge", "shop", redirect_http=True)

    reply = http_get(lb.http_port, "/a/b?x=1&y=2", host=f"shop.test:{lb.http_port}")
    assert reply.status == 301
    assert reply.header("Location") == f"https://shop.test:{lb.tls_port}/a/b?x=1&y=2"
    no_port = http_get(lb.http_port, "/", host="shop.test")
    assert no_port.status == 301
    assert no_port.header("Location") == f"https://shop.test:{lb.tls_port}/"


def test_hsts_is_added_to_responses_only_when_asked(kit: Kit, root_pem: Path) -> None:
    kit.add_cert("shop", kit.issue("shop.test"))
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "shop", hsts=True)

    hsts = https_get(lb.tls_port, "shop.test", cafile=root_pem).header("Strict-Transport-Security")
    assert hsts is not None
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 31536000  # at least a year

    kit.svc.enable("edge", "shop", hsts=False)
    assert https_get(lb.tls_port, "shop.test", cafile=root_pem).header("Strict-Transport-Security") is None


def test_the_backend_sees_forwarded_proto_and_the_real_client_address(kit: Kit, root_pem: Path) -> None:
    kit.add_cert("shop", kit.issue("shop.test"))
    with EchoBackend() as echo:  # every header line, duplicates kept
        lb = kit.add_lb("edge", backend=f"{LOCALHOST}:{echo.port}")
        kit.svc.enable("edge", "shop")

        reply = https_get(lb.tls_port, "shop.test", "/who", cafile=root_pem,
                          headers={"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "http"})

    assert reply.status == 200
    assert reply.backend_header("X-Forwarded-Proto") == ["https"]
    assert reply.backend_header("X-Forwarded-For") == [LOCALHOST]  # the spoofed 1.2.3.4 is not passed on
    assert not any("1.2.3.4" in value for _, value in reply.backend_headers())


def test_alpn_offers_h2(kit: Kit) -> None:
    kit.add_cert("shop", kit.issue("shop.test"))
    lb = kit.add_lb("edge", http=False)
    kit.svc.enable("edge", "shop")

    assert handshake(lb.tls_port, "shop.test", client_context(alpn=["h2", "http/1.1"])).alpn == "h2"
    assert handshake(lb.tls_port, "shop.test", client_context(alpn=["http/1.1"])).alpn == "http/1.1"


# (client max version, accepted?) per profile; the TLS 1.1 client lowers its own security level, and the
# `old` row shows that this client really can complete a TLS 1.1 handshake, so the refusals mean something.
PROFILES = {
    "modern": {V.TLSv1_1: False, V.TLSv1_2: False, V.TLSv1_3: True},
    "intermediate": {V.TLSv1_1: False, V.TLSv1_2: True, V.TLSv1_3: True},
    "old": {V.TLSv1_1: True, V.TLSv1_2: True, V.TLSv1_3: True},
}


@pytest.mark.parametrize("profile", list(PROFILES))
def test_tls_profile_decides_which_protocol_versions_are_accepted(kit: Kit, profile: str) -> None:
    kit.add_cert("shop", kit.issue("shop.test"))
    lb = kit.add_lb("edge", http=False)
    kit.svc.enable("edge", "shop", tls_profile=profile)

    outcomes = {}
    for version in PROFILES[profile]:
        context = client_context(minimum=version, maximum=version, legacy=version < V.TLSv1_2)
        try:
            outcomes[version] = handshake(lb.tls_port, "shop.test", context).version
        except ssl.SSLError:
            outcomes[version] = None
    expected = {v: (v.name.replace("_", ".") if ok else None) for v, ok in PROFILES[profile].items()}
    assert outcomes == expected


def test_instance_protocol_https_verifies_the_backend(kit: Kit, root_pem: Path) -> None:
    """HTTPS to the instances: served when the backend's chain verifies against --backend-ca, refused (503)
    when it does not."""
    backend_leaf = kit.issue("backend.test")
    files = kit.home / "backend"
    files.mkdir()
    (files / "chain.pem").write_bytes(backend_leaf.cert_pem() + backend_leaf.chain_pem())
    (files / "key.pem").write_bytes(backend_leaf.key_pem())
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(files / "chain.pem", files / "key.pem")
    stranger = files / "stranger-root.pem"
    stranger.write_bytes(DemoCA("stranger").root.public_bytes(serialization.Encoding.PEM))
    kit.add_cert("shop", kit.issue("shop.test"))

    with EchoBackend(tls) as backend:
        good = kit.add_lb("good", http=False, backend=f"{LOCALHOST}:{backend.port}", backend_ca=str(root_pem))
        bad = kit.add_lb("bad", http=False, backend=f"{LOCALHOST}:{backend.port}", backend_ca=str(stranger))
        kit.svc.enable("good", "shop", instance_protocol="HTTPS")
        kit.svc.enable("bad", "shop", instance_protocol="HTTPS")

        verified = https_get(good.tls_port, "shop.test", "/secure", cafile=root_pem)
        unverified = https_get(bad.tls_port, "shop.test", "/secure", cafile=root_pem)

    assert verified.status == 200
    assert verified.json()["path"] == "/secure"
    assert verified.backend_header("X-Forwarded-Proto") == ["https"]
    assert unverified.status == 503  # HAProxy refused the backend whose certificate it cannot verify


def test_certificate_fields_served_match_the_store(kit: Kit) -> None:
    """What `cert show` says is what a client receives (serial, not after, names)."""
    site = kit.issue("shop.test", "api.shop.test")
    summary = kit.add_cert("shop", site).summary
    lb = kit.add_lb("edge", http=False)
    kit.svc.enable("edge", "shop")

    served = handshake(lb.tls_port, "api.shop.test").certificate
    assert served.serial_number == site.cert.serial_number
    assert served.not_valid_after_utc == summary.not_after
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName)
    assert names == list(summary.sans)
