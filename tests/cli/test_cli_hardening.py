"""Issue 6 (items 3, 14, 15, 16), what needs no HAProxy: hostile text in certificates, help at 80 columns,
documented exit codes, a relative SSLTERM_HOME, the incomplete-chain hint, the Makefile's PATH link and
the packaging metadata. Everything goes through the real entry point (``python -m sslterm``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main

from pkitools import Cli, Node, Pki, assert_error, assert_ok, ec_key, make_cert, warning_codes, write
from sslterm.cli import render
from sslterm.cli.app import app
from sslterm.cli.quickstart import status_command
from sslterm.providers.registry import KINDS
from sslterm.settings import from_environment

REPO = Path(__file__).resolve().parents[2]
#: An escape sequence that recolours the terminal, a bell, a newline that fakes a line of output, and a
#: right-to-left override that shows a name reversed.
HOSTILE = "\x1b[31mred\x07\nfake: ok\u202eevil"
RAW = ("\x1b", "\x07", "\u202e")


@pytest.fixture(scope="module")
def hostile_pki() -> Pki:
    return Pki("Bad" + HOSTILE, now=datetime.now(UTC))


def hostile_leaf(pki: Pki, *, days: float = 90, expired: bool = False) -> Node:
    """A genuine certificate whose CN, SANs and issuer (and chain subjects) hold control characters."""
    key = ec_key()
    start = pki.now - timedelta(days=200 if expired else 1)
    cert = make_cert("www" + HOSTILE, key.public_key(), issuer=pki.issuer, not_before=start,
                     not_after=start + timedelta(days=100 if expired else days),
                     sans=["ok.example.test", "x\x1b[2J.example.test\x07"])
    return Node(cert, key)


def bundle(folder: Path, leaf: Node, pki: Pki) -> list[str | Path]:
    return ["--cert", write(folder / "h.crt", leaf.pem), "--key", write(folder / "h.key", leaf.key_bytes()),
            "--chain", write(folder / "chain.pem", pki.chain_pem)]


def assert_escaped(*outputs: str) -> None:
    """No raw control character, no injected line, and the escapes visible instead."""
    text = "".join(outputs)
    for raw in RAW:
        assert raw not in text, f"raw {raw!r} printed"
    assert not any(line.startswith("fake: ok") for line in text.splitlines()), "a newline in data made a line"
    assert "\\x1b[31mred\\x07\\x0afake: ok\\u202eevil" in text


def test_control_characters_from_a_certificate_are_escaped_in_every_human_view(
        cli: Cli, tmp_path: Path, hostile_pki: Pki) -> None:
    leaf = hostile_leaf(hostile_pki)
    added = cli("cert", "add", "hostile", *bundle(tmp_path, leaf, hostile_pki))
    assert_ok(added)
    assert warning_codes(added.stderr) == {"incomplete-chain"}
    assert_escaped(added.stdout, added.stderr)  # the confirmation and the warning (its hint names the issuer)
    listed = cli("cert", "list")
    assert_ok(listed)
    assert_escaped(listed.stdout)
    assert "\\x1b[2J.example.test\\x07" in listed.stdout  # the SAN too
    shown = cli("cert", "show", "hostile")
    assert_ok(shown)
    assert_escaped(shown.stdout)
    assert "\\x1b[2J.example.test\\x07" in shown.stdout
    assert "Intermediate 1" in shown.stdout and "Root CA" in shown.stdout  # the chain's subjects


def test_json_keeps_the_exact_text(cli: Cli, tmp_path: Path, hostile_pki: Pki) -> None:
    leaf = hostile_leaf(hostile_pki)
    assert_ok(cli("cert", "add", "hostile", *bundle(tmp_path, leaf, hostile_pki)))
    [item] = json.loads(cli("cert", "list", "--json").stdout)
    assert item["subject"] == leaf.cert.subject.rfc4514_string()
    assert HOSTILE in item["subject"] and HOSTILE in item["issuer"]
    assert item["sans"] == ["ok.example.test", "x\x1b[2J.example.test\x07"]
    assert HOSTILE in item["chain"][0]["subject"]


def test_an_error_about_a_hostile_certificate_is_escaped(cli: Cli, tmp_path: Path, hostile_pki: Pki) -> None:
    refused = cli("cert", "add", "old", *bundle(tmp_path, hostile_leaf(hostile_pki, expired=True), hostile_pki))
    assert_error(refused, "expired", 3)
    assert_escaped(refused.stderr)
    assert all(line.startswith(("error[", "warning[", "  hint: ")) for line in refused.stderr.splitlines())


def test_an_import_refusal_names_a_hostile_file_escaped(cli: Cli, tmp_path: Path, hostile_pki: Pki) -> None:
    leaf = hostile_leaf(hostile_pki)
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder / "a\x1b[31mb.crt", leaf.pem + hostile_pki.chain_pem)
    write(folder / "a\x1b[31mb.key", leaf.key_bytes())
    done = cli("cert", "import", folder)
    assert done.returncode == 3, done.stderr
    assert "refused a\\x1b[31mb:" in done.stderr
    assert "\x1b" not in done.stderr + done.stdout


def test_safe_escapes_controls_and_bidi_overrides_only() -> None:
    controls = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0), 0x202A, 0x202E, 0x2066, 0x2069, 0x200F]))
    shown = render.safe(controls)
    assert shown.isprintable() and shown.isascii()
    assert render.safe("\x1b[31m\u202e") == "\\x1b[31m\\u202e"
    assert render.safe("café 中文 [bold] CN=a\\,b") == "café 中文 [bold] CN=a\\,b"
    assert [c.plain for c in render.cells("a\nb", "\x9b")] == ["a\\x0ab", "\\x9b"]


# -- item 15: the documented exit codes ----------------------------------------------------------------


def test_documented_exit_codes_of_input_and_certificate_errors(cli: Cli, tmp_path: Path, live_pki: Pki) -> None:
    leaf = live_pki.leaf("www.example.test")
    files = ["--cert", write(tmp_path / "c.crt", leaf.pem), "--key", write(tmp_path / "c.key", leaf.key_bytes()),
             "--chain", write(tmp_path / "chain.pem", live_pki.chain_pem)]
    assert_ok(cli("cert", "add", "www", *files))
    assert_error(cli("cert", "add", "www", *files), "exists", 3)  # a certificate name taken: 3, with the bundle
    assert_error(cli("cert", "add", "bad name", *files), "invalid-name", 3)
    assert_error(cli("cert", "show", "nope"), "not-found", 2)  # unknown name
    assert_error(cli("cert", "add", "x", "--cert", tmp_path / "missing.crt"), "unreadable-file", 2)
    assert_error(cli("lb", "add", "bad name", "--kind", "haproxy"), "invalid-name", 2)
    assert_error(cli("lb", "add", "edge", "--kind", "nope"), "unknown-kind", 2)
    usage = cli("cert", "list", "--nope")
    assert usage.returncode == 2 and "No such option: --nope" in usage.stderr
    readme = (REPO / "README.md").read_text()
    assert re.search(r"^\| 2 \| usage or input error: .*a load balancer name taken \(`lb add`: `exists`\)", readme,
                     re.MULTILINE)
    assert re.search(r"^\| 3 \| the certificate was refused .*a certificate name taken .*`exists`", readme,
                     re.MULTILINE)


# -- item 16: help -------------------------------------------------------------------------------------


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group of the real application (Typer's own Click), with its path."""
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "sslterm")
def test_help_at_80_columns_shows_every_option_whole(path: tuple[str, ...]) -> None:
    command = dict(COMMANDS)[path]
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    done = subprocess.run([sys.executable, "-m", "sslterm", *path, "--help"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    assert max(map(len, done.stdout.splitlines())) <= 80, done.stdout
    words = set(re.findall(r"-[-\w]+", done.stdout))
    for param in command.params:
        for opt in (*param.opts, *param.secondary_opts):
            if opt.startswith("-"):
                assert opt in words, f"{opt} not whole in:\n{done.stdout}"
        if param.param_type_name == "option":
            assert param.help, f"{' '.join(path)} {param.opts[0]} has no help text"


def test_lb_add_help_lists_only_the_kinds_that_exist() -> None:
    done = subprocess.run([sys.executable, "-m", "sslterm", "lb", "add", "--help"], capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, "COLUMNS": "80"})
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "--kind" in line)
    kinds_line = " ".join([lines[at], *(x for x in lines[at + 1:at + 3] if not x.strip().startswith("-"))])  # wrapped
    listed = kinds_line.split("kind:", 1)[1].split(".", 1)[0]
    assert set(re.findall(r"[a-z][a-z0-9-]+", listed)) == set(KINDS)
    for future in ("aws-elb", "aws-alb", "rackspace"):
        if future not in KINDS:
            assert future not in done.stdout


# -- item 16: the incomplete-chain hint ---------------------------------------------------------------


def test_a_complete_private_chain_is_not_told_to_add_intermediates(cli: Cli, tmp_path: Path,
                                                                    live_pki: Pki) -> None:
    leaf = live_pki.leaf("www.example.test")
    files = ["--cert", write(tmp_path / "c.crt", leaf.pem), "--key", write(tmp_path / "c.key", leaf.key_bytes())]
    complete = cli("cert", "add", "complete", *files, "--chain", write(tmp_path / "chain.pem", live_pki.chain_pem))
    assert_ok(complete)
    hint = next(line for line in complete.stderr.splitlines() if line.startswith("  hint: "))
    assert "may be complete" in hint and "clients must trust it" in hint, hint
    assert "Live Root CA is a private root" in hint

    other = Pki("Bare", now=datetime.now(UTC)).leaf("api.example.test")  # an issuer the store does not have
    files = ["--cert", write(tmp_path / "o.crt", other.pem), "--key", write(tmp_path / "o.key", other.key_bytes())]
    bare = cli("cert", "add", "bare", *files)  # no chain at all: intermediates are what is missing
    assert_ok(bare)
    hint = next(line for line in bare.stderr.splitlines() if line.startswith("  hint: "))
    assert hint.startswith("  hint: add the intermediate certificates with --chain"), hint


# -- item 14: a relative SSLTERM_HOME ------------------------------------------------------------------


def test_a_relative_home_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert from_environment({"SSLTERM_HOME": ".demo"}).home == tmp_path / ".demo"
    assert from_environment({"SSLTERM_HOME": "a/../b"}).home == tmp_path / "b"
    assert from_environment({"SSLTERM_HOME": "/abs/x"}).home == Path("/abs/x")


def test_the_quickstart_status_command_names_the_absolute_home(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    command = status_command(from_environment({"SSLTERM_HOME": ".demo"}).home)
    assert command.startswith(f"SSLTERM_HOME={tmp_path / '.demo'} ")
    assert command.endswith(" status quickstart")


def test_the_cli_works_with_a_relative_home(tmp_path: Path, live_pki: Pki) -> None:
    leaf = live_pki.leaf("www.example.test")
    write(tmp_path / "c.crt", leaf.pem + live_pki.chain_pem)
    write(tmp_path / "c.key", leaf.key_bytes())
    cli = Cli(Path(".demo"))
    assert_ok(cli("cert", "add", "www", "--cert", "c.crt", "--key", "c.key", cwd=tmp_path))
    assert (tmp_path / ".demo" / "sslterm.db").is_file()
    assert "www" in cli("cert", "list", cwd=tmp_path).stdout


# -- item 14: the Makefile puts sslterm on PATH ---------------------------------------------------------


def _make_install(link: Path) -> subprocess.CompletedProcess[str]:
    """Only the linking part of ``make install``: the venv is taken as up to date (-o), never rebuilt here."""
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "-o", ".venv/.installed", "install",
                           f"LINK={link}"], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.skipif(shutil.which("make") is None or os.geteuid() != 0, reason="needs make, as root")
def test_make_install_links_sslterm_onto_path_only_where_it_may(tmp_path: Path) -> None:
    link = tmp_path / "bin" / "sslterm"
    link.parent.mkdir()
    done = _make_install(link)
    assert done.returncode == 0, done.stderr
    assert link.resolve() == (REPO / ".venv" / "bin" / "sslterm").resolve()
    again = _make_install(link)  # idempotent and quiet
    assert (again.returncode, again.stdout) == (0, "")
    version = subprocess.run([str(link), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert version.returncode == 0 and "Usage: sslterm" in version.stdout

    foreign = tmp_path / "bin" / "other"
    foreign.write_text("#!/bin/sh\n")
    refused = _make_install(foreign)  # someone else's file: left alone, and the way to go is said
    assert refused.returncode == 0
    assert foreign.read_text() == "#!/bin/sh\n"
    assert ". .venv/bin/activate" in refused.stdout


# -- item 16: installation prints no deprecation ------------------------------------------------------------


def test_the_license_is_an_spdx_expression_for_a_setuptools_that_reads_it() -> None:
    """setuptools 77+ warns three times per install about ``license = {text = ...}``; the SPDX string form
    needs 77 or newer to build."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in project["build-system"]["requires"]
