"""Architecture registry: builds a model from its name and the args stored in checkpoint metadata."""

from __future__ import annotations

from models.tokenlm.gan import GANConfig, MelodyGAN
from models.tokenlm.lstm import LSTMConfig, MelodyLSTM
from models.tokenlm.wavenet import MelodyWaveNet, WaveNetConfig

# Token models: they share the melody vocabulary, the bar grammar and the sampler.
ARCHES: dict[str, tuple[type, type]] = {
    "lstm": (LSTMConfig, MelodyLSTM),
    "wavenet": (WaveNetConfig, MelodyWaveNet),
    "gan": (GANConfig, MelodyGAN),
}
TokenModel = MelodyLSTM | MelodyWaveNet | MelodyGAN


def build_model(arch: str, args: dict) -> TokenModel:
    """A fresh model of ``arch`` from its config dict.

    Raises:
        KeyError: for an unknown architecture, listing the known ones.
    """
    if arch not in ARCHES:
        raise KeyError(f"unknown architecture {arch!r}; architectures: {', '.join(ARCHES)}")
    config_cls, model_cls = ARCHES[arch]
    return model_cls(config_cls(**args))
