"""Rackspace Cloud Identity v2.0: an API key for a token, and the ``cloudLoadBalancers`` endpoint of a region
from the service catalog (reference/clouds.md 3.1).

The API key is sent once per token, in the body of ``POST /v2.0/tokens``, and is never shown: not in a repr,
a message, a log line, nor the store's options (it reaches the provider from the environment, through
Settings). Pure parsing here; the HTTP call is the client's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sslterm.errors import ProviderError
from sslterm.text import one_line

PUBLIC_IDENTITY_URL = "https://identity.api.rackspacecloud.com/v2.0"
CATALOG_NAME, CATALOG_TYPE = "cloudLoadBalancers", "rax:load-balancer"
CREDENTIALS_HINT = "set RACKSPACE_USERNAME and RACKSPACE_API_KEY (RACKSPACE_IDENTITY_URL overrides the endpoint)"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_url(url: str, what: str) -> str:
    """``url`` without a trailing slash, when it is https, or http to this machine only (the API key and the
    private keys travel in request bodies: never in clear over a network)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ProviderError(f"{what} {one_line(url, 80)!r} is not an http(s) URL", code="rackspace-bad-url",
                            hint="give the identity v2.0 endpoint, e.g. " + PUBLIC_IDENTITY_URL)
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ProviderError(f"{what} {one_line(url, 80)!r} is plain http to another machine: credentials and "
                            "private keys would cross the network in clear", code="rackspace-bad-url",
                            hint="use https (plain http is accepted for 127.0.0.1 only)")
    return url.rstrip("/")


@dataclass(frozen=True)
class Credentials:
    username: str
    api_key: str = field(repr=False)
    identity_url: str = PUBLIC_IDENTITY_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials:
        """From the mapping Settings builds (``rackspace_username``, ``rackspace_api_key``,
        ``rackspace_identity_url``); ProviderError ``rackspace-no-credentials`` when one is missing."""
        username, api_key = env.get("rackspace_username", ""), env.get("rackspace_api_key", "")
        if not username or not api_key:
            missing = "RACKSPACE_USERNAME" if not username else "RACKSPACE_API_KEY"
            raise ProviderError(f"no Rackspace credentials: {missing} is not set", code="rackspace-no-credentials",
                                hint=CREDENTIALS_HINT)
        url = checked_url(env.get("rackspace_identity_url") or PUBLIC_IDENTITY_URL, "RACKSPACE_IDENTITY_URL")
        return cls(username, api_key, url)

    @property
    def tokens_url(self) -> str:
        return self.identity_url if self.identity_url.endswith("/tokens") else self.identity_url + "/tokens"

    def auth_body(self) -> dict[str, Any]:
        """Radioactive: holds the API key. Sent, never kept or shown."""
        return {"auth": {"RAX-KSKEY:apiKeyCredentials": {"username": self.username, "apiKey": self.api_key}}}


@dataclass(frozen=True)
class Access:
    """A token (sent as ``X-Auth-Token``), when it expires (epoch seconds) and the catalog's load balancer
    endpoints by region."""

    token: str = field(repr=False)
    expires_at: float
    endpoints: Mapping[str, str]

    def endpoint(self, region: str) -> str:
        url = self.endpoints.get(region)
        if url is None:
            raise ProviderError(f"the Rackspace service catalog lists no {CATALOG_NAME} endpoint in {region} "
                                f"(it has: {', '.join(sorted(self.endpoints)) or 'none'})",
                                code="rackspace-no-endpoint", hint="check --region, and the account's services")
        return url


def _bad(why: str) -> ProviderError:
    return ProviderError(f"Rackspace identity answered with {why}", code="rackspace-bad-response",
                         hint="check RACKSPACE_IDENTITY_URL: it must be the identity v2.0 endpoint")


def parse_access(doc: object) -> Access:
    """``access.token.{id, expires}`` and the ``cloudLoadBalancers`` (``rax:load-balancer``) entry's
    ``endpoints[].{region, publicURL}`` of a ``POST /v2.0/tokens`` answer."""
    access = doc.get("access") if isinstance(doc, dict) else None
    token = access.get("token") if isinstance(access, dict) else None
    if not isinstance(access, dict) or not isinstance(token, dict) or not isinstance(token.get("id"), str):
        raise _bad("no access.token.id")
    try:
        expires = datetime.fromisoformat(str(token.get("expires", "")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _bad("a token without a readable expiry") from None
    endpoints: dict[str, str] = {}
    for service in access.get("serviceCatalog") or []:
        if isinstance(service, dict) and (service.get("name"), service.get("type")) == (CATALOG_NAME, CATALOG_TYPE):
            for point in service.get("endpoints") or []:
                if isinstance(point, dict) and isinstance(point.get("region"), str) \
                        and isinstance(point.get("publicURL"), str):
                    endpoints[point["region"].upper()] = checked_url(point["publicURL"], "the catalog's endpoint")
    return Access(token["id"], expires, endpoints)
