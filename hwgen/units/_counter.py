"""Wrapping counters shared by the streaming units' loop nests."""

from amaranth.hdl import Const, Mux, Signal

__all__ = ["counter", "loop_nest"]


def counter(m, count, enable, name):
    """``(value, at_last)`` of a counter over ``range(count)`` that steps when ``enable``.

    A counter over one value is the constant 0 (no zero-width signal in the Verilog).
    """
    if count == 1:
        return Const(0, 1), Const(1, 1)
    value = Signal(range(count), name=name)
    at_last = Signal(name=f"{name}_last")
    m.d.comb += at_last.eq(value == count - 1)
    with m.If(enable):
        m.d.sync += value.eq(Mux(at_last, 0, value + 1))
    return value, at_last


def loop_nest(m, loops, enable):
    """Counters of a loop nest, innermost first: ``loops`` is ``[(name, count), ...]``.

    Each counter steps when ``enable`` is high and every inner counter is at
    its last value. Returns ``{name: (value, at_last)}`` and the flag "every
    counter at its last value" (the nest wraps on the next step).
    """
    counters = {}
    all_last = Const(1, 1)
    for name, count in loops:
        value, at_last = counter(m, count, enable & all_last, name)
        counters[name] = value, at_last
        all_last = all_last & at_last
    return counters, all_last
