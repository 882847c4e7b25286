"""The provider contract (sslterm.engine.contract.Provider, DESIGN.md "Provider contract"), checked against every
kind of contract_subjects.KINDS through the parametrised ``subject`` fixture.

What is served is read from outside (the subject's own client: a TLS handshake for HAProxy, later a direct API
read-back for the clouds), what was written from the subject's own counter; never from the provider's
internals. Tests about a provider method call it directly; tests about the engine (refusals before any call,
re-applying, rolling back) go through its plan and Applier (contract_tools.deploy / plan_for).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

import pytest
from contract_subjects import Subject
from contract_tools import Read, Recording, ServedSettings, deploy, observe_in_child, plan_for

from sslterm.engine.adopt import adopt_names
from sslterm.engine.apply import Applier
from sslterm.engine.contract import TLS_PROFILES, CertRef, CertSlot, ListenerSpec, Observed, Provider
from sslterm.engine.model import ProbeTarget, Served
from sslterm.engine.probe import probe
from sslterm.errors import DeploymentError, ProviderError, RollbackFailed, SSLTermError, UnsafePlan


def uploads(provider: Provider, *slots: CertSlot) -> dict[str, CertRef]:
    """``refs`` as bind takes them: served id -> upload."""
    return {s.served_id: provider.upload(s) for s in slots}


def listeners(observed: Observed) -> tuple[ListenerSpec, ...]:
    return tuple(sorted(observed.listeners, key=lambda x: x.lb_port))


def named(subject: Subject, observed: Observed, desired: Sequence[ListenerSpec]) -> tuple[ListenerSpec, ...]:
    """``listeners(observed)``, under the names of ``desired`` where the kind keeps no names of sslterm's (as the
    service observes it: engine/adopt.py); unchanged where it keeps them."""
    if subject.provider.capabilities.keeps_names:
        return listeners(observed)
    return listeners(Observed(adopt_names(observed.listeners, desired), observed.foreign_ports))


def by_port(*specs: ListenerSpec) -> tuple[ListenerSpec, ...]:
    return tuple(sorted(specs, key=lambda x: x.lb_port))


def everything_served(subject: Subject, *slots: CertSlot) -> list[Read | None]:
    """What clients get on both of sslterm's ports: without SNI, and for each name of ``slots``."""
    names = [None, *(s.sans[0] for s in slots)]
    return [subject.served(port, name) for port in (subject.lb_port, subject.spare_port) for name in names]


# -- the subject itself ---------------------------------------------------------------------------------
def test_subject_declares_what_it_has(subject: Subject) -> None:
    """The features a kind declares are its real ones (a feature left out would hide tests from it)."""
    caps = subject.provider.capabilities
    assert caps.key_types, "a provider that accepts no key type can serve nothing"
    made = subject.key_type_slots("declared")
    assert [s.key_type for s in made] == list(caps.key_types) and all(s.chain for s in made)
    assert ("foreign-listener" in subject.features) == (subject.foreign is not None)
    assert ("dual-key-types" in subject.features) == ({"RSA", "EC"} <= set(caps.key_types) and caps.sni)
    assert ("rotate-in-place" in subject.features) == caps.rotate_in_place
    assert subject.refusals, "every kind refuses something of its own in check(): list it in the subject"
    assert caps.first_is_default or subject.default_without_sni is not None
    assert subject.provider.scope and subject.fresh().scope == subject.provider.scope
    assert subject.lb_port != subject.spare_port
    several = caps.max_listeners is None or caps.max_listeners > 1
    assert ("several-listeners" in subject.features) == several
    assert ("keyless-upload" in subject.features) == (not caps.inline)
    assert ("keeps-names" in subject.features) == caps.keeps_names


# -- upload -------------------------------------------------------------------------------------------
@pytest.mark.contract_needs("keyless-upload")
def test_upload_is_idempotent_by_served_id_and_serves_nothing(subject: Subject) -> None:
    p = subject.provider
    slot = subject.slot("site")
    observed, served = p.observe(), everything_served(subject, slot)

    first = p.upload(slot)
    writes = subject.writes()
    again = p.upload(slot)
    known = p.upload(dataclasses.replace(slot, material=None))  # an upload needs no key again
    alias = p.upload(dataclasses.replace(slot, name="site-alias"))  # the same certificate, another name

    assert first == again == known == alias  # found by served id, never duplicated
    assert subject.writes() == writes
    assert (first.fingerprint, first.scope) == (slot.served_id, p.scope) and first.location
    assert p.observe() == observed
    assert everything_served(subject, slot) == served  # staged, not served
    assert all(r is None or r.leaf != slot.fingerprint for r in served)

    bare = subject.leaf_only(slot)  # the same leaf without its chain is another certificate to serve
    other = p.upload(bare)
    assert other.fingerprint == bare.served_id != first.fingerprint


def test_upload_without_material_of_a_certificate_never_uploaded_is_refused(subject: Subject) -> None:
    slot = subject.slot("ghost")
    writes = subject.writes()

    with pytest.raises(ProviderError) as caught:
        subject.provider.upload(dataclasses.replace(slot, material=None))

    assert caught.value.code == "not-staged"
    assert not caught.value.retryable  # retrying cannot make the key appear
    assert "ghost" in caught.value.message
    assert subject.writes() == writes


# -- bind ---------------------------------------------------------------------------------------------
def test_bind_serves_exactly_the_given_certificates_leaf_and_chain(subject: Subject) -> None:
    p = subject.provider
    a, b, c = (subject.slot(n) for n in "abc")
    refs = uploads(p, a, b, c)
    listener = ListenerSpec(subject.lb_port, certificates=subject.fit(a, b))

    p.bind(listener, refs)  # returns when live: no waiting below

    assert subject.served(subject.lb_port) == subject.default_for(listener)  # the first, unless not owned
    assert subject.served(subject.lb_port, "a.test") == Read.of(a)
    assert subject.served(subject.lb_port, "b.test") == subject.expect(listener, "b.test")  # b, with SNI
    assert subject.served(subject.lb_port, "c.test") == subject.default_for(listener)  # uploaded only

    smaller = dataclasses.replace(listener, certificates=(b,))
    p.bind(smaller, refs)

    assert subject.served(subject.lb_port) == subject.default_for(smaller)
    assert subject.served(subject.lb_port, "a.test") == subject.default_for(smaller)  # a is gone
    assert subject.served(subject.lb_port, "b.test") == Read.of(b)

    bare = subject.leaf_only(b)  # only the chain changes: clients see it
    p.bind(dataclasses.replace(listener, certificates=(bare,)), {**refs, bare.served_id: p.upload(bare)})
    assert subject.served(subject.lb_port, "b.test") == Read(b.fingerprint, ())
    p.bind(smaller, refs)
    assert subject.served(subject.lb_port, "b.test") == Read.of(b)


def test_bind_right_after_upload_serves_even_from_another_provider_object(subject: Subject) -> None:
    p = subject.provider
    a, b = subject.slot("a"), subject.slot("b")
    listener = ListenerSpec(subject.lb_port, certificates=(a,))

    p.bind(listener, {a.served_id: p.upload(a)})
    assert subject.served(subject.lb_port, "a.test") == Read.of(a)  # at once: no retry, no wait

    refs = uploads(p, a, b)  # what the store records; the next command binds with it
    both = dataclasses.replace(listener, certificates=subject.fit(a, b) if p.capabilities.sni else (b,))
    subject.fresh().bind(both, refs)
    assert subject.served(subject.lb_port, "b.test") == Read.of(b)
    assert subject.served(subject.lb_port, "a.test") == subject.expect(both, "a.test")


@pytest.mark.contract_needs("several-listeners")
def test_binding_the_same_listener_twice_changes_nothing(subject: Subject) -> None:
    """Whichever listener is bound again, and whatever other listeners the load balancer has."""
    p = subject.provider
    a, b = subject.slot("a"), subject.slot("b")
    refs = uploads(p, a, b)
    main = ListenerSpec(subject.lb_port, hsts=p.capabilities.hsts, certificates=subject.fit(a, b))
    spare = ListenerSpec(subject.spare_port, certificates=(b,))
    p.bind(main, refs)
    p.bind(spare, refs)
    observed, writes = p.observe(), subject.writes()

    for listener in (main, spare, main):
        p.bind(listener, refs)
        subject.fresh().bind(listener, refs)  # and from a new process
        assert subject.writes() == writes, f"binding :{listener.lb_port} again wrote (HAProxy: files or a reload)"

    assert p.observe() == observed
    assert subject.served(subject.lb_port, "a.test") == Read.of(a)
    assert subject.served(subject.lb_port, "b.test") == subject.expect(main, "b.test")
    assert subject.served(subject.spare_port, "b.test") == Read.of(b)


def test_binding_the_only_listener_again_changes_nothing(subject: Subject) -> None:
    """One listener bound again, from this provider and a new one: what a kind with a single TLS listener
    (Rackspace) can have of the test above."""
    p = subject.provider
    a, b = subject.slot("a"), subject.slot("b")
    refs = uploads(p, a, b)
    main = ListenerSpec(subject.lb_port, certificates=subject.fit(a, b))
    p.bind(main, refs)
    observed, writes = p.observe(), subject.writes()

    p.bind(main, refs)
    subject.fresh().bind(main, refs)

    assert subject.writes() == writes
    assert p.observe() == observed
    assert subject.served(subject.lb_port, "a.test") == Read.of(a)
    assert subject.served(subject.lb_port, "b.test") == subject.expect(main, "b.test")


# -- observe ------------------------------------------------------------------------------------------
@pytest.mark.contract_needs("several-listeners")
def test_observe_reflects_binds_and_reads_the_same_from_a_new_process(subject: Subject) -> None:
    p = subject.provider
    caps = p.capabilities
    a, b = subject.slot("a"), subject.slot("b")
    refs = uploads(p, a, b)
    profile = next((t for t in caps.tls_profiles if t != "intermediate"), caps.tls_profiles[0])
    first = ListenerSpec(subject.lb_port, certificates=(a,))
    second = ListenerSpec(subject.spare_port, redirect_http=caps.redirect_http, hsts=caps.hsts,
                          tls_profile=profile, certificates=subject.fit(b, a))
    assert p.observe().listeners == ()

    p.bind(first, refs)
    assert listeners(p.observe()) == (first,)
    p.bind(second, refs)
    assert listeners(p.observe()) == by_port(first, second)
    changed = dataclasses.replace(first, hsts=caps.hsts, certificates=subject.fit(a, b))
    p.bind(changed, refs)

    writes = subject.writes()
    here = p.observe()
    assert listeners(here) == by_port(changed, second)
    assert subject.fresh().observe() == here  # a new provider object
    assert observe_in_child(subject.recipe) == here  # a new process
    assert subject.writes() == writes  # observing writes nothing
    assert subject.served(subject.spare_port, "b.test") == Read.of(b)
    assert subject.served(subject.lb_port, "b.test") == subject.expect(changed, "b.test")


@pytest.mark.contract_needs("locations")
def test_observe_gives_each_certificate_where_it_is_kept(subject: Subject) -> None:
    """Observed slots carry their location (engine/contract.py: Observed, CertSlot.location): the engine makes
    the ref of a rotation in a new process from it (Applier._rotate)."""
    p = subject.provider
    a = subject.slot("a")
    p.bind(ListenerSpec(subject.lb_port, certificates=(a,)), uploads(p, a))

    for provider in (p, subject.fresh()):
        slots = [c for x in provider.observe().listeners for c in x.certificates]
        assert [c.name for c in slots] == ["a"]
        assert all(c.location for c in slots), f"observe() gives no location: {slots}"


# -- unbind -------------------------------------------------------------------------------------------
@pytest.mark.contract_needs("unbind", "several-listeners")
def test_unbind_removes_the_listener_and_nothing_else(subject: Subject) -> None:
    p = subject.provider
    a = subject.slot("a")
    refs = uploads(p, a)
    keep, drop = (ListenerSpec(port, certificates=(a,)) for port in (subject.lb_port, subject.spare_port))
    p.bind(keep, refs)
    p.bind(drop, refs)
    assert subject.served(subject.spare_port) == subject.default_for(drop)

    p.unbind(subject.spare_port)

    assert listeners(p.observe()) == (keep,)
    assert subject.served(subject.spare_port) is None
    assert subject.served(subject.lb_port, "a.test") == Read.of(a)
    writes = subject.writes()
    p.unbind(subject.spare_port)  # already gone
    subject.fresh().unbind(subject.spare_port)
    assert listeners(p.observe()) == (keep,)
    assert subject.writes() == writes


@pytest.mark.contract_needs("unbind")
def test_unbind_of_the_only_listener_removes_it(subject: Subject) -> None:
    p = subject.provider
    a = subject.slot("a")
    p.bind(ListenerSpec(subject.lb_port, certificates=(a,)), uploads(p, a))
    assert subject.served(subject.lb_port, "a.test") == Read.of(a)

    p.unbind(subject.lb_port)

    assert listeners(p.observe()) == ()
    assert subject.served(subject.lb_port) is None
    writes = subject.writes()
    p.unbind(subject.lb_port)  # already gone
    subject.fresh().unbind(subject.lb_port)
    assert listeners(subject.fresh().observe()) == ()
    assert subject.writes() == writes


def test_unbind_of_a_port_without_a_listener_is_a_no_op(subject: Subject) -> None:
    p = subject.provider
    a = subject.slot("a")
    p.bind(ListenerSpec(subject.lb_port, certificates=(a,)), uploads(p, a))
    observed, writes, served = p.observe(), subject.writes(), everything_served(subject, a)

    p.unbind(subject.spare_port)  # never bound by sslterm
    subject.fresh().unbind(subject.spare_port)

    assert p.observe() == observed
    assert subject.writes() == writes
    assert everything_served(subject, a) == served


# -- rotate -------------------------------------------------------------------------------------------
@pytest.mark.contract_needs("rotate-in-place", "several-listeners")
def test_rotate_replaces_a_certificate_everywhere_it_is_served_with_no_listener_change(subject: Subject) -> None:
    p = subject.provider
    caps = p.capabilities
    a, b = subject.slot("a"), subject.slot("b")
    refs = uploads(p, a, b)
    profile = next((t for t in caps.tls_profiles if t != "intermediate"), caps.tls_profiles[0])
    main = ListenerSpec(subject.lb_port, hsts=caps.hsts, tls_profile=profile, certificates=subject.fit(a, b))
    spare = ListenerSpec(subject.spare_port, certificates=(a,))
    for listener in sorted((main, spare), key=lambda x: -x.lb_port):  # bound in another order than by port
        p.bind(listener, refs)
    settings = subject.read_settings(subject.lb_port, "b.test")
    changes, writes = subject.listener_changes(), subject.writes()

    renewed = subject.slot("a")  # the same name, a new leaf and key
    ref = p.rotate(refs[a.served_id], renewed)

    assert (ref.fingerprint, ref.scope) == (renewed.served_id, p.scope)
    assert subject.served(subject.lb_port, "a.test") == Read.of(renewed)
    assert subject.served(subject.spare_port, "a.test") == Read.of(renewed)  # everywhere it is served
    rotated = dataclasses.replace(main, certificates=(renewed, *main.certificates[1:]))
    assert subject.served(subject.lb_port, "b.test") == subject.expect(rotated, "b.test")  # its other certificate
    assert subject.read_settings(subject.lb_port, "b.test") == settings
    assert subject.listener_changes() == changes  # HAProxy: same configuration and crt-lists, no reload
    assert subject.writes() != writes
    expected = by_port(rotated, dataclasses.replace(spare, certificates=(renewed,)))
    assert listeners(p.observe()) == expected
    assert listeners(subject.fresh().observe()) == expected

    writes = subject.writes()
    assert p.rotate(ref, renewed) == ref  # already there: nothing to do
    assert subject.writes() == writes


# -- verify -------------------------------------------------------------------------------------------
def test_verify_reports_what_clients_get_leaf_and_chain(subject: Subject) -> None:
    p = subject.provider
    how = "handshake" if p.capabilities.handshake else "read-back"
    a, b = subject.slot("a"), subject.slot("b")
    listener = ListenerSpec(subject.lb_port, certificates=subject.fit(a, b))
    p.bind(listener, uploads(p, a, b))
    slots = {c.name: c for c in listener.certificates}
    last = listener.certificates[-1]  # b, with SNI

    served = p.verify(listener)

    assert {s.target.certificate for s in served} == set(slots)
    for s in served:
        expected = slots[s.target.certificate]
        assert s.how == how and s.ok, s
        assert Read(s.fingerprint or "", s.chain) == Read.of(expected)
        assert subject.served(subject.lb_port, s.target.server_name, s.target.key_type) == Read.of(expected)
    only_last = p.verify(listener, only={last.name})
    assert last.name in {s.target.certificate for s in only_last} <= set(slots) and all(s.ok for s in only_last)

    # told something else than what is served, it says what is
    impostor = subject.slot("impostor", "a.test")  # answers for a's name, never bound
    lied = p.verify(dataclasses.replace(listener, certificates=(impostor, *listener.certificates[1:])),
                    only={"impostor"})
    wrong = [s for s in lied if s.target.certificate == "impostor"]
    assert wrong and all(not s.ok and s.fingerprint == a.fingerprint for s in wrong)
    bare = subject.leaf_only(last)  # the right leaf, told without its chain
    told = dataclasses.replace(listener, certificates=(*listener.certificates[:-1], bare))
    short = [s for s in p.verify(told, only={last.name}) if s.target.certificate == last.name]
    assert short and all(s.leaf_ok and not s.ok and s.chain == last.chain for s in short)


# -- key types and settings ---------------------------------------------------------------------------
def test_every_accepted_key_type_is_served_leaf_and_chain(subject: Subject) -> None:
    p = subject.provider
    made = subject.key_type_slots("k")
    refs = uploads(p, *made)
    for i in range(len(made)):  # each key type once as the first certificate
        listener = ListenerSpec(subject.lb_port, certificates=subject.fit(*made[i:], *made[:i]))
        p.bind(listener, refs)
        assert subject.served(subject.lb_port) == subject.default_for(listener)
        for slot in listener.certificates:
            assert subject.served(subject.lb_port, slot.sans[0]) == Read.of(slot), slot.key_type
        assert all(s.ok for s in p.verify(listener))


@pytest.mark.contract_needs("dual-key-types")
def test_an_rsa_and_an_ec_certificate_for_one_name_are_each_served(subject: Subject) -> None:
    p = subject.provider
    rsa = subject.slot("dual-rsa", "dual.test", key_type="RSA")
    ec = subject.slot("dual-ec", "dual.test", key_type="EC")
    listener = ListenerSpec(subject.lb_port, certificates=(rsa, ec))

    p.bind(listener, uploads(p, rsa, ec))

    assert subject.served(subject.lb_port, "dual.test", "RSA") == Read.of(rsa)  # a client that takes RSA only
    assert subject.served(subject.lb_port, "dual.test", "EC") == Read.of(ec)
    assert all(s.ok for s in p.verify(listener))


def test_the_settings_a_listener_asks_for_are_served(subject: Subject) -> None:
    """Every TLS profile the provider declares, with HSTS on and off where it declares HSTS: what clients find
    is what was asked (and what observe reports)."""
    p = subject.provider
    caps = p.capabilities
    a = subject.slot("a")
    refs = uploads(p, a)
    wrong = []
    for profile in caps.tls_profiles:
        for hsts in (False, True) if caps.hsts else (False,):
            listener = ListenerSpec(subject.lb_port, hsts=hsts, tls_profile=profile, certificates=(a,))
            p.bind(listener, refs)
            asked = f"asked hsts={hsts} {profile}"
            observed = named(subject, p.observe(), [listener])
            if observed != (listener,):
                said = ", ".join(f"hsts={x.hsts} {x.tls_profile}" for x in observed) or "no listener"
                wrong.append(f"{asked}: observe() says {said}")
            found = subject.read_settings(subject.lb_port, "a.test")
            if found != ServedSettings(hsts, profile):
                wrong.append(f"{asked}: clients get hsts={found.hsts} {found.tls_profile}")
    assert not wrong, "\n".join(wrong)


# -- refusals -----------------------------------------------------------------------------------------
def test_check_refuses_what_this_kind_cannot_do_before_any_write(subject: Subject) -> None:
    p = subject.provider
    for refusal in subject.refusals:
        desired = refusal.arrange(subject)
        observed, writes = p.observe(), subject.writes()
        served = everything_served(subject, *(c for x in observed.listeners for c in x.certificates))

        with pytest.raises(SSLTermError) as direct:
            p.check(desired)
        assert direct.value.code == refusal.code and isinstance(direct.value, UnsafePlan), refusal.why
        recording = Recording(subject.fresh())
        with pytest.raises(SSLTermError) as refused:
            deploy(recording, desired)
        assert refused.value.code == refusal.code, refusal.why

        assert recording.write_calls == [], refusal.why
        assert subject.writes() == writes, refusal.why
        assert p.observe() == observed, refusal.why
        assert everything_served(subject, *(c for x in observed.listeners for c in x.certificates)) == served


def capability_violations(subject: Subject) -> list[tuple[str, list[ListenerSpec]]]:
    """(code, listeners) for each limit the provider's capabilities set: what the engine must refuse."""
    caps = subject.provider.capabilities
    port = subject.lb_port
    a, b = subject.slot("a"), subject.slot("b")
    odd_type = next(t for t in ("RSA", "EC", "Ed25519") if t not in caps.key_types)
    out = [("unsupported-key-type", [ListenerSpec(port, certificates=(subject.slot("odd", key_type=odd_type),))]),
           ("tls-profile-unsupported", [ListenerSpec(port, tls_profile="none-such", certificates=(a,))])]
    out += [("tls-profile-unsupported", [ListenerSpec(port, tls_profile=t, certificates=(a,))])
            for t in TLS_PROFILES if t not in caps.tls_profiles]
    if caps.max_listeners is not None:
        out.append(("too-many-listeners", [ListenerSpec(port + i, certificates=(a,))
                                           for i in range(caps.max_listeners + 1)]))
    if not caps.sni:
        out.append(("no-sni", [ListenerSpec(port, certificates=(a, b))]))
    elif caps.max_certificates_per_listener is not None:
        many = tuple(subject.slot(f"m{i}") for i in range(caps.max_certificates_per_listener + 1))
        out.append(("too-many-certificates", [ListenerSpec(port, certificates=many)]))
    if not caps.redirect_http:
        out.append(("redirect-unsupported", [ListenerSpec(port, redirect_http=True, certificates=(a,))]))
    if not caps.hsts:
        out.append(("hsts-unsupported", [ListenerSpec(port, hsts=True, certificates=(a,))]))
    if not caps.https_to_instances:
        out.append(("https-instances-unsupported", [ListenerSpec(port, instance_protocol="HTTPS", certificates=(a,))]))
    return out


def test_the_engine_refuses_what_the_capabilities_rule_out_before_any_call(subject: Subject) -> None:
    p = subject.provider
    served_slot = subject.slot("served")
    p.bind(ListenerSpec(subject.lb_port, certificates=(served_slot,)), uploads(p, served_slot))
    observed, writes = p.observe(), subject.writes()

    for code, desired in capability_violations(subject):
        recording = Recording(p)
        with pytest.raises(UnsafePlan) as refused:
            deploy(recording, desired)
        assert refused.value.code == code
        assert recording.calls == [], code  # refused before any call to the load balancer

    assert subject.writes() == writes
    assert p.observe() == observed
    assert subject.served(subject.lb_port, "served.test") == Read.of(served_slot)


@pytest.mark.contract_needs("several-listeners")
def test_reapplying_an_unchanged_state_makes_no_write_call(subject: Subject) -> None:
    a, b = subject.slot("a"), subject.slot("b")
    desired = [ListenerSpec(subject.lb_port, certificates=subject.fit(a, b)),
               ListenerSpec(subject.spare_port, certificates=(b,))]
    deploy(subject.provider, desired)
    writes = subject.writes()

    for provider in (subject.provider, subject.fresh()):  # this process, and the next command's
        recording = Recording(provider)
        plan = plan_for(recording, desired)
        assert plan.empty, plan.as_json()
        Applier(recording).apply(plan)
        assert [c for c in recording.write_calls if c != "cleanup"] == []
        assert subject.writes() == writes  # cleanup found nothing to do either

    assert subject.served(subject.lb_port, "a.test") == Read.of(a)
    assert subject.served(subject.spare_port, "b.test") == Read.of(b)


def test_reapplying_an_unchanged_listener_makes_no_write_call(subject: Subject) -> None:
    """The test above with one listener: what a kind with a single TLS listener (Rackspace) can have of it."""
    a, b = subject.slot("a"), subject.slot("b")
    desired = [ListenerSpec(subject.lb_port, certificates=subject.fit(a, b))]
    deploy(subject.provider, desired)
    writes = subject.writes()

    for provider in (subject.provider, subject.fresh()):
        recording = Recording(provider)
        plan = plan_for(recording, desired)
        assert plan.empty, plan.as_json()
        Applier(recording).apply(plan)
        assert [c for c in recording.write_calls if c != "cleanup"] == []
        assert subject.writes() == writes

    assert subject.served(subject.lb_port, "a.test") == Read.of(a)
    assert subject.served(subject.lb_port, "b.test") == subject.expect(desired[0], "b.test")


# -- listeners sslterm did not create -------------------------------------------------------------------
@pytest.mark.contract_needs("foreign-listener", "several-listeners")
def test_a_foreign_listener_is_left_alone(subject: Subject) -> None:
    p = subject.provider
    foreign = subject.foreign
    assert foreign is not None
    a, b = subject.slot("a"), subject.slot("b")
    assert subject.served(foreign.port) == foreign.serves

    deploy(p, [ListenerSpec(subject.lb_port, certificates=(a,)), ListenerSpec(subject.spare_port, certificates=(b,))])
    renewed = subject.slot("a")
    deploy(p, [ListenerSpec(subject.lb_port, certificates=(renewed,)),
               ListenerSpec(subject.spare_port, certificates=(b,))])
    deploy(subject.fresh(), [ListenerSpec(subject.lb_port, certificates=subject.fit(renewed, b)),
                             ListenerSpec(subject.spare_port, certificates=(b,))])
    p.cleanup()

    for name in (None, "a.test", "b.test"):
        assert subject.served(foreign.port, name) == foreign.serves
    assert subject.served(subject.lb_port, "a.test") == Read.of(renewed)
    for provider in (p, subject.fresh()):
        assert foreign.port not in provider.observe().by_port()


@pytest.mark.contract_needs("foreign-listener")
def test_observe_reports_the_port_of_a_foreign_listener(subject: Subject) -> None:
    foreign = subject.foreign
    assert foreign is not None

    assert foreign.port in subject.provider.observe().foreign_ports
    assert foreign.port in subject.fresh().observe().foreign_ports
    assert foreign.port in observe_in_child(subject.recipe).foreign_ports


@pytest.mark.contract_needs("foreign-listener")
def test_the_engine_refuses_the_port_of_a_foreign_listener_before_any_write(subject: Subject) -> None:
    foreign = subject.foreign
    assert foreign is not None
    a = subject.slot("a")
    writes = subject.writes()
    recording = Recording(subject.provider)

    with pytest.raises(SSLTermError) as refused:
        deploy(recording, [ListenerSpec(foreign.port, certificates=(a,))], verify_within=1.0)

    assert refused.value.code == "port-taken", (
        f"not refused up front: {refused.value.code}: {refused.value.message}; calls made: {recording.calls}")
    assert recording.write_calls == []
    assert subject.writes() == writes
    assert subject.served(foreign.port, "a.test") == foreign.serves


# -- cleanup and forget ---------------------------------------------------------------------------------
@pytest.mark.contract_needs("several-listeners", "keyless-upload")
def test_cleanup_keeps_everything_served_and_its_uploads(subject: Subject) -> None:
    p = subject.provider
    a, b = subject.slot("a"), subject.slot("b")
    refs = uploads(p, a, b)
    p.bind(ListenerSpec(subject.lb_port, certificates=subject.fit(a, b)), refs)
    p.bind(ListenerSpec(subject.spare_port, certificates=(b,)), refs)
    observed, served = p.observe(), everything_served(subject, a, b)

    p.cleanup()
    subject.fresh().cleanup()

    assert p.observe() == observed
    assert everything_served(subject, a, b) == served
    fresh = subject.fresh()  # what is served can be bound again from its ref, with no key
    for slot in (a, b):
        assert fresh.upload(dataclasses.replace(slot, material=None)) == refs[slot.served_id]


@pytest.mark.contract_needs("staging")
def test_cleanup_drops_uploads_no_listener_serves(subject: Subject) -> None:
    p = subject.provider
    used, unused = subject.slot("used"), subject.slot("unused")
    refs = uploads(p, used, unused)
    p.bind(ListenerSpec(subject.lb_port, certificates=(used,)), refs)

    p.cleanup()

    assert p.upload(dataclasses.replace(used, material=None)) == refs[used.served_id]  # still there
    with pytest.raises(ProviderError) as caught:
        p.upload(dataclasses.replace(unused, material=None))  # dropped
    assert caught.value.code == "not-staged"
    assert subject.served(subject.lb_port, "used.test") == Read.of(used)


@pytest.mark.contract_needs("keyless-upload")
def test_forget_deletes_an_upload_no_listener_serves_and_is_a_no_op_when_gone(subject: Subject) -> None:
    p = subject.provider
    kept, gone = subject.slot("kept"), subject.slot("gone")
    refs = uploads(p, kept, gone)
    p.bind(ListenerSpec(subject.lb_port, certificates=(kept,)), refs)

    subject.fresh().forget(refs[gone.served_id])  # a later command, as the service calls it

    with pytest.raises(ProviderError) as caught:
        subject.fresh().upload(dataclasses.replace(gone, material=None))
    assert caught.value.code == "not-staged"
    writes = subject.writes()
    subject.fresh().forget(refs[gone.served_id])  # already gone
    assert subject.writes() == writes
    assert subject.served(subject.lb_port, "kept.test") == Read.of(kept)
    assert subject.fresh().upload(dataclasses.replace(kept, material=None)) == refs[kept.served_id]


@pytest.mark.contract_needs("keyless-upload")
def test_cleanup_and_forget_on_one_load_balancer_spare_another(subject: Subject) -> None:
    with subject.sibling() as other:
        p, q = subject.provider, other.provider
        shared, own = subject.slot("shared"), subject.slot("own")
        p_refs = uploads(p, shared, own)
        q_ref = q.upload(shared)
        p.bind(ListenerSpec(subject.lb_port, certificates=subject.fit(shared, own)), p_refs)
        q.bind(ListenerSpec(other.lb_port, certificates=(shared,)), {shared.served_id: q_ref})
        q_observed, q_writes = q.observe(), other.writes()

        # the first stops serving `shared`, cleans up, and forgets its upload when its scope is its own
        p.bind(ListenerSpec(subject.lb_port, certificates=(own,)), p_refs)
        p.cleanup()
        subject.fresh().cleanup()
        if p.scope != q.scope:
            subject.fresh().forget(p_refs[shared.served_id])
        else:  # one object for both (never duplicated): the store keeps it while the other serves it
            assert p_refs[shared.served_id] == q_ref

        assert other.served(other.lb_port, "shared.test") == Read.of(shared)
        assert other.served(other.lb_port) == other.default_for(q_observed.listeners[0])
        assert q.observe() == q_observed
        assert other.writes() == q_writes
        assert other.fresh().upload(dataclasses.replace(shared, material=None)) == q_ref  # its upload is there

        q.cleanup()  # and the other way round
        assert subject.served(subject.lb_port, "own.test") == Read.of(own)
        assert subject.fresh().upload(dataclasses.replace(own, material=None)) == p_refs[own.served_id]


# -- rolling back -------------------------------------------------------------------------------------
@pytest.mark.contract_needs("keeps-names")
def test_a_new_process_puts_the_previous_certificate_back(subject: Subject) -> None:
    """``sslterm cert rollback``: a later command (a new provider object) brings back the previous version,
    its material from the store, by the step the capabilities call for (rotate in place, else bind)."""
    p = subject.provider
    step = "rotate" if p.capabilities.rotate_in_place else "bind"
    old, other = subject.slot("site"), subject.slot("other")
    before = [ListenerSpec(subject.lb_port, hsts=p.capabilities.hsts, certificates=subject.fit(old, other))]
    deploy(p, before)
    new = subject.slot("site")
    after = [dataclasses.replace(before[0], certificates=(new, *before[0].certificates[1:]))]
    report = deploy(p, after)
    assert [s.action for s in report.plan.changes()] == [step]
    assert subject.served(subject.lb_port, "site.test") == Read.of(new)

    fresh = Recording(subject.fresh())
    plan = plan_for(fresh, before)
    assert [s.action for s in plan.changes()] == [step]
    Applier(fresh).apply(plan)

    assert subject.served(subject.lb_port, "site.test") == Read.of(old)
    assert subject.served(subject.lb_port, "other.test") == subject.expect(before[0], "other.test")
    assert named(subject, subject.fresh().observe(), before) == tuple(before)


def test_a_new_process_puts_a_previous_listener_back_with_a_bind_step(subject: Subject) -> None:
    p = subject.provider
    old = subject.slot("site")
    before = [ListenerSpec(subject.lb_port, certificates=(old,))]
    deploy(p, before)
    new, added = subject.slot("site"), subject.slot("added")
    changed = ListenerSpec(subject.lb_port, certificates=subject.fit(new, added))
    if not p.capabilities.sni:  # a listener change of another kind than an added certificate
        changed = dataclasses.replace(changed, tls_profile=next(t for t in p.capabilities.tls_profiles
                                                                if t != changed.tls_profile))
    deploy(p, [changed])
    assert subject.served(subject.lb_port, "added.test") == subject.expect(changed, "added.test")

    fresh = Recording(subject.fresh())
    plan = plan_for(fresh, before)
    assert [s.action for s in plan.changes()] == ["bind"]
    assert [s.slot.name for s in plan.uploads() if s.slot] == ["site"]  # the previous version, from its material
    Applier(fresh).apply(plan)

    assert subject.served(subject.lb_port, "site.test") == Read.of(old)
    assert subject.served(subject.lb_port, "added.test") == subject.default_for(before[0])
    assert named(subject, subject.fresh().observe(), before) == tuple(before)


class _NewLeafFails(Recording):
    """A provider whose read-back says ``leaf`` is not served (for kinds verified by read-back)."""

    def __init__(self, inner: Provider, leaf: str) -> None:
        super().__init__(inner)
        self.leaf = leaf

    def verify(self, listener: ListenerSpec, only: Collection[str] | None = None) -> list[Served]:
        return [dataclasses.replace(s, fingerprint=None, error="simulated") if s.target.expect == self.leaf else s
                for s in super().verify(listener, only)]


def test_a_failed_verification_puts_the_previous_certificate_back(subject: Subject) -> None:
    """The previous certificate stays served until the new one is verified; a failure puts it back, in a
    new process whose provider kept nothing of the deployment before."""
    old, other = subject.slot("site"), subject.slot("other")
    before = [ListenerSpec(subject.lb_port, certificates=subject.fit(old, other))]
    deploy(subject.provider, before)
    new = subject.slot("site")

    def prober(target: ProbeTarget) -> Served:  # for kinds verified by handshake
        return Served(target, None, "simulated") if target.expect == new.fingerprint else probe(target)

    provider = _NewLeafFails(subject.fresh(), new.fingerprint)
    with pytest.raises(DeploymentError) as failed:
        deploy(provider, [ListenerSpec(subject.lb_port, certificates=(new, *before[0].certificates[1:]))],
               previous=[old],
               prober=prober, verify_within=1.0)

    assert not isinstance(failed.value, RollbackFailed), failed.value.message
    assert failed.value.code == "verification-failed"
    assert subject.served(subject.lb_port, "site.test") == Read.of(old)
    assert subject.served(subject.lb_port, "other.test") == subject.expect(before[0], "other.test")
    assert named(subject, subject.fresh().observe(), before) == tuple(before)
