"""I-ViT's shift exponential as combinational logic (shared by Shiftmax and ShiftGELU)."""

from amaranth.hdl import Array, Const, Mux, Signal, signed, unsigned

__all__ = ["exp_shift", "exp_shift_bits"]


def exp_shift_bits(x0, n):
    """Width of :func:`exp_shift`'s result: it is at most ``|x0| << n``."""
    return ((-x0) << n).bit_length()


def exp_shift(m, x, top, *, x0, n, name):
    """``sw_reference.ivit.exp_shift(x - top, x0, n)`` for ``x <= top`` (DESIGN.md section 3).

    Lines of the contract and their logic::

        d = x - top                        # <= 0
        t = d + (d >> 1) - (d >> 4)        # two arithmetic shifts, two adders
        t = max(t, n * x0)                 # compare with a constant
        q = t // x0                        # 0..n: q = sum_k [t <= k * x0], n constant compares
        r = t - x0 * q                     # a constant table indexed by q, one adder
        return ((r >> 1) - x0) << (n - q)  # a barrel shift by 0..n

    ``m`` is the Module the comb statements go into, ``x``/``top`` Values of
    the same shape; ``name`` prefixes the signals. Returns an
    ``unsigned(exp_shift_bits(x0, n))`` Signal, combinational.
    """
    width = max(len(x), len(top)) + 2
    xs = Signal(signed(width), name=f"{name}_x")      # extend each by its own signedness
    ts = Signal(signed(width), name=f"{name}_top")
    d = Signal(signed(width), name=f"{name}_d")
    t = Signal(signed(width + 2), name=f"{name}_t")
    tc = Signal(signed(max(width + 2, (n * x0).bit_length() + 1)), name=f"{name}_tc")
    q = Signal(range(n + 1), name=f"{name}_q")
    r = Signal(signed((-x0).bit_length() + 1), name=f"{name}_r")
    v = Signal(unsigned((-x0).bit_length()), name=f"{name}_v")
    shift = Signal(range(n + 1), name=f"{name}_shift")
    e = Signal(unsigned(exp_shift_bits(x0, n)), name=f"{name}_e")
    floor = Const(n * x0, signed(len(tc)))
    m.d.comb += [
        xs.eq(x), ts.eq(top), d.eq(xs - ts),
        t.eq(d + (d >> 1) - (d >> 4)),
        tc.eq(Mux(t < floor, floor, t)),
        q.eq(sum((tc <= k * x0).as_unsigned() for k in range(1, n + 1)) if n else 0),
        r.eq(tc + Array(Const(-x0 * k, unsigned((-x0 * max(n, 1)).bit_length()))
                        for k in range(n + 1))[q]),
        v.eq((r >> 1) - x0),
        shift.eq(n - q),
        e.eq(v << shift),
    ]
    return e
