"""The checks of a request's musical controls against what its style and architecture offer: the arrangement,
the key, the meter, a loop and a variation; ``bpm`` and ``parent`` folded into ``tempo`` and ``parent_id``."""

from __future__ import annotations

import dataclasses
from typing import Any

from worker.contract.keys import normalise_key
from worker.contract.requests import (
    ARRANGEMENTS,
    DRUM_PROGRAMS,
    HARMONIZER_ARCH,
    KEY_ARCHES,
    LOOP_ARCHES,
    VARY_ARCHES,
    VARY_SHARE,
    BadRequest,
    ComposeRequest,
    StyleInfo,
)


def check_arrangement(arrangement: object, arch: str | None, instrument: int | None, kind: str = "compose") -> None:
    """Refuse an arrangement the track cannot have.

    Raises:
        BadRequest: an unknown arrangement, a drum as the band's lead, or a bare melody from Coconet.
    """
    if not isinstance(arrangement, str) or arrangement not in ARRANGEMENTS:
        raise BadRequest(
            f"Unknown arrangement `{str(arrangement)[:20]}`: use `band` (melody, chords, bass and "
            "percussion) or `melody` (the bare tune)."
        )
    if arrangement == "band" and instrument is not None and instrument in DRUM_PROGRAMS:
        raise BadRequest(
            "A drum can't play the melody of a band arrangement: pick a pitched instrument, or `arrangement: melody`."
        )
    if arrangement == "melody" and arch == HARMONIZER_ARCH and kind == "compose":
        raise BadRequest(
            "The `coconet` model writes four voices together, so it has no bare melody: use "
            "`arrangement: band`, or another model of the style."
        )


def folded(request: ComposeRequest) -> ComposeRequest:
    """``bpm`` is another name for ``tempo``, ``parent`` for a variation's ``parent_id``; ``vary`` makes a vary
    job.

    Raises:
        BadRequest: the two names disagree.
    """
    changes: dict[str, Any] = {}
    if request.bpm is not None:
        if not isinstance(request.bpm, int | float) or isinstance(request.bpm, bool):
            raise BadRequest("The BPM must be a number.")
        if request.tempo is not None and abs(float(request.tempo) - float(request.bpm)) > 1e-6:
            raise BadRequest("Give the tempo once: `tempo` and `bpm` are the same setting.")
        changes["tempo"], changes["bpm"] = float(request.bpm), None
    if request.parent is not None:
        if request.parent_id is not None and request.parent_id != request.parent:
            raise BadRequest("`parent` and `parent_id` name different tracks.")
        changes["parent_id"] = request.parent
    if request.vary is not None and request.kind == "compose":
        changes["kind"] = "vary"
    return dataclasses.replace(request, **changes) if changes else request


def checked_controls(request: ComposeRequest, info: StyleInfo | None, arch: str) -> ComposeRequest:
    """Key, meter, loop and vary checked against what the style and architecture offer; the key normalised.

    Raises:
        BadRequest: saying what the style supports.
    """
    changes: dict[str, Any] = {}
    if request.key is not None:
        if request.kind != "compose":
            raise BadRequest("A key can only be chosen for a new piece.")
        name, mode = normalise_key(request.key)
        modes = info.modes if info else []
        if arch not in KEY_ARCHES or not modes:
            raise BadRequest(
                f"The `{arch}` model of `{request.style[:40]}` can't follow a chosen key"
                + (f"; the {', '.join(KEY_ARCHES)} models can." if arch not in KEY_ARCHES else ".")
            )
        if mode not in modes:
            raise BadRequest(
                f"Style `{info.name if info else request.style[:40]}` has no {mode} tunes: modes {', '.join(modes)}."
            )
        changes["key"] = name
    if request.meter is not None:
        if request.kind != "compose":
            raise BadRequest("A meter can only be chosen for a new piece.")
        meter = str(request.meter).strip().replace(" ", "")
        meters = info.meters if info else []
        if arch not in KEY_ARCHES:
            raise BadRequest(f"The `{arch}` model can't follow a chosen meter; the {', '.join(KEY_ARCHES)} models can.")
        if meter not in meters:
            raise BadRequest(
                f"Style `{request.style[:40]}` has no `{str(request.meter)[:12]}` tunes: meters "
                f"{', '.join(meters) or 'none to choose from'}."
            )
        changes["meter"] = meter
    if not isinstance(request.loop, bool):
        raise BadRequest("`loop` is true or false.")
    if request.loop and request.kind == "compose" and arch not in LOOP_ARCHES:
        raise BadRequest(f"The `{arch}` model can't write a seamless loop; the {', '.join(LOOP_ARCHES)} models can.")
    if request.kind == "vary" or request.vary is not None:
        if request.vary not in VARY_SHARE:
            raise BadRequest("A variation is `subtle` or `strong`.")
        if request.kind != "vary":
            raise BadRequest("Only a variation can say how strong it is.")
        if arch not in VARY_ARCHES:
            raise BadRequest(
                f"The `{arch}` model can't make variations of a track; the {', '.join(VARY_ARCHES)} models can."
            )
    return dataclasses.replace(request, **changes) if changes else request
