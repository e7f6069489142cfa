"""What the row-wise I-ViT ops share: ``shiftmax``, ``shiftgelu``, ``layernorm``.

They act on the last axis of a ``[F]`` or ``[T, C]`` input, one row at a
time; ``pe`` elements of a row go in per beat, so ``pe`` divides the row.
``shiftmax`` and ``shiftgelu`` take the exponent quantum as ``x0`` or derive
it from ``input_scale``.
"""

import math

from ._field import Field
from ._op import FoldDims

__all__ = ["X0", "element_rate", "need_rows", "row_fold", "x0_resolver"]

X0 = (
    Field("x0", "int", lo=-(1 << 31) + 1, hi=-1, doc="exponent quantum: x0 = floor(-1/scale) < 0"),
    Field("input_scale", "number", lo=0, lo_open=True, doc="input scale; sets x0"),
)


def need_rows(ctx, raw, t, what):
    """An input of rank 1 or 2 (``what`` says which), else an error at the layer's inputs."""
    ctx.need_rank(raw, t, (1, 2), what,
                  "insert {op: flatten} before it" if len(t.shape) == 3 else None)


def row_fold(attrs, in_types):
    """``pe`` divides the last axis: the row each unit normalises."""
    return FoldDims(("the last axis", in_types[0].shape[-1]))


def element_rate(layer, units):
    """Ideal cycles per sample of a row op: its input elements at ``pe`` per cycle.

    Computed from the layer, not from the unit's schedule, so that the ideal
    stays honest; the unit's ``cycles_per_row`` says what it achieves.
    """
    return layer.in_types[0].size // layer.pe


def x0_resolver(limit, why, factor=1.0):
    """``resolve_attrs`` of an op taking ``x0`` or ``input_scale``: exactly one of them;
    ``x0 = floor(-1 / (input_scale * factor))``; ``x0 >= limit`` (``why`` says why)."""
    def resolve(ctx, m, attrs, path, what):
        keys = ("x0", "input_scale")
        given = [k for k in keys if k in m]
        if len(given) != 1:
            line, p = (m.key_lines[given[1]], f"{path}.{given[1]}") if given else (m.line, path)
            raise ctx.error(line, p, f"{what} needs exactly one of {' or '.join(keys)}"
                            + (" (both given)" if given else ""),
                            "x0 is a negative integer; input_scale a positive float, "
                            "x0 = floor(-1/scale)"
                            + (f" (scale*{factor:g} for {m['op']})" if factor != 1.0 else ""))
        if "input_scale" in given:
            attrs["x0"] = math.floor(-1.0 / (attrs["input_scale"] * factor))
        x0 = attrs["x0"]
        if x0 < limit:
            key = given[0]
            raise ctx.error(m.key_lines[key], f"{path}.{key}",
                            f"{what}: x0 = {x0} is below {limit}" + (
                                f" (from input_scale {attrs['input_scale']!r})"
                                if key == "input_scale" else ""),
                            why)
    return resolve
