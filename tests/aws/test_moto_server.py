"""moto in server mode, as the AWS provider's tests will use it: the fixture works, the happy paths work, and
each claim of reference/clouds.md 2.3 that sslterm relies on is verified and named here.

A test called ``test_moto_...`` states one fact about moto (5.2.5 when written), most of them places where
moto is laxer than AWS (the reason sslterm checks before calling: providers/aws/checks.py). When a moto
upgrade changes a fact, its test fails by name: update docs/aws.md and whatever relied on it.
"""

from __future__ import annotations

import contextlib
import http.client
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from aws.moto_server import ACCOUNT, client, moto_server, reset
from pkitools import Node, Pki, ec_key, rsa_key
from sslterm.certs.bundle import Bundle
from sslterm.providers.aws.checks import Upload, key_algorithm
from sslterm.providers.aws.names import IAM_PATH, iam_certificate_name
from sslterm.providers.aws.policies import SECURITY_POLICIES


@dataclass
class Aws:
    iam: Any
    acm: Any
    elb: Any
    elbv2: Any
    ec2: Any


@pytest.fixture
def aws(moto: str) -> Aws:
    return Aws(*(client(moto, service) for service in ("iam", "acm", "elb", "elbv2", "ec2")))


@dataclass
class Pem:
    cert: str
    chain: str
    key: str
    leaf: Node

    @property
    def acm(self) -> dict[str, str]:
        return {"Certificate": self.cert, "CertificateChain": self.chain, "PrivateKey": self.key}

    def iam(self, name: str, path: str = IAM_PATH) -> dict[str, str]:
        return {"ServerCertificateName": name, "Path": path, "CertificateBody": self.cert,
                "CertificateChain": self.chain, "PrivateKey": self.key}


def pem(pki: Pki, name: str = "www.example.test", **leaf: Any) -> Pem:
    """Leaf, chain and key as a provider sends them (Upload.of)."""
    node = pki.leaf(name, **leaf)
    upload = Upload.of(Bundle(node.cert, tuple(n.cert for n in pki.chain), node.key))  # type: ignore[arg-type]
    return Pem(upload.certificate.decode(), upload.chain.decode(), upload.private_key.decode(), node)


def code_of(call: Callable[..., Any], **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return str(caught.value.response["Error"]["Code"])


def classic_elb(aws: Aws, name: str = "classic") -> str:
    aws.elb.create_load_balancer(LoadBalancerName=name, AvailabilityZones=["us-east-1a"], Listeners=[
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}])
    return name


def https(cert_arn: str, port: int = 443) -> dict[str, Any]:
    return {"Protocol": "HTTPS", "LoadBalancerPort": port, "InstanceProtocol": "HTTP", "InstancePort": 80,
            "SSLCertificateId": cert_arn}


def listeners_of(aws: Aws, name: str) -> dict[int, dict[str, Any]]:
    described = aws.elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
    return {d["Listener"]["LoadBalancerPort"]: d for d in described["ListenerDescriptions"]}


def elbv2_lb(aws: Aws, kind: str = "application") -> tuple[str, str]:
    """(load balancer ARN, target group ARN) of a new ALB or NLB in a new VPC."""
    vpc = aws.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [aws.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")
               ["Subnet"]["SubnetId"] for i, zone in enumerate("ab")]
    lb = aws.elbv2.create_load_balancer(Name=f"{kind[:3]}-lb", Subnets=subnets, Type=kind)["LoadBalancers"][0]
    protocol = "HTTP" if kind == "application" else "TCP"
    group = aws.elbv2.create_target_group(Name=f"{kind[:3]}-web", Protocol=protocol, Port=80, VpcId=vpc)
    return lb["LoadBalancerArn"], group["TargetGroups"][0]["TargetGroupArn"]


def secure_listener(aws: Aws, lb: str, group: str, cert_arn: str, protocol: str = "HTTPS", **extra: Any) -> str:
    return str(aws.elbv2.create_listener(
        LoadBalancerArn=lb, Protocol=protocol, Port=443, Certificates=[{"CertificateArn": cert_arn}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}], **extra)["Listeners"][0]["ListenerArn"])


def listener_certs(aws: Aws, listener: str) -> list[tuple[str, bool]]:
    found = aws.elbv2.describe_listener_certificates(ListenerArn=listener)["Certificates"]
    return [(c["CertificateArn"], c["IsDefault"]) for c in found]


def missing_iam_arn(name: str = "does-not-exist") -> str:
    return f"arn:aws:iam::{ACCOUNT}:server-certificate{IAM_PATH}{name}"


def missing_acm_arn() -> str:
    return f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/00000000-0000-0000-0000-000000000000"


# -- the fixture itself -------------------------------------------------------------------------------


def test_the_server_listens_on_loopback_only_and_is_gone_after_the_block() -> None:
    with moto_server() as endpoint:
        host, port = endpoint.removeprefix("http://").split(":")
        assert host == "127.0.0.1"
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", "/moto-api/config")
        assert conn.getresponse().status < 300
        conn.close()
    with pytest.raises(OSError), contextlib.closing(http.client.HTTPConnection(host, int(port), timeout=5)) as conn:
        conn.request("GET", "/moto-api/config")


def test_reset_empties_every_service(moto: str, aws: Aws, live_pki: Pki) -> None:
    aws.acm.import_certificate(**pem(live_pki).acm)
    aws.iam.upload_server_certificate(**pem(live_pki).iam("one"))
    classic_elb(aws)
    reset(moto)
    assert aws.acm.list_certificates()["CertificateSummaryList"] == []
    assert aws.iam.list_server_certificates()["ServerCertificateMetadataList"] == []
    assert aws.elb.describe_load_balancers()["LoadBalancerDescriptions"] == []


def test_a_child_reaches_moto_through_boto3s_own_settings(aws_env: dict[str, str], aws: Aws, live_pki: Pki,
                                                          tmp_path: Path) -> None:
    arn = aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"]
    script = ("import boto3; print(boto3.client('acm').list_certificates()['CertificateSummaryList'][0]"
              "['CertificateArn'])")
    env = {**aws_env, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == arn
    assert aws_env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:") and aws_env["AWS_DEFAULT_REGION"] == "us-east-1"


# -- the happy paths the provider takes -----------------------------------------------------------------


def test_a_classic_elb_serves_an_iam_certificate_then_an_acm_one(aws: Aws, live_pki: Pki) -> None:
    material = pem(live_pki)
    name = iam_certificate_name("shop", material.leaf.fingerprint)
    meta = aws.iam.upload_server_certificate(**material.iam(name))["ServerCertificateMetadata"]
    assert meta["Arn"] == f"arn:aws:iam::{ACCOUNT}:server-certificate/sslterm/{name}"
    body = aws.iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]["CertificateBody"]
    assert x509.load_pem_x509_certificate(body.encode()) == material.leaf.cert  # the text loses its last newline
    lb = classic_elb(aws)
    aws.elb.create_load_balancer_listeners(LoadBalancerName=lb, Listeners=[https(meta["Arn"])])
    assert listeners_of(aws, lb)[443]["Listener"]["SSLCertificateId"] == meta["Arn"]
    acm_arn = aws.acm.import_certificate(**material.acm)["CertificateArn"]
    aws.elb.set_load_balancer_listener_ssl_certificate(LoadBalancerName=lb, LoadBalancerPort=443,
                                                       SSLCertificateId=acm_arn)
    assert listeners_of(aws, lb)[443]["Listener"]["SSLCertificateId"] == acm_arn
    aws.elb.delete_load_balancer_listeners(LoadBalancerName=lb, LoadBalancerPorts=[443])
    assert set(listeners_of(aws, lb)) == {80}


def test_an_alb_serves_an_acm_default_and_an_sni_certificate(aws: Aws, live_pki: Pki) -> None:
    default = aws.acm.import_certificate(**pem(live_pki, "shop.example.test").acm)["CertificateArn"]
    sni = aws.acm.import_certificate(**pem(live_pki, "api.example.test").acm)["CertificateArn"]
    lb, group = elbv2_lb(aws)
    policy = SECURITY_POLICIES["application"]["intermediate"]
    listener = secure_listener(aws, lb, group, default, SslPolicy=policy)
    aws.elbv2.add_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": sni}])
    assert listener_certs(aws, listener) == [(default, True), (sni, False)]
    described = aws.elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]
    assert (described["Protocol"], described["Port"], described["SslPolicy"]) == ("HTTPS", 443, policy)


def test_an_nlb_serves_an_acm_certificate_on_a_tls_listener(aws: Aws, live_pki: Pki) -> None:
    arn = aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"]
    lb, group = elbv2_lb(aws, "network")
    listener = secure_listener(aws, lb, group, arn, protocol="TLS")
    assert listener_certs(aws, listener) == [(arn, True)]


def test_acm_reimport_keeps_the_arn_and_replaces_the_certificate(aws: Aws, live_pki: Pki) -> None:
    first, second = pem(live_pki), pem(live_pki)
    arn = aws.acm.import_certificate(**first.acm)["CertificateArn"]
    assert aws.acm.import_certificate(CertificateArn=arn, **second.acm)["CertificateArn"] == arn
    served = aws.acm.get_certificate(CertificateArn=arn)["Certificate"]
    assert x509.load_pem_x509_certificate(served.encode()) == second.leaf.cert
    assert len(aws.acm.list_certificates()["CertificateSummaryList"]) == 1


# -- IAM: what moto does not check ----------------------------------------------------------------------


def test_moto_iam_accepts_a_key_that_does_not_match_the_certificate(aws: Aws, live_pki: Pki) -> None:
    other = pem(live_pki, "other.example.test")
    aws.iam.upload_server_certificate(**{**pem(live_pki).iam("mismatch"), "PrivateKey": other.key})


def test_moto_iam_accepts_an_expired_certificate(aws: Aws, live_pki: Pki) -> None:
    expired = pem(live_pki, not_before=live_pki.now - timedelta(days=30), not_after=live_pki.now - timedelta(days=1))
    aws.iam.upload_server_certificate(**expired.iam("expired"))


def test_moto_iam_accepts_a_second_upload_under_the_same_name(aws: Aws, live_pki: Pki) -> None:
    aws.iam.upload_server_certificate(**pem(live_pki).iam("dup"))
    aws.iam.upload_server_certificate(**pem(live_pki).iam("dup"))  # AWS: EntityAlreadyExists
    names = [m["ServerCertificateName"] for m in aws.iam.list_server_certificates()["ServerCertificateMetadataList"]]
    assert names == ["dup", "dup"]


def test_moto_iam_accepts_names_and_paths_iam_refuses(aws: Aws, live_pki: Pki) -> None:
    meta = aws.iam.upload_server_certificate(**pem(live_pki).iam("bad name", path="ssl"))["ServerCertificateMetadata"]
    assert meta["Arn"] == f"arn:aws:iam::{ACCOUNT}:server-certificatesslbad name"


def test_moto_iam_reports_a_fixed_id_and_dates_not_the_certificates(aws: Aws, live_pki: Pki) -> None:
    meta = aws.iam.upload_server_certificate(**pem(live_pki).iam("dates"))["ServerCertificateMetadata"]
    assert meta["ServerCertificateId"] == "ASCACKCEVSQ6C2EXAMPLE"
    assert (meta["UploadDate"].year, meta["Expiration"].year) == (2010, 2012)


def test_moto_iam_list_ignores_the_path_prefix(aws: Aws, live_pki: Pki) -> None:
    aws.iam.upload_server_certificate(**pem(live_pki).iam("elsewhere", path="/other/"))
    listed = aws.iam.list_server_certificates(PathPrefix=IAM_PATH)
    assert [m["Path"] for m in listed["ServerCertificateMetadataList"]] == ["/other/"]
    assert listed["IsTruncated"] is False


def test_moto_iam_deletes_a_certificate_a_listener_uses(aws: Aws, live_pki: Pki) -> None:
    arn = aws.iam.upload_server_certificate(**pem(live_pki).iam("used"))["ServerCertificateMetadata"]["Arn"]
    lb = classic_elb(aws)
    aws.elb.create_load_balancer_listeners(LoadBalancerName=lb, Listeners=[https(arn)])
    aws.iam.delete_server_certificate(ServerCertificateName="used")  # AWS: DeleteConflict
    assert listeners_of(aws, lb)[443]["Listener"]["SSLCertificateId"] == arn  # dangling


def test_moto_iam_unknown_name_is_no_such_entity(aws: Aws) -> None:
    assert code_of(aws.iam.get_server_certificate, ServerCertificateName="nope") == "NoSuchEntity"
    assert code_of(aws.iam.delete_server_certificate, ServerCertificateName="nope") == "NoSuchEntity"


def test_moto_iam_has_no_update_nor_tags_for_server_certificates(aws: Aws, live_pki: Pki) -> None:
    aws.iam.upload_server_certificate(**pem(live_pki).iam("old"))
    with pytest.raises(ResponseParserError):  # HTTP 500 with an HTML page: not implemented
        aws.iam.update_server_certificate(ServerCertificateName="old", NewServerCertificateName="new")
    with pytest.raises(ResponseParserError):
        aws.iam.list_server_certificate_tags(ServerCertificateName="old")


# -- ACM: what moto checks and what it does not -------------------------------------------------------


@pytest.mark.parametrize(("shift", "message"), [(timedelta(days=-120), "expired"),
                                                (timedelta(days=30), "not in effect")])
def test_moto_acm_refuses_a_certificate_outside_its_dates(aws: Aws, live_pki: Pki, shift: timedelta,
                                                          message: str) -> None:
    start = live_pki.now + shift
    material = pem(live_pki, not_before=start, not_after=start + timedelta(days=90))
    with pytest.raises(ClientError) as caught:
        aws.acm.import_certificate(**material.acm)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert message in caught.value.response["Error"]["Message"]


def test_moto_acm_accepts_a_key_that_does_not_match_the_certificate(aws: Aws, live_pki: Pki) -> None:
    other = pem(live_pki, "other.example.test")
    aws.acm.import_certificate(**{**pem(live_pki).acm, "PrivateKey": other.key})


def test_moto_acm_accepts_a_chain_of_another_pki(aws: Aws, live_pki: Pki) -> None:
    stranger = Pki("Stranger", now=live_pki.now)
    aws.acm.import_certificate(**{**pem(live_pki).acm, "CertificateChain": stranger.chain_pem.decode()})


@pytest.mark.parametrize("kind", ["RSA_1024", "EC_secp256k1", "RSA_8192-over-5KB"])
def test_moto_acm_accepts_any_key_type_and_size(aws: Aws, live_pki: Pki, kind: str, rsa_8192: object) -> None:
    key = {"RSA_1024": lambda: rsa_key(1024), "EC_secp256k1": lambda: ec_key(ec.SECP256K1()),
           "RSA_8192-over-5KB": lambda: rsa_8192}[kind]()
    material = pem(live_pki, key=key)
    assert kind != "RSA_8192-over-5KB" or len(material.key) > 5120
    arn = aws.acm.import_certificate(**material.acm)["CertificateArn"]
    described = aws.acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert described["KeyAlgorithm"] == key_algorithm(material.leaf.cert.public_key())


@pytest.mark.parametrize("key", ["RSA_2048", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1"])
def test_moto_acm_names_key_algorithms_as_sslterm_does(aws: Aws, live_pki: Pki, key: str) -> None:
    made = rsa_key(2048) if key == "RSA_2048" else ec_key({"EC_prime256v1": ec.SECP256R1(),
                                                             "EC_secp384r1": ec.SECP384R1(),
                                                             "EC_secp521r1": ec.SECP521R1()}[key])
    arn = aws.acm.import_certificate(**pem(live_pki, key=made).acm)["CertificateArn"]
    assert aws.acm.describe_certificate(CertificateArn=arn)["Certificate"]["KeyAlgorithm"] == key


def test_moto_acm_get_certificate_appends_a_root_of_its_own(aws: Aws, live_pki: Pki) -> None:
    material = pem(live_pki)
    arn = aws.acm.import_certificate(**material.acm)["CertificateArn"]
    chain = x509.load_pem_x509_certificates(aws.acm.get_certificate(CertificateArn=arn)["CertificateChain"].encode())
    assert chain[:-1] == [n.cert for n in live_pki.chain]
    assert chain[-1] not in (live_pki.root.cert, *(n.cert for n in live_pki.chain))


def test_moto_acm_reimport_drops_tags_and_accepts_new_ones(aws: Aws, live_pki: Pki) -> None:
    arn = aws.acm.import_certificate(**pem(live_pki).acm, Tags=[{"Key": "owner", "Value": "sslterm"}])[
        "CertificateArn"]
    aws.acm.import_certificate(CertificateArn=arn, **pem(live_pki).acm)
    assert aws.acm.list_tags_for_certificate(CertificateArn=arn).get("Tags", []) == []
    tags = [{"Key": "k", "Value": "v"}]
    aws.acm.import_certificate(CertificateArn=arn, **pem(live_pki).acm, Tags=tags)  # AWS: ValidationException


def test_moto_acm_unknown_or_malformed_arn_is_resource_not_found(aws: Aws) -> None:
    for arn in (missing_acm_arn(), f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/x"):
        assert code_of(aws.acm.describe_certificate, CertificateArn=arn) == "ResourceNotFoundException"


def test_moto_acm_list_has_no_rsa_2048_default_filter(aws: Aws, live_pki: Pki) -> None:
    aws.acm.import_certificate(**pem(live_pki, key=ec_key()).acm)
    assert [c["KeyAlgorithm"] for c in aws.acm.list_certificates()["CertificateSummaryList"]] == ["EC_prime256v1"]


def test_moto_acm_deletes_a_certificate_a_listener_uses(aws: Aws, live_pki: Pki) -> None:
    arn = aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"]
    lb, group = elbv2_lb(aws)
    listener = secure_listener(aws, lb, group, arn)
    aws.acm.delete_certificate(CertificateArn=arn)  # AWS: ResourceInUseException
    assert listener_certs(aws, listener) == [(arn, True)]  # dangling


def test_moto_acm_in_use_by_is_set_on_create_only_and_never_cleared(aws: Aws, live_pki: Pki) -> None:
    default, sni = (aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"] for _ in range(2))
    lb, group = elbv2_lb(aws)
    listener = secure_listener(aws, lb, group, default)
    aws.elbv2.add_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": sni}])
    classic = classic_elb(aws)
    aws.elb.create_load_balancer_listeners(LoadBalancerName=classic, Listeners=[https(sni)])
    dns = aws.elb.describe_load_balancers(LoadBalancerNames=[classic])["LoadBalancerDescriptions"][0]["DNSName"]
    aws.elbv2.delete_listener(ListenerArn=listener)

    def in_use_by(arn: str) -> list[str]:
        return list(aws.acm.describe_certificate(CertificateArn=arn)["Certificate"]["InUseBy"])

    assert in_use_by(default) == [listener]  # still, after the listener is gone
    assert in_use_by(sni) == [dns]  # the classic ELB's DNS name, not an ARN; the SNI attachment left no trace


# -- classic ELB ----------------------------------------------------------------------------------------


def test_moto_elb_checks_acm_arns_but_not_iam_arns(aws: Aws) -> None:
    lb = classic_elb(aws)
    assert code_of(aws.elb.create_load_balancer_listeners, LoadBalancerName=lb,
                   Listeners=[https(missing_acm_arn())]) == "CertificateNotFound"
    aws.elb.create_load_balancer_listeners(LoadBalancerName=lb, Listeners=[https(missing_iam_arn())])
    aws.elb.set_load_balancer_listener_ssl_certificate(LoadBalancerName=lb, LoadBalancerPort=443,
                                                       SSLCertificateId=missing_iam_arn("other"))
    assert listeners_of(aws, lb)[443]["Listener"]["SSLCertificateId"] == missing_iam_arn("other")


def test_moto_elb_raises_duplicate_listener_and_recreating_the_same_is_a_no_op(aws: Aws) -> None:
    lb = classic_elb(aws)
    aws.elb.create_load_balancer_listeners(LoadBalancerName=lb, Listeners=[https(missing_iam_arn())])
    aws.elb.create_load_balancer_listeners(LoadBalancerName=lb, Listeners=[https(missing_iam_arn())])
    assert code_of(aws.elb.create_load_balancer_listeners, LoadBalancerName=lb,
                   Listeners=[https(missing_iam_arn("other"))]) == "DuplicateListener"


def test_moto_elb_reports_the_front_end_protocol_as_instance_protocol(aws: Aws) -> None:
    lb = classic_elb(aws)
    aws.elb.create_load_balancer_listeners(LoadBalancerName=lb, Listeners=[https(missing_iam_arn())])
    listener = listeners_of(aws, lb)[443]["Listener"]
    assert (listener["Protocol"], listener["InstanceProtocol"]) == ("HTTPS", "HTTPS")  # HTTP was sent


def test_moto_elb_https_listener_has_no_policy_names(aws: Aws) -> None:
    lb = classic_elb(aws)
    aws.elb.create_load_balancer_listeners(LoadBalancerName=lb, Listeners=[https(missing_iam_arn())])
    assert listeners_of(aws, lb)[443]["PolicyNames"] == []  # AWS: ELBSecurityPolicy-2016-08 attached


def test_moto_elb_set_certificate_on_a_port_without_listener_succeeds(aws: Aws) -> None:
    lb = classic_elb(aws)
    aws.elb.set_load_balancer_listener_ssl_certificate(LoadBalancerName=lb, LoadBalancerPort=8443,
                                                       SSLCertificateId=missing_iam_arn())  # AWS: ListenerNotFound
    assert set(listeners_of(aws, lb)) == {80}


def test_moto_elb_deleting_several_ports_in_one_call_deletes_none(aws: Aws) -> None:
    lb = classic_elb(aws)
    aws.elb.create_load_balancer_listeners(LoadBalancerName=lb, Listeners=[https(missing_iam_arn())])
    aws.elb.delete_load_balancer_listeners(LoadBalancerName=lb, LoadBalancerPorts=[80, 443])
    assert set(listeners_of(aws, lb)) == {80, 443}
    aws.elb.delete_load_balancer_listeners(LoadBalancerName=lb, LoadBalancerPorts=[443])
    assert set(listeners_of(aws, lb)) == {80}


# -- ELBv2: ALB and NLB ---------------------------------------------------------------------------------


def test_moto_elbv2_never_raises_duplicate_listener(aws: Aws, live_pki: Pki) -> None:
    first, second = (aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"] for _ in range(2))
    lb, group = elbv2_lb(aws)
    secure_listener(aws, lb, group, first)
    secure_listener(aws, lb, group, second)  # AWS: DuplicateListener
    assert len(aws.elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]) == 2


def test_moto_elbv2_create_checks_acm_arns_but_not_iam_arns_and_modify_checks_both(aws: Aws) -> None:
    lb, group = elbv2_lb(aws)
    assert code_of(secure_listener, aws=aws, lb=lb, group=group, cert_arn=missing_acm_arn()) == "CertificateNotFound"
    listener = secure_listener(aws, lb, group, missing_iam_arn())
    for arn in (missing_acm_arn(), missing_iam_arn("other")):
        assert code_of(aws.elbv2.modify_listener, ListenerArn=listener,
                       Certificates=[{"CertificateArn": arn}]) == "CertificateNotFound"


def test_moto_elbv2_add_listener_certificates_checks_nothing_and_appends_duplicates(aws: Aws, live_pki: Pki) -> None:
    default = aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"]
    lb, group = elbv2_lb(aws)
    listener = secure_listener(aws, lb, group, default)
    for arn in (missing_acm_arn(), missing_iam_arn(), missing_acm_arn()):
        aws.elbv2.add_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": arn}])
    assert listener_certs(aws, listener) == [(default, True), (missing_acm_arn(), False), (missing_iam_arn(), False),
                                             (missing_acm_arn(), False)]


def test_moto_elbv2_removes_the_default_certificate_and_then_calls_an_sni_one_default(aws: Aws,
                                                                                         live_pki: Pki) -> None:
    default, sni = (aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"] for _ in range(2))
    lb, group = elbv2_lb(aws)
    listener = secure_listener(aws, lb, group, default)
    aws.elbv2.add_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": sni}])
    aws.elbv2.remove_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": default}])
    assert listener_certs(aws, listener) == [(sni, True)]  # AWS: OperationNotPermitted


def test_moto_elbv2_describe_listeners_lists_sni_certificates_too(aws: Aws, live_pki: Pki) -> None:
    default, sni = (aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"] for _ in range(2))
    lb, group = elbv2_lb(aws)
    listener = secure_listener(aws, lb, group, default)
    aws.elbv2.add_listener_certificates(ListenerArn=listener, Certificates=[{"CertificateArn": sni}])
    described = aws.elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]["Certificates"]
    assert [c["CertificateArn"] for c in described] == [default, sni]  # AWS: the default only


def test_moto_elbv2_caps_a_listener_at_25_certificates_default_included(aws: Aws, live_pki: Pki) -> None:
    default = aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"]
    lb, group = elbv2_lb(aws)
    listener = secure_listener(aws, lb, group, default)
    for i in range(24):
        aws.elbv2.add_listener_certificates(ListenerArn=listener,
                                            Certificates=[{"CertificateArn": missing_iam_arn(f"sni-{i}")}])
    assert code_of(aws.elbv2.add_listener_certificates, ListenerArn=listener,
                   Certificates=[{"CertificateArn": missing_iam_arn("one-too-many")}]) == "TooManyCertificates"


def test_moto_elbv2_checks_the_ssl_policy_on_modify_only(aws: Aws, live_pki: Pki) -> None:
    arn = aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"]
    lb, group = elbv2_lb(aws)
    listener = secure_listener(aws, lb, group, arn, SslPolicy="NoSuchPolicy")
    assert code_of(aws.elbv2.modify_listener, ListenerArn=listener, SslPolicy="NoSuchPolicy") == "SSLPolicyNotFound"


def test_moto_elbv2_knows_every_policy_sslterm_maps_to(aws: Aws) -> None:
    wanted = {p for family in ("application", "network") for p in SECURITY_POLICIES[family].values() if p}  # type: ignore[index]
    known = {p["Name"] for p in aws.elbv2.describe_ssl_policies(Names=sorted(wanted))["SslPolicies"]}
    assert known == wanted


def test_moto_elbv2_swaps_a_tls_listener_certificate_only_with_protocol_which_it_refuses(aws: Aws,
                                                                                        live_pki: Pki) -> None:
    first, second = (aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"] for _ in range(2))
    lb, group = elbv2_lb(aws, "network")
    listener = secure_listener(aws, lb, group, first, protocol="TLS")
    aws.elbv2.modify_listener(ListenerArn=listener, Certificates=[{"CertificateArn": second}])
    assert listener_certs(aws, listener) == [(first, True)]  # silently not swapped
    assert code_of(aws.elbv2.modify_listener, ListenerArn=listener, Protocol="TLS",
                   Certificates=[{"CertificateArn": second}]) == "UnsupportedProtocol"


def test_moto_elbv2_swaps_an_https_listener_default_certificate(aws: Aws, live_pki: Pki) -> None:
    first, second = (aws.acm.import_certificate(**pem(live_pki).acm)["CertificateArn"] for _ in range(2))
    lb, group = elbv2_lb(aws)
    listener = secure_listener(aws, lb, group, first)
    aws.elbv2.modify_listener(ListenerArn=listener, Certificates=[{"CertificateArn": second}])
    assert listener_certs(aws, listener) == [(second, True)]


def test_moto_elbv2_names_an_nlb_arn_as_an_alb_one(aws: Aws) -> None:
    lb, _ = elbv2_lb(aws, "network")
    assert ":loadbalancer/app/" in lb  # AWS: loadbalancer/net/
    assert aws.elbv2.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"][0]["Type"] == "network"


def test_moto_elbv2_account_limits_give_25_certificates_per_alb(aws: Aws) -> None:
    limits = {limit["Name"]: limit["Max"] for limit in aws.elbv2.describe_account_limits()["Limits"]}
    assert limits["certificates-per-application-load-balancer"] == "25"
    assert "certificates-per-network-load-balancer" not in limits

