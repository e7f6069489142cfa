"""Hypothesis strategy of random valid binary networks (YAML + npz) that hwgen builds today.

A network is 1..3 ``binary_dense`` layers with random sizes, PE/SIMD
foldings (divisors of their dimensions), popcount pipelines 0..3 and a 1-bit
``threshold`` activation between layers; it ends in the raw accumulator, a
multi-bit threshold or an ``argmax``. Weights are random, all +1 or all -1;
thresholds are random, outside the accumulator range or all equal. The AXI
word width is drawn too. To add an op once its unit lands, add a branch to
:func:`networks` (the strategy writes plain YAML, so any op the loader
knows fits).
"""

from pathlib import Path

import numpy as np
from hypothesis import strategies as st

__all__ = ["networks", "write_network", "NetworkCase"]


class NetworkCase:
    """A drawn network: ``yaml`` text, ``params`` for the npz, a seed for its input samples."""

    def __init__(self, yaml, params, sample_seed):
        self.yaml, self.params, self.sample_seed = yaml, params, sample_seed

    def __repr__(self):
        shapes = {k: list(v.shape) for k, v in self.params.items()}
        return f"NetworkCase(\n{self.yaml}params {shapes}, sample_seed={self.sample_seed})"


def _divisor(draw, n, largest=None):
    options = [d for d in range(1, n + 1) if n % d == 0 and (largest is None or d <= largest)]
    return draw(st.sampled_from(options))


def _weights(draw, rng, shape):
    kind = draw(st.sampled_from(["random", "random", "random", "plus", "minus"]), label="weights")
    if kind == "plus":
        return np.ones(shape, np.int8)
    if kind == "minus":
        return -np.ones(shape, np.int8)
    return rng.choice(np.array([-1, 1], np.int8), size=shape)


def _thresholds(draw, rng, rows, count, fan_in):
    """Sorted [rows, count] thresholds for an accumulator in [-fan_in, fan_in]."""
    kind = draw(st.sampled_from(["random", "random", "outside", "equal"]), label="thresholds")
    if kind == "outside":
        t = rng.choice([-fan_in - 5, fan_in + 5, -fan_in, fan_in + 1], size=(rows, count))
    elif kind == "equal":
        t = np.full((rows, count), rng.integers(-fan_in, fan_in + 1))
    else:
        t = rng.integers(-fan_in - 2, fan_in + 3, size=(rows, count))
    return np.sort(t, axis=1).astype(np.int64)


@st.composite
def networks(draw, max_layers=3, max_features=24):
    """A :class:`NetworkCase` of a random valid binary network."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="param seed"))
    k = draw(st.integers(2, max_features), label="inputs")
    io_bits = draw(st.sampled_from([8, 16, 32, 64]), label="io_bits")
    lines = ["name: fuzz_net", f"input: {{shape: [{k}], bits: 1}}", "weights: fuzz_net.npz",
             f"target: {{io_bits: {io_bits}}}", "layers:"]
    params = {}
    depth = draw(st.integers(1, max_layers), label="layers")
    ending = draw(st.sampled_from(["accumulator", "threshold", "argmax"]), label="ending")
    fan_in = k
    for index in range(depth):
        last = index == depth - 1
        out = draw(st.integers(1, max_features), label="out_features")
        if last and ending == "argmax":
            out = max(out, 2)
        name = f"fc{index}"
        pe, simd = _divisor(draw, out), _divisor(draw, fan_in)
        pipeline = draw(st.integers(0, 3), label="pipeline")
        params[f"{name}.weight"] = _weights(draw, rng, (out, fan_in))
        layer = (f"  - {{name: {name}, op: binary_dense, out_features: {out}, pe: {pe}, "
                 f"simd: {simd}, pipeline: {pipeline}")
        bits = None
        if not last:
            bits = 1
        elif ending == "threshold":
            bits = draw(st.integers(1, 3), label="threshold bits")
        if bits is not None:
            layer += f", activation: {{op: threshold, bits: {bits}}}"
            params[f"{name}.act.thresholds"] = _thresholds(draw, rng, out, (1 << bits) - 1,
                                                            fan_in)
        lines.append(layer + "}")
        fan_in = out
    if ending == "argmax":
        lines.append(f"  - {{name: top1, op: argmax, pe: {_divisor(draw, fan_in)}}}")
    return NetworkCase("\n".join(lines) + "\n", params,
                       draw(st.integers(0, 2**16), label="sample seed"))


def write_network(case, folder):
    """Write ``case`` as fuzz_net.yaml + fuzz_net.npz in ``folder``; return the YAML path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "fuzz_net.npz", **case.params)
    path = folder / "fuzz_net.yaml"
    path.write_text(case.yaml)
    return path
