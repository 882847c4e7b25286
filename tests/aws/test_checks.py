"""The AWS refusals (sslterm.providers.aws), each on real certificates and keys, with a fixed clock.

Every code is exercised, every key type AWS accepts is accepted, and the generated IAM names and the TLS
profile table hold what docs/aws.md says.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from pkitools import NOW, Node, Pki, assert_no_key_material, ec_key, ed25519_key, key_bytes, make_cert, openssl, rsa_key
from sslterm.certs.bundle import Bundle
from sslterm.errors import UnsafePlan
from sslterm.providers.aws.checks import (
    SIZE_LIMITS,
    Upload,
    bundle_problems,
    certificate_problems,
    key_algorithm,
    upload_problems,
)
from sslterm.providers.aws.names import IAM_PATH, iam_certificate_name, iam_name_problems
from sslterm.providers.aws.policies import SECURITY_POLICIES, quota_problems, security_policy
from sslterm.providers.aws.refusals import CODES, AwsRefusal, Problem, refuse

FAMILIES = ("classic", "application", "network")


@cache
def key_of(algorithm: str) -> object:
    """One key per ACM algorithm name (RSA keys are slow to make: made once per session)."""
    kind, size = algorithm.split("_", 1)
    if kind == "RSA":
        return rsa_key(int(size))
    return ec_key({"prime256v1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1(),
                   "secp256k1": ec.SECP256K1()}[size])


def bundle(pki: Pki, leaf: Node | None = None, chain: tuple[Node, ...] | None = None,
           key: object | None = None) -> Bundle:
    leaf = leaf or pki.leaf("www.example.test")
    served = tuple(pki.chain) if chain is None else chain
    return Bundle(leaf.cert, tuple(n.cert for n in served), key or leaf.key)  # type: ignore[arg-type]


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


# -- key types --------------------------------------------------------------------------------------

ACCEPTED = ("RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1")


@pytest.mark.parametrize("algorithm", ACCEPTED)
@pytest.mark.parametrize(("store", "family"), [("acm", "application"), ("acm", "network"), ("iam", "application"),
                                               ("iam", "network"), ("iam", "classic")])
def test_every_key_type_aws_takes_is_accepted(pki: Pki, algorithm: str, store: str, family: str) -> None:
    leaf = pki.leaf("www.example.test", key=key_of(algorithm))
    assert key_algorithm(leaf.cert.public_key()) == algorithm
    assert bundle_problems(bundle(pki, leaf), store, family, NOW) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ["RSA_1024", "RSA_2048"])
def test_classic_elb_takes_small_rsa_keys_from_acm(pki: Pki, algorithm: str) -> None:
    leaf = pki.leaf("www.example.test", key=key_of(algorithm))
    assert bundle_problems(bundle(pki, leaf), "acm", "classic", NOW) == []


@pytest.mark.parametrize("algorithm", ["RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1"])
def test_classic_elb_refuses_acm_certificates_with_big_rsa_or_ec_keys(pki: Pki, algorithm: str) -> None:
    leaf = pki.leaf("www.example.test", key=key_of(algorithm))
    problems = bundle_problems(bundle(pki, leaf), "acm", "classic", NOW)
    assert codes(problems) == ["aws-key-unsupported"]
    assert algorithm in problems[0].message and "--cert-store iam" in problems[0].hint


@pytest.mark.parametrize("store", ["acm", "iam"])
@pytest.mark.parametrize(("make", "name"), [(ed25519_key, "Ed25519"), (lambda: key_of("EC_secp256k1"), "EC_secp256k1"),
                                            (lambda: rsa_key(1536), "RSA_1536")])
def test_keys_aws_does_not_take_are_refused(pki: Pki, store: str, make: object, name: str) -> None:
    leaf = pki.leaf("www.example.test", key=make())  # type: ignore[operator]
    problems = bundle_problems(bundle(pki, leaf), store, "application", NOW)  # type: ignore[arg-type]
    assert codes(problems) == ["aws-key-unsupported"]
    assert name in problems[0].message


def test_a_key_of_another_certificate_is_refused(pki: Pki) -> None:
    problems = bundle_problems(bundle(pki, key=ec_key()), "acm", "application", NOW)
    assert codes(problems) == ["aws-key-mismatch"]
    assert "www.example.test" in problems[0].message


# -- the certificates -------------------------------------------------------------------------------


def test_an_x509_v1_certificate_is_refused(tmp_path: Path) -> None:
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "v1.key",
            "-subj", "/CN=v1.example.test", "-out", "v1.csr", cwd=tmp_path)
    openssl("x509", "-req", "-in", "v1.csr", "-key", "v1.key", "-days", "30", "-out", "v1.crt", cwd=tmp_path)
    leaf = x509.load_pem_x509_certificate((tmp_path / "v1.crt").read_bytes())
    assert leaf.version is x509.Version.v1
    assert codes(certificate_problems(leaf)) == ["aws-certificate-unsupported"]


def test_an_empty_issuer_is_refused(pki: Pki) -> None:
    key = ec_key()
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "anon")]))
            .issuer_name(x509.Name([])).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
            .sign(key, hashes.SHA256()))
    problems = certificate_problems(leaf)
    assert codes(problems) == ["aws-certificate-unsupported"] and "empty issuer" in problems[0].message


def test_an_ocsp_url_over_1000_characters_is_refused(pki: Pki) -> None:
    key = ec_key()

    def with_ocsp(url: str) -> x509.Certificate:
        aia = x509.AuthorityInformationAccess([x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                                                      x509.UniformResourceIdentifier(url))])
        return (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "o")]))
                .issuer_name(pki.issuer.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=1))
                .not_valid_after(NOW + timedelta(days=30)).add_extension(aia, critical=False)
                .sign(pki.issuer.key, hashes.SHA256()))  # type: ignore[arg-type]

    base = "http://ocsp.example.test/"
    assert certificate_problems(with_ocsp(base + "a" * (1000 - len(base)))) == []
    assert codes(certificate_problems(with_ocsp(base + "a" * (1001 - len(base))))) == ["aws-certificate-unsupported"]


def test_a_chain_out_of_order_is_refused(deep_pki: Pki) -> None:
    problems = bundle_problems(bundle(deep_pki, chain=tuple(deep_pki.intermediates)), "iam", "classic", NOW)
    assert codes(problems) == ["aws-chain-order"]
    assert "Deep Intermediate 1" in problems[0].message


def test_a_chain_of_another_pki_is_refused(pki: Pki, other_pki: Pki) -> None:
    problems = bundle_problems(bundle(pki, chain=tuple(other_pki.chain)), "acm", "application", NOW)
    assert codes(problems) == ["aws-chain-order"]


def test_a_chain_that_repeats_the_leaf_is_refused(pki: Pki) -> None:
    leaf = pki.leaf("www.example.test")
    assert codes(bundle_problems(bundle(pki, leaf, chain=(leaf, *pki.chain)), "acm", "application", NOW)) == [
        "aws-chain-order"]


def test_a_self_signed_certificate_without_chain_is_accepted() -> None:
    key = ec_key()
    start, end = NOW - timedelta(days=1), NOW + timedelta(days=30)
    cert = make_cert("self.example.test", key.public_key(), issuer=None, signing_key=key, not_before=start,
                     not_after=end, sans=("self.example.test",))
    assert bundle_problems(Bundle(cert, (), key), "iam", "classic", NOW) == []


@pytest.mark.parametrize(("shift", "code"), [(timedelta(days=91), "aws-expired"),
                                             (-timedelta(days=2), "aws-not-yet-valid")])
def test_a_leaf_outside_its_dates_at_upload_time_is_refused(pki: Pki, shift: timedelta, code: str) -> None:
    problems = bundle_problems(bundle(pki), "acm", "application", NOW + shift)
    assert code in codes(problems)
    assert any("www.example.test" in p.message for p in problems if p.code == code)


def test_an_expired_intermediate_is_refused(pki: Pki) -> None:
    key = ec_key()
    old = Node(make_cert("Test Intermediate (old)", key.public_key(), issuer=pki.root, ca=True,
                         not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1)), key)
    leaf = pki.leaf("www.example.test", issuer=old)
    problems = bundle_problems(bundle(pki, leaf, chain=(old,)), "acm", "application", NOW)
    assert codes(problems) == ["aws-expired"] and "Test Intermediate (old)" in problems[0].message


# -- what is sent -------------------------------------------------------------------------------------


def test_the_upload_is_the_leaf_the_chain_and_an_unencrypted_key_in_pem(pki: Pki) -> None:
    leaf = pki.leaf("www.example.test")
    upload = Upload.of(bundle(pki, leaf))
    assert x509.load_pem_x509_certificate(upload.certificate) == leaf.cert
    assert x509.load_pem_x509_certificates(upload.chain) == [n.cert for n in pki.chain]
    assert serialization.load_pem_private_key(upload.private_key, None).public_key() == leaf.key.public_key()  # type: ignore[attr-defined]
    assert upload_problems(upload, "acm") == [] and upload_problems(upload, "iam") == []
    assert_no_key_material(repr(upload), leaf.key)


def test_der_encrypted_and_doubled_material_is_refused_as_not_pem(pki: Pki) -> None:
    leaf = pki.leaf("www.example.test")
    good = Upload.of(bundle(pki, leaf))
    bad = [Upload(leaf.der, good.chain, good.private_key),
           Upload(good.certificate + good.certificate, good.chain, good.private_key),
           Upload(good.certificate, b"junk\n" + good.chain, good.private_key),
           Upload(good.certificate, good.chain, key_bytes(leaf.key, "pkcs8", b"secret")),
           Upload(good.certificate, good.chain, key_bytes(leaf.key, "traditional", b"secret"))]
    for upload in bad:
        problems = upload_problems(upload, "iam")
        assert codes(problems) == ["aws-pem-invalid"], problems
        assert_no_key_material(repr(problems), leaf.key)
    assert "encrypted" in upload_problems(bad[-1], "acm")[0].message
    assert upload_problems(Upload(good.certificate, good.chain, key_bytes(leaf.key, "traditional")), "acm") == []


def test_a_certificate_over_a_store_limit_is_refused(pki: Pki) -> None:
    names = [f"host-{i:04d}-{'x' * 40}.example.test" for i in range(300)]
    leaf = pki.leaf(*names)
    size = len(Upload.of(bundle(pki, leaf)).certificate)
    assert SIZE_LIMITS["iam"]["certificate"] < size <= SIZE_LIMITS["acm"]["certificate"]
    assert bundle_problems(bundle(pki, leaf), "acm", "application", NOW) == []
    problems = bundle_problems(bundle(pki, leaf), "iam", "application", NOW)
    assert codes(problems) == ["aws-too-large"] and str(size) in problems[0].message


def test_a_private_key_over_the_acm_limit_is_refused(pki: Pki, rsa_8192: object) -> None:
    leaf = pki.leaf("www.example.test", key=rsa_8192)
    problems = bundle_problems(bundle(pki, leaf), "acm", "application", NOW)
    assert codes(problems) == ["aws-key-unsupported", "aws-too-large"]
    assert "private key" in problems[1].message and "5120" in problems[1].message
    assert_no_key_material(repr(problems), leaf.key)


# -- raising ------------------------------------------------------------------------------------------


def test_refuse_raises_every_problem_as_one_unsafe_plan(pki: Pki) -> None:
    leaf = pki.leaf("www.example.test", key=key_of("RSA_4096"))
    problems = bundle_problems(bundle(pki, leaf, key=ec_key()), "acm", "classic", NOW + timedelta(days=91))
    with pytest.raises(AwsRefusal) as caught:
        refuse(problems)
    assert isinstance(caught.value, UnsafePlan) and caught.value.exit_code == 4
    assert caught.value.code == "aws-key-unsupported" and caught.value.hint == problems[0].hint
    assert codes(list(caught.value.problems)) == ["aws-key-unsupported", "aws-key-mismatch", "aws-expired"]
    assert all("\n" not in p.message for p in problems)
    refuse([])  # nothing to refuse: no error


def test_a_problem_code_must_be_a_documented_one() -> None:
    with pytest.raises(ValueError, match="unknown"):
        Problem("aws-made-up", "message", "hint")
    documented = Path(__file__).parents[2].joinpath("docs", "aws.md").read_text()
    assert set(re.findall(r"`(aws-[a-z-]+)`", documented)) >= CODES


# -- IAM names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "bad name", "slash/inside", "caf\u00e9", "x" * 129, "tab\tname"])
def test_names_iam_refuses_are_refused(name: str) -> None:
    assert codes(iam_name_problems(name)) == ["aws-name-invalid"]


@pytest.mark.parametrize("name", ["a", "x" * 128, "Shop_2024+=,.@-"])
def test_names_iam_takes_are_accepted(name: str) -> None:
    assert iam_name_problems(name) == []


@pytest.mark.parametrize("path", ["", "ssl", "/ssl", "ssl/", "/a b/", "/caf\u00e9/", "/" + "p" * 511 + "/"])
def test_paths_iam_refuses_are_refused(path: str) -> None:
    assert codes(iam_name_problems("ok", path)) == ["aws-path-invalid"]


@pytest.mark.parametrize("path", ["/", IAM_PATH, "/cloudfront/test/", "/" + "p" * 510 + "/"])
def test_paths_iam_takes_are_accepted(path: str) -> None:
    assert iam_name_problems("ok", path) == []


@settings(deadline=None)
@given(st.text(max_size=300), st.binary(min_size=32, max_size=32))
def test_a_generated_name_is_always_valid_and_depends_on_the_name_and_fingerprint(name: str, digest: bytes) -> None:
    fingerprint = digest.hex()
    generated = iam_certificate_name(name, fingerprint)
    assert iam_name_problems(generated) == []
    assert generated == iam_certificate_name(name, fingerprint)  # a re-run finds the same upload
    assert generated.startswith("sslterm-") and generated.endswith(fingerprint[:32])
    assert iam_certificate_name(name, (bytes([digest[0] ^ 1]) + digest[1:]).hex()) != generated


def test_a_generated_name_reads_as_the_certificate() -> None:
    fingerprint = "ab" * 32
    assert iam_certificate_name("Shop.example-2024", fingerprint) == f"sslterm-shop.example-2024-{'ab' * 16}"
    with pytest.raises(ValueError, match="fingerprint"):
        iam_certificate_name("shop", "AB" * 32)


# -- TLS profiles and the certificate quota -----------------------------------------------------------


def test_each_profile_maps_to_the_documented_policy() -> None:
    assert security_policy("application", "modern") == "ELBSecurityPolicy-TLS13-1-3-2021-06"
    assert security_policy("network", "intermediate") == "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
    assert security_policy("application", "old") == "ELBSecurityPolicy-TLS13-1-0-2021-06"
    assert security_policy("classic", "intermediate") == "ELBSecurityPolicy-TLS-1-2-2017-01"
    assert security_policy("classic", "old") == "ELBSecurityPolicy-2016-08"
    documented = Path(__file__).parents[2].joinpath("docs", "aws.md").read_text()
    for profiles in SECURITY_POLICIES.values():
        assert all(policy is None or f"`{policy}`" in documented for policy in profiles.values())


def test_a_classic_elb_cannot_be_modern() -> None:
    with pytest.raises(AwsRefusal) as caught:
        security_policy("classic", "modern")
    assert caught.value.code == "aws-profile-unsupported" and "intermediate" in (caught.value.hint or "")


@pytest.mark.parametrize("family", ["application", "network"])
def test_the_certificate_quota_counts_certificates_besides_the_defaults(family: str) -> None:
    assert quota_problems(family, 25) == []  # type: ignore[arg-type]
    assert codes(quota_problems(family, 26)) == ["aws-quota"]  # type: ignore[arg-type]
    assert quota_problems(family, 40, quota=50) == []  # type: ignore[arg-type]


def test_a_classic_elb_listener_has_no_sni_certificates() -> None:
    assert quota_problems("classic", 0) == []
    assert codes(quota_problems("classic", 1)) == ["aws-quota"]


def test_every_code_is_exercised_here() -> None:
    source = Path(__file__).read_text()
    assert all(f'"{code}"' in source for code in CODES)
