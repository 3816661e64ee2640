"""Observability: W3C trace context carried on every call."""
