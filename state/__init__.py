"""State: one Store interface with TinyDB and SQL backends."""
