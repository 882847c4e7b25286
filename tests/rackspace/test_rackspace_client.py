"""The Rackspace client and its waits, against the emulator over real HTTP: identity and the catalog, the token
(cached, renewed once on a 401), 413 + Retry-After, 422 while PENDING_UPDATE, bounded waits with clear errors,
and no credential anywhere it could leak."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from emulator import Emulator, RateLimit, running_emulator
from rax_tools import FAST, LB_ID, REGION, assert_no_secrets, client, credentials, env_of, listener, provider, slot

from sslterm.demo.ca import DemoCA
from sslterm.errors import InputError, ProviderError
from sslterm.providers.rackspace import create, validate, waits_from
from sslterm.providers.rackspace.balancer import Balancer, Budget, Waits
from sslterm.providers.rackspace.client import Pacer, RackspaceClient, retry_after
from sslterm.providers.rackspace.identity import Credentials
from sslterm.settings import Settings, from_environment

LB_PATH = rf"/loadbalancers/{LB_ID}$"


@pytest.fixture
def rax() -> Iterator[Emulator]:
    with running_emulator(pending_seconds=0.2) as emulator:
        emulator.add_load_balancer(LB_ID, REGION, name="legacy")
        yield emulator


def balancer(rax: Emulator, waits: Waits = FAST, api: RackspaceClient | None = None) -> Balancer:
    return Balancer(api or client(rax), REGION, LB_ID, f"legacy (Rackspace {REGION} load balancer {LB_ID})", waits)


def rename(lb: Balancer, name: str) -> None:
    """A harmless change (the load balancer's name) through the waits under test."""
    lb.change("PUT", "", {"loadBalancer": {"name": name}}, f"renaming it {name}")


# -- identity, catalog, token -----------------------------------------------------------------------------------------


def test_authenticates_once_and_uses_the_regions_endpoint(rax: Emulator) -> None:
    api = client(rax)
    lb = balancer(rax, api=api)
    assert lb.details().status == "ACTIVE"
    assert lb.details().port == 80
    assert rax.count("POST", r"/v2.0/tokens$") == 1 and api.authentications == 1
    reads = rax.requests_matching("GET")
    assert reads and all(r.path.startswith(f"/dfw/v1.0/{rax.tenant_id}/") for r in reads)  # not a decoy's URL


def test_a_region_missing_from_the_catalog_is_a_clear_error(rax: Emulator) -> None:
    lb = Balancer(client(rax), "LON", LB_ID, "legacy", FAST)  # the emulator's catalog has no LON
    with pytest.raises(ProviderError) as caught:
        lb.details()
    assert caught.value.code == "rackspace-no-endpoint"
    assert "LON" in caught.value.message and "DFW" in caught.value.message


def test_wrong_credentials(rax: Emulator) -> None:
    wrong = client(rax, creds=Credentials(rax.username, "not-the-key-" + "x" * 20, rax.identity_url))
    with pytest.raises(ProviderError) as caught:
        balancer(rax, api=wrong).details()
    assert caught.value.code == "rackspace-unauthorized"
    assert "RACKSPACE_API_KEY" in (caught.value.hint or "")
    assert "not-the-key" not in caught.value.message and rax.username not in caught.value.message
    assert rax.writes() == []


def test_an_expired_token_is_renewed_once_on_401(rax: Emulator) -> None:
    api = client(rax)
    lb = balancer(rax, api=api)
    lb.details()
    rax.expire_tokens()
    assert lb.details().status == "ACTIVE"
    assert api.authentications == 2
    assert [r.status for r in rax.requests_matching("GET", LB_PATH)] == [200, 401, 200]


def test_a_second_401_is_not_retried(rax: Emulator) -> None:
    api = client(rax)
    lb = balancer(rax, api=api)
    lb.details()
    rax.fail_next("GET", LB_PATH, 401, times=2)
    with pytest.raises(ProviderError) as caught:
        lb.details()
    assert caught.value.code == "rackspace-unauthorized" and not caught.value.retryable
    assert api.authentications == 2  # renewed once, not again
    assert [r.status for r in rax.requests_matching("GET", LB_PATH)] == [200, 401, 401]


def test_a_token_about_to_expire_is_renewed_before_use(rax: Emulator) -> None:
    rax.token_lifetime = 3600.0
    api = client(rax)
    balancer(rax, api=api).details()
    rax.token_lifetime = 86400.0
    api.wall = lambda: time.time() + 3600 - 30  # half a minute before the first token expires
    balancer(rax, api=api).details()
    assert api.authentications == 2
    assert 401 not in [r.status for r in rax.requests]


def test_identity_over_plain_http_is_for_loopback_only() -> None:
    with pytest.raises(ProviderError) as caught:
        Credentials.from_env({"rackspace_username": "u", "rackspace_api_key": "k",
                              "rackspace_identity_url": "http://identity.example.test/v2.0"})
    assert caught.value.code == "rackspace-bad-url"
    assert Credentials.from_env({"rackspace_username": "u", "rackspace_api_key": "k"}).tokens_url == \
        "https://identity.api.rackspacecloud.com/v2.0/tokens"


def test_no_credentials_is_a_clear_error_on_first_use_only(rax: Emulator, tmp_path: object) -> None:
    made = create("legacy", {"lb_id": LB_ID, "region": REGION}, tmp_path, {})  # type: ignore[arg-type]
    assert made.scope == f"rackspace:{REGION}:{LB_ID}"
    with pytest.raises(ProviderError) as caught:
        made.observe()
    assert caught.value.code == "rackspace-no-credentials" and "RACKSPACE_USERNAME" in caught.value.message


# -- 413 and Retry-After ---------------------------------------------------------------------------------------------


def test_retry_after_takes_seconds_and_http_dates() -> None:
    now = time.time()
    assert retry_after("3", now) == 3.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 5))
    assert 3.5 < (retry_after(date, now) or 0) <= 5.0
    assert retry_after("soon", now) is None and retry_after(None, now) is None


@pytest.mark.parametrize("header", ["seconds", "http-date"])
def test_413_retry_after_is_honoured(rax: Emulator, header: str) -> None:
    lb = balancer(rax)
    lb.details()
    when = "1" if header == "seconds" else time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2))
    rax.fail_next("PUT", LB_PATH, 413, headers={"Retry-After": when})
    started = time.monotonic()
    rename(lb, "renamed")
    assert time.monotonic() - started >= 0.9
    assert [r.status for r in rax.requests_matching("PUT", LB_PATH)] == [413, 202]
    assert rax.load_balancer(LB_ID).name == "renamed"


def test_a_retry_after_beyond_the_wait_goes_to_the_engine(rax: Emulator) -> None:
    lb = balancer(rax, replace(FAST, max_wait=2.0))
    rax.fail_next("GET", LB_PATH, 413, headers={"Retry-After": "30"})
    with pytest.raises(ProviderError) as caught:
        lb.details()
    assert caught.value.code == "rackspace-over-limit"
    assert caught.value.retryable and caught.value.retry_after == 30.0
    assert "legacy" in caught.value.message and "413" in caught.value.message


def test_an_absolute_limit_is_not_waited_for(rax: Emulator) -> None:
    lb = balancer(rax)
    rax.fail_next("GET", LB_PATH, 413, body={"message": "Certificate mapping limit reached.", "code": 413})
    with pytest.raises(ProviderError) as caught:
        lb.details()
    assert not caught.value.retryable and caught.value.retry_after is None
    assert "limit reached" in caught.value.message


def test_the_pacer_keeps_under_the_rate_limit() -> None:
    with running_emulator(pending_seconds=0.0, rate_limits=[RateLimit("GET", 4, "SECOND")]) as rax:
        rax.add_load_balancer(LB_ID, REGION)
        paced = balancer(rax, api=client(rax, pacer=Pacer({"GET": 4})))
        for _ in range(10):
            paced.details()
        assert 413 not in [r.status for r in rax.requests]
        rax.reset_rate_limits()
        rax.clear_requests()
        unpaced = balancer(rax, api=client(rax, pacer=Pacer({})))
        for _ in range(10):  # over the limit: 413s, each waited out, every read answered in the end
            assert unpaced.details().status == "ACTIVE"
        statuses = [r.status for r in rax.requests_matching("GET")]
        assert 413 in statuses and statuses.count(200) == 10


# -- 422 immutable, waits for ACTIVE ---------------------------------------------------------------------------------


def release_after_first_refusal(rax: Emulator) -> threading.Thread:
    """Keeps the load balancer PENDING_UPDATE (another client's change) until a PUT has been refused, then
    ends that change: the order of events does not depend on how fast this machine is."""
    rax.set_status(LB_ID, "PENDING_UPDATE")

    def release() -> None:
        deadline = time.monotonic() + 20
        while not rax.requests_matching("PUT", LB_PATH) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # while ours waits, still PENDING_UPDATE
        rax.set_status(LB_ID, "ACTIVE")

    thread = threading.Thread(target=release)
    thread.start()
    return thread


def test_a_change_waits_while_another_client_has_it_pending(rax: Emulator) -> None:
    # a poll interval long enough that the status board's last reading (ACTIVE, after our first change) is
    # still fresh when the 422 comes: it predates the refusal, so it must not count
    ours = balancer(rax, Waits(max_wait=20.0, first_poll=1.0, max_poll=1.0))
    rename(ours, "first")  # ours saw it ACTIVE after its own change: it sends the next one without a read
    rax.clear_requests()
    releaser = release_after_first_refusal(rax)
    rename(ours, "second")
    releaser.join(timeout=30)
    puts = [r.status for r in rax.requests_matching("PUT", LB_PATH)]
    assert puts == [422, 202]  # immutable while PENDING_UPDATE, then sent again once ACTIVE, not before
    assert rax.load_balancer(LB_ID).name == "second"


def test_a_change_waits_for_active_before_it_is_sent(rax: Emulator) -> None:
    lb = balancer(rax)  # has read nothing yet: reads the status before sending
    rax.set_status(LB_ID, "PENDING_UPDATE")  # another client's change, ended once ours has polled twice
    rax.clear_requests()

    def release() -> None:
        deadline = time.monotonic() + 20
        while rax.count("GET", r"/loadbalancers") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        rax.set_status(LB_ID, "ACTIVE")

    releaser = threading.Thread(target=release)
    releaser.start()
    rename(lb, "ours")
    releaser.join(timeout=30)
    log = [(r.method, r.status) for r in rax.requests if "/v1.0/" in r.path]
    assert log[0] == ("GET", 200) and ("PUT", 422) not in log
    assert log.index(("PUT", 202)) >= 2  # polled at least twice (PENDING_UPDATE, then ACTIVE) before sending


def test_an_injected_immutable_422_is_sent_again(rax: Emulator) -> None:
    lb = balancer(rax)
    rax.fail_next("PUT", LB_PATH, 422)  # the docs' body: "... is immutable and cannot be overwritten."
    rename(lb, "again")
    assert [r.status for r in rax.requests_matching("PUT", LB_PATH)] == [422, 202]


def test_another_422_is_not_retried(rax: Emulator) -> None:
    lb = balancer(rax)
    rax.fail_next("PUT", LB_PATH, 422, body={"message": "Duplicate host name detected.", "code": 422})
    with pytest.raises(ProviderError) as caught:
        rename(lb, "dup")
    assert caught.value.code == "rackspace-unprocessable" and "Duplicate host name" in caught.value.message
    assert rax.count("PUT", LB_PATH) == 1


def test_the_wait_is_bounded_in_time_and_names_the_last_status(rax: Emulator) -> None:
    rax.set_status(LB_ID, "PENDING_UPDATE")  # never ends
    lb = balancer(rax, replace(FAST, max_wait=1.0))
    started = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        rename(lb, "never")
    assert 0.9 <= time.monotonic() - started < 5
    assert caught.value.code == "rackspace-timeout"
    assert "legacy (Rackspace DFW load balancer 123456)" in caught.value.message
    assert "PENDING_UPDATE" in caught.value.message and "RACKSPACE_MAX_WAIT" in (caught.value.hint or "")
    assert rax.writes() == []


def test_the_wait_is_bounded_in_polls(rax: Emulator) -> None:
    rax.set_status(LB_ID, "PENDING_UPDATE")
    lb = balancer(rax, Waits(max_wait=300.0, first_poll=0.01, max_poll=0.01, max_polls=5))
    with pytest.raises(ProviderError) as caught:
        lb.wait_active(Budget(lb.waits, time.monotonic, time.sleep), "waiting")
    assert caught.value.code == "rackspace-timeout"
    assert rax.count("GET", r"/loadbalancers$") == 6  # the first read, then one per poll (the account's board)


def test_load_balancers_waiting_together_share_their_polls(rax: Emulator) -> None:
    for lb_id in range(1, 6):
        rax.add_load_balancer(lb_id, REGION)
        rax.set_status(lb_id, "PENDING_UPDATE")  # each busy with a change, until the first poll has seen it
    api = client(rax)
    # polls a second apart: a list read by one is fresh for the others waiting (half a poll), however the five
    # threads are scheduled on a busy machine
    slow = Waits(max_wait=20.0, first_poll=1.0, max_poll=1.0)
    waiting = [Balancer(api, REGION, lb_id, f"lb{lb_id}", slow) for lb_id in range(1, 6)]
    rax.clear_requests()

    def changes_end() -> None:
        deadline = time.monotonic() + 20
        while not rax.count("GET", r"/loadbalancers$") and time.monotonic() < deadline:
            time.sleep(0.01)
        for lb_id in range(1, 6):
            rax.set_status(lb_id, "ACTIVE")

    threads = [threading.Thread(target=lb.wait_active, args=(Budget(lb.waits, time.monotonic, time.sleep), "w"))
               for lb in waiting] + [threading.Thread(target=changes_end)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    polls = rax.count("GET", r"/loadbalancers$")
    assert all(lb._settled for lb in waiting)  # every one saw ACTIVE
    assert 2 <= polls <= 4 and rax.count("GET") == polls  # a few lists for all five (not 10), no read of each


def test_a_change_that_ends_in_error_says_so(rax: Emulator) -> None:
    lb = balancer(rax)
    rax.fail_next_update(LB_ID, "ERROR")
    with pytest.raises(ProviderError) as caught:
        rename(lb, "broken")
    assert caught.value.code == "rackspace-lb-error" and "ERROR" in caught.value.message
    assert "legacy" in caught.value.message and not caught.value.retryable


def test_a_suspended_load_balancer_gets_no_change(rax: Emulator) -> None:
    rax.set_status(LB_ID, "SUSPENDED")
    with pytest.raises(ProviderError) as caught:
        rename(balancer(rax), "nope")
    assert caught.value.code == "rackspace-lb-status" and "SUSPENDED" in caught.value.message
    assert rax.writes() == []


def test_5xx_and_no_answer_are_retryable(rax: Emulator) -> None:
    lb = balancer(rax)
    rax.fail_next("GET", LB_PATH, 503)
    with pytest.raises(ProviderError) as caught:
        lb.details()
    assert caught.value.retryable and "503" in caught.value.message
    closed = Credentials(rax.username, rax.api_key, "http://127.0.0.1:9/v2.0")  # the discard port: refused
    with pytest.raises(ProviderError) as caught:
        balancer(rax, api=client(rax, creds=closed)).details()
    assert caught.value.code == "rackspace-unreachable" and caught.value.retryable


# -- options and settings --------------------------------------------------------------------------------------------


def test_options_are_strict() -> None:
    assert validate({"lb_id": "123456", "region": "dfw"}) == {"lb_id": 123456, "region": "DFW"}
    assert validate({"lb_id": 7, "region": "HKG"}) == {"lb_id": 7, "region": "HKG"}
    for bad in ({"lb_id": "abc", "region": "DFW"}, {"lb_id": "0", "region": "DFW"}, {"lb_id": "0123", "region": "DFW"},
                {"lb_id": True, "region": "DFW"}, {"lb_id": "1", "region": "XYZ"}, {"lb_id": "1"}, {"region": "DFW"},
                {"lb_id": "1", "region": "DFW", "name": "x"}, {"lb_id": "9" * 11, "region": "DFW"}):
        with pytest.raises(InputError):
            validate(bad)


def test_max_wait_setting() -> None:
    assert waits_from({}).max_wait == 600.0
    assert waits_from({"rackspace_max_wait": "5"}).max_wait == 5.0
    for bad in ("0", "-1", "nan", "soon", "1e9"):
        with pytest.raises(InputError):
            waits_from({"rackspace_max_wait": bad})


def test_settings_hand_credentials_to_providers_and_never_show_them(tmp_path: object) -> None:
    settings = from_environment({"SSLTERM_HOME": str(tmp_path), "RACKSPACE_USERNAME": "user",
                                 "RACKSPACE_API_KEY": "s3cr3t-api-key", "RACKSPACE_IDENTITY_URL": "https://id.test/v2.0"})
    assert settings.provider_env()["rackspace_api_key"] == "s3cr3t-api-key"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in repr(Credentials("u", "s3cr3t"))
    assert "rackspace_api_key" not in Settings(home=settings.home).provider_env()


# -- no credential or key anywhere it could leak ---------------------------------------------------------------------


def test_credentials_and_keys_never_reach_logs_or_messages(rax: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ca = DemoCA("no leaks")
    shop, api = slot(ca, "shop"), slot(ca, "api")
    made = provider(rax)
    made.start()
    made.bind(listener(shop, api, redirect=True), {})
    made.verify(listener(shop, api, redirect=True))
    rax.expire_tokens()
    made.unbind(443)
    messages = []
    for status in (400, 401, 413, 422, 500, 503):
        rax.fail_next("GET", LB_PATH, status, times=2)
        with pytest.raises(ProviderError) as caught:
            provider(rax, waits=replace(FAST, max_wait=0.5)).observe()
        messages += [caught.value.message, caught.value.hint or "", repr(caught.value)]
    bundles = [s.material.bundle() for s in (shop, api) if s.material]
    texts = [r.getMessage() for r in caplog.records] + messages + [repr(made), repr(made.lb.client), repr(rax.requests)]
    assert_no_secrets(texts, rax, *bundles)
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log: and nothing secret
    assert {"<redacted>"} >= {r.body["certificateMapping"]["privateKey"] for r in rax.requests  # type: ignore[index]
                               if r.method == "POST" and "certificatemappings" in r.path}
    assert env_of(rax)["rackspace_api_key"] == rax.api_key and credentials(rax).api_key not in repr(credentials(rax))
