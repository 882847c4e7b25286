"""The Rackspace provider's contract against the emulator over real HTTP: what it reads, the writes it makes
(and does not), rotation in place that spares everything else, refusals before any call, and a failure
midway put back by the engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from emulator import Emulator, running_emulator
from rax_tools import LB_ID, REGION, bare, listener, provider, slot, writes

from sslterm.demo.ca import DemoCA
from sslterm.engine.apply import Applier
from sslterm.engine.capabilities import enforce
from sslterm.engine.contract import CertSlot, ListenerSpec
from sslterm.engine.plan import compute
from sslterm.errors import DeploymentError, ProviderError, UnsafePlan
from sslterm.providers.rackspace import RackspaceProvider
from sslterm.providers.rackspace.state import DEFAULT_NAME


@pytest.fixture(scope="module")
def ca() -> DemoCA:
    return DemoCA("rackspace provider test")


@pytest.fixture
def rax() -> Iterator[Emulator]:
    with running_emulator(pending_seconds=0.05) as emulator:
        emulator.add_load_balancer(LB_ID, REGION, name="legacy")
        yield emulator


@pytest.fixture
def made(rax: Emulator) -> RackspaceProvider:
    return provider(rax)


def serves(rax: Emulator) -> tuple[str | None, dict[str, str]]:
    """The termination's certificate and each mapping's (host -> certificate), as stored."""
    t = rax.ssl_termination(LB_ID)
    return (t.certificate if t else None), {m.host_name: m.certificate for m in rax.certificate_mappings(LB_ID)}


def pem(s: CertSlot) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    assert s.material is not None
    return s.material.bundle().leaf.public_bytes(Encoding.PEM).decode()


def deploy(made: RackspaceProvider, want: ListenerSpec, before: ListenerSpec | None = None) -> None:
    """What the service does: plan from ``before`` (the observed listener, or one named as the store names
    it) and apply through the engine (retries, verification, rollback)."""
    observed = [before] if before else list(made.observe().listeners)
    made.check([want])
    Applier(made).apply(compute("legacy", observed, [want], rotate_in_place=True))


# -- reading and binding ---------------------------------------------------------------------------------------------


def test_bind_then_observe(rax: Emulator, made: RackspaceProvider, ca: DemoCA) -> None:
    shop, api = slot(ca, "shop", "shop.example.test", "www.shop.example.test"), slot(ca, "api")
    deploy(made, listener(shop, api, redirect=True))
    (seen,) = made.observe().listeners
    assert made.observe().foreign_ports == (80,)
    assert (seen.lb_port, seen.redirect_http, seen.tls_profile, seen.instance_port) == (443, True, "intermediate", None)
    assert [(c.name, c.fingerprint, c.chain, c.sans) for c in seen.certificates] == [
        (DEFAULT_NAME, shop.fingerprint, shop.chain, shop.sans),
        ("rackspace-sni-api.example.test", api.fingerprint, api.chain, api.sans)]
    assert [c.served_id for c in seen.certificates] == [shop.served_id, api.served_id]
    t = rax.ssl_termination(LB_ID)
    assert t is not None and (t.secure_port, t.secure_traffic_only, t.cipher_profile, t.tls10_enabled,
                              t.tls11_enabled) == (443, True, "CLBCipherPolicy2019-05", False, False)
    assert t.intermediate_certificate and "BEGIN CERTIFICATE" in t.intermediate_certificate
    assert rax.load_balancer(LB_ID).https_redirect
    assert serves(rax) == (pem(shop), {"api.example.test": pem(api)})
    assert all(s.ok and s.how == "read-back" for s in made.verify(listener(shop, api, redirect=True)))


def test_binding_what_is_served_writes_nothing(rax: Emulator, made: RackspaceProvider, ca: DemoCA) -> None:
    shop, api = slot(ca, "shop"), slot(ca, "api")
    made.bind(listener(shop, api), {})
    rax.clear_requests()
    made.bind(listener(bare(shop), bare(api)), {})  # no material needed: nothing is sent
    assert writes(rax) == []


def test_settings_alone_change_without_sending_certificates(rax: Emulator, made: RackspaceProvider,
                                                            ca: DemoCA) -> None:
    shop = slot(ca, "shop")
    made.bind(listener(shop), {})
    rax.clear_requests()
    made.bind(listener(bare(shop), profile="old"), {})
    (put,) = [r for r in rax.writes()]
    assert put.method == "PUT" and "certificate" not in put.body["sslTermination"]  # type: ignore[index]
    t = rax.ssl_termination(LB_ID)
    assert t is not None and (t.cipher_profile, t.tls10_enabled) == ("default", True)
    assert made.observe().listeners[0].tls_profile == "old"


def test_a_disabled_termination_is_custom_and_enabled_again(rax: Emulator, made: RackspaceProvider,
                                                            ca: DemoCA) -> None:
    shop = slot(ca, "shop")
    made.bind(listener(shop), {})
    made.lb.change("PUT", "/ssltermination", {"sslTermination": {"enabled": False}}, "someone disables it")
    assert made.observe().listeners[0].tls_profile == "custom"
    assert "disabled" in (made.verify(listener(shop))[0].error or "")
    made.bind(listener(bare(shop)), {})
    assert made.observe().listeners[0].tls_profile == "intermediate"


def test_custom_settings_are_kept_when_put_back(rax: Emulator, made: RackspaceProvider, ca: DemoCA) -> None:
    shop = slot(ca, "shop")
    made.bind(listener(shop), {})
    made.lb.change("PUT", "/ssltermination", {"sslTermination": {"cipherProfile": "CLBCipherPolicy2017-08"}},
                   "the operator picks another cipher profile")
    (before,) = made.observe().listeners
    assert before.tls_profile == "custom"
    rax.fail_next("POST", r"/certificatemappings$", 400)
    with pytest.raises(DeploymentError):  # the rollback binds the observed ("custom") listener back
        deploy(made, listener(shop, slot(ca, "api")))
    t = rax.ssl_termination(LB_ID)
    assert t is not None and t.cipher_profile == "CLBCipherPolicy2017-08" and serves(rax)[1] == {}


# -- rotation in place -----------------------------------------------------------------------------------------------


def test_rotating_the_default_spares_every_mapping(rax: Emulator, made: RackspaceProvider, ca: DemoCA) -> None:
    shop, api = slot(ca, "shop"), slot(ca, "api", "api.example.test", "www.api.example.test")
    made.bind(listener(shop, api), {})
    ids = [m.id for m in rax.certificate_mappings(LB_ID)]
    renewed = slot(ca, "shop")
    rax.clear_requests()
    deploy(made, listener(renewed, api), before=listener(bare(shop), bare(api)))
    assert writes(rax) == [("PUT", f"/loadbalancers/{LB_ID}/ssltermination")]
    assert serves(rax) == (pem(renewed), {"api.example.test": pem(api), "www.api.example.test": pem(api)})
    assert [m.id for m in rax.certificate_mappings(LB_ID)] == ids
    t = rax.ssl_termination(LB_ID)
    assert t is not None and t.cipher_profile == "CLBCipherPolicy2019-05"  # its settings kept


def test_rotating_an_sni_certificate_spares_the_default(rax: Emulator, made: RackspaceProvider, ca: DemoCA) -> None:
    shop, api = slot(ca, "shop"), slot(ca, "api", "api.example.test", "www.api.example.test")
    made.bind(listener(shop, api), {})
    renewed = slot(ca, "api", "api.example.test", "www.api.example.test")
    rax.clear_requests()
    deploy(made, listener(shop, renewed), before=listener(bare(shop), bare(api)))
    assert [m for m, _ in writes(rax)] == ["PUT", "PUT"] and all("certificatemappings/" in p for _, p in writes(rax))
    assert serves(rax) == (pem(shop), {"api.example.test": pem(renewed), "www.api.example.test": pem(renewed)})
    rax.clear_requests()
    made.rotate(made.upload(api), renewed)  # again: already done
    assert writes(rax) == []


def test_a_renewal_with_other_names_maps_them(rax: Emulator, made: RackspaceProvider, ca: DemoCA) -> None:
    shop, api = slot(ca, "shop"), slot(ca, "api", "api.example.test", "old.api.example.test")
    made.bind(listener(shop, api), {})
    renewed = slot(ca, "api", "api.example.test", "new.api.example.test")
    made.rotate(made.upload(api), renewed)
    assert serves(rax)[1] == {"api.example.test": pem(renewed), "new.api.example.test": pem(renewed)}


def test_a_failure_midway_puts_the_previous_certificate_back(rax: Emulator, made: RackspaceProvider,
                                                             ca: DemoCA) -> None:
    shop, api = slot(ca, "shop"), slot(ca, "api", "api.example.test", "www.api.example.test")
    made.bind(listener(shop, api), {})
    second = rax.certificate_mappings(LB_ID)[1].id
    rax.fail_next("PUT", rf"/certificatemappings/{second}$", 400)
    renewed = slot(ca, "api", "api.example.test", "www.api.example.test")
    with pytest.raises(DeploymentError) as caught:
        deploy(made, listener(shop, renewed), before=listener(shop, api))
    assert "rolled back" in caught.value.message and "400" in caught.value.message
    assert serves(rax) == (pem(shop), {"api.example.test": pem(api), "www.api.example.test": pem(api)})


def test_a_failed_enable_leaves_no_termination(rax: Emulator, made: RackspaceProvider, ca: DemoCA) -> None:
    shop, api = slot(ca, "shop"), slot(ca, "api")
    rax.fail_next("POST", r"/certificatemappings$", 400)
    with pytest.raises(DeploymentError):
        deploy(made, listener(shop, api))
    assert serves(rax) == (None, {})
    assert made.observe().listeners == ()


# -- unbind ----------------------------------------------------------------------------------------------------------


def test_unbind_removes_redirect_termination_and_mappings(rax: Emulator, made: RackspaceProvider, ca: DemoCA) -> None:
    made.bind(listener(slot(ca, "shop"), slot(ca, "api"), redirect=True), {})
    rax.clear_requests()
    made.unbind(443)
    assert [m for m, _ in writes(rax)] == ["PUT", "DELETE"]
    assert serves(rax) == (None, {}) and not rax.load_balancer(LB_ID).https_redirect
    rax.clear_requests()
    made.unbind(443)
    assert writes(rax) == []


# -- refused before any call -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("why", "code"), [
    ("ec", "rackspace-key-unsupported"), ("limit", "rackspace-mapping-limit"),
    ("duplicate", "rackspace-duplicate-host-name"), ("host", "rackspace-host-name-invalid"),
    ("nameless", "rackspace-no-host-name"), ("redirect", "rackspace-redirect-port"),
    ("instance", "rackspace-instance-port")])
def test_check_refuses_before_any_call(rax: Emulator, made: RackspaceProvider, ca: DemoCA, why: str,
                                       code: str) -> None:
    shop = slot(ca, "shop")
    wanted = {
        "ec": lambda: listener(shop, slot(ca, "ec", key_kind="ec")),
        "limit": lambda: listener(shop, slot(ca, "many", *(f"h{i}.example.test" for i in range(21)))),
        "duplicate": lambda: listener(shop, slot(ca, "a", "same.example.test"), slot(ca, "b", "same.example.test")),
        "host": lambda: listener(shop, slot(ca, "long", "long.example.test", f"{'a' * 60}.{'b' * 60}.example.test")),
        "nameless": lambda: listener(shop, replace(slot(ca, "ip"), sans=("192.0.2.1",))),
        "redirect": lambda: listener(shop, lb_port=8443, redirect=True),
        "instance": lambda: listener(shop, instance_port=8080),
    }[why]()
    made.observe()
    rax.clear_requests()
    with pytest.raises(UnsafePlan) as caught:
        made.check([wanted])
    assert caught.value.code == code and caught.value.exit_code == 4
    assert rax.requests == []


def test_twenty_mappings_are_allowed(made: RackspaceProvider, ca: DemoCA) -> None:
    made.check([listener(slot(ca, "shop"), slot(ca, "many", *(f"h{i}.example.test" for i in range(20))))])


def test_a_secure_protocol_is_refused(rax: Emulator, ca: DemoCA) -> None:
    rax.add_load_balancer(7, REGION, protocol="HTTPS", port=443)
    other = provider(rax, lb_id=7)
    other.observe()
    with pytest.raises(UnsafePlan) as caught:
        other.check([listener(slot(ca, "shop"), lb_port=8443)])
    assert caught.value.code == "rackspace-protocol-unsupported"


def test_capabilities_the_engine_enforces(made: RackspaceProvider, ca: DemoCA) -> None:
    shop = slot(ca, "shop")
    cases = {"tls-profile-unsupported": [listener(shop, profile="modern")],
             "hsts-unsupported": [replace(listener(shop), hsts=True)],
             "https-instances-unsupported": [replace(listener(shop), instance_protocol="HTTPS")],
             "too-many-listeners": [listener(shop), listener(shop, lb_port=8443)],
             "unsupported-key-type": [listener(shop, slot(ca, "ec", key_kind="ec"))]}
    for code, listeners in cases.items():
        with pytest.raises(UnsafePlan) as caught:
            enforce("legacy", "rackspace", made.capabilities, listeners)
        assert caught.value.code == code


# -- start (lb add) --------------------------------------------------------------------------------------------------


def test_start_checks_the_load_balancer(rax: Emulator, made: RackspaceProvider, ca: DemoCA) -> None:
    made.start()
    with pytest.raises(ProviderError) as caught:
        provider(rax, lb_id=999).start()
    assert caught.value.code == "rackspace-lb-not-found" and "999" in caught.value.message
    made.bind(listener(slot(ca, "shop")), {})
    with pytest.raises(UnsafePlan) as refused:
        provider(rax).start()
    assert refused.value.code == "rackspace-termination-exists"
    assert writes(rax) == [("PUT", f"/loadbalancers/{LB_ID}/ssltermination")]  # only the bind wrote


def test_upload_is_inline(made: RackspaceProvider, rax: Emulator, ca: DemoCA) -> None:
    shop = slot(ca, "shop")
    ref = made.upload(shop)
    assert (ref.fingerprint, ref.scope) == (shop.served_id, f"rackspace:{REGION}:{LB_ID}")
    made.forget(ref)
    assert rax.requests == []
    with pytest.raises(ProviderError) as caught:
        made.upload(bare(shop))
    assert caught.value.code == "not-staged"
