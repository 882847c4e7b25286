"""Damaged input never escapes as an exception: the parser and the validator always answer with findings.

A traceback is what an operator sees when an exception escapes the core, so this is a user-facing
property. Hypothesis mutates real PEM/DER/PKCS#12 (bit flips, truncation, inserted garbage, dropped or
swapped blocks); a few hand-made damaged certificates pin down the cases found so far.
"""

from __future__ import annotations

import base64
import re
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkitools import NOW, Pki, pkcs12_bytes, rsa_key
from sslterm.certs import BundleInput, validate_bundle
from sslterm.certs.findings import CODES, Finding
from sslterm.certs.pem import Parsed, parse, parse_key, parse_pkcs12
from sslterm.certs.validate import Result

PASS = b"fuzz"
FUZZ = settings(max_examples=200, deadline=None, report_multiple_bugs=False,
                suppress_health_check=[HealthCheck.too_slow])

# Seeds are made once at import: real certificates, keys and files of every shape.
_PKI = Pki("Fuzz")
_RSA_LEAF = _PKI.leaf("rsa.example.test", key=rsa_key(2048))
_EC_LEAF = _PKI.leaf("ec.example.test", "alt.example.test")
SEEDS: list[bytes] = [
    _RSA_LEAF.pem + _PKI.chain_pem + _RSA_LEAF.key_bytes(),
    _EC_LEAF.pem + _PKI.chain_pem + _EC_LEAF.key_bytes("traditional"),
    _EC_LEAF.der,
    _RSA_LEAF.der,
    _PKI.chain[0].der,
    _EC_LEAF.key_bytes("pkcs8", PASS),
    _RSA_LEAF.key_bytes("traditional", PASS),
    _EC_LEAF.key_bytes(der=True),
]
P12_SEED = pkcs12_bytes(_EC_LEAF, _PKI.chain, PASS)
_BLOCK = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----.*?-----END [A-Z0-9 ]+-----\n?", re.DOTALL)


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes] = SEEDS) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        else:
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[pos:pos + len(chunk)] = chunk
    return bytes(data)


@st.composite
def shuffled_blocks(draw: st.DrawFn) -> bytes:
    """Real PEM blocks, dropped, duplicated, swapped, with text and CR/LF variations between them."""
    blocks = _BLOCK.findall(SEEDS[0] + SEEDS[1] + SEEDS[5])
    chosen = draw(st.lists(st.sampled_from(blocks), max_size=8))
    glue = draw(st.sampled_from([b"", b"\n", b"\r\n", b"junk\n", b"-----BEGIN CERTIFICATE-----\n"]))
    data = glue.join(chosen)
    return data.replace(b"\n", b"\r\n") if draw(st.booleans()) else data


DER_SEEDS = [_EC_LEAF.der, _RSA_LEAF.der, _PKI.chain[0].der]


@st.composite
def mutated_der(draw: st.DrawFn) -> bytes:
    """A real DER certificate with a few bits changed (often in its header: version, serial, lengths),
    handed over as DER or re-wrapped as PEM so both paths see structurally damaged certificates."""
    data = bytearray(draw(st.sampled_from(DER_SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        end = draw(st.sampled_from([24, len(data)]))
        data[draw(st.integers(0, end - 1))] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()):
        return b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(bytes(data)) + b"-----END CERTIFICATE-----\n"
    return bytes(data)


ANY_INPUT = st.one_of(st.binary(max_size=2048), mutated_der(), mutated(), shuffled_blocks())


def assert_parsed(parsed: Parsed) -> None:
    assert isinstance(parsed, Parsed)
    assert all(isinstance(p, Finding) and p.code in CODES for p in parsed.problems)


def assert_result(result: Result) -> None:
    assert isinstance(result, Result)
    assert all(f.code in CODES for f in result.findings)
    if result.bundle is None:
        assert result.errors, "refused without saying why"
    else:
        assert result.errors == ()


@FUZZ
@given(data=ANY_INPUT)
def test_parse_never_raises(data: bytes) -> None:
    assert_parsed(parse(data, "fuzz.pem"))
    assert_parsed(parse_key(data, "fuzz.key"))


@FUZZ
@given(data=mutated_der())
def test_parse_bit_flipped_certificate_never_raises(data: bytes) -> None:
    assert_parsed(parse(data, "fuzz.crt"))


@FUZZ
@given(data=st.one_of(st.binary(max_size=2048), mutated([P12_SEED])), passphrase=st.sampled_from([None, PASS]))
def test_parse_pkcs12_never_raises(data: bytes, passphrase: bytes | None) -> None:
    assert_parsed(parse_pkcs12(data, "fuzz.p12", passphrase))


@FUZZ
@given(cert=mutated_der())
def test_validate_bit_flipped_certificate(cert: bytes) -> None:
    result = validate_bundle(BundleInput(cert=cert, key=_EC_LEAF.key_bytes()), now=NOW, anchors=(_PKI.root.cert,))
    assert_result(result)


@FUZZ
@given(chain=mutated_der())
def test_validate_bit_flipped_chain_with_good_leaf(chain: bytes) -> None:
    result = validate_bundle(BundleInput(cert=_EC_LEAF.pem, key=_EC_LEAF.key_bytes(), chain=chain),
                             now=NOW, anchors=(_PKI.root.cert,))
    assert_result(result)


@FUZZ
@given(cert=ANY_INPUT, key=st.one_of(st.none(), ANY_INPUT), chain=st.one_of(st.none(), ANY_INPUT),
       passphrase=st.sampled_from([None, PASS, b""]))
def test_validate_damaged_everything(cert: bytes, key: bytes | None, chain: bytes | None,
                                     passphrase: bytes | None) -> None:
    result = validate_bundle(BundleInput(cert=cert, key=key, chain=chain, passphrase=passphrase),
                             now=NOW, anchors=(_PKI.root.cert,))
    assert_result(result)


@FUZZ
@given(p12=mutated([P12_SEED]), passphrase=st.sampled_from([None, PASS]))
def test_validate_damaged_pkcs12(p12: bytes, passphrase: bytes | None) -> None:
    assert_result(validate_bundle(BundleInput(pkcs12=p12, passphrase=passphrase), now=NOW, anchors=()))


# -- hand-made damaged certificates (each once crashed the validator) -----------------------------


def _patched(der: bytes, old: bytes, new: bytes) -> bytes:
    assert der.count(old) >= 1, "fixture bytes not found"
    return der.replace(old, new, 1)


def _bad_version() -> bytes:
    """X.509 version field 6 (only 1-3 exist)."""
    return _patched(_EC_LEAF.der, b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x05")


def _unknown_key_algorithm() -> bytes:
    """id-ecPublicKey (1.2.840.10045.2.1) turned into an OID nobody knows."""
    return _patched(_EC_LEAF.der, b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01", b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x09")


def _duplicate_extension() -> bytes:
    """basicConstraints (2.5.29.19) relabelled subjectAltName (2.5.29.17): two SAN extensions."""
    return _patched(_EC_LEAF.der, b"\x06\x03\x55\x1d\x13", b"\x06\x03\x55\x1d\x11")


DAMAGED = {"bad-version": _bad_version, "unknown-key-algorithm": _unknown_key_algorithm,
           "duplicate-extension": _duplicate_extension}


@pytest.mark.parametrize("damage", list(DAMAGED))
@pytest.mark.parametrize("encoding", ["der", "pem"])
def test_damaged_certificate_is_refused_with_a_finding(damage: str, encoding: str) -> None:
    der = DAMAGED[damage]()
    data = der if encoding == "der" else (
        b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n")
    result = validate_bundle(BundleInput(cert=data, chain=_PKI.chain_pem, key=_EC_LEAF.key_bytes()),
                             now=NOW, anchors=(_PKI.root.cert,))
    assert result.bundle is None
    assert {f.code for f in result.errors} & {"unreadable-certificate", "weak-key"}, result.findings


def test_parse_reports_an_invalid_version_as_unreadable() -> None:
    parsed = parse(_bad_version(), "bad.der")
    assert [p.code for p in parsed.problems] == ["unreadable-certificate"]


def _negative_serial() -> bytes:
    der = bytearray(_EC_LEAF.der)
    at = der.index(b"\xa0\x03\x02\x01\x02") + 5
    assert der[at] == 0x02  # INTEGER: the serial number
    der[at + 2] = 0x80  # two's complement: now negative (and still minimally encoded)
    return bytes(der)


def test_a_negative_serial_number_prints_no_python_warning() -> None:
    """Old private CAs issued negative serials. The operator must get findings, not a Python warning
    line from deep inside a library on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsed = parse(_negative_serial(), "old.der")
        result = validate_bundle(BundleInput(cert=_negative_serial(), key=_EC_LEAF.key_bytes()), now=NOW,
                                 anchors=(_PKI.root.cert,))
    assert_parsed(parsed)
    assert_result(result)
    assert [str(w.message) for w in caught] == []
