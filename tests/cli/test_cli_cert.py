"""``sslterm cert ...`` through the real entry point (``python -m sslterm``), as an operator runs it."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_private_key

from pkitools import (
    Cli,
    Node,
    Pki,
    assert_error,
    assert_no_key_material,
    assert_ok,
    crlf,
    error_codes,
    pkcs12_bytes,
    rsa_key,
    warning_codes,
    write,
)
from sslterm.certs.keys import public_bytes
from sslterm.files import MAX_INPUT_BYTES
from sslterm.service import Service
from sslterm.settings import Settings
from sslterm.store import certificates as rows

PASS = b"tr0ub4dor&3"


def bundle_files(tmp_path: Path, leaf: Node, pki: Pki, tag: str = "site") -> tuple[Path, Path, Path]:
    return (write(tmp_path / f"{tag}.crt", leaf.pem), write(tmp_path / f"{tag}.key", leaf.key_bytes()),
            write(tmp_path / f"{tag}-chain.pem", pki.chain_pem))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_add_then_list_and_show_json(cli: Cli, tmp_path: Path, live_pki: Pki, home: Path) -> None:
    leaf = live_pki.leaf("www.example.test", "example.test", key=rsa_key(2048))
    cert, key, chain = bundle_files(tmp_path, leaf, live_pki)

    added = cli("cert", "add", "www", "--cert", cert, "--key", key, "--chain", chain)
    assert_ok(added)
    assert "added www" in added.stdout
    assert leaf.fingerprint[:16] in added.stdout
    assert error_codes(added.stderr) == set()
    assert warning_codes(added.stderr) == {"incomplete-chain"}  # the test root is no system root

    listed = cli("cert", "list", "--json")
    assert_ok(listed)
    [item] = json.loads(listed.stdout)
    assert {"name", "subject", "sans", "issuer", "not_before", "not_after", "fingerprint_sha256", "key_type",
            "key_bits", "chain", "attached_to"} <= set(item)
    assert item["name"] == "www"
    assert item["subject"] == leaf.cert.subject.rfc4514_string()
    assert item["sans"] == ["www.example.test", "example.test"]
    assert item["issuer"] == live_pki.issuer.cert.subject.rfc4514_string()
    assert datetime.fromisoformat(item["not_before"]) == leaf.cert.not_valid_before_utc
    assert datetime.fromisoformat(item["not_after"]) == leaf.cert.not_valid_after_utc
    assert datetime.fromisoformat(item["not_after"]).utcoffset() == timedelta(0)
    assert item["fingerprint_sha256"] == leaf.fingerprint
    assert (item["key_type"], item["key_bits"]) == ("RSA", 2048)
    assert item["chain"] == [{"subject": n.cert.subject.rfc4514_string(), "issuer": n.cert.issuer.rfc4514_string(),
                              "fingerprint_sha256": n.fingerprint} for n in live_pki.chain]
    assert item["attached_to"] == []

    shown = cli("cert", "show", "www", "--json")
    assert_ok(shown)
    assert json.loads(shown.stdout) == item

    assert mode(home) == 0o700
    assert mode(home / "sslterm.db") == 0o600
    assert mode(home / "secret.key") == 0o600
    for proc in (added, listed, shown):
        assert_no_key_material(proc.stdout + proc.stderr, leaf.key)


def test_refused_bundle_reports_every_error_and_stores_nothing(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    now = datetime.now(UTC)
    expired = live_pki.leaf("old.example.test", not_before=now - timedelta(days=120),
                            not_after=now - timedelta(days=3))
    stranger = live_pki.leaf()
    cert = write(tmp_path / "old.crt", expired.pem + live_pki.chain_pem)
    key = write(tmp_path / "other.key", stranger.key_bytes())

    refused = cli("cert", "add", "old", "--cert", cert, "--key", key)
    assert_error(refused, "expired", 3)
    assert {"expired", "key-mismatch"} <= error_codes(refused.stderr)
    lines = [line for line in refused.stderr.splitlines() if not line.startswith("  hint: ")]
    first_warning = next((i for i, line in enumerate(lines) if line.startswith("warning[")), len(lines))
    assert all(line.startswith("error[") for line in lines[:first_warning])  # errors first
    assert_no_key_material(refused.stdout + refused.stderr, expired.key, stranger.key)

    listed, log = cli("cert", "list", "--json"), cli("log", "--json")
    assert_ok(listed)
    assert json.loads(listed.stdout) == []
    assert_ok(log)
    assert json.loads(log.stdout) == []


def test_encrypted_key_needs_a_passphrase_file_then_is_stored_usable(cli: Cli, tmp_path: Path, live_pki: Pki,
                                                                    home: Path) -> None:
    leaf = live_pki.leaf("secure.example.test")
    cert = write(tmp_path / "secure.crt", leaf.pem + live_pki.chain_pem)
    key = write(tmp_path / "secure.key", leaf.key_bytes("traditional", PASS))
    passfile = write(tmp_path / "pass.txt", PASS + b"\n")

    refused = cli("cert", "add", "secure", "--cert", cert, "--key", key)
    assert_error(refused, "encrypted-key", 3)
    assert "--passphrase-file" in refused.stderr
    assert "sslterm key decrypt" in refused.stderr

    added = cli("cert", "add", "secure", "--cert", cert, "--key", key, "--passphrase-file", passfile)
    assert_ok(added)
    assert PASS.decode() not in added.stdout + added.stderr

    # the store opened by its own code (same data directory, same key file) holds the key unencrypted
    svc = Service(Settings(home=home))
    try:
        with svc.db.transaction() as session:
            row = rows.get(session, "secure")
            assert row is not None
            stored = rows.load_bundle(row, svc.vault).key_pem()
    finally:
        svc.db.engine.dispose()
    assert public_bytes(load_pem_private_key(stored, None)) == public_bytes(leaf.key)


def test_pkcs12_with_passphrase_file(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    leaf = live_pki.leaf("p12.example.test")
    p12 = write(tmp_path / "site.p12", pkcs12_bytes(leaf, live_pki.chain, PASS))
    right, wrong = write(tmp_path / "right.txt", PASS), write(tmp_path / "wrong.txt", b"guess\n")

    bad = cli("cert", "add", "p12", "--pkcs12", p12, "--passphrase-file", wrong)
    assert_error(bad, "bad-passphrase", 3)

    good = cli("cert", "add", "p12", "--pkcs12", p12, "--passphrase-file", right, "--json")
    assert_ok(good)
    data = json.loads(good.stdout)
    assert data["fingerprint_sha256"] == leaf.fingerprint
    assert [c["fingerprint_sha256"] for c in data["chain"]] == [n.fingerprint for n in live_pki.chain]
    assert_no_key_material(good.stdout + good.stderr, leaf.key)


def test_der_certificate_crlf_key_and_combined_file(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    one, two = live_pki.leaf("der.example.test"), live_pki.leaf("combined.example.test", key=rsa_key(2048))
    der = write(tmp_path / "der.cer", one.der)
    key = write(tmp_path / "der.key", crlf(one.key_bytes("traditional")))
    chain = write(tmp_path / "chain.pem", crlf(b"intermediate:\n" + live_pki.chain_pem))
    combined = write(tmp_path / "combined.pem", b"subject=combined\n" + two.pem + live_pki.chain_pem
                     + two.key_bytes("traditional"))

    assert_ok(cli("cert", "add", "der", "--cert", der, "--key", key, "--chain", chain))
    added = cli("cert", "add", "combined", "--cert", combined, "--json")
    assert_ok(added)
    assert json.loads(added.stdout)["fingerprint_sha256"] == two.fingerprint
    assert json.loads(added.stdout)["key_type"] == "RSA"
    assert_no_key_material(added.stdout + added.stderr, two.key)


def test_too_large_file(cli: Cli, tmp_path: Path, live_pki: Pki, home: Path) -> None:
    leaf = live_pki.leaf()
    big = write(tmp_path / "big.pem", b"# notes\n" * (MAX_INPUT_BYTES // 8 + 1) + leaf.pem)
    key = write(tmp_path / "big.key", leaf.key_bytes())
    proc = cli("cert", "add", "big", "--cert", big, "--key", key)
    assert_error(proc, "too-large", 3)
    assert len(proc.stderr.splitlines()) <= 2


def test_invalid_name(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    cert, key, chain = bundle_files(tmp_path, live_pki.leaf(), live_pki)
    proc = cli("cert", "add", "../../etc/passwd", "--cert", cert, "--key", key, "--chain", chain)
    assert_error(proc, "invalid-name", 3)


def test_exists_replace_and_the_audit_log(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    first, second = live_pki.leaf("www.example.test"), live_pki.leaf("www.example.test", days=180)
    cert1, key1, chain = bundle_files(tmp_path, first, live_pki, "first")
    cert2, key2, _ = bundle_files(tmp_path, second, live_pki, "second")

    assert_ok(cli("cert", "add", "www", "--cert", cert1, "--key", key1, "--chain", chain))
    again = cli("cert", "add", "www", "--cert", cert2, "--key", key2, "--chain", chain)
    assert_error(again, "exists", 3)
    assert "--replace" in again.stderr

    replaced = cli("cert", "add", "www", "--cert", cert2, "--key", key2, "--chain", chain, "--replace", "--json")
    assert_ok(replaced)
    data = json.loads(replaced.stdout)
    assert data["replaced"] == first.fingerprint
    assert data["fingerprint_sha256"] == second.fingerprint

    log_json, log_table = cli("log", "--json"), cli("log")
    assert_ok(log_json)
    entries = json.loads(log_json.stdout)
    assert [(e["action"], e["target"], e["fingerprint"]) for e in entries] == [
        ("cert.replace", "certificate/www", second.fingerprint), ("cert.add", "certificate/www", first.fingerprint)]
    assert_ok(log_table)
    assert "cert.replace" in log_table.stdout
    for proc in (again, replaced, log_json, log_table):
        assert_no_key_material(proc.stdout + proc.stderr, first.key, second.key)


def test_remove(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    leaf = live_pki.leaf()
    cert, key, chain = bundle_files(tmp_path, leaf, live_pki)
    assert_ok(cli("cert", "add", "gone", "--cert", cert, "--key", key, "--chain", chain))
    removed = cli("cert", "remove", "gone")
    assert_ok(removed)
    assert "removed gone" in removed.stdout
    assert_error(cli("cert", "show", "gone"), "not-found", 2)
    again = cli("cert", "remove", "gone")
    assert_error(again, "not-found", 2)
    assert len(again.stderr.splitlines()) <= 2


def test_check_days(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    soon, later = live_pki.leaf("soon.example.test", days=10), live_pki.leaf("later.example.test", days=120)
    warned = {}
    for name, leaf in (("soon", soon), ("later", later)):
        cert, key, chain = bundle_files(tmp_path, leaf, live_pki, name)
        added = cli("cert", "add", name, "--cert", cert, "--key", key, "--chain", chain)
        assert_ok(added)
        warned[name] = "expires-soon" in warning_codes(added.stderr)
    assert warned == {"soon": True, "later": False}

    within_30 = cli("cert", "check", "--days", "30")
    assert within_30.returncode == 8, within_30.stderr
    assert "soon" in within_30.stdout
    assert "later" not in within_30.stdout
    assert "Traceback" not in within_30.stderr

    within_5 = cli("cert", "check", "--days", "5")
    assert_ok(within_5)
    assert "no certificate expires within 5 days" in within_5.stdout

    as_json = cli("cert", "check", "--days", "200", "--json")
    assert as_json.returncode == 8
    report = {item["name"]: item for item in json.loads(as_json.stdout)}
    assert set(report) == {"soon", "later"}
    assert report["soon"]["days_left"] in (9, 10)


def test_check_on_an_empty_store(cli: Cli) -> None:
    assert_ok(cli("cert", "check"))


def test_usage_errors(cli: Cli, tmp_path: Path) -> None:
    no_cert = cli("cert", "add", "x")
    assert_error(no_cert, "usage", 2)
    assert "--cert" in no_cert.stderr
    missing = cli("cert", "add", "x", "--cert", tmp_path / "missing.pem", "--key", tmp_path / "missing.key")
    assert_error(missing, "unreadable-file", 2)
    assert "missing.pem" in missing.stderr


def test_a_damaged_certificate_is_an_error_line_not_a_traceback(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    leaf = live_pki.leaf("dup.example.test")
    damaged = leaf.der.replace(b"\x06\x03\x55\x1d\x13", b"\x06\x03\x55\x1d\x11", 1)  # two SAN extensions
    assert damaged != leaf.der
    cert, key = write(tmp_path / "dup.der", damaged), write(tmp_path / "dup.key", leaf.key_bytes())
    proc = cli("cert", "add", "dup", "--cert", cert, "--key", key)
    assert "Traceback" not in proc.stderr, proc.stderr[-600:]
    assert proc.returncode == 3
    assert error_codes(proc.stderr)


def test_piped_list_and_show_print_whole_names_and_fingerprints(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    """Scripts and ``| grep`` read these: the fingerprint and the name must not be cut with an ellipsis."""
    leaf = live_pki.leaf("portal.example.test")
    name = "customer-portal.eu-west.example"
    cert, key, chain = bundle_files(tmp_path, leaf, live_pki)
    assert_ok(cli("cert", "add", name, "--cert", cert, "--key", key, "--chain", chain))
    shown, listed = cli("cert", "show", name), cli("cert", "list")
    assert_ok(shown)
    assert_ok(listed)
    assert leaf.fingerprint in shown.stdout, shown.stdout
    assert name in listed.stdout, listed.stdout
