"""Melody tokens: a small fixed vocabulary (meter, style, bar, pitch, rest, duration), encode and decode.

A tune encodes as ``<bos> M:6/8 (P:n|<rest>) D:t ... <bar> ... <eos>``. Durations are explicit, so rhythm
is learned rather than fixed to an eighth-note grid; models.tokenlm.sampling.BatchGrammar makes the sampler
fill whole bars.
"""

from __future__ import annotations

from typing import Literal

from models.music.melody import Event, Tune, meter_ticks

PAD, BOS, EOS, BAR, REST = "<pad>", "<bos>", "<eos>", "<bar>", "<rest>"
METERS = ("2/4", "3/4", "4/4", "2/2", "3/2", "6/8", "9/8", "12/8", "3/8", "6/4", "5/4", "7/8")
PITCH_MIN, PITCH_MAX = 36, 96
MAX_TICKS = 72
STYLE_TOKENS = ("irish", "folk", "scottish", "bach", "palestrina")  # append only: ids must stay stable


class Vocab:
    """Token strings ↔ ids; the order is fixed so checkpoints stay valid."""

    def __init__(self, tokens: list[str] | None = None) -> None:
        if tokens is None:
            tokens = [PAD, BOS, EOS, BAR, REST]
            tokens += [f"M:{m}" for m in METERS]
            tokens += [f"P:{p}" for p in range(PITCH_MIN, PITCH_MAX + 1)]
            tokens += [f"D:{t}" for t in range(1, MAX_TICKS + 1)]
            tokens += [f"S:{name}" for name in STYLE_TOKENS]
        self.tokens = list(tokens)
        self.index = {tok: i for i, tok in enumerate(self.tokens)}
        self.pad, self.bos, self.eos = self.index[PAD], self.index[BOS], self.index[EOS]
        self.bar, self.rest = self.index[BAR], self.index[REST]

    def __len__(self) -> int:
        return len(self.tokens)

    def pitch_id(self, pitch: int) -> int:
        return self.index[f"P:{pitch}"]

    def dur_id(self, ticks: int) -> int:
        return self.index[f"D:{ticks}"]

    def meter_id(self, meter: str) -> int:
        return self.index[f"M:{meter}"]

    def kind(self, token_id: int) -> str:
        """'pitch', 'rest', 'dur', 'bar', 'meter' or the special token itself."""
        tok = self.tokens[token_id]
        return {"P": "pitch", "D": "dur", "M": "meter", "S": "style"}.get(tok[0], tok) if tok[1] == ":" else tok

    def value(self, token_id: int) -> str:
        return self.tokens[token_id].split(":", 1)[1]


class EncodeError(ValueError):
    """The tune does not fit the vocabulary (meter, pitch range or duration)."""


def encode(tune: Tune, vocab: Vocab, style: str | None = None) -> list[int]:
    """Tune → token ids, ``<bos>`` [``S:style``] ``M:meter`` … ``<eos>``."""
    if f"M:{tune.meter}" not in vocab.index:
        raise EncodeError(f"meter {tune.meter} not in vocabulary")
    if style is not None and f"S:{style}" not in vocab.index:
        raise EncodeError(f"style {style} not in vocabulary")
    ids = [vocab.bos] + ([vocab.index[f"S:{style}"]] if style else []) + [vocab.meter_id(tune.meter)]
    for bar in tune.bars:
        for event in bar:
            if event.pitch is None:
                ids.append(vocab.rest)
            elif PITCH_MIN <= event.pitch <= PITCH_MAX:
                ids.append(vocab.pitch_id(event.pitch))
            else:
                raise EncodeError(f"pitch {event.pitch} out of range")
            if not 1 <= event.ticks <= MAX_TICKS:
                raise EncodeError(f"duration {event.ticks} ticks out of range")
            ids.append(vocab.dur_id(event.ticks))
        ids.append(vocab.bar)
    ids.append(vocab.eos)
    return ids


def decode(ids: list[int], vocab: Vocab, tune_id: str = "generated") -> Tune:
    """Token ids → Tune. Incomplete trailing bars are dropped; stray tokens are skipped."""
    bars: list[list[Event]]
    bar: list[Event]
    pitch: int | None | Literal["none"]  # "none": no pitch or rest pending
    meter, bars, bar, pitch = "4/4", [], [], "none"
    for token_id in ids:
        kind = vocab.kind(token_id)
        if kind == "meter":
            meter = vocab.value(token_id)
        elif kind == "pitch":
            pitch = int(vocab.value(token_id))
        elif kind == REST:
            pitch = None
        elif kind == "dur" and pitch != "none":
            bar.append(Event(pitch, int(vocab.value(token_id))))
            pitch = "none"
        elif kind == BAR:
            if sum(e.ticks for e in bar) == meter_ticks(meter):
                bars.append(bar)
            bar = []
        elif kind == EOS:
            break
    return Tune(tune_id, meter, bars)
