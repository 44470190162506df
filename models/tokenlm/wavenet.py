"""WaveNet over melody tokens: dilated causal convolutions with gated activations, residual and skip
connections, and Fast-WaveNet generation (arXiv:1611.09482) that caches each layer's past inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

Cache = list[torch.Tensor]  # one [B, C, dilation] buffer of past inputs per causal conv, oldest first


@dataclass
class WaveNetConfig:
    """Hyper-parameters of :class:`MelodyWaveNet`; receptive field = blocks * (2**layers - 1) + 2 tokens."""

    vocab_size: int
    channels: int = 64
    skip: int = 128
    layers: int = 8  # dilations 1, 2, ..., 2**(layers-1) in each block
    blocks: int = 2
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class GatedLayer(nn.Module):
    """One residual layer: dilated causal conv (kernel 2) → tanh ⊙ sigmoid → residual and skip 1×1 convs."""

    def __init__(self, channels: int, skip: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(channels, 2 * channels, kernel_size=2, dilation=dilation)
        self.res = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip, 1)
        self.drop = nn.Dropout(dropout)

    def gate(self, pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Conv output [B, 2C, T] → (residual [B, C, T], skip [B, S, T])."""
        a, b = pair.chunk(2, dim=1)
        z = self.drop(torch.tanh(a) * torch.sigmoid(b))
        return self.res(z), self.skip(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, C, T] → (x + residual [B, C, T], skip [B, S, T]), causal: left-padded by the dilation."""
        res, skip = self.gate(self.conv(F.pad(x, (self.dilation, 0))))
        return x + res, skip

    def step(self, x: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x[t] [B, C], past inputs [B, C, d] (x[t-d] first) → out [B, C], skip [B, S], new past.

        Plain matrix products on [B, C] vectors: the same maths as the convolutions, without conv set-up.
        """
        w_past, w_now, w_res, w_skip = _taps(self.conv, self.res, self.skip)
        assert self.conv.bias is not None  # nn.Conv1d's default bias=True
        pair = torch.addmm(self.conv.bias, past[:, :, 0], w_past) + x @ w_now  # [B, 2C]
        a, b = pair.chunk(2, dim=1)
        z = torch.tanh(a) * torch.sigmoid(b)  # [B, C]
        res = F.linear(z, w_res, self.res.bias)
        skip = F.linear(z, w_skip, self.skip.bias)
        return x + res, skip, torch.cat([past[:, :, 1:], x[:, :, None]], dim=2)


class MelodyWaveNet(nn.Module):
    """Autoregressive dilated-CNN over melody tokens."""

    def __init__(self, config: WaveNetConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.embed = nn.Embedding(config.vocab_size, c)
        self.inp = nn.Conv1d(c, c, kernel_size=2)  # causal, dilation 1
        dilations = [2**i for i in range(config.layers)] * config.blocks
        self.layers = nn.ModuleList(GatedLayer(c, config.skip, d, config.dropout) for d in dilations)
        self.out1 = nn.Conv1d(config.skip, config.skip, 1)
        self.out2 = nn.Conv1d(config.skip, config.vocab_size, 1)

    def _gated(self) -> Iterator[GatedLayer]:
        """The layers, typed (an nn.ModuleList iterates as plain Modules)."""
        return cast(Iterator[GatedLayer], iter(self.layers))

    @property
    def receptive_field(self) -> int:
        return sum(layer.dilation for layer in self._gated()) + 2

    def _head(self, skips: torch.Tensor) -> torch.Tensor:
        """Summed skips [B, S, T] → logits [B, T, V]."""
        return self.out2(F.relu(self.out1(F.relu(skips)))).transpose(1, 2)

    def forward(self, ids: torch.Tensor, state: Cache | None = None) -> tuple[torch.Tensor, Cache]:
        """ids [B, T] → logits [B, T, V] and a cache holding each conv's last inputs, for :meth:`step`.

        A given ``state`` is ignored: the full forward pass recomputes from ``ids`` alone.
        """
        x = self.embed(ids).transpose(1, 2)  # [B, C, T]
        cache = [_tail(x, 1)]
        x = self.inp(F.pad(x, (1, 0)))
        skips: torch.Tensor | int = 0
        for layer in self._gated():
            cache.append(_tail(x, layer.dilation))
            x, skip = layer(x)
            skips = skips + skip
        assert isinstance(skips, torch.Tensor)  # the config has at least one layer
        return self._head(skips), cache

    @torch.no_grad()
    def step(self, ids: torch.Tensor, state: Cache) -> tuple[torch.Tensor, Cache]:
        """One cached step, O(layers) instead of O(receptive field): ids [B] → logits [B, V]."""
        x = self.embed(ids)  # [B, C]
        new = [torch.cat([state[0][:, :, 1:], x[:, :, None]], dim=2)]
        w_past, w_now, w_1, w_2 = _taps(self.inp, self.out1, self.out2)
        assert self.inp.bias is not None  # nn.Conv1d's default bias=True
        x = torch.addmm(self.inp.bias, state[0][:, :, 0], w_past) + x @ w_now  # [B, C]
        skips: torch.Tensor | int = 0
        for layer, past in zip(self._gated(), state[1:], strict=True):
            x, skip, past = layer.step(x, past)
            new.append(past)
            skips = skips + skip
        assert isinstance(skips, torch.Tensor)  # the config has at least one layer
        h = F.relu(F.linear(F.relu(skips), w_1, self.out1.bias))  # [B, S]
        return F.linear(h, w_2, self.out2.bias), new

    @torch.no_grad()
    def naive_step(self, history: torch.Tensor) -> torch.Tensor:
        """Generation without the cache: recompute the receptive field for each token, history [B, T] → [B, V]."""
        logits, _ = self.forward(history[:, -self.receptive_field :])
        return logits[:, -1]


def _taps(conv: nn.Conv1d, one_a: nn.Conv1d, one_b: nn.Conv1d) -> tuple[torch.Tensor, ...]:
    """Contiguous matrices for stepping: the kernel-2 conv's two taps as [C_in, C_out] and two 1×1 convs as
    [C_out, C_in]. Cached on ``conv`` itself and rebuilt whenever a weight's storage or version changes."""
    key = tuple((t.weight.data_ptr(), _version(t.weight)) for t in (conv, one_a, one_b))
    cached = conv.__dict__.get("_step_taps")
    if cached is None or cached[0] != key:
        w = conv.weight.detach()  # [C_out, C_in, 2]
        mats = (
            w[:, :, 0].T.contiguous(),
            w[:, :, 1].T.contiguous(),
            one_a.weight.detach()[:, :, 0].contiguous(),
            one_b.weight.detach()[:, :, 0].contiguous(),
        )
        cached = conv.__dict__["_step_taps"] = (key, mats)
    return cached[1]


def _version(t: torch.Tensor) -> int:
    """In-place update counter of a tensor; inference tensors have none (and cannot change in place)."""
    return -1 if t.is_inference() else t._version


def _tail(x: torch.Tensor, d: int) -> torch.Tensor:
    """The last ``d`` time steps of x [B, C, T], left-padded with zeros → [B, C, d]."""
    return F.pad(x, (max(0, d - x.shape[2]), 0))[:, :, -d:]
