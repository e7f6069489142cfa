"""The frozen data model a network YAML is loaded into.

Everything downstream (golden model, planner, units, export) reads these
classes and nothing else from the YAML, so they carry the *resolved* network:
defaults applied, producers named, every tensor's shape and value range
inferred, and parameters loaded (from the npz or generated from ``seed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from collections.abc import Mapping

import numpy as np

# The tensor type the op table infers lives with the op table (below this package).
from hwgen.ops._tensor import TensorType

__all__ = ["Location", "TensorType", "LayerSpec", "TargetSpec", "NetworkSpec",
           "frozen_array", "frozen_mapping"]


def frozen_array(value) -> np.ndarray:
    """Return ``value`` as a read-only int64 array (parameters never change after load)."""
    array = np.array(value, dtype=np.int64)
    array.flags.writeable = False
    return array


def frozen_mapping(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Location:
    """Where a value came from: ``file:line`` and its YAML path (``layers[2].pe``)."""
    file: str
    line: int | None
    path: str

    def __str__(self):
        line = f":{self.line}" if self.line is not None else ""
        return f"{self.file}{line}: {self.path}" if self.path else f"{self.file}{line}"


@dataclass(frozen=True, eq=False)
class LayerSpec:
    """One resolved layer.

    Attributes
    ----------
    name : str
    op : str                a name of the op table, ``hwgen.ops.OPS``
    inputs : tuple of str   producer layer names; ``"input"`` is the network input
    attrs : frozen dataclass   the op's attributes, defaults applied, read as
                            ``layer.attrs.weight_bits`` (``hwgen.ops.OPS[op].attrs``, made
                            from the op's fields), e.g. ``out_features``, ``kernel_size``,
                            ``stride``, ``padding``, ``weight_bits``, ``weight_type``,
                            ``bias``, ``bits``, ``signed``, ``per_channel``, ``x0``,
                            ``out_bits``, ``sqrt``, ``transpose_b``, ``heads``
    params : mapping        read-only int64 arrays keyed without the layer prefix:
                            ``weight``, ``bias``, ``thresholds``, ``multiplier``, ``shift``,
                            ``zero_point``
    in_types : tuple of TensorType   one per input
    op_type : TensorType    the op's own output (before the inline activation)
    out_type : TensorType   the layer's output (after the inline activation, if any)
    activation : LayerSpec or None   inline ``threshold``/``requant``, named ``<name>.act``,
                            whose single input is this layer's op output
    pe, simd : int          folding (1 = fully folded)
    location : Location     where the layer was written
    """
    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: Any
    params: Mapping[str, np.ndarray]
    in_types: tuple[TensorType, ...]
    op_type: TensorType
    out_type: TensorType
    activation: LayerSpec | None = None
    pe: int = 1
    simd: int = 1
    location: Location | None = None


@dataclass(frozen=True)
class TargetSpec:
    clock_mhz: float = 100.0
    device: str = "ecp5-25k"
    io_bits: int = 64


@dataclass(frozen=True, eq=False)
class NetworkSpec:
    """A whole network: input type, layers in execution order, target."""
    name: str
    input: TensorType
    layers: tuple[LayerSpec, ...]
    target: TargetSpec = field(default_factory=TargetSpec)
    source: str = "<string>"          # path of the YAML file
    weights_file: str | None = None   # resolved npz path, or None when generated from seed
    seed: int | None = None

    @property
    def output(self) -> TensorType:
        return self.layers[-1].out_type

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)
