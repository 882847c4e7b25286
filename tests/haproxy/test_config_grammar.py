"""No value can add a line or a directive to what sslterm writes for HAProxy (issue 6, items 1 and 8).

The property: any string (newlines, '%', '#', spaces, NULs, quotes, unicode) given to any option or listener
setting that reaches the renderer is either refused with an ``SSLTermError`` whose message is one printable
line, or the rendered haproxy.cfg and crt-lists have exactly the shape of a baseline rendering: the same
lines, each with the same first word and the same number of words, and the same comment and quote signs.
Then the regressions on the real parts: the injected backend that once opened an admin listener is refused
by the command line with nothing created, and a bare-port ``--bind`` means every address on that port.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from e2e_haproxy import LOCALHOST, Kit, fingerprint, free_ports, haproxy_pids_under, refused, run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_haproxy_cli import write_bundle

from sslterm.engine.model import INSTANCE_PROTOCOLS, TLS_PROFILES, CertSlot, ListenerSpec
from sslterm.errors import SSLTermError
from sslterm.providers.haproxy.config import Rendered, render
from sslterm.providers.haproxy.layout import Layout
from sslterm.providers.haproxy.options import HAProxyOptions
from sslterm.providers.haproxy.version import Version

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LAYOUT = Layout(Path("/var/lib/sslterm/lb/edge"))
VERSION = Version(2, 6, 12)
MANAGED: dict[str, Any] = {"bind": "127.0.0.1:8443", "http_bind": "127.0.0.1:8080",
                           "backends": ["127.0.0.1:8000", "[::1]:8001"], "backend_ca": "/etc/ssl/certs/ca.pem"}
ATTACHED: dict[str, Any] = {"config": "/etc/haproxy/haproxy.cfg", "socket": "/run/haproxy/admin.sock",
                            "master_socket": "/run/haproxy-master.sock", "bind": "127.0.0.1:8443"}
LISTENER: dict[str, Any] = {"lb_port": 8443, "instance_port": 8000, "instance_protocol": "HTTPS",
                            "redirect_http": True, "hsts": True, "tls_profile": "intermediate"}
CERTS: list[tuple[Any, tuple[Any, ...]]] = [("site", ("site.test", "www.site.test")), ("api", ("api.test",))]
SPECIAL = '#"\'\\$'  # what makes HAProxy read a line differently: comments, quotes, escapes, variables


# -- rendering a variant of the baseline ------------------------------------------------------------------
def rendered(field: str, value: object) -> tuple[HAProxyOptions, Rendered]:
    """The baseline (managed, or attached for the attached-only options) with ``field`` set to ``value``."""
    options = dict(ATTACHED if field in ATTACHED and field != "bind" else MANAGED)
    listener, certs = dict(LISTENER), list(CERTS)
    if field == "backend":
        options["backends"] = [value, *MANAGED["backends"][1:]]
    elif field in options:
        options[field] = value
    elif field in listener:
        listener[field] = value
    elif field == "cert_name":
        certs[1] = (value, certs[1][1])
    else:  # a SAN, from a certificate: anything at all
        certs[1] = (certs[1][0], (value,))
    slots = tuple(CertSlot(name, "ab" * 32, sans) for name, sans in certs)
    parsed = HAProxyOptions.from_mapping(options)
    return parsed, render(parsed, [ListenerSpec(**listener, certificates=slots)], LAYOUT, VERSION)


def first_word(line: str) -> str:
    """A line's first word: a section or a keyword; on a crt-list line, a certificate file right in the
    certificates directory (whatever its name) reads as one marker."""
    word = line.split()[0] if line.split() else ""
    name = word.removeprefix(f"{LAYOUT.certs}/")
    return "PEM" if name != word and name.endswith(".pem") and "/" not in name else word


def shape(text: str) -> tuple[object, ...]:
    """What HAProxy parses, values aside: per line its indent, first word and number of words; and how many
    comment, quote, escape and variable signs there are."""
    return (tuple((ln[:1].isspace(), first_word(ln), len(ln.split())) for ln in text.split("\n")),
            tuple(text.count(c) for c in SPECIAL))


def shapes(result: Rendered) -> tuple[object, ...]:
    lists = tuple(shape(text) for _, text in sorted(result.crt_lists.items()))
    return (shape(result.config) if result.config is not None else None, lists)


def clean_text(result: Rendered) -> bool:
    """Printable ASCII and newlines only: no NUL, no carriage return, no unicode line separator."""
    return all(ln.isascii() and ln.isprintable() for text in (result.config or "", *result.crt_lists.values())
               for ln in text.split("\n"))


def safe_words(options: HAProxyOptions) -> bool:
    """What is stored for the load balancer (and shown by `lb show`): single words of printable ASCII."""
    values = [v for value in options.as_mapping().values() if value is not None
              for v in (value if isinstance(value, list) else [value])]
    return all(v.isascii() and v.isprintable() and " " not in v and not set(SPECIAL) & set(v) for v in values)


# -- values: any text, and valid values with dangerous characters around or inside them -------------------
DANGER = st.sampled_from(["\n", "\r", "#", " ", "\t", "%", "\x00", "\\", '"', "'", "$", "[", "]", ":", "!",
                          "\u2028", "\x85", "\x1b", "é", "/", ".."])


def _insert(seed: str, piece: str, at: int) -> str:
    return seed[:at] + piece + seed[at:]


def nasty(*seeds: str) -> st.SearchStrategy[str]:
    junk = st.lists(st.one_of(DANGER, st.text(max_size=4)), max_size=8).map("".join)
    seed = st.sampled_from(seeds)
    return st.one_of(st.text(max_size=40), seed, st.builds(str.__add__, seed, junk), st.builds(str.__add__, junk, seed),
                     st.builds(_insert, seed, DANGER, st.integers(0, 30)))


PORTS = st.one_of(st.integers(-10, 70000), nasty("8443", "443"), st.booleans())
FIELDS: dict[str, tuple[st.SearchStrategy[Any], tuple[object, ...]]] = {
    # field: (values to try, the valid values whose renderings are the allowed shapes)
    "bind": (nasty("127.0.0.1:8443", "28447", ":8443", "[::1]:8443", "::1%lo", "lb.test:8443"), ("127.0.0.1:8443",)),
    "http_bind": (nasty("127.0.0.1:8080", ":8080", "[::]:8080", "::1%lo"), ("127.0.0.1:8080", "")),  # "": none
    "backend": (nasty("127.0.0.1:8000", "[::1]:8001", "::1", "::1%lo", "app.test:80"), ("127.0.0.1:8000",)),
    "backend_ca": (nasty("/etc/ssl/certs/ca.pem"), ("/etc/ssl/certs/ca.pem",)),
    "config": (nasty("/etc/haproxy/haproxy.cfg"), ("/etc/haproxy/haproxy.cfg",)),
    "socket": (nasty("/run/haproxy/admin.sock"), ("/run/haproxy/admin.sock",)),
    "master_socket": (nasty("/run/haproxy-master.sock"), ("/run/haproxy-master.sock",)),
    "lb_port": (PORTS, (8443,)),
    "instance_port": (PORTS, (8000, None)),
    "instance_protocol": (nasty(*INSTANCE_PROTOCOLS, "https"), INSTANCE_PROTOCOLS),
    "tls_profile": (nasty(*TLS_PROFILES), TLS_PROFILES),
    "cert_name": (nasty("api", "api.v2"), ("api",)),
    "san": (nasty("api.test", "*.api.test", "192.0.2.1"), ("api.test", "192.0.2.1")),
}
INJECTIONS: dict[str, str] = {  # found by hand: each was accepted and written before the grammars
    "backend": "::1%x init-addr none\nlisten evil\n bind 127.0.0.1:28999\n mode tcp\n server s 127.0.0.1:1 #",
    "bind": "[::1%#]:8443",
    "http_bind": "[::1%x\nlisten evil\n bind 127.0.0.1:28999]:8080",
    "lb_port": "8443\nlisten evil",
    "tls_profile": "intermediate\nlisten evil",
}


@pytest.fixture(scope="module")
def allowed() -> dict[str, set[tuple[object, ...]]]:
    return {field: {shapes(rendered(field, v)[1]) for v in valid} for field, (_, valid) in FIELDS.items()}


def _renders_only_baseline_shapes(field: str, value: object, allowed: set[tuple[object, ...]]) -> None:
    try:
        options, result = rendered(field, value)
    except SSLTermError as exc:  # refused: a stable code and one printable line, the value escaped
        assert exc.code and exc.message.isprintable() and (exc.hint or "").isprintable(), exc.message
        return
    assert shapes(result) in allowed, f"{field}={value!r} changed the configuration's shape"
    assert clean_text(result), f"{field}={value!r} put a control or non-ASCII character into a file"
    assert safe_words(options), f"{field}={value!r} was stored as given"


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_no_value_adds_a_line_or_a_directive(field: str, allowed: dict[str, set[tuple[object, ...]]]) -> None:
    @FUZZ
    @given(value=FIELDS[field][0])
    @example(value=INJECTIONS.get(field, "x\ny"))
    def check(value: object) -> None:
        _renders_only_baseline_shapes(field, value, allowed[field])

    check()


# -- the real command line, on a real HAProxy ---------------------------------------------------------------
def _error_lines(done: subprocess.CompletedProcess[str], code: str) -> list[str]:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"error[{code}]: "), done.stderr
    assert len(lines) <= 2 and all(ln.startswith("  hint: ") for ln in lines[1:]), done.stderr
    return lines


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((LOCALHOST, port)) == 0


INJECTED: dict[str, Callable[[int], list[str]]] = {  # option values that once reached haproxy.cfg
    "zone-newlines": lambda evil: ["--backend", f"::1%x\nlisten evil\n bind 127.0.0.1:{evil}\n"],
    "zone-admin-listener": lambda evil: ["--backend", INJECTIONS["backend"].replace("28999", str(evil))],
    "zone-with-space": lambda evil: ["--backend", f"::1%x bind 127.0.0.1:{evil}"],
    "hostname-with-newline": lambda evil: ["--backend", f"app.test\nlisten evil\n bind 127.0.0.1:{evil}:80"],
    "bind-with-hash": lambda evil: ["--bind", "[::1%#]:443"],
}


@pytest.mark.haproxy
@pytest.mark.parametrize("variant", sorted(INJECTED))
def test_an_injected_option_is_refused_and_nothing_is_created(kit: Kit, variant: str) -> None:
    tls, plain, evil = free_ports(3)
    valid: Mapping[str, str] = {"--bind": f"{LOCALHOST}:{tls}", "--backend": f"{LOCALHOST}:{kit.app.port}"}
    injected = INJECTED[variant](evil)
    args = {**valid, injected[0]: injected[1]}

    done = run_cli(kit.home, "lb", "add", "evil", "--kind", "haproxy", "--http-bind", f"{LOCALHOST}:{plain}",
                   *(word for pair in args.items() for word in pair))

    lines = _error_lines(done, "invalid-address")
    assert "\\n" in lines[0] or "\n" not in injected[1]  # the newline is shown escaped, never raw
    assert kit.svc.list_load_balancers() == []
    assert not (kit.home / "lb" / "evil").exists()
    assert haproxy_pids_under(kit.home) == []
    assert not _listening(evil) and not _listening(plain)


# -- item 8: a bare port is every address on that port -------------------------------------------------------
@pytest.fixture
def bare_bind(kit: Kit) -> tuple[Kit, int, str]:
    """`lb add edge --bind PORT` (a bare port) through the command line, and a certificate to enable."""
    site = kit.issue("bare.test")
    files = write_bundle(kit.home / "input", site)
    (port,) = free_ports(1)
    added = run_cli(kit.home, "cert", "add", "site", "--cert", str(files["cert"]), "--chain", str(files["chain"]),
                    "--key", str(files["key"]))
    assert added.returncode == 0, added.stderr
    lb_add = run_cli(kit.home, "lb", "add", "edge", "--kind", "haproxy", "--bind", str(port),
                     "--backend", f"{LOCALHOST}:{kit.app.port}")
    assert lb_add.returncode == 0, lb_add.stderr
    return kit, port, fingerprint(site)


@pytest.mark.haproxy
def test_a_bare_port_bind_is_stored_as_every_address_and_planned_on_that_port(
        bare_bind: tuple[Kit, int, str]) -> None:
    kit, port, _ = bare_bind

    shown = json.loads(run_cli(kit.home, "lb", "show", "edge", "--json").stdout)
    dry = run_cli(kit.home, "enable", "edge", "--cert", "site", "--dry-run", "--json")

    assert shown["options"]["bind"] == f":{port}"
    assert dry.returncode == 0, dry.stderr
    assert [s["after"]["lb_port"] for s in json.loads(dry.stdout)["steps"] if s["action"] == "bind"] == [port]
    assert refused(port)  # a dry run touches nothing
    # (not enabled for real here: a bare port binds every address, and tests listen on loopback only)
