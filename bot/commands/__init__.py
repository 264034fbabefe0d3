"""CLI subcommands: one module per area, each with ``register(sub)``; listed in :mod:`bot.cli`."""
