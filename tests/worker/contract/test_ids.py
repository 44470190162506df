"""worker.contract.ids: every id and name rule, full matches only (no trailing newline slips through)."""

from __future__ import annotations

import re

import pytest

from worker.contract import ids


def test_made_ids_pass_their_own_rules() -> None:
    track, job, rollback = ids.new_track_id(), ids.new_finetune_job_id(), ids.new_rollback_job_id()
    assert ids.is_track_id(track) and ids.is_new_track_id(track) and ids.is_track_id_prefix(track[:6])
    assert ids.is_finetune_job_id(job) and not ids.is_finetune_job_id(rollback)
    assert re.fullmatch(ids.ROLLBACK_JOB_ID, rollback)
    assert len({ids.new_track_id() for _ in range(100)}) == 100


@pytest.mark.parametrize("value", ["", "a" * 65, "../x", "a/b", "x\n", "x\x00", "é", None, 7, b"abc"])
def test_bad_track_ids(value: object) -> None:
    assert not ids.is_track_id(value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("abcdef", True), ("0" * 32, True), ("abcde", False), ("0" * 33, False), ("ABCDEF", False), ("abcdef\n", False)],
)
def test_track_id_prefixes(value: str, ok: bool) -> None:
    assert ids.is_track_id_prefix(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("pokemon", True),
        ("a1", True),
        ("x" * 24, True),
        ("x" * 25, False),
        ("a", False),
        ("1abc", False),
        ("Pokemon", False),
        ("all", False),
        ("shipped", False),
        ("poke mon", False),
        ("poke\n", False),
    ],
)
def test_style_names(value: str, ok: bool) -> None:
    assert ids.is_style_name(value) is ok


def test_style_queries_and_the_patterns_embed() -> None:
    assert ids.is_style_query("irish") and ids.is_style_query("my-style_2") and not ids.is_style_query("a b")
    assert re.fullmatch(rf"ts:u:(?P<t>{ids.NEW_TRACK_ID})", "ts:u:" + ids.new_track_id())
    assert not re.fullmatch(rf"ts:ftcancel:{ids.FINETUNE_JOB_ID}", "ts:ftcancel:ft-xyz")
