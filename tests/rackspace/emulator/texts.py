"""Published texts, names and limits the emulator answers with (sources: docs/rackspace-emulator.md)."""

from __future__ import annotations

import re

#: Regions of the published sample service catalog (common-gs/samples/service-catalog-endpoint.rst).
DEFAULT_REGIONS: tuple[str, ...] = ("DFW", "ORD", "IAD", "HKG", "SYD")

LOOPBACK = "127.0.0.1"

# -- published texts ------------------------------------------------------------------------------------------------

#: [docs] common-gs/auth-using-curl.rst; body shape from [mimic] identity_objects._identity_error_message.
IDENTITY_BAD_CREDENTIALS = "Unable to authenticate user with credentials provided."
IDENTITY_BAD_BODY = "Invalid request body: unable to parse Auth data. Please review XML or JSON formatting"
#: [docs] ssl-termination PUT note.
RSA_ONLY = "ECDSA key format is currently not accepted for ssl termination. Use RSA."
#: [atlas] SslTerminationValidator.
MUST_SUPPLY = "Must supply certificates(s), key and secure port for updating ssl termination."
MUST_SUPPLY_CERT_KEY = ("Must supply certificates(s), key and secure port for updating ssl termination cert and or "
                        "key values.")
#: [atlas] Constants.
LB_NOT_FOUND = "Load balancer not found"
SSL_NOT_FOUND = "SSL termination not found for requested load balancer."
MAPPING_NOT_FOUND = "Certificate mapping not found for requested load balancer."
#: [atlas] ZeusUtils / CertUtils.
KEY_MISMATCH = "Modulus between user cert and key did not match"
#: [repose] rate-limiting recipe.
OVER_LIMIT_MESSAGE = "OverLimit Retry..."

_SECURE_PROTOCOLS = frozenset({"HTTPS", "IMAPS", "LDAPS", "POP3S"})
_NO_SSL_PROTOCOLS = frozenset({"DNS_UDP", "UDP", "UDP_STREAM", "TCP_CLIENT_FIRST"})
_PROTOCOLS = frozenset({"DNS_TCP", "DNS_UDP", "FTP", "HTTP", "HTTPS", "IMAPS", "IMAPv4", "LDAP", "LDAPS", "MYSQL",
                        "POP3", "POP3S", "SMTP", "TCP", "TCP_CLIENT_FIRST", "UDP", "UDP_STREAM", "SFTP"})
_ALGORITHMS = frozenset({"LEAST_CONNECTIONS", "RANDOM", "ROUND_ROBIN", "WEIGHTED_LEAST_CONNECTIONS",
                         "WEIGHTED_ROUND_ROBIN"})
#: [docs] api-reference/ciphers.rst.
CIPHER_PROFILES = frozenset({"default", "CLBCipherPolicy2017-08", "CLBCipherPolicy2019-05"})
_SECRET_FIELDS = frozenset({"privatekey", "privateKey", "apiKey", "password"})
#: [atlas] HostNameVerifier.
_HOST_NAME = re.compile(r"^(([a-zA-Z0-9*]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*"
                        r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$")
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)
_UNITS: dict[str, float] = {"SECOND": 1.0, "MINUTE": 60.0, "HOUR": 3600.0, "DAY": 86400.0}
