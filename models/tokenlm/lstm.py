"""The note-event LSTM: embedding → stacked LSTM → logits, with an explicit (h, c) state for sampling."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

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


def lstm_step(lstm: nn.LSTM, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
    """One time step of a (batch-first, unidirectional) ``nn.LSTM`` with its own weights: x [B, E] → out [B, H].

    Same maths as ``lstm(x[:, None], state)`` in eval mode, without nn.LSTM's per-call set-up, which on the
    CPU (oneDNN) costs ~3 ms a call — 20× the arithmetic of one step at our sizes.
    """
    layers, batch = lstm.num_layers, x.shape[0]
    if state is None:
        zeros = x.new_zeros(layers, batch, lstm.hidden_size)
        state = (zeros, zeros)
    hs, cs = [], []
    for k in range(layers):
        b_ih, b_hh = (getattr(lstm, f"bias_ih_l{k}"), getattr(lstm, f"bias_hh_l{k}")) if lstm.bias else (None, None)
        gates = F.linear(x, getattr(lstm, f"weight_ih_l{k}"), b_ih) + F.linear(
            state[0][k], getattr(lstm, f"weight_hh_l{k}"), b_hh
        )  # [B, 4H]
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * state[1][k] + torch.sigmoid(i) * torch.tanh(g)  # [B, H]
        x = torch.sigmoid(o) * torch.tanh(c)
        hs.append(x)
        cs.append(c)
    return x, (torch.stack(hs), torch.stack(cs))


class MelodyLSTM(nn.Module):
    """Autoregressive LSTM over melody tokens."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed)
        self.lstm = nn.LSTM(
            config.embed,
            config.hidden,
            config.layers,
            batch_first=True,
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
        out, state = lstm_step(self.lstm, self.embed(ids), state)  # [B, H]
        return self.head(out), state

    @torch.no_grad()
    def refeed_step(self, history: torch.Tensor, window: int = 100) -> torch.Tensor:
        """The old write-ups' decoding: re-run the last ``window`` tokens [B, T] for every new token → [B, V]."""
        logits, _ = self.forward(history[:, -window:], None)
        return logits[:, -1]
