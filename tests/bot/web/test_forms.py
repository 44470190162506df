"""The playground's pure parts: the data-driven form, refusal wording, Host checks, and the CLI entry."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import WebSettings
from bot.web import forms
from bot.web.app import hostname
from bot.web.errors import web_text
from bot.web.server import allowed_hosts
from worker.cli import main as cli
from worker.contract.tracks import BadRequest, ComposeRequest, StyleInfo

STYLES = {"irish": StyleInfo(name="irish", arches=["lstm"], default_arch="lstm")}


@dataclass(frozen=True)
class FutureRequest(ComposeRequest):
    """ComposeRequest as issues 13 and 15 extend it (PLAN.md's field names)."""

    arrangement: str = "band"
    key: str | None = None
    meter: str | None = None
    loop: bool = False


NEWER = ("arrangement", "key", "meter", "loop")


class OlderRequest:
    """ComposeRequest as it was before the arrangement and the exact controls (only its fields are read)."""

    __dataclass_fields__ = {k: v for k, v in ComposeRequest.__dataclass_fields__.items() if k not in NEWER}


def test_the_form_offers_only_what_the_contract_has(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {f.name for f in forms.form_fields()}
    assert {"style", "length", "arch", "tempo", "instrument", "seed", "temperature", "takes", *NEWER} <= names
    monkeypatch.setattr(forms, "ComposeRequest", OlderRequest)
    fewer = {f.name for f in forms.form_fields()}
    assert not fewer & set(NEWER) and fewer < names


def test_new_contract_fields_pass_through_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forms, "ComposeRequest", FutureRequest)
    monkeypatch.setattr(forms, "validate_request", lambda request, styles: request)
    [request] = forms.parse_compose(
        {"style": "irish", "length": "20s", "arrangement": "melody", "key": "D dorian", "meter": "6/8", "loop": True},
        STYLES,
        "web:x",
    )
    assert isinstance(request, FutureRequest)
    assert (request.arrangement, request.key, request.meter, request.loop, request.seconds) == (
        "melody",
        "D dorian",
        "6/8",
        True,
        20.0,
    )
    [plain] = forms.parse_compose(
        {"style": "irish", "length": "20s", "key": "", "meter": "", "loop": False}, STYLES, "web:x"
    )
    assert (plain.key, plain.meter, plain.arrangement) == (None, None, "band")
    for form, needle in (
        ({"arrangement": "orchestra"}, "Arrangement must be one of: band, melody"),
        ({"key": "H# <script>"}, "Can't read the key"),
        ({"meter": "x/y"}, "Meter must be one of"),
        ({"loop": "yes"}, "`loop` must be true or false"),
    ):
        with pytest.raises(BadRequest, match=needle.replace("(", r"\(")):
            forms.parse_compose({"style": "irish", "length": "20s", **form}, STYLES, "web:x")


def test_refusals_are_reworded_for_the_page() -> None:
    text = web_text(
        "📅 You have used your 30 tracks for the last 24 hours. Your next track is allowed <t:1000000:R>.",
        now=1000000 - 3600,
    )
    assert "<t:" not in text and "at 13:46 UTC (in 60 min)" in text
    text = web_text(
        "⏳ You already have 2 track(s) in the works (the limit is 2 at once). You can ask for a track "
        "again as soon as one of them is posted; `/queue` shows where they are."
    )
    assert "/queue" not in text and "is finished" in text


def test_host_checks() -> None:
    assert hostname("LocalHost:8080") == "localhost" and hostname("[::1]:80") == "[::1]"
    assert hostname("127.0.0.1") == "127.0.0.1"
    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "[::1]"}
    assert allowed_hosts("0.0.0.0") == frozenset(), "bound to all interfaces (Docker): any Host"
    hosts = WebSettings.from_env({"TUNESMITH_WEB_HOSTS": "music.example, Other.example"}).web_hosts
    assert allowed_hosts("0.0.0.0", hosts) == {
        "music.example",
        "other.example",
    }


def test_the_cli_forwards_web_and_imports_no_bot_code_itself() -> None:
    code = (
        "import sys, worker.cli.main; "
        "assert not [m for m in sys.modules if m == 'bot' or m.startswith('bot.')], 'the CLI imported bot'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert cli.main(["web", "--port", "70000"]) == 2
    assert "web" in cli.build_parser().format_help()


def test_web_tracks_are_named_without_a_broken_discord_mention() -> None:
    from bot.embeds import mention

    assert mention("1234") == "<@1234>" and mention("web:abc") == "a web visitor"


def test_python_m_bot_web_needs_a_redis_url(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from bot.web import server

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("TUNESMITH_DATA_DIR", str(tmp_path))
    assert server.main(["--port", "0"]) == 2
    assert server.main(["--port", "-1"]) == 2


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
NAMES = [f.name for f in forms.form_fields()] + ["bogus"]
VALUES = JSON | st.sampled_from(
    ["irish", "IRISH ", "lstm", "30s", "1m", "5", "300", "-5s", "nan", "inf", "1e999", "flute", "2", "0", "", " "]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=8), JSON))
def test_any_form_gives_valid_requests_or_a_clear_refusal(form: object) -> None:
    """Whatever JSON a page (or anyone) posts: in-range, JSON-clean requests, or a short BadRequest."""
    try:
        requests = forms.parse_compose(form, STYLES, "web:x")
    except BadRequest as exc:
        assert 0 < len(str(exc)) < 400
        return
    assert 1 <= len(requests) <= 2
    for request in requests:
        json.dumps(request.to_dict(), allow_nan=False)
        assert request.style == "irish" and request.arch == "lstm" and request.user_id == "web:x"
        assert 5.0 <= request.seconds <= 300.0 and 0.05 <= request.temperature <= 3.0
        assert request.tempo is None or 40.0 <= request.tempo <= 240.0
        assert request.seed is None or 0 <= request.seed < 2**31
        assert request.instrument is None or 0 <= request.instrument <= 127
