"""The Rackspace emulator's own tests: the published behaviours a Rackspace provider relies on, over real HTTP."""

from __future__ import annotations

import contextlib
import email.utils
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from emulator import (
    KEY_MISMATCH,
    MUST_SUPPLY,
    MUST_SUPPLY_CERT_KEY,
    RSA_ONLY,
    SSL_NOT_FOUND,
    Emulator,
    RateLimit,
    running_emulator,
)

from sslterm.demo.ca import DemoCA, Issued, new_key

PENDING = 0.1
LB = 100


# -- certificates (RSA leaves: the API refuses ECDSA keys) ----------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    cert: str
    key: str
    chain: str
    fingerprint: str


def bundle(issued: Issued, *, traditional: bool = False) -> Bundle:
    key_format = serialization.PrivateFormat.TraditionalOpenSSL if traditional else serialization.PrivateFormat.PKCS8
    key = issued.key.private_bytes(serialization.Encoding.PEM, key_format, serialization.NoEncryption())
    return Bundle(issued.cert_pem().decode(), key.decode(), issued.chain_pem().decode(),
                  issued.cert.fingerprint(hashes.SHA256()).hex())


@dataclass(frozen=True)
class Certs:
    site: Bundle
    other: Bundle
    ec: Bundle
    expired: Bundle


@pytest.fixture(scope="module")
def certs() -> Certs:
    ca = DemoCA("rackspace emulator test")
    rsa_key = new_key("rsa")
    long_ago = datetime.now(UTC) - timedelta(days=400)
    return Certs(
        site=bundle(ca.issue("www.example.test", key=rsa_key), traditional=True),
        other=bundle(ca.issue("other.example.test", key_kind="rsa")),
        ec=bundle(ca.issue("ec.example.test")),
        expired=bundle(ca.issue("old.example.test", key=rsa_key, start=long_ago, days=30)),
    )


# -- a minimal client -----------------------------------------------------------------------------------------------


class Client:
    """Authenticates like a real client: POST /v2.0/tokens, then the catalog's publicURL for the region."""

    def __init__(self, rax: Emulator, region: str = "ORD") -> None:
        self.rax = rax
        self.http = httpx.Client(timeout=5.0, headers={"Accept": "application/json"})
        reply = self.http.post(rax.auth_url, json=rax.credentials_body())
        assert reply.status_code == 200, reply.text
        access = reply.json()["access"]
        self.token: str = access["token"]["id"]
        (entry,) = [e for e in access["serviceCatalog"]
                    if e["name"] == "cloudLoadBalancers" and e["type"] == "rax:load-balancer"]
        (self.endpoint,) = [e["publicURL"] for e in entry["endpoints"] if e["region"] == region]

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        return f"{self.endpoint}/loadbalancers/{LB}{path}"

    def request(self, method: str, path: str = "", body: object = None) -> httpx.Response:
        return self.http.request(method, self.url(path), json=body, headers={"X-Auth-Token": self.token})

    def get(self, path: str = "") -> httpx.Response:
        return self.request("GET", path)

    def status(self) -> str:
        status: str = self.get().json()["loadBalancer"]["status"]
        return status

    def wait_active(self, timeout: float = 3.0) -> None:
        """Polls like the docs say (every 5-10 s there; every 20 ms here), bounded in time and count."""
        deadline = time.monotonic() + timeout
        for _ in range(500):
            if self.status() == "ACTIVE":
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        raise AssertionError(f"load balancer {LB} not ACTIVE within {timeout} s")

    def put_ssl(self, b: Bundle, extra: Mapping[str, object] | None = None, *, chain: bool = True) -> httpx.Response:
        body: dict[str, object] = {"certificate": b.cert, "privatekey": b.key, "securePort": 443}
        if chain:
            body["intermediateCertificate"] = b.chain
        body.update(extra or {})
        return self.request("PUT", "/ssltermination", {"sslTermination": body})

    def configure(self, b: Bundle, extra: Mapping[str, object] | None = None, *, chain: bool = True) -> None:
        reply = self.put_ssl(b, extra, chain=chain)
        assert reply.status_code == 200, reply.text
        self.wait_active()

    def add_mapping(self, host: str, b: Bundle) -> httpx.Response:
        return self.request("POST", "/ssltermination/certificatemappings", {"certificateMapping": {
            "hostName": host, "certificate": b.cert, "privateKey": b.key, "intermediateCertificate": b.chain}})


@pytest.fixture
def rax() -> Iterator[Emulator]:
    with running_emulator(pending_seconds=PENDING) as emulator:
        emulator.add_load_balancer(LB, "ORD", name="web")
        yield emulator


@pytest.fixture
def client(rax: Emulator) -> Iterator[Client]:
    with Client(rax) as c:
        yield c


def no_key_material(text: str, *bundles: Bundle) -> None:
    assert "PRIVATE KEY" not in text
    for b in bundles:
        body_lines = [line for line in b.key.splitlines() if line and not line.startswith("-----")]
        assert not any(line in text for line in body_lines)


# -- identity and endpoints -----------------------------------------------------------------------------------------


def test_runs_on_loopback_and_stops_on_exit() -> None:
    with running_emulator() as emulator:
        assert emulator.base_url.startswith("http://127.0.0.1:")
        assert emulator.running
        url = emulator.auth_url
    assert not emulator.running
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, json={}, timeout=2.0)


def test_auth_gives_token_and_catalog(rax: Emulator) -> None:
    reply = httpx.post(rax.auth_url, json=rax.credentials_body())
    assert reply.status_code == 200
    access = reply.json()["access"]
    token = access["token"]
    assert token["id"] and token["tenant"] == {"id": rax.tenant_id, "name": rax.tenant_id}
    expires = datetime.strptime(token["expires"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert expires > datetime.now(UTC) + timedelta(hours=23)
    (entry,) = [e for e in access["serviceCatalog"] if e["type"] == "rax:load-balancer"]
    assert entry["name"] == "cloudLoadBalancers"
    regions = {e["region"]: e for e in entry["endpoints"]}
    assert set(regions) == {"DFW", "ORD", "IAD", "HKG", "SYD"}
    assert regions["ORD"]["publicURL"] == rax.endpoint("ORD")
    assert regions["ORD"]["publicURL"].startswith(rax.base_url) and regions["ORD"]["tenantId"] == rax.tenant_id
    lb = httpx.get(f"{regions['ORD']['publicURL']}/loadbalancers/{LB}", headers={"X-Auth-Token": token["id"]})
    assert lb.status_code == 200
    # The same LB is not in another region's endpoint.
    elsewhere = httpx.get(f"{regions['DFW']['publicURL']}/loadbalancers/{LB}", headers={"X-Auth-Token": token["id"]})
    assert elsewhere.status_code == 404 and elsewhere.json() == {"message": "Load balancer not found", "code": 404}


def test_wrong_credentials_and_bad_body(rax: Emulator) -> None:
    wrong = httpx.post(rax.auth_url, json={"auth": {"RAX-KSKEY:apiKeyCredentials": {
        "username": rax.username, "apiKey": "not-the-key"}}})
    assert wrong.status_code == 401
    assert wrong.json() == {"unauthorized": {"code": 401,
                                             "message": "Unable to authenticate user with credentials provided."}}
    bad = httpx.post(rax.auth_url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["badRequest"]["code"] == 400
    assert all(r.body is None or "not-the-key" not in str(r.body) for r in rax.requests)


def test_lb_api_needs_a_valid_token(rax: Emulator, client: Client) -> None:
    url = client.url("")
    assert httpx.get(url).status_code == 401
    unknown = httpx.get(url, headers={"X-Auth-Token": "nope"})
    assert unknown.status_code == 401 and unknown.content == b""
    assert client.get().status_code == 200
    rax.expire_tokens()
    assert client.get().status_code == 401
    with Client(rax) as renewed:
        assert renewed.get().status_code == 200
    assert rax.tokens_issued == 2


def test_tokens_expire_after_their_lifetime() -> None:
    with running_emulator(token_lifetime=0.3) as rax, Client(rax) as c:
        rax.add_load_balancer(LB)
        assert c.get().status_code == 200
        deadline = time.monotonic() + 3
        for _ in range(300):
            if c.get().status_code == 401 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert c.get().status_code == 401


# -- load balancer ---------------------------------------------------------------------------------------------------


def test_load_balancer_details(client: Client) -> None:
    lb = client.get().json()["loadBalancer"]
    assert lb["id"] == LB and lb["name"] == "web" and lb["protocol"] == "HTTP" and lb["port"] == 80
    assert lb["status"] == "ACTIVE" and lb["httpsRedirect"] is False
    assert lb["virtualIps"][0]["type"] == "PUBLIC" and lb["nodes"][0]["port"] == 80
    missing = client.http.get(f"{client.endpoint}/loadbalancers/999", headers={"X-Auth-Token": client.token})
    assert missing.status_code == 404


def test_put_load_balancer_is_validated(client: Client) -> None:
    unknown = client.request("PUT", "", {"loadBalancer": {"sslTermination2": True}})
    assert unknown.status_code == 400 and unknown.json() == {"message": ["JSON does not match the expected schema"]}
    readonly = client.request("PUT", "", {"loadBalancer": {"status": "ACTIVE"}})
    assert readonly.status_code == 400
    assert readonly.json()["validationErrors"]["messages"][0] == "Load balancer status field cannot be modified."
    redirect = client.request("PUT", "", {"loadBalancer": {"httpsRedirect": True}})
    assert redirect.status_code == 400 and "'Secure Only' SSL Termination" in redirect.json()["message"]
    assert client.status() == "ACTIVE"
    renamed = client.request("PUT", "", {"loadBalancer": {"name": "web2"}})
    assert renamed.status_code == 202 and renamed.content == b""
    assert client.status() == "PENDING_UPDATE"


# -- ssltermination ---------------------------------------------------------------------------------------------------


def test_put_then_pending_update_then_active(rax: Emulator, client: Client, certs: Certs) -> None:
    assert client.get("/ssltermination").json() == {"message": SSL_NOT_FOUND, "code": 404}
    reply = client.put_ssl(certs.site)
    assert reply.status_code == 200
    body = reply.json()["sslTermination"]
    assert body["securePort"] == 443 and body["enabled"] is True and body["secureTrafficOnly"] is False
    assert body["cipherProfile"] == "default"
    assert {p["securityProtocolName"] for p in body["securityProtocols"]} == {"TLS_10", "TLS_11"}
    assert client.status() == "PENDING_UPDATE"

    again = client.put_ssl(certs.site)
    assert again.status_code == 422
    assert again.json() == {"code": 422, "message": (
        f"Load Balancer '{LB}' has a status of 'PENDING_UPDATE' and is considered immutable.")}

    client.wait_active()
    stored = client.get("/ssltermination").json()["sslTermination"]
    served = x509.load_pem_x509_certificate(stored["certificate"].encode())
    assert served.fingerprint(hashes.SHA256()).hex() == certs.site.fingerprint
    assert stored["intermediateCertificate"] == certs.site.chain
    assert rax.ssl_termination(LB) is not None and rax.ssl_termination(LB).private_key == certs.site.key  # type: ignore[union-attr]


def test_atlas_status_codes_option(certs: Certs) -> None:
    with running_emulator(pending_seconds=0.0, atlas_status_codes=True) as rax, Client(rax) as c:
        rax.add_load_balancer(LB)
        assert c.put_ssl(certs.site).status_code == 202
        assert c.request("DELETE", "/ssltermination").status_code == 202


def test_private_key_is_never_served_nor_logged(rax: Emulator, client: Client, certs: Certs) -> None:
    put = client.put_ssl(certs.site)
    client.wait_active()
    mapping = client.add_mapping("api.example.test", certs.other)
    client.wait_active()
    mapping_id = mapping.json()["certificateMapping"]["id"]
    texts = [put.text, mapping.text, client.get("/ssltermination").text,
             client.get("/ssltermination/certificatemappings").text,
             client.get(f"/ssltermination/certificatemappings/{mapping_id}").text]
    for text in texts:
        no_key_material(text, certs.site, certs.other)
    logged = repr(rax.requests)
    no_key_material(logged, certs.site, certs.other)
    assert logged.count("<redacted>") >= 2
    assert "privatekey" not in client.get("/ssltermination").json()["sslTermination"]


def test_rsa_only(rax: Emulator, client: Client, certs: Certs) -> None:
    reply = client.put_ssl(certs.ec)
    assert reply.status_code == 400
    assert reply.json()["message"] == "Validation Failure"
    assert RSA_ONLY in reply.json()["validationErrors"]["messages"]
    assert client.status() == "ACTIVE" and rax.ssl_termination(LB) is None


def test_key_must_match_certificate(client: Client, certs: Certs) -> None:
    mismatched = {"certificate": certs.site.cert, "privatekey": certs.other.key, "securePort": 443}
    reply = client.request("PUT", "/ssltermination", {"sslTermination": mismatched})
    assert reply.status_code == 400 and KEY_MISMATCH in reply.json()["validationErrors"]["messages"]


def test_expired_certificate_is_accepted_like_atlas(client: Client, certs: Certs) -> None:
    """Atlas flags expiry as non-fatal: a client must check dates itself."""
    assert client.put_ssl(certs.expired, chain=False).status_code == 200


def test_broken_chain_is_refused(client: Client, certs: Certs) -> None:
    garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    reply = client.put_ssl(certs.site, {"intermediateCertificate": garbage})
    assert reply.status_code == 400
    assert reply.json()["validationErrors"]["messages"] == ["Empty object at line starting at line 1"]


def test_secure_port_must_differ_from_lb_port(client: Client, certs: Certs) -> None:
    reply = client.put_ssl(certs.site, {"securePort": 80})
    assert reply.status_code == 400
    assert reply.json() == {"message": "Secure port: '80'  must be unique  Ports taken: '80'", "code": 400}


def test_request_shape_rules(client: Client, certs: Certs) -> None:
    def messages(body: dict[str, object]) -> list[str]:
        reply = client.request("PUT", "/ssltermination", {"sslTermination": body})
        assert reply.status_code == 400, reply.text
        found: list[str] = reply.json()["validationErrors"]["messages"]
        return found

    assert MUST_SUPPLY_CERT_KEY in messages({"certificate": certs.site.cert, "securePort": 443})
    assert messages({"certificate": certs.site.cert, "privatekey": certs.site.key}) == [MUST_SUPPLY]
    assert MUST_SUPPLY_CERT_KEY in messages({"intermediateCertificate": certs.site.chain, "securePort": 443})
    assert messages({}) == [MUST_SUPPLY]
    dup = [{"securityProtocolName": "TLS_10", "securityProtocolStatus": "DISABLED"}] * 2
    assert "Found duplicate Security protocols." in messages({"securityProtocols": dup})
    # Termination spells it "privatekey"; "privateKey" (the mappings' spelling) is outside the schema.
    wrong_case = client.request("PUT", "/ssltermination", {"sslTermination": {
        "certificate": certs.site.cert, "privateKey": certs.site.key, "securePort": 443}})
    assert wrong_case.status_code == 400 and "validationErrors" not in wrong_case.json()
    no_termination = client.request("PUT", "/ssltermination", {"sslTermination": {"enabled": True}})
    assert no_termination.status_code == 400
    assert client.status() == "ACTIVE"


def test_attribute_updates_keep_the_certificate(rax: Emulator, client: Client, certs: Certs) -> None:
    client.configure(certs.site, {"secureTrafficOnly": True})
    reply = client.request("PUT", "/ssltermination", {"sslTermination": {"enabled": "false",
                                                                           "secureTrafficOnly": True}})
    assert reply.status_code == 200
    client.wait_active()
    stored = rax.ssl_termination(LB)
    assert stored is not None and stored.certificate == certs.site.cert and stored.private_key == certs.site.key
    assert stored.enabled is False and stored.secure_traffic_only is False  # dropped while disabled, as in Atlas
    # A new certificate without a chain drops the stored chain.
    client.configure(certs.other, chain=False)
    stored = rax.ssl_termination(LB)
    assert stored is not None and stored.certificate == certs.other.cert and stored.intermediate_certificate is None


def test_https_redirect_needs_secure_only_termination_on_443(rax: Emulator, client: Client, certs: Certs) -> None:
    client.configure(certs.site)
    mixed = client.request("PUT", "", {"loadBalancer": {"httpsRedirect": True}})
    assert mixed.status_code == 400
    client.request("PUT", "/ssltermination", {"sslTermination": {"secureTrafficOnly": True}})
    client.wait_active()
    assert client.request("PUT", "", {"loadBalancer": {"httpsRedirect": True}}).status_code == 202
    client.wait_active()
    assert client.get().json()["loadBalancer"]["httpsRedirect"] is True
    blocked = client.request("DELETE", "/ssltermination")
    assert blocked.status_code == 400 and "HTTPS Redirect is enabled" in blocked.json()["message"]
    mixed_again = client.request("PUT", "/ssltermination", {"sslTermination": {"secureTrafficOnly": False}})
    assert mixed_again.status_code == 400 and "mixed-mode" in mixed_again.json()["message"]


# -- certificate mappings ---------------------------------------------------------------------------------------------


def test_mappings_need_ssltermination(client: Client, certs: Certs) -> None:
    assert client.get("/ssltermination/certificatemappings").json() == {"message": SSL_NOT_FOUND, "code": 404}
    assert client.add_mapping("api.example.test", certs.other).status_code == 404


def test_mapping_crud(rax: Emulator, client: Client, certs: Certs) -> None:
    client.configure(certs.site)
    created = client.add_mapping("api.example.test", certs.other)
    assert created.status_code == 202
    mapping = created.json()["certificateMapping"]
    assert set(mapping) == {"id", "hostName", "certificate", "intermediateCertificate"}
    assert client.status() == "PENDING_UPDATE"
    client.wait_active()
    listed = client.get("/ssltermination/certificatemappings").json()
    assert listed == {"certificateMappings": [{"certificateMapping": {"id": mapping["id"],
                                                                      "hostName": "api.example.test"}}]}
    path = f"/ssltermination/certificatemappings/{mapping['id']}"
    changed = client.request("PUT", path, {"certificateMapping": {"hostName": "*.example.test"}})
    assert changed.status_code == 202 and changed.content == b""
    client.wait_active()
    assert client.get(path).json()["certificateMapping"]["hostName"] == "*.example.test"
    assert client.request("DELETE", path).status_code == 202
    assert client.get(path).status_code == 200  # removed when the load balancer settles
    client.wait_active()
    assert client.get(path).status_code == 404
    assert rax.certificate_mappings(LB) == []


def test_mapping_key_must_match(client: Client, certs: Certs) -> None:
    client.configure(certs.site)
    reply = client.request("POST", "/ssltermination/certificatemappings", {"certificateMapping": {
        "hostName": "api.example.test", "certificate": certs.other.cert, "privateKey": certs.site.key}})
    assert reply.status_code == 400 and reply.json() == {"message": KEY_MISMATCH, "code": 400}
    ec = client.add_mapping("ec.example.test", certs.ec)
    assert ec.status_code == 400
    assert "Private key is invalid. Please provide a valid private key." in ec.json()["validationErrors"]["messages"]


def test_twenty_mappings_at_most(certs: Certs) -> None:
    with running_emulator(pending_seconds=0.0) as rax, Client(rax) as c:
        rax.add_load_balancer(LB)
        c.configure(certs.site)
        for n in range(20):
            assert c.add_mapping(f"h{n}.example.test", certs.other).status_code == 202
        over = c.add_mapping("h20.example.test", certs.other)
        assert over.status_code == 413 and "retry-after" not in over.headers
        assert over.json() == {"code": 413, "message": (
            "Certificate mapping limit reached. Limit is set to '20'. Please contact support if you would like to "
            "increase your limit.")}
        assert len(rax.certificate_mappings(LB)) == 20


def test_host_names_are_unique(client: Client, certs: Certs) -> None:
    client.configure(certs.site)
    first = client.add_mapping("api.example.test", certs.other)
    client.wait_active()
    duplicate = client.add_mapping("api.example.test", certs.site)
    assert duplicate.status_code == 422  # a 422 that is not "immutable": the message tells them apart
    assert duplicate.json() == {"code": 422, "message": (
        f"Duplicate host name detected. Certificate mapping with id '{first.json()['certificateMapping']['id']}' "
        "has already configured the host name provided.")}


def test_delete_ssltermination_removes_mappings(rax: Emulator, client: Client, certs: Certs) -> None:
    client.configure(certs.site)
    assert client.add_mapping("api.example.test", certs.other).status_code == 202
    client.wait_active()
    deleted = client.request("DELETE", "/ssltermination")
    assert deleted.status_code == 200 and deleted.content == b""
    assert client.status() == "PENDING_UPDATE"
    client.wait_active()
    assert client.get("/ssltermination").status_code == 404
    assert client.get("/ssltermination/certificatemappings").status_code == 404
    assert rax.ssl_termination(LB) is None and rax.certificate_mappings(LB) == []
    again = client.request("DELETE", "/ssltermination")
    assert again.status_code == 400


# -- limits, faults and the request log -------------------------------------------------------------------------------


def test_rate_limit_413_with_retry_after(certs: Certs) -> None:
    with running_emulator(rate_limits=[RateLimit("GET", 3, "SECOND")]) as rax, Client(rax) as c:
        rax.add_load_balancer(LB)
        statuses = [c.get().status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 413]
        over = c.get()
        assert over.status_code == 413
        retry_at = email.utils.parsedate_to_datetime(over.headers["Retry-After"])
        assert datetime.now(UTC) - timedelta(seconds=1) < retry_at <= datetime.now(UTC) + timedelta(seconds=2)
        body = over.json()["overLimit"]
        assert body["code"] == 413 and body["message"] == "OverLimit Retry..." and body["retryAfter"]
        assert c.put_ssl(certs.site).status_code == 200  # only GET is limited here
        limits = c.http.get(f"{c.endpoint}/limits", headers={"X-Auth-Token": c.token})
        assert limits.status_code == 413
        rax.reset_rate_limits()
        assert c.get().status_code == 200


def test_absolute_limits(client: Client) -> None:
    reply = client.http.get(f"{client.endpoint}/loadbalancers/absolutelimits", headers={"X-Auth-Token": client.token})
    assert {"name": "CERTIFICATE_MAPPING_LIMIT", "value": 20} in reply.json()["absolute"]


def test_fail_next_and_request_log(rax: Emulator, client: Client, certs: Certs) -> None:
    rax.clear_requests()
    rax.fail_next("PUT", r"/ssltermination$", 503)
    failed = client.put_ssl(certs.site)
    assert failed.status_code == 503 and failed.json()["code"] == 503
    assert rax.ssl_termination(LB) is None and client.status() == "ACTIVE"
    assert client.put_ssl(certs.site).status_code == 200
    puts = rax.requests_matching("PUT", r"/ssltermination$")
    assert [(r.status, r.injected) for r in puts] == [(503, True), (200, False)]
    assert all(r.body["sslTermination"]["privatekey"] == "<redacted>" for r in puts)  # type: ignore[index]
    assert len(rax.writes()) == 2 and rax.count("GET") >= 1
    rax.fail_next("*", r"/loadbalancers/", 401)
    assert client.get().status_code == 401
    assert client.get().status_code == 200


def test_fail_next_update_ends_in_error(rax: Emulator, client: Client, certs: Certs) -> None:
    rax.fail_next_update(LB)
    assert client.put_ssl(certs.site).status_code == 200
    deadline = time.monotonic() + 3
    for _ in range(300):
        if client.status() != "PENDING_UPDATE" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert client.status() == "ERROR"
    refused = client.put_ssl(certs.site)
    assert refused.status_code == 422 and "'ERROR'" in refused.json()["message"]


def test_no_write_calls_are_visible(rax: Emulator, client: Client) -> None:
    client.get()
    client.get("/ssltermination")
    assert rax.writes() == []


def test_concurrent_mutations_only_one_accepted(rax: Emulator, certs: Certs) -> None:
    rax.pending_seconds = 30.0  # long enough that no thread can arrive after the load balancer settles
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(Client(rax)) for _ in range(4)]
        results = _put_concurrently(clients, certs.site)
    assert sorted(results) == [200, 422, 422, 422]


def _put_concurrently(clients: list[Client], b: Bundle) -> list[int]:
    results: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(clients), timeout=5)

    def put(c: Client) -> None:
        start.wait()
        status = c.put_ssl(b).status_code
        with lock:
            results.append(status)

    threads = [threading.Thread(target=put, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return results
