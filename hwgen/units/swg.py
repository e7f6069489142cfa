"""Sliding-window generator (FINN: ConvolutionInputGenerator): im2col of an HWC stream."""

import numpy as np
from amaranth.hdl import Array, Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._checks import check_feature_map, check_int, shape_range
from ._counter import counter, loop_nest
from ._feature_map import FeatureMapGeometry

__all__ = ["ConvolutionInputGenerator", "window_weights"]


class ConvolutionInputGenerator(FeatureMapGeometry, wiring.Component):
    """Sliding-window generator (FINN: ConvolutionInputGenerator / SWG).

    Takes one feature map ``x`` [C, H, W] per sample as an HWC stream
    (pixel by pixel, channels innermost, ``simd`` channels per beat) and
    emits, for every output pixel ``(oy, ox)`` in row-major order, the
    ``k x k x C`` window of the padded input, the order an MVAU consumes::

        for oy < OH, ox < OW, ky < k, kx < k, cf < C / simd:
            beat = xp[cf*simd : (cf+1)*simd, oy*stride + ky, ox*stride + kx]

    where ``xp`` is ``x`` with ``padding`` rows/columns of ``pad_value`` on
    every side and ``OH = (H + 2*padding - k) // stride + 1`` (``OW`` alike).
    So window element ``(ky, kx, c)`` is column ``(ky*k + kx)*C + c`` of the
    MVAU (MW = k*k*C): the MVAU weight matrix is the torch weight
    [OC, C, k, k] permuted to [OC, k, k, C] and reshaped to [OC, k*k*C].
    Rows/columns of the padded input that no window reaches (when ``stride``
    does not divide ``H + 2*padding - k``) are read and dropped, as PyTorch does.

    Line buffer: ``R`` input rows (``R`` the power of two at or above
    ``2*k + stride``) in one ``amaranth.lib.memory.Memory`` of ``R*W*C/simd``
    words of ``simd`` elements (``buffer_depth``; LUT RAM, since Yosys maps
    block RAM without its output register), written in stream order (so the
    write address is one wrapping counter). Input row ``r`` of image ``n``
    lives in slot ``(n*H + r) % R``. The read address is a register that moves
    by one of five constants modulo the depth as the loop counters step (the
    next channel fold or column, the window's next row, the next window, the
    next output row, the next image), the step itself a register picked a beat
    ahead, and whether the beat is padding is the
    OR of two flip-flops (row and column) loaded from equality tests and from
    tables indexed by the output row and column counters, so no multiply, add
    or magnitude comparison lies between a counter and the read port or the
    output register. Two row counts keep writer and reader apart:
    ``ahead`` is the number of complete rows counted from the reader's
    image's row 0 (negative while the writer still owes rows of that image,
    above ``H`` once it writes the next image); the reader issues a beat of
    output row ``oy`` only when ``ahead >= min(oy*stride - padding + k, H)``
    and the writer accepts a beat only while ``ahead < min(max(0, oy*stride -
    padding), H) + R``, i.e. into a slot no window of the current or a later
    output row needs. Padding never enters the buffer: a window element
    outside the input is replaced by ``pad_value`` at the output. With
    ``R >= 2*k + stride`` the writer fills the next output row's rows (and at
    the end of an image the next image's first ``k`` rows) while the reader
    works, so the output does not wait for input that is already offered.

    Parameters
    ----------
    in_shape : Shape        element shape (``unsigned(1)`` for binary, bit 1 = +1)
    channels : int          ``C`` (FINN ``IFMChannels``)
    height, width : int     ``H``, ``W`` (FINN ``IFMDim``)
    kernel : int            ``k`` (FINN ``ConvKernelDim``), square
    stride : int            FINN ``Stride``
    padding : int           rows/columns of ``pad_value`` on every side
    pad_value : int         an element value of ``in_shape`` (its raw bits for
                            binary: 0 means -1, as ``sw_reference.ops.binary_conv2d`` pads)
    simd : int              channels per beat (FINN ``SIMD``); must divide ``channels``
    zero_pad_binary : bool  binary input (``in_shape`` 1 bit, bit 1 = +1) whose windows
                            are padded with 0 (default False): the output elements are
                            ``signed(2)``, -1/+1 from the input and 0 for padding. An
                            integer convolution of a binary feature map pads with zero,
                            which one bit cannot carry; the line buffer still holds one
                            bit per element. ``pad_value`` must be 0.

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, simd)))
        ``H*W*C/simd`` beats per sample.
    o : Out(stream.Signature(ArrayLayout(out_shape, simd)))
        ``OH*OW*k*k*C/simd`` beats per sample (``out_beats``); ``out_shape`` is
        ``in_shape``, or ``signed(2)`` with ``zero_pad_binary``.

    Latency: the first beat of a sample leaves 2 cycles after input row
    ``k - padding - 1`` is complete (or at once when that row is above the
    input); one output beat per cycle while the consumer takes them. The
    output register is the buffer's synchronous read port, enabled only when
    ``o.ready | ~o.valid``, so a stalled beat stays stable. ``i.ready``
    depends on registers only.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("cf", "buffer_rows")

    #: (resource model of :mod:`hwgen.plan`, features) or None: no model covers it yet
    resource_features = None
    #: LUT levels from ``i.payload`` to a register (hwgen.network): the beat is the line
    #: buffer's write data, no logic, but the wire into a LUT RAM's write slice counts as
    #: one. int4_cnn at 200 MHz (seeds 1-3) had the converter in front's read rotator, 4 LUT
    #: levels, then 1.05-1.13 ns into conv2's buffer: 4.98-5.16 ns, where the model counts
    #: the 4 levels alone as 3.12 (budget 3.755).
    input_levels = 1

    def __init__(self, *, in_shape, channels, height, width, kernel, stride=1, padding=0,
                 pad_value=0, simd=1, zero_pad_binary=False):
        (self._in_shape, self._channels, self._height, self._width, self._kernel,
         self._simd) = check_feature_map(in_shape=in_shape, channels=channels, height=height,
                                         width=width, kernel=kernel, lanes_name="simd", lanes=simd)
        self._stride = check_int("stride", stride, minimum=1)
        self._padding = check_int("padding", padding, minimum=0)
        for name, size in (("height", self._height), ("width", self._width)):
            if self._kernel > size + 2 * self._padding:
                raise ValueError(f"kernel must be at most the padded {name} "
                                 f"({size} + 2*{self._padding}), not {kernel!r}")
        self._pad_value = check_int("pad_value", pad_value)
        lo, hi = shape_range(self._in_shape)
        if not lo <= self._pad_value <= hi:
            raise ValueError(f"pad_value must be in [{lo}, {hi}] (an element of {self._in_shape}), "
                             f"not {pad_value!r}")
        if not isinstance(zero_pad_binary, bool):
            raise TypeError(f"zero_pad_binary must be True or False, not {zero_pad_binary!r}")
        if zero_pad_binary and (Shape.cast(self._in_shape) != unsigned(1) or self._pad_value):
            raise ValueError(f"zero_pad_binary needs a binary in_shape (unsigned(1)) and "
                             f"pad_value 0, not {self._in_shape} and {pad_value!r}")
        self._zero_pad_binary = zero_pad_binary
        self._rows = 1 << (2 * self._kernel + self._stride - 1).bit_length()

        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, self._simd))),
            "o": Out(stream.Signature(data.ArrayLayout(self.out_shape, self._simd))),
        })

    stride = property(lambda self: self._stride)
    padding = property(lambda self: self._padding)
    pad_value = property(lambda self: self._pad_value)
    zero_pad_binary = property(lambda self: self._zero_pad_binary)
    #: element shape of the output windows
    out_shape = property(lambda self: signed(2) if self._zero_pad_binary else self._in_shape)
    simd = property(lambda self: self._simd)
    #: beats per pixel (FINN's channel fold)
    cf = property(lambda self: self._channels // self._simd)
    out_height = property(lambda self: (self._height + 2 * self._padding - self._kernel)
                          // self._stride + 1)
    out_width = property(lambda self: (self._width + 2 * self._padding - self._kernel)
                         // self._stride + 1)
    #: input rows the line buffer holds
    buffer_rows = property(lambda self: self._rows)
    #: words of the line buffer (``buffer_rows`` rows of ``W*C/simd`` beats)
    buffer_depth = property(lambda self: self._rows * self._width * self.cf)
    in_beats = property(lambda self: self._height * self._width * self.cf)
    out_beats = property(lambda self: self.out_height * self.out_width * self._kernel ** 2 * self.cf)
    #: elements per sample on the output stream (k*k*C per output pixel)
    out_elements = property(lambda self: self.out_beats * self._simd)

    def _row_steps(self):
        """Per output row ``oy``: ``need`` (input rows a window of the row reaches, ``min(oy*
        stride - padding + k, H)``), ``freed`` (rows no window of it or a later row needs,
        ``oy*stride - padding`` within ``[0, H]``), and how ``slack`` and ``room`` move when
        the reader leaves the row (to the next row, or from the last to the next image's
        first, where ``ahead`` drops by ``H``)."""
        k, s, p, h = self._kernel, self._stride, self._padding, self._height
        rows = range(self.out_height)
        need = [min(oy * s - p + k, h) for oy in rows]
        # Clamped to H too: the last output rows may start below the image (padding > k), and
        # no more than its H rows can be freed, or the writer would count slots the next
        # image still needs as free and overwrite them.
        freed = [min(max(oy * s - p, 0), h) for oy in rows]
        last = self.out_height - 1
        slack_steps = [need[oy] - need[oy + 1] if oy < last else need[last] - need[0] - h
                       for oy in rows]
        room_steps = [freed[oy + 1] - freed[oy] if oy < last else freed[0] - freed[last] + h
                      for oy in rows]
        return need, freed, slack_steps, room_steps

    def _address_steps(self):
        """How the read address moves (modulo the buffer's depth) when the reader issues a
        beat, by where in the loop nest it is: ``beat`` to the next channel fold or window
        column, ``window_row`` to the window's next row, ``window`` to the next output
        column's window, ``out_row`` to the next output row's first window, ``image`` to the
        next image's first window (whose row 0 lives ``H`` slots on)."""
        k, s, p, h, cf = self._kernel, self._stride, self._padding, self._height, self.cf
        row_beats = self._width * cf
        back = k * cf - 1                            # a window row's last beat -> its first
        to_first = ((self.out_width - 1) * s + k) * cf - 1  # a row's last window -> column -p
        last_row0 = (self.out_height - 1) * s - p
        steps = dict(beat=1, window_row=row_beats - back,
                     window=-(k - 1) * row_beats + s * cf - back,
                     out_row=(s - k + 1) * row_beats - to_first,
                     image=(h - p - last_row0 - k + 1) * row_beats - to_first)
        return {name: step % self.buffer_depth for name, step in steps.items()}

    def elaborate(self, platform):
        m = Module()
        k, h, cf = self._kernel, self._height, self.cf
        rows, row_beats = self._rows, self._width * self.cf
        word = unsigned(self._simd * self._in_shape.width)
        # LUT RAM whatever its depth: Yosys maps a block RAM without its output register,
        # whose clock-to-output (4.4 ns) into the next unit's write was cnv_ci at 200 MHz
        # once the read address was a register (conv1's buffer -> a FIFO's LUTRAM, 6.68 ns).
        m.submodules.buffer = buffer = Memory(shape=word, depth=self.buffer_depth, init=[],
                                              attrs={"ram_style": "distributed"})
        write, read = buffer.write_port(), buffer.read_port(domain="sync")

        # Row bookkeeping shared by both sides (see the class docstring), kept as two
        # differences so that neither side compares: slack = ahead - need(oy) (the reader may
        # issue while slack >= 0) and room = freed(oy) + rows - 1 - ahead (the writer may
        # accept while room >= 0). Each moves by the writer's completed rows and, when the
        # reader leaves output row oy, by a per-row constant (_row_steps); a sign bit then
        # gates each side, and no adder lies between a register and the other side's enable.
        need, freed, slack_steps, room_steps = self._row_steps()
        bound = 2 * h + rows + 4
        slack = Signal(range(-bound, bound), init=-need[0], name="slack")
        room = Signal(range(-bound, bound), init=freed[0] + rows - 1, name="room")

        # Writer: stream order into a wrapping address; a row is complete at its last beat.
        accept = Signal()
        m.d.comb += [self.i.ready.eq(room >= 0),
                     accept.eq(self.i.valid & self.i.ready)]
        waddr, _ = counter(m, self.buffer_depth, accept, "waddr")
        _, row_done = counter(m, row_beats, accept, "wbeat")
        m.d.comb += [write.addr.eq(waddr), write.data.eq(self.i.payload.as_value()),
                     write.en.eq(accept)]

        # Reader: the loop nest of the output order; the output register is the read port.
        advance, issue = Signal(), Signal()
        m.d.comb += [advance.eq(self.o.ready | ~self.o.valid),
                     issue.eq(advance & (slack >= 0))]
        # The loops' last flags are flip-flops: they gate the row bookkeeping's step, and as
        # comparators after the counters they were most of int4_cnn's conv1 at 200 MHz
        # (ky -> its compare -> window_done -> leave_row -> slack's adder, 9 levels, 4.99 ns).
        loops, image_done = loop_nest(m, [("cf", cf), ("kx", k), ("ky", k),
                                          ("ox", self.out_width), ("oy", self.out_height)], issue,
                                      registered_last=True)
        oy = loops["oy"][0]
        last = dict(column=loops["cf"][1] & loops["kx"][1])  # the window row's last beat
        last.update(window=last["column"] & loops["ky"][1], row=loops["ox"][1],
                    image=image_done)

        leave_row = Signal()
        m.d.comb += leave_row.eq(issue & last["window"] & last["row"])
        row_written = accept & row_done
        self._count_rows(m, slack, slack_steps, 1, oy, leave_row, row_written)
        self._count_rows(m, room, room_steps, -1, oy, leave_row, row_written)

        # The read address and the pad flags are registers that step with the loop counters,
        # so no adder, multiplier or comparator lies between a counter and the buffer's read
        # port or the output register: computed from iy and ix in the cycle of the read, the
        # address was cnv_ci's conv2 at 200 MHz (iy -> slot -> slot * W*C/simd in a DSP tile
        # -> + ix*cf + c -> the buffer -> the output register, 8 levels, 11.08 ns).
        m.d.comb += [read.addr.eq(self._read_address(m, issue, self._next_last(loops))),
                     read.en.eq(advance)]
        pad = self._pad(m, issue & loops["cf"][1], loops["kx"][1], last, loops["ox"][0], oy)
        out_valid, out_pad = Signal(), Signal()
        with m.If(advance):
            m.d.sync += [out_valid.eq(issue), out_pad.eq(pad)]
        m.d.comb += self.o.valid.eq(out_valid)
        if self._zero_pad_binary:
            for lane in range(self._simd):      # bit 1 -> +1, bit 0 -> -1, padding -> 0
                m.d.comb += self.o.payload[lane].eq(
                    Mux(out_pad, 0, Mux(read.data[lane], 1, -1)))
        else:
            pad_word = Const(self._pad_value, self._in_shape).replicate(self._simd)
            m.d.comb += self.o.payload.as_value().eq(Mux(out_pad, pad_word, read.data))
        return m

    def _count_rows(self, m, value, steps, written, oy, leave_row, row_written):
        """Row bookkeeping: ``value`` (slack or room) moves by ``written`` when the writer
        completes a row (``row_written``) and by ``steps[oy]`` when the reader leaves output
        row ``oy`` (``leave_row``). The step of the row being left (alone and with
        ``written``) is loaded into registers when the reader enters it, and the four sums
        of registers are side by side, so the late conditions (``o.ready`` through
        ``leave_row``, ``i.valid`` through ``row_written``) pick one after the adders:
        int4_cnn's conv1 at 200 MHz (seed 3) had ``o.ready`` -> ``leave_row`` -> the step's
        multiplexer -> slack's carry chain, 5.04 ns."""
        # Indexed by oy: row oy's successor's steps; the table fills every value of oy's
        # bits (the spare ones repeat row 0), so the Verilog case is complete (lint).
        following = [(n + 1) % self.out_height if n < self.out_height else 0
                     for n in range(1 << len(oy))]
        step, step_written = (Signal.like(value, init=steps[0] + extra,
                                          name=f"{value.name}_step{suffix}")
                              for extra, suffix in ((0, ""), (written, "_written")))
        with m.If(leave_row):
            m.d.sync += [register.eq(Array(Const(steps[n] + extra, value.shape())
                                           for n in following)[oy])
                         for register, extra in ((step, 0), (step_written, written))]
        m.d.sync += value.eq(Mux(leave_row, Mux(row_written, value + step_written, value + step),
                                 Mux(row_written, value + written, value)))

    def _next_last(self, loops):
        """The loops' last flags as they will be once the reader issues its next beat (the
        next state of each registered flag when its counter steps, the flag itself when it
        does not), from registers only: ``{name: flag}`` for ``column``, ``window``, ``row``
        and ``image``, as ``last`` in :meth:`elaborate`."""
        nxt, inner_last = {}, Const(1, 1)
        for name, count in (("cf", self.cf), ("kx", self._kernel), ("ky", self._kernel),
                            ("ox", self.out_width), ("oy", self.out_height)):
            value, at_last = loops[name]
            if count == 1:
                nxt[name] = Const(1, 1)
            else:
                nxt[name] = Mux(inner_last, ~at_last & (value == count - 2), at_last)
            inner_last = inner_last & at_last
        column = nxt["cf"] & nxt["kx"]
        return dict(column=column, window=column & nxt["ky"], row=nxt["ox"],
                    image=column & nxt["ky"] & nxt["ox"] & nxt["oy"])

    def _read_address(self, m, issue, next_last):
        """The read address of the beat the reader issues next, a register that moves by
        one of :meth:`_address_steps` when ``issue``: ``((n*H + iy) mod R) * W*C/simd +
        ix*C/simd + c`` for image ``n``, i.e. the slot of input row ``iy`` (any value where
        the window element is padding).

        The step is a register too, loaded when the reader issues with the step of the beat
        after it, picked by the loops' last flags as they will be then (``next_last``, see
        :meth:`_next_last`): picked in the cycle of the step by the registered flags, the
        five steps met the carry chain in one cone, cnv_ci's conv3 at 200 MHz (seed 2:
        ``kx_last`` -> ``raddr``, 9 levels, 5.28 ns). Modulo a depth that is not a power of
        two, the step less the depth is a third register; the address plus each is summed
        side by side and the sign of the second picks: a carry chain and one multiplexer
        between registers."""
        depth, p, cf = self.buffer_depth, self._padding, self.cf
        steps = self._address_steps()

        def pick(last, offset, mux=Mux):
            return mux(last["window"],
                       mux(last["row"], mux(last["image"], steps["image"] + offset,
                                            steps["out_row"] + offset),
                           steps["window"] + offset),
                       mux(last["column"], steps["window_row"] + offset, steps["beat"] + offset))

        # The first beat's flags: a loop over one value is at its last from the start.
        first = dict(column=cf == 1 and self._kernel == 1)
        first.update(window=first["column"] and self._kernel == 1,
                     row=self.out_width == 1,
                     image=first["column"] and self._kernel == 1 and self.out_width == 1
                     and self.out_height == 1)

        def choose(sel, a, b):                # pick's multiplexer on Python flags
            return a if sel else b

        address = Signal(range(depth), init=-p * (self._width * cf + cf) % depth, name="raddr")
        step = Signal.like(address, init=pick(first, 0, choose), name="raddr_step")
        with m.If(issue):
            m.d.sync += step.eq(pick(next_last, 0))
        if depth & (depth - 1) == 0:         # a power of two wraps by itself
            with m.If(issue):
                m.d.sync += address.eq(address + step)
            return address
        below = Signal(range(-depth, depth), init=pick(first, -depth, choose),
                       name="raddr_below")                            # step - depth
        wrapped = Signal(range(-depth, depth), name="raddr_wrapped")
        m.d.comb += wrapped.eq(address + below)
        with m.If(issue):
            m.d.sync += [below.eq(pick(next_last, -depth)),
                         address.eq(Mux(wrapped < 0, address + step, wrapped))]
        return address

    def _pad(self, m, enable, kx_last, last, ox, oy):
        """Whether the beat the reader issues next is padding: the OR of two flip-flops,
        whether input row ``iy`` and whether input column ``ix`` lie outside the input.
        Both load (``enable``: the reader leaves a window column) without a magnitude
        comparison: a step of one into or out of the input is an equality test of ``iy`` or
        ``ix``, and a window's first row or column (``oy*stride - padding``, ``ox*stride -
        padding``: where the window starts, or the next one) a table indexed by the output
        row or column counter. Without padding no beat is."""
        s, p, h, w = self._stride, self._padding, self._height, self._width
        if not p:
            return Const(0, 1)

        def starts(counter, count, size, shape, step):
            """Tables indexed by ``counter``: the first row or column of output row or
            column ``counter + step`` (wrapping at ``count``) and whether it is padding."""
            firsts = [((n + step) % count if n < count else 0) * s - p
                      for n in range(1 << len(counter))]
            return (Array(Const(first, shape) for first in firsts)[counter],
                    Array(Const(not 0 <= first < size, 1) for first in firsts)[counter])

        def step_one(value, flag, size):           # value + 1's flag, from value's
            return Mux(value == -1, 0, Mux(value == size - 1, 1, flag))

        iy = Signal(range(-p, (self.out_height - 1) * s - p + self._kernel), init=-p, name="iy")
        ix = Signal(range(-p, (self.out_width - 1) * s - p + self._kernel), init=-p, name="ix")
        row_pad = Signal(init=1, name="row_pad")
        col_pad = Signal(init=1, name="col_pad")
        (row, row_flag), (next_row, next_row_flag) = (
            starts(oy, self.out_height, h, iy.shape(), step) for step in (0, 1))
        (col, col_flag), (next_col, next_col_flag) = (
            starts(ox, self.out_width, w, ix.shape(), step) for step in (0, 1))
        with m.If(enable):
            with m.If(kx_last):
                m.d.sync += [ix.eq(Mux(last["window"], next_col, col)),
                             col_pad.eq(Mux(last["window"], next_col_flag, col_flag))]
                with m.If(last["window"]):
                    m.d.sync += [iy.eq(Mux(last["row"], next_row, row)),
                                 row_pad.eq(Mux(last["row"], next_row_flag, row_flag))]
                with m.Else():
                    m.d.sync += [iy.eq(iy + 1), row_pad.eq(step_one(iy, row_pad, h))]
            with m.Else():
                m.d.sync += [ix.eq(ix + 1), col_pad.eq(step_one(ix, col_pad, w))]
        return row_pad | col_pad

def window_weights(weight):
    """Torch conv weight [OC, C, k, k] -> MVAU matrix [OC, k*k*C] in the SWG's window order.

    Column ``(ky*k + kx)*C + c`` holds ``weight[:, c, ky, kx]``.
    """
    weight = np.asarray(weight)
    if weight.ndim != 4:
        raise ValueError(f"weight must be 4-D [OC, C, k, k], not of shape {weight.shape}")
    return weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)
