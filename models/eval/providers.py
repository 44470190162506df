"""NLL providers for ``tunesmith evaluate`` whose tokens are not the melody vocabulary: the ABC model (its
own tokens, beside an n-gram on the same ABC tokens) and Coconet (the paper's notewise/framewise NLL,
computed by its training run with models.coconet.eval's protocol and stored in the checkpoint metadata).
"""

from __future__ import annotations

from models.eval import evaluate
from models.eval.ngram import best_ngram
from models.music.styles import Style


def abc_nll(style: Style, composer) -> dict:
    """Held-out NLL of the style's ABC model and of the best n-gram on the same ABC tokens (test split)."""
    from models.abc.model import _encode_all, abc_split, load_abc_corpus
    from models.tokenlm.train import heldout_nll

    corpus, _ = load_abc_corpus(style)
    split = abc_split(style.name, list(corpus))
    seqs = {part: _encode_all(composer.vocab, [corpus[i] for i in ids])[0] for part, ids in split.items()}
    nll = heldout_nll(composer.model, seqs["test"], composer.device)
    ngram, _ = best_ngram(seqs["train"], seqs["valid"], len(composer.vocab))
    return {
        "nll": round(nll, 4),
        "ngram_nll": round(ngram.nll(seqs["test"]), 4),
        "ngram_order": ngram.n,
        "abc_vocab": len(composer.vocab),
    }


def coconet_nll(style: Style, composer) -> dict:
    """Coconet's held-out NLL from its checkpoint metadata (paper protocol; see models.coconet.eval)."""
    held = composer.meta.get("heldout_nll", {})
    test = held.get("test_eval", {})
    out: dict = {}
    for prefix, result in (("", test), ("middle_", held.get("test_eval_middle", {}))):  # crops from the middle
        for key in ("notewise", "framewise"):
            total = result.get(key, {}).get("total", {})
            if total:
                out[f"{prefix}{key}_nll"] = total.get("mean")
                out[f"{prefix}{key}_sem"] = total.get("sem")
    pieces = "chorales" if style.name == "bach" else "pieces"
    out["protocol"] = (
        f"{test.get('pieces')} test {pieces}, {test.get('crop')}-step crops, "
        f"{test.get('orderings')} orderings, held+onset cells (models.coconet.eval)"
        + ("; middle_*: the crops from each piece's middle" if "middle_notewise_nll" in out else "")
    )
    if "test_masked" in held:
        out["masked_nll_per_cell"] = round(held["test_masked"].get("total", 0.0), 4)
    if style.name == "bach":  # the ICLR-2017 draft's figures are for the chorales only
        out["published_notewise_nll"], out["published_framewise_nll"] = 0.569, 3.73
    return out


def register() -> None:
    """Install the providers (and the top lines of the four-voice corpora as those styles' reference tunes)."""
    from functools import partial

    from models.music.grid_corpus import soprano_tunes

    evaluate.NLL_PROVIDERS.setdefault("abc", abc_nll)
    evaluate.NLL_PROVIDERS.setdefault("coconet", coconet_nll)
    evaluate.TUNE_PROVIDERS.setdefault("bach", soprano_tunes)
    evaluate.TUNE_PROVIDERS.setdefault("palestrina", partial(soprano_tunes, corpus="palestrina"))
