"""The playground's HTTP side (aiohttp): the page and its static files, a JSON API, server-sent progress
events, and file downloads; with a client-id cookie, same-origin POSTs and strict security headers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.web.errors import WebError
from bot.web.playground import Playground
from bot.web.state import user_for

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
COOKIE = "tunesmith_client"
COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
MAX_BODY = 16 * 1024
SSE_MAX_S = 3600.0
SSE_PING_S = 15.0
MAX_STREAMS = 64  # open progress streams, all clients together
PLAYGROUND = web.AppKey("playground", Playground)
ALLOWED_HOSTS = web.AppKey("allowed_hosts", frozenset)
STREAMS = web.AppKey("streams", list)
CLIENT = web.RequestKey("client", str)  # the random id in the cookie
USER = web.RequestKey("user", str)  # the user id it stands for in the database
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)
# Files are the workers' output, shown in <img>/<audio> or downloaded; opened directly they run nothing.
FILE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
FILE_TYPES = {
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".abc": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".musicxml": "application/vnd.recordare.musicxml+xml",
    ".xml": "application/xml",
    ".mxl": "application/vnd.recordare.musicxml",
    ".pdf": "application/pdf",
    ".zip": "application/zip",
    ".json": "application/json",
}
INLINE = frozenset({".ogg", ".opus", ".mp3", ".wav", ".flac", ".m4a", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"})
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def hostname(host: str) -> str:
    """The name in a Host header, without the port: ``[::1]:8080`` → ``[::1]``, ``localhost:80`` → ``localhost``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.split(":", 1)[0]


@web.middleware
async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer (errors included); the Host check; the client-id cookie."""
    allowed = request.app[ALLOWED_HOSTS]
    client = request.cookies.get(COOKIE, "")
    fresh = not COOKIE_RE.fullmatch(client)
    if fresh:
        client = secrets.token_urlsafe(32)
    request[CLIENT] = client
    request[USER] = user_for(client)
    try:
        if allowed and hostname(request.host) not in allowed:
            response: web.StreamResponse = _error(421, "This server only answers to its own address.")
        else:
            response = await handler(request)
    except web.HTTPException as exc:
        if request.path.startswith(("/api/", "/files/")):
            response = _error(exc.status, exc.reason)
        else:
            response = web.Response(status=exc.status, text=f"{exc.status}: {exc.reason}")
    except WebError as exc:
        response = _error(exc.status, exc.message)
    if not response.prepared:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", CSP)
        if fresh:
            response.set_cookie(
                COOKIE,
                client,
                max_age=365 * 24 * 3600,
                path="/",
                httponly=True,
                samesite="Strict",
                secure=request.secure,
            )
    return response


def same_origin(request: web.Request) -> str | None:
    """Why a state-changing request is refused (None: allowed): it must be a JSON POST from this origin.

    A cross-site form cannot send ``application/json`` without a CORS preflight, which this server never
    grants; browsers send Origin (and Sec-Fetch-Site) on every POST, and they must name this very host.
    """
    if request.content_type != "application/json":
        return "Send JSON (Content-Type: application/json)."
    origin = request.headers.get("Origin")
    if origin is not None:
        match = re.fullmatch(r"https?://([^/]+)", origin)
        if match is None or match[1].lower() != request.host.lower():
            return "Cross-origin requests are refused."
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return "Cross-site requests are refused."
    return None


async def _body(request: web.Request) -> Any:
    why = same_origin(request)
    if why is not None:
        raise WebError(403, why)
    try:
        return json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise WebError(400, "The request body is not valid JSON.") from None


# --- the page -------------------------------------------------------------------------------------------------
async def index(request: web.Request) -> web.StreamResponse:
    response = web.FileResponse(STATIC / "index.html")
    response.content_type = "text/html"
    response.headers["Cache-Control"] = "no-cache"
    return response


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC_FILES:  # a fixed list: nothing else under the package is reachable
        raise web.HTTPNotFound()
    response = web.FileResponse(STATIC / name)
    response.content_type = STATIC_FILES[name]
    response.headers["Cache-Control"] = "no-cache"
    return response


async def healthz(request: web.Request) -> web.StreamResponse:
    playground = request.app[PLAYGROUND]
    return web.json_response({"ok": True, "styles": len(playground.styles), "workers": playground.workers})


# --- the API --------------------------------------------------------------------------------------------------
async def options(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[PLAYGROUND].options())


async def me(request: web.Request) -> web.StreamResponse:
    return web.json_response(await request.app[PLAYGROUND].quota(request[USER]))


async def compose(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    ids = await request.app[PLAYGROUND].compose(request[USER], body)
    return web.json_response({"tracks": ids}, status=202)


async def action(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    if not isinstance(body, dict):
        raise WebError(400, "Send a JSON object.")
    playground = request.app[PLAYGROUND]
    track_id, name = request.match_info["track_id"], request.match_info["action"]
    if name == "vote":
        return web.json_response(await playground.vote(request[USER], track_id, body.get("value")))
    if name == "outputs":  # the score, the ABC/MusicXML exports or the stems, made by the worker on demand
        return web.json_response(await playground.make_outputs(track_id, body.get("kind")))
    ids = await playground.act(request[USER], track_id, name, body)
    return web.json_response({"tracks": ids}, status=202)


async def track(request: web.Request) -> web.StreamResponse:
    return web.json_response(await request.app[PLAYGROUND].view(request.match_info["track_id"], request[USER]))


async def lists(request: web.Request) -> web.StreamResponse:
    query = request.query
    rows = await request.app[PLAYGROUND].lists(
        request.match_info["which"], request[USER], query.get("style") or None, query.get("period", "all")
    )
    return web.json_response({"tracks": rows})


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events for one track: ``progress`` while it is made, then one ``done`` with the track."""
    playground = request.app[PLAYGROUND]
    found = await playground.track(request.match_info["track_id"])
    streams = request.app[STREAMS]
    if len(streams) >= MAX_STREAMS:
        raise WebError(503, "Too many open progress streams; reload the page in a minute.")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            "Content-Security-Policy": CSP,
            **HEADERS,
        }
    )
    await response.prepare(request)
    streams.append(response)
    started = last_sent = time.monotonic()
    last: dict[str, Any] | None = None
    try:
        while time.monotonic() - started < SSE_MAX_S:
            current = await playground.track(found.id)
            if current.status != "pending":
                view = await playground.view(found.id, request[USER])
                await response.write(_event("done", view))
                break
            state = await playground.progress(current)
            if state != last and state.get("status") != "ending":
                await response.write(_event("progress", state))
                last, last_sent = state, time.monotonic()
            elif time.monotonic() - last_sent > SSE_PING_S:
                await response.write(b": ping\n\n")
                last_sent = time.monotonic()
            await asyncio.sleep(playground.poll_s)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        streams.remove(response)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def download(request: web.Request) -> web.StreamResponse:
    """A file recorded for a finished track, by the track's id and the file's kind (never by path)."""
    name, path = await request.app[PLAYGROUND].file(request.match_info["track_id"], request.match_info["kind"])
    suffix = path.suffix.lower()
    response = web.FileResponse(
        path, headers={"Content-Security-Policy": FILE_CSP, "Cache-Control": "private, max-age=3600"}
    )
    response.content_type = FILE_TYPES.get(suffix, "application/octet-stream")
    disposition = "inline" if suffix in INLINE and "download" not in request.query else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    return response


def make_app(
    playground: Playground, *, allowed_hosts: frozenset[str] = frozenset(), manage: bool = True
) -> web.Application:
    """The aiohttp application. ``allowed_hosts`` (host names without port; empty: any) guards against
    DNS rebinding; with ``manage`` the app starts and stops the playground's background task."""
    app = web.Application(middlewares=[security], client_max_size=MAX_BODY)
    app[PLAYGROUND] = playground
    app[ALLOWED_HOSTS] = frozenset(h.lower() for h in allowed_hosts)
    app[STREAMS] = []
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/options", options)
    app.router.add_get("/api/me", me)
    app.router.add_post("/api/compose", compose)
    app.router.add_get("/api/lists/{which}", lists)
    app.router.add_get("/api/tracks/{track_id}", track)
    app.router.add_get("/api/tracks/{track_id}/events", events, allow_head=False)
    app.router.add_post("/api/tracks/{track_id}/{action}", action)
    app.router.add_get("/files/{track_id}/{kind}", download)

    if manage:

        async def lifecycle(app: web.Application) -> AsyncIterator[None]:
            await playground.start()
            yield
            for stream in app[STREAMS].copy():
                with contextlib.suppress(Exception):
                    await stream.write_eof()
            await playground.close()

        app.cleanup_ctx.append(lifecycle)
    return app
