"""worker.contract.logfmt: JSON and text lines carry the context fields, nest and restore them, and mask secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from worker.contract import logfmt


@pytest.fixture
def capture() -> Iterator[tuple[io.StringIO, logging.Logger]]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream, logging.getLogger("tunesmith.test")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_context_and_restore_it(capture) -> None:
    stream, log = capture
    logfmt.setup_logging("INFO", "json", stream, secrets=["tok-abcdefghijkl"])
    log.info("before")
    with logfmt.log_context(track_id="t1", kind="compose", user=logfmt.user_hash("42")):
        with logfmt.log_context(style="irish", arch=None):
            log.warning("inside %s", "job")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed with tok-abcdefghijkl at redis://:hunter2@host:6379/0")
    log.info("after")
    before, inside, failed, after = lines(stream)
    assert set(before) == {"ts", "level", "logger", "msg"} and before["msg"] == "before"
    assert inside["track_id"] == "t1" and inside["style"] == "irish" and "arch" not in inside
    assert inside["level"] == "WARNING" and inside["msg"] == "inside job" and len(inside["user"]) == 12
    assert "style" not in failed and failed["track_id"] == "t1" and "ValueError: boom" in failed["exc"]
    assert "tok-abcdefghijkl" not in failed["msg"] and "hunter2" not in failed["msg"] and "***" in failed["msg"]
    assert "track_id" not in after


def test_bind_stays_inside_its_asyncio_task(capture) -> None:
    stream, log = capture
    logfmt.setup_logging("INFO", "json", stream)

    async def handler(n: int) -> None:
        logfmt.bind(track_id=f"t{n}")
        await asyncio.sleep(0)
        log.info("handled %d", n)

    async def main() -> None:
        await asyncio.gather(handler(1), handler(2))
        log.info("outside")

    asyncio.run(main())
    got = {x["msg"]: x.get("track_id") for x in lines(stream)}
    assert got == {"handled 1": "t1", "handled 2": "t2", "outside": None}


def test_text_format_appends_the_fields(capture) -> None:
    stream, log = capture
    logfmt.setup_logging("INFO", None, stream)
    with logfmt.log_context(track_id="abc", kind="extend"):
        log.info("hello")
    assert stream.getvalue().rstrip().endswith("tunesmith.test: hello [track_id=abc kind=extend]")


def test_an_unknown_format_falls_back_to_text_with_a_warning(capture) -> None:
    stream, _ = capture
    logfmt.setup_logging("INFO", "yaml", stream)
    assert "TUNESMITH_LOG_FORMAT must be one of text, json, got 'yaml'; logging as text" in stream.getvalue()
    with pytest.raises(ValueError):
        logfmt.log_format({"TUNESMITH_LOG_FORMAT": "xml"})
    assert logfmt.log_format({}) == "text" and logfmt.log_format({"TUNESMITH_LOG_FORMAT": " JSON "}) == "json"


def test_job_fields_from_an_rq_job() -> None:
    job = SimpleNamespace(id="abc", args=[{"kind": "extend", "style": "folk", "arch": "lstm", "user_id": "7"}])
    assert logfmt.job_fields(job) == {
        "track_id": "abc",
        "kind": "extend",
        "style": "folk",
        "arch": "lstm",
        "user": logfmt.user_hash("7"),
    }
    assert logfmt.job_fields(SimpleNamespace(id="x", args=[])) == {"track_id": "x", "kind": "compose"}
    assert logfmt.user_hash("7") != "7" and logfmt.user_hash(None) == ""
