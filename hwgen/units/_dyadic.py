"""The dyadic rescale datapath (DESIGN.md section 2), shared by Requant and AddStreams.

Round-half-up ``(p + 2**(s-1)) >> s`` is built as ``((p >> (s-1)) + 1) >> 1``
(``sw_reference.ops.dyadic`` proves the two equal), so nothing is wider than
the product ``p`` and no ``2**(s-1)`` constant is added.
"""

from amaranth.hdl import Const, Mux, Signal, signed

from ._checks import shape_range

__all__ = ["clamp", "dyadic_bounds", "round_half_up"]


def round_half_up(m, product, shamt, exact, *, suffix, offset=0, shift_stage=False,
                  half_shape=None):
    """Combinational ``product`` rescaled by ``2**-s``, rounding half up, plus the integer ``offset``.

    ``shamt`` is ``s - 1`` (0 when ``s == 0``) and ``exact`` is ``s == 0`` (no
    rounding term): registered signals when the shift varies per channel, or
    ``Const``\\ s, which Amaranth folds away. Without ``offset`` the result is
    a Signal like ``product`` (it lies between 0 and ``product``). An
    ``offset`` (a constant, e.g. a zero point) costs no adder of its own:
    ``((p >> (s-1)) + 1) >> 1) + z == ((p >> (s-1)) + 1 + 2*z) >> 1``, since
    ``2*z`` is even; the result is then wide enough for the sum.

    With ``shift_stage`` the variable shift ``product >> shamt`` is registered
    (``2 * product`` when ``exact``, so that the rounding adder gives
    ``product``): the result then comes one cycle later, and a per-channel
    shift's barrel shifter and the rounding adder are in separate stages;
    ``half_shape`` (signed) holds every registered value (from the bounds of
    the inputs), so the register is no wider than its values.
    """
    term = Const(1 + 2 * offset)
    if offset:
        rounded = Signal(signed(max(len(product), len(term)) + 2), name=f"rounded_{suffix}")
    else:
        rounded = Signal.like(product, name=f"rounded_{suffix}")
    if shift_stage:
        # One register instead of three: with s == 0 it holds 2p, and (2p + 1) >> 1 == p,
        # so the exact case needs neither the product nor the flag a cycle later.
        half = Signal(half_shape or signed(len(product) + 1), name=f"half_{suffix}")
        m.d.sync += half.eq(Mux(exact, product << 1, product >> shamt))
        if offset:
            return _plus_offset(m, half, term, suffix)
        rounded = Signal.like(half, name=f"rounded_{suffix}")
        m.d.comb += rounded.eq((half + term) >> 1)
        return rounded
    half = Signal.like(product, name=f"half_{suffix}")
    m.d.comb += half.eq(product >> shamt)
    m.d.comb += rounded.eq(Mux(exact, product + offset if offset else product, (half + term) >> 1))
    return rounded


def _plus_offset(m, half, term, suffix):
    rounded = Signal(signed(max(len(half), len(term)) + 2), name=f"rounded_{suffix}")
    m.d.comb += rounded.eq((half + term) >> 1)
    return rounded


def _delayed(m, value, name):
    register = Signal(value.shape(), name=name)
    m.d.sync += register.eq(value)
    return register


def dyadic_bounds(lo, hi, multiplier, shift):
    """Exact ``(min, max)`` of the rescale of every integer in ``[lo, hi]`` (for register widths).

    The rescale is monotonic in ``x`` (``multiplier > 0``), so the extremes
    come from the ends of the range.
    """
    def rescale(x):
        p = x * multiplier
        return p if shift == 0 else ((p >> (shift - 1)) + 1) >> 1
    return rescale(lo), rescale(hi)


def clamp(value, shape):
    """``value`` saturated to the range of ``shape`` (the output type's ``lo``, ``hi``)."""
    lo, hi = shape_range(shape)
    return Mux(value < lo, lo, Mux(value > hi, hi, value))
