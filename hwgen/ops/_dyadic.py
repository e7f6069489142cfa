"""What ``requant`` and ``add`` share: the ``rounding`` key, and the checks of dyadic
multipliers, shifts and zero points."""

from ._field import INT64_MAX, Field

__all__ = ["ROUNDING", "check_dyadic"]

#: how the dyadic rescale rounds (docs/design/numbers.md); the modes of
#: ``sw_reference.ops.ROUNDING_MODES`` (``tests/test_op_table.py`` checks they agree)
ROUNDING = Field("rounding", "choice", default="half_up", choices=("half_up", "half_even", "floor"),
                 doc="how the dyadic rescale rounds (DESIGN section 2): 'half_up' (HAWQ-V3), "
                     "'half_even' (ONNX/QONNX ROUND, torch.round) or 'floor' (QONNX FLOOR)")


def check_dyadic(ctx, raw, m, s, zp, out, in_types):
    """``m`` in [1, 2**31), ``s`` in [0, 64), ``zp`` inside ``out``, ``|x| * m`` within int64."""
    bad = (m < 1) | (m >= 1 << 31)
    if bad.any():
        i = int(bad.nonzero()[0][0])
        raise ctx.param_error(raw, f"{raw.pname}.multiplier[{i}] = {int(m[i])} is not in "
                              f"[1, 2**31){ctx.params.note()}",
                              "normalise: halve m and decrement the shift")
    bad = (s < 0) | (s >= 64)
    if bad.any():
        i = int(bad.nonzero()[0][0])
        raise ctx.param_error(raw, f"{raw.pname}.shift[{i}] = {int(s[i])} is not in [0, 64)"
                              f"{ctx.params.note()}")
    bad = (zp < out.lo) | (zp > out.hi)
    if bad.any():
        i = int(bad.nonzero()[0][0])
        raise ctx.param_error(raw, f"{raw.pname}.zero_point[{i}] = {int(zp[i])} is outside "
                              f"the output range [{out.lo}, {out.hi}] ({out.describe()})"
                              f"{ctx.params.note()}")
    # the golden model computes p = x * m in int64 (and rounds without adding to p)
    xmax = max(max(abs(t.lo), abs(t.hi)) for t in in_types)
    worst = xmax * int(m.max())
    if worst > INT64_MAX - 1:
        raise ctx.param_error(raw, f"{ctx.who(raw)}: |x| * multiplier can reach {worst} "
                              f"(inputs up to {xmax}), overflowing int64",
                              "use a smaller multiplier or narrow the input first")
