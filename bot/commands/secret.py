"""``firmwatch secret new``: a fresh ``whsec_`` secret for a signed webhook receiver."""

from __future__ import annotations

import argparse
from typing import TextIO

from bot.commands.common import EXIT_OK, SubParsers, add_command
from notifiers.signing import new_secret


def cmd_secret_new(args: argparse.Namespace, out: TextIO) -> int:
    """Print a fresh whsec_ webhook signing secret (base64 of 32 random bytes)."""
    out.write(new_secret() + "\n")
    if not args.quiet:
        out.write(
            "# Put it in the environment variable named by the receiver's secret_env"
            " (e.g. TICKETING_WEBHOOK_SECRET=whsec_...) and give the same secret to the"
            " receiving system to verify signatures; see docs/webhooks.md.\n"
        )
    return EXIT_OK


def register(sub: SubParsers) -> None:
    """Add ``secret new``."""
    secret = sub.add_parser("secret", help="Make webhook signing secrets.")
    secret_sub = secret.add_subparsers(dest="secret_command", required=True, metavar="COMMAND")
    new = add_command(secret_sub, "new", cmd_secret_new, config=False)
    new.add_argument("-q", "--quiet", action="store_true", help="print the secret alone")
