"""Render a managed HAProxy configuration and its crt-lists from the desired listeners.

Pure: no file is touched here. Every value was parsed before (options when the load balancer was added,
listeners by the service), and the renderer checks each one against its grammar again before it writes
a character (``_check``): it is the last gate before text HAProxy parses, and a damaged state.json or a
direct caller could still hand it anything. A value that fails raises ``InputError``; nothing is rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import attrgetter, is_, is_not
from pathlib import Path

from sslterm import grammar
from sslterm.certs.names import name_problem
from sslterm.engine.contract import INSTANCE_PROTOCOLS, TLS_PROFILES, ListenerSpec
from sslterm.errors import InputError
from sslterm.grammar import Endpoint
from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.options import HAProxyOptions
from sslterm.providers.haproxy.profiles import bind_options
from sslterm.providers.haproxy.version import Version

HSTS = "max-age=63072000"


@dataclass(frozen=True)
class Rendered:
    config: str | None  # None in attached mode: the operator owns the configuration
    crt_lists: dict[Path, str] = field(default_factory=dict)


def crt_list_line(certs_dir: str, name: str, sans: Sequence[str]) -> str:
    """Explicit SNI filters from the certificate's DNS names, so a runtime swap never moves names. A SAN
    comes from a certificate and may hold anything (spaces, newlines, '#', '!'): only names of the SNI
    grammar become filters, the others (IP addresses too: clients send no SNI for them) are left out."""
    _check_name(name)
    filters = [s for s in sans if grammar.is_sni_name(s)]
    return " ".join([f"{grammar.parse_path(certs_dir, 'certificate directory')}/{name}.pem", *filters])


#: crt-list lines by certificates directory, then by (name, SANs): a line depends on nothing else, and a
#: listener of ten thousand certificates is rendered again on every change of one of them (bounded)
_LINES: dict[str, dict[tuple[str, tuple[str, ...]], str]] = {}
MAX_CACHED_LINES = 200_000
_NAME_AND_SANS = attrgetter("name", "sans")


#: the last crt-list rendered per certificates directory and port: (its certificates, its text); a rotation
#: keeps every name and SAN, so its text is that one again, found without a Python step per certificate
_LAST: dict[tuple[str, int], tuple[tuple[object, ...], str]] = {}


def crt_list(layout: Layout, listener: ListenerSpec) -> str:
    certs_dir = str(layout.certs)
    certificates = listener.certificates
    last = _LAST.get((certs_dir, listener.lb_port))
    if last is not None and len(last[0]) == len(certificates) and all(
            _NAME_AND_SANS(old) == _NAME_AND_SANS(new) for old, new in
            ((last[0][i], certificates[i]) for i in compress(count(), map(is_not, last[0], certificates)))):
        _LAST[certs_dir, listener.lb_port] = (certificates, last[1])
        return last[1]
    text = _render_crt_list(certs_dir, listener)
    if len(_LAST) > 1000:
        _LAST.clear()
    _LAST[certs_dir, listener.lb_port] = (certificates, text)
    return text


def _render_crt_list(certs_dir: str, listener: ListenerSpec) -> str:
    cached = _LINES.setdefault(certs_dir, {})
    keys = list(map(_NAME_AND_SANS, listener.certificates))
    try:
        lines = list(map(cached.get, keys))
    except TypeError:  # not hashable: nothing a store or a crt-list gives (a direct caller's odd value)
        lines = [crt_list_line(certs_dir, name, sans) for name, sans in keys]
    if None in lines:
        if sum(map(len, _LINES.values())) + len(keys) > MAX_CACHED_LINES:
            cached.clear()
        for i in compress(count(), map(is_, lines, repeat(None))):
            lines[i] = cached[keys[i]] = crt_list_line(certs_dir, *keys[i])
    return "\n".join(["# written by sslterm; the first line is the default certificate", *lines]) + "\n"  # type: ignore[list-item]


def render(options: HAProxyOptions, listeners: Sequence[ListenerSpec], layout: Layout,
           version: Version) -> Rendered:
    """The configuration (managed mode) and one crt-list per listener; ``InputError`` when any value
    is outside its grammar."""
    _check(options, listeners, layout)
    lists = {layout.crt_list(lst.lb_port): crt_list(layout, lst) for lst in listeners}
    if options.mode == "attached":
        return Rendered(None, lists)
    return Rendered(_config(options, listeners, layout, version), lists)


def _config(options: HAProxyOptions, listeners: Sequence[ListenerSpec], layout: Layout, version: Version) -> str:
    out = [
        "# managed by sslterm: changes here are overwritten",
        "global",
        f"    stats socket {layout.admin_socket} mode 600 level admin",
        "    stats timeout 30s",
        *(["    hard-stop-after 30s"] if version.at_least(1, 8) else []),  # old workers do not linger
        *(["    close-spread-time infinite"] if version.at_least(2, 6) else []),
        "",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout http-keep-alive 10s",
        "",
    ]
    out += _http_frontend(options, listeners)
    for listener in listeners:
        out += _tls_frontend(options, listener, layout, version)
    out += _backend("be_http", options.backends, None, "HTTP", options.backend_ca)
    for listener in listeners:
        out += _backend(f"be_tls_{listener.lb_port}", options.backends, listener.instance_port,
                        listener.instance_protocol, options.backend_ca)
    return "\n".join(out) + "\n"


def _http_frontend(options: HAProxyOptions, listeners: Sequence[ListenerSpec]) -> list[str]:
    if options.http_bind is None:
        return []
    out = ["frontend fe_http", f"    bind {options.http_bind}",
           "    http-request set-header X-Forwarded-Proto http",
           "    http-request set-header X-Forwarded-For %[src]"]
    redirect = next((lst for lst in listeners if lst.redirect_http), None)
    if redirect is not None:  # keep the host, drop its port (the HTTP one), add the TLS port unless 443
        port = "" if redirect.lb_port == 443 else f":{redirect.lb_port}"
        out.append("    http-request redirect location "
                   f"https://%[req.hdr(host),regsub(:[0-9]+$,)]{port}%[capture.req.uri] code 301")
    return [*out, "    default_backend be_http", ""]


def _tls_frontend(options: HAProxyOptions, listener: ListenerSpec, layout: Layout, version: Version) -> list[str]:
    assert options.bind is not None
    alpn = "h2,http/1.1" if version.at_least(1, 8) else "http/1.1"
    bind = (f"    bind {options.bind.with_port(listener.lb_port)} ssl crt-list {layout.crt_list(listener.lb_port)} "
            f"alpn {alpn} {bind_options(listener.tls_profile, version)}")
    out = [f"frontend fe_tls_{listener.lb_port}", bind,
           "    http-request set-header X-Forwarded-Proto https",
           "    http-request set-header X-Forwarded-For %[src]"]
    if listener.hsts:
        keyword = "http-after-response" if version.at_least(2, 2) else "http-response"
        out.append(f'    {keyword} set-header Strict-Transport-Security "{HSTS}"')
    return [*out, f"    default_backend be_tls_{listener.lb_port}", ""]


def _backend(name: str, backends: Sequence[Endpoint], port: int | None, protocol: str, ca_file: str) -> list[str]:
    out = [f"backend {name}"]
    tls = f" ssl verify required ca-file {ca_file}" if protocol == "HTTPS" else ""
    for i, backend in enumerate(backends):
        out.append(f"    server s{i} {backend.with_port(port or backend.port or 80)}{tls}")
    return [*out, ""]


# -- the last gate: every interpolated value against its grammar ---------------------------------------
def _check(options: HAProxyOptions, listeners: Sequence[ListenerSpec], layout: Layout) -> None:
    """Every value ``render`` interpolates, against its grammar; the first one outside it is refused.
    SANs are not checked here: they come from certificates, and ``crt_list_line`` keeps only SNI names."""
    grammar.parse_path(str(layout.root), "the load balancer's directory")
    grammar.parse_path(options.backend_ca, "--backend-ca")
    for what, endpoint, any_host in (("--bind", options.bind, True), ("--http-bind", options.http_bind, True),
                                     *(("--backend", b, False) for b in options.backends)):
        if endpoint is not None:
            _check_endpoint(endpoint, what, any_host=any_host)
    for listener in listeners:
        _check_listener(listener)


def _check_endpoint(endpoint: Endpoint, what: str, *, any_host: bool) -> None:
    """It must read back as itself: a host or port outside the grammar cannot (``str`` then parse)."""
    if grammar.parse_endpoint(str(endpoint), what, any_host=any_host, allow_zone=False) != endpoint:
        raise InputError(f"{what}: {grammar.shown(str(endpoint))} is not an address", code="invalid-address",
                         hint=grammar.ADDRESS_HINT)


def _check_listener(listener: ListenerSpec) -> None:
    _check_port(listener.lb_port, "--lb-port")
    if listener.instance_port is not None:
        _check_port(listener.instance_port, "--instance-port")
    _check_choice(listener.instance_protocol, INSTANCE_PROTOCOLS, "--instance-protocol")
    _check_choice(listener.tls_profile, TLS_PROFILES, "--tls-profile")
    unchecked: set[object] | None
    try:
        unchecked = set(map(_NAME, listener.certificates)) - _GOOD_NAMES
    except TypeError:  # a name that is not even hashable: check them all
        unchecked = None
    if unchecked == set():
        return
    for slot in listener.certificates:  # in order, as before: the first bad name is the one named
        if unchecked is None or not isinstance(slot.name, str) or slot.name in unchecked:
            _check_name(slot.name)
    if unchecked is not None and len(_GOOD_NAMES) < MAX_CACHED_LINES:
        _GOOD_NAMES.update(n for n in unchecked if isinstance(n, str))


_NAME = attrgetter("name")
_GOOD_NAMES: set[object] = set()  # names that passed _check_name (a pure check): not checked again


def _check_port(value: object, what: str) -> None:
    """An int 1-65535 (a string of digits is not rendered as given: it is refused here)."""
    if grammar.parse_port(value, what) != value:
        raise InputError(f"{what}: {grammar.shown(value)} is not a port (1-65535)", code="invalid-address")


def _check_choice(value: object, choices: Sequence[str], what: str) -> None:
    """One of a fixed set (``tls_profile`` picks bind keywords, ``instance_protocol`` the server line)."""
    if value not in choices:
        raise InputError(f"{what}: {grammar.shown(value)} is not one of {', '.join(choices)}", code="usage")


def _check_name(name: object) -> None:
    """A certificate name becomes a file name on a crt-list line: the name grammar of ``certs.names``."""
    if not isinstance(name, str):
        raise InputError(f"certificate name {grammar.shown(name)} is not allowed", code="invalid-name")
    problem = name_problem(name)
    if problem is not None:
        raise InputError(problem.message, code=problem.code, hint=problem.hint)
