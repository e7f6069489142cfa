"""Write examples/jsc_m_correlated.npz: binary weights whose output channels are correlated.

    python examples/correlated_weights.py

Trained binary layers often hold groups of output channels with similar
weight rows; uniformly random weights (``seed:``) do not, so they understate
what MST sharing (``share: mst``) saves. This script stands in for a trained
network (none is in the repository yet): in each layer of the JSC-M-shaped
64-64-32-32-32-5 MLP, ``MH // 8`` random prototype rows (at least 2) are drawn
and every channel copies one of them with each weight flipped with
probability 0.08.
The 1-bit thresholds of each hidden layer are the per-channel medians of its
accumulator over 2048 random inputs pushed through the layers before it, so
every hidden unit fires on about half the samples.
Deterministic: the same numpy version writes the same file.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LAYERS = [("fc0", 64), ("fc1", 32), ("fc2", 32), ("fc3", 32), ("fc4", 5)]
IN_FEATURES = 64
FLIP = 0.08


def correlated_rows(rng, mh, mw):
    """[MH, MW] -1/+1 int8: noisy copies of a few prototype rows."""
    prototypes = rng.choice(np.array([-1, 1], np.int8), size=(max(2, mh // 8), mw))
    rows = prototypes[rng.integers(0, len(prototypes), size=mh)].copy()
    rows[rng.random((mh, mw)) < FLIP] *= -1
    return rows


def main():
    rng = np.random.default_rng(2026)
    arrays = {}
    x = rng.choice(np.array([-1, 1], np.int64), size=(2048, IN_FEATURES))
    mw = IN_FEATURES
    for index, (name, mh) in enumerate(LAYERS):
        weight = correlated_rows(rng, mh, mw)
        arrays[f"{name}.weight"] = weight
        if index < len(LAYERS) - 1:
            acc = x @ weight.astype(np.int64).T
            thresholds = np.floor(np.median(acc, axis=0)).astype(np.int64)[:, None]
            arrays[f"{name}.act.thresholds"] = thresholds
            x = np.where(acc >= thresholds[:, 0], 1, -1)
        mw = mh
    out = HERE / "jsc_m_correlated.npz"
    np.savez(out, **arrays)
    print(f"wrote {out}: " + ", ".join(f"{k} {list(v.shape)}" for k, v in arrays.items()))


if __name__ == "__main__":
    main()
