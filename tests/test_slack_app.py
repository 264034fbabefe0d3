"""The slash command over real HTTP: signed requests in, answers at the fake response_url."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, Settings
from bot.fleets import Fleet, make_group
from bot.slack.app import build_app
from bot.slack.subscriptions import subscribed_receivers, subscriptions
from notifiers import health
from tests.slackharness import SECRET, assert_fits, command_body, serving, signed, texts
from tests.slackworld import ADMIN, CONFIG, GROUP_MEMBER, NOW, PERSON, World, world


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    """The app over a store filled by one cycle of the bundled samples (TinyDB)."""
    with world(tmp_path) as running:
        yield running


def only(responses: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(responses) == 1
    assert_fits(responses[0])
    return responses[0]


def test_requests_signed_as_slack_signs_them_are_answered(w: World) -> None:
    status, ack, responses = w.command("lookup DS-2CD3321G2-I")
    assert status == 200 and ack is None
    assert only(responses)["response_type"] == "ephemeral"
    auth = [c for c in w.fake.calls if c.method == "auth.test"]
    assert len(auth) == 1 and auth[0].auth == "Bearer xoxb-firmwatch-test"


@pytest.mark.parametrize("how", ["forged", "stale", "other secret", "unsigned", "body changed"])
def test_forged_or_stale_requests_are_refused(w: World, how: str) -> None:
    url = w.fake.response_url()
    body = command_body("status", url)
    headers = signed(body)
    if how == "forged":
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    elif how == "stale":
        headers = signed(body, timestamp=int(time.time()) - 5 * 60 - 30)
    elif how == "other secret":
        headers = signed(body, secret="not-the-signing-secret")
    elif how == "unsigned":
        del headers["X-Slack-Signature"], headers["X-Slack-Request-Timestamp"]
    else:
        body = command_body("silence fleet=hq for 365d", url)
    status, _ = w.server.post(body, headers)
    assert status == 401
    assert w.store.silences.all() == []
    status, _, responses = w.command("status")  # the next good request still works
    assert status == 200 and len(responses) == 1 and w.fake.responded(url) == []


@pytest.mark.parametrize(("text", "shown"), [
    ("", "/firmware subcommands"),
    ("help", "/firmware lookup MODEL [share]"),
    ("frobnicate", "unknown subcommand 'frobnicate'"),
    ("lookup", "Usage: `/firmware lookup MODEL [share]`"),
    ("upcoming never", "Usage: `/firmware upcoming [DAYS]`"),
    ("silence fleet=hq for ever", "expected a duration such as 2h, 7d or 2w (got 'ever')"),
    ("unsilence ²", "Usage: `/firmware unsilence ID`"),  # str.isdigit() says yes, int() no
    ("silence fleet=hq for 99999999999999999999w", "a silence lasts at most 365 days"),
])
def test_help_and_bad_arguments_are_answered_in_the_ack(w: World, text: str, shown: str) -> None:
    status, ack, responses = w.command(text, user=PERSON)
    assert status == 200 and responses == []
    assert ack["response_type"] == "ephemeral" and shown in texts(ack)
    assert_fits(ack)


@pytest.mark.parametrize("backend", ["tinydb", "sqlite"])
def test_lookup_answers_the_model_card(tmp_path: Path, backend: str) -> None:
    with world(tmp_path, backend=backend) as w:
        answer = texts(only(w.command("lookup ds-2cd3321g2-i")[2]))
    assert "DS-2CD3321G2-I" in answer and "*dynamic* since 2023-03-15" in answer
    assert "DS-2CD3xxx network cameras: covered by the LTS policy" in answer
    assert "HSRC-202109-01" in answer and "CVSS 9.8 critical" in answer
    assert "KEV since 2022-01-10" in answer and "fixed in V5.5.800 build 210628" in answer
    assert "*40 of your devices affected* (hq)" in answer
    assert "IPC_G2_EN_STD_V5.9.72_260713.zip|V5.9.72 build 260713>" in answer
    assert "40 of your devices run older firmware" in answer
    assert "*hq* · Site A: 40 devices (V5.5.0 build 200911)" in answer


def test_lookup_is_shared_only_when_asked(w: World) -> None:
    assert only(w.command("lookup DS-96064NI-I16 share")[2])["response_type"] == "in_channel"
    answer = texts(only(w.command("lookup DS-96064NI-I16")[2]))
    assert "security-only from 2027-01-15" in answer and "HSRC-202412-02" in answer
    assert "*3 of your devices affected* (branch)" in answer


def test_lookup_of_a_model_nobody_runs_and_of_nonsense(w: World) -> None:
    answer = texts(only(w.command("lookup DS-2CD3021G2-IS")[2]))
    assert "HSRC-202109-01" in answer and "none of this model in your fleets" in answer
    assert "Latest firmware* <" in answer
    answer = texts(only(w.command("lookup DS-2CD2143G2-I")[2]))
    assert "none stored for this model" in answer and "*not covered* by the LTS" in answer
    answer = texts(only(w.command("lookup !!!")[2]))
    assert "is not a model number firmwatch can read" in answer


def test_advisory_by_id_and_by_cve(w: World) -> None:
    by_id = texts(only(w.command("advisory HSRC-202109-01")[2]))
    by_cve = texts(only(w.command("advisory cve-2021-36260 share")[2]))
    for answer in (by_id, by_cve):
        assert "Command Injection Vulnerability" in answer
        assert "CVE-2021-36260* · CVSS 3.1 9.8 critical (vendor)" in answer
        assert "KEV since 2022-01-10, due 2022-01-24" in answer
        assert "`DS-2CD3xx1G2` (CVE-2021-36260): Versions below V5.5.800" in answer
        assert "*hq*: 40 devices in 1 group (DS-2CD3321G2-I)" in answer


def test_advisory_for_a_cve_without_advisory_and_for_nothing(w: World) -> None:
    answer = texts(only(w.command("advisory CVE-2023-28808")[2]))
    assert "No stored Hikvision advisory names this CVE" in answer and "9.1 critical" in answer
    answer = texts(only(w.command("advisory HSRC-999999-99")[2]))
    assert "No stored advisory or CVE matches `HSRC-999999-99`" in answer


def test_fleets_fleet_and_upcoming(w: World) -> None:
    fleets = texts(only(w.command("fleets")[2]))
    assert "*hq*: 42 devices in 2 groups — dynamic 40 · unknown 2" in fleets
    assert "*branch*: 3 devices in 1 group — dynamic 3" in fleets
    hq = texts(only(w.command("fleet hq")[2]))
    assert "DS-2CD3321G2-I: 40 devices in 1 group · dynamic" in hq
    assert "*HSRC-202109-01* CVSS 9.8 critical · :rotating_light: KEV" in hq
    assert "Firmware V5.9.72 build 260713 available" in hq
    assert "No fleet named `nope` (fleets: branch, hq)" in texts(only(w.command("fleet nope")[2]))
    soon = texts(only(w.command("upcoming 60")[2]))
    assert "2027-01-15 · *branch* · DS-96064NI-I16 → *security-only* · 3 devices" in soon
    assert "none: no model" in texts(only(w.command("upcoming 30")[2]))


def test_status_shows_sources_outbox_and_the_last_cycle(w: World) -> None:
    answer = texts(only(w.command("status")[2]))
    assert ":large_green_circle: *kev* ok just now, 2 items" in answer
    assert "*Outbox* pending 3 · retrying 0 · sent 0 · dead 0" in answer
    assert "started 2026-11-30T12:00:00+00:00" in answer and "enqueued 3" in answer
    assert "no scheduler has run yet" in answer
    w.store.meta.delete("cycle.last")
    w.store.meta.put("scheduler.jobs", {
        "source:nvd": {"runs": 42, "failures": 2, "misses": 1, "consecutive_failures": 2,
                       "last_error": "JobTimeout: took longer than 60 s"},
        "deliver": {"runs": 900, "failures": 0, "misses": 0, "consecutive_failures": 0},
        "junk": 5}, NOW)
    w.store.meta.put("scheduler.leader", {"worker": "web.1:42", "since": "2026-11-30"}, NOW)
    answer = texts(only(w.command("status")[2]))
    assert "*Last cycle* none yet" in answer and "leader web.1:42 since 2026-11-30" in answer
    assert (":warning: *source:nvd* 2 failed, 1 missed of 42 runs (2 in a row):"
            " JobTimeout: took longer than 60 s") in answer
    assert "1 job running fine: deliver" in answer


def test_status_says_which_receivers_wait_and_why(w: World) -> None:
    """Alerts pile up as pending while a receiver is disabled (say its channel was archived)
    or paused after a 429: status tells Slack users why, and how to resume."""
    assert "waiting" not in texts(only(w.command("status")[2]))
    health.disable(w.store, "alerts", "Slack refused the message (is_archived): the channel"
                   " 'C0ALERTS1' is archived", NOW)
    w.store.meta.put(health.PAUSED, {"ticketing": "2026-11-30T12:05:00+00:00"}, NOW)
    answer = texts(only(w.command("status")[2]))
    assert ("*alerts* disabled since 2026-11-30 12:00 UTC: Slack refused the message"
            " (is_archived): the channel 'C0ALERTS1' is archived") in answer
    assert "`firmwatch outbox enable alerts`" in answer
    assert ("*ticketing* paused until <!date^1796040300^{date_short_pretty} {time}|2026-11-30"
            " 12:05 UTC>") in answer


def test_silences_are_added_listed_and_ended_by_admins(w: World) -> None:
    added = texts(only(w.command('silence fleet=hq cve=cve-2021-36260 site="Site A" for 7d'
                                 " patch window")[2]))
    assert "Silence added: *#1* `fleet=hq cve=CVE-2021-36260 site=Site A`" in added
    assert ("until <!date^1796644800^{date_short_pretty} {time}|2026-12-07 12:00 UTC> by"
            " <@UADMIN01> — patch window") in added
    (stored,) = w.store.silences.active(NOW)
    assert stored.matchers == [{"name": "fleet", "value": "hq"},
                               {"name": "cve", "value": "CVE-2021-36260"},
                               {"name": "site", "value": "Site A"}]
    assert (stored.author, stored.comment) == (ADMIN, "patch window")
    assert "*Silences in force (1)*" in texts(only(w.command("silences", user=PERSON)[2]))
    assert "Silence #1 ended" in texts(only(w.command("unsilence 1")[2]))
    assert "had already ended" in texts(only(w.command("unsilence 1")[2]))
    assert "There is no silence #7" in texts(only(w.command("unsilence 7")[2]))
    assert w.store.silences.active(NOW) == []


def test_a_silence_naming_no_known_fleet_is_kept_and_said_to_match_nothing_yet(w: World) -> None:
    answer = texts(only(w.command("silence fleet=hq-campus for 1d")[2]))
    assert "Silence added" in answer
    assert ":warning: No fleet is named `hq-campus` (fleets: branch, hq)" in answer
    assert len(w.store.silences.active(NOW)) == 1  # kept: the fleet may be registered later
    assert "No fleet is named" not in texts(only(w.command("silence fleet=HQ for 1d")[2]))


@pytest.mark.parametrize("text", ["silence fleet=hq for 1d", "unsilence 1", "subscribe hq",
                                  "unsubscribe hq"])
def test_changes_are_refused_for_people_who_are_not_admins(w: World, text: str) -> None:
    w.store.silences.add([], ends_at=NOW.replace(year=2027), author=ADMIN, comment="", now=NOW)
    answer = texts(only(w.command(text, user=PERSON)[2]))
    assert ":lock: Only firmwatch admins may" in answer and "[slack] admins" in answer
    assert len(w.store.silences.active(NOW)) == 1 and subscriptions(w.store) == {}
    assert [c.data for c in w.fake.calls if c.method == "usergroups.users.list"] == [
        {"usergroup": "S0OPSTEAM"}]


def test_members_of_an_admin_group_may_change_things(w: World) -> None:
    assert "Silence added" in texts(only(w.command("silence kind=firmware for 2h",
                                                  user=GROUP_MEMBER)[2]))
    assert "Silence #1 ended" in texts(only(w.command("unsilence 1", user=GROUP_MEMBER)[2]))
    assert len(w.fake.api("usergroups.users.list")) == 1, "the members are cached"


def test_a_failing_group_lookup_admits_nobody(w: World) -> None:
    w.fake.failures["usergroups.users.list"] = "missing_scope"
    assert ":lock:" in texts(only(w.command("silence fleet=hq for 1d", user=GROUP_MEMBER)[2]))
    assert "Silence added" in texts(only(w.command("silence fleet=hq for 1d", user=ADMIN)[2]))


def test_subscribing_a_channel_that_already_gets_the_fleet_through_a_receiver_is_refused(
    w: World,
) -> None:
    """hq's receiver `alerts` posts to C0ALERTS1: a subscription there would post twice."""
    answer = texts(only(w.command("subscribe hq", channel="C0ALERTS1")[2]))
    assert "already gets *hq*'s alerts through the receiver `alerts`" in answer
    assert subscriptions(w.store) == {}


@pytest.mark.parametrize("configured", ["#Video-Security", "video-security"])
def test_a_receiver_naming_the_channel_by_name_also_refuses_a_second_subscription(
    tmp_path: Path, configured: str
) -> None:
    """bot.toml names channels as people do (`channel = "#video-security"`): subscribing hq in
    that channel would post each of its alerts there twice, once per receiver."""
    config = CONFIG.replace('channel = "C0ALERTS1"', f'channel = "{configured}"')
    with world(tmp_path, config=config) as w:
        _, _, responses = w.command("subscribe hq", channel="C0VIDEO01",
                                    channel_name="video-security")
        answer = texts(only(responses))
        assert "already gets *hq*'s alerts through the receiver `alerts`" in answer, answer
        assert subscriptions(w.store) == {}
        w.command("subscribe hq", channel="C0OTHER01", channel_name="video-security-eu")
        assert subscriptions(w.store) == {"hq": ["C0OTHER01"]}


def test_subscribe_routes_a_fleet_to_the_channel(w: World) -> None:
    answer = only(w.command("subscribe hq", channel="C0VIDEO01")[2])
    assert answer["response_type"] == "in_channel" and "<#C0VIDEO01>" in texts(answer)
    assert "already gets" in texts(only(w.command("subscribe hq", channel="C0VIDEO01")[2]))
    w.command("subscribe branch", channel="C0VIDEO01")
    w.command("subscribe hq", channel="G0PRIVATE")
    assert subscriptions(w.store) == {"branch": ["C0VIDEO01"], "hq": ["C0VIDEO01", "G0PRIVATE"]}
    receivers = subscribed_receivers(w.store)
    assert [(r.name, r.type, r.channel) for r in receivers] == [
        ("slack:C0VIDEO01", "slack", "C0VIDEO01"), ("slack:G0PRIVATE", "slack", "G0PRIVATE")]
    assert "No fleet named `nope`" in texts(only(w.command("subscribe nope")[2]))
    assert "not in a direct message" in texts(only(w.command("subscribe hq", channel="D0DM")[2]))
    assert "no longer gets" in texts(only(w.command("unsubscribe hq", channel="G0PRIVATE")[2]))
    assert "is not subscribed" in texts(only(w.command("unsubscribe hq", channel="G0PRIVATE")[2]))
    assert subscriptions(w.store) == {"branch": ["C0VIDEO01"], "hq": ["C0VIDEO01"]}
    # A fleet named as people type it (another case): the fleet as stored, which routing reads;
    # it was refused ("No fleet named `HQ`") though the answer listed hq.
    assert "now gets *hq*" in texts(only(w.command("subscribe HQ", channel="C0OTHER01")[2]))
    assert subscriptions(w.store)["hq"] == ["C0OTHER01", "C0VIDEO01"]


def test_big_answers_stay_within_slack_limits(w: World) -> None:
    with w.store.transaction():
        for i in range(300):
            w.store.fleets.put(Fleet(f"fleet-{i:03d}-with-a-rather-long-name", "x" * 200))
        w.store.fleets.put_groups(make_group("fleet-000-with-a-rather-long-name",
                                             f"DS-2CD3321G2-I({i})", "V5.5.0", 1, f"site {i}")
                                  for i in range(200))
    for text in ("fleets", "fleet fleet-000-with-a-rather-long-name", "upcoming 3650",
                 "fleet nope"):
        only(w.command(text)[2])


def test_a_custom_command_name(tmp_path: Path) -> None:
    with world(tmp_path, slack='command = "/fw"\n') as w:
        status, ack, _ = w.command("help")
        assert status == 200 and "`/fw lookup MODEL [share]`" in texts(ack)


def test_missing_credentials_name_the_variable(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        with pytest.raises(ConfigError, match=r"SLACK_SIGNING_SECRET \(named by"
                                              r" slack.signing_secret_env\)"):
            build_app(w.store, Settings(), environ={"SLACK_BOT_TOKEN": "xoxb-1"})
        with pytest.raises(ConfigError, match="MY_TOKEN"):
            build_app(w.store, Settings.model_validate({"slack": {"bot_token_env": "MY_TOKEN"}}),
                      environ={"SLACK_SIGNING_SECRET": SECRET})
        assert json.dumps(w.fake.api("auth.test"))  # building made no call
        assert w.fake.calls == []


def test_socket_mode_needs_no_signing_secret_and_then_verifies_no_http(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        environ = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
        app = build_app(w.store, w.settings, environ=environ)
        with serving(app, w.store, w.settings, environ) as server:
            body = command_body("status", w.fake.response_url())
            for secret in ("", SECRET):
                assert server.post(body, signed(body, secret=secret))[0] == 401
