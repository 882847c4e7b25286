"""Command-line adapter: parse, call the service, render. No logic of its own."""

from sslterm.cli.main import main

__all__ = ["main"]
