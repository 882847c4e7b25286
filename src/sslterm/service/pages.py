"""One page of a listing, for adapters that page (the REST API, the web UI): read from the store a page at
a time, so a page costs the same whatever the store holds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sslterm.errors import InputError

T = TypeVar("T")
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    total: int  # how many there are in all
    limit: int
    offset: int

    def as_json(self, item: Callable[[T], object]) -> dict[str, object]:
        return {"items": [item(i) for i in self.items], "total": self.total, "limit": self.limit,
                "offset": self.offset}

    @classmethod
    def of(cls, everything: Sequence[T], limit: int, offset: int) -> Page[T]:
        """A page of a list read whole (a short one: load balancers)."""
        check(limit, offset)
        return cls(tuple(everything[offset:offset + limit]), len(everything), limit, offset)


def check(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise InputError(f"limit must be 1 to {MAX_LIMIT} and offset 0 or more", code="bad-page",
                         hint="e.g. ?limit=100&offset=0")
