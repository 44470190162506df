"""End to end: an admin uploads MIDI files with /finetune, a new style goes live for /compose, hostile uploads
are refused with the workers alive, /rollback switches versions, and a fine-tune learns from votes."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import discord_payloads as P
from tests.fakes import driver, processes
from tests.fakes.discord_server import Recorded
from tests.fakes.stack import TUNESMITH, Stack, user

pytestmark = pytest.mark.slow
ADMIN = str(int(P.PERMISSIONS) | 32)  # + Manage Server
CHORALES = ("bwv66.6", "bwv1.6", "bwv10.7", "bwv101.7", "bwv102.7")


def chorale_midis() -> dict[str, bytes]:
    """Four-part Bach chorales from music21's corpus as MIDI files, as an admin would upload them."""
    from music21 import corpus

    out = {}
    for name in CHORALES:
        path = corpus.parse(name).write("midi")
        out[f"{name}.mid"] = Path(path).read_bytes()
    return out


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("huge.mid", b"\0" * 40_000_000)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def ft_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A compose worker, a separate train worker (as in docker-compose) and the bot, sharing one data dir."""
    tmp = tmp_path_factory.mktemp("ft")
    models = tmp / "checkpoints"
    models.mkdir()
    from models.core.checkpoint import SHIPPED_DIR

    for path in SHIPPED_DIR.glob("irish-lstm.*"):
        (models / path.name).symlink_to(path)
    stack = Stack(
        tmp,
        [TUNESMITH, "worker", "--queues", "compose"],
        TUNESMITH_CHECKPOINT_DIR=str(models),
        TUNESMITH_TORCH_THREADS="1",
    )
    try:
        stack.start(timeout=120)
        stack.trainer = processes.spawn([TUNESMITH, "worker", "--queues", "train"], stack.env, tmp / "trainer.log")
        yield stack
    finally:
        if getattr(stack, "trainer", None) is not None:
            processes.stop(stack.trainer)
        stack.stop()


def finetune(
    stack: Stack, options: dict, files: dict[str, tuple[str, bytes]], who: str = "ada", permissions: str = ADMIN
) -> tuple[object, Recorded]:
    inter = stack.fake.inject_slash("finetune", options, user=user(who), files=files, permissions=permissions)
    return inter, stack.wait(driver.is_callback(inter), 10)


def wait_summary(stack: Stack, inter: object, timeout: float = 240.0) -> Recorded:
    procs = [*stack.procs, stack.trainer]
    return driver.wait_alive(
        stack.fake,
        lambda r: driver.is_followup(inter)(r) and r.status == 200 and "is live" in (r.json or {}).get("content", ""),
        timeout,
        procs,
    )


def served_checkpoint(stack: Stack, style: str, who: str) -> tuple[str, Recorded]:
    _, post = stack.compose({"style": style, "length": "20s"}, user(who), timeout=90)
    return post.json["embeds"][0]["footer"]["text"], post


def model_files(stack: Stack) -> list[str]:
    root = stack.data_dir / "models"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture(scope="module")
def chorale_v1(ft_stack: Stack) -> dict:
    """The ``chorale`` style made once from five chorales, a non-MIDI file and a zip bomb, by whichever test
    asks first (so every test stands alone, in any order)."""
    midis = chorale_midis()
    files = {f"file{i + 1}": (name, data) for i, (name, data) in enumerate(midis.items())}
    files["file6"] = ("notes.mid", b"this is not a MIDI file at all")
    files["file7"] = ("bomb.zip", zip_bomb())
    started = time.monotonic()
    inter, defer = finetune(ft_stack, {"style": "chorale", "steps": 20, "base": "irish"}, files)
    summary = wait_summary(ft_stack, inter)
    return {"inter": inter, "defer": defer, "summary": summary, "took": time.monotonic() - started}


def test_a_member_cannot_fine_tune(ft_stack: Stack) -> None:
    stack, fake = ft_stack, ft_stack.fake
    synced = fake.commands[P.GUILD_ID]
    assert {str(synced[name]["default_member_permissions"]) for name in ("finetune", "rollback")} == {"32"}
    assert synced["models"].get("default_member_permissions") is None  # hidden from members: only the admin ones
    before, queued = model_files(stack), stack.redis.llen("rq:queue:train")
    files = {"file1": ("a.mid", next(iter(chorale_midis().values())))}
    _, refused = finetune(stack, {"style": "chorale2", "steps": 20}, files, who="mallory", permissions=P.PERMISSIONS)
    assert refused.json["type"] == 4 and refused.json["data"]["flags"] == 64
    assert "Manage Server" in refused.json["data"]["content"]
    assert stack.redis.llen("rq:queue:train") == queued and model_files(stack) == before


def test_admin_creates_a_style_from_uploads_and_everyone_can_compose_it(ft_stack: Stack, chorale_v1: dict) -> None:
    stack, fake = ft_stack, ft_stack.fake
    inter, summary = chorale_v1["inter"], chorale_v1["summary"]
    assert chorale_v1["defer"].json == {"type": 5}
    text = summary.json["content"]
    assert "**chorale** (lstm) version 1 is live" in text and "held-out NLL" in text
    assert "`notes.mid`" in text and "`bomb.zip" in text, text  # each refused file is listed with why
    assert [f.filename for f in summary.files] == ["loss.png"] and summary.files[0].data[:4] == b"\x89PNG"
    assert stack.worker.poll() is None and stack.trainer.poll() is None  # the bomb hurt nobody

    sample = stack.wait(
        lambda r: (
            driver.is_followup(inter)(r)
            and r.status == 200
            and r.files
            and any(f.filename.endswith(".mid") for f in r.files)
        ),
        90,
    )
    assert driver.embed_fields(sample)["Style"] == "chorale"
    assert "chorale" in driver.style_choices(fake, stack.bot, "cho")  # autocomplete knows it at once

    served = json.loads((stack.data_dir / "models/chorale-lstm/active.json").read_text())
    footer, post = served_checkpoint(stack, "chorale", "bob")
    assert f"model chorale-lstm v{served['version']}" in footer
    assert float(driver.embed_fields(post)["Length"].split()[0]) == pytest.approx(20.0, abs=0.5)
    listing = fake.inject_slash("models", {"style": "chorale"}, user=user("bob"))
    content = stack.wait(driver.is_callback(listing), 5).json["data"]["content"]
    assert f"serving v{served['version']}" in content and "v1 ·" in content
    print(f"\nfine-tune of 5 chorales (20 steps) to summary: {chorale_v1['took']:.1f} s")


def test_rollback_and_a_fine_tune_from_votes(ft_stack: Stack, chorale_v1: dict) -> None:
    stack, fake = ft_stack, ft_stack.fake
    footer, post = served_checkpoint(stack, "chorale", "carol")
    message = driver.message_of(fake, post)
    stack.click(message, driver.button(message, "👍"), user("dave"))  # dave likes carol's chorale: score +1

    inter, defer = finetune(stack, {"style": "chorale", "steps": 10, "from_votes": True}, {})
    assert defer.json == {"type": 5}
    text = wait_summary(stack, inter).json["content"]
    assert "version 2 is live" in text and "1 source(s)" in text, text
    meta = json.loads((stack.data_dir / "models/chorale-lstm/v0002/chorale-lstm.json").read_text())
    assert meta["finetune"]["vote_tracks"] == 1 and meta["finetune"]["base"] == "chorale-lstm"

    bad = fake.inject_slash("rollback", {"style": "chorale", "version": 1}, user=user("mallory"))
    assert "Manage Server" in stack.wait(driver.is_callback(bad), 5).json["data"]["content"]
    assert "v2" in served_checkpoint(stack, "chorale", "erin")[0]
    back = fake.inject_slash("rollback", {"style": "chorale", "version": 1}, user=user("ada"), permissions=ADMIN)
    assert stack.wait(driver.is_callback(back), 5).json == {"type": 5}
    done = stack.wait(
        lambda r: driver.is_edit(back)(r) and "now serves version 1" in (r.json or {}).get("content", ""), 30
    )
    assert done.status == 200
    assert "model chorale-lstm v1" in served_checkpoint(stack, "chorale", "erin")[0]
    nothing = fake.inject_slash("rollback", {"style": "chorale", "version": 0}, user=user("ada"), permissions=ADMIN)
    stack.wait(driver.is_callback(nothing), 5)
    stack.wait(lambda r: driver.is_edit(nothing)(r) and "no shipped model" in (r.json or {}).get("content", ""), 30)
    assert "model chorale-lstm v1" in served_checkpoint(stack, "chorale", "erin")[0]  # nothing changed


def test_an_upload_of_nothing_usable_is_refused_and_changes_nothing(ft_stack: Stack) -> None:
    stack = ft_stack
    before = (
        sorted(p.name for p in (stack.data_dir / "models").rglob("*")) if (stack.data_dir / "models").exists() else []
    )
    inter, defer = finetune(
        stack,
        {"style": "junk", "steps": 10, "base": "irish"},
        {"file1": ("bomb.zip", zip_bomb()), "file2": ("x.mid", b"MThd\0\0\0\6\0\1\0\1")},
    )
    assert defer.json == {"type": 5}
    failed = driver.wait_alive(
        stack.fake,
        lambda r: driver.is_edit(inter)(r) and "failed" in (r.json or {}).get("content", ""),
        120,
        [*stack.procs, stack.trainer],
    )
    content = failed.json["content"]
    assert "bomb.zip" in content and "x.mid" in content, content
    after = (
        sorted(p.name for p in (stack.data_dir / "models").rglob("*")) if (stack.data_dir / "models").exists() else []
    )
    assert after == before and stack.trainer.poll() is None


def test_only_an_admin_can_cancel_and_a_cancelled_run_keeps_nothing(ft_stack: Stack) -> None:
    stack, fake = ft_stack, ft_stack.fake
    midis = chorale_midis()
    inter, defer = finetune(
        stack,
        {"style": "slowpoke", "steps": 3000, "base": "irish"},
        {"file1": ("a.mid", midis["bwv66.6.mid"]), "file2": ("b.mid", midis["bwv1.6.mid"])},
    )
    assert defer.json == {"type": 5}
    training = stack.wait(
        lambda r: (
            driver.is_edit(inter)(r)
            and "step" in (r.json or {}).get("content", "")
            and (r.json or {}).get("components")
        ),
        120,
    )
    message = driver.message_of(fake, training)
    cancel = next(
        c["custom_id"]
        for row in message["components"]
        for c in row["components"]
        if c["custom_id"].startswith("ts:ftcancel:")
    )
    click = fake.inject_click(message, cancel, user=user("mallory"))
    assert "Manage Server" in stack.wait(driver.is_callback(click), 5).json["data"]["content"]
    click = fake.inject_click(message, cancel, user=user("ada"), permissions=ADMIN)
    assert "Cancelling" in stack.wait(driver.is_callback(click), 5).json["data"]["content"]
    stack.wait(lambda r: driver.is_edit(inter)(r) and "cancelled" in (r.json or {}).get("content", ""), 60)
    assert not list((stack.data_dir / "models").glob("slowpoke-lstm/v*/slowpoke-lstm.json"))
    assert not (stack.data_dir / "models" / "slowpoke-lstm" / "active.json").exists()
