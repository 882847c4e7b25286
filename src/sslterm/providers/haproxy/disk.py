"""Reading back what a HAProxy load balancer's files say: which crt-lists the configuration names, which
certificate files each crt-list names, and what each certificate file holds (leaf, chain, names).

Only ``CERTIFICATE`` blocks are parsed: the private key in the same file is never parsed, shown or kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sslterm.certs.bundle import fingerprint, subject_alt_names

_CERT_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_BIND_CRT_LIST = re.compile(r"^\s*bind\s+\S+\s+ssl\s+crt-list\s+(\S+)", re.MULTILINE)
_CRT_LIST_NAME = re.compile(r"crt-list-(\d+)\.txt")


@dataclass(frozen=True)
class PemFacts:
    """What a certificate file serves, in the store's terms (SHA-256 fingerprints, SANs as the store lists
    them) and in HAProxy's (``show ssl cert`` gives the SHA-1 and the chain's subjects)."""

    fingerprint: str
    chain: tuple[str, ...]
    sans: tuple[str, ...]
    sha1: str
    chain_subjects: tuple[str, ...]


def oneline(name: x509.Name) -> str:
    """A name as HAProxy's runtime API prints it (OpenSSL's one-line form: ``/O=.../CN=...``)."""
    return "".join(f"/{attr.rfc4514_attribute_name}={attr.value!s}" for attr in name)


def pem_facts(data: bytes) -> PemFacts | None:
    """The leaf (first certificate) and chain of a combined PEM; None when it holds no readable certificate."""
    try:
        certs = [x509.load_pem_x509_certificate(block) for block in _CERT_BLOCK.findall(data)]
    except ValueError:
        return None
    if not certs:
        return None
    leaf, chain = certs[0], certs[1:]
    return PemFacts(fingerprint(leaf), tuple(fingerprint(c) for c in chain), tuple(subject_alt_names(leaf)),
                    leaf.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - HAProxy's own label, not a check
                    tuple(oneline(c.subject) for c in chain))


def read_pem(path: Path) -> PemFacts | None:
    """:func:`pem_facts` of a file; None when it is missing or holds no readable certificate."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return pem_facts(data)


def crt_list_lines(text: str) -> list[str]:
    """The entries of a crt-list (comments and blank lines left out), each as HAProxy echoes it back."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


_PARSED: dict[str, list[str]] = {}  # the last crt-lists parsed, by text (a change reads its own last one back)


def crt_list_lines_after(before: str, text: str) -> tuple[list[str], list[str]]:
    """:func:`crt_list_lines` of ``before`` and of ``text``, parsed once per text: when ``text`` is ``before``
    with lines appended (a certificate added), only those lines are parsed. Copies: callers may change them."""
    old = _PARSED.get(before)
    if old is None:
        old = crt_list_lines(before)
    new = _PARSED.get(text)
    if new is None:
        new = (old + crt_list_lines(text[len(before):]) if before.endswith("\n") and text.startswith(before)
               else crt_list_lines(text))
    if len(_PARSED) > 8:
        _PARSED.clear()
    _PARSED[before], _PARSED[text] = old, new
    return list(old), list(new)


def crt_list_files(text: str) -> list[str]:
    """The certificate file each entry of a crt-list names, in order (the first is the default)."""
    return [words[0] for words in map(str.split, text.splitlines()) if words and not words[0].startswith("#")]


def port_of_crt_list(path: Path, root: Path) -> int | None:
    """The lb port of one of sslterm's crt-lists (``ROOT/crt-list-PORT.txt``); None for any other file."""
    match = _CRT_LIST_NAME.fullmatch(path.name)
    return int(match.group(1)) if match and path.parent == root else None


def config_crt_lists(config: str, root: Path) -> dict[int, Path]:
    """The crt-lists of sslterm's that a managed configuration's ``bind ... ssl crt-list`` lines name, by port."""
    found: dict[int, Path] = {}
    for raw in _BIND_CRT_LIST.findall(config):
        path = Path(raw)
        port = port_of_crt_list(path, root)
        if port is not None:
            found[port] = path
    return found
