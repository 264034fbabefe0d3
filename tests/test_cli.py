"""The command line end to end: lookup, config check and demo, as a user runs them."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.cli import build_parser, main
from state import open_store
from tests.conftest import DATA, case_id, load_cases

LOOKUP_CONFIG = str(DATA / "lookup" / "bot.toml")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _expect(value: str) -> str | None:
    return None if value == "__null__" else value


@pytest.mark.parametrize("case", load_cases("lookup/cards.toml"), ids=case_id)
def test_lookup_json(case: dict[str, Any]) -> None:
    argv = [
        "lookup",
        case["model"],
        "--on",
        case["on"].isoformat(),
        "--json",
        "--config",
        LOOKUP_CONFIG,
    ]
    if "launched_flag" in case:
        argv += ["--launched", case["launched_flag"]]
    if "discontinued_flag" in case:
        argv += ["--discontinued", case["discontinued_flag"]]
    code, out, err = run(*argv)
    assert (code, err) == (0, "")
    card = json.loads(out)
    assert {
        "model",
        "family",
        "covered",
        "stage",
        "launched",
        "discontinued",
        "stage_ends",
        "next_stage",
        "promise",
    } <= set(card)
    for key in ("stage", "covered", "launched", "discontinued", "stage_ends", "next_stage",
                "fix_promise"):
        if key in case:
            expected = case[key]
            assert card[key] == (_expect(expected) if isinstance(expected, str) else expected), key
    if "promise_contains" in case:
        assert case["promise_contains"] in card["promise"]
    if "dates_source_contains" in case:
        assert case["dates_source_contains"] in card["dates_source"]


@pytest.mark.parametrize(
    ("timezone", "stage"), [("Pacific/Kiritimati", "security-only"), ("Etc/GMT+12", "dynamic")]
)
def test_lookup_judges_today_in_the_schedules_timezone(
    tmp_path: Path, timezone: str, stage: str
) -> None:
    # The model is discontinued on today's date at UTC+14; at UTC-12 (26 hours behind) that
    # day has not come yet, whatever the machine's own zone and date.
    day = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[[catalog]]\nmodel = "DS-96064NI-I16"\nlaunched = 2019-01-15\n'
        f"discontinued = {day.isoformat()}\n\n[schedule]\ntimezone = \"{timezone}\"\n",
        encoding="utf-8",
    )
    code, out, err = run("lookup", "DS-96064NI-I16", "--json", "--config", str(config))
    assert (code, err) == (0, "")
    assert json.loads(out)["stage"] == stage


def test_lookup_text_card_names_the_source_of_its_dates() -> None:
    code, out, _ = run(
        "lookup", "DS-2CD7326G0-IZS", "--on", "2026-01-01", "--config", LOOKUP_CONFIG
    )
    assert code == 0
    assert "security-only" in out
    assert "extra.csv line 2" in out
    assert "2026-11-26, then end-of-support" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lookup", "DS-2CD3321G2-I", "--on", "2026-13-01"], "--on: not a date (got '2026-13-01')"),
        (["lookup", "DS-2CD3321G2-I", "--launched", "yesterday"], "--launched: not a date"),
        (["lookup", "DS-2CD3321G2-I", "--discontinued", "9999-12-31"],
         "--discontinued: expected a date from 1900-01-01 to 2999-12-31 (got '9999-12-31')"),
        (["lookup", "DS-2CD3321G2-I", "--on", "0001-01-01"],
         "--on: expected a date from 1900-01-01 to 2999-12-31 (got '0001-01-01')"),
        (["demo", "--on", "0001-01-01"],
         "--on: expected a date from 1900-01-01 to 2999-12-31 (got '0001-01-01')"),
        (["lookup", "DS 2CD <script>"], "MODEL:"),
        (["lookup", ""], "MODEL:"),
        (
            ["lookup", "X", "--launched", "2024-01-01", "--discontinued", "2023-01-01"],
            "--discontinued: before --launched",
        ),
        # one date given, the other from the catalog: they must not contradict either
        (
            ["lookup", "DS-2CD7326G0-IZS", "--launched", "2023-01-01"],
            "--launched: 2023-01-01 is after the discontinuation date 2021-11-26"
            " (from extra.csv line 2)",
        ),
        (
            ["lookup", "DS-2CD7326G0-IZS", "--discontinued", "2014-01-01"],
            "--discontinued: 2014-01-01 is before the launch date 2014-09-01"
            " (from extra.csv line 2)",
        ),
    ],
)
def test_lookup_refuses_malformed_input(argv: list[str], message: str) -> None:
    config = [] if argv[0] == "demo" else ["--config", LOOKUP_CONFIG]  # the demo's is bundled
    code, out, err = run(*argv, *config)
    assert code == 2
    assert out == ""
    assert message in err


def test_config_check_ok() -> None:
    code, out, _ = run(
        "config", "check", "--config", str(Path(__file__).parent.parent / "bot.toml")
    )
    assert code == 0
    assert "OK" in out


def test_config_check_reports_typo_and_bad_value(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('[policy]\nsevere_cvs = 7.0\n\n[schedule]\ndigest_at = "25:00"\n')
    code, _, err = run("config", "check", "--config", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"{path}: policy.severe_cvs: unknown key (did you mean 'severe_cvss'?) (got 7.0)",
        f"{path}: schedule.digest_at: expected a local time as HH:MM (got '25:00')",
    ]


MSP_ROUTING = """
[schedule]
timezone = "Europe/Paris"
digest_at = "07:30"
[[receivers]]
name = "cust-a"
type = "console"
[[receivers]]
name = "noc"
type = "console"
min_severity = "medium"
[[receivers]]
name = "a-hq"
type = "console"
[[receivers]]
name = "unused"
type = "console"
[[fleets]]
name = "acme"
receivers = ["cust-a"]
tags = ["gold", "eu"]
kinds = ["advisory"]
min_severity = "high"
[[fleets]]
name = "bravo"
tags = ["silver"]
[[routes]]
name = "noc-firmware"
receivers = ["noc"]
kinds = ["firmware"]
fleet_tags = ["gld"]
digest = "weekly"
[[routes]]
name = "hq"
receivers = ["a-hq"]
sites = ["HQ"]
kev = true
"""


def test_config_routing_says_who_gets_what(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(MSP_ROUTING)
    code, out, _ = run("config", "routing", "--config", str(path))
    assert code == 0
    assert out.splitlines() == [
        f"{path}: who gets what",
        "digests go out at 07:30 Europe/Paris (weekly ones on Mondays); a receiver's own"
        " min_severity applies last; silences, acks and snoozes apart",
        "cust-a (console)",
        "  fleet acme: advisory · advisories of severity high and above · at once",
        "noc (console, min severity medium)",
        "  route noc-firmware: kinds firmware · fleets tagged gld · weekly digest",
        "a-hq (console)",
        "  route hq: every kind · sites HQ · listed in CISA KEV · at once",
        "unused (console)",
        "  nothing: no fleet or route in this file names it",
        "warning: route noc-firmware: no fleet declared here has the tag 'gld' (only a fleet"
        " created through the API with it matches)",
        "warning: route hq: sites HQ match those sites in every fleet; add fleets or fleet_tags"
        " to keep it to one customer's",
    ]


def test_config_check_missing_file(tmp_path: Path) -> None:
    code, _, err = run("config", "check", "--config", str(tmp_path / "missing.toml"))
    assert code == 2
    assert "missing.toml: file not found" in err


def test_config_check_reports_bad_catalog_csv(tmp_path: Path) -> None:
    (tmp_path / "dates.csv").write_text("model,launched,discontinued\nDS-2CD3321G2-I,2020-13-01,\n")
    (tmp_path / "bot.toml").write_text('[policy]\ncatalog_files = ["dates.csv"]\n')
    code, _, err = run("config", "check", "--config", str(tmp_path / "bot.toml"))
    assert code == 2
    assert "dates.csv line 2" in err


@pytest.mark.parametrize(
    ("device", "problem"),
    [
        ('model = "NOT A MODEL ###"',
         "fleets[0].devices[0].model: unexpected '#'; use letters, digits, - / ( ) . _ +"
         " (got 'NOT A MODEL ###')"),
        ('model = "DS-2CD3321G2-I"\n[[fleets.devices]]\nmodel = "ds-2cd3321g2-i"',
         "fleets[0].devices[1]: the same model, firmware and site as an earlier device"
         " (got 'ds-2cd3321g2-i')"),
    ],
)
def test_config_check_refuses_what_check_refuses(
    tmp_path: Path, device: str, problem: str
) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(f'[state]\nurl = "tinydb:///state.json"\n[[fleets]]\nname = "hq"\n'
                    f"[[fleets.devices]]\n{device}\n")
    code, _, err = run("config", "check", "--config", str(path))
    assert code == 2 and len(err.splitlines()) == 1 and err.endswith(f"bot.toml: {problem}\n")
    assert run("check", "--dry-run", "--config", str(path))[:3:2] == (2, err)


def test_config_check_reports_the_catalog_and_the_fleets_together(tmp_path: Path) -> None:
    (tmp_path / "dates.csv").write_text("model,launched,discontinued\nDS-2CD3321G2-I,2020-13-01,\n")
    (tmp_path / "bot.toml").write_text(
        '[policy]\ncatalog_files = ["dates.csv"]\n[[fleets]]\nname = "hq"\n[[fleets.devices]]\n'
        'model = "DS-2CD3321G2-I"\n[[fleets.devices]]\nmodel = "ds-2cd3321g2-i"\n')
    code, _, err = run("config", "check", "--config", str(tmp_path / "bot.toml"))
    assert code == 2 and len(err.splitlines()) == 2
    assert "dates.csv line 2" in err and "fleets[0].devices[1]: the same model" in err


def test_demo_runs_the_pipeline_offline(tmp_path: Path) -> None:
    state = str(tmp_path / "demo")
    code, out, err = run("demo", "--on", "2026-11-28", "--state", state)
    assert code == 0, err
    assert "HSRC-202109-01" in out and "Exploited in the wild (CISA KEV since 2022-01-10)" in out
    assert "Delivery: sent 4 · retried 0 · dead 0" in out and "Next steps:" in out
    again, second, _ = run("demo", "--on", "2026-11-28", "--state", state)
    assert again == 0 and second.count("HSRC-202109-01") == out.count("HSRC-202109-01")


def test_python_dash_m_bot_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "lookup", "DS-2CD2143G2-I", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stage"] == "not-covered"


WEBHOOK = """
[[receivers]]
name = "ticketing"
type = "webhook"
url = "https://tickets.example.com/hooks/firmwatch"
secret_env = "FW_TEST_TICKETING_SECRET"
"""


@pytest.mark.parametrize(("value", "problem"), [
    ("not-a-whsec-secret", "does not start with whsec_"),
    ("whsec_!!!notbase64!!!", "the part after whsec_ is not base64"),
    ("whsec_QUJD", "it decodes to 3 bytes, not 24 to 64"),
])
def test_config_check_reports_an_unusable_webhook_secret_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(WEBHOOK)
    monkeypatch.delenv("FW_TEST_TICKETING_SECRET", raising=False)
    assert run("config", "check", "--config", str(path))[0] == 0, "unset: reported when used"
    monkeypatch.setenv("FW_TEST_TICKETING_SECRET", value)
    code, _, err = run("config", "check", "--config", str(path))
    assert code == 2
    # FILE: key.path: what is wrong, as every other problem (the value is never shown)
    assert err.startswith("bot.toml: receivers[0].secret_env: environment variable"
                          " FW_TEST_TICKETING_SECRET (named by receiver 'ticketing') does not hold")
    assert problem in err and value not in err
    monkeypatch.setenv("FW_TEST_TICKETING_SECRET", "whsec_" + "A" * 44)
    assert run("config", "check", "--config", str(path))[0] == 0


def test_config_check_says_how_to_save_a_catalog_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "dates.csv").write_bytes("model,launched,discontinued\nDS-2CD3321G2-I,,\n# Zürich\n"
                                         .encode("cp1252"))
    (tmp_path / "bot.toml").write_text('[policy]\ncatalog_files = ["dates.csv"]\n')
    code, _, err = run("config", "check", "--config", str(tmp_path / "bot.toml"))
    assert (code, err) == (2, f"bot.toml: policy.catalog_files[0]: cannot read {tmp_path}"
                              "/dates.csv: not UTF-8 text (byte 0xfc at offset 48); save it as"
                              " UTF-8 (in Excel: CSV UTF-8) (got 'dates.csv')\n")
    (tmp_path / "dates.csv").write_bytes("model\tlaunched\tdiscontinued\nDS-2CD3321G2-I\t\t\n"
                                         .encode("utf-16"))
    assert run("config", "check", "--config", str(tmp_path / "bot.toml"))[0] == 0


def test_a_state_url_naming_a_folder_is_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "bot.toml").write_text("")
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("DATABASE_URL", f"tinydb:///{tmp_path / 'state'}")
    for argv in (["check", "--dry-run"], ["db", "upgrade"], ["sources"]):
        code, _out, err = run(*argv, "--config", str(tmp_path / "bot.toml"))
        assert code == 1, argv
        assert err.startswith(f"firmwatch {argv[0]}: cannot open state file {tmp_path / 'state'}")


def test_a_store_failing_mid_command_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "state.db"
    with open_store(f"sqlite:///{db}"):
        pass
    with closing(sqlite3.connect(db)) as damage:  # a damaged store: opens, then fails on use
        damage.execute("DROP TABLE outbox")
        damage.commit()
    (tmp_path / "bot.toml").write_text('[[receivers]]\nname = "ops"\ntype = "console"\n')
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    for argv in (["outbox"], ["deliver", "--once"]):
        code, _out, err = run(*argv, "--config", str(tmp_path / "bot.toml"))
        assert (code, err) == (
            1, f"firmwatch {argv[0]}: database error at sqlite:///{db}: no such table: outbox\n"
        ), argv


@pytest.mark.parametrize("command", ["web", "run"])
@pytest.mark.parametrize("host", ["not a host!!", "0.0.0.0:3000", "http://0.0.0.0"])
def test_a_listen_host_that_is_no_host_is_a_usage_error(
    command: str, host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:  # refused while parsing: nothing is looked up
        build_parser().parse_args([command, "--host", host])
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"firmwatch {command}: error: argument --host: expected an IP address such as 0.0.0.0"
        f" or 127.0.0.1, or a host name (got {host!r})"
    )
    assert build_parser().parse_args([command, "--host", "127.0.0.1"]).host == "127.0.0.1"


def test_check_refuses_a_disabled_source_it_would_not_poll(tmp_path: Path) -> None:
    kev = Path(__file__).parent.parent / "bot" / "samples" / "sources" / "kev.json"
    (tmp_path / "bot.toml").write_text(
        '[[sources]]\nname = "cisa-kev"\nkind = "exploited"\nformat = "kev-json"\n'
        f'url = "{kev.as_uri()}"\nenabled = false\n'
    )
    code, out, err = run("check", "--dry-run", "--config", str(tmp_path / "bot.toml"),
                         "--source", "cisa-kev")
    assert (code, out) == (2, "")
    assert ("--source: source 'cisa-kev' is disabled (enabled = false in bot.toml): enable it, or"
            " read it without storing anything with `firmwatch fetch cisa-kev`") in err


@pytest.mark.parametrize("argv", [["demo"], ["secret", "new"]])
def test_commands_that_read_no_config_take_no_config_flag(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo runs on its bundled config and a new secret needs none: --config, which both
    used to accept and ignore, is refused rather than silently not used."""
    code, out, _ = run(*argv, "--config", LOOKUP_CONFIG)
    assert (code, out) == (2, "")
    assert "unrecognized arguments: --config" in capsys.readouterr().err  # argparse's own
