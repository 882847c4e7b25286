"""Tools of the contract suite that know nothing of any one load balancer kind:

- reading what a TLS listener serves with a client of our own (pyOpenSSL for leaf and chain, the standard
  library for HTTP headers), so an assertion never rests on sslterm's own probe;
- :class:`Recording`, a provider wrapper that lists every call made through it (the engine's refusals must
  come before any call, or at least before any write call);
- :func:`deploy`, the engine's path from desired listeners to a verified change, as the service runs it
  (enforce, check, observe, refuse foreign ports, plan, arm, apply) without a store;
- :func:`observe_in_child`, ``observe()`` from a new Python process that builds its own provider.

Run as a script (``python contract_tools.py RECIPE_JSON``) it is that child.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from sslterm.engine.adopt import adopt_names
from sslterm.engine.apply import Applier, Report
from sslterm.engine.capabilities import enforce, refuse_foreign
from sslterm.engine.contract import (
    Capabilities,
    CertRef,
    CertSlot,
    ListenerSpec,
    Observed,
    Provider,
    Served,
    Timing,
)
from sslterm.engine.plan import Plan, Step, compute
from sslterm.engine.probe import probe
from sslterm.engine.verify import Prober
from sslterm.ports import LocalEndpoint

LOCALHOST = "127.0.0.1"


# -- what a client gets ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Read:
    """What one TLS client was sent: SHA-256 of the leaf, and of each certificate after it, in order."""

    leaf: str
    chain: tuple[str, ...] = ()

    @classmethod
    def of(cls, slot: CertSlot) -> Read:
        """What a client should get for ``slot``."""
        return cls(slot.fingerprint, slot.chain)


#: TLS 1.2 suites only a certificate of that key type can serve: a client that offers only these is sent
#: the certificate of that key type when a listener has one of each for the same name
_SUITES_FOR_KEY = {
    "RSA": "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
    "EC": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
}
_VERSIONS = {"TLSv1.1": SSL.TLS1_1_VERSION, "TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}


def _handshake(host: str, port: int, server_name: str | None, context: SSL.Context,
               timeout: float) -> list[bytes]:
    """One handshake; the DER certificates the server sent (leaf first). Raises OSError or SSL.Error."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as raw:
        connection = SSL.Connection(context, raw)
        if server_name:
            connection.set_tlsext_host_name(server_name.encode("ascii"))
        connection.set_connect_state()
        while True:
            try:
                connection.do_handshake()
                break
            except (SSL.WantReadError, SSL.WantWriteError) as want:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("TLS handshake timed out") from want
                reading = isinstance(want, SSL.WantReadError)
                select.select([raw] if reading else [], [] if reading else [raw], [], left)
        sent = connection.get_peer_cert_chain(as_cryptography=True) or []
        connection.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)
    return [cert.public_bytes(Encoding.DER) for cert in sent]


def tls_read(host: str, port: int, server_name: str | None = None, key_type: str | None = None,
             timeout: float = 5.0) -> Read | None:
    """Leaf and chain a client gets (with SNI ``server_name``; with ``key_type``, a TLS 1.2 client that can
    only take that key type); None when nothing completes a TLS handshake there."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)
    if key_type is not None:
        context.set_max_proto_version(SSL.TLS1_2_VERSION)
        context.set_cipher_list(_SUITES_FOR_KEY[key_type].encode())
    try:
        sent = _handshake(host, port, server_name, context, timeout)
    except (OSError, SSL.Error):
        return None
    if not sent:
        return None
    digests = [hashlib.sha256(der).hexdigest() for der in sent]
    return Read(digests[0], tuple(digests[1:]))


def tls_accepts(host: str, port: int, server_name: str | None, version: str, timeout: float = 5.0) -> bool:
    """Whether a client that speaks only TLS ``version`` completes a handshake (TLS 1.1 with OpenSSL's
    security level lowered, so this client really offers it)."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)
    context.set_min_proto_version(_VERSIONS[version])
    context.set_max_proto_version(_VERSIONS[version])
    if version == "TLSv1.1":
        context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    try:
        _handshake(host, port, server_name, context, timeout)
    except (OSError, SSL.Error):
        return False
    return True


def https_headers(host: str, port: int, server_name: str, timeout: float = 5.0) -> dict[str, str]:
    """The response headers of ``GET /`` over TLS (SNI and Host ``server_name``), names lower-cased."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = tls.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    assert head and head[0].startswith("HTTP/"), f"no HTTP response from {host}:{port}: {data[:200]!r}"
    return {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head[1:] if ":" in line)}


@dataclass(frozen=True)
class ServedSettings:
    """What a client can tell of a listener's settings: whether responses carry HSTS, and the TLS profile its
    protocol versions match (``modern``: TLS 1.3 only; ``old``: TLS 1.1 too; else ``intermediate``)."""

    hsts: bool
    tls_profile: str


def handshake_settings(host: str, port: int, server_name: str) -> ServedSettings:
    """:class:`ServedSettings` read the way a client finds them: an HTTPS request and TLS handshakes."""
    hsts = "strict-transport-security" in https_headers(host, port, server_name)
    if not tls_accepts(host, port, server_name, "TLSv1.2"):
        profile = "modern"
    elif tls_accepts(host, port, server_name, "TLSv1.1"):
        profile = "old"
    else:
        profile = "intermediate"
    return ServedSettings(hsts, profile)


# -- every call, listed ---------------------------------------------------------------------------------
#: the provider methods that may change something on (or for) the load balancer
WRITE_CALLS = frozenset({"upload", "rotate", "bind", "unbind", "forget", "cleanup", "start", "stop"})


class Recording:
    """A provider that lists the calls made to the one it wraps (``calls``), in order."""

    kind: ClassVar[str] = "recorded"

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.capabilities: Capabilities = inner.capabilities
        self.timing: Timing = inner.timing
        self.scope: str = inner.scope
        self.default_lb_port: int = inner.default_lb_port

    @property
    def write_calls(self) -> list[str]:
        return [c for c in self.calls if c in WRITE_CALLS]

    def check(self, listeners: Sequence[ListenerSpec]) -> None:
        self.calls.append("check")
        self.inner.check(listeners)

    def observe(self) -> Observed:
        self.calls.append("observe")
        return self.inner.observe()

    def upload(self, slot: CertSlot) -> CertRef:
        self.calls.append("upload")
        return self.inner.upload(slot)

    def rotate(self, ref: CertRef, slot: CertSlot) -> CertRef:
        self.calls.append("rotate")
        return self.inner.rotate(ref, slot)

    def bind(self, listener: ListenerSpec, refs: dict[str, CertRef]) -> None:
        self.calls.append("bind")
        self.inner.bind(listener, refs)

    def unbind(self, lb_port: int) -> None:
        self.calls.append("unbind")
        self.inner.unbind(lb_port)

    def verify(self, listener: ListenerSpec, only: Collection[str] | None = None) -> list[Served]:
        self.calls.append("verify")
        return self.inner.verify(listener, only)

    def forget(self, ref: CertRef) -> None:
        self.calls.append("forget")
        self.inner.forget(ref)

    def cleanup(self) -> None:
        self.calls.append("cleanup")
        self.inner.cleanup()

    def address(self, lb_port: int) -> tuple[str, int]:
        self.calls.append("address")
        return self.inner.address(lb_port)

    def local_endpoints(self, lb_ports: Iterable[int], *, http: bool = True) -> tuple[LocalEndpoint, ...]:
        self.calls.append("local_endpoints")
        return self.inner.local_endpoints(lb_ports, http=http)

    def alive(self) -> bool:
        self.calls.append("alive")
        return self.inner.alive()

    def start(self) -> None:
        self.calls.append("start")
        self.inner.start()

    def stop(self, *, keep_files: bool = False) -> None:
        self.calls.append("stop")
        self.inner.stop(keep_files=keep_files)


# -- the engine's path ----------------------------------------------------------------------------------
def armed(plan: Plan, pool: Iterable[CertSlot]) -> Plan:
    """``plan`` with key material on every certificate found in ``pool`` (by served id), on both sides of
    each step, as the service arms a plan from the store's current and kept versions."""
    material = {s.served_id: s.material for s in pool if s.material is not None}

    def arm_slot(slot: CertSlot | None) -> CertSlot | None:
        if slot is None or slot.served_id not in material:
            return slot
        return replace(slot, material=material[slot.served_id])

    def arm_listener(listener: ListenerSpec | None) -> ListenerSpec | None:
        if listener is None:
            return None
        return replace(listener, certificates=tuple(arm_slot(c) or c for c in listener.certificates))

    return Plan(plan.lb, tuple(Step(s.action, s.lb_port, s.summary, arm_listener(s.before), arm_listener(s.after),
                                    arm_slot(s.slot)) for s in plan.steps))


def plan_for(provider: Provider, desired: Sequence[ListenerSpec], *, lb: str = "contract",
             previous: Iterable[CertSlot] = (), rotate_in_place: bool | None = None) -> Plan:
    """What the service plans before touching anything: capabilities enforced (no provider call), the
    provider's own refusals, what the load balancer has (under the store's names where it keeps none of
    sslterm's), its foreign ports refused; then the plan, armed with
    the material of ``desired`` and of ``previous`` (older versions a rollback may need)."""
    enforce(lb, provider.kind, provider.capabilities, desired)
    provider.check(desired)
    observed = provider.observe()
    if not provider.capabilities.keeps_names:  # as the service observes (service/rollout.py): the store's names
        observed = Observed(adopt_names(observed.listeners, desired), observed.foreign_ports)
    refuse_foreign(lb, observed, desired)
    rotate = provider.capabilities.rotate_in_place if rotate_in_place is None else rotate_in_place
    plan = compute(lb, observed.listeners, desired, rotate_in_place=rotate)
    return armed(plan, [*(c for x in desired for c in x.certificates), *previous])


def deploy(provider: Provider, desired: Sequence[ListenerSpec], *, previous: Iterable[CertSlot] = (),
           verify_within: float | None = None, prober: Prober = probe) -> Report:
    """Bring the load balancer to ``desired`` through the engine: :func:`plan_for`, then the Applier
    (verified, rolled back on failure, cleaned up after)."""
    plan = plan_for(provider, desired, previous=previous)
    return Applier(provider, verify_within=verify_within, prober=prober).apply(plan)


# -- observe() from a new process -----------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """How another process builds a provider for the same load balancer (``sslterm.providers.registry``)."""

    kind: str  # a registry kind: haproxy, aws-elb, ...
    name: str
    options: dict[str, Any]
    state_dir: str
    settings: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # added to the child's environment (endpoints, ...)


def observe_in_child(recipe: Recipe, timeout: float = 60.0) -> Observed:
    """``observe()`` of a provider built from ``recipe`` in a new Python process."""
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), json.dumps(asdict(recipe))],
                          capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **recipe.env})
    assert done.returncode == 0, f"observe() in a new process failed:\n{done.stderr}"
    data = json.loads(done.stdout)
    return Observed(tuple(ListenerSpec.from_record(x) for x in data["listeners"]),
                    tuple(int(p) for p in data["foreign_ports"]))


def _child(argument: str) -> None:
    from sslterm.providers.registry import lookup

    recipe = Recipe(**json.loads(argument))
    factory, _ = lookup(recipe.kind)
    observed = factory(recipe.name, recipe.options, Path(recipe.state_dir), recipe.settings).observe()
    print(json.dumps({"listeners": [x.as_record() for x in observed.listeners],
                      "foreign_ports": list(observed.foreign_ports)}))


if __name__ == "__main__":
    _child(sys.argv[1])
