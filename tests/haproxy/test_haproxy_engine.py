"""The engine on a real HAProxy: dry runs touch nothing, certificate changes go live without a reload and
survive one, failures are rolled back (on the load balancer, in the store and in the audit log), invalid
configurations never go live, and disable / lb remove leave what they promise."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from e2e_haproxy import (
    LOCALHOST,
    Kit,
    Lb,
    alive,
    client_context,
    fingerprint,
    force_reload,
    free_ports,
    handshake,
    http_get,
    https_get,
    processes,
    refused,
)

from sslterm.engine.contract import CertRef, CertSlot
from sslterm.engine.model import ListenerSpec, ProbeTarget, Served
from sslterm.engine.probe import probe
from sslterm.errors import DeploymentError, InUse, ProviderError, UnsafePlan, VerificationFailed
from sslterm.providers.haproxy import HAProxyProvider, create
from sslterm.service import Service

T = TypeVar("T")

pytestmark = pytest.mark.haproxy


def files_of(lb: Lb) -> dict[str, bytes]:
    """Every regular file HAProxy and sslterm keep for a load balancer (config, crt-lists, PEMs, state)."""
    return {str(p.relative_to(lb.dir)): p.read_bytes() for p in sorted(lb.dir.rglob("*"))
            if p.is_file() and p.name not in (".lock", "haproxy.pid")}


def store_view(svc: Service) -> tuple[object, ...]:
    certs = [(c.name, c.fingerprint_sha256, c.attached_to) for c in svc.list_certificates()]
    return certs, svc.list_load_balancers()


def audit_view(svc: Service) -> list[tuple[object, ...]]:
    return [(e.at, e.action, e.target, e.fingerprint, e.detail) for e in svc.audit_log(1000)]


# -- dry run ------------------------------------------------------------------------------------------
def test_dry_run_returns_a_plan_and_touches_nothing(kit: Kit) -> None:
    site, other = kit.issue("site.test"), kit.issue("other.test")
    kit.add_cert("site", site)
    kit.add_cert("other", other)
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "site")
    files, procs, store, audit = files_of(lb), processes(lb.dir), store_view(kit.svc), audit_view(kit.svc)

    add = kit.svc.enable("edge", "other", dry_run=True)
    change = kit.svc.enable("edge", "site", tls_profile="modern", hsts=True, redirect_http=True, dry_run=True)
    remove = kit.svc.disable("edge", dry_run=True)

    assert add.report is None and change.report is None and remove.report is None
    assert [s.action for s in add.plan.steps] == ["upload", "bind"]
    assert "add other" in add.plan.steps[1].summary
    assert [s.action for s in change.plan.steps] == ["bind"]
    assert change.plan.steps[0].summary.endswith("redirect HTTP to HTTPS on; HSTS on; TLS profile modern")
    first = kit.svc.enable("edge", "other", lb_port=free_ports(1)[0], hsts=True, instance_port=8080,
                           dry_run=True).plan.steps[-1].summary  # issue 6: a new listener's plan says it all
    assert "instances HTTP on 8080; redirect HTTP to HTTPS off; HSTS on; TLS profile intermediate" in first
    assert [s.action for s in remove.plan.steps] == ["unbind"]
    # nothing changed: files, process, store, audit log, and what clients get
    assert files_of(lb) == files
    assert processes(lb.dir) == procs
    assert store_view(kit.svc) == store
    assert audit_view(kit.svc) == audit
    assert handshake(lb.tls_port, "other.test").fingerprint == fingerprint(site)  # other is not served
    assert https_get(lb.tls_port, "site.test", cafile=kit.root).header("Strict-Transport-Security") is None
    assert lb.http_port is not None and http_get(lb.http_port, "/").status == 200  # no redirect


# -- certificate changes without a reload ------------------------------------------------------------
def test_a_replaced_certificate_is_served_on_every_load_balancer_without_a_reload(kit: Kit) -> None:
    old, new = kit.issue("www.site.test", "site.test"), kit.issue("www.site.test", "site.test")
    kit.add_cert("site", old)
    lbs = [kit.add_lb("east"), kit.add_lb("west")]
    for lb in lbs:
        kit.svc.enable(lb.name, "site")
    before = {lb.name: processes(lb.dir) for lb in lbs}

    added = kit.add_cert("site", new, replace=True)

    assert added.replaced == fingerprint(old)
    assert sorted(added.redeployed) == ["east", "west"]
    for lb in lbs:
        assert handshake(lb.tls_port, "www.site.test").fingerprint == fingerprint(new)
        assert handshake(lb.tls_port, None).fingerprint == fingerprint(new)
        assert https_get(lb.tls_port, "site.test", cafile=kit.root).fingerprint == fingerprint(new)
        assert processes(lb.dir) == before[lb.name]  # same worker, no reload: the runtime API did it
    replaced = [(e.target, e.fingerprint) for e in kit.svc.audit_log() if e.action == "deploy.replace"]
    assert sorted(replaced) == [(f"lb/{lb.name}:{lb.tls_port}", fingerprint(new)) for lb in lbs]
    assert {s.state for s in kit.svc.status()} == {"ok"}
    # written to disk as well: a reload (or restart) serves the new certificate, not the old one
    force_reload(lbs[0].dir)
    assert handshake(lbs[0].tls_port, "www.site.test").fingerprint == fingerprint(new)


def test_a_second_sni_certificate_is_added_without_a_reload(kit: Kit) -> None:
    first, second = kit.issue("first.test"), kit.issue("second.test")
    kit.add_cert("first", first)
    kit.add_cert("second", second)
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "first")
    before = processes(lb.dir)

    kit.svc.enable("edge", "second")

    assert processes(lb.dir) == before
    assert handshake(lb.tls_port, "second.test").fingerprint == fingerprint(second)
    assert handshake(lb.tls_port, None).fingerprint == fingerprint(first)
    force_reload(lb.dir)  # the crt-list on disk has it too
    assert handshake(lb.tls_port, "second.test").fingerprint == fingerprint(second)
    assert handshake(lb.tls_port, None).fingerprint == fingerprint(first)


def test_dropping_the_default_certificate_makes_the_next_one_the_default(kit: Kit) -> None:
    first, second = kit.issue("first.test"), kit.issue("second.test")
    kit.add_cert("first", first)
    kit.add_cert("second", second)
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "first")
    kit.svc.enable("edge", "second")

    kit.svc.disable("edge", cert_name="first")

    assert handshake(lb.tls_port, None).fingerprint == fingerprint(second)
    assert handshake(lb.tls_port, "first.test").fingerprint == fingerprint(second)  # first is not served
    assert kit.svc.show_certificate("first").attached_to == ()
    assert [(s.certificate, s.state) for s in kit.svc.status()] == [("second", "ok")]


def test_a_replacement_with_other_names_is_served_under_the_new_names(kit: Kit) -> None:
    main, extra, renamed = kit.issue("main.test"), kit.issue("old-name.test"), kit.issue("new-name.test")
    kit.add_cert("main", main)
    kit.add_cert("extra", extra)
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "main")
    kit.svc.enable("edge", "extra")

    kit.add_cert("extra", renamed, replace=True)

    assert handshake(lb.tls_port, "new-name.test").fingerprint == fingerprint(renamed)
    assert handshake(lb.tls_port, "old-name.test").fingerprint == fingerprint(main)  # falls back to the default
    assert {s.state for s in kit.svc.status()} == {"ok"}


def test_status_of_a_dual_rsa_and_ecdsa_listener_is_ok(kit: Kit) -> None:
    """Two certificates for the same names, one ECDSA and one RSA (HAProxy picks per client, reference
    1.4): both are served, so `status` must not call either unreachable (exit 9 for ever)."""
    ec, rsa = kit.issue("dual.test"), kit.issue("dual.test", key_kind="rsa")
    kit.add_cert("dual-ec", ec)
    kit.add_cert("dual-rsa", rsa)
    lb = kit.add_lb("edge", http=False)
    kit.svc.enable("edge", "dual-ec")
    kit.svc.enable("edge", "dual-rsa")
    rsa_only = client_context(minimum=ssl.TLSVersion.TLSv1_2, maximum=ssl.TLSVersion.TLSv1_2)
    rsa_only.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")

    assert handshake(lb.tls_port, "dual.test").fingerprint == fingerprint(ec)
    assert handshake(lb.tls_port, "dual.test", rsa_only).fingerprint == fingerprint(rsa)
    assert [(s.certificate, s.state) for s in kit.svc.status()] == [("dual-ec", "ok"), ("dual-rsa", "ok")]


def test_tls_on_the_plain_http_port_is_refused_before_anything_changes(kit: Kit) -> None:
    kit.add_cert("site", kit.issue("site.test"))
    lb = kit.add_lb("edge")
    assert lb.http_port is not None
    procs = processes(lb.dir)

    with pytest.raises(UnsafePlan):
        kit.svc.enable("edge", "site", lb_port=lb.http_port)

    assert processes(lb.dir) == procs
    assert http_get(lb.http_port, "/").status == 200
    assert kit.svc.show_load_balancer("edge")["listeners"] == []


# -- rollback ------------------------------------------------------------------------------------------
def lying_prober(wrong_for: str, says: str) -> Any:
    """A prober that reports ``says`` whenever the listener should serve ``wrong_for`` (as if the load
    balancer kept the old certificate), and the truth otherwise."""

    def prober(target: ProbeTarget) -> Served:
        if target.expect == wrong_for:
            return Served(target, says)
        return probe(target)

    return prober


def assert_rolled_back(kit: Kit, svc: Service, lb: Lb, cert: str, served: str, error: DeploymentError) -> None:
    assert handshake(lb.tls_port, None).fingerprint == served
    assert https_get(lb.tls_port, "site.test", cafile=kit.root).fingerprint == served
    assert svc.show_certificate(cert).fingerprint_sha256 == served
    listeners = svc.show_load_balancer(lb.name)["listeners"]
    assert isinstance(listeners, list)
    assert [c["fingerprint_sha256"] for c in listeners[0]["certificates"]] == [served]
    failed = svc.audit_log(1)[0]
    assert (failed.action, failed.target, failed.detail) == ("deploy.failed", f"certificate/{cert}", error.message)
    assert {s.state for s in svc.status()} == {"ok"}
    force_reload(lb.dir)  # and the files were put back too: a reload serves the old certificate
    assert handshake(lb.tls_port, None).fingerprint == served


def test_a_failed_verification_puts_the_previous_certificate_back(kit: Kit) -> None:
    old, new = kit.issue("site.test"), kit.issue("site.test")
    svc = kit.service(prober=lying_prober(fingerprint(new), fingerprint(old)), verify_within=1.0)
    kit.add_cert("site", old, svc=svc)
    lb = kit.add_lb("edge", svc=svc)
    svc.enable("edge", "site")

    with pytest.raises(VerificationFailed) as caught:
        kit.add_cert("site", new, replace=True, svc=svc)

    message = caught.value.message
    assert f"port {lb.tls_port}" in message and "site" in message and fingerprint(new)[:16] in message
    assert caught.value.hint and "put back" in caught.value.hint
    assert_rolled_back(kit, svc, lb, "site", fingerprint(old), caught.value)


class FailingBind:
    """The real HAProxy provider, except that the ``fail_on``-th change (a call to ``bind`` or ``rotate``)
    raises after (``late``) or before the real change: a load balancer that went wrong half-way."""

    def __init__(self, inner: HAProxyProvider, fail_on: int | None, *, late: bool = True) -> None:
        self.inner, self.fail_on, self.late, self.binds = inner, fail_on, late, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _changing(self, change: Callable[[], T]) -> T:
        self.binds += 1
        failing = self.binds == self.fail_on
        if failing and not self.late:
            raise ProviderError("injected: the load balancer refused the change", code="injected")
        result = change()
        if failing:
            raise ProviderError("injected: the load balancer lost the connection", code="injected")
        return result

    def bind(self, listener: ListenerSpec, refs: Mapping[str, CertRef]) -> None:
        self._changing(lambda: self.inner.bind(listener, refs))

    def rotate(self, ref: CertRef, slot: CertSlot) -> CertRef:
        return self._changing(lambda: self.inner.rotate(ref, slot))


def failing_factory(home: Path, fail: Mapping[str, tuple[int, bool]]) -> Any:
    def factory(name: str, kind: str, options: dict[str, Any]) -> Any:
        assert kind == "haproxy"
        real = create(name, options, home / "lb" / name, {"haproxy_binary": "haproxy"})
        fail_on, late = fail.get(name, (None, True))
        return FailingBind(real, fail_on, late=late)

    return factory


def test_a_failed_bind_puts_the_previous_certificate_back(kit: Kit) -> None:
    svc = kit.service(provider_factory=failing_factory(kit.home, {"edge": (2, True)}))
    old, new = kit.issue("site.test"), kit.issue("site.test")
    kit.add_cert("site", old, svc=svc)
    lb = kit.add_lb("edge", svc=svc)
    svc.enable("edge", "site")  # bind 1

    with pytest.raises(DeploymentError) as caught:  # bind 2 goes live, then fails; bind 3 puts it back
        kit.add_cert("site", new, replace=True, svc=svc)

    assert caught.value.code == "injected"
    assert "lost the connection" in caught.value.message and "rolled back" in caught.value.message
    assert_rolled_back(kit, svc, lb, "site", fingerprint(old), caught.value)


def test_a_failure_on_one_load_balancer_leaves_every_load_balancer_as_it_was(kit: Kit) -> None:
    """A replaced certificate attached to two load balancers: the first takes it, the second fails. The
    store is rolled back, so the first must be put back too, or it serves a certificate the store no
    longer knows (drift that `status` reports and the error message denies)."""
    svc = kit.service(provider_factory=failing_factory(kit.home, {"west": (2, False)}))
    old, new = kit.issue("site.test"), kit.issue("site.test")
    kit.add_cert("site", old, svc=svc)
    lbs = [kit.add_lb("east", svc=svc), kit.add_lb("west", svc=svc)]
    for lb in lbs:
        svc.enable(lb.name, "site")

    with pytest.raises(DeploymentError) as caught:
        kit.add_cert("site", new, replace=True, svc=svc)

    assert "rolled back" in caught.value.message
    assert svc.show_certificate("site").fingerprint_sha256 == fingerprint(old)
    served = {lb.name: handshake(lb.tls_port, "site.test").fingerprint for lb in lbs}
    assert served == {"east": fingerprint(old), "west": fingerprint(old)}
    assert {(s.load_balancer, s.state) for s in svc.status()} == {("east", "ok"), ("west", "ok")}


# -- configurations HAProxy refuses ---------------------------------------------------------------------
def test_a_configuration_that_fails_haproxy_check_is_never_put_live(kit: Kit) -> None:
    """An HTTPS instance protocol with a --backend-ca that does not exist renders a configuration that
    `haproxy -c` refuses: nothing may change, on disk or live."""
    kit.add_cert("site", kit.issue("site.test"))
    lb = kit.add_lb("edge", backend_ca="/nonexistent/sslterm-test/ca.pem")
    kit.svc.enable("edge", "site")
    files, procs, store = files_of(lb), processes(lb.dir), store_view(kit.svc)

    with pytest.raises(DeploymentError) as caught:
        kit.svc.enable("edge", "site", instance_protocol="HTTPS")

    assert caught.value.code == "haproxy-invalid-config"
    assert files_of(lb) == files
    assert processes(lb.dir) == procs  # no reload happened
    assert store_view(kit.svc) == store
    reply = https_get(lb.tls_port, "site.test", cafile=kit.root)
    assert reply.status == 200 and reply.backend_header("X-Forwarded-Proto") == ["https"]
    assert kit.svc.audit_log(1)[0].action == "deploy.failed"


def test_a_refused_configuration_says_why(kit: Kit) -> None:
    """The operator must learn what HAProxy disliked (here: the CA file), not only that it said no."""
    kit.add_cert("site", kit.issue("site.test"))
    kit.add_lb("edge", backend_ca="/nonexistent/sslterm-test/ca.pem")
    kit.svc.enable("edge", "site")

    with pytest.raises(DeploymentError) as caught:
        kit.svc.enable("edge", "site", instance_protocol="HTTPS")

    assert "/nonexistent/sslterm-test/ca.pem" in caught.value.message


def test_a_long_but_valid_load_balancer_name_works(kit: Kit) -> None:
    """Names may have 64 characters. HAProxy accepts UNIX socket paths up to 97 characters; a name that
    keeps the live sockets well under that must work (the candidate copy checked with `haproxy -c` must
    not push the socket path over the limit)."""
    live_master_socket = 88
    filler = live_master_socket - len(f"{kit.home / 'lb'}/lb--eu/master.sock")
    name = "lb-" + "x" * filler + "-eu"
    assert len(name) <= 64
    admin = kit.home / "lb" / name / "admin.sock"
    assert len(str(admin)) < 97 and len(str(admin.with_name("master.sock"))) == live_master_socket
    # HAProxy itself accepts a stats socket at the live path
    control = kit.home / "control.cfg"
    control.write_text(f"global\n    stats socket {admin} mode 600 level admin\ndefaults\n    mode http\n"
                       "    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n"
                       f"frontend f\n    bind {LOCALHOST}:1\n")
    assert subprocess.run(["haproxy", "-c", "-f", str(control)], capture_output=True, check=False).returncode == 0

    lb = kit.add_lb(name)

    assert lb.http_port is not None and http_get(lb.http_port, "/").status == 200


def test_a_load_balancer_added_again_under_the_same_name_uses_its_new_binds(kit: Kit) -> None:
    first = kit.add_lb("edge")
    kit.svc.remove_load_balancer("edge")
    assert first.http_port is not None and refused(first.http_port)

    again = kit.add_lb("edge")  # same service (an API server, or quickstart re-run after a crash)

    assert kit.svc.show_load_balancer("edge")["options"]["http_bind"] == f"{LOCALHOST}:{again.http_port}"  # type: ignore[index]
    assert again.http_port is not None
    assert not refused(again.http_port), "HAProxy is not listening on the new --http-bind"
    assert http_get(again.http_port, "/").status == 200


# -- remove, disable, lb remove -------------------------------------------------------------------------
def test_a_served_certificate_cannot_be_removed(kit: Kit) -> None:
    site = kit.issue("site.test")
    kit.add_cert("site", site)
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "site")

    with pytest.raises(InUse) as caught:
        kit.svc.remove_certificate("site")

    assert "edge" in caught.value.message and caught.value.code == "in-use"
    assert [c.name for c in kit.svc.list_certificates()] == ["site"]
    assert handshake(lb.tls_port, "site.test").fingerprint == fingerprint(site)


def test_disable_removes_termination_and_plain_http_keeps_working(kit: Kit) -> None:
    kit.add_cert("site", kit.issue("site.test"))
    lb = kit.add_lb("edge")
    assert lb.http_port is not None
    kit.svc.enable("edge", "site", redirect_http=True, hsts=True)
    assert http_get(lb.http_port, "/").status == 301

    outcome = kit.svc.disable("edge")

    assert [s.action for s in outcome.plan.steps] == ["unbind"]
    assert refused(lb.tls_port)
    reply = http_get(lb.http_port, "/after?disable=1", host="site.test")
    assert reply.status == 200  # straight to the backend, no redirect any more
    assert reply.json()["path"] == "/after?disable=1"
    assert reply.backend_header("X-Forwarded-Proto") == ["http"]
    assert kit.svc.show_load_balancer("edge")["listeners"] == []
    assert kit.svc.show_certificate("site").attached_to == ()
    assert kit.svc.status("edge") == []
    kit.svc.remove_certificate("site")  # no longer in use
    assert kit.svc.list_certificates() == []


def test_lb_remove_stops_haproxy(kit: Kit) -> None:
    kit.add_cert("site", kit.issue("site.test"))
    lb = kit.add_lb("edge")
    assert lb.http_port is not None
    kit.svc.enable("edge", "site")
    procs = processes(lb.dir)
    with pytest.raises(InUse):
        kit.svc.remove_load_balancer("edge")  # refused while it terminates TLS
    assert alive(procs.master) and handshake(lb.tls_port, "site.test").fingerprint
    kit.svc.disable("edge")
    master = int((lb.dir / "haproxy.pid").read_text().split()[0])
    workers = processes(lb.dir).workers

    kit.svc.remove_load_balancer("edge")

    assert master == procs.master
    assert not alive(master)
    assert not any(alive(w) for w in workers)
    assert refused(lb.http_port)
    assert not lb.dir.exists()
    assert kit.svc.list_load_balancers() == []
