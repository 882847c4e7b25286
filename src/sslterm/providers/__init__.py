"""One package per load balancer kind, each behind the contract in :mod:`sslterm.engine.contract`."""
