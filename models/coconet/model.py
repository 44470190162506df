"""Coconet (Huang et al. 2017): a convolutional orderless-NADE over 4 voices × time × pitch, sampled by Gibbs.

Each (voice, 16th step) cell holds a pitch class index (0 = rest, 1.. = MIDI ``pitch_low``..``pitch_high``) and,
when sounding, an onset flag (struck or held). The input stacks, per voice, the masked pitch roll, the
masked onset roll (the pitch roll restricted to struck cells) and the mask, i.e. 12 channels over a
time × pitch plane. The output is, per voice, a softmax over pitch for each step and an onset logit read at
the chosen pitch, so a cell's probability is p(pitch) · p(onset | pitch). The loss counts erased cells only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.music.chorales import Chorale

VOICES = 4


@dataclass
class CoconetConfig:
    """Hyper-parameters of :class:`Coconet`; ``layers`` counts every 3×3 conv (input and output included)."""

    pitch_low: int = 36  # MIDI; the music21 chorales span exactly 36..81
    pitch_high: int = 81
    layers: int = 16
    channels: int = 64
    # Time dilations cycled over the middle convs, e.g. [1, 2, 4, 8]; empty = all 1 (the original stack). Plain
    # 3×3 convs see 2·layers+1 steps (33 = two 4/4 bars at 16 layers), too little to hold a key over a 30 s
    # piece; the cycle [1, 2, 4, 8] widens that to 101 steps at the same cost.
    dilations: list[int] = field(default_factory=list)

    def dilation(self, i: int) -> int:
        """The time dilation of middle conv ``i``."""
        return self.dilations[i % len(self.dilations)] if self.dilations else 1

    @property
    def classes(self) -> int:
        """Pitch classes per cell: rest plus one per MIDI pitch in range."""
        return self.pitch_high - self.pitch_low + 2

    def to_dict(self) -> dict:
        return asdict(self)


class Coconet(nn.Module):
    """Residual 3×3 conv stack with batch norm (a residual connection every two layers, as in Coconet)."""

    def __init__(self, config: CoconetConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.inp = nn.Conv2d(3 * VOICES, c, 3, padding=1)
        self.inp_bn = nn.BatchNorm2d(c)
        self.convs = nn.ModuleList(
            nn.Conv2d(c, c, 3, padding=(config.dilation(i), 1), dilation=(config.dilation(i), 1), bias=False)
            for i in range(config.layers - 2)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for _ in range(config.layers - 2))
        self.out = nn.Conv2d(c, 2 * VOICES, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, 12, T, P] → (pitch logits [B, 4, T, P], onset logits [B, 4, T, P])."""
        h = F.relu(self.inp_bn(self.inp(x)))  # [B, C, T, P]
        skip = h
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            h = bn(conv(h))  # [B, C, T, P]
            if i % 2 == 1:  # close a residual block of two convs
                h = F.relu(h + skip)
                skip = h
            else:
                h = F.relu(h)
        out = self.out(h)  # [B, 8, T, P]
        return out[:, :VOICES], out[:, VOICES:]

    def encode(self, pitch: torch.Tensor, onset: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """pitch [B, 4, T] class ids, onset [B, 4, T] bool, mask [B, 4, T] bool (True = erased) → [B, 12, T, P]."""
        roll = F.one_hot(pitch, self.config.classes).float() * (~mask)[..., None]  # [B, 4, T, P]
        struck = roll * onset[..., None].float()  # [B, 4, T, P]
        erased = mask[..., None].float().expand_as(roll)  # [B, 4, T, P]
        return torch.cat([roll, struck, erased], dim=1)  # [B, 12, T, P]

    def predict(
        self, pitch: torch.Tensor, onset: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits for every cell given the unmasked ones: ([B, 4, T, P], [B, 4, T, P])."""
        return self(self.encode(pitch, onset, mask))


def cell_nll(
    pitch_logits: torch.Tensor, onset_logits: torch.Tensor, pitch: torch.Tensor, onset: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-cell NLL in nats: (pitch [B, 4, T], onset [B, 4, T]; the onset term is 0 on rests)."""
    ce = F.cross_entropy(pitch_logits.permute(0, 3, 1, 2), pitch, reduction="none")  # [B, 4, T]
    at_pitch = onset_logits.gather(-1, pitch[..., None])[..., 0]  # [B, 4, T]
    bce = F.binary_cross_entropy_with_logits(at_pitch, onset.float(), reduction="none")  # [B, 4, T]
    return ce, bce * (pitch > 0)


def masked_loss(
    pitch_logits: torch.Tensor, onset_logits: torch.Tensor, pitch: torch.Tensor, onset: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean over examples of the mean NLL of their erased cells (orderless-NADE loss, up to a constant).

    Unerased cells do not count at all; the onset BCE counts on erased sounding cells.
    """
    ce, bce = cell_nll(pitch_logits, onset_logits, pitch, onset)  # [B, 4, T] each
    m = mask.float()
    count = m.sum(dim=(1, 2)).clamp_min(1)  # [B]
    pitch_part = (ce * m).sum(dim=(1, 2)) / count  # [B]
    onset_part = (bce * m).sum(dim=(1, 2)) / count  # [B]
    loss = (pitch_part + onset_part).mean()
    return loss, {"pitch": float(pitch_part.detach().mean()), "onset": float(onset_part.detach().mean())}


def orderless_mask(
    shape: tuple[int, ...], generator: torch.Generator | None = None, voice_frac: float = 0.0
) -> torch.Tensor:
    """Training masks [B, 4, T]: per example erase k ~ U{1..4T} random cells (Uria et al.'s orderless NADE);
    a ``voice_frac`` share of examples instead erase 1-3 whole voices (the harmonisation case)."""
    b, v, t = shape
    scores = torch.rand(b, v * t, generator=generator)
    k = torch.randint(1, v * t + 1, (b, 1), generator=generator)
    mask = (scores.argsort(1).argsort(1) < k).view(b, v, t)
    whole = torch.rand(b, generator=generator) < voice_frac
    if whole.any():
        voices = torch.rand(b, v, generator=generator) < 0.5
        voices[torch.arange(b), torch.randint(0, v, (b,), generator=generator)] = True
        mask[whole] = voices[whole][..., None].expand(-1, -1, t)
    return mask


def fix_onsets(pitch: torch.Tensor, onset: torch.Tensor) -> torch.Tensor:
    """onset [..., T] made consistent with pitch class ids [..., T]: a cell after a rest or a different pitch
    is struck; rests are never struck."""
    prev = torch.cat([torch.zeros_like(pitch[..., :1]), pitch[..., :-1]], dim=-1)
    return (onset | (prev != pitch)) & (pitch > 0)


def to_classes(midi: torch.Tensor, config: CoconetConfig) -> torch.Tensor:
    """MIDI pitches (-1 = rest) → class ids (0 = rest); pitches must lie in the config's range."""
    return torch.where(midi < 0, torch.zeros_like(midi), midi - config.pitch_low + 1)


def to_midi(classes: torch.Tensor, config: CoconetConfig) -> torch.Tensor:
    """Class ids → MIDI pitches (-1 = rest)."""
    return torch.where(classes > 0, classes + config.pitch_low - 1, torch.full_like(classes, -1))


def yao_p(n: int, steps: int, pmin: float = 0.1, pmax: float = 0.9, alpha: float = 0.7) -> float:
    """Share of cells erased at Gibbs step n of ``steps`` (Yao et al. 2014's annealed schedule)."""
    return max(pmin, pmax - n * (pmax - pmin) / (alpha * steps))


@torch.no_grad()
def sample_cells(
    model: Coconet,
    pitch: torch.Tensor,
    onset: torch.Tensor,
    mask: torch.Tensor,
    generator: torch.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample the erased cells of (pitch [B, 4, T], onset [B, 4, T]) independently given the others."""
    pitch_logits, onset_logits = model.predict(pitch, onset, mask)  # [B, 4, T, P] each
    logits = pitch_logits / max(temperature, 1e-3)
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]  # [B, 4, T, 1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1).reshape(-1, logits.shape[-1])  # [B*4*T, P]
    drawn = torch.multinomial(probs, 1, generator=generator).view(pitch.shape)  # [B, 4, T]
    p_on = torch.sigmoid(onset_logits.gather(-1, drawn[..., None])[..., 0] / max(temperature, 1e-3))
    struck = torch.rand(pitch.shape, generator=generator, device=pitch.device) < p_on  # [B, 4, T]
    pitch = torch.where(mask, drawn, pitch)
    onset = torch.where(mask, struck, onset)
    return pitch, fix_onsets(pitch, onset)


@torch.no_grad()
def gibbs(
    model: Coconet,
    pitch: torch.Tensor,
    onset: torch.Tensor,
    free: torch.Tensor,
    *,
    steps: int,
    generator: torch.Generator,
    temperature: float = 1.0,
    top_k: int = 0,
    schedule: tuple[float, float, float] = (0.1, 0.9, 0.7),
    on_progress=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blocked Gibbs over the ``free`` cells [B, 4, T] (the others stay clamped): an independent draw of every
    free cell, then ``steps`` rounds that erase a Bernoulli(p_n) block (Yao schedule: pmin, pmax, alpha) and
    resample it given the rest. Returns class ids and onsets [B, 4, T]."""
    model.eval()
    pitch, onset = sample_cells(model, pitch, onset, free, generator, temperature, top_k)
    for n in range(steps):
        p = yao_p(n, steps, *schedule)
        mask = (torch.rand(free.shape, generator=generator, device=free.device) < p) & free  # [B, 4, T]
        if mask.any():
            pitch, onset = sample_cells(model, pitch, onset, mask, generator, temperature, top_k)
        if on_progress is not None:
            on_progress((n + 1) / steps)
    return pitch, onset


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def generate(
    model: Coconet,
    length: int,
    *,
    seed: int,
    steps: int = 48,
    temperature: float = 1.0,
    top_k: int = 0,
    on_progress=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A 4-voice chorale of ``length`` 16th steps from scratch: (MIDI pitch [4, T] with -1 rests, onset [4, T])."""
    device = next(model.parameters()).device
    shape = (1, VOICES, length)
    pitch, onset = (
        torch.zeros(shape, dtype=torch.long, device=device),
        torch.zeros(shape, dtype=torch.bool, device=device),
    )
    free = torch.ones(shape, dtype=torch.bool, device=device)
    pitch, onset = gibbs(
        model,
        pitch,
        onset,
        free,
        steps=steps,
        generator=_generator(seed, device),
        temperature=temperature,
        top_k=top_k,
        on_progress=on_progress,
    )
    return to_midi(pitch[0], model.config).cpu(), onset[0].cpu()


def harmonize(
    model: Coconet,
    soprano: torch.Tensor,
    soprano_onset: torch.Tensor,
    *,
    seed: int,
    steps: int = 48,
    temperature: float = 1.0,
    top_k: int = 0,
    on_progress=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Alto, tenor and bass under a clamped soprano (MIDI [T], -1 rests; onsets [T]), which is never resampled.

    Returns (MIDI pitch [4, T], onset [4, T]) with row 0 equal to the given soprano (onsets made consistent).
    """
    device = next(model.parameters()).device
    t = soprano.shape[-1]
    pitch = torch.zeros((1, VOICES, t), dtype=torch.long, device=device)
    onset = torch.zeros((1, VOICES, t), dtype=torch.bool, device=device)
    pitch[0, 0] = to_classes(soprano.long().to(device), model.config)
    onset[0, 0] = fix_onsets(pitch[0, 0], soprano_onset.bool().to(device))
    free = torch.ones_like(onset)
    free[:, 0] = False
    pitch, onset = gibbs(
        model,
        pitch,
        onset,
        free,
        steps=steps,
        generator=_generator(seed, device),
        temperature=temperature,
        top_k=top_k,
        on_progress=on_progress,
    )
    return to_midi(pitch[0], model.config).cpu(), onset[0].cpu()


def to_arrays(chorales: list[Chorale], config: CoconetConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """(class ids [4, L], onsets [4, L]) per chorale; 0 = rest, k = MIDI pitch_low + k - 1."""
    out = []
    for ch in chorales:
        assert ch.pitch[ch.pitch >= 0].min() >= config.pitch_low and ch.pitch.max() <= config.pitch_high
        out.append((np.where(ch.pitch < 0, 0, ch.pitch - config.pitch_low + 1), ch.onset.copy()))
    return out
