"""moto in server mode for the AWS tests: one server per session, emptied before each test that asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aws.moto_server import environment, moto_server, reset
from pkitools import rsa_key


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a moto server started for this session (stopped by pid at its end)."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def moto(moto_endpoint: str) -> str:
    """The endpoint of a moto emptied for this test (no load balancer, no certificate)."""
    reset(moto_endpoint)
    return moto_endpoint


@pytest.fixture
def aws_env(moto: str) -> dict[str, str]:
    """The environment an sslterm child gets to reach the emptied moto through boto3's own settings."""
    return environment(moto)


@pytest.fixture(scope="session")
def rsa_8192() -> object:
    """An RSA-8192 key: its unencrypted PEM (about 6.4 KB) is over ACM's 5,120 bytes. Slow to make: made once."""
    return rsa_key(8192)
