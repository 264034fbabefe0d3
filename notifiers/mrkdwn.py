"""Slack mrkdwn text: escaping, cutting to a limit, and lists that end in "…and N more" (pure)."""

from __future__ import annotations

from collections.abc import Sequence


def esc(text: str) -> str:
    """Escape the three characters mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def clip_esc(raw: str, limit: int) -> str:
    """Escape ``raw`` and cut it so the escaped text fits ``limit`` (no entity is split)."""
    escaped = esc(raw)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for char in raw:
        piece = esc(char)
        if used + len(piece) > limit - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + "…"


def fit_lines(lines: Sequence[str], limit: int, noun: str = "") -> str:
    """Join lines under ``limit``; lines that do not fit become "…and N more"."""
    if sum(map(len, lines)) + len(lines) - 1 <= limit:
        return "\n".join(lines)
    reserve = len(f"\n…and {len(lines)} more{noun}")
    out: list[str] = []
    used = 0
    for line in lines:
        cost = len(line) + (1 if out else 0)
        if used + cost + reserve > limit:
            break
        out.append(line)
        used += cost
    if not out and len(lines) == 1:
        return clip(lines[0], limit)
    if not out:
        out = [clip(lines[0], limit - reserve)]
    return "\n".join(out) + f"\n…and {len(lines) - len(out)} more{noun}"


def join_some(parts: Sequence[str], limit: int, sep: str = ", ") -> str:
    """Join parts with ``sep`` under ``limit``; the rest become "…and N more"."""
    if len(sep.join(parts)) <= limit:
        return sep.join(parts)
    out: list[str] = []
    for part in parts:
        rest = len(parts) - len(out) - 1
        if len(sep.join([*out, part]) + f"{sep}…and {rest} more") > limit:
            break
        out.append(part)
    more = f"…and {len(parts) - len(out)} more"
    return clip(sep.join([*out, more]), limit)


def link(url: object, label: str) -> str:
    """A mrkdwn link, or the escaped label alone when the URL is not a plain web address."""
    text = "" if url is None else str(url)
    if web_url(text) and not any(c in text for c in "|<> "):
        return f"<{text}|{esc(label)}>"
    return esc(label)


def web_url(text: str) -> bool:
    """True for an http(s) URL with a host part."""
    return text.startswith(("https://", "http://")) and len(text) > 8
