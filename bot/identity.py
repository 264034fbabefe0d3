"""Which stored item a copy read this cycle is, when its key says otherwise (pure).

An item's key is made from what identifies it when first read: an advisory's SN No. (else its
page), a firmware package's models, version and file name. Some revisions change what the key is
made of: a package's "Applied to" list gains a model, an advisory that showed no SN No. shows one.
Keyed afresh, the revision would be a second item: alerted again as new news to every receiver,
while the first item's findings stay open. So a copy whose key is not stored is matched to a stored
item by evidence that does not change with such revisions, and takes that item's key:

- **Advisories**: the same vendor ID (SN No.); or, when one of the two shows none, the same vendor
  page (`bot.items.advisory_key` of their URLs). Two different SN Nos. are two advisories.
- **Firmware packages**: the same version, and the same package file: the same download URL; or,
  between a mirror's copy and the vendor's, the same file name when that name carries the version
  (``IPC_G2_EN_STD_V5.9.72_260713.zip``) and the model lists share a model. Names such as
  ``digicap.dav`` name no package: two of them at different URLs stay two packages. A copy
  without a download URL matches one of the same version whose models it shares.

The first key an item was stored under stays its key for good: alerts, findings, silences and
acknowledgements all refer to it, and the alert's ``item.id`` shows the vendor ID once known.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from posixpath import basename
from urllib.parse import unquote, urlsplit

from bot.items import Advisory, FirmwareRelease, Item, advisory_key, canonical_url
from bot.versions import VersionError, parse_version


def aliases(unknown: Mapping[str, Sequence[Item]], known: Sequence[Item]) -> dict[str, str]:
    """Each key of ``unknown`` (copies read this cycle under a key not stored) that is an item
    already known, mapped to that item's key: a stored item of ``known`` (the first that
    matches: list the most recently seen first), else an earlier key of ``unknown`` itself (two
    sources' first copies of one package). Keys that are new items are left out."""
    found: dict[str, str] = {}
    index, firsts = _Index(known), _Index(())  # firsts: the copies of keys kept as new items
    for key, copies in unknown.items():
        target = next((t for c in copies if (t := index.find(c)) is not None), None)
        if target is None:
            target = next((t for c in copies if (t := firsts.find(c)) is not None), None)
        if target is not None and target != key:
            found[key] = target
        else:
            for copy in copies:
                firsts.add(copy)
    return found


def same_item(a: Item, b: Item) -> bool:
    """True when two copies are the same advisory or the same firmware package."""
    if isinstance(a, Advisory) and isinstance(b, Advisory):
        return same_advisory(a, b)
    if isinstance(a, FirmwareRelease) and isinstance(b, FirmwareRelease):
        return same_package(a, b)
    return a.kind == b.kind and a.key == b.key


def same_advisory(a: Advisory, b: Advisory) -> bool:
    """The same vendor ID, or (one showing none) the same vendor page."""
    if a.vendor_id and b.vendor_id:
        return a.vendor_id.upper() == b.vendor_id.upper()
    return bool(a.url and b.url) and advisory_key(a.url) == advisory_key(b.url)


def same_package(a: FirmwareRelease, b: FirmwareRelease) -> bool:
    """The same version and the same package file (see the module's description)."""
    if not _same_version(a.version, b.version):
        return False
    shared = bool(set(a.models) & set(b.models))
    if a.download_url and b.download_url:
        if canonical_url(a.download_url) == canonical_url(b.download_url):
            return True
        name = file_name(a.download_url)
        return shared and name == file_name(b.download_url) and names_version(name, a.version)
    return shared


def file_name(url: str) -> str:
    """The last part of a URL's path, decoded: the package's file name."""
    return unquote(basename(urlsplit(url).path))


def names_version(name: str, version: str) -> bool:
    """True when a file name carries the version's numbers (``…_V5.9.72_260713.zip``)."""
    try:
        numbers = ".".join(str(n) for n in parse_version(version).numbers)
    except VersionError:
        return False
    return re.search(rf"(?<![\d.]){re.escape(numbers)}(?!\.?\d)", name) is not None


def _same_version(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return parse_version(a).sort_key() == parse_version(b).sort_key()
    except VersionError:
        return False


class _Index:
    """Known advisories by vendor ID and page, known packages by version and what
    `same_package` compares (download URL, file name, models): the few candidates a copy is
    compared with, in the order they were indexed."""

    def __init__(self, known: Sequence[Item]) -> None:
        self.by_id: dict[str, list[Advisory]] = {}
        self.by_page: dict[str, list[Advisory]] = {}
        # (version, what, value) -> (order, package): "url" and "name" of packages with a
        # download URL, "bare" models of those without, "any" models of every package
        self.packages: dict[tuple[str, str, str], list[tuple[int, FirmwareRelease]]] = {}
        self.added = 0
        for item in known:
            self.add(item)

    def add(self, item: Item) -> None:
        """Index one more item (a later candidate than those before it)."""
        if isinstance(item, Advisory):
            if item.vendor_id:
                self.by_id.setdefault(item.vendor_id.upper(), []).append(item)
            if item.url:
                self.by_page.setdefault(advisory_key(item.url), []).append(item)
        elif isinstance(item, FirmwareRelease):
            self.added += 1
            for key in _package_keys(item, own=True):
                self.packages.setdefault(key, []).append((self.added, item))

    def find(self, copy: Item) -> str | None:
        """The key of the first known item the copy is, else None."""
        candidates: list[Item] = []
        if isinstance(copy, Advisory):
            if copy.vendor_id:
                candidates += self.by_id.get(copy.vendor_id.upper(), [])
            if copy.url:
                candidates += self.by_page.get(advisory_key(copy.url), [])
        elif isinstance(copy, FirmwareRelease):
            found = {n: p for key in _package_keys(copy, own=False)
                     for n, p in self.packages.get(key, ())}
            candidates += [found[n] for n in sorted(found)]
        return next((c.key for c in candidates if same_item(c, copy)), None)


def _package_keys(package: FirmwareRelease, own: bool) -> list[tuple[str, str, str]]:
    """Where a package is indexed (``own``), or where to look for those it may be
    (`same_package`): the same download URL or file name; else, one of the two without a
    download URL, a model in common."""
    version, url = _version_key(package.version), package.download_url
    by_file = [(version, "url", canonical_url(url))] if url else []
    if url and names_version(name := file_name(url), package.version):  # else no package's
        by_file.append((version, "name", name))
    if own:
        return by_file + [(version, "any", m) for m in package.models] + (
            [] if url else [(version, "bare", m) for m in package.models])
    return by_file + [(version, "bare" if url else "any", m) for m in package.models]


def _version_key(version: str) -> str:
    try:
        return repr(parse_version(version).sort_key())
    except VersionError:
        return version
