"""AWS (issue 8): API calls and wall time of sslterm against a plain boto3 script that follows the manual runbook,
both against moto in server mode on 127.0.0.1 (a child process: ``tests/aws/moto_server.py``), on classic ELBs.

    .venv/bin/python bench/aws_bench.py [--lbs 50] [--latency MS] [--json FILE]

Scenarios, each on a freshly emptied moto with the same load balancers (HTTP :80 only), set up unmeasured:
- enable on 1 and on N load balancers (ACM; and IAM on N): sslterm runs ``sslterm enable LB --cert shop`` once per
  load balancer (the command takes one); the runbook uploads the certificate once, then creates the HTTPS :443
  listener on each load balancer, one after the other;
- re-apply an unchanged state: ``sslterm apply`` (every load balancer); the runbook describes each one;
- rotate the certificate served by N load balancers: ``sslterm cert add shop --replace``; the runbook re-imports
  into the same ACM ARN, or (IAM) uploads the new one, swaps each listener, deletes the old one.

sslterm is driven through its Service exactly as a command is (a new Service per command, providers built as
``sslterm.providers.aws.factory`` builds them, with the per-process caches emptied first), minus interpreter
start-up.
Every boto3 client, sslterm's and the runbook's, carries botocore event hooks: ``before-call`` counts API calls
(reads: Describe*, Get*, List*; everything else is a write), ``before-send`` counts HTTP attempts (retries), and
``before-call``/``after-call`` time each call; making clients is timed apart.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import boto3
from botocore.config import Config

from aws.moto_server import client as moto_client
from aws.moto_server import environment, moto_server, reset
from sslterm.certs.validate import BundleInput
from sslterm.demo.ca import DemoCA, Issued
from sslterm.engine.contract import Provider
from sslterm.providers.aws import calls as aws_calls
from sslterm.providers.aws import provider as aws_provider
from sslterm.providers.aws.calls import ClientFactory, boto3_clients
from sslterm.providers.aws.options import AwsOptions
from sslterm.providers.aws.provider import AwsProvider, ClassicElbProvider
from sslterm.service import Service
from sslterm.settings import Settings

READS = ("Describe", "Get", "List")
HTTP80 = {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstanceProtocol": "HTTP", "InstancePort": 80}


@dataclass
class Meter:
    """What every hooked client did since the last ``take``."""

    calls: Counter[str] = field(default_factory=Counter)
    attempts: int = 0
    aws_s: float = 0.0
    clients: int = 0
    clients_s: float = 0.0
    first_write: float | None = None  # perf_counter() of the first write call
    latency: float = 0.0  # seconds added to every HTTP attempt (--latency)

    def hook(self, made: Any) -> Any:
        made.meta.events.register("before-call.*.*", self._before)
        made.meta.events.register("after-call.*.*", self._after)
        made.meta.events.register("before-send.*.*", self._send)
        return made

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        context["bench_started"] = time.perf_counter()
        if self.first_write is None and not model.name.startswith(READS):
            self.first_write = context["bench_started"]

    def _after(self, context: dict[str, Any], **_: Any) -> None:
        self.aws_s += time.perf_counter() - context.pop("bench_started", time.perf_counter())

    def _send(self, **_: Any) -> None:
        self.attempts += 1
        if self.latency:
            time.sleep(self.latency)  # a round trip to AWS, not to moto on this machine

    def made(self, started: float) -> None:
        self.clients += 1
        self.clients_s += time.perf_counter() - started

    def take(self) -> Meter:
        taken = Meter(self.calls, self.attempts, self.aws_s, self.clients, self.clients_s, self.first_write)
        self.calls, self.attempts, self.aws_s, self.clients, self.clients_s, self.first_write = (
            Counter(), 0, 0.0, 0, 0.0, None)
        return taken

    @property
    def writes(self) -> int:
        return sum(n for name, n in self.calls.items() if not name.startswith(READS))

    @property
    def reads(self) -> int:
        return sum(n for name, n in self.calls.items() if name.startswith(READS))


METER = Meter()


@dataclass
class Row:
    scenario: str
    tool: str
    wall_s: float
    meter: Meter
    started: float = 0.0

    @property
    def first_write_s(self) -> float | None:
        """Seconds from the start to the first write call (sslterm: observing and planning every load balancer)."""
        return None if self.meter.first_write is None else self.meter.first_write - self.started

    def as_json(self) -> dict[str, Any]:
        m = self.meter
        return {"scenario": self.scenario, "tool": self.tool, "wall_s": self.wall_s, "reads": m.reads,
                "writes": m.writes, "http_attempts": m.attempts, "aws_s": m.aws_s, "clients": m.clients,
                "clients_s": m.clients_s, "first_write_s": self.first_write_s, "calls": dict(m.calls.most_common())}


def measured(rows: list[Row], scenario: str, tool: str, run: Callable[[], object]) -> None:
    gc.collect()  # the previous scenario's garbage (boto3 clients by the hundred) is not this one's to collect
    METER.take()
    started = time.perf_counter()
    run()
    rows.append(Row(scenario, tool, time.perf_counter() - started, METER.take(), started))


def given(issued: Issued) -> BundleInput:
    return BundleInput(cert=issued.cert_pem(), chain=issued.chain_pem(), key=issued.key_pem())


HOOKED: dict[int, Any] = {}  # the clients hooked already, by id (kept alive here)


def hooked_clients(region: str | None) -> ClientFactory:
    """``boto3_clients(region)`` (what the real factory gives each provider), each client hooked once made."""
    inner, made = boto3_clients(region), dict[str, Any]()

    def get(service: str) -> Any:
        if service not in made:
            started = time.perf_counter()
            client = inner(service)
            if id(client) not in HOOKED:  # boto3_clients shares one client per service and region: hook it once
                HOOKED[id(client)] = METER.hook(client)
                METER.made(started)
            made[service] = client
        return made[service]

    return get


def new_process() -> None:
    """What a new CLI process starts without: the AWS provider's per-process caches of clients and account ids
    (private names, where this version has them), so that each command here pays what a command pays."""
    for module, name in ((aws_calls, "_FACTORIES"), (aws_provider, "_ACCOUNTS")):
        getattr(module, name, {}).clear()


def provider_factory(name: str, kind: str, options: dict[str, Any]) -> Provider:
    parsed = AwsOptions.from_mapping(options, kind=kind)
    cls = ClassicElbProvider if kind == "aws-elb" else AwsProvider
    return cls(name, parsed, hooked_clients(parsed.region))


class Sslterm:
    """One data directory; each ``command`` runs in a new Service, as each CLI command does."""

    def __init__(self, home: Path, ca: DemoCA) -> None:
        self.home, self.ca = home, ca

    def command(self, run: Callable[[Service], object]) -> object:
        new_process()
        svc = Service(Settings(home=self.home), anchors=(self.ca.root,), provider_factory=provider_factory)
        try:
            return run(svc)
        finally:
            svc.close()


def world(endpoint: str, lbs: list[str]) -> None:
    """An emptied moto holding classic ELBs ``lbs``, each with HTTP :80 only."""
    reset(endpoint)
    for name in lbs:
        moto_client(endpoint, "elb").create_load_balancer(LoadBalancerName=name, AvailabilityZones=["us-east-1a"],
                                                          Listeners=[HTTP80])


def sslterm_side(rows: list[Row], endpoint: str, ca: DemoCA, n: int, store: str, tmp: Path) -> None:
    lbs = [f"elb-{store}-{i:03d}" for i in range(n)]
    world(endpoint, lbs)
    sslterm = Sslterm(tmp / f"sslterm-{store}-{n}", ca)
    sslterm.command(lambda svc: svc.add_certificate("shop", given(ca.issue("shop.example.test", key_kind="rsa"))))
    for name in lbs:  # `sslterm lb add NAME --kind aws-elb --name NAME [--cert-store iam]`, not measured
        sslterm.command(lambda svc, name=name: svc.add_load_balancer(  # type: ignore[misc]
            name, "aws-elb", {"name": name, "cert_store": store}))
    measured(rows, f"enable on {n} ({store.upper()})", "sslterm",
             lambda: [sslterm.command(lambda svc, name=name: svc.enable(name, "shop")) for name in lbs])  # type: ignore[misc]
    if n == 1:
        return
    measured(rows, f"re-apply unchanged, {n} LBs ({store.upper()})", "sslterm",
             lambda: sslterm.command(lambda svc: svc.apply()))
    renewed = given(ca.issue("shop.example.test", key_kind="rsa"))
    measured(rows, f"rotate, served by {n} ({store.upper()})", "sslterm",
             lambda: sslterm.command(lambda svc: svc.add_certificate("shop", renewed, replace=True)))
    bad = [s for s in sslterm.command(lambda svc: svc.status()) if s.state != "ok"]  # type: ignore[attr-defined]
    assert not bad, f"sslterm left {len(bad)} listener(s) not ok: {bad[0]}"


def runbook_side(rows: list[Row], endpoint: str, ca: DemoCA, n: int, store: str) -> None:
    """The manual runbook as a plain boto3 script: sequential, no checks beyond what AWS answers."""
    lbs = [f"elb-{store}-{i:03d}" for i in range(n)]
    world(endpoint, lbs)
    session = boto3.session.Session()
    config = Config(retries={"mode": "standard", "max_attempts": 10})  # reference/clouds.md 1.1
    clients: dict[str, Any] = {}

    def aws(service: str) -> Any:
        if service not in clients:
            started = time.perf_counter()
            clients[service] = METER.hook(session.client(service, config=config))
            METER.made(started)
        return clients[service]

    def upload(issued: Issued, arn: str | None = None) -> str:
        pem = {"CertificateBody" if store == "iam" else "Certificate": issued.cert_pem().decode(),
               "PrivateKey": issued.key_pem().decode(), "CertificateChain": issued.chain_pem().decode()}
        if store == "acm":
            again = {"CertificateArn": arn} if arn else {}
            return str(aws("acm").import_certificate(**pem, **again)["CertificateArn"])
        name = f"shop-{issued.cert.serial_number:x}"[:128]
        meta = aws("iam").upload_server_certificate(ServerCertificateName=name, Path="/", **pem)
        return str(meta["ServerCertificateMetadata"]["Arn"])

    def enable() -> str:
        arn = upload(ca.issue("shop.example.test", key_kind="rsa"))
        for name in lbs:
            aws("elb").create_load_balancer_listeners(LoadBalancerName=name, Listeners=[{
                "Protocol": "HTTPS", "LoadBalancerPort": 443, "InstanceProtocol": "HTTP", "InstancePort": 80,
                "SSLCertificateId": arn}])
        return arn

    arn = ""

    def run_enable() -> None:
        nonlocal arn
        arn = enable()

    measured(rows, f"enable on {n} ({store.upper()})", "runbook", run_enable)
    if n == 1:
        return
    measured(rows, f"re-apply unchanged, {n} LBs ({store.upper()})", "runbook",
             lambda: [aws("elb").describe_load_balancers(LoadBalancerNames=[name]) for name in lbs])
    renewed = ca.issue("shop.example.test", key_kind="rsa")

    def rotate() -> None:
        if store == "acm":
            upload(renewed, arn)
            return
        new = upload(renewed)
        for name in lbs:
            aws("elb").set_load_balancer_listener_ssl_certificate(LoadBalancerName=name, LoadBalancerPort=443,
                                                                  SSLCertificateId=new)
        aws("iam").delete_server_certificate(ServerCertificateName=arn.rsplit("/", 1)[-1])

    measured(rows, f"rotate, served by {n} ({store.upper()})", "runbook", rotate)


def report(rows: list[Row], n: int) -> None:
    print("| scenario | tool | API calls: reads / writes | HTTP attempts | wall (s) | in AWS calls (s) "
          "| making clients (s) | the rest (s) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        m = r.meter
        rest = r.wall_s - m.aws_s - m.clients_s
        print(f"| {r.scenario} | {r.tool} | {m.reads} / {m.writes} | {m.attempts} | {r.wall_s:.2f} | {m.aws_s:.2f} "
              f"| {m.clients_s:.2f} ({m.clients}) | {rest:.2f} |")
    print()
    by = {(r.scenario, r.tool): r for r in rows}
    for scenario in dict.fromkeys(r.scenario for r in rows):
        mine, theirs = by[scenario, "sslterm"], by[scenario, "runbook"]
        ratio = mine.wall_s / theirs.wall_s
        top = ", ".join(f"{name} {count}" for name, count in mine.meter.calls.most_common(6))
        lbs = 1 if scenario.startswith("enable on 1 ") else n
        planning = (f"; {mine.first_write_s:.2f} s before its first write (observing and planning)"
                    if mine.first_write_s is not None and lbs > 1 and not scenario.startswith("enable") else "")
        verdict = ""
        if scenario.startswith("re-apply"):
            verdict = f" Target zero writes: {'met' if mine.meter.writes == 0 else 'NOT met'}."
        elif scenario.startswith("rotate") and "ACM" in scenario:
            verdict = f" Target one write: {'met' if mine.meter.writes == 1 else 'NOT met'}."
        if lbs > 1 and not scenario.startswith("re-apply"):
            verdict += f" Target wall time <= 1/4 of the runbook's: {'met' if ratio <= 0.25 else 'NOT met'}."
        print(f"- {scenario}: sslterm takes {ratio:.2f}x the runbook's wall time, "
              f"{(mine.meter.reads + mine.meter.writes) / lbs:.1f} calls per load balancer{planning}.{verdict} "
              f"Its calls: {top}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lbs", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.0, metavar="MS",
                        help="add MS ms to every HTTP attempt, both tools (moto answers in a few ms; AWS does not)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not 2 <= args.lbs <= 500 or not 0 <= args.latency <= 1000:
        parser.error("--lbs must be between 2 and 500, --latency between 0 and 1000")
    METER.latency = args.latency / 1000
    ca = DemoCA("aws bench")
    rows: list[Row] = []
    with moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="sslterm-aws-bench-") as tmp:
        os.environ.update(environment(endpoint))  # boto3's own settings, as an operator's shell gives them
        for n, store in ((1, "acm"), (args.lbs, "acm"), (args.lbs, "iam")):
            sslterm_side(rows, endpoint, ca, n, store, Path(tmp))
            runbook_side(rows, endpoint, ca, n, store)
    versions = {name: metadata.version(name) for name in ("boto3", "moto")}
    print(f"{args.lbs} classic ELBs, moto {versions['moto']} (server mode, 127.0.0.1), boto3 {versions['boto3']}, "
          f"added latency {args.latency:g} ms per HTTP attempt\n")
    report(rows, args.lbs)
    if args.json:
        args.json.write_text(json.dumps([r.as_json() for r in rows], indent=2))


if __name__ == "__main__":
    main()
