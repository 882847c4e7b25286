"""What the contract suite runs against: a :class:`Subject` (a provider on a real load balancer, and the means
to check it from outside) per kind, listed in :data:`KINDS`.

Add a kind with a ``make_<kind>(ca, app)`` context manager that yields a Subject (for AWS: moto in server mode,
read back through boto3 directly; for Rackspace: the local emulator, read back over its HTTP API) and a
:class:`Kind` entry in :data:`KINDS` naming the features it has. conftest.py parametrises every test over the
kinds that have the features the test needs (``@pytest.mark.contract_needs(...)``): a kind without one is
not collected for that test, rather than skipped, and ``test_subject_declares_what_it_has`` checks that the
declared features are the subject's real ones.

Features (what not every kind has):
- ``foreign-listener``: the load balancer can have a TLS listener sslterm did not create (``Subject.foreign``);
- ``unbind``: sslterm can take TLS off a port it bound (an attached HAProxy cannot: the operator's bind line
  stays, and ``check`` refuses it);
- ``dual-key-types``: a listener can serve an RSA and an EC certificate for the same name (both key types
  accepted, and SNI);
- ``rotate-in-place``: ``capabilities.rotate_in_place`` (``rotate`` swaps a certificate where it is served);
- ``staging``: ``cleanup`` drops uploads no listener serves (a HAProxy's staged copies; a no-op for clouds);
- ``several-listeners``: the load balancer can have more than one TLS listener of sslterm's (a second one on
  ``Subject.spare_port``); a Rackspace load balancer has one SSL termination (``max_listeners=1``: binding
  another port moves it there), so tests that keep two listeners need this;
- ``keyless-upload``: an upload without material finds an earlier upload by served id (HAProxy's staged files,
  a cloud's certificate store); an inline provider (Rackspace: ``capabilities.inline``) stages nothing, sends
  the key with each bind, and so refuses any upload without material (``not-staged``): the engine never
  uploads what a listener serves, so it needs none;
- ``keeps-names``: ``capabilities.keeps_names``; where the engine adopts names by served id instead
  (Rackspace, engine/adopt.py), the certificate served before a renewal has no name of the store's desired
  state, so a renewal plans a ``bind``, not a ``rotate``, and tests that expect the rotate step need this.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from contract_tools import LOCALHOST, Read, Recipe, ServedSettings, handshake_settings, tls_read
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519

from sslterm.certs import BundleInput, validate_bundle
from sslterm.certs.bundle import Bundle
from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA, Issued
from sslterm.engine.contract import Provider
from sslterm.engine.model import CertMaterial, CertSlot, ListenerSpec

#: "locations": observe gives each certificate the place the provider keeps it (a cloud's ARN, which a
#: rotation in a new process needs); HAProxy rotates by name and leaves it empty
#: "locations" is not Rackspace's: it rotates by what is served (leaf and chain), keeps no names of sslterm's
#: (the engine adopts them: engine/adopt.py), and its locations are only where a body sits
FEATURES = frozenset({"foreign-listener", "unbind", "dual-key-types", "rotate-in-place", "staging", "locations",
                      "several-listeners", "keyless-upload", "keeps-names"})

#: DemoCA's key kinds for the key types a provider may accept (others are made below, for refusals)
_KEY_KINDS = {"RSA": "rsa", "EC": "ec"}


@dataclass(frozen=True)
class Foreign:
    """A TLS listener on the load balancer that sslterm did not create, and what it serves."""

    port: int
    serves: Read


@dataclass(frozen=True)
class Refusal:
    """Something this kind's ``check`` refuses: ``arrange`` binds what must be there first (through the
    provider) and returns the listeners to ask for; the refusal has ``code``."""

    why: str
    code: str
    arrange: Callable[[Subject], Sequence[ListenerSpec]]


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


@dataclass
class Subject:
    """A provider under test, plus what the suite needs around it, none of it read through the provider:

    - ``read(lb_port, server_name, key_type)``: leaf and chain a client gets (None: no TLS there);
    - ``read_settings(lb_port, server_name)``: HSTS and TLS profile as a client finds them;
    - ``writes()``: changes whenever anything was written to the load balancer (files, memory, reloads,
      API writes); ``listener_changes()``: changes whenever a listener was reconfigured (not a certificate
      swapped in place);
    - ``fresh()``: a new provider object for the same load balancer; ``recipe``: the same in a new process;
    - ``sibling()``: another load balancer of the same kind (its own Subject), for what one must spare;
    - ``refusals``: what this kind's ``check`` refuses; ``default_without_sni``: what a client without SNI
      gets when the provider's first certificate is not the default; ``foreign``: a listener sslterm did
      not create, where the kind can have one.
    """

    kind: str
    provider: Provider
    ca: DemoCA
    spare_port: int  # a second listener port, besides provider.default_lb_port
    read: Callable[[int, str | None, str | None], Read | None]
    read_settings: Callable[[int, str], ServedSettings]
    writes: Callable[[], object]
    listener_changes: Callable[[], object]
    fresh: Callable[[], Provider]
    recipe: Recipe
    sibling: Callable[[], AbstractContextManager[Subject]]
    refusals: tuple[Refusal, ...] = ()
    default_without_sni: Read | None = None
    foreign: Foreign | None = None
    features: frozenset[str] = field(default_factory=frozenset)  # set from its Kind by conftest.py

    @property
    def lb_port(self) -> int:
        return self.provider.default_lb_port

    def served(self, lb_port: int, server_name: str | None = None, key_type: str | None = None) -> Read | None:
        return self.read(lb_port, server_name, key_type)

    def default_for(self, listener: ListenerSpec) -> Read:
        """What a client without SNI (or with a name no certificate of ``listener`` has) should get."""
        if self.provider.capabilities.first_is_default:
            return Read.of(listener.certificates[0])
        assert self.default_without_sni is not None, f"{self.kind}: the first certificate is not the default, " \
                                                     "and the subject does not say what is"
        return self.default_without_sni

    def fit(self, *slots: CertSlot) -> tuple[CertSlot, ...]:
        """The certificates of ``slots`` one listener of this kind holds: all of them with SNI, else the first
        (a test whose point is not SNI runs on every kind this way)."""
        return slots if self.provider.capabilities.sni else slots[:1]

    def expect(self, listener: ListenerSpec, server_name: str) -> Read:
        """What a client asking for ``server_name`` should get from ``listener``: its certificate for that name,
        else the default."""
        named = next((c for c in listener.certificates if server_name in c.sans), None)
        return Read.of(named) if named is not None else self.default_for(listener)

    def slot(self, name: str, *sans: str, key_type: str | None = None) -> CertSlot:
        """A real certificate (demo CA, its intermediate as the chain) as the engine hands it over: with its
        material. ``sans`` default to ``NAME.test``; ``key_type`` to EC where the provider takes it, else the
        first key type it takes (a classic ELB with ACM: RSA only)."""
        names = sans or (f"{name}.test",)
        accepted = self.provider.capabilities.key_types
        key_type = key_type or ("EC" if "EC" in accepted else accepted[0])
        if key_type == "Ed25519":  # a key type no provider accepts yet: for refusals
            issued = self.ca.issue(*names, key=ed25519.Ed25519PrivateKey.generate())
            bundle = Bundle(issued.cert, issued.chain, issued.key)
        elif key_type in _KEY_KINDS:
            issued = self.ca.issue(*names, key_kind=_KEY_KINDS[key_type])
            bundle = self._checked(issued)
        else:
            raise AssertionError(f"the contract suite cannot make a {key_type} certificate: teach Subject.slot")
        return CertSlot(name, bundle.fingerprint, names, key_type, CertMaterial.of(bundle),
                        chain=tuple(_fingerprint(c) for c in bundle.chain))

    def leaf_only(self, slot: CertSlot) -> CertSlot:
        """The same leaf and key as ``slot`` without its chain: another certificate to serve (a chain change
        is a change clients see)."""
        assert slot.material is not None
        bundle = slot.material.bundle()
        bare = Bundle(bundle.leaf, (), bundle.key)
        return CertSlot(slot.name, slot.fingerprint, slot.sans, slot.key_type, CertMaterial.of(bare))

    def _checked(self, issued: Issued) -> Bundle:
        """The bundle as the store would hand it over (checked, chain in order)."""
        result = validate_bundle(BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(), key=issued.key_pem()),
                                 now=datetime.now(UTC), anchors=(self.ca.root,))
        assert result.bundle is not None, result.findings
        return result.bundle

    def key_type_slots(self, prefix: str) -> list[CertSlot]:
        """One certificate of each key type the provider accepts (names ``PREFIX-rsa``, ``PREFIX-ec``, ...)."""
        return [self.slot(f"{prefix}-{kt.lower()}", key_type=kt) for kt in self.provider.capabilities.key_types]


@dataclass(frozen=True)
class Kind:
    """A kind of subject: how to make one, and its features (see the module's docstring)."""

    name: str
    make: Callable[[DemoCA, DemoApp], AbstractContextManager[Subject]]
    features: frozenset[str]
    marks: tuple[pytest.MarkDecorator, ...] = ()


# -- HAProxy (managed and attached) ----------------------------------------------------------------------
def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((LOCALHOST, 0))
        return [int(s.getsockname()[1]) for s in socks]


def _show_proc(master_socket: Path) -> str:
    """``show proc`` on the master CLI (retried briefly: the 2.6 master re-executes itself after a start or
    reload, and its CLI refuses connections meanwhile)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(master_socket))
                sock.sendall(b"show proc\n")
                sock.shutdown(socket.SHUT_WR)
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            return b"".join(chunks).decode()
        except (ConnectionRefusedError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _reloads(master_socket: Path) -> tuple[str, tuple[str, ...]]:
    """The master's reload count and the current worker pids: both stay put unless HAProxy reloaded."""
    text = _show_proc(master_socket)
    section, reloads, workers = "", None, []
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("#"):
            section = line
        elif len(parts) >= 3 and parts[1] == "master":
            reloads = parts[2]
        elif section.startswith("# workers") and len(parts) >= 2 and parts[1] == "worker":
            workers.append(parts[0])
    assert reloads is not None and workers, text
    return reloads, tuple(workers)


def _files(root: Path) -> tuple[tuple[str, int, int, int], ...]:
    """Every regular file under ``root`` (but the lock file, opened for locking only): name and identity, so
    a rewrite with the same bytes shows too."""
    found = []
    for path in sorted(root.rglob("*")):
        with contextlib.suppress(FileNotFoundError):
            if path.name != ".lock" and path.is_file():
                st = path.stat()
                found.append((str(path.relative_to(root)), st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(found)


def _contents(paths: Sequence[Path]) -> tuple[tuple[str, str | None], ...]:
    out: list[tuple[str, str | None]] = []
    for path in paths:
        try:
            out.append((str(path), hashlib.sha256(path.read_bytes()).hexdigest()))
        except FileNotFoundError:
            out.append((str(path), None))
    return tuple(out)


def _pids_under(root: Path) -> list[int]:
    """HAProxy processes whose command line names ``root`` (ours, whatever else runs on this machine)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
            if argv and argv[0].endswith(b"haproxy") and any(str(root).encode() in a for a in argv) \
                    and "State:\tZ" not in (entry / "status").read_text():
                found.append(int(entry.name))
    return found


def _stop_under(root: Path) -> None:
    """Stop, by pid, every HAProxy started under ``root``; then remove it."""
    deadline = time.monotonic() + 10
    while (left := _pids_under(root)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        time.sleep(0.1)
    still = _pids_under(root)
    shutil.rmtree(root, ignore_errors=True)
    assert not still, f"HAProxy still running under {root}: {still}"


def _haproxy_readers(host: str) -> tuple[Callable[[int, str | None, str | None], Read | None],
                                         Callable[[int, str], ServedSettings]]:
    def read(lb_port: int, server_name: str | None, key_type: str | None) -> Read | None:
        return tls_read(host, lb_port, server_name, key_type)

    def read_settings(lb_port: int, server_name: str) -> ServedSettings:
        return handshake_settings(host, lb_port, server_name)

    return read, read_settings


def _pem(issued: Issued) -> bytes:
    return issued.cert_pem() + issued.chain_pem() + issued.key_pem()


def _issued_read(issued: Issued) -> Read:
    return Read(_fingerprint(issued.cert), tuple(_fingerprint(c) for c in issued.chain))


@contextlib.contextmanager
def make_haproxy_managed(ca: DemoCA, app: DemoApp, name: str = "contract") -> Iterator[Subject]:
    """sslterm writes the whole configuration and runs HAProxy (master-worker) on 127.0.0.1."""
    from sslterm.providers.haproxy import HAProxyProvider, create

    root = Path(tempfile.mkdtemp(prefix="sst-contract-"))  # short: HAProxy's socket paths are limited
    state_dir = root / "lb"
    tls, spare, plain = _free_ports(3)
    options = {"bind": f"{LOCALHOST}:{tls}", "http_bind": f"{LOCALHOST}:{plain}",
               "backends": [f"{LOCALHOST}:{app.port}"]}
    settings = {"haproxy_binary": "haproxy"}
    provider: HAProxyProvider | None = None
    try:
        provider = create(name, options, state_dir, settings)
        provider.start()
        runtime = provider.version.runtime_replace
        master = state_dir / "master.sock"

        def listener_files() -> tuple[tuple[str, str | None], ...]:
            return _contents([state_dir / "haproxy.cfg", *sorted(state_dir.glob("crt-list-*.txt"))])

        def tls_on_the_http_port(s: Subject) -> Sequence[ListenerSpec]:
            return [ListenerSpec(plain, certificates=(s.slot("plain"),))]

        read, read_settings = _haproxy_readers(LOCALHOST)
        yield Subject(
            kind="haproxy-managed", provider=provider, ca=ca, spare_port=spare, read=read,
            read_settings=read_settings,
            writes=lambda: (_files(state_dir), _reloads(master)),
            listener_changes=lambda: (listener_files(), _reloads(master) if runtime else None),
            fresh=lambda: create(name, options, state_dir, settings),
            recipe=Recipe("haproxy", name, options, str(state_dir), settings),
            sibling=lambda: make_haproxy_managed(ca, app, name=f"{name}-sibling"),
            refusals=(Refusal("TLS on the load balancer's own plain HTTP port", "unsafe-plan", tls_on_the_http_port),),
        )
    finally:
        try:
            if provider is not None:
                provider.stop()  # by the pid it started
        finally:
            _stop_under(root)


OPERATOR_CONFIG = """\
global
    stats socket {admin} mode 600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe_operator
    bind {host}:{tls} ssl crt {default_pem} crt-list {lb}/crt-list-{tls}.txt
    http-request return status 200 content-type text/plain string operator
frontend fe_operator_spare
    bind {host}:{spare} ssl crt {default_pem} crt-list {lb}/crt-list-{spare}.txt
    http-request return status 200 content-type text/plain string operator-spare
frontend fe_foreign
    bind {host}:{foreign} ssl crt {foreign_pem}
    http-request return status 200 content-type text/plain string foreign
"""


@contextlib.contextmanager
def make_haproxy_attached(ca: DemoCA, app: DemoApp, name: str = "contract") -> Iterator[Subject]:
    """An HAProxy the operator runs (master-worker, own configuration and default certificate) whose two TLS
    binds include sslterm's crt-lists, and a third TLS bind of its own that sslterm did not create. (``app`` is
    unused: the operator's frontends answer by themselves.)"""
    from sslterm.providers.haproxy import create

    root = Path(tempfile.mkdtemp(prefix="sst-contract-"))
    operator, state_dir = root / "operator", root / "lb"
    operator.mkdir(mode=0o700)
    state_dir.mkdir(mode=0o700)
    tls, spare, foreign = _free_ports(3)
    default, other = ca.issue("default.operator.test"), ca.issue("foreign.operator.test")
    (operator / "default.pem").write_bytes(_pem(default))
    (operator / "foreign.pem").write_bytes(_pem(other))
    for port in (tls, spare):  # the operator creates sslterm's crt-lists empty, then includes them
        (state_dir / f"crt-list-{port}.txt").write_text("")
    config, admin, master = operator / "haproxy.cfg", operator / "admin.sock", operator / "master.sock"
    config.write_text(OPERATOR_CONFIG.format(admin=admin, host=LOCALHOST, tls=tls, spare=spare, foreign=foreign,
                                             lb=state_dir, default_pem=operator / "default.pem",
                                             foreign_pem=operator / "foreign.pem"))
    options = {"config": str(config), "socket": str(admin), "master_socket": str(master),
               "bind": f"{LOCALHOST}:{tls}"}
    settings = {"haproxy_binary": "haproxy"}
    try:
        subprocess.run(["haproxy", "-W", "-D", "-f", str(config), "-p", str(operator / "haproxy.pid"),
                        "-S", str(master)], check=True, timeout=30, capture_output=True)
        provider = create(name, options, state_dir, settings)
        provider.start()
        runtime = provider.version.runtime_replace

        def listener_files() -> tuple[tuple[str, str | None], ...]:
            return _contents([config, *sorted(state_dir.glob("crt-list-*.txt"))])

        def emptying_the_operators_bind(s: Subject) -> Sequence[ListenerSpec]:
            a = s.slot("bound")
            s.provider.bind(ListenerSpec(tls, certificates=(a,)), {a.served_id: s.provider.upload(a)})
            return []  # TLS off the port whose bind line the operator's configuration has

        read, read_settings = _haproxy_readers(LOCALHOST)
        yield Subject(
            kind="haproxy-attached", provider=provider, ca=ca, spare_port=spare, read=read,
            read_settings=read_settings,
            writes=lambda: (_files(state_dir), _contents([config]), _reloads(master)),
            listener_changes=lambda: (listener_files(), _reloads(master) if runtime else None),
            fresh=lambda: create(name, options, state_dir, settings),
            recipe=Recipe("haproxy", name, options, str(state_dir), settings),
            sibling=lambda: make_haproxy_attached(ca, app, name=f"{name}-sibling"),
            refusals=(Refusal("emptying a listener the operator's configuration binds", "unsafe-plan",
                              emptying_the_operators_bind),),
            default_without_sni=_issued_read(default),
            foreign=Foreign(foreign, _issued_read(other)),
        )
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):  # the master, by its pid
            os.kill(int((operator / "haproxy.pid").read_text().split()[0]), signal.SIGTERM)
        _stop_under(root)


# -- AWS (moto in server mode): contract_aws.py; Rackspace (its emulator): contract_rackspace.py -----------
def _rackspace(ca: DemoCA, app: DemoApp) -> AbstractContextManager[Subject]:
    from contract_rackspace import make_rackspace  # imported when used: it imports this module

    return make_rackspace(ca, app)


def _aws(kind: str) -> Callable[[DemoCA, DemoApp], AbstractContextManager[Subject]]:
    def make(ca: DemoCA, app: DemoApp) -> AbstractContextManager[Subject]:
        from contract_aws import MAKERS  # imported when used: it imports this module

        return MAKERS[kind](ca, app)

    return make


#: what every kind but Rackspace has (see the module's docstring for each)
_MANY = frozenset({"several-listeners", "keyless-upload", "keeps-names"})
KINDS: tuple[Kind, ...] = (
    Kind("haproxy-managed", make_haproxy_managed,
         _MANY | {"unbind", "dual-key-types", "rotate-in-place", "staging"}, (pytest.mark.haproxy,)),
    Kind("haproxy-attached", make_haproxy_attached,
         _MANY | {"foreign-listener", "dual-key-types", "rotate-in-place", "staging"}, (pytest.mark.haproxy,)),
    Kind("aws-alb", _aws("aws-alb"),
         _MANY | {"foreign-listener", "unbind", "dual-key-types", "rotate-in-place", "locations"}),
    Kind("aws-elb-iam", _aws("aws-elb-iam"), _MANY | {"foreign-listener", "unbind", "locations"}),
    Kind("aws-elb-acm", _aws("aws-elb-acm"), _MANY | {"foreign-listener", "unbind", "rotate-in-place", "locations"}),
    # RSA only, one SSL termination, no foreign TLS listener (start() refuses a termination it did not make),
    # inline certificates, no staging (cleanup has nothing to drop), names adopted rather than kept
    Kind("rackspace", _rackspace, frozenset({"unbind", "rotate-in-place"})),
)
assert all(k.features <= FEATURES for k in KINDS), "a kind names a feature the suite does not know"
