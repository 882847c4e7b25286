"""The service facade with a real SQLite store, a fixed clock and the test PKI's root as the only anchor."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from pkitools import NOW, Node, Pki, pkcs12_bytes, rsa_key
from sslterm.certs import BundleInput
from sslterm.certs.keys import public_bytes
from sslterm.errors import CertificateError, InUse, NotFound
from sslterm.service import Service
from sslterm.settings import Settings
from sslterm.store import certificates as rows
from sslterm.store.schema import ListenerRow, LoadBalancerRow, TerminationRow

PASS = b"s3cret passphrase"


def bundle_of(leaf: Node, pki: Pki, **extra: object) -> BundleInput:
    return BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes(), **extra)  # type: ignore[arg-type]


def refused_codes(exc: pytest.ExceptionInfo[CertificateError]) -> set[str]:
    return {f.code for f in exc.value.findings if f.is_error}


def attach(service: Service, cert_name: str, lb_name: str = "edge-1") -> None:
    """What ``sslterm enable`` will record: a termination on a load balancer using the certificate."""
    with service.db.transaction() as session:
        row = rows.get(session, cert_name)
        assert row is not None
        lb = LoadBalancerRow(name=lb_name, kind="haproxy", options={}, created_at=NOW)
        listener = ListenerRow(load_balancer=lb, lb_port=443, instance_port=80, instance_protocol="HTTP",
                               redirect_http=False, hsts=False, tls_profile="intermediate", created_at=NOW)
        session.add(TerminationRow(listener=listener, certificate=row, position=0, created_at=NOW))


# -- add, list, show ------------------------------------------------------------------------------


def test_add_then_list_and_show(service: Service, pki: Pki) -> None:
    leaf = pki.leaf("www.example.test", "example.test", key=rsa_key(2048))
    added = service.add_certificate("www", bundle_of(leaf, pki))
    assert added.warnings == ()
    assert added.replaced is None
    [listed] = service.list_certificates()
    shown = service.show_certificate("www")
    for summary in (added.summary, listed, shown):
        assert summary.name == "www"
        assert summary.subject == leaf.cert.subject.rfc4514_string()
        assert "CN=www.example.test" in summary.subject
        assert summary.sans == ("www.example.test", "example.test")
        assert summary.issuer == pki.issuer.cert.subject.rfc4514_string()
        assert summary.not_before == leaf.cert.not_valid_before_utc
        assert summary.not_after == leaf.cert.not_valid_after_utc
        assert summary.fingerprint_sha256 == leaf.fingerprint
        assert (summary.key_type, summary.key_bits) == ("RSA", 2048)
        assert [(c.subject, c.issuer, c.fingerprint_sha256) for c in summary.chain] == [
            (pki.issuer.cert.subject.rfc4514_string(), pki.root.cert.subject.rfc4514_string(), pki.issuer.fingerprint)]
        assert summary.attached_to == ()


def test_list_is_sorted_by_name_and_shows_ec_keys(service: Service, pki: Pki) -> None:
    for name in ("zeta", "alpha", "mid"):
        service.add_certificate(name, bundle_of(pki.leaf(f"{name}.example.test", key=ec.generate_private_key(
            ec.SECP384R1())), pki))
    summaries = service.list_certificates()
    assert [s.name for s in summaries] == ["alpha", "mid", "zeta"]
    assert {(s.key_type, s.key_bits) for s in summaries} == {("EC", 384)}


def test_add_returns_the_warnings(service: Service, pki: Pki) -> None:
    leaf = pki.leaf(days=5)
    added = service.add_certificate("soon", BundleInput(cert=leaf.pem, key=leaf.key_bytes()))
    assert {w.code for w in added.warnings} == {"expires-soon", "incomplete-chain"}
    assert service.show_certificate("soon").name == "soon"


def test_show_unknown_is_not_found(service: Service) -> None:
    with pytest.raises(NotFound) as exc:
        service.show_certificate("nope")
    assert exc.value.code == "not-found"
    assert exc.value.exit_code == 2


# -- refusal stores nothing -----------------------------------------------------------------------


def test_refused_bundle_stores_nothing_and_reports_everything(service: Service, pki: Pki) -> None:
    good = pki.leaf("good.example.test")
    service.add_certificate("good", bundle_of(good, pki))
    audit_before = [(e.action, e.target) for e in service.audit_log()]
    expired = pki.leaf(not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=1))
    with pytest.raises(CertificateError) as exc:
        service.add_certificate("bad", BundleInput(cert=expired.pem, chain=pki.chain_pem,
                                                   key=pki.leaf().key_bytes()))
    assert {"expired", "key-mismatch"} <= refused_codes(exc)
    assert exc.value.exit_code == 3
    assert [s.name for s in service.list_certificates()] == ["good"]
    assert [(e.action, e.target) for e in service.audit_log()] == audit_before


def test_refused_first_bundle_leaves_an_empty_store(service: Service, pki: Pki) -> None:
    leaf = pki.leaf()
    with pytest.raises(CertificateError) as exc:
        service.add_certificate("enc", BundleInput(cert=leaf.pem, chain=pki.chain_pem,
                                                   key=leaf.key_bytes("pkcs8", PASS)))
    assert refused_codes(exc) == {"encrypted-key"}
    assert service.list_certificates() == []
    assert service.audit_log() == []


@pytest.mark.parametrize("name", ["", "-lead", "trail-", "has space", "../etc", "a/b", "dot..dot", "x" * 65,
                                  "naïve", "semi;colon"])
def test_invalid_name(service: Service, pki: Pki, name: str) -> None:
    with pytest.raises(CertificateError) as exc:
        service.add_certificate(name, bundle_of(pki.leaf(), pki))
    assert "invalid-name" in refused_codes(exc)
    assert service.list_certificates() == []


@pytest.mark.parametrize("name", ["a", "www.example.com", "api_v2-prod", "x" * 64, "A1"])
def test_valid_names(service: Service, pki: Pki, name: str) -> None:
    service.add_certificate(name, bundle_of(pki.leaf(), pki))
    assert service.show_certificate(name).name == name


def test_invalid_name_is_reported_with_the_certificate_problems(service: Service, pki: Pki) -> None:
    leaf = pki.leaf()
    with pytest.raises(CertificateError) as exc:
        service.add_certificate("bad name", BundleInput(cert=leaf.pem, chain=pki.chain_pem))
    assert refused_codes(exc) == {"invalid-name", "no-private-key"}


# -- exists and --replace -------------------------------------------------------------------------


def test_exists_then_replace(service: Service, pki: Pki) -> None:
    first, second = pki.leaf("www.example.test"), pki.leaf("www.example.test", days=200)
    service.add_certificate("www", bundle_of(first, pki))
    with pytest.raises(CertificateError) as exc:
        service.add_certificate("www", bundle_of(second, pki))
    assert refused_codes(exc) == {"exists"}
    assert "--replace" in (exc.value.hint or "")
    assert service.show_certificate("www").fingerprint_sha256 == first.fingerprint

    replaced = service.add_certificate("www", bundle_of(second, pki), replace=True)
    assert replaced.replaced == first.fingerprint
    assert [s.fingerprint_sha256 for s in service.list_certificates()] == [second.fingerprint]
    newest = service.audit_log()[0]
    assert (newest.action, newest.target, newest.fingerprint) == ("cert.replace", "certificate/www",
                                                                  second.fingerprint)
    assert first.fingerprint in newest.detail


def test_exists_is_reported_with_other_findings(service: Service, pki: Pki) -> None:
    service.add_certificate("www", bundle_of(pki.leaf(), pki))
    expired = pki.leaf(not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=1))
    with pytest.raises(CertificateError) as exc:
        service.add_certificate("www", bundle_of(expired, pki))
    assert refused_codes(exc) == {"exists", "expired"}


def test_replace_with_a_bad_bundle_keeps_the_old_one(service: Service, pki: Pki) -> None:
    good = pki.leaf()
    service.add_certificate("www", bundle_of(good, pki))
    with pytest.raises(CertificateError):
        service.add_certificate("www", BundleInput(cert=pki.leaf().pem, key=good.key_bytes()), replace=True)
    assert service.show_certificate("www").fingerprint_sha256 == good.fingerprint
    assert [e.action for e in service.audit_log()] == ["cert.add"]


def test_replace_on_a_new_name_just_adds(service: Service, pki: Pki) -> None:
    added = service.add_certificate("fresh", bundle_of(pki.leaf(), pki), replace=True)
    assert added.replaced is None
    assert [e.action for e in service.audit_log()] == ["cert.add"]


# -- remove ---------------------------------------------------------------------------------------


def test_remove(service: Service, pki: Pki) -> None:
    leaf = pki.leaf()
    service.add_certificate("www", bundle_of(leaf, pki))
    removed = service.remove_certificate("www")
    assert removed.fingerprint_sha256 == leaf.fingerprint
    assert service.list_certificates() == []
    newest = service.audit_log()[0]
    assert (newest.action, newest.target, newest.fingerprint) == ("cert.remove", "certificate/www",
                                                                  leaf.fingerprint)
    with pytest.raises(NotFound):
        service.remove_certificate("www")
    # the name is free again
    service.add_certificate("www", bundle_of(pki.leaf(), pki))


def test_remove_is_refused_while_attached(service: Service, pki: Pki) -> None:
    service.add_certificate("www", bundle_of(pki.leaf(), pki))
    attach(service, "www", "edge-7")
    assert service.show_certificate("www").attached_to == ("edge-7",)
    assert service.list_certificates()[0].as_json()["attached_to"] == ["edge-7"]
    with pytest.raises(InUse) as exc:
        service.remove_certificate("www")
    assert exc.value.code == "in-use"
    assert "edge-7" in exc.value.message
    assert [s.name for s in service.list_certificates()] == ["www"]
    assert "cert.remove" not in [e.action for e in service.audit_log()]


# -- expiry report --------------------------------------------------------------------------------


def test_expiring_within_days(service: Service, pki: Pki) -> None:
    service.add_certificate("soon", bundle_of(pki.leaf(days=10), pki))
    service.add_certificate("later", bundle_of(pki.leaf(days=90), pki))
    assert [s.name for s in service.expiring(30)] == ["soon"]
    assert sorted(s.name for s in service.expiring(100)) == ["later", "soon"]
    assert service.expiring(5) == []


def test_expiring_uses_the_clock(home: Path, pki: Pki) -> None:
    now = [NOW]
    svc = Service(Settings(home=home), clock=lambda: now[0], anchors=(pki.root.cert,))
    try:
        svc.add_certificate("www", bundle_of(pki.leaf(days=60), pki))
        assert svc.expiring(30) == []
        now[0] = NOW + timedelta(days=45)
        assert [s.name for s in svc.expiring(30)] == ["www"]
        now[0] = NOW + timedelta(days=61)  # already expired: certainly reported
        assert [s.name for s in svc.expiring(1)] == ["www"]
    finally:
        svc.db.engine.dispose()


# -- summaries as JSON ----------------------------------------------------------------------------


def test_summary_json_fields(service: Service, deep_pki: Pki) -> None:
    leaf = deep_pki.leaf("json.example.test", "alt.example.test")
    service.add_certificate("json", BundleInput(cert=leaf.pem, chain=deep_pki.chain_pem, key=leaf.key_bytes()))
    data = service.list_certificates()[0].as_json()
    assert {"name", "subject", "sans", "issuer", "not_before", "not_after", "fingerprint_sha256", "key_type",
            "key_bits", "chain", "attached_to"} <= set(data)
    assert datetime.fromisoformat(str(data["not_after"])) == leaf.cert.not_valid_after_utc
    assert datetime.fromisoformat(str(data["not_before"])) == leaf.cert.not_valid_before_utc
    assert data["chain"] == [{"subject": n.cert.subject.rfc4514_string(), "issuer": n.cert.issuer.rfc4514_string(),
                              "fingerprint_sha256": n.fingerprint} for n in deep_pki.chain]
    assert data["chain"][0]["subject"] == data["issuer"]  # issuer of the leaf first


def test_not_server_auth_is_accepted_with_its_warning(service: Service, pki: Pki) -> None:
    leaf = pki.leaf(eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    added = service.add_certificate("client", bundle_of(leaf, pki))
    assert [w.code for w in added.warnings] == ["not-server-auth"]


# -- the stored key is usable, unencrypted --------------------------------------------------------


@pytest.mark.parametrize("form", ["rsa-traditional-encrypted", "ec-pkcs8-encrypted", "pkcs12"])
def test_encrypted_input_is_stored_usable_without_passphrase(service: Service, pki: Pki, rsa2048: object,
                                                             form: str) -> None:
    leaf = pki.leaf(key=rsa2048 if form.startswith("rsa") else ec.generate_private_key(ec.SECP256R1()))
    inp = {
        "rsa-traditional-encrypted": BundleInput(cert=leaf.pem, chain=pki.chain_pem,
                                                 key=leaf.key_bytes("traditional", PASS), passphrase=PASS),
        "ec-pkcs8-encrypted": BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes("pkcs8", PASS),
                                          passphrase=PASS),
        "pkcs12": BundleInput(pkcs12=pkcs12_bytes(leaf, pki.chain, PASS), passphrase=PASS),
    }[form]
    service.add_certificate("www", inp)
    with service.db.transaction() as session:
        row = rows.get(session, "www")
        assert row is not None
        bundle = rows.load_bundle(row, service.vault)
    assert bundle.leaf == leaf.cert
    assert bundle.chain == tuple(n.cert for n in pki.chain)
    assert public_bytes(bundle.key) == public_bytes(leaf.cert.public_key())
    assert b"BEGIN PRIVATE KEY" in bundle.key_pem()
    assert b"ENCRYPTED" not in bundle.key_pem()
