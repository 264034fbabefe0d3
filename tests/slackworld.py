"""A small world for the Slack tests: one real cycle over the bundled samples, then the app.

The store holds what ``run_cycle`` wrote from the bundled sample sources (file:// URLs, offline):
advisories, firmware releases, NVD scores and KEV entries, the fleets' findings, the alerts in
the outbox and ``cycle.last``. The app runs behind waitress on 127.0.0.1 and talks to a
:class:`~tests.slackharness.FakeSlack`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from bot.config import Settings, parse
from bot.pipeline import run_cycle
from bot.slack.app import build_app
from bot.sources.fetcher import Fetcher
from state import Store, open_store
from tests.slackharness import (
    SECRET,
    TEAM,
    TOKEN,
    AppServer,
    FakeSlack,
    actions_body,
    command_body,
    event_body,
    signed,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADMIN, GROUP_MEMBER, PERSON = "UADMIN01", "UGROUP01", "U0PEOPLE1"
ADMIN_GROUP = "S0OPSTEAM"
CONFIG = """
[[receivers]]
name = "alerts"
type = "slack"
channel = "C0ALERTS1"

[[receivers]]
name = "ticketing"
type = "console"

[[fleets]]
name = "hq"
receivers = ["alerts"]

[[fleets.devices]]
model = "DS-2CD3321G2-I"
firmware = "V5.5.0 build 200911"
count = 40
site = "Site A"

[[fleets.devices]]
model = "iDS-7716NXI-M4/X"
firmware = "V4.62.200"
count = 2
site = "Site B"

[[fleets]]
name = "branch"

[[fleets.devices]]
model = "DS-96064NI-I16"
firmware = "V4.30.096 build 221220"
count = 3
site = "Depot"

[[catalog]]
model = "DS-2CD3xx1G2"
launched = 2021-03-15

[[catalog]]
model = "DS-96064NI-I16"
launched = 2019-01-15
discontinued = 2027-01-15
"""


def settings_for(root: Path, api_url: str, slack: str = "", config: str = CONFIG) -> Settings:
    """The test config: the sample sources as file:// URLs, two fleets, the Slack section."""
    s = root / "sources"
    sources = [("hik", "advisory", "hikvision-html", s / "hikvision" / "listing.html"),
               ("fw", "firmware", "firmware-json", s / "firmware.json"),
               ("nvd", "scores", "nvd-json", s / "nvd.json"),
               ("kev", "exploited", "kev-json", s / "kev.json")]
    text = "\n".join(f'[[sources]]\nname = "{n}"\nkind = "{k}"\nformat = "{f}"\nurl ='
                     f' "{p.as_uri()}"\n' for n, k, f, p in sources)
    section = (f'[slack]\napi_base_url = "{api_url}"\nadmins = ["{ADMIN}", "{ADMIN_GROUP}"]\n'
               + slack)
    return parse(text + config + section, "test.toml")


def fill(root: Path, store: Store, settings: Settings) -> None:
    """Copy the bundled samples and run one cycle over them."""
    with resources.as_file(resources.files("bot").joinpath("samples/sources")) as path:
        shutil.copytree(path, root / "sources", dirs_exist_ok=True)
    with Fetcher(settings.network) as fetcher:
        run_cycle(store, settings, NOW, fetcher=fetcher, base=root)


@dataclass
class World:
    """The running app, its fake Slack and its store."""

    store: Store
    settings: Settings
    fake: FakeSlack
    server: AppServer

    def command(self, text: str, *, user: str = ADMIN, channel: str = "C0OPS0001",
                team: str = TEAM, channel_name: str = "ops"
                ) -> tuple[int, Any, list[dict[str, Any]]]:
        """Send ``/firmware TEXT``; (status, ack body, response_url posts once there is one)."""
        url = self.fake.response_url()
        body = command_body(text, url, user=user, channel=channel,
                            command=self.settings.slack.command, team=team,
                            channel_name=channel_name)
        status, raw = self.server.post(body, signed(body))
        ack = _json(raw)
        if ack:  # answered in the ack: nothing else comes
            return status, ack, []
        return status, ack, self.fake.wait_response(url)

    def click(self, action_id: str, value: str, *, user: str = PERSON,
              blocks: list[dict[str, Any]] | None = None, kind: str = "button",
              wait_for: str | None = None, team: str = TEAM) -> tuple[int, str]:
        """Click a button on an alert message; waits for ``wait_for`` (a Web API method or
        ``respond``) to be called once more."""
        url = self.fake.response_url()
        before = len(self.fake.api(wait_for)) if wait_for and wait_for != "respond" else 0
        body = actions_body(action_id, value, url, user=user, blocks=blocks, kind=kind,
                            team=team)
        status, _ = self.server.post(body, signed(body))
        if wait_for == "respond":
            self.fake.wait_response(url)
        elif wait_for:
            assert self.fake.wait(lambda: len(self.fake.api(wait_for)) > before), wait_for
        return status, url

    def event(self, event: dict[str, Any]) -> int:
        """Send an Events API callback."""
        body = event_body(event)
        status, _ = self.server.post(body, signed(body, content_type="application/json"))
        return status


def _json(raw: bytes) -> Any:
    return json.loads(raw) if raw.strip() else None


@contextmanager
def world(root: Path, *, slack: str = "", backend: str = "tinydb",
          config: str = CONFIG) -> Iterator[World]:
    """The app over a filled store, served until the block ends."""
    with ExitStack() as stack:
        fake = FakeSlack(groups={ADMIN_GROUP: [GROUP_MEMBER]})
        stack.callback(fake.close)
        settings = settings_for(root, fake.api_url, slack, config)
        url = (f"tinydb:///{root / 'state.json'}" if backend == "tinydb"
               else f"sqlite:///{root / 'state.db'}")
        store = stack.enter_context(open_store(url))
        fill(root, store, settings)
        environ = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                   "FIRMWATCH_CONFIG": str(root / "test.toml")}
        app = build_app(store, settings, environ=environ, clock=lambda: NOW)
        server = AppServer(app, store, settings, environ)
        stack.callback(server.close)
        yield World(store, settings, fake, server)
