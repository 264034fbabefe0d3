"""An item's identity across time, through whole cycles: a revised package or advisory is the same
item, and a newer firmware release supersedes an older one for the models both apply to.

The sources are served by a real HTTP server on 127.0.0.1 in their real formats (Hikvision's
listing and advisory pages, a ``firmware-json`` index, CISA KEV) and the state is a real TinyDB
store; each test edits the served files between cycles as the vendor or a mirror would.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import parse
from bot.identity import aliases, same_advisory, same_package
from bot.items import Advisory, FirmwareRelease
from bot.pipeline import CycleReport, run_cycle
from bot.sources.fetcher import Fetcher
from state import Store, open_store
from tests.httpserver import LocalServer, Route

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SAMPLES = Path(__file__).parents[1] / "bot" / "samples" / "sources"
ADVISORIES = "/en/support/cybersecurity/security-advisory"
HIKCENTRAL = f"{ADVISORIES}/improper-authorization-vulnerability-in-hikcentral-products/index.html"
HTML = {"Content-Type": "text/html; charset=utf-8"}
JSON = {"Content-Type": "application/json"}

FLEETS = """
[[receivers]]
name = "ops"
type = "console"

[[receivers]]
name = "lab-team"
type = "console"

[[fleets]]
name = "hq"
receivers = ["ops"]

[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.5.0 build 200911"
count = 40
site = "Site A"

[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.7.13 build 230822"
count = 5
site = "Site B"

[[fleets.devices]]
model = "HikCentral Professional"
firmware = "2.5.0.20230101"
count = 1
site = "HQ"

[[fleets]]
name = "lab"
receivers = ["lab-team"]

[[fleets.devices]]
model = "DS-2CD3341G2-I"
firmware = "V5.5.0 build 200911"
count = 2
site = "Lab"
"""


def package(
    version: str, models: list[str], url: str, released: str = "2026-07-20", **more: Any
) -> dict[str, Any]:
    """One package of a firmware-json index (docs/firmware-json.md)."""
    numbers = version.split()[0]
    return {
        "title": f"DS-2CD3xx1G2 Network Camera Firmware {numbers}",
        "models": models,
        "version": version,
        "released": released,
        "download_url": url,
        **more,
    }


G2 = ["DS-2CD3321G2-I", "DS-2CD3121G2-I"]
V5972 = package(  # the vendor's package files are all called digicap.dav
    "V5.9.72 build 260713", G2, "https://firmware.example.net/ipc-g2/V5.9.72/digicap.dav",
    cves=["CVE-2024-47485"], security=True,
)
# The same version for another line of cameras, also digicap.dav: another package.
OTHER_LINE = package(
    "V5.9.72 build 260713", ["DS-2CD2143G2-I"],
    "https://firmware.example.net/ipc-g2-2xx/V5.9.72/digicap.dav",
)


@dataclass
class Site:
    """Copies of the samples served on 127.0.0.1, a config naming them, a TinyDB store."""

    server: LocalServer
    root: Path
    packages: list[dict[str, Any]] = field(default_factory=list)
    fleets: str = FLEETS

    @property
    def hik(self) -> Path:
        return self.root / "sources" / "hikvision"

    def serve(self) -> str:
        """Route every file as it is now; the config text naming the sources."""
        for page in sorted(self.hik.rglob("*.html")):
            path = "/" + page.relative_to(self.hik).as_posix()
            self.server.route(path, Route(body=page.read_bytes(), headers=HTML))
        index = {"schema": "firmwatch.firmware-index/1", "packages": self.packages}
        self.server.route("/firmware.json", Route(body=json.dumps(index).encode(), headers=JSON))
        kev = (self.root / "sources" / "kev.json").read_bytes()
        self.server.route("/kev.json", Route(body=kev, headers=JSON))
        sources = [
            ("hik", "advisory", "hikvision-html", "/listing.html"),
            ("fw", "firmware", "firmware-json", "/firmware.json"),
            ("kev", "exploited", "kev-json", "/kev.json"),
        ]
        return "".join(
            f'[[sources]]\nname = "{n}"\nkind = "{k}"\nformat = "{f}"\n'
            f'url = "{self.server.url(p)}"\n\n'
            for n, k, f, p in sources
        )

    def cycle(self, now: datetime = NOW) -> CycleReport:
        text = (
            '[state]\nurl = "tinydb:///state.json"\n[network]\nallow_hosts = ["127.0.0.1"]\n'
            f"{self.serve()}{self.fleets}"
        )
        settings = parse(text, "bot.toml")
        with self.store() as store, Fetcher(settings.network) as fetcher:
            return run_cycle(store, settings, now, fetcher=fetcher, base=self.root)

    def store(self) -> Store:
        return open_store(f"tinydb:///{self.root / 'state.json'}")

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.hik / relative.lstrip("/")
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def site(http_server: LocalServer, tmp_path: Path) -> Iterator[Site]:
    shutil.copytree(SAMPLES, tmp_path / "sources")
    yield Site(http_server, tmp_path)


def _firmware(report: CycleReport) -> list[tuple[str, str]]:
    """(receiver, item id) of the cycle's firmware alerts, resolved ones marked."""
    return sorted(
        (d["receivers"][0], d["item"]["id"] + (" resolved" if d.get("resolved") else ""))
        for d in report.alerts
        if d["item"]["kind"] == "firmware"
    )


def _open_firmware(site: Site) -> dict[str, set[str]]:
    """Open firmware findings: item key -> the device groups' sites."""
    with site.store() as store:
        found = store.findings.all(state="open")
        kinds = {i.key: i.kind for i in store.items.all()}
    out: dict[str, set[str]] = {}
    for f in found:
        if kinds.get(f.item_key) == "firmware":
            out.setdefault(f.item_key, set()).update(
                g["site"] for g in f.data["device_groups"]
            )
    return out


def test_a_package_whose_applied_to_list_gains_a_model_is_the_same_item(site: Site) -> None:
    """The portal adds DS-2CD3341G2-I to the V5.9.72 package's "Applied to" list. It was keyed
    by its model list: a second item, a duplicate "update available" to everyone already told,
    and two open items for one package. Now the package is the same item (same download URL):
    only the lab, whose model was added, hears of it, about that same item."""
    site.packages = [V5972, OTHER_LINE]
    first = site.cycle()
    assert _firmware(first) == [("ops", "Firmware V5.9.72 build 260713")]
    (update,) = [d for d in first.alerts if d["item"]["kind"] == "firmware"]
    key = update["item"]["key"]

    site.packages = [dict(V5972, models=[*G2, "DS-2CD3341G2-I"]), OTHER_LINE]
    second = site.cycle(NOW + timedelta(hours=1))
    assert second.items == {"new": 0, "revised": 1}
    assert _firmware(second) == [("lab-team", "Firmware V5.9.72 build 260713")]
    (lab,) = [d for d in second.alerts if d["item"]["kind"] == "firmware"]
    assert lab["item"]["key"] == key
    assert _open_firmware(site) == {key: {"Site A", "Site B", "Lab"}}
    with site.store() as store:
        # Two packages named digicap.dav of one version for other cameras stay two packages.
        assert store.items.count("firmware") == 2
        stored = store.items.get(key)
        assert stored is not None and "DS-2CD3341G2-I" in stored.data["models"]
    third = site.cycle(NOW + timedelta(hours=2))
    assert third.alerts == [] and third.items == {"new": 0, "revised": 0}


def test_an_advisory_that_gains_an_sn_no_keeps_its_identity(site: Site) -> None:
    """The HikCentral advisory showed no SN No. (its page was its key); a revision shows
    HSRC-202406-05. It alerted again as a new advisory and the old item's findings stayed open.
    Now it is the same item, shown with its vendor ID from then on."""
    first = site.cycle()
    (hikcentral,) = [d for d in first.alerts if "hikcentral" in d["item"]["key"]]
    key = hikcentral["item"]["key"]
    assert key.endswith(HIKCENTRAL) and hikcentral["item"]["id"] == key
    with site.store() as store:
        open_before = {f.key for f in store.findings.all(state="open")}

    site.edit(HIKCENTRAL, "<p>Edited by HSRC</p>", "<p>SN No. HSRC-202406-05</p>\n"
              "      <p>Edited by HSRC</p>")
    site.edit(HIKCENTRAL, "<p>V1.0 2024-06-14 Initial release</p>",
              "<p>V1.0 2024-06-14 Initial release</p>\n<p>V1.1 2024-07-01 Added the SN No.</p>")
    site.edit("listing.html", '<p class="advisory-item__date">2024-06-14',
              '<p class="advisory-item__date">2024-07-01')
    second = site.cycle(NOW + timedelta(hours=1))
    assert second.alerts == []
    assert second.items == {"new": 0, "revised": 1}
    assert second.findings["resolved"] == 0
    with site.store() as store:
        assert store.items.get("HSRC-202406-05") is None
        stored = store.items.get(key)
        assert stored is not None and stored.data["vendor_id"] == "HSRC-202406-05"
        assert store.items.count("advisory") == 4
        assert {f.key for f in store.findings.all(state="open")} == open_before
    assert site.cycle(NOW + timedelta(hours=2)).alerts == []

    # The platform is upgraded: the resolution names the advisory by its vendor ID.
    site.fleets = FLEETS.replace('"2.5.0.20230101"', '"2.6.0.20240511"')
    (done,) = [d for d in site.cycle(NOW + timedelta(hours=3)).alerts
               if d["item"]["kind"] == "advisory"]
    assert done["resolved"] is True and done["item"] == dict(
        done["item"], key=key, id="HSRC-202406-05"
    )


def test_a_newer_release_supersedes_the_older_ones_update_available(site: Site) -> None:
    """V5.9.80 comes out for the same cameras: the groups that needed V5.9.72 need V5.9.80
    instead. V5.9.72's "update available" findings were left open beside V5.9.80's (one per
    newer release); now they are closed as superseded, in words that say so."""
    site.packages = [V5972]
    site.cycle()
    v5980 = package("V5.9.80 build 261020", G2,
                    "https://firmware.example.net/ipc-g2/V5.9.80/digicap.dav",
                    released="2026-11-20")
    site.packages = [V5972, v5980]
    second = site.cycle(NOW + timedelta(hours=1))
    assert _firmware(second) == [
        ("ops", "Firmware V5.9.72 build 260713 resolved"),
        ("ops", "Firmware V5.9.80 build 261020"),
    ]
    (old,) = [d for d in second.alerts if d.get("resolved")]
    assert old["resolution"] == "superseded"
    assert old["changes"] == ["superseded by Firmware V5.9.80 build 261020"]
    assert old["summary"] == (
        "Resolved: Firmware V5.9.72 build 260713 is superseded by Firmware V5.9.80 build 261020"
        " for the devices that needed it"
    )
    (new,) = [d for d in second.alerts if d["kind"] == "firmware" and not d.get("resolved")]
    # Firmware is cumulative: what V5.9.72 fixed, V5.9.80 fixes too.
    assert all("CVE-2024-47485" in f["resolves"] for f in new["findings"])
    opened = _open_firmware(site)
    assert list(opened.values()) == [{"Site A", "Site B"}]
    assert site.cycle(NOW + timedelta(hours=2)).alerts == []


def test_a_backlog_of_superseded_releases_seen_first_alerts_only_the_newest(site: Site) -> None:
    """The first cycle reads an index of old packages for the same cameras: one "update
    available" per release used to go out. Only the newest applicable one is alerted; the
    older ones are already superseded and make no finding. Supersession is per model: the lab's
    camera, which only the oldest package names, is still told of that one."""
    site.packages = [
        package("V5.7.15 build 250101", [*G2, "DS-2CD3341G2-I"],
                "https://firmware.example.net/ipc-g2/V5.7.15/digicap.dav", released="2025-01-13"),
        V5972,
        package("V5.8.7 build 260330", G2,
                "https://firmware.example.net/ipc-g2/Firmware__V5.8.7_260330_S3000712757.zip",
                released="2026-03-30"),
    ]
    first = site.cycle()
    assert _firmware(first) == [
        ("lab-team", "Firmware V5.7.15 build 250101"), ("ops", "Firmware V5.9.72 build 260713")
    ]
    opened = _open_firmware(site)
    assert sorted(opened.values(), key=len) == [{"Lab"}, {"Site A", "Site B"}]
    assert site.cycle(NOW + timedelta(hours=1)).alerts == []


def _release(version: str, models: tuple[str, ...], url: str | None) -> FirmwareRelease:
    return FirmwareRelease(f"{','.join(models)}|{version}", "t", models, version, download_url=url)


SAME_PACKAGE = [
    # (why, a, b, the same package?)
    ("the model list grew, same download URL",
     _release("V5.9.72 build 260713", ("A",), "https://x.example/g2/digicap.dav"),
     _release("V5.9.72 build 260713", ("A", "B"), "https://x.example/g2/digicap.dav"), True),
    ("digicap.dav of one version at two URLs: two packages, even for a shared model",
     _release("V5.9.72 build 260713", ("A",), "https://x.example/g2/digicap.dav"),
     _release("V5.9.72 build 260713", ("A", "B"), "https://x.example/g2-pal/digicap.dav"), False),
    ("a mirror's copy: the file name carries the version, a model is shared",
     _release("V5.9.72 build 260713", ("A",), "https://x.example/IPC_G2_EN_STD_V5.9.72_260713.zip"),
     _release("V5.9.72_260713", ("A", "B"), "https://m.example/IPC_G2_EN_STD_V5.9.72_260713.zip"),
     True),
    ("a versioned file name, but no model in common",
     _release("V5.9.72 build 260713", ("A",), "https://x.example/IPC_V5.9.72_260713.zip"),
     _release("V5.9.72 build 260713", ("B",), "https://m.example/IPC_V5.9.72_260713.zip"), False),
    ("another version at the same URL (a 'latest' link)",
     _release("V5.9.72 build 260713", ("A",), "https://x.example/latest/digicap.dav"),
     _release("V5.9.80 build 261020", ("A",), "https://x.example/latest/digicap.dav"), False),
    ("no download link yet: same version, a model in common",
     _release("V5.9.72 build 260713", ("A",), None),
     _release("V5.9.72 build 260713", ("A", "B"), "https://x.example/g2/digicap.dav"), True),
]


@pytest.mark.parametrize(("why", "a", "b", "same"), SAME_PACKAGE,
                         ids=[case[0] for case in SAME_PACKAGE])
def test_what_makes_two_copies_the_same_package(
    why: str, a: FirmwareRelease, b: FirmwareRelease, same: bool
) -> None:
    assert same_package(a, b) is same and same_package(b, a) is same


def test_a_new_copy_takes_the_key_of_the_package_it_is() -> None:
    stored = _release("V5.9.72 build 260713", ("A",), "https://x.example/g2/digicap.dav")
    grown = _release("V5.9.72 build 260713", ("A", "B"), "https://x.example/g2/digicap.dav")
    other = _release("V5.9.72 build 260713", ("C",), "https://x.example/g2-2xx/digicap.dav")
    assert aliases({grown.key: [grown], other.key: [other]}, [stored]) == {grown.key: stored.key}
    # Two sources' first copies of one package, nothing stored: one item, the first key.
    assert aliases({stored.key: [stored], grown.key: [grown]}, []) == {grown.key: stored.key}


def _advisory(url: str, vendor_id: str | None) -> Advisory:
    return Advisory(vendor_id or url, "t", url, vendor_id)


PAGE = "https://www.hikvision.com/en/support/cybersecurity/security-advisory/some-advisory/"
SAME_ADVISORY = [
    ("the page shows an SN No. now", _advisory(PAGE, None), _advisory(PAGE, "HSRC-202406-05"),
     True),
    ("the same SN No. on a mirror's page", _advisory("https://m.example/a?id=1", "HSRC-202406-05"),
     _advisory(PAGE, "HSRC-202406-05"), True),
    ("the same page with a query string", _advisory(PAGE + "?lang=en", None),
     _advisory(PAGE, "HSRC-202406-05"), True),
    ("two SN Nos. on one page are two advisories", _advisory(PAGE, "HSRC-202406-04"),
     _advisory(PAGE, "HSRC-202406-05"), False),
    ("another page, no SN No.", _advisory(PAGE, None),
     _advisory(PAGE.replace("some-advisory", "another"), "HSRC-202406-05"), False),
]


@pytest.mark.parametrize(("why", "a", "b", "same"), SAME_ADVISORY,
                         ids=[case[0] for case in SAME_ADVISORY])
def test_what_makes_two_copies_the_same_advisory(
    why: str, a: Advisory, b: Advisory, same: bool
) -> None:
    assert same_advisory(a, b) is same and same_advisory(b, a) is same


def test_new_packages_are_compared_only_with_those_they_may_be(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first cycle reads hundreds of packages, many of one version: each was compared with
    every new one before it (3,500 new items took 24 s). Only those sharing a download URL, a
    file name or (without a URL) a model are candidates; the others are never compared."""
    import bot.identity as identity

    compared: list[int] = []
    real = identity.same_item

    def counted(a: FirmwareRelease | Advisory, b: FirmwareRelease | Advisory) -> bool:
        compared.append(1)
        return real(a, b)

    monkeypatch.setattr(identity, "same_item", counted)
    packages = [_release("V5.7.13 build 230822", (f"DS-2CD{n:04}G2-I",),
                         f"https://dl.example.net/{n}/digicap.dav") for n in range(200)]
    mirror = _release("V5.7.13 build 230822", ("DS-2CD0007G2-I", "DS-2CD0007G2-IU"), None)
    packages.append(mirror)  # a mirror's copy of package 7, its model list grown
    named = _release("V5.7.13 build 230822", ("DS-2CD0300G2-I",),
                     "https://vendor.example.net/IPC_G2_V5.7.13_230822.zip")
    copied = _release("V5.7.13 build 230822", ("DS-2CD0300G2-I", "DS-2CD0301G2-I"),
                      "https://mirror.example.net/fw/IPC_G2_V5.7.13_230822.zip")
    packages += [named, copied]
    found = aliases({p.key: [p] for p in packages}, [])
    assert found == {mirror.key: packages[7].key, copied.key: named.key}
    assert len(compared) < 10
