"""Errors the state layer raises; messages say what to do and never carry a password."""

from __future__ import annotations


class StoreError(Exception):
    """The state cannot be read or written; the message says why and what to do."""


class StoreLocked(StoreError):
    """Another process holds the TinyDB state file."""


class StoreCorrupt(StoreError):
    """The state file did not parse; it was moved aside, never overwritten."""


class SchemaError(StoreError):
    """The stored schema is older (run ``firmwatch db upgrade``) or newer than this firmwatch."""


class UnknownFleet(StoreError):
    """A device group names a fleet that is not in the registry."""
