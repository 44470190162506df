"""The web playground's refusals: WebError (an HTTP status and a message for the page), quota texts written for
Discord reworded for the page, and the track id check every track URL goes through."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from worker.contract.ids import is_new_track_id


class WebError(Exception):
    """A request the playground refuses: ``status`` is the HTTP status, the message is for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def web_text(text: str, now: float | None = None) -> str:
    """A quota refusal written for Discord, reworded for the page (Discord timestamps become clock times)."""
    now = time.time() if now is None else now

    def clock(match: re.Match[str]) -> str:
        at = int(match[1])
        minutes = max(1, round((at - now) / 60))
        span = f"{minutes} min" if minutes < 90 else f"{minutes / 60:.1f} h"
        return f"at {datetime.fromtimestamp(at, UTC):%H:%M} UTC (in {span})"

    text = re.sub(r"<t:(\d+):R>", clock, text)
    text = text.replace("; `/queue` shows where they are", "").replace("This server", "The playground")
    return text.replace("been posted", "finished").replace("is posted", "is finished")


def check_track_id(track_id: str) -> str:
    if not is_new_track_id(track_id):
        raise WebError(404, "No such track: a track id is 32 hexadecimal characters.")
    return track_id
