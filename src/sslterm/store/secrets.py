"""Encryption of private keys at rest (AES-256-GCM).

The data key comes from ``SSLTERM_SECRET_KEY`` (any string; stretched with HKDF) or, when unset, from
a random key file created ``0600`` in the data directory on first use. Each ciphertext is bound to its
certificate's fingerprint (associated data), so a key row copied onto another certificate fails to open.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sslterm.errors import SSLTermError
from sslterm.files import ensure_private_dir

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
            raise SSLTermError(f"SSLTERM_SECRET_KEY is shorter than {MIN_SECRET_CHARS} characters",
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
