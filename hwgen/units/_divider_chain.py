"""Long division in chunks of quotient bits: iterative dividers in a line, one per chunk."""

from amaranth.hdl import Cat, Const, Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .divider import Divider

__all__ = ["DividerChain", "per_row_divider"]


def per_row_divider(folds, **divider):
    """A divider (``Divider``'s parameters) that takes a division every ``folds`` cycles.

    One iterative :class:`~hwgen.units.divider.Divider` when it is fast enough
    (``quotient_bits + 2 <= folds``), else a :class:`DividerChain` of chunks
    of ``folds - 2`` quotient bits, else (``folds <= 2``) the pipelined divider.
    """
    quotient_bits = divider.get("quotient_bits") or divider["dividend_bits"]
    if quotient_bits + 2 <= folds:               # Divider.interval, iterative
        return Divider(**divider)
    if folds <= 2:
        return Divider(**divider, pipelined=True)
    return DividerChain(**divider, chunk=folds - 2)


class DividerChain(wiring.Component):
    """``q = a // b``, ``r = a % b`` as :class:`~hwgen.units.divider.Divider` computes them,
    by long division in chunks of at most ``chunk`` quotient bits, one iterative divider each.

    The quotient bits are shared out as evenly as the fewest dividers allow
    (25 bits, ``chunk = 14``: two dividers of 13 and 12).

    The first divider divides the top bits of ``a`` (``a >> l`` for the
    ``l`` quotient bits the later chunks find) and each later one the
    remainder before it followed by the next ``c`` bits of ``a``: ``r < b``,
    so ``(r << c) | bits < b << c`` and ``c`` quotient bits suffice. The
    quotient found so far, the divisor and (for a variable ``a``) its bits not
    yet brought down travel with each division as the divider's tag. The
    dividers sit in a line, each taking a new division while the next works on
    the one before: no dispatch over copies.

    Parameters as :class:`~hwgen.units.divider.Divider`'s (no ``pipelined``,
    no ``tag_shape``), and ``chunk``: quotient bits per divider (>= 1).

    Members as :class:`~hwgen.units.divider.Divider`'s. Latency
    :attr:`latency` (each divider ``c + 1`` cycles, taken by the next in the
    cycle its result appears); a division every :attr:`interval` cycles.
    """

    def __init__(self, *, dividend_bits, divisor_bits, quotient_bits=None, dividend=None,
                 chunk):
        # A Divider checks the parameters and provides the ports; it is never elaborated.
        self._whole = Divider(dividend_bits=dividend_bits, divisor_bits=divisor_bits,
                              quotient_bits=quotient_bits, dividend=dividend)
        self._whole._MustUse__silence = True
        if not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be an int >= 1, not {chunk!r}")
        q = self._whole.quotient_bits
        count = -(-q // chunk)                   # as few dividers as chunk allows, even sizes
        self._chunks = [q // count + (k < q % count) for k in range(count)]
        super().__init__({"i": In(stream.Signature(self._whole.i.payload.shape())),
                          "o": Out(stream.Signature(self._whole.o.payload.shape()))})

    chunks = property(lambda self: list(self._chunks))
    quotient_bits = property(lambda self: self._whole.quotient_bits)
    latency = property(lambda self: sum(c + 1 for c in self._chunks))
    interval = property(lambda self: max(c + 2 for c in self._chunks))

    def elaborate(self, platform):
        m = Module()
        whole = self._whole
        constant = whole.dividend
        divisor_bits, q = whole.divisor_bits, whole.quotient_bits
        a = None if constant is not None else self.i.payload.dividend
        valid, ready = self.i.valid, self.i.ready
        divisor, found, low, rem = self.i.payload.divisor, None, a, None
        done = 0
        for index, c in enumerate(self._chunks):
            below = q - done - c                     # quotient bits the later chunks find
            fields = {"divisor": unsigned(divisor_bits)}
            if done:
                fields["found"] = unsigned(done)
            if a is not None and below:
                fields["low"] = unsigned(below)
            if index == 0 and constant is not None:
                top = constant >> below
                unit = Divider(dividend_bits=max(top.bit_length(), c, 1),
                               divisor_bits=divisor_bits, quotient_bits=c, dividend=top,
                               tag_shape=data.StructLayout(fields))
            else:
                unit = Divider(dividend_bits=(whole.dividend_bits - below if index == 0
                                              else divisor_bits + c),
                               divisor_bits=divisor_bits, quotient_bits=c,
                               tag_shape=data.StructLayout(fields))
                if index == 0:
                    operand = a >> below
                else:
                    brought = (low >> below)[:c] if a is not None else \
                        Const((constant >> below) & ((1 << c) - 1), c)
                    operand = Cat(brought, rem)
                m.d.comb += unit.i.payload.dividend.eq(operand)
            m.submodules[f"chunk_{index}"] = unit
            tag = unit.i.payload.tag
            m.d.comb += [unit.i.valid.eq(valid), ready.eq(unit.i.ready),
                         unit.i.payload.divisor.eq(divisor), tag.divisor.eq(divisor)]
            if done:
                m.d.comb += tag.found.eq(found)
            if "low" in fields:
                m.d.comb += tag.low.eq(low)
            result = unit.o.payload
            done += c
            found = Cat(result.quotient, result.tag.found) if "found" in fields \
                else result.quotient
            divisor, rem = result.tag.divisor, result.remainder
            low = result.tag.low if "low" in fields else None
            valid, ready = unit.o.valid, unit.o.ready
        m.d.comb += [self.o.valid.eq(valid), ready.eq(self.o.ready),
                     self.o.payload.quotient.eq(found), self.o.payload.remainder.eq(rem)]
        return m
