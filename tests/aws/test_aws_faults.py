"""The AWS provider's error paths that moto cannot produce, driven through the provider and the engine, checking
what an operator notices. AWS fails through botocore's ``Stubber`` on real boto3 clients (it answers in
``before-call``, before botocore's retries: verified below), or through ``Fault``, an answer given in
``before-send`` (per HTTP attempt, inside botocore's retries) to a client of the moto server."""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from urllib3.response import HTTPResponse

from aws.moto_server import ACCOUNT, CREDENTIALS, REGION, client
from sslterm.certs.bundle import Bundle, fingerprint
from sslterm.certs.validate import BundleInput
from sslterm.demo.ca import DemoCA, Issued
from sslterm.engine.apply import Applier
from sslterm.engine.contract import CertMaterial, CertRef, CertSlot, ListenerSpec, Provider, Timing
from sslterm.engine.plan import compute
from sslterm.engine.retry import with_retries
from sslterm.errors import DeploymentError, ProviderError
from sslterm.providers.aws.calls import CONFIG, ClientFactory, boto3_clients
from sslterm.providers.aws.names import IAM_PATH, iam_certificate_name
from sslterm.providers.aws.options import AwsOptions
from sslterm.providers.aws.provider import AwsProvider, ClassicElbProvider
from sslterm.service import Service
from sslterm.settings import Settings

#: retries without real waiting: 4 calls, 10, 20, 40 ms apart
FAST = Timing(attempts=4, first_delay=0.01, max_wait=1.0, settle_within=0.2, settle_interval=0.01)
ALB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web/0123456789abcdef"
GROUP_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web/0123456789abcdef"
ACM_ARN = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/00000000-0000-4000-8000-000000000001"
HTTP80 = {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}
SESSION = boto3.session.Session(aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name=REGION)


@pytest.fixture(scope="module")
def ca() -> DemoCA:
    return DemoCA("faults")


def slot_of(issued: Issued) -> CertSlot:
    """A slot as the store gives it, with its material (sealed until the provider asks)."""
    bundle = Bundle(issued.cert, issued.chain, issued.key)
    return CertSlot("shop", fingerprint(issued.cert), ("shop.example.test",), "EC", CertMaterial.of(bundle),
                    chain=tuple(fingerprint(c) for c in issued.chain))


class Stubs:
    """One stubbed boto3 client per service, as the provider's ClientFactory; ``calls`` records every API call
    made (operation names, in order), whatever the stubs answer."""

    def __init__(self) -> None:
        self.clients, self.stubbers, self.calls = dict[str, Any](), dict[str, Stubber](), list[str]()

    def __call__(self, service: str) -> Any:
        if service not in self.clients:
            made = SESSION.client(service, endpoint_url="http://127.0.0.1:9", config=CONFIG)
            made.meta.events.register("before-call.*.*", lambda model, **_: self.calls.append(model.name))
            self.clients[service], self.stubbers[service] = made, Stubber(made)
            self.stubbers[service].activate()
            if service == "sts":  # the provider asks once who it is (its uploads' scope)
                self.ok("sts", "get_caller_identity", {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/t"})
        return self.clients[service]

    def ok(self, service: str, operation: str, response: dict[str, Any] | None = None,
           expected: dict[str, Any] | None = None) -> None:
        self(service)
        self.stubbers[service].add_response(operation, response or {}, expected)

    def fail(self, service: str, operation: str, code: str, status: int = 400, times: int = 1) -> None:
        self(service)
        for _ in range(times):
            self.stubbers[service].add_client_error(operation, code, f"{code} (stubbed)", status)

    def done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


def classic_lb(*https: tuple[int, str]) -> dict[str, Any]:
    """describe_load_balancers of classic ELB ``my-elb``: HTTP :80, plus an HTTPS listener per (port, ARN)."""
    listeners = [{"Listener": HTTP80, "PolicyNames": []}]
    listeners += [{"Listener": {"Protocol": "HTTPS", "LoadBalancerPort": port, "InstanceProtocol": "HTTP",
                                "InstancePort": 80, "SSLCertificateId": arn}, "PolicyNames": ["sslterm-intermediate"]}
                  for port, arn in https]
    return {"LoadBalancerDescriptions": [{"LoadBalancerName": "my-elb", "DNSName": "my-elb.example.test",
                                          "ListenerDescriptions": listeners}]}


def classic_tags(*ports: int) -> dict[str, Any]:
    note = json.dumps({"certificate": "shop", "instance_port": None, "instance_protocol": "HTTP"}, sort_keys=True)
    tags = {"Tags": [{"Key": f"sslterm:{p}", "Value": note} for p in ports]} if ports else {}  # min length 1
    return {"TagDescriptions": [{"LoadBalancerName": "my-elb", **tags}]}


def provider(clients: ClientFactory, kind: str = "aws-elb", store: str = "iam", name: str = "prod") -> AwsProvider:
    cls = ClassicElbProvider if kind == "aws-elb" else AwsProvider
    options = AwsOptions("my-elb" if kind == "aws-elb" else "web", REGION, store)
    return cls(name, options, clients, timing=FAST)


DELETES = {"iam": ("iam", "delete_server_certificate", "DeleteConflict", 409, "aws-delete-conflict"),
           "acm": ("acm", "delete_certificate", "ResourceInUseException", 400, "aws-resource-in-use")}


def ref_for(store: str) -> CertRef:
    iam = f"arn:aws:iam::{ACCOUNT}:server-certificate{IAM_PATH}{iam_certificate_name('shop', 'f' * 64)}"
    return CertRef("f" * 64, ACM_ARN if store == "acm" else iam, f"aws:{ACCOUNT}:{store}")


@pytest.mark.parametrize("clears", [True, False])
@pytest.mark.parametrize("store", ["iam", "acm"])
def test_a_delete_still_in_use_is_retried_within_a_bound(store: str, clears: bool) -> None:
    """Retried by the engine (as service/deployments.py's _forget calls it) until it clears; else the last
    error names the load balancer, the certificate and AWS's code."""
    service, operation, code, status, kebab = DELETES[store]
    stubs = Stubs()
    stubs.fail(service, operation, code, status, times=2 if clears else FAST.attempts)
    if clears:
        stubs.ok(service, operation)
    aws, waits = provider(stubs, store=store), list[float]()
    forget = functools.partial(aws.forget, ref_for(store))
    if clears:
        with_retries(forget, aws.timing, sleep=waits.append)
    else:
        with pytest.raises(ProviderError) as caught:
            with_retries(forget, aws.timing, sleep=waits.append)
        assert caught.value.code == kebab and caught.value.retryable
        assert caught.value.message.startswith("prod: ") and f"AWS {code}:" in caught.value.message
        assert ref_for(store).location.rsplit("/", 1)[-1] in caught.value.message  # which certificate
    assert waits == ([0.01, 0.02] if clears else [0.01, 0.02, 0.04])  # the provider's Timing: back-off, bounded
    assert stubs.calls == [operation.title().replace("_", "")] * (3 if clears else FAST.attempts)
    stubs.done()


@pytest.mark.parametrize("clears", [True, False])
def test_an_iam_upload_not_yet_visible_to_elb_is_waited_for_within_a_bound(ca: DemoCA, clears: bool) -> None:
    """ELB says CertificateNotFound for a fresh IAM ARN for a while: the engine retries the bind within the
    provider's Timing; the listener is created once ELB sees it; else the change fails, put back."""
    slot = slot_of(issued := ca.issue("shop.example.test"))
    name = iam_certificate_name("shop", slot.served_id)
    arn = f"arn:aws:iam::{ACCOUNT}:server-certificate{IAM_PATH}{name}"
    meta = {"Path": IAM_PATH, "ServerCertificateName": name, "ServerCertificateId": "ASCA" + "0" * 16, "Arn": arn}
    stubs = Stubs()
    stubs.ok("iam", "list_server_certificates", {"ServerCertificateMetadataList": []})  # not uploaded yet
    stubs.fail("iam", "get_server_certificate", "NoSuchEntity", 404)
    stubs.ok("iam", "upload_server_certificate", {"ServerCertificateMetadata": meta})
    refusals = 2 if clears else FAST.attempts
    for look in range(refusals + 2):  # observe (the plan); each bind looks, then creates :443; then the last look
        stubs.ok("elb", "describe_load_balancers", classic_lb())  # (of the bind that works, or of putting back)
        stubs.ok("elb", "describe_tags", classic_tags(*[443] * (look > 1)))  # sslterm's tag, once the first bind
        if look == 1:  # wrote it (before the listener)
            stubs.ok("elb", "add_tags")
        if 0 < look <= refusals:
            stubs.fail("elb", "create_load_balancer_listeners", "CertificateNotFound")
    if clears:
        stubs.ok("elb", "create_load_balancer_listeners", {}, {"LoadBalancerName": "my-elb", "Listeners": [
            {"Protocol": "HTTPS", "LoadBalancerPort": 443, "InstanceProtocol": "HTTP", "InstancePort": 80,
             "SSLCertificateId": arn}]})
        for operation in ("create_load_balancer_policy", "set_load_balancer_policies_of_listener"):
            stubs.ok("elb", operation)
        stubs.ok("elb", "describe_load_balancers", classic_lb((443, arn)))  # verify: read back
        stubs.ok("elb", "describe_load_balancers", classic_lb((443, arn)))
        stubs.ok("elb", "describe_tags", classic_tags(443))
        stubs.ok("iam", "get_server_certificate", {"ServerCertificate": {
            "ServerCertificateMetadata": meta, "CertificateBody": issued.cert_pem().decode(),
            "CertificateChain": issued.chain_pem().decode()}})
    else:  # putting back: the tag without a listener goes
        stubs.ok("elb", "delete_load_balancer_listeners")
        stubs.ok("elb", "remove_tags")
    aws = provider(stubs)
    plan = compute("prod", aws.observe().listeners, [ListenerSpec(443, certificates=(slot,))])
    if clears:
        served = Applier(aws).apply(plan).served
        assert [(x.fingerprint, x.chain, x.how) for x in served] == [(slot.fingerprint, slot.chain, "read-back")]
    else:
        with pytest.raises(DeploymentError) as caught:
            Applier(aws).apply(plan)
        assert caught.value.code == "aws-certificate-not-found"
        assert caught.value.message.startswith("prod: listener :443: create: AWS CertificateNotFound:")
        assert caught.value.message.endswith("(rolled back: the previous certificates are served)")
    assert stubs.calls.count("CreateLoadBalancerListeners") == refusals + clears
    stubs.done()


def test_stubber_answers_skip_botocore_retries() -> None:
    """Why the throttling tests use Fault, not a Stubber: a Stubber answers before botocore's retry handler."""
    stubs = Stubs()
    stubs.fail("elb", "describe_load_balancers", "Throttling")
    stubs.ok("elb", "describe_load_balancers", classic_lb())
    with pytest.raises(ClientError):
        stubs("elb").describe_load_balancers(LoadBalancerNames=["my-elb"])
    # yet it was made to retry, as the real factory makes them (calls.CONFIG's max_attempts 8 are retries: 9 in all)
    assert stubs("elb").meta.config.retries == boto3_clients(REGION)("elb").meta.config.retries == {
        "mode": "standard", "total_max_attempts": 9}


class Fault:
    """Answers the next ``times`` HTTP attempts of ``operation`` on ``made`` with AWS's error ``code``, inside
    botocore's retry loop; ``attempts`` logs each attempt: the status given, or 0 (passed on to moto)."""

    def __init__(self, made: Any, operation: str, code: str, status: int = 400, times: int = 1) -> None:
        self.code, self.status, self.left, self.attempts = code, status, times, list[int]()
        self.json = made.meta.service_model.protocol == "json"
        service_id = made.meta.service_model.service_id.hyphenize()
        made.meta.events.register(f"before-send.{service_id}.{operation}", self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse | None:
        if self.left == 0:
            self.attempts.append(0)
            return None
        self.left -= 1
        self.attempts.append(self.status)
        body = json.dumps({"__type": self.code, "message": "injected"}) if self.json else (
            f"<ErrorResponse><Error><Code>{self.code}</Code><Message>injected</Message></Error></ErrorResponse>")
        return AWSResponse(request.url, self.status, {}, HTTPResponse(io.BytesIO(body.encode()), preload_content=False))


def moto_clients(endpoint: str, config: Config = CONFIG) -> ClientFactory:
    """boto3 clients of moto configured as sslterm's own (calls.CONFIG: standard retry mode), made once each."""
    return functools.cache(lambda service: SESSION.client(service, endpoint_url=endpoint, config=config))


def classic_in_moto(moto: str, name: str = "my-elb") -> None:
    client(moto, "elb").create_load_balancer(LoadBalancerName=name, AvailabilityZones=["us-east-1a"],
                                             Listeners=[HTTP80])


def classic_with_https(moto: str, ca: DemoCA) -> AwsProvider:
    """Classic ELB ``my-elb`` in moto serving an ACM certificate on :443 through sslterm."""
    classic_in_moto(moto)
    aws = provider(moto_clients(moto), store="acm")
    slot = slot_of(ca.issue("shop.example.test", key_kind="rsa"))
    Applier(aws).apply(compute("prod", aws.observe().listeners, [ListenerSpec(443, certificates=(slot,))]))
    return aws


@pytest.mark.parametrize(("service", "operation", "code", "status"), [
    ("elb", "DescribeLoadBalancers", "Throttling", 400),
    ("elb", "DescribeLoadBalancers", "ServiceUnavailable", 503),
    ("acm", "GetCertificate", "ThrottlingException", 400),
    ("elb", "DescribeLoadBalancers", "DependencyThrottle", 400)])  # not botocore's: the engine's (ENGINE_RETRIES)
def test_throttling_and_5xx_on_a_describe_are_retried(moto: str, ca: DemoCA, service: str, operation: str,
                                                      code: str, status: int) -> None:
    aws = classic_with_https(moto, ca)
    fault = Fault(aws.clients(service), operation, code, status)
    observed = with_retries(aws.observe, aws.timing)  # as the engine calls it; each describe called once
    assert [x.lb_port for x in observed.listeners] == [443] and observed.foreign_ports == (80,)
    assert fault.attempts == [status, 0]  # throttled once, retried, answered by moto


def test_throttling_beyond_botocores_attempts_fails_naming_the_load_balancer(moto: str, ca: DemoCA) -> None:
    classic_with_https(moto, ca)
    two = CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 2}))  # CONFIG's 9 take ~40 s
    aws = provider(moto_clients(moto, two), store="acm")
    fault = Fault(aws.clients("elb"), "DescribeLoadBalancers", "Throttling", times=99)
    with pytest.raises(ProviderError) as caught:
        aws.observe()
    assert fault.attempts == [400, 400]
    assert (caught.value.code, caught.value.retryable) == ("aws-throttling", False)  # botocore retried already
    assert caught.value.message.startswith("prod: describe load balancer my-elb: AWS Throttling:")


def alb_listeners(*ports: int) -> dict[str, Any]:
    return {"Listeners": [{"ListenerArn": f"{ALB_ARN.replace(':loadbalancer/', ':listener/')}/{port}", "Port": port,
                           "Protocol": "HTTPS" if port != 80 else "HTTP", "LoadBalancerArn": ALB_ARN,
                           "DefaultActions": [{"Type": "forward", "TargetGroupArn": GROUP_ARN}]}
                          for port in (80, *ports)]}


def test_a_listener_appearing_between_observe_and_bind_fails_the_change_and_nothing_else(ca: DemoCA) -> None:
    """AWS says DuplicateListener (moto never does): an operator's HTTPS :443 appeared after sslterm looked."""
    stubs = Stubs()
    stubs.ok("elbv2", "describe_load_balancers", {"LoadBalancers": [{"LoadBalancerArn": ALB_ARN}]})
    for look, ports in enumerate(((), (), (443,))):  # observe (for the plan), bind's look; putting back: ours?
        stubs.ok("elbv2", "describe_listeners", alb_listeners(*ports))
        stubs.ok("elbv2", "describe_tags", {"TagDescriptions": [{"ResourceArn": x["ListenerArn"]}
                                                                for x in alb_listeners(*ports)["Listeners"]]})
        if look == 1:
            stubs.fail("elbv2", "create_listener", "DuplicateListener")  # an operator's :443 appeared meanwhile
    stubs.ok("acm", "list_certificates", {"CertificateSummaryList": []})  # not uploaded yet
    stubs.ok("acm", "import_certificate", {"CertificateArn": ACM_ARN})
    aws = provider(stubs, kind="aws-alb", store="acm", name="web")
    slot = slot_of(ca.issue("shop.example.test"))
    plan = compute("web", aws.observe().listeners, [ListenerSpec(443, certificates=(slot,))])
    with pytest.raises(DeploymentError) as caught:
        Applier(aws).apply(plan)
    assert caught.value.code == "aws-duplicate-listener"
    assert caught.value.message.startswith("web: listener :443: create: AWS DuplicateListener:")
    writes = [c for c in stubs.calls if not c.startswith(("Describe", "Get", "List"))]
    assert writes == ["ImportCertificate", "CreateListener"]  # no delete, no modify: the operator's stays
    stubs.done()


def alb_in_moto(moto: str) -> None:
    """ALB ``web`` (in a new VPC) with HTTP :80 forwarding to target group ``web``."""
    ec2, elbv2 = client(moto, "ec2"), client(moto, "elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{zone}")
               ["Subnet"]["SubnetId"] for i, zone in enumerate("ab")]
    lb = elbv2.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}])


def service(home: Path, ca: DemoCA, clients: ClientFactory) -> Service:
    def make(name: str, kind: str, options: dict[str, Any]) -> Provider:
        cls = ClassicElbProvider if kind == "aws-elb" else AwsProvider
        return cls(name, AwsOptions.from_mapping(options, kind=kind), clients, timing=FAST)

    return Service(Settings(home=home), anchors=(ca.root,), provider_factory=make)


def given(issued: Issued) -> BundleInput:  # what `sslterm cert add` reads from its files
    return BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(), key=issued.key_pem())


@pytest.mark.parametrize(("operation", "stage", "swaps"), [("ModifyListener", "modify", 1), ("AddTags", "tag", 2)])
def test_a_rotation_failing_midway_leaves_the_previous_certificate_served(
        moto: str, ca: DemoCA, tmp_path: Path, operation: str, stage: str, swaps: int) -> None:
    """IAM store on an ALB: upload the new version, swap the default (ModifyListener), tag it (AddTags); either
    failing after the upload leaves (or puts back) the previous certificate, and status says so."""
    alb_in_moto(moto)
    clients = moto_clients(moto)
    svc = service(tmp_path / "home", ca, clients)
    old, new = ca.issue("shop.example.test"), ca.issue("shop.example.test")
    svc.add_certificate("shop", given(old))
    svc.add_load_balancer("web", "aws-alb", {"name": "web", "cert_store": "iam"})
    svc.enable("web", "shop")
    calls = list[str]()
    clients("elbv2").meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    fault = Fault(clients("elbv2"), operation, "ValidationError")
    with pytest.raises(DeploymentError) as caught:
        svc.add_certificate("shop", given(new), replace=True)
    assert fault.attempts == [400]  # not retried: AWS refused it
    assert calls.count("ModifyListener") == swaps  # AddTags failing: swapped to the new one, and back
    assert caught.value.message.startswith(f"web: listener :443: {stage}: AWS ValidationError:")
    assert "rolled back" in caught.value.message and caught.value.code == "aws-validation-error"
    [status] = svc.status("web")  # the listener and the certificate it points to, read back from AWS
    assert (status.state, status.configured, status.served) == ("ok", fingerprint(old.cert), fingerprint(old.cert))
    svc.close()


@pytest.mark.parametrize("rerun", [True, False])  # the operator runs it again, or gives up
def test_the_upload_of_a_failed_deployment_is_reused_or_removed(moto: str, ca: DemoCA, tmp_path: Path,
                                                                rerun: bool) -> None:
    classic_in_moto(moto)
    clients = moto_clients(moto)
    svc = service(tmp_path / "home", ca, clients)
    svc.add_certificate("shop", given(ca.issue("shop.example.test", key_kind="rsa")))  # classic + ACM: RSA
    svc.add_load_balancer("prod", "aws-elb", {"name": "my-elb"})
    Fault(clients("elb"), "CreateLoadBalancerListeners", "ValidationError")
    with pytest.raises(DeploymentError):
        svc.enable("prod", "shop")  # imported, then refused: rolled back
    if rerun:
        svc.enable("prod", "shop")  # the operator runs it again: the import is found, not made twice
        assert len(client(moto, "acm").list_certificates()["CertificateSummaryList"]) == 1
        svc.disable("prod")
    svc.remove_certificate("shop")
    svc.close()
    assert client(moto, "acm").list_certificates()["CertificateSummaryList"] == []


def test_an_old_iam_version_is_deleted_once(moto: str, ca: DemoCA, tmp_path: Path) -> None:
    clients = moto_clients(moto)
    svc = service(tmp_path / "home", ca, clients)
    svc.add_certificate("shop", given(ca.issue("shop.example.test")))
    for name in ("a", "b", "c"):
        classic_in_moto(moto, name)
        svc.add_load_balancer(name, "aws-elb", {"name": name, "cert_store": "iam"})
        svc.enable(name, "shop")
    fault = Fault(clients("iam"), "DeleteServerCertificate", "DeleteConflict", 409, times=99)  # never clears
    svc.add_certificate("shop", given(ca.issue("shop.example.test")), replace=True)  # works; the delete waits
    svc.close()
    assert len(fault.attempts) == FAST.attempts  # one retry budget (TIMING: up to 31 s), not one per load balancer
