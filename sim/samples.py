"""Samples for the network cosimulations: random over the input range, edge cases, and
:class:`RandomSamples`, any number of them drawn chunk by chunk (re-exported by
:mod:`sim.network`)."""

from dataclasses import dataclass

import numpy as np

__all__ = ["RandomSamples", "edge_samples", "random_samples"]


def random_samples(spec, count, seed=0) -> np.ndarray:
    """``count`` uniform random inputs ``[count, *input.shape]`` (binary: -1/+1), int64."""
    return _draw(spec, np.random.default_rng(seed), count)


def _draw(spec, rng, count):
    t = spec.input
    if t.binary:
        return rng.choice(np.array([-1, 1], dtype=np.int64), size=(count, *t.shape))
    return rng.integers(t.lo, t.hi, size=(count, *t.shape), endpoint=True, dtype=np.int64)


def edge_samples(spec) -> np.ndarray:
    """All-max, all-min and alternating inputs (binary: all +1, all -1, +-1)."""
    t = spec.input
    lo, hi = (-1, 1) if t.binary else (t.lo, t.hi)
    alternating = np.resize(np.array([lo, hi], dtype=np.int64), t.size).reshape(t.shape)
    return np.stack([np.full(t.shape, hi, np.int64), np.full(t.shape, lo, np.int64),
                     alternating, -alternating if t.binary else alternating[..., ::-1]])


@dataclass(frozen=True)
class RandomSamples:
    """``count`` samples drawn chunk by chunk, so that any number fits in memory.

    The edge-case samples (:func:`edge_samples`) come first when ``edges``
    is set; the rest are :func:`random_samples` of ``seed``: with ``edges``
    False the chunks put together are exactly ``random_samples(spec, count,
    seed)``.
    """
    count: int
    seed: int = 0
    edges: bool = False

    def __len__(self):
        return self.count

    def chunks(self, spec, size):
        """Arrays ``[<= size, *input.shape]`` int64, ``count`` samples in all."""
        rng = np.random.default_rng(self.seed)
        head = edge_samples(spec)[:self.count] if self.edges else np.zeros((0, *spec.input.shape),
                                                                          np.int64)
        left = self.count - len(head)
        while len(head) or left:
            take = min(max(0, size - len(head)), left)
            yield np.concatenate([head[:size], _draw(spec, rng, take)])
            head, left = head[size:], left - take

    def materialize(self, spec) -> np.ndarray:
        """All ``count`` samples in one array."""
        return np.concatenate(list(self.chunks(spec, max(1, self.count))))

    def to_json(self) -> dict:
        return {"random": {"count": self.count, "seed": self.seed, "edges": self.edges}}

    @classmethod
    def from_json(cls, value) -> "RandomSamples":
        return cls(**value["random"])
