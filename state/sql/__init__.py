"""The SQL backend, written once with SQLAlchemy Core for PostgreSQL (psycopg 3) and SQLite."""
