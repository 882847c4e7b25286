"""The AWS subjects of the contract suite: an ALB with its certificates in ACM (``aws-alb``), a classic ELB with
them in IAM (``aws-elb-iam``) and one with them in ACM (``aws-elb-acm``), each in the session's one moto server
(tests/aws/moto_server.py, emptied when a subject is made), reached through the provider's client factory.

Everything the suite checks is read straight from AWS with plain boto3, never through the provider: the listener
on a port, its certificates' ARNs, their bodies (ACM ``get_certificate``, IAM ``get_server_certificate``), and
the fingerprints of the leaf and of the chain as far as each certificate issued the one before it (moto's ACM
appends a certificate of its own to every chain). A client's choice among a listener's certificates (SNI, key
type) is made here as ELB makes it. ``writes()`` lists the AWS write calls the provider made (botocore's
``after-call`` event on its clients); the operator's own listener is made with plain boto3.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
from botocore.config import Config
from contract_subjects import Foreign, Refusal, Subject
from contract_tools import Read, Recipe, ServedSettings
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from aws.moto_server import CREDENTIALS, REGION, client, environment, reset, shared_endpoint
from sslterm.certs.bundle import Bundle
from sslterm.certs.chain import issued_by
from sslterm.demo.app import DemoApp
from sslterm.demo.ca import DemoCA
from sslterm.engine.contract import Provider
from sslterm.engine.model import CertMaterial, CertSlot, ListenerSpec
from sslterm.providers.aws import AwsProvider, ClassicElbProvider
from sslterm.providers.aws.options import AwsOptions

SPARE_PORT, FOREIGN_PORT, PLAIN_PORT = 8443, 9443, 8080
READS = ("Describe", "Get", "List")
#: the security policy a classic HTTPS listener without one negotiates (AWS's default; moto lists none)
CLASSIC_DEFAULT_POLICY = "ELBSecurityPolicy-2016-08"


class CountingClients:
    """The provider's client factory: boto3 clients of moto (one attempt, bounded timeouts), each write call they
    make that AWS carried out recorded in ``writes`` as ``service:Operation`` (botocore's ``after-call`` event;
    a call AWS refused, such as deleting what is gone already, changed nothing)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.writes: list[str] = []
        self._made: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._made:
            session = boto3.session.Session(aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                                            region_name=REGION)
            made = session.client(service, endpoint_url=self.endpoint, config=Config(
                retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=30))
            made.meta.events.register("after-call", self._record)
            self._made[service] = made
        return self._made[service]

    def _record(self, model: Any, http_response: Any, **_: Any) -> None:
        if not str(model.name).startswith(READS) and http_response.status_code < 300:
            self.writes.append(f"{model.service_model.service_name}:{model.name}")


# -- reading AWS with plain boto3 ------------------------------------------------------------------------
@dataclass(frozen=True)
class Cert:
    """What an ARN holds, as a client is sent it."""

    read: Read
    names: tuple[str, ...]
    key_type: str


def certificate_at(endpoint: str, arn: str) -> Cert:
    if ":iam:" in arn:
        got = client(endpoint, "iam").get_server_certificate(
            ServerCertificateName=arn.rsplit("/", 1)[-1])["ServerCertificate"]
        text = got["CertificateBody"] + "\n" + got.get("CertificateChain", "")
    else:
        got = client(endpoint, "acm").get_certificate(CertificateArn=arn)
        text = got["Certificate"] + "\n" + got.get("CertificateChain", "")
    certs = x509.load_pem_x509_certificates(text.encode())
    chain: list[x509.Certificate] = []
    for cert in certs[1:]:  # as far as each issued the one before (moto's ACM adds a root of its own)
        if not issued_by(chain[-1] if chain else certs[0], cert):
            break
        chain.append(cert)
    try:
        names = tuple(certs[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                      .get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    key_type = "RSA" if isinstance(certs[0].public_key(), rsa.RSAPublicKey) else "EC"
    return Cert(Read(_fp(certs[0]), tuple(_fp(c) for c in chain)), names, key_type)


def _fp(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _matches(server_name: str, names: Sequence[str]) -> bool:
    host = server_name.lower()
    return any(n.lower() == host or (n.startswith("*.") and host.partition(".")[2] == n[2:].lower()) for n in names)


def choose(default: Cert, others: Sequence[Cert], server_name: str | None, key_type: str | None) -> Read:
    """The certificate ELB sends: one whose names match the SNI name (of the key type the client takes, when it
    says), else the default."""
    if server_name:
        fits = [c for c in (default, *others) if _matches(server_name, c.names)]
        fits = [c for c in fits if key_type is None or c.key_type == key_type] or fits
        if fits:
            return fits[0].read
    return default.read


def profile_of_protocols(protocols: Sequence[str]) -> str:
    """The TLS profile a client finds: TLS 1.3 only is modern; TLS 1.0 or 1.1 accepted is old."""
    if set(protocols) == {"TLSv1.3"}:
        return "modern"
    return "old" if {"TLSv1", "TLSv1.1"} & set(protocols) else "intermediate"


@dataclass
class AwsBalancer:
    """One load balancer in moto, as the operator sees it with plain boto3."""

    endpoint: str
    name: str
    family: str  # classic | application
    arn: str = ""
    target_group: str = ""
    clients: CountingClients = field(init=False)

    def __post_init__(self) -> None:
        self.clients = CountingClients(self.endpoint)

    def c(self, service: str) -> Any:
        return client(self.endpoint, service)

    def _elbv2_listener(self, port: int) -> dict[str, Any] | None:
        found = self.c("elbv2").describe_listeners(LoadBalancerArn=self.arn)["Listeners"]
        return next((x for x in found if x["Port"] == port and x["Protocol"] in ("HTTPS", "TLS")), None)

    def _classic_listener(self, port: int) -> tuple[dict[str, Any], list[str]] | None:
        found = self.c("elb").describe_load_balancers(LoadBalancerNames=[self.name])["LoadBalancerDescriptions"][0]
        return next(((d["Listener"], list(d.get("PolicyNames", []))) for d in found["ListenerDescriptions"]
                     if d["Listener"]["LoadBalancerPort"] == port and d["Listener"]["Protocol"] in ("HTTPS", "SSL")),
                    None)

    def read(self, port: int, server_name: str | None, key_type: str | None) -> Read | None:
        if self.family == "classic":
            found = self._classic_listener(port)
            if found is None or not found[0].get("SSLCertificateId"):
                return None
            return certificate_at(self.endpoint, found[0]["SSLCertificateId"]).read  # one per listener: no SNI
        listener = self._elbv2_listener(port)
        if listener is None:
            return None
        listed = self.c("elbv2").describe_listener_certificates(ListenerArn=listener["ListenerArn"])["Certificates"]
        default = next(c["CertificateArn"] for c in listed if c.get("IsDefault"))
        others = [a for a in dict.fromkeys(c["CertificateArn"] for c in listed) if a != default]
        return choose(certificate_at(self.endpoint, default), [certificate_at(self.endpoint, a) for a in others],
                      server_name, key_type)

    def read_settings(self, port: int, server_name: str) -> ServedSettings:
        """The profile of the security policy the listener negotiates with; HSTS from the listener's response
        header attribute (ALB), none on a classic ELB."""
        hsts = False
        if self.family == "classic":
            found = self._classic_listener(port)
            assert found is not None, f"no TLS listener on :{port}"
            policy = CLASSIC_DEFAULT_POLICY
            for name in found[1]:
                described = self.c("elb").describe_load_balancer_policies(
                    LoadBalancerName=self.name, PolicyNames=[name])["PolicyDescriptions"][0]
                policy = next((a["AttributeValue"] for a in described.get("PolicyAttributeDescriptions", [])
                               if a["AttributeName"] == "Reference-Security-Policy"), policy)
        else:
            listener = self._elbv2_listener(port)
            assert listener is not None, f"no TLS listener on :{port}"
            policy = listener.get("SslPolicy") or CLASSIC_DEFAULT_POLICY
            attributes = self.c("elbv2").describe_listener_attributes(ListenerArn=listener["ListenerArn"])
            hsts = any(a["Key"] == "routing.http.response.strict_transport_security.header_value" and a["Value"]
                       for a in attributes.get("Attributes", []))
        protocols = self.c("elbv2").describe_ssl_policies(Names=[policy])["SslPolicies"][0]["SslProtocols"]
        return ServedSettings(hsts, profile_of_protocols(protocols))

    def listeners(self) -> str:
        """Every listener of the load balancer with its certificates and policies, as JSON (to compare)."""
        if self.family == "classic":
            found = self.c("elb").describe_load_balancers(LoadBalancerNames=[self.name])["LoadBalancerDescriptions"]
            return json.dumps(found[0]["ListenerDescriptions"], sort_keys=True, default=str)
        out = []
        for x in self.c("elbv2").describe_listeners(LoadBalancerArn=self.arn)["Listeners"]:
            certs = self.c("elbv2").describe_listener_certificates(ListenerArn=x["ListenerArn"])["Certificates"] \
                if x["Protocol"] in ("HTTPS", "TLS") else []
            out.append({**x, "Certificates": certs})
        return json.dumps(out, sort_keys=True, default=str)

    def listener_writes(self) -> tuple[str, ...]:
        return tuple(w for w in self.clients.writes if w.startswith(("elb:", "elbv2:")))


def make_balancer(endpoint: str, name: str, family: str, vpc_number: int = 0) -> AwsBalancer:
    """A classic ELB with an HTTP:80 listener, or an ALB (VPC, two subnets, target group, an HTTP:8080
    listener forwarding to it), made with plain boto3 as an operator would."""
    lb = AwsBalancer(endpoint, name, family)
    if family == "classic":
        lb.c("elb").create_load_balancer(LoadBalancerName=name, AvailabilityZones=[f"{REGION}a"], Listeners=[
            {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}])
        return lb
    ec2, elbv2 = lb.c("ec2"), lb.c("elbv2")
    vpc = ec2.create_vpc(CidrBlock=f"10.{vpc_number}.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{vpc_number}.{i}.0/24",
                                 AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
               for i, zone in enumerate("ab")]
    lb.arn = elbv2.create_load_balancer(Name=name, Subnets=subnets, Type="application",
                                        Scheme="internal")["LoadBalancers"][0]["LoadBalancerArn"]
    lb.target_group = elbv2.create_target_group(Name=f"{name}-web", Protocol="HTTP", Port=80, VpcId=vpc,
                                                TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=lb.arn, Protocol="HTTP", Port=PLAIN_PORT,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": lb.target_group}])
    return lb


def add_foreign_listener(lb: AwsBalancer, ca: DemoCA, store: str) -> Foreign:
    """The operator's own HTTPS listener on FOREIGN_PORT, its certificate uploaded by hand (RSA-2048)."""
    issued = ca.issue("foreign.operator.test", key_kind="rsa")
    parts = {"cert": issued.cert_pem().decode(), "chain": issued.chain_pem().decode(),
             "key": issued.key_pem().decode()}
    if store == "iam":
        arn = lb.c("iam").upload_server_certificate(
            ServerCertificateName=f"operator-{lb.name}", CertificateBody=parts["cert"],
            CertificateChain=parts["chain"], PrivateKey=parts["key"])["ServerCertificateMetadata"]["Arn"]
    else:
        arn = lb.c("acm").import_certificate(Certificate=parts["cert"], CertificateChain=parts["chain"],
                                             PrivateKey=parts["key"])["CertificateArn"]
    if lb.family == "classic":
        lb.c("elb").create_load_balancer_listeners(LoadBalancerName=lb.name, Listeners=[{
            "Protocol": "HTTPS", "LoadBalancerPort": FOREIGN_PORT, "InstanceProtocol": "HTTP", "InstancePort": 80,
            "SSLCertificateId": arn}])
    else:
        lb.c("elbv2").create_listener(LoadBalancerArn=lb.arn, Protocol="HTTPS", Port=FOREIGN_PORT,
                                      SslPolicy="ELBSecurityPolicy-2016-08", Certificates=[{"CertificateArn": arn}],
                                      DefaultActions=[{"Type": "forward", "TargetGroupArn": lb.target_group}])
    return Foreign(FOREIGN_PORT, Read(_fp(issued.cert), tuple(_fp(c) for c in issued.chain)))


# -- refusals ------------------------------------------------------------------------------------------
def bundle_slot(name: str, bundle: Bundle, key_type: str) -> CertSlot:
    """A slot for a bundle made here (not through the store's checks)."""
    return CertSlot(name, bundle.fingerprint, (f"{name}.test",), key_type, CertMaterial.of(bundle),
                    chain=tuple(_fp(c) for c in bundle.chain))


def expired(s: Subject) -> Sequence[ListenerSpec]:
    key_type = "EC" if "EC" in s.provider.capabilities.key_types else "RSA"
    issued = s.ca.issue("expired.test", start=datetime.now(UTC) - timedelta(days=30), days=10,
                        key_kind=key_type.lower())
    return [ListenerSpec(s.lb_port, certificates=(bundle_slot("expired", Bundle(issued.cert, issued.chain,
                                                                                 issued.key), key_type),))]


def chain_out_of_order(s: Subject) -> Sequence[ListenerSpec]:
    issued = s.ca.issue("disordered.test", key_kind="rsa")
    bundle = Bundle(issued.cert, (s.ca.root, s.ca.intermediate), issued.key)  # the root first: did not issue it
    return [ListenerSpec(s.lb_port, certificates=(bundle_slot("disordered", bundle, "RSA"),))]


def rsa_3072_on_classic_acm(s: Subject) -> Sequence[ListenerSpec]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    issued = s.ca.issue("big.test", key=key)
    return [ListenerSpec(s.lb_port, certificates=(bundle_slot("big", Bundle(issued.cert, issued.chain, key), "RSA"),))]


def instance_port_on_alb(s: Subject) -> Sequence[ListenerSpec]:
    return [ListenerSpec(s.lb_port, instance_port=8081, certificates=(s.slot("a"),))]


def over_the_alb_quota(s: Subject) -> Sequence[ListenerSpec]:
    """26 certificates besides the two default ones, 14 per listener (each listener within its own limit)."""
    return [ListenerSpec(port, certificates=tuple(s.slot(f"q{port}-{i}") for i in range(14)))
            for port in (s.lb_port, s.spare_port)]


REFUSALS: dict[str, tuple[Refusal, ...]] = {
    "application": (Refusal("an instance port on an ALB", "instance-port-unsupported", instance_port_on_alb),
                    Refusal("an expired certificate", "aws-expired", expired),
                    Refusal("more SNI certificates than the ALB quota", "aws-quota", over_the_alb_quota)),
    "classic-iam": (Refusal("an expired certificate", "aws-expired", expired),
                    Refusal("a chain out of order", "aws-chain-order", chain_out_of_order)),
    "classic-acm": (Refusal("an RSA-3072 ACM certificate on a classic ELB", "aws-key-unsupported",
                            rsa_3072_on_classic_acm),
                    Refusal("an expired certificate", "aws-expired", expired)),
}


# -- the subjects --------------------------------------------------------------------------------------
@contextlib.contextmanager
def make_aws(ca: DemoCA, family: str, store: str, name: str = "contract", *, sibling: bool = False,
             ) -> Iterator[Subject]:
    endpoint = shared_endpoint()
    if not sibling:
        reset(endpoint)  # a blank account; a sibling shares its subject's
    lb = make_balancer(endpoint, name, family, vpc_number=1 if sibling else 0)
    foreign = add_foreign_listener(lb, ca, store)
    kind = "aws-elb" if family == "classic" else "aws-alb"
    options = AwsOptions(name, REGION, store)
    cls = ClassicElbProvider if family == "classic" else AwsProvider

    def fresh() -> Provider:
        # cast: AwsProvider's ``capabilities`` and ``scope`` are read-only properties, which mypy does not take
        # for the Protocol's plain attributes
        return cast(Provider, cls(f"lb-{name}", options, lb.clients))

    def make_sibling() -> AbstractContextManager[Subject]:
        return make_aws(ca, family, store, f"{name}-sibling", sibling=True)

    with tempfile.TemporaryDirectory(prefix="sst-contract-aws-") as state_dir:
        yield Subject(
            kind=f"{kind}-{store}", provider=fresh(), ca=ca, spare_port=SPARE_PORT, read=lb.read,
            read_settings=lb.read_settings, writes=lambda: tuple(lb.clients.writes),
            listener_changes=lambda: (lb.listeners(), lb.listener_writes()), fresh=fresh,
            recipe=Recipe(kind, f"lb-{name}", options.as_mapping(), state_dir, env=environment(endpoint)),
            sibling=make_sibling,
            refusals=REFUSALS["application" if family == "application" else f"classic-{store}"],
            foreign=foreign)


MAKERS: dict[str, Callable[[DemoCA, DemoApp], AbstractContextManager[Subject]]] = {
    "aws-alb": lambda ca, app: make_aws(ca, "application", "acm"),
    "aws-elb-iam": lambda ca, app: make_aws(ca, "classic", "iam"),
    "aws-elb-acm": lambda ca, app: make_aws(ca, "classic", "acm"),
}
