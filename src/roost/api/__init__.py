"""Thin HTTP handlers: parse, authenticate, call one action or query, serialize."""
