"""Forms to use cases' arguments: parsing only (a number is a number, a choice one of its values); every
rule about what is valid is the service's, which checks the same values whichever adapter sent them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sslterm.api import bodies
from sslterm.api.ui.guard import Posted
from sslterm.certs import BundleInput
from sslterm.errors import InputError

#: the fields of the enable form; the plan page posts them back unchanged to the confirm button
ENABLE_FIELDS = ("certificate", "lb_port", "instance_port", "instance_protocol", "redirect_http", "hsts",
                 "tls_profile")
DISABLE_FIELDS = ("lb_port", "certificate")
#: the certificate upload: each part pasted (field ``NAME``) or chosen as a file (field ``NAME_file``)
BUNDLE_PARTS = (("certificate", "certificate"), ("private_key", "private key"), ("chain", "chain"))


def _part(posted: Posted, name: str, label: str) -> bytes | None:
    pasted, chosen = posted.text(name), posted.files.get(f"{name}_file")
    if pasted and chosen:
        raise InputError(f"the {label} was both pasted and chosen as a file", code="usage",
                         hint="give it one way: clear the text box or the file")
    return chosen if chosen else pasted.encode() if pasted else None


def bundle_input(posted: Posted) -> BundleInput:
    """What ``sslterm cert add`` reads from its files, from the upload form (as the REST API's upload does):
    checked by the very same checks."""
    cert, key, chain = (_part(posted, name, label) for name, label in BUNDLE_PARTS)
    return bodies.bundle_input(cert or b"", key, chain, posted.raw("passphrase") or None)


def _port(posted: Posted, name: str, label: str) -> int | None:
    text = posted.text(name)
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InputError(f"{label} must be a port number, 1-65535")
    return int(text)


def _switch(posted: Posted, name: str, label: str) -> bool | None:
    """``on``, ``off``, or empty: as the listener has it (off on a new one)."""
    text = posted.text(name)
    if text not in ("", "on", "off"):
        raise InputError(f"{label} must be on, off or unchanged")
    return None if not text else text == "on"


def _required(posted: Posted, name: str, label: str) -> str:
    text = posted.text(name)
    if not text:
        raise InputError(f"choose the {label}")
    return text


@dataclass(frozen=True)
class EnableForm:
    """``service.enable(lb, certificate, **options)``; ``given``: the fields as sent, for the confirm form."""

    certificate: str
    options: dict[str, Any]
    given: dict[str, str]

    @classmethod
    def parse(cls, posted: Posted) -> EnableForm:
        options = {"lb_port": _port(posted, "lb_port", "the load balancer port"),
                   "instance_port": _port(posted, "instance_port", "the instance port"),
                   "instance_protocol": posted.text("instance_protocol") or None,
                   "redirect_http": _switch(posted, "redirect_http", "redirect HTTP"),
                   "hsts": _switch(posted, "hsts", "HSTS"),
                   "tls_profile": posted.text("tls_profile") or None}
        return cls(_required(posted, "certificate", "certificate"), options,
                   {name: posted.text(name) for name in ENABLE_FIELDS})


@dataclass(frozen=True)
class DisableForm:
    """``service.disable(lb, lb_port=..., cert_name=...)``."""

    lb_port: int | None
    certificate: str | None
    given: dict[str, str]

    @classmethod
    def parse(cls, posted: Posted) -> DisableForm:
        return cls(_port(posted, "lb_port", "the load balancer port"), posted.text("certificate") or None,
                   {name: posted.text(name) for name in DISABLE_FIELDS})
