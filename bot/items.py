"""Typed items read from sources: advisories, firmware releases, NVD scores and KEV signals (pure).

Every item has a stable ``key`` and a ``revision``: a hash over its normalised content, so a
revised advisory (new score, new rows, new fixed version, KEV listing) is a new revision of the same
item and a cosmetic change (whitespace, tracking parameters, fetch time) is not.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, fields, is_dataclass
from datetime import date
from functools import cached_property, lru_cache
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

ItemKind = Literal["advisory", "firmware", "scores", "exploited"]
_TRACKING = re.compile(r"^(utm_\w+|fbclid|gclid|mc_cid|mc_eid|_ga|ref|source)$", re.I)
_CVE = re.compile(r"\bCVE-\d{4}-\d{4,}\b", re.I)


class ScoreError(ValueError):
    """A CVSS vector that the cvss package cannot read; the message quotes it."""


@dataclass(frozen=True)
class CvssScore:
    """One CVSS score: version, vector, base score and severity, and who published it."""

    version: str
    base_score: float
    severity: str
    vector: str | None = None
    source: str = "vendor"


@dataclass(frozen=True)
class CveInfo:
    """A CVE named by an item, with the scores known for it (the deciding score first)."""

    id: str
    scores: tuple[CvssScore, ...] = ()
    kev_added: date | None = None
    kev_due: date | None = None

    @cached_property  # read for every verdict made of the CVE; the record never changes
    def score(self) -> CvssScore | None:
        """The score that decides the policy: the vendor's (CNA's) v3.x, else any v3.x, else v4."""
        return pick_score(self.scores)


@dataclass(frozen=True)
class AffectedRow:
    """One row of an "Affected Versions and Fix" table, kept as the vendor wrote it.

    ``problem`` says why the row could not be understood; such rows are kept and flagged,
    never dropped and never turned into match-everything rules.
    """

    product: str
    cve: str | None
    affected: str
    fixed: str
    problem: str | None = None


@dataclass(frozen=True)
class Advisory:
    """A vendor security advisory."""

    key: str
    title: str
    url: str
    vendor_id: str | None = None
    published: date | None = None
    updated: date | None = None
    summary: str = ""
    cves: tuple[CveInfo, ...] = ()
    rows: tuple[AffectedRow, ...] = ()
    source: str = ""
    kind: Literal["advisory"] = "advisory"

    @cached_property
    def revision(self) -> str:
        """Hash of the normalised content (worked out once: the item is immutable)."""
        return revision_of(self)


@dataclass(frozen=True)
class FirmwareRelease:
    """A firmware package from the download centre or a firmware index."""

    key: str
    title: str
    models: tuple[str, ...]
    version: str
    released: date | None = None
    download_url: str | None = None
    notes_url: str | None = None
    checksum: str | None = None
    cves: tuple[str, ...] = ()
    security: bool = False
    source: str = ""
    kind: Literal["firmware"] = "firmware"

    @cached_property
    def revision(self) -> str:
        """Hash of the normalised content (worked out once: the item is immutable)."""
        return revision_of(self)


@dataclass(frozen=True)
class CpeMatch:
    """One NVD ``cpeMatch`` entry."""

    criteria: str
    vulnerable: bool = True
    start_including: str | None = None
    end_excluding: str | None = None
    end_including: str | None = None


@dataclass(frozen=True)
class ScoreRecord:
    """A CVE as NVD describes it: scores, KEV fields, CPE matches."""

    key: str
    published: date | None = None
    last_modified: str | None = None
    status: str = ""
    description: str = ""
    scores: tuple[CvssScore, ...] = ()
    kev_added: date | None = None
    kev_due: date | None = None
    cpes: tuple[CpeMatch, ...] = ()
    references: tuple[str, ...] = ()
    source: str = ""
    kind: Literal["scores"] = "scores"

    @cached_property
    def revision(self) -> str:
        """Hash of the normalised content (worked out once: the item is immutable)."""
        return revision_of(self)


@dataclass(frozen=True)
class ExploitSignal:
    """A CISA KEV entry: the CVE is exploited in the wild."""

    key: str
    vendor: str = ""
    product: str = ""
    name: str = ""
    date_added: date | None = None
    due_date: date | None = None
    ransomware: str = ""
    required_action: str = ""
    notes: str = ""
    source: str = ""
    kind: Literal["exploited"] = "exploited"

    @cached_property
    def revision(self) -> str:
        """Hash of the normalised content (worked out once: the item is immutable)."""
        return revision_of(self)


Item = Advisory | FirmwareRelease | ScoreRecord | ExploitSignal
ITEM_TYPES: dict[str, type[Advisory | FirmwareRelease | ScoreRecord | ExploitSignal]] = {
    "advisory": Advisory,
    "firmware": FirmwareRelease,
    "scores": ScoreRecord,
    "exploited": ExploitSignal,
}
_NOT_CONTENT = {"source", "kind", "last_modified"}


def score_vector(vector: str, source: str = "vendor") -> CvssScore:
    """Score a CVSS vector with the cvss package (v2, v3.0, v3.1, v4.0)."""
    return _score_cached(vector.strip(), source)


@lru_cache(maxsize=4096)
def _score_cached(vector: str, source: str) -> CvssScore:
    try:
        if vector.startswith("CVSS:4.0/"):
            v4 = CVSS4(vector)
            return CvssScore(
                "4.0", float(v4.base_score), str(v4.severity), v4.clean_vector(), source
            )
        if vector.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            v3 = CVSS3(vector)
            return CvssScore(
                vector[5:8],
                float(v3.scores()[0]),
                str(v3.severities()[0]),
                v3.clean_vector(),
                source,
            )
        v2 = CVSS2(vector.removeprefix("CVSS:2.0/"))
        return CvssScore(
            "2.0",
            float(v2.scores()[0]),
            _v2_severity(float(v2.scores()[0])),
            v2.clean_vector(),
            source,
        )
    except (CVSSError, ValueError, KeyError) as exc:
        raise ScoreError(f"cannot read CVSS vector {vector!r}: {exc}") from None


def _v2_severity(score: float) -> str:
    return "High" if score >= 7.0 else "Medium" if score >= 4.0 else "Low"


def pick_score(scores: tuple[CvssScore, ...]) -> CvssScore | None:
    """The score that decides the policy: vendor v3.x, any v3.x, vendor v4.0, any v4.0, any."""

    def rank(s: CvssScore) -> tuple[int, int]:
        family = 0 if s.version.startswith("3") else 1 if s.version == "4.0" else 2
        return (family, 0 if s.source == "vendor" else 1)

    return min(scores, key=rank) if scores else None


def find_cves(text: str) -> tuple[str, ...]:
    """Every CVE ID in a text, upper-cased, in order of first appearance."""
    return tuple(dict.fromkeys(m.upper() for m in _CVE.findall(text)))


def canonical_url(url: str) -> str:
    """A URL without tracking parameters or fragment, host lower-cased: the same page, one text."""
    parts = urlsplit(url.strip())
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if not _TRACKING.match(k)])
    path = parts.path if parts.path != "" else "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


# The path of a page on the vendor's site that is one advisory (any regional copy): its slug
# names it, so a query string on a link to it never makes it another advisory.
ADVISORY_PATH = re.compile(
    r"/support/cybersecurity/security-advisory/(?!index\.html?$)[^/]+(?:/|/index\.html?)?$",
    re.IGNORECASE,
)


def advisory_key(url: str) -> str:
    """The key of an advisory that shows no vendor ID (SN No.): its canonical URL, without the
    query string when the URL is a vendor advisory page (``ADVISORY_PATH``): a link that gains
    ``?lang=en`` still leads to the same advisory. Elsewhere (a mirror's ``view?id=12``) the
    query may be what names the page, and stays."""
    canonical = canonical_url(url)
    parts = urlsplit(canonical)
    if parts.query and ADVISORY_PATH.search(parts.path):
        return urlunsplit(parts._replace(query=""))
    return canonical


# Control characters (an ANSI escape rewrites the terminal it is printed on) and the
# bidirectional overrides and isolates (they show text in another order than it is).
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_PRINTED = {c: " " if chr(c).isspace() else None for c in _CONTROLS} | {ord("\n"): "\n"}


def normalize_text(text: str) -> str:
    """Collapse whitespace (including non-breaking and full-width spaces)."""
    return " ".join(text.replace("\u3000", " ").replace("\xa0", " ").split())


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: its lines, without control characters (other
    whitespace becomes a space) or bidirectional overrides. Text from sources is stored as it
    is; whatever prints it for people goes through here."""
    return text.translate(_PRINTED)


def revision_of(item: Item) -> str:
    """A short hash over the item's normalised content (not its source name or fetch metadata)."""
    content = {k: v for k, v in to_dict(item).items() if k not in _NOT_CONTENT}
    blob = json.dumps(_normalised(content), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


_URL = re.compile(r"https?://")


def _normalised(value: Any) -> Any:
    if isinstance(value, str):
        text = normalize_text(value)
        return canonical_url(text) if _URL.match(text) else text
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def to_dict(item: Item) -> dict[str, Any]:
    """The item as JSON-ready data (dates ISO) with its kind and revision.

    What ``dataclasses.asdict(item)`` gives with tuples as lists and dates in ISO form, without
    asdict's deep copy of every value (an item's values are immutable: text, numbers, dates and
    tuples of records).
    """
    data = _plain(item)
    assert isinstance(data, dict)
    return data


def _plain(value: Any) -> Any:
    """A record as a dict of its fields, tuples and lists as lists, dates ISO, recursively."""
    cls = type(value)
    names = _FIELD_NAMES.get(cls, ())
    if names == ():
        names = _FIELD_NAMES[cls] = (
            tuple(f.name for f in fields(cls)) if is_dataclass(cls) else None
        )
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.isoformat() if isinstance(value, date) else value


# Per type met: its dataclass fields' names, or None for a value that is not a dataclass.
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def to_json_dict(item: Item) -> dict[str, Any]:
    """``to_dict`` plus the revision, for output and storage."""
    return {**to_dict(item), "revision": item.revision}


T = TypeVar("T")


def from_dict(data: dict[str, Any]) -> Item:
    """Rebuild an item from ``to_dict``/``to_json_dict`` output."""
    cls = ITEM_TYPES[data["kind"]]
    return _build(cls, data)


_NESTED: dict[str, type[Any]] = {
    "cves": CveInfo,
    "rows": AffectedRow,
    "scores": CvssScore,
    "cpes": CpeMatch,
}


def _build(cls: type[T], data: dict[str, Any]) -> T:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        if isinstance(value, list):
            nested = _NESTED.get(f.name)
            value = tuple(_build(nested, v) if nested and isinstance(v, dict) else v for v in value)
        elif isinstance(value, str) and f.type in ("date | None", "date"):
            value = date.fromisoformat(value)
        kwargs[f.name] = value
    return cls(**kwargs)
