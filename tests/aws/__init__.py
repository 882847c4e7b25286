"""AWS tests: sslterm's own checks, and moto in server mode on 127.0.0.1 (what it does and does not check)."""
