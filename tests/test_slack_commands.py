"""The slash command's parser, table-driven from tests/data/slack/commands.toml."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bot.slack.commands import USAGE, SilenceAdd, Usage, parse, usage_line
from tests.conftest import case_id, load_cases


@pytest.mark.parametrize("case", load_cases("slack/commands.toml"), ids=case_id)
def test_commands(case: dict[str, Any]) -> None:
    got = parse(case["text"])
    if "problem" in case:
        assert got == Usage(case["problem"], case["usage"])
        return
    want = dict(case["want"])
    assert type(got).__name__ == want.pop("type")
    fields = dataclasses.asdict(got)
    if isinstance(got, SilenceAdd):
        fields["matchers"] = [list(m) for m in got.matchers]
        fields["seconds"] = int(fields.pop("duration").total_seconds())
    assert fields == want


@pytest.mark.parametrize("text", ["silence fleet=\"hq for 2h", "lookup \x00", "a" * 5000,
                                  "silence " + "x=" * 500, "fleet <>", "&amp;lt;"])
def test_odd_text_never_raises(text: str) -> None:
    parse(text)


def test_every_subcommand_has_a_usage_line() -> None:
    assert usage_line("silence", "/fw") == "/fw silence MATCHERS for DURATION [comment]"
    assert usage_line("fleets") == "/firmware fleets"
    assert all(text for _, text in USAGE.values())
