"""Long-lived connections counted per client and in all, against a cap on each.

The one rule for every listener whose connections stay open (SMTP sessions, web chat
and console sockets): a client (`router.http.forwarded.client_key`: an address, an IPv6
/64; for the console, a signed-in session) holds at most `per_client` of them, and the
process at most `total`, so one client cannot take the file descriptors every other
client, the console and `/healthz` need. Listeners may draw on one `SlotBudget` for
their total (the web chat's and the console's sockets do: both are the same kind of
descriptor), each with its own cap per client. The counts are this process's:
connections belong to the process that accepted them.
"""

from __future__ import annotations

import collections
import resource
from typing import Literal

Refusal = Literal["total", "client"]

# Of the process's open-file limit, the share long-lived connections may hold; the
# rest stays for the database, the SMTP listener, files and short HTTP requests.
FD_SHARE = 0.8


class SlotBudget:
    """The connections a process may hold in all, for the listeners that share it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.open = 0


class ClientSlots:
    """Counts of one listener's open connections, per client, against a total of its
    own (`total` a number) or one it shares (`total` a `SlotBudget`); not thread-safe
    (one loop)."""

    def __init__(self, *, total: int | SlotBudget, per_client: int) -> None:
        self.budget = total if isinstance(total, SlotBudget) else SlotBudget(total)
        self.per_client = per_client
        self._open = 0
        self._by_client: collections.Counter[str] = collections.Counter()

    @property
    def total(self) -> int:
        """The cap on connections of every listener sharing the budget."""
        return self.budget.total

    def __len__(self) -> int:
        """This listener's open connections (the budget counts every listener's)."""
        return self._open

    def held(self, client: str) -> int:
        """How many connections `client` holds now."""
        return self._by_client[client]

    def admit(self, client: str) -> Refusal | None:
        """Count a connection of `client` in; or say which cap it is over (nothing is
        counted then). Check and count happen together, so concurrent callers in one
        event loop cannot both take the last slot."""
        if self.budget.open >= self.budget.total:
            return "total"
        if self._by_client[client] >= self.per_client:
            return "client"
        self.budget.open += 1
        self._open += 1
        self._by_client[client] += 1
        return None

    def release(self, client: str) -> None:
        """A connection `admit` counted in has ended."""
        self.budget.open -= 1
        self._open -= 1
        self._by_client[client] -= 1
        if self._by_client[client] <= 0:
            del self._by_client[client]


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit; return the soft
    limit now in force. Debian's systemd gives services 1024 soft (and 524288 hard),
    which a few hundred held sockets exhaust."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass  # the kernel's nr_open may be lower than the hard limit: keep the soft one
    return soft


def connection_budget(configured: int) -> int:
    """The cap on long-lived connections of this process: `configured`, but never more
    than `FD_SHARE` of the open-file limit (0 configured: that share itself)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    share = int(soft * FD_SHARE) if soft != resource.RLIM_INFINITY else configured or 65_536
    return min(configured, share) if configured > 0 else share
