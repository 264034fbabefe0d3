"""The long-running processes: ``run`` (everything), ``worker`` (scheduler + delivery), ``web``.

On SIGTERM or SIGINT a process stops taking work at once (no new job runs, the delivery pass is
told to stop, the HTTP server stops accepting), lets work in flight finish within its deadline,
leaves unfinished deliveries pending (the delivery pass releases what it claimed but did not
send), releases the scheduler lock and closes the store; all within :data:`STOP_WITHIN` seconds.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Literal

from slack_bolt.error import BoltError
from slack_sdk.errors import SlackClientError

from bot.commands.common import CommandFailed, Loaded
from bot.commands.db import open_configured_store
from bot.fleets import declared_fleets
from bot.service.jobbook import JobBook
from bot.service.jobs import Work, plan_jobs, real_work
from bot.service.logs import LEVEL_ENV, redact, secret_values, setup_logging
from bot.service.metrics import Metrics
from bot.service.scheduler import LEADER_LOCK, Scheduler, utc_now
from bot.sources.fetcher import Fetcher
from bot.web.app import WebApp
from bot.web.server import WebServer, resolve_port
from bot.web.slack import BuildApp, SocketFactory, SocketHandle, load_slack, socket_mode_handler
from state import Store, StoreError
from state.fleetsync import sync_declared_fleets

log = logging.getLogger("firmwatch.service")
Mode = Literal["run", "worker", "web"]
STOP_WITHIN = 25.0  # seconds from the signal to the process exit
CLOSE_MARGIN = 3.0  # kept for closing the store and the exit itself
WEB_GRACE = 5.0  # for HTTP requests in progress


@dataclass
class Service:
    """The parts of one process; ``run`` starts them, waits for a signal and stops them in order."""

    mode: Mode
    store: Store
    scheduler: Scheduler | None = None
    web: WebServer | None = None
    socket: SocketHandle | None = None
    leader_retry: float = 15.0
    closers: list[Callable[[], object]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    abandoned: bool = False  # set by shutdown: some work still runs in threads of its own

    def start(self) -> None:
        """Start the web server, Socket Mode and the scheduler."""
        if self.web is not None:
            self.web.start()
        if self.socket is not None:
            try:
                self.socket.connect()
            except (SlackClientError, BoltError, OSError) as exc:
                raise CommandFailed(redact(f"cannot connect to Slack in Socket Mode: {exc}"
                                           .splitlines()[0])) from None
            log.info("connected to Slack in Socket Mode")
        if self.scheduler is not None:
            self.scheduler.start()
        log.info("firmwatch started", extra={"mode": self.mode, "pid": os.getpid()})

    def request_stop(self, reason: str = "asked to stop") -> None:
        """Ask the process to stop (from a signal handler, another thread or a test)."""
        if not self.stopping.is_set():
            log.info("stopping", extra={"reason": reason})
        self.stopping.set()

    def wait(self) -> None:
        """Block until asked to stop, re-trying the scheduler's leader lock meanwhile."""
        while not self.stopping.wait(self.leader_retry):
            if self.scheduler is not None:
                self.scheduler.check_leader()

    def shutdown(self) -> bool:
        """Stop everything within STOP_WITHIN seconds; False when some work was abandoned."""
        self.stopping.set()
        started = time.monotonic()
        budget = started + STOP_WITHIN - CLOSE_MARGIN
        if self.scheduler is not None:
            self.scheduler.halt()
        if self.socket is not None:
            self.socket.close()
        if self.web is not None:
            self.web.stop(min(WEB_GRACE, budget - time.monotonic()))
        clean = True
        if self.scheduler is not None:
            clean = self.scheduler.stop(budget - time.monotonic())
        for close in self.closers:
            close()
        self.store.close()
        self.abandoned = not clean
        log.info("firmwatch stopped", extra={"mode": self.mode, "clean": clean,
                                             "seconds": round(time.monotonic() - started, 2)})
        return clean

    def run(self) -> int:
        """Start, wait for a stop request, shut down; the exit code."""
        try:
            self.start()
            self.wait()
        finally:
            self.shutdown()
        return 0


def worker_id() -> str:
    """This process in claims, the delivery log and the job book: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def build_service(
    mode: Mode, loaded: Loaded, *, environ: Mapping[str, str], port: int | None = None,
    host: str | None = None, clock: Callable[[], datetime] = utc_now, work: Work | None = None,
    build_slack: BuildApp | None = None, socket_factory: SocketFactory = socket_mode_handler,
) -> Service:
    """Open the store and assemble the parts ``mode`` needs (nothing is started yet)."""
    settings = loaded.settings
    store = open_configured_store(loaded)
    built = False
    try:
        if loaded.found:
            sync_declared_fleets(store, declared_fleets(settings.fleets, loaded.path.name))
        metrics = Metrics(store)
        service = Service(mode, store, leader_retry=settings.schedule.leader_retry.total_seconds())
        if mode in ("run", "worker"):
            service.scheduler = _scheduler(service, loaded, metrics, environ, clock, work)
        if mode in ("run", "web"):
            slack = load_slack(store, settings, environ=environ, clock=clock, build=build_slack)
            if slack.app is not None and slack.mode == "socket":
                service.socket = socket_factory(slack.app, environ[settings.slack.app_token_env])
            elif slack.app is None:
                log.warning("Slack is off", extra={"reason": slack.reason})
            app = WebApp(store, settings, metrics=metrics, slack=slack, environ=environ)
            try:
                service.web = WebServer(app, host=host or settings.web.host,
                                        port=resolve_port(port, environ),
                                        threads=settings.web.threads, max_body=app.max_body)
            except OSError as exc:
                raise CommandFailed(f"cannot listen on {host or settings.web.host}:"
                                    f"{resolve_port(port, environ)}: {exc.strerror or exc}"
                                    ) from None
        built = True
        return service
    except StoreError as exc:
        raise CommandFailed(str(exc)) from None
    finally:
        if not built:
            store.close()


def _scheduler(
    service: Service, loaded: Loaded, metrics: Metrics, environ: Mapping[str, str],
    clock: Callable[[], datetime], work: Work | None,
) -> Scheduler:
    settings, store, worker = loaded.settings, service.store, worker_id()
    if work is None:
        fetcher = Fetcher(settings.network)
        service.closers.append(fetcher.close)
        base = loaded.path.parent if loaded.found else loaded.path.parent.resolve()
        work = real_work(store, settings, fetcher=fetcher, base=base,
                         config_name=loaded.path.name, environ=environ, worker=worker,
                         stop=service.stopping)
    return Scheduler(plan_jobs(settings, work), store=store, metrics=metrics,
                     book=JobBook(store, worker), leader=store.leader(LEADER_LOCK),
                     timezone=settings.schedule.timezone, clock=clock)


def _stop_or_give_up(service: Service, signal_name: str, done: threading.Event) -> None:
    """Ask ``service`` to stop; end the process if it has not stopped (``done``) STOP_WITHIN s
    later (a call into a store or network that stopped answering does not return, and blocks
    the shutdown)."""
    service.request_stop(f"received {signal_name}")
    if done.wait(STOP_WITHIN):
        return
    os.write(2, f"firmwatch: did not stop within {STOP_WITHIN:g} s of {signal_name} (a call into"
                " the store or the network does not return); exiting now\n".encode())
    os._exit(1)


def run_service(
    mode: Mode, loaded: Loaded, *, environ: Mapping[str, str], port: int | None = None,
    host: str | None = None,
) -> int:
    """The ``run`` / ``worker`` / ``web`` commands: JSON logs, signals, run until stopped."""
    setup_logging(secret_values(loaded.settings, environ), level=environ.get(LEVEL_ENV, "INFO"))
    service = build_service(mode, loaded, environ=environ, port=port, host=host)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if service.stopping.is_set():  # a second signal: the operator will not wait
            os.write(2, f"firmwatch: {name} again, exiting now\n".encode())
            os._exit(1)
        # Event.set takes a lock the interrupted main thread may hold: set it from a thread.
        threading.Thread(target=_stop_or_give_up, args=(service, name, done), daemon=True).start()

    done = threading.Event()  # the service has stopped: no process exit is forced after this
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = service.run()
    finally:
        done.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if service.abandoned:
        # An abandoned fetch or send still runs in a thread pool's worker, which the interpreter
        # would wait for at exit (up to the network timeout, or forever): leave now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
