"""I-ViT's shift exponential as combinational logic (shared by Shiftmax and ShiftGELU)."""

from amaranth.hdl import Array, Const, Mux, Signal, signed, unsigned

__all__ = ["exp_shift", "exp_shift_bits"]


def exp_shift_bits(x0, n, cap=None):
    """Width of :func:`exp_shift`'s result: at most ``|x0| << n`` (``x <= top``), or ``cap``."""
    return cap.bit_length() if cap is not None else ((-x0) << n).bit_length()


def exp_shift(m, x, top, *, x0, n, name, cap=None):
    """``sw_reference.ivit.exp_shift(x - top, x0, n, cap=cap)`` (DESIGN.md section 3).

    Lines of the contract and their logic::

        d = x - top                        # <= 0 unless cap is given
        t = d + (d >> 1) - (d >> 4)        # two arithmetic shifts, two adders
        t = max(t, n * x0)                 # compare with a constant
        q = t // x0                        # q = kmin - 1 + sum_k [t <= k * x0], k = kmin..n
        r = t - x0 * q                     # a constant table indexed by q, one adder
        return ((r >> 1) - x0) << (n - q)  # a barrel shift by 0..n - kmin + 1

    Without ``cap``, ``x <= top`` so ``q >= 0`` and ``kmin = 1``. With ``cap``
    (ShiftGELU's ``exp_shift(-max(p))``, where ``d`` may be positive and
    ``q`` negative) only shifts below ``bits(cap)`` can give a value under
    ``cap`` (``(r >> 1) - x0 >= 1``), so ``kmin = n - bits(cap) + 1``, a ``t``
    above ``kmin * x0`` means ``cap``, and the result is ``min(value, cap)``:
    exactly the golden model's capped value.

    ``m`` is the Module the comb statements go into, ``x``/``top`` Values;
    ``name`` prefixes the signals. Returns an
    ``unsigned(exp_shift_bits(x0, n, cap))`` Signal, combinational.
    """
    kmin = 1 if cap is None else n - cap.bit_length() + 1
    width = max(len(x), len(top)) + 2
    xs = Signal(signed(width), name=f"{name}_x")      # extend each by its own signedness
    ts = Signal(signed(width), name=f"{name}_top")
    d = Signal(signed(width), name=f"{name}_d")
    t = Signal(signed(width + 2), name=f"{name}_t")
    floor = Const(n * x0)
    tc = Signal(signed(max(width + 2, len(floor))), name=f"{name}_tc")
    count = Signal(range(n - kmin + 2), name=f"{name}_count")     # q - (kmin - 1)
    table = [-x0 * (kmin - 1 + c) for c in range(n - kmin + 2)]
    # Pad to a power of two so the Verilog case statement is complete (verilator -Wall).
    table += table[-1:] * ((1 << len(count)) - len(table))
    r = Signal(signed(max(len(tc), max(abs(v) for v in table).bit_length()) + 2), name=f"{name}_r")
    v = Signal(unsigned((-x0).bit_length()), name=f"{name}_v")
    shift = Signal(range(n - kmin + 2), name=f"{name}_shift")
    e = Signal(unsigned(exp_shift_bits(x0, n, cap)), name=f"{name}_e")
    m.d.comb += [
        xs.eq(x), ts.eq(top), d.eq(xs - ts),
        t.eq(d + (d >> 1) - (d >> 4)),
        tc.eq(Mux(t < floor, floor, t)),
        count.eq(sum((tc <= k * x0).as_unsigned() for k in range(kmin, n + 1)) if n >= kmin else 0),
        r.eq(tc + Array(Const(value, signed(len(r))) for value in table)[count]),
        v.eq((r >> 1) - x0),
        shift.eq(n - (kmin - 1) - count),
    ]
    if cap is None:
        m.d.comb += e.eq(v << shift)
        return e
    wide = Signal(unsigned(len(v) + n - kmin + 1), name=f"{name}_wide")
    m.d.comb += [wide.eq(v << shift),
                 e.eq(Mux((count == 0) | (wide > cap), cap, wide))]
    return e
