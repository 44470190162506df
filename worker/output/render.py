"""Renders MIDI to OGG/MP3 of an exact length with FluidSynth and ffmpeg; measures audio length and level."""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from worker.output import synth

SAMPLE_RATE = 44100
FADE_S = 0.4
PEAK_TARGET_DB = -1.0  # normalise each track's peak to this level
MAX_GAIN_DB = 30.0
SOUNDFONT_ENV = "TUNESMITH_SOUNDFONT"  # named in messages; worker.jobs.settings reads it
SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian/Ubuntu: fluid-soundfont-gm
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",  # Arch, Fedora
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",  # Debian: timgm6mb-soundfont
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/local/share/soundfonts/default.sf2",  # Homebrew / BSD
    "/opt/homebrew/share/soundfonts/default.sf2",
)
_FORMATS = {
    "ogg": (("libvorbis", ["-q:a", "5"]), ("libopus", ["-b:a", "96k"])),
    "mp3": (("libmp3lame", ["-b:a", "192k"]), ("libshine", ["-b:a", "192k"])),
}


class RenderError(RuntimeError):
    """Rendering failed; the message says what to install or what went wrong."""


@dataclass(frozen=True)
class AudioLevels:
    """Loudness of a decoded audio file in dBFS (``-inf`` for digital silence)."""

    mean_db: float
    peak_db: float


def find_soundfont(configured: Path | str | None = None) -> Path:
    """The General MIDI soundfont to render with: ``configured`` (the worker's TUNESMITH_SOUNDFONT) first, then
    the usual system paths.

    Raises:
        RenderError: none is installed, or ``configured`` names a missing file.
    """
    if configured:
        if Path(configured).is_file():
            return Path(configured)
        raise RenderError(f"{SOUNDFONT_ENV}={configured} is not a file: point it at a General MIDI .sf2 soundfont.")
    for candidate in SOUNDFONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise RenderError(
        "No General MIDI soundfont found: install one with `apt-get install fluid-soundfont-gm` "
        f"or set {SOUNDFONT_ENV} to a .sf2 file."
    )


def _tool(name: str, package: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise RenderError(f"`{name}` is not installed: run `apt-get install {package}`.")
    return exe


def _run(
    args: list[str], what: str, timeout: float = 300.0, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    try:
        if stdin is None:
            proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        else:
            raw = subprocess.run(args, input=stdin, capture_output=True, timeout=timeout, check=False)
            proc = subprocess.CompletedProcess(
                args, raw.returncode, raw.stdout.decode(errors="replace"), raw.stderr.decode(errors="replace")
            )
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"{what} took longer than {timeout:g}s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-600:]
        if proc.returncode == -signal.SIGXFSZ:  # killed for writing past the file size limit
            tail = f"{os.strerror(errno.EFBIG)} {tail}".strip()
        raise RenderError(f"{what} failed with exit code {proc.returncode}: {tail}")
    return proc


@cache
def _encoders() -> frozenset[str]:
    out = _run([_tool("ffmpeg", "ffmpeg"), "-hide_banner", "-encoders"], "ffmpeg -encoders").stdout
    return frozenset(m.group(1) for m in re.finditer(r"^\s*A\S*\s+(\S+)", out, re.MULTILINE))


def pick_encoder(fmt: str) -> tuple[str, list[str]]:
    """The ffmpeg audio encoder and its quality options for ``fmt`` ("ogg" or "mp3")."""
    if fmt not in _FORMATS:
        raise RenderError(f"Unknown audio format `{fmt}`: use one of {', '.join(_FORMATS)}.")
    available = _encoders()
    for codec, options in _FORMATS[fmt]:
        if codec in available:
            return codec, list(options)
    raise RenderError(f"ffmpeg here has no {fmt} encoder: install a full ffmpeg (`apt-get install ffmpeg`).")


def synthesize_wav(midi_path: Path | str, wav_path: Path | str, soundfont: Path | str | None = None) -> Path:
    """Render a MIDI file to a WAV at 44.1 kHz with the fluidsynth command, through midi2audio (the fallback
    when the warm in-process synth of worker.output.synth is not available)."""
    from midi2audio import FluidSynth

    _tool("fluidsynth", "fluidsynth")
    font = Path(soundfont) if soundfont else find_soundfont()
    if not font.is_file():
        raise RenderError(f"Soundfont {font} not found: install `fluid-soundfont-gm` or set {SOUNDFONT_ENV}.")
    FluidSynth(str(font), sample_rate=SAMPLE_RATE).midi_to_audio(str(midi_path), str(wav_path))
    if not Path(wav_path).is_file() or Path(wav_path).stat().st_size <= 44:
        raise RenderError(f"FluidSynth wrote no audio for {midi_path}")
    return Path(wav_path)


def render_audio(
    midi_path: Path | str,
    out_path: Path | str,
    seconds: float,
    soundfont: Path | str | None = None,
    fmt: str | None = None,
    bitrate: str | None = None,
    renderer: str = "warm",
    *,
    synth_cores: int | None = None,
    loop: bool = False,
    gain: float | None = None,
) -> Path:
    """Render ``midi_path`` to OGG or MP3 lasting exactly ``seconds``, peak-normalised, with a short fade-out.

    Args:
        fmt: "ogg" or "mp3"; by default taken from ``out_path``'s suffix.
        bitrate: e.g. "128k"; by default Vorbis quality 5 (~160 kb/s) or 192 kb/s MP3.
        renderer: "warm" (in-process FluidSynth when available) or "command" (the fluidsynth program), as the
            worker's TUNESMITH_RENDERER says.
        loop: a seamless loop: no fade-out, and the reverb and release that ring on past the end are rendered
            (LOOP_TAIL_S more) and added onto the start, so playing it over and over has no gap or click.
        gain: a linear gain instead of peak normalisation (stems keep the mix's balance).

    Raises:
        RenderError: FluidSynth, ffmpeg or a soundfont is missing, or a tool failed.
    """
    out_path = Path(out_path)
    fmt = (fmt or out_path.suffix.lstrip(".") or "ogg").lower()
    codec, options = pick_encoder(fmt)
    if bitrate:
        options = ["-b:a", bitrate]
        low = int(re.sub(r"\D", "", bitrate) or 0) < 64
        if codec == "libvorbis" and low and "libopus" in _encoders():  # Vorbis can't go this low in stereo
            codec = "libopus"
    ffmpeg = _tool("ffmpeg", "ffmpeg")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fade = 0.0 if loop else min(FADE_S, seconds / 4)
    font = Path(soundfont) if soundfont else find_soundfont()
    if not font.is_file():
        raise RenderError(f"Soundfont {font} not found: install `fluid-soundfont-gm` or set {SOUNDFONT_ENV}.")
    base = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y"]
    tail = [
        "-t",
        f"{seconds:.6f}",
        "-ar",
        "48000" if codec == "libopus" else str(SAMPLE_RATE),
        "-c:a",
        codec,
        *options,
        str(out_path),
    ]
    warm = synth.available() and renderer != "command"
    if warm or loop:
        pcm = render_pcm(midi_path, seconds + (LOOP_TAIL_S if loop else 0.0), font, warm=warm, cores=synth_cores)
        if loop:
            pcm = fold_tail(pcm, int(round(seconds * SAMPLE_RATE)))
        peak = float(np.abs(pcm).max()) if pcm.size else 0.0
        if gain is not None:
            pcm *= float(gain)
        elif peak > 0:
            pcm *= min(10 ** (MAX_GAIN_DB / 20), 10 ** (PEAK_TARGET_DB / 20) / peak)
        n_fade = int(fade * SAMPLE_RATE)
        if n_fade:
            pcm[-n_fade:] *= np.linspace(1.0, 0.0, n_fade, dtype=np.float32)[:, None]
        args = [*base, "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "2", "-i", "pipe:0", *tail]
        _run(args, f"ffmpeg ({codec})", stdin=pcm.astype("<f4").tobytes())
        return out_path
    with tempfile.TemporaryDirectory(prefix="tunesmith-render-") as tmp:
        wav = synthesize_wav(midi_path, Path(tmp) / "raw.wav", font)
        gain_db = min(MAX_GAIN_DB, PEAK_TARGET_DB - audio_levels(wav).peak_db)
        # trim, then pad with silence, so the stream is exactly `seconds` long; -t enforces it at the muxer too
        chain = (
            f"atrim=end={seconds:.6f},apad=whole_dur={seconds:.6f},volume={gain_db:.2f}dB,"
            f"afade=t=out:st={seconds - fade:.6f}:d={fade:.6f}"
        )
        _run([*base, "-i", str(wav), "-af", chain, *tail], f"ffmpeg ({codec})")
    return out_path


LOOP_TAIL_S = 2.5  # how long reverb and releases may ring on past a loop's end (FluidR3's ring out in < 2 s)


def render_pcm(
    midi_path: Path | str, seconds: float, font: Path, *, warm: bool = True, cores: int | None = None
) -> np.ndarray:
    """``seconds`` of float32 stereo samples [n, 2]: from the warm synth, or from the fluidsynth command's WAV.

    Raises:
        RenderError: FluidSynth failed.
    """
    n = int(round(seconds * SAMPLE_RATE))
    try:
        if warm:
            return synth.render_pcm(midi_path, seconds, font, cores)
        import wave

        with tempfile.TemporaryDirectory(prefix="tunesmith-render-") as tmp:
            wav = synthesize_wav(midi_path, Path(tmp) / "raw.wav", font)
            with wave.open(str(wav), "rb") as w:
                raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
                channels = w.getnchannels()
        pcm = (raw.reshape(-1, channels).astype(np.float32) / 32768.0)[:, :2]
        if pcm.shape[1] == 1:
            pcm = np.repeat(pcm, 2, axis=1)
        out = np.zeros((n, 2), dtype=np.float32)
        out[: min(n, len(pcm))] = pcm[:n]
        return out
    except RenderError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bad MIDI file or a FluidSynth failure, reported clearly
        raise RenderError(f"FluidSynth could not render {Path(midi_path).name}: {exc}") from exc


def fold_tail(pcm: np.ndarray, length: int) -> np.ndarray:
    """The first ``length`` samples with everything after them added back onto the start (wrapping as often as
    needed): what a loop of ``length`` samples sounds like once it has been playing a while."""
    out = pcm[:length].copy()
    rest = pcm[length:]
    while len(rest) and length:
        chunk = rest[:length]
        out[: len(chunk)] += chunk
        rest = rest[length:]
    return out


def audio_duration(path: Path | str) -> float:
    """The duration in seconds that ffprobe reports for an audio file."""
    ffprobe = _tool("ffprobe", "ffmpeg")
    out = _run(
        [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)], "ffprobe"
    ).stdout.strip()
    try:
        return float(out)
    except ValueError as exc:
        raise RenderError(f"ffprobe gave no duration for {path}: {out!r}") from exc


def audio_levels(path: Path | str) -> AudioLevels:
    """Mean and peak level of an audio file, from ffmpeg's ``volumedetect`` filter."""
    ffmpeg = _tool("ffmpeg", "ffmpeg")
    err = _run(
        [ffmpeg, "-hide_banner", "-nostats", "-i", str(path), "-af", "volumedetect", "-f", "null", "-"],
        "ffmpeg volumedetect",
    ).stderr

    def level(name: str) -> float:
        match = re.search(rf"{name}:\s*(-?inf|-?[\d.]+) dB", err)
        return float(match.group(1)) if match else float("-inf")

    return AudioLevels(mean_db=level("mean_volume"), peak_db=level("max_volume"))
