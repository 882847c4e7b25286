"""Builds the service from the environment, once per command."""

from __future__ import annotations

from functools import cache

from sslterm.service import Service
from sslterm.settings import from_environment


@cache
def service() -> Service:
    return Service(from_environment())
