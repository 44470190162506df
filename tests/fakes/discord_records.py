"""What the fake Discord records and replies: requests, uploads, interactions, JSON/error responses."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEADLINE_S = 3.0
TOKEN_LIFETIME_S = 15 * 60


@dataclass
class Upload:
    """One file part of a multipart request."""

    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class Recorded:
    """A request the bot made (method ``WS`` with path ``op:N`` for gateway frames)."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[Upload] = field(default_factory=list)
    time: float = field(default_factory=time.monotonic)
    status: int = 200
    response: Any = None  # the JSON the fake answered with


@dataclass
class Interaction:
    """An interaction the test injected, and what the bot did with it."""

    payload: dict[str, Any]
    time: float
    responded: int | None = None
    original: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.payload["id"]

    @property
    def token(self) -> str:
        return self.payload["token"]


def json_response(data: Any, status: int = 200) -> web.Response:
    # discord.py parses JSON only when Content-Type is exactly "application/json" (no charset).
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


def error_response(status: int, code: int, message: str) -> web.Response:
    return json_response({"code": code, "message": message}, status)


def check_message(body: dict, files: list[Upload], inter: Interaction) -> web.Response | None:
    """Discord's per-message limits: 2000 characters, 10 embeds, 10 files, attachment_size_limit bytes each."""
    limit = inter.payload["attachment_size_limit"]
    if len(body.get("content") or "") > 2000 or len(body.get("embeds") or []) > 10 or len(files) > 10:
        return error_response(400, 50035, "Invalid Form Body")
    if any(len(f.data) > limit for f in files):
        return error_response(413, 40005, "Request entity too large")
    return None
