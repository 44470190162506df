"""pretty_midi imported with stdout silenced: it imports pyfluidsynth, which prints where it found
libfluidsynth whenever the CI environment variable is set — a stray line that would corrupt
``tunesmith compose --json`` output."""

from __future__ import annotations

import contextlib
import io

with contextlib.redirect_stdout(io.StringIO()):
    try:
        import fluidsynth  # noqa: F401 - imported here, quietly, before pretty_midi imports it
    except (ImportError, OSError):
        pass
    import pretty_midi

__all__ = ["pretty_midi"]
