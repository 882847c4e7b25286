"""Rackspace Cloud Load Balancers provider (kind ``rackspace``): SSL termination and certificate mappings
over the v1.0 API, authenticated with an API key through identity v2.0. Credentials come from the
environment through Settings (``RACKSPACE_USERNAME``, ``RACKSPACE_API_KEY``, ``RACKSPACE_IDENTITY_URL``) and
are never stored. Modules: ``provider`` (the contract), ``changes`` (the writes, in a safe order),
``balancer`` (one load balancer's API and its bounded waits), ``client`` (the HTTP boundary: token, pace,
errors), ``identity``, ``state`` (what is read back), ``checks`` (what Rackspace refuses, refused first),
``options``. Decisions: docs/rackspace.md.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sslterm.errors import InputError
from sslterm.providers.rackspace.balancer import Balancer, Waits
from sslterm.providers.rackspace.client import RackspaceClient
from sslterm.providers.rackspace.identity import Credentials
from sslterm.providers.rackspace.options import RackspaceOptions
from sslterm.providers.rackspace.provider import RackspaceProvider

#: one client per account and process: one token and one pace for all its load balancers (Rackspace's rate
#: limits are per account). Bounded by the accounts a process is given credentials for (one, in practice).
_ACCOUNTS: dict[Credentials, RackspaceClient] = {}
_LOCK = threading.Lock()


def account(credentials: Credentials) -> RackspaceClient:
    with _LOCK:
        if credentials not in _ACCOUNTS:
            _ACCOUNTS[credentials] = RackspaceClient(credentials)
        return _ACCOUNTS[credentials]


def close_accounts() -> None:
    """Close and forget every account's client (tests; a command's process just exits)."""
    with _LOCK:
        for made in _ACCOUNTS.values():
            made.close()
        _ACCOUNTS.clear()


def waits_from(env: Mapping[str, str]) -> Waits:
    """``RACKSPACE_MAX_WAIT``: the seconds one change may wait for the load balancer in all (default 600)."""
    raw = env.get("rackspace_max_wait")
    if not raw:
        return Waits()
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= 86400:
        raise InputError(f"RACKSPACE_MAX_WAIT must be a number of seconds from 1 to 86400, not {raw[:20]!r}",
                         code="invalid-option")
    return replace(Waits(), max_wait=seconds)


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    return RackspaceOptions.from_mapping(raw).as_mapping()


def create(name: str, options: Mapping[str, Any], state_dir: Path, env: Mapping[str, str]) -> RackspaceProvider:
    parsed = RackspaceOptions.from_mapping(options)
    label = f"{name} (Rackspace {parsed.region} load balancer {parsed.lb_id})"
    waits = waits_from(env)
    lb = Balancer(lambda: account(Credentials.from_env(env)), parsed.region, parsed.lb_id, label, waits)
    return RackspaceProvider(name, parsed, lb)


__all__ = ["RackspaceProvider", "account", "close_accounts", "create", "validate"]
