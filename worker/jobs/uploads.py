"""Validation of untrusted /finetune uploads (MIDI files, zips of them): no header is trusted, nothing is unpickled."""

from __future__ import annotations

import hashlib
import io
import re
import stat
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from itertools import accumulate

import mido

from worker.contract.tracks import (
    UPLOAD_EXTENSIONS,
    UPLOAD_MAX_FILE_BYTES,
    UPLOAD_MAX_FILES,
    UPLOAD_MAX_MIDI_BYTES,
    UPLOAD_MAX_MIDI_FILES,
    UPLOAD_MAX_TOTAL_BYTES,
    UPLOAD_MAX_UNPACKED_BYTES,
    UPLOAD_MAX_ZIP_ENTRIES,
)

ARCHIVE_EXTENSIONS = (".zip", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst")
_CHUNK = 64 * 1024
_DRUM_CHANNEL = 9
_CHANNEL_DATA = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_SYSTEM_DATA = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0, 0xFE: 0}
_JUNK = re.compile(r"/$|(^|/)(__MACOSX/|\._[^/]*$|\.DS_Store$|Thumbs\.db$)")  # folders, desktop litter
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


@dataclass(frozen=True)
class UploadLimits:
    """Caps on one /finetune upload (defaults from worker.contract.tracks); the CLI's folder path raises only the
    counts and totals of files (``cli_limits``), never the per-file checks."""

    max_files: int = UPLOAD_MAX_FILES
    max_file_bytes: int = UPLOAD_MAX_FILE_BYTES
    max_total_bytes: int = UPLOAD_MAX_TOTAL_BYTES
    extensions: tuple[str, ...] = UPLOAD_EXTENSIONS
    max_zip_entries: int = UPLOAD_MAX_ZIP_ENTRIES
    max_unpacked_bytes: int = UPLOAD_MAX_UNPACKED_BYTES  # all zips' entries together
    max_entry_bytes: int = UPLOAD_MAX_MIDI_BYTES  # one MIDI file, alone or in a zip
    max_midi_files: int = UPLOAD_MAX_MIDI_FILES
    max_ratio: float = 100.0  # uncompressed / compressed, per entry and for the whole zip
    max_tracks: int = 64
    max_events: int = 300_000
    max_seconds: float = 1200.0
    min_notes: int = 8  # notes outside the drum channel


@dataclass(frozen=True)
class Refused:
    """An upload (or zip entry, named ``songs.zip:dir/x.mid``) that was refused, and a short reason."""

    name: str
    reason: str


@dataclass(frozen=True)
class Accepted:
    """A MIDI file that passed every check; ``data`` keeps only its header and MTrk chunks."""

    name: str
    data: bytes
    notes: int
    seconds: float
    tracks: int


DEFAULT_LIMITS = UploadLimits()


def cli_limits(files: int) -> UploadLimits:
    """Limits for ``tunesmith train --midi-dir``: any number of files in the folder (up to ``files``), each
    checked exactly as a /finetune upload is."""
    return UploadLimits(
        max_files=files, max_total_bytes=files * UPLOAD_MAX_FILE_BYTES, max_midi_files=max(files, UPLOAD_MAX_MIDI_FILES)
    )


class _Bad(Exception):
    """A refusal found deep in a check; ``whole`` marks one that condemns a whole zip."""

    def __init__(self, reason: str, *, whole: bool = False) -> None:
        super().__init__(reason)
        self.whole = whole


def _need(ok: object, reason: str, *, whole: bool = False) -> None:
    if not ok:
        raise _Bad(reason, whole=whole)


def display_name(name: str, limit: int = 80) -> str:
    """``name`` safe to show: control and invisible characters become ``?``, long names keep their ends."""
    text = "".join("?" if unicodedata.category(c) in _HIDDEN_CATEGORIES else c for c in str(name)).strip()
    head = limit * 2 // 5
    return (f"{text[:head]}…{text[head + 1 - limit :]}" if len(text) > limit else text) or "unnamed"


def _size(n: float) -> str:
    unit, scale = ("MB", 1e6) if n >= 1e6 else ("kB", 1e3) if n >= 1e3 else ("bytes", 1)
    return f"{n / scale:.1f}".rstrip("0").rstrip(".") + f" {unit}"


def _short(exc: BaseException) -> str:
    return display_name(str(exc) or type(exc).__name__, 60)


def _ext(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "." + base.rsplit(".", 1)[1].lower() if "." in base else ""


def _varint(chunk: bytes, pos: int, where: str) -> tuple[int, int]:  # (value, position after it)
    value = 0
    for end in range(pos, pos + 4):
        _need(end < len(chunk), f"truncated MIDI: {where} ends early")
        value = (value << 7) | (chunk[end] & 0x7F)
        if chunk[end] < 0x80:
            return value, end + 1
    raise _Bad(f"corrupt MIDI: bad variable-length number in {where}")


def _count_events(chunk: bytes, where: str, budget: int) -> int:
    """Walk one MTrk chunk's events without building them; raise _Bad when it is malformed or over budget."""
    pos, count, status = 0, 0, None
    while pos < len(chunk):
        pos = _varint(chunk, pos, where)[1]
        _need(pos < len(chunk), f"truncated MIDI: {where} ends early")
        byte = chunk[pos]
        if byte < 0x80:  # running status: the byte is already the first data byte
            if status is None:
                raise _Bad(f"corrupt MIDI: running status without a status byte in {where}")
            size = _CHANNEL_DATA[status & 0xF0]
        elif byte == 0xFF:  # meta: type, length, data; leaves running status alone (as mido does)
            size, pos = _varint(chunk, pos + 2, where)
        elif byte in (0xF0, 0xF7):
            (size, pos), status = _varint(chunk, pos + 1, where), None
        elif byte >= 0xF0:
            _need(byte in _SYSTEM_DATA, f"corrupt MIDI: undefined status byte 0x{byte:02X} in {where}")
            size, status, pos = _SYSTEM_DATA[byte], None, pos + 1
        else:
            size, status, pos = _CHANNEL_DATA[byte & 0xF0], byte, pos + 1
        pos, count = pos + size, count + 1
        _need(pos <= len(chunk), f"truncated MIDI: {where} ends early")
        _need(count <= budget, "too many MIDI events")
    return count


def _split_chunks(data: bytes, pos: int, ntracks: int) -> list[bytes]:
    """The first ``ntracks`` MTrk chunks from ``pos``, skipping other well-formed chunks; trailing bytes ignored."""
    tracks: list[bytes] = []
    while len(tracks) < ntracks:
        where = f"track {len(tracks) + 1}"
        _need(pos + 8 <= len(data), f"truncated MIDI: {where} of {ntracks} is missing")
        kind, size = struct.unpack(">4sL", data[pos : pos + 8])
        _need(re.fullmatch(rb"[A-Za-z0-9]{4}", kind), f"corrupt MIDI: no MTrk header at {where}")
        _need(pos + 8 + size <= len(data), f"truncated MIDI: {where} ends early")
        if kind == b"MTrk":
            tracks.append(data[pos + 8 : pos + 8 + size])
        pos += 8 + size
    return tracks


def _seconds(tempos: list[tuple[int, int]], end: int, ticks_per_beat: int) -> float:
    """Seconds up to tick ``end`` under (tick, microseconds per beat) changes, 120 qpm before the first."""
    seconds, last, tempo = 0.0, 0, 500_000
    for tick, new in sorted(tempos, key=lambda t: t[0]):
        tick = min(tick, end)
        seconds += (tick - last) * tempo / ticks_per_beat / 1e6
        last, tempo = tick, new
    return seconds + (end - last) * tempo / ticks_per_beat / 1e6


def _check(shown: str, data: bytes, limits: UploadLimits) -> Accepted:
    _need(data, "empty file")
    _need(
        len(data) <= limits.max_entry_bytes,
        f"MIDI file too large ({_size(len(data))} > {_size(limits.max_entry_bytes)})",
    )
    _need(data[:4] == b"MThd", "not a MIDI file (no MThd header)")
    _need(len(data) >= 14, "truncated MIDI: the header ends early")
    header_len, fmt, ntracks, division = struct.unpack(">LHHH", data[4:14])
    _need(6 <= header_len <= len(data) - 8, "corrupt MIDI: bad header length")
    _need(fmt <= 2, f"unsupported MIDI format {fmt} (0, 1 or 2 expected)")
    _need(ntracks, "no tracks")
    _need(ntracks <= limits.max_tracks, f"too many tracks ({ntracks} > {limits.max_tracks})")
    _need(0 < division < 0x8000, "unsupported timing (SMPTE or zero ticks per beat)")
    tracks = _split_chunks(data, 8 + header_len, ntracks)
    events = 0
    for i, chunk in enumerate(tracks, 1):
        events += _count_events(chunk, f"track {i}", limits.max_events - events)
    clean = b"MThd" + struct.pack(">LHHH", 6, fmt, ntracks, division)
    clean += b"".join(b"MTrk" + struct.pack(">L", len(c)) + c for c in tracks)
    try:
        midi = mido.MidiFile(file=io.BytesIO(clean), clip=True)  # data bytes over 127 clipped, as players do
    except Exception as exc:  # noqa: BLE001 - mido raises many kinds (OSError, KeyError, ValueError, EOFError...)
        raise _Bad(f"corrupt MIDI: {_short(exc)}") from exc
    timed = [list(zip(accumulate(msg.time for msg in track), track, strict=True)) for track in midi.tracks]
    channels = [msg.channel for track in timed for _, msg in track if msg.type == "note_on" and msg.velocity]
    notes, drums = sum(c != _DRUM_CHANNEL for c in channels), sum(c == _DRUM_CHANNEL for c in channels)
    maps = [([(t, m.tempo) for t, m in tr if m.type == "set_tempo"], tr[-1][0] if tr else 0) for tr in timed]
    if fmt != 2:  # tracks play together under one tempo map; a format 2 file's tracks each keep their own
        maps = [([change for tempos, _ in maps for change in tempos], max(end for _, end in maps))]
    seconds = max(_seconds(tempos, end, division) for tempos, end in maps)
    _need(seconds <= limits.max_seconds, f"too long ({seconds / 60:.1f} min > {limits.max_seconds / 60:g} min)")
    _need(notes, "only drums, no melodic notes" if drums else "no notes")
    _need(notes >= limits.min_notes, f"too few notes ({notes} < {limits.min_notes})")
    return Accepted(shown, clean, notes, round(seconds, 3), len(midi.tracks))


def check_midi(name: str, data: bytes, limits: UploadLimits = DEFAULT_LIMITS) -> Accepted | Refused:
    """Check one MIDI file's structure and caps (header, chunks, events, tracks, length, notes); never raises."""
    shown = display_name(name)
    try:
        return _check(shown, data, limits)
    except _Bad as bad:
        return Refused(shown, str(bad))
    except Exception as exc:  # noqa: BLE001 - a backstop: no upload may crash the worker
        return Refused(shown, f"unreadable MIDI ({_short(exc)})")


def _check_entry(info: zipfile.ZipInfo, limits: UploadLimits) -> None:
    """Refuse a zip entry before reading it, from its (untrusted) directory record."""
    path = info.filename.replace("\\", "/")
    escapes = path.startswith("/") or re.match(r"[A-Za-z]:", path) or ".." in path.split("/")
    _need(not escapes, "zip entry path escapes the archive")
    _need(not stat.S_ISLNK(info.external_attr >> 16), "zip entry is a symlink")
    _need(not info.flag_bits & 0x1, "zip entry is encrypted")
    ext = _ext(path)
    _need(ext not in ARCHIVE_EXTENSIONS, "nested archives are not allowed")
    _need(ext in limits.extensions, f"not a MIDI file ({ext or 'no extension'})")
    _need(info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED), "unsupported zip compression")
    ratio = info.file_size / max(1, info.compress_size)
    _need(ratio <= limits.max_ratio, f"compression ratio {ratio:.0f}:1 exceeds {limits.max_ratio:g}:1")
    _need(
        info.file_size <= limits.max_entry_bytes,
        f"file too large ({_size(info.file_size)} > {_size(limits.max_entry_bytes)})",
    )


def _read_entry(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: UploadLimits, unpacked: int, zip_len: int, already: int = 0
) -> bytes:
    """An entry's bytes, read in chunks and stopped as soon as a size or ratio cap is passed, whatever it declared.

    ``unpacked``: bytes this zip's earlier entries unpacked to; ``already``: bytes earlier zips unpacked to."""
    packed = max(1, min(info.compress_size, zip_len))
    body = bytearray()
    with zf.open(info) as fh:
        while chunk := fh.read(_CHUNK):
            body += chunk
            _need(len(body) / packed <= limits.max_ratio, f"compression ratio over {limits.max_ratio:g}:1")
            _need(len(body) <= limits.max_entry_bytes, f"file too large (over {_size(limits.max_entry_bytes)})")
            total = unpacked + len(body)
            _need(
                already + total <= limits.max_unpacked_bytes and total / zip_len <= limits.max_ratio,
                whole=True,
                reason=f"zip unpacks to over {_size(limits.max_unpacked_bytes)} or {limits.max_ratio:g}× its size",
            )
    _need(body[:4] != b"PK\x03\x04", "nested archives are not allowed")
    return bytes(body)


def _unzip(
    name: str, data: bytes, limits: UploadLimits, already: int = 0
) -> tuple[list[tuple[str, bytes]], list[Refused]]:
    """The MIDI entries of a zip as (``zip:entry``, bytes) and the refused entries; _Bad when the whole zip is bad.
    ``already``: bytes the upload's earlier zips unpacked to (one budget for all of them)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - BadZipFile, but also OSError, ValueError, EOFError on mangled archives
        raise _Bad("not a valid zip archive") from exc
    members = [info for info in zf.infolist() if not _JUNK.search(info.filename.replace("\\", "/"))]
    count = len(members) if len(zf.infolist()) <= 4 * limits.max_zip_entries else len(zf.infolist())
    _need(count <= limits.max_zip_entries, f"too many zip entries ({count} > {limits.max_zip_entries})")
    _need(members, "the zip holds no files")
    out: list[tuple[str, bytes]] = []  # (zip:entry, bytes) read
    refused: list[Refused] = []
    with zf:
        for info in members:
            entry = f"{name}:{info.filename}"
            try:
                _check_entry(info, limits)
                out.append((entry, _read_entry(zf, info, limits, sum(len(b) for _, b in out), len(data), already)))
            except _Bad as bad:
                if bad.whole:
                    raise
                refused.append(Refused(display_name(entry), str(bad)))
            except Exception as exc:  # noqa: BLE001 - bad CRC, mismatched local header, zlib errors...
                refused.append(Refused(display_name(entry), f"unreadable zip entry ({_short(exc)})"))
    return out, refused


def expand_uploads(
    files: list[tuple[str, bytes]], limits: UploadLimits = DEFAULT_LIMITS
) -> tuple[list[Accepted], list[Refused]]:
    """Check (name, bytes) attachments in order: caps, extensions, zips expanded safely, then every MIDI checked.

    Files past ``max_files`` or the total size are refused one by one, a zip with an archive-wide problem (bomb,
    too many entries, unreadable) as a whole, and identical bytes as duplicates of the first.
    """
    accepted: list[Accepted] = []
    refused: list[Refused] = []
    seen: dict[bytes, str] = {}  # sha256 → the name first seen with those bytes
    total, unpacked, midi_files = 0, 0, 0
    for index, (name, data) in enumerate(files):
        ext, size = _ext(name), len(data)
        try:
            _need(index < limits.max_files, f"too many files ({len(files)} > {limits.max_files})")
            _need(
                ext in limits.extensions,
                f"unsupported file type ({ext or 'no extension'}); send {', '.join(limits.extensions)}",
            )
            _need(data, "empty file")
            _need(size <= limits.max_file_bytes, f"file too large ({_size(size)} > {_size(limits.max_file_bytes)})")
            _need(
                total + size <= limits.max_total_bytes,
                f"uploads too large together ({_size(total + size)} > {_size(limits.max_total_bytes)})",
            )
            total += size
            midis, dropped = _unzip(name, data, limits, unpacked) if ext == ".zip" else ([(name, data)], [])
            unpacked += sum(len(b) for _, b in midis) if ext == ".zip" else 0
        except _Bad as bad:
            refused.append(Refused(display_name(name), str(bad)))
            continue
        refused.extend(dropped)
        for midi_name, body in midis:
            digest = hashlib.sha256(body).digest()
            if digest in seen:
                refused.append(Refused(display_name(midi_name), f"duplicate of {seen[digest]}"))
                continue
            seen[digest] = display_name(midi_name)
            midi_files += 1
            if midi_files > limits.max_midi_files:
                refused.append(Refused(display_name(midi_name), f"more than {limits.max_midi_files} MIDI files"))
                continue
            result = check_midi(midi_name, body, limits)
            if isinstance(result, Accepted):
                accepted.append(result)
            else:
                refused.append(result)
    return accepted, refused
