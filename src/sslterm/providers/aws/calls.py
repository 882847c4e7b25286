"""The AWS boundary: boto3 clients made one way (botocore's standard retry mode, explicit timeouts) and every
SDK error translated to a ProviderError that names the load balancer, what was being done and AWS's error
code, with ``retryable`` set where waiting helps (a certificate not yet visible to ELB, a delete that still
conflicts for a moment after its listener went)."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sslterm.errors import ProviderError
from sslterm.text import one_line

ClientFactory = Callable[[str], Any]  # service name ("acm", "elbv2", ...) -> a boto3 client

#: botocore retries throttling and 5xx itself (standard mode); these are left to the engine's retry loop,
#: within the provider's Timing: they clear by themselves after seconds
ENGINE_RETRIES = frozenset({"CertificateNotFound", "CertificateNotFoundException", "DeleteConflict",
                            "ResourceInUseException", "ResourceInUse", "ConcurrentModification",
                            "DependencyThrottle"})  # classic ELB's own throttle: not in botocore's list
CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=60)


_FACTORIES: dict[str | None, ClientFactory] = {}
_MAKING = threading.RLock()


def boto3_clients(region: str | None) -> ClientFactory:
    """Clients from boto3's own settings (credentials chain, ``AWS_ENDPOINT_URL``, profile), in ``region``:
    one session and one client per service and region per process, shared by every load balancer there
    (making them costs more than most calls)."""
    with _MAKING:  # load balancers are changed side by side: a boto3 session is not to be shared while making
        if region not in _FACTORIES:
            import boto3

            session = boto3.session.Session(region_name=region)
            made: dict[str, Any] = {}

            def client(service: str) -> Any:
                with _MAKING:  # a client, once made, is safe to share between threads
                    if service not in made:
                        made[service] = session.client(service, config=CONFIG)
                    return made[service]

            _FACTORIES[region] = client
        return _FACTORIES[region]


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _kebab(code: str) -> str:
    return "aws-" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", code.removesuffix("Exception")).lower()


@contextlib.contextmanager
def aws(lb: str, doing: str) -> Iterator[None]:
    """Run AWS calls for ``doing`` (e.g. "listener :443: modify"); SDK errors become ProviderError."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = one_line(exc.response.get("Error", {}).get("Message", ""), 200)
        raise ProviderError(f"{lb}: {doing}: AWS {code}: {message}", code=_kebab(code),
                            retryable=code in ENGINE_RETRIES) from exc
    except BotoCoreError as exc:  # no answer, no credentials, an answer that is not AWS's
        raise ProviderError(f"{lb}: {doing}: {one_line(exc, 200)}", code="aws-unreachable",
                            hint="check AWS credentials, region and endpoint (boto3's own settings)") from exc
