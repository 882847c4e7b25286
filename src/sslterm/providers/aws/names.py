"""IAM server certificate names and paths: the rules IAM enforces (moto checks none), and the name sslterm
gives each upload.

Rules from the UploadServerCertificate API reference (botocore model iam/2010-05-08): the name is 1-128
characters of ASCII letters, digits and ``_+=,.@-`` (no spaces, no path); the path is ``/`` or 1-510 printable
ASCII characters between two slashes, 512 at most. A name is unique in the account whatever its path.
"""

from __future__ import annotations

import re
from typing import Final

from sslterm.providers.aws.refusals import Problem

IAM_NAME_MAX: Final = 128
IAM_PATH_MAX: Final = 512
_IAM_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]+")
_IAM_PATH = re.compile(r"/|/[\x21-\x7e]+/")
_NOT_NAME = re.compile(r"[^a-z0-9_+=,.@-]+")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")

#: the path of every server certificate sslterm uploads, so its own are listed apart from the account's others
IAM_PATH: Final = "/sslterm/"
#: the start of every name sslterm gives, so an operator reading the IAM list knows whose they are
NAME_PREFIX: Final = "sslterm-"
FINGERPRINT_CHARS: Final = 32  # 128 bits of the SHA-256 fingerprint: unique, and room for the name


def iam_name_problems(name: str, path: str = IAM_PATH) -> list[Problem]:
    """Why IAM would refuse this server certificate name or path (moto accepts any)."""
    problems = []
    if len(name) > IAM_NAME_MAX or not _IAM_NAME.fullmatch(name):
        problems.append(Problem("aws-name-invalid", f"IAM server certificate name {name[:80]!r} is not allowed: "
                                f"1-{IAM_NAME_MAX} letters, digits and _+=,.@- only",
                                "leave the name to sslterm (iam_certificate_name)"))
    if len(path) > IAM_PATH_MAX or not _IAM_PATH.fullmatch(path):
        problems.append(Problem("aws-path-invalid", f"IAM path {path[:80]!r} is not allowed: '/' or printable "
                                f"ASCII between two slashes, {IAM_PATH_MAX} characters at most",
                                f"use {IAM_PATH}"))
    return problems


def iam_certificate_name(certificate: str, fingerprint: str) -> str:
    """The IAM server certificate name of one version of a stored certificate.

    Deterministic (a re-run after a crash finds its own upload by name), unique per version (the leaf's
    SHA-256 fingerprint), valid for IAM whatever ``certificate`` holds, and lower-case: IAM names that differ
    only in case may clash, and two versions with one fingerprint are one upload anyway.
    """
    if not _FINGERPRINT.fullmatch(fingerprint):
        raise ValueError("fingerprint must be a SHA-256 fingerprint in lower-case hex")
    room = IAM_NAME_MAX - len(NAME_PREFIX) - 1 - FINGERPRINT_CHARS
    label = _NOT_NAME.sub("-", certificate.lower()).strip("-")[:room] or "certificate"
    name = f"{NAME_PREFIX}{label}-{fingerprint[:FINGERPRINT_CHARS]}"
    assert not iam_name_problems(name), name
    return name
