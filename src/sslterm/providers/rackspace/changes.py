"""The writes that bring a Rackspace load balancer from what it has (:class:`State`, read just before) to
what a listener asks for, each one change at a time (:meth:`Balancer.change` waits out its asynchrony), in
an order that keeps clients served and frees room before using it:

1. ``httpsRedirect`` off, when it must go (Rackspace refuses to change the termination under it);
2. the termination: a new default certificate (certificate + privatekey + securePort together, with the
   settings), or the settings alone when only they differ; the mappings are left as they are;
3. the mappings: those of host names no longer wanted deleted first (room under the 20), then those of
   host names whose certificate changed replaced in place (``PUT``: same id), then new ones added;
4. ``httpsRedirect`` on, once the termination is secure-only on 443.

Nothing is written when the load balancer already has it: binding or rotating twice costs reads only. A
failure midway leaves every earlier write in place, and the engine binds the previous listener back (the
same function, the other way). Key material is unsealed only for the certificate being sent.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from sslterm.certs.names import dns_names
from sslterm.engine.contract import CertSlot, ListenerSpec
from sslterm.errors import ProviderError
from sslterm.providers.rackspace.balancer import MAPPINGS, Balancer
from sslterm.providers.rackspace.state import PROFILES, State, Termination


def pem_fields(slot: CertSlot, key_field: str, label: str, *, clear_chain: bool = False) -> dict[str, str]:
    """The PEM texts to send for ``slot`` (``privatekey`` for the termination, ``privateKey`` for a mapping).
    Radioactive: built for one request and dropped."""
    if slot.material is None:
        raise ProviderError(f"{label}: certificate {slot.name} must be sent to Rackspace and its key is not at hand",
                            code="not-staged", hint="run the command again (sslterm unseals keys it must send)")
    bundle = slot.material.bundle()
    fields = {"certificate": bundle.leaf.public_bytes(Encoding.PEM).decode(),
              key_field: bundle.key_pem().decode()}
    chain = "".join(c.public_bytes(Encoding.PEM).decode() for c in bundle.chain)
    if chain or clear_chain:
        fields["intermediateCertificate"] = chain
    return fields


def settings(listener: ListenerSpec, custom: Termination | None = None) -> dict[str, Any]:
    """The termination's attributes for ``listener``: its port, secure-only when plain HTTP is redirected,
    the TLS profile's cipher profile and TLS 1.0/1.1 switches. A profile sslterm does not set (``custom``: a
    listener put back as it was observed) gets the attributes ``custom`` had, else keeps those it has."""
    if listener.tls_profile not in PROFILES:
        return {**(custom.attributes() if custom else {}), "securePort": listener.lb_port}
    cipher, old = PROFILES[listener.tls_profile]
    status = "ENABLED" if old else "DISABLED"
    return {"enabled": True, "secureTrafficOnly": listener.redirect_http, "securePort": listener.lb_port,
            "cipherProfile": cipher,
            "securityProtocols": [{"securityProtocolName": name, "securityProtocolStatus": status}
                                  for name in ("TLS_10", "TLS_11")]}


def _same_settings(t: Termination, listener: ListenerSpec, custom: Termination | None) -> bool:
    if listener.tls_profile not in PROFILES:
        return t.secure_port == listener.lb_port and (custom is None or t.attributes() == custom.attributes())
    cipher, old = PROFILES[listener.tls_profile]
    return (t.enabled, t.secure_only, t.secure_port, t.cipher_profile, t.old_protocols) == (
        True, listener.redirect_http, listener.lb_port, cipher, old)


def wanted_hosts(listener: ListenerSpec) -> dict[str, CertSlot]:
    """host name -> the SNI certificate that serves it: every DNS name of every certificate after the first
    (``check`` refused a name claimed twice; the first claim stands here)."""
    hosts: dict[str, CertSlot] = {}
    for slot in listener.certificates[1:]:
        for host in dns_names(slot.sans):
            hosts.setdefault(host, slot)
    return hosts


def apply_listener(lb: Balancer, state: State, listener: ListenerSpec, custom: Termination | None = None) -> int:
    """Make the load balancer serve exactly ``listener``; returns the number of changes made. ``custom``: the
    termination as observed, whose settings a ``custom`` listener (put back as it was) gets again."""
    made = 0
    if state.info.https_redirect and not listener.redirect_http:
        lb.change("PUT", "", {"loadBalancer": {"httpsRedirect": False}}, "turning HTTPS redirect off")
        made += 1
    default, t = listener.certificates[0], state.termination
    if t is None or t.body.served_id != default.served_id:
        fields = {**settings(listener, custom), **pem_fields(default, "privatekey", lb.label)}
        lb.change("PUT", "/ssltermination", {"sslTermination": fields},
                  f"putting {default.name} on port {listener.lb_port} as the default certificate")
        made += 1
    elif not _same_settings(t, listener, custom):
        lb.change("PUT", "/ssltermination", {"sslTermination": settings(listener, custom)},
                  f"changing the settings of port {listener.lb_port}")
        made += 1
    made += apply_mappings(lb, state, wanted_hosts(listener))
    if listener.redirect_http and not state.info.https_redirect:
        lb.change("PUT", "", {"loadBalancer": {"httpsRedirect": True}}, "turning HTTPS redirect on")
        made += 1
    return made


def apply_mappings(lb: Balancer, state: State, wanted: dict[str, CertSlot],
                   keep: frozenset[str] | None = None) -> int:
    """Mappings for exactly ``wanted`` (those of other hosts deleted, unless ``keep`` names the only ones that
    may be deleted)."""
    made = 0
    have = state.by_host()
    for host, mapping in have.items():
        if host not in wanted and (keep is None or host in keep):
            lb.change("DELETE", f"{MAPPINGS}/{mapping.id}", None, f"deleting the certificate mapping of {host}")
            made += 1
    for host, slot in wanted.items():
        current = have.get(host)
        if current is not None and current.body.served_id != slot.served_id:
            fields = pem_fields(slot, "privateKey", lb.label, clear_chain=bool(current.body.chain))
            lb.change("PUT", f"{MAPPINGS}/{current.id}", {"certificateMapping": fields},
                      f"replacing the certificate of {host} with {slot.name}")
            made += 1
    for host, slot in wanted.items():
        if host not in have:
            fields = {"hostName": host, **pem_fields(slot, "privateKey", lb.label)}
            lb.change("POST", MAPPINGS, {"certificateMapping": fields}, f"mapping {host} to {slot.name}")
            made += 1
    return made


def replace_certificate(lb: Balancer, state: State, old: str, slot: CertSlot) -> int:
    """Rotate in place: wherever the certificate served as ``old`` (a served id) is, put ``slot`` instead:
    the termination's certificate (same settings, mappings untouched) and each of its mappings (same ids).
    Host names the new certificate lost are unmapped, new ones mapped."""
    made = 0
    t = state.termination
    if t is not None and t.body.served_id == old:
        fields = {"securePort": t.secure_port, **pem_fields(slot, "privatekey", lb.label)}
        lb.change("PUT", "/ssltermination", {"sslTermination": fields},
                  f"replacing the default certificate with {slot.name}")
        made += 1
    hosts = frozenset(m.host for m in state.mappings if m.body.served_id == old)
    if hosts:
        mapped = state.by_host()  # a name another certificate's mapping has stays with it (check refused it)
        wanted = {host: slot for host in dns_names(slot.sans) if host in hosts or host not in mapped}
        made += apply_mappings(lb, state, wanted, keep=hosts)
    return made
