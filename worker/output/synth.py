"""A warm FluidSynth inside the worker process: the General MIDI soundfont (140 MB) is loaded once, like the
model, instead of once per job by the fluidsynth command (about 0.7 s of every render otherwise).

Uses pyfluidsynth (bindings to the same libfluidsynth the command uses). When it is not importable,
worker.output.render falls back to midi2audio / the fluidsynth command.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from worker.output.quiet_imports import pretty_midi

SAMPLE_RATE = 44100
DRUM_CHANNEL, DRUM_BANK = 9, 128  # General MIDI channel 10; FluidSynth's percussion bank
REVERB = (0.55, 0.35, 0.8, 0.6)  # room size, damping, width, level: a small hall
EFFECT_CONTROLLERS = (7, 10, 91, 93)  # volume, pan, reverb send, chorus send
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


def _synth(soundfont: Path, cores: int | None = None) -> tuple[Any, int]:
    fluidsynth = _fluidsynth()

    key = str(soundfont)
    if key not in _synths:
        # Reverb and chorus on (each part's send is its MIDI controllers 91 and 93, see worker.output.midi.MIX).
        # FluidSynth renders the voices of a band (four parts, reverb) on up to two threads: 0.50 s → 0.32 s for
        # a 30 s four-part mix on the 2-core machine, even while it was busy (TUNESMITH_SYNTH_CORES to change).
        cores = cores or min(2, os.cpu_count() or 1)  # TUNESMITH_SYNTH_CORES, read by the worker's settings
        synth = fluidsynth.Synth(
            gain=0.5,
            samplerate=float(SAMPLE_RATE),
            **{"synth.reverb.active": 1, "synth.chorus.active": 1, "synth.cpu-cores": cores},
        )
        synth.set_reverb(roomsize=REVERB[0], damping=REVERB[1], width=REVERB[2], level=REVERB[3])
        sfid = synth.sfload(key)
        if sfid < 0:
            synth.delete()  # else every job with a bad soundfont leaks a synth and its buffers
            raise OSError(f"FluidSynth could not load the soundfont {soundfont}")
        _synths[key] = (synth, sfid)
    return _synths[key]


def _events(pm: pretty_midi.PrettyMIDI) -> tuple[list[tuple[int, int]], list[tuple[float, int, int, int, int]]]:
    """(channel, program) per instrument and events (time, order, channel, a, b), in time order: controller
    changes (order 0: a = controller, b = value) first, then note-offs (1), then note-ons (2: a = pitch,
    b = velocity). Drum tracks play on channel 10 (9 from 0), the others on the remaining channels in order."""
    programs: list[tuple[int, int]] = []
    events: list[tuple[float, int, int, int, int]] = []
    channels = iter(c for c in range(16) if c != DRUM_CHANNEL)
    for inst in pm.instruments:
        channel = DRUM_CHANNEL if inst.is_drum else next(channels, None)
        if channel is None or (inst.is_drum and any(c == DRUM_CHANNEL for c, _ in programs)):
            continue
        programs.append((channel, -1 if inst.is_drum else inst.program))
        for cc in inst.control_changes:
            if cc.number in EFFECT_CONTROLLERS:
                events.append((cc.time, 0, channel, cc.number, cc.value))
        for note in inst.notes:
            events.append((note.start, 2, channel, note.pitch, note.velocity))
            events.append((note.end, 1, channel, note.pitch, 0))
    return programs, sorted(events)


def render_pcm(midi_path: Path | str, seconds: float, soundfont: Path, cores: int | None = None) -> np.ndarray:
    """Synthesise ``seconds`` of a MIDI file → float32 stereo samples [n, 2] in [-1, 1]."""
    pm = pretty_midi.PrettyMIDI(str(midi_path))
    programs, events = _events(pm)
    total = int(round(seconds * SAMPLE_RATE))
    with _lock:  # one synth per soundfont, shared by the jobs of this process
        synth, sfid = _synth(soundfont, cores)
        synth.system_reset()
        synth.set_reverb(roomsize=REVERB[0], damping=REVERB[1], width=REVERB[2], level=REVERB[3])
        for channel, program in programs:
            if program < 0:
                synth.program_select(channel, sfid, DRUM_BANK, 0)
            else:
                synth.program_select(channel, sfid, 0, program)
        chunks, cursor = [], 0
        for time, order, channel, a, b in events:
            frame = min(total, int(round(time * SAMPLE_RATE)))
            if frame > cursor:
                chunks.append(synth.get_samples(frame - cursor))
                cursor = frame
            if order == 2:
                synth.noteon(channel, a, b)
            elif order == 1:
                synth.noteoff(channel, a)
            else:
                synth.cc(channel, a, b)
        if total > cursor:
            chunks.append(synth.get_samples(total - cursor))
        for channel, _ in programs:
            synth.cc(channel, 123, 0)  # all notes off, ready for the next job
    pcm = np.concatenate(chunks) if chunks else np.zeros(2 * total, dtype=np.int16)
    return (pcm.reshape(-1, 2).astype(np.float32) / 32768.0)[:total]
