"""The provider contract (sslterm.engine.contract.Provider), checked against every provider kind through the
parametrised ``provider`` fixture: each assertion is read back from the real load balancer (TLS handshakes)
or from ``observe``, never from the provider's internals."""

from __future__ import annotations

import dataclasses

import pytest
from contract_subjects import Subject

from sslterm.engine.model import ListenerSpec
from sslterm.errors import ProviderError


def test_upload_is_idempotent_by_fingerprint_and_serves_nothing(provider: Subject) -> None:
    p = provider.provider
    slot = provider.slot("site", "site.test")

    first = p.upload(slot)
    again = p.upload(slot)
    known = p.upload(dataclasses.replace(slot, bundle=None))  # a staged certificate needs no key again

    assert first == again == known
    assert first.fingerprint == slot.fingerprint
    assert p.observe() == ()
    assert provider.served(provider.lb_port, "site.test") is None  # staged, not served


def test_bind_serves_exactly_the_given_certificates(provider: Subject) -> None:
    p = provider.provider
    a, b, c = (provider.slot(n, f"{n}.test") for n in ("a", "b", "c"))
    refs = {s.fingerprint: p.upload(s) for s in (a, b, c)}
    listener = ListenerSpec(provider.lb_port, certificates=(a, b))

    p.bind(listener, refs)  # returns when live: no waiting below

    assert provider.served(provider.lb_port, None) == a.fingerprint  # the first is the default
    assert provider.served(provider.lb_port, "a.test") == a.fingerprint
    assert provider.served(provider.lb_port, "b.test") == b.fingerprint
    assert provider.served(provider.lb_port, "c.test") == a.fingerprint  # staged only: not served

    p.bind(dataclasses.replace(listener, certificates=(b,)), refs)

    assert provider.served(provider.lb_port, None) == b.fingerprint
    assert provider.served(provider.lb_port, "a.test") == b.fingerprint  # a is gone


def test_binding_the_same_listener_twice_changes_nothing(provider: Subject) -> None:
    p = provider.provider
    a, b = provider.slot("a", "a.test"), provider.slot("b", "b.test")
    refs = {s.fingerprint: p.upload(s) for s in (a, b)}
    listener = ListenerSpec(provider.lb_port, hsts=True, certificates=(a, b))
    p.bind(listener, refs)
    observed, generation = p.observe(), provider.generation()

    p.bind(listener, refs)

    assert p.observe() == observed
    assert provider.generation() == generation  # not reconfigured (HAProxy: same worker, no reload)
    assert provider.served(provider.lb_port, "b.test") == b.fingerprint


def test_observe_reflects_binds(provider: Subject) -> None:
    p = provider.provider
    a, b = provider.slot("a", "a.test"), provider.slot("b", "b.test")
    refs = {s.fingerprint: p.upload(s) for s in (a, b)}
    first = ListenerSpec(provider.lb_port, certificates=(a,))
    second = ListenerSpec(provider.spare_port, redirect_http=True, hsts=True, tls_profile="modern",
                          certificates=(b, a))
    assert p.observe() == ()

    p.bind(first, refs)
    assert p.observe() == (first,)
    p.bind(second, refs)
    assert sorted(p.observe(), key=lambda x: x.lb_port) == sorted([first, second], key=lambda x: x.lb_port)

    changed = dataclasses.replace(first, hsts=True, certificates=(a, b))
    p.bind(changed, refs)
    assert sorted(p.observe(), key=lambda x: x.lb_port) == sorted([changed, second], key=lambda x: x.lb_port)
    assert provider.served(provider.spare_port, None) == b.fingerprint
    assert provider.served(provider.lb_port, "b.test") == b.fingerprint


def test_unbind_removes_the_listener_and_is_a_no_op_when_absent(provider: Subject) -> None:
    p = provider.provider
    a = provider.slot("a", "a.test")
    refs = {a.fingerprint: p.upload(a)}
    keep, drop = ListenerSpec(provider.lb_port, certificates=(a,)), ListenerSpec(provider.spare_port,
                                                                                  certificates=(a,))
    p.bind(keep, refs)
    p.bind(drop, refs)
    assert provider.served(provider.spare_port, None) == a.fingerprint

    p.unbind(provider.spare_port)

    assert p.observe() == (keep,)
    assert provider.served(provider.spare_port, None) is None
    assert provider.served(provider.lb_port, None) == a.fingerprint
    generation = provider.generation()
    p.unbind(provider.spare_port)  # already gone
    assert p.observe() == (keep,)
    assert provider.generation() == generation
    assert provider.served(provider.lb_port, None) == a.fingerprint


def test_upload_without_a_bundle_of_a_certificate_never_staged_is_refused(provider: Subject) -> None:
    slot = provider.slot("ghost", "ghost.test")

    with pytest.raises(ProviderError) as caught:
        provider.provider.upload(dataclasses.replace(slot, bundle=None))

    assert not caught.value.retryable  # retrying cannot make the key appear
    assert "ghost" in caught.value.message


def test_cleanup_forgets_staged_certificates_no_listener_uses(provider: Subject) -> None:
    p = provider.provider
    used, unused = provider.slot("used", "used.test"), provider.slot("unused", "unused.test")
    refs = {s.fingerprint: p.upload(s) for s in (used, unused)}
    p.bind(ListenerSpec(provider.lb_port, certificates=(used,)), refs)

    p.cleanup()

    assert p.upload(dataclasses.replace(used, bundle=None)) == refs[used.fingerprint]  # still staged
    with pytest.raises(ProviderError):
        p.upload(dataclasses.replace(unused, bundle=None))  # forgotten
    assert provider.served(provider.lb_port, None) == used.fingerprint
