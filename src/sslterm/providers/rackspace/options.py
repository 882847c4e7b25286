"""What `sslterm lb add NAME --kind rackspace` takes: the load balancer's id and its region, each parsed by a
strict grammar before it is stored or reaches an API call. Credentials are never options (they come from the
environment, through Settings, and are never stored)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sslterm.errors import InputError
from sslterm.text import one_line

#: the regions whose catalog has a ``cloudLoadBalancers`` endpoint (reference/clouds.md 3.1)
REGIONS = ("DFW", "ORD", "IAD", "LON", "SYD", "HKG")
KNOWN = frozenset({"lb_id", "region"})
_ID = re.compile(r"[1-9][0-9]{0,9}")
MAX_ID = 2**31 - 1  # Atlas keeps load balancer ids in a Java int


@dataclass(frozen=True)
class RackspaceOptions:
    lb_id: int  # the load balancer's id in Rackspace (the number in its API URL)
    region: str  # one of REGIONS

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> RackspaceOptions:
        unknown = sorted(set(raw) - KNOWN)
        if unknown:
            raise InputError(f"rackspace takes no option {one_line(unknown[0], 40)!r}", code="invalid-option",
                             hint="give --lb-id ID and --region " + "|".join(REGIONS))
        return cls(_lb_id(raw.get("lb_id")), _region(raw.get("region")))

    def as_mapping(self) -> dict[str, Any]:
        return {"lb_id": self.lb_id, "region": self.region}


def _lb_id(value: object) -> int:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if value is None:
        raise InputError("rackspace needs --lb-id: the load balancer's id (a number)", code="invalid-option",
                         hint="find it in the control panel or with: GET /loadbalancers")
    if not isinstance(text, str) or not _ID.fullmatch(text) or int(text) > MAX_ID:
        raise InputError(f"--lb-id must be a load balancer id: a positive whole number (got "
                         f"{one_line(value, 40)!r})", code="invalid-option")
    return int(text)


def _region(value: object) -> str:
    if value is None:
        raise InputError("rackspace needs --region: " + ", ".join(REGIONS), code="invalid-option")
    if not isinstance(value, str) or value.upper() not in REGIONS:
        raise InputError(f"--region must be one of {', '.join(REGIONS)} (got {one_line(value, 40)!r})",
                         code="invalid-option")
    return value.upper()
