"""Who gets what: the routing a bot.toml sets up, per receiver, in words (pure).

``firmwatch config routing`` prints it. It reads the file only: fleets created through the REST
API or `fleet import` (which have receivers only when declared here, or through the API) and
channels subscribed in Slack are not in it, so names a route expects from them are flagged as
"not declared here" rather than refused.
"""

from __future__ import annotations

from bot.config import FleetSettings, RouteSettings, Settings


def explain(settings: Settings) -> list[str]:
    """One block per receiver (what it gets from which fleet or route), then the warnings."""
    sched = settings.schedule
    lines = [
        f"digests go out at {sched.digest_at} {sched.timezone} (weekly ones on Mondays);"
        " a receiver's own min_severity applies last; silences, acks and snoozes apart"
    ]
    for receiver in settings.receivers:
        own = f", min severity {receiver.min_severity}" if receiver.min_severity != "none" else ""
        lines.append(f"{receiver.name} ({receiver.type}{own})")
        said = [
            f"  fleet {f.name}: {_fleet_words(f)}"
            for f in settings.fleets
            if receiver.name in f.receivers
        ] + [
            f"  route {r.name}: {_route_words(r)}"
            for r in settings.routes
            if receiver.name in r.receivers
        ]
        lines += said or ["  nothing: no fleet or route in this file names it"]
    return lines + warnings(settings)


def warnings(settings: Settings) -> list[str]:
    """Fleets nobody hears of, and route matchers that no fleet declared here can meet."""
    out: list[str] = []
    declared = {f.name for f in settings.fleets}
    tags = {t for f in settings.fleets for t in f.tags}
    sites = {d.site for f in settings.fleets for d in f.devices}
    unmatched = [f.name for f in settings.fleets if not f.receivers
                 and not any(_route_takes(r, f) for r in settings.routes)]
    if unmatched:
        out.append("warning: no receiver hears of fleet " + ", ".join(unmatched))
    for r in settings.routes:
        for name in r.fleets:
            if name not in declared:
                out.append(f"warning: route {r.name}: fleet {name!r} is not declared here"
                           " (it matches only a fleet imported or created through the API)")
        for tag in r.fleet_tags:
            if tag not in tags:
                out.append(f"warning: route {r.name}: no fleet declared here has the tag"
                           f" {tag!r} (only a fleet created through the API with it matches)")
        if r.sites and not r.fleets and not r.fleet_tags:
            out.append(f"warning: route {r.name}: sites {', '.join(r.sites)} match those sites"
                       " in every fleet; add fleets or fleet_tags to keep it to one customer's")
        elif r.sites and sites and not set(r.sites) & sites and not (set(r.fleets) - declared):
            out.append(f"warning: route {r.name}: no device declared here is at site"
                       f" {', '.join(repr(s) for s in r.sites)} (imported devices may be)")
    return out


def _fleet_words(f: FleetSettings) -> str:
    kinds = ", ".join(f.kinds) if f.kinds else "nothing (kinds is empty)"
    words = [kinds]
    if f.min_severity != "none":
        words.append(f"advisories of severity {f.min_severity} and above")
    return " · ".join(words) + " · at once"


def _route_words(r: RouteSettings) -> str:
    words = [f"kinds {', '.join(r.kinds)}" if r.kinds else "every kind"]
    if r.stages:
        words.append(f"stages {', '.join(r.stages)} (or a reminder of entering one)")
    if r.fleets:
        words.append(f"fleets {', '.join(r.fleets)}")
    if r.fleet_tags:
        words.append(f"fleets tagged {' or '.join(r.fleet_tags)}")
    if r.sites:
        words.append(f"sites {', '.join(r.sites)}")
    if r.kev is not None:
        words.append("listed in CISA KEV" if r.kev else "not listed in CISA KEV")
    if r.min_severity != "none":
        words.append(f"advisories of severity {r.min_severity} and above")
    words.append(f"{r.digest} digest" if r.digest else "at once")
    return " · ".join(words)


def _route_takes(r: RouteSettings, f: FleetSettings) -> bool:
    """Whether a route can take some finding of the fleet (fleet and tag matchers only)."""
    return (not r.fleets or f.name in r.fleets) and (
        not r.fleet_tags or bool(set(r.fleet_tags) & set(f.tags)))
