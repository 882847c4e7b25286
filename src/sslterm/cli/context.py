"""Builds the service from the environment, once per command. Imported lazily: `sslterm --help` and
usage errors never pay for SQLAlchemy and Alembic."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sslterm.service import Service


@cache
def service() -> Service:
    from sslterm.service import Service
    from sslterm.settings import from_environment

    return Service(from_environment())


def changed_anything() -> bool:
    """Whether this command saved a change to the store (False when it never opened it)."""
    return service.cache_info().currsize > 0 and service().changed_anything
