"""Notifiers: one module per destination behind one small protocol, and the plain dict registry.

``NOTIFIERS`` maps a receiver's ``type`` to the function that builds its notifier from the
receiver's settings, the whole settings and the environment (secrets are read by variable name).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Protocol, cast

from bot.config import ConfigError, ReceiverSettings, Settings
from notifiers import console, slack
from notifiers.base import AlertDoc, Notifier, SendResult, Thread


class Factory(Protocol):
    """Builds the notifier of one ``[[receivers]]`` entry; raises ConfigError naming the key."""

    def __call__(
        self, receiver: ReceiverSettings, settings: Settings, environ: Mapping[str, str], /
    ) -> Notifier: ...


def _webhook(
    receiver: ReceiverSettings, settings: Settings, environ: Mapping[str, str]
) -> Notifier:
    """The signed webhook notifier (imported on first use: it pulls in Jinja2 and the presets)."""
    try:
        module = importlib.import_module("notifiers.webhook")
    except ModuleNotFoundError as exc:
        if exc.name != "notifiers.webhook":
            raise
        raise ConfigError(
            [f"type: webhook receivers are not available in this build (got {receiver.type!r})"]
        ) from None
    return cast(Factory, module.build)(receiver, settings, environ)


NOTIFIERS: dict[str, Factory] = {
    "console": console.build,
    "slack": slack.build,
    "webhook": _webhook,
}


def build_notifier(
    receiver: ReceiverSettings, settings: Settings, environ: Mapping[str, str]
) -> Notifier:
    """The notifier of one receiver; ConfigError names what is missing (never a secret)."""
    factory = NOTIFIERS.get(receiver.type)
    if factory is None:
        raise ConfigError(
            [
                f"receivers: {receiver.name}: unknown type (got {receiver.type!r});"
                f" expected one of {', '.join(sorted(NOTIFIERS))}"
            ]
        )
    try:
        return factory(receiver, settings, environ)
    except ConfigError as exc:
        raise ConfigError([f"receiver {receiver.name!r}: {p}" for p in exc.problems]) from None


def build_notifiers(
    settings: Settings, environ: Mapping[str, str], names: set[str] | None = None
) -> tuple[dict[str, Notifier], dict[str, str]]:
    """Notifiers of every receiver (or those named), and the problem of each that cannot be built.

    Slack notifiers share one per-channel pacer, so two receivers on one channel stay within it.
    """
    built: dict[str, Notifier] = {}
    problems: dict[str, str] = {}
    pacer = slack.ChannelLimiter()
    for receiver in settings.receivers:
        if names is not None and receiver.name not in names:
            continue
        try:
            notifier = build_notifier(receiver, settings, environ)
        except ConfigError as exc:
            prefix = f"receiver {receiver.name!r}: "
            problems[receiver.name] = "; ".join(p.removeprefix(prefix) for p in exc.problems)
            continue
        if isinstance(notifier, slack.SlackNotifier):
            notifier.limiter = pacer
        built[receiver.name] = notifier
    return built, problems


__all__ = [
    "NOTIFIERS",
    "AlertDoc",
    "Factory",
    "Notifier",
    "SendResult",
    "Thread",
    "build_notifier",
    "build_notifiers",
]
