"""Two-row buffer shared by the row-wise I-ViT units (Shiftmax, ShiftGELU, LayerNorm).

The front end writes a row into the free half while folding each beat into a
per-row value (max or sum); the back end reads the other half, as often as it
likes, and frees it. ``full[b]`` says half ``b`` holds a row not yet freed.
"""

from amaranth.hdl import Mux, Signal
from amaranth.lib import data
from amaranth.lib.memory import Memory

__all__ = ["RowBuffer", "request_division", "running_max"]


class RowBuffer:
    """Plain elaboration helper (not a component): build with :meth:`add` inside ``elaborate``.

    Attributes after :meth:`add`: ``full`` (2 bits), ``row_value`` (the
    reduced value of the row in the read half), ``read_bank``, ``rd`` (the
    read port: ``rd.data`` is the beat issued on the last ``advance``),
    ``issuing`` (a pass is under way), ``issue`` (a beat is read this cycle).
    """

    def __init__(self, *, shape, simd, folds):
        self._shape, self._simd, self._folds = shape, simd, folds

    def add(self, m, i, *, value_shape, reduce, advance):
        """Add memory, front end (``i`` is the unit's input stream) and read address logic.

        ``reduce(running, beat, first)`` returns the row value after ``beat``
        (``first``: the beat starts a row). ``advance`` enables the read port.
        """
        folds = self._folds
        buf = Memory(shape=data.ArrayLayout(self._shape, self._simd), depth=2 * folds, init=[])
        m.submodules.buffer = buf
        wr, self.rd = buf.write_port(), buf.read_port(domain="sync")
        self.full = Signal(2)
        values = [Signal(value_shape, name=f"row_value_{b}") for b in range(2)]

        # Front end: fill the free half.
        bank, addr, running = Signal(), Signal(range(folds)), Signal(value_shape)
        accept = i.valid & i.ready
        m.d.comb += i.ready.eq(~self.full.bit_select(bank, 1))
        new = reduce(running, i.payload, addr == 0)
        m.d.comb += [wr.addr.eq(bank * folds + addr), wr.data.eq(i.payload), wr.en.eq(accept)]
        with m.If(accept):
            m.d.sync += running.eq(new)
            with m.If(addr == folds - 1):
                m.d.sync += [addr.eq(0), bank.eq(~bank), self.full.bit_select(bank, 1).eq(1)]
                for b, value in enumerate(values):
                    with m.If(bank == b):
                        m.d.sync += value.eq(new)
            with m.Else():
                m.d.sync += addr.eq(addr + 1)

        # Back end: read passes over the other half.
        self.read_bank, raddr, self.issuing = Signal(), Signal(range(folds)), Signal()
        self.row_value = Mux(self.read_bank, values[1], values[0])
        self.issue = self.issuing & advance
        self.read_addr = raddr
        m.d.comb += [self.rd.addr.eq(self.read_bank * folds + raddr), self.rd.en.eq(advance)]
        with m.If(self.issue):
            m.d.sync += raddr.eq(Mux(raddr == folds - 1, 0, raddr + 1))
            with m.If(raddr == folds - 1):
                m.d.sync += self.issuing.eq(0)

    @property
    def ready(self):
        """The read half holds a row."""
        return self.full.bit_select(self.read_bank, 1)

    def start_pass(self):
        """Statements that start a pass over the read half."""
        return self.issuing.eq(1)

    def release(self):
        """Statements that free the read half and move to the other one."""
        return [self.full.bit_select(self.read_bank, 1).eq(0), self.read_bank.eq(~self.read_bank)]


def request_division(m, divider, sent, dividend, divisor):
    """Present one division to an iterative ``divider``; returns the result's ``valid``.

    ``sent`` (a 1-bit register of the caller) remembers that the divider took
    the operands, so they are offered once; call it under the caller's
    ``m.If`` of the phase that divides, and take ``divider.o.payload`` in the
    cycle the returned Value is high.
    """
    m.d.comb += [divider.i.valid.eq(~sent), divider.i.payload.dividend.eq(dividend),
                 divider.i.payload.divisor.eq(divisor), divider.o.ready.eq(1)]
    with m.If(divider.i.ready):
        m.d.sync += sent.eq(1)
    with m.If(divider.o.valid):
        m.d.sync += sent.eq(0)
    return divider.o.valid


def running_max(running, beat, first):
    """A ``reduce`` for :meth:`RowBuffer.add`: the row's maximum so far."""
    beat_max = _max_tree([beat[lane] for lane in range(beat.shape().length)])
    return Mux(first | (beat_max > running), beat_max, running)


def _max_tree(values):
    if len(values) == 1:
        return values[0]
    half = len(values) // 2
    low, high = _max_tree(values[:half]), _max_tree(values[half:])
    return Mux(high > low, high, low)
