"""Four-voice corpora on the 16th grid by name (Bach chorales, Palestrina masses): parsed once, cached, split."""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from models.music import palestrina
from models.music.chorales import (
    SPLIT_PATH,
    Chorale,
    chorale_files,
    chorale_to_tune,
    freeze_split,
    load_split,
    melody_key,
    parse_chorale,
    riemenschneider_numbers,
    split_chorales,
)
from models.music.corpus import cache_dir
from models.music.melody import Tune

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GridCorpus:
    """How one music21 corpus folder becomes four-voice grids (see ``models.music.chorales.parse_chorale``)."""

    name: str  # also the style name and the split file's stem
    files: Callable[[], list[str]]  # corpus paths without extension, sorted
    cache_stem: str
    scale: float = 1.0  # score durations × scale on the grid
    sort_voices: bool = False  # order parts by mean pitch (False: drop scores whose parts are out of order)
    numbers: Callable[[], dict[str, list[int]]] | None = None  # piece → catalogue numbers
    group: Callable[[Chorale], str] = melody_key  # pieces with the same key share a split part
    grouped: str = "chorales grouped by soprano line"  # ``group`` in words, for the split file

    @property
    def split_path(self) -> Path:
        return SPLIT_PATH.with_name(f"{self.name}.json")


CORPORA: dict[str, GridCorpus] = {
    "bach": GridCorpus("bach", chorale_files, "bach-chorales", numbers=riemenschneider_numbers),
    "palestrina": GridCorpus(
        "palestrina",
        palestrina.palestrina_files,
        "palestrina-grids",
        scale=palestrina.SCALE,
        sort_voices=True,
        group=palestrina.mass_of,
        grouped="four-voice mass movements grouped by mass (!!!OPR)",
    ),
}


def grid_corpus(name: str) -> GridCorpus:
    """The corpus called ``name``.

    Raises:
        KeyError: naming the four-voice corpora there are.
    """
    try:
        return CORPORA[name]
    except KeyError:
        raise KeyError(f"no four-voice corpus {name!r}; corpora: {', '.join(CORPORA)}") from None


def _parse_json(args: tuple[str, list[int], float, bool]) -> dict | str:
    rel, numbers, scale, sort_voices = args
    try:
        out = parse_chorale(rel, numbers, scale=scale, sort_voices=sort_voices)
    except Exception as exc:  # noqa: BLE001 - a broken corpus file costs us only that piece
        log.warning("skipping %s: %s", rel, exc)
        return "error"
    return out if isinstance(out, str) else out.to_json()


def cache_path(name: str) -> Path:
    """Where the parsed grids of corpus ``name`` are cached (keyed by the music21 version)."""
    import music21

    return cache_dir() / f"{grid_corpus(name).cache_stem}-m21-{music21.__version__}.json.gz"


def load_grids(
    name: str, *, refresh: bool = False, processes: int = 2, files: list[str] | None = None
) -> list[Chorale]:
    """Every usable four-voice piece of corpus ``name``, sorted by id, parsed once and then read from the cache.

    ``files`` parses just those corpus paths, uncached (tests).
    """
    spec = grid_corpus(name)
    path = cache_path(name)
    cached = files is None
    if cached and path.exists() and not refresh:
        with gzip.open(path, "rt") as fh:
            return [Chorale.from_json(d) for d in json.load(fh)["chorales"]]
    numbers = spec.numbers() if spec.numbers else {}
    files = files if files is not None else spec.files()
    jobs = [(f, numbers.get(f, []), spec.scale, spec.sort_voices) for f in files]
    log.info("parsing %d %s scores", len(jobs), name)
    if processes > 1 and len(jobs) > processes:
        with get_context("spawn").Pool(processes) as pool:
            results = pool.map(_parse_json, jobs, chunksize=4)
    else:
        results = [_parse_json(j) for j in jobs]
    dropped: dict[str, int] = {}
    for r in results:
        if isinstance(r, str):
            dropped[r] = dropped.get(r, 0) + 1
    kept = [r for r in results if isinstance(r, dict)]
    log.info("kept %d %s pieces, dropped %s", len(kept), name, dropped)
    if cached:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with gzip.open(tmp, "wt") as fh:
            json.dump({"files": len(jobs), "dropped": dropped, "chorales": kept}, fh)
        os.replace(tmp, path)
    return [Chorale.from_json(d) for d in kept]


def corpus_report(name: str) -> dict:
    """Files parsed, pieces kept and dropped by reason, from corpus ``name``'s cache (parsing it if needed)."""
    pieces = load_grids(name)
    with gzip.open(cache_path(name), "rt") as fh:
        cached = json.load(fh)
    return {"files": cached.get("files"), "kept": len(pieces), "dropped": cached.get("dropped", {})}


def corpus_split(name: str, pieces: list[Chorale] | None = None) -> dict[str, list[str]]:
    """The frozen split of corpus ``name`` (ids per part), frozen from ``pieces`` first when the file is missing."""
    spec = grid_corpus(name)
    if spec.split_path.exists():
        return load_split(path=spec.split_path)
    return freeze_split(
        pieces if pieces is not None else load_grids(name), spec.split_path, key=spec.group, grouped=spec.grouped
    )


def load_chorales(*, refresh: bool = False, processes: int = 2) -> list[Chorale]:
    """All usable four-part chorales, sorted by id, parsed once and then read from the cache."""
    return load_grids("bach", refresh=refresh, processes=processes)


def soprano_tunes(part: str | None = None, *, corpus: str = "bach") -> list[Tune]:
    """Top lines of a four-voice corpus (all, or one split part) as key-normalised Tunes for the melody models."""
    chorales = load_grids(corpus)
    if part is not None:
        chorales = split_chorales(chorales, corpus_split(corpus, chorales))[part]
    return [t for t in (chorale_to_tune(c) for c in chorales) if t is not None]
