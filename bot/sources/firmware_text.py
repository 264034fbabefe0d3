"""The download portal's text layout for one firmware package → a FirmwareRelease (pure).

The layout as the portal and firmware feeds show it (labels in any case, either colon)::

    DS-2CD3xx1G2 Network Camera Firmware V5.7.15          ← title
    Applied to: DS-2CD3321G2-I, DS-2CD3121G2-I            ← may run on over several lines
    Version: V5.7.15 build 250101                         ← or only in the package file name
    Release date: 2025-01-13                              ← also 2025/01/13, 13 January 2025, …
    SHA256: 3f1c…                                         ← or MD5
    Fixed vulnerabilities: CVE-2021-36260 …               ← CVEs and "security" wording
    links: the package (.zip/.dav/.pak/.bin or a package file name) and a release-note PDF
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from posixpath import basename
from urllib.parse import unquote, urlsplit

from bot.catalog import ModelPattern, PatternError, display_model, parse_patterns
from bot.config import SourceSettings
from bot.items import FirmwareRelease, find_cves, normalize_text
from bot.sources.base import REQUEST_URL, ParseError, ParseResult
from bot.sources.html_text import PageText as PageText  # re-exported
from bot.sources.html_text import html_to_text as html_to_text  # re-exported
from bot.sources.html_text import parse_date as parse_date  # re-exported
from bot.versions import VersionError, parse_version

_LABEL = re.compile(
    r"^(?P<label>applied to|applies to|applicable (?:to|models?|products?)|models?|"
    r"product models?|firmware version|version|release date|released|date|"
    r"sha-?256|md5|release notes?|download)\s*[:\uff1a]\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_KIND = {"applied": "models", "applies": "models", "applicable": "models", "model": "models",
         "models": "models", "product": "models", "firmware": "version", "version": "version",
         "release date": "date", "released": "date", "date": "date", "sha256": "sha256",
         "sha-256": "sha256", "md5": "md5", "release note": "notes", "release notes": "notes",
         "download": "download"}
_MODEL_LINE = re.compile(r"^(?:[A-Za-z]{1,4}-[A-Za-z0-9][^,、;]*(?:[,、;]\s*|$))+$")
_PACKAGE_EXT = (".zip", ".dav", ".pak", ".bin")
_FILE_VERSION = re.compile(
    r"(?<![\d.])[Vv]?(\d{1,3}(?:\.\d{1,4}){2,3})(?:[ _]?(?:build)?[ _]?(\d{6}))?(?!\d)"
)
_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][\w.\-]*_[Vv]?\d{1,3}\.\d{1,4}\.\d{1,4}[\w.\-]*$")
_SECURITY = re.compile(  # English, plus the accented spellings of French/Spanish notes
    r"\b(?:s[eé]curit|vuln[eé]rabilit|exploit|HSRC-\d{6})", re.IGNORECASE
)
_URL = re.compile(r"https?://[^\s<>\"')]+")
_HEX = {"sha256": re.compile(r"\b[0-9a-fA-F]{64}\b"), "md5": re.compile(r"\b[0-9a-fA-F]{32}\b")}


class FirmwareTextError(ValueError):
    """A package description that cannot be read; the message quotes what was wrong."""


def read_package(
    lines: Sequence[str],
    links: Sequence[tuple[str, str]] = (),
    *,
    title: str = "",
    source: str = "",
    published: date | None = None,
) -> tuple[FirmwareRelease, list[str]]:
    """Read one package from text lines and (url, label) links: the release and notes on it.

    Links labelled ``enclosure`` count as the package even without a package-like name.
    Raises FirmwareTextError when the models or a readable version are missing.
    """
    fields, free = _fields(lines)
    notes: list[str] = []
    title = normalize_text(title) or (free[0] if free else "")
    models = _models(fields.get("models", ""))
    urls = [*links, *((u, "") for u in _URL.findall("\n".join(lines)))]
    download = _download(urls, fields.get("download", ""))
    file_name = _file_name(download) if download else ""
    version = _version(fields.get("version", ""), file_name, title)
    released = published
    if raw_date := fields.get("date"):
        stated = parse_date(raw_date)
        if stated is None:
            notes.append(f"cannot read the release date {raw_date!r}; using the entry's date")
        released = stated or published
    text = "\n".join([title, *free, fields.get("notes", "")])
    cves = find_cves(text)
    release = FirmwareRelease(
        key=package_key(models, version, download),
        title=title or f"Firmware {version}",
        models=models,
        version=version,
        released=released,
        download_url=download,
        notes_url=_notes(urls, fields.get("notes", "")),
        checksum=_checksum(fields),
        cves=cves,
        security=bool(cves) or _SECURITY.search(text) is not None,
        source=source,
    )
    return release, notes


def _fields(lines: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Split lines into labelled fields (model lines continue the models list) and prose."""
    fields: dict[str, str] = {}
    free: list[str] = []
    current = ""
    for line in lines:
        m = _LABEL.match(line)
        if m is None:
            if current == "models" and _MODEL_LINE.match(line):
                fields["models"] += "\n" + line
            elif current and not fields[current]:  # "Version:" alone, its value on the next line
                fields[current] = line
            else:
                current = ""
                free.append(line)
            continue
        label = m["label"].lower()
        current = _KIND.get(label) or _KIND.get(label.split()[0], "")
        value = m["value"].strip()
        fields[current] = f"{fields[current]}\n{value}" if current in fields else value
    return fields, free


def _models(text: str) -> tuple[str, ...]:
    """The applied-to list as sorted, de-duplicated entries (plain models normalised)."""
    if not text.strip():
        raise FirmwareTextError("no 'Applied to:' list of models")
    try:
        models = normalize_models(text.splitlines())
    except PatternError as exc:
        raise FirmwareTextError(f"cannot read the 'Applied to:' list: {exc}") from None
    if not models:
        raise FirmwareTextError("the 'Applied to:' list names no models")
    return models


def normalize_models(entries: Iterable[str]) -> tuple[str, ...]:
    """Model lists → sorted unique entries: plain models as the vendor writes them, patterns kept.

    Raises PatternError quoting an entry that is no model number or product pattern.
    """
    patterns = [p for entry in entries for p in parse_patterns(entry)]
    return tuple(sorted({_model_text(p) for p in patterns}))


def _model_text(pattern: ModelPattern) -> str:
    plain = pattern.as_model() is not None
    return display_model(pattern.raw) if plain else normalize_text(pattern.raw)


def package_key(models: Sequence[str], version: str, download_url: str | None) -> str:
    """A firmware package's stable key: its models, canonical version and package file name."""
    return "|".join([",".join(models), version, _file_name(download_url) if download_url else ""])


def _version(stated: str, file_name: str, title: str) -> str:
    """The canonical version: the 'Version:' line, else the file name, else the title."""
    from_file = _version_in(file_name)
    if stated:
        try:
            version = parse_version(stated.splitlines()[0])
        except VersionError:
            raise FirmwareTextError(f"cannot read the firmware version {stated!r}") from None
        if from_file and version.build is None:
            other = parse_version(from_file)
            if other.numbers == version.numbers and other.build is not None:
                return str(other)
        return str(version)
    found = from_file or _version_in(title)
    if found is None:
        raise FirmwareTextError("no 'Version:' line and no version in the file name or title")
    return str(parse_version(found))


def _version_in(text: str) -> str | None:
    m = _FILE_VERSION.search(text)
    if m is None:
        return None
    candidate = f"V{m[1]}" + (f" build {m[2]}" if m[2] else "")
    try:
        parse_version(candidate)
    except VersionError:  # six digits that are no date: not a build
        return f"V{m[1]}"
    return candidate


def _file_name(url: str) -> str:
    return unquote(basename(urlsplit(url).path))


def _web(url: str) -> bool:
    return urlsplit(url).scheme in ("http", "https")


def _download(links: Sequence[tuple[str, str]], stated: str) -> str | None:
    """The package: a stated 'Download:' URL, an enclosure, or a package-looking link."""
    found: list[str] = _URL.findall(stated)
    candidates = [(u, "enclosure") for u in found] + list(links)
    for url, label in candidates:
        name = _file_name(url)
        package = name.lower().endswith(_PACKAGE_EXT) or bool(_PACKAGE_NAME.match(name))
        enclosure = label == "enclosure" and not name.lower().endswith((".pdf", ".html", ".htm"))
        if _web(url) and (package or enclosure):
            return url
    return None


def _notes(links: Sequence[tuple[str, str]], stated: str) -> str | None:
    """The release notes: a stated URL, a PDF, or a link whose text says release note."""
    found: list[str] = _URL.findall(stated)
    candidates = [(u, "release notes") for u in found] + list(links)
    for url, text in candidates:
        pdf = _file_name(url).lower().endswith(".pdf")
        if _web(url) and (pdf or re.search(r"release\s*notes?", text, re.IGNORECASE)):
            return url
    return None


def _checksum(fields: Mapping[str, str]) -> str | None:
    for algo in ("sha256", "md5"):
        if (m := _HEX[algo].search(fields.get(algo, ""))) is not None:
            return f"{algo}:{m[0].lower()}"
    return None


def parse(body: bytes, headers: Mapping[str, str], source: SourceSettings) -> ParseResult:
    """Parse one package page (HTML or plain text) into a FirmwareRelease.

    Not a ``format`` of its own: the feed parser and future portal readers use
    :func:`read_package`; this entry point reads a saved package page for ``firmwatch fetch``.
    """
    text = body.decode("utf-8", errors="replace")
    base = headers.get(REQUEST_URL) or source.url
    if re.search(r"<(?:html|body|p|div|br|table)\b", text[:4096], re.IGNORECASE):
        page = html_to_text(text, base)
    else:
        lines = (normalize_text(line) for line in text.splitlines())
        page = PageText(tuple(line for line in lines if line), ())
    try:
        item, notes = read_package(page.lines, page.links, title=page.heading, source=source.name)
    except FirmwareTextError as exc:
        raise ParseError(f"not a firmware package description: {exc}") from None
    return ParseResult(items=[item], warnings=notes)
