"""The HAProxy provider's boundary: file and data errors become ProviderError."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sslterm.errors import ProviderError

P = ParamSpec("P")
R = TypeVar("R")


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """The provider boundary: file and data errors become ProviderError, so the engine rolls back and the
    user reads one line, not a traceback."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except OSError as exc:
            raise ProviderError(f"HAProxy files: {exc.strerror or exc} ({exc.filename or ''})",
                                code="haproxy-files") from exc
        except (ValueError, KeyError) as exc:  # a damaged state.json or change.json
            raise ProviderError(f"HAProxy state is damaged: {exc}", code="haproxy-state") from exc

    return wrapper
