"""firmwatch: keeps fleets of Hikvision devices patched and within vendor support."""

__version__ = "0.1.0"
