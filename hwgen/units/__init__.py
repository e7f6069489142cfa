"""Amaranth units, one ``wiring.Component`` per concept, and the catalog of them.

This package's namespace is the unit catalog: every unit class (and the
helpers the op table's hardware factories use) by name. The op table
(:mod:`hwgen.ops`) sits below the hardware and imports no unit; the unit
factory (:func:`hwgen.units.registry.units_for`) hands this package to an
op's hardware factory, which builds e.g. ``units.Requant(...)``.
:data:`UNITS` lists every unit class: the fuzz factories and the formal
proofs of the stream rules are checked to cover each one.
"""

from ._checks import element_shape
from .add import AddStreams
from .add_const import AddConst
from .divider import Divider
from .dwc import StreamingDataWidthConverter
from .fifo import StreamFIFO
from .fork import DuplicateStreams
from .label_select import LabelSelect
from .layernorm import LayerNorm
from .matmul import MatMul
from .maxpool import StreamingMaxPool
from .mvau import MVAU
from .mvau_int import IntegerMVAU
from .requant import Requant
from .shiftgelu import ShiftGELU
from .shiftmax import Shiftmax
from .skid import SkidBuffer
from .swg import ConvolutionInputGenerator, window_weights
from .thresholding import Thresholding
from .unrolled_chain import UnrolledChain
from .unrolled_mvau import UnrolledMVAU

__all__ = ["UNITS", "element_shape", "window_weights", "AddConst", "AddStreams", "ConvolutionInputGenerator",
           "Divider", "DuplicateStreams", "IntegerMVAU", "LabelSelect", "LayerNorm", "MVAU",
           "MatMul", "Requant", "ShiftGELU", "Shiftmax", "SkidBuffer", "StreamFIFO",
           "StreamingDataWidthConverter", "StreamingMaxPool", "Thresholding", "UnrolledChain",
           "UnrolledMVAU"]

#: every unit class, by name
UNITS = {cls.__name__: cls for cls in (
    AddConst, AddStreams, ConvolutionInputGenerator, Divider, DuplicateStreams, IntegerMVAU, LabelSelect,
    LayerNorm, MVAU, MatMul, Requant, ShiftGELU, Shiftmax, SkidBuffer, StreamFIFO,
    StreamingDataWidthConverter, StreamingMaxPool, Thresholding, UnrolledChain, UnrolledMVAU)}
