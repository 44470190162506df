"""A warm FluidSynth inside the worker process: the General MIDI soundfont (140 MB) is loaded once, like the
model, instead of once per job by the fluidsynth command (about 0.7 s of every render otherwise).

Uses pyfluidsynth (bindings to the same libfluidsynth the command uses). When it is not importable,
worker.output.render falls back to midi2audio / the fluidsynth command.
"""

from __future__ import annotations

import contextlib
import io
import threading
from pathlib import Path
from typing import Any

import numpy as np

from worker.output.quiet_imports import pretty_midi

SAMPLE_RATE = 44100
_lock = threading.Lock()
_synths: dict[str, tuple[Any, int]] = {}  # soundfont path → (fluidsynth.Synth, soundfont id)


def _fluidsynth():  # noqa: ANN202 - the pyfluidsynth module
    """Import pyfluidsynth quietly (some versions print where they found libfluidsynth on stdout)."""
    with contextlib.redirect_stdout(io.StringIO()):
        import fluidsynth
    return fluidsynth


def available() -> bool:
    """Whether pyfluidsynth and libfluidsynth can be loaded."""
    try:
        _fluidsynth()
    except (ImportError, OSError):
        return False
    return True


def _synth(soundfont: Path) -> tuple[Any, int]:
    fluidsynth = _fluidsynth()

    key = str(soundfont)
    if key not in _synths:
        synth = fluidsynth.Synth(gain=0.5, samplerate=float(SAMPLE_RATE))
        sfid = synth.sfload(key)
        if sfid < 0:
            synth.delete()  # else every job with a bad soundfont leaks a synth and its buffers
            raise OSError(f"FluidSynth could not load the soundfont {soundfont}")
        _synths[key] = (synth, sfid)
    return _synths[key]


def _events(pm: pretty_midi.PrettyMIDI) -> tuple[list[tuple[int, int]], list[tuple[float, int, int, int, int]]]:
    """(channel, program) per instrument and note events (time, order, channel, pitch, velocity), offs first."""
    programs, events = [], []
    channels = [c for c in range(16) if c != 9]
    for inst, channel in zip([i for i in pm.instruments if not i.is_drum], channels, strict=False):
        programs.append((channel, inst.program))
        for note in inst.notes:
            events.append((note.start, 1, channel, note.pitch, note.velocity))
            events.append((note.end, 0, channel, note.pitch, 0))
    return programs, sorted(events)


def render_pcm(midi_path: Path | str, seconds: float, soundfont: Path) -> np.ndarray:
    """Synthesise ``seconds`` of a MIDI file → float32 stereo samples [n, 2] in [-1, 1]."""
    pm = pretty_midi.PrettyMIDI(str(midi_path))
    programs, events = _events(pm)
    total = int(round(seconds * SAMPLE_RATE))
    with _lock:  # one synth per soundfont, shared by the jobs of this process
        synth, sfid = _synth(soundfont)
        synth.system_reset()
        for channel, program in programs:
            synth.program_select(channel, sfid, 0, program)
        chunks, cursor = [], 0
        for time, is_on, channel, pitch, velocity in events:
            frame = min(total, int(round(time * SAMPLE_RATE)))
            if frame > cursor:
                chunks.append(synth.get_samples(frame - cursor))
                cursor = frame
            if is_on:
                synth.noteon(channel, pitch, velocity)
            else:
                synth.noteoff(channel, pitch)
        if total > cursor:
            chunks.append(synth.get_samples(total - cursor))
        for channel, _ in programs:
            synth.cc(channel, 123, 0)  # all notes off, ready for the next job
    pcm = np.concatenate(chunks) if chunks else np.zeros(2 * total, dtype=np.int16)
    return (pcm.reshape(-1, 2).astype(np.float32) / 32768.0)[:total]
