"""The ABC corpus and vocabulary: raw tunes from music21's bundled ``.abc`` files, token ids in a fixed order."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from models.abc.syntax import BARS, AbcError, kind, meter_eighths, parse_dur, parse_pitch

PAD, BOS, EOS = "<pad>", "<s>", "</s>"


@dataclass(frozen=True)
class AbcTune:
    """One tune's raw text from the corpus; ``tune_id`` matches models.music.corpus (``path#X``)."""

    tune_id: str
    text: str


def corpus_abc_tunes(style) -> list[AbcTune]:
    """Every tune of a style's ``.abc`` corpus files, split at ``X:`` lines, in corpus order."""
    from music21 import corpus

    from models.music.corpus import corpus_files

    absolute = {}
    for path in corpus.getPaths():
        parts = Path(path).parts
        for d in style.corpus_dirs:
            if d in parts:
                absolute["/".join(parts[parts.index(d) :])] = Path(path)
    tunes, seen = [], set()
    for rel in corpus_files(style):
        if rel.endswith(".abc"):
            for tune in split_tunes(absolute[rel].read_bytes().decode("utf-8", errors="replace"), rel):
                if tune.tune_id not in seen:
                    seen.add(tune.tune_id)
                    tunes.append(tune)
    return tunes


def split_tunes(text: str, rel_path: str) -> list[AbcTune]:
    """A file's tunes, split at ``X:`` lines; ids ``<rel_path>#<X number>`` as music21 numbers them."""
    starts = list(re.finditer(r"(?m)^X:[ \t]*(\S*)", text))
    out = []
    for i, m in enumerate(starts):
        number = int(m.group(1)) if m.group(1).isdigit() else i + 1
        end = starts[i + 1].start() if i + 1 < len(starts) else None
        out.append(AbcTune(f"{rel_path}#{number}", text[m.start() : end]))
    return out


_KIND_RANK = {
    k: i
    for i, k in enumerate(
        ("special", "meter", "key", "bar", "ending", "tuplet", "broken", "tie", "rest", "pitch", "dur")
    )
}


def token_order(token: str) -> tuple:
    """Sort key that fixes vocabulary order: by kind, then musically (meter length, pitch height, length)."""
    k = kind(token)
    if k == "meter":
        sub: tuple = (float(meter_eighths(token[2:])), token)
    elif k == "pitch":
        acc, step = parse_pitch(token)
        sub = (step, -9 if acc is None else acc)
    elif k == "dur":
        sub = (float(parse_dur(token)), token)
    elif k == "bar":
        sub = (BARS.index(token),)
    else:
        sub = ({PAD: 0, BOS: 1, EOS: 2}.get(token, 3), token)
    return (_KIND_RANK[k], *sub)


class AbcVocab:
    """Token strings ↔ ids, in :func:`token_order` so that the same tokens always give the same ids."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.pad, self.bos, self.eos = self.index[PAD], self.index[BOS], self.index[EOS]

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str]) -> list[int]:
        """``<s>`` + tokens + ``</s>`` as ids; AbcError for a token outside the vocabulary."""
        try:
            return [self.bos, *(self.index[t] for t in tokens), self.eos]
        except KeyError as exc:
            raise AbcError(f"token {exc.args[0]!r} not in the vocabulary") from None

    def decode(self, ids: list[int]) -> list[str]:
        return [self.tokens[i] for i in ids]


def build_vocab(tunes: list[list[str]], min_count: int = 3) -> AbcVocab:
    """Vocabulary of the tokens seen at least ``min_count`` times in ``tunes`` (the training split)."""
    counts = Counter(t for tune in tunes for t in tune)
    kept = [t for t, c in counts.items() if c >= min_count and kind(t) != "special"]
    return AbcVocab(sorted([PAD, BOS, EOS, *kept], key=token_order))
