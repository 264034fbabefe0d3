"""``firmwatch secret new``: a fresh whsec_ secret that the signing code accepts."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

from standardwebhooks import Webhook

from bot.cli import main
from notifiers.signing import load_signer, sign


def run(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue()


def test_secret_new_prints_a_fresh_whsec_secret_and_a_hint() -> None:
    code, text = run("secret", "new")
    secret, hint = text.splitlines()
    assert code == 0 and secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert "secret_env" in hint and hint.startswith("#")
    assert run("secret", "new")[1].splitlines()[0] != secret


def test_quiet_prints_the_secret_alone_and_it_signs_and_verifies() -> None:
    code, text = run("secret", "new", "--quiet")
    secret = text.strip()
    assert code == 0 and text.count("\n") == 1
    signer = load_signer("receivers[0].secret_env", "S", {"S": secret})
    body = b'{"type": "firmwatch.alert"}'
    headers = sign(signer, "ticketing|HSRC-202108-01|abc", body, datetime.now(UTC))
    assert Webhook(secret).verify(body, headers) == {"type": "firmwatch.alert"}


def test_secret_without_a_subcommand_is_a_usage_error() -> None:
    assert run("secret")[0] == 2
