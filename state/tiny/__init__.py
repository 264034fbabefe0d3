"""The TinyDB backend: one JSON file, read once, written atomically once per unit of work."""
