"""k x k max pooling, stride k, on an HWC stream (FINN: StreamingMaxPool)."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._checks import check_feature_map
from ._counter import loop_nest
from ._feature_map import FeatureMapGeometry

__all__ = ["StreamingMaxPool"]


class StreamingMaxPool(FeatureMapGeometry, wiring.Component):
    """Per-channel maximum over k x k windows with stride k (FINN: StreamingMaxPool).

    For a feature map ``x`` [C, H, W] streamed in HWC order, ``pe`` channels
    per beat, computes::

        y[c, oy, ox] = max(x[c, oy*k + ky, ox*k + kx] for ky, kx < k)

    exactly ``sw_reference.ops.maxpool2d``; ``k`` must divide ``H`` and ``W``.
    The output is the HWC stream of ``y`` [C, H/k, W/k], ``pe`` channels per beat.
    Elements compare as signed or unsigned integers by ``in_shape``; on
    ``unsigned(1)`` binary data (bit 1 = +1) the maximum is the OR.

    A row of partial maxima, one word of ``pe`` elements per (output column,
    channel fold), lives in an ``amaranth.lib.memory.Memory`` of
    ``(W/k) * (C/pe)`` words with an asynchronous read port (LUTRAM): each
    input beat reads its window's partial maximum into a register beside
    itself, and in the next stage writes back the maximum with itself (or
    itself alone when it is the window's first beat), so the read and the
    comparison are in separate stages (int4_cnn's pool1 at 200 MHz, both in
    one: the fold counter -> the LUTRAM read -> the comparison -> the write,
    6 levels, 5.33 ns). The next beat that reads the same word comes a fold
    later, after the write; with one fold it is the next beat, which then
    takes the maximum being written instead of the read.
    The window's last beat (``ky == kx == k-1``) goes to the output register instead.

    Parameters
    ----------
    in_shape : Shape        element shape (signed, unsigned, or ``unsigned(1)`` binary)
    channels : int          ``C`` (FINN ``NumChannels``)
    height, width : int     ``H``, ``W``; ``kernel`` must divide both
    kernel : int            ``k`` (FINN ``PoolDim``), also the stride
    pe : int                channels per beat; must divide ``channels``

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, pe)))
        ``H*W*C/pe`` beats per sample.
    o : Out(stream.Signature(ArrayLayout(in_shape, pe)))
        ``(H/k)*(W/k)*C/pe`` beats per sample.

    Latency 2 cycles from a window's last input beat to its output beat; one
    input beat per cycle. Input and output advance together when
    ``o.ready | ~o.valid``.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "folds")

    #: (resource model of :mod:`hwgen.plan`, features) or None: no model covers it yet
    resource_features = None
    #: ``o.payload`` is the output register: no logic after the flip-flops (hwgen.network)
    payload_levels = 0

    #: LUT levels from ``i.payload`` to a register: none, the beat is registered first
    #: (hwgen.network)
    input_levels = 0

    def __init__(self, *, in_shape, channels, height, width, kernel, pe=1):
        (self._in_shape, self._channels, self._height, self._width, self._kernel,
         self._pe) = check_feature_map(in_shape=in_shape, channels=channels, height=height,
                                       width=width, kernel=kernel, lanes_name="pe", lanes=pe)
        if self._height % self._kernel or self._width % self._kernel:
            raise ValueError(f"kernel must divide height and width ({height}x{width}), "
                             f"not {kernel!r}")
        layout = data.ArrayLayout(self._in_shape, self._pe)
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    pe = property(lambda self: self._pe)
    #: beats per pixel (channel folds)
    folds = property(lambda self: self._channels // self._pe)
    in_beats = property(lambda self: self._height * self._width * self.folds)
    out_beats = property(lambda self: self.in_beats // self._kernel ** 2)
    latency = 2

    def elaborate(self, platform):
        m = Module()
        k, folds, out_width = self._kernel, self.folds, self._width // self._kernel
        layout = data.ArrayLayout(self._in_shape, self._pe)

        advance, accept = Signal(), Signal()
        m.d.comb += [advance.eq(self.o.ready | ~self.o.valid),
                     self.i.ready.eq(advance),
                     accept.eq(self.i.valid & advance)]
        loops, _ = loop_nest(m, [("cf", folds), ("kx", k), ("ox", out_width), ("ky", k),
                                 ("oy", self._height // k)], accept)
        (cf, _), (kx, kx_last), (ox, _), (ky, ky_last), _ = loops.values()

        # One word (one output column, one fold) would give the memory zero-width
        # addresses, which Verilator's lint rejects: such a row takes two words.
        depth = max(out_width * folds, 2)
        m.submodules.partial = partial = Memory(shape=layout, depth=depth, init=[])
        write, read = partial.write_port(), partial.read_port(domain="comb")
        addr = Signal(range(depth), name="addr")
        m.d.comb += [addr.eq(ox * folds + cf), read.addr.eq(addr)]

        # Stage 1: the beat, its window's partial maximum and where it goes, in registers.
        x1, best1 = Signal(layout, name="x1"), Signal(layout, name="best1")
        addr1 = Signal.like(addr, name="addr1")
        first1, last1, valid1 = Signal(name="first1"), Signal(name="last1"), Signal(name="valid1")
        merged = Signal(layout)
        best = read.data
        if folds == 1:          # the beat in stage 2 may be writing the word this one reads
            best = Mux(valid1 & ~last1 & (addr == addr1), merged, read.data)
        with m.If(advance):
            m.d.sync += [x1.eq(self.i.payload), best1.eq(best), addr1.eq(addr),
                         first1.eq((kx == 0) & (ky == 0)), last1.eq(kx_last & ky_last),
                         valid1.eq(accept)]

        # Stage 2: the maximum, written back (again in every cycle it waits: the same word),
        # or to the output register at the window's last beat.
        for lane in range(self._pe):
            x, partial_max = x1[lane], best1[lane]
            m.d.comb += merged[lane].eq(Mux(first1 | (x > partial_max), x, partial_max))
        m.d.comb += [write.addr.eq(addr1), write.data.eq(merged),
                     write.en.eq(valid1 & ~last1)]
        with m.If(advance):
            m.d.sync += self.o.valid.eq(valid1 & last1)
        with m.If(advance & valid1 & last1):
            m.d.sync += self.o.payload.eq(merged)
        return m
