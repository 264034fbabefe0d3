"""Shared test helpers."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.state_fixtures", "tests.httpserver", "tests.fakeslack"]

DATA = Path(__file__).parent / "data"

# Properties check results, not speed: a loaded CI machine must not fail them on timing.
settings.register_profile("firmwatch", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("firmwatch")


def load_cases(relative: str) -> list[dict[str, Any]]:
    """The ``[[case]]`` tables of a TOML data file under tests/data."""
    with (DATA / relative).open("rb") as fh:
        cases: list[dict[str, Any]] = tomllib.load(fh)["case"]
    return cases


def case_id(case: dict[str, Any]) -> str:
    """A readable pytest id for a data-file case."""
    return str(case.get("name") or "-".join(str(v) for v in case.values())[:60])
