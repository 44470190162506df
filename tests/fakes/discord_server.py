"""A loopback fake of Discord's REST API and gateway, served by aiohttp in a background thread.

The real, unmodified discord.py client talks to it once ``Route.BASE`` and ``DEFAULT_GATEWAY`` point
here (the bot does that from DISCORD_API_BASE / DISCORD_GATEWAY_URL). Tests inject interactions and
wait for the requests the bot makes.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

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

__all__ = ["FakeDiscord", "Interaction", "Recorded", "Upload"]


class FakeDiscord:
    """Start with ``start()``; point the bot at ``api_base`` and ``gateway_url``; ``stop()`` at the end."""

    def __init__(self) -> None:
        self.records: list[Recorded] = []
        self.interactions: dict[str, Interaction] = {}
        self.commands: dict[str | None, dict[str, dict[str, Any]]] = {}
        self.port = 0
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def start(self) -> FakeDiscord:
        started = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start_app())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-discord", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("fake Discord did not start")
        return self

    async def _start_app(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self._gateway)
        api = "/api/v10"
        app.router.add_get(api + "/users/@me", self._static(lambda: P.BOT_USER))
        app.router.add_get(api + "/oauth2/applications/@me", self._static(P.application))
        app.router.add_get(api + "/gateway", self._static(lambda: {"url": self.gateway_url}))
        app.router.add_put(api + "/applications/{app}/commands", self._sync_commands)
        app.router.add_put(api + "/applications/{app}/guilds/{guild}/commands", self._sync_commands)
        app.router.add_post(api + "/interactions/{iid}/{token}/callback", self._callback)
        app.router.add_post(api + "/webhooks/{app}/{token}", self._followup)
        app.router.add_route("*", api + "/webhooks/{app}/{token}/messages/@original", self._original)
        app.router.add_post(api + "/channels/{channel}/messages", self._channel_message)
        app.router.add_route("*", "/{tail:.*}", self._unmodelled)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject_slash(self, name: str, options: dict[str, Any] | list[dict[str, Any]], *,
                     user: dict[str, Any] | None = None, size_limit: int = P.ATTACHMENT_SIZE_LIMIT) -> Interaction:
        """Send INTERACTION_CREATE for ``/name options`` from ``user`` in the test guild's channel."""
        return self._inject(2, name, P.options(options), user, size_limit)

    def inject_autocomplete(self, name: str, options: dict[str, Any], focused: str, *,
                            user: dict[str, Any] | None = None) -> Interaction:
        """Send an autocomplete interaction (type 4) with ``focused`` being typed."""
        return self._inject(4, name, P.options(options, focused), user, P.ATTACHMENT_SIZE_LIMIT)

    def _inject(self, kind: int, name: str, opts: list, user: dict | None, size_limit: int) -> Interaction:
        command = self.commands.get(P.GUILD_ID, {}).get(name) or self.commands.get(None, {}).get(name) or {}
        data = {"id": command.get("id", P.snowflake()), "name": name, "type": 1, "options": opts}
        if P.GUILD_ID in self.commands and name in self.commands[P.GUILD_ID]:
            data["guild_id"] = P.GUILD_ID
        payload = P.interaction(kind, data, user or P.user(username="alice"), size_limit=size_limit)
        inter = Interaction(payload=payload, time=time.monotonic())
        self.interactions[inter.id] = inter
        asyncio.run_coroutine_threadsafe(self._dispatch("INTERACTION_CREATE", payload), self._loop).result(5)
        return inter

    def wait_for(self, predicate: Callable[[Recorded], bool], timeout: float = 10.0,
                 since: float = 0.0) -> Recorded:
        """The first recorded request at or after ``since`` matching ``predicate``; TimeoutError if none."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for rec in self.records:
                    if rec.time >= since and predicate(rec):
                        return rec
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n".join(f"  {r.method} {r.path} {r.status}" for r in self.records[-15:])
                    raise TimeoutError(f"no matching request within {timeout:g}s; last seen:\n{seen}")
                self._cond.wait(left)

    def find(self, predicate: Callable[[Recorded], bool]) -> list[Recorded]:
        with self._cond:
            return [rec for rec in self.records if predicate(rec)]

    def _record(self, rec: Recorded) -> None:
        with self._cond:
            self.records.append(rec)
            self._cond.notify_all()

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
        self._record(rec)
        return response

    def _static(self, make: Callable[[], Any]) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            return await self._reply(await self._begin(request), json_response(make()))

        return handler

    async def _unmodelled(self, request: web.Request) -> web.Response:
        return await self._reply(await self._begin(request), error_response(404, 0, "404: Not Found (unmodelled)"))

    async def _sync_commands(self, request: web.Request) -> web.Response:
        rec = await self._begin(request)
        guild = request.match_info.get("guild")
        synced = {}
        for cmd in rec.json or []:
            old = self.commands.get(guild, {}).get(cmd["name"], {})
            synced[cmd["name"]] = {**cmd, "id": old.get("id", P.snowflake()), "application_id": P.APP_ID,
                                   "version": P.snowflake(), **({"guild_id": guild} if guild else {})}
        self.commands[guild] = synced
        return await self._reply(rec, json_response(list(synced.values())))

    def _message(self, body: dict, files: list[Upload], inter: Interaction, **kw: Any) -> dict[str, Any]:
        atts = [P.attachment(f.filename, len(f.data), f.content_type) for f in files]
        return P.message(body.get("content") or "", embeds=body.get("embeds"), attachments=atts,
                         interaction_id=inter.id, **kw)

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
        info = {"id": inter.id, "type": inter.payload["type"], "response_message_ephemeral": bool(flags & 64),
                "response_message_loading": inter.responded == 5}
        resource: dict[str, Any] = {"type": inter.responded}
        if inter.responded in (4, 5):
            inter.original = self._message(data, rec.files, inter, flags=flags | (128 if inter.responded == 5 else 0))
            info["response_message_id"] = inter.original["id"]
            if inter.responded == 4:
                resource["message"] = inter.original
        return await self._reply(rec, json_response({"interaction": info, "resource": resource}))

    async def _followup(self, request: web.Request) -> web.Response:
        rec = await self._begin(request)
        inter = self._by_token(request.match_info["token"])
        if inter is None or inter.responded is None:
            return await self._reply(rec, error_response(401 if inter is None else 404, 50027, "Invalid Webhook Token"))
        body = rec.json or {}
        if (bad := check_message(body, rec.files, inter)) is not None:
            return await self._reply(rec, bad)
        message = self._message(body, rec.files, inter, flags=int(body.get("flags") or 0))
        return await self._reply(rec, json_response(message))

    async def _original(self, request: web.Request) -> web.Response:
        rec = await self._begin(request)
        inter = self._by_token(request.match_info["token"])
        if inter is None or inter.original is None:
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
        body = rec.json or {}
        atts = [P.attachment(f.filename, len(f.data), f.content_type) for f in rec.files]
        message = P.message(body.get("content") or "", embeds=body.get("embeds"), attachments=atts)
        return await self._reply(rec, json_response(message))

    async def _send(self, ws: web.WebSocketResponse, op: int, d: Any = None, t: str | None = None) -> None:
        frame: dict[str, Any] = {"op": op, "d": d, "s": None, "t": t}
        if op == 0:
            self._seq += 1
            frame["s"] = self._seq
        await ws.send_str(json.dumps(frame))

    async def _dispatch(self, event: str, data: Any) -> None:
        if self._ws is None or self._ws.closed:
            raise RuntimeError("the bot is not connected to the fake gateway")
        await self._send(self._ws, 0, data, event)

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._ws = ws
        await self._send(ws, 10, {"heartbeat_interval": 41250})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op, d = frame.get("op"), frame.get("d")
            self._record(Recorded("WS", f"op:{op}", {}, d))
            if op == 1:
                await self._send(ws, 11)
            elif op == 2:
                await self._send(ws, 0, P.ready(P.snowflake(), self.gateway_url), "READY")
                await self._send(ws, 0, P.guild(), "GUILD_CREATE")
            elif op == 6:
                await self._send(ws, 0, {}, "RESUMED")
        return ws
