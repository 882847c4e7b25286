"""Text from outside (certificate subjects and names, remote API errors, HAProxy's alerts) made safe to show.

Anyone can put an escape sequence, a bell, a newline or a right-to-left override in a certificate, and a
remote error may echo what it was sent. Shown raw, they act on the terminal or page (recolour it, fake an
extra line, reverse a name). Here they become visible escapes (``\\x1b``, ``\\u202e``). Pure: no I/O.
"""

from __future__ import annotations

#: Bidirectional controls (they reorder what follows them) and the Unicode line and paragraph separators.
_FORMAT_CONTROLS = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029)
_ESCAPES = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))},  # C0, DEL, C1
    **{c: f"\\u{c:04x}" for c in _FORMAT_CONTROLS},
}


def escape_controls(text: object) -> str:
    """``text`` with every control character shown as an escape: printable as it is on any terminal, one
    line, in the order it is stored."""
    return str(text).translate(_ESCAPES)


def one_line(text: object, limit: int) -> str:
    """:func:`escape_controls`, cut to ``limit`` characters (for quoting remote text inside a message)."""
    safe = escape_controls(text)
    return safe if len(safe) <= limit else safe[:limit] + "..."


def short_name(rfc4514: str) -> str:
    """The CN of an RFC 4514 name, for tables and lists; the whole name when it has none."""
    for part in rfc4514.split(","):
        if part.startswith("CN="):
            return part[3:]
    return rfc4514
