"""The one exception tree of sslterm.

    SSLTermError                    every error sslterm raises on purpose; has a stable ``code``
    ├── InputError                  the user asked for something malformed (bad name, missing file, ...)
    │   ├── NotFound                a named certificate or load balancer does not exist
    │   ├── AlreadyExists           the name is taken (``exists``)
    │   └── InUse                   refused while still attached (``in-use``)
    ├── CertificateError            the bundle fails one or more checks; carries every finding
    ├── Busy                        another command holds the load balancer's lease (``lb-busy``)
    ├── ProviderError               a load balancer said no; ``retryable``/``retry_after`` tell the retry loop
    ├── UnsafePlan                  the plan would break something; nothing was touched
    │   └── Refusal                 what a load balancer's API would refuse, every problem found
    └── DeploymentError             applying failed after something was touched
        ├── VerificationFailed      the probe did not see what was expected; rolled back
        └── RollbackFailed          and putting the old state back failed too

Messages never contain private key material: they are built from names, codes and fingerprints only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sslterm.certs.findings import Finding


class SSLTermError(Exception):
    """Root of every error sslterm raises on purpose."""

    code = "error"
    exit_code = 1

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.hint = hint


class InputError(SSLTermError):
    code = "usage"
    exit_code = 2


class NotFound(InputError):
    code = "not-found"


class AlreadyExists(InputError):
    code = "exists"


class InUse(InputError):
    code = "in-use"


class CertificateError(SSLTermError):
    """The bundle was refused; ``findings`` holds every error and warning found."""

    code = "invalid-certificate"
    exit_code = 3

    def __init__(self, findings: Sequence[Finding]) -> None:
        errors = [f for f in findings if f.is_error]
        first = errors[0] if errors else None
        super().__init__(
            first.message if first else "certificate refused",
            code=first.code if first else None,
            hint=first.hint if first else None,
        )
        self.findings = tuple(findings)


class Busy(SSLTermError):
    """Another command (on this machine or another controller) is changing the load balancer now."""

    code = "lb-busy"
    exit_code = 1


class ProviderError(SSLTermError):
    code = "provider-error"
    exit_code = 6

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = False,
                 retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, code=code, hint=hint)
        self.retryable = retryable or retry_after is not None
        self.retry_after = retry_after  # seconds the load balancer asked to wait (Retry-After), if it did


class UnsafePlan(SSLTermError):
    code = "unsafe-plan"
    exit_code = 4


@dataclass(frozen=True)
class Problem:
    """One reason a load balancer's API would refuse a change: a stable ``code``, a one-line ``message`` naming
    what and why, and a ``hint``. A provider checks ``code`` against its own documented set."""

    code: str
    message: str
    hint: str

    def __post_init__(self) -> None:
        """A provider's subclass refuses a code it does not document (the dataclass calls this)."""


class Refusal(UnsafePlan):
    """Every problem a provider found before any call; the first gives ``code``, ``message`` and ``hint``."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems[0].message, code=problems[0].code, hint=problems[0].hint)
        self.problems = tuple(problems)


class DeploymentError(SSLTermError):
    code = "deployment-failed"
    exit_code = 5


class VerificationFailed(DeploymentError):
    code = "verification-failed"


class RollbackFailed(DeploymentError):
    code = "rollback-failed"
    exit_code = 7


def unexpected(exc: Exception, *, hint: str) -> SSLTermError:
    """An exception sslterm did not raise on purpose (a bug, or the environment: a store that cannot be
    reached, a full disk) as one line with a stable code; no SQL and no URL (which could hold a password).
    The adapters show it in place of a traceback."""
    return SSLTermError(_describe(exc), code=_code(exc), hint=hint)


def _code(exc: Exception) -> str:
    module, name = type(exc).__module__, type(exc).__name__
    if module.startswith("sqlalchemy") and "locked" in str(exc):
        return "store-busy"
    if module.startswith("sqlalchemy") and name == "IntegrityError":
        return "store-conflict"
    if module.startswith("sqlalchemy") or name == "ModuleNotFoundError":
        return "store-unavailable"
    if isinstance(exc, OSError):
        return "os-error"
    return "internal"


def _describe(exc: Exception) -> str:
    """One line, no SQL and no URL (which could hold a password)."""
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__}" + (f": {exc.filename}" if exc.filename else "")
    if _code(exc) == "store-busy":
        return "the store is busy: another sslterm command is changing it; try again when it has finished"
    if _code(exc) == "store-conflict":
        return "the store changed while this command ran (another sslterm command?); nothing was changed, try again"
    if _code(exc) == "store-unavailable":
        return f"the store cannot be opened ({type(exc).__name__}); check SSLTERM_DATABASE_URL and SSLTERM_HOME"
    return f"unexpected {type(exc).__name__}"
