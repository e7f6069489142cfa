"""The op table: one module per operator, each defining everything hwgen knows about it.

Every module ``hwgen.ops.<op>`` defines ``OP``, an :class:`~hwgen.ops._op.Op`:
its YAML keys (``fields``, typed attributes ``Op.attrs``), number of inputs,
shape and exact-range inference, folding rule, golden factory (a class of
:mod:`sw_reference.modules`), hardware factory (units of :mod:`hwgen.units`),
cycles per sample, and whether it may be or take an inline activation. The
spec loader, the golden model, the unit factory, the planner, the manifest,
the fuzzers and the proofs iterate over :data:`OPS`; nothing else keeps a
list of op names.

Adding an op is a new module here and one line in ``_MODULES`` (see
CONTRIBUTING.md, "Adding an operator").
"""

from types import SimpleNamespace

from . import (add, add_const, argmax, binary_conv2d, binary_dense, conv2d, dense, flatten, layernorm,
               matmul, maxpool2d, requant, shiftgelu, shiftmax, threshold)
from ._field import Field
from ._op import FoldDims, Op
from ._tensor import TensorType

__all__ = ["OPS", "Op", "FoldDims", "Field", "TensorType", "names", "get", "fold_dims",
           "make_attrs"]

# Documentation order (the order error messages list the ops in).
_MODULES = (binary_dense, binary_conv2d, dense, conv2d, threshold, requant, maxpool2d, flatten,
            argmax, add, add_const, matmul, shiftmax, shiftgelu, layernorm)

#: op name -> :class:`Op`, in documentation order
OPS: dict[str, Op] = {module.OP.name: module.OP for module in _MODULES}

#: the op names as attributes (``names.binary_dense``), for code that writes YAML: a renamed
#: or removed op fails where it is used instead of writing a name the loader rejects
names = SimpleNamespace(**{name: name for name in OPS})


def get(name: str) -> Op:
    """The :class:`Op` called ``name``; KeyError naming the known ops otherwise."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"no op {name!r}; ops: {', '.join(OPS)}") from None


def fold_dims(layer) -> FoldDims:
    """What ``pe`` and ``simd`` of a resolved layer (or inline activation) must divide."""
    return OPS[layer.op].fold(layer.attrs, layer.in_types)


def make_attrs(op: str, **values):
    """Typed attributes of op ``op`` from ``values`` (other keys take their defaults)."""
    return get(op).make_attrs(**values)
