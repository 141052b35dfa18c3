"""SQLAlchemy Core tables, the database handle and the transactional outbox."""
