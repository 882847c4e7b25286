"""A real TLS handshake (with SNI) that reads back the certificate a listener serves."""

from __future__ import annotations

import hashlib
import socket
import ssl
import time
from collections.abc import Callable, Sequence

from sslterm.engine.model import ProbeTarget, Served

#: TLS 1.2 suites that only a certificate of that key type can serve
_SUITES_FOR_KEY = {
    "RSA": "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305",
    "EC": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305",
}


def served_fingerprint(host: str, port: int, server_name: str | None, timeout: float = 3.0,
                       key_type: str | None = None) -> str:
    """SHA-256 of the leaf the server sends. Trust is not checked here: only identity. With ``key_type``
    the client offers only TLS 1.2 suites for that key type, as an old client would, so a listener
    with RSA and ECDSA certificates for the same names shows each."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if key_type in _SUITES_FOR_KEY:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers(_SUITES_FOR_KEY[key_type])
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    if not der:
        raise ssl.SSLError("no certificate was sent")
    return hashlib.sha256(der).hexdigest()


def probe(target: ProbeTarget, timeout: float = 3.0) -> Served:
    try:
        return Served(target, served_fingerprint(target.host, target.port, target.server_name, timeout,
                                                 target.key_type))
    except (OSError, ssl.SSLError) as exc:
        return Served(target, None, f"{type(exc).__name__}: {exc}")


def probe_until(targets: Sequence[ProbeTarget], *, within: float = 10.0, interval: float = 0.1,
                prober: Callable[[ProbeTarget], Served] = probe) -> list[Served]:
    """Probe until every target serves what it should, or ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        results = [prober(t) for t in targets]
        if all(r.ok for r in results) or time.monotonic() >= deadline:
            return results
        time.sleep(interval)
