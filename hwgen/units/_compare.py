"""Comparisons that end in one carry chain (its top sum bit or its carry out), signed
operands included."""

from amaranth.hdl import Cat, Value

__all__ = ["greater", "at_least"]


def greater(x, y):
    """``x > y`` of two Values of any signedness: the sign of ``y - x`` (Amaranth widens the
    difference so that it never wraps), which is the carry chain's own top sum bit, with no
    LUT after the chain and none in front of it (signed operands are sign-extended wires).

    Not ``x > y``: for that, Yosys's ``alumacc`` orders the two operands by their wires and,
    for one of the orders, computes ``not (y < x) and not (x == y)``, an equality tree and a
    LUT after the chain (LabelSelect's tree for sfc_balanced: 301 LUT4 with it, 181 without,
    and one LUT level less in every comparison level)."""
    x, y = Value.cast(x), Value.cast(y)
    return (y - x)[-1]


def at_least(x, y):
    """``x >= y`` of two Values of any signedness, without sign-correction LUTs."""
    x, y = _same_order(x, y)
    return x >= y


def _same_order(x, y):
    """``x`` and ``y`` as unsigned Values ordered as the originals: two signed operands with
    their sign bits flipped (the carry chain's carry out is then the answer, where Yosys's
    signed compare adds LUTs after the chain); anything else unchanged."""
    x, y = Value.cast(x), Value.cast(y)
    if not (x.shape().signed and y.shape().signed):
        return x, y
    width = max(len(x), len(y))
    return _biased(x, width), _biased(y, width)


def _biased(value, width):
    """A signed ``value`` sign-extended to ``width`` bits, its sign bit flipped, as unsigned."""
    extended = Cat(value, value[-1].replicate(width - len(value)))
    return Cat(extended[:-1], ~extended[-1])
