"""Upload validation: real, broken and hostile MIDI files and zips (bombs, traversal, nesting), and fuzzing."""

from __future__ import annotations

import io
import random
import stat
import struct
import tracemalloc
import zipfile

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.jobs.uploads import Accepted, Refused, UploadLimits, check_midi, display_name, expand_uploads


def make_midi(
    notes: int = 16,
    *,
    seed: int = 0,
    channel: int = 0,
    tempos: tuple[int, ...] = (500_000,),
    fmt: int = 1,
    tracks: int = 1,
    tpb: int = 480,
) -> bytes:
    """A real MIDI file of ``notes`` quarter notes; each tempo in ``tempos`` governs an equal share of them."""
    rng = random.Random(seed)
    midi = mido.MidiFile(type=fmt, ticks_per_beat=tpb)
    share = max(1, notes // len(tempos))
    for t in range(tracks):
        track = mido.MidiTrack()
        midi.tracks.append(track)
        for i in range(notes):
            if t == 0 and i % share == 0 and i // share < len(tempos):
                track.append(mido.MetaMessage("set_tempo", tempo=tempos[i // share]))
            pitch = rng.randint(55, 80)
            track.append(mido.Message("note_on", note=pitch, velocity=80, channel=channel, time=0))
            track.append(mido.Message("note_off", note=pitch, velocity=0, channel=channel, time=tpb))
    buf = io.BytesIO()
    midi.save(file=buf)
    return buf.getvalue()


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def patch_zip(data: bytes, *, flag: int | None = None, size: int | None = None) -> bytes:
    """Rewrite the general-purpose flag or the uncompressed size in every local and central header."""
    out = bytearray(data)
    for sig, flag_at, size_at in ((b"PK\x03\x04", 6, 22), (b"PK\x01\x02", 8, 24)):
        pos = out.find(sig)
        while pos >= 0:
            if flag is not None:
                out[pos + flag_at : pos + flag_at + 2] = struct.pack("<H", flag)
            if size is not None:
                out[pos + size_at : pos + size_at + 4] = struct.pack("<L", size)
            pos = out.find(sig, pos + 4)
    return bytes(out)


def reasons(refused: list[Refused]) -> dict[str, str]:
    return {r.name: r.reason for r in refused}


def test_a_real_midi_is_accepted_with_its_facts() -> None:
    data = make_midi(16)
    got = check_midi("tune.mid", data)
    assert got == Accepted("tune.mid", data, notes=16, seconds=8.0, tracks=1)


def test_length_follows_tempo_changes_and_format_2() -> None:
    # 8 quarters at 120 qpm (4 s), then 8 at 60 qpm (8 s).
    got = check_midi("a.mid", make_midi(16, tempos=(500_000, 1_000_000)))
    assert isinstance(got, Accepted) and got.seconds == pytest.approx(12.0)
    both = check_midi("b.mid", make_midi(12, fmt=2, tracks=2, tempos=(1_000_000,)))
    assert isinstance(both, Accepted) and both.tracks == 2
    assert both.seconds == pytest.approx(12.0)  # track 1 at 60 qpm; track 2 at the default 120 qpm (6 s)


@pytest.mark.parametrize("cut", [6, 13, 20, 24, -1, -7])
def test_truncated_files_are_refused(cut: int) -> None:
    got = check_midi("cut.mid", make_midi(16)[:cut])
    assert isinstance(got, Refused) and got.reason.startswith("truncated MIDI"), got


def test_a_track_that_overruns_its_chunk_is_refused() -> None:
    data = bytearray(make_midi(16))
    data[18:22] = struct.pack(">L", struct.unpack(">L", data[18:22])[0] - 2)  # MTrk claims 2 bytes fewer
    assert check_midi("x.mid", bytes(data)) == Refused("x.mid", "truncated MIDI: track 1 ends early")


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "empty file"),
        (random.Random(3).randbytes(5000), "not a MIDI file (no MThd header)"),
        (b"MThd" + struct.pack(">LHHH", 6, 1, 65, 480), "too many tracks (65 > 64)"),
        (b"MThd" + struct.pack(">LHHH", 6, 3, 1, 480), "unsupported MIDI format 3 (0, 1 or 2 expected)"),
        (b"MThd" + struct.pack(">LHHH", 6, 1, 1, 0xE728), "unsupported timing (SMPTE or zero ticks per beat)"),
        (b"MThd" + struct.pack(">LHHH", 6, 1, 0, 480), "no tracks"),
        (
            b"MThd"
            + struct.pack(">LHHH", 6, 1, 1, 480)
            + b"MTrk"
            + struct.pack(">L", 4)
            + bytes([0, 0x90, 0x3C, 0xFF]),
            "too few notes (1 < 8)",
        ),  # the out-of-range data byte is clipped, as common players do
        (
            b"MThd" + struct.pack(">LHHH", 6, 1, 1, 480) + b"MTrk" + struct.pack(">L", 2) + bytes([0, 0x3C]),
            "corrupt MIDI: running status without a status byte in track 1",
        ),
        (make_midi(16, channel=9), "only drums, no melodic notes"),
        (make_midi(3), "too few notes (3 < 8)"),
        (make_midi(0), "no notes"),
    ],
)
def test_bad_files_are_refused_with_a_clear_reason(data: bytes, reason: str) -> None:
    assert check_midi("bad.mid", data) == Refused("bad.mid", reason)


def test_caps_on_size_and_events() -> None:
    big = Refused("big.mid", "MIDI file too large (3.1 MB > 2 MB)")
    assert check_midi("big.mid", b"MThd" + bytes(3_100_000)) == big
    assert check_midi("busy.mid", make_midi(60), UploadLimits(max_events=100)).reason == "too many MIDI events"
    assert isinstance(check_midi("busy.mid", make_midi(40), UploadLimits(max_events=100)), Accepted)
    slow = make_midi(16, tempos=(16_000_000,))  # 16 s a quarter: 4.3 minutes
    assert check_midi("slow.mid", slow, UploadLimits(max_seconds=120)).reason == "too long (4.3 min > 2 min)"
    assert isinstance(check_midi("slow.mid", slow), Accepted)


def test_foreign_chunks_and_trailing_bytes_are_dropped_from_the_data() -> None:
    data = make_midi(16)
    odd = data[:14] + b"XFIH" + struct.pack(">L", 3) + b"abc" + data[14:] + b"\0\0junk"
    got = check_midi("odd.mid", odd)
    assert isinstance(got, Accepted) and got.data == data


def test_names_are_sanitised_for_display() -> None:
    shown = check_midi("evil\x1b[31m\u202e" + "x" * 200 + ".mid", b"").name
    assert len(shown) <= 80 and shown.endswith("x.mid") and "\x1b" not in shown and "\u202e" not in shown
    assert display_name("") == "unnamed" and display_name("a\nb") == "a?b"


def test_upload_caps_extensions_and_duplicates() -> None:
    files = [(f"t{i}.MID", make_midi(10, seed=i)) for i in range(10)] + [("t10.mid", make_midi(10, seed=10))]
    accepted, refused = expand_uploads(files)
    assert [a.name for a in accepted] == [f"t{i}.MID" for i in range(10)]
    assert refused == [Refused("t10.mid", "too many files (11 > 10)")]
    small = UploadLimits(max_total_bytes=3 * len(files[0][1]) + 10)  # the copy counts too
    accepted, refused = expand_uploads(
        [files[0], ("copy.midi", files[0][1]), ("notes.txt", b"hi"), ("empty.mid", b""), files[1], files[2]], small
    )
    assert [a.name for a in accepted] == ["t0.MID", "t1.MID"]
    got = reasons(refused)
    assert got["copy.midi"] == "duplicate of t0.MID"
    assert got["notes.txt"] == "unsupported file type (.txt); send .mid, .midi, .zip"
    assert got["empty.mid"] == "empty file"
    assert got["t2.MID"].startswith("uploads too large together")
    huge = expand_uploads([("huge.zip", bytes(16_500_000))])
    assert huge == ([], [Refused("huge.zip", "file too large (16.5 MB > 16 MB)")])


def test_a_zip_of_good_and_bad_entries() -> None:
    link = zipfile.ZipInfo("link.mid")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = make_zip(
        [
            ("good1.mid", make_midi(10, seed=1)),
            ("dir/good2.midi", make_midi(10, seed=2)),
            ("dir/", b""),
            ("__MACOSX/._good1.mid", b"\0\0"),
            (".DS_Store", b"\0"),
            ("bad.mid", b"garbage" * 10),
            ("readme.txt", b"hello"),
            ("../evil.mid", make_midi(10, seed=3)),
            ("/abs.mid", make_midi(10, seed=4)),
            ("..\\evil2.mid", make_midi(10, seed=5)),
            ("C:/win.mid", make_midi(10, seed=6)),
            ("inner.zip", make_zip([("a.mid", make_midi(9))])),
            ("sneaky.mid", make_zip([("a.mid", make_midi(9))])),
            (link, b"/etc/passwd"),
            ("short.mid", make_midi(16, seed=7)[:-5]),
            ("again.mid", make_midi(10, seed=1)),
        ]
    )
    accepted, refused = expand_uploads([("songs.zip", data)])
    assert [a.name for a in accepted] == ["songs.zip:good1.mid", "songs.zip:dir/good2.midi"]
    assert reasons(refused) == {
        "songs.zip:bad.mid": "not a MIDI file (no MThd header)",
        "songs.zip:readme.txt": "not a MIDI file (.txt)",
        "songs.zip:../evil.mid": "zip entry path escapes the archive",
        "songs.zip:/abs.mid": "zip entry path escapes the archive",
        "songs.zip:..\\evil2.mid": "zip entry path escapes the archive",
        "songs.zip:C:/win.mid": "zip entry path escapes the archive",
        "songs.zip:inner.zip": "nested archives are not allowed",
        "songs.zip:sneaky.mid": "nested archives are not allowed",
        "songs.zip:link.mid": "zip entry is a symlink",
        "songs.zip:short.mid": "truncated MIDI: track 1 ends early",
        "songs.zip:again.mid": "duplicate of songs.zip:good1.mid",
    }


def test_whole_zip_refusals() -> None:
    many = make_zip([(f"t{i}.mid", b"MThd") for i in range(1001)], zipfile.ZIP_STORED)
    assert expand_uploads([("many.zip", many)]) == ([], [Refused("many.zip", "too many zip entries (1001 > 1000)")])
    assert expand_uploads([("x.zip", b"PK\x03\x04" + bytes(100))])[1] == [Refused("x.zip", "not a valid zip archive")]
    assert expand_uploads([("e.zip", make_zip([("d/", b"")]))])[1] == [Refused("e.zip", "the zip holds no files")]


def test_encrypted_and_exotic_compression_entries_are_refused() -> None:
    locked = patch_zip(make_zip([("a.mid", make_midi(10))]), flag=0x1)
    assert reasons(expand_uploads([("l.zip", locked)])[1]) == {"l.zip:a.mid": "zip entry is encrypted"}
    bz = make_zip([("a.mid", make_midi(10))], zipfile.ZIP_BZIP2)
    assert reasons(expand_uploads([("b.zip", bz)])[1]) == {"b.zip:a.mid": "unsupported zip compression"}


def _peak_bytes(call) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = make_zip([("bomb.mid", b"MThd" + bytes(50_000_000))])
    assert len(data) < 100_000
    return data


def test_zip_bomb_is_refused_without_unpacking(bomb: bytes) -> None:
    (accepted, refused), peak = _peak_bytes(lambda: expand_uploads([("bomb.zip", bomb)]))
    assert accepted == [] and len(refused) == 1 and refused[0].name == "bomb.zip:bomb.mid"
    assert refused[0].reason.startswith("compression ratio 10") and refused[0].reason.endswith(":1 exceeds 100:1")
    assert peak < 5_000_000


@pytest.mark.parametrize("declared", [1000, 1_900_000])
def test_zip_bomb_that_lies_about_its_size(bomb: bytes, declared: int) -> None:
    liar = patch_zip(bomb, size=declared)
    assert zipfile.ZipFile(io.BytesIO(liar)).getinfo("bomb.mid").file_size == declared
    (accepted, refused), peak = _peak_bytes(lambda: expand_uploads([("liar.zip", liar)]))
    assert accepted == [] and [r.name for r in refused] == ["liar.zip:bomb.mid"]
    assert refused[0].reason == "unreadable zip entry (Bad CRC-32 for file 'bomb.mid')"  # cut at the declared size
    assert peak < 4 * declared + 2_000_000  # never anywhere near the 50 MB it really holds


def test_unpacked_total_is_counted_as_it_is_read() -> None:
    entries = [(f"t{i}.mid", make_midi(4000, seed=i)) for i in range(5)]  # ~32 kB each, truthfully declared
    limits = UploadLimits(max_unpacked_bytes=100_000)
    assert expand_uploads([("big.zip", make_zip(entries))], limits) == (
        [],
        [Refused("big.zip", "zip unpacks to over 100 kB or 100× its size")],
    )


def test_overlapping_entries_bomb_is_caught_by_the_overall_ratio() -> None:
    rng = random.Random(0)
    body = b"MThd" + bytes(rng.choice(b"\0\0\0\0\0\0\0\1") for _ in range(1_500_000))
    one = make_zip([("a.mid", body)])
    info = zipfile.ZipFile(io.BytesIO(one)).getinfo("a.mid")
    assert info.file_size / info.compress_size < 100
    end = one.rindex(b"PK\x05\x06")
    cd_at, cd = (
        struct.unpack("<L", one[end + 16 : end + 20])[0],
        one[struct.unpack("<L", one[end + 16 : end + 20])[0] : end],
    )
    copies = 40  # forty directory records, all pointing at the one compressed body
    eocd = one[end : end + 8] + struct.pack("<HHLL", copies, copies, len(cd) * copies, cd_at) + one[end + 20 :]
    overlapped = one[:cd_at] + cd * copies + eocd
    assert len(zipfile.ZipFile(io.BytesIO(overlapped)).infolist()) == copies
    limits = UploadLimits(max_unpacked_bytes=10**9)
    assert expand_uploads([("o.zip", overlapped)], limits) == (
        [],
        [Refused("o.zip", "zip unpacks to over 1000 MB or 100× its size")],
    )


VALID = make_midi(12, seed=9)
ENTRY_NAMES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), min_size=1, max_size=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=400).map(lambda b: b"MThd" + b),
        st.tuples(st.integers(0, len(VALID)), st.integers(0, len(VALID) - 1), st.integers(0, 255)).map(
            lambda t: (VALID[: t[1]] + bytes([t[2]]) + VALID[t[1] + 1 :])[: max(t[0], 1)]
        ),
    )
)
def test_check_midi_never_raises(data: bytes) -> None:
    assert isinstance(check_midi("f.mid", data), Accepted | Refused)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.text(max_size=30), st.binary(max_size=300)), max_size=4),
    st.lists(st.tuples(ENTRY_NAMES, st.binary(max_size=200)), max_size=4),
    st.integers(0, 3000),
)
def test_expand_uploads_never_raises(
    files: list[tuple[str, bytes]], entries: list[tuple[str, bytes]], flip: int
) -> None:
    packed = bytearray(make_zip(entries + [("v.mid", VALID)]))
    if flip < len(packed):  # a flipped byte anywhere, or an intact zip
        packed[flip] ^= 0xFF
    accepted, refused = expand_uploads(files + [("z.zip", bytes(packed)), ("v.midi", VALID)])
    assert all(isinstance(a, Accepted) for a in accepted) and all(isinstance(r, Refused) for r in refused)
    assert all(len(r.name) <= 80 and r.reason for r in refused)
