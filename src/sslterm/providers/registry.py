"""Load balancer kinds -> provider factories. Adding a kind touches only its package and this table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sslterm.engine.contract import Provider
from sslterm.errors import InputError

#: kind -> (factory(name, options, state_dir, settings-like mapping), option validator)
Factory = Callable[[str, Mapping[str, Any], Path, Mapping[str, str]], Provider]
Validator = Callable[[Mapping[str, Any]], dict[str, Any]]


def _haproxy() -> tuple[Factory, Validator]:
    from sslterm.providers.haproxy import create, validate_options

    return create, validate_options


def _aws(kind: str) -> Callable[[], tuple[Factory, Validator]]:
    def load() -> tuple[Factory, Validator]:
        from sslterm.providers.aws import factory, validator

        return factory(kind), validator(kind)

    return load


def _rackspace() -> tuple[Factory, Validator]:
    from sslterm.providers.rackspace import create, validate

    return create, validate


KINDS: dict[str, Callable[[], tuple[Factory, Validator]]] = {
    "haproxy": _haproxy, "aws-elb": _aws("aws-elb"), "aws-alb": _aws("aws-alb"), "rackspace": _rackspace}

#: kinds whose load balancer runs beside one controller (its files, its process): that controller owns it,
#: and a change another controller makes is recorded as pending and applied by the owner
OWNED_KINDS = frozenset({"haproxy"})


def lookup(kind: str) -> tuple[Factory, Validator]:
    if kind not in KINDS:
        raise InputError(f"unknown load balancer kind {kind!r}", code="unknown-kind",
                         hint=f"known kinds: {', '.join(sorted(KINDS))}")
    return KINDS[kind]()
