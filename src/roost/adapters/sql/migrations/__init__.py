"""Alembic migrations of the schema, for SQLite and PostgreSQL alike (see `roost.adapters.sql.migrate`)."""
