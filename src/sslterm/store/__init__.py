"""Persistence: certificates (keys encrypted), load balancers, terminations and the audit log."""
