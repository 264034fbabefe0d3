"""Alembic migrations for the SQL backend (run by ``firmwatch db upgrade``)."""
