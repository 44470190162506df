"""Draws a fine-tune's loss curve (training loss per step, held-out NLL at checkpoints) as a PNG."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def smooth(values: list[float], window: int = 10) -> list[float]:
    """Running mean over the last ``window`` values (the first ones average what there is)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def draw_loss(history: list[dict], path: Path | str, *, title: str = "fine-tune") -> Path:
    """``history`` rows {"step", "train", ["valid"]} → a 900×360 PNG at ``path`` (written via a temp file)."""
    path = Path(path)
    fig = Figure(figsize=(9, 3.6), dpi=100)
    ax = fig.add_subplot()
    steps = [h["step"] for h in history]
    train = [float(h["train"]) for h in history]
    ax.plot(steps, train, color="#9ecae1", linewidth=0.8, label="train (per step)")
    ax.plot(steps, smooth(train), color="#08519c", linewidth=1.8, label="train (mean of 10)")
    valid = [(h["step"], float(h["valid"])) for h in history if h.get("valid") is not None]
    if valid:
        ax.plot(*zip(*valid, strict=True), "o-", color="#d94801", label="held-out uploads")
    ax.set_xlabel("step")
    ax.set_ylabel("nats / token")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    FigureCanvasAgg(fig).print_png(str(tmp))
    tmp.replace(path)
    return path
