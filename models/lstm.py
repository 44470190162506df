"""The note-event LSTM: embedding → stacked LSTM → logits, with an explicit (h, c) state for sampling."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [layers, B, hidden]


@dataclass
class LSTMConfig:
    """Hyper-parameters of :class:`MelodyLSTM`."""

    vocab_size: int
    embed: int = 128
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)


class MelodyLSTM(nn.Module):
    """Autoregressive LSTM over melody tokens."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed)
        self.lstm = nn.LSTM(
            config.embed, config.hidden, config.layers, batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids [B, T] → logits [B, T, V] and the new (h, c)."""
        x = self.drop(self.embed(ids))  # [B, T, E]
        out, state = self.lstm(x, state)  # [B, T, H]
        return self.head(self.drop(out)), state

    @torch.no_grad()
    def step(self, ids: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One cached decoding step: ids [B] → logits [B, V]; carries (h, c) instead of re-feeding a window."""
        logits, state = self.forward(ids[:, None], state)  # [B, 1, V]
        return logits[:, -1], state

    @torch.no_grad()
    def refeed_step(self, history: torch.Tensor, window: int = 100) -> torch.Tensor:
        """The old write-ups' decoding: re-run the last ``window`` tokens [B, T] for every new token → [B, V]."""
        logits, _ = self.forward(history[:, -window:], None)
        return logits[:, -1]
