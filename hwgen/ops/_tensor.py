"""The type of a tensor: shape and exact value range (what the op table infers per layer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwgen.ranges import range_shape

__all__ = ["TensorType"]


@dataclass(frozen=True)
class TensorType:
    """Shape and exact value range of one sample's tensor (no batch axis).

    ``shape`` is in PyTorch order: ``(F,)``, ``(T, C)`` or ``(C, H, W)``; ``()``
    for a scalar such as an argmax index.

    ``bits == 1`` means a *binary* tensor: its values are -1/+1 in the golden
    model and in .npy files, and bit 1 means +1 in hardware (``signed`` is
    False, ``lo == -1``, ``hi == 1``). Otherwise values are integers in
    ``[lo, hi]``, which fits in ``bits`` bits two's complement (``signed``) or
    unsigned. ``lo``/``hi`` may be tighter than the container when they were
    inferred from actual weights.
    """
    shape: tuple[int, ...]
    bits: int
    signed: bool
    lo: int
    hi: int

    @classmethod
    def of_bits(cls, shape, bits, signed=False) -> TensorType:
        shape = tuple(int(d) for d in shape)
        if bits == 1:
            return cls(shape, 1, False, -1, 1)
        if signed:
            return cls(shape, bits, True, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)
        return cls(shape, bits, False, 0, (1 << bits) - 1)

    @classmethod
    def of_range(cls, shape, lo, hi) -> TensorType:
        """Smallest non-binary container holding every integer in ``[lo, hi]``: the units'
        rule, :func:`hwgen.ranges.range_shape`, never 1 bit (that width means binary)."""
        lo, hi = int(lo), int(hi)
        element = range_shape(lo, hi, min_width=2)
        return cls(tuple(int(d) for d in shape), element.width, element.signed, lo, hi)

    @property
    def binary(self) -> bool:
        return self.bits == 1

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def channels(self) -> int:
        """The channel count per-channel parameters index: C of (C, H, W), else the last axis."""
        if not self.shape:
            return 1
        return self.shape[0] if len(self.shape) == 3 else self.shape[-1]

    @property
    def channel_axis(self) -> int:
        """Axis of ``channels`` in a batched ``[N, *shape]`` tensor."""
        return 1 if len(self.shape) == 3 else -1

    def describe(self) -> str:
        kind = "binary" if self.binary else f"{'int' if self.signed else 'uint'}{self.bits}"
        return f"{kind}{list(self.shape)}"
