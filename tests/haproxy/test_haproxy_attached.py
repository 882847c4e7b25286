"""Attached mode: the operator's own HAProxy configuration includes sslterm's crt-list; sslterm manages only
the certificates in it, through the runtime API, and never touches the operator's configuration."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_haproxy import LOCALHOST, Kit, fingerprint, free_ports, handshake, master_cli, pid_from_file

from sslterm.errors import UnsafePlan

OPERATOR_CONFIG = """\
global
    stats socket {admin} mode 600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe_operator
    bind {host}:{port} ssl crt {default_pem} crt-list {crt_list}
    http-request return status 200 content-type text/plain string operator
"""


@dataclass
class Operator:
    config: Path
    admin: Path
    master: Path
    port: int
    default_fingerprint: str


@pytest.fixture
def operator(kit: Kit) -> Iterator[Operator]:
    """An HAProxy the operator runs (master-worker, own config and default certificate), whose TLS bind
    includes the crt-list sslterm will own for load balancer `main`."""
    folder = kit.home / "operator"
    folder.mkdir(mode=0o700)
    default = kit.issue("default.operator.test")
    (folder / "default.pem").write_bytes(default.cert_pem() + default.chain_pem() + default.key_pem())
    lb_dir = kit.lb_dir("main")
    lb_dir.mkdir(parents=True, mode=0o700)
    (port,) = free_ports(1)
    crt_list = lb_dir / f"crt-list-{port}.txt"
    crt_list.write_text("")  # the operator creates it empty, then includes it
    op = Operator(folder / "haproxy.cfg", folder / "admin.sock", folder / "master.sock", port, fingerprint(default))
    op.config.write_text(OPERATOR_CONFIG.format(admin=op.admin, host=LOCALHOST, port=port,
                                                default_pem=folder / "default.pem", crt_list=crt_list))
    subprocess.run(["haproxy", "-W", "-D", "-f", str(op.config), "-p", str(folder / "haproxy.pid"),
                    "-S", str(op.master)], check=True, timeout=30)
    yield op
    pid = pid_from_file(folder / "haproxy.pid")
    if pid is not None:  # stopped by its pid; the kit also checks nothing is left under the test's directory
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def attach(kit: Kit, op: Operator) -> None:
    kit.svc.add_load_balancer("main", "haproxy", {"config": str(op.config), "socket": str(op.admin),
                                                  "master_socket": str(op.master), "bind": f"{LOCALHOST}:{op.port}"})


def worker_pids(op: Operator) -> list[str]:
    return [line.split()[0] for line in master_cli(op.master, "show proc").splitlines() if " worker " in line]


def test_attached_enable_serves_by_sni_and_rotates_without_reload(kit: Kit, operator: Operator) -> None:
    before_config = operator.config.read_text()
    attach(kit, operator)
    shop, api = kit.issue("shop.attached.test"), kit.issue("api.attached.test")
    kit.add_cert("shop", shop)
    kit.add_cert("api", api)
    workers = worker_pids(operator)

    kit.svc.enable("main", "shop")
    kit.svc.enable("main", "api")
    assert handshake(operator.port, "shop.attached.test").fingerprint == fingerprint(shop)
    assert handshake(operator.port, "api.attached.test").fingerprint == fingerprint(api)
    assert handshake(operator.port, None).fingerprint == operator.default_fingerprint  # still theirs

    renewed = kit.issue("shop.attached.test")
    added = kit.add_cert("shop", renewed, replace=True)
    assert added.redeployed == ("main",)
    assert handshake(operator.port, "shop.attached.test").fingerprint == fingerprint(renewed)
    assert worker_pids(operator) == workers, "attached changes went through the runtime API, no reload"
    assert operator.config.read_text() == before_config, "the operator's configuration is never written"
    assert [s.state for s in kit.svc.status("main")] == ["ok", "ok"]


def test_attached_listener_cannot_be_emptied_under_the_operator(kit: Kit, operator: Operator) -> None:
    attach(kit, operator)
    shop = kit.issue("shop.attached.test")
    kit.add_cert("shop", shop)
    kit.svc.enable("main", "shop")
    with pytest.raises(UnsafePlan) as refused:
        kit.svc.disable("main")
    assert "remove that bind line" in (refused.value.hint or "")
    assert handshake(operator.port, "shop.attached.test").fingerprint == fingerprint(shop)


def test_after_the_operator_removes_the_bind_line_disable_and_remove_work(kit: Kit, operator: Operator) -> None:
    """Issue 6, item 13: once the operator's configuration no longer names sslterm's crt-list, disabling
    needs no reload and removing the load balancer works; store and disk agree afterwards."""
    attach(kit, operator)
    kit.add_cert("shop", kit.issue("shop.attached.test"))
    kit.svc.enable("main", "shop")
    crt_list = kit.lb_dir("main") / f"crt-list-{operator.port}.txt"
    text = operator.config.read_text()
    operator.config.write_text(text.replace(f" crt-list {crt_list}", ""))  # the operator takes sslterm out
    master_cli(operator.master, "reload")

    kit.svc.disable("main")  # was: unsafe-plan, forever
    kit.svc.remove_load_balancer("main")

    assert kit.svc.list_load_balancers() == []
    assert not crt_list.exists()
    assert not list((kit.lb_dir("main") / "certs").glob("*.pem"))
    kit.svc.remove_certificate("shop")  # nothing serves it any more
