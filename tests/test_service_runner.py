"""The processes: which parts each mode runs, Socket Mode selection, and clean stops in process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.commands.common import CommandFailed, Loaded, UsageError
from bot.config import Settings, parse
from bot.service.jobs import Work
from bot.service.runner import build_service
from bot.web.server import resolve_port
from state import Store, open_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WAIT = 10.0
CONFIG = """
[state]
url = "tinydb:///state/firmwatch.json"
url_env = "FIRMWATCH_TEST_NO_SUCH_VARIABLE"

[[receivers]]
name = "ops"
type = "console"

[[fleets]]
name = "hq"
receivers = ["ops"]

[schedule]
deliver_every = "1h"

[web]
host = "127.0.0.1"
"""


def _loaded(tmp_path: Path) -> Loaded:
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return Loaded(parse(CONFIG, str(path)), path, found=True)


class FakeSocket:
    """Records what the runner does with a Socket Mode handler."""

    def __init__(self, app: App, token: str) -> None:
        self.app, self.token = app, token
        self.calls: list[str] = []

    def connect(self) -> None:
        self.calls.append("connect")

    def close(self) -> None:
        self.calls.append("close")


def _app(store: Store, settings: Settings, *, environ: Mapping[str, str],
         clock: Callable[[], datetime]) -> App:
    return App(token="xoxb-offline", signing_secret="unused-in-socket-mode",
               token_verification_enabled=False)


def _work(delivered: threading.Event) -> Work:
    def deliver(now: datetime) -> None:
        delivered.set()

    return Work(poll=lambda names, now: None, deliver=deliver, digest=lambda now: None,
                reminders=lambda now: None)


def test_web_mode_serves_http_and_never_schedules(tmp_path: Path) -> None:
    service = build_service("web", _loaded(tmp_path), environ={}, port=0)
    assert service.scheduler is None and service.web is not None and service.socket is None
    service.start()
    try:
        answer = httpx.get(service.web.url + "/healthz", timeout=10)
        assert answer.json() == {"status": "ok"}
    finally:
        assert service.shutdown()
    with open_store(f"tinydb:///{tmp_path / 'state' / 'firmwatch.json'}") as store:
        assert [f.name for f in store.fleets.all()] == ["hq"], "declared fleets were synced"


def test_worker_mode_schedules_delivers_and_stops_cleanly(tmp_path: Path) -> None:
    delivered = threading.Event()
    service = build_service("worker", _loaded(tmp_path), environ={}, work=_work(delivered),
                            clock=lambda: T0)
    assert service.web is None and service.scheduler is not None
    def stop_once_delivered() -> None:
        if delivered.wait(WAIT):
            service.request_stop("test")

    timer = threading.Timer(0, stop_once_delivered)
    timer.start()
    assert service.run() == 0
    timer.join(WAIT)
    assert delivered.is_set() and service.stopping.is_set()
    with open_store(f"tinydb:///{tmp_path / 'state' / 'firmwatch.json'}") as store:
        jobs = store.meta.get("scheduler.jobs")
        assert jobs["deliver"]["runs"] == 1 and jobs["deliver"]["last_ok"] == T0.isoformat()
        assert store.meta.get("scheduler.leader") is None


def test_run_mode_has_scheduler_and_web(tmp_path: Path) -> None:
    service = build_service("run", _loaded(tmp_path), environ={}, port=0,
                            work=_work(threading.Event()))
    assert service.scheduler is not None and service.web is not None
    service.start()
    try:
        assert service.scheduler.leading, "TinyDB: the one process leads"
        ready = httpx.get(service.web.url + "/readyz", timeout=10).json()
        assert ready["status"] == "ready"
    finally:
        service.shutdown()


@pytest.mark.parametrize(("environ", "socket"), [
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-socket"}, True),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s" * 32}, False),
    ({"SLACK_APP_TOKEN": "xapp-1-socket"}, False),  # no bot token: Slack is off
])
def test_socket_mode_is_chosen_when_the_app_token_is_set(
    tmp_path: Path, environ: dict[str, str], socket: bool
) -> None:
    made: list[FakeSocket] = []

    def factory(app: App, token: str) -> FakeSocket:
        made.append(FakeSocket(app, token))
        return made[-1]

    service = build_service("web", _loaded(tmp_path), environ=environ, port=0, build_slack=_app,
                            socket_factory=factory)
    assert (service.socket is not None) == socket
    service.start()
    service.shutdown()
    if socket:
        assert made[0].token == "xapp-1-socket" and made[0].calls == ["connect", "close"]
    else:
        assert made == []


def test_worker_mode_has_no_slack(tmp_path: Path) -> None:
    environ = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-socket"}
    made: list[FakeSocket] = []

    def factory(app: App, token: str) -> FakeSocket:
        made.append(FakeSocket(app, token))
        return made[-1]

    service = build_service("worker", _loaded(tmp_path), environ=environ, build_slack=_app,
                            socket_factory=factory, work=_work(threading.Event()))
    assert service.socket is None and made == []
    service.store.close()


def test_ports_come_from_the_flag_then_port_then_3000() -> None:
    assert resolve_port(8080, {"PORT": "5000"}) == 8080
    assert resolve_port(None, {"PORT": "5000"}) == 5000
    assert resolve_port(None, {}) == 3000
    with pytest.raises(UsageError, match=r"\$PORT: expected a port number"):
        resolve_port(None, {"PORT": "http"})
    with pytest.raises(UsageError, match="--port: expected a port from 0 to 65535"):
        resolve_port(70000, {})


def test_a_socket_mode_connection_that_fails_stops_the_process_cleanly(tmp_path: Path) -> None:
    class Refused(FakeSocket):
        def connect(self) -> None:
            raise SlackApiError(  # type: ignore[no-untyped-call]  # slack_sdk's is untyped
                "invalid_auth xapp-1-secret-value", {"ok": False}
            )

    environ = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1-socket"}
    service = build_service("web", _loaded(tmp_path), environ=environ, port=0, build_slack=_app,
                            socket_factory=Refused)
    with pytest.raises(CommandFailed, match="cannot connect to Slack in Socket Mode") as caught:
        service.run()
    assert "secret-value" not in str(caught.value)
    with open_store(f"tinydb:///{tmp_path / 'state' / 'firmwatch.json'}"):
        pass  # the store was closed: it opens again
