"""Findings: the result of one check, with a stable code that scripts can rely on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


#: Every stable code, with its severity. Tests and the README list these; never rename one.
CODES: dict[str, Severity] = {
    **{
        code: Severity.ERROR
        for code in (
            "unreadable-certificate", "no-certificate", "no-private-key", "expired", "not-yet-valid",
            "key-mismatch", "encrypted-key", "bad-passphrase", "chain-mismatch", "weak-key",
            "weak-signature", "invalid-name", "exists", "too-large",
        )
    },
    **{
        code: Severity.WARNING
        for code in (
            "expires-soon", "self-signed", "chain-reordered", "root-in-chain", "incomplete-chain",
            "chain-completed", "not-server-auth", "no-dns-name",
        )
    },
}


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    hint: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown finding code {self.code!r}")

    @property
    def severity(self) -> Severity:
        return CODES[self.code]

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "severity": self.severity.value, "message": self.message,
                "hint": self.hint}


def error(code: str, message: str, hint: str | None = None) -> Finding:
    finding = Finding(code, message, hint)
    assert finding.is_error, code
    return finding


def warning(code: str, message: str, hint: str | None = None) -> Finding:
    finding = Finding(code, message, hint)
    assert not finding.is_error, code
    return finding
