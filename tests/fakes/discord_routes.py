"""The fake Discord's REST handlers: commands, interaction callbacks, webhooks, channel messages; plus the
test switches for expired webhooks (401 / 50027) and rate limits (429 with Retry-After)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes import discord_payloads as P
from tests.fakes.discord_records import (
    DEADLINE_S,
    TOKEN_LIFETIME_S,
    Interaction,
    Recorded,
    Upload,
    check_message,
    error_response,
    json_response,
)


@dataclass
class RateLimit:
    """Answer the next ``times`` requests matching ``predicate`` (method, path) with 429."""

    predicate: Callable[[str, str], bool]
    retry_after: float
    times: int


class RestRoutes:
    """Mixed into FakeDiscord; needs ``records``, ``interactions``, ``commands`` and ``_record``."""

    records: list[Recorded]
    interactions: dict[str, Interaction]
    commands: dict[str | None, dict[str, dict[str, Any]]]
    _record: Callable[[Recorded], None]

    def _init_routes(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.webhook_failure: tuple[int, int] | None = None
        self.channel_size_limit = P.ATTACHMENT_SIZE_LIMIT
        self._limits: list[RateLimit] = []
        self._limits_lock = threading.Lock()
        self.cdn: dict[str, bytes] = {}  # attachment id → the bytes a user "uploaded" (served at /cdn/<id>/<name>)

    def fail_webhooks(self, status: int = 401, code: int = 50027) -> None:
        """From now on every interaction-webhook request (follow-ups, edits) fails, as after token expiry."""
        self.webhook_failure = (status, code)

    def heal_webhooks(self) -> None:
        self.webhook_failure = None

    def rate_limit(self, predicate: Callable[[str, str], bool], retry_after: float, times: int = 1) -> None:
        """The next ``times`` requests for which ``predicate(method, path)`` holds get 429 Retry-After."""
        with self._limits_lock:
            self._limits.append(RateLimit(predicate, retry_after, times))

    def add_routes(self, app: web.Application) -> None:
        api = "/api/v10"
        app.router.add_get(api + "/users/@me", self._static(lambda: P.BOT_USER))
        app.router.add_get(api + "/oauth2/applications/@me", self._static(P.application))
        app.router.add_get(api + "/gateway", self._static(lambda: {"url": self.gateway_url}))  # type: ignore[attr-defined]
        app.router.add_get(
            api + "/gateway/bot",
            self._static(
                lambda: {  # AutoShardedClient asks it how many shards
                    "url": self.gateway_url,
                    "shards": self.shards,  # type: ignore[attr-defined]
                    "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
                }
            ),
        )
        app.router.add_put(api + "/applications/{app}/commands", self._sync_commands)
        app.router.add_put(api + "/applications/{app}/guilds/{guild}/commands", self._sync_commands)
        app.router.add_post(api + "/interactions/{iid}/{token}/callback", self._callback)
        app.router.add_post(api + "/webhooks/{app}/{token}", self._followup)
        app.router.add_route("*", api + "/webhooks/{app}/{token}/messages/@original", self._original)
        app.router.add_post(api + "/channels/{channel}/messages", self._channel_message)
        app.router.add_get("/cdn/{att}/{name}", self._cdn)
        app.router.add_route("*", "/{tail:.*}", self._unmodelled)

    async def _read(self, request: web.Request) -> tuple[Any, list[Upload]]:
        if not request.content_type.startswith("multipart/"):
            raw = await request.read()
            return (json.loads(raw) if raw else None), []
        body, files = None, []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if part.name == "payload_json":
                body = json.loads(await part.text())
            else:
                data = bytes(await part.read(decode=False))
                files.append(Upload(part.name or "", part.filename or "", part.headers.get("Content-Type"), data))
        return body, files

    async def _begin(self, request: web.Request) -> Recorded:
        body, files = await self._read(request)
        path = request.path.removeprefix("/api/v10")
        return Recorded(request.method, path, dict(request.query), body, files)

    async def _reply(self, rec: Recorded, response: web.Response) -> web.Response:
        rec.status = response.status
        if response.content_type == "application/json" and isinstance(response.body, bytes):
            rec.response = json.loads(response.body)
        self._record(rec)
        return response

    def _limited(self, rec: Recorded) -> web.Response | None:
        with self._limits_lock:
            for limit in self._limits:
                if limit.times > 0 and limit.predicate(rec.method, rec.path):
                    limit.times -= 1
                    after = limit.retry_after
                    body = {"message": "You are being rate limited.", "retry_after": after, "global": False}
                    headers = {
                        "Content-Type": "application/json",
                        "Retry-After": f"{after:g}",
                        "Via": "1.1 google",
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset-After": f"{after:g}",
                        "X-RateLimit-Bucket": "fake",
                        "X-RateLimit-Scope": "user",
                    }
                    return web.Response(body=json.dumps(body).encode(), status=429, headers=headers)
        return None

    def _static(self, make: Callable[[], Any]) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            return await self._reply(await self._begin(request), json_response(make()))

        return handler

    async def _cdn(self, request: web.Request) -> web.Response:
        data = self.cdn.get(request.match_info["att"])
        if data is None:
            return web.Response(status=404, text="404: Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _unmodelled(self, request: web.Request) -> web.Response:
        return await self._reply(await self._begin(request), error_response(404, 0, "404: Not Found (unmodelled)"))

    async def _sync_commands(self, request: web.Request) -> web.Response:
        rec = await self._begin(request)
        guild = request.match_info.get("guild")
        synced = {}
        for cmd in rec.json or []:
            old = self.commands.get(guild, {}).get(cmd["name"], {})
            synced[cmd["name"]] = {
                **cmd,
                "id": old.get("id", P.snowflake()),
                "application_id": P.APP_ID,
                "version": P.snowflake(),
                **({"guild_id": guild} if guild else {}),
            }
        self.commands[guild] = synced
        return await self._reply(rec, json_response(list(synced.values())))

    def _message(self, body: dict, files: list[Upload], inter: Interaction | None, **kw: Any) -> dict[str, Any]:
        atts = [P.attachment(f.filename, len(f.data), f.content_type) for f in files]
        msg = P.message(
            body.get("content") or "",
            embeds=body.get("embeds"),
            attachments=atts,
            components=body.get("components"),
            interaction_id=inter.id if inter else None,
            **kw,
        )
        self.messages[msg["id"]] = msg
        return msg

    def _by_token(self, token: str) -> Interaction | None:
        inter = next((i for i in self.interactions.values() if i.token == token), None)
        if inter is None or time.monotonic() - inter.time > TOKEN_LIFETIME_S:
            return None
        return inter

    async def _callback(self, request: web.Request) -> web.Response:
        rec = await self._begin(request)
        inter = self.interactions.get(request.match_info["iid"])
        if inter is None or inter.token != request.match_info["token"] or rec.time - inter.time > DEADLINE_S:
            return await self._reply(rec, error_response(404, 10062, "Unknown interaction"))
        if inter.responded is not None:
            return await self._reply(rec, error_response(400, 40060, "Interaction has already been acknowledged."))
        body = rec.json or {}
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        if (bad := check_message(data, rec.files, inter)) is not None:
            return await self._reply(rec, bad)
        inter.responded = body.get("type")
        info = {
            "id": inter.id,
            "type": inter.payload["type"],
            "response_message_ephemeral": bool(flags & 64),
            "response_message_loading": inter.responded == 5,
        }
        resource: dict[str, Any] = {"type": inter.responded}
        if inter.responded in (4, 5):
            inter.original = self._message(data, rec.files, inter, flags=flags | (128 if inter.responded == 5 else 0))
            info["response_message_id"] = inter.original["id"]
            if inter.responded == 4:
                resource["message"] = inter.original
        elif inter.responded == 7 and inter.payload.get("message"):  # UPDATE_MESSAGE: edit the clicked message
            target = self.messages.get(inter.payload["message"]["id"], inter.payload["message"])
            for key in ("content", "embeds", "components"):
                if key in data:
                    target[key] = data[key]
            target["edited_timestamp"] = P.now_iso()
            resource["message"] = target
        return await self._reply(rec, json_response({"interaction": info, "resource": resource}))

    async def _followup(self, request: web.Request) -> web.Response:
        rec = await self._begin(request)
        if (limited := self._limited(rec)) is not None:
            return await self._reply(rec, limited)
        inter = self._by_token(request.match_info["token"])
        if self.webhook_failure or inter is None or inter.responded is None:
            status, code = self.webhook_failure or ((401, 50027) if inter is None else (404, 10015))
            return await self._reply(rec, error_response(status, code, "Invalid Webhook Token"))
        body = rec.json or {}
        if (bad := check_message(body, rec.files, inter)) is not None:
            return await self._reply(rec, bad)
        message = self._message(body, rec.files, inter, flags=int(body.get("flags") or 0))
        return await self._reply(rec, json_response(message))

    async def _original(self, request: web.Request) -> web.Response:
        rec = await self._begin(request)
        if (limited := self._limited(rec)) is not None:
            return await self._reply(rec, limited)
        inter = self._by_token(request.match_info["token"])
        if self.webhook_failure or inter is None:
            status, code = self.webhook_failure or (401, 50027)
            return await self._reply(rec, error_response(status, code, "Invalid Webhook Token"))
        if inter.original is None:
            return await self._reply(rec, error_response(404, 10008, "Unknown Message"))
        if request.method == "DELETE":
            inter.original = None
            return await self._reply(rec, web.Response(status=204))
        if request.method == "PATCH":
            body = rec.json or {}
            if (bad := check_message(body, rec.files, inter)) is not None:
                return await self._reply(rec, bad)
            for key in ("content", "embeds", "components"):
                if key in body:
                    inter.original[key] = body[key] or ([] if key != "content" else "")
            inter.original["flags"] &= ~128
            inter.original["edited_timestamp"] = P.now_iso()
        return await self._reply(rec, json_response(inter.original))

    async def _channel_message(self, request: web.Request) -> web.Response:
        rec = await self._begin(request)
        if (limited := self._limited(rec)) is not None:
            return await self._reply(rec, limited)
        if request.headers.get("Authorization") != f"Bot {P.BOT_TOKEN}":
            return await self._reply(rec, error_response(401, 0, "401: Unauthorized"))
        body = rec.json or {}
        if request.match_info["channel"] != P.CHANNEL_ID:
            return await self._reply(rec, error_response(404, 10003, "Unknown Channel"))
        fake_inter = Interaction(payload={"attachment_size_limit": self.channel_size_limit}, time=rec.time)
        if (bad := check_message(body, rec.files, fake_inter)) is not None:
            return await self._reply(rec, bad)
        message = self._message(body, rec.files, None)
        if body.get("message_reference"):
            message["message_reference"] = body["message_reference"]
            message["type"] = 19
        return await self._reply(rec, json_response(message))
