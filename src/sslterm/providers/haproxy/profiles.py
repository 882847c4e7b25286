"""TLS settings per profile, after Mozilla's server-side TLS guidelines (6.0 for modern and
intermediate: ECDHE only, so no DH parameters are needed; 5.7 for old), as bind-line keywords."""

from __future__ import annotations

from sslterm.providers.haproxy.version import Version

CURVES = "X25519:prime256v1:secp384r1"
TLS13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
OLD_CIPHERS = (
    "@SECLEVEL=0:" + INTERMEDIATE_CIPHERS + ":ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:"
    "ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:"
    "AES256-SHA256:AES128-SHA:AES256-SHA:DES-CBC3-SHA"
)
_MIN_VERSION = {"modern": "TLSv1.3", "intermediate": "TLSv1.2", "old": "TLSv1.0"}
_OLD_FLAGS = {"modern": "no-sslv3 no-tlsv10 no-tlsv11", "intermediate": "no-sslv3 no-tlsv10 no-tlsv11",
              "old": "no-sslv3"}


def bind_options(profile: str, version: Version) -> str:
    """The TLS keywords of a bind line for ``profile`` on this HAProxy version."""
    parts = []
    if version.at_least(1, 8):
        parts.append(f"ssl-min-ver {_MIN_VERSION[profile]}")
        parts.append(f"curves {CURVES}")
    else:
        parts.append(_OLD_FLAGS[profile])
        parts.append("ecdhe prime256v1")
    if profile == "intermediate":
        parts.append(f"ciphers {INTERMEDIATE_CIPHERS}")
    elif profile == "old":
        parts.append(f"ciphers {OLD_CIPHERS}")
    if version.at_least(1, 9):
        parts.append(f"ciphersuites {TLS13}")
    if profile != "old" and version.at_least(1, 8):
        parts.append("prefer-client-ciphers")
    parts.append("no-tls-tickets")
    return " ".join(parts)
