"""The web playground's handlers through aiohttp's test client, on a real redis-server and a real SQLite store
(no worker: jobs are queued for real and finished by hand)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.storage.db import Database
from bot.storage.quotas import Limits
from bot.storage.store import Store
from bot.web.app import COOKIE, make_app
from bot.web.playground import Playground
from bot.web.state import WEB_STATE, user_for
from worker.contract.tracks import (
    ComposeRequest,
    ComposeResult,
    StyleInfo,
    compose_queue,
    publish_features,
    publish_styles,
)

STATIC = Path(__file__).resolve().parents[3] / "bot" / "web" / "static"
IRISH = StyleInfo(
    name="irish",
    arches=["lstm", "abc"],
    default_arch="lstm",
    description="Irish <b>dance</b> tunes",
    tempo_range=(120.0, 160.0),
    meters=["6/8", "4/4"],
    modes=["major", "dorian"],
)


@pytest.fixture
def playground(tmp_path: Path, redis_conn: Any) -> Playground:
    publish_styles(redis_conn, {"irish": IRISH})
    db = Database(None, tmp_path)
    db.migrate()
    return Playground(Store(db), redis_conn, tmp_path, Limits(user_inflight=2, user_daily=5), poll_s=0.05)


Body = Callable[[TestClient, Playground], Awaitable[None]]


@asynccontextmanager
async def client_for(playground: Playground, **kwargs: Any) -> AsyncIterator[TestClient]:
    await playground.refresh()
    async with TestClient(TestServer(make_app(playground, manage=False, **kwargs))) as client:
        yield client


def run(playground: Playground, body: Body, **kwargs: Any) -> None:
    async def main() -> None:
        async with client_for(playground, **kwargs) as client:
            await body(client, playground)

    asyncio.run(main())


def origin(client: TestClient) -> dict[str, str]:
    return {"Origin": f"http://{client.server.host}:{client.server.port}"}


async def post(client: TestClient, path: str, body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
    response = await client.post(path, json=body, headers={**origin(client), **headers})
    return response.status, await response.json()


def finish(
    playground: Playground, track_id: str, *, files: dict[str, str] | None = None, extendable: bool = False
) -> ComposeResult:
    """Record a track as made, with small real files in its directory (what a worker would leave)."""
    folder = playground.data_dir / "tracks" / track_id
    folder.mkdir(parents=True, exist_ok=True)
    if files is None:
        (folder / f"{track_id}.ogg").write_bytes(b"OggS" + bytes(5000))
        (folder / f"{track_id}.mid").write_bytes(b"MThd" + bytes(20))
        (folder / f"{track_id}.png").write_bytes(b"\x89PNG" + bytes(20))
        files = {
            k: str(folder / f"{track_id}.{ext}") for k, ext in (("audio", "ogg"), ("midi", "mid"), ("image", "png"))
        }
    result = ComposeResult(
        track_id=track_id,
        style="irish",
        arch="lstm",
        seed=7,
        seconds=10.0,
        tempo_qpm=140.0,
        bars=8,
        files=files,
        timings={"total_s": 1.0},
        meter="6/8",
        extendable=extendable,
    )
    track = playground.store.track(track_id)
    assert track is not None
    playground.store.finish(track.delivery_id, "posted", results={track_id: result}, via="web")
    return result


def become_another_client(client: TestClient) -> str:
    """Forget the client's cookie, as another browser would have none; returns the old id."""
    old = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    client.session.cookie_jar.clear()
    return old


def queued(playground: Playground) -> int:
    return compose_queue(playground.redis).count


# --- the page and its headers -----------------------------------------------------------------------------------
def test_page_static_files_and_security_headers(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        page = await client.get("/")
        assert page.status == 200 and page.content_type == "text/html"
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["X-Frame-Options"] == "DENY"
        cookie = page.cookies[COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and len(cookie.value) >= 32
        again = await client.get("/api/options")  # the same client keeps its id: no new cookie
        assert COOKIE not in again.cookies
        script = await client.get("/static/app.js")
        assert script.status == 200 and script.content_type == "text/javascript"
        for path in ("/static/index.html", "/static/../app.py", "/static/..%2fapp.py", "/static/nope.js"):
            response = await client.get(path)
            assert response.status == 404, path
            assert response.headers["Content-Security-Policy"], "errors carry the headers too"
        health = await client.get("/healthz")
        assert (await health.json())["styles"] == 1

    run(playground, body)


def test_the_page_has_no_inline_script_and_never_uses_inner_html() -> None:
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script> would need 'unsafe-inline'"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handlers would need 'unsafe-inline'"
    assert not re.search(r"<style|style=", html)
    js = (STATIC / "app.js").read_text()
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", js)


def test_a_foreign_host_header_is_refused(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        refused = await client.get("/api/options", headers={"Host": "attacker.example"})
        assert refused.status == 421
        ok = await client.get("/api/options", headers={"Host": f"localhost:{client.server.port}"})
        assert ok.status == 200

    run(playground, body, allowed_hosts=frozenset({"127.0.0.1", "localhost"}))


# --- compose ----------------------------------------------------------------------------------------------------
def test_options_offer_the_published_styles_and_only_contract_fields(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        options = await (await client.get("/api/options")).json()
        assert [s["name"] for s in options["styles"]] == ["irish"]
        assert options["styles"][0]["description"] == "Irish <b>dance</b> tunes"  # raw: the page escapes it
        # the page offers only the style's own meters and the keys of its modes
        assert (options["styles"][0]["meters"], options["styles"][0]["modes"]) == (["6/8", "4/4"], ["major", "dorian"])
        names = [f["name"] for f in options["fields"]]
        assert names[:3] == ["style", "length", "arch"] and "tempo" in names
        known = set(ComposeRequest.__dataclass_fields__)
        assert set(names) - {"length", "takes"} <= known
        assert ("arrangement" in names) == ("arrangement" in known) and ("key" in names) == ("key" in known)
        assert options["actions"]["harmonize"] is False
        publish_features(pg.redis, {"harmonize": "bach/coconet"})
        await pg.refresh()
        assert (await (await client.get("/api/options")).json())["actions"]["harmonize"] is True

    run(playground, body)


@pytest.mark.parametrize(
    ("form", "needle"),
    [
        ({"style": "irish", "length": "30h"}, "between 5s and 300s"),
        ({"style": "irish", "length": "<img src=x onerror=alert(1)>"}, "Can't read the length `<img src=x"),
        ({"style": "nosuch", "length": "30s"}, "Unknown style `nosuch`"),
        ({"style": "irish", "length": "30s", "arch": "gan"}, "has no `gan` model"),
        ({"style": "irish", "length": "30s", "tempo": 500}, "Tempo (BPM) must lie between 40 and 240"),
        ({"style": "irish", "length": "30s", "tempo": "fast"}, "`tempo` must be a number"),
        ({"style": "irish", "length": "30s", "tempo": "1e999"}, "`tempo` must be a number"),
        ({"style": "irish", "length": "30s", "seed": 1.5}, "`seed` must be a whole number"),
        ({"style": "irish", "length": "30s", "seed": True}, "`seed` must be a number"),
        ({"style": "irish", "length": "30s", "instrument": "kazoo"}, "Instrument must be one of"),
        ({"style": "irish", "length": "30s", "takes": "3"}, "Takes must be one of"),
        ({"style": "irish" * 20, "length": "30s"}, "at most 60 printable characters"),
        ({"style": "irish\n", "length": "30s\x00"}, "printable characters"),
        ({"style": "irish", "length": ["30s"]}, "`length` must be text"),
        ({"style": "irish", "length": "30s", "__class__": "x"}, "Unknown field(s): __class__"),
        ({"length": "30s"}, "Pick a style"),
        (["irish", "30s"], "JSON object"),
    ],
)
def test_bad_forms_are_refused_with_a_clear_message_and_nothing_queued(
    playground: Playground, form: Any, needle: str
) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        status, data = await post(client, "/api/compose", form)
        assert status == 400 and needle in data["error"], data
        assert queued(pg) == 0 and not pg.store.db.rows("SELECT id FROM tracks")

    run(playground, body)


def test_posts_must_be_same_origin_json(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        form = {"style": "irish", "length": "10s"}
        cases = [
            (
                {
                    "data": "style=irish&length=10s",
                    "headers": {"Content-Type": "application/x-www-form-urlencoded", **origin(client)},
                },
                "Send JSON",
            ),
            ({"data": json.dumps(form), "headers": {"Content-Type": "text/plain", **origin(client)}}, "Send JSON"),
            ({"json": form, "headers": {"Origin": "http://attacker.example"}}, "Cross-origin"),
            ({"json": form, "headers": {"Origin": "null"}}, "Cross-origin"),
            ({"json": form, "headers": {**origin(client), "Sec-Fetch-Site": "cross-site"}}, "Cross-site"),
        ]
        for kwargs, needle in cases:
            response = await client.post("/api/compose", **kwargs)
            assert response.status == 403 and needle in (await response.json())["error"], kwargs
        response = await client.post(
            "/api/compose", data="{not json", headers={"Content-Type": "application/json", **origin(client)}
        )
        assert response.status == 400
        response = await client.post("/api/compose", data="x" * 20_000, headers={"Content-Type": "application/json"})
        assert response.status == 413
        assert queued(pg) == 0

    run(playground, body)


def test_compose_queues_a_json_job_and_the_quota_is_per_client(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        status, data = await post(
            client,
            "/api/compose",
            {"style": "Irish", "length": "10s", "tempo": "100", "instrument": "flute", "seed": "41", "takes": "2"},
        )
        assert status == 202 and len(data["tracks"]) == 2, data
        jobs = compose_queue(pg.redis).jobs
        assert [j.id for j in jobs] == data["tracks"]
        request = ComposeRequest.from_dict(jobs[0].args[0])
        assert (request.style, request.seconds, request.tempo, request.instrument, request.seed) == (
            "irish",
            10.0,
            100.0,
            73,
            41,
        )
        assert ComposeRequest.from_dict(jobs[1].args[0]).seed == 42
        client_id = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
        assert request.user_id == user_for(client_id) and client_id not in request.user_id
        rows = pg.store.db.rows("SELECT d.state, d.guild_id FROM deliveries d")
        assert rows == [{"state": WEB_STATE, "guild_id": "web"}]
        assert pg.store.open_deliveries() == [], "the Discord bot's poster must never pick up web deliveries"
        quota = await (await client.get("/api/me")).json()
        assert quota["inflight"] == 2 and quota["inflight_limit"] == 2 and quota["pending"] == data["tracks"]

        status, data = await post(client, "/api/compose", {"style": "irish", "length": "10s"})
        assert status == 429 and "at most 2" not in data["error"] and "already have 2" in data["error"], data
        assert "<t:" not in data["error"] and "/queue" not in data["error"]
        assert queued(pg) == 2

        become_another_client(client)  # another browser: its own cookie, its own quota
        status, data = await post(client, "/api/compose", {"style": "irish", "length": "10s"})
        assert status == 202, data
        assert queued(pg) == 3

    run(playground, body)


# --- following a track, its files ---------------------------------------------------------------------------
async def read_events(response: Any, wanted: int, timeout: float = 5.0) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    name = ""
    deadline = time.monotonic() + timeout
    while len(events) < wanted:
        line = (await asyncio.wait_for(response.content.readline(), max(0.1, deadline - time.monotonic()))).decode()
        if line.startswith("event: "):
            name = line[7:].strip()
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_progress_events_then_the_finished_track_and_its_files(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        _, data = await post(client, "/api/compose", {"style": "irish", "length": "10s"})
        track_id = data["tracks"][0]
        response = await client.get(f"/api/tracks/{track_id}/events")
        assert response.status == 200 and response.content_type == "text/event-stream"
        [(name, progress)] = await read_events(response, 1)
        assert name == "progress" and progress["status"] == "queued" and progress["position"] == 1
        await asyncio.to_thread(finish, pg, track_id)
        [(name, view)] = await read_events(response, 1)
        assert name == "done" and view["status"] == "done" and view["own"] is True
        assert {f["kind"] for f in view["files"]} == {"audio", "midi", "image"}
        assert view["audio"]["type"] == "audio/ogg" and view["images"][0]["label"] == "Piano roll"
        assert view["facts"]["meter"] == "6/8" and view["actions"]["vote"] is False
        assert "/" not in json.dumps([f["name"] for f in view["files"]]), "no paths leave the server"
        assert str(pg.data_dir) not in json.dumps(view)

        audio = await client.get(f"/files/{track_id}/audio", headers={"Range": "bytes=0-3"})
        assert audio.status == 206 and await audio.read() == b"OggS" and audio.content_type == "audio/ogg"
        assert audio.headers["Content-Disposition"].startswith("inline")
        assert "sandbox" in audio.headers["Content-Security-Policy"]
        midi = await client.get(f"/files/{track_id}/midi?download=1")
        assert midi.status == 200 and midi.headers["Content-Disposition"] == f'attachment; filename="{track_id}.mid"'
        for path in (
            f"/files/{track_id}/json",
            f"/files/{track_id}/..%2f..%2ftunesmith.db",
            f"/files/{track_id}/audio/../../tunesmith.db",
            f"/files/..%2f{track_id}/audio",
            "/files/0123/audio",
            f"/files/{track_id.upper()}/audio",
        ):
            response = await client.get(path)
            assert response.status == 404, path

    run(playground, body)


def test_only_files_recorded_for_the_track_inside_its_own_directory_are_served(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        _, data = await post(client, "/api/compose", {"style": "irish", "length": "10s"})
        track_id = data["tracks"][0]
        secret = pg.data_dir / "secret.txt"
        secret.write_text("not for you")
        folder = pg.data_dir / "tracks" / track_id
        folder.mkdir(parents=True)
        (folder / "link.ogg").symlink_to(secret)
        (folder / f"{track_id}.abc").write_text("X:1\nK:D\n")
        await asyncio.to_thread(
            finish,
            pg,
            track_id,
            files={
                "abc": str(folder / f"{track_id}.abc"),
                "evil": str(secret),
                "up": "../secret.txt",
                "link": str(folder / "link.ogg"),
                "../x": str(folder / f"{track_id}.abc"),
            },
        )
        view = await (await client.get(f"/api/tracks/{track_id}")).json()
        assert [f["kind"] for f in view["files"]] == ["abc"] and view["files"][0]["label"] == "ABC"
        for kind in ("evil", "up", "link"):
            assert (await client.get(f"/files/{track_id}/{kind}")).status == 404, kind
        abc = await client.get(f"/files/{track_id}/abc")
        assert abc.status == 200 and abc.headers["Content-Disposition"].startswith("attachment")

    run(playground, body)


def test_a_job_that_disappears_is_recorded_as_failed(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        _, data = await post(client, "/api/compose", {"style": "irish", "length": "10s"})
        track_id = data["tracks"][0]
        compose_queue(pg.redis).empty()
        pg.redis.delete(f"rq:job:{track_id}")
        response = await client.get(f"/api/tracks/{track_id}/events")
        [(name, view)] = await read_events(response, 1)
        assert name == "done" and view["status"] == "failed" and "disappeared" in view["reason"]
        assert pg.store.db.one("SELECT state FROM deliveries")["state"] == "failed"

    run(playground, body)


# --- votes and actions --------------------------------------------------------------------------------------
def test_votes_one_per_client_never_on_your_own(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        _, data = await post(client, "/api/compose", {"style": "irish", "length": "10s"})
        track_id = data["tracks"][0]
        status, _ = await post(client, f"/api/tracks/{track_id}/vote", {"value": 1})
        assert status == 409, "not finished yet"
        await asyncio.to_thread(finish, pg, track_id)
        status, data = await post(client, f"/api/tracks/{track_id}/vote", {"value": 1})
        assert status == 403 and "your own track" in data["error"]
        mine = become_another_client(client)
        for value, expected in ((1, (1, 0, 1)), (-1, (0, 1, -1)), (-1, (0, 0, 0)), (1, (1, 0, 1))):
            status, data = await post(client, f"/api/tracks/{track_id}/vote", {"value": value})
            assert status == 200 and (data["up"], data["down"], data["mine"]) == expected
        for bad in (2, 0, "1", True, None, 1.0):
            status, data = await post(client, f"/api/tracks/{track_id}/vote", {"value": bad})
            assert status == 400 and "1 (👍) or -1 (👎)" in data["error"], bad
        view = await (await client.get(f"/api/tracks/{track_id}")).json()
        assert view["votes"] == {"up": 1, "down": 0, "mine": 1} and view["own"] is False
        client.session.cookie_jar.update_cookies({COOKIE: mine}, client.make_url("/"))
        status, _ = await post(client, f"/api/tracks/{'0' * 32}/vote", {"value": 1})
        assert status == 404
        status, _ = await post(client, "/api/tracks/..%2f..%2fx/vote", {"value": 1})
        assert status == 404
        top = await (await client.get("/api/lists/top?period=all")).json()
        assert [(t["id"], t["up"]) for t in top["tracks"]] == [(track_id, 1)]
        recent = await (await client.get("/api/lists/recent")).json()
        assert [t["id"] for t in recent["tracks"]] == [track_id] and recent["tracks"][0]["own"] is True
        assert (await client.get("/api/lists/top?period=year")).status == 400
        assert (await client.get("/api/lists/secret")).status == 404

    run(playground, body)


def test_reroll_extend_harmonize_and_vary(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        _, data = await post(client, "/api/compose", {"style": "irish", "length": "10s", "tempo": 100})
        track_id = data["tracks"][0]
        await asyncio.to_thread(finish, pg, track_id)
        status, data = await post(client, f"/api/tracks/{track_id}/reroll", {})
        assert status == 202
        again = ComposeRequest.from_dict(compose_queue(pg.redis).jobs[-1].args[0])
        assert (again.style, again.seconds, again.tempo, again.seed) == ("irish", 10.0, 100.0, None)
        status, data = await post(client, f"/api/tracks/{track_id}/extend", {})
        assert status == 400 and "cannot continue" in data["error"]
        status, data = await post(client, f"/api/tracks/{track_id}/harmonize", {})
        assert status == 409 and "Coconet" in data["error"]
        status, data = await post(client, f"/api/tracks/{track_id}/vary", {"strength": "strong"})
        if pg.can_vary():
            assert status == 202, data
            varied = ComposeRequest.from_dict(compose_queue(pg.redis).jobs[-1].args[0])
            assert (varied.parent, varied.vary) == (track_id, "strong")  # type: ignore[attr-defined]
        else:
            assert status == 409 and "variations" in data["error"]
            assert (await post(client, f"/api/tracks/{track_id}/reroll", {}))[0] == 202
        status, data = await post(client, f"/api/tracks/{track_id}/explode", {})
        assert status == 404
        status, data = await post(client, f"/api/tracks/{track_id}/reroll", {})
        assert status == 429 and "already have 2" in data["error"], "every action counts against the quota"

    run(playground, body)


def test_extend_a_continuable_track(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        _, data = await post(client, "/api/compose", {"style": "irish", "length": "10s"})
        track_id = data["tracks"][0]
        await asyncio.to_thread(finish, pg, track_id, extendable=True)
        status, data = await post(client, f"/api/tracks/{track_id}/extend", {"seconds": 500})
        assert status == 400 and "between 5 and 120" in data["error"]
        status, data = await post(client, f"/api/tracks/{track_id}/extend", {"seconds": 20})
        assert status == 202
        job = ComposeRequest.from_dict(compose_queue(pg.redis).fetch_job(data["tracks"][0]).args[0])
        assert (job.kind, job.parent_id, job.seconds) == ("extend", track_id, 20.0)

    run(playground, body)


def test_all_web_visitors_together_have_a_daily_vote_cap(playground: Playground) -> None:
    """Cookies are free: a new one per vote must not stuff the ballot beyond the per-server daily cap."""
    playground.limits = Limits(user_inflight=2, user_daily=5, guild_daily=3)

    async def body(client: TestClient, pg: Playground) -> None:
        _, data = await post(client, "/api/compose", {"style": "irish", "length": "10s"})
        track_id = data["tracks"][0]
        await asyncio.to_thread(finish, pg, track_id)
        outcomes = []
        for _ in range(4):
            become_another_client(client)
            status, data = await post(client, f"/api/tracks/{track_id}/vote", {"value": 1})
            outcomes.append((status, data.get("up", data.get("error", ""))))
        assert outcomes[:3] == [(200, 1), (200, 2), (200, 3)]
        assert outcomes[3][0] == 429 and "3 votes for the last 24 hours" in outcomes[3][1]
        assert pg.web_votes_today() == 3

    run(playground, body)


def test_tracks_are_recorded_with_no_page_open_and_after_a_restart(playground: Playground) -> None:
    """The background follower records outcomes without any listener; a claim left by a stopped process
    is taken up again at the next start."""

    async def main() -> None:
        pg = playground
        await pg.refresh()
        [first] = await pg.compose("web:a", {"style": "irish", "length": "10s"})
        [second] = await pg.compose("web:b", {"style": "irish", "length": "10s"})
        compose_queue(pg.redis).empty()  # both jobs gone: they end as failed
        for track_id in (first, second):
            pg.redis.delete(f"rq:job:{track_id}")
        for track_id, state in ((first, "web-new"), (second, "web-settling")):  # a process died right there
            pg.store.db.execute(
                "UPDATE deliveries SET state = ?, updated_at = ? WHERE id = ?",
                (state, time.time() - 600, pg.store.track(track_id).delivery_id),
            )
        await pg.start()
        try:
            deadline = time.monotonic() + 5
            while {pg.store.track(t).status for t in (first, second)} != {"failed"}:
                assert time.monotonic() < deadline, [pg.store.track(t) for t in (first, second)]
                await asyncio.sleep(0.05)
        finally:
            await pg.close()

    asyncio.run(main())


def test_made_outputs_are_found_by_fixed_names_only(tmp_path: Path) -> None:
    from bot.web.outputs import made_files

    tid = "0123456789abcdef0123456789abcdef"
    (tmp_path / f"{tid}.score.png").write_bytes(b"\x89PNG")
    (tmp_path / f"{tid}.abc").write_bytes(b"X:1")
    (tmp_path / f"{tid}.stems.zip").write_bytes(b"PK")
    (tmp_path / f"{tid}.stems-2.zip").write_bytes(b"PK")
    (tmp_path / f"{tid}.musicxml").symlink_to("/etc/passwd")  # never served through a link
    (tmp_path / f"{tid}.score.pdf").write_bytes(b"")  # an empty (unfinished) file is not offered
    (tmp_path / "other.abc").write_bytes(b"X:1")  # another name is never offered
    found = {kind: name for kind, name, _ in made_files(tmp_path, tid)}
    assert set(found) == {"score", "abc", "stems", "stems-2"}
    assert found["score"] == f"{tid}.score.png" and {found["stems"], found["stems-2"]} == {
        f"{tid}.stems.zip",
        f"{tid}.stems-2.zip",
    }


def test_outputs_of_an_unknown_kind_or_track_are_refused(playground: Playground) -> None:
    async def body(client: TestClient, pg: Playground) -> None:
        track = "0123456789abcdef0123456789abcdef"
        status, answer = await post(client, f"/api/tracks/{track}/outputs", {"kind": "../etc"})
        assert status == 400 and "Make one of" in answer["error"]
        status, _ = await post(client, f"/api/tracks/{track}/outputs", {"kind": "score"})
        assert status == 404

    run(playground, body)
