"""The RQ jobs that start from a finished track: ``worker.jobs.extend`` continues it by N seconds,
``worker.jobs.harmonize`` writes alto, tenor and bass under its melody with the Coconet model."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from typing import TYPE_CHECKING, Any

from worker.contract.tracks import HARMONIZER_ARCH, MAX_SECONDS, BadRequest, ComposeRequest, validate_request
from worker.jobs.context import Progress, data_dir, get_composer, local_styles, resolve_device
from worker.jobs.settings import settings
from worker.jobs.tracks import arranged, check_track_id, read_sidecar, track_dir, with_instrument, write_track

if TYPE_CHECKING:  # pragma: no cover
    from models.music.melody import Note

log = logging.getLogger(__name__)

HARMONIZER_STYLE = "bach"
MELODY_PART = "melody"  # the melody's track name in a band arrangement (models.arrange.band.MELODY)
NO_HARMONIZER = (
    "Harmonizing needs the Coconet chorale model (bach/coconet), and this worker does not have it "
    "yet; try again once it is trained."
)
_harmonizers: dict[str, Any] = {}


def _start(request: dict[str, Any]) -> tuple[ComposeRequest, dict[str, Any], int, Progress, str]:
    from rq import get_current_job

    req = ComposeRequest.from_dict(request)
    if req.kind in ("extend", "vary"):
        req = validate_request(req, local_styles())
    else:
        req = validate_request(req, {})
    check_track_id(req.track_id)
    parent = read_sidecar(data_dir(), req.parent_id or "")
    seed = req.seed if req.seed is not None else random.SystemRandom().randrange(2**31)
    progress = Progress(get_current_job())
    progress("loading")
    return req, parent, seed, progress, resolve_device()


def extend(request: dict[str, Any]) -> dict[str, Any]:
    """Continue track ``parent_id`` by ``seconds`` (whole bars, same meter, tempo and key); the new track holds
    the old bars followed by the new ones. Returns a ComposeResult dict.

    Raises:
        BadRequest: the track is unknown, was not made by a token model, or would grow past the maximum.
    """
    from models.compose.types import can_extend

    t0 = time.perf_counter()
    req, parent, seed, progress, device = _start(request)
    tokens = [int(t) for t in parent.get("tokens") or []]
    if not tokens:
        raise BadRequest(f"Track `{req.parent_id}` was not made by a model that can continue it.")
    if float(parent.get("seconds", 0)) + req.seconds > MAX_SECONDS + 1:
        raise BadRequest(f"An extended track may last at most {MAX_SECONDS:g}s.")
    composer = get_composer(parent["style"], parent["arch"], device)
    if not can_extend(composer):
        raise BadRequest(f"The `{parent['arch']}` model cannot continue a track.")
    timings = {"load_s": round(time.perf_counter() - t0, 3)}
    t = time.perf_counter()
    progress("sampling", 0.0)
    piece = composer.extend(
        tokens,
        parent["meter"],
        float(parent["tempo_qpm"]),
        int(parent.get("transpose", 0)),
        req.seconds,
        seed=seed,
        temperature=req.temperature,
        top_k=req.top_k,
        on_progress=progress.sampling(),
    )
    piece = with_instrument(piece, parent.get("program"))
    timings["sample_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    # A band track grows as a band track: its melody and chords kept, the form planned over the new bars.
    # Older tracks (no arrangement recorded) were bare melodies and stay so.
    arrangement, keep = str(parent.get("arrangement") or "melody"), None
    if arrangement == "band" and int(parent.get("voices", 1)) == 1:
        from worker.output.midi import read_notes

        keep = read_notes(track_dir(data_dir(), req.parent_id or "") / f"{req.parent_id}.mid", part=MELODY_PART)
    piece = arranged(
        piece,
        arrangement,
        keep=keep,
        keep_bars=int(parent.get("bars", 0)) if keep else 0,
        keep_chords=list(parent.get("chords") or []) if keep else None,
    )
    timings["arrange_s"] = round(time.perf_counter() - t, 3)
    result = write_track(
        piece,
        req,
        track_dir(data_dir(), req.track_id),
        device=device,
        checkpoint=str(getattr(composer, "checkpoint", "")),
        timings=timings,
        progress=progress,
        t0=t0,
        extendable=True,
    )
    log.info(
        "extended %s into %s: %.1fs -> %.1fs", req.parent_id, req.track_id, parent.get("seconds", 0), result.seconds
    )
    return result.to_dict()


def varied_bars(n_bars: int, share: float, seed: int) -> list[int]:
    """Which 0-based bars a variation re-samples: about ``share`` of them (at least one, and at least one kept
    when there are two or more), chosen by ``seed``."""
    if n_bars <= 1:
        return [0] if n_bars == 1 else []
    count = min(n_bars - 1, max(1, round(share * n_bars)))
    return sorted(random.Random(seed).sample(range(n_bars), count))


def vary(request: dict[str, Any]) -> dict[str, Any]:
    """A variation of track ``parent_id``: about 25% ("subtle") or 75% ("strong") of its bars re-sampled, the
    rest kept note for note; a token model re-samples each chosen bar conditioned on all before it, with the
    kept bars forced, and four voices are Gibbs re-sampled by Coconet. Returns a ComposeResult dict.

    Raises:
        BadRequest: the track is unknown, or was made by a model that cannot vary it.
    """
    from models.tokenlm.composer import TokenComposer
    from worker.contract.tracks import VARY_SHARE
    from worker.output.midi import read_parts

    t0 = time.perf_counter()
    req, parent, seed, progress, device = _start(request)
    bars = varied_bars(int(parent.get("bars") or 0), VARY_SHARE[req.vary or "subtle"], seed)
    if not bars:
        raise BadRequest(f"Track `{req.parent_id}` has no bars to vary.")
    tokens = [int(t) for t in parent.get("tokens") or []]
    loop = bool(parent.get("loop"))
    timings: dict[str, float] = {}
    if int(parent.get("voices") or 1) > 1:  # four voices: Gibbs re-sampling of the chosen bars
        midi = track_dir(data_dir(), req.parent_id or "") / f"{req.parent_id}.mid"
        try:
            parts = [notes for _, _, drum, notes in read_parts(midi) if not drum]
        except (OSError, ValueError) as exc:
            raise BadRequest(f"Track `{req.parent_id}` has no readable MIDI file.") from exc
        composer = _coconet_for(parent["style"], device)
        timings["load_s"] = round(time.perf_counter() - t0, 3)
        t = time.perf_counter()
        progress("sampling", 0.0)
        piece = composer.vary(
            parts,
            float(parent["tempo_qpm"]),
            parent["meter"],
            bars,
            seed=seed,
            temperature=req.temperature,
            top_k=req.top_k,
            on_progress=progress.sampling(),
            loop=loop,
        )
        piece = dataclasses.replace(
            piece,
            style=parent["style"],
            arch=parent.get("arch", piece.arch),
            tokens=tokens,
            key=str(parent.get("key") or ""),
        )
    else:
        if not tokens:
            raise BadRequest(f"Track `{req.parent_id}` was not made by a model that can vary it.")
        composer = get_composer(parent["style"], parent["arch"], device)
        if not isinstance(composer, TokenComposer):
            raise BadRequest(f"The `{parent['arch']}` model cannot vary a track.")
        timings["load_s"] = round(time.perf_counter() - t0, 3)
        t = time.perf_counter()
        progress("sampling", 0.0)
        piece = composer.vary(
            tokens,
            parent["meter"],
            float(parent["tempo_qpm"]),
            int(parent.get("transpose", 0)),
            bars,
            seed=seed,
            temperature=req.temperature,
            top_k=req.top_k,
            key=str(parent.get("key") or "") or None,
            loop=loop,
            on_progress=progress.sampling(),
        )
    piece = with_instrument(piece, parent.get("program"))
    timings["sample_s"] = round(time.perf_counter() - t, 3)
    if parent.get("arrangement") == "band" and int(parent.get("voices") or 1) == 1:
        t = time.perf_counter()  # the varied melody gets its band again: form, chords, bass and percussion
        piece = arranged(piece, "band")
        timings["arrange_s"] = round(time.perf_counter() - t, 3)
    result = write_track(
        piece,
        req,
        track_dir(data_dir(), req.track_id),
        device=device,
        checkpoint=str(getattr(composer, "checkpoint", "")),
        timings=timings,
        progress=progress,
        t0=t0,
        extendable=bool(tokens) and int(parent.get("voices") or 1) == 1,
        extra={"varied_bars": bars, "vary": req.vary},
    )
    log.info("varied %s (%s) into %s: bars %s", req.parent_id, req.vary, req.track_id, bars)
    return result.to_dict()


def _coconet_for(style: str, device: str) -> Any:
    """The style's own Coconet (palestrina's for palestrina), else the harmonizer's (bach)."""
    try:
        composer = get_composer(style, HARMONIZER_ARCH, device)
    except Exception:  # noqa: BLE001 - no Coconet of this style: the harmonizer's
        composer = None
    return composer if getattr(composer, "can_vary", False) else get_harmonizer(device)


def melody_line(notes: list[Note]) -> list[Note]:
    """The top line: at each onset the highest note, each cut off where the next one starts."""
    from dataclasses import replace

    tops: dict[float, Note] = {}
    for note in notes:
        key = round(note.start, 3)
        if key not in tops or note.pitch > tops[key].pitch:
            tops[key] = note
    line = [tops[k] for k in sorted(tops)]
    return [replace(n, end=min(n.end, nxt.start)) for n, nxt in zip(line, line[1:], strict=False)] + line[-1:]


def get_harmonizer(device: str) -> Any:
    """A composer with ``.harmonize``: ``models.compose.factory.load_composer("bach", "coconet")``, else the Coconet
    composer directly; cached per device.

    Raises:
        BadRequest: no Coconet checkpoint (or no Coconet code) on this worker.
    """
    key = f"{device}|{settings().checkpoint_dir or ''}"
    if key in _harmonizers:
        return _harmonizers[key]
    try:
        composer = get_composer(HARMONIZER_STYLE, HARMONIZER_ARCH, device)
    except Exception:  # noqa: BLE001 - fall back to the Coconet composer itself
        composer = None
    if composer is None or not composer.can_harmonize:
        try:
            from models.coconet.compose import CoconetComposer

            composer = CoconetComposer(HARMONIZER_STYLE, device=device)
        except Exception as exc:  # noqa: BLE001 - missing checkpoint or code: one clear message
            raise BadRequest(NO_HARMONIZER) from exc
    _harmonizers[key] = composer
    return composer


def harmonizer_available() -> bool:
    """Whether a Coconet checkpoint for the harmonizer is on disk (without loading it)."""
    try:
        import models.coconet.compose  # noqa: F401
        from models.core import catalog

        catalog.find(HARMONIZER_STYLE, HARMONIZER_ARCH)
    except Exception:  # noqa: BLE001 - not shipped yet
        return False
    return True


def harmonize(request: dict[str, Any]) -> dict[str, Any]:
    """Four voices from track ``parent_id``'s melody: the melody kept as the soprano, alto, tenor and bass
    written by Coconet. Returns a ComposeResult dict.

    Raises:
        BadRequest: the track is unknown, or the harmonizer's model is not available.
    """
    from worker.output.midi import read_notes

    t0 = time.perf_counter()
    req, parent, seed, progress, device = _start(request)
    midi = track_dir(data_dir(), req.parent_id or "") / f"{req.parent_id}.mid"
    try:
        melody = melody_line(read_notes(midi, part=MELODY_PART))  # a band track's melody track, else all
    except (OSError, ValueError) as exc:
        raise BadRequest(f"Track `{req.parent_id}` has no readable MIDI file.") from exc
    if not melody:
        raise BadRequest(f"Track `{req.parent_id}` has no notes to harmonize.")
    composer = get_harmonizer(device)
    timings = {"load_s": round(time.perf_counter() - t0, 3)}
    t = time.perf_counter()
    progress("sampling", 0.0)
    piece = composer.harmonize(
        melody,
        float(parent["tempo_qpm"]),
        parent["meter"],
        seed=seed,
        temperature=req.temperature,
        top_k=req.top_k,
        on_progress=progress.sampling(),
    )
    timings["sample_s"] = round(time.perf_counter() - t, 3)
    result = write_track(
        piece,
        req,
        track_dir(data_dir(), req.track_id),
        device=device,
        checkpoint=str(getattr(composer, "checkpoint", "")),
        timings=timings,
        progress=progress,
        t0=t0,
    )
    log.info("harmonized %s into %s (%d voices)", req.parent_id, req.track_id, result.voices)
    return result.to_dict()
