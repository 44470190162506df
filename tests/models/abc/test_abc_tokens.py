"""ABC tokens: normalisation, exact round trip on real corpus tunes, ids, vocabulary order, playing order."""

from __future__ import annotations

import random
from functools import cache

import pytest

from models.abc.corpus import PAD, build_vocab, split_tunes
from models.abc.play import play_order, render, split_bars, tonic_key, transpose_tokens, whole_bars
from models.abc.syntax import AbcError, kind
from models.abc.tokens import detokenize, tokenize

CORPUS_FILES = (
    "oneills1850/0001-0050.abc",
    "airdsAirs/book1.abc",
    "essenFolksong/altdeu10.abc",
    "ryansMammoth/7thRegimentReel.abc",
)


@cache
def corpus_tunes(rel: str):
    from music21 import corpus

    path = next(p for p in corpus.getPaths() if str(p).replace("\\", "/").endswith(rel))
    return split_tunes(path.read_bytes().decode("utf-8", errors="replace"), rel)


def tokenized(limit: int = 40) -> list[tuple[str, list[str]]]:
    out = []
    for rel in CORPUS_FILES:
        for tune in corpus_tunes(rel)[:limit]:
            try:
                out.append((tune.tune_id, tokenize(tune.text)))
            except AbcError:
                continue
    return out


def test_round_trip_on_corpus_tunes() -> None:
    tunes = tokenized()
    assert len(tunes) > 100
    for tune_id, tokens in tunes:
        text = detokenize(tokens)
        assert tokenize(text) == tokens, tune_id
        assert detokenize(tokenize(text)) == text, tune_id
        assert tokens[0].startswith("M:") and tokens[1].startswith("K:C") and kind(tokens[-1]) == "bar"


def test_tune_ids_match_music21_numbers() -> None:
    assert corpus_tunes("airdsAirs/book1.abc")[0].tune_id == "airdsAirs/book1.abc#1"  # X:0001
    assert corpus_tunes("oneills1850/0001-0050.abc")[4].tune_id == "oneills1850/0001-0050.abc#5"
    assert corpus_tunes("ryansMammoth/7thRegimentReel.abc")[0].tune_id == "ryansMammoth/7thRegimentReel.abc#1"


def test_normalisation() -> None:
    raw = """X:7
T:A title
C:someone
M:C|
L:1/16
K:D
% a comment
"D"~f2{g}f2 (3efg [Ad]4 .A2 |: B4>c4 ^c8- :: c8 d4 z4|1 e16 :|2 f16 |]
w: some lyrics
"""
    assert tokenize(raw) == [
        "M:2/2",
        "K:Cmaj",
        "e",
        "e",
        "(3",
        "d",
        "/2",
        "e",
        "/2",
        "f",
        "/2",
        "c",
        "2",
        "G",
        "|:",
        "A",
        "2",
        ">",
        "B",
        "2",
        "=B",
        "4",
        "-",
        ":|",
        "|:",
        "B",
        "4",
        "c",
        "2",
        "z",
        "2",
        "|",
        "[1",
        "d",
        "8",
        ":|",
        "[2",
        "e",
        "8",
        "||",
    ]  # D → C; ^c (already sharp in D) stays explicit as =B; the chord keeps its top note
    text = detokenize(tokenize(raw), title="t")
    assert text == "X:1\nT:t\nM:2/2\nL:1/8\nK:Cmaj\nee(3d/2e/2f/2c2G |: A2>B2 =B4- :| |: B4 c2z2 |1 d8 :|2 e8 ||\n"


def test_transposition_keeps_mode_and_pitches() -> None:
    from models.abc.play import abc_to_tune

    raw = "X:1\nM:3/4\nL:1/8\nK:Ador\nA2 =c2 ^c2 | e2 c2 A2 | G,6 |]\n"
    tokens = tokenize(raw)
    assert tokens[1] == "K:Cdor" and tokens[2:9] == ["c", "2", "_e", "2", "=e", "2", "|"]
    source, moved = abc_to_tune(raw), abc_to_tune(detokenize(tokens))
    shifts = {b.pitch - a.pitch for a, b in zip(source.events(), moved.events(), strict=True)}
    assert shifts == {3}
    back = transpose_tokens(tokens, tonic_key(9, "dor"))
    assert back[1] == "K:Ador" and abc_to_tune(detokenize(back)).events() == source.events()


def test_essen_phrase_lines_get_their_bar_lines() -> None:
    tokens = tokenize("X:1\nM:4/2\nL:1/4\nK:C\nG2 | c2c2d2d2 | e4e4\nz2e4e2 | c8 |]\n")
    assert tokens[2:] == [
        "G",
        "4",
        "|",
        "c",
        "4",
        "c",
        "4",
        "d",
        "4",
        "d",
        "4",
        "|",
        "e",
        "8",
        "e",
        "8",
        "|",
        "z",
        "4",
        "e",
        "8",
        "e",
        "4",
        "|",
        "c",
        "16",
        "||",
    ]


@pytest.mark.parametrize(
    "raw",
    [
        "X:1\nM:none\nL:1/8\nK:G\nABc|\n",
        "X:1\nM:6/8\nL:1/8\nK:G\nABc def|\nK:D\nABc def|\n",
        "X:1\nM:6/8\nL:1/8\nK:G\nV:1\nABc def|\nV:2\nABc def|\n",
        "X:1\nM:6/8\nL:1/8\nK:G\nABc Zdef|\n",
    ],
)
def test_unsupported_tunes_raise(raw: str) -> None:
    with pytest.raises(AbcError):
        tokenize(raw)


def test_vocabulary_order_is_stable() -> None:
    tunes = [tokens for _, tokens in tokenized(15)]
    vocab = build_vocab(tunes, min_count=2)
    shuffled = list(tunes)
    random.Random(3).shuffle(shuffled)
    assert build_vocab(shuffled, min_count=2).tokens == vocab.tokens
    assert vocab.tokens[:3] == [PAD, "<s>", "</s>"]
    kinds = [kind(t) for t in vocab.tokens]
    assert kinds.index("meter") < kinds.index("key") < kinds.index("bar") < kinds.index("pitch") < kinds.index("dur")
    assert vocab.tokens.index("C") < vocab.tokens.index("c") < vocab.tokens.index("c'")
    rare = build_vocab(tunes, min_count=10**6)
    assert rare.tokens == [PAD, "<s>", "</s>"]
    with pytest.raises(AbcError):
        rare.encode(tunes[0])


def test_play_order_expands_repeats_and_endings() -> None:
    tokens = tokenize("X:1\nM:2/4\nL:1/8\nK:C\n|:cc cc|dd dd|1ee ee:|2ff ff||gg gg|aa aa:|\n")
    bars = split_bars(tokens[2:])
    firsts = [bars[i].tokens[0] for i in play_order(bars)]
    assert firsts == ["c", "d", "e", "c", "d", "f", "g", "a", "g", "a"]
    tokens = tokenize("X:1\nM:2/4\nL:1/8\nK:C\ncc cc|dd dd:|2ff ff|gg gg||aa aa|\n")  # no first-time bar
    bars = split_bars(tokens[2:])
    assert [bars[i].tokens[0] for i in play_order(bars)] == ["c", "d", "c", "d", "f", "g", "a"]


def test_whole_bars_join_part_bars_and_cut_exactly() -> None:
    # the overfull bar is dropped; the last part-bar and the pickup make one bar when the tune goes round
    tokens = tokenize("X:1\nM:6/8\nL:1/8\nK:G\nD|G2A B2c|d2e f2g3|g2f e2:|\n")
    bars = whole_bars(tokens, 5)
    assert bars == [["=c", "2", "=d", "=e", "2", "=f"], ["=c'", "2", "=b", "=a", "2", "=G"]] * 2 + [bars[0]]
    tune, text = render(transpose_tokens(tokens, tonic_key(7, "maj")), 5)
    assert len(tune.bars) == 5 and all(sum(e.ticks for e in bar) == 36 for bar in tune.bars)
    assert [e.pitch for e in tune.bars[0]] == [67, 69, 71, 72]  # back in G: G2A B2c
    assert [e.pitch for e in tune.bars[1]] == [79, 78, 76, 62]  # g2f e2 + the pickup D


def test_render_raises_without_whole_bars() -> None:
    with pytest.raises(AbcError):
        render(["M:6/8", "K:Cmaj", "c", "d", "|", "e", "||"], 4)
