"""sslterm: turn on SSL/TLS termination on load balancers, automatically and safely."""

__version__ = "0.1.0"
