"""A Service per request, cheaply: every Service of one server shares one store engine (one connection
pool, migrated once) and one set of trust anchors, and has its own sessions and providers, so no request
sees another's cached provider or half-done transaction."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine

from sslterm.service import Service, load_anchors, open_store
from sslterm.settings import Settings


class ServiceFactory:
    """``ServiceFactory(settings, **service_options)()``: a new :class:`Service`, built as
    ``Service(settings, **service_options)`` would be, on the shared engine. ``close()`` when the server
    stops."""

    def __init__(self, settings: Settings, **service_options: Any) -> None:
        self.settings = settings
        self.options = dict(service_options)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = open_store(self.settings)
                self.options.setdefault("anchors", load_anchors())
            return self._engine

    def __call__(self) -> Service:
        engine = self.engine()
        return Service(self.settings, engine=engine, **self.options)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
