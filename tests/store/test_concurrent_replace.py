"""Two real processes replacing the same certificate at once (issue 6, item 4), on SQLite and on PostgreSQL
(two controllers of one shared store, issue 7).

One keeps re-adding the stored bundle, the other alternates two new bundles. Before the fix a row could end
with one bundle's certificate and the other's sealed key; every later deploy then failed. Now the read that
decides the change happens under the store's write lock, and a row is always written whole.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pgcluster import Cluster, session_fixture
from pkitools import Pki, pems
from sslterm.service import Service
from sslterm.settings import Settings
from sslterm.store.certificates import load_bundle
from sslterm.store.schema import CertificateRow

SECRET = "a-test-secret-key-of-more-than-32-characters"
ROUNDS = 60

WORKER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from sslterm.certs import BundleInput
    from sslterm.service import Service
    from sslterm.settings import Settings
    from sslterm.store.certificates import get, load_bundle

    home, secret, url, rounds, *bundles = sys.argv[1:]
    svc = Service(Settings(home=Path(home), database_url=url or None, secret_key=secret))
    corrupt = 0
    for i in range(int(rounds)):
        folder = Path(bundles[i % len(bundles)])
        svc.add_certificate("shop", BundleInput(cert=(folder / "cert.pem").read_bytes(),
                                                key=(folder / "key.pem").read_bytes()), replace=True)
        with svc.db.transaction() as session:  # every committed state must hold one bundle whole
            try:
                load_bundle(get(session, "shop"), svc.vault)
            except Exception:
                corrupt += 1
    print(f"corrupt {corrupt}", flush=True)
""")


def _write_bundle(folder: Path, pki: Pki, name: str) -> Path:
    node = pki.leaf(name)
    folder.mkdir()
    (folder / "cert.pem").write_bytes(pems(node, *pki.chain))
    (folder / "key.pem").write_bytes(node.key_bytes())
    return folder


def _public(key: object) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]


pg_cluster_fixture = session_fixture  # the fixture ``pg_cluster``: the session's throw-away PostgreSQL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The default store (SQLite in the data directory: no URL), or a new database on PostgreSQL."""
    if request.param == "sqlite":
        return ""
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.new_database()


def test_concurrent_replacements_never_mix_a_certificate_with_another_key(tmp_path: Path, live_pki: Pki,
                                                                           database_url: str) -> None:
    home = tmp_path / "home"
    first = _write_bundle(tmp_path / "a", live_pki, "a.example.test")
    others = [_write_bundle(tmp_path / n, live_pki, f"{n}.example.test") for n in ("b", "c")]
    svc = Service(Settings(home=home, database_url=database_url or None, secret_key=SECRET))
    run = [sys.executable, "-c", WORKER, str(home), SECRET, database_url, "1", str(first)]
    subprocess.run(run, check=True, capture_output=True, timeout=120)

    # on PostgreSQL each worker is a controller of its own (its own data directory); SQLite's store is the file
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / f"home-{i}" if database_url else home),
                                 SECRET, database_url, str(ROUNDS), *map(str, bundles)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for i, bundles in enumerate(([first], others))]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()[-2000:]
        assert out.decode().strip() == "corrupt 0"

    with svc.db.transaction() as session:
        stored = session.query(CertificateRow).all()
        assert [row.name for row in stored] == ["shop"]
        for row in stored:
            bundle = load_bundle(row, svc.vault)  # fails (wrong-secret-key) when the key was sealed for another
            assert _public(bundle.key.public_key()) == _public(bundle.leaf.public_key())
            assert bundle.fingerprint == row.fingerprint
    svc.db.engine.dispose()
