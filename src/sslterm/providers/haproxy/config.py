"""Render a managed HAProxy configuration and its crt-lists from the desired listeners.

Pure: no file is touched here. Every value was parsed before (options when the load balancer was added,
listeners by the service), and the renderer checks each one against its grammar again before it writes
a character (``_check``): it is the last gate before text HAProxy parses, and a damaged state.json or a
direct caller could still hand it anything. A value that fails raises ``InputError``; nothing is rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
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


def crt_list(layout: Layout, listener: ListenerSpec) -> str:
    certs_dir = str(layout.certs)
    lines = ["# written by sslterm; the first line is the default certificate"]
    lines += [crt_list_line(certs_dir, c.name, c.sans) for c in listener.certificates]
    return "\n".join(lines) + "\n"


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
    for slot in listener.certificates:
        _check_name(slot.name)


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
