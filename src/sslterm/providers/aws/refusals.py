"""A refusal made before any AWS call: :class:`Problem` values with stable codes, raised together as one
:class:`~sslterm.errors.Refusal` (an :class:`~sslterm.errors.UnsafePlan`: nothing was touched, exit code 4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from sslterm import errors

Store = Literal["acm", "iam"]
Family = Literal["classic", "application", "network"]  # ELB's own words (elbv2 Type: application|network)
Profile = Literal["modern", "intermediate", "old"]

#: every code a refusal carries; documented in docs/aws.md; never rename one
CODES: Final = frozenset({"aws-key-unsupported", "aws-key-mismatch", "aws-certificate-unsupported",
                          "aws-chain-order", "aws-expired", "aws-not-yet-valid", "aws-pem-invalid", "aws-too-large",
                          "aws-name-invalid", "aws-path-invalid", "aws-quota", "aws-profile-unsupported"})


class Problem(errors.Problem):
    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown AWS refusal code {self.code!r}")


AwsRefusal = errors.Refusal


def refuse(problems: Sequence[Problem]) -> None:
    """Raise :class:`AwsRefusal` when there is any problem."""
    if problems:
        raise AwsRefusal(problems)
