"""A full session through the API (uploads by JSON and form, an encrypted key, a refused bundle, enable,
status, a replacement and a rollback while served, every listing, metrics, disable, removals), then every
response body and header searched for anything of the private keys, the key's passphrase and the API token:
none."""

from __future__ import annotations

import base64

import pytest
from apitools import TOKEN, Api
from cryptography.hazmat.primitives import serialization

from sslterm.demo.ca import Issued

pytestmark = pytest.mark.haproxy
PASSPHRASE = "Quartz-Owl-7319-passphrase"  # found nowhere else, so a hit is a leak


def key_fragments(issued: Issued) -> list[str]:
    """What would betray a key: its PEM body lines, its DER as base64 and hex, its private number."""
    pem = issued.key_pem().decode()
    der = issued.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    number = issued.key.private_numbers().private_value  # type: ignore[union-attr]
    lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return [*lines, base64.b64encode(der).decode()[:40], der.hex()[:40], format(number, "x")[:24], str(number)[:24]]


def test_no_response_of_a_whole_session_holds_key_material(api: Api) -> None:
    site, renewed, locked, other = (api.ca.issue(f"{n}.keys.api.test") for n in ("site", "site", "locked", "o"))
    api.add_cert("site", site)
    form = {"certificate": ("c.pem", other.cert_pem()), "private_key": ("k.pem", other.key_pem())}
    assert api.client.post("/api/v1/certificates", data={"name": "other"}, files=form).status_code == 201
    secret = api.cert_body("locked", locked) | {"private_key": locked.key_pem(PASSPHRASE.encode()).decode(),
                                                "passphrase": PASSPHRASE}
    assert api.client.post("/api/v1/certificates", json=secret).status_code == 201
    mismatch = api.cert_body("bad", site) | {"private_key": other.key_pem().decode()}
    assert api.client.post("/api/v1/certificates", json=mismatch).status_code == 422
    tls, _ = api.add_lb("edge")
    assert api.client.post("/api/v1/loadbalancers/edge/listeners?dry_run=true",
                           json={"certificate": "site"}).status_code == 200
    assert api.follow(api.client.post("/api/v1/loadbalancers/edge/listeners",
                                      json={"certificate": "site"}))["state"] == "verified"
    replacement = api.cert_body("site", renewed)
    del replacement["name"]
    assert api.follow(api.client.put("/api/v1/certificates/site", json=replacement))["state"] == "verified"
    assert api.follow(api.client.post("/api/v1/certificates/site/rollback", json={}))["state"] == "verified"
    for path in ("/api/v1/certificates", "/api/v1/certificates/site", "/api/v1/certificates/site/versions",
                 "/api/v1/loadbalancers", "/api/v1/loadbalancers/edge", "/api/v1/status", "/api/v1/deployments",
                 "/api/v1/audit", "/metrics", "/healthz", "/openapi.json"):
        assert api.client.get(path).status_code == 200, path
    assert api.follow(api.client.delete(f"/api/v1/loadbalancers/edge/listeners/{tls}"))["state"] == "verified"
    assert api.client.delete("/api/v1/certificates/site").status_code == 200
    assert api.client.delete("/api/v1/loadbalancers/edge").status_code == 200

    assert len(api.responses) >= 25
    # the keys, the passphrase that unlocks one, and the API token (sent with every request, never answered)
    fragments = [f for issued in (site, renewed, locked, other) for f in key_fragments(issued)] + [PASSPHRASE, TOKEN]
    assert key_fragments(site)[0] in api.cert_body("site", site)["private_key"]  # the search can find a key
    for response in api.responses:
        seen = response.text + "".join(f"{k}: {v}" for k, v in response.headers.items())
        assert "PRIVATE KEY" not in seen, response.request.url
        for fragment in fragments:
            assert fragment not in seen, (response.request.url, fragment)
