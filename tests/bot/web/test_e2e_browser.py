"""End to end in a real browser: `tunesmith web` in its embedded default (no REDIS_URL: its own
redis-server and a real worker with the shipped models and FluidSynth), driven by Debian's headless chromium
through chromedriver. Composes a track, plays it, votes, and checks that a hostile value is refused and shown
as text. Writes the README's screenshot (docs/web-playground.png, or $TUNESMITH_SCREENSHOT)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import processes
from worker.cli.redis_server import free_port

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = Path(os.environ.get("TUNESMITH_SCREENSHOT", "") or processes.REPO / "docs" / "web-playground.png")
HOSTILE = '<img src=x onerror="window.pwned=1">'
# `tunesmith web` of this tree (worker/cli.py's main; worker/cli/main.py's once the layout moves it there).
LAUNCH = """import sys
try:
    from worker.cli.main import main
except ModuleNotFoundError:
    from worker.cli.main import main
sys.exit(main())"""
TUNESMITH = [sys.executable, "-c", LAUNCH]

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra: pip install -e '.[dev]'")
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):  # pragma: no cover
    pytest.skip(
        "Debian's chromium and chromium-driver are needed (scripts/setup.sh installs them)", allow_module_level=True
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`tunesmith web` with no REDIS_URL, on a free port; yields its URL once a worker published styles."""
    tmp = tmp_path_factory.mktemp("web")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "TUNESMITH_", "REDIS_", "DATABASE_"))}
    env.update(TUNESMITH_DATA_DIR=str(tmp / "data"), TUNESMITH_TORCH_THREADS="1", PYTHONUNBUFFERED="1")
    port = free_port()
    proc = processes.spawn([*TUNESMITH, "web", "--port", str(port)], env, tmp / "web.log")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"the web server exited:\n{processes.tail(proc)}"
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                    health = json.load(response)
                if health["styles"] and health["workers"]:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no styles after 120 s:\n{processes.tail(proc)}"
            time.sleep(0.3)
        yield url
    finally:
        processes.stop(proc)  # its whole process group: the redis-server and the worker too


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # Debian's own browser and driver: nothing is downloaded
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1060",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, condition: Any, timeout: float, what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message=what)


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def fill(driver: Any, element_id: str, value: str) -> None:
    field = by_id(driver, element_id)
    field.clear()
    field.send_keys(value)


def test_compose_play_vote_and_refuse_in_a_real_browser(site: str, browser: Any) -> None:
    from selenium.webdriver.support.ui import Select

    started = time.monotonic()
    browser.get(site + "/")
    wait(
        browser,
        lambda d: (
            not by_id(d, "compose-button").get_attribute("disabled")
            and by_id(d, "f-style").get_attribute("value") == "irish"
        ),
        20,
        "the form from /api/options",
    )
    styles = [o.get_attribute("value") for o in Select(by_id(browser, "f-style")).options]
    assert "irish" in styles

    # A hostile value: refused by the server with a clear message, shown as text, never run as HTML.
    fill(browser, "f-length", HOSTILE)
    by_id(browser, "compose-button").click()
    error = wait(browser, lambda d: by_id(d, "form-error").is_displayed() and by_id(d, "form-error"), 10, "the refusal")
    assert "Can't read the length" in error.text and '<img src=x onerror="window.pwned=1">'[:30] in error.text
    assert browser.execute_script("return [window.pwned, document.querySelectorAll('#form-error *').length]") == [
        None,
        0,
    ]
    assert not by_id(browser, "jobs").find_elements("css selector", "li"), "nothing may be queued"

    # Compose 10 s through the real queue and worker; progress arrives as server-sent events.
    fill(browser, "f-length", "10s")
    fill(browser, "f-tempo", "150")
    by_id(browser, "advanced").click()
    fill(browser, "f-seed", "7")
    by_id(browser, "compose-button").click()
    clicked = time.monotonic()
    assert not by_id(browser, "form-error").is_displayed()
    job = wait(
        browser,
        lambda d: d.find_elements("css selector", "#jobs li.job") or by_id(d, "track-panel").is_displayed(),
        10,
        "the job in the queue",
    )
    seen = set()
    deadline = time.monotonic() + 90
    while not by_id(browser, "track-panel").is_displayed():
        seen.update(
            browser.execute_script("return [...document.querySelectorAll('#jobs .job-text')].map(e => e.textContent)")
        )
        assert time.monotonic() < deadline, f"no track after 90 s; progress seen: {seen}"
        time.sleep(0.1)
    assert job and any(text.startswith(("⏳", "⚙️")) for text in seen) or not seen, seen

    # The audio element loads the track and reports its duration; the piano roll is shown.
    duration = wait(browser, lambda d: by_id(d, "player").get_attribute("data-duration"), 20, "audio metadata")
    playable_s = time.monotonic() - clicked
    assert float(duration) == pytest.approx(10.0, abs=1.0)
    assert browser.execute_script("return document.getElementById('player').readyState") >= 1
    wait(
        browser,
        lambda d: d.execute_script(
            "const i = document.querySelector('#images img'); return i && i.complete && i.naturalWidth > 0"
        ),
        10,
        "the piano roll",
    )
    title = by_id(browser, "track-title").text
    assert "irish" in title and "150 BPM" in by_id(browser, "track-meta").text
    assert float(title.rsplit("· ", 1)[1].removesuffix("s")) == pytest.approx(float(duration), abs=0.1), title
    labels = [a.text for a in browser.find_elements("css selector", "#downloads a")]
    assert {"⬇ MIDI", "⬇ Audio", "⬇ Piano roll"} <= set(labels), labels
    midi = browser.execute_async_script(
        "const done = arguments[0]; const a = [...document.querySelectorAll('#downloads a')]"
        ".find(a => a.textContent.includes('MIDI'));"
        "fetch(a.href).then(r => r.arrayBuffer()).then(b => done(String.fromCharCode(...new Uint8Array(b, 0, 4))))"
    )
    assert midi == "MThd"
    track_id = browser.execute_script("return location.hash").removeprefix("#track=")
    assert len(track_id) == 32

    # The score is engraved on demand by the worker's outputs job, shown, and offered as PNG and PDF.
    by_id(browser, "make-score").click()
    wait(
        browser,
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('#images img')].some(i => i.alt.startsWith('Score')"
            " && i.complete && i.naturalWidth > 0)"
        ),
        60,
        "the engraved score",
    )
    labels = [a.text for a in browser.find_elements("css selector", "#downloads a")]
    assert {"⬇ Score", "⬇ Score (PDF)"} <= set(labels), labels

    # Voting on your own track is refused; another browser (no cookie) may vote, once, and it is counted.
    by_id(browser, "vote-up").click()
    wait(browser, lambda d: "your own track" in by_id(d, "action-message").text, 5, "the own-vote refusal")
    assert by_id(browser, "up-count").text == "0"
    browser.delete_all_cookies()
    browser.get("about:blank")  # a real reload, not a jump within the page
    browser.get(f"{site}/#track={track_id}")
    wait(browser, lambda d: by_id(d, "track-panel").is_displayed(), 10, "the shared track")
    wait(
        browser,
        lambda d: d.find_elements("css selector", f'#recent button[data-track="{track_id}"]'),
        10,
        "the track in the recent list",
    )
    by_id(browser, "vote-up").click()
    wait(browser, lambda d: by_id(d, "up-count").text == "1", 5, "the vote counted")
    assert "mine" in by_id(browser, "vote-up").get_attribute("class")
    wait(
        browser,
        lambda d: d.find_elements("css selector", f'#top button[data-track="{track_id}"]'),
        25,
        "the track in the top list",
    )
    assert "yours" not in by_id(browser, "track-meta").text
    wait(
        browser,
        lambda d: d.execute_script(
            "return document.getElementById('player').readyState >= 1 && "
            "[...document.querySelectorAll('img')].every(i => i.complete)"
        ),
        10,
        "the page settled",
    )

    refused = (
        "/api/compose - Failed to load resource: the server responded with a status of 400",
        "/vote - Failed to load resource: the server responded with a status of 403",
    )  # by design, above
    problems = [
        e["message"]
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE" and not any(r in e["message"] for r in refused)
    ]
    assert not problems, problems  # no CSP violations, no script errors, no failed loads
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    # 🔁 Reroll from the second browser: a new track of its own, same style, followed live to the end.
    by_id(browser, "reroll").click()
    wait(
        browser,
        lambda d: d.execute_script("return location.hash") not in ("", f"#track={track_id}"),
        60,
        "the rerolled track",
    )
    assert "yours" in by_id(browser, "track-meta").text and "irish" in by_id(browser, "track-title").text
    wait(browser, lambda d: by_id(d, "player").get_attribute("data-duration"), 20, "the rerolled audio")
    print(
        f"\nbrowser test {time.monotonic() - started:.1f} s; Compose click to playable audio {playable_s:.1f} s; "
        f"screenshot {SCREENSHOT}"
    )


def test_the_server_stops_its_redis_and_worker(tmp_path: Path) -> None:
    """SIGTERM stops `tunesmith web` cleanly, and the redis-server it started with it."""
    if shutil.which("redis-server") is None:  # pragma: no cover
        pytest.skip("redis-server is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "TUNESMITH_", "REDIS_", "DATABASE_"))}
    env.update(TUNESMITH_DATA_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    port = free_port()
    proc = subprocess.Popen(
        [*TUNESMITH, "web", "--port", str(port), "--workers", "0"],
        env=env,
        cwd=processes.REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert children, "the embedded redis-server should be a child"
        proc.terminate()
        assert proc.wait(20) == 0
        assert "open http://127.0.0.1:" in (proc.stderr.read() if proc.stderr else "")
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
