"""Turn validated settings into the runtime objects the core works with (reads files)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from bot.catalog import Catalog, CatalogEntry, CatalogError, decode_csv, parse_catalog_csv
from bot.config import ConfigError, Settings


def build_catalog(
    settings: Settings, base: Path, config_name: str, stored: Iterable[CatalogEntry] = ()
) -> Catalog:
    """The lifecycle catalog from ``[[catalog]]`` entries and ``[policy] catalog_files``, then
    the ``stored`` entries (the dates imported into the store: bot.toml's come first)."""
    entries = [
        CatalogEntry(e.model, e.launched, e.discontinued, f"{config_name} [[catalog]] #{i + 1}")
        for i, e in enumerate(settings.catalog)
    ]
    for i, name in enumerate(settings.policy.catalog_files):
        path = base / name
        try:
            text = decode_csv(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                [
                    f"{config_name}: policy.catalog_files[{i}]: cannot read {path}: {exc}"
                    f" (got {name!r})"
                ]
            ) from None
        try:
            entries += parse_catalog_csv(text, path.name)
        except CatalogError as exc:
            raise ConfigError(str(exc).splitlines()) from None
    entries += stored
    try:
        return Catalog(entries)
    except CatalogError as exc:
        raise ConfigError(str(exc).splitlines()) from None
