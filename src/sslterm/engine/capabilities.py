"""The engine enforces what a load balancer declares it can do, before any call to it: one stable code per
limit, the load balancer and the listener named, nothing touched."""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from sslterm.engine.contract import Capabilities, ListenerSpec, Observed
from sslterm.errors import UnsafePlan

_key_type = attrgetter("key_type")


def enforce(lb: str, kind: str, caps: Capabilities, listeners: Sequence[ListenerSpec]) -> None:
    """Raise UnsafePlan for the first thing in ``listeners`` that ``caps`` rule out."""
    if caps.max_listeners is not None and len(listeners) > caps.max_listeners:
        raise UnsafePlan(f"{lb} ({kind}) can have {caps.max_listeners} TLS listener(s), not {len(listeners)}",
                         code="too-many-listeners", hint="disable TLS on another port first")
    for x in listeners:
        where = f"{lb} ({kind}) port {x.lb_port}"
        key_types = set(map(_key_type, x.certificates)) - {""}  # one pass without Python steps, then names
        bad_keys = [c.name for c in x.certificates if c.key_type and c.key_type not in caps.key_types] \
            if key_types - set(caps.key_types) else []
        if bad_keys:
            raise UnsafePlan(f"{where} cannot serve the key type of {', '.join(bad_keys)}",
                             code="unsupported-key-type", hint=f"use {' or '.join(caps.key_types)} keys")
        limit = caps.max_certificates_per_listener if caps.sni else 1
        if limit is not None and len(x.certificates) > limit:
            why = "has no SNI: one certificate per listener" if not caps.sni else f"takes at most {limit} certificates"
            raise UnsafePlan(f"{where} {why}, not {len(x.certificates)}",
                             code="no-sni" if not caps.sni else "too-many-certificates",
                             hint="serve the others on another --lb-port or another load balancer")
        if x.redirect_http and not caps.redirect_http:
            raise UnsafePlan(f"{where}: {kind} cannot redirect plain HTTP to HTTPS", code="redirect-unsupported",
                             hint="leave out --redirect-http")
        if x.hsts and not caps.hsts:
            raise UnsafePlan(f"{where}: {kind} cannot add an HSTS header", code="hsts-unsupported",
                             hint="leave out --hsts (set Strict-Transport-Security in the application)")
        if x.instance_protocol == "HTTPS" and not caps.https_to_instances:
            raise UnsafePlan(f"{where}: {kind} cannot re-encrypt to the instances", code="https-instances-unsupported",
                             hint="use --instance-protocol HTTP")
        if x.tls_profile not in caps.tls_profiles:
            raise UnsafePlan(f"{where}: {kind} has no TLS profile {x.tls_profile!r}", code="tls-profile-unsupported",
                             hint=f"use one of: {', '.join(caps.tls_profiles)}")


def refuse_foreign(lb: str, observed: Observed, listeners: Sequence[ListenerSpec]) -> None:
    """A listener sslterm did not create is never changed or deleted: asking for its port is refused."""
    taken = sorted({x.lb_port for x in listeners} & set(observed.foreign_ports))
    if taken:
        raise UnsafePlan(f"{lb} already has a listener on port {taken[0]} that sslterm did not create",
                         code="port-taken", hint="choose another --lb-port, or remove that listener yourself")
