"""The "add a load balancer" form of each kind: which options it asks for, labelled for a person. The names
of the options are the REST API's (the CLI's flags with ``_``); the provider checks every value, so a form
here only says what to ask, never what is valid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sslterm.providers.aws.options import CERT_STORES
from sslterm.providers.rackspace.options import REGIONS


@dataclass(frozen=True)
class OptionField:
    field: str  # the form field's name (unique in the form: the load balancer's own name is "name")
    option: str  # its key in the load balancer's options
    label: str
    help: str = ""
    required: bool = False
    many: bool = False  # several values, one per line (``backends``)
    choices: tuple[str, ...] = ()  # a choice of these; the first is the default
    example: str = ""


@dataclass(frozen=True)
class KindForm:
    slug: str  # in the page's address
    kind: str  # the provider kind
    title: str
    about: str
    fields: tuple[OptionField, ...]

    def options(self, given: dict[str, str]) -> dict[str, Any]:
        """The options of the fields filled in (``many``: a list, one value per line or comma)."""
        out: dict[str, Any] = {}
        for f in self.fields:
            value = given.get(f.field, "").strip()
            if value:
                out[f.option] = value.replace(",", " ").split() if f.many else value
        return out


_BIND = OptionField("bind", "bind", "TLS bind address (HOST:PORT)", "where HAProxy terminates TLS; its port is "
                    "the listener's default port", example="0.0.0.0:443")
_AWS_NAME = OptionField("aws_name", "name", "Its name in AWS", "the load balancer's name in Elastic Load "
                        "Balancing", required=True, example="shop-prod")
_AWS_REGION = OptionField("region", "region", "AWS region", "default: boto3's own setting (AWS_REGION, the "
                          "profile)", example="eu-west-1")


def _cert_store(default: str) -> OptionField:
    order = (default, *(s for s in CERT_STORES if s != default))
    return OptionField("cert_store", "cert_store", "Certificate store", "ACM keeps one ARN across renewals; IAM is "
                       "the classic store", choices=order)


FORMS: dict[str, KindForm] = {form.slug: form for form in (
    KindForm("haproxy", "haproxy", "HAProxy, managed by sslterm",
             "sslterm writes the whole configuration and runs HAProxy, serving plain HTTP until TLS is enabled.",
             (_BIND,
              OptionField("http_bind", "http_bind", "Plain HTTP bind address (HOST:PORT)",
                          "optional: where HAProxy answers plain HTTP", example="0.0.0.0:80"),
              OptionField("backends", "backends", "Backends (HOST:PORT, one per line)",
                          "the instances decrypted traffic goes to", required=True, many=True,
                          example="10.0.0.5:8080"))),
    KindForm("haproxy-attached", "haproxy", "HAProxy, your own configuration",
             "Your configuration includes sslterm's crt-list and certificate directory; sslterm changes "
             "certificates through the runtime API.",
             (OptionField("config", "config", "Configuration file", "its absolute path", required=True,
                          example="/etc/haproxy/haproxy.cfg"),
              OptionField("socket", "socket", "Runtime API socket", "a stats socket at level admin",
                          required=True, example="/run/haproxy/admin.sock"),
              OptionField("master_socket", "master_socket", "Master CLI socket", "optional: for reloads"),
              OptionField("bind", "bind", "Address to check (HOST:PORT)", "optional: where a TLS handshake "
                          "verifies what is served", example="127.0.0.1:443"))),
    KindForm("aws-elb", "aws-elb", "AWS classic Elastic Load Balancer",
             "The load balancer must exist; credentials come from boto3's own settings.",
             (_AWS_NAME, _AWS_REGION, _cert_store("acm"))),
    KindForm("aws-alb", "aws-alb", "AWS Application or Network Load Balancer",
             "The load balancer must exist; credentials come from boto3's own settings.",
             (_AWS_NAME, _AWS_REGION,
              OptionField("target_group", "target_group", "Target group ARN",
                          "optional: where TLS traffic goes (default: where its plain listener forwards)"),
              _cert_store("acm"))),
    KindForm("rackspace", "rackspace", "Rackspace Cloud Load Balancer",
             "The load balancer must exist; credentials come from RACKSPACE_USERNAME and RACKSPACE_API_KEY.",
             (OptionField("lb_id", "lb_id", "Load balancer id", "the number in its API address", required=True,
                          example="123456"),
              OptionField("region", "region", "Region", choices=REGIONS))),
)}
