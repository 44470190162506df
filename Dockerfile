# syntax=docker/dockerfile:1
# One image for the bot and the workers; they differ only in their command (`tunesmith bot` / `tunesmith worker`).
#   docker build -t tunesmith .                                   # CPU torch (default)
#   docker build -t tunesmith:cuda --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim-bookworm

ARG TORCH_VERSION=2.13.0
# The wheel index torch comes from: the CPU build by default (a plain `pip install torch` pulls CUDA, ~3 GB).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg \
    TUNESMITH_DATA_DIR=/data \
    TUNESMITH_CACHE_DIR=/data/cache \
    MPLCONFIGDIR=/tmp/matplotlib

# FluidSynth (program and library, for the warm in-process synth), the General MIDI soundfont, ffmpeg for OGG/MP3,
# cairo for the engraved score's PNG and PDF (cairosvg).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        fluidsynth libfluidsynth3 fluid-soundfont-gm ffmpeg libcairo2 \
    && rm -rf /var/lib/apt/lists/*

# torch first, in its own layer, so code changes do not re-download it.
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY worker ./worker
COPY models ./models
# torch is already satisfied, so this installs only the other dependencies and tunesmith itself.
RUN pip install . \
    && python -c "import bot, worker.contract.tracks, models.core.catalog; print('tunesmith import ok')"

RUN useradd --create-home --uid 10001 --user-group tunesmith \
    && mkdir -p /data/tracks /data/checkpoints /data/cache \
    && chown -R tunesmith:tunesmith /data
USER tunesmith
VOLUME ["/data"]

# Compose overrides the command per service and runs `python -m worker.cli.health bot|worker` as the health check.
CMD ["tunesmith", "worker"]
