"""Certificate versions: what a certificate was before its current bundle, kept with its sealed key so that
a rotation can be rolled back (``sslterm cert history``, ``sslterm cert rollback``)."""

from __future__ import annotations

from datetime import datetime

from sslterm.engine.model import CertSlot
from sslterm.errors import NotFound
from sslterm.store.schema import CertificateRow, CertificateVersionRow

#: previous versions kept per certificate; older ones are pruned when a new one is kept
KEEP_VERSIONS = 5
_COPIED = ("fingerprint", "subject", "issuer", "sans", "not_before", "not_after", "key_type", "key_bits", "chain",
           "certificate_pem", "key_sealed")


def served_identity(row: CertificateRow | CertificateVersionRow) -> tuple[str, ...]:
    """The leaf's and the chain's fingerprints: what clients are sent (the key follows the leaf)."""
    return (row.fingerprint, *(entry["fingerprint_sha256"] for entry in row.chain))


def keep_current(row: CertificateRow, now: datetime) -> None:
    """Keep ``row``'s current bundle as a version before it is overwritten; prune beyond KEEP_VERSIONS."""
    for same in [v for v in row.versions if served_identity(v) == served_identity(row)]:
        row.versions.remove(same)  # kept once: the version rolled back to, now replaced again
    row.versions.insert(0, CertificateVersionRow(**{c: getattr(row, c) for c in _COPIED},
                                                 added_at=row.updated_at, replaced_at=now))
    for old in row.versions[KEEP_VERSIONS:]:
        row.versions.remove(old)


def previous(row: CertificateRow) -> list[CertificateVersionRow]:
    """The kept versions, newest first, but the current one (a version rolled back to stays kept until it is
    replaced again, so that a failed rollback can still be undone)."""
    return [v for v in row.versions if served_identity(v) != served_identity(row)]


def find(row: CertificateRow, fingerprint: str | None) -> CertificateVersionRow:
    """The newest previous version, or the one whose leaf fingerprint starts with ``fingerprint`` (at least
    8 hex digits, and only one may match)."""
    kept = previous(row)
    if not kept:
        raise NotFound(f"{row.name} has no previous version", code="no-version",
                       hint=f"see: sslterm cert history {row.name}")
    if fingerprint is None:
        return kept[0]
    wanted = fingerprint.lower().replace(":", "")
    matches = [v for v in kept if len(wanted) >= 8 and v.fingerprint.startswith(wanted)]
    if len(matches) != 1:
        raise NotFound(f"{row.name} has {'no' if not matches else 'more than one'} previous version with "
                       f"fingerprint {fingerprint!r}", code="no-version",
                       hint=f"give 8 or more hex digits of one listed by: sslterm cert history {row.name}")
    return matches[0]


def restore(row: CertificateRow, fingerprint: str) -> None:
    """Make the kept version with leaf ``fingerprint`` current again, dropping the current one (a change
    that failed and is being undone: what it brought is not kept)."""
    version = next((v for v in row.versions if v.fingerprint == fingerprint), None)
    if version is None:
        return
    for column in _COPIED:
        setattr(row, column, getattr(version, column))
    row.updated_at = version.added_at
    row.versions.remove(version)


def slot_of(version: CertificateVersionRow) -> CertSlot:
    """A kept version as a listener served it (its served id names its uploads)."""
    return CertSlot("", version.fingerprint, tuple(version.sans), version.key_type,
                    chain=tuple(entry["fingerprint_sha256"] for entry in version.chain))
