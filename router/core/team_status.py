"""What a channel may show a customer before they write: is the team answering now, and
if not, from when (computed by the core from the channel's calendar and presence)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class TeamStatus:
    """`online`: a person of the channel's first tier answers now. Otherwise
    `next_opening` is when one will (in the calendar's zone), or None when no time can
    honestly be named (no agent, no hours, or hours that never open again). `text` says
    it in the customer's language, the opening written their way."""

    online: bool
    next_opening: datetime | None
    text: str
