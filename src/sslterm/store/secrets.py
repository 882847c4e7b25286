"""Encryption of private keys at rest (AES-256-GCM), and the canary that proves a secret key is the store's.

The data key comes from ``SSLTERM_SECRET_KEY`` or ``SSLTERM_SECRET_KEY_FILE`` (any string; stretched with
HKDF) or, for the default store only, from a random key file created ``0600`` in the data directory on first
use. Each ciphertext is bound to its certificate's fingerprint (associated data), so a key row copied onto
another certificate fails to open.

Several controllers may share one store, each with the key from its own environment. A key that differs
would seal new keys nobody else can open, so the store holds a canary (``secret_canary``, one row): a
constant sealed with the store's key, checked first in every command's first writing transaction.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import tempfile
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Column, Integer, LargeBinary, Table, insert, select
from sqlalchemy.orm import Session

from sslterm.errors import SSLTermError
from sslterm.files import ensure_private_dir
from sslterm.store.schema import Base, CertificateRow, UTCDateTime

_VERSION = b"\x01"
_NONCE = 12


class KeyVault:
    """Seals and opens private keys. ``repr`` shows nothing of the key."""

    def __init__(self, secret: bytes) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sslterm key-at-rest v1")
        self._aead = AESGCM(derived.derive(secret))

    def __repr__(self) -> str:
        return "KeyVault(<secret>)"

    def seal(self, plaintext: bytes, fingerprint: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, fingerprint.encode())

    def open(self, sealed: bytes, fingerprint: str) -> bytes:
        if sealed[:1] != _VERSION:
            raise SSLTermError("stored key has an unknown format", code="store-corrupt")
        nonce, body = sealed[1:1 + _NONCE], sealed[1 + _NONCE:]
        try:
            return self._aead.decrypt(nonce, body, fingerprint.encode())
        except InvalidTag as exc:
            raise SSLTermError(
                "a stored private key cannot be decrypted with this secret key",
                code="wrong-secret-key",
                hint="set SSLTERM_SECRET_KEY (or restore the key file) used when the certificate was added",
            ) from exc


MIN_SECRET_CHARS = 32


def vault_from(secret_key: str | None, key_file: Path) -> KeyVault:
    if secret_key:
        if len(secret_key) < MIN_SECRET_CHARS:  # HKDF does not slow guessing: the secret must be strong
            raise SSLTermError(f"the secret key (SSLTERM_SECRET_KEY or SSLTERM_SECRET_KEY_FILE) is shorter than "
                               f"{MIN_SECRET_CHARS} characters",
                               code="weak-secret-key", hint="use a random value: head -c 32 /dev/urandom | base64")
        return KeyVault(secret_key.encode())
    return KeyVault(_load_or_create_key_file(key_file))


def _load_or_create_key_file(path: Path) -> bytes:
    """The key file: 32 random bytes, base64, mode 0600. Created once, never overwritten (two first runs
    at the same moment agree on one key), and refused when damaged or readable by others."""
    if not path.exists():
        ensure_private_dir(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret.")
        try:
            os.write(fd, base64.b64encode(os.urandom(32)) + b"\n")
            os.fsync(fd)
            os.close(fd)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # atomic create-if-absent
        finally:
            os.unlink(tmp)
    if path.stat().st_mode & 0o077:
        raise SSLTermError(f"{path} is readable by other users", code="bad-key-file", hint=f"chmod 600 {path}")
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise SSLTermError(f"{path} is damaged", code="bad-key-file",
                           hint="restore it from your backup of the data directory") from exc
    if len(key) != 32:
        raise SSLTermError(f"{path} does not hold a 32-byte key", code="bad-key-file",
                           hint="restore it from your backup of the data directory")
    return key


#: the canary's one row (id 1), created by migration 0003
CANARY = Table("secret_canary", Base.metadata,
               Column("id", Integer, primary_key=True, autoincrement=False),
               Column("sealed", LargeBinary, nullable=False),
               Column("created_at", UTCDateTime, nullable=False))
_CANARY_TEXT = b"sslterm secret canary v1"
_CANARY_AD = "secret-canary"  # associated data: no certificate's fingerprint, so no key row can pass for it


def check_secret_key(session: Session, vault: KeyVault, now: datetime) -> bool:
    """Refuse (``wrong-secret-key``) a key that is not the store's, inside ``session``'s writing transaction
    and before it writes anything. A store without a canary (new, or from before the canary) first has its
    newest sealed key opened, so a wrong key is not enshrined, then gets one sealed with this key, committed
    with the transaction. True when the canary was there and opened: nothing is left to check."""
    sealed = session.scalar(select(CANARY.c.sealed).where(CANARY.c.id == 1))
    if sealed is not None:
        _open_or_refuse(vault, sealed, _CANARY_AD)
        return True
    newest = session.execute(select(CertificateRow.key_sealed, CertificateRow.fingerprint)
                             .order_by(CertificateRow.updated_at.desc()).limit(1)).first()
    if newest is not None:
        _open_or_refuse(vault, newest.key_sealed, newest.fingerprint)
    session.execute(insert(CANARY).values(id=1, sealed=vault.seal(_CANARY_TEXT, _CANARY_AD), created_at=now))
    return False


def _open_or_refuse(vault: KeyVault, sealed: bytes, associated: str) -> None:
    try:
        vault.open(sealed, associated)
    except SSLTermError as exc:
        if exc.code != "wrong-secret-key":
            raise
        raise SSLTermError(
            "the secret key is not this store's: what the store holds was sealed with another key",
            code="wrong-secret-key",
            hint="every controller of a store needs the same key: set SSLTERM_SECRET_KEY (or "
                 "SSLTERM_SECRET_KEY_FILE) to the one the store was first used with, or restore the data "
                 "directory's secret.key; nothing was changed",
        ) from None
