"""Decoding the chord HMM: the likeliest chord sequence (Viterbi), or one drawn from the posterior
(forward filtering, backward sampling), both under per-slot constraints."""

from __future__ import annotations

import math
import random

NEG = -math.inf


def viterbi(
    emissions: list[list[float]],
    trans_stay: list[float],
    log_change: list[list[float]],
    prior: list[float],
    allowed: dict[int, set[int]],
) -> list[int]:
    """The best chord index per slot. ``trans_stay[s]`` is P(keep the chord) entering slot s; ``allowed`` maps a
    slot to the only chord indices it may take."""
    n_slots, n = len(emissions), len(prior)
    neg = NEG
    score = [prior[c] + emissions[0][c] if c in allowed.get(0, range(n)) else neg for c in range(n)]
    back: list[list[int]] = []
    for s in range(1, n_slots):
        stay, change = math.log(trans_stay[s]), math.log(1.0 - trans_stay[s])
        ok = allowed.get(s)
        new, ptr = [neg] * n, [0] * n
        for c in range(n):
            if ok is not None and c not in ok:
                continue
            best, arg = neg, 0
            for p in range(n):
                if score[p] == neg:
                    continue
                t = stay if p == c else change + log_change[p][c]
                if score[p] + t > best:
                    best, arg = score[p] + t, p
            new[c], ptr[c] = best + emissions[s][c], arg
        score = new
        back.append(ptr)
    last = max(range(n), key=lambda c: score[c])
    path = [last]
    for ptr in reversed(back):
        path.append(ptr[path[-1]])
    return path[::-1]


def _logsumexp(xs: list[float]) -> float:
    top = max(xs)
    if top == NEG:
        return NEG
    return top + math.log(sum(math.exp(x - top) for x in xs))


def _draw(logits: list[float], rng: random.Random) -> int:
    top = max(logits)
    weights = [math.exp(x - top) if x > NEG else 0.0 for x in logits]
    return rng.choices(range(len(logits)), weights=weights)[0]


def sample_path(
    emissions: list[list[float]],
    trans_stay: list[float],
    log_change: list[list[float]],
    allowed: dict[int, set[int]],
    rng: random.Random,
    temperature: float = 1.0,
) -> list[int]:
    """A chord index per slot drawn from P(path | melody) ∝ exp(score / ``temperature``): the forward pass sums
    over every path into each (slot, chord), then the path is drawn backwards from the end. Same arguments as
    ``viterbi`` (no prior); the same ``rng`` state gives the same path."""
    t = 1.0 / max(temperature, 1e-6)
    n_slots, n = len(emissions), len(emissions[0])

    # t × log P(previous chord p → chord c) entering each slot: one matrix per distinct stay probability
    scaled = {
        stay: [
            [t * (math.log(stay) if p == c else math.log(1.0 - stay) + log_change[p][c]) for c in range(n)]
            for p in range(n)
        ]
        for stay in set(trans_stay[1:])
    }

    def ok(s: int, c: int) -> bool:
        return c in allowed.get(s, range(n))

    alpha = [[t * emissions[0][c] if ok(0, c) else NEG for c in range(n)]]
    for s in range(1, n_slots):
        prev, trans = alpha[-1], scaled[trans_stay[s]]
        row = []
        for c in range(n):
            if not ok(s, c):
                row.append(NEG)
                continue
            row.append(_logsumexp([prev[p] + trans[p][c] for p in range(n)]) + t * emissions[s][c])
        alpha.append(row)
    path = [_draw(alpha[-1], rng)]
    for s in range(n_slots - 1, 0, -1):
        c, trans = path[-1], scaled[trans_stay[s]]
        path.append(_draw([alpha[s - 1][p] + trans[p][c] for p in range(n)], rng))
    return path[::-1]
