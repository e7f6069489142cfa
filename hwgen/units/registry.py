"""Which unit implements each operator, and which issue brings the ones still missing."""

from amaranth.hdl import signed, unsigned

from .requant import Requant

__all__ = ["unit_for", "MISSING"]

# Operators whose hardware has not landed yet, and the work item that adds it.
MISSING = {
    "binary_dense": "issue #4 (binary MVAU)",
    "threshold": "issue #4 (Thresholding)",
    "argmax": "issue #4 (LabelSelect)",
    "dense": "issue #5 (integer/ternary MVAU)",
    "binary_conv2d": "issue #5 (ConvolutionInputGenerator + MVAU)",
    "conv2d": "issue #5 (ConvolutionInputGenerator + MVAU)",
    "maxpool2d": "issue #5 (StreamingMaxPool)",
    "flatten": "issue #5 (flatten with column permutation)",
    "add": "issue #6 (residual Add)",
    "matmul": "issue #6 (MatMul)",
    "shiftmax": "issue #6 (Shiftmax)",
    "shiftgelu": "issue #6 (ShiftGELU)",
    "layernorm": "issue #6 (LayerNorm)",
}


def element_shape(tensor):
    """Amaranth shape of one element of a TensorType (binary: 1 bit, 1 = +1)."""
    if tensor.binary:
        return unsigned(1)
    return signed(tensor.bits) if tensor.signed else unsigned(tensor.bits)


def _requant(layer):
    source = layer.in_types[0]
    return Requant(in_shape=element_shape(source), out_shape=element_shape(layer.out_type),
                   channels=source.channels, pe=layer.pe,
                   multiplier=layer.params["multiplier"].tolist(),
                   shift=layer.params["shift"].tolist(),
                   zero_point=layer.params["zero_point"].tolist())


_FACTORIES = {"requant": _requant}


def unit_for(layer):
    """The unit for ``layer`` (op and inline activation), or NotImplementedError naming the issue."""
    if layer.op not in _FACTORIES:
        waits = MISSING.get(layer.op, "a future issue")
        raise NotImplementedError(
            f"layer {layer.name!r}: op {layer.op!r} has no hardware unit yet; it lands with "
            f"{waits}. `hwgen reference` runs it in the golden model today.")
    if layer.activation is not None:
        raise NotImplementedError(
            f"layer {layer.name!r}: inline activations in hardware land with the MVAU "
            f"(issues #4 and #5)")
    return _FACTORIES[layer.op](layer)
