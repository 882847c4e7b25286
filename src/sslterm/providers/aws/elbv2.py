"""ALB and NLB listeners (``elbv2``): what a load balancer has, read from it, and the calls that change it.

Which listeners are sslterm's is read from the listeners themselves: one it creates carries the tag
``sslterm=managed`` (an HTTP listener it creates to redirect to HTTPS carries ``sslterm:redirect=PORT``), and
each certificate on it a tag ``sslterm:cert:<digest of the ARN>`` holding the store's name for it. Every other
listener is the operator's: never changed, never deleted, its port refused (``port-taken``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sslterm.engine.contract import ListenerSpec
from sslterm.errors import UnsafePlan
from sslterm.providers.aws.calls import ClientFactory, aws
from sslterm.providers.aws.certstore import Body
from sslterm.providers.aws.policies import profile_of, security_policy
from sslterm.providers.aws.refusals import Family

TAG, MANAGED, REDIRECT_TAG = "sslterm", "managed", "sslterm:redirect"
TLS_PROTOCOLS = ("HTTPS", "TLS")
#: the target group's protocol, in sslterm's words for what reaches the instances
INSTANCE_PROTOCOL = {"HTTP": "HTTP", "TCP": "HTTP", "HTTPS": "HTTPS", "TLS": "HTTPS"}


def cert_tag(arn: str) -> str:
    """The tag key naming the store's certificate behind ``arn`` on a listener (ARNs are too long for a key)."""
    return "sslterm:cert:" + hashlib.sha256(arn.encode()).hexdigest()[:24]


@dataclass
class Listener:
    arn: str
    port: int
    protocol: str
    policy: str | None
    actions: list[dict[str, Any]]
    tags: dict[str, str] = field(default_factory=dict)
    default: str | None = None  # the default certificate's ARN
    sni: list[str] = field(default_factory=list)  # the other certificates' ARNs, as AWS lists them

    @property
    def ours(self) -> bool:
        return self.protocol in TLS_PROTOCOLS and self.tags.get(TAG) == MANAGED

    @property
    def redirects_for(self) -> int | None:
        value = self.tags.get(REDIRECT_TAG, "")
        return int(value) if value.isdigit() else None

    def target_group(self) -> str | None:
        for action in self.actions:
            if action.get("Type") == "forward":
                groups = action.get("ForwardConfig", {}).get("TargetGroups") or [{}]
                return str(action.get("TargetGroupArn") or groups[0].get("TargetGroupArn") or "") or None
        return None


class Elbv2:
    """One ALB or NLB, by name, in the clients' region."""

    def __init__(self, lb: str, name: str, clients: ClientFactory, target_group: str | None) -> None:
        self.lb, self.name, self.clients, self.given_group = lb, name, clients, target_group
        self._description: dict[str, Any] | None = None

    def description(self) -> dict[str, Any]:
        if self._description is None:
            with aws(self.lb, f"describe load balancer {self.name}"):
                found = self.clients("elbv2").describe_load_balancers(Names=[self.name])["LoadBalancers"]
            self._description = dict(found[0])
        return self._description

    @property
    def family(self) -> Family:
        return "network" if self.description().get("Type") == "network" else "application"

    def listeners(self) -> list[Listener]:
        client = self.clients("elbv2")
        with aws(self.lb, "describe listeners"):
            pages = client.get_paginator("describe_listeners").paginate(
                LoadBalancerArn=self.description()["LoadBalancerArn"])
            found = [Listener(x["ListenerArn"], int(x["Port"]), x["Protocol"], x.get("SslPolicy"),
                              list(x.get("DefaultActions", []))) for page in pages for x in page["Listeners"]]
            for start in range(0, len(found), 20):
                batch = found[start:start + 20]
                described = client.describe_tags(ResourceArns=[x.arn for x in batch])["TagDescriptions"]
                tags = {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d.get("Tags", [])} for d in described}
                for x in batch:
                    x.tags = tags.get(x.arn, {})
            for x in (x for x in found if x.ours):
                certs = client.describe_listener_certificates(ListenerArn=x.arn)["Certificates"]
                x.default = next((c["CertificateArn"] for c in certs if c.get("IsDefault")), None)
                x.sni = [c["CertificateArn"] for c in certs if not c.get("IsDefault")]
        return found

    def target_group(self, listeners: Sequence[Listener]) -> str:
        """The given target group, else the one the load balancer's plain listener forwards to."""
        if self.given_group:
            return self.given_group
        plain = sorted((x for x in listeners if x.protocol in ("HTTP", "TCP") and x.target_group()),
                       key=lambda x: (x.port != 80, x.port))
        if not plain:
            raise UnsafePlan(f"{self.lb}: no target group to forward TLS traffic to (no plain listener forwards "
                             "to one)", code="aws-no-target-group", hint="sslterm lb add ... --target-group ARN")
        return str(plain[0].target_group())

    def instance_protocol(self, group: str) -> str:
        with aws(self.lb, f"describe target group {group}"):
            found = self.clients("elbv2").describe_target_groups(TargetGroupArns=[group])["TargetGroups"]
        return INSTANCE_PROTOCOL.get(str(found[0].get("Protocol")), "HTTP")

    # -- what it has -----------------------------------------------------------------------------------
    def observe(self, read: Callable[[str], Body]) -> tuple[list[ListenerSpec], list[int]]:
        """sslterm's TLS listeners (certificates read back through ``read``) and the other listeners' ports."""
        found = self.listeners()
        redirects = {x.redirects_for: x for x in found if x.redirects_for is not None}
        ours = [x for x in found if x.ours]
        foreign = sorted(x.port for x in found if not x.ours and x.redirects_for is None)
        groups: dict[str, str] = {}
        specs = []
        for x in ours:
            arns = [a for a in (x.default, *x.sni) if a]
            slots = tuple(read(a).slot(x.tags.get(cert_tag(a), "(not sslterm's)"), a) for a in dict.fromkeys(arns))
            group = x.target_group() or ""
            if group and group not in groups:
                groups[group] = self.instance_protocol(group)
            specs.append(ListenerSpec(x.port, None, groups.get(group, "HTTP"), x.port in redirects, False,
                                      profile_of(self.family, x.policy), slots))
        return specs, foreign

    # -- changing it -----------------------------------------------------------------------------------
    def bind(self, listener: ListenerSpec, arns: Sequence[str]) -> None:
        """Make sslterm's listener on ``listener.lb_port`` serve ``arns`` (the first as default) with its
        settings, creating it (and its redirect) when absent."""
        client = self.clients("elbv2")
        found = self.listeners()
        current = next((x for x in found if x.port == listener.lb_port), None)
        if current is not None and not current.ours:
            raise UnsafePlan(f"{self.lb} already has a listener on port {listener.lb_port} that sslterm did not "
                             "create", code="port-taken", hint="choose another --lb-port")
        policy = security_policy(self.family, listener.tls_profile)  # type: ignore[arg-type]
        names = [{"Key": cert_tag(a), "Value": c.name} for a, c in zip(arns, listener.certificates, strict=True)]
        where = f"listener :{listener.lb_port}"
        if current is None:
            action = {"Type": "forward", "TargetGroupArn": self.target_group(found)}
            with aws(self.lb, f"{where}: create"):
                arn = client.create_listener(
                    LoadBalancerArn=self.description()["LoadBalancerArn"], Port=listener.lb_port,
                    Protocol="TLS" if self.family == "network" else "HTTPS", SslPolicy=policy,
                    Certificates=[{"CertificateArn": arns[0]}], DefaultActions=[action],
                    Tags=[{"Key": TAG, "Value": MANAGED}, *names])["Listeners"][0]["ListenerArn"]
            current = Listener(arn, listener.lb_port, "HTTPS", policy, [action], default=arns[0])
        else:
            self._update(current, arns, policy, names)
        for arn in (a for a in dict.fromkeys(arns[1:]) if a not in current.sni):
            with aws(self.lb, f"{where}: add certificate"):
                client.add_listener_certificates(ListenerArn=current.arn, Certificates=[{"CertificateArn": arn}])
        self._redirect(found, listener)

    def _update(self, current: Listener, arns: Sequence[str], policy: str, names: list[dict[str, str]]) -> None:
        client = self.clients("elbv2")
        where = f"listener :{current.port}"
        changes: dict[str, Any] = {}
        if current.default != arns[0]:
            changes["Certificates"] = [{"CertificateArn": arns[0]}]
        if current.policy != policy:
            changes["SslPolicy"] = policy
        if changes:
            with aws(self.lb, f"{where}: modify"):
                client.modify_listener(ListenerArn=current.arn, **changes)
        extra = [a for a in current.sni if a not in arns]  # a replaced default never lingers as SNI
        if extra:
            with aws(self.lb, f"{where}: remove certificates"):
                client.remove_listener_certificates(ListenerArn=current.arn,
                                                    Certificates=[{"CertificateArn": a} for a in extra])
        current.sni = [a for a in current.sni if a not in extra]
        stale = [k for k in current.tags if k.startswith("sslterm:cert:") and k not in {t["Key"] for t in names}]
        missing = [t for t in names if current.tags.get(t["Key"]) != t["Value"]]
        with aws(self.lb, f"{where}: tag"):
            if missing:
                client.add_tags(ResourceArns=[current.arn], Tags=missing)
            if stale:
                client.remove_tags(ResourceArns=[current.arn], TagKeys=stale)

    def _redirect(self, found: Sequence[Listener], listener: ListenerSpec) -> None:
        """The HTTP listener on port 80 that sends clients to HTTPS: sslterm's, present exactly when wanted."""
        mine = next((x for x in found if x.redirects_for == listener.lb_port), None)
        client = self.clients("elbv2")
        if listener.redirect_http and mine is None:
            if any(x.port == 80 for x in found):
                raise UnsafePlan(f"{self.lb}: port 80 has a listener sslterm did not create; it cannot become the "
                                 "redirect to HTTPS", code="port-taken",
                                 hint="remove it or make it redirect yourself; or leave out --redirect-http")
            with aws(self.lb, "listener :80: create the redirect to HTTPS"):
                client.create_listener(
                    LoadBalancerArn=self.description()["LoadBalancerArn"], Port=80, Protocol="HTTP",
                    DefaultActions=[{"Type": "redirect", "RedirectConfig": {
                        "Protocol": "HTTPS", "Port": str(listener.lb_port), "Host": "#{host}", "Path": "/#{path}",
                        "Query": "#{query}", "StatusCode": "HTTP_301"}}],
                    Tags=[{"Key": REDIRECT_TAG, "Value": str(listener.lb_port)}])
        elif mine is not None and not listener.redirect_http:
            with aws(self.lb, "listener :80: delete the redirect to HTTPS"):
                client.delete_listener(ListenerArn=mine.arn)

    def check(self, listeners: Sequence[ListenerSpec]) -> None:
        """``--redirect-http`` needs port 80 free or sslterm's own redirect: refused before any write."""
        if not any(x.redirect_http for x in listeners):
            return
        taken = [x for x in self.listeners() if x.port == 80 and x.redirects_for is None]
        if taken:
            raise UnsafePlan(f"{self.lb}: port 80 has a listener sslterm did not create; it cannot become the "
                             "redirect to HTTPS", code="port-taken",
                             hint="remove it or make it redirect yourself; or leave out --redirect-http")

    def unbind(self, lb_port: int) -> None:
        found = self.listeners()
        for x in found:
            if (x.port == lb_port and x.ours) or x.redirects_for == lb_port:
                with aws(self.lb, f"listener :{x.port}: delete"):
                    self.clients("elbv2").delete_listener(ListenerArn=x.arn)
