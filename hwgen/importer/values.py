"""What the importer tracks along the walk: hardware tensors, chain sources, activation quantizers.

The hardware value ``h`` of every tensor relates to the model's integer
``v`` by ``v = h + offset`` (binary tensors: ``v = h``, -1/+1), and the model's
float value is ``v * scale``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .qonnx_graph import Graph, ModelError, node_label

__all__ = ["HwTensor", "ChainSource", "ActQuantizer", "node_attrs", "per_channel", "divisor",
           "signed_bits", "ROUNDING"]

ROUNDING = {"ROUND": "half_even", "HALF_EVEN": "half_even", "FLOOR": "floor"}


@dataclass
class HwTensor:
    """The hardware tensor at the current point of the walk (see the module docstring)."""
    shape: tuple            # torch order, no batch axis
    lo: int                 # reachable hardware values
    hi: int
    binary: bool = False
    offset: int = 0
    scale: np.ndarray = field(default_factory=lambda: np.ones(()))   # () or [C]
    layer: str = "input"    # hwgen layer producing it

    @property
    def channels(self):
        return self.shape[0] if len(self.shape) == 3 else self.shape[-1]


@dataclass
class ChainSource:
    """How a chain's input tensor follows from hardware integers ``x`` (per channel ``c``):
    model float = float32((sign[c] * x + shift[c]) * scale[c])."""
    tensor: str
    rank: int               # 2 ([N, C]) or 4 ([N, C, H, W]) in the model
    channels: int
    sign: np.ndarray
    shift: np.ndarray
    scale: np.ndarray

    def values(self, x):
        """Model float32 values for hardware integers ``x`` [R, C]."""
        a = self.sign * np.asarray(x, dtype=np.float64) + self.shift
        out = (a * self.scale).astype(np.float32)
        return out.reshape(out.shape + (1, 1)) if self.rank == 4 else out


class ActQuantizer:
    """An activation quantizer: its levels, scale and rounding (zero point 0 checked)."""

    def __init__(self, graph: Graph, node, channels, rank):
        self.node = node
        if node.op_type == "BipolarQuant":
            self.bipolar, self.rounding = True, None
            self.levels = (-1, 1)
        else:
            zp = graph.const(node.input[2], node)
            if np.any(zp != 0):
                raise ModelError(f"{node_label(node)} has zero point {zp.reshape(-1)[:4].tolist()}; "
                                 f"hwgen imports quantizers with zero point 0 only")
            bits = graph.const(node.input[3], node)
            if bits.size != 1 or float(bits) != int(float(bits)) or not 1 <= float(bits) <= 32:
                raise ModelError(f"{node_label(node)} has bit width {bits.reshape(-1).tolist()}; "
                                 f"hwgen needs one integer bit width in 1..32")
            bits = int(float(bits))
            attrs = node_attrs(node)
            signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
            mode = attrs.get("rounding_mode", "ROUND")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            if mode.upper() not in ROUNDING:
                raise ModelError(f"{node_label(node)} rounds with {mode!r}; hwgen imports "
                                 f"ROUND (half to even) and FLOOR")
            self.rounding = ROUNDING[mode.upper()]
            self.bipolar = bits == 1 and signed      # qonnx maps a signed 1-bit Quant to -1/+1
            if self.bipolar:
                self.levels = (-1, 1)
            else:
                from qonnx.custom_op.general.quant import max_int, min_int
                self.levels = (int(min_int(signed, narrow, bits)), int(max_int(signed, narrow, bits)))
            self.bits, self.signed = bits, signed
        scale = graph.const(node.input[1], node).astype(np.float64)
        self.scale = per_channel(scale, channels, rank, node, "scale")
        if np.any(self.scale <= 0):
            raise ModelError(f"{node_label(node)} has a scale <= 0")

    @property
    def count(self):
        return 2 if self.bipolar else self.levels[1] - self.levels[0] + 1


def node_attrs(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def per_channel(value, channels, rank, node, what):
    """``value`` broadcast on a [1, C, ...] tensor as a per-channel [C] vector (or a scalar ())."""
    value = np.asarray(value, dtype=np.float64)
    full = (1, channels) + (1,) * (rank - 2)
    try:
        b = np.broadcast_to(value, np.broadcast_shapes(value.shape, full))
    except ValueError:
        raise ModelError(f"{node_label(node)}: {what} of shape {list(value.shape)} does not "
                         f"broadcast on the tensor's channels ({channels})") from None
    if b.ndim != rank or b.shape[0] != 1 or any(d != 1 for d in b.shape[2:]):
        raise ModelError(f"{node_label(node)}: {what} of shape {list(value.shape)} varies along an "
                         f"axis other than the channels; hwgen takes scalar or per-channel constants")
    vector = b.reshape(-1)
    return vector if len(np.unique(vector)) > 1 else np.asarray(vector[0])


def divisor(n, limit):
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def signed_bits(lo, hi):
    return max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length() if hi > 0 else 0) + 1
