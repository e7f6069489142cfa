"""Multi-threshold activation: ``y[c] = sum_j [x[c] >= T[c, j]]`` (FINN: Thresholding)."""

import math
import numbers

import numpy as np
from amaranth.hdl import Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import check_int, check_shape
from ._compare import at_least
from ._credit import credit_input
from ._rom import lane_rom, rom_plan

__all__ = ["Thresholding"]


class Thresholding(wiring.Component):
    """Per-channel multi-threshold activation (FINN: Thresholding), ``pe`` channels per beat.

    For every element of channel ``c``::

        y = sum_j [x >= T[c, j]]        j = 0 .. 2**out_bits - 2

    so ``y`` is ``unsigned(out_bits)``. With ``out_bits == 1`` the one bit is
    a binary value (1 = +1, taken when ``x >= T[c, 0]``; 0 = -1), which a
    following binary layer consumes directly (docs/design/numbers.md).

    Channels arrive in order, ``pe`` per beat, ``channels // pe`` beats (folds)
    per vector; a fold counter selects each lane's thresholds, so the stream
    must start at channel 0 (true after reset, and it stays aligned because a
    vector is always whole).

    Thresholds may be any integers. At generation time each one is clamped
    into ``[in_lo, in_hi + 1]`` (the input's range plus one): a threshold
    ``<= in_lo`` is met by every input, as ``in_lo`` is; one ``> in_hi`` is
    met by none, as ``in_hi + 1`` is. So clamping changes no output, keeps
    each row sorted, and makes every comparator at most one bit wider than
    the input. A constant threshold at either limit becomes a constant bit
    (no comparator, and no always-true/false compare for lint to flag).

    Because each row is sorted, the comparison bits ``t_j = [x >= T[c, j]]``
    form a thermometer code (``t_j`` implies ``t_{j-1}``; equal thresholds give
    equal bits). Its count is the ``j + 1`` of the one position where
    ``t_j & ~t_{j+1}``, so ``y`` is OR-encoded from that one-hot edge instead
    of summed by an adder tree.

    Parameters
    ----------
    in_shape : Shape            element type of ``x`` (``unsigned(1)`` for binary, 1 = +1)
    channels : int              channel count ``C`` (FINN ``NumChannels``)
    pe : int                    channels per beat; must divide ``channels``
    thresholds : array of int [C, 2**out_bits - 1] or [1, 2**out_bits - 1]
        sorted ascending per row (equal values allowed); one row means
        per-tensor. A lane whose thresholds are the same in every fold uses
        constants; the others read them from a ROM per lane (``channels //
        pe`` deep, one word per fold holding all ``2**out_bits - 1``
        thresholds of that channel), read synchronously so it maps to
        LUTRAM/BRAM.
    out_bits : int              1 .. 4
    read_register : bool        one more register after each threshold ROM read (for a
                                block RAM's slow output); latency + 1
    encode_stage : bool         register the comparison bits, so the thermometer code is
                                encoded (one output bit: written to the output queue) in a
                                stage of its own; latency + 1
        (both default False; the composer sets them from the delay model and
        ``target.clock_mhz``, see :meth:`retimed`)

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, pe)))
    o : Out(stream.Signature(ArrayLayout(unsigned(out_bits), pe)))

    Latency 2 cycles (threshold read, compare + encode), plus one for each of
    ``read_register`` and ``encode_stage``; one beat per cycle.
    The pipeline never stalls (no register has an enable): a beat is taken
    only when the output queue (:class:`~hwgen.units._credit.CreditQueue`,
    three results) has room for it and every beat in flight, so ``o.ready``
    reaches only the queue's pointer and count, and ``i.ready`` depends on
    the unit's own flip-flops only.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "folds", "rom_bits")

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): PE * thresholds * input bits, 1."""
        return "thresholding", [self._pe * ((1 << self._out_bits) - 1) * self._in_shape.width, 1]

    def __init__(self, *, in_shape, channels, pe=1, thresholds, out_bits, read_register=False,
                 encode_stage=False):
        self._in_shape = check_shape("in_shape", in_shape)
        self._channels = check_int("channels", channels, minimum=1)
        self._pe = check_int("pe", pe, minimum=1)
        if channels % pe:
            raise ValueError(f"pe must divide channels ({channels}), not {pe!r}")
        self._out_bits = check_int("out_bits", out_bits, minimum=1, maximum=4)

        rows = _threshold_rows(thresholds, channels, (1 << self._out_bits) - 1)
        lo, hi = _shape_range(self._in_shape)
        self._thresholds = [[min(max(t, lo), hi + 1) for t in row] for row in rows]
        self._t_shape = _fit_shape(self._thresholds, self._in_shape.signed)
        self._read_register = _check_bool("read_register", read_register)
        self._encode_stage = _check_bool("encode_stage", encode_stage)
        self._threshold_rows = rows

        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, pe))),
            "o": Out(stream.Signature(data.ArrayLayout(unsigned(self._out_bits), pe))),
        })

    in_shape = property(lambda self: self._in_shape)
    channels = property(lambda self: self._channels)
    pe = property(lambda self: self._pe)
    folds = property(lambda self: self._channels // self._pe)
    out_bits = property(lambda self: self._out_bits)
    read_register = property(lambda self: self._read_register)
    encode_stage = property(lambda self: self._encode_stage)
    latency = property(lambda self: 2 + self._read_register + self._encode_stage)
    #: ``i.ready`` comes from the unit's own flip-flops; ``o.ready`` reaches this many
    #: flip-flops (the output queue's pointer and count; see hwgen.network)
    registered_ready = True
    ready_fanout = 4

    @property
    def rom_bits(self):
        """Threshold bits held in ROMs (lanes whose thresholds never change are constants)."""
        count = (1 << self._out_bits) - 1
        bits = 0
        for lane in range(self._pe):
            rows = [tuple(self._thresholds[c]) for c in range(lane, self._channels, self._pe)]
            if len(set(rows)) > 1:
                bits += len(rows) * count * self._t_shape.width
        return bits

    @property
    def thresholds(self):
        """The thresholds as built, ``[channels][2**out_bits - 1]``, clamped to the input range."""
        return [list(row) for row in self._thresholds]

    def elaborate(self, platform):
        m = Module()
        count = (1 << self._out_bits) - 1
        # The pipeline never stalls: its registers move every cycle, and a beat is taken only
        # when the output queue has room for it and everything in flight (credit).
        queue, accept = credit_input(m, self)

        fold = Const(0)                 # one fold: every lane's thresholds are constants
        if self.folds > 1:
            fold = Signal(range(self.folds))
            with m.If(accept):
                m.d.sync += fold.eq(Mux(fold == self.folds - 1, 0, fold + 1))

        # Stage 1: register x; each lane's thresholds come out of its ROM in step. With
        # read_register, both pass one more register (a block RAM's output is slow).
        x1 = Signal.like(self.i.payload)
        m.d.sync += x1.eq(self.i.payload)
        if self._read_register:
            x1 = _delayed(m, x1, "x2")

        lo, hi = _shape_range(self._in_shape)
        word = data.ArrayLayout(self._t_shape, count)
        for lane in range(self._pe):
            rows = self._thresholds[lane::self._pe]
            t = lane_rom(m, f"threshold_rom_{lane}", word, rows, addr=fold, en=Const(1),
                         placed=True)
            if self._read_register and not isinstance(t, data.Const):
                t = _delayed(m, t, f"threshold_{lane}")
            # Next stage: compare against every threshold, encode the thermometer code
            # (into the queue, or through a register of its own with encode_stage).
            above = Signal(count, name=f"above_{lane}")         # bit j: x >= T[j]
            m.d.comb += [above[j].eq(_at_least(x1[lane], t[j], lo, hi)) for j in range(count)]
            if self._encode_stage:
                above = _delayed(m, above, f"above_{lane}_reg")
            edge = Signal(count, name=f"edge_{lane}")           # one-hot at the last set bit
            m.d.comb += edge.eq(above & ~(above >> 1))
            m.d.comb += [queue.w_data[lane][k].eq(_or_bits(edge, k, count))
                         for k in range(self._out_bits)]
        return m

    def stage_delay(self, model):
        """(ns, what, fix) of the slowest register stage by the delay model (hwgen.timing)."""
        read, compare, encode = self._delays(model)
        stages = [(model.stage(compare + (0 if self._encode_stage else encode)
                               + (0 if self._read_register else read)),
                   "threshold " + ("compare" if self._encode_stage else "compare and encode")
                   + ("" if self._read_register or not read else
                      " after a block-RAM read")),
                  (model.stage(encode), "thermometer encode" if self._out_bits > 1
                   else "comparison bit into the output queue")]
        ns, what = max(stages)
        fixes = []
        if read and not self._read_register:
            fixes.append("a register after the threshold ROM (read_register)")
        if encode and not self._encode_stage:
            fixes.append("encode in a stage of its own (encode_stage)")
        return ns, what, "; ".join(fixes) or "a faster speed grade or a lower clock"

    def retimed(self, model, clock_mhz):
        """This unit with the stages that its compare, encode and ROM read need at ``clock_mhz``."""
        budget = model.budget(clock_mhz)
        read, compare, encode = self._delays(model)
        read_register = read > 0 and read + compare + encode > budget
        encode_stage = encode > 0 and compare + encode + (0 if read_register else read) > budget
        if (read_register, encode_stage) == (self._read_register, self._encode_stage):
            return self
        return Thresholding(in_shape=self._in_shape, channels=self._channels, pe=self._pe,
                            thresholds=self._threshold_rows, out_bits=self._out_bits,
                            read_register=read_register, encode_stage=encode_stage)

    def _delays(self, model):
        """ns of (a block-RAM threshold read, or 0; the widest compare; the encode)."""
        count = (1 << self._out_bits) - 1
        width = ((1 << self._out_bits) - 1) * self._t_shape.width
        bram = self.rom_bits and any(style == "block" for _, style in rom_plan(self.folds, width))
        read = model.bram_clk_to_q - model.clk_to_q if bram else 0.0
        compare = model.carry(self._t_shape.width + 1) + model.route(count)
        # edge = above & ~above >> 1, then an OR of up to 2**(out_bits - 1) edge bits per
        # output bit (four per LUT), into the output queue's slots.
        if count == 1:
            # One comparison is the output bit, but its way into the queue is a slot's
            # select by write position and arrival, to each of the slots (tiny_bnn's fc1 at
            # 200 MHz: 6.5 ns from the input register through the compare into slot 0).
            return read, compare, model.luts(2, fanout=4)
        levels = 1 + max(1, math.ceil((self._out_bits - 1) / 2))
        return read, compare, model.luts(levels, fanout=4)


def _delayed(m, value, name):
    """``value`` one cycle later (a register without enable: the pipeline never stalls)."""
    register = Signal(value.shape(), name=name)
    m.d.sync += register.eq(value)
    return register


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def _at_least(x, threshold, lo, hi):
    """``x >= threshold``; a constant threshold at the clamp limits needs no comparator."""
    if isinstance(threshold, int):          # an element of a constant row (data.Const)
        if threshold <= lo:
            return Const(1)
        if threshold > hi:
            return Const(0)
        return x >= threshold
    return at_least(x, threshold)


def _or_bits(edge, k, count):
    """Bit ``k`` of the count whose one-hot edge is ``edge`` (edge[j] set <=> count j + 1)."""
    terms = [edge[j] for j in range(count) if (j + 1) >> k & 1]
    result = terms[0]
    for term in terms[1:]:
        result = result | term
    return result


def _threshold_rows(thresholds, channels, count):
    """``thresholds`` as ``channels`` lists of ``count`` Python ints, each sorted ascending."""
    try:
        array = np.asarray(thresholds)
    except (TypeError, ValueError):
        raise TypeError(f"thresholds must be a 2-D array of integers, not {thresholds!r}") from None
    if array.dtype.kind == "O":
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                   for v in array.reshape(-1)):
            raise TypeError(f"thresholds must hold integers, not {thresholds!r}")
    elif array.dtype.kind not in "iu":
        raise TypeError(f"thresholds must hold integers, not {array.dtype}")
    if array.ndim != 2 or array.shape[1] != count or array.shape[0] not in (1, channels):
        raise ValueError(f"thresholds must have shape [{channels}, {count}] or [1, {count}] "
                         f"(2**out_bits - 1 = {count} per channel), not {list(array.shape)}")
    rows = [[int(v) for v in row] for row in array.tolist()]
    for index, row in enumerate(rows):
        if any(a > b for a, b in zip(row, row[1:])):
            raise ValueError(f"thresholds row {index} must be sorted ascending, not {row}")
    return rows * channels if len(rows) == 1 else rows


def _fit_shape(rows, signed_input):
    """Narrowest shape holding every value, signed like the input."""
    values = [v for row in rows for v in row]
    if signed_input:
        return signed(max((v if v >= 0 else ~v).bit_length() + 1 for v in values))
    return unsigned(max(max(v.bit_length() for v in values), 1))


def _shape_range(shape: Shape):
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1
