"""The bot's pre-download checks of /finetune attachments, sized for real collections (several zips)."""

from __future__ import annotations

from types import SimpleNamespace

from bot.cogs.finetune import precheck


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


def test_the_summary_says_when_a_collection_became_a_piano_style() -> None:
    from bot.training import result_text

    result = {
        "style": "pokemon",
        "arch": "lstm",
        "version": 1,
        "steps": 300,
        "minutes": 4.2,
        "base": "piano-lstm",
        "accepted": ["a.mid"] * 300,
        "heldout_nll_before": 2.4,
        "heldout_nll_after": 1.2,
        "kind": "piano",
        "polyphony": 2.92,
    }
    text = result_text(result, [])
    assert "is live — piano (the uploads sound 2.9 pitches at each onset)" in text
    assert "piano" not in result_text({**result, "kind": "melody", "base": "folk-lstm"}, [])
