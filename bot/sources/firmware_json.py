"""firmwatch's own JSON index of firmware packages → FirmwareRelease items (``firmware-json``).

The schema, ``firmwatch.firmware-index/1``, is documented in docs/firmware-json.md and as JSON
Schema in docs/firmware-index.schema.json. Packages are validated one by one: a bad package is a
warning naming its index and what is wrong, and the others are kept. A body that is not such an
index (not JSON, no ``packages`` list, another ``schema``) is refused. Pure: bytes in, items out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from bot.catalog import ModelError, PatternError
from bot.config import SourceSettings
from bot.items import FirmwareRelease, normalize_text
from bot.sources.base import ParseError, ParseResult
from bot.sources.firmware_text import normalize_models, package_key
from bot.versions import VersionError, parse_version

SCHEMA = "firmwatch.firmware-index/1"
_TOP_KEYS = frozenset({"schema", "packages", "generated", "publisher", "description"})


def _web_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"expected an http:// or https:// URL (got {value[:80]!r})")
    return value


def _version(value: str) -> str:
    try:
        return str(parse_version(value))
    except VersionError as exc:
        raise ValueError(str(exc)) from None


def _cve(value: str) -> str:
    if not re.fullmatch(r"CVE-\d{4}-\d{4,}", value.strip(), re.IGNORECASE):
        raise ValueError(f"expected a CVE ID such as CVE-2021-36260 (got {value[:40]!r})")
    return value.strip().upper()


def _models(value: list[str]) -> tuple[str, ...]:
    try:
        models = normalize_models(value)
    except (PatternError, ModelError) as exc:
        raise ValueError(str(exc)) from None
    if not models:
        raise ValueError("names no models")
    return models


WebUrl = Annotated[str, AfterValidator(_web_url)]


class Package(BaseModel):
    """One package of the index; unknown keys are reported by :func:`parse`, not kept."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=300)
    models: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1),
                      AfterValidator(_models)]
    version: Annotated[str, AfterValidator(_version)]
    released: date | None = None
    download_url: WebUrl | None = None
    notes_url: WebUrl | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    cves: list[Annotated[str, AfterValidator(_cve)]] = []
    security: bool | None = None


KNOWN = frozenset(Package.model_fields)


def parse(body: bytes, headers: Mapping[str, str], source: SourceSettings) -> ParseResult:
    """Parse a firmwatch firmware index into FirmwareReleases, one warning per bad package."""
    data, result = _index(body), ParseResult()
    if unknown := sorted(set(data) - _TOP_KEYS):
        result.warnings.append(f"ignored unknown top-level keys {', '.join(unknown)}")
    packages: list[Any] = data["packages"]
    seen: dict[str, int] = {}
    for index, raw in enumerate(packages):
        where = f"packages[{index}]"
        if not isinstance(raw, dict):
            result.warnings.append(f"{where}: skipped: expected an object, got {_kind(raw)}")
            continue
        try:
            package = Package.model_validate(raw)
        except ValidationError as exc:
            result.warnings.append(f"{where}: skipped: {_problems(exc)}")
            continue
        if unknown := sorted(set(raw) - KNOWN):
            result.warnings.append(f"{where}: ignored unknown keys {', '.join(unknown)}")
        item = _release(package, source.name)
        if item.key in seen:
            result.warnings.append(
                f"{where}: same models, version and file as packages[{seen[item.key]}]; skipped"
            )
            continue
        seen[item.key] = index
        result.items.append(item)
    return result


def _index(body: bytes) -> dict[str, Any]:
    """A valid index's top-level object; ParseError for anything else."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"not JSON ({exc}); expected a {SCHEMA} firmware index") from None
    if not isinstance(data, dict):
        raise ParseError(f'expected a JSON object with "schema": "{SCHEMA}", got {_kind(data)}')
    schema = data.get("schema")
    if schema is None:
        raise ParseError(f'missing "schema"; a firmware index starts {{"schema": "{SCHEMA}", …')
    if schema != SCHEMA:
        raise ParseError(
            f"unsupported schema {schema!r}: this firmwatch reads {SCHEMA!r}"
            " (see docs/firmware-json.md)"
        )
    packages = data.get("packages")
    if not isinstance(packages, list):
        raise ParseError(f"\"packages\" must be a list of packages, got {_kind(packages)}")
    return data


def _release(package: Package, source: str) -> FirmwareRelease:
    models = tuple(package.models)
    return FirmwareRelease(
        key=package_key(models, package.version, package.download_url),
        title=normalize_text(package.title),
        models=models,
        version=package.version,
        released=package.released,
        download_url=package.download_url,
        notes_url=package.notes_url,
        checksum=f"sha256:{package.sha256.lower()}" if package.sha256 else None,
        cves=tuple(dict.fromkeys(package.cves)),
        security=package.security if package.security is not None else bool(package.cves),
        source=source,
    )


def _problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
