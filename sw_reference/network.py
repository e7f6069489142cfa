"""A whole network as one golden ``nn.Module``: :func:`build` and :func:`run`."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .modules import module_for
from .ops import _check_int64

__all__ = ["GoldenNetwork", "build", "run"]


def _batched(shape) -> str:
    return "[" + ", ".join(["N", *map(str, shape)]) + "]"


class GoldenNetwork(nn.Module):
    """The golden model of a :class:`hwgen.spec.NetworkSpec`.

    Layers run in the spec's order; each reads the outputs named by its
    ``inputs`` (``"input"`` is the network input) and stores its own output
    (after its inline activation) under its name.

    ``forward(x)`` takes int64 ``[N, *spec.input.shape]`` and returns the last
    layer's output; ``forward_all(x)`` returns every tensor by name.
    """

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self.names: list[str] = []
        self.inputs: list[tuple[str, ...]] = []
        self.layers = nn.ModuleList()
        known = {"input"}
        previous = "input"
        for layer in spec.layers:
            if layer.name in known:
                raise ValueError(f"layer name {layer.name!r} is used twice")
            inputs = tuple(layer.inputs) or (previous,)
            for name in inputs:
                if name not in known:
                    raise ValueError(f"layer {layer.name!r} reads {name!r}, "
                                     f"which no earlier layer produces")
            self.names.append(layer.name)
            self.inputs.append(inputs)
            self.layers.append(module_for(layer))
            known.add(layer.name)
            previous = layer.name
        if not self.names:
            raise ValueError(f"network {spec.name!r} has no layers")

    def _check(self, x):
        _check_int64("x", x)
        shape = tuple(self.spec.input.shape)
        if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            raise ValueError(f"input must have shape {_batched(shape)}, "
                             f"not {list(x.shape)}")

    def forward_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate: ``{"input": x, <layer name>: output, ...}`` in execution order."""
        self._check(x)
        values = {"input": x}
        for name, inputs, module in zip(self.names, self.inputs, self.layers):
            values[name] = module(*(values[i] for i in inputs))
        return values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[self.names[-1]]


def build(spec) -> GoldenNetwork:
    """The golden model of ``spec`` (a resolved :class:`hwgen.spec.NetworkSpec`)."""
    return GoldenNetwork(spec)


def _check_values(spec, x: np.ndarray):
    t = spec.input
    bad = ((x != 1) & (x != -1)) if t.binary else ((x < t.lo) | (x > t.hi))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        allowed = "only -1 or +1" if t.binary else f"[{t.lo}, {t.hi}]"
        position = f" at {list(where[1:])}" if len(where) > 1 else ""
        raise ValueError(f"input sample {where[0]} holds {x[where]}{position}, but "
                         f"{t.describe()} allows {allowed} ({int(bad.sum())} bad value(s) in all)")


def run(spec, x) -> np.ndarray:
    """Golden output of ``spec`` for the integer array ``x`` of shape ``[N, *spec.input.shape]``.

    Checks the dtype (integers only), the shape and that every value is in
    ``spec.input``'s range (binary inputs: only -1/+1), raising ValueError
    naming the first bad sample index and value. Returns an int64 array.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise ValueError(f"input must hold integers, not {x.dtype}")
    shape = tuple(spec.input.shape)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"input must have shape {_batched(shape)} "
                         f"({spec.input.describe()} per sample), not {list(x.shape)}")
    _check_values(spec, x)
    net = build(spec)
    with torch.no_grad():
        y = net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64)))
    return y.numpy().astype(np.int64, copy=False)
