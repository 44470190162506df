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
from tests.fakes.discord_records import Interaction, Recorded, Upload
from tests.fakes.discord_routes import RestRoutes

__all__ = ["FakeDiscord", "Interaction", "Recorded", "Upload"]


class FakeDiscord(RestRoutes):
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
        self._ws: web.WebSocketResponse | None = None  # the connection (shard) that has the test guild
        self.shards = 1  # what GET /gateway/bot recommends to an AutoShardedClient
        self._seq = 0
        self._init_routes()

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
        self.add_routes(app)
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

    def inject_slash(
        self,
        name: str,
        options: dict[str, Any] | list[dict[str, Any]],
        *,
        user: dict[str, Any] | None = None,
        size_limit: int = P.ATTACHMENT_SIZE_LIMIT,
        files: dict[str, tuple[str, bytes]] | None = None,
        permissions: str | None = None,
        reported_sizes: dict[str, int] | None = None,
    ) -> Interaction:
        """Send INTERACTION_CREATE for ``/name options`` from ``user`` in the test guild's channel.

        ``files`` maps an attachment option to (filename, bytes): the bytes are served on the fake's CDN route
        and the option resolves to the attachment, as Discord does; ``reported_sizes`` overrides the size
        Discord claims; ``permissions`` replaces the member's permission bits (e.g. "0": no Manage Server).
        """
        opts = P.options(options)
        resolved: dict[str, Any] = {}
        for option, (filename, data) in (files or {}).items():
            att = P.attachment(filename, (reported_sizes or {}).get(option, len(data)), "audio/midi")
            att["url"] = att["proxy_url"] = f"http://127.0.0.1:{self.port}/cdn/{att['id']}/{filename}"
            self.cdn[att["id"]] = data
            resolved[att["id"]] = att
            opts.append({"name": option, "type": 11, "value": att["id"]})
        return self._inject(
            2,
            name,
            opts,
            user,
            size_limit,
            resolved={"attachments": resolved} if resolved else None,
            permissions=permissions,
        )

    def inject_autocomplete(
        self, name: str, options: dict[str, Any], focused: str, *, user: dict[str, Any] | None = None
    ) -> Interaction:
        """Send an autocomplete interaction (type 4) with ``focused`` being typed."""
        return self._inject(4, name, P.options(options, focused), user, P.ATTACHMENT_SIZE_LIMIT)

    def inject_click(
        self,
        message: dict[str, Any],
        custom_id: str,
        *,
        user: dict[str, Any] | None = None,
        size_limit: int = P.ATTACHMENT_SIZE_LIMIT,
        permissions: str | None = None,
    ) -> Interaction:
        """Click the button ``custom_id`` on ``message`` (as the fake last stored it): INTERACTION_CREATE type 3."""
        current = self.messages.get(message["id"], message)
        buttons = [c for row in current.get("components") or [] for c in row.get("components", [])]
        if not any(b.get("custom_id") == custom_id for b in buttons):
            raise AssertionError(f"message {message['id']} has no button {custom_id!r}")
        payload = P.interaction(
            3, {"custom_id": custom_id, "component_type": 2}, user or P.user(username="alice"), size_limit=size_limit
        )
        payload["message"] = current
        if permissions is not None:
            payload["member"]["permissions"] = permissions
        return self._dispatch_interaction(payload)

    def _dispatch_interaction(self, payload: dict[str, Any]) -> Interaction:
        inter = Interaction(payload=payload, time=time.monotonic())
        self.interactions[inter.id] = inter
        asyncio.run_coroutine_threadsafe(self._dispatch("INTERACTION_CREATE", payload), self._loop).result(5)
        return inter

    def _inject(
        self,
        kind: int,
        name: str,
        opts: list,
        user: dict | None,
        size_limit: int,
        *,
        resolved: dict[str, Any] | None = None,
        permissions: str | None = None,
    ) -> Interaction:
        command = self.commands.get(P.GUILD_ID, {}).get(name) or self.commands.get(None, {}).get(name) or {}
        data = {"id": command.get("id", P.snowflake()), "name": name, "type": 1, "options": opts}
        if resolved:
            data["resolved"] = resolved
        if P.GUILD_ID in self.commands and name in self.commands[P.GUILD_ID]:
            data["guild_id"] = P.GUILD_ID
        payload = P.interaction(kind, data, user or P.user(username="alice"), size_limit=size_limit)
        if permissions is not None:
            payload["member"]["permissions"] = permissions
        return self._dispatch_interaction(payload)

    def wait_for(self, predicate: Callable[[Recorded], bool], timeout: float = 10.0, since: float = 0.0) -> Recorded:
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
        if self._ws is None or self._ws.closed:
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
                shard, count = (d or {}).get("shard") or (0, 1)
                ours = (int(P.GUILD_ID) >> 22) % count == shard  # Discord's rule for a guild's shard
                ready = {**P.ready(P.snowflake(), self.gateway_url), "shard": [shard, count]}
                if not ours:
                    ready["guilds"] = []
                await self._send(ws, 0, ready, "READY")
                if ours:
                    self._ws = ws
                    await self._send(ws, 0, P.guild(), "GUILD_CREATE")
            elif op == 6:
                await self._send(ws, 0, {}, "RESUMED")
        return ws
