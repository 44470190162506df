"""The loopback fake itself: exact JSON content type, gateway handshake, callback rules, multipart."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.fakes import discord_payloads as P
from tests.fakes.discord_server import FakeDiscord


async def _session(fake: FakeDiscord) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(fake.api_base + "/users/@me") as resp:
            assert resp.headers["Content-Type"] == "application/json"
            assert (await resp.json())["id"] == P.APP_ID
        async with http.get(fake.api_base + "/nothing/here") as resp:
            assert resp.status == 404
        ws = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json")
        hello = await ws.receive_json()
        assert hello["op"] == 10
        await ws.send_json({"op": 1, "d": None})
        assert (await ws.receive_json())["op"] == 11
        await ws.send_json({"op": 2, "d": {"token": "t", "intents": 1, "properties": {}}})
        ready = await ws.receive_json()
        assert ready["t"] == "READY" and ready["d"]["resume_gateway_url"] == fake.gateway_url
        assert (await ws.receive_json())["t"] == "GUILD_CREATE"

        inter = await asyncio.to_thread(fake.inject_slash, "compose", {"style": "irish", "length": "30s"})
        event = await ws.receive_json()
        assert event["t"] == "INTERACTION_CREATE" and event["d"]["id"] == inter.id
        assert event["d"]["channel"]["id"] == P.CHANNEL_ID and "member" in event["d"]
        assert event["d"]["data"]["options"][0] == {"name": "style", "type": 3, "value": "irish"}

        callback = f"{fake.api_base}/interactions/{inter.id}/{inter.token}/callback?with_response=1"
        async with http.post(callback, json={"type": 5}) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
            body = await resp.json()
            assert body["interaction"]["response_message_loading"] is True and body["resource"]["type"] == 5
        async with http.post(callback, json={"type": 5}) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 40060
        async with http.post(f"{fake.api_base}/interactions/1/nope/callback", json={"type": 5}) as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 10062

        form = aiohttp.FormData()
        form.add_field("payload_json", json.dumps({"content": "done", "embeds": [{"title": "irish"}]}))
        form.add_field("files[0]", b"OggS1234", filename="a.ogg", content_type="application/octet-stream")
        form.add_field("files[1]", b"MThd", filename="a.mid", content_type="application/octet-stream")
        async with http.post(f"{fake.api_base}/webhooks/{P.APP_ID}/{inter.token}?wait=1", data=form) as resp:
            message = await resp.json()
            assert resp.status == 200 and [a["filename"] for a in message["attachments"]] == ["a.ogg", "a.mid"]
            assert message["attachments"][0]["size"] == 8 and message["embeds"][0]["title"] == "irish"
        async with http.post(f"{fake.api_base}/webhooks/{P.APP_ID}/bad-token", json={"content": "x"}) as resp:
            assert resp.status == 401
        original = f"{fake.api_base}/webhooks/{P.APP_ID}/{inter.token}/messages/@original"
        async with http.patch(original, json={"content": "edited"}) as resp:
            assert (await resp.json())["content"] == "edited"
        async with http.get(original) as resp:
            assert (await resp.json())["content"] == "edited"
        await ws.close()


def test_fake_discord_protocol() -> None:
    with FakeDiscord() as fake:
        asyncio.run(_session(fake))
        followup = fake.wait_for(
            lambda r: r.method == "POST" and r.path.startswith("/webhooks/") and r.files, timeout=1
        )
        assert [(f.filename, f.data) for f in followup.files] == [("a.ogg", b"OggS1234"), ("a.mid", b"MThd")]
        assert followup.json["content"] == "done" and followup.query == {"wait": "1"}
        assert fake.find(lambda r: r.path == "/nothing/here")[0].status == 404
        assert fake.find(lambda r: r.method == "WS" and r.path == "op:2")
