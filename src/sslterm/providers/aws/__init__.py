"""Amazon Elastic Load Balancing provider: classic ELB (``aws-elb``), ALB and NLB (``aws-alb``), certificates in
ACM (default) or IAM. Credentials, region and endpoint come from boto3's own settings (``AWS_ENDPOINT_URL``
included). Modules: ``provider`` (the contract), ``classic``/``elbv2`` (listeners), ``certstore`` (ACM, IAM),
``checks``/``names``/``policies``/``refusals`` (what AWS refuses, refused before any call), ``calls`` (the
SDK boundary), ``options``. Decisions and moto's verified behaviour: docs/aws.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sslterm.providers.aws.calls import boto3_clients
from sslterm.providers.aws.options import AwsOptions
from sslterm.providers.aws.provider import AwsProvider, ClassicElbProvider


def validator(kind: str) -> Any:
    def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
        return AwsOptions.from_mapping(raw, kind=kind).as_mapping()

    return validate


def factory(kind: str) -> Any:
    def create(name: str, options: Mapping[str, Any], state_dir: Path, env: Mapping[str, str]) -> AwsProvider:
        parsed = AwsOptions.from_mapping(options, kind=kind)
        cls = ClassicElbProvider if kind == "aws-elb" else AwsProvider
        return cls(name, parsed, boto3_clients(parsed.region))

    return create


__all__ = ["AwsProvider", "ClassicElbProvider", "factory", "validator"]
