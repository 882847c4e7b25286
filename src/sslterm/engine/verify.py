"""Verification: what clients are served, leaf and chain, compared with what a listener should serve.

Where the listener answers a handshake from here, one real TLS handshake per certificate (SNI chosen so that
only that certificate can answer); elsewhere the provider's read-back (``Provider.verify``). Either way the
result is a list of :class:`Served`, waited for within the provider's settle window.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from itertools import repeat
from operator import attrgetter, contains
from typing import TYPE_CHECKING, TypeVar

from sslterm.certs.names import dns_names as sni_names
from sslterm.engine.model import ListenerSpec, ProbeTarget, Served
from sslterm.engine.probe import probe, probe_until
from sslterm.errors import VerificationFailed

if TYPE_CHECKING:
    from sslterm.engine.contract import Provider

Prober = Callable[[ProbeTarget], Served]
_sans = attrgetter("sans")
K = TypeVar("K")


def probe_targets(address: Callable[[int], tuple[str, int]], listener: ListenerSpec, *, first_is_default: bool = True,
                  only: Collection[str] | None = None) -> list[ProbeTarget]:
    """No SNI for the default certificate; for each other one (of ``only``, when given), a DNS name only it
    carries, or else a name it shares only with certificates of another key type (then the probe asks
    for its key type). Linear in the number of certificates. A certificate with no such name gets no
    target (``status`` says it cannot be probed by SNI)."""
    if not listener.certificates:
        return []
    host, port = address(listener.lb_port)
    default = listener.certificates[0]
    targets = [] if not first_is_default else [ProbeTarget(host, port, None, default.fingerprint, default.name,
                                                            expect_chain=default.chain)]
    probed = listener.certificates[1:] if first_is_default else listener.certificates
    if only is not None:
        probed = tuple(slot for slot in probed if slot.name in only)
    holders, typed_holders = _holders(listener, everyone=only is None)
    for slot in probed:
        names = sni_names(slot.sans)
        unique = next((n for n in names if holders[n] == 1), None)
        shared = next((n for n in names if typed_holders[n, slot.key_type] == 1), None) if slot.key_type else None
        name = unique or shared
        if name is not None:
            targets.append(ProbeTarget(host, port, name.replace("*.", "sslterm-probe.", 1), slot.fingerprint,
                                       slot.name, None if unique else slot.key_type, expect_chain=slot.chain))
    return targets


def _holders(listener: ListenerSpec, *, everyone: bool) -> tuple[Mapping[str, int], Mapping[tuple[str, str], int]]:
    """How many certificates of ``listener`` carry each SNI name (and per key type): for every certificate
    (``everyone``), one pass over all names; for a few (after a change), counted for each name asked about,
    without a Python step per certificate of the listener (an SNI name is in ``sni_names(sans)`` exactly
    when it is in ``sans``)."""
    certs = listener.certificates
    if everyone:
        holders = Counter(n for c in certs for n in set(sni_names(c.sans)))
        typed = Counter((n, c.key_type) for c in certs for n in set(sni_names(c.sans)))
        return holders, typed
    sans = list(map(_sans, certs))
    counted: _Counts[str] = _Counts(lambda n: sum(map(contains, sans, repeat(n))))

    def typed_count(key: tuple[str, str]) -> int:
        name, key_type = key
        if counted[name] <= 1:  # held by the certificate asking alone, or by none
            return counted[name]
        return sum(1 for c in certs if c.key_type == key_type and name in c.sans)

    return counted, _Counts(typed_count)


class _Counts(dict[K, int]):
    """Counts computed on first use."""

    def __init__(self, count: Callable[[K], int]) -> None:
        super().__init__()
        self._count = count

    def __missing__(self, key: K) -> int:
        self[key] = found = self._count(key)
        return found


def handshakes(provider: Provider, listener: ListenerSpec, only: Collection[str] | None = None, *,
               prober: Prober = probe, within: float = 0.0) -> list[Served]:
    """Handshakes with the default certificate and with ``only`` (all when None), repeated for ``within``
    seconds until every one shows what it should."""
    targets = probe_targets(provider.address, listener, first_is_default=provider.capabilities.first_is_default,
                            only=only)
    return probe_until(targets, within=within, interval=provider.timing.settle_interval, prober=prober)


def served_now(provider: Provider, listener: ListenerSpec, only: Collection[str] | None = None, *,
               prober: Prober = probe, within: float = 0.0) -> list[Served]:
    """What clients get now: handshakes where the listener answers them, else the provider's read-back,
    repeated within ``within`` seconds until it is what ``listener`` says."""
    if provider.capabilities.handshake:
        return handshakes(provider, listener, only, prober=prober, within=within)
    return _read_back_until(provider, listener, only, within)


def _read_back_until(provider: Provider, listener: ListenerSpec, only: Collection[str] | None,
                     within: float) -> list[Served]:
    deadline = time.monotonic() + within
    while True:
        served = provider.verify(listener, only)
        if all(s.ok for s in served) or time.monotonic() >= deadline:
            return served
        time.sleep(provider.timing.settle_interval)


def describe_wrong(served: Served) -> str:
    """Why a read did not show what it should: another leaf, another chain, or no answer."""
    target = served.target
    if served.fingerprint is None:
        return f"no certificate could be read for {target.certificate}: {served.error}"
    if not served.leaf_ok:
        return f"serves {served.fingerprint[:16]}, not {target.certificate} ({target.expect[:16]})"
    return (f"serves {target.certificate} with a chain of {len(served.chain)} certificate(s) "
            f"that is not the stored one ({len(target.expect_chain)})")


def verified(provider: Provider, listener: ListenerSpec, only: Collection[str] | None = None, *,
             prober: Prober = probe, within: float | None = None) -> list[Served]:
    """What :func:`served_now` reads, waited for within the provider's settle window (or ``within``);
    raises VerificationFailed naming the first certificate that is not served as it should be."""
    window = provider.timing.settle_within if within is None else within
    served = served_now(provider, listener, only, prober=prober, within=window)
    wrong = [s for s in served if not s.ok]
    if wrong:
        first = wrong[0]
        sni = first.target.server_name or "no SNI"
        raise VerificationFailed(f"port {listener.lb_port} ({sni}, {first.how}): {describe_wrong(first)}",
                                 hint="the previous certificates were put back")
    return served
