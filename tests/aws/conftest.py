"""moto in server mode for the AWS tests: one server per session, emptied before each test that asks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aws.aws_cli_tools import AwsCli, Recorder, Sslterm
from aws.moto_server import environment, reset, shared_endpoint
from pkitools import rsa_key


@pytest.fixture(scope="session")
def moto_endpoint() -> str:
    """``http://127.0.0.1:PORT`` of the session's one moto server, shared with the contract suite (stopped by
    its pid when the session's process exits)."""
    return shared_endpoint()


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


@pytest.fixture
def sslterm_cli(aws_env: dict[str, str], tmp_path: Path) -> Sslterm:
    """``python -m sslterm`` with a data directory of its own, reaching the emptied moto through boto3's settings."""
    return Sslterm(tmp_path / "data" / "sslterm", aws_env)


@pytest.fixture
def aws_cli(moto: str, aws_env: dict[str, str]) -> AwsCli:
    """The AWS CLI against the emptied moto."""
    return AwsCli(moto, aws_env)


@pytest.fixture
def recorder(moto: str) -> Iterator[Recorder]:
    """Every request moto gets from here on (``recorder.writes()``: those that may change something)."""
    recording = Recorder(moto)
    recording.start()
    yield recording
    recording.stop()
