"""Block Kit pieces for the Slack answers, each kept within Slack's limits (pure).

Every text goes through :func:`clip` (the one truncation helper) and user-supplied text through
:func:`esc`; a list that does not fit ends with "…and N more".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Block = dict[str, Any]

MAX_BLOCKS = 50  # a message (and a response_url answer)
HOME_BLOCKS = 100  # a Home tab view
SECTION_TEXT = 3000
HEADER_TEXT = 150
CONTEXT_TEXT = 2000
CONTEXT_ELEMENTS = 10
FALLBACK_TEXT = 3000
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with "…" when it was cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def esc(text: object) -> str:
    """Escape text for mrkdwn (``&``, ``<``, ``>``), so it cannot mention or link."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str | None, label: str) -> str:
    """A mrkdwn link to an http(s) URL, or just the escaped label."""
    text = esc(label).replace("|", "¦")
    if url and url.startswith(("https://", "http://")) and not re.search(r"[\s<>|]", url):
        return f"<{url}|{text}>"
    return text


def who(author: str) -> str:
    """A Slack user ID as a mention, anything else (e.g. a CLI user name) as plain text."""
    return f"<@{author}>" if _USER_ID.match(author) else esc(author or "someone")


def when(moment: datetime) -> str:
    """A moment as Slack shows it in each reader's own timezone and clock format ("Today
    14:00"), with the UTC time as the fallback where Slack cannot format it."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 device``, ``2 devices``."""
    return f"{n:,} {noun if n == 1 else (nouns or noun + 's')}"


def header(text: str) -> Block:
    """A header block (plain text)."""
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_TEXT),
                                       "emoji": True}}


def section(text: str) -> Block:
    """A mrkdwn section; ``text`` must already be escaped."""
    return {"type": "section",
            "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT) if text.strip() else "—"}}


def context(*parts: str) -> Block:
    """A context block of mrkdwn parts (escaped already)."""
    elements = [{"type": "mrkdwn", "text": clip(p, CONTEXT_TEXT)} for p in parts if p.strip()]
    return {"type": "context", "elements": elements[:CONTEXT_ELEMENTS] or [
        {"type": "mrkdwn", "text": "—"}]}


def divider() -> Block:
    """A divider."""
    return {"type": "divider"}


def fit_lines(lines: Sequence[str], limit: int = SECTION_TEXT, noun: str = "more") -> str:
    """Lines joined by newlines; those that do not fit become "…and N more"."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        rest = len(lines) - i - 1
        tail = len(f"\n…and {len(lines) - i} {noun}") if rest else 0
        if used + len(line) + 1 + tail > limit:
            out.append(f"…and {len(lines) - i} {noun}")
            break
        out.append(line)
        used += len(line) + 1
    return clip("\n".join(out), limit)


def list_section(title: str, lines: Sequence[str], empty: str, noun: str = "more") -> Block:
    """A section with a bold title and a bullet list that fits (``empty`` when none)."""
    body = [f"*{title}*"] + (list(lines) if lines else [empty])
    return section(fit_lines(body, SECTION_TEXT, noun))


def fit(blocks: Sequence[Block], limit: int = MAX_BLOCKS) -> list[Block]:
    """At most ``limit`` blocks; the cut ones are named in a last context block."""
    if len(blocks) <= limit:
        return list(blocks)
    kept = list(blocks[: limit - 1])
    return [*kept, context(f"…and {len(blocks) - len(kept)} more blocks not shown"
                           " (Slack's limit); see `firmwatch` on the command line")]


@dataclass(frozen=True)
class Answer:
    """What a command answers: fallback text and blocks, and whether the channel sees it."""

    text: str
    blocks: list[Block] = field(default_factory=list)
    share: bool = False

    def message(self) -> dict[str, Any]:
        """Arguments for ``respond``: ephemeral unless shared, within Slack's limits."""
        return {"text": clip(self.text, FALLBACK_TEXT), "blocks": fit(self.blocks),
                "response_type": "in_channel" if self.share else "ephemeral",
                "replace_original": False}


def note(text: str) -> Answer:
    """A one-section answer (``text`` escaped already)."""
    return Answer(text, [section(text)])
