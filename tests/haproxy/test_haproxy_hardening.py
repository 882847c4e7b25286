"""Issue 6 on a real HAProxy: chain changes are deployed and verified (item 5), a certificate served on one
port can be added to a second one (item 6), a certificate with no DNS name is served as the default and
verified (item 9), and a dead managed HAProxy is reported `down` and brought back by the next enable (10)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import ssl
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from e2e_haproxy import (
    LOCALHOST,
    Kit,
    alive,
    fingerprint,
    force_reload,
    free_ports,
    handshake,
    https_get,
    pid_from_file,
    processes,
    run_cli,
    wait_until,
)

from sslterm.certs import BundleInput
from sslterm.demo.ca import Issued
from sslterm.errors import UnsafePlan
from sslterm.providers.haproxy.files import read_or_none

pytestmark = pytest.mark.haproxy


def chain_fingerprints(kit: Kit) -> tuple[str, ...]:
    return (kit.ca.intermediate.fingerprint(hashes.SHA256()).hex(),)


def leaf_only(issued: Issued) -> BundleInput:
    return BundleInput(cert=issued.cert_pem(), key=issued.key_pem())


def full(issued: Issued) -> BundleInput:
    return BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(), key=issued.key_pem())


def states(kit: Kit, lb: str) -> dict[str, str]:
    return {s.certificate: s.state for s in kit.service().status(lb)}


# -- item 5: the chain is part of what is served ------------------------------------------------------
def test_a_chain_added_to_the_same_leaf_is_deployed_and_verified(kit: Kit) -> None:
    issued = kit.issue("shop.test")
    kit.svc.add_certificate("shop", leaf_only(issued))
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "shop")
    with pytest.raises(ssl.SSLCertVerificationError):  # no intermediate sent: a client cannot verify it
        https_get(lb.tls_port, "shop.test", cafile=kit.root)

    added = kit.svc.add_certificate("shop", full(issued), replace=True)  # same leaf, now with its chain

    assert added.redeployed == ("edge",)
    assert https_get(lb.tls_port, "shop.test", cafile=kit.root).fingerprint == fingerprint(issued)
    [row] = kit.service().status("edge")
    assert (row.state, row.served_chain, row.expected_chain) == ("ok", chain_fingerprints(kit),
                                                                  chain_fingerprints(kit))


def test_a_renewal_given_without_its_chain_keeps_serving_the_full_chain(kit: Kit) -> None:
    kit.svc.add_certificate("shop", full(kit.issue("shop.test")))
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "shop")
    renewed = kit.issue("shop.test")

    added = kit.svc.add_certificate("shop", leaf_only(renewed), replace=True)  # README: --cert --key only

    assert "chain-completed" in {w.code for w in added.warnings}
    assert [entry.fingerprint_sha256 for entry in added.summary.chain] == list(chain_fingerprints(kit))
    assert https_get(lb.tls_port, "shop.test", cafile=kit.root).fingerprint == fingerprint(renewed)
    assert states(kit, "edge") == {"shop": "ok"}


def test_status_tells_when_the_served_chain_is_not_the_stored_one(kit: Kit) -> None:
    issued = kit.issue("shop.test")
    kit.svc.add_certificate("shop", full(issued))
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "shop")
    assert states(kit, "edge") == {"shop": "ok"}
    pem = lb.dir / "certs" / "shop.pem"  # someone puts the leaf alone in HAProxy's file and reloads
    pem.write_bytes(issued.cert_pem() + issued.key_pem())
    force_reload(lb.dir)

    done = run_cli(kit.home, "status", "edge", "--json")

    assert done.returncode == 9, done.stderr
    assert '"state": "wrong-chain"' in done.stdout


# -- item 6: one certificate on two ports --------------------------------------------------------------
def test_a_certificate_served_on_one_port_can_be_added_to_a_second_port(kit: Kit) -> None:
    shop, api = kit.issue("shop.test"), kit.issue("api.test")
    kit.add_cert("shop", shop)
    kit.add_cert("api", api)
    lb = kit.add_lb("edge")
    [second] = free_ports(1)
    kit.svc.enable("edge", "shop")
    kit.svc.enable("edge", "api", lb_port=second)

    outcome = kit.svc.enable("edge", "shop", lb_port=second)  # was: error[internal] unexpected KeyError

    assert outcome.report is not None
    assert handshake(second, "shop.test").fingerprint == fingerprint(shop)
    assert handshake(second, None).fingerprint == fingerprint(api)
    assert handshake(lb.tls_port, "shop.test").fingerprint == fingerprint(shop)
    assert set(states(kit, "edge").values()) == {"ok"}


# -- item 9: no DNS name -----------------------------------------------------------------------------
def ip_only(kit: Kit, address: str = LOCALHOST, *, label: str | None = None) -> Issued:
    """A leaf whose only names are an IP address SAN and an IP as CN (as internal services often have)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(address))]
    if label is not None:
        sans.append(x509.DNSName(label))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)]))
            .issuer_name(kit.ca.intermediate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=90))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(kit.ca.inter_key, hashes.SHA256()))
    return Issued(cert, key, (kit.ca.intermediate,))


def test_a_certificate_with_no_dns_name_is_served_as_the_default_and_verified(kit: Kit) -> None:
    shop, internal = kit.issue("shop.test"), ip_only(kit)
    kit.add_cert("shop", shop)
    added = kit.add_cert("internal", internal)
    assert "no-dns-name" in {w.code for w in added.warnings}
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "shop")

    kit.svc.enable("edge", "internal")

    assert handshake(lb.tls_port, None).fingerprint == fingerprint(internal)  # no SNI: the IP certificate
    assert handshake(lb.tls_port, "shop.test").fingerprint == fingerprint(shop)
    assert states(kit, "edge") == {"internal": "ok", "shop": "ok"}
    assert run_cli(kit.home, "status", "edge").returncode == 0


def test_a_second_certificate_with_no_dns_name_on_a_listener_is_refused(kit: Kit) -> None:
    one = ip_only(kit)
    kit.add_cert("one", one)
    kit.add_cert("two", ip_only(kit, "127.0.0.2"))
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "one")

    with pytest.raises(UnsafePlan) as refused:
        kit.svc.enable("edge", "two")

    assert refused.value.code == "no-dns-name"
    assert handshake(lb.tls_port, None).fingerprint == fingerprint(one)
    assert [t["name"] for t in kit.svc.show_load_balancer("edge")["listeners"][0]["certificates"]] == ["one"]


def test_a_name_label_longer_than_63_characters_is_no_internal_error(kit: Kit) -> None:
    long_label = "x" * 70 + ".shop.test"
    default, odd = kit.issue("default.test"), ip_only(kit, label=long_label)
    kit.add_cert("default", default)
    kit.add_cert("odd", odd)
    kit.add_lb("edge")
    kit.svc.enable("edge", "default")

    kit.svc.enable("edge", "odd")  # no usable DNS name: it becomes the default, probed without SNI

    assert states(kit, "edge") == {"odd": "ok", "default": "ok"}


# -- item 10: a dead managed HAProxy -------------------------------------------------------------------
def kill_haproxy(kit: Kit, lb_dir_name: str) -> None:
    lb_dir = kit.lb_dir(lb_dir_name)
    procs = processes(lb_dir)
    for pid in (procs.master, *procs.workers):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(alive(p) for p in (procs.master, *procs.workers)), 10, "HAProxy to die")


def test_a_dead_managed_haproxy_is_reported_down_and_the_next_enable_brings_it_back(kit: Kit) -> None:
    shop = kit.issue("shop.test")
    kit.add_cert("shop", shop)
    lb = kit.add_lb("edge")
    kit.svc.enable("edge", "shop")
    kill_haproxy(kit, "edge")

    down = run_cli(kit.home, "status", "edge", "--json")
    assert down.returncode == 9
    assert '"state": "down"' in down.stdout

    again = run_cli(kit.home, "enable", "edge", "--cert", "shop")  # was: "nothing to change", still dead

    assert again.returncode == 0, again.stderr
    assert handshake(lb.tls_port, "shop.test").fingerprint == fingerprint(shop)
    assert alive(pid_from_file(lb.dir / "haproxy.pid") or 0)
    assert run_cli(kit.home, "status", "edge").returncode == 0
    assert read_or_none(lb.dir / f"crt-list-{lb.tls_port}.txt") is not None
