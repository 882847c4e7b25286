"""Render a managed HAProxy configuration and its crt-lists from the desired listeners.

Pure: no file is touched here. Every value that reaches the text was validated before (names, hosts,
ports, paths), so nothing here can inject a line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sslterm.engine.model import ListenerSpec
from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.options import Endpoint, HAProxyOptions
from sslterm.providers.haproxy.profiles import bind_options
from sslterm.providers.haproxy.version import Version

HSTS = "max-age=63072000"


@dataclass(frozen=True)
class Rendered:
    config: str | None  # None in attached mode: the operator owns the configuration
    crt_lists: dict[Path, str] = field(default_factory=dict)


_SNI_FILTER = re.compile(r"(?=.*[A-Za-z*])[A-Za-z0-9*][A-Za-z0-9.*-]*")  # DNS names, never bare IPs


def crt_list_line(certs_dir: str, name: str, sans: Sequence[str]) -> str:
    """Explicit SNI filters from the certificate's DNS names, so a runtime swap never moves names."""
    filters = [s for s in sans if _SNI_FILTER.fullmatch(s)]
    return " ".join([f"{certs_dir}/{name}.pem", *filters])


def crt_list(layout: Layout, listener: ListenerSpec) -> str:
    certs_dir = str(layout.certs)
    lines = ["# written by sslterm; the first line is the default certificate"]
    lines += [crt_list_line(certs_dir, c.name, c.sans) for c in listener.certificates]
    return "\n".join(lines) + "\n"


def render(options: HAProxyOptions, listeners: Sequence[ListenerSpec], layout: Layout,
           version: Version) -> Rendered:
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
