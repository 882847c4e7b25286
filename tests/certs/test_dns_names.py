"""Names from certificates are data: whatever a SAN holds, choosing SNI names to probe never fails, and only
names a client can send are chosen (issue 6, item 9: a 70-character label was an internal IDNA error)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sslterm.certs.names import dns_names, no_dns_name


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=6))
def test_only_sendable_names_are_chosen(sans: list[str]) -> None:
    for name in dns_names(sans):
        name.encode("ascii")  # what the probe sends
        assert len(name) <= 253 and "\n" not in name and " " not in name
        assert all(0 < len(label) <= 63 for label in name.removeprefix("*.").split("."))


def test_names_a_client_cannot_send_are_left_out() -> None:
    long_label = "x" * 64 + ".example.test"
    assert dns_names(["www.example.test", "*.api.example.test", long_label, "10.0.0.1", "::1", "a b.test",
                      "bad\nname.test", "ünï.test", "*.*.test"]) == ["www.example.test", "*.api.example.test"]


def test_a_certificate_with_only_addresses_gets_the_no_dns_name_warning() -> None:
    finding = no_dns_name(["10.0.0.1", "::1"], "10.0.0.1")
    assert finding is not None and finding.code == "no-dns-name" and not finding.is_error
    assert no_dns_name(["10.0.0.1", "www.example.test"], "www") is None
