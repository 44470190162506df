"""Test-side helpers over FakeDiscord: wait for the bot, drive /compose, pick out its answers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.discord_server import FakeDiscord, Interaction, Recorded
from tests.fakes.processes import tail


def wait_alive(
    fake: FakeDiscord,
    predicate: Callable[[Recorded], bool],
    timeout: float,
    procs: list[subprocess.Popen],
    since: float = 0.0,
) -> Recorded:
    """``fake.wait_for`` in 1 s slices, failing at once (with its log) if one of ``procs`` dies."""
    deadline = time.monotonic() + timeout
    while True:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args} exited with code {proc.returncode}:\n{tail(proc)}")
        left = deadline - time.monotonic()
        try:
            return fake.wait_for(predicate, min(1.0, max(left, 0.01)), since=since)
        except TimeoutError:
            if left <= 1.0:
                logs = "\n".join(f"--- {p.args}:\n{tail(p, 25)}" for p in procs)
                raise TimeoutError(f"nothing matched within {timeout:g}s\n{logs}") from None


def wait_ready(fake: FakeDiscord, bot: subprocess.Popen, timeout: float = 30.0, since: float = 0.0) -> None:
    """Until the bot has synced its commands and set its presence (done in on_ready)."""
    wait_alive(fake, lambda r: r.method == "PUT" and r.path.endswith("/commands"), timeout, [bot], since=since)
    wait_alive(fake, lambda r: r.method == "WS" and r.path == "op:3", timeout, [bot], since=since)


def is_callback(inter: Interaction) -> Callable[[Recorded], bool]:
    return lambda r: r.method == "POST" and r.path.startswith(f"/interactions/{inter.id}/") and "/callback" in r.path


def is_followup(inter: Interaction) -> Callable[[Recorded], bool]:
    return lambda r: r.method == "POST" and r.path.endswith(f"/{inter.token}") and r.path.startswith("/webhooks/")


def is_edit(inter: Interaction) -> Callable[[Recorded], bool]:
    return lambda r: r.method == "PATCH" and f"/{inter.token}/messages/@original" in r.path


def style_choices(fake: FakeDiscord, bot: subprocess.Popen, typed: str = "") -> list[str]:
    """Ask the bot's autocomplete for styles; returns the offered values."""
    inter = fake.inject_autocomplete("compose", {"style": typed, "length": ""}, focused="style")
    rec = wait_alive(fake, is_callback(inter), 5.0, [bot])
    assert rec.json["type"] == 8, rec.json
    return [c["value"] for c in rec.json["data"]["choices"]]


def wait_styles(fake: FakeDiscord, procs: list[subprocess.Popen], style: str, timeout: float = 60.0) -> float:
    """Until the bot's styles cache offers ``style`` (a worker has published it); returns the wait."""
    start = time.monotonic()
    while style not in style_choices(fake, procs[0]):
        for proc in procs:
            assert proc.poll() is None, f"{proc.args} exited with code {proc.returncode}:\n{tail(proc)}"
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"the bot never offered style {style!r} within {timeout:g}s")
        time.sleep(0.5)
    return time.monotonic() - start


def is_channel_post(channel_id: str) -> Callable[[Recorded], bool]:
    return lambda r: r.method == "POST" and r.path == f"/channels/{channel_id}/messages"


def message_of(fake: FakeDiscord, rec: Recorded) -> dict[str, Any]:
    """The message object the fake created for ``rec`` (a follow-up or channel post), as it is now."""
    return fake.messages[rec.response["id"]]


def buttons(message: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(emoji, label, custom_id) of every button on ``message``, row by row."""
    return [
        ((b.get("emoji") or {}).get("name", ""), b.get("label", ""), b["custom_id"])
        for row in message.get("components") or []
        for b in row.get("components", [])
    ]


def button(message: dict[str, Any], emoji: str, row: int = 0) -> str:
    """The custom_id of the ``emoji`` button in row ``row``."""
    rows = message.get("components") or []
    return next(b["custom_id"] for b in rows[row]["components"] if (b.get("emoji") or {}).get("name") == emoji)


def embed_fields(rec: Recorded, index: int = 0) -> dict[str, str]:
    return {f["name"]: f["value"] for f in rec.json["embeds"][index]["fields"]}
