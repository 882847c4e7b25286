"""Private keys are encrypted at rest, the files holding them are private, and the wrong secret opens nothing."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from pkitools import NOW, Node, Pki, assert_no_key_material, key_bytes, rsa_key
from sslterm.certs import BundleInput
from sslterm.errors import SSLTermError
from sslterm.service import Service
from sslterm.settings import Settings
from sslterm.store import certificates as rows


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def add_rsa_and_ec(service: Service, pki: Pki) -> list[Node]:
    leaves = [pki.leaf("rsa.example.test", key=rsa_key(2048)), pki.leaf("ec.example.test")]
    for leaf, name in zip(leaves, ("rsa", "ec"), strict=True):
        service.add_certificate(name, BundleInput(cert=leaf.pem, chain=pki.chain_pem,
                                                  key=leaf.key_bytes("traditional", b"pw"), passphrase=b"pw"))
    return leaves


def all_store_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.iterdir()) if p.name.startswith("sslterm.db"))


def test_keys_are_not_in_the_database_file(service: Service, pki: Pki, home: Path) -> None:
    leaves = add_rsa_and_ec(service, pki)
    assert_no_key_material(all_store_bytes(home), *(leaf.key for leaf in leaves))  # WAL included, while open
    service.db.engine.dispose()
    data = all_store_bytes(home)
    assert leaves[0].pem.splitlines()[1] in data  # the search works: the public certificate is there in clear
    assert_no_key_material(data, *(leaf.key for leaf in leaves))


def test_key_sealed_column_is_ciphertext(service: Service, pki: Pki, home: Path) -> None:
    leaves = add_rsa_and_ec(service, pki)
    service.db.engine.dispose()
    with sqlite3.connect(home / "sslterm.db") as db:
        sealed = dict(db.execute("SELECT name, key_sealed FROM certificates").fetchall())
    db.close()
    assert set(sealed) == {"rsa", "ec"}
    for leaf, name in zip(leaves, ("rsa", "ec"), strict=True):
        blob = bytes(sealed[name])
        plain = key_bytes(leaf.key)
        assert len(blob) >= len(plain)  # an AEAD ciphertext, not a digest or a reference
        assert_no_key_material(blob, leaf.key)
    assert sealed["rsa"] != sealed["ec"]


def test_the_same_key_is_sealed_differently_each_time(service: Service, pki: Pki, home: Path) -> None:
    key = rsa_key(2048)
    for name in ("one", "two"):
        leaf = pki.leaf(f"{name}.example.test", key=key)
        service.add_certificate(name, BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()))
    service.db.engine.dispose()
    with sqlite3.connect(home / "sslterm.db") as db:
        blobs = [bytes(b) for (b,) in db.execute("SELECT key_sealed FROM certificates")]
    db.close()
    assert blobs[0] != blobs[1]


def open_stored(home: Path, name: str, secret_key: str | None) -> bytes:
    other = Service(Settings(home=home, secret_key=secret_key), clock=lambda: NOW, anchors=())
    try:
        with other.db.transaction() as session:
            row = rows.get(session, name)
            assert row is not None
            return rows.load_bundle(row, other.vault).key_pem()
    finally:
        other.db.engine.dispose()


def test_a_different_secret_key_cannot_open_it(home: Path, pki: Pki) -> None:
    first = "first secret, long enough to be a key"
    svc = Service(Settings(home=home, secret_key=first), clock=lambda: NOW, anchors=())
    leaf = pki.leaf()
    svc.add_certificate("www", BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()))
    svc.db.engine.dispose()
    assert open_stored(home, "www", "first secret, long enough to be a key") == key_bytes(leaf.key)
    with pytest.raises(SSLTermError) as exc:
        open_stored(home, "www", "second secret, long enough to be a key")
    assert exc.value.code == "wrong-secret-key"
    assert "SSLTERM_SECRET_KEY" in (exc.value.hint or "")
    assert_no_key_material(f"{exc.value.message} {exc.value.hint}", leaf.key)


def test_secret_key_and_key_file_are_not_interchangeable(home: Path, pki: Pki) -> None:
    svc = Service(Settings(home=home), clock=lambda: NOW, anchors=())  # no secret: a key file is made
    leaf = pki.leaf()
    svc.add_certificate("www", BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()))
    svc.db.engine.dispose()
    assert open_stored(home, "www", None) == key_bytes(leaf.key)
    with pytest.raises(SSLTermError) as exc:
        open_stored(home, "www", "some secret, long enough to be a key")
    assert exc.value.code == "wrong-secret-key"
    (home / "secret.key").unlink()  # a lost key file: a new one is made, and it opens nothing old
    with pytest.raises(SSLTermError) as exc:
        open_stored(home, "www", None)
    assert exc.value.code == "wrong-secret-key"


def test_sealed_key_is_bound_to_its_certificate(service: Service, pki: Pki) -> None:
    """A key row copied onto another certificate does not open."""
    a, b = pki.leaf("a.example.test"), pki.leaf("b.example.test")
    for name, leaf in (("a", a), ("b", b)):
        service.add_certificate(name, BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()))
    with service.db.transaction() as session:
        row_a, row_b = rows.get(session, "a"), rows.get(session, "b")
        assert row_a is not None and row_b is not None
        row_b.key_sealed = row_a.key_sealed
    with service.db.transaction() as session, pytest.raises(SSLTermError) as exc:
        row = rows.get(session, "b")
        assert row is not None
        rows.load_bundle(row, service.vault)
    assert exc.value.code == "wrong-secret-key"


# -- file modes -----------------------------------------------------------------------------------


def test_data_dir_database_and_key_file_are_private(service: Service, pki: Pki, home: Path) -> None:
    assert not home.exists()
    leaf = pki.leaf()
    service.add_certificate("www", BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()))
    assert mode(home) == 0o700
    assert mode(home / "sslterm.db") == 0o600
    assert mode(home / "secret.key") == 0o600
    for extra in home.iterdir():  # SQLite's -wal and -shm files too
        assert mode(extra) == 0o600, extra.name


def test_no_key_file_when_a_secret_key_is_set(home: Path, pki: Pki) -> None:
    secret = "from the environment, long enough to be a key"
    svc = Service(Settings(home=home, secret_key=secret), clock=lambda: NOW, anchors=())
    leaf = pki.leaf()
    svc.add_certificate("www", BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()))
    svc.db.engine.dispose()
    assert not (home / "secret.key").exists()
    assert mode(home) == 0o700
    assert mode(home / "sslterm.db") == 0o600


def test_listing_creates_a_private_store(service: Service, home: Path) -> None:
    assert service.list_certificates() == []
    assert mode(home) == 0o700
    assert mode(home / "sslterm.db") == 0o600


# -- nothing radioactive in values that get printed or logged ------------------------------------


def test_audit_log_holds_no_key_material(service: Service, pki: Pki) -> None:
    leaves = add_rsa_and_ec(service, pki)
    service.remove_certificate("ec")
    entries = service.audit_log()
    assert [e.action for e in entries] == ["cert.remove", "cert.add", "cert.add"]
    text = " ".join(f"{e.action} {e.target} {e.fingerprint} {e.detail}" for e in entries)
    assert_no_key_material(text, *(leaf.key for leaf in leaves))


def test_reprs_hold_no_key_material(service: Service, pki: Pki) -> None:
    leaf = pki.leaf(key=rsa_key(2048))
    inp = BundleInput(cert=leaf.pem, key=leaf.key_bytes(), passphrase=b"a passphrase")
    added = service.add_certificate("www", inp)
    with service.db.transaction() as session:
        row = rows.get(session, "www")
        assert row is not None
        bundle = rows.load_bundle(row, service.vault)
    text = " ".join(repr(v) for v in (inp, added, bundle, service.vault, service.settings,
                                      Settings(home=Path("/x"), secret_key="topsecret")))
    assert_no_key_material(text, leaf.key)
    assert "a passphrase" not in text
    assert "topsecret" not in text


def test_a_short_secret_key_is_refused_before_anything_is_stored(home: Path, pki: Pki) -> None:
    svc = Service(Settings(home=home, secret_key="tiny-pw"), clock=lambda: NOW, anchors=())
    leaf = pki.leaf()
    with pytest.raises(SSLTermError) as exc:
        svc.add_certificate("www", BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()))
    assert exc.value.code == "weak-secret-key"
    assert "tiny-pw" not in f"{exc.value.message} {exc.value.hint}"
    assert svc.list_certificates() == []


def test_a_damaged_key_file_is_an_error_not_a_new_key(home: Path, pki: Pki) -> None:
    svc = Service(Settings(home=home), clock=lambda: NOW, anchors=())
    leaf = pki.leaf()
    svc.add_certificate("www", BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()))
    svc.db.engine.dispose()
    (home / "secret.key").write_bytes(b"")
    with pytest.raises(SSLTermError) as exc:
        open_stored(home, "www", None)
    assert exc.value.code == "bad-key-file"
