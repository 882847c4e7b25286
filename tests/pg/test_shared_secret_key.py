"""Several controllers on one PostgreSQL store and the secret key: the same key from the environment (or a key
file) on each; a different key refused by the store's canary before anything is written; a database URL
without a key refused at once, instead of a key file of this controller's own that no other one could have.

Controllers are real command lines (``python -m sslterm``), each with its own data directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pgtools import OTHER_SECRET, SECRET, Controllers, free_port, served_fingerprint, store_content
from sqlalchemy import delete

from pkitools import Pki, assert_error, assert_ok
from sslterm.certs import BundleInput
from sslterm.errors import SSLTermError
from sslterm.store.secrets import CANARY


def bundle_files(folder: Path, pki: Pki, name: str) -> tuple[Path, Path, str]:
    """A certificate for ``name``.example.test and its key, as files; and its fingerprint."""
    leaf = pki.leaf(f"{name}.example.test")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.crt").write_bytes(leaf.pem + pki.chain_pem)
    (folder / f"{name}.key").write_bytes(leaf.key_bytes())
    return folder / f"{name}.crt", folder / f"{name}.key", leaf.fingerprint


def key_file(folder: Path, secret: str, mode: int = 0o600) -> Path:
    """The key as a mounted secret holds it (a line)."""
    path = folder / "secret-key"
    path.write_text(secret + "\n")
    path.chmod(mode)
    return path


def lb_add(name: str, port: int) -> list[str | Path]:
    """``lb add``: a managed HAProxy on 127.0.0.1:``port`` (its backend need not answer for TLS to be served)."""
    return ["lb", "add", name, "--kind", "haproxy", "--bind", f"127.0.0.1:{port}", "--backend", "127.0.0.1:9"]


# -- the same key: one store ----------------------------------------------------------------------


def test_a_second_controller_with_the_same_key_serves_the_first_ones_certificate(
        controllers: Controllers, live_pki: Pki, tmp_path: Path) -> None:
    """Controller two (the same key, from a key file) lists and deploys what controller one added: its
    HAProxy serves that very certificate, whose private key it unsealed from the shared store."""
    cert, key, fingerprint = bundle_files(tmp_path / "files", live_pki, "www")
    one = controllers.cli("one")
    assert_ok(one("cert", "add", "www", "--cert", cert, "--key", key))
    two = controllers.cli("two", secret_key=None, SSLTERM_SECRET_KEY_FILE=str(key_file(tmp_path, SECRET)))

    listed = two("cert", "list", "--json")
    assert_ok(listed)
    assert [(c["name"], c["fingerprint_sha256"]) for c in json.loads(listed.stdout)] == [("www", fingerprint)]
    port = free_port()
    assert_ok(two(*lb_add("edge", port)))
    assert_ok(two("enable", "edge", "--cert", "www"))
    assert served_fingerprint(port, "www.example.test") == fingerprint
    assert not (two.home / "secret.key").exists() and not (one.home / "secret.key").exists()


# -- another key: refused before anything is written ------------------------------------------------


def test_a_controller_with_another_key_is_refused_before_it_writes_anything(
        controllers: Controllers, live_pki: Pki, tmp_path: Path) -> None:
    """Every change by a controller with another key fails with ``wrong-secret-key`` (exit 1) and a hint, and
    the store is left exactly as it was: no certificate sealed with a key the others cannot use, no load
    balancer started. Reading needs no key: it still lists what is there."""
    cert, key, _ = bundle_files(tmp_path / "files", live_pki, "www")
    api_cert, api_key, _ = bundle_files(tmp_path / "files", live_pki, "api")
    assert_ok(controllers.cli("one")("cert", "add", "www", "--cert", cert, "--key", key))
    before = store_content(controllers.url)
    other = controllers.cli("other", secret_key=OTHER_SECRET)

    for command in (["cert", "add", "api", "--cert", api_cert, "--key", api_key],
                    ["cert", "add", "www", "--cert", cert, "--key", key, "--replace"],
                    lb_add("edge", free_port()),
                    ["cert", "remove", "www"]):
        proc = other(*command)
        assert_error(proc, "wrong-secret-key", 1)
        assert "  hint: " in proc.stderr and "SSLTERM_SECRET_KEY" in proc.stderr
        assert OTHER_SECRET not in proc.stderr + proc.stdout and SECRET not in proc.stderr + proc.stdout
        assert store_content(controllers.url) == before, command
    assert not list(other.home.rglob("haproxy.pid"))
    listed = other("cert", "list", "--json")
    assert_ok(listed)
    assert [c["name"] for c in json.loads(listed.stdout)] == ["www"]


def test_a_store_from_before_the_canary_is_checked_against_its_stored_keys(controllers: Controllers,
                                                                            pki: Pki) -> None:
    """A store without a canary (made before it existed) is not handed to the first key that comes: another
    key is refused if it cannot open the newest stored private key, and the store gets its canary from the
    first controller with the right one."""
    first = controllers.service("first")
    leaf = pki.leaf("www.example.test")
    first.add_certificate("www", BundleInput(cert=leaf.pem, chain=pki.chain_pem, key=leaf.key_bytes()))
    with first.db.transaction() as session:
        session.execute(delete(CANARY))  # as a store upgraded from before the canary
    before = store_content(controllers.url)

    other = controllers.service("other", secret_key=OTHER_SECRET)
    with pytest.raises(SSLTermError) as exc:
        other.add_certificate("api", BundleInput(cert=pki.leaf("api.example.test").pem, chain=pki.chain_pem,
                                                 key=leaf.key_bytes()))
    assert exc.value.code == "wrong-secret-key"
    assert store_content(controllers.url) == before

    same = controllers.service("same")
    api = pki.leaf("api.example.test")
    same.add_certificate("api", BundleInput(cert=api.pem, chain=pki.chain_pem, key=api.key_bytes()))
    assert len(store_content(controllers.url)["secret_canary"]) == 1
    with pytest.raises(SSLTermError) as again:
        controllers.service("other-again", secret_key=OTHER_SECRET).remove_certificate("api")
    assert again.value.code == "wrong-secret-key"
    assert [s.name for s in same.list_certificates()] == ["api", "www"]


# -- no key, or a key file that is not safe ------------------------------------------------------------


def test_a_database_url_without_a_secret_key_is_refused_and_nothing_is_made(controllers: Controllers) -> None:
    """Without a key a controller would make a key file of its own that no other controller has: refused
    at once (``secret-key-required``, exit 1), for reading too; no key file, not even the schema."""
    cli = controllers.cli("keyless", secret_key=None)
    for command in (["cert", "list"], ["lb", "list"]):
        proc = cli(*command)
        assert_error(proc, "secret-key-required", 1)
        assert "SSLTERM_SECRET_KEY" in proc.stderr and "SSLTERM_SECRET_KEY_FILE" in proc.stderr
        assert "  hint: " in proc.stderr
    assert not (cli.home / "secret.key").exists()
    assert store_content(controllers.url) == {}


@pytest.mark.parametrize(("case", "code"), [("readable", "bad-key-file"), ("empty", "bad-key-file"),
                                            ("missing", "bad-key-file"), ("both", "secret-key-ambiguous")])
def test_a_secret_key_file_that_is_not_safe_or_not_a_key_is_refused(controllers: Controllers, tmp_path: Path,
                                                                     case: str, code: str) -> None:
    """Like the data directory's key file: refused when other users may read it, empty or missing; and with
    SSLTERM_SECRET_KEY set as well (which of the two?). One clear line, no key material."""
    path = key_file(tmp_path, "" if case == "empty" else SECRET, 0o644 if case == "readable" else 0o600)
    if case == "missing":
        path.unlink()
    cli = controllers.cli("c", secret_key=SECRET if case == "both" else None, SSLTERM_SECRET_KEY_FILE=str(path))
    proc = cli("cert", "list")
    assert_error(proc, code, 1)
    if code == "bad-key-file":
        assert str(path) in proc.stderr
    if case == "readable":
        assert f"chmod 600 {path}" in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout
    assert store_content(controllers.url) == {}
