"""C-RNN-GAN-style melody GAN over real notes: a recurrent generator fed per-step noise and its own previous
note, and a bidirectional recurrent discriminator, trained adversarially through straight-through
Gumbel-softmax. Both emit and read note tokens (pitch or rest, then duration), never a regression onto
token indices; the generator is pre-trained by maximum likelihood, as C-RNN-GAN was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from models.tokenlm.lstm import lstm_step

State = tuple[torch.Tensor, torch.Tensor]


@dataclass
class GANConfig:
    """Hyper-parameters of :class:`MelodyGAN`."""

    vocab_size: int
    embed: int = 96
    noise: int = 32
    hidden: int = 256
    layers: int = 2
    disc_embed: int = 64
    disc_hidden: int = 128
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)


class Generator(nn.Module):
    """LSTM whose input at each step is the previous note token (hard or soft one-hot) and a noise vector."""

    def __init__(self, c: GANConfig) -> None:
        super().__init__()
        self.noise_dim = c.noise
        self.embed = nn.Embedding(c.vocab_size, c.embed)
        self.lstm = nn.LSTM(
            c.embed + c.noise, c.hidden, c.layers, batch_first=True, dropout=c.dropout if c.layers > 1 else 0.0
        )
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, c.vocab_size)

    def run(self, x: torch.Tensor, state: State | None, noise: torch.Tensor) -> tuple[torch.Tensor, State]:
        """Embedded input x [B, T, E] and noise [B, T, Z] → logits [B, T, V], state."""
        out, state = self.lstm(self.drop(torch.cat([x, noise], dim=-1)), state)  # [B, T, H]
        return self.head(self.drop(out)), state


class Discriminator(nn.Module):
    """Bidirectional LSTM over (soft) one-hot note tokens [B, T, V] → a realness logit per sequence [B]."""

    def __init__(self, c: GANConfig) -> None:
        super().__init__()
        self.embed = nn.Linear(c.vocab_size, c.disc_embed, bias=False)
        self.lstm = nn.LSTM(c.disc_embed, c.disc_hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * c.disc_hidden, 1)

    def forward(self, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """onehot [B, T, V] → (logit [B], mean features [B, 2H] for feature matching)."""
        feats, _ = self.lstm(self.embed(onehot))  # [B, T, 2H]
        return self.out(feats).squeeze(-1).mean(dim=1), feats.mean(dim=1)


class MelodyGAN(nn.Module):
    """The generator and discriminator together; as a token model it exposes the generator."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)
        self._noise_gen: torch.Generator | None = None

    def reseed(self, seed: int) -> None:
        """Make the generator's noise reproducible (drawn on the CPU, so the same on every device)."""
        self._noise_gen = torch.Generator().manual_seed(seed + 7919)

    def noise(self, batch: int, steps: int, device: torch.device) -> torch.Tensor:
        """Per-step noise [B, T, Z] ~ N(0, 1)."""
        z = torch.randn(batch, steps, self.config.noise, generator=self._noise_gen)
        return z.to(device)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Teacher-forced generator: ids [B, T] → logits [B, T, V] (fresh noise for every step)."""
        x = self.generator.embed(ids)  # [B, T, E]
        return self.generator.run(x, state, self.noise(ids.shape[0], ids.shape[1], ids.device))

    @torch.no_grad()
    def step(self, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One generation step: ids [B] → logits [B, V], carrying the LSTM state."""
        g = self.generator
        x = torch.cat([g.embed(ids), self.noise(ids.shape[0], 1, ids.device)[:, 0]], dim=-1)  # [B, E+Z]
        out, state = lstm_step(g.lstm, x, state)  # [B, H]
        return g.head(out), state

    def soft_step(self, onehot: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """Differentiable step from a (straight-through) one-hot [B, V] → logits [B, V]."""
        x = (onehot @ self.generator.embed.weight)[:, None]  # [B, 1, E]
        logits, state = self.generator.run(x, state, self.noise(onehot.shape[0], 1, onehot.device))
        return logits[:, -1], state


def discriminator_loss(model: MelodyGAN, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, float]:
    """D's loss on one-hot batches real/fake [B, T, V] — binary cross-entropy with one-sided label smoothing
    (0.9) — and its accuracy on them (share of real scored > 0 and fake < 0)."""
    d_real, _ = model.discriminator(real)
    d_fake, _ = model.discriminator(fake.detach())
    loss = F.binary_cross_entropy_with_logits(
        d_real, torch.full_like(d_real, 0.9)
    ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    acc = 0.5 * (float((d_real > 0).float().mean()) + float((d_fake < 0).float().mean()))
    return loss, acc


def generator_loss(model: MelodyGAN, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """G's non-saturating loss plus feature matching on the discriminator's mean features (Salimans et al.
    2016), which steadies recurrent GANs."""
    with torch.no_grad():
        _, f_real = model.discriminator(real)
    g_logit, f_fake = model.discriminator(fake)
    return F.binary_cross_entropy_with_logits(g_logit, torch.ones_like(g_logit)) + F.mse_loss(f_fake, f_real)


def gan_losses(model: MelodyGAN, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Discriminator and generator losses for one-hot batches real/fake [B, T, V]."""
    return discriminator_loss(model, real, fake)[0], generator_loss(model, real, fake)
