"""What a load balancer family allows beyond the certificate: its security policy per TLS profile and how
many certificates it holds.

The profiles are sslterm's (Mozilla's server-side TLS levels, as the HAProxy provider renders them):
``modern`` TLS 1.3 only; ``intermediate`` TLS 1.2 and 1.3 with ECDHE and AEAD ciphers only; ``old`` down to
TLS 1.0. Each maps to the predefined ELB security policy whose protocols and ciphers match best, from the
policy tables of the ELB guides: "Security policies for your Application Load Balancer" and "... Network
Load Balancer" (describe-ssl-policies), "Predefined SSL security policies for Classic Load Balancers".
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from sslterm.providers.aws.refusals import AwsRefusal, Family, Problem, Profile

_ELBV2: Final[Mapping[Profile, str | None]] = MappingProxyType({
    "modern": "ELBSecurityPolicy-TLS13-1-3-2021-06",  # TLS 1.3 only
    "intermediate": "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",  # TLS 1.2-1.3, ECDHE + AES-GCM only
    "old": "ELBSecurityPolicy-TLS13-1-0-2021-06",  # TLS 1.0-1.3, CBC and RSA key exchange too
})

#: profile -> security policy per family; ``None``: the family has no policy that keeps the profile's promise
#: (a classic ELB negotiates TLS 1.2 at most, so it cannot be ``modern``)
SECURITY_POLICIES: Final[Mapping[Family, Mapping[Profile, str | None]]] = MappingProxyType({
    "classic": MappingProxyType({
        "modern": None,
        "intermediate": "ELBSecurityPolicy-TLS-1-2-2017-01",  # TLS 1.2 only; the closest classic policy
        "old": "ELBSecurityPolicy-2016-08",  # TLS 1.0-1.2: AWS's default for classic ELB
    }),
    "application": _ELBV2,
    "network": _ELBV2,
})


def security_policy(family: Family, profile: Profile) -> str:
    """The policy name to set (``SslPolicy`` on ELBv2, ``Reference-Security-Policy`` on a classic ELB)."""
    policy = SECURITY_POLICIES[family][profile]
    if policy is None:
        raise AwsRefusal([Problem("aws-profile-unsupported", f"a {family} load balancer has no security policy "
                                  f"for the {profile} profile (TLS 1.3 only)",
                                  "use --tls-profile intermediate, or an ALB or NLB")])
    return policy


def profile_of(family: Family, policy: str | None) -> str:
    """sslterm's TLS profile for a security policy read back (``custom``: one sslterm does not set)."""
    return next((profile for profile, name in SECURITY_POLICIES[family].items() if name == policy), "custom")


#: certificates a load balancer holds besides its listeners' default certificates, by default; an account
#: may have it raised (elbv2 describe_account_limits: certificates-per-application-load-balancer) [quota]
CERTIFICATE_QUOTA: Final = 25


def quota_problems(family: Family, extra_certificates: int, *, quota: int = CERTIFICATE_QUOTA) -> list[Problem]:
    """``extra_certificates``: the SNI certificates the whole load balancer would hold after the change, over
    all its listeners, default certificates not counted (AWS's count, per load balancer; moto counts per
    listener, default included: docs/aws.md). A classic ELB listener serves one certificate (no SNI)."""
    if family == "classic" and extra_certificates > 0:
        return [Problem("aws-quota", "a classic ELB listener serves exactly one certificate (no SNI)",
                        "use an ALB or NLB for several certificates on one port")]
    if extra_certificates > quota:
        return [Problem("aws-quota", f"{extra_certificates} certificates besides the default ones exceed the "
                        f"{family} load balancer quota of {quota}", "raise the quota in Service Quotas, or "
                        "spread the names over several load balancers")]
    return []
