"""A managed HAProxy belongs to the controller that runs it. Another controller of the same store records a
change to it as pending and never touches it (no second HAProxy on the same port, no files of its own); the
owner applies it (``sslterm apply``, or its next command); ``status`` says so on both sides, and the owner's
served certificate is checked by real handshakes.

Controllers are real command lines (``python -m sslterm``), each with its own data directory, on one
PostgreSQL store.
"""

from __future__ import annotations

import json
from pathlib import Path

from pgtools import ControllerCli, Controllers, free_port, served_fingerprint
from test_shared_secret_key import bundle_files, lb_add

from pkitools import Pki, assert_error, assert_ok


def states(proc_stdout: str) -> set[tuple[str, str]]:
    return {(row["load_balancer"], row["state"]) for row in json.loads(proc_stdout)}


def serving(controllers: Controllers, live_pki: Pki, folder: Path) -> tuple[ControllerCli, ControllerCli, int, str]:
    """Controller ``owner`` runs HAProxy ``edge`` serving certificate ``www``; ``other`` shares the store.
    The two command lines, the TLS port, and the fingerprint served."""
    cert, key, served = bundle_files(folder, live_pki, "www")
    owner, other = controllers.cli("owner"), controllers.cli("other")
    port = free_port()
    assert_ok(owner("cert", "add", "www", "--cert", cert, "--key", key))
    assert_ok(owner(*lb_add("edge", port)))
    assert_ok(owner("enable", "edge", "--cert", "www"))
    assert served_fingerprint(port, "www.example.test") == served
    return owner, other, port, served


def test_a_change_from_another_controller_waits_for_the_owner_and_is_applied_by_it(
        controllers: Controllers, live_pki: Pki, tmp_path: Path) -> None:
    owner, other, port, old = serving(controllers, live_pki, tmp_path / "old")
    new_cert, new_key, new = bundle_files(tmp_path / "new", live_pki, "www")

    replaced = other("cert", "add", "www", "--cert", new_cert, "--key", new_key, "--replace")

    assert_ok(replaced)
    assert "recorded as pending" in replaced.stdout
    assert served_fingerprint(port, "www.example.test") == old  # not applied from here
    assert not list((controllers.root / "other").rglob("haproxy.*"))  # no HAProxy, no files of its own
    for cli in (owner, other):
        seen = cli("status", "--json")
        assert seen.returncode == 9, seen.stderr
        assert states(seen.stdout) == {("edge", "pending")}

    assert_ok(owner("apply"))

    assert served_fingerprint(port, "www.example.test") == new
    mine = owner("status", "--json")
    assert_ok(mine)
    assert states(mine.stdout) == {("edge", "ok")}
    theirs = other("status", "--json")
    assert_ok(theirs)  # the owner checks it; from here it is remote, not drift
    assert states(theirs.stdout) == {("edge", "remote")}


def test_the_owners_next_command_applies_what_another_recorded(
        controllers: Controllers, live_pki: Pki, tmp_path: Path) -> None:
    owner, other, port, old = serving(controllers, live_pki, tmp_path / "www")
    api_cert, api_key, api = bundle_files(tmp_path / "api", live_pki, "api")
    assert_ok(other("cert", "add", "api", "--cert", api_cert, "--key", api_key))

    assert_ok(other("enable", "edge", "--cert", "api"))  # recorded, pending
    assert_ok(owner("cert", "list"))  # reads only: nothing applied
    assert served_fingerprint(port, "api.example.test") == old  # the default answers an unknown name

    assert_ok(owner("enable", "edge", "--cert", "www"))  # any change of the owner's applies it first

    assert served_fingerprint(port, "api.example.test") == api
    assert served_fingerprint(port, "www.example.test") == old


def test_another_controller_cannot_remove_a_load_balancer_it_does_not_run(
        controllers: Controllers, live_pki: Pki, tmp_path: Path) -> None:
    owner, other = controllers.cli("owner"), controllers.cli("other")
    port = free_port()
    assert_ok(owner(*lb_add("edge", port)))

    assert_error(other("lb", "remove", "edge"), "owned-elsewhere", 4)

    assert_ok(owner("lb", "remove", "edge"))
