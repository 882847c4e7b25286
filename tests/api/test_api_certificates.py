"""Certificates through the API: uploads checked exactly as ``sslterm cert add`` checks them (JSON or a
multipart form, files or pasted PEM, a passphrase), findings in the error shape, versions and rollback, 404
for unknown names, pages."""

from __future__ import annotations

from apitools import Api
from cryptography.hazmat.primitives import serialization
from e2e_haproxy import fingerprint

from sslterm.demo.ca import new_key


def test_a_bad_certificate_is_refused_with_422_and_every_finding(api: Api) -> None:
    site, other = api.ca.issue("bad.api.test"), api.ca.issue("other.api.test")
    body = api.cert_body("bad", site) | {"private_key": other.key_pem().decode()}
    reply = api.client.post("/api/v1/certificates", json=body)
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "key-mismatch"
    assert {"code": "key-mismatch", "severity": "error"}.items() <= error["findings"][0].items()
    assert all(set(f) >= {"code", "severity", "message"} for f in error["findings"])

    garbage = api.client.post("/api/v1/certificates", json={"name": "junk", "certificate": "not a certificate"})
    assert garbage.status_code == 422
    assert {f["code"] for f in garbage.json()["error"]["findings"]} == {"unreadable-certificate"}
    bad_name = api.client.post("/api/v1/certificates", json=api.cert_body("no spaces allowed", site))
    assert bad_name.status_code == 422 and bad_name.json()["error"]["code"] == "invalid-name"
    assert api.client.get("/api/v1/certificates").json()["total"] == 0  # nothing stored


def test_an_encrypted_key_needs_its_passphrase_as_cert_add_does(api: Api) -> None:
    site = api.ca.issue("locked.api.test")
    locked = api.cert_body("locked", site) | {"private_key": site.key_pem(b"s3cret pass").decode()}
    refused = api.client.post("/api/v1/certificates", json=locked)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "encrypted-key"
    wrong = api.client.post("/api/v1/certificates", json=locked | {"passphrase": "nope"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "bad-passphrase"
    added = api.client.post("/api/v1/certificates", json=locked | {"passphrase": "s3cret pass\n"})  # as a file has it
    assert added.status_code == 201, added.text
    assert added.headers["location"] == "/api/v1/certificates/locked"


def test_the_upload_as_a_multipart_form_with_files_or_pasted_text(api: Api) -> None:
    site = api.ca.issue("form.api.test")
    der = site.cert.public_bytes(serialization.Encoding.DER)
    files = {"certificate": ("site.der", der), "private_key": ("site.key", site.key_pem())}
    reply = api.client.post("/api/v1/certificates", data={"name": "form", "chain": site.chain_pem().decode()},
                            files=files)
    assert reply.status_code == 201, reply.text
    assert reply.json()["fingerprint_sha256"] == fingerprint(site)
    assert reply.json()["warnings"] == []  # the chain, pasted, was taken

    mismatch = {"certificate": ("site.pem", site.cert_pem()), "private_key": ("k.pem", new_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))}
    refused = api.client.post("/api/v1/certificates", data={"name": "form2"}, files=mismatch)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "key-mismatch"
    unknown = api.client.post("/api/v1/certificates", data={"name": "x", "certificate": "y", "colour": "red"})
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]["message"]
    nameless = api.client.post("/api/v1/certificates", files={"certificate": ("site.pem", site.cert_pem())})
    assert nameless.status_code == 400 and "name" in nameless.json()["error"]["message"]


def test_replace_list_versions_and_roll_back_a_certificate_not_served(api: Api) -> None:
    first, second = api.ca.issue("v.api.test"), api.ca.issue("v.api.test")
    api.add_cert("site", first)
    taken = api.client.post("/api/v1/certificates", json=api.cert_body("site", second))
    assert taken.status_code == 422 and taken.json()["error"]["code"] == "exists"
    body = api.cert_body("site", second)
    del body["name"]
    # a job even where nothing serves it (whether something does is known only inside the change)
    replaced = api.client.put("/api/v1/certificates/site", json=body)
    assert replaced.status_code == 202
    assert replaced.headers["location"] == f"/api/v1/deployments/{replaced.json()['id']}"
    job = api.follow(replaced)
    assert job["state"] == "verified" and job["deployments"] == [] and job["error"] is None
    assert job["result"]["replaced"] == fingerprint(first) and job["result"]["redeployed"] == []
    versions = api.client.get("/api/v1/certificates/site/versions").json()
    assert [v["fingerprint_sha256"] for v in versions["items"]] == [fingerprint(second), fingerprint(first)]
    assert versions["total"] == 2 and versions["items"][0]["current"] is True

    back = api.follow(api.client.post("/api/v1/certificates/site/rollback", json={}))
    assert back["state"] == "verified" and back["result"]["fingerprint_sha256"] == fingerprint(first)
    assert back["result"]["redeployed"] == []
    assert api.client.get("/api/v1/certificates/site").json()["fingerprint_sha256"] == fingerprint(first)
    to = api.follow(api.client.post("/api/v1/certificates/site/rollback", json={"to": fingerprint(second)[:12]}))
    assert to["state"] == "verified" and to["result"]["fingerprint_sha256"] == fingerprint(second)
    unknown = api.client.post("/api/v1/certificates/site/rollback", json={"to": "00000000"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "no-version"  # before any job
    audit = api.client.get("/api/v1/audit?limit=2").json()
    # add, replace, and each rollback: the replacement it makes and the rollback itself
    assert audit["total"] == 6 and [e["action"] for e in audit["items"]] == ["cert.rollback", "cert.replace"]
    assert api.client.get("/api/v1/audit?limit=2&offset=4").json()["items"][-1]["action"] == "cert.add"


def test_unknown_names_are_404_in_the_error_shape(api: Api) -> None:
    site = api.ca.issue("nf.api.test")
    body = api.cert_body("x", site)
    del body["name"]
    for reply in (api.client.get("/api/v1/certificates/nope"), api.client.delete("/api/v1/certificates/nope"),
                  api.client.put("/api/v1/certificates/nope", json=body),
                  api.client.get("/api/v1/certificates/nope/versions"),
                  api.client.post("/api/v1/certificates/nope/rollback", json={}),
                  api.client.get("/api/v1/loadbalancers/nope"), api.client.delete("/api/v1/loadbalancers/nope"),
                  api.client.post("/api/v1/loadbalancers/nope/listeners", json={"certificate": "x"}),
                  api.client.post("/api/v1/loadbalancers/nope/listeners?dry_run=true", json={"certificate": "x"}),
                  api.client.delete("/api/v1/loadbalancers/nope/listeners/443"),
                  api.client.get("/api/v1/deployments/0123456789abcdef0123456789abcdef"),
                  api.client.get("/api/v1/status?lb=nope")):
        assert reply.status_code == 404, (reply.request.method, reply.request.url, reply.text)
        assert reply.json()["error"]["code"] == "not-found"
        assert reply.json()["error"]["hint"]


def test_lists_are_pages(api: Api) -> None:
    for name in ("e", "c", "a", "d", "b"):
        api.add_cert(name, api.ca.issue(f"{name}.page.api.test"))
    first = api.client.get("/api/v1/certificates?limit=2").json()
    assert [c["name"] for c in first["items"]] == ["a", "b"]
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [c["name"] for c in api.client.get("/api/v1/certificates?limit=2&offset=4").json()["items"]] == ["e"]
    assert api.client.get("/api/v1/certificates?offset=9").json()["items"] == []
    everything = api.client.get("/api/v1/certificates").json()
    assert everything["limit"] == 100 and len(everything["items"]) == 5
    # the objects of cert list --json
    assert set(everything["items"][0]) >= {"name", "subject", "sans", "issuer", "not_before", "not_after",
                                           "fingerprint_sha256", "key_type", "key_bits", "chain", "attached_to"}
    for bad in ("limit=0", "limit=1001", "offset=-1", "limit=many"):
        reply = api.client.get(f"/api/v1/certificates?{bad}")
        assert reply.status_code == 400 and reply.json()["error"]["code"] == "bad-request", bad
    assert api.client.get("/api/v1/audit?limit=3").json()["total"] == 5
    assert api.client.get("/api/v1/loadbalancers").json() == {"items": [], "total": 0, "limit": 100, "offset": 0}
    assert api.client.get("/api/v1/deployments").json()["items"] == []


def test_a_load_balancer_with_bad_options_is_refused_with_400(api: Api) -> None:
    cases = [({"name": "a", "kind": "haproxy", "options": {"bind": "not an address",
                                                                 "backends": ["127.0.0.1:9"]}}, "invalid-address"),
             ({"name": "a", "kind": "f5", "options": {}}, "unknown-kind"),
             ({"name": "a", "kind": "haproxy", "optoins": {}}, "bad-request"),
             ({"name": "bad name", "kind": "haproxy", "options": {}}, "invalid-name")]
    for body, code in cases:
        reply = api.client.post("/api/v1/loadbalancers", json=body)
        assert reply.status_code == 400, (body, reply.text)
        assert reply.json()["error"]["code"] == code, (body, reply.text)
    assert api.client.get("/api/v1/loadbalancers").json()["total"] == 0
