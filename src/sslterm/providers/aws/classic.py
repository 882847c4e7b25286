"""Classic ELB listeners (``elb``): what a load balancer has, read from it, and the calls that change it.

A classic listener has no tags of its own: sslterm tags the load balancer, one tag per listener it created
(``sslterm:PORT``), holding what AWS does not say back reliably: the store's name for its certificate, the
instance protocol and the instance port as asked (moto reports the front-end protocol as the instance
protocol). Every other listener is the operator's: never changed, never deleted, its port refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sslterm.engine.contract import ListenerSpec
from sslterm.errors import ProviderError, UnsafePlan
from sslterm.providers.aws.calls import ClientFactory, aws
from sslterm.providers.aws.certstore import Body
from sslterm.providers.aws.policies import security_policy
from sslterm.providers.aws.refusals import Family

TLS_PROTOCOLS = ("HTTPS", "SSL")
POLICY_PREFIX = "sslterm-"
MAX_TAGS = 10  # per classic load balancer


def port_tag(port: int) -> str:
    return f"sslterm:{port}"


class Classic:
    """One classic ELB, by name, in the clients' region."""

    family: Family = "classic"

    def __init__(self, lb: str, name: str, clients: ClientFactory) -> None:
        self.lb, self.name, self.clients = lb, name, clients
        self._tag_count = 0

    def description(self) -> dict[str, Any]:
        with aws(self.lb, f"describe load balancer {self.name}"):
            found = self.clients("elb").describe_load_balancers(LoadBalancerNames=[self.name])
        return dict(found["LoadBalancerDescriptions"][0])

    def _state(self) -> tuple[list[tuple[dict[str, Any], list[str]]], dict[int, dict[str, Any]]]:
        """(listener, its policy names) for each listener; sslterm's notes by port (from the tags)."""
        described = self.description()["ListenerDescriptions"]
        listeners = [(d["Listener"], list(d.get("PolicyNames", []))) for d in described]
        with aws(self.lb, "describe tags"):
            described = self.clients("elb").describe_tags(LoadBalancerNames=[self.name])["TagDescriptions"]
        notes: dict[int, dict[str, Any]] = {}
        tags = described[0].get("Tags", []) if described else []
        self._tag_count = len(tags)
        for tag in tags:
            port = tag["Key"].removeprefix("sslterm:")
            if tag["Key"].startswith("sslterm:") and port.isdigit():
                try:
                    notes[int(port)] = dict(json.loads(tag.get("Value", "")))
                except (ValueError, TypeError):
                    continue  # not sslterm's writing: the listener counts as the operator's
        return listeners, notes

    def observe(self, read: Callable[[str], Body]) -> tuple[list[ListenerSpec], list[int]]:
        listeners, notes = self._state()
        specs, foreign = [], []
        for listener, policies in listeners:
            port = int(listener["LoadBalancerPort"])
            note = notes.get(port)
            if note is None or listener["Protocol"] not in TLS_PROTOCOLS or not listener.get("SSLCertificateId"):
                foreign.append(port)
                continue
            asked = note.get("instance_port")
            instance_port = asked if int(listener["InstancePort"]) == (asked or 80) else int(listener["InstancePort"])
            profile = next((p.removeprefix(POLICY_PREFIX) for p in policies if p.startswith(POLICY_PREFIX)), "old")
            arn = str(listener["SSLCertificateId"])
            specs.append(ListenerSpec(port, instance_port, str(note.get("instance_protocol", "HTTP")), False, False,
                                      profile, (read(arn).slot(str(note.get("certificate", "")), arn),)))
        return specs, sorted(foreign)

    def bind(self, listener: ListenerSpec, arns: Sequence[str]) -> None:
        client = self.clients("elb")
        listeners, notes = self._state()
        port = listener.lb_port
        current = next((x for x, _ in listeners if int(x["LoadBalancerPort"]) == port), None)
        policies = next((p for x, p in listeners if int(x["LoadBalancerPort"]) == port), [])
        if current is not None and port not in notes:
            raise UnsafePlan(f"{self.lb} already has a listener on port {port} that sslterm did not create",
                             code="port-taken", hint="choose another --lb-port")
        instance_port = listener.instance_port or 80
        note = {"certificate": listener.certificates[0].name, "instance_protocol": listener.instance_protocol,
                "instance_port": listener.instance_port}
        where = f"listener :{port}"
        if current is not None and (int(current["InstancePort"]) != instance_port
                                    or notes[port].get("instance_protocol") != listener.instance_protocol):
            self._delete(port)  # a classic listener's instance side cannot be changed in place
            current, policies = None, []
        if notes.get(port) != note:  # first: a load balancer with no room for the tag is left untouched
            with aws(self.lb, f"{where}: tag"):
                client.add_tags(LoadBalancerNames=[self.name], Tags=[{"Key": port_tag(port),
                                                                     "Value": json.dumps(note, sort_keys=True)}])
        if current is None:
            with aws(self.lb, f"{where}: create"):
                client.create_load_balancer_listeners(LoadBalancerName=self.name, Listeners=[{
                    "Protocol": "HTTPS", "LoadBalancerPort": port, "InstanceProtocol": listener.instance_protocol,
                    "InstancePort": instance_port, "SSLCertificateId": arns[0]}])
        elif current.get("SSLCertificateId") != arns[0]:
            with aws(self.lb, f"{where}: set certificate"):
                client.set_load_balancer_listener_ssl_certificate(LoadBalancerName=self.name, LoadBalancerPort=port,
                                                                  SSLCertificateId=arns[0])
        policy = POLICY_PREFIX + listener.tls_profile
        if policies != [policy]:
            self._policy(policy, security_policy("classic", listener.tls_profile))  # type: ignore[arg-type]
            with aws(self.lb, f"{where}: set security policy {policy}"):
                client.set_load_balancer_policies_of_listener(LoadBalancerName=self.name, LoadBalancerPort=port,
                                                              PolicyNames=[policy])

    def check(self, listeners: Sequence[ListenerSpec]) -> None:
        """A classic ELB holds 10 tags: a new listener needs room for sslterm's, refused before any write."""
        _, notes = self._state()
        new = [x.lb_port for x in listeners if x.lb_port not in notes]
        if new and self._tag_count + len(new) > MAX_TAGS:
            raise UnsafePlan(f"{self.lb}: the classic ELB has {self._tag_count} of its {MAX_TAGS} tags; sslterm needs "
                             f"one per listener it creates", code="aws-tag-quota",
                             hint="remove a tag from the load balancer, then run this again")

    def _policy(self, name: str, reference: str) -> None:
        """The load balancer's policy ``name`` referring to ELB's predefined ``reference`` (made once)."""
        try:
            with aws(self.lb, f"create security policy {name}"):
                self.clients("elb").create_load_balancer_policy(
                    LoadBalancerName=self.name, PolicyName=name, PolicyTypeName="SSLNegotiationPolicyType",
                    PolicyAttributes=[{"AttributeName": "Reference-Security-Policy", "AttributeValue": reference}])
        except ProviderError as exc:
            if exc.code != "aws-duplicate-policy-name":
                raise

    def _delete(self, port: int) -> None:
        with aws(self.lb, f"listener :{port}: delete"):  # one port per call (moto deletes none of several)
            self.clients("elb").delete_load_balancer_listeners(LoadBalancerName=self.name, LoadBalancerPorts=[port])

    def unbind(self, lb_port: int) -> None:
        _, notes = self._state()
        if lb_port not in notes:
            return  # not sslterm's, or gone already
        self._delete(lb_port)
        with aws(self.lb, f"listener :{lb_port}: untag"):
            self.clients("elb").remove_tags(LoadBalancerNames=[self.name], Tags=[{"Key": port_tag(lb_port)}])
