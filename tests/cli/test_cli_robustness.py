"""What an operator meets when data or the environment is odd: never a traceback, never a leak."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from pkitools import Cli, Pki, assert_ok, key_bytes


def test_markup_in_a_certificate_name_is_shown_as_it_is(cli: Cli, live_pki: Pki, tmp_path: Path) -> None:
    leaf = live_pki.leaf("odd.example.test")
    odd = live_pki.leaf("[/x] [bold]odd", "odd.example.test")  # a CN that looks like Rich markup
    for name, node in (("plain", leaf), ("odd", odd)):
        (tmp_path / f"{name}.crt").write_bytes(node.pem)
        (tmp_path / f"{name}.key").write_bytes(key_bytes(node.key))
        assert_ok(cli("cert", "add", name, "--cert", tmp_path / f"{name}.crt", "--key", tmp_path / f"{name}.key",
                      "--chain", _chain(live_pki, tmp_path)))
    listed = cli("cert", "list")
    assert_ok(listed)
    assert "[/x] [bold]odd" in listed.stdout
    shown = cli("cert", "show", "odd")
    assert_ok(shown)
    assert "CN=[/x] [bold]odd" in shown.stdout


def _chain(pki: Pki, folder: Path) -> Path:
    path = folder / "chain.pem"
    path.write_bytes(pki.chain_pem)
    return path


def test_options_of_the_other_haproxy_mode_are_refused(cli: Cli) -> None:
    proc = cli("lb", "add", "edge", "--kind", "haproxy", "--socket", "/run/haproxy/admin.sock",
               "--backend", "127.0.0.1:9001")
    assert proc.returncode == 2
    assert "error[usage]: --socket cannot be used in managed mode" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unreachable_database_is_one_line_without_its_password(cli: Cli) -> None:
    for url in ("sqlite:////nonexistent-dir/sslterm.db", "postgresql://admin:hunter2@127.0.0.1:1/sslterm"):
        env = cli.env() | {"SSLTERM_DATABASE_URL": url, "SSLTERM_SECRET_KEY": "x" * 40}
        proc = subprocess.run([sys.executable, "-m", "sslterm", "cert", "list"], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode == 1, url
        assert proc.stderr.startswith("error[store-unavailable]: the store cannot be opened"), proc.stderr
        assert "Traceback" not in proc.stderr
        assert "hunter2" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 2


def test_every_new_level_of_the_data_directory_is_private(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b" / "sslterm"
    cli = Cli(home)
    assert_ok(cli("cert", "list"))
    for level in (tmp_path / "a", tmp_path / "a" / "b", home):
        assert stat.S_IMODE(os.stat(level).st_mode) == 0o700, level
