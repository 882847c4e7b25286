"""``sslterm key decrypt`` and ``sslterm cert import DIR`` through the real entry point."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key

from pkitools import Cli, Pki, assert_error, assert_no_key_material, assert_ok, error_codes, key_bytes, rsa_key, write
from sslterm.certs.keys import public_bytes


def test_key_decrypt(cli: Cli, tmp_path: Path) -> None:
    key = rsa_key(2048)
    enc = write(tmp_path / "enc.key", key_bytes(key, "traditional", b"hunter2"))
    right, wrong = write(tmp_path / "right.txt", b"hunter2\n"), write(tmp_path / "wrong.txt", b"hunter3\n")
    out = tmp_path / "plain.key"

    done = cli("key", "decrypt", enc, "--passphrase-file", right, "-o", out)
    assert_ok(done)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert public_bytes(load_pem_private_key(out.read_bytes(), None)) == public_bytes(key)
    assert_no_key_material(done.stdout + done.stderr, key)

    out.write_bytes(b"keep me\n")
    refused = cli("key", "decrypt", enc, "--passphrase-file", right, "-o", out)
    assert_error(refused, "exists", 2)
    assert "--force" in refused.stderr
    assert out.read_bytes() == b"keep me\n"

    bad = cli("key", "decrypt", enc, "--passphrase-file", wrong, "-o", tmp_path / "other.key", "--force")
    assert_error(bad, "bad-passphrase", 3)
    assert not (tmp_path / "other.key").exists()
    assert len(bad.stderr.splitlines()) <= 2
    assert_no_key_material(bad.stdout + bad.stderr, key)

    forced = cli("key", "decrypt", enc, "--passphrase-file", right, "-o", out, "--force")
    assert_ok(forced)
    assert public_bytes(load_pem_private_key(out.read_bytes(), None)) == public_bytes(key)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def make_import_dir(root: Path, pki: Pki) -> dict[str, str]:
    """certbot's live layout for two names, two NAME.crt + NAME.key pairs, and one expired pair."""
    now = datetime.now(UTC)
    fingerprints = {}
    for name in ("example.test", "shop.example.test"):
        leaf = pki.leaf(name)
        folder = root / name
        folder.mkdir(parents=True)
        write(folder / "cert.pem", leaf.pem)
        write(folder / "chain.pem", pki.chain_pem)
        write(folder / "fullchain.pem", leaf.pem + pki.chain_pem)
        write(folder / "privkey.pem", leaf.key_bytes())
        fingerprints[name] = leaf.fingerprint
    write(root / "README", b"certbot\n")
    for name in ("intranet", "mail"):
        leaf = pki.leaf(f"{name}.example.test")
        write(root / f"{name}.crt", leaf.pem + pki.chain_pem)
        write(root / f"{name}.key", leaf.key_bytes("traditional"))
        fingerprints[name] = leaf.fingerprint
    old = pki.leaf("old.example.test", not_before=now - timedelta(days=100), not_after=now - timedelta(days=1))
    write(root / "old.crt", old.pem + pki.chain_pem)
    write(root / "old.key", old.key_bytes())
    return fingerprints


def test_import_directory(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    root = tmp_path / "live"
    fingerprints = make_import_dir(root, live_pki)

    first = cli("cert", "import", root)
    assert first.returncode == 3, first.stderr
    assert "Traceback" not in first.stderr
    assert "refused old" in first.stderr
    assert "expired" in error_codes(first.stderr)
    assert "4 added, 1 refused" in first.stdout
    assert "PRIVATE KEY" not in first.stdout + first.stderr

    listed = cli("cert", "list", "--json")
    assert_ok(listed)
    assert {item["name"]: item["fingerprint_sha256"] for item in json.loads(listed.stdout)} == fingerprints

    again = cli("cert", "import", root, "--json")
    assert again.returncode == 3
    report = json.loads(again.stdout)
    assert report["added"] == []
    refused = {r["name"]: {f["code"] for f in r["findings"] if f["severity"] == "error"} for r in report["refused"]}
    assert refused == {**{name: {"exists"} for name in fingerprints}, "old": {"expired"}}

    (root / "old.crt").unlink()
    (root / "old.key").unlink()
    replaced = cli("cert", "import", root, "--replace", "--json")
    assert_ok(replaced)
    assert sorted(json.loads(replaced.stdout)["added"]) == sorted(fingerprints)


def test_import_a_missing_directory(cli: Cli, tmp_path: Path) -> None:
    proc = cli("cert", "import", tmp_path / "nowhere")
    assert_error(proc, "usage", 2)
    assert "nowhere" in proc.stderr
