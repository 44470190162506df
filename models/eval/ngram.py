"""A smoothed n-gram baseline over the same tokens as the neural models (interpolated absolute discounting
with Kneser-Ney continuation counts at the lowest order), so model NLLs have an honest yardstick.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence


class NGram:
    """Interpolated Kneser-Ney-style language model of order ``n`` with discount ``d``."""

    def __init__(self, n: int, vocab_size: int, d: float = 0.75) -> None:
        self.n, self.v, self.d = n, vocab_size, d
        self.counts: list[Counter] = [Counter() for _ in range(n)]  # order k: (context(k), word) → count
        self.context_totals: list[Counter] = [Counter() for _ in range(n)]
        self.context_types: list[Counter] = [Counter() for _ in range(n)]
        self.continuation: Counter = Counter()
        self.continuation_total = 0

    def fit(self, seqs: Sequence[Sequence[int]]) -> NGram:
        left: dict[int, set] = defaultdict(set)
        for seq in seqs:
            for i in range(1, len(seq)):
                w = seq[i]
                left[w].add(seq[i - 1])
                for k in range(1, self.n):
                    if i - k < 0:
                        break
                    ctx = tuple(seq[i - k : i])
                    if self.counts[k][(ctx, w)] == 0:
                        self.context_types[k][ctx] += 1
                    self.counts[k][(ctx, w)] += 1
                    self.context_totals[k][ctx] += 1
        self.continuation = Counter({w: len(s) for w, s in left.items()})
        self.continuation_total = sum(self.continuation.values())
        return self

    def prob(self, history: Sequence[int], w: int) -> float:
        """P(w | the last n-1 tokens of history)."""
        p = 0.5 * (self.continuation[w] / max(self.continuation_total, 1)) + 0.5 / self.v
        for k in range(1, self.n):
            if len(history) < k:
                break
            ctx = tuple(history[-k:])
            total = self.context_totals[k][ctx]
            if total == 0:
                break
            c = self.counts[k][(ctx, w)]
            p = max(c - self.d, 0.0) / total + self.d * self.context_types[k][ctx] / total * p
        return p

    def nll(self, seqs: Sequence[Sequence[int]]) -> float:
        """Mean NLL in nats per predicted token (every token after the first), like the neural models."""
        total, count = 0.0, 0
        for seq in seqs:
            for i in range(1, len(seq)):
                total -= math.log(self.prob(seq[max(0, i - self.n + 1) : i], seq[i]))
                count += 1
        return total / max(count, 1)


def best_ngram(
    train: Sequence[Sequence[int]],
    valid: Sequence[Sequence[int]],
    vocab_size: int,
    orders: Sequence[int] = (2, 3, 4, 5, 6),
) -> tuple[NGram, dict[int, float]]:
    """Fit each order on ``train`` and keep the one with the lowest NLL on ``valid``."""
    scores, models = {}, {}
    for n in orders:
        models[n] = NGram(n, vocab_size).fit(train)
        scores[n] = round(models[n].nll(valid), 4)
    best = min(scores, key=scores.__getitem__)
    return models[best], scores
