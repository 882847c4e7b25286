"""The Rackspace subject of the contract suite (``rackspace``): a Cloud Load Balancer in the test emulator
(tests/rackspace/emulator, served over HTTP on 127.0.0.1), reached by the provider through its real HTTP client
with the emulator's credentials and identity URL, and a short pending time after each change.

Everything the suite checks is read straight from the emulator's own HTTP API with plain ``urllib`` (a token of
its own), never through the provider: the SSL termination (its port, whether enabled, its certificate and
intermediate certificates, its TLS protocols) and each certificate mapping's body. A client's choice is made here
as Rackspace makes it: a mapping whose host name matches the SNI name, else the termination's certificate (RSA
only: the key type a client asks for changes nothing). ``writes()`` lists the writes to this load balancer in the
emulator's request log (method, path, status), accepted or refused.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from contract_subjects import Refusal, Subject
from contract_tools import Read, Recipe, ServedSettings
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from rackspace.emulator import Emulator, RecordedRequest, running_emulator
from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA
from sslterm.engine.contract import Provider
from sslterm.engine.model import ListenerSpec
from sslterm.providers.rackspace import RackspaceProvider, account, close_accounts
from sslterm.providers.rackspace.balancer import Balancer, Waits
from sslterm.providers.rackspace.identity import Credentials
from sslterm.providers.rackspace.options import RackspaceOptions

REGION = "DFW"
LB_ID, SIBLING_LB_ID = 424242, 434343
SPARE_PORT = 8443  # a port the termination is never on (Rackspace has one TLS listener: never bound)
#: fast polls for an emulator whose changes stay PENDING_UPDATE for a fraction of a second
FAST = Waits(max_wait=30.0, first_poll=0.05, max_poll=0.2)
PENDING_SECONDS = 0.05


def _fp(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _body(certificate: str, intermediates: str | None) -> tuple[Read, tuple[str, ...]]:
    """What a certificate field serves (leaf, then the intermediates in the order stored) and the leaf's names."""
    leaf = x509.load_pem_x509_certificate(certificate.encode())
    chain = x509.load_pem_x509_certificates(intermediates.encode()) if intermediates and intermediates.strip() else []
    try:
        names = tuple(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                      .get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    return Read(_fp(leaf), tuple(_fp(c) for c in chain)), names


def _matches(server_name: str, host: str) -> bool:
    name, host = server_name.lower(), host.lower()
    return name == host or (host.startswith("*.") and name.partition(".")[2] == host[2:])


@dataclass
class RaxBalancer:
    """One load balancer in the emulator, as an operator reads it over the API (its own token)."""

    rax: Emulator
    lb_id: int

    def _get(self, path: str) -> dict[str, Any] | None:
        """GET ``/loadbalancers/{id}PATH``; None on 404."""
        request = urllib.request.Request(f"{self.rax.endpoint(REGION)}/loadbalancers/{self.lb_id}{path}",  # noqa: S310
                                         headers={"X-Auth-Token": self.rax.issue_token(),
                                                  "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 (the emulator's http://127.0.0.1)
                return dict(json.loads(reply.read()))
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 404:
                    return None
                raise

    def termination(self) -> dict[str, Any] | None:
        got = self._get("/ssltermination")
        return None if got is None else dict(got["sslTermination"])

    def mappings(self) -> list[dict[str, Any]]:
        listed = self._get("/ssltermination/certificatemappings") or {"certificateMappings": []}
        out = []
        for entry in listed["certificateMappings"]:
            got = self._get(f"/ssltermination/certificatemappings/{entry['certificateMapping']['id']}")
            if got is not None:
                out.append(dict(got["certificateMapping"]))
        return out

    def _serving(self, port: int) -> dict[str, Any] | None:
        t = self.termination()
        if t is None or int(t.get("securePort") or 0) != port or not _truth(t.get("enabled", True)):
            return None
        return t

    def read(self, port: int, server_name: str | None, key_type: str | None) -> Read | None:
        t = self._serving(port)
        if t is None:
            return None
        if server_name:
            for m in sorted(self.mappings(), key=lambda m: int(m["id"])):
                if _matches(server_name, str(m["hostName"])):
                    return _body(str(m["certificate"]), m.get("intermediateCertificate"))[0]
        return _body(str(t["certificate"]), t.get("intermediateCertificate"))[0]

    def read_settings(self, port: int, server_name: str) -> ServedSettings:
        """No HSTS (Rackspace adds no response header); the profile of the TLS versions a client can use:
        TLS 1.0 or 1.1 enabled is ``old``, else ``intermediate`` (TLS 1.2 cannot be switched off)."""
        t = self._serving(port)
        assert t is not None, f"no enabled SSL termination on :{port}"
        enabled = {p.get("securityProtocolName") for p in t.get("securityProtocols") or []
                   if p.get("securityProtocolStatus") == "ENABLED"}
        return ServedSettings(False, "old" if enabled & {"TLS_10", "TLS_11"} else "intermediate")

    def settings(self) -> tuple[object, ...]:
        """The load balancer's listener as configured, certificates left out: the termination's attributes, the
        mappings' ids and host names, the HTTPS redirect."""
        t = self.termination()
        attrs = None if t is None else json.dumps({k: v for k, v in t.items()
                                                   if k not in ("certificate", "intermediateCertificate")},
                                                  sort_keys=True)
        mapped = tuple((int(m["id"]), str(m["hostName"])) for m in self.mappings())
        return attrs, mapped, self.rax.load_balancer(self.lb_id).https_redirect

    def _requests(self) -> list[RecordedRequest]:
        mine = f"/loadbalancers/{self.lb_id}"
        return [r for r in self.rax.writes() if mine in r.path and r.path.split(mine, 1)[1][:1] in ("", "/", "?")]

    def writes(self) -> tuple[tuple[str, str, int], ...]:
        """Every write to this load balancer the emulator received (method, path, status)."""
        return tuple((r.method, r.path, r.status) for r in self._requests())

    def listener_writes(self) -> tuple[tuple[str, str, int], ...]:
        """The writes but the swaps of a certificate in place (a PUT of a termination's or mapping's body)."""
        return tuple((r.method, r.path, r.status) for r in self._requests()
                     if not (r.method == "PUT" and _puts_certificate(r.body)))


def _puts_certificate(body: object) -> bool:
    if not isinstance(body, dict):
        return False
    inner = body.get("sslTermination") or body.get("certificateMapping")
    return isinstance(inner, dict) and "certificate" in inner


def _truth(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


# -- refusals ------------------------------------------------------------------------------------------
def redirect_off_443(s: Subject) -> Sequence[ListenerSpec]:
    return [ListenerSpec(SPARE_PORT, redirect_http=True, certificates=(s.slot("a"),))]


def instance_port(s: Subject) -> Sequence[ListenerSpec]:
    return [ListenerSpec(s.lb_port, instance_port=8081, certificates=(s.slot("a"),))]


def one_host_name_in_two_sni_certificates(s: Subject) -> Sequence[ListenerSpec]:
    return [ListenerSpec(s.lb_port, certificates=(s.slot("a"), s.slot("dup1", "dup.test"),
                                                  s.slot("dup2", "dup.test")))]


REFUSALS = (Refusal("HTTPS redirect on another port than 443", "rackspace-redirect-port", redirect_off_443),
            Refusal("an instance port (Rackspace forwards to the nodes' own)", "rackspace-instance-port",
                    instance_port),
            Refusal("one host name in two SNI certificates", "rackspace-duplicate-host-name",
                    one_host_name_in_two_sni_certificates))


# -- the subject ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def make_rackspace(ca: DemoCA, app: DemoApp, rax: Emulator | None = None, lb_id: int = LB_ID,
                   name: str = "contract") -> Iterator[Subject]:
    """A load balancer (protocol HTTP on port 80, no SSL termination) in a new emulator, or in ``rax`` for a
    sibling. (``app`` is unused: nothing is served over TLS from here.)"""
    with contextlib.ExitStack() as stack:
        if rax is None:
            rax = stack.enter_context(running_emulator(pending_seconds=PENDING_SECONDS))
            stack.callback(close_accounts)  # the shared clients of the account, after every provider is done
        emulator = rax
        emulator.add_load_balancer(lb_id, REGION, name=name)
        lb = RaxBalancer(emulator, lb_id)
        credentials = Credentials(emulator.username, emulator.api_key, emulator.identity_url)
        options = RackspaceOptions(lb_id, REGION)
        env = {"rackspace_username": emulator.username, "rackspace_api_key": emulator.api_key,
               "rackspace_identity_url": emulator.identity_url, "rackspace_max_wait": "30"}

        def fresh() -> Provider:
            balancer = Balancer(lambda: account(credentials), REGION, lb_id,
                                f"{name} (Rackspace {REGION} load balancer {lb_id})", FAST)
            return RackspaceProvider(name, options, balancer)

        def make_sibling() -> contextlib.AbstractContextManager[Subject]:
            return make_rackspace(ca, app, emulator, SIBLING_LB_ID, f"{name}-sibling")

        provider = fresh()
        provider.start()
        state_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="sst-contract-rax-"))
        yield Subject(
            kind="rackspace", provider=provider, ca=ca, spare_port=SPARE_PORT, read=lb.read,
            read_settings=lb.read_settings, writes=lb.writes,
            listener_changes=lambda: (lb.settings(), lb.listener_writes()), fresh=fresh,
            recipe=Recipe("rackspace", name, options.as_mapping(), state_dir, settings=env),
            sibling=make_sibling, refusals=REFUSALS)
