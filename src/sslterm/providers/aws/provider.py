"""The AWS provider: a classic ELB (``aws-elb``) or an ALB/NLB (``aws-alb``), certificates in ACM or IAM.

Everything is read from AWS itself (listeners, their certificates' bodies); nothing is kept beside it. The
listener calls are in classic.py and elbv2.py, the certificate stores in certstore.py, the checks AWS would
make (and moto does not) in checks.py, all before any call that changes anything.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import ClassVar

from sslterm.certs.names import dns_names
from sslterm.engine.contract import (
    TLS_PROFILES,
    Capabilities,
    CertRef,
    CertSlot,
    ListenerSpec,
    Observed,
    ProbeTarget,
    Served,
    Timing,
)
from sslterm.errors import ProviderError, UnsafePlan
from sslterm.ports import LocalEndpoint
from sslterm.providers.aws.calls import ClientFactory, aws
from sslterm.providers.aws.certstore import AcmStore, Body, IamStore
from sslterm.providers.aws.checks import bundle_problems
from sslterm.providers.aws.classic import Classic
from sslterm.providers.aws.elbv2 import Elbv2
from sslterm.providers.aws.options import AwsOptions
from sslterm.providers.aws.policies import quota_problems
from sslterm.providers.aws.refusals import refuse

#: a new IAM certificate may be invisible to ELB for up to a minute (CertificateNotFound); throttling and 5xx
#: are botocore's to retry; a change is live when its call returns, and read back at once
_ACCOUNTS: dict[object, str] = {}  # an STS client -> the account it answers for

TIMING = Timing(attempts=10, first_delay=1.0, max_wait=60.0, settle_within=30.0, settle_interval=1.0)


class AwsProvider:
    """``clients`` makes boto3 clients (tests: of a moto server, or stubbed); ``clock`` dates the checks."""

    kind: ClassVar[str] = "aws-alb"

    def __init__(self, name: str, options: AwsOptions, clients: ClientFactory, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), timing: Timing = TIMING) -> None:
        self.name, self.options, self.clients, self.clock, self.timing = name, options, clients, clock, timing
        stores: dict[str, AcmStore | IamStore] = {"acm": AcmStore(name, clients, self._account),
                                                  "iam": IamStore(name, clients, self._account)}
        self.store = stores[options.cert_store]
        self._readers = stores
        self.balancer: Classic | Elbv2 = (Classic(name, options.name, clients) if self.kind == "aws-elb"
                                          else Elbv2(name, options.name, clients, options.target_group))
        self.default_lb_port = 443

    @functools.cached_property
    def _account_id(self) -> str:
        sts = self.clients("sts")
        if sts not in _ACCOUNTS:  # one look-up per client (per region and process), not per load balancer
            with aws(self.name, "who am I (STS)"):
                _ACCOUNTS[sts] = str(sts.get_caller_identity()["Account"])
        return _ACCOUNTS[sts]

    def _account(self) -> str:
        return self._account_id

    @property
    def scope(self) -> str:
        return self.store.scope

    @functools.cached_property
    def capabilities(self) -> Capabilities:
        family = self.balancer.family
        rotate = self.store.rotate_in_place
        if family == "classic":
            keys = ("RSA",) if self.store.kind == "acm" else ("RSA", "EC")
            return Capabilities(key_types=keys, sni=False, redirect_http=False, hsts=False,
                                tls_profiles=("intermediate", "old"), rotate_in_place=rotate, handshake=False)
        return Capabilities(max_certificates_per_listener=26, redirect_http=family == "application", hsts=False,
                            tls_profiles=TLS_PROFILES, rotate_in_place=rotate, handshake=False)

    # -- contract ----------------------------------------------------------------------------------------
    def check(self, listeners: Sequence[ListenerSpec]) -> None:
        family = self.balancer.family
        now = self.clock()
        self.balancer.check(listeners)  # what the listeners already there rule out (port 80, tag room)
        for x in listeners:
            if family != "classic" and x.instance_port is not None:
                raise UnsafePlan(f"{self.name} port {x.lb_port}: an {family} load balancer forwards to its target "
                                 "group, whose targets' ports apply", code="instance-port-unsupported",
                                 hint="leave out --instance-port (choose the target group at lb add instead)")
            for slot in x.certificates:
                if slot.material is not None:
                    refuse(bundle_problems(slot.material.bundle(), self.store.kind, family, now))  # type: ignore[arg-type]
        if family != "classic":
            refuse(quota_problems(family, sum(max(len(x.certificates) - 1, 0) for x in listeners)))

    def observe(self) -> Observed:
        specs, foreign = self.balancer.observe(self._read)
        return Observed(tuple(specs), tuple(foreign))

    def _read(self, arn: str) -> Body:
        return self._readers["iam" if ":iam:" in arn else "acm"].read(arn)

    def upload(self, slot: CertSlot) -> CertRef:
        arn = self.store.find(slot) or self.store.put(slot)
        return CertRef(slot.served_id, arn, self.scope)

    def rotate(self, ref: CertRef, slot: CertSlot) -> CertRef:
        if not self.store.rotate_in_place:
            raise ProviderError(f"{self.name}: {self.store.kind.upper()} certificates are not replaced in place",
                                code="unsupported")
        return CertRef(slot.served_id, self.store.replace(ref.location, slot), self.scope)

    def bind(self, listener: ListenerSpec, refs: dict[str, CertRef]) -> None:
        if not listener.certificates:
            self.unbind(listener.lb_port)
            return
        self.balancer.bind(listener, self._arns(listener, refs))

    def _arns(self, listener: ListenerSpec, refs: dict[str, CertRef]) -> list[str]:
        """Each certificate's ARN: uploaded now, or served already (read from the load balancer)."""
        served: dict[str, str] | None = None
        arns = []
        for slot in listener.certificates:
            arn = refs[slot.served_id].location if slot.served_id in refs else slot.location
            if not arn:
                if served is None:
                    served = {c.served_id: c.location for x in self.observe().listeners for c in x.certificates}
                arn = served.get(slot.served_id) or self.upload(slot).location
            arns.append(arn)
        return arns

    def unbind(self, lb_port: int) -> None:
        self.balancer.unbind(lb_port)

    def verify(self, listener: ListenerSpec, only: Collection[str] | None = None) -> list[Served]:
        """Read the listener back: each certificate's ARN by its name, its body and chain from ACM or IAM."""
        host = self.address(listener.lb_port)[0]
        have = self.observe().by_port().get(listener.lb_port)
        out = []
        for position, slot in enumerate(listener.certificates):
            if only is not None and slot.name not in only and position:
                continue
            names = dns_names(slot.sans)
            sni = None if position == 0 else (names[0] if names else None)
            target = ProbeTarget(host, listener.lb_port, sni, slot.fingerprint, slot.name, expect_chain=slot.chain)
            seen = _answering(have, position, slot.name, sni)
            if seen is None:
                out.append(Served(target, None, f"port {listener.lb_port} has no certificate for it", how="read-back"))
            else:
                out.append(Served(target, seen.fingerprint, chain=seen.chain, how="read-back"))
        return out

    def forget(self, ref: CertRef) -> None:
        self.store.delete(ref.location)

    def cleanup(self) -> None:
        return None

    def address(self, lb_port: int) -> tuple[str, int]:
        return str(self.balancer.description().get("DNSName", "")), lb_port

    def local_endpoints(self, lb_ports: Iterable[int], *, http: bool = True) -> tuple[LocalEndpoint, ...]:
        return ()

    def alive(self) -> bool:
        return True  # a cloud load balancer is not started by sslterm; start() says when it does not exist

    def start(self) -> None:
        """That the load balancer exists, and is of this kind (else which kind it is)."""
        try:
            self.balancer.description()
        except ProviderError as exc:
            other = self._other_kind()
            hint = f"it is {other}: sslterm lb add ... --kind {'aws-elb' if 'classic' in other else 'aws-alb'}" \
                if other else "check --name and --region"
            raise ProviderError(f"{self.name}: no {self.kind} load balancer named {self.options.name}: "
                                f"{exc.message.rsplit(': ', 1)[-1]}", code="aws-load-balancer-not-found",
                                hint=hint) from exc

    def _other_kind(self) -> str:
        try:
            if self.kind == "aws-elb":
                found = Elbv2(self.name, self.options.name, self.clients, None)
                return f"an {found.family} load balancer"
            Classic(self.name, self.options.name, self.clients).description()
            return "a classic ELB"
        except ProviderError:
            return ""

    def stop(self, *, keep_files: bool = False) -> None:
        return None


def _answering(have: ListenerSpec | None, position: int, name: str, sni: str | None) -> CertSlot | None:
    """What the listener read back gives a client: its default (position 0), else the certificate of that
    name, else the one whose names cover the SNI name asked for (what ELB would choose)."""
    if have is None or not have.certificates:
        return None
    if position == 0:
        return have.certificates[0]
    by_name = next((c for c in have.certificates if c.name == name), None)
    if by_name is not None or sni is None:
        return by_name
    return next((c for c in have.certificates[1:] if sni in c.sans), None)


class ClassicElbProvider(AwsProvider):
    kind: ClassVar[str] = "aws-elb"
