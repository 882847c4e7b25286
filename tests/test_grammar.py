"""The strict grammars every value meets before it reaches a load balancer's configuration
(``sslterm.grammar``): what is accepted, what is refused with which code, and that a refusal never prints
the refused value raw."""

from __future__ import annotations

import pytest

from sslterm import grammar
from sslterm.errors import InputError
from sslterm.grammar import Endpoint


@pytest.mark.parametrize(("text", "host", "port"), [
    ("127.0.0.1:8443", "127.0.0.1", 8443),
    ("0.0.0.0:443", "0.0.0.0", 443),  # noqa: S104
    ("[::1]:8443", "::1", 8443),
    ("[::]:443", "::", 443),
    ("[fe80::1%eth0.5_a-b]:80", "fe80::1%eth0.5_a-b", 80),
    ("::1", "::1", None),
    ("backend.example.test:80", "backend.example.test", 80),
    ("xn--bcher-kva.example", "xn--bcher-kva.example", None),
    ("localhost", "localhost", None),
    ("28447", "", 28447),  # a bare port: every address on it, as HAProxy's `bind :28447`
    (":28447", "", 28447),
])
def test_accepted_endpoints_read_back_as_themselves(text: str, host: str, port: int | None) -> None:
    endpoint = grammar.parse_endpoint(text, "--bind", any_host=True)

    assert endpoint == Endpoint(host, port)
    assert grammar.parse_endpoint(str(endpoint), "--bind", any_host=True) == endpoint


def test_a_bare_port_prints_and_moves_as_every_address() -> None:
    endpoint = grammar.parse_endpoint("28447", "--bind", any_host=True)

    assert str(endpoint) == ":28447"
    assert endpoint.with_port(8443) == ":8443"


@pytest.mark.parametrize("text", [
    "::1%x\nlisten evil\n bind 127.0.0.1:9999\n",  # Python's ipaddress takes any scope id after '%'
    "[::1%x\n bind 127.0.0.1:9999]:80",
    "[::1%x y]:80",  # a zone with a space
    "[::1%#]:443",  # a zone with a comment sign
    "[::1%]:80",
    "[::1%a%b]:80",
    "backend.test\nlisten evil:80",
    "a b:80",
    "host#x:80",
    "1.2.3",  # digits and dots that are no IPv4 address: never looked up as a name
    "1.2.3.999:80",
    "01.2.3.4:80",
    "host.123:80",  # a host name never ends in an all-digit label
    "-host:80",
    "host-:80",
    "ex..ample:80",
    "exa_mple:80",
    "ünicode.test:80",
    "127.0.0.1:0",
    "127.0.0.1:65536",
    "127.0.0.1:+80",
    "127.0.0.1: 80",
    "127.0.0.1:\u0664\u0664\u0663",  # Arabic-Indic digits: str.isdigit() says yes
    "127.0.0.1:",
    ":",
    "[1.2.3.4]:80",
    "[::1]x",
    "[]:80",
    "*:443",
    "",
    "a" * 254,
])
def test_anything_else_is_refused_as_an_invalid_address(text: str) -> None:
    with pytest.raises(InputError) as refused:
        grammar.parse_endpoint(text, "--backend", any_host=True)

    assert refused.value.code == "invalid-address"
    assert refused.value.message.startswith("--backend")
    assert refused.value.message.isprintable() and (refused.value.hint or "").isprintable()  # one line, escaped


def test_a_bare_port_is_refused_where_every_address_makes_no_sense() -> None:
    with pytest.raises(InputError) as refused:
        grammar.parse_endpoint("8080", "--backend")

    assert refused.value.code == "invalid-address" and "needs a host" in refused.value.message


def test_a_zone_can_be_refused_with_its_own_reason() -> None:
    with pytest.raises(InputError) as refused:
        grammar.parse_endpoint("[fe80::1%eth0]:80", "--backend", allow_zone=False)

    assert refused.value.code == "invalid-address"
    assert "zone" in refused.value.message and refused.value.hint == "give the address without its %zone"


def test_need_port() -> None:
    with pytest.raises(InputError, match="needs a port"):
        grammar.parse_endpoint("127.0.0.1", "--http-bind", need_port=True)


@pytest.mark.parametrize(("value", "port"), [(1, 1), (65535, 65535), ("443", 443), ("08443", 8443)])
def test_ports(value: object, port: int) -> None:
    assert grammar.parse_port(value, "--lb-port") == port


@pytest.mark.parametrize("value", [0, 65536, -1, True, 443.0, "", "4 43", "443\n", None, "0x1bb"])
def test_bad_ports_are_refused(value: object) -> None:
    with pytest.raises(InputError) as refused:
        grammar.parse_port(value, "--lb-port")

    assert refused.value.code == "invalid-address" and refused.value.message.isprintable()


@pytest.mark.parametrize("path", ["/etc/ssl/certs/ca-certificates.crt", "/run/haproxy/admin.sock", "/a/.b/c-d_e"])
def test_safe_paths(path: str) -> None:
    assert grammar.parse_path(path, "--config") == path


@pytest.mark.parametrize("path", ["relative/x", "/", "/a b", "/a\n global", "/a#b", "/a/../etc/shadow", "/..",
                                  "/a/%x", "/é", "", "/" + "a" * 4096, "~/x", "/a;b", '/a"b'])
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(InputError) as refused:
        grammar.parse_path(path, "--config")

    assert refused.value.code == "invalid-path" and refused.value.message.isprintable()


@pytest.mark.parametrize(("name", "ok"), [
    ("www.example.test", True), ("*.example.test", True), ("EXAMPLE.test", True), ("localhost", True),
    ("192.0.2.1", False), ("2001:db8::1", False), ("a b", False), ("a\nb", False), ("#x", False), ("!x", False),
    ("*", False), ("w*.example.test", False), ("*.*.example.test", False), ("", False), ("a.", False),
])
def test_sni_names(name: str, ok: bool) -> None:
    assert grammar.is_sni_name(name) is ok


def test_shown_escapes_control_characters_and_cuts() -> None:
    assert grammar.shown("a\nb\x1b[31m") == "'a\\nb\\x1b[31m'"
    assert grammar.shown("x" * 100, limit=5) == "'xxxxx'..."
    assert grammar.shown(443) == "'443'"
