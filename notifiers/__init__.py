"""Notifiers: one module per destination behind one small protocol."""
