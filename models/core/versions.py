"""Versioned fine-tuned checkpoints in the data directory, with one atomically switched active version each.

Layout under ``$TUNESMITH_DATA_DIR/models`` (shared by every worker through the data volume)::

    pokemon-lstm/v0001/pokemon-lstm.safetensors   weights (safetensors, never pickle)
    pokemon-lstm/v0001/pokemon-lstm.json          metadata: base, who, steps, held-out NLL, style_def...
    pokemon-lstm/v0001/loss.png                   the loss curve
    pokemon-lstm/active.json                      {"version": 1, "by": ..., "at": ...}

A version directory is complete once its metadata file exists (weights are written first, metadata last, each
by rename), so a crashed or cancelled run is never listed. ``active.json`` is replaced with ``os.replace``, so
every worker sees either the old or the new version, and ``{"version": 0}`` means "the shipped checkpoint".
Torch-free: the catalog, the CLI and ``/models`` read it without loading a model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

DATA_DIR_ENV = "TUNESMITH_DATA_DIR"
ACTIVE = "active.json"
_VERSION_RE = re.compile(r"^v(\d{4,})$")


def data_root() -> Path:
    """``$TUNESMITH_DATA_DIR``, default ``~/.local/share/tunesmith`` (the worker's data directory): the default
    of every ``root`` below, and the models' only read of that variable (the worker passes its settings'
    data directory where it calls in directly; the catalog's lookups use this default)."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "tunesmith"


def store_root(root: Path | None = None) -> Path:
    """Where versioned checkpoints live."""
    return (root or data_root()) / "models"


def _family(style: str, arch: str, root: Path | None) -> Path:
    return store_root(root) / f"{style}-{arch}"


def version_dir(style: str, arch: str, version: int, root: Path | None = None) -> Path:
    return _family(style, arch, root) / f"v{version:04d}"


def _complete(directory: Path, style: str, arch: str) -> bool:
    stem = directory / f"{style}-{arch}"
    return stem.with_suffix(".json").is_file() and stem.with_suffix(".safetensors").is_file()


def list_versions(style: str, arch: str, root: Path | None = None) -> list[int]:
    """Complete versions of (style, arch), oldest first."""
    family = _family(style, arch, root)
    if not family.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in family.iterdir() if (m := _VERSION_RE.match(p.name)) and p.is_dir()]
    return sorted(v for v, p in found if _complete(p, style, arch))


def new_version(style: str, arch: str, root: Path | None = None) -> tuple[int, Path]:
    """Reserve the next version number by creating its directory (``mkdir`` is atomic: two trainers racing
    for the same number get different ones)."""
    family = _family(style, arch, root)
    family.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in family.iterdir() if (m := _VERSION_RE.match(p.name))]
    version = max(taken, default=0) + 1
    while True:
        path = version_dir(style, arch, version, root)
        try:
            path.mkdir()
            return version, path
        except FileExistsError:
            version += 1


def discard(path: Path) -> None:
    """Remove an unfinished version directory (a failed or cancelled run)."""
    shutil.rmtree(path, ignore_errors=True)


def active_version(style: str, arch: str, root: Path | None = None) -> int:
    """The serving version of (style, arch); 0 means the shipped checkpoint (or none, for a new style)."""
    path = _family(style, arch, root) / ACTIVE
    try:
        version = int(json.loads(path.read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    return version if version in list_versions(style, arch, root) else 0


def activate(style: str, arch: str, version: int, *, by: str = "", root: Path | None = None) -> None:
    """Make ``version`` (0: the shipped checkpoint) the one every worker serves, atomically.

    Raises:
        LookupError: no such complete version.
    """
    if version != 0 and version not in list_versions(style, arch, root):
        raise LookupError(f"{style}/{arch} has no version {version}")
    family = _family(style, arch, root)
    family.mkdir(parents=True, exist_ok=True)
    tmp = family / f".{ACTIVE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"version": version, "by": by, "at": datetime.now(UTC).isoformat(timespec="seconds")}))
    os.replace(tmp, family / ACTIVE)


def metadata(style: str, arch: str, version: int, root: Path | None = None) -> dict:
    """The JSON metadata of one version."""
    return json.loads((version_dir(style, arch, version, root) / f"{style}-{arch}.json").read_text())


def families(root: Path | None = None) -> list[tuple[str, str]]:
    """(style, arch) pairs with at least one version directory."""
    base = store_root(root)
    if not base.is_dir():
        return []
    return sorted(tuple(p.name.rsplit("-", 1)) for p in base.iterdir() if p.is_dir() and "-" in p.name)  # type: ignore[misc]


def active_dirs(root: Path | None = None) -> list[tuple[str, str, Path]]:
    """(style, arch, directory) of every active fine-tuned version, for the catalog."""
    out = []
    for style, arch in families(root):
        version = active_version(style, arch, root)
        if version:
            out.append((style, arch, version_dir(style, arch, version, root)))
    return out


def summary(root: Path | None = None) -> dict[str, dict]:
    """style → arch → {"active": n, "versions": [{version, date, by, steps, base, heldout_nll, files}]}, for
    ``/models`` (published to Redis by the workers)."""
    out: dict[str, dict] = {}
    for style, arch in families(root):
        rows = []
        for version in list_versions(style, arch, root):
            try:
                meta = metadata(style, arch, version, root)
            except (OSError, ValueError):
                continue
            ft = meta.get("finetune", {})
            rows.append(
                {
                    "version": version,
                    "date": meta.get("date", ""),
                    "by": ft.get("by", ""),
                    "steps": ft.get("steps_run", 0),
                    "base": ft.get("base", ""),
                    "heldout_nll": ft.get("heldout_nll_after"),
                    "base_nll": ft.get("heldout_nll_before"),
                    "files": len(ft.get("files", [])),
                    "vote_tracks": ft.get("vote_tracks", 0),
                }
            )
        if rows:
            out.setdefault(style, {})[arch] = {"active": active_version(style, arch, root), "versions": rows}
    return out
