"""Certificates: parse, order, check. Pure: no file, network or clock access (``now`` is passed in)."""

from sslterm.certs.bundle import Bundle, CertSummary, ChainEntry, summarize
from sslterm.certs.findings import Finding, Severity
from sslterm.certs.validate import BundleInput, validate_bundle

__all__ = [
    "Bundle",
    "BundleInput",
    "CertSummary",
    "ChainEntry",
    "Finding",
    "Severity",
    "summarize",
    "validate_bundle",
]
