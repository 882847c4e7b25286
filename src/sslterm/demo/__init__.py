"""The demo (`sslterm quickstart`, `make demo`): a demo CA, a demo app and the quickstart that puts a managed
HAProxy in front of it. Not part of the core: nothing outside the CLI's quickstart command imports it."""
