"""Golden model: integer-exact PyTorch modules for every hwgen operator (docs/design/operators.md)."""

from . import ivit, modules, network, ops
from .ivit import (dyadic_from_float, exp_shift, isqrt, layernorm, newton10, shiftgelu,
                   shiftmax, x0_from_scale)
from .modules import (Activated, Add, ArgMax, BinaryConv2d, BinaryDense, Conv2d, Dense,
                      Flatten, LayerNorm, MatMul, MaxPool2d, Requant, ShiftGELU, Shiftmax,
                      Threshold, module_for)
from .network import GoldenNetwork, build, run
from .ops import (add, argmax, binary_conv2d, binary_dense, conv2d, dense, dyadic, flatten,
                  matmul, maxpool2d, requant, threshold)

__all__ = [
    # networks
    "GoldenNetwork", "build", "run",
    # modules
    "BinaryDense", "BinaryConv2d", "Dense", "Conv2d", "Threshold", "Requant", "MaxPool2d",
    "Flatten", "ArgMax", "Add", "MatMul", "Shiftmax", "ShiftGELU", "LayerNorm", "Activated",
    "module_for",
    # functional ops, I-ViT units and generation-time helpers: as those modules export them
    *ops.__all__, *ivit.__all__,
    # submodules
    "ops", "ivit", "modules", "network",
]
