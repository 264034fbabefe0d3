"""Standard Webhooks signing: ``whsec_`` secrets, message ids and the three signature headers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook

from bot.config import ConfigError
from bot.config import secret as read_secret
from notifiers.base import AlertDoc

PREFIX = "whsec_"
SECRET_BYTES = 32
_PLAIN_ID = re.compile(r"^[\x20-\x7e]{1,255}$")


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and the base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class Signer:
    """The receiver's ``whsec_`` secrets: one, or during a rotation the new and the old, each
    signing every message (Standard Webhooks lets ``webhook-signature`` carry several)."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = tuple(secrets)
        self._webhooks = [Webhook(s) for s in secrets]

    def sign(self, msg_id: str, moment: datetime, payload: str) -> str:
        """The ``webhook-signature`` value: ``v1,…`` per secret, separated by spaces."""
        return " ".join(w.sign(msg_id, moment, payload) for w in self._webhooks)


def load_signer(settings_key: str, env_name: str, environ: Mapping[str, str]) -> Signer:
    """The signer for the ``whsec_`` secrets in ``env_name`` (several, separated by spaces,
    while a receiver rotates its secret); errors name the variable only."""
    values = read_secret(settings_key, env_name, environ).split()
    problems = [(n, p) for n, v in enumerate(values, 1) if (p := _malformed(v))]
    if problems or not values:
        n, problem = problems[0] if problems else (1, "it is empty")
        which = f" (its secret number {n})" if len(values) > 1 else ""
        raise ConfigError(
            [
                f"environment variable {env_name} (named by {settings_key}) does not hold a"
                f" whsec_ secret{which}: {problem}; make one with `firmwatch secret new`"
            ]
        )
    return Signer(values)


def message_id(doc: AlertDoc) -> str:
    """The ``webhook-id``: the alert's dedupe key (the same on every retry), hashed if unfit."""
    key = str(doc.get("dedupe_key") or doc.get("id") or "")
    if _PLAIN_ID.match(key) and key.strip() == key:
        return key
    return "fw_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def sign(signer: Signer, msg_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """The ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers for ``body``."""
    moment = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    signature: str = signer.sign(msg_id, moment, body.decode("utf-8"))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }


def _malformed(value: str) -> str | None:
    if not value.startswith(PREFIX):
        return "it does not start with whsec_"
    encoded = value[len(PREFIX) :]
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return "the part after whsec_ is not base64"
    if not 24 <= len(raw) <= 64:
        return f"it decodes to {len(raw)} bytes, not 24 to 64"
    return None
