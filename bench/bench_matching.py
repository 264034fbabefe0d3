"""Benchmark matching at fleet scale: 10,000 advisories against 1,000,000 device groups.

Targets (issue 5, "Figures"): a full re-evaluation of 10,000 advisories (1-20 affected rows
each) against 1,000,000 device groups in under 10 s; one new advisory in under 10 ms; peak memory
reported.

Usage: ``python bench/bench_matching.py [--groups N] [--advisories M] [--new K] [--seed S]``.

The data is synthetic, seeded (the same on every run) and shaped like a real Hikvision estate:

* Models are built from the vendor's real numbering: DS-2CD1/2/3/5/7 fixed cameras in the F, G0,
  G1, G2 and G3 generations (``DS-2CD2143G2-IS``, ``DS-2CD2T47G2-L``, ``DS-2CD3026G2-IS(C)``,
  ``DS-2CD2047G2-LU/SL``), DS-2DE and DS-2DF PTZ cameras (``DS-2DE4425IW-DE(T5)``,
  ``DS-2DF8C842IXS-AELW(T5)``), DS-2TD thermal, DS-71/72/76/77/96 recorders (``DS-7608NI-I2/8P``,
  ``DS-96064NI-I16``, ``DS-7616NXI-K2``), iDS- DeepinView cameras and DeepinMind NVRs
  (``iDS-7716NXI-M4/X``), DS-K1T access terminals, DS-KV/KH intercoms, DS-3E switches and
  HikCentral. Not every combination exists, as in the vendor's catalogue: a seeded share of each
  line's combinations is kept: 27,551 distinct models, 27,500 of them in the fleet. Model
  popularity is Zipf-like (best sellers in thousands of groups, a long tail in a few each).
* Device groups are real ``bot.fleets.DeviceGroup`` values (fleet, model, firmware, count, site),
  unique by key, over 2,000 fleets with Zipf-like sizes. Each product line runs its own firmware
  platform with a dated release history (``V5.7.13 build 230822`` for cameras, ``V4.30.096 build
  221220`` for NVRs, ``V3.2.30 build 220425``, ``V1.2.0_210823``, HikCentral ``2.6.0.20240511``),
  written in the forms seen in the field (``V5.7.13_230822``, ``V4.30.096build221220``, no build);
  a model only runs firmware released after its launch, a third of groups stay on the firmware it
  shipped with. About 2% of groups have no firmware recorded, a few have an unreadable one: 3,181
  distinct firmware strings in all.
* Advisories date from 2017 to 2026 and name 1-3 CVEs (CVSS 3.1 or 4.0-only, a few in KEV). Each
  has 1-20 rows drawn from one to three product lines; a row's product cell is an exact model, a
  base model (every suffix), or a wildcard family as in DOMAIN.md (``DS-2CD2xx3G2``,
  ``DS-2CD21x3G2``, ``DS-76xxNI-Ix``, ``DS-96xxxNI-Ix``, ``iDS-77xxNXI-Mx/X``), sometimes two
  entries in one cell or an optional bracket (``-I(S)``). The affected-version wording is the
  real advisories' ("Versions below V5.5.800 (including V5.5.800)", "between … and …", "after …
  and before … (not including …)" with full-width brackets, "… and the versions prior to it",
  "Build date before 250807", "V5.X ≤ …", "lessThan …"), bounded by the release that was current
  when the advisory came out; the fixed version is the next release (or N/A). A few rows are
  unreadable (review needed). Product lines in wide use are likelier to be named. A row entry
  covers a median of ~150 device groups (p75 ~600, p90 ~2,500, p99 ~11,000); the figures print
  that distribution, and the number of findings produced (about 36 million).
* A catalog (launch and discontinuation dates for a quarter of the models plus family patterns)
  and a download centre (the latest firmware for 1,500 models) complete the context, so the
  stage, the fix promise and the download link are worked out as ``firmwatch check`` does.

Measured (wall time and this process's CPU time): the index build; the full re-evaluation as
``evaluate`` runs it, with the collector paused: the time inside ``advisories_findings`` for every
advisory (rows judged 256 advisories at a time; findings counted by status per batch, every field
worked out, the per-group objects not made), then every release's "update available" findings (what
each resolves worked out once for the cycle, `AdvisoryFixes`; a group told of its model's newest
release only, as `release_outcome`; each finding made) and the lifecycle
reminders over every device group; first in the process (every product cell and wording parsed once)
and again as the next cycle of a long-running process would (a new index and catalog, texts already
parsed), with the share spent judging the rows; what making every finding object would add (a sample
of advisories, scaled up); one new advisory on the built index (median and p99 over ``--new``
advisories, and the same as the first advisories after an index build); the per-row candidate
look-up (a pattern's first look-up and a repeated one); the peak RSS (``resource.getrusage``).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import itertools
import os
import random
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial

from bot.catalog import Catalog, CatalogEntry, ModelPattern, normalize_model, parse_patterns
from bot.context import Context
from bot.findings import advisories_findings, advisory_findings
from bot.fixes import AdvisoryFixes
from bot.fleets import DeviceGroup
from bot.items import Advisory, AffectedRow, CveInfo, FirmwareRelease, score_vector
from bot.lifecycle import reminder_findings
from bot.matching import FleetIndex, RowMatch, RowSpans, gc_paused
from bot.releasefindings import release_outcome
from bot.releaseindex import release_index

TODAY = date(2026, 11, 28)
FULL_TARGET_S = 10.0
NEW_TARGET_MS = 10.0

# ----------------------------------------------------------------------------------------------
# Firmware platforms: a dated release history each.


@dataclass(frozen=True)
class Release:
    """One firmware release of a platform: its version text and build date."""

    version: str
    build: date


@dataclass
class Platform:
    """A firmware platform: (major, minor, first year, last year) branches and a version style."""

    name: str
    branches: tuple[tuple[int, int, int, int], ...]
    style: str  # "ipc", "nvr", "plain", "underscore", "hikcentral"
    releases: list[Release] = field(default_factory=list)

    def generate(self, rng: random.Random) -> None:
        for major, minor, first, last in self.branches:
            day = date(first, 1, 1) + timedelta(days=rng.randint(0, 120))
            patch = rng.choice((0, 0, 1, 5, 10, 50))
            end = min(date(last, 12, 31), TODAY)
            while day <= end:
                self.releases.append(Release(self._text(major, minor, patch), day))
                step = rng.randint(1, 4) if self.style == "ipc" else rng.choice((1, 1, 2, 3, 5, 10))
                patch += step
                day += timedelta(days=rng.randint(45, 130))
        self.releases.sort(key=lambda r: r.build)

    def _text(self, major: int, minor: int, patch: int) -> str:
        if self.style == "nvr":
            return f"V{major}.{minor:02d}.{patch:03d}"
        if self.style == "hikcentral":
            return f"{major}.{minor}.{patch % 10}"
        return f"V{major}.{minor}.{patch}"

    def written(self, release: Release, rng: random.Random) -> str:
        """The firmware string as a fleet export shows it, in one of the forms seen in the field."""
        yymmdd = release.build.strftime("%y%m%d")
        if self.style == "hikcentral":
            return f"{release.version}.{release.build.strftime('%Y%m%d')}"
        if self.style == "underscore":
            return f"{release.version}_{yymmdd}"
        forms = (
            (f"{release.version} build {yymmdd}", 55),
            (f"{release.version}_{yymmdd}", 8),
            (f"{release.version}build{yymmdd}", 10),
            (f"{release.version} build{yymmdd}", 5),
            (release.version, 20),
            (release.version.lower(), 2),
        )
        return rng.choices([f for f, _ in forms], [w for _, w in forms])[0]


def platforms(rng: random.Random) -> dict[str, Platform]:
    ipc = "ipc"
    table = [
        Platform("ipc-f", ((5, 2, 2014, 2015), (5, 3, 2015, 2016), (5, 4, 2016, 2018),
                           (5, 5, 2018, 2021)), ipc),
        Platform("ipc-g0", ((5, 4, 2017, 2018), (5, 5, 2018, 2020), (5, 6, 2020, 2022),
                            (5, 7, 2022, 2024)), ipc),
        Platform("ipc-g2", ((5, 5, 2019, 2021), (5, 6, 2021, 2022), (5, 7, 2022, 2024),
                            (5, 8, 2024, 2026)), ipc),
        Platform("ipc-g3", ((5, 7, 2023, 2024), (5, 8, 2024, 2026)), ipc),
        Platform("ipc-deep", ((5, 5, 2017, 2020), (5, 6, 2020, 2022), (5, 7, 2022, 2026)), ipc),
        Platform("ptz", ((5, 4, 2016, 2018), (5, 5, 2018, 2020), (5, 6, 2020, 2022),
                         (5, 7, 2022, 2024), (5, 8, 2024, 2026)), ipc),
        Platform("thermal", ((5, 5, 2018, 2023), (5, 6, 2023, 2026)), ipc),
        Platform("nvr", ((4, 1, 2016, 2017), (4, 22, 2018, 2019), (4, 30, 2019, 2021),
                         (4, 31, 2021, 2021), (4, 40, 2021, 2022), (4, 61, 2022, 2023),
                         (4, 62, 2023, 2023), (4, 74, 2023, 2024), (4, 76, 2024, 2026)), "nvr"),
        Platform("nvr-i", ((4, 1, 2016, 2018), (4, 30, 2018, 2021), (4, 40, 2021, 2022),
                           (4, 71, 2022, 2024), (4, 84, 2024, 2026)), "nvr"),
        Platform("nxi", ((4, 61, 2021, 2022), (4, 71, 2022, 2023), (5, 1, 2023, 2024),
                         (5, 2, 2024, 2026)), "nvr"),
        Platform("dvr", ((4, 21, 2017, 2019), (4, 32, 2019, 2021), (4, 70, 2021, 2023),
                         (4, 82, 2023, 2026)), "nvr"),
        Platform("access", ((3, 2, 2019, 2021), (3, 3, 2021, 2023), (3, 14, 2023, 2026)), "plain"),
        Platform("intercom", ((2, 1, 2018, 2020), (2, 2, 2020, 2026)), "plain"),
        Platform("switch", ((1, 1, 2019, 2021), (1, 2, 2021, 2026)), "underscore"),
        Platform("hikcentral", ((1, 7, 2020, 2022), (2, 3, 2022, 2023), (2, 6, 2023, 2026)),
                 "hikcentral"),
    ]
    for p in table:
        p.generate(rng)
    return {p.name: p for p in table}


# ----------------------------------------------------------------------------------------------
# Models: segments of the real numbering, so that advisory patterns can generalise them.

# A model is a tuple of segments (text, kind): "lit" fixed text, "dig" a digit position that an
# advisory may write as x, "tail" a suffix an advisory may leave out (it then covers every suffix).
Segments = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ModelSpec:
    """One model of the catalogue: segments, firmware platform, launch date and popularity."""

    segments: Segments
    platform: str
    launched: date
    popularity: float = 0.0  # Zipf-like: 1 / (rank + 8)

    @property
    def name(self) -> str:
        return "".join(text for text, _ in self.segments)


def _pick(rng: random.Random, pool: Sequence[str], k_max: int) -> list[str]:
    return rng.sample(list(pool), rng.randint(1, min(k_max, len(pool))))


def camera_models(rng: random.Random) -> list[tuple[Segments, str, int]]:
    """DS-2CD fixed cameras: line, form, resolution, feature, generation, suffix, variant."""
    out: list[tuple[Segments, str, int]] = []
    gens = {
        "F": ("ipc-f", 2014, 2018, "12345", 0.30),
        "G0": ("ipc-g0", 2017, 2021, "12357", 0.40),
        "G1": ("ipc-g0", 2018, 2021, "1235", 0.25),
        "G2": ("ipc-g2", 2019, 2025, "12357", 0.55),
        "G3": ("ipc-g3", 2023, 2026, "2357", 0.30),
    }
    forms = "0123456789"
    letters = "THD"
    suffixes = ("I", "IS", "IU", "ISU", "IW", "IWS", "IZS", "IZSU", "LIU", "LIS", "LISU", "LIZS",
                "LIZSU", "IZHS", "IZHSY", "L", "LU", "2I", "4I", "4IZSU", "IF", "IWF", "LSU")
    variants = ("", "", "", "", "(C)", "(D)", "(B)", "/SL", "/SL(C)", "(O-STD)")
    for gen, (plat, first, last, lines, keep) in gens.items():
        for line in lines:
            for form in forms + letters:
                if form in letters and gen in ("F", "G0"):
                    continue
                for res in "12345678":
                    for feat in "0123567":
                        if rng.random() > keep:
                            continue
                        head: Segments = (
                            ("DS-2CD", "lit"), (line, "lit"),
                            (form, "dig" if form.isdigit() else "lit"),
                            (res, "dig"), (feat, "lit"),
                            (gen if gen != "F" else rng.choice(("F", "FWD", "FWD")), "lit"),
                        )
                        year = rng.randint(first, last)
                        for suffix in _pick(rng, suffixes, 8):
                            variant = rng.choice(variants)
                            tail: Segments = ((f"-{suffix}", "tail"),)
                            if variant:
                                tail += ((variant, "tail"),)
                            out.append((head + tail, plat, year))
    return out


def other_models(rng: random.Random) -> list[tuple[Segments, str, int]]:
    """PTZ, thermal, recorders, iDS-, access control, intercoms, switches, HikCentral."""
    out: list[tuple[Segments, str, int]] = []

    def add(head: Segments, tails: Sequence[str], plat: str, first: int, last: int) -> None:
        year = rng.randint(first, last)
        for tail in _pick(rng, tails, 4):
            out.append((head + (((tail, "tail"),) if tail else ()), plat, year))

    for size in "234567":
        for a in ("", "A"):
            for res in "24":
                for zoom in ("04", "15", "20", "25", "32", "36", "40", "42"):
                    for ir in ("I", "IW", "IX", "IXW"):
                        if rng.random() < 0.5:
                            add((("DS-2DE", "lit"), (size, "dig"), (a, "lit"), (res, "dig"),
                                 (zoom, "lit"), (ir, "lit")),
                                ("-DE", "-AE", "-DE3", "-DE(S5)", "-DE(T5)", "-AE(S6)"),
                                "ptz", 2016, 2025)
    for size in "6789":
        for c in ("", "C", "A"):
            for res in "248":
                for zoom in ("25", "32", "36", "42", "50"):
                    if rng.random() < 0.6:
                        add((("DS-2DF", "lit"), (size, "dig"), (c, "lit"), (res, "dig"),
                             (zoom, "lit"), ("IXS", "lit")),
                            ("-AEL", "-AELW", "-AELWY", "-AEL(T5)", "-AELW(T5)", "-AELY(T3)"),
                            "ptz", 2016, 2025)
    for a in "124":
        for b in "1236":
            for c in "1378":
                for d in "78":
                    if rng.random() < 0.5:
                        add((("DS-2TD", "lit"), (a, "dig"), (b, "dig"), (c, "lit"), (d, "lit")),
                            ("-2/PA", "-3/QA", "-7/PY", "-10/PA", "-15/V1", "-25/W"),
                            "thermal", 2018, 2025)
    nvr_tails = ("", "/4P", "/8P", "/16P", "(C)", "(D)", "(B)", "/8P(C)", "/16P(B)")
    for series, channels in (("76", ("04", "08", "16", "32")), ("77", ("16", "32", "64")),
                             ("71", ("04", "08", "16"))):
        for ch in channels:
            for kind in ("NI", "NXI"):
                for model in ("K1", "K2", "Q1", "Q2", "I2", "I4", "M2", "M4", "E1", "E2", "K4"):
                    if rng.random() < 0.55:
                        plat = "nvr-i" if model[0] in "IM" else "nvr"
                        plat = "nxi" if kind == "NXI" else plat
                        add((("DS-", "lit"), (series, "lit"), (ch[0], "dig"), (ch[1], "dig"),
                             (kind, "lit"), ("-", "lit"), (model[0], "lit"), (model[1], "dig")),
                            nvr_tails, plat, 2016, 2025)
    for ch in ("16", "32", "64"):
        for model in ("I8", "I16", "M8", "M16"):
            add((("DS-96", "lit"), (ch[0], "dig"), (ch[1], "dig"), ("NI-", "lit"),
                 (model[0], "lit"), (model[1:], "dig")), ("", "/H", "(B)"), "nvr-i", 2016, 2024)
    for ch in ("064", "128", "256"):
        for model in ("I16", "I24"):
            add((("DS-96", "lit"), (ch, "dig"), ("NI-", "lit"), (model[0], "lit"),
                 (model[1:], "dig")), ("", "/H", "(B)"), "nvr-i", 2017, 2024)
    for ch in ("04", "08", "16", "32"):
        for kind in ("HGHI", "HQHI", "HUHI", "HTHI"):
            for model in ("K1", "K2", "M1", "M2"):
                if rng.random() < 0.7:
                    add((("DS-72", "lit"), (ch[0], "dig"), (ch[1], "dig"), (kind, "lit"),
                         ("-", "lit"), (model[0], "lit"), (model[1], "dig")),
                        ("", "/P", "/E", "(S)", "(C)"), "dvr", 2017, 2025)
    for series, ch in (("77", "16"), ("77", "32"), ("96", "32"), ("96", "64")):
        for model in ("M4", "I4", "M8", "I8", "I16"):
            add((("iDS-", "lit"), (series, "lit"), (ch[0], "dig"), (ch[1], "dig"),
                 ("NXI-", "lit"), (model[0], "lit"), (model[1:], "dig")),
                ("/X", "/16P/X", "/16S", "/X(B)"), "nxi", 2020, 2025)
    for size in "12":
        for a in ("", "A"):
            for res in "248":
                for feat in "68":
                    add((("iDS-2CD7", "lit"), (a, "lit"), (size, "dig"), (res, "dig"),
                         (feat, "lit"), ("G0", "lit")),
                        ("-IZHS", "-IZHSY", "-IZHSRY", "-IZS", "-IZHS(C)"), "ipc-deep", 2017, 2024)
    for num in ("341", "342", "343", "671", "672", "673", "680", "690"):
        for opt in ("", "A", "B"):
            for kind in ("M", "MF", "MW", "MX", "EF", "EWX", "AMF"):
                if rng.random() < 0.5:
                    add((("DS-K1T", "lit"), (num, "dig"), (opt + kind, "lit")),
                        ("", "-L", "(B)"), "access", 2019, 2025)
    for kind, nums, tails in (("KV", ("6113", "8113", "8213", "8413", "9503"),
                               ("-WME1", "-WPE1", "-IME1", "-E1(B)", "-WME1(C)")),
                              ("KH", ("6320", "6350", "8520", "9510"),
                               ("-WTE1", "-TE1", "-WTE2", "-WTE1(B)"))):
        for num in nums:
            add(((f"DS-{kind}", "lit"), (num, "dig")), tails, "intercom", 2018, 2025)
    for ports in ("0105", "0106", "0109", "0310", "0318", "0326", "0510", "0520", "1309", "1510",
                  "1526"):
        for poe in ("P", "HP", ""):
            add((("DS-3E", "lit"), (ports, "dig"), (poe, "lit")), ("-E", "-E/M", "-S"),
                "switch", 2019, 2025)
    out.append(((("HikCentral Professional", "lit"),), "hikcentral", 2020))
    return out


def model_catalogue(rng: random.Random) -> list[ModelSpec]:
    seen: set[str] = set()
    specs: list[ModelSpec] = []
    for segments, plat, year in camera_models(rng) + other_models(rng):
        spec = ModelSpec(segments, plat, date(year, rng.randint(1, 12), rng.randint(1, 28)))
        key = normalize_model(spec.name)
        if key not in seen:
            seen.add(key)
            specs.append(spec)
    ranks = list(range(len(specs)))
    rng.shuffle(ranks)
    return [
        ModelSpec(s.segments, s.platform, s.launched, 1.0 / (rank + 8.0))
        for s, rank in zip(specs, ranks, strict=True)
    ]


# ----------------------------------------------------------------------------------------------
# Fleets.


def zipf_weights(n: int, s: float, offset: float) -> list[float]:
    """Cumulative Zipf-like weights 1/(rank+offset)^s over n items."""
    total, out = 0.0, []
    for rank in range(n):
        total += 1.0 / (rank + offset) ** s
        out.append(total)
    return out


def make_groups(
    rng: random.Random, n: int, specs: list[ModelSpec], plats: dict[str, Platform]
) -> list[DeviceGroup]:
    """n device groups, unique by key (fleet, model, firmware with case folded, site)."""
    order = specs
    model_cum = list(itertools.accumulate(s.popularity for s in specs))
    fleets = [f"tenant-{i:04d}" for i in range(2_000)]
    fleet_cum = zipf_weights(len(fleets), 0.9, 5.0)
    normal = {spec.name: normalize_model(spec.name) for spec in specs}
    shipped: dict[str, list[Release]] = {}
    for spec in specs:
        after = [r for r in plats[spec.platform].releases if r.build >= spec.launched]
        shipped[spec.name] = after or plats[spec.platform].releases[-1:]
    batch = 4096
    groups: dict[str, DeviceGroup] = {}
    while len(groups) < n:
        picks = rng.choices(order, cum_weights=model_cum, k=batch)
        owners = rng.choices(fleets, cum_weights=fleet_cum, k=batch)
        for spec, fleet in zip(picks, owners, strict=True):
            if len(groups) >= n:
                break
            releases = shipped[spec.name]
            roll = rng.random()
            firmware: str | None
            if roll < 0.02:
                firmware = None
            elif roll < 0.023:
                firmware = rng.choice(("unknown", "V5.5.8OO", "latest", "see label"))
            else:
                stuck = rng.random() < 0.33
                idx = rng.randrange(min(3, len(releases))) if stuck else rng.randrange(
                    len(releases)
                )
                firmware = plats[spec.platform].written(releases[idx], rng)
            site = f"Site {rng.randint(1, 60 if fleet < 'tenant-0100' else 8)}"
            group = DeviceGroup(
                fleet, normal[spec.name], spec.name, firmware, rng.randint(1, 40), site
            )
            if group.key not in groups:  # as the registry: one group per key
                groups[group.key] = group
    return list(groups.values())


# ----------------------------------------------------------------------------------------------
# Advisories, catalog and download centre.

VECTORS = [
    score_vector(v)
    for v in (
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  # 9.8
        "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H",  # 7.2
        "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N",  # 6.5
        "CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",  # 4.3
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N",  # 4.2
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "CVSS:4.0/AV:A/AC:L/AT:N/PR:L/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N",
    )
]


def pattern_of(spec: ModelSpec, rng: random.Random) -> str:
    """A product cell naming spec's model or a family around it, as advisory tables do."""
    segs = list(spec.segments)
    head = [s for s in segs if s[1] != "tail"]
    tails = [s for s in segs if s[1] == "tail"]
    digits = [i for i, s in enumerate(head) if s[1] == "dig"]
    roll = rng.random()
    if roll < 0.10 or not digits:  # one exact model (as written, or with an optional bracket)
        text = spec.name
        if tails and rng.random() < 0.15 and "(" not in text:
            text += "(W)"
        return text
    if roll < 0.40:  # the base model: every suffix
        chosen: list[int] = []
    elif roll < 0.82:  # one digit wildcarded (DS-2CD21x3G2)
        chosen = [rng.choice(digits)]
    else:  # the family (DS-2CD2xx3G2, DS-76xxNI-Ix)
        chosen = digits
    parts = ["x" * len(t) if i in chosen else t for i, (t, _) in enumerate(head)]
    text = "".join(parts)
    if tails and rng.random() < 0.25:
        text += tails[0][0].split("(")[0]
    return text


def affected_wording(
    rng: random.Random, releases: list[Release], when: date
) -> tuple[str, str]:
    """(affected, fixed) cells for an advisory published on `when`."""
    later = [i for i, r in enumerate(releases) if r.build > when]
    # The release current when the advisory came out is the last vulnerable one (the first
    # release, for an advisory older than the platform); the next one, if any, is the fix.
    fixed_idx = max(later[0], 1) if later else None
    last_idx = (fixed_idx if fixed_idx is not None else len(releases)) - 1
    last = releases[last_idx]
    first = releases[rng.randint(0, last_idx)]

    def v(r: Release) -> str:
        return f"{r.version} build {r.build:%y%m%d}" if rng.random() < 0.1 else r.version

    lv, fv = v(last), v(first)
    if fixed_idx is None:
        fixed_cell = rng.choice(("N/A", "Contact local support", "To be released"))
        fix = None
    else:
        fix = releases[fixed_idx]
        fixed_cell = rng.choice((f"{fix.version} build {fix.build:%y%m%d}", fix.version,
                                 f"{fix.version} and later"))
    major = last.version.lstrip("V").split(".")[0]
    forms: list[str] = [
        f"Versions below {lv} (including {lv})",
        f"Versions between {fv} and {lv}",
        f"{lv} and the versions prior to it",
        f"Version {lv}",
        f"V{major}.X ≤ {last.version}",
    ]
    if fix is not None:
        forms += [
            f"Versions below {fix.version}",
            f"Versions after {first.version} (including {first.version}) and before "
            f"{fix.version}\uff08not including {fix.version}\uff09",
            f"Build date before {fix.build:%y%m%d}",
            f"lessThan {fix.version}",
        ]
    weights = [30, 15, 15, 4, 3, 15, 10, 5, 3][: len(forms)]
    text = rng.choices(forms, weights)[0]
    if rng.random() < 0.002:
        text = "See the release notes of the affected models"  # unreadable: review needed
    return text, fixed_cell


def make_advisories(
    rng: random.Random,
    n: int,
    specs: list[ModelSpec],
    plats: dict[str, Platform],
    prefix: str = "HSRC",
) -> list[Advisory]:
    by_platform: dict[str, list[ModelSpec]] = {}
    for spec in specs:
        by_platform.setdefault(spec.platform, []).append(spec)
    # An advisory is likelier to concern a product line in wide use: seed models are drawn
    # with the square root of their popularity.
    seed_cum = {
        p: list(itertools.accumulate(s.popularity**0.5 for s in models))
        for p, models in by_platform.items()
    }

    def seed(plat: str) -> ModelSpec:
        return rng.choices(by_platform[plat], cum_weights=seed_cum[plat])[0]

    names = sorted(by_platform)
    weights = [len(by_platform[p]) ** 0.5 for p in names]
    span = (TODAY - date(2017, 1, 1)).days
    out: list[Advisory] = []
    for i in range(n):
        when = date(2017, 1, 1) + timedelta(days=rng.randrange(span))
        cves = tuple(
            CveInfo(
                f"CVE-{when.year}-{rng.randint(10000, 59999)}",
                (rng.choice(VECTORS),),
                kev_added=when + timedelta(days=30) if rng.random() < 0.01 else None,
            )
            for _ in range(rng.choices((1, 2, 3), (70, 20, 10))[0])
        )
        lines = set(rng.choices(names, weights, k=rng.choices((1, 2, 3), (60, 30, 10))[0]))
        rows: list[AffectedRow] = []
        for _ in range(rng.randint(1, 20)):
            plat = rng.choice(sorted(lines))
            product = pattern_of(seed(plat), rng)
            if rng.random() < 0.1:
                product += ", " + pattern_of(seed(plat), rng)
            if rng.random() < 0.002:
                product += " cameras and related"  # prose: the sources could not read the cell
            affected, fixed = affected_wording(rng, plats[plat].releases, when)
            cve = rng.choice(cves).id if rng.random() < 0.7 else None
            rows.append(AffectedRow(product, cve, affected, fixed))
        out.append(
            Advisory(
                key=f"{prefix}-{when:%Y%m}-{i:05d}",
                title=f"Security advisory {i}",
                url=f"https://www.hikvision.com/en/support/cybersecurity/security-advisory/a{i}/",
                published=when,
                cves=cves,
                rows=tuple(rows),
            )
        )
    return out


def make_catalog(rng: random.Random, specs: list[ModelSpec]) -> Catalog:
    entries: list[CatalogEntry] = []
    for spec in rng.sample(specs, len(specs) // 4):
        stop = spec.launched + timedelta(days=rng.randint(900, 2900))
        entries.append(CatalogEntry(spec.name, spec.launched, stop if stop < TODAY else None,
                                    "fleet import"))
    families: tuple[tuple[str, date, date | None], ...] = (
        ("DS-2CD3xx1G0", date(2017, 3, 1), date(2022, 6, 30)),
        ("DS-2CD3xx6G2", date(2020, 5, 1), None),
        ("DS-2CD3xx1G2", date(2020, 1, 15), date(2025, 1, 1)),
        ("DS-2CD5xx6G0", date(2017, 9, 1), date(2023, 3, 31)),
        ("DS-2CD7xxxG0", date(2017, 6, 1), None),
        ("DS-2DF8xxxIXS", date(2018, 2, 1), None),
        ("DS-76xxNI-Ix", date(2018, 1, 1), date(2024, 12, 31)),
        ("DS-77xxNI-Ix", date(2018, 1, 1), None),
        ("DS-96xxxNI-Ix", date(2017, 5, 1), None),
        ("iDS-77xxNXI-Mx/X", date(2021, 4, 1), None),
    )
    for family, launched, ended in families:
        entries.append(CatalogEntry(family, launched, ended, "bot.toml"))
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.pattern not in seen:
            seen.add(entry.pattern)
            unique.append(entry)
    return Catalog(unique)


def make_releases(
    rng: random.Random, specs: list[ModelSpec], plats: dict[str, Platform], n: int
) -> list[FirmwareRelease]:
    by_base: dict[str, list[ModelSpec]] = {}
    for spec in specs:
        base = "".join(t for t, kind in spec.segments if kind != "tail")
        by_base.setdefault(base, []).append(spec)
    out = []
    for i, base in enumerate(rng.sample(sorted(by_base), min(n, len(by_base)))):
        models = tuple(s.name for s in by_base[base][:8])
        latest = plats[by_base[base][0].platform].releases[-1]
        out.append(
            FirmwareRelease(
                key=f"fw-{i}",
                title=f"{base} firmware {latest.version}",
                models=models,
                version=f"{latest.version} build {latest.build:%y%m%d}",
                released=latest.build,
                download_url=f"https://www.hikvision.com/dl/Firmware__{latest.version}_{i}.zip",
                notes_url=f"https://www.hikvision.com/dl/notes_{i}.pdf",
            )
        )
    return out


# ----------------------------------------------------------------------------------------------
# Measurement.


def peak_rss_mib() -> float:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass
class Clock:
    """Wall-clock and CPU time, summed over the stretches it is running."""

    wall: float = 0.0
    cpu: float = 0.0

    @contextmanager
    def running(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s (CPU {self.cpu:.2f} s)"


def machine_reference() -> float:
    """Seconds a fixed pure-Python workload shaped like matching takes (dict look-ups, bisection,
    small tuples, list appends): printed at the start of a run, so that figures from different
    machines can be told apart from changes in the code. It is printed at the end too, where it
    runs beside the run's big heap and is typically about 1.5 times slower."""
    keys = [f"DS-2CD{n:05d}G2-I" for n in range(50_000)]
    table = dict(zip(keys, range(len(keys)), strict=True))
    ordered = sorted(keys)
    out: list[tuple[str, int, int]] = []
    best = float("inf")
    for _ in range(3):  # the best of three: the first run also warms the caches
        start = time.process_time()
        for _ in range(4):
            for key in keys:
                at = bisect.bisect_left(ordered, key)
                out.append((key, table.get(key, -1), at))
            out.clear()
        best = min(best, time.process_time() - start)
    return best


def timed_ms(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<42} {value:>30}  {note}", flush=True)


@dataclass
class Cycle:
    """One full re-evaluation, as `bot.evaluate.evaluate` runs it, timed part by part."""

    advisories: Clock = field(default_factory=Clock)
    releases: Clock = field(default_factory=Clock)
    reminders: Clock = field(default_factory=Clock)
    statuses: Counter[str] = field(default_factory=Counter)
    counts: list[int] = field(default_factory=list)  # findings per advisory
    release_findings: int = 0
    reminder_findings: int = 0

    @property
    def wall(self) -> float:
        return self.advisories.wall + self.releases.wall + self.reminders.wall

    @property
    def cpu(self) -> float:
        return self.advisories.cpu + self.releases.cpu + self.reminders.cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s (CPU {self.cpu:.2f} s)"


def full_run(
    advisories: Sequence[Advisory],
    index: FleetIndex,
    ctx: Context,
    releases: Sequence[FirmwareRelease],
    groups: Sequence[DeviceGroup],
) -> Cycle:
    """Every advisory's findings, every release's and the lifecycle reminders, as a
    `firmwatch check` cycle makes them (timed per call).

    Batches of advisory findings are counted by status, not read: reading them (making a
    finding object per device group) is timed on its own. Release and reminder findings are
    made as the cycle makes them, one object each.
    """
    cycle = Cycle()
    with gc_paused():  # as `bot.evaluate.evaluate` runs a cycle
        with cycle.advisories.running():  # as `evaluate` makes them
            lookup = release_index(releases)
            made = advisories_findings(advisories, index, ctx, lookup)
        for _ in advisories:
            with cycle.advisories.running():
                found = next(made)
            cycle.counts.append(len(found))
            cycle.statuses.update(found.by_status())
            del found  # freed here, outside the timing
        with cycle.releases.running():
            fixes = AdvisoryFixes.for_releases(advisories, index, releases)
            found_per_release = [  # as `evaluate`: only the newest release for each model
                release_outcome(r, index, ctx, advisories, fixes, lookup).findings
                for r in releases
            ]
        cycle.release_findings = sum(map(len, found_per_release))
        del found_per_release
        with cycle.reminders.running():
            cycle.reminder_findings = len(reminder_findings(groups, ctx))
    return cycle


def show_cycle(label: str, cycle: Cycle, note: str) -> None:
    """A cycle's line (against the target) and its parts."""
    met = "met" if cycle.wall < FULL_TARGET_S else "NOT met"
    line(label, str(cycle), f"target < {FULL_TARGET_S:.0f} s: {met}{note}")
    line("    advisories", str(cycle.advisories), f"({len(cycle.counts):,}, findings in batches)")
    line("    firmware releases", str(cycle.releases),
         f"({cycle.release_findings:,} update-available findings, each made; newest release"
         " per model)")
    line("    lifecycle reminders", str(cycle.reminders),
         f"({cycle.reminder_findings:,} findings over every device group)")


def judged_groups(advisory: Advisory, index: FleetIndex) -> int:
    """How many device groups an advisory's rows pick, judged as `advisory_findings` judges
    them (rows judged together, `FleetIndex.judge_rows`)."""
    all_cves: tuple[str | None, ...] = tuple(c.id for c in advisory.cves) or (None,)
    judged, segments = index.judge_rows(
        [(row, (row.cve,) if row.cve else all_cves) for row in advisory.rows]
    )
    picked = int((segments.stops - segments.starts).sum()) if segments is not None else 0
    for one in judged:
        if isinstance(one, RowMatch):
            picked += len(one.entries)
        elif isinstance(one, RowSpans):
            picked += sum(span.size for span in one.spans)
    return picked


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    """Run the benchmark, print the figures and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--groups", type=int, default=1_000_000)
    parser.add_argument("--advisories", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=300, help="new advisories timed one by one")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rng = random.Random(args.seed)
    plats = platforms(rng)
    specs = model_catalogue(rng)
    groups = make_groups(rng, args.groups, specs, plats)
    advisories = make_advisories(rng, args.advisories, specs, plats)
    fresh = make_advisories(random.Random(args.seed + 1), args.new, specs, plats, prefix="NEW")
    catalog = make_catalog(rng, specs)
    releases = make_releases(rng, specs, plats, 1_500)
    rows = sum(len(a.rows) for a in advisories)
    print(f"data generated in {time.perf_counter() - start:.1f} s: {len(specs):,} catalogue "
          f"models, {len(groups):,} device groups, {len(advisories):,} advisories ({rows:,} rows),"
          f" {len(catalog.entries()):,} catalog entries, {len(releases):,} firmware releases",
          flush=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (wall time suffers when the "
          "machine is shared; CPU time is this process alone)")
    figures: dict[str, float] = {"reference_s": machine_reference()}
    print(f"machine reference workload: {figures['reference_s']:.3f} s CPU (the same work on "
          "every run and machine: compare it before comparing figures across runs)", flush=True)
    gc.collect()
    print("figures (target beside):")

    # A cycle: build the index, then every advisory's findings.
    build = Clock()
    with build.running():
        index = FleetIndex.build(groups)
    figures["build_s"] = build.wall
    firmwares = len({g.firmware for g in groups})
    line("index build", str(build), f"({len(index.models):,} models, {firmwares:,} firmware)")
    ctx = Context(catalog, TODAY)
    first = full_run(advisories, index, ctx, releases, groups)
    statuses, counts = first.statuses, first.counts
    figures["full_first_s"] = first.wall
    figures["findings"] = float(sum(counts))
    figures["release_findings"] = float(first.release_findings)
    show_cycle(f"full re-evaluation, {len(advisories):,} advisories", first,
               " (first in this process: every product cell, wording and model read once)")
    line("  findings produced", f"{sum(counts):,}",
         "(advisories: " + ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items())) + ")")
    if counts:
        line("  findings per advisory", f"median {statistics.median(counts):,.0f}",
             f"p90 {pct(counts, 0.9):,}, max {max(counts):,}")
    # The next cycle of a long-running process: a new index and catalog, texts already read.
    del index
    gc.collect()
    with build.running():
        index = FleetIndex.build(groups)
    ctx = Context(Catalog(catalog.entries()), TODAY)
    again = full_run(advisories, index, ctx, releases, groups)
    figures["full_s"] = again.wall
    figures["full_advisories_s"] = again.advisories.wall
    figures["full_releases_s"] = again.releases.wall
    figures["full_reminders_s"] = again.reminders.wall
    show_cycle("  next cycle (new index and catalog)", again, "")
    reading, read = Clock(), 0
    sample = advisories[: max(1, len(advisories) // 20)]
    with gc_paused():
        for advisory in sample:
            found = advisory_findings(advisory, index, ctx, releases)
            with reading.running():
                read += len(list(found))
            del found
    if read:
        scale = sum(counts) / read
        figures["reading_s"] = reading.wall * scale
        line("  making every finding object", f"{figures['reading_s']:.1f} s more",
             f"(if every finding were read: {read:,} read in {reading.wall:.2f} s, scaled)")
    judging = Clock()
    with judging.running():
        judged = sum(map(judged_groups, advisories, itertools.repeat(index)))
    figures["judging_s"] = judging.wall
    line("  of which judging the rows", str(judging),
         f"({judged:,} group-row verdicts, in segments and spans; the rest is making the batches"
         " of findings: shared fields, stage, promise and release per row and model)")

    # One new advisory on the built index (its texts new to the process), then each of a few as
    # the first advisory after an index build (nothing memoised on the index yet).
    warm = [timed_ms(partial(advisory_findings, a, index, ctx, releases)) for a in fresh]
    cold: list[float] = []
    for advisory in fresh[:30]:  # each after re-deriving the index: a second or two apiece
        index.clear_caches()
        cold.append(timed_ms(partial(advisory_findings, advisory, index, ctx, releases)))
    if warm:
        figures["new_median_ms"] = statistics.median(warm)
        figures["new_p99_ms"] = pct(warm, 0.99)
        met = "met" if figures["new_p99_ms"] < NEW_TARGET_MS else "NOT met at p99"
        line(f"one new advisory ({len(warm)} of them)",
             f"median {figures['new_median_ms']:.2f} ms, p99 {figures['new_p99_ms']:.2f} ms",
             f"target < {NEW_TARGET_MS:.0f} ms: {met}")
        figures["cold_median_ms"] = statistics.median(cold)
        figures["cold_p99_ms"] = pct(cold, 0.99)
        line(f"  first after an index build ({len(cold)})",
             f"median {figures['cold_median_ms']:.2f} ms, p99 {figures['cold_p99_ms']:.2f} ms")
    # The per-row candidate look-up: first time a pattern is met, then again.
    patterns = [p for a in fresh for r in a.rows for p in _patterns(r.product)]
    if patterns:
        index.clear_caches()
        with gc_paused():  # as in a cycle: a full collection would land in one of the two
            once = timed_ms(lambda: [index.candidates(p) for p in patterns])
            sizes = [len(index.candidates(p)) for p in patterns]
            twice = timed_ms(lambda: [index.candidates(p) for p in patterns])
        figures["lookup_first_us"] = once / len(patterns) * 1000
        figures["lookup_again_us"] = twice / len(patterns) * 1000
        line(f"candidate look-up per row entry ({len(patterns):,})",
             f"first {figures['lookup_first_us']:,.0f} µs, again "
             f"{figures['lookup_again_us']:,.0f} µs")
        line("  device groups per row entry",
             f"median {statistics.median(sizes):,.0f}, p90 {pct(sizes, 0.9):,}",
             f"p99 {pct(sizes, 0.99):,}, max {max(sizes):,}")
    figures["peak_rss_mib"] = peak_rss_mib()
    line("peak memory (RSS)", f"{figures['peak_rss_mib']:,.0f} MiB", "(reported)")
    figures["reference_end_s"] = machine_reference()
    print(f"machine reference workload at the end: {figures['reference_end_s']:.3f} s CPU "
          f"(at the start: {figures['reference_s']:.3f} s; the end runs beside the run's 1 GB "
          "heap and is typically about 1.5 times slower: compare start figures across runs)")
    return figures


def _patterns(product: str) -> list[ModelPattern]:
    try:
        return list(parse_patterns(product))
    except ValueError:
        return []


if __name__ == "__main__":
    main()
