"""The one place that retries: provider calls whose error says ``retryable``, within the provider's Timing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sslterm.engine.contract import Timing
from sslterm.errors import ProviderError

T = TypeVar("T")

DEFAULT = Timing()


def with_retries(call: Callable[[], T], timing: Timing = DEFAULT, *,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Call until it succeeds, its error is not retryable, ``timing.attempts`` calls were made, or the next
    wait would pass ``timing.max_wait`` seconds of waiting in all. Each wait is the exponential back-off
    (``first_delay``, twice that, ...) or the ``retry_after`` the load balancer asked for, whichever is
    longer. The last error goes up as it is (its message names the load balancer and the call)."""
    waited = 0.0
    for attempt in range(1, timing.attempts + 1):
        try:
            return call()
        except ProviderError as exc:
            delay = max(timing.first_delay * 2 ** (attempt - 1), exc.retry_after or 0.0)
            if not exc.retryable or attempt == timing.attempts or waited + delay > timing.max_wait:
                raise
            sleep(delay)
            waited += delay
    raise AssertionError("unreachable")
