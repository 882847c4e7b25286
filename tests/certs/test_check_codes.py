"""Every stable check code, each on real certificates, through ``validate_bundle`` with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from pkitools import (
    NOW,
    Node,
    Pki,
    assert_no_key_material,
    ec_key,
    ed25519_key,
    make_cert,
    pems,
    rsa_key,
    sha1_self_signed,
    sha1_signed_by,
)
from sslterm.certs import BundleInput, validate_bundle
from sslterm.certs.findings import CODES, Severity
from sslterm.certs.validate import Result


def check(pki: Pki, **fields: object) -> Result:
    return validate_bundle(BundleInput(**fields), now=NOW, anchors=(pki.root.cert,))  # type: ignore[arg-type]


def codes(result: Result) -> set[str]:
    return {f.code for f in result.findings}


def soon_after_openssl() -> datetime:
    """openssl starts its certificates' validity at the moment it runs."""
    return datetime.now(UTC) + timedelta(minutes=5)


def assert_refused(result: Result, code: str) -> None:
    assert result.bundle is None, f"accepted despite {code}"
    assert code in {f.code for f in result.errors}, result.findings


def assert_accepted_with_warning(result: Result, code: str) -> None:
    assert result.errors == (), result.errors
    assert result.bundle is not None
    assert code in {f.code for f in result.warnings}, result.findings


def test_the_stable_codes_are_the_documented_ones() -> None:
    errors = {"unreadable-certificate", "no-certificate", "no-private-key", "expired", "not-yet-valid",
              "key-mismatch", "encrypted-key", "bad-passphrase", "chain-mismatch", "weak-key", "weak-signature",
              "invalid-name", "exists", "too-large"}
    warnings = {"expires-soon", "self-signed", "chain-reordered", "root-in-chain", "incomplete-chain",
                "chain-completed", "not-server-auth", "no-dns-name"}
    assert {c for c, s in CODES.items() if s is Severity.ERROR} == errors
    assert {c for c, s in CODES.items() if s is Severity.WARNING} == warnings


def test_a_good_bundle_has_no_findings(pki: Pki) -> None:
    leaf = pki.leaf("www.example.test", "example.test")
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert result.findings == ()
    assert result.bundle is not None
    assert result.bundle.leaf == leaf.cert
    assert result.bundle.chain == tuple(n.cert for n in pki.chain)


# -- errors ---------------------------------------------------------------------------------------


def test_unreadable_certificate_garbage(pki: Pki) -> None:
    result = check(pki, cert=b"this is not a certificate at all\n", key=pki.leaf().key_bytes())
    assert_refused(result, "unreadable-certificate")


def test_unreadable_certificate_damaged_pem_block(pki: Pki) -> None:
    leaf = pki.leaf()
    lines = leaf.pem.splitlines(keepends=True)
    damaged = b"".join(lines[:3] + lines[5:])  # two base64 lines missing
    result = check(pki, cert=damaged, key=leaf.key_bytes())
    assert_refused(result, "unreadable-certificate")
    assert "CERTIFICATE block" in result.errors[0].message


def test_no_certificate_when_the_certificate_file_holds_only_a_key(pki: Pki) -> None:
    leaf = pki.leaf()
    result = check(pki, cert=leaf.key_bytes(), key=leaf.key_bytes())
    assert_refused(result, "no-certificate")
    assert "--cert" in (result.errors[0].hint or "")


def test_no_certificate_when_nothing_is_given(pki: Pki) -> None:
    assert_refused(check(pki), "no-certificate")


def test_no_private_key(pki: Pki) -> None:
    leaf = pki.leaf()
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem)
    assert_refused(result, "no-private-key")
    assert "--key" in (result.errors[0].hint or "")


def test_expired(pki: Pki) -> None:
    leaf = pki.leaf(not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=2))
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert_refused(result, "expired")
    assert (NOW - timedelta(days=2)).strftime("%Y-%m-%d") in result.errors[0].message


def test_expired_exactly_now(pki: Pki) -> None:
    leaf = pki.leaf(not_before=NOW - timedelta(days=90), not_after=NOW)
    assert_refused(check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()), "expired")


def test_not_yet_valid(pki: Pki) -> None:
    leaf = pki.leaf(not_before=NOW + timedelta(days=3), not_after=NOW + timedelta(days=93))
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert_refused(result, "not-yet-valid")
    assert (NOW + timedelta(days=3)).strftime("%Y-%m-%d") in result.errors[0].message


def test_key_mismatch(pki: Pki) -> None:
    leaf, stranger = pki.leaf(), pki.leaf()
    assert_refused(check(pki, cert=leaf.pem, chain=pki.chain_pem, key=stranger.key_bytes()), "key-mismatch")


def test_key_mismatch_between_rsa_and_ec(pki: Pki, rsa2048: object) -> None:
    leaf = pki.leaf(key=rsa2048)
    assert_refused(check(pki, cert=leaf.pem, chain=pki.chain_pem, key=pki.leaf().key_bytes()), "key-mismatch")


@pytest.mark.parametrize("fmt", ["pkcs8", "traditional"])
def test_encrypted_key_without_passphrase_says_how_to_fix(pki: Pki, fmt: str) -> None:
    leaf = pki.leaf()
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes(fmt, b"open sesame"))
    assert_refused(result, "encrypted-key")
    finding = next(f for f in result.errors if f.code == "encrypted-key")
    advice = f"{finding.message} {finding.hint}"
    assert "--passphrase-file" in advice
    assert "sslterm key decrypt" in advice


@pytest.mark.parametrize("fmt", ["pkcs8", "traditional"])
def test_bad_passphrase(pki: Pki, fmt: str) -> None:
    leaf = pki.leaf()
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes(fmt, b"open sesame"),
                   passphrase=b"open barley")
    assert_refused(result, "bad-passphrase")


def test_empty_passphrase_is_a_bad_passphrase(pki: Pki) -> None:
    """An empty passphrase file (or one holding just a newline) is a wrong passphrase, not a damaged key."""
    leaf = pki.leaf()
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes("pkcs8", b"open sesame"),
                   passphrase=b"")
    assert_refused(result, "bad-passphrase")


def test_chain_mismatch_with_a_foreign_intermediate(pki: Pki, other_pki: Pki) -> None:
    leaf = pki.leaf()
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem + other_pki.chain_pem, key=leaf.key_bytes())
    assert_refused(result, "chain-mismatch")
    mismatch = next(f for f in result.errors if f.code == "chain-mismatch")
    assert "Other Intermediate 1" in mismatch.message


def test_chain_mismatch_with_only_a_wrong_chain(pki: Pki, other_pki: Pki) -> None:
    leaf = pki.leaf()
    assert_refused(check(pki, cert=leaf.pem, chain=other_pki.chain_pem, key=leaf.key_bytes()), "chain-mismatch")


def test_weak_key_rsa_1024(pki: Pki) -> None:
    leaf = pki.leaf(key=rsa_key(1024))
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert_refused(result, "weak-key")
    assert "1024" in next(f for f in result.errors if f.code == "weak-key").message


def test_weak_key_unsupported_curve_secp256k1(pki: Pki) -> None:
    leaf = pki.leaf(key=ec_key(ec.SECP256K1()))
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert_refused(result, "weak-key")
    assert "secp256k1" in next(f for f in result.errors if f.code == "weak-key").message


def test_weak_key_ed25519(pki: Pki) -> None:
    leaf = pki.leaf(key=ed25519_key())
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert_refused(result, "weak-key")


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1()])
def test_strong_curves_are_accepted(pki: Pki, curve: ec.EllipticCurve) -> None:
    leaf = pki.leaf(key=ec_key(curve))
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert result.findings == ()


def test_weak_signature_sha1_self_signed_leaf(tmp_path: Path) -> None:
    cert, key = sha1_self_signed(tmp_path)
    result = validate_bundle(BundleInput(cert=cert, key=key), now=soon_after_openssl(), anchors=())
    assert_refused(result, "weak-signature")
    assert "SHA1" in next(f for f in result.errors if f.code == "weak-signature").message


def test_weak_signature_sha1_leaf_from_an_intermediate(tmp_path: Path, live_pki: Pki) -> None:
    leaf = sha1_signed_by(tmp_path, live_pki.issuer, cn="sha1leaf.example.test", ca=False, tag="leaf")
    result = validate_bundle(BundleInput(cert=leaf.pem, chain=live_pki.chain_pem, key=leaf.key_bytes()),
                             now=soon_after_openssl(), anchors=(live_pki.root.cert,))
    assert_refused(result, "weak-signature")


def test_sha1_signed_leaf_is_not_reported_as_a_chain_mismatch(tmp_path: Path, live_pki: Pki) -> None:
    """The intermediate did sign the leaf (with SHA-1): the finding is the weak signature, and the chain
    must not be called foreign ("does not link") because the signature algorithm is refused."""
    leaf = sha1_signed_by(tmp_path, live_pki.issuer, cn="sha1leaf.example.test", ca=False, tag="leaf")
    result = validate_bundle(BundleInput(cert=leaf.pem, chain=live_pki.chain_pem, key=leaf.key_bytes()),
                             now=soon_after_openssl(), anchors=(live_pki.root.cert,))
    assert "weak-signature" in codes(result)
    assert "chain-mismatch" not in codes(result), result.findings


def test_weak_signature_sha1_intermediate(tmp_path: Path, live_pki: Pki) -> None:
    inter = sha1_signed_by(tmp_path, live_pki.root, cn="SHA1 Intermediate", ca=True, tag="inter")
    leaf = live_pki.leaf("www.example.test", issuer=inter)
    result = validate_bundle(BundleInput(cert=leaf.pem, chain=inter.pem, key=leaf.key_bytes()),
                             now=soon_after_openssl(), anchors=(live_pki.root.cert,))
    assert_refused(result, "weak-signature")
    assert "SHA1 Intermediate" in next(f for f in result.errors if f.code == "weak-signature").message


# -- warnings -------------------------------------------------------------------------------------


def test_expires_soon(pki: Pki) -> None:
    leaf = pki.leaf(days=10)
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert_accepted_with_warning(result, "expires-soon")
    assert "10 days" in result.warnings[0].message


def test_expires_soon_honours_warn_days(pki: Pki) -> None:
    leaf = pki.leaf(days=45)
    inp = BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert validate_bundle(inp, now=NOW, anchors=(pki.root.cert,)).findings == ()
    soon = validate_bundle(inp, now=NOW, anchors=(pki.root.cert,), warn_days=60)
    assert_accepted_with_warning(soon, "expires-soon")


def test_self_signed(pki: Pki) -> None:
    key = ec_key()
    cert = make_cert("selfie.example.test", key.public_key(), issuer=None, signing_key=key,
                     not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=365),
                     sans=["selfie.example.test"])
    node = Node(cert, key)
    result = check(pki, cert=node.pem, key=node.key_bytes())
    assert_accepted_with_warning(result, "self-signed")
    assert "incomplete-chain" not in codes(result)


def test_chain_reordered_when_intermediates_come_top_down(deep_pki: Pki) -> None:
    leaf = deep_pki.leaf()
    top_down = pems(*deep_pki.intermediates)  # inter1, inter2: the wrong way round
    result = check(deep_pki, cert=leaf.pem, chain=top_down, key=leaf.key_bytes())
    assert_accepted_with_warning(result, "chain-reordered")
    assert result.bundle is not None
    assert result.bundle.chain == tuple(n.cert for n in deep_pki.chain)


def test_chain_reordered_when_the_leaf_comes_after_its_chain(pki: Pki) -> None:
    leaf = pki.leaf()
    result = check(pki, cert=pki.chain_pem + leaf.pem, key=leaf.key_bytes())
    assert_accepted_with_warning(result, "chain-reordered")
    assert result.bundle is not None
    assert result.bundle.leaf == leaf.cert


def test_chain_in_order_is_not_reordered(deep_pki: Pki) -> None:
    leaf = deep_pki.leaf()
    result = check(deep_pki, cert=leaf.pem + deep_pki.chain_pem, key=leaf.key_bytes())
    assert result.findings == ()


def test_fullchain_plus_the_same_chain_file_is_not_reordered(pki: Pki) -> None:
    """certbot users often give --cert fullchain.pem --chain chain.pem: in order, just repeated."""
    leaf = pki.leaf()
    result = check(pki, cert=leaf.pem + pki.chain_pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert result.bundle is not None
    assert result.bundle.chain == tuple(n.cert for n in pki.chain)
    assert "chain-reordered" not in codes(result), result.findings


def test_root_in_chain(pki: Pki) -> None:
    leaf = pki.leaf()
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem + pki.root.pem, key=leaf.key_bytes())
    assert_accepted_with_warning(result, "root-in-chain")
    assert result.bundle is not None
    assert pki.root.cert not in result.bundle.chain  # the root is not served
    assert result.bundle.chain == tuple(n.cert for n in pki.chain)


def test_incomplete_chain_without_intermediate(pki: Pki) -> None:
    leaf = pki.leaf()
    result = check(pki, cert=leaf.pem, key=leaf.key_bytes())
    assert_accepted_with_warning(result, "incomplete-chain")
    assert "--chain" in (result.warnings[0].hint or "")


def test_incomplete_chain_when_the_root_is_unknown(pki: Pki) -> None:
    leaf = pki.leaf()
    result = validate_bundle(BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()),
                             now=NOW, anchors=())
    assert_accepted_with_warning(result, "incomplete-chain")


def test_not_server_auth(pki: Pki) -> None:
    leaf = pki.leaf(eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    assert_accepted_with_warning(check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()),
                                 "not-server-auth")


@pytest.mark.parametrize("eku", [None, (ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,),
                                 (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH)])
def test_server_usage_variants_are_fine(pki: Pki, eku: tuple[object, ...] | None) -> None:
    leaf = pki.leaf(eku=eku)  # type: ignore[arg-type]
    assert check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()).findings == ()


# -- all at once ----------------------------------------------------------------------------------


def test_all_findings_are_reported_at_once(pki: Pki, other_pki: Pki) -> None:
    leaf = pki.leaf(not_before=NOW - timedelta(days=100), not_after=NOW - timedelta(days=1),
                    eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    result = check(pki, cert=leaf.pem, chain=other_pki.chain_pem, key=pki.leaf().key_bytes())
    assert {"expired", "key-mismatch", "chain-mismatch"} <= {f.code for f in result.errors}
    assert "not-server-auth" in {f.code for f in result.warnings}
    assert result.bundle is None


def test_expired_and_weak_key_together(pki: Pki) -> None:
    leaf = pki.leaf(key=rsa_key(1024), not_before=NOW - timedelta(days=100), not_after=NOW - timedelta(days=1))
    result = check(pki, cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes())
    assert {"expired", "weak-key"} <= {f.code for f in result.errors}


def test_findings_never_carry_key_material(pki: Pki) -> None:
    leaf, other = pki.leaf(key=rsa_key(2048)), pki.leaf()
    for inp in (BundleInput(cert=leaf.pem, key=other.key_bytes()),
                BundleInput(cert=leaf.key_bytes() + leaf.pem, key=leaf.key_bytes("traditional", b"pw"),
                            passphrase=b"wrong")):
        result = validate_bundle(inp, now=NOW, anchors=())
        text = " ".join(f"{f.message} {f.hint}" for f in result.findings) + repr(result) + repr(inp)
        assert_no_key_material(text, leaf.key, other.key)
