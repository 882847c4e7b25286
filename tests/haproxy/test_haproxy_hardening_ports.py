"""Ports (issue 6, items 7 and 11), on a real HAProxy with real sockets held by the test on 127.0.0.1.

- Two load balancers on one TLS address:port: HAProxy binds with SO_REUSEPORT, so both would start and
  clients would get either certificate at random. The second bind is refused (``port-taken``, naming the
  owner); a port another program listens on is refused too (``port-in-use``), before anything changes.
- A reload HAProxy cannot complete says why (its first alert, quoted on one line).
- A refused ``lb add`` leaves nothing: no row, no directory, no socket, no process.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from e2e_haproxy import (
    LOCALHOST,
    Kit,
    fingerprint,
    free_ports,
    handshake,
    haproxy_pids_under,
    http_get,
    processes,
    refused,
    run_cli,
)

from sslterm.demo.ca import Issued
from sslterm.engine.contract import CertRef
from sslterm.engine.model import ListenerSpec
from sslterm.errors import SSLTermError
from sslterm.providers.haproxy import HAProxyProvider, create, process

pytestmark = pytest.mark.haproxy


# -- helpers ---------------------------------------------------------------------------------------------
def error_line(done: subprocess.CompletedProcess[str], exit_code: int, code: str) -> str:
    """The ``error[CODE]: ...`` line (a hint line may follow), checked for the exit code and no traceback."""
    assert done.returncode == exit_code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines and lines[0].startswith(f"error[{code}]: "), done.stderr
    assert len(lines) <= 2 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def add_cert(kit: Kit, name: str, issued: Issued) -> None:
    folder = kit.home / "input" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cert.pem").write_bytes(issued.cert_pem() + issued.chain_pem())
    (folder / "key.pem").write_bytes(issued.key_pem())
    done = run_cli(kit.home, "cert", "add", name, "--cert", str(folder / "cert.pem"), "--key", str(folder / "key.pem"))
    assert done.returncode == 0, done.stderr


def lb_add(kit: Kit, name: str, bind: str, http_bind: str | None = None) -> subprocess.CompletedProcess[str]:
    plain = ["--http-bind", http_bind] if http_bind else []
    return run_cli(kit.home, "lb", "add", name, "--kind", "haproxy", "--bind", bind, *plain,
                   "--backend", f"{LOCALHOST}:{kit.app.port}")


def lb_names(kit: Kit) -> list[str]:
    listed = run_cli(kit.home, "lb", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return [str(lb["name"]) for lb in json.loads(listed.stdout)]


def listener_ports(kit: Kit, name: str) -> list[int]:
    shown = run_cli(kit.home, "lb", "show", name, "--json")
    assert shown.returncode == 0, shown.stderr
    return [int(x["lb_port"]) for x in json.loads(shown.stdout)["listeners"]]


def assert_nothing_left(kit: Kit, name: str) -> None:
    """No row, no directory (lock, sockets, files), no HAProxy process of load balancer ``name``."""
    assert name not in lb_names(kit)
    assert not (kit.home / "lb" / name).exists(), sorted(p.name for p in (kit.home / "lb" / name).iterdir())
    assert haproxy_pids_under(kit.home / "lb" / name) == []


@contextlib.contextmanager
def listening(port: int, *, reuseport: bool = False) -> Iterator[socket.socket]:
    """Another program listening on 127.0.0.1:port (with SO_REUSEPORT: like another HAProxy)."""
    with socket.socket() as sock:
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((LOCALHOST, port))
        sock.listen()
        yield sock


@pytest.fixture
def edge(kit: Kit) -> tuple[Kit, int, int, str]:
    """Load balancer ``edge`` on 127.0.0.1 serving certificate ``site`` on its TLS port."""
    site = kit.issue("site.test")
    add_cert(kit, "site", site)
    tls, plain = free_ports(2)
    done = lb_add(kit, "edge", f"{LOCALHOST}:{tls}", f"{LOCALHOST}:{plain}")
    assert done.returncode == 0, done.stderr
    enabled = run_cli(kit.home, "enable", "edge", "--cert", "site")
    assert enabled.returncode == 0, enabled.stderr
    assert handshake(tls, "site.test").fingerprint == fingerprint(site)
    return kit, tls, plain, fingerprint(site)


# -- item 7: one address:port, one load balancer ---------------------------------------------------------
@pytest.mark.parametrize("bind", ["{host}:{port}", "0.0.0.0:{port}", "{port}"], ids=["same", "all-v4", "bare-port"])
def test_a_second_load_balancer_on_a_tls_bind_in_use_is_refused(edge: tuple[Kit, int, int, str], bind: str) -> None:
    kit, tls, _, served = edge
    other = kit.issue("site.test")  # same name, another certificate: what a client would get at random
    add_cert(kit, "other", other)
    (plain,) = free_ports(1)

    done = lb_add(kit, "shadow", bind.format(host=LOCALHOST, port=tls), f"{LOCALHOST}:{plain}")

    line = error_line(done, 4, "port-taken")
    assert "'edge'" in line and str(tls) in line
    assert_nothing_left(kit, "shadow")
    assert refused(plain)
    assert {handshake(tls, "site.test").fingerprint for _ in range(20)} == {served}
    status = run_cli(kit.home, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    assert [(r["load_balancer"], r["state"]) for r in json.loads(status.stdout)] == [("edge", "ok")]


def test_enabling_a_port_another_load_balancer_uses_is_refused(edge: tuple[Kit, int, int, str]) -> None:
    kit, tls, plain, served = edge
    tls2, plain2 = free_ports(2)
    assert lb_add(kit, "west", f"{LOCALHOST}:{tls2}", f"{LOCALHOST}:{plain2}").returncode == 0

    on_tls = run_cli(kit.home, "enable", "west", "--cert", "site", "--lb-port", str(tls))
    on_http = run_cli(kit.home, "enable", "west", "--cert", "site", "--lb-port", str(plain))

    for done, port, role in ((on_tls, tls, "TLS"), (on_http, plain, "plain HTTP")):
        line = error_line(done, 4, "port-taken")
        assert "'edge'" in line and f"{LOCALHOST}:{port} ({role})" in line
    assert listener_ports(kit, "west") == []
    assert processes(kit.lb_dir("west")).reloads == 0  # west's HAProxy was not touched
    assert {handshake(tls, "site.test").fingerprint for _ in range(20)} == {served}
    assert http_get(plain, "/").status == 200


@pytest.mark.parametrize("reuseport", [False, True], ids=["program", "reuseport-program"])
def test_enabling_a_port_another_program_listens_on_is_refused_before_any_change(
        edge: tuple[Kit, int, int, str], reuseport: bool) -> None:
    kit, tls, _, served = edge
    before = processes(kit.lb_dir("edge"))
    (busy,) = free_ports(1)

    with listening(busy, reuseport=reuseport):
        done = run_cli(kit.home, "enable", "edge", "--cert", "site", "--lb-port", str(busy))

    line = error_line(done, 4, "port-in-use")
    assert f"{LOCALHOST}:{busy}" in line
    assert listener_ports(kit, "edge") == [tls]
    assert processes(kit.lb_dir("edge")) == before  # no reload: refused before anything changed
    assert refused(busy)
    assert handshake(tls, "site.test").fingerprint == served


def test_a_port_the_load_balancer_serves_already_is_not_refused(edge: tuple[Kit, int, int, str]) -> None:
    """Its own HAProxy listens there: adding an SNI certificate, or enabling again, is not a clash."""
    kit, tls, _, served = edge
    api = kit.issue("api.test")
    add_cert(kit, "api", api)

    again = run_cli(kit.home, "enable", "edge", "--cert", "site")
    sni = run_cli(kit.home, "enable", "edge", "--cert", "api", "--lb-port", str(tls))

    assert again.returncode == 0, again.stderr
    assert sni.returncode == 0, sni.stderr
    assert handshake(tls, "site.test").fingerprint == served
    assert handshake(tls, "api.test").fingerprint == fingerprint(api)


def test_lb_add_on_a_port_another_program_listens_on_is_refused_and_leaves_nothing(kit: Kit) -> None:
    tls, busy = free_ports(2)
    with listening(busy):
        done = lb_add(kit, "edge", f"{LOCALHOST}:{tls}", f"{LOCALHOST}:{busy}")

    line = error_line(done, 4, "port-in-use")
    assert f"{LOCALHOST}:{busy} (plain HTTP of edge)" in line
    assert_nothing_left(kit, "edge")


# -- item 11: a failure says why, and a refused `lb add` leaves nothing ------------------------------------
def test_a_failed_start_says_why_and_leaves_nothing_behind(kit: Kit) -> None:
    """192.0.2.1 (TEST-NET-1) is not an address of this machine: HAProxy cannot bind it (nothing is
    sent anywhere). Then the same name with a good address works: no lock or socket was left behind."""
    tls, plain = free_ports(2)

    done = lb_add(kit, "edge", f"{LOCALHOST}:{tls}", f"192.0.2.1:{plain}")

    line = error_line(done, 6, "haproxy-start")
    assert "cannot bind socket" in line and f"192.0.2.1:{plain}" in line
    assert_nothing_left(kit, "edge")
    again = lb_add(kit, "edge", f"{LOCALHOST}:{tls}", f"{LOCALHOST}:{plain}")
    assert again.returncode == 0, again.stderr
    assert http_get(plain, "/").status == 200


class TakesThePortFirst:
    """The real provider, except that another program takes the port being enabled after sslterm's checks
    and before HAProxy reloads (a race no check can close): the reload itself must say what went wrong."""

    def __init__(self, inner: HAProxyProvider, stack: contextlib.ExitStack) -> None:
        self.inner, self.stack = inner, stack

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def bind(self, listener: ListenerSpec, refs: Mapping[str, CertRef]) -> None:
        if listener.lb_port not in {x.lb_port for x in self.inner.observe().listeners}:
            self.stack.enter_context(listening(listener.lb_port))
        self.inner.bind(listener, refs)


def test_a_reload_that_cannot_bind_quotes_haproxy(edge: tuple[Kit, int, int, str]) -> None:
    kit, tls, _, served = edge
    (late,) = free_ports(1)
    with contextlib.ExitStack() as stack:
        def factory(name: str, kind: str, options: dict[str, Any]) -> Any:
            real = create(name, options, kit.home / "lb" / name, {"haproxy_binary": "haproxy"})
            return TakesThePortFirst(real, stack)

        svc = kit.service(provider_factory=factory)
        with pytest.raises(SSLTermError) as caught:
            svc.enable("edge", "site", lb_port=late)

    error = caught.value
    assert error.code == "haproxy-reload-failed"
    assert "cannot bind socket (Address already in use)" in error.message
    assert f"{LOCALHOST}:{late}" in error.message
    assert "\n" not in error.message and "[ALERT]" not in error.message
    assert listener_ports(kit, "edge") == [tls]
    assert handshake(tls, "site.test").fingerprint == served


def test_an_alert_is_quoted_on_one_safe_line() -> None:
    output = ("[NOTICE]   (1) : Reloading HAProxy\n"
              "[ALERT]    (12) : Binding [x.cfg:3] for frontend \x1b[31mfe\u202e: cannot bind\rsocket\n"
              "[ALERT]    (12) : second\n")
    assert process.first_alert(output) == "Binding [x.cfg:3] for frontend \\x1b[31mfe\\u202e: cannot bind"
    assert process.first_alert("[NOTICE] nothing wrong\n") is None
    long = process.first_alert("[ALERT] (1) : " + "a" * 500) or ""
    assert long.endswith("...") and len(long) == process.MAX_ALERT_CHARS + 3


def test_the_log_that_explains_a_reload_stays_private(edge: tuple[Kit, int, int, str]) -> None:
    kit, *_ = edge
    log = kit.lb_dir("edge") / "haproxy.log"
    assert log.stat().st_mode & 0o077 == 0
    assert "Loading success" in Path(log).read_text()
