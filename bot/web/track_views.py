"""What the web playground shows: the form's options, one track's view, the recent and top lists, a client's
quota, and the files of a finished track (looked up by recorded base name inside the track's own directory)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path, PurePath
from typing import Any

from bot.storage import votes
from bot.storage.quotas import DAY_S, Usage
from bot.storage.store import Track
from bot.tracking import AUDIO_SUFFIXES, IMAGE_SUFFIXES
from bot.web.composing import VARY_STRENGTHS
from bot.web.errors import WebError, check_track_id
from bot.web.forms import form_fields
from bot.web.outputs import made_files
from bot.web.state import PlaygroundState

FILE_NAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")
FACTS = ("key", "arrangement", "meter", "voices", "parts", "chords", "loop")  # shown when the result has them
FILE_LABELS = {
    "audio": "Audio",
    "midi": "MIDI",
    "abc": "ABC",
    "musicxml": "MusicXML",
    "mxl": "MusicXML",
    "xml": "MusicXML",
    "image": "Piano roll",
    "pianoroll": "Piano roll",
    "score": "Score",
    "stems": "Stems",
    "pdf": "Score (PDF)",
}
LIST_LIMIT = 12


class TrackViews(PlaygroundState):
    """Reading tracks, lists and quotas for the page (no file paths, no other user's id)."""

    def options(self) -> dict[str, Any]:
        """What the page's form offers: the controls, the styles the workers publish, and what they can do."""
        return {
            "fields": [f.to_dict() for f in form_fields()],
            "styles": [
                {
                    "name": s.name,
                    "arches": list(s.arches),
                    "default_arch": s.default_arch,
                    "description": s.description,
                    "tempo_range": list(s.tempo_range),
                    "meters": list(s.meters),  # the page offers only these meters and keys in these modes
                    "modes": list(s.modes),
                }
                for s in sorted(self.styles.values(), key=lambda s: s.name)
            ],
            "workers": self.workers,
            "actions": {
                "reroll": True,
                "extend": True,
                "harmonize": "harmonize" in self.features,
                "vary": self.can_vary(),
            },
            "extend_s": int(self.extend_s),
            "vary": list(VARY_STRENGTHS),
        }

    def _my_vote(self, track_id: str, user_id: str) -> int:
        row = self.store.db.one("SELECT value FROM votes WHERE track_id = ? AND user_id = ?", (track_id, user_id))
        return int(row["value"]) if row else 0

    async def view(self, track_id: str, user_id: str) -> dict[str, Any]:
        """Everything the page shows about one track (no file paths, no other user's id)."""
        track = await self.track(track_id)

        def load() -> tuple[votes.Tally, int]:
            return votes.tallies(self.store.db, [track.id])[track.id], self._my_vote(track.id, user_id)

        tally, mine = await asyncio.to_thread(load)
        return self.describe(track, tally, mine, user_id)

    def describe(self, track: Track, tally: votes.Tally, mine: int, user_id: str) -> dict[str, Any]:
        req, result = track.request, track.result
        out: dict[str, Any] = {
            "id": track.id,
            "kind": track.kind,
            "parent_id": track.parent_id,
            "style": track.style,
            "status": track.status,
            "reason": track.reason,
            "created_at": track.created_at,
            "arch": req.arch,
            "seconds": req.seconds,
            "own": track.user_id == user_id,
            "votes": {"up": tally.up, "down": tally.down, "mine": mine},
            "request": {
                k: v
                for k, v in req.to_dict().items()
                if k in ("tempo", "instrument", "temperature", "seed", "arrangement", "key", "meter", "loop", "vary")
                and v is not None
            },
            "files": [],
            "audio": None,
            "images": [],
            "facts": {},
            "actions": {},
        }
        if result is None:
            return out
        out.update(
            arch=result.arch,
            seconds=result.seconds,
            seed=result.seed,
            tempo_qpm=result.tempo_qpm,
            bars=result.bars,
            device=result.device,
        )
        facts = {name: getattr(result, name) for name in FACTS if getattr(result, name, None) not in (None, "", [])}
        out["facts"] = facts
        for kind, name, path in self.files(track):
            url = f"/files/{track.id}/{kind}"
            suffix = path.suffix.lower()
            label = FILE_LABELS.get(kind, kind.replace("_", " ").replace("-", " ").capitalize())
            if suffix in AUDIO_SUFFIXES and out["audio"] is None:
                out["audio"] = {"url": url, "type": _MEDIA_TYPES.get(suffix, "")}
            if suffix in IMAGE_SUFFIXES or suffix == ".svg":
                out["images"].append({"kind": kind, "label": label, "url": url})
            out["files"].append(
                {"kind": kind, "name": name, "label": label, "size": path.stat().st_size, "url": url + "?download=1"}
            )
        out["actions"] = {
            "reroll": True,
            "extend": bool(result.extendable),
            "harmonize": result.voices == 1 and "harmonize" in self.features,
            "vary": self.can_vary(),
            "vote": track.user_id != user_id,
        }
        return out

    def files(self, track: Track) -> list[tuple[str, str, Path]]:
        """(kind, file name, path) of each file recorded for a finished track that exists on this disk. Only
        the recorded file's base name is used, inside the track's own directory: nothing a request holds
        ever becomes part of a path."""
        if track.result is None:
            return []
        folder = self.data_dir / "tracks" / check_track_id(track.id)
        out = []
        for kind, recorded in sorted(track.result.files.items()):
            name = PurePath(str(recorded)).name
            if not FILE_NAME_RE.fullmatch(name) or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", kind):
                continue
            path = folder / name
            if path.is_file() and not path.is_symlink():
                out.append((kind, name, path))
        return out + [m for m in made_files(folder, track.id) if m[0] not in {k for k, _, _ in out}]

    async def file(self, track_id: str, kind: str) -> tuple[str, Path]:
        """The (name, path) of one of a finished track's files.

        Raises:
            WebError: 404 for an unknown track or a kind of file the track does not have.
        """
        track = await self.track(track_id)
        for k, name, path in await asyncio.to_thread(self.files, track):
            if k == kind:
                return name, path
        raise WebError(404, f"Track `{track_id}` has no `{kind[:20]}` file.")

    async def lists(
        self, which: str, user_id: str, style: str | None = None, period: str = "all"
    ) -> list[dict[str, Any]]:
        """The recent or the top-voted finished tracks, as the page's list rows."""
        if style is not None and style not in self.styles:
            style = None
        if which == "top":
            if period not in votes.PERIODS:
                raise WebError(400, f"The period is one of: {', '.join(votes.PERIODS)}.")
            pairs = await asyncio.to_thread(votes.top, self.store.db, style, period, LIST_LIMIT)
        elif which == "recent":

            def load() -> list[tuple[Track, votes.Tally]]:
                tracks = self.store.recent_tracks(LIST_LIMIT, style)
                tallies = votes.tallies(self.store.db, [t.id for t in tracks])
                return [(t, tallies[t.id]) for t in tracks]

            pairs = await asyncio.to_thread(load)
        else:
            raise WebError(404, "The lists are `recent` and `top`.")
        return [
            {
                "id": t.id,
                "style": t.style,
                "kind": t.kind,
                "arch": t.result.arch if t.result else t.request.arch,
                "seconds": t.result.seconds if t.result else t.request.seconds,
                "created_at": t.created_at,
                "up": tally.up,
                "down": tally.down,
                "own": t.user_id == user_id,
            }
            for t, tally in pairs
        ]

    async def quota(self, user_id: str) -> dict[str, Any]:
        """The client's quota: tracks in the works and in the last 24 hours, when the oldest frees up, and the
        ids of its tracks still being made (a reloaded page follows them again)."""
        usage: Usage = await asyncio.to_thread(self.store.usage, user_id, None, time.time())
        pending = await asyncio.to_thread(self.store.pending_tracks, user_id)
        return {
            "pending": [t.id for t in pending],
            "inflight": usage.user_inflight,
            "inflight_limit": self.limits.user_inflight,
            "day": len(usage.user_day),
            "day_limit": self.limits.user_daily,
            "frees_at": usage.user_day[0] + DAY_S if usage.user_day else None,
        }


_MEDIA_TYPES = {
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
}
