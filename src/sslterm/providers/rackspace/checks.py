"""What Rackspace would refuse, refused here first with sslterm's own codes (exit 4, nothing touched), instead
of passing an API error through after a change began. Pure: no I/O.

Sources (reference/clouds.md 3.2-3.4): RSA keys only ("ECDSA key format is currently not accepted for ssl
termination. Use RSA."); the key must match the certificate; 20 certificate mappings per load balancer;
host names unique per load balancer, matching Atlas's ``HostNameVerifier`` and at most 128 characters;
``httpsRedirect`` only with a secure-only termination on port 443; no termination on a load balancer whose
protocol is already secure (HTTPS, IMAPS, LDAPS, POP3S) or datagram-like; the termination forwards to the
nodes' own ports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from cryptography.hazmat.primitives.asymmetric import rsa

from sslterm import errors
from sslterm.certs.keys import key_description, public_bytes
from sslterm.certs.names import dns_names
from sslterm.engine.contract import ListenerSpec
from sslterm.providers.rackspace.state import LbInfo

MAPPING_LIMIT: Final = 20
HOST_NAME_MAX: Final = 128
_HOST_NAME = re.compile(r"(([a-zA-Z0-9*]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*"
                        r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])")
SECURE_PROTOCOLS: Final = frozenset({"HTTPS", "IMAPS", "LDAPS", "POP3S"})
NO_TLS_PROTOCOLS: Final = frozenset({"DNS_UDP", "UDP", "UDP_STREAM", "TCP_CLIENT_FIRST"})
#: every code a refusal carries; documented in docs/rackspace.md; never rename one
CODES: Final = frozenset({"rackspace-key-unsupported", "rackspace-key-mismatch", "rackspace-mapping-limit",
                          "rackspace-duplicate-host-name", "rackspace-host-name-invalid", "rackspace-no-host-name",
                          "rackspace-redirect-port", "rackspace-instance-port", "rackspace-protocol-unsupported"})


class Problem(errors.Problem):
    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown Rackspace refusal code {self.code!r}")


RackspaceRefusal = errors.Refusal


def key_problems(listener: ListenerSpec) -> list[Problem]:
    """RSA only, and the key of the certificate (for every certificate whose material is at hand: those sent)."""
    problems = []
    for slot in listener.certificates:
        if slot.material is None:
            continue
        bundle = slot.material.bundle()
        if not isinstance(bundle.key, rsa.RSAPrivateKey):
            problems.append(Problem("rackspace-key-unsupported", f"Rackspace terminates TLS with RSA keys only; "
                                    f"{slot.name} has an {key_description(bundle.key)[0]} key",
                                    "have the certificate issued for an RSA key (2048 bits or more)"))
        elif public_bytes(bundle.key) != public_bytes(bundle.leaf.public_key()):
            problems.append(Problem("rackspace-key-mismatch", f"the private key of {slot.name} does not belong to "
                                    "its certificate", "store the key made with this certificate"))
    return problems


def mapping_problems(listener: ListenerSpec, limit: int = MAPPING_LIMIT) -> list[Problem]:
    """Each SNI certificate needs a DNS name; every name becomes one mapping: valid, unique, at most ``limit``."""
    problems: list[Problem] = []
    owner: dict[str, str] = {}
    where = f"port {listener.lb_port}"
    for slot in listener.certificates[1:]:
        names = dns_names(slot.sans)
        if not names:
            problems.append(Problem("rackspace-no-host-name", f"{slot.name} has no DNS name, so no certificate "
                                    "mapping can serve it by SNI", "serve it as the default certificate, or on "
                                    "another load balancer"))
        for host in names:
            if len(host) > HOST_NAME_MAX or not _HOST_NAME.fullmatch(host):
                problems.append(Problem("rackspace-host-name-invalid", f"Rackspace takes no certificate mapping for "
                                        f"{host[:80]!r} ({slot.name}): letters, digits, hyphens and a leading '*' "
                                        f"label only, at most {HOST_NAME_MAX} characters",
                                        "have the certificate issued without that name"))
            elif host in owner and owner[host] != slot.name:
                problems.append(Problem("rackspace-duplicate-host-name", f"{host} is in both {owner[host]} and "
                                        f"{slot.name}: Rackspace maps a host name to one certificate",
                                        "serve one of them on another load balancer"))
            owner.setdefault(host, slot.name)
    if len(owner) > limit:
        problems.append(Problem("rackspace-mapping-limit", f"{where} would need {len(owner)} certificate mappings "
                                f"(one per DNS name of each certificate after the default); Rackspace allows {limit}",
                                "serve some certificates on another load balancer, or ask Rackspace to raise the "
                                "limit"))
    return problems


def listener_problems(listener: ListenerSpec, info: LbInfo | None) -> list[Problem]:
    """The settings Rackspace cannot have; ``info`` (as last read, when it was) for the protocol."""
    problems, where = [], f"port {listener.lb_port}"
    if listener.instance_port is not None:
        problems.append(Problem("rackspace-instance-port", f"{where}: Rackspace forwards decrypted traffic to the "
                                "nodes' own ports; it cannot choose an instance port",
                                "leave out --instance-port (the nodes' ports are set on the load balancer)"))
    if listener.redirect_http and listener.lb_port != 443:
        problems.append(Problem("rackspace-redirect-port", f"{where}: Rackspace redirects plain HTTP to HTTPS on "
                                "port 443 only", "use --lb-port 443, or leave out --redirect-http"))
    if info is not None and info.protocol in SECURE_PROTOCOLS | NO_TLS_PROTOCOLS:
        why = "already encrypted" if info.protocol in SECURE_PROTOCOLS else "not one Rackspace terminates TLS for"
        problems.append(Problem("rackspace-protocol-unsupported", f"the load balancer's protocol is {info.protocol}, "
                                f"{why}", "terminate TLS on a load balancer with protocol HTTP (or TCP)"))
    return problems


def refuse(listeners: Sequence[ListenerSpec], info: LbInfo | None, limit: int = MAPPING_LIMIT) -> None:
    problems = [p for x in listeners for p in (*listener_problems(x, info), *key_problems(x),
                                               *mapping_problems(x, limit))]
    if problems:
        raise RackspaceRefusal(problems)
