"""A realistic piano upload set built from music21's bundled corpus (public domain; nothing copyrighted is
committed): Palestrina's four-voice masses (not in the piano model's pretraining) read as keyboard reductions,
thinned to piano textures (melody and bass, sometimes an inner voice), moved to random keys, and written as
multi-track piano MIDI files with the quirks real collections have.

Quirks, each in a share of the files: out-of-range data bytes (a velocity or controller value over 127), tempo
and meter meta events on track 2 instead of the conductor track, type 0 files, a drum track, an empty track,
no end-of-track event, a tempo change near the end, tempos up to 255 qpm; every file uses running status.
Meters: mostly 4/4, some 3/4 (chorales in 3/4) and 12/8 (4/4 pieces re-timed in compound time).

    PYTHONPATH=. python -m tests.benchmarks.piano_collection OUT_DIR [N]
"""

from __future__ import annotations

import random
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from models.poly.tokens import PolyNote, PolyPiece

TPQ = 480
GRID_TPQ = 12
PALESTRINA_FILES = 200  # the first 200 four-voice files (sorted): ~400 pieces


@dataclass
class Spec:
    """How one file of the collection is written."""

    name: str
    piece: PolyPiece
    qpm: float
    fmt: int = 1
    meta_on_track2: bool = False
    bad_bytes: bool = False
    drums: bool = False
    empty_track: bool = False
    no_eot: bool = False
    tempo_change: bool = False


def _varlen(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _track(events: list[tuple[int, int, bytes]], eot: bool = True) -> bytes:
    """Events (tick, order, raw message bytes with status) → an MTrk chunk, written with running status."""
    body, last, status = bytearray(), 0, None
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        body += _varlen(tick - last)
        last = tick
        if msg[0] < 0xF0 and msg[0] == status:
            body += msg[1:]  # running status
        else:
            body += msg
            status = msg[0] if msg[0] < 0xF0 else status if msg[0] == 0xFF else None
    if eot:
        body += b"\x00\xff\x2f\x00"
    return b"MTrk" + struct.pack(">L", len(body)) + bytes(body)


def _meta(kind: int, data: bytes) -> bytes:
    return bytes([0xFF, kind]) + _varlen(len(data)) + data


def _tempo(qpm: float) -> bytes:
    return _meta(0x51, int(60_000_000 / qpm).to_bytes(3, "big"))


def _meter(meter: str) -> bytes:
    num, den = (int(x) for x in meter.split("/"))
    return _meta(0x58, bytes([num, den.bit_length() - 1, 24, 8]))


def write_midi(spec: Spec) -> bytes:
    """The file's bytes."""
    piece, scale = spec.piece, TPQ // GRID_TPQ
    end = piece.bars * piece.bar_ticks * scale
    conductor = [(0, 0, _meta(0x03, b"Conductor")), (0, 1, _tempo(spec.qpm)), (0, 2, _meter(piece.meter))]
    if spec.tempo_change:
        conductor.append((max(0, end - 2 * piece.bar_ticks * scale), 3, _tempo(spec.qpm * 0.85)))
    right = [(0, 0, _meta(0x03, b"Piano RH")), (0, 1, bytes([0xC0, 0])), (0, 2, bytes([0xB0, 7, 100]))]
    left = [(0, 0, _meta(0x03, b"Piano LH")), (0, 1, bytes([0xC1, 0])), (0, 2, bytes([0xB1, 7, 96]))]
    rng = random.Random(spec.name)
    for k, n in enumerate(piece.notes):
        hand, ch = (right, 0) if n.pitch >= 60 else (left, 1)
        vel = max(1, min(127, n.velocity + rng.randint(-6, 6)))
        if spec.bad_bytes and k % 37 == 5:
            vel = 0x80 | (vel & 0x7F) if vel < 0x80 else 0xC8  # out of range: readers clip it to 127
        on, off = n.start * scale, (n.start + n.ticks) * scale - 10
        hand.append((on, 10, bytes([0x90 | ch, n.pitch, vel])))
        hand.append((max(on + 1, off), 5, bytes([0x90 | ch, n.pitch, 0])))  # note-off as velocity 0
    if spec.bad_bytes:
        right.append((0, 3, bytes([0xB0, 10, 0xFF])))  # a controller value over 127
    tracks = [conductor, right, left]
    if spec.meta_on_track2:  # tempo and meter on the left hand's track instead of the conductor's
        left += [(t, o, m) for t, o, m in conductor if m[:2] in (b"\xff\x51", b"\xff\x58")]
        tracks[0] = [e for e in conductor if e[2][:2] not in (b"\xff\x51", b"\xff\x58")]
    if spec.drums:
        beat = TPQ if piece.meter != "12/8" else TPQ * 3 // 2
        drums = [(0, 0, _meta(0x03, b"Drums"))]
        for t in range(0, end, beat):
            drums += [
                (t, 10, bytes([0x99, 36 if (t // beat) % 2 == 0 else 38, 90])),
                (t + 60, 5, bytes([0x99, 36, 0])),
                (t + 61, 5, bytes([0x99, 38, 0])),
            ]
        tracks.append(drums)
    if spec.empty_track:
        tracks.append([(0, 0, _meta(0x03, b"Strings (unused)"))])
    if spec.fmt == 0:
        merged = [e for tr in tracks for e in tr if not e[2].startswith(b"\xff\x03")]
        chunks = [_track(merged, eot=not spec.no_eot)]
    else:
        chunks = [_track(tr, eot=not (spec.no_eot and i == len(tracks) - 1)) for i, tr in enumerate(tracks)]
    return b"MThd" + struct.pack(">LHHH", 6, spec.fmt, len(chunks), TPQ) + b"".join(chunks)


def piano_texture(piece: PolyPiece, voices: int, shift: int) -> PolyPiece:
    """Each onset thinned to its lowest and highest notes (plus the next-highest when ``voices`` is 3),
    transposed by ``shift``; the melody a little louder than the bass."""
    groups: dict[int, list[PolyNote]] = {}
    for n in piece.notes:
        groups.setdefault(n.start, []).append(n)
    notes = []
    for group in groups.values():
        group = sorted(group, key=lambda n: n.pitch)
        keep = {0, len(group) - 1} | ({len(group) - 2} if voices >= 3 and len(group) >= 3 else set())
        for i in sorted(keep):
            n = group[i]
            vel = 92 if i == len(group) - 1 else 70 if i == 0 else 62
            notes.append(PolyNote(n.start, n.ticks, n.pitch + shift, vel))
    return PolyPiece(piece.piece_id, piece.meter, piece.bars, sorted(notes, key=lambda n: (n.start, n.pitch)))


def compound(piece: PolyPiece) -> PolyPiece:
    """A 4/4 piece re-timed as 12/8: each quarter becomes a dotted quarter, its second half on the third eighth."""

    def at(t: int) -> int:
        beat, inner = divmod(t, 12)
        return beat * 18 + (0 if inner < 3 else 6 if inner < 6 else 12 if inner < 9 else 15)

    notes = [
        PolyNote(at(n.start), max(6, at(n.start + n.ticks) - at(n.start)), n.pitch, n.velocity) for n in piece.notes
    ]
    return PolyPiece(piece.piece_id, "12/8", piece.bars, notes)


def source_pieces(limit: int | None = None) -> tuple[list[PolyPiece], list[PolyPiece]]:
    """(4/4 pieces, 3/4 pieces): Palestrina's four-voice movements (halved durations) and 3/4 Bach chorales,
    from the poly corpus cache (parsed on first use)."""
    from models.music.palestrina import palestrina_files
    from models.poly.corpus import corpus_files, load_corpus

    files = [(f + ".krn", "piano") for f in palestrina_files(4)][:limit]
    pal = [p for _, p in load_corpus(files, log_every=0, scale=0.5)]
    four = [p for p in pal if p.meter == "4/4"]
    three = [p for p in pal if p.meter == "3/4"]
    if len(three) < 60:  # few Palestrina movements are in triple time: add the 3/4 chorales
        chorales = [(rel, t) for rel, t in corpus_files() if rel.startswith("bach/bwv")]
        three += [p for _, p in load_corpus(chorales, log_every=0, cached_only=True) if p.meter == "3/4"]
    return four, three


def build_specs(n: int = 300, seed: int = 0, limit: int | None = PALESTRINA_FILES) -> list[Spec]:
    """``n`` file specs, each from a different source piece (so no piece is both uploaded and held out): ~75% 4/4,
    ~15% 3/4, ~10% 12/8, with the quirks spread over them."""
    rng = random.Random(seed)
    four, three = source_pieces(limit)
    rng.shuffle(four)
    rng.shuffle(three)
    specs = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.15 and three:
            base = three.pop()
        else:
            base = four.pop() if four else three.pop()
            if roll > 0.9 and base.meter == "4/4":
                base = compound(base)
        voices = rng.choice((2, 3, 3))
        piece = piano_texture(base, voices, rng.randint(-5, 6))
        qpm = rng.uniform(150, 255) if rng.random() < 0.15 else rng.uniform(80, 150)
        if piece.meter == "12/8":
            qpm *= 1.5  # dotted-quarter beats: keep the same pulse
        specs.append(
            Spec(
                f"piano_{i:03d}.mid",
                piece,
                round(min(255.0, qpm), 1),
                fmt=0 if i % 7 == 3 else 1,
                meta_on_track2=i % 5 == 1,
                bad_bytes=i % 4 == 2,
                drums=i % 9 == 4,
                empty_track=i % 6 == 0,
                no_eot=i % 8 == 7,
                tempo_change=i % 10 == 9,
            )
        )
    return specs


def build_collection(out_dir: Path, n: int = 300, seed: int = 0, limit: int | None = PALESTRINA_FILES) -> list[Path]:
    """Write the collection's ``n`` files into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in build_specs(n, seed, limit):
        path = out_dir / spec.name
        path.write_bytes(write_midi(spec))
        paths.append(path)
    return paths


if __name__ == "__main__":
    target = Path(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    print(len(build_collection(target, count)), "files in", target)
