"""Wrapping counters shared by the streaming units' loop nests."""

from amaranth.hdl import Const, Mux, Signal

__all__ = ["counter", "loop_nest"]


def counter(m, count, enable, name, step=1, *, registered_last=False):
    """``(value, at_last)`` of a counter over ``range(0, count * step, step)`` that steps when
    ``enable`` (``step`` > 1: an index times a constant stride, with no multiplier).

    With ``registered_last``, ``at_last`` is a flip-flop that steps with the
    counter (set when the value moves to its last), not a comparator after it:
    for a flag that reaches a handshake (a folded engine's ``i.ready``).
    A counter over one value is the constant 0 (no zero-width signal in the Verilog).
    """
    if count == 1:
        return Const(0, 1), Const(1, 1)
    top = (count - 1) * step
    value = Signal(range(top + 1), name=name)
    at_last = Signal(name=f"{name}_last")
    if registered_last:
        with m.If(enable):
            m.d.sync += at_last.eq(~at_last & (value == top - step))
    else:
        m.d.comb += at_last.eq(value == top)
    with m.If(enable):
        m.d.sync += value.eq(Mux(at_last, 0, value + step))
    return value, at_last


def loop_nest(m, loops, enable, *, registered_last=False):
    """Counters of a loop nest, innermost first: ``loops`` is ``[(name, count), ...]``
    (or ``(name, count, step)``: the counter holds index * step, see :func:`counter`).

    Each counter steps when ``enable`` is high and every inner counter is at
    its last value. Returns ``{name: (value, at_last)}`` and the flag "every
    counter at its last value" (the nest wraps on the next step). With
    ``registered_last`` every ``at_last`` is a flip-flop (:func:`counter`).
    """
    counters = {}
    all_last = Const(1, 1)
    for name, count, *step in loops:
        value, at_last = counter(m, count, enable & all_last, name, *step,
                                 registered_last=registered_last)
        counters[name] = value, at_last
        all_last = all_last & at_last
    return counters, all_last
