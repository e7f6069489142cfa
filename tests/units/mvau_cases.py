"""Binary MVAU foldings, weights and input vectors shared by the Amaranth and Verilator tests.

Vectors are -1/+1 int64 [N, MW]: random ones followed by the edge cases
all +1, all -1, and for the first, a middle and the last channel ``c``:
``x == W[c]`` (``y[c] == MW``, the maximum), ``x == -W[c]`` (``-MW``, the
minimum) and ``W[c]`` with its first ``MW // 2`` elements negated (exactly
half the bits agree: ``y[c] == 0`` for even MW). Expected outputs come only
from ``sw_reference.ops.binary_dense``.
"""

import numpy as np
import torch

from sim.packing import pack, unpack
from sw_reference.ops import binary_dense

# (MH, MW, PE, SIMD): fully folded, fully unrolled, and folds in between.
FOLDINGS = [(8, 16, 1, 1), (8, 16, 8, 16), (8, 16, 2, 4), (10, 64, 10, 32), (16, 32, 4, 8)]


def make_weights(mh: int, mw: int, seed: int) -> np.ndarray:
    """Random -1/+1 weights [MH, MW] (int8, as in the .npz files)."""
    return np.random.default_rng(seed).choice(np.array([-1, 1], np.int8), size=(mh, mw))


def make_correlated_weights(mh: int, mw: int, seed: int, prototypes: int = 3,
                            flip: float = 0.1) -> np.ndarray:
    """-1/+1 weights [MH, MW] whose rows are noisy copies of a few prototype rows.

    Like trained binary layers, and unlike uniform random ones, they hold
    groups of similar channels, so MST sharing has close neighbours to use;
    two channels are made identical (Hamming distance 0).
    """
    rng = np.random.default_rng(seed)
    rows = rng.choice(np.array([-1, 1], np.int8), size=(prototypes, mw))
    weights = rows[rng.integers(0, prototypes, size=mh)]
    weights[rng.random((mh, mw)) < flip] *= -1
    weights[-1] = weights[0]
    return weights


def edge_vectors(weights: np.ndarray) -> np.ndarray:
    """All +1, all -1, and per chosen channel: equal, opposite and half-agreeing vectors."""
    mh, mw = weights.shape
    rows = [np.ones(mw, np.int64), -np.ones(mw, np.int64)]
    for c in sorted({0, mh // 2, mh - 1}):
        w = weights[c].astype(np.int64)
        half = w.copy()
        half[:mw // 2] *= -1
        rows += [w, -w, half]
    return np.array(rows, dtype=np.int64)


def make_vectors(weights: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` random -1/+1 vectors [count, MW] followed by ``edge_vectors``."""
    mw = weights.shape[1]
    random = np.random.default_rng(seed).choice(np.array([-1, 1], np.int64), size=(count, mw))
    return np.concatenate([random, edge_vectors(weights)])


def expected(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Golden ``y`` [N, MH] (int64) from ``sw_reference``."""
    return binary_dense(torch.from_numpy(x.astype(np.int64)),
                        torch.from_numpy(weights.astype(np.int64))).numpy()


def to_beats(x: np.ndarray, simd: int) -> list:
    """[N, MW] -> per-vector lists of SF packed input beats (``simd`` bits each)."""
    return [[pack(row[s:s + simd], 1) for s in range(0, len(row), simd)] for row in x]


def from_beats(frames: list, pe: int, bits: int) -> np.ndarray:
    """Per-vector lists of NF output words -> [N, MH] signed int64."""
    return np.array([[v for word in frame for v in unpack(word, pe, bits, True)]
                     for frame in frames], dtype=np.int64)


def check_cosim(x: np.ndarray, got: np.ndarray, want: np.ndarray, result) -> None:
    """Every vector came out and equals the golden one; else show the first that differ."""
    assert got.shape == want.shape, f"{len(result.received)} of {len(x)} vectors came out"
    bad = (got != want).any(axis=1)
    assert not bad.any(), f"{int(bad.sum())} of {len(x)} vectors differ; first:\n" \
                          f"x={x[bad][:2]}\ngot={got[bad][:2]}\nwant={want[bad][:2]}"
    assert result.passed


def check_lint(text: str, top: str, tmp_path) -> None:
    """``text`` (Verilog with top module ``top``) passes verilator --lint-only -Wall + waivers."""
    from sim.verilator import lint
    path = tmp_path / f"{top}.v"
    path.write_text(text)
    result = lint(path, top)
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr
