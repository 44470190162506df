"""The bot's pre-download checks of /finetune attachments, sized for real collections (several zips)."""

from __future__ import annotations

from types import SimpleNamespace

from bot.finetune import precheck


def att(name: str, size: int) -> SimpleNamespace:
    return SimpleNamespace(filename=name, size=size)


def test_several_zips_of_a_real_collection_pass_and_caps_still_hold() -> None:
    keep, refused = precheck([att(f"part{i}.zip", 3_000_000) for i in range(8)])  # 24 MB in all
    assert len(keep) == 8 and refused == []
    keep, refused = precheck(
        [att("huge.zip", 17_000_000), att("notes.txt", 10), att("a.zip", 3_000_000)]
        + [att(f"m{i}.mid", 1000) for i in range(10)]
    )
    reasons = dict(refused)
    assert reasons["huge.zip"].startswith("too large (17.0 MB > 16 MB)")
    assert reasons["notes.txt"].startswith("not a MIDI or .zip file")
    assert [a.filename for a in keep] == ["a.zip"] + [f"m{i}.mid" for i in range(9)]
    assert reasons["m9.mid"] == "more than 10 files"
