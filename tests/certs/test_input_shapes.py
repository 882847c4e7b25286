"""Every accepted input shape gives the same checked bundle: PEM (LF, CRLF, text around), DER, PKCS#12,
a full chain in the certificate file, the key in the certificate file, RSA/EC keys in PKCS#8 and
traditional form, encrypted or not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from pkitools import NOW, Node, Pki, assert_no_key_material, crlf, key_bytes, pkcs12_bytes
from sslterm.certs import BundleInput, validate_bundle
from sslterm.certs.keys import public_bytes
from sslterm.certs.pem import parse
from sslterm.certs.validate import Result

PASS = b"correct horse battery staple"

OPENSSL_TEXT = b"""Certificate:
    Data:
        Version: 3 (0x2)
        Signature Algorithm: ecdsa-with-SHA256
subject=O = sslterm tests, CN = www.example.test
issuer=O = sslterm tests, CN = Test Intermediate 1
"""


def assert_same_bundle(result: Result, leaf: Node, chain: list[Node]) -> None:
    assert result.errors == (), result.errors
    assert result.bundle is not None
    assert result.bundle.leaf == leaf.cert
    assert result.bundle.chain == tuple(n.cert for n in chain)
    assert public_bytes(result.bundle.key) == public_bytes(leaf.cert.public_key())
    # what is stored and deployed is the key without any passphrase
    reloaded = load_pem_private_key(result.bundle.key_pem(), None)
    assert public_bytes(reloaded) == public_bytes(leaf.cert.public_key())


def run(pki: Pki, inp: BundleInput) -> Result:
    return validate_bundle(inp, now=NOW, anchors=(pki.root.cert,))


SHAPES: dict[str, Callable[[Node, Pki], BundleInput]] = {
    "pem-lf": lambda leaf, pki: BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()),
    "pem-crlf": lambda leaf, pki: BundleInput(cert=crlf(leaf.pem), chain=crlf(pki.chain_pem),
                                              key=crlf(leaf.key_bytes())),
    "pem-cr-only": lambda leaf, pki: BundleInput(cert=leaf.pem.replace(b"\n", b"\r"), chain=pki.chain_pem,
                                                 key=leaf.key_bytes().replace(b"\n", b"\r")),
    "text-around-blocks": lambda leaf, pki: BundleInput(
        cert=OPENSSL_TEXT + leaf.pem + b"\nsome trailing notes\n",
        chain=b"Bag Attributes\n    friendlyName: intermediate\n" + pki.chain_pem + b"-- end of chain --",
        key=b"Key Attributes: <No Attributes>\n" + leaf.key_bytes() + b"\n\n"),
    "pem-no-final-newline": lambda leaf, pki: BundleInput(cert=leaf.pem.rstrip(b"\n"),
                                                          chain=pki.chain_pem.rstrip(b"\n"),
                                                          key=leaf.key_bytes().rstrip(b"\n")),
    "der-certificate": lambda leaf, pki: BundleInput(cert=leaf.der, chain=pki.chain_pem, key=leaf.key_bytes()),
    "der-certificate-der-chain": lambda leaf, pki: BundleInput(cert=leaf.der, chain=pki.chain[0].der,
                                                               key=leaf.key_bytes()),
    "der-key": lambda leaf, pki: BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes(der=True)),
    "full-chain-in-cert-file": lambda leaf, pki: BundleInput(cert=leaf.pem + pki.chain_pem,
                                                             key=leaf.key_bytes()),
    "key-in-cert-file-first": lambda leaf, pki: BundleInput(cert=leaf.key_bytes() + leaf.pem + pki.chain_pem),
    "key-in-cert-file-last": lambda leaf, pki: BundleInput(cert=leaf.pem + pki.chain_pem + leaf.key_bytes()),
    "key-in-cert-file-crlf-text": lambda leaf, pki: BundleInput(
        cert=crlf(b"# haproxy combined file\n" + leaf.pem + pki.chain_pem + leaf.key_bytes("traditional"))),
    "encrypted-key-in-cert-file": lambda leaf, pki: BundleInput(
        cert=leaf.pem + pki.chain_pem + leaf.key_bytes("pkcs8", PASS), passphrase=PASS),
    "pkcs12-with-passphrase": lambda leaf, pki: BundleInput(pkcs12=pkcs12_bytes(leaf, pki.chain, PASS),
                                                            passphrase=PASS),
    "pkcs12-without-passphrase": lambda leaf, pki: BundleInput(pkcs12=pkcs12_bytes(leaf, pki.chain, None)),
    "pkcs12-plus-chain-file": lambda leaf, pki: BundleInput(pkcs12=pkcs12_bytes(leaf, [], PASS),
                                                            chain=pki.chain_pem, passphrase=PASS),
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_input_shape(shape: str, kind: str, pki: Pki, rsa2048: object, ec256: object) -> None:
    leaf = pki.leaf("www.example.test", key=rsa2048 if kind == "rsa" else ec256)
    result = run(pki, SHAPES[shape](leaf, pki))
    assert result.findings == (), result.findings
    assert_same_bundle(result, leaf, pki.chain)


KEY_FORMS = [(kind, fmt, encrypted) for kind in ("rsa", "ec") for fmt in ("pkcs8", "traditional")
             for encrypted in (False, True)]


@pytest.mark.parametrize(("kind", "fmt", "encrypted"), KEY_FORMS)
def test_key_forms(kind: str, fmt: str, encrypted: bool, pki: Pki, rsa2048: object, ec256: object) -> None:
    key = rsa2048 if kind == "rsa" else ec256
    leaf = pki.leaf(key=key)
    data = key_bytes(key, fmt, PASS if encrypted else None)
    expected_label = {("pkcs8", False): b"BEGIN PRIVATE KEY", ("pkcs8", True): b"BEGIN ENCRYPTED PRIVATE KEY",
                      ("traditional", False): f"BEGIN {kind.upper()} PRIVATE KEY".encode(),
                      ("traditional", True): f"BEGIN {kind.upper()} PRIVATE KEY".encode()}[(fmt, encrypted)]
    assert expected_label in data  # the fixture is the form it claims to be
    result = run(pki, BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=data,
                                  passphrase=PASS if encrypted else None))
    assert_same_bundle(result, leaf, pki.chain)


@pytest.mark.parametrize(("kind", "fmt"), [("rsa", "pkcs8"), ("ec", "traditional")])
def test_passphrase_given_for_an_unencrypted_key_is_ignored(kind: str, fmt: str, pki: Pki, rsa2048: object,
                                                            ec256: object) -> None:
    key = rsa2048 if kind == "rsa" else ec256
    leaf = pki.leaf(key=key)
    result = run(pki, BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=key_bytes(key, fmt), passphrase=PASS))
    assert_same_bundle(result, leaf, pki.chain)


def test_encrypted_der_pkcs8_key_with_passphrase(pki: Pki, ec256: object) -> None:
    """A binary (DER) encrypted PKCS#8 key, as Java and Windows tools export it, opens with its passphrase."""
    leaf = pki.leaf(key=ec256)
    data = key_bytes(ec256, "pkcs8", PASS, der=True)
    result = run(pki, BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=data, passphrase=PASS))
    assert_same_bundle(result, leaf, pki.chain)


def test_encrypted_der_pkcs8_key_without_passphrase_asks_for_it(pki: Pki, ec256: object) -> None:
    leaf = pki.leaf(key=ec256)
    result = run(pki, BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=key_bytes(ec256, "pkcs8", PASS, der=True)))
    assert result.bundle is None
    assert "encrypted-key" in {f.code for f in result.errors}, result.findings


def test_garbage_key_file_is_not_called_an_unreadable_certificate(pki: Pki) -> None:
    """The certificate is fine; the key file is not. The finding must point at the key."""
    leaf = pki.leaf()
    result = run(pki, BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=b"not a key\n", key_source="site.key"))
    assert result.bundle is None
    assert "no-private-key" in {f.code for f in result.errors}
    assert "unreadable-certificate" not in {f.code for f in result.errors}, result.findings


def test_pkcs12_without_passphrase_asks_for_it(pki: Pki) -> None:
    leaf = pki.leaf()
    result = run(pki, BundleInput(pkcs12=pkcs12_bytes(leaf, pki.chain, PASS)))
    assert result.bundle is None
    finding = next(f for f in result.errors if f.code == "encrypted-key")
    assert "--passphrase-file" in (finding.hint or "")


def test_pkcs12_with_a_wrong_passphrase(pki: Pki) -> None:
    leaf = pki.leaf()
    result = run(pki, BundleInput(pkcs12=pkcs12_bytes(leaf, pki.chain, PASS), passphrase=b"nope"))
    assert result.bundle is None
    assert "bad-passphrase" in {f.code for f in result.errors}


def test_pkcs12_that_is_not_one(pki: Pki) -> None:
    result = run(pki, BundleInput(pkcs12=pki.leaf().pem, passphrase=PASS))
    assert result.bundle is None
    assert result.errors


def test_trustme_key_and_chain_in_one_file() -> None:
    """trustme writes key + leaf + intermediate into one PEM, as many servers expect."""
    root = trustme.CA()
    child = root.create_child_ca()
    leaf = child.issue_cert("api.example.test", "10.0.0.7")
    result = validate_bundle(BundleInput(cert=leaf.private_key_and_cert_chain_pem.bytes()), now=NOW,
                             anchors=[_load(root.cert_pem.bytes())])
    assert result.findings == (), result.findings
    assert result.bundle is not None
    assert len(result.bundle.chain) == 1
    assert result.bundle.chain[0] == _load(child.cert_pem.bytes())


def test_trustme_leaf_from_root_needs_no_chain() -> None:
    root = trustme.CA()
    leaf = root.issue_cert("direct.example.test")
    result = validate_bundle(BundleInput(cert=leaf.cert_chain_pems[0].bytes(), key=leaf.private_key_pem.bytes()),
                             now=NOW, anchors=[_load(root.cert_pem.bytes())])
    assert result.findings == ()
    assert result.bundle is not None
    assert result.bundle.chain == ()


def _load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


# -- the parser on its own ------------------------------------------------------------------------


def test_parse_finds_every_block_in_order(pki: Pki) -> None:
    leaf = pki.leaf()
    data = crlf(b"intro\n" + leaf.pem + b"between\n" + leaf.key_bytes("traditional") + pki.chain_pem)
    parsed = parse(data, "bundle.pem")
    assert parsed.problems == []
    assert parsed.certificates == [leaf.cert, *(n.cert for n in pki.chain)]
    assert len(parsed.keys) == 1
    assert not parsed.keys[0].encrypted


def test_parse_ignores_unknown_blocks(pki: Pki) -> None:
    leaf = pki.leaf()
    public = leaf.cert.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    parsed = parse(public + leaf.pem + b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", "f.pem")
    assert parsed.problems == []
    assert parsed.certificates == [leaf.cert]
    assert parsed.keys == []


def test_parse_marks_encrypted_keys(pki: Pki, rsa2048: object) -> None:
    parsed = parse(key_bytes(rsa2048, "traditional", PASS) + key_bytes(rsa2048, "pkcs8", PASS), "k.pem")
    assert [k.encrypted for k in parsed.keys] == [True, True]


def test_key_blob_repr_shows_no_key(pki: Pki, rsa2048: object) -> None:
    parsed = parse(key_bytes(rsa2048), "k.pem")
    assert_no_key_material(repr(parsed), rsa2048)
