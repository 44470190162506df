"""The arranger: a melody becomes a band piece (form, key, chords, bass, percussion) with its parts and chords."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from models.arrange import form, percussion
from models.arrange.harmony import Meter, MNote, harmonize, slots
from models.arrange.key import find_key
from models.arrange.realise import pattern_for, realise
from models.arrange.theory import Chord, Key
from models.music.melody import Note

ARRANGEMENTS = ("band", "melody")
MELODY, CHORDS, BASS, DRUMS = "melody", "chords", "bass", "percussion"
JITTER_S = 0.006  # humanised timing of the accompaniment, at most this early or late
JITTER_VELOCITY = 5
NOTE_GAP_S = 0.004  # repeated notes of a part are separated by at least this much
LOW_MELODY = 60  # a melody whose median pitch is under middle C is lifted an octave for the band


@dataclass(frozen=True)
class Band:
    """Who plays under the melody in a style: GM programs, the percussion kit and the kind of tune (form)."""

    chords: int
    bass: int
    kit: str | None
    kind: str  # dance (AABB), song (AABC) or air (ABAC)
    extended: bool = False  # secondary dominants and diminished chords (a chorale's harmony), not for folk bands
    every_beat: bool = False  # a chord on every beat (a chorale's harmonic rhythm), not one or two a bar
    sample: bool = True  # chords drawn from the harmony model's posterior (seeded), not its single likeliest path
    modes: tuple[str, ...] = ("major", "minor", "dorian", "mixolydian")  # the modes its tunes are in


TONAL = ("major", "minor")  # a chorale is in major or minor: a modulation to the dominant is not mixolydian

BANDS: dict[str, Band] = {
    "irish": Band(chords=25, bass=32, kit="bodhran", kind="dance"),  # steel guitar, acoustic bass, bodhrán
    "scottish": Band(chords=48, bass=43, kit="sidedrum", kind="dance"),  # strings, contrabass, pipe-band drum
    "folk": Band(chords=21, bass=58, kit="tambourine", kind="song"),  # accordion, tuba, tambourine
    # organ, no percussion; the chorale's harmony: chromatic chords, a chord a beat, major or minor
    "bach": Band(chords=19, bass=19, kit=None, kind="air", extended=True, every_beat=True, modes=TONAL),
}
DEFAULT_BAND = Band(chords=0, bass=32, kit=None, kind="air")  # piano and bass for new (fine-tuned) styles


@dataclass
class Part:
    """One named part: its GM program (ignored on the drum channel) and notes in seconds."""

    name: str
    program: int
    notes: list[Note]
    is_drum: bool = False


@dataclass
class Arrangement:
    """What the arranger made: the (formed) melody, all parts (melody first), key, chords and sections."""

    arrangement: str
    melody: list[Note]
    parts: list[Part]
    key: Key | None = None
    chords: list[dict] = field(default_factory=list)  # {"start", "end" (s), "symbol", "roman"}
    sections: list[form.Section] = field(default_factory=list)
    spans: list[tuple[float, float, Chord]] = field(default_factory=list)  # chord slots in quarter notes
    note: str = ""  # why a band arrangement fell back to the bare melody


def band_for(style: str) -> Band:
    """The band of a style (a default band for styles made by fine-tuning)."""
    return BANDS.get(style, DEFAULT_BAND)


def kind_for(style: str, qpm: float) -> str:
    """Dance tunes get AABB; Scottish slow airs (under 96 qpm) their phrase structure."""
    kind = band_for(style).kind
    return "air" if style == "scottish" and qpm < 96 else kind


def bare(notes: Sequence[Note], program: int, note: str = "") -> Arrangement:
    """The melody alone (``arrangement: melody``)."""
    return Arrangement("melody", list(notes), [Part(MELODY, program, list(notes))], note=note)


def arrange(
    notes: Sequence[Note],
    *,
    seconds: float,
    bars: int,
    meter: str,
    qpm: float,
    style: str,
    program: int,
    seed: int,
    keep: Sequence[Note] | None = None,
    keep_bars: int = 0,
    keep_melody: bool = False,
    key: Key | None = None,
    keep_chords: Sequence[tuple[float, float, Chord]] = (),
) -> Arrangement:
    """Arrange a monophonic melody lasting exactly ``seconds`` (``bars`` whole bars of ``meter`` at ``qpm``).

    Same inputs, same output: the only randomness (humanising, ghost strokes) comes from ``seed``.
    ``keep`` and ``keep_bars``: an extended track's first bars, played exactly as before (its parent's melody);
    the form is planned over the bars after them. ``keep_melody``: harmonize the melody as it is, without form
    or a final cadence (for evaluating the harmony on given melodies, e.g. the chorales' sopranos).
    ``keep_chords``: the parent's chords as (start, end, chord) in quarters; the kept bars' slots take them.
    """
    try:
        m = Meter.parse(meter)
    except (ValueError, ZeroDivisionError):
        return bare(notes, program, f"the meter {meter!r} is not one the arranger reads")
    if bars < 2 or not notes:
        return bare(notes, program, "the piece is too short to arrange")
    sec_q = 60.0 / qpm  # seconds per quarter
    bar_s = m.bar_q * sec_q
    kind = kind_for(style, qpm)
    keep_bars = max(0, min(int(keep_bars), bars - 1)) if keep is not None else 0
    head = [n for n in keep or [] if n.start < keep_bars * bar_s - 1e-9]
    sections = [form.Section("A", 0, keep_bars)] if keep_bars else []
    sections += (
        []
        if keep_melody
        else [
            form.Section(chr(ord(s.label) + (1 if keep_bars else 0)), s.start + keep_bars, s.length)
            for s in form.plan(bars - keep_bars, kind)
        ]
    )
    sections = sections or [form.Section("A", 0, bars)]
    tie = form.ties(sections[1:] if keep_bars else sections)
    melody = head + form.repeat_bars([n for n in notes if n.start >= keep_bars * bar_s - 1e-9], bar_s, tie)
    pitches = sorted(n.pitch for n in melody)
    if (
        pitches
        and not keep_bars
        and not keep_melody
        and pitches[len(pitches) // 2] < LOW_MELODY
        and pitches[-1] + 12 <= 96
    ):  # a melody down in the bass register: up an octave, so a band fits under it
        melody = [dataclasses.replace(n, pitch=n.pitch + 12) for n in melody]

    def weights(line: Sequence[Note]) -> list[tuple[int, float]]:
        return [(n.pitch, (n.end - n.start) / sec_q * (0.5 + m.strength(n.start / sec_q))) for n in line]

    band = band_for(style)
    if key is None:  # not chosen by the user (``/compose key:``): found in the melody
        key = find_key(weights(melody), final_pitch=melody[-1].pitch if melody else None, modes=band.modes)
    if key is None and len({n.pitch % 12 for n in melody}) < 3:
        return bare(notes, program, "the melody has too few different notes to find its key, so it is posted bare")
    if key is None:
        return bare(notes, program, "the melody fits no key (it is atonal), so it is posted without chords")
    per = m.slots_per_bar(band.every_beat)
    cut = (bars - 1) * bar_s + (m.bar_q / per if per > 1 else m.beat_q) * sec_q
    if not keep_melody:
        melody = form.cadence(melody, key.tonic, cut, seconds)
    mq = [MNote(n.pitch, n.start / sec_q, n.end / sec_q) for n in melody]
    ends = [s.end - 1 for s in sections[:-1]]
    fixed = {
        i: chord
        for i, (start, end) in enumerate(slots(m, bars, per))
        if start < keep_bars * m.bar_q - 1e-9
        for s0, e0, chord in keep_chords
        if s0 - 1e-6 <= (start + end) / 2 < e0
    }
    chords = harmonize(
        mq,
        key,
        m,
        bars,
        phrase_ends=ends,
        ties=tie,
        extended=band.extended,
        every_beat=band.every_beat,
        seed=seed if band.sample else None,
        fixed=fixed,
    )
    bass_ev, comp_ev = realise(chords, mq, m, bars, pattern_for(m, qpm, kind))
    rng = random.Random(seed)
    parts = [
        Part(MELODY, program, melody),
        Part(CHORDS, band.chords, _humanise(comp_ev, sec_q, seconds, rng)),
        Part(BASS, band.bass, _humanise(bass_ev, sec_q, seconds, rng)),
    ]
    if band.kit:
        hits = percussion.pattern(band.kit, m, bars, rng)
        parts.append(Part(DRUMS, 0, _humanise(hits, sec_q, seconds, rng, jitter=JITTER_S * 1.5), is_drum=True))
    return Arrangement("band", melody, parts, key, chord_list(chords, key, sec_q), sections, chords)


def chord_list(chords: Sequence[tuple[float, float, Chord]], key: Key, sec_q: float) -> list[dict]:
    """Consecutive equal chords merged, in seconds, with symbol and roman numeral."""
    out: list[dict] = []
    for start, end, chord in chords:
        if out and out[-1]["chord"] == chord:
            out[-1]["end"] = end
        else:
            out.append({"start": start, "end": end, "chord": chord})
    return [
        {
            "start": round(c["start"] * sec_q, 4),
            "end": round(c["end"] * sec_q, 4),
            "symbol": c["chord"].symbol(key),
            "roman": c["chord"].roman(key),
        }
        for c in out
    ]


def _humanise(
    events: Sequence[tuple[float, float, int, int]],
    sec_q: float,
    seconds: float,
    rng: random.Random,
    jitter: float = JITTER_S,
) -> list[Note]:
    out = []
    for start, end, pitch, velocity in events:
        shift = rng.uniform(-jitter, jitter) if start > 0 else 0.0
        s = min(max(0.0, start * sec_q + shift), seconds)
        e = min(seconds, end * sec_q + shift)
        v = max(1, min(127, velocity + rng.randint(-JITTER_VELOCITY, JITTER_VELOCITY)))
        if e - s > 1e-3:
            out.append(Note(int(pitch), s, e, v))
    # A note must end before the next one of the same pitch starts, or MIDI would cut the later one short.
    out.sort(key=lambda n: (n.start, n.pitch))
    last: dict[int, int] = {}
    for i, n in enumerate(out):
        j = last.get(n.pitch)
        if j is not None and out[j].end > n.start - NOTE_GAP_S:
            out[j] = Note(out[j].pitch, out[j].start, max(out[j].start + 1e-3, n.start - NOTE_GAP_S), out[j].velocity)
        last[n.pitch] = i
    return out
