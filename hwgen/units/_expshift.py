"""I-ViT's shift exponential as a register pipeline (shared by Shiftmax and ShiftGELU)."""

from amaranth.hdl import Cat, Const, Mux, Signal, signed, unsigned

__all__ = ["EXP_SHIFT_LATENCY", "delay", "exp_shift", "exp_shift_bits", "exp_shift_value"]

#: register stages of :func:`exp_shift` (one more with ``cap``)
EXP_SHIFT_LATENCY = 7


def exp_shift_bits(x0, n, cap=None):
    """Width of :func:`exp_shift`'s result: at most ``|x0| << n`` (``x <= top``), or ``cap``."""
    return cap.bit_length() if cap is not None else ((-x0) << n).bit_length()


def exp_shift_value(d, *, x0, n, cap=None):
    """The shift exponential of one integer ``d`` at elaboration time (the contract's lines,
    as :func:`exp_shift` computes them), for the bounds a unit derives from its input range.

    It is non-decreasing in ``d``: ``t`` is, ``q`` falls as ``t`` rises, and at a step of
    ``q`` the value moves from ``ceil(|x0| / 2) << (n - q)`` to ``|x0| << (n - q - 1)``,
    which is no smaller.
    """
    t = max(d + (d >> 1) - (d >> 4), n * x0)
    q = t // x0
    v = ((t - x0 * q) >> 1) - x0
    k = n - q
    if cap is None:
        return v << k
    return cap if k >= cap.bit_length() else min(v << k, cap)


def delay(m, value, cycles, enable, name, *, reset_less=None):
    """``value`` through ``cycles`` registers that load when ``enable`` is high (``reset_less``:
    True for registers without a reset, for data read only behind a valid flag; None: as
    ``value``'s, a Signal's own, else with a reset)."""
    like = {} if reset_less is None else {"reset_less": reset_less}
    for k in range(cycles):
        reg = Signal.like(value, name=f"{name}_d{k}", **like)
        with m.If(enable):
            m.d.sync += reg.eq(value)
        value = reg
    return value


def _register(m, value, enable, name, shape=None):
    """``value`` in a register without a reset (:func:`exp_shift`'s stages hold data only)."""
    reg = Signal(shape if shape is not None else value.shape(), name=name, reset_less=True)
    with m.If(enable):
        m.d.sync += reg.eq(value)
    return reg


def exp_shift(m, x, top, *, x0, n, name, enable, cap=None, parts=False):
    """``sw_reference.ivit.exp_shift(x - top, x0, n, cap=cap)`` (docs/design/operators.md), pipelined.

    Lines of the contract and the stage that computes each (every stage ends
    in registers that load when ``enable`` is high)::

        d = x - top                        # 1: one subtraction (<= 0 unless cap is given)
        t = d + (d >> 1) - (d >> 4)        # 2: two arithmetic shifts, two adders
        t = max(t, n * x0)                 # 3: t < n * x0 means q = n, r = 0 ...
        q = t // x0                        # 3: ... and the thermometer [t <= k * x0], k = kmin..n
        r = t - x0 * q                     # 4: one-hot select of x0 * q; 5: one adder
        return ((r >> 1) - x0) << (n - q)  # 6: one adder; 7: a barrel shift by 0..n - kmin + 1

    ``q = kmin - 1 + (number of k with t <= k * x0)``: the comparisons form a
    thermometer code since ``k * x0`` falls as ``k`` grows, and ``t <= k * x0``
    holds for every ``k <= n`` exactly when the clamped ``t`` does. Without
    ``cap``, ``x <= top`` so ``q >= 0`` and ``kmin = 1``. With ``cap``
    (ShiftGELU's ``exp_shift(-max(p))``, where ``d`` may be positive and ``q``
    negative) only shifts below ``bits(cap)`` can give a value under ``cap``
    (``(r >> 1) - x0 >= 1``), so ``kmin = n - bits(cap) + 1``, a ``t`` above
    ``kmin * x0`` means ``cap``, and a 7th stage takes ``min(value, cap)``:
    exactly the golden model's capped value.

    ``m`` is the Module the statements go into, ``x``/``top`` Values presented
    with the beat that ``enable`` takes; ``name`` prefixes the signals. The
    registers have no reset (off the fabric-routed reset net): the caller
    reads the result only behind a valid flag of its own, as the row
    pipelines' :class:`~hwgen.units._rowbuffer.RowApply` does.
    Returns an ``unsigned(exp_shift_bits(x0, n, cap))`` Signal valid
    :data:`EXP_SHIFT_LATENCY` (+1 with ``cap``) enabled cycles later; with
    ``parts`` (no ``cap``), ``(e, v, shift)`` where ``e = v << shift``, all
    three valid at that time (``v = (r >> 1) - x0`` has only ``bits(|x0|)`` bits).
    """
    kmin = 1 if cap is None else n - cap.bit_length() + 1
    positions = n - kmin + 2                         # count = 0 .. n - kmin + 1
    width = max(len(x), len(top)) + 2
    xs = Signal(signed(width), name=f"{name}_x")     # extend each by its own signedness
    ts = Signal(signed(width), name=f"{name}_top")
    m.d.comb += [xs.eq(x), ts.eq(top)]
    d = _register(m, xs - ts, enable, f"{name}_d", signed(width))
    t = _register(m, d + (d >> 1) - (d >> 4), enable, f"{name}_t", signed(width + 2))
    floor = n * x0
    # Stage 3: the thermometer, and whether t is clamped (then q = n and r = 0 exactly).
    therm = Signal(max(positions - 1, 1), name=f"{name}_therm")
    if positions > 1:
        with m.If(enable):
            m.d.sync += therm.eq(sum(_at_most(t, k * x0).as_unsigned() << (k - kmin)
                                     for k in range(kmin, n + 1)))
    below = _register(m, _at_most(t, floor - 1), enable, f"{name}_below")
    t3 = _register(m, t, enable, f"{name}_t3")
    # Stage 4: the one-hot position of count (therm is 1 below count, 0 from count on)
    # selects the constants x0 * q and the shift.
    onehot = [(therm[c - 1] if c else Const(1)) & (~therm[c] if c < positions - 1 else Const(1))
              for c in range(positions)]
    table = [-x0 * (kmin - 1 + c) for c in range(positions)]
    r_width = max(len(t3), max(abs(v) for v in table).bit_length()) + 2
    shifts = [n - (kmin - 1) - c for c in range(positions)]
    shift_width = max(max(shifts), 1).bit_length()
    selected = _register(m, _one_hot_select(onehot, table, r_width), enable, f"{name}_sel")
    shift = _register(m, _one_hot_select(onehot, shifts, shift_width), enable,
                      f"{name}_shift", unsigned(shift_width))
    low = _register(m, onehot[0], enable, f"{name}_low")          # count == 0
    t4 = _register(m, t3, enable, f"{name}_t4")
    below4 = _register(m, below, enable, f"{name}_below4")
    # Stage 5: r = t - x0 * q; stage 6: v = (r >> 1) - x0.
    r = _register(m, Mux(below4, 0, t4 + selected.as_signed()), enable, f"{name}_r",
                  signed(r_width))
    shift5 = _register(m, shift, enable, f"{name}_shift5")
    low5 = _register(m, low, enable, f"{name}_low5")
    v = _register(m, (r >> 1) - x0, enable, f"{name}_v", unsigned((-x0).bit_length()))
    shift2 = _register(m, shift5, enable, f"{name}_shift2")
    low = _register(m, low5, enable, f"{name}_low6")
    if cap is None:
        e = _register(m, v << shift2, enable, f"{name}_e", unsigned(exp_shift_bits(x0, n)))
        if parts:
            return (e, _register(m, v, enable, f"{name}_v3"),
                    _register(m, shift2, enable, f"{name}_shift3"))
        return e
    wide = _register(m, v << shift2, enable, f"{name}_wide",
                     unsigned(len(v) + max(shifts)))
    low7 = _register(m, low, enable, f"{name}_low7")
    e = Signal(unsigned(exp_shift_bits(x0, n, cap)), name=f"{name}_e", reset_less=True)
    with m.If(enable):
        m.d.sync += e.eq(_min_const(wide, low7, cap))
    return e


def _at_most(value, constant):
    """``value <= constant`` for a signed ``value``, compared as offset binary (top bit
    flipped): one carry chain, no sign fix-up after it."""
    width = len(value)
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if constant < low:
        return Const(0, 1)
    if constant >= high:
        return Const(1, 1)
    top = 1 << (width - 1)
    return (value.as_unsigned() ^ top) <= ((constant & ((1 << width) - 1)) ^ top)


def _min_const(value, force, cap):
    return Mux(force | (value > cap), cap, value)


def _one_hot_select(onehot, constants, width):
    """``constants[c]`` for the one ``onehot[c]`` that is set, as an AND-OR of constant bits."""
    bits = []
    for bit in range(width):
        terms = [hot for hot, value in zip(onehot, constants) if (value >> bit) & 1]
        bits.append(_or(terms))
    return Cat(*bits)


def _or(terms):
    if not terms:
        return Const(0, 1)
    result = terms[0]
    for term in terms[1:]:
        result = result | term
    return result
