"""The Rackspace tests' fixtures: every HTTP client a test made is closed after it (warnings are errors)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rax_tools import close_clients


@pytest.fixture(autouse=True)
def _closed_clients() -> Iterator[None]:
    yield
    close_clients()
