"""What `sslterm lb add NAME --kind aws-elb|aws-alb` takes, each value parsed by a strict grammar before it is
stored or reaches an AWS call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sslterm.errors import InputError
from sslterm.text import one_line

#: a load balancer's name in ELB: 1-32 letters, digits and hyphens, no hyphen at either end
_LB_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
_TARGET_GROUP = re.compile(r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/"
                           r"[A-Za-z0-9-]{1,32}/[0-9a-f]{16}")
CERT_STORES = ("acm", "iam")
KNOWN = {"name", "region", "cert_store", "target_group"}


@dataclass(frozen=True)
class AwsOptions:
    name: str  # the load balancer's name in AWS
    region: str | None = None  # None: boto3's own setting (AWS_REGION, AWS_DEFAULT_REGION, the profile)
    cert_store: str = "acm"
    target_group: str | None = None  # ALB/NLB: where TLS traffic goes (None: where the plain listener forwards)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, kind: str) -> AwsOptions:
        unknown = sorted(set(raw) - KNOWN)
        if unknown:
            raise InputError(f"{kind} takes no option {one_line(unknown[0], 40)!r}", code="invalid-option",
                             hint="give --name, and optionally --region, --cert-store, --target-group (aws-alb)")
        name = _text(raw.get("name"), "--name")
        if name is None or not _LB_NAME.fullmatch(name):
            raise InputError(f"--name must be the load balancer's name in AWS: 1-32 letters, digits and hyphens "
                             f"(got {one_line(name or '', 40)!r})", code="invalid-option")
        region = _text(raw.get("region"), "--region")
        if region is not None and not _REGION.fullmatch(region):
            raise InputError(f"--region {one_line(region, 40)!r} is not an AWS region name (e.g. us-east-1)",
                             code="invalid-option")
        store = _text(raw.get("cert_store"), "--cert-store") or "acm"
        if store not in CERT_STORES:
            raise InputError(f"--cert-store must be acm or iam, not {one_line(store, 40)!r}", code="invalid-option")
        group = _text(raw.get("target_group"), "--target-group")
        if group is not None and (kind != "aws-alb" or not _TARGET_GROUP.fullmatch(group)):
            why = "is for aws-alb only" if kind != "aws-alb" else "must be a target group ARN"
            raise InputError(f"--target-group {why}", code="invalid-option")
        return cls(name, region, store, group)

    def as_mapping(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "cert_store": self.cert_store}
        if self.region:
            data["region"] = self.region
        if self.target_group:
            data["target_group"] = self.target_group
        return data


def _text(value: object, flag: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{flag} must be text", code="invalid-option")
    return value
