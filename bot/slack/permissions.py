"""Who may change things from Slack: ``[slack] admins`` user IDs, or members of admin groups.

Group (``S…``) members come from ``usergroups.users.list`` and are cached for ``ttl`` seconds, so a
burst of commands costs one Web API call per group. A failed call admits nobody through that
group (and is retried after ``retry`` seconds); it never raises into the handler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)


class Admins:
    """Answers "may this user change things?" for the configured admin IDs."""

    def __init__(
        self,
        admins: Sequence[str],
        client: WebClient,
        *,
        ttl: float = 60.0,
        retry: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = frozenset(a for a in admins if not a.startswith("S"))
        self.groups = tuple(a for a in admins if a.startswith("S"))
        self._client = client
        self._ttl, self._retry, self._clock = ttl, retry, monotonic
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def allows(self, user: str) -> bool:
        """True when the user is an admin or in an admin group."""
        if user in self.users:
            return True
        return any(user in self.members(group) for group in self.groups)

    def members(self, group: str) -> frozenset[str]:
        """The group's members (cached)."""
        now = self._clock()
        with self._lock:
            cached = self._members.get(group)
            if cached is not None and cached[0] > now:
                return cached[1]
        try:
            response = self._client.usergroups_users_list(usergroup=group)
            users = response.get("users")
            found = frozenset(u for u in users if isinstance(u, str)) if isinstance(
                users, list) else frozenset()
            until = now + self._ttl
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("cannot list the members of Slack user group %s: %s", group, exc)
            found, until = frozenset(), now + self._retry
        with self._lock:
            self._members[group] = (until, found)
        return found
