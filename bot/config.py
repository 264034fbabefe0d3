"""bot.toml → validated, typed settings.

Every problem is reported as ``FILE: key.path: what is wrong (got VALUE)``. Secrets never live
in the file: keys ending in ``_env`` name the environment variable that holds them, and
:func:`secret` resolves one only when that part of the bot is used.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from bot.configerrors import describe
from bot.configvalues import (
    AlertKind,
    AllowedHost,
    DeviceModel,
    Duration,
    EnvName,
    LifecycleDate,
    ListenHost,
    Name,
    Severity,
    SourceUrl,
    StageName,
    StateUrlText,
    TimeOfDay,
    TimeZone,
)
from bot.models import ModelPattern, PatternError

DEFAULT_PATH = "bot.toml"
CONFIG_ENV = "FIRMWATCH_CONFIG"


class ConfigError(Exception):
    """A configuration problem; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Section(BaseModel):
    """Base for every section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StateSettings(Section):
    """``[state]``: where firmwatch keeps its state."""

    url: StateUrlText = "tinydb:///data/firmwatch.json"
    url_env: EnvName = "DATABASE_URL"


class PolicySettings(Section):
    """``[policy]``: how the LTS policy is applied."""

    severe_cvss: float = Field(default=7.0, ge=0.0, le=10.0)
    reminder_days: list[Annotated[int, Field(ge=0, le=3650)]] = [90, 30, 7, 0]
    catalog_files: list[str] = []
    # A source that fails this many polls in a row is unhealthy: these receivers are told once,
    # and once more when it recovers (empty: nobody is; `check` and `sources` warn instead).
    source_receivers: list[str] = []
    source_failures: int = Field(default=3, ge=1, le=1000)


class NetworkSettings(Section):
    """``[network]``: the one HTTP client's limits and the address guard's allow-list."""

    allow_hosts: list[AllowedHost] = []
    timeout: Duration = timedelta(seconds=30)
    max_body_mib: float = Field(default=5.0, gt=0, le=1024)


class SourceSettings(Section):
    """One ``[[sources]]`` entry."""

    name: Name
    kind: Literal["advisory", "firmware", "scores", "exploited"]
    format: Literal["feed", "hikvision-html", "nvd-json", "kev-json", "firmware-json"]
    url: SourceUrl
    every: Duration = timedelta(hours=1)
    enabled: bool = True
    api_key_env: EnvName | None = None

    @model_validator(mode="after")
    def _format_fits_kind(self) -> SourceSettings:
        fits = {
            "feed": {"advisory", "firmware"},
            "hikvision-html": {"advisory"},
            "nvd-json": {"scores"},
            "kev-json": {"exploited"},
            "firmware-json": {"firmware"},
        }[self.format]
        if self.kind not in fits:
            raise ValueError(
                f"kind: format {self.format!r} carries {' or '.join(sorted(fits))} items"
                f" (got {self.kind!r})"
            )
        return self


class ReceiverSettings(Section):
    """One ``[[receivers]]`` entry: a Slack channel, a signed webhook or the console."""

    name: Name
    type: Literal["slack", "webhook", "console"]
    channel: str | None = None
    url: SourceUrl | None = None
    secret_env: EnvName | None = None
    preset: Literal[
        "generic", "pagerduty", "jira", "servicenow", "teams", "opsgenie", "discord"
    ] = "generic"
    template: str | None = None
    min_severity: Severity = "none"
    # webhook presets (see docs/webhooks.md); secrets are named by variable, never written here
    url_env: EnvName | None = None
    routing_key_env: EnvName | None = None
    auth_env: EnvName | None = None
    project: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,254}$")] | None = None
    issue_type: Annotated[str, Field(min_length=1, max_length=60)] | None = None
    assignment_group: Annotated[str, Field(min_length=1, max_length=100)] | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> ReceiverSettings:
        if self.type == "slack" and not self.channel:
            raise ValueError("channel: a slack receiver needs a channel (got nothing)")
        problems = _webhook_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self


_PRESET_NEEDS = {
    "pagerduty": ("routing_key_env",),
    "jira": ("project", "auth_env"),
    "servicenow": ("auth_env",),
    "opsgenie": ("auth_env",),
}
_PRESET_MAY = {"jira": ("issue_type",), "servicenow": ("assignment_group",)}
_PRESET_KEYS = ("routing_key_env", "auth_env", "project", "issue_type", "assignment_group")


def _webhook_problems(r: ReceiverSettings) -> list[str]:
    """What a webhook receiver lacks or carries in vain, one ``key: text (got VALUE)`` each."""
    if r.type != "webhook":
        return [
            f"{key}: only webhook receivers use it (got {getattr(r, key)!r})"
            for key in ("url_env", *_PRESET_KEYS)
            if getattr(r, key) is not None
        ]
    problems: list[str] = []
    if not r.url and not r.url_env:
        problems.append("url: a webhook receiver needs url or url_env (got nothing)")
    if r.url and r.url_env:
        problems.append(f"url_env: give url or url_env, not both (got {r.url_env!r})")
    if r.url and not r.url.startswith(("https://", "http://")):
        problems.append(f"url: a webhook URL must be https:// (got {r.url[:40]!r})")
    if not r.secret_env:
        problems.append("secret_env: a webhook receiver needs secret_env (got nothing)")
    needs = _PRESET_NEEDS.get(r.preset, ())
    for key in needs:
        if getattr(r, key) is None:
            problems.append(f"{key}: the {r.preset} preset needs it (got nothing)")
    for key in _PRESET_KEYS:
        if key not in needs + _PRESET_MAY.get(r.preset, ()) and getattr(r, key) is not None:
            problems.append(
                f"{key}: the {r.preset} preset does not use it (got {getattr(r, key)!r})"
            )
    if r.template and r.preset != "generic":
        problems.append(
            "template: a template replaces the generic payload; it cannot be combined with"
            f" preset {r.preset!r} (got {r.template!r})"
        )
    return problems


class DeviceSettings(Section):
    """One device group of a fleet: ``[[fleets.devices]]``."""

    model: DeviceModel
    firmware: str | None = None
    count: int = Field(default=1, ge=1)
    site: str = ""
    tags: list[str] = []
    serials: list[str] = []


class FleetSettings(Section):
    """One ``[[fleets]]`` entry, declared in the file."""

    name: Name
    description: str = ""
    receivers: list[str] = []
    tags: list[str] = []
    min_severity: Severity = "none"
    kinds: list[AlertKind] = ["advisory", "firmware", "lifecycle"]
    devices: list[DeviceSettings] = []

    @model_validator(mode="after")
    def _applies(self) -> FleetSettings:
        if self.min_severity != "none" and "advisory" not in self.kinds:
            raise ValueError(_NO_ADVISORY_THRESHOLD.format(self.min_severity))
        return self


class RouteSettings(Section):
    """One ``[[routes]]`` entry: extra receivers for findings that match every matcher given.

    Empty matchers match anything; ``digest`` collects the findings into a daily or weekly summary
    instead of alerting at once.
    """

    name: Name
    receivers: list[str] = Field(min_length=1)
    kinds: list[AlertKind] = []
    stages: list[StageName] = []
    fleets: list[str] = []
    fleet_tags: list[str] = []
    sites: list[str] = []
    kev: bool | None = None
    min_severity: Severity = "none"
    digest: Literal["daily", "weekly"] | None = None

    @model_validator(mode="after")
    def _can_match(self) -> RouteSettings:
        """Matchers that only an advisory can meet, on a route whose kinds exclude advisories."""
        if not self.kinds or "advisory" in self.kinds:
            return self
        problems = []
        if self.kev:
            problems.append(
                'kev: only advisories are listed in CISA KEV, and kinds does not list "advisory":'
                " this route would never match; add it to kinds or remove kev (got True)"
            )
        if self.min_severity != "none":
            problems.append(_NO_ADVISORY_THRESHOLD.format(self.min_severity))
        if problems:
            raise ValueError("\n".join(problems))
        return self


# A threshold that would be ignored: firmware updates and lifecycle reminders carry no severity.
_NO_ADVISORY_THRESHOLD = (
    'min_severity: a severity threshold applies to advisories only, and kinds does not list'
    ' "advisory": add it to kinds or remove min_severity (got {!r})'
)


class CatalogSettings(Section):
    """One ``[[catalog]]`` entry: a model (or product pattern) and its lifecycle dates."""

    model: str = Field(min_length=1)
    launched: LifecycleDate | None = None
    discontinued: LifecycleDate | None = None

    @model_validator(mode="after")
    def _ordered(self) -> CatalogSettings:
        if self.launched and self.discontinued and self.discontinued < self.launched:
            raise ValueError(
                f"discontinued: before launched {self.launched} (got {self.discontinued})"
            )
        return self


class SlackSettings(Section):
    """``[slack]``: the Slack app's credentials (by variable name) and command."""

    bot_token_env: EnvName = "SLACK_BOT_TOKEN"
    signing_secret_env: EnvName = "SLACK_SIGNING_SECRET"
    app_token_env: EnvName = "SLACK_APP_TOKEN"
    command: Annotated[str, Field(pattern=r"^/[a-z0-9_\-]{1,31}$")] = "/firmware"
    admins: list[Annotated[str, Field(pattern=r"^[UWS][A-Z0-9]{2,}$")]] = []
    api_base_url: SourceUrl | None = None
    ticket_receiver: Name | None = None
    # Slack Connect: other workspaces (T…) whose members may use the command, the buttons and the
    # Home tab; everyone else outside the app's own workspace is refused (bot/slack/tenancy.py).
    external_teams: list[Annotated[str, Field(pattern=r"^T[A-Z0-9]{2,}$")]] = []


class ScheduleSettings(Section):
    """``[schedule]``: when the worker delivers, digests and reminds."""

    timezone: TimeZone = "UTC"
    deliver_every: Duration = timedelta(seconds=30)
    digest_at: TimeOfDay = "09:00"
    reminders_at: TimeOfDay = "08:00"
    jitter: Duration = timedelta(seconds=60)
    leader_retry: Duration = timedelta(seconds=15)


class WebSettings(Section):
    """``[web]``: the HTTP endpoints (``firmwatch web`` and ``firmwatch run``) and the REST API."""

    host: ListenHost = "0.0.0.0"
    api_token_env: EnvName = "FIRMWATCH_API_TOKEN"
    max_body_kib: int = Field(default=1024, ge=1, le=65536)
    threads: int = Field(default=8, ge=1, le=64)


class Settings(Section):
    """The whole of ``bot.toml``."""

    state: StateSettings = StateSettings()
    policy: PolicySettings = PolicySettings()
    network: NetworkSettings = NetworkSettings()
    sources: list[SourceSettings] = []
    receivers: list[ReceiverSettings] = []
    fleets: list[FleetSettings] = []
    routes: list[RouteSettings] = []
    catalog: list[CatalogSettings] = []
    slack: SlackSettings = SlackSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    web: WebSettings = WebSettings()

    @model_validator(mode="after")
    def _references(self) -> Settings:
        problems = _reference_problems(
            self.model_dump(include=set(_NAMED) | {"slack", "policy", "catalog"})
        )
        if problems:
            raise ValueError("\n".join(problems))
        return self


_NAMED = ("sources", "receivers", "fleets", "routes")


def _reference_problems(data: Mapping[str, Any]) -> list[str]:
    """Duplicate names and receivers named nowhere, read from plain data that need not be valid
    otherwise (what can be checked is checked: a config with bad values still gets these)."""

    def entries(section: str) -> list[Mapping[str, Any]]:
        value = data.get(section)
        listed = value if isinstance(value, list) else []
        return [e if isinstance(e, Mapping) else {} for e in listed]

    problems: list[str] = []
    for section in _NAMED:
        seen: set[str] = set()
        for i, entry in enumerate(entries(section)):
            name = entry.get("name")
            if isinstance(name, str) and name in seen:
                problems.append(f"{section}[{i}].name: duplicate name (got {name!r})")
            if isinstance(name, str):
                seen.add(name)
    problems += _catalog_twice(entries("catalog"))
    receivers = {n for e in entries("receivers") if isinstance(n := e.get("name"), str)}
    named: list[tuple[str, object]] = []  # (where, a receiver's name) wherever one is named
    for section in ("fleets", "routes"):
        for i, entry in enumerate(entries(section)):
            names = entry.get("receivers")
            named += [(f"{section}[{i}].receivers[{j}]", n)
                      for j, n in enumerate(names if isinstance(names, list) else ())]
    policy = data.get("policy")
    told = policy.get("source_receivers") if isinstance(policy, Mapping) else None
    named += [(f"policy.source_receivers[{j}]", n)
              for j, n in enumerate(told if isinstance(told, list) else ())]
    slack = data.get("slack")
    named.append(("slack.ticket_receiver",
                  slack.get("ticket_receiver") if isinstance(slack, Mapping) else None))
    problems += [f"{where}: no [[receivers]] entry has this name (got {name!r})"
                 for where, name in named if isinstance(name, str) and name not in receivers]
    return problems


def _catalog_twice(entries: list[Mapping[str, Any]]) -> list[str]:
    """``[[catalog]]`` entries naming a model (or pattern) an earlier one names: the earlier
    would silently win, so they are refused, as a catalog file's repeated lines are."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        model = entry.get("model")
        if not isinstance(model, str) or not model.strip():
            continue
        try:
            key = ModelPattern(model).as_model() or model
        except PatternError:
            continue  # the catalog itself reports it
        if key in seen:
            problems.append(f"catalog[{i}].model: the same model as catalog[{seen[key]}]"
                            f" (got {model!r})")
        seen.setdefault(key, i)
    return problems


def config_path(cli_value: str | None, environ: Mapping[str, str]) -> Path:
    """Choose the config file: ``--config``, else ``$FIRMWATCH_CONFIG``, else ``./bot.toml``."""
    return Path(cli_value or environ.get(CONFIG_ENV) or DEFAULT_PATH)


def load(path: Path) -> Settings:
    """Read and validate a config file; raise ConfigError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return _relative_to(parse(text, str(path)), path.parent)


def _relative_to(settings: Settings, base: Path) -> Settings:
    """Receiver templates are named relative to the config file; make their paths whole."""
    receivers = [
        r.model_copy(update={"template": str(base / r.template)})
        if r.template and not Path(r.template).is_absolute()
        else r
        for r in settings.receivers
    ]
    return settings.model_copy(update={"receivers": receivers})


def parse(text: str, filename: str) -> Settings:
    """Validate config text; ``filename`` is used in messages."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        text_only = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        at = f"line {where[1]}, column {where[2]}: " if where else ""
        raise ConfigError([f"{filename}: {at}invalid TOML: {text_only}"]) from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        # A bad value stops pydantic before the cross-references; check them on the raw data.
        lines = describe(exc, Settings)
        lines += [p for p in _reference_problems(raw) if p not in lines]
        raise ConfigError([f"{filename}: {line}" for line in lines]) from None


def secret(settings_key: str, env_name: str, environ: Mapping[str, str]) -> str:
    """Return the value of the variable ``env_name``; the error names it, never a value."""
    value = environ.get(env_name, "")
    if not value:
        raise ConfigError(
            [f"environment variable {env_name} (named by {settings_key}) is not set or empty"]
        )
    return value


def default_environ() -> Mapping[str, str]:
    """The process environment, for the CLI edge to pass in."""
    return os.environ
