"""What ``sslterm`` refuses on AWS, from the command line: exit code 4 and an ``error[CODE]`` line, and no
request that could change anything reaching "AWS" (moto's recorder lists every one), the listeners as they
were (the AWS CLI shows them).

The checks moto does not make (clouds.md 2.3) are sslterm's own, made before any AWS write: key types a
classic ELB takes from ACM, every certificate's dates, the ALB certificate quota; and what a kind cannot do
(HSTS, a redirect on a classic ELB, TLS 1.3 only on a classic ELB).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from aws.aws_cli_tools import (
    AwsCli,
    Files,
    Recorder,
    Sslterm,
    alb,
    classic_elb,
    ec_files,
    rsa_files,
    stale_intermediate_files,
)
from aws.moto_server import client
from pkitools import Pki
from sslterm.certs import BundleInput
from sslterm.engine.contract import Provider
from sslterm.providers.aws import AwsProvider, ClassicElbProvider
from sslterm.providers.aws.options import AwsOptions
from sslterm.service import Service
from sslterm.settings import Settings


def assert_refused(done: Any, code: str, exit_code: int = 4) -> None:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == exit_code, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert done.stderr.startswith(f"error[{code}]: "), done.stderr


@dataclass(frozen=True)
class Target:
    """A load balancer made in moto, registered with ``sslterm lb add``; ``listeners()`` reads it with the AWS
    CLI."""

    kind: str
    listeners: Callable[[], Mapping[int, Any]]


def target(kind: str, sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, *store: str) -> Target:
    if kind == "aws-elb":
        name = classic_elb(moto, "classic")
        sslterm_cli.ok("lb", "add", "lb", "--kind", kind, "--name", name, *store)
        return Target(kind, lambda: aws_cli.classic_listeners(name))
    made = alb(moto, "web")
    sslterm_cli.ok("lb", "add", "lb", "--kind", kind, "--name", made.name, *store)
    return Target(kind, lambda: aws_cli.alb_listeners(made.arn))


@pytest.mark.parametrize("kind", ["aws-elb", "aws-alb"])
def test_hsts_is_refused_on_kinds_that_cannot_set_it(kind: str, sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str,
                                                     live_pki: Pki, tmp_path: Path, recorder: Recorder) -> None:
    lb = target(kind, sslterm_cli, aws_cli, moto)
    sslterm_cli.ok(*rsa_files(tmp_path, live_pki, "shop").add_args())
    before = lb.listeners()
    recorder.start()

    assert_refused(sslterm_cli("enable", "lb", "--cert", "shop", "--hsts"), "hsts-unsupported")

    assert recorder.writes() == []
    assert lb.listeners() == before


def _operator_listener(kind: str, moto: str, pem: Files) -> None:
    """The operator's own HTTPS :443, its certificate imported by hand into ACM."""
    arn = client(moto, "acm").import_certificate(Certificate=pem.cert.read_bytes(), PrivateKey=pem.key.read_bytes(),
                                                 CertificateChain=pem.chain.read_bytes())["CertificateArn"]
    if kind == "aws-elb":
        client(moto, "elb").create_load_balancer_listeners(LoadBalancerName="classic", Listeners=[{
            "Protocol": "HTTPS", "LoadBalancerPort": 443, "InstanceProtocol": "HTTP", "InstancePort": 80,
            "SSLCertificateId": arn}])
        return
    elbv2 = client(moto, "elbv2")
    lb = elbv2.describe_load_balancers(Names=["web"])["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.describe_target_groups(Names=["web-web"])["TargetGroups"]  # made by aws_cli_tools.alb
    elbv2.create_listener(LoadBalancerArn=lb, Protocol="HTTPS", Port=443, SslPolicy="ELBSecurityPolicy-2016-08",
                          Certificates=[{"CertificateArn": arn}],
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": group[0]["TargetGroupArn"]}])


@pytest.mark.parametrize("kind", ["aws-elb", "aws-alb"])
def test_a_listener_sslterm_did_not_create_is_never_overwritten(
        kind: str, sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path,
        recorder: Recorder) -> None:
    lb = target(kind, sslterm_cli, aws_cli, moto)
    _operator_listener(kind, moto, rsa_files(tmp_path / "operator", live_pki, "operator"))
    sslterm_cli.ok(*rsa_files(tmp_path, live_pki, "shop").add_args())
    before = lb.listeners()
    recorder.start()

    assert_refused(sslterm_cli("enable", "lb", "--cert", "shop"), "port-taken")

    assert recorder.writes() == []
    assert lb.listeners() == before  # the operator's listener, its certificate and policy as they were
    assert sslterm_cli.json("status", "lb") == []


def test_the_redirect_never_takes_over_an_http_listener_sslterm_did_not_create(
        sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path, recorder: Recorder) -> None:
    """Port 80 is the operator's plain listener (forwarding to the target group): ``--redirect-http`` cannot
    have it, and that is known before anything is created (not after the HTTPS listener was made)."""
    web = alb(moto, "web", plain_port=80)
    sslterm_cli.ok("lb", "add", "web", "--kind", "aws-alb", "--name", "web")
    sslterm_cli.ok(*rsa_files(tmp_path, live_pki, "shop").add_args())
    before = aws_cli.alb_listeners(web.arn)
    recorder.start()

    done = sslterm_cli("enable", "web", "--cert", "shop", "--redirect-http")

    assert aws_cli.alb_listeners(web.arn) == before
    assert_refused(done, "port-taken")
    assert recorder.writes() == [], "AWS was written to before the refusal"


#: (kind, --cert-store, how the certificate is made, extra enable arguments, the refusal's code)
PRE_CALL = {
    "ec-key-on-classic-acm": ("aws-elb", "acm", ec_files, (), "unsupported-key-type"),
    "rsa-3072-on-classic-acm": ("aws-elb", "acm", lambda d, p, n: rsa_files(d, p, n, bits=3072), (),
                                "aws-key-unsupported"),
    "expired-intermediate-on-alb": ("aws-alb", "acm", lambda d, p, n: stale_intermediate_files(d, n), (),
                                    "aws-expired"),
    "expired-intermediate-on-classic-iam": ("aws-elb", "iam", lambda d, p, n: stale_intermediate_files(d, n), (),
                                            "aws-expired"),
    "tls13-only-on-classic": ("aws-elb", "iam", rsa_files, ("--tls-profile", "modern"), "tls-profile-unsupported"),
    "redirect-on-classic": ("aws-elb", "acm", rsa_files, ("--redirect-http",), "redirect-unsupported"),
    "instance-port-on-alb": ("aws-alb", "acm", rsa_files, ("--instance-port", "8081"), "instance-port-unsupported"),
}


@pytest.mark.parametrize("case", sorted(PRE_CALL))
def test_what_aws_would_refuse_is_refused_before_any_aws_write(
        case: str, sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path,
        recorder: Recorder) -> None:
    kind, store, make, extra, code = PRE_CALL[case]
    lb = target(kind, sslterm_cli, aws_cli, moto, "--cert-store", store)
    sslterm_cli.ok(*make(tmp_path, live_pki, "site").add_args())
    before = lb.listeners()
    recorder.start()

    assert_refused(sslterm_cli("enable", "lb", "--cert", "site", *extra), code)

    assert recorder.writes() == []
    assert lb.listeners() == before
    assert aws_cli.acm_certificates() == [] and aws_cli.iam_certificates() == []  # nothing uploaded


def _moto_provider(moto: str) -> Callable[[str, str, dict[str, Any]], Provider]:
    def make(name: str, kind: str, options: dict[str, Any]) -> Provider:
        cls = ClassicElbProvider if kind == "aws-elb" else AwsProvider
        made = cls(name, AwsOptions.from_mapping(options, kind=kind), lambda service: client(moto, service))
        return cast(Provider, made)  # its read-only properties are the Protocol's attributes

    return make


def test_the_alb_certificate_quota_is_refused_before_any_aws_write(
        sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path, recorder: Recorder) -> None:
    """25 certificates besides the listeners' default ones per ALB (AWS counts per load balancer, over all its
    listeners): four listeners hold 9, 9, 9 and 2 (8 + 8 + 8 + 1 besides their defaults); one more is one too
    many. (Not more than 9 on one listener: moto allows 10 tags per listener, AWS 50, and sslterm tags a
    listener once and each of its certificates once.)"""
    web = alb(moto, "web")
    ports = [443] * 9 + [8443] * 9 + [9443] * 9 + [10443] * 2
    names = [f"c{i:02}" for i in range(len(ports) + 1)]
    service = Service(Settings(home=sslterm_cli.home), provider_factory=_moto_provider(moto), anchors=())
    try:  # the set-up in this process (a command takes seconds to start); the refusal from the command line
        service.add_load_balancer("web", "aws-alb", {"name": "web"})
        for name, port in zip(names, [*ports, None], strict=True):
            leaf = live_pki.leaf(f"{name}.example.test")
            service.add_certificate(name, BundleInput(cert=leaf.pem, key=leaf.key_bytes(), chain=live_pki.chain_pem))
            if port is not None:
                service.enable("web", name, lb_port=port)
    finally:
        service.close()
    before = aws_cli.alb_listeners(web.arn)
    recorder.start()

    assert_refused(sslterm_cli("enable", "web", "--cert", names[-1], "--lb-port", "10443"), "aws-quota")

    assert recorder.writes() == []
    assert aws_cli.alb_listeners(web.arn) == before


def test_a_classic_elb_without_room_for_sslterms_tag_is_left_as_it_was(
        sslterm_cli: Sslterm, aws_cli: AwsCli, moto: str, live_pki: Pki, tmp_path: Path) -> None:
    """A classic ELB takes 10 tags (AWS and moto); sslterm marks its listeners with one. The operator's ELB has
    all 10 in use: ``enable`` fails, and must leave no HTTPS listener behind (one left untagged would be
    nobody's: served, not in the store, and its port refused to sslterm from then on)."""
    client(moto, "elb").create_load_balancer(
        LoadBalancerName="tagged", AvailabilityZones=["us-east-1a"],
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}],
        Tags=[{"Key": f"team{i}", "Value": "x"} for i in range(10)])
    sslterm_cli.ok("lb", "add", "lb", "--kind", "aws-elb", "--name", "tagged", "--cert-store", "iam")
    sslterm_cli.ok(*rsa_files(tmp_path, live_pki, "shop").add_args())
    before = aws_cli.classic_listeners("tagged")

    failed = sslterm_cli("enable", "lb", "--cert", "shop")

    assert failed.returncode != 0 and "Traceback" not in failed.stderr, failed.stderr
    assert aws_cli.classic_listeners("tagged") == before, f"left behind after: {failed.stderr}"
    again = sslterm_cli("enable", "lb", "--cert", "shop")
    assert "port-taken" not in again.stderr, again.stderr
