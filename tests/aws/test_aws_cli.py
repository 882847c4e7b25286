"""Issue 8's user story from the command line: real ``python -m sslterm`` commands against the session's moto
server (boto3's own settings: ``AWS_ENDPOINT_URL``), what sslterm says it did cross-checked with the AWS CLI,
and every request that reached "AWS" listed by moto's recorder.

Refusals (HSTS, ports sslterm did not create, the checks made before any AWS write) are in
test_aws_cli_refusals.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws.aws_cli_tools import Alb, AwsCli, Recorder, Sslterm, alb, classic_elb, rsa_files
from pkitools import Pki

MODERN = "ELBSecurityPolicy-TLS13-1-3-2021-06"


def test_lb_add_checks_the_load_balancer_exists_and_says_which_kind_it_is(
        sslterm_cli: Sslterm, moto: str, recorder: Recorder) -> None:
    classic_elb(moto, "classic")
    alb(moto, "web")
    recorder.start()

    wrong = sslterm_cli("lb", "add", "prod", "--kind", "aws-alb", "--name", "classic")
    assert wrong.returncode == 6, wrong.stderr
    assert wrong.stderr.startswith("error[aws-load-balancer-not-found]: "), wrong.stderr
    assert "it is a classic ELB" in wrong.stderr and "--kind aws-elb" in wrong.stderr

    wrong = sslterm_cli("lb", "add", "prod", "--kind", "aws-elb", "--name", "web")
    assert wrong.returncode == 6, wrong.stderr
    assert wrong.stderr.startswith("error[aws-load-balancer-not-found]: "), wrong.stderr
    assert "application load balancer" in wrong.stderr and "--kind aws-alb" in wrong.stderr

    missing = sslterm_cli("lb", "add", "ghost", "--kind", "aws-elb", "--name", "nowhere")
    assert missing.returncode == 6 and missing.stderr.startswith("error[aws-load-balancer-not-found]: ")
    assert "check --name and --region" in missing.stderr

    sslterm_cli.ok("lb", "add", "prod", "--kind", "aws-elb", "--name", "classic", "--cert-store", "iam")
    sslterm_cli.ok("lb", "add", "web", "--kind", "aws-alb", "--name", "web")
    listed = {lb["name"]: lb for lb in sslterm_cli.json("lb", "list")}
    assert sorted(listed) == ["prod", "web"]  # the refused ones were not recorded
    assert recorder.writes() == []  # lb add only looks


def test_a_classic_elb_with_iam_terminates_https_443_to_http_80(
        sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path, recorder: Recorder) -> None:
    classic_elb(moto, "classic")
    shop = rsa_files(tmp_path, live_pki, "shop")
    sslterm_cli.ok(*shop.add_args())
    sslterm_cli.ok("lb", "add", "prod", "--kind", "aws-elb", "--name", "classic", "--cert-store", "iam")

    said = sslterm_cli.ok("enable", "prod", "--cert", "shop")

    listeners = aws_cli.classic_listeners("classic")
    https = listeners[443]["Listener"]
    assert (https["Protocol"], https["InstancePort"]) == ("HTTPS", 80)  # (moto reports the instance protocol
    arn = https["SSLCertificateId"]  # as the front end's: not checked)
    assert ":iam:" in arn and ":server-certificate/sslterm/" in arn
    assert aws_cli.served(arn) == (shop.leaf, shop.chain_fps)
    assert listeners[80]["Listener"]["Protocol"] == "HTTP"  # plain HTTP stays as it was
    assert f"shop sha256 {shop.leaf[:16]}" in said and "reading the load balancer back" in said
    assert arn in aws_cli.iam_certificates()

    recorder.start()
    again = sslterm_cli.ok("enable", "prod", "--cert", "shop")
    assert "nothing to change" in again
    assert recorder.writes() == []  # an unchanged re-apply writes nothing

    sslterm_cli.ok("disable", "prod")
    assert sorted(aws_cli.classic_listeners("classic")) == [80]
    assert arn in aws_cli.iam_certificates()  # the certificate stays until removed
    sslterm_cli.ok("cert", "remove", "shop")
    assert aws_cli.iam_certificates() == []


def test_a_classic_elb_with_acm(sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki,
                                tmp_path: Path) -> None:
    classic_elb(moto, "classic")
    shop = rsa_files(tmp_path, live_pki, "shop")
    sslterm_cli.ok(*shop.add_args())
    sslterm_cli.ok("lb", "add", "prod", "--kind", "aws-elb", "--name", "classic")  # ACM by default

    sslterm_cli.ok("enable", "prod", "--cert", "shop")

    https = aws_cli.classic_listeners("classic")[443]["Listener"]
    arn = https["SSLCertificateId"]
    assert (https["Protocol"], https["InstancePort"]) == ("HTTPS", 80) and ":acm:us-east-1:" in arn
    assert aws_cli.served(arn) == (shop.leaf, shop.chain_fps)
    assert aws_cli.acm_certificates() == [arn]
    [row] = sslterm_cli.json("status", "prod")
    assert (row["lb_port"], row["certificate"], row["served"], row["state"]) == (443, "shop", shop.leaf, "ok")


def _alb_with_shop_and_api(sslterm_cli: Sslterm, moto: str, live_pki: Pki, tmp_path: Path) -> Alb:
    web = alb(moto, "web")
    for name in ("shop", "api"):
        sslterm_cli.ok(*rsa_files(tmp_path, live_pki, name).add_args())
    sslterm_cli.ok("lb", "add", "web", "--kind", "aws-alb", "--name", "web")
    return web


def test_an_alb_with_a_redirect_a_modern_profile_and_a_second_certificate_by_sni(
        sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path) -> None:
    web = _alb_with_shop_and_api(sslterm_cli, moto, live_pki, tmp_path)
    shop = {c["name"]: c for c in sslterm_cli.json("cert", "list")}["shop"]

    sslterm_cli.ok("enable", "web", "--cert", "shop", "--redirect-http", "--tls-profile", "modern")

    listeners = aws_cli.alb_listeners(web.arn)
    assert sorted(listeners) == [80, 443, 8080]
    https = listeners[443]
    assert (https["Protocol"], https["SslPolicy"]) == ("HTTPS", MODERN)
    assert https["DefaultActions"][0]["Type"] == "forward"
    assert https["DefaultActions"][0]["TargetGroupArn"] == web.target_group  # where the plain listener forwards
    redirect = listeners[80]
    assert redirect["Protocol"] == "HTTP" and redirect["DefaultActions"][0]["Type"] == "redirect"
    config = redirect["DefaultActions"][0]["RedirectConfig"]
    assert (config["StatusCode"], config["Protocol"], config["Port"]) == ("HTTP_301", "HTTPS", "443")
    [(default_arn, is_default)] = aws_cli.listener_certificates(https["ListenerArn"])
    assert is_default
    assert aws_cli.served(default_arn) == (shop["fingerprint_sha256"], [c["fingerprint_sha256"]
                                                                        for c in shop["chain"]])

    said = sslterm_cli.ok("enable", "web", "--cert", "api")  # on the same listener, by SNI

    after = aws_cli.alb_listeners(web.arn)
    assert after[443]["ListenerArn"] == https["ListenerArn"] and after[443]["SslPolicy"] == MODERN
    assert after[80]["ListenerArn"] == redirect["ListenerArn"]  # settings kept as the listener has them
    certificates = aws_cli.listener_certificates(https["ListenerArn"])
    assert certificates[0] == (default_arn, True)
    sni = [arn for arn, default in certificates if not default and arn != default_arn]
    assert len(sni) == 1
    api = {c["name"]: c for c in sslterm_cli.json("cert", "list")}["api"]
    assert aws_cli.served(sni[0])[0] == api["fingerprint_sha256"]
    assert f"(api.example.test): api sha256 {api['fingerprint_sha256'][:16]}" in said


def test_status_json_gives_listener_leaf_chain_expiry_and_state(
        sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path) -> None:
    web = _alb_with_shop_and_api(sslterm_cli, moto, live_pki, tmp_path)
    sslterm_cli.ok("enable", "web", "--cert", "shop")
    sslterm_cli.ok("enable", "web", "--cert", "api")
    stored = {c["name"]: c for c in sslterm_cli.json("cert", "list")}

    rows = {r["certificate"]: r for r in sslterm_cli.json("status", "web")}

    listener = aws_cli.alb_listeners(web.arn)[443]["ListenerArn"]
    on_aws = {aws_cli.served(arn)[0]: aws_cli.served(arn) for arn, _ in aws_cli.listener_certificates(listener)}
    assert sorted(rows) == ["api", "shop"]
    for name, row in rows.items():
        cert = stored[name]
        chain = [c["fingerprint_sha256"] for c in cert["chain"]]
        assert (row["load_balancer"], row["lb_port"], row["state"], row["error"]) == ("web", 443, "ok", None)
        assert row["expected"] == row["served"] == cert["fingerprint_sha256"]
        assert row["expected_chain"] == row["served_chain"] == chain
        assert on_aws[row["served"]] == (row["served"], row["served_chain"])  # what AWS has
        assert 88 <= row["days_left"] <= 90  # live_pki's leaves: 90 days from the fixture's start


def test_status_json_names_the_certificate_arn(sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki,
                                               tmp_path: Path) -> None:
    """Issue 8: ``sslterm status web [--json]``: listener, certificate ARN, fingerprint of leaf and chain."""
    web = _alb_with_shop_and_api(sslterm_cli, moto, live_pki, tmp_path)
    sslterm_cli.ok("enable", "web", "--cert", "shop")
    listener = aws_cli.alb_listeners(web.arn)[443]["ListenerArn"]
    [(arn, _)] = aws_cli.listener_certificates(listener)

    [row] = sslterm_cli.json("status", "web")

    assert arn in row.values(), f"status --json does not name the ARN {arn}: {row}"


def test_status_reports_drift_when_an_operator_swaps_the_certificate_by_hand(
        sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path) -> None:
    web = _alb_with_shop_and_api(sslterm_cli, moto, live_pki, tmp_path)
    sslterm_cli.ok("enable", "web", "--cert", "shop")
    other = rsa_files(tmp_path, live_pki, "other")
    imported = aws_cli("acm", "import-certificate", "--certificate", f"fileb://{other.cert}",
                       "--private-key", f"fileb://{other.key}", "--certificate-chain", f"fileb://{other.chain}")
    listener = aws_cli.alb_listeners(web.arn)[443]["ListenerArn"]
    aws_cli("elbv2", "modify-listener", "--listener-arn", listener, "--certificates",
            f"CertificateArn={imported['CertificateArn']}")

    drift = sslterm_cli("status", "web", "--json")

    assert drift.returncode == 9, drift.stderr
    rows = {r["certificate"]: r for r in json.loads(drift.stdout)}
    assert rows["shop"]["state"] == "drift" and rows["shop"]["expected"] != other.leaf
    # configured versus actually served: what clients get on :443 now is the operator's certificate
    assert (rows["shop"]["served"], rows["shop"]["served_chain"]) == (other.leaf, other.chain_fps), rows["shop"]


def test_cert_replace_rotates_on_every_load_balancer_serving_it(
        sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path, recorder: Recorder) -> None:
    """ACM: re-imported into the same ARN, no listener call; IAM (classic ELB): a new upload swapped in, the
    old one deleted."""
    web = _alb_with_shop_and_api(sslterm_cli, moto, live_pki, tmp_path)
    classic_elb(moto, "classic")
    sslterm_cli.ok("lb", "add", "prod", "--kind", "aws-elb", "--name", "classic", "--cert-store", "iam")
    sslterm_cli.ok("enable", "web", "--cert", "shop", "--redirect-http")
    sslterm_cli.ok("enable", "web", "--cert", "api")
    sslterm_cli.ok("enable", "prod", "--cert", "shop")
    alb_before = aws_cli.alb_listeners(web.arn)
    listener = alb_before[443]["ListenerArn"]
    certs_before = aws_cli.listener_certificates(listener)
    old_iam = aws_cli.classic_listeners("classic")[443]["Listener"]["SSLCertificateId"]
    renewed = rsa_files(tmp_path / "renewed", live_pki, "shop", "shop.example.test")

    recorder.start()
    said = sslterm_cli.ok(*renewed.add_args(), "--replace")

    assert "prod" in said and "web" in said
    writes = recorder.writes()
    assert writes.count("ImportCertificate") == 1  # one ACM write for the ALB
    assert not {"CreateListener", "ModifyListener", "AddListenerCertificates", "RemoveListenerCertificates",
                "DeleteListener"} & set(writes), writes  # no ALB listener call
    assert aws_cli.alb_listeners(web.arn) == alb_before
    assert aws_cli.listener_certificates(listener) == certs_before  # the same ARNs
    assert aws_cli.served(certs_before[0][0]) == (renewed.leaf, renewed.chain_fps)
    new_iam = aws_cli.classic_listeners("classic")[443]["Listener"]["SSLCertificateId"]
    assert new_iam != old_iam and aws_cli.served(new_iam) == (renewed.leaf, renewed.chain_fps)
    assert aws_cli.iam_certificates() == [new_iam]  # the old IAM copy is gone once nothing uses it
    rows = sslterm_cli.json("status")
    assert {(r["load_balancer"], r["certificate"], r["served"], r["state"]) for r in rows} >= {
        ("web", "shop", renewed.leaf, "ok"), ("prod", "shop", renewed.leaf, "ok")}


def test_a_fleet_sharing_a_scope_stages_the_certificate_once(
        sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path, recorder: Recorder) -> None:
    """Load balancers changed side by side share what one of them staged: one ACM re-import, one IAM upload."""
    sslterm_cli.ok(*rsa_files(tmp_path, live_pki, "shop").add_args())
    for store in ("acm", "iam"):
        for i in range(4):
            classic_elb(moto, f"{store}{i}")
            sslterm_cli.ok("lb", "add", f"{store}{i}", "--kind", "aws-elb", "--name", f"{store}{i}",
                           "--cert-store", store)
            sslterm_cli.ok("enable", f"{store}{i}", "--cert", "shop")
    assert len(aws_cli.acm_certificates()) == 1 and len(aws_cli.iam_certificates()) == 1  # one copy per scope
    renewed = rsa_files(tmp_path / "renewed", live_pki, "shop", "shop.example.test")

    recorder.start()
    sslterm_cli.ok(*renewed.add_args(), "--replace")

    writes = recorder.writes()
    assert writes.count("ImportCertificate") == 1 and writes.count("UploadServerCertificate") == 1, writes
    [acm] = aws_cli.acm_certificates()
    assert aws_cli.iam_certificates() == [aws_cli.classic_listeners("iam0")[443]["Listener"]["SSLCertificateId"]]
    for i in range(4):
        assert aws_cli.classic_listeners(f"acm{i}")[443]["Listener"]["SSLCertificateId"] == acm
        iam = aws_cli.classic_listeners(f"iam{i}")[443]["Listener"]["SSLCertificateId"]
        assert aws_cli.served(iam) == (renewed.leaf, renewed.chain_fps)
    assert {r["state"] for r in sslterm_cli.json("status")} == {"ok"}


def test_disable_and_cert_remove_take_the_listener_then_the_aws_copies(
        sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path) -> None:
    web = _alb_with_shop_and_api(sslterm_cli, moto, live_pki, tmp_path)
    sslterm_cli.ok("enable", "web", "--cert", "shop", "--redirect-http")
    [(arn, _)] = aws_cli.listener_certificates(aws_cli.alb_listeners(web.arn)[443]["ListenerArn"])

    refused = sslterm_cli("cert", "remove", "shop")
    assert refused.returncode == 2 and refused.stderr.startswith("error[in-use]: "), refused.stderr
    assert arn in aws_cli.acm_certificates()

    sslterm_cli.ok("disable", "web")
    assert sorted(aws_cli.alb_listeners(web.arn)) == [8080]  # HTTPS and its redirect gone; plain HTTP stays
    assert arn in aws_cli.acm_certificates()  # until removed

    sslterm_cli.ok("cert", "remove", "shop")
    assert arn not in aws_cli.acm_certificates()
    assert sslterm_cli.json("status", "web") == []
