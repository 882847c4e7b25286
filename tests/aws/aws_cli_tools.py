"""What the AWS command-line tests use: sslterm run as an operator runs it (``python -m sslterm`` with boto3's own
settings pointing at the session's moto server), the AWS CLI to see what sslterm did, moto's own request
recorder to see every call that reached "AWS", and load balancers made with plain boto3 as an operator would.
"""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from aws.moto_server import HOST, REGION, client
from pkitools import Node, Pki, ec_key, key_bytes, make_cert, rsa_key
from sslterm.certs.chain import issued_by

TIMEOUT = 120  # seconds for one command; every wait below is bounded
READS = ("Describe", "Get", "List")
AWS_CLI = Path(sys.executable).with_name("aws")


@dataclass
class Sslterm:
    """``python -m sslterm`` with its own data directory and the environment of ``aws_env``."""

    home: Path
    aws_env: dict[str, str]

    def env(self) -> dict[str, str]:
        return {"PATH": "/usr/bin:/bin", "HOME": str(self.home.parent), "SSLTERM_HOME": str(self.home),
                "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", **self.aws_env}

    def __call__(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sslterm", *map(str, args)], env=self.env(),
                              capture_output=True, text=True, timeout=TIMEOUT, check=False)

    def ok(self, *args: str | Path) -> str:
        done = self(*args)
        assert done.returncode == 0 and "Traceback" not in done.stderr, \
            f"sslterm {' '.join(map(str, args))}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))


@dataclass
class AwsCli:
    """What AWS has: the AWS CLI against moto (``--endpoint-url``, JSON out) for the listeners, as an operator
    would look; plain boto3 for the rest (the AWS CLI takes a second to start)."""

    endpoint: str
    aws_env: dict[str, str]

    def __call__(self, *args: str) -> Any:
        env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8", **self.aws_env}
        done = subprocess.run([str(AWS_CLI), *args, "--endpoint-url", self.endpoint, "--output", "json"], env=env,
                              capture_output=True, text=True, timeout=TIMEOUT, check=False)
        assert done.returncode == 0, f"aws {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else None

    def boto3(self, service: str) -> Any:
        return client(self.endpoint, service)

    def classic_listeners(self, name: str) -> dict[int, dict[str, Any]]:
        """``aws elb describe-load-balancers``: the listeners by port."""
        found = self("elb", "describe-load-balancers", "--load-balancer-names", name)
        return {d["Listener"]["LoadBalancerPort"]: d for d in found["LoadBalancerDescriptions"][0]
                ["ListenerDescriptions"]}

    def alb_listeners(self, arn: str) -> dict[int, dict[str, Any]]:
        """``aws elbv2 describe-listeners``: the listeners by port."""
        found = self("elbv2", "describe-listeners", "--load-balancer-arn", arn)["Listeners"]
        return {x["Port"]: x for x in found}

    def listener_certificates(self, listener_arn: str) -> list[tuple[str, bool]]:
        found = self.boto3("elbv2").describe_listener_certificates(ListenerArn=listener_arn)["Certificates"]
        return [(c["CertificateArn"], c["IsDefault"]) for c in found]

    def served(self, arn: str) -> tuple[str, list[str]]:
        """Leaf and chain fingerprints of the certificate ``arn`` (ACM or IAM), the chain as far as each
        certificate issued the one before it (moto's ACM appends a root of its own)."""
        if ":iam:" in arn:
            got = self.boto3("iam").get_server_certificate(
                ServerCertificateName=arn.rsplit("/", 1)[-1])["ServerCertificate"]
            text = got["CertificateBody"] + "\n" + got.get("CertificateChain", "")
        else:
            got = self.boto3("acm").get_certificate(CertificateArn=arn)
            text = got["Certificate"] + "\n" + got.get("CertificateChain", "")
        return leaf_and_chain(text)

    def iam_certificates(self) -> list[str]:
        return [m["Arn"] for m in self.boto3("iam").list_server_certificates()["ServerCertificateMetadataList"]]

    def acm_certificates(self) -> list[str]:
        return [c["CertificateArn"] for c in self.boto3("acm").list_certificates()["CertificateSummaryList"]]


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def leaf_and_chain(pem: str) -> tuple[str, list[str]]:
    certs = x509.load_pem_x509_certificates(pem.encode())
    chain: list[x509.Certificate] = []
    for cert in certs[1:]:
        if not issued_by(chain[-1] if chain else certs[0], cert):
            break
        chain.append(cert)
    return fingerprint(certs[0]), [fingerprint(c) for c in chain]


class Recorder:
    """moto's request recorder: every request the server got since :meth:`start`, as operation names."""

    def __init__(self, endpoint: str) -> None:
        self.port = int(endpoint.rsplit(":", 1)[1])

    def _call(self, method: str, path: str) -> str:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            conn.request(method, f"/moto-api/recorder/{path}")
            response = conn.getresponse()
            text = response.read().decode()
            assert response.status < 300, f"moto recorder {path}: HTTP {response.status}"
            return text
        finally:
            conn.close()

    def start(self) -> None:
        self._call("POST", "reset-recording")
        self._call("POST", "start-recording")

    def stop(self) -> None:
        self._call("POST", "stop-recording")
        self._call("POST", "reset-recording")

    def operations(self) -> list[str]:
        text = self._call("GET", "download-recording")
        found = []
        for line in filter(None, text.splitlines()):
            entry = json.loads(line)
            target = entry["headers"].get("X-Amz-Target")
            if target:
                found.append(str(target).rsplit(".", 1)[-1])
                continue
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode()
            found += urllib.parse.parse_qs(body).get("Action", [])
        return found

    def writes(self) -> list[str]:
        return [op for op in self.operations() if not op.startswith(READS)]


# -- load balancers, made with plain boto3 as an operator would ---------------------------------------------
@dataclass(frozen=True)
class Alb:
    name: str
    arn: str
    target_group: str


def classic_elb(endpoint: str, name: str = "classic") -> str:
    client(endpoint, "elb").create_load_balancer(LoadBalancerName=name, AvailabilityZones=[f"{REGION}a"], Listeners=[
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}])
    return name


def alb(endpoint: str, name: str = "web", *, plain_port: int = 8080, vpc_number: int = 0) -> Alb:
    """An ALB in its own VPC (two subnets) with a target group and an HTTP listener on ``plain_port``
    forwarding to it."""
    ec2, elbv2 = client(endpoint, "ec2"), client(endpoint, "elbv2")
    vpc = ec2.create_vpc(CidrBlock=f"10.{vpc_number}.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{vpc_number}.{i}.0/24",
                                 AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
               for i, zone in enumerate("ab")]
    arn = elbv2.create_load_balancer(Name=name, Subnets=subnets, Type="application",
                                     Scheme="internal")["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.create_target_group(Name=f"{name}-web", Protocol="HTTP", Port=80, VpcId=vpc,
                                      TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=plain_port,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
    return Alb(name, arn, group)


# -- certificates on disk -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Files:
    """A certificate as an operator has it: files, and the fingerprints clients should be sent."""

    name: str
    cert: Path
    key: Path
    chain: Path
    leaf: str
    chain_fps: list[str]

    def add_args(self, name: str | None = None) -> list[str]:
        return ["cert", "add", name or self.name, "--cert", str(self.cert), "--key", str(self.key),
                "--chain", str(self.chain)]


def write_files(directory: Path, name: str, leaf: Node, chain: Sequence[Node]) -> Files:
    directory.mkdir(parents=True, exist_ok=True)
    tag = leaf.fingerprint[:8]
    paths = [directory / f"{name}-{tag}.{ext}" for ext in ("crt", "key", "chain")]
    paths[0].write_bytes(leaf.pem)
    paths[1].write_bytes(key_bytes(leaf.key))
    paths[2].write_bytes(b"".join(n.pem for n in chain))
    return Files(name, paths[0], paths[1], paths[2], leaf.fingerprint, [n.fingerprint for n in chain])


def rsa_files(directory: Path, pki: Pki, name: str, *hosts: str, bits: int = 2048) -> Files:
    """An RSA certificate from ``pki`` (valid around the real clock) for ``hosts`` (default NAME.example.test)."""
    leaf = pki.leaf(*(hosts or (f"{name}.example.test",)), key=rsa_key(bits))
    return write_files(directory, name, leaf, pki.chain)


def ec_files(directory: Path, pki: Pki, name: str) -> Files:
    return write_files(directory, name, pki.leaf(f"{name}.example.test"), pki.chain)


def stale_intermediate_files(directory: Path, name: str) -> Files:
    """A valid RSA leaf whose intermediate expired two days ago: sslterm stores it (it checks the leaf's dates),
    AWS refuses it (every certificate sent must be valid)."""
    now = datetime.now(UTC)
    root_key, inter_key, leaf_key = ec_key(), ec_key(), rsa_key()
    root = Node(make_cert("Stale Root CA", root_key.public_key(), issuer=None, signing_key=root_key, ca=True,
                          not_before=now - timedelta(days=800), not_after=now + timedelta(days=3000)), root_key)
    inter = Node(make_cert("Stale Intermediate CA", inter_key.public_key(), issuer=root, ca=True,
                           not_before=now - timedelta(days=400), not_after=now - timedelta(days=2)), inter_key)
    leaf = Node(make_cert(f"{name}.example.test", leaf_key.public_key(), issuer=inter,
                          not_before=now - timedelta(days=1), not_after=now + timedelta(days=60),
                          sans=[f"{name}.example.test"]), leaf_key)
    return write_files(directory, name, leaf, [inter])
