"""Golden model: integer-exact PyTorch modules for every hwgen operator (DESIGN.md section 3)."""

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
    # functional ops
    "binary_dense", "dense", "conv2d", "binary_conv2d", "threshold", "dyadic", "requant",
    "maxpool2d", "flatten", "argmax", "add", "matmul",
    # I-ViT units and generation-time helpers
    "exp_shift", "shiftmax", "shiftgelu", "isqrt", "newton10", "layernorm",
    "x0_from_scale", "dyadic_from_float",
    # submodules
    "ops", "ivit", "modules", "network",
]
