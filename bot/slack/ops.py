"""``help``, ``status``, ``silences`` and the changing commands: silence, unsilence, subscribe."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.slack import subscriptions
from bot.slack.blocks import (
    Answer,
    Block,
    clip,
    context,
    esc,
    header,
    list_section,
    note,
    plural,
    section,
    when,
    who,
)
from bot.slack.commands import USAGE, SilenceAdd, Subscribe, usage_line
from bot.slack.env import Env
from bot.slack.knowledge import CYCLE_KEY
from bot.sources.health import SourceHealth, describe
from notifiers import health
from state.records import OUTBOX_STATUSES, Silence

JOBS_KEY, LEADER_KEY = "scheduler.jobs", "scheduler.leader"  # written by bot.service.jobbook


def help_answer(command: str, problem: str | None = None, usage: str | None = None) -> Answer:
    """Every subcommand with its arguments; a problem and its usage line first when given."""
    lines = [f"• `{usage_line(name, command)}` — {text}" for name, (_, text) in USAGE.items()]
    blocks: list[Block] = []
    if problem:
        shown = usage_line(usage, command) if usage and usage != "help" else f"{command} help"
        blocks.append(section(f":warning: {esc(problem)}\nUsage: `{esc(shown)}`"))
        if usage and usage != "help":
            return Answer(f"{problem}. Usage: {shown}", blocks)
    blocks.append(list_section(f"{command} subcommands", lines, ""))
    blocks.append(context("Answers are only visible to you; add `share` to lookup, advisory,"
                          " fleets, fleet, upcoming, silences or status to post in the channel."))
    return Answer(f"{command} help", blocks)


def silence_text(s: Silence) -> str:
    """``#3 fleet=hq cve=CVE-… until … by @U (comment)``."""
    matchers = " ".join(f"{esc(m.get('name'))}={esc(m.get('value'))}" for m in s.matchers
                        if isinstance(m, dict)) or "(matches everything)"
    comment = f" — {esc(clip(s.comment, 200))}" if s.comment else ""
    return (f"*#{s.id}* `{matchers}` until {when(s.ends_at)} by {who(s.author)}{comment}")


def silences_answer(env: Env, share: bool = False) -> Answer:
    """Silences in force now."""
    active = env.store.silences.active(env.now)
    lines = [f"• {silence_text(s)}" for s in active]
    blocks = [list_section(f"Silences in force ({len(active)})", lines, "none", "more silences"),
              context(f"`{env.settings.slack.command} unsilence ID` ends one early")]
    return Answer(f"{plural(len(active), 'silence')} in force", blocks, share)


def status_answer(env: Env, share: bool = False) -> Answer:
    """Sources' health, the outbox by status, the last cycle."""
    stored = {s.name: s for s in env.store.sources.all()}
    names = list(dict.fromkeys([s.name for s in env.settings.sources if s.enabled] + list(stored)))
    lines = []
    for name in names:
        state = stored.get(name)
        health = SourceHealth.from_dict(state.health) if state else SourceHealth()
        mark = ":red_circle:" if health.consecutive_failures else (
            ":white_circle:" if health.last_attempt is None else ":large_green_circle:")
        lines.append(f"{mark} *{esc(name)}* {esc(clip(describe(health, env.now), 300))}")
    counts = env.store.outbox.counts()
    outbox = " · ".join(f"{s} {counts.get(s, 0):,}" for s in OUTBOX_STATUSES)
    blocks = [header("firmwatch status"),
              list_section(f"Sources ({len(names)})", lines, "none configured", "more sources"),
              section(f"*Outbox* {outbox}{waiting_text(env)}"),
              section(f"*Last cycle* {cycle_text(env.store.meta.get(CYCLE_KEY))}"),
              list_section("Scheduler", scheduler_lines(env.store.meta.get(JOBS_KEY),
                                                        env.store.meta.get(LEADER_KEY)),
                           "no scheduler has run yet (`firmwatch run` or `firmwatch worker`)",
                           "more jobs")]
    return Answer(f"outbox: {outbox}", blocks, share)


def waiting_text(env: Env) -> str:
    """The receivers whose alerts wait (disabled, or paused after a ``Retry-After``), and why."""
    lines = [f"\n:no_entry: *{esc(name)}* disabled since"
             f" {esc(str(off.get('since', '?'))[:16].replace('T', ' '))} UTC:"
             f" {esc(clip(str(off.get('reason', '')), 300))} (fix it, then"
             f" `firmwatch outbox enable {esc(name)}`)"
             for name, off in sorted(health.disabled(env.store).items())
             if isinstance(off, Mapping)]
    paused = sorted(health.paused(env.store, env.now).items())
    lines += [f"\n:hourglass: *{esc(name)}* paused until {when(until)} (Slack or the receiver"
              " asked to wait)" for name, until in paused]
    return "".join(lines)


def scheduler_lines(jobs: object, leader: object) -> list[str]:
    """The job book (``scheduler.jobs``, written by the service): failing or missed jobs first."""
    lines: list[str] = []
    if isinstance(leader, Mapping) and leader.get("worker"):
        lines.append(f"leader {esc(leader['worker'])} since {esc(leader.get('since', '?'))}")
    if not isinstance(jobs, Mapping):
        return lines
    book = {str(k): v for k, v in jobs.items() if isinstance(v, Mapping)}
    troubled = [(name, j) for name, j in sorted(book.items())
                if _n(j, "consecutive_failures") or _n(j, "misses")]
    for name, j in troubled:
        error = f": {esc(clip(str(j['last_error']), 200))}" if j.get("last_error") else ""
        lines.append(f":warning: *{esc(name)}* {_n(j, 'failures')} failed,"
                     f" {_n(j, 'misses')} missed of {_n(j, 'runs')} runs"
                     f" ({_n(j, 'consecutive_failures')} in a row){error}")
    fine = [name for name in sorted(book) if name not in dict(troubled)]
    if fine:
        lines.append(f"{plural(len(fine), 'job')} running fine:"
                     f" {esc(clip(', '.join(fine), 300))}")
    return lines


def _n(job: Mapping[str, Any], key: str) -> int:
    value = job.get(key)
    return value if isinstance(value, int) else 0


def cycle_text(cycle: object) -> str:
    """What ``cycle.last`` (written by the pipeline) says, or that no cycle ran yet."""
    if not isinstance(cycle, Mapping):
        return "none yet"
    parts = [f"started {esc(cycle.get('started', '?'))}"]
    if isinstance(cycle.get("seconds"), int | float):
        parts.append(f"took {cycle['seconds']:.1f} s")
    for key in ("items", "findings"):
        value = cycle.get(key)
        if isinstance(value, Mapping):
            parts.append(f"{key}: " + ", ".join(f"{esc(k)} {esc(v)}" for k, v in value.items()))
    for key in ("alerts", "enqueued", "digested"):
        if isinstance(cycle.get(key), int):
            parts.append(f"{key} {cycle[key]:,}")
    if cycle.get("dry_run"):
        parts.append("dry run")
    return " · ".join(parts)


def add_silence(env: Env, cmd: SilenceAdd, author: str) -> Answer:
    """Store a silence from now for the command's duration."""
    matchers: list[dict[str, Any]] = [{"name": n, "value": v} for n, v in cmd.matchers]
    made = env.store.silences.add(matchers, ends_at=env.now + cmd.duration, author=author,
                                  comment=cmd.comment, now=env.now)
    text = (f":mute: Silence added: {silence_text(made)}\nMatching alerts are held until then;"
            f" `{env.settings.slack.command} unsilence {made.id}` ends it early.")
    fleet = dict(cmd.matchers).get("fleet")
    names = [f.name for f in env.store.fleets.all()] if fleet is not None else []
    if fleet is not None and fleet.strip().upper() not in {n.upper() for n in names}:
        text += (f"\n:warning: No fleet is named `{esc(fleet)}` (fleets:"
                 f" {esc(clip(', '.join(names) or 'none yet', 1000))}): it matches nothing until"
                 " one is.")
    return Answer(f"Silence #{made.id} added", [section(text)], share=False)


def _posting_here(env: Env, fleet: str, channel: str, channel_name: str) -> str | None:
    """The fleet's own Slack receiver that posts to this channel, named in bot.toml by its ID
    or by its name (``#video-security``, as Slack's ``channel_name`` gives it), if any."""
    found = env.store.fleets.get(fleet)
    own = set(found.receivers) if found is not None else set()
    here = {channel.upper()} | ({channel_name.lower()} if channel_name else set())
    for r in env.settings.receivers:
        configured = (r.channel or "").strip()
        if r.type == "slack" and r.name in own and (
                configured.upper() in here or configured.lstrip("#").lower() in here):
            return r.name
    return None


def end_silence(env: Env, silence_id: int) -> Answer:
    """End a silence now."""
    found = env.store.silences.get(silence_id)
    if found is None:
        return note(f"There is no silence #{silence_id} (see"
                    f" `{env.settings.slack.command} silences`).")
    if not env.store.silences.expire(silence_id, env.now):
        return note(f"Silence #{silence_id} had already ended ({when(found.ends_at)}).")
    return note(f":loud_sound: Silence #{silence_id} ended: {silence_text(found)}")


def change_subscription(env: Env, cmd: Subscribe, channel: str, channel_name: str = "") -> Answer:
    """Subscribe or unsubscribe the channel to a fleet's alerts."""
    if not subscriptions.CHANNEL_ID.match(channel):
        return note("Subscriptions are per channel: run this in the channel that should get"
                    " the alerts (not in a direct message).")
    fleet = env.fleet(cmd.fleet)
    if fleet is None:
        known = ", ".join(f.name for f in env.store.fleets.all()) or "none yet"
        return note(f"No fleet named `{esc(cmd.fleet)}` (fleets: {esc(clip(known, 1000))}).")
    cmd = replace(cmd, fleet=fleet.name)  # as stored: routing looks subscriptions up by it
    here = f"<#{channel}>"
    if cmd.on:
        through = _posting_here(env, cmd.fleet, channel, channel_name)
        if through is not None:  # a subscription would post every alert twice
            return note(f"This channel already gets *{esc(cmd.fleet)}*'s alerts through the"
                        f" receiver `{esc(through)}` (bot.toml): nothing to add.")
        if not subscriptions.subscribe(env.store, cmd.fleet, channel, env.now):
            return note(f"This channel already gets *{esc(cmd.fleet)}*'s alerts.")
        return Answer(f"Subscribed {cmd.fleet}", [section(
            f":bell: {here} now gets *{esc(cmd.fleet)}*'s alerts (from the next cycle). For a"
            " private channel, invite the app first (`/invite @firmwatch`).")], share=True)
    if not subscriptions.unsubscribe(env.store, cmd.fleet, channel, env.now):
        return note(f"This channel is not subscribed to *{esc(cmd.fleet)}*.")
    return Answer(f"Unsubscribed {cmd.fleet}", [section(
        f":no_bell: {here} no longer gets *{esc(cmd.fleet)}*'s alerts.")], share=True)


def refused(command: str, what: str) -> Answer:
    """The answer when someone who is not an admin tries to change something."""
    return note(f":lock: Only firmwatch admins may {what}. Ask an admin, or have one add your"
                f" Slack user or group ID to `[slack] admins` in bot.toml ({esc(command)}).")


