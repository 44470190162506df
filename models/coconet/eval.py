"""Held-out NLL of the Coconet harmonizer with the Coconet paper's protocols (nats).

* **Notewise**: for each of ``orderings`` random orderings of the 4·T cells, the teacher-forced chain
  Σ_d log p(x_{o_d} | x_{o_<d}) (orderless NADE); the orderings are combined in probability space
  (logsumexp − log M) and divided by the number of cells.
* **Framewise** (Algorithm 1 of the ISMIR paper, as the reference code does it): frames in random order,
  each conditioned on the *true* frames earlier in the ordering; inside a frame the voices go in random
  order, each conditioned on the voices of that frame the model already wrote with its **argmax**
  (``within="true"`` conditions on the true voices instead, an exact chain-rule likelihood). Orderings are
  combined in probability space; the result is per frame (4 cells).

Mean ± SEM over pieces. How this differs from the ICLR-2017 draft's 0.569 notewise / 3.73 framewise:

* Our cell is a pitch *and* an onset flag; the draft's binary roll cannot tell a held note from a repeated
  one. The roll is a function of our grid, so ``total`` (pitch + onset terms, a proper likelihood of our
  grid) bounds from above what the same model would give the draft's roll in the teacher-forced protocols
  (p(roll) sums p(grid) over the grids with that roll): compare ``total``.
* ``pitch`` is the pitch-only part and is *not* comparable: a known neighbour's "held" flag gives away the
  erased cell's pitch (that information is scored in the onset term), which flatters it, most of all in
  the framewise protocol.
* Pitch range MIDI 36–81 plus a rest class (draft: 36–88, rests as an empty roll; rests are ~1% of cells);
  our own frozen 60/20/20 split of 361 chorales (draft: 354); scored on the first ``crop`` steps of each
  piece (draft: T = 64 crops) and, for CPU time, on ``max_pieces`` pieces only.

Other four-voice styles (``--style palestrina``) are scored with the same protocol on their own frozen splits.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from models.coconet.model import VOICES, Coconet, cell_nll


def _predict(
    model: Coconet, p: torch.Tensor, o: torch.Tensor, mask: torch.Tensor, chunk: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """model.predict in batches of ``chunk`` to bound memory: ([N, 4, T, P], [N, 4, T, P])."""
    outs = [model.predict(p[i : i + chunk], o[i : i + chunk], mask[i : i + chunk]) for i in range(0, len(p), chunk)]
    return torch.cat([a for a, _ in outs]), torch.cat([b for _, b in outs])


def _combine(ll: torch.Tensor) -> float:
    """Per-ordering log-likelihoods [M] → log of their mean probability."""
    return float(torch.logsumexp(ll, 0) - math.log(len(ll)))


@torch.no_grad()
def notewise_ll(
    model: Coconet,
    pitch: torch.Tensor,
    onset: torch.Tensor,
    *,
    orderings: int,
    generator: torch.Generator,
    chunk: int = 64,
) -> dict[str, float]:
    """Log-likelihood of one crop (class ids [4, T], onsets [4, T]) in nats, pitch-only and with onsets."""
    t, dev = pitch.shape[-1], pitch.device
    cells = VOICES * t
    lls: dict[str, list[float]] = {"total": [], "pitch": []}
    for _ in range(orderings):
        rank = torch.randperm(cells, generator=generator).view(VOICES, t).to(dev)  # each cell's position
        order = rank.flatten().argsort()  # cell index at each position
        tot, pit = 0.0, 0.0
        for d0 in range(0, cells, chunk):
            ds = torch.arange(d0, min(cells, d0 + chunk), device=dev)  # [b]
            mask = rank[None] >= ds[:, None, None]  # [b, 4, T]: cells at or after position d are erased
            p, o = pitch[None].expand(len(ds), -1, -1), onset[None].expand(len(ds), -1, -1)
            ce, bce = cell_nll(*model.predict(p, o, mask), p, o)  # [b, 4, T]
            target = order[ds]  # [b]
            ce, bce = ce.flatten(1).gather(1, target[:, None]), bce.flatten(1).gather(1, target[:, None])
            tot, pit = tot - float((ce + bce).sum()), pit - float(ce.sum())
        lls["total"].append(tot)
        lls["pitch"].append(pit)
    return {k: _combine(torch.tensor(v, dtype=torch.float64)) for k, v in lls.items()}


@torch.no_grad()
def framewise_ll(
    model: Coconet,
    pitch: torch.Tensor,
    onset: torch.Tensor,
    *,
    orderings: int,
    generator: torch.Generator,
    within: str = "argmax",
) -> dict[str, float]:
    """Log-likelihood of one crop in nats with frames in random order (see the module docstring)."""
    t, dev = pitch.shape[-1], pitch.device
    frames = torch.arange(t, device=dev)
    lls: dict[str, list[float]] = {"total": [], "pitch": []}
    for _ in range(orderings):
        frame_rank = torch.randperm(t, generator=generator).to(dev)  # [T]
        voice_order = torch.stack([torch.randperm(VOICES, generator=generator) for _ in range(t)]).to(dev)  # [T, 4]
        # Row i of the batch scores frame i: frames ranked before it are known, the others erased.
        known = frame_rank[None, :] < frame_rank[:, None]  # [T(batch), T]
        p = pitch[None].repeat(t, 1, 1)  # [T, 4, T]
        o = onset[None].repeat(t, 1, 1)
        written = torch.zeros(t, VOICES, dtype=torch.bool, device=dev)  # voices of its own frame each row has written
        tot, pit = 0.0, 0.0
        for j in range(VOICES):
            mask = ~known[:, None, :].expand(-1, VOICES, -1).clone()  # [T, 4, T]
            mask[frames, :, frames] = ~written
            pitch_logits, onset_logits = _predict(model, p, o, mask)  # [T, 4, T, P]
            voice = voice_order[:, j]  # [T]
            pl, ol = pitch_logits[frames, voice, frames], onset_logits[frames, voice, frames]  # [T, P]
            true_p, true_o = pitch[voice, frames], onset[voice, frames]  # [T]
            ce, bce = cell_nll(pl[:, None, None], ol[:, None, None], true_p[:, None, None], true_o[:, None, None])
            tot, pit = tot - float((ce + bce).sum()), pit - float(ce.sum())
            if within == "argmax":
                guess = pl.argmax(-1)  # [T]
                p[frames, voice, frames] = guess
                o[frames, voice, frames] = (ol.gather(-1, guess[:, None])[:, 0] > 0) & (guess > 0)
            written[frames, voice] = True
        lls["total"].append(tot)
        lls["pitch"].append(pit)
    return {k: _combine(torch.tensor(v, dtype=torch.float64)) for k, v in lls.items()}


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.array(values)
    sem = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else 0.0
    return {"mean": round(float(arr.mean()), 4), "sem": round(sem, 4)}


def evaluate(
    model: Coconet,
    data: list[tuple[np.ndarray, np.ndarray]],
    *,
    max_pieces: int | None = 8,
    crop: int | None = 32,
    orderings: int = 5,
    seed: int = 0,
    within: str = "argmax",
    device: str = "cpu",
    middle: bool = False,
) -> dict:
    """Notewise (nats/cell) and framewise (nats/frame) NLL over held-out pieces (class ids, onsets), each cut
    to its first ``crop`` steps, or the ``crop`` steps in its middle (None: whole pieces); mean ± SEM over
    pieces. ``middle`` matters where pieces open with voices entering one by one (Palestrina's imitation)."""
    model.eval().to(device)
    gen = torch.Generator().manual_seed(seed)
    note: dict[str, list[float]] = {"total": [], "pitch": []}
    frame: dict[str, list[float]] = {"total": [], "pitch": []}
    pieces = data[:max_pieces] if max_pieces else data
    for p_np, o_np in pieces:
        start = max(0, (p_np.shape[1] - crop) // 2) if middle and crop else 0
        p, o = (torch.from_numpy(a[:, start : start + crop] if crop else a).to(device) for a in (p_np, o_np))
        n = notewise_ll(model, p, o, orderings=orderings, generator=gen)
        f = framewise_ll(model, p, o, orderings=orderings, generator=gen, within=within)
        for k in note:
            note[k].append(-n[k] / p.numel())
            frame[k].append(-f[k] / p.shape[-1])
    return {
        "notewise": {k: _stats(v) for k, v in note.items()},
        "framewise": {k: _stats(v) for k, v in frame.items()},
        "pieces": len(pieces),
        "crop": crop,
        "orderings": orderings,
        "within": within,
        "crops_from": "middle" if middle else "start",
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m models.coconet.eval [--style S] [--checkpoint-dir DIR]``: notewise/framewise NLL of S-coconet."""
    import argparse
    import json
    from pathlib import Path

    from models.coconet.compose import load_coconet
    from models.coconet.model import to_arrays
    from models.core import catalog
    from models.core.checkpoint import checkpoint_paths
    from models.music.chorales import split_chorales
    from models.music.grid_corpus import corpus_split, load_grids

    parser = argparse.ArgumentParser(prog="coconet_eval", description=main.__doc__)
    parser.add_argument("--style", default="bach", help="a four-voice corpus: bach or palestrina")
    parser.add_argument("--checkpoint-dir", type=Path, default=None)
    parser.add_argument("--part", default="test", choices=("valid", "test"))
    parser.add_argument("--max-pieces", type=int, default=8)
    parser.add_argument("--crop", type=int, default=32, help="steps from each piece's start (0: whole piece)")
    parser.add_argument("--orderings", type=int, default=5)
    parser.add_argument("--within", default="argmax", choices=("argmax", "true"))
    parser.add_argument("--middle", action="store_true", help="crops from the middle of each piece")
    parser.add_argument("--save", action="store_true", help="store the test result in the checkpoint's metadata")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, _, _ = load_coconet(args.style, checkpoint_dir=args.checkpoint_dir)
    pieces = load_grids(args.style)
    data = to_arrays(split_chorales(pieces, corpus_split(args.style, pieces))[args.part], model.config)
    result = evaluate(
        model,
        data,
        max_pieces=args.max_pieces or None,
        crop=args.crop or None,
        orderings=args.orderings,
        within=args.within,
        middle=args.middle,
    )
    print(json.dumps(result, indent=1))
    if args.save and args.part == "test":  # as heldout_nll.test_eval(_middle), where the training run puts them
        entry = catalog.find(args.style, "coconet", args.checkpoint_dir)
        path = checkpoint_paths(entry.directory, entry.name, "coconet")[1]
        meta = json.loads(path.read_text())
        meta["heldout_nll"]["test_eval_middle" if args.middle else "test_eval"] = result
        path.write_text(json.dumps(meta, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
