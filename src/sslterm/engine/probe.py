"""A real TLS handshake (with SNI) that reads back the certificates a listener serves: leaf and chain.

The standard library's ``ssl`` shows only the leaf (before Python 3.13), so the handshake is made with
pyOpenSSL, which gives the chain exactly as the server sent it.
"""

from __future__ import annotations

import hashlib
import select
import socket
import time
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL

from sslterm.engine.model import ProbeTarget, Served

_DER = Encoding.DER

#: TLS 1.2 suites that only a certificate of that key type can serve
_SUITES_FOR_KEY = {
    "RSA": "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305",
    "EC": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305",
}


def _context(key_type: str | None) -> SSL.Context:
    """Trust is not checked here, only identity. With ``key_type`` the client offers only TLS 1.2 suites for
    that key type, as an old client would, so a listener with RSA and ECDSA certificates for the same names
    shows each."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)
    if key_type in _SUITES_FOR_KEY:
        context.set_max_proto_version(SSL.TLS1_2_VERSION)
        context.set_cipher_list(_SUITES_FOR_KEY[key_type].encode())
    return context


def _handshake(connection: SSL.Connection, raw: socket.socket, deadline: float) -> None:
    """pyOpenSSL on a socket with a timeout is non-blocking: wait for the socket between attempts."""
    while True:
        try:
            connection.do_handshake()
            return
        except (SSL.WantReadError, SSL.WantWriteError) as want:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the TLS handshake timed out") from want
            reading = isinstance(want, SSL.WantReadError)
            select.select([raw] if reading else [], [] if reading else [raw], [], left)


def served_chain(host: str, port: int, server_name: str | None, timeout: float = 3.0,
                 key_type: str | None = None) -> tuple[str, tuple[str, ...]]:
    """SHA-256 fingerprints of the leaf the server sends and of the certificates after it, in order."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as raw:
        connection = SSL.Connection(_context(key_type), raw)
        if server_name:
            connection.set_tlsext_host_name(server_name.encode("ascii"))
        connection.set_connect_state()
        _handshake(connection, raw, deadline)
        sent = connection.get_peer_cert_chain(as_cryptography=True) or []
        connection.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)  # no close_notify round trip
    if not sent:
        raise SSL.Error("no certificate was sent")
    fingerprints = [hashlib.sha256(cert.public_bytes(_DER)).hexdigest() for cert in sent]
    return fingerprints[0], tuple(fingerprints[1:])


def served_fingerprint(host: str, port: int, server_name: str | None, timeout: float = 3.0,
                       key_type: str | None = None) -> str:
    """SHA-256 of the leaf the server sends."""
    return served_chain(host, port, server_name, timeout, key_type)[0]


def probe(target: ProbeTarget, timeout: float = 3.0) -> Served:
    try:
        leaf, chain = served_chain(target.host, target.port, target.server_name, timeout, target.key_type)
    except (OSError, SSL.Error, UnicodeError) as exc:
        return Served(target, None, f"{type(exc).__name__}: {exc}")
    return Served(target, leaf, chain=chain)


def probe_until(targets: Sequence[ProbeTarget], *, within: float = 10.0, interval: float = 0.1,
                prober: Callable[[ProbeTarget], Served] = probe) -> list[Served]:
    """Probe until every target serves what it should, or ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        results = [prober(t) for t in targets]
        if all(r.ok for r in results) or time.monotonic() >= deadline:
            return results
        time.sleep(interval)
