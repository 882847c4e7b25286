"""The one place that retries: provider calls whose error says ``retryable``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sslterm.errors import ProviderError

T = TypeVar("T")


def with_retries(call: Callable[[], T], *, attempts: int = 5, delay: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Exponential back-off (0.5 s, 1 s, 2 s, ...) for retryable provider errors; others go straight up."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ProviderError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            sleep(delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
