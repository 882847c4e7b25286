"""Importing a directory of bundles (certbot's live layout, NAME.crt + NAME.key pairs) and removing a
passphrase from a key file, through the service."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from pkitools import NOW, Node, Pki, key_bytes, rsa_key, write
from sslterm.certs.keys import public_bytes
from sslterm.discover import find_bundles
from sslterm.errors import AlreadyExists, CertificateError
from sslterm.files import MAX_INPUT_BYTES
from sslterm.service import Service


def certbot_lineage(live: Path, archive: Path, name: str, leaf: Node, pki: Pki) -> None:
    """certbot's layout: live/NAME/*.pem are symlinks into archive/NAME/*1.pem."""
    (archive / name).mkdir(parents=True)
    (live / name).mkdir(parents=True)
    files = {"cert": leaf.pem, "chain": pki.chain_pem, "fullchain": leaf.pem + pki.chain_pem,
             "privkey": leaf.key_bytes()}
    for stem, data in files.items():
        write(archive / name / f"{stem}1.pem", data)
        (live / name / f"{stem}.pem").symlink_to(Path("../../archive") / name / f"{stem}1.pem")
    write(live / name / "README", b"This directory contains your keys and certificates.\n")


@pytest.fixture
def certbot_tree(tmp_path: Path, pki: Pki) -> tuple[Path, dict[str, Node]]:
    etc = tmp_path / "letsencrypt"
    live, archive = etc / "live", etc / "archive"
    leaves = {"example.test": pki.leaf("example.test", "www.example.test"),
              "api.example.test": pki.leaf("api.example.test", key=rsa_key(2048))}
    for name, leaf in leaves.items():
        certbot_lineage(live, archive, name, leaf, pki)
    write(live / "README", b"certbot README\n")
    return live, leaves


def import_dir(service: Service, root: Path, replace: bool = False) -> tuple[list[str], dict[str, set[str]]]:
    report = service.import_bundles(((f.name, f.read) for f in find_bundles(root)), replace=replace)
    return (list(report.added),
            {r.name: {f.code for f in r.findings if f.is_error} for r in report.refused})


def test_certbot_live_layout(service: Service, certbot_tree: tuple[Path, dict[str, Node]], pki: Pki) -> None:
    live, leaves = certbot_tree
    added, refused = import_dir(service, live)
    assert refused == {}
    assert sorted(added) == sorted(leaves)
    for name, leaf in leaves.items():
        shown = service.show_certificate(name)
        assert shown.fingerprint_sha256 == leaf.fingerprint
        assert [c.fingerprint_sha256 for c in shown.chain] == [n.fingerprint for n in pki.chain]


def test_crt_key_pairs_and_refused_bundles(service: Service, tmp_path: Path, pki: Pki) -> None:
    root = tmp_path / "certs"
    root.mkdir()
    good, also_good = pki.leaf("good.example.test"), pki.leaf("pem.example.test", days=5)
    expired = pki.leaf("old.example.test", not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=1))
    write(root / "good.crt", good.pem + pki.chain_pem)
    write(root / "good.key", good.key_bytes())
    write(root / "pem-style.pem", also_good.pem + pki.chain_pem)
    write(root / "pem-style.key", also_good.key_bytes("traditional"))
    write(root / "old.crt", expired.pem + pki.chain_pem)
    write(root / "old.key", expired.key_bytes())
    write(root / "mismatch.crt", good.pem)
    write(root / "mismatch.key", expired.key_bytes())
    write(root / "locked.crt", good.pem)
    write(root / "locked.key", good.key_bytes("pkcs8", b"pw"))
    write(root / "lonely.crt", good.pem)  # no key beside it: not a bundle
    write(root / "notes.txt", b"not a certificate\n")
    audit_before = len(service.audit_log())

    added, refused = import_dir(service, root)
    assert sorted(added) == ["good", "pem-style"]
    assert refused == {"old": {"expired"}, "mismatch": {"key-mismatch"}, "locked": {"encrypted-key"}}
    assert sorted(s.name for s in service.list_certificates()) == ["good", "pem-style"]
    assert len(service.audit_log()) == audit_before + 2


def test_a_too_large_file_is_refused_and_the_rest_imported(service: Service, tmp_path: Path, pki: Pki) -> None:
    root = tmp_path / "certs"
    root.mkdir()
    good, big = pki.leaf("good.example.test"), pki.leaf("big.example.test")
    write(root / "good.crt", good.pem)
    write(root / "good.key", good.key_bytes())
    write(root / "big.crt", b"# padding\n" * (MAX_INPUT_BYTES // 10 + 1) + big.pem)
    write(root / "big.key", big.key_bytes())
    added, refused = import_dir(service, root)
    assert added == ["good"]
    assert refused == {"big": {"too-large"}}


def test_import_twice_refuses_existing_names_unless_replace(service: Service,
                                                            certbot_tree: tuple[Path, dict[str, Node]]) -> None:
    live, leaves = certbot_tree
    import_dir(service, live)
    added, refused = import_dir(service, live)
    assert added == []
    assert refused == {name: {"exists"} for name in leaves}
    added, refused = import_dir(service, live, replace=True)
    assert sorted(added) == sorted(leaves)
    assert refused == {}
    assert len(service.list_certificates()) == len(leaves)


def test_import_bad_names_are_refused(service: Service, tmp_path: Path, pki: Pki) -> None:
    live, archive = tmp_path / "live", tmp_path / "archive"
    certbot_lineage(live, archive, "bad name", pki.leaf(), pki)
    certbot_lineage(live, archive, "fine", pki.leaf(), pki)
    added, refused = import_dir(service, live)
    assert added == ["fine"]
    assert refused == {"bad name": {"invalid-name"}}


# -- key decrypt ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["pkcs8", "traditional"])
def test_decrypt_key(service: Service, tmp_path: Path, fmt: str) -> None:
    key = rsa_key(2048)
    original = key_bytes(key, fmt, b"pass phrase")
    src = write(tmp_path / "enc.key", original)
    out = tmp_path / "plain.key"
    service.decrypt_key(src, b"pass phrase", out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    opened = load_pem_private_key(out.read_bytes(), None)
    assert public_bytes(opened) == public_bytes(key)
    assert src.read_bytes() == original  # the encrypted original is left as it was


def test_decrypt_key_bad_passphrase_writes_nothing(service: Service, tmp_path: Path) -> None:
    src = write(tmp_path / "enc.key", key_bytes(rsa_key(2048), "traditional", b"right"))
    out = tmp_path / "plain.key"
    with pytest.raises(CertificateError) as exc:
        service.decrypt_key(src, b"wrong", out)
    assert exc.value.code == "bad-passphrase"
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary file left behind either


def test_decrypt_key_refuses_to_overwrite_without_force(service: Service, tmp_path: Path, ec256: object) -> None:
    src = write(tmp_path / "enc.key", key_bytes(ec256, "pkcs8", b"pw"))
    out = write(tmp_path / "plain.key", b"precious\n")
    with pytest.raises(AlreadyExists) as exc:
        service.decrypt_key(src, b"pw", out)
    assert exc.value.code == "exists"
    assert "--force" in (exc.value.hint or "")
    assert out.read_bytes() == b"precious\n"
    service.decrypt_key(src, b"pw", out, force=True)
    assert public_bytes(load_pem_private_key(out.read_bytes(), None)) == public_bytes(ec256)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_decrypt_key_of_a_file_without_a_key(service: Service, tmp_path: Path, pki: Pki) -> None:
    src = write(tmp_path / "cert.pem", pki.leaf().pem)
    with pytest.raises(CertificateError) as exc:
        service.decrypt_key(src, b"pw", tmp_path / "out.key")
    assert exc.value.code == "no-private-key"
    assert not (tmp_path / "out.key").exists()
