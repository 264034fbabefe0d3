"""Sources: one fetcher, one parser module per format, a plain dict registry (filled in below)."""
