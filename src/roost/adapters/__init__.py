"""Implementations of the ports: SQL (SQLite, PostgreSQL), embedded (in-process) and Redis."""
