"""Consumers of outbox events, one module per consumer; idempotent, so redelivery is harmless."""
