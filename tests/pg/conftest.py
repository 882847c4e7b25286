"""Fixtures for the shared store on a real PostgreSQL: the session's throw-away cluster (tests/pgcluster.py;
one that cannot start fails these tests, never skips them), a new database per test, and services and
command lines acting as separate controllers of it (each its own data directory)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pgtools import Controllers

from pgcluster import Cluster, session_fixture
from pkitools import Pki

pg_cluster_fixture = session_fixture  # the fixture ``pg_cluster``


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A new, empty database on the session's cluster, owned by a role that is no superuser."""
    return pg_cluster.new_database()


@pytest.fixture
def controllers(tmp_path: Path, pg_url: str, pki: Pki) -> Iterator[Controllers]:
    made = Controllers(tmp_path, pg_url, pki)
    try:
        yield made
    finally:
        made.close()
