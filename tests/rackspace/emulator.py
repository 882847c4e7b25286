"""A test-only emulator of Rackspace Cloud Identity v2.0 and Cloud Load Balancers API v1.0 (SSL termination).

It is a stateful HTTP server on 127.0.0.1 (an ephemeral port), standard library only plus ``cryptography`` for the
PEM checks.  ``running_emulator()`` starts it in a thread and stops it (shutdown + join) on exit::

    with running_emulator(pending_seconds=0.1) as rax:
        rax.add_load_balancer(100, "ORD")
        ... POST rax.auth_url, then use the catalog's publicURL for ORD ...

What it implements (docs/rackspace-emulator.md has the full list with sources):

* ``POST /v2.0/tokens`` (``RAX-KSKEY:apiKeyCredentials`` and ``passwordCredentials``): a token with
  ``id``/``expires``/``tenant`` and a service catalog whose ``cloudLoadBalancers`` (``rax:load-balancer``) entry
  has one endpoint per region, ``publicURL`` = ``http://127.0.0.1:PORT/<region>/v1.0/<tenant>``.  Tokens expire
  after ``token_lifetime`` seconds; an unknown/expired token on the LB API gets 401 with no body.
* ``GET /loadbalancers``, ``GET|PUT /loadbalancers/{id}``, ``GET|PUT|DELETE /loadbalancers/{id}/ssltermination``,
  ``GET|POST .../ssltermination/certificatemappings``, ``GET|PUT|DELETE .../certificatemappings/{mappingId}``,
  ``GET /limits``, ``GET /loadbalancers/absolutelimits``.
* Asynchrony: every accepted mutation puts the LB in ``PENDING_UPDATE`` for ``pending_seconds``; a mutation while
  the LB is not ``ACTIVE`` gets 422 (immutable).  Deletions take effect when the LB settles, as in Atlas.
* Rate limits (Repose): off unless ``rate_limits`` is given; over the limit -> 413 + ``Retry-After``.
* Test hooks: ``fail_next``, ``fail_next_update``, ``set_status``, ``expire_tokens``, a request log with private keys,
  API keys and passwords redacted, and read access to what was stored (``ssl_termination``,
  ``certificate_mappings``).

Sources (checked, see the doc for per-behaviour citations):
[docs] ``rackerlabs/docs-cloud-load-balancers`` @ dd38b54, ``api-docs/cloud-load-balancers-v1/``;
[atlas] ``lbrackspace/atlas-lb`` @ dde84090f (the service behind the API: validators, services, ZeusUtils);
[repose] ``rackerlabs/repose`` (rate-limiting filter: 413, RFC 1123 ``Retry-After``, ``overLimit`` JSON body);
[mimic] ``rackerlabs/mimic`` and [otter] ``rackerlabs/otter`` (JSON fault shapes noted there as checked against
production in 2015-2016).

Not verifiable from these sources (the emulator's choice, documented in docs/rackspace-emulator.md):
the exact 400 text for an ECDSA key (the docs only say "ECDSA key format is currently not accepted for ssl
termination. Use RSA.", which is what the emulator returns); a ``certificate`` field holding more than one PEM block
(rejected here); an attribute-only PUT when no termination exists (400 "No ssl termination to update values
for."); 200 vs 202 on PUT/DELETE ssltermination (docs say 200, Atlas returns 202: ``atlas_status_codes=True``);
DELETE ssltermination when none exists (Atlas: 400, docs list 404); the sliding (not fixed) rate-limit window;
XML (not served: 406/415).
"""

from __future__ import annotations

import copy
import email.utils
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal, cast
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "DEFAULT_REGIONS",
    "CertificateMapping",
    "Emulator",
    "LoadBalancer",
    "RateLimit",
    "RecordedRequest",
    "SslTermination",
    "running_emulator",
]

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


# -- public data ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    """One Repose rate limit on ``/v1.0/*``: at most ``value`` requests with ``verb`` per ``unit``."""

    verb: str
    value: int
    unit: Literal["SECOND", "MINUTE", "HOUR", "DAY"] = "SECOND"


#: [docs] general-api-info/limits.rst "Default rate limits".
DEFAULT_RATE_LIMITS: tuple[RateLimit, ...] = (
    RateLimit("GET", 10, "SECOND"), RateLimit("GET", 600, "MINUTE"),
    RateLimit("POST", 5, "SECOND"), RateLimit("POST", 300, "MINUTE"),
    RateLimit("PUT", 10, "SECOND"), RateLimit("PUT", 600, "MINUTE"),
    RateLimit("DELETE", 5, "SECOND"), RateLimit("DELETE", 300, "MINUTE"),
)


@dataclass
class SslTermination:
    """What a PUT stored; ``private_key`` is kept for the tests' own checks and never served or logged."""

    certificate: str
    private_key: str = field(repr=False)
    intermediate_certificate: str | None = None
    enabled: bool = True
    secure_port: int = 443
    secure_traffic_only: bool = False
    cipher_profile: str = "default"
    tls10_enabled: bool = True
    tls11_enabled: bool = True

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"certificate": self.certificate, "enabled": self.enabled,
                                   "secureTrafficOnly": self.secure_traffic_only, "securePort": self.secure_port,
                                   "cipherProfile": self.cipher_profile}
        if self.intermediate_certificate is not None:
            body["intermediateCertificate"] = self.intermediate_certificate
        body["securityProtocols"] = [
            {"securityProtocolName": name, "securityProtocolStatus": "ENABLED" if on else "DISABLED"}
            for name, on in (("TLS_10", self.tls10_enabled), ("TLS_11", self.tls11_enabled))]
        return body


@dataclass
class CertificateMapping:
    id: int
    host_name: str
    certificate: str
    private_key: str = field(repr=False)
    intermediate_certificate: str | None = None

    def as_json(self, *, summary: bool = False) -> dict[str, object]:
        body: dict[str, object] = {"id": self.id, "hostName": self.host_name}
        if not summary:
            body["certificate"] = self.certificate
            if self.intermediate_certificate is not None:
                body["intermediateCertificate"] = self.intermediate_certificate
        return body


@dataclass
class LoadBalancer:
    id: int
    region: str
    name: str
    protocol: str = "HTTP"
    port: int = 80
    algorithm: str = "RANDOM"
    timeout: int = 30
    half_closed: bool = False
    https_redirect: bool = False
    status: str = "ACTIVE"
    #: Ports of the other load balancers sharing this one's virtual IP ("Ports taken" in [atlas]).
    shared_vip_ports: tuple[int, ...] = ()
    nodes: tuple[tuple[str, int], ...] = (("10.1.1.1", 80),)
    ssl_termination: SslTermination | None = None
    certificate_mappings: dict[int, CertificateMapping] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: ``body`` is the parsed JSON with secrets replaced by ``"<redacted>"``."""

    method: str
    path: str
    status: int
    body: object
    at: float
    injected: bool = False

    @property
    def is_write(self) -> bool:
        return self.method not in ("GET", "HEAD") and "/v1.0/" in self.path


# -- replies and faults ---------------------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


class _Fault(Exception):
    def __init__(self, reply: _Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def _fault(code: int, message: str, details: str | None = None) -> _Fault:
    """[atlas] ResponseFactory/LbaasFault in JSON: message, code and details (omitted when null)."""
    body: dict[str, object] = {"message": message, "code": code}
    if details is not None:
        body["details"] = details
    return _Fault(_Reply(code, body))


def _validation_fault(messages: Sequence[str]) -> _Fault:
    """[atlas] HttpResponseBuilder.buildBadRequestResponse; shape also in [mimic] clb_errors.validation_errors."""
    unique = list(dict.fromkeys(messages))
    return _Fault(_Reply(400, {"validationErrors": {"messages": unique}, "message": "Validation Failure",
                               "code": 400, "details": "The object is not valid"}))


def _schema_fault() -> _Fault:
    """Invalid JSON or fields outside the schema: [mimic] clb_errors.invalid_json_schema ("Verified 2015-06-16")."""
    return _Fault(_Reply(400, {"message": ["JSON does not match the expected schema"]}))


def _empty(status: int) -> _Fault:
    return _Fault(_Reply(status))


def _iso(at: float | datetime, *, millis: bool = False) -> str:
    moment = at if isinstance(at, datetime) else datetime.fromtimestamp(at, UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _redact(value: object) -> object:
    if isinstance(value, dict):
        return {k: "<redacted>" if k in _SECRET_FIELDS else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


# -- request bodies -------------------------------------------------------------------------------------------------


def _parse_json(raw: bytes) -> object:
    try:
        return cast(object, json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _schema_fault() from None


def _wrapped(raw: bytes, key: str, allowed: frozenset[str]) -> dict[str, object]:
    doc = _parse_json(raw)
    if not isinstance(doc, dict) or set(doc) != {key} or not isinstance(doc[key], dict):
        raise _schema_fault()
    inner = cast(dict[str, object], doc[key])
    if not set(inner) <= allowed:
        raise _schema_fault()
    return {k: v for k, v in inner.items() if v is not None}


def _opt_str(fields: Mapping[str, object], name: str) -> str | None:
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    raise _schema_fault()


def _opt_bool(fields: Mapping[str, object], name: str) -> bool | None:
    """Booleans as JSON or as "true"/"false" strings (the docs' own attribute example sends strings)."""
    value = fields.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _schema_fault()


def _opt_int(fields: Mapping[str, object], name: str) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[-+]?[0-9]{1,9}", value):
        return int(value)
    raise _schema_fault()


# -- PEM checks ([atlas] ZeusUtils.buildZeusCrtFileLbassValidation) -------------------------------------------------


@dataclass(frozen=True)
class _PemBlock:
    label: str
    text: str
    line: int


def _pem_blocks(text: str) -> list[_PemBlock]:
    return [_PemBlock(m.group(1), m.group(0), text.count("\n", 0, m.start()) + 1) for m in _PEM.finditer(text)]


def _check_key(key_pem: str | None) -> tuple[rsa.RSAPrivateKey | None, list[str]]:
    blocks = _pem_blocks(key_pem or "")
    if not blocks:
        return None, ["Key Required"]
    if len(blocks) > 1:
        return None, ["Multiple pem blocks used in Key"]
    try:
        # Only the public numbers are compared (as [atlas] does), so the costly RSA consistency check is skipped.
        key = load_pem_private_key(blocks[0].text.encode(), password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None, ["Unable to parse pemblock to RSA Key"]
    if not isinstance(key, rsa.RSAPrivateKey):
        return None, [RSA_ONLY]
    return key, []


def _check_cert(cert_pem: str | None) -> tuple[x509.Certificate | None, list[str]]:
    blocks = _pem_blocks(cert_pem or "")
    if not blocks:
        return None, ["Cert Required"]
    if len(blocks) > 1:
        return None, ["Multiple pem blocks used in Cert"]
    if blocks[0].label != "CERTIFICATE":
        return None, ["Unable to read userCrt"]
    try:
        return x509.load_pem_x509_certificate(blocks[0].text.encode()), []
    except ValueError:
        return None, ["Unable to read userCrt"]


def _check_chain(chain_pem: str | None) -> list[str]:
    errors: list[str] = []
    for block in _pem_blocks(chain_pem or ""):
        if block.label != "CERTIFICATE":
            errors.append(f"Object at line {block.line} decoded to class {block.label} but was expecting "
                          "org.bouncycastle.cert.X509CertificateHolder")
            continue
        try:
            x509.load_pem_x509_certificate(block.text.encode())
        except ValueError:
            errors.append(f"Empty object at line starting at line {block.line}")
    return errors


def _check_bundle(key_pem: str | None, cert_pem: str | None, chain_pem: str | None) -> list[str]:
    """Fatal errors only: expired or not-yet-valid certificates and chain order are not fatal in [atlas]."""
    key, errors = _check_key(key_pem)
    cert, cert_errors = _check_cert(cert_pem)
    errors += cert_errors + _check_chain(chain_pem)
    if key is not None and cert is not None:
        public = cert.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            errors.append("Unable to extract public RSA key from x509 certificate")
        else:
            mine, theirs = key.public_key().public_numbers(), public.public_numbers()
            if mine.n != theirs.n:
                errors.append(KEY_MISMATCH)
            if mine.e != theirs.e:
                errors.append("Cert and key public exponent do not match")
    return errors


def _blank_to_none(text: str | None) -> str | None:
    return None if text is None or not text.strip() else text


# -- the emulator ---------------------------------------------------------------------------------------------------


@dataclass
class _Injected:
    method: str
    path: re.Pattern[str]
    status: int
    body: object
    headers: dict[str, str]
    times: int


@dataclass
class _Token:
    expires_at: float


@dataclass
class _Pending:
    until: float
    then_status: str
    deferred: list[Callable[[LoadBalancer], None]] = field(default_factory=list)


_Route = Callable[[LoadBalancer, str, bytes], _Reply]


class Emulator:
    """State and behaviour; ``running_emulator`` serves it over HTTP.  Every public method is thread-safe."""

    def __init__(self, *, tenant_id: str = "123456", username: str = "sslterm-test",
                 api_key: str = "0123456789abcdef0123456789abcdef", password: str | None = None,
                 regions: Sequence[str] = DEFAULT_REGIONS, pending_seconds: float = 0.2,
                 token_lifetime: float = 86400.0, rate_limits: Sequence[RateLimit] = (),
                 mapping_limit: int = 20, atlas_status_codes: bool = False,
                 retry_after: Literal["http-date", "seconds"] = "http-date") -> None:
        self.tenant_id = tenant_id
        self.username = username
        self.api_key = api_key
        self.password = password
        self.regions = tuple(r.upper() for r in regions)
        #: How long an LB stays PENDING_UPDATE after an accepted mutation (the service takes seconds to minutes).
        self.pending_seconds = pending_seconds
        self.token_lifetime = token_lifetime
        self.rate_limits = tuple(rate_limits)
        #: CERTIFICATE_MAPPING_LIMIT ([docs] limits.rst: 20).
        self.mapping_limit = mapping_limit
        #: True: PUT/DELETE ssltermination answer 202 as Atlas does; False: 200 as the docs say.
        self.atlas_status_codes = atlas_status_codes
        #: Repose sends an RFC 1123 date; "seconds" sends delta-seconds instead.
        self.retry_after = retry_after
        self.base_url = ""
        self._lock = threading.RLock()
        self._lbs: dict[int, LoadBalancer] = {}
        self._pending: dict[int, _Pending] = {}
        self._fail_updates: dict[int, str] = {}
        self._tokens: dict[str, _Token] = {}
        self._requests: list[RecordedRequest] = []
        self._injected: list[_Injected] = []
        self._hits: dict[RateLimit, deque[float]] = {}
        self._next_mapping_id = 1000
        self.tokens_issued = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------------

    def start(self) -> None:
        server = _Server(self)
        host, port = server.server_address[:2]
        assert host == LOOPBACK
        self.base_url = f"http://{LOOPBACK}:{port}"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name="rackspace-emulator", daemon=True)
        self._server, self._thread = server, thread
        thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- addresses --------------------------------------------------------------------------------------------------

    @property
    def identity_url(self) -> str:
        return f"{self.base_url}/v2.0"

    @property
    def auth_url(self) -> str:
        return f"{self.identity_url}/tokens"

    def endpoint(self, region: str) -> str:
        """The ``publicURL`` the catalog lists for ``region``."""
        return f"{self.base_url}/{region.lower()}/v1.0/{self.tenant_id}"

    def credentials_body(self) -> dict[str, object]:
        return {"auth": {"RAX-KSKEY:apiKeyCredentials": {"username": self.username, "apiKey": self.api_key}}}

    # -- test set-up and inspection ---------------------------------------------------------------------------------

    def add_load_balancer(self, lb_id: int, region: str = "ORD", *, name: str | None = None, protocol: str = "HTTP",
                          port: int = 80, algorithm: str = "RANDOM", timeout: int = 30, status: str = "ACTIVE",
                          https_redirect: bool = False, shared_vip_ports: Sequence[int] = (),
                          nodes: Sequence[tuple[str, int]] | None = None) -> LoadBalancer:
        if region.upper() not in self.regions:
            raise ValueError(f"region {region!r} is not one of {self.regions}")
        lb = LoadBalancer(lb_id, region.upper(), name or f"lb-{lb_id}", protocol, port, algorithm, timeout,
                          https_redirect=https_redirect, status=status, shared_vip_ports=tuple(shared_vip_ports),
                          nodes=tuple(nodes) if nodes is not None else (("10.1.1.1", port),))
        with self._lock:
            if lb_id in self._lbs:
                raise ValueError(f"load balancer {lb_id} exists")
            self._lbs[lb_id] = lb
            return copy.deepcopy(lb)

    def load_balancer(self, lb_id: int) -> LoadBalancer:
        """A copy of the load balancer as stored now (status settled)."""
        with self._lock:
            self._settle()
            return copy.deepcopy(self._lbs[lb_id])

    def ssl_termination(self, lb_id: int) -> SslTermination | None:
        return self.load_balancer(lb_id).ssl_termination

    def certificate_mappings(self, lb_id: int) -> list[CertificateMapping]:
        return sorted(self.load_balancer(lb_id).certificate_mappings.values(), key=lambda m: m.id)

    def set_status(self, lb_id: int, status: str) -> None:
        """Force a status (e.g. ``ERROR``, ``SUSPENDED``, ``PENDING_UPDATE`` with no end); cancels any pending end."""
        with self._lock:
            self._pending.pop(lb_id, None)
            self._lbs[lb_id].status = status

    def fail_next_update(self, lb_id: int, status: str = "ERROR") -> None:
        """The next accepted mutation of ``lb_id`` ends in ``status`` instead of ``ACTIVE`` (an async failure)."""
        with self._lock:
            self._fail_updates[lb_id] = status

    def fail_next(self, method: str, path_regex: str, status: int, body: object = None,
                  headers: Mapping[str, str] | None = None, *, times: int = 1) -> None:
        """The next ``times`` requests whose method is ``method`` (``*``: any) and whose path matches ``path_regex``
        (``re.search`` on the full path, e.g. ``r"/ssltermination$"``) get ``status`` without touching state.

        ``body`` None gives the published fault body for the status (413 also gets a ``Retry-After``);
        a str/bytes body is sent as is, anything else as JSON.
        """
        with self._lock:
            self._injected.append(_Injected(method.upper(), re.compile(path_regex), status, body,
                                            dict(headers or {}), times))

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0.0

    def issue_token(self) -> str:
        """A valid token without a request (for tests that start past authentication)."""
        with self._lock:
            return self._new_token()

    def reset_rate_limits(self) -> None:
        with self._lock:
            self._hits.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_matching(self, method: str | None = None, path_regex: str | None = None) -> list[RecordedRequest]:
        pattern = re.compile(path_regex) if path_regex is not None else None
        return [r for r in self.requests
                if (method is None or r.method == method.upper()) and (pattern is None or pattern.search(r.path))]

    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        return len(self.requests_matching(method, path_regex))

    def writes(self) -> list[RecordedRequest]:
        """Every POST/PUT/DELETE/... received on the load balancer API, whatever its answer."""
        return [r for r in self.requests if r.is_write]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- request handling -------------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> _Reply:
        """One HTTP request (``headers`` with lower-case names) -> reply.  Called by the server threads."""
        method = method.upper()
        with self._lock:
            self._settle()
            injected = self._take_injected(method, target)
            if injected is not None:
                reply = injected
            else:
                try:
                    reply = self._route(method, target, headers, raw)
                except _Fault as fault:
                    reply = fault.reply
            self._requests.append(RecordedRequest(method, target, reply.status, self._logged_body(raw),
                                                  time.monotonic(), injected is not None))
            return reply

    @staticmethod
    def _logged_body(raw: bytes) -> object:
        if not raw:
            return None
        try:
            return _redact(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return f"<{len(raw)} bytes, not JSON>"

    def _take_injected(self, method: str, target: str) -> _Reply | None:
        for rule in self._injected:
            if rule.method in ("*", method) and rule.path.search(target):
                rule.times -= 1
                if rule.times <= 0:
                    self._injected.remove(rule)
                return self._injected_reply(rule)
        return None

    def _injected_reply(self, rule: _Injected) -> _Reply:
        headers = dict(rule.headers)
        if rule.body is None:
            reply = self._default_fault(rule.status)
            reply.headers.update(headers)
            return reply
        if isinstance(rule.body, bytes):
            return _Reply(rule.status, headers=headers, raw=rule.body)
        if isinstance(rule.body, str):
            return _Reply(rule.status, headers=headers, raw=rule.body.encode())
        return _Reply(rule.status, rule.body, headers)

    def _default_fault(self, status: int) -> _Reply:
        if status == 413:
            return self._over_limit(time.time() + 1.0)
        if status == 401 or status < 400:
            return _Reply(status)
        messages = {  # [docs] general-api-info/faults.rst; [atlas] ResponseMapper defaults
            400: "Bad request.",
            404: "Object not Found",
            422: "The object at the specified URI is immutable and cannot be overwritten.",
            500: "An unknown exception has occurred. Please contact support.",
            503: "The Load balancing service is currently not available",
        }
        return _fault(status, messages.get(status, "An unknown exception has occurred. Please contact support.")).reply

    def _route(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> _Reply:
        path = urlsplit(target).path.rstrip("/") or "/"
        self._negotiate(method, headers, raw)
        if path == "/v2.0/tokens":
            if method != "POST":
                raise _empty(405)
            return self._authenticate(raw)
        match = re.fullmatch(r"/(?P<region>[a-z]+)/v1\.0/(?P<tenant>[^/]+)(?P<rest>/.*)?", path)
        if match is None:
            raise _fault(404, "Object not Found")
        self._check_token(headers, match["tenant"])
        region = match["region"].upper()
        if region not in self.regions:
            raise _fault(404, "Object not Found")
        self._rate_limit(method)
        return self._api(method, region, match["rest"] or "/", raw)

    @staticmethod
    def _negotiate(method: str, headers: Mapping[str, str], raw: bytes) -> None:
        """JSON only: the real API also speaks XML, which this emulator does not."""
        accept = headers.get("accept", "*/*").lower()
        if not any(kind in accept for kind in ("json", "*/*", "application/*")):
            raise _empty(406)
        if raw and method in ("POST", "PUT") and "application/json" not in headers.get("content-type", "").lower():
            raise _empty(415)

    # -- identity ---------------------------------------------------------------------------------------------------

    def _new_token(self) -> str:
        token = secrets.token_hex(16)
        self._tokens[token] = _Token(time.time() + self.token_lifetime)
        self.tokens_issued += 1
        return token

    def _authenticate(self, raw: bytes) -> _Reply:
        bad = _Fault(_Reply(400, {"badRequest": {"code": 400, "message": IDENTITY_BAD_BODY}}))
        unauthorized = _Fault(_Reply(401, {"unauthorized": {"code": 401, "message": IDENTITY_BAD_CREDENTIALS}}))
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise bad from None
        auth = doc.get("auth") if isinstance(doc, dict) else None
        if not isinstance(auth, dict):
            raise bad
        expected: str | None
        api_key = auth.get("RAX-KSKEY:apiKeyCredentials")
        password = auth.get("passwordCredentials")
        if isinstance(api_key, dict):
            user, secret, expected, method = api_key.get("username"), api_key.get("apiKey"), self.api_key, "APIKEY"
        elif isinstance(password, dict):
            user, secret, expected, method = password.get("username"), password.get("password"), self.password, \
                "PASSWORD"
        else:
            raise bad
        if not isinstance(user, str) or not isinstance(secret, str):
            raise bad
        if user != self.username or expected is None or not secrets.compare_digest(secret, expected):
            raise unauthorized
        tenant = auth.get("tenantId", auth.get("tenantName"))
        if tenant is not None and tenant != self.tenant_id:  # message as in [mimic] identity_api
            raise _Fault(_Reply(401, {"unauthorized": {"code": 401, "message": (
                f"Tenant with Name/Id: '{tenant}' is not valid for User '{user}' (id: '10001')")}}))
        token = self._new_token()
        return _Reply(200, {"access": {
            "token": {"id": token, "expires": _iso(self._tokens[token].expires_at, millis=True),
                      "tenant": {"id": self.tenant_id, "name": self.tenant_id},
                      "RAX-AUTH:authenticatedBy": [method]},
            "serviceCatalog": self._catalog(),
            "user": {"id": "10001", "name": self.username, "RAX-AUTH:defaultRegion": self.regions[0],
                     "roles": [{"id": "3", "name": "identity:user-admin", "description": "User Admin Role."}]},
        }})

    def _catalog(self) -> list[dict[str, object]]:
        """The load balancer entry plus decoys, so a client must pick by name/type and region."""
        return [
            {"name": "cloudServersOpenStack", "type": "compute",
             "endpoints": [{"publicURL": f"{self.base_url}/servers/{r.lower()}/v2/{self.tenant_id}", "region": r,
                            "tenantId": self.tenant_id} for r in self.regions]},
            {"name": "cloudLoadBalancers", "type": "rax:load-balancer",
             "endpoints": [{"publicURL": self.endpoint(r), "region": r, "tenantId": self.tenant_id}
                           for r in self.regions]},
            {"name": "cloudDNS", "type": "rax:dns",
             "endpoints": [{"publicURL": f"{self.base_url}/dns/v1.0/{self.tenant_id}", "tenantId": self.tenant_id}]},
        ]

    def _check_token(self, headers: Mapping[str, str], tenant: str) -> None:
        """[docs] faults.rst: "No response body is returned for an unauthorized fault"."""
        token = self._tokens.get(headers.get("x-auth-token", ""))
        if token is None or token.expires_at <= time.time() or tenant != self.tenant_id:
            raise _empty(401)

    # -- rate limits ------------------------------------------------------------------------------------------------

    def _rate_limit(self, method: str) -> None:
        now = time.time()
        limits = [limit for limit in self.rate_limits if limit.verb.upper() == method]
        for limit in limits:
            hits = self._hits.setdefault(limit, deque())
            window = _UNITS[limit.unit]
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit.value:
                raise _Fault(self._over_limit(hits[0] + window))
        for limit in limits:
            self._hits[limit].append(now)

    def _over_limit(self, available_at: float) -> _Reply:
        """[repose] RateLimitingHandler + rate-limiting recipe: 413, Retry-After (RFC 1123), overLimit body."""
        at = math.ceil(available_at)
        retry_after = (email.utils.formatdate(at, usegmt=True) if self.retry_after == "http-date"
                       else str(max(1, math.ceil(available_at - time.time()))))
        return _Reply(413, {"overLimit": {"code": 413, "message": OVER_LIMIT_MESSAGE, "details": "Error Details...",
                                          "retryAfter": _iso(at)}}, {"Retry-After": retry_after})

    # -- asynchrony -------------------------------------------------------------------------------------------------

    def _settle(self) -> None:
        now = time.monotonic()
        for lb_id, pending in list(self._pending.items()):
            if pending.until <= now:
                lb = self._lbs[lb_id]
                for effect in pending.deferred:
                    effect(lb)
                lb.status = pending.then_status
                lb.updated = datetime.now(UTC)
                del self._pending[lb_id]

    def _claim(self, lb: LoadBalancer, *deferred: Callable[[LoadBalancer], None]) -> None:
        """Atlas ``testAndSetStatus(PENDING_UPDATE)``: only an ACTIVE load balancer accepts a mutation."""
        if lb.status != "ACTIVE":
            raise _fault(422, f"Load Balancer '{lb.id}' has a status of '{lb.status}' and is considered immutable.")
        lb.status = "PENDING_UPDATE"
        lb.updated = datetime.now(UTC)
        self._pending[lb.id] = _Pending(time.monotonic() + self.pending_seconds,
                                        self._fail_updates.pop(lb.id, "ACTIVE"), list(deferred))

    # -- the load balancer API --------------------------------------------------------------------------------------

    def _api(self, method: str, region: str, rest: str, raw: bytes) -> _Reply:
        if rest == "/limits":
            return self._only(method, "GET") or self._limits_reply()
        if rest == "/loadbalancers/absolutelimits":
            return self._only(method, "GET") or self._absolute_limits_reply()
        if rest == "/loadbalancers":
            return self._only(method, "GET") or _Reply(200, {"loadBalancers": [
                self._lb_summary(lb) for lb in sorted(self._lbs.values(), key=lambda x: x.id)
                if lb.region == region]})
        match = re.fullmatch(r"/loadbalancers/(?P<id>[0-9]+)(?P<sub>/.*)?", rest)
        if match is None:
            raise _fault(404, "Object not Found")
        lb = self._lbs.get(int(match["id"]))
        if lb is None or lb.region != region:
            raise _fault(404, LB_NOT_FOUND)
        sub = match["sub"] or ""
        routes: dict[tuple[str, str], _Route] = {
            ("", "GET"): lambda b, _s, _r: _Reply(200, {"loadBalancer": self._lb_json(b)}),
            ("", "PUT"): self._put_load_balancer,
            ("/ssltermination", "GET"): self._get_ssl,
            ("/ssltermination", "PUT"): self._put_ssl,
            ("/ssltermination", "DELETE"): self._delete_ssl,
            ("/ssltermination/certificatemappings", "GET"): self._list_mappings,
            ("/ssltermination/certificatemappings", "POST"): self._post_mapping,
            ("/mapping", "GET"): self._get_mapping,
            ("/mapping", "PUT"): self._put_mapping,
            ("/mapping", "DELETE"): self._delete_mapping,
        }
        mapping = re.fullmatch(r"/ssltermination/certificatemappings/(?P<mid>[-+]?[1-9][0-9]{0,9})", sub)
        key, mapping_id = ("/mapping", mapping["mid"]) if mapping else (sub, "")
        if not any(k == key for k, _ in routes):
            raise _fault(404, "Object not Found")
        route = routes.get((key, method))
        if route is None:
            raise _empty(405)
        return route(lb, mapping_id, raw)

    @staticmethod
    def _only(method: str, allowed: str) -> _Reply | None:
        return None if method == allowed else _Reply(405)

    def _limits_reply(self) -> _Reply:
        now = time.time()
        limits = []
        for limit in self.rate_limits:
            hits = [h for h in self._hits.get(limit, ()) if h > now - _UNITS[limit.unit]]
            limits.append({"verb": limit.verb.upper(), "value": limit.value, "unit": limit.unit,
                           "remaining": max(0, limit.value - len(hits)),
                           "next-available": _iso(hits[0] + _UNITS[limit.unit] if len(hits) >= limit.value
                                                  else now, millis=True)})
        return _Reply(200, {"limits": {"rate": [{"uri": "/v1.0/*", "regex": ".*/([0-9]+)/loadbalancers.*",
                                                 "limit": limits}]}})

    def _absolute_limits_reply(self) -> _Reply:
        return _Reply(200, {"absolute": [  # [docs] limits.rst "Absolute limits"
            {"name": "IPV6_LIMIT", "value": 25}, {"name": "LOADBALANCER_LIMIT", "value": 25},
            {"name": "BATCH_DELETE_LIMIT", "value": 10}, {"name": "ACCESS_LIST_LIMIT", "value": 100},
            {"name": "NODE_LIMIT", "value": 25}, {"name": "NODE_META_LIMIT", "value": 25},
            {"name": "CERTIFICATE_MAPPING_LIMIT", "value": self.mapping_limit},
            {"name": "LOADBALANCER_META_LIMIT", "value": 25}]})

    @staticmethod
    def _vips(lb: LoadBalancer) -> list[dict[str, object]]:
        return [{"id": 1000 + lb.id, "address": f"203.0.113.{lb.id % 250 + 1}", "type": "PUBLIC",
                 "ipVersion": "IPV4"}]

    def _lb_summary(self, lb: LoadBalancer) -> dict[str, object]:
        return {"name": lb.name, "id": lb.id, "protocol": lb.protocol, "port": lb.port, "algorithm": lb.algorithm,
                "status": lb.status, "nodeCount": len(lb.nodes), "timeout": lb.timeout,
                "virtualIps": self._vips(lb), "created": {"time": _iso(lb.created)},
                "updated": {"time": _iso(lb.updated)}}

    def _lb_json(self, lb: LoadBalancer) -> dict[str, object]:
        """[docs] get-show-load-balancer-details: the fields a client reads (no health monitor, throttle, ...)."""
        return {
            "id": lb.id, "name": lb.name, "protocol": lb.protocol, "port": lb.port, "algorithm": lb.algorithm,
            "status": lb.status, "timeout": lb.timeout, "virtualIps": self._vips(lb),
            "nodes": [{"id": 2000 + i, "address": address, "port": port, "condition": "ENABLED", "status": "ONLINE"}
                      for i, (address, port) in enumerate(lb.nodes)],
            "cluster": {"name": f"c1.{lb.region.lower()}1"},
            "created": {"time": _iso(lb.created)}, "updated": {"time": _iso(lb.updated)},
            "sourceAddresses": {"ipv6Public": "2001:db8:79f1:1::3/64", "ipv4Servicenet": "10.0.0.10",
                                "ipv4Public": "198.51.100.28"},
            "httpsRedirect": lb.https_redirect, "connectionLogging": {"enabled": False},
            "contentCaching": {"enabled": False},
        }

    # -- PUT /loadbalancers/{id} ------------------------------------------------------------------------------------

    _LB_UPDATABLE = frozenset({"name", "algorithm", "protocol", "port", "timeout", "halfClosed", "httpsRedirect"})
    _LB_MODEL = _LB_UPDATABLE | frozenset({
        "id", "status", "cluster", "created", "updated", "sslTermination", "nodes", "virtualIps", "metadata",
        "sessionPersistence", "healthMonitor", "connectionThrottle", "accessList", "connectionLogging",
        "contentCaching", "sourceAddresses", "loadBalancerUsage"})
    _LB_READ_ONLY: Mapping[str, str] = {  # [atlas] LoadBalancerValidator
        "id": "Load balancer id field cannot be modified.",
        "status": "Load balancer status field cannot be modified.",
        "cluster": "Load balancer cluster field cannot be modified.",
        "created": "Load balancer created field cannot be modified.",
        "updated": "Load balancer updated field cannot be modified.",
        "loadBalancerUsage": "Load balancer current usage field cannot be modified.",
        "sslTermination": ("Please visit {account id}/loadbalancers/{load balancer id}/ssltermination to configure "
                           "ssl termination."),
        "nodes": "Please visit {account id}/loadbalancers/{load balancer id}/nodes to configure nodes.",
        "metadata": "Please visit {account id}/loadbalancers/{load balancer id}/metadata to configure metadata.",
        "virtualIps": ("Please visit {account id}/loadbalancers/{load balancer id}/virtualips/{virtual ip id} to "
                       "configure a virtual ip."),
        "sessionPersistence": ("Please visit {account id}/loadbalancers/{load balancer id}/sessionpersistence to "
                               "configure session persistence."),
        "healthMonitor": ("Please visit {account id}/loadbalancers/{load balancer id}/healthmonitor to configure "
                          "your health monitor."),
        "connectionThrottle": ("Please visit {account id}/loadbalancers/{load balancer id}/throttles to configure "
                               "connection throttling."),
        "accessList": ("Please visit {account id}/loadbalancers/{load balancer id}/accesslist to configure access "
                       "lists."),
        "connectionLogging": ("Please visit {account id}/loadbalancers/{load balancer id}/connecitonlogging to "
                              "configure connection logging."),
        "contentCaching": ("Please visit {account id}/loadbalancers/{load balancer id}/contentcaching to configure "
                           "content caching."),
        "sourceAddresses": "Load balancer source addresses field cannot be modified.",
    }

    def _put_load_balancer(self, lb: LoadBalancer, _mapping: str, raw: bytes) -> _Reply:
        fields = _wrapped(raw, "loadBalancer", self._LB_MODEL)
        name, algorithm = _opt_str(fields, "name"), _opt_str(fields, "algorithm")
        protocol = _opt_str(fields, "protocol")
        port, timeout = _opt_int(fields, "port"), _opt_int(fields, "timeout")
        half_closed, redirect = _opt_bool(fields, "halfClosed"), _opt_bool(fields, "httpsRedirect")
        errors = [message for key, message in self._LB_READ_ONLY.items() if key in fields]
        if protocol is not None and protocol not in _PROTOCOLS:
            errors.append("Load balancer protocol is invalid. Please specify a valid protocol.")
        if algorithm is not None and algorithm not in _ALGORITHMS:
            errors.append("Load balancer algorithm is invalid. Please specify a valid algorithm.")
        if port is not None and not 1 <= port <= 65535:
            errors.append("Load balancer port is invalid. Please specify a valid port.")
        if timeout is not None and not 30 <= timeout <= 120:
            errors.append("Load balancer timeout is invalid. Please specify a valid timeout value.")
        if name is not None and len(name) > 128:
            errors.append("Load Balancer name must be less than or equal to 128")
        if not set(fields) & self._LB_UPDATABLE:
            errors.append("The load balancer must have at least one of the following to update: name, algorithm, "
                          "protocol, port, timeout, halfClosed, or httpsRedirect.")
        if errors:
            raise _validation_fault(errors)
        # [atlas] LoadBalancerServiceImpl.prepareForUpdate, in its order.
        ssl = lb.ssl_termination
        redirect_on = redirect is True or (redirect is None and lb.https_redirect)
        only_https = ("HTTPS Redirect is only valid for load balancers using the HTTPS protocol, or for load "
                      "balancers with a 'Secure Only' SSL Termination.")
        if ssl is not None:
            if protocol is not None and protocol != lb.protocol:
                raise _fault(400, "Cannot update protocol on a load balancer with ssl termination.")
            if port is not None and port == ssl.secure_port:
                raise _fault(400, "Port currently assigned to SSL termination for this load balancer. Please try "
                                  "another port.")
            if redirect_on:
                if not ssl.secure_traffic_only:
                    raise _fault(400, only_https)
                if ssl.secure_port != 443:
                    raise _fault(400, "HTTPS Redirect can only be enabled for load balancers with SSL Termination "
                                      "using secure port 443.")
                if port is not None and port != 80:
                    raise _fault(400, "Cannot change port on load balancers with HTTPS Redirect enabled.")
        elif redirect_on:
            if (protocol or lb.protocol) != "HTTPS":
                raise _fault(400, only_https)
            if (port if port is not None else lb.port) != 443:
                raise _fault(400, "HTTPS Redirect can only be enabled for HTTPS load balancers using port 443.")
        self._claim(lb)
        lb.name = name if name is not None else lb.name
        lb.algorithm = algorithm or lb.algorithm
        lb.protocol = protocol or lb.protocol
        lb.port = port if port is not None else lb.port
        lb.timeout = timeout if timeout is not None else lb.timeout
        lb.half_closed = half_closed if half_closed is not None else lb.half_closed
        lb.https_redirect = redirect if redirect is not None else lb.https_redirect
        return _Reply(202)  # [docs] put-update-load-balancer-properties: 202, no body

    # -- /ssltermination --------------------------------------------------------------------------------------------

    _SSL_FIELDS = frozenset({"certificate", "privatekey", "intermediateCertificate", "enabled", "secureTrafficOnly",
                             "securePort", "cipherProfile", "securityProtocols", "id"})

    def _get_ssl(self, lb: LoadBalancer, _mapping: str, _raw: bytes) -> _Reply:
        if lb.ssl_termination is None:
            raise _fault(404, SSL_NOT_FOUND)
        return _Reply(200, {"sslTermination": lb.ssl_termination.as_json()})

    @staticmethod
    def _security_protocols(fields: Mapping[str, object]) -> tuple[list[tuple[str, bool]], list[str]]:
        value = fields.get("securityProtocols", [])
        if not isinstance(value, list):
            raise _schema_fault()
        parsed: list[tuple[str, bool]] = []
        for item in value:
            if not isinstance(item, dict) or not set(item) <= {"securityProtocolName", "securityProtocolStatus"}:
                raise _schema_fault()
            name, status = item.get("securityProtocolName"), item.get("securityProtocolStatus", "ENABLED")
            if name not in ("TLS_10", "TLS_11") or status not in ("ENABLED", "DISABLED"):
                raise _schema_fault()  # an XSD enumeration in [atlas]
            parsed.append((cast(str, name), status == "ENABLED"))
        names = [name for name, _ in parsed]
        duplicates = ["Found duplicate Security protocols."] if len(set(names)) != len(names) else []
        return parsed, duplicates

    def _put_ssl(self, lb: LoadBalancer, _mapping: str, raw: bytes) -> _Reply:
        fields = _wrapped(raw, "sslTermination", self._SSL_FIELDS)
        cert, key = _opt_str(fields, "certificate"), _opt_str(fields, "privatekey")
        chain = _opt_str(fields, "intermediateCertificate")
        enabled, secure_only = _opt_bool(fields, "enabled"), _opt_bool(fields, "secureTrafficOnly")
        port, cipher = _opt_int(fields, "securePort"), _opt_str(fields, "cipherProfile")
        protocols, errors = self._security_protocols(fields)
        # [atlas] SslTerminationValidator (request shape).
        if "id" in fields:
            errors.append("Id field cannot be modified.")
        attributes = (enabled, secure_only, port, cipher)
        if all(v is None for v in (cert, key, chain, *attributes)) and not protocols:
            errors.append(MUST_SUPPLY)
        if (cert is None or (key is None and chain is None)) and all(v is None for v in attributes) \
                and not protocols:
            errors.append(MUST_SUPPLY)
        if (cert is None) != (key is None):
            errors.append(MUST_SUPPLY_CERT_KEY)
        if chain is not None and (cert is None or key is None):
            errors.append(MUST_SUPPLY_CERT_KEY)
        if cert is not None and key is not None and port is None:
            errors.append(MUST_SUPPLY)
        if errors:
            raise _validation_fault(errors)
        old = lb.ssl_termination
        if cert is not None and key is not None:
            # [atlas] SslTerminationResource: key, cert and intermediates checked together (ZeusUtils).
            bundle_errors = _check_bundle(key, cert, chain)
            if bundle_errors:
                raise _validation_fault(bundle_errors)
        # [atlas] SslTerminationServiceImpl.updateSslTermination, in its order.
        if lb.protocol in _SECURE_PROTOCOLS:
            raise _fault(400, "Can not create ssl termination on a load balancer using a secure protocol.")
        if lb.protocol in _NO_SSL_PROTOCOLS:
            raise _fault(400, f"Can not create ssl termination with '{lb.protocol}' protocol.")
        taken = sorted({lb.port, *lb.shared_vip_ports})
        if port is not None and not (old is not None and old.secure_port == port) and port in taken:
            raise _fault(400, f"Secure port: '{port}'  must be unique  Ports taken: '{','.join(map(str, taken))}'")
        if cipher is not None and cipher.strip() and cipher.strip().lower() != "default" \
                and cipher.strip() not in CIPHER_PROFILES:
            raise _fault(400, f"No Cipher Profile found with the name: '{cipher.strip()}'")
        if lb.https_redirect:
            if secure_only is False:
                raise _fault(400, "Cannot use 'mixed-mode' SSL termination while HTTPS Redirect is enabled.")
            if port is not None and port != 443:
                raise _fault(400, "Must use secure port 443 with HTTPS Redirect enabled.")
        if cert is None and old is None:
            raise _fault(400, "No ssl termination to update values for.")
        self._claim(lb)
        lb.ssl_termination = new = self._merged_ssl(old, cert, key, chain, enabled, secure_only, port, cipher,
                                                    protocols)
        status = 202 if self.atlas_status_codes else 200
        return _Reply(status, {"sslTermination": new.as_json()})

    @staticmethod
    def _merged_ssl(old: SslTermination | None, cert: str | None, key: str | None, chain: str | None,
                    enabled: bool | None, secure_only: bool | None, port: int | None, cipher: str | None,
                    protocols: Sequence[tuple[str, bool]]) -> SslTermination:
        """[atlas] SslTerminationHelper.verifyAttributes."""
        if old is None:
            assert cert is not None and key is not None and port is not None
            new = SslTermination(cert, key, None, secure_port=port)
        else:
            new = copy.deepcopy(old)
        for name, on in protocols:
            if name == "TLS_10":
                new.tls10_enabled = on
            else:
                new.tls11_enabled = on
        if enabled is not None:
            new.enabled = enabled
        if secure_only is not None:
            # Secure-only is dropped when termination is (or becomes) disabled, as in [atlas].
            new.secure_traffic_only = False if (enabled is False or (not new.enabled and (
                secure_only or new.secure_traffic_only))) else secure_only
        if port is not None:
            new.secure_port = port
        if cert is not None and key is not None:
            new.certificate, new.private_key = cert, key
            new.intermediate_certificate = _blank_to_none(chain)  # a new cert without a chain drops the old chain
        if cipher is not None:
            new.cipher_profile = "default" if not cipher.strip() or cipher.strip().lower() == "default" \
                else cipher.strip()
        return new

    def _delete_ssl(self, lb: LoadBalancer, _mapping: str, _raw: bytes) -> _Reply:
        # [atlas] SslTerminationServiceImpl.pseudoDeleteSslTermination; the listener then removes the termination and
        # every certificate mapping (DeleteSslTerminationListener) -- here when the load balancer settles.
        if lb.https_redirect:
            raise _fault(400, "Cannot delete SSL Termination while HTTPS Redirect is enabled. Please disable HTTPS "
                              "Redirect and retry the operation.")
        if lb.ssl_termination is None:
            raise _fault(400, "SSL termination could not be found for the requested loadbalancer.")

        def remove(target: LoadBalancer) -> None:
            target.ssl_termination = None
            target.certificate_mappings.clear()

        self._claim(lb, remove)
        return _Reply(202 if self.atlas_status_codes else 200)

    # -- /ssltermination/certificatemappings ------------------------------------------------------------------------

    _MAPPING_FIELDS = frozenset({"id", "hostName", "certificate", "privateKey", "intermediateCertificate"})

    @staticmethod
    def _require_ssl(lb: LoadBalancer) -> SslTermination:
        if lb.ssl_termination is None:  # [atlas] CertificateMappingServiceImpl.ensureSslTerminationConfigIsAvailable
            raise _fault(404, SSL_NOT_FOUND)
        return lb.ssl_termination

    @staticmethod
    def _mapping_of(lb: LoadBalancer, mapping_id: str) -> CertificateMapping:
        mapping = lb.certificate_mappings.get(int(mapping_id))
        if mapping is None:
            raise _fault(404, MAPPING_NOT_FOUND)
        return mapping

    def _list_mappings(self, lb: LoadBalancer, _mapping: str, _raw: bytes) -> _Reply:
        self._require_ssl(lb)
        return _Reply(200, {"certificateMappings": [
            {"certificateMapping": m.as_json(summary=True)}
            for m in sorted(lb.certificate_mappings.values(), key=lambda m: m.id)]})

    def _get_mapping(self, lb: LoadBalancer, mapping_id: str, _raw: bytes) -> _Reply:
        self._require_ssl(lb)
        return _Reply(200, {"certificateMapping": self._mapping_of(lb, mapping_id).as_json()})

    @staticmethod
    def _mapping_fields(raw: bytes, *, post: bool) -> dict[str, str]:
        """[atlas] CertificateMappingValidator."""
        fields = _wrapped(raw, "certificateMapping", Emulator._MAPPING_FIELDS)
        values = {name: _opt_str(fields, name) for name in ("hostName", "certificate", "privateKey",
                                                             "intermediateCertificate")}
        errors: list[str] = []
        if "id" in fields:
            errors.append("Certificate mapping id field cannot be modified.")
        key, cert, chain, host = (values["privateKey"], values["certificate"], values["intermediateCertificate"],
                                  values["hostName"])
        if key is not None and _check_key(key)[1]:  # [atlas] PrivateKeyVerifier: parseKey accepts RSA only
            errors.append("Private key is invalid. Please provide a valid private key.")
        if cert is not None and _check_cert(cert)[1]:
            errors.append("Certificate is invalid. Please provide a valid certificate.")
        if chain is not None and chain.strip() and _check_chain(chain):
            errors.append("Intermediate certificate is invalid. Please provide a valid intermediate certificate.")
        if host is not None and not _HOST_NAME.match(host):
            errors.append("Host name is invalid. Please provide a valid host name.")
        if host is not None and len(host) > 128:
            errors.append("Host name is too long. Maximum length for the host name is 128 characters.")
        if post:
            if key is None:
                errors.append("Must provide a private key for the certificate mapping.")
            if cert is None:
                errors.append("Must provide a certificate for the certificate mapping.")
            if host is None:
                errors.append("Must provide a host name for the certificate mapping.")
        elif all(v is None for v in values.values()):
            errors.append("The certificate mapping must have at least one of the following to update: certificate, "
                          "privateKey, intermediateCertificate, or hostName.")
        if errors:
            raise _validation_fault(errors)
        return {name: value for name, value in values.items() if value is not None}

    @staticmethod
    def _check_unique_host(lb: LoadBalancer, host: str | None, mapping_id: int | None) -> None:
        for other in lb.certificate_mappings.values():
            if host is not None and other.host_name == host and other.id != mapping_id:
                raise _fault(422, f"Duplicate host name detected. Certificate mapping with id '{other.id}' has "
                                  "already configured the host name provided.")

    @staticmethod
    def _check_mapping_bundle(key: str, cert: str, chain: str | None) -> None:
        errors = _check_bundle(key, cert, chain)
        if errors:  # [atlas] SslTerminationHelper.verifyCertificationCredentials: one 400 message, comma-joined
            raise _fault(400, ", ".join(errors))

    def _post_mapping(self, lb: LoadBalancer, _mapping: str, raw: bytes) -> _Reply:
        values = self._mapping_fields(raw, post=True)
        self._require_ssl(lb)
        if len(lb.certificate_mappings) >= self.mapping_limit:  # an absolute limit: 413 without Retry-After
            raise _fault(413, f"Certificate mapping limit reached. Limit is set to '{self.mapping_limit}'. Please "
                              "contact support if you would like to increase your limit.")
        self._check_unique_host(lb, values["hostName"], None)
        chain = _blank_to_none(values.get("intermediateCertificate"))
        self._check_mapping_bundle(values["privateKey"], values["certificate"], chain)
        self._claim(lb)
        mapping = CertificateMapping(self._next_mapping_id, values["hostName"], values["certificate"],
                                     values["privateKey"], chain)
        self._next_mapping_id += 1
        lb.certificate_mappings[mapping.id] = mapping
        return _Reply(202, {"certificateMapping": mapping.as_json()})

    def _put_mapping(self, lb: LoadBalancer, mapping_id: str, raw: bytes) -> _Reply:
        values = self._mapping_fields(raw, post=False)
        self._require_ssl(lb)
        current = self._mapping_of(lb, mapping_id)
        self._check_unique_host(lb, values.get("hostName"), current.id)
        updated = copy.deepcopy(current)
        updated.host_name = values.get("hostName", updated.host_name)
        updated.certificate = values.get("certificate", updated.certificate)
        updated.private_key = values.get("privateKey", updated.private_key)
        if "intermediateCertificate" in values:
            updated.intermediate_certificate = _blank_to_none(values["intermediateCertificate"])
        self._check_mapping_bundle(updated.private_key, updated.certificate, updated.intermediate_certificate)
        self._claim(lb)
        lb.certificate_mappings[current.id] = updated
        return _Reply(202)

    def _delete_mapping(self, lb: LoadBalancer, mapping_id: str, _raw: bytes) -> _Reply:
        self._require_ssl(lb)
        mapping = self._mapping_of(lb, mapping_id)

        def remove(target: LoadBalancer) -> None:
            target.certificate_mappings.pop(mapping.id, None)

        self._claim(lb, remove)
        return _Reply(202)


# -- HTTP plumbing --------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections are closed, so handler threads end
    wbufsize = -1  # headers and body leave in one write (flushed by handle_one_request) ...
    disable_nagle_algorithm = True  # ... and without waiting for the client's delayed ACK
    server_version = "sslterm-rackspace-emulator"

    def _dispatch(self) -> None:
        emulator = cast(_Server, self.server).emulator
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = emulator.handle(self.command, self.path, headers, raw)
        if reply.raw is not None:
            payload, content_type = reply.raw, "application/octet-stream"
        elif reply.body is not None:
            payload, content_type = json.dumps(reply.body).encode(), "application/json"
        else:
            payload, content_type = b"", ""
        self.send_response(reply.status)
        if content_type and not any(k.lower() == "content-type" for k in reply.headers):
            self.send_header("Content-Type", content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch

    def log_message(self, format: str, *args: object) -> None:
        """Silent: nothing about requests reaches stderr (the request log in ``Emulator`` is redacted)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, emulator: Emulator) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.emulator = emulator


@contextmanager
def running_emulator(*, tenant_id: str = "123456", username: str = "sslterm-test",
                     api_key: str = "0123456789abcdef0123456789abcdef", password: str | None = None,
                     regions: Sequence[str] = DEFAULT_REGIONS, pending_seconds: float = 0.2,
                     token_lifetime: float = 86400.0, rate_limits: Sequence[RateLimit] = (),
                     mapping_limit: int = 20, atlas_status_codes: bool = False,
                     retry_after: Literal["http-date", "seconds"] = "http-date") -> Iterator[Emulator]:
    """Serve an ``Emulator`` on 127.0.0.1 (ephemeral port) for the ``with`` block; shut down and joined on exit."""
    emulator = Emulator(tenant_id=tenant_id, username=username, api_key=api_key, password=password,
                        regions=regions, pending_seconds=pending_seconds, token_lifetime=token_lifetime,
                        rate_limits=rate_limits, mapping_limit=mapping_limit, atlas_status_codes=atlas_status_codes,
                        retry_after=retry_after)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
