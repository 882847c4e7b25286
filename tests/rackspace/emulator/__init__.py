"""A test-only emulator of Rackspace Cloud Identity v2.0 and Cloud Load Balancers API v1.0 (SSL termination).

It is a stateful HTTP server on 127.0.0.1 (an ephemeral port), standard library only plus ``cryptography`` for the
PEM checks.  ``running_emulator()`` starts it in a thread and stops it (shutdown + join) on exit::

    with running_emulator(pending_seconds=0.1) as rax:
        rax.add_load_balancer(100, "ORD")
        ... POST rax.auth_url, then use the catalog's publicURL for ORD ...

What it implements (docs/rackspace-emulator.md has the full list with sources):

* ``POST /v2.0/tokens`` (``RAX-KSKEY:apiKeyCredentials`` and ``passwordCredentials``): a token with
  ``id``/``expires``/``tenant`` and a service catalog whose ``cloudLoadBalancers`` (``rax:load-balancer``) entry
  has one endpoint per region, ``publicURL`` = ``http://127.0.0.1:PORT/<region>/v1.0/<tenant>``.  Tokens expire
  after ``token_lifetime`` seconds; an unknown/expired token on the LB API gets 401 with no body.
* ``GET /loadbalancers``, ``GET|PUT /loadbalancers/{id}``, ``GET|PUT|DELETE /loadbalancers/{id}/ssltermination``,
  ``GET|POST .../ssltermination/certificatemappings``, ``GET|PUT|DELETE .../certificatemappings/{mappingId}``,
  ``GET /limits``, ``GET /loadbalancers/absolutelimits``.
* Asynchrony: every accepted mutation puts the LB in ``PENDING_UPDATE`` for ``pending_seconds``; a mutation while
  the LB is not ``ACTIVE`` gets 422 (immutable).  Deletions take effect when the LB settles, as in Atlas.
* Rate limits (Repose): off unless ``rate_limits`` is given; over the limit -> 413 + ``Retry-After``.
* Test hooks: ``fail_next``, ``fail_next_update``, ``set_status``, ``expire_tokens``, a request log with private keys,
  API keys and passwords redacted, and read access to what was stored (``ssl_termination``,
  ``certificate_mappings``).

Sources (checked, see the doc for per-behaviour citations):
[docs] ``rackerlabs/docs-cloud-load-balancers`` @ dd38b54, ``api-docs/cloud-load-balancers-v1/``;
[atlas] ``lbrackspace/atlas-lb`` @ dde84090f (the service behind the API: validators, services, ZeusUtils);
[repose] ``rackerlabs/repose`` (rate-limiting filter: 413, RFC 1123 ``Retry-After``, ``overLimit`` JSON body);
[mimic] ``rackerlabs/mimic`` and [otter] ``rackerlabs/otter`` (JSON fault shapes noted there as checked against
production in 2015-2016).

Not verifiable from these sources (the emulator's choice, documented in docs/rackspace-emulator.md):
the exact 400 text for an ECDSA key (the docs only say "ECDSA key format is currently not accepted for ssl
termination. Use RSA.", which is what the emulator returns); a ``certificate`` field holding more than one PEM block
(rejected here); an attribute-only PUT when no termination exists (400 "No ssl termination to update values
for."); 200 vs 202 on PUT/DELETE ssltermination (docs say 200, Atlas returns 202: ``atlas_status_codes=True``);
DELETE ssltermination when none exists (Atlas: 400, docs list 404); the sliding (not fixed) rate-limit window;
XML (not served: 406/415).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

from .core import _Core
from .identity import _Identity
from .lbapi import _LoadBalancerApi
from .model import DEFAULT_RATE_LIMITS, CertificateMapping, LoadBalancer, RateLimit, RecordedRequest, SslTermination
from .termination import _TerminationApi
from .texts import (
    CIPHER_PROFILES,
    DEFAULT_REGIONS,
    IDENTITY_BAD_BODY,
    IDENTITY_BAD_CREDENTIALS,
    KEY_MISMATCH,
    LB_NOT_FOUND,
    LOOPBACK,
    MAPPING_NOT_FOUND,
    MUST_SUPPLY,
    MUST_SUPPLY_CERT_KEY,
    OVER_LIMIT_MESSAGE,
    RSA_ONLY,
    SSL_NOT_FOUND,
)

__all__ = [
    "CIPHER_PROFILES",
    "DEFAULT_RATE_LIMITS",
    "DEFAULT_REGIONS",
    "IDENTITY_BAD_BODY",
    "IDENTITY_BAD_CREDENTIALS",
    "KEY_MISMATCH",
    "LB_NOT_FOUND",
    "LOOPBACK",
    "MAPPING_NOT_FOUND",
    "MUST_SUPPLY",
    "MUST_SUPPLY_CERT_KEY",
    "OVER_LIMIT_MESSAGE",
    "RSA_ONLY",
    "SSL_NOT_FOUND",
    "CertificateMapping",
    "Emulator",
    "LoadBalancer",
    "RateLimit",
    "RecordedRequest",
    "SslTermination",
    "running_emulator",
]


class Emulator(_TerminationApi, _LoadBalancerApi, _Identity, _Core):
    """State and behaviour; ``running_emulator`` serves it over HTTP.  Every public method is thread-safe."""


@contextmanager
def running_emulator(*, tenant_id: str = "123456", username: str = "sslterm-test",
                     api_key: str = "0123456789abcdef0123456789abcdef", password: str | None = None,
                     regions: Sequence[str] = DEFAULT_REGIONS, pending_seconds: float = 0.2,
                     token_lifetime: float = 86400.0, rate_limits: Sequence[RateLimit] = (),
                     mapping_limit: int = 20, atlas_status_codes: bool = False,
                     retry_after: Literal["http-date", "seconds"] = "http-date") -> Iterator[Emulator]:
    """Serve an ``Emulator`` on 127.0.0.1 (ephemeral port) for the ``with`` block; shut down and joined on exit."""
    emulator = Emulator(tenant_id=tenant_id, username=username, api_key=api_key, password=password,
                        regions=regions, pending_seconds=pending_seconds, token_lifetime=token_lifetime,
                        rate_limits=rate_limits, mapping_limit=mapping_limit, atlas_status_codes=atlas_status_codes,
                        retry_after=retry_after)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
