"""Matrix-vector-activation unit (FINN: MVAU / StreamingMatrixVector), binary XNOR-popcount."""

import numpy as np
from amaranth.hdl import Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._checks import as_array, check_int, check_shape
from ._counter import counter
from ._rom import lane_rom

__all__ = ["MVAU"]


class MVAU(wiring.Component):
    """Streaming matrix-vector unit with binary weights and inputs (FINN: MVAU, XnorMul).

    For every input vector ``x`` of ``MW`` elements and the weight matrix
    ``W`` [MH, MW], both in {-1, +1} (bit 1 = +1, bit 0 = -1), computes::

        y[c] = sum_k x[k] * W[c, k] = 2 * popcount(xnor(x, W[c])) - MW    for c < MH

    as signed integers of ``ceil(log2(MW + 1)) + 1`` bits (``acc_shape``),
    exactly ``sw_reference.ops.binary_dense``.

    Folding follows FINN: ``PE`` output channels are computed in parallel,
    ``SIMD`` inputs are consumed per cycle; ``NF = MH / PE`` output folds,
    ``SF = MW / SIMD`` synapse folds, ``NF * SF`` cycles per vector. The loop
    is FINN's: for ``nf`` in 0..NF-1, for ``sf`` in 0..SF-1 one SIMD-wide
    slice is XNORed with each PE's weight word and popcounted; the counts are
    accumulated over ``sf`` and after the last slice the PE results leave as
    one output beat. The input slices are taken from the stream while
    ``nf == 0`` and stored in an input buffer (a ``Memory`` of depth SF,
    width SIMD) that replays them for ``nf = 1..NF-1``, so each vector is read
    once and the first beat of the next vector is accepted in the cycle after
    the last slice of the last fold: no bubbles between vectors.

    Datapath per PE and slice (``_slice_sum``): XNOR, then a binary adder tree
    over the SIMD bits with ``pipeline`` register stages spread over its
    levels (stages beyond the tree depth sit at its output). A slice adds
    ``2 * popcount`` to an accumulator that starts each output fold at
    ``-MW``, so the accumulator already holds ``2 * popcount - MW`` after the
    last slice and doubles as the output register; every partial sum lies in
    ``[-MW, MW]``, so the accumulator is exactly ``acc_shape`` wide. A slice's
    popcount needs ``ceil(log2(SIMD + 1))`` bits.

    Parameters
    ----------
    weights : array-like [MH, MW] of -1/+1
        Integer (or exactly-integral float) values; ``weights[c, k]`` weighs
        input ``k`` for output channel ``c``.
    pe : int            output channels per beat (FINN ``PE``); must divide MH
    simd : int          input elements per beat (FINN ``SIMD``); must divide MW
    pipeline : int      register stages inside the popcount adder tree; 0 = combinational
    in_shape : Shape    input element shape: ``unsigned(1)`` (binary); integer inputs and
                        integer/ternary weights take :class:`~.mvau_int.IntegerMVAU`,
                        which reuses this structure through the hooks below

    Members
    -------
    i : In(stream.Signature(ArrayLayout(unsigned(1), simd)))
        SF beats per vector; input ``k`` arrives in beat ``k // simd``, lane
        ``k % simd`` (lane 0 in the least-significant bit).
    o : Out(stream.Signature(ArrayLayout(acc_shape, pe)))
        NF beats per vector; beat ``nf`` lane ``p`` is channel ``nf * pe + p``.

    Latency ``2 + pipeline`` cycles from the last input beat of a vector to
    its first output beat (input register and synchronous ROM read, then
    XNOR + tree + accumulate into the output register); one slice per cycle,
    ``NF * SF`` cycles per vector in steady state. Fully unrolled
    (``pe = MH``, ``simd = MW``) that is one input and one output beat per
    cycle. All stages advance together when ``o.ready | ~o.valid``;
    ``i.ready`` is high only then and while the unit is in output fold 0.

    Weight storage: each PE has its own ROM of NF*SF words of SIMD bits
    (NF*SF*SIMD bits per PE, MH*MW bits in all), word ``nf*SF + sf`` holding
    ``W[nf*PE + p, sf*SIMD : (sf+1)*SIMD]``. Reads are synchronous, so a
    vendor tool infers block RAM for deep ROMs and LUTRAM (distributed ROM)
    or plain LUTs for shallow/narrow ones (Vivado: ``ram_style``/``rom_style``
    attributes; Yosys: ``memory_libmap`` by size). With NF*SF = 1 the "ROM"
    is a constant and each XNOR folds into a wire or an inverter.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "nf", "sf", "rom_bits", "pipeline", "acc_bits")

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): PE*SIMD, PE*acc_bits, 1."""
        return "binary_mvau", [self._pe * self._simd, self._pe * self.acc_bits, 1]

    def __init__(self, *, weights, pe=1, simd=1, pipeline=0, in_shape=unsigned(1)):
        self._weights = self._check_weights(weights)
        self._fold(*self._weights.shape, pe=pe, simd=simd, pipeline=pipeline, in_shape=in_shape,
                   rows="the rows of weights", cols="the columns of weights")
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, self._simd))),
            "o": Out(stream.Signature(data.ArrayLayout(self._out_shape, self._pe))),
        })

    def _fold(self, mh, mw, *, pe, simd, pipeline, in_shape, rows, cols):
        """Check and store the folding of an MH x MW matrix and size the sums (``rows``/``cols``
        say what MH/MW are in the messages); shared with :class:`~.matmul.MatMul`."""
        self._mh, self._mw = mh, mw
        self._pe = check_int("pe", pe, minimum=1)
        self._simd = check_int("simd", simd, minimum=1)
        self._pipeline = check_int("pipeline", pipeline, minimum=0)
        if self._mh % self._pe:
            raise ValueError(f"pe must divide MH ({self._mh}, {rows}), not {pe!r}")
        if self._mw % self._simd:
            raise ValueError(f"simd must divide MW ({self._mw}, {cols}), not {simd!r}")
        self._in_shape = check_shape("in_shape", in_shape)
        self._check_kind(in_shape)

        (lo, hi), (out_lo, out_hi) = self._acc_bounds()
        self._acc_shape = range_shape(lo, hi)
        self._out_shape = range_shape(out_lo, out_hi)

    mh = property(lambda self: self._mh)
    mw = property(lambda self: self._mw)
    pe = property(lambda self: self._pe)
    simd = property(lambda self: self._simd)
    nf = property(lambda self: self._mh // self._pe)
    sf = property(lambda self: self._mw // self._simd)
    pipeline = property(lambda self: self._pipeline)
    acc_shape = property(lambda self: self._acc_shape)
    #: width of the accumulator register (the manifest records it)
    acc_bits = property(lambda self: self._acc_shape.width)
    #: shape of an output element: exactly the range of the final sums (== ``acc_shape`` here)
    out_shape = property(lambda self: self._out_shape)
    in_shape = property(lambda self: self._in_shape)
    cycles_per_vector = property(lambda self: self.nf * self.sf)
    latency = property(lambda self: 2 + self._stages)
    #: ask the composition for a register slice on ``o`` (a SkidBuffer): ``advance``
    #: enables every pipeline register and accumulator, a net of hundreds of loads, and
    #: without the slice it is driven by the next unit's ``ready`` (README "Synthesis")
    slice_after = True
    #: weight bits held in the per-PE ROMs (0 when one fold makes them constants)
    rom_bits = property(lambda self: self._mh * self._mw * self._lane_bits
                        if self.nf * self.sf > 1 else 0)

    #: bits of one weight in a ROM word (1 here; the resource model sizes the ROMs with it)
    lane_bits = property(lambda self: self._lane_bits)
    #: the ROM reads pass a register (ROMs deep enough for block RAM; the resource model
    #: counts its flip-flops)
    read_register = property(lambda self: self._read_register)

    @property
    def weights(self):
        """A copy of the weight matrix, int8 [MH, MW] of -1/+1."""
        return self._weights.copy()

    # --- the parts a weight/input type changes ------------------------------------------

    #: bits of one weight in a ROM word (lane j of a word holds bits [j*b, (j+1)*b))
    _lane_bits = 1
    #: products are ``*`` operators with a registered output (DSP blocks), not logic
    _uses_dsp = False
    @property
    def _read_register(self):
        """The slice and weight words pass a register after the reads when the ROMs are deep
        enough for block RAM (more than 64 words; MatMul: its RAMs, always): a block RAM's
        clock-to-output delay took most of sfc_balanced's 9.8 ns critical path."""
        return self.nf * self.sf > 64
    #: register stages between a slice and the accumulator: the adder tree's (+ the product's,
    #: + the read register)
    _stages = property(lambda self: self._pipeline + self._uses_dsp + self._read_register)

    def _check_weights(self, weights):
        """``weights`` as a numpy array [MH, MW] the kind accepts, or TypeError/ValueError."""
        return _check_weights(weights)

    def _check_kind(self, given):
        """Checks of ``in_shape`` (as ``given``) and any parameter the kind adds, after folding."""
        if self._in_shape != unsigned(1):
            raise ValueError(f"in_shape must be unsigned(1) (binary -1/+1 inputs) for the "
                             f"XNOR-popcount MVAU, not {given!r}; integer inputs take "
                             f"hwgen.units.mvau_int.IntegerMVAU(weight_kind='binary')")

    def _acc_base(self):
        """What the accumulator starts every output fold with, per channel (int or [MH] ints).

        ``y[c] = base[c] + sum over slices``: ``-MW`` here, the bias in integer MVAUs.
        """
        return -self._mw

    def _slice_bounds(self):
        """(lo, hi) of channel c's ``_slice_sum`` for slice sf: scalars or [MH, SF] arrays.

        Here ``2 * popcount`` of SIMD bits, the same for every channel and slice.
        """
        return 0, 2 * self._simd

    def _acc_bounds(self):
        """((lo, hi) of every partial sum, (lo, hi) of the final sums), exact, over all channels.

        Partial sums are ``base[c]`` plus the first ``j`` slices (``j = 0..SF``);
        the accumulator holds each of them, the output only the last one.
        """
        shape = (self._mh, self.sf)
        base = np.broadcast_to(np.asarray(self._acc_base(), dtype=object), (self._mh,))
        lo, hi = (np.broadcast_to(np.asarray(v, dtype=object), shape)
                  for v in self._slice_bounds())
        low = base[:, None] + np.cumsum(lo, axis=1)
        high = base[:, None] + np.cumsum(hi, axis=1)
        return ((int(min(base.min(), low.min())), int(max(base.max(), high.max()))),
                (int(low[:, -1].min()), int(high[:, -1].max())))

    def _weight_lanes(self, row):
        """The ROM codes of ``row`` (SIMD weights): bit 1 = +1."""
        return (row > 0).astype(np.int64)

    def _rom_words(self, p):
        """PE ``p``'s weight words, address ``nf * SF + sf``; lane j = ``_weight_lanes`` code j."""
        words = []
        for nf in range(self.nf):
            row = self._weights[nf * self._pe + p]
            for sf in range(self.sf):
                codes = self._weight_lanes(row[sf * self._simd:(sf + 1) * self._simd])
                words.append(sum(int(code) << (j * self._lane_bits)
                                 for j, code in enumerate(codes)))
        return words

    def _slice_sum(self, m, p, x_slice, w_slice):
        """PE ``p``'s contribution of one slice: ``2 * popcount(xnor(x, w))``.

        ``x_slice`` (SIMD input elements) and ``w_slice`` (SIMD ROM codes of
        ``_lane_bits``) are raw bit vectors of the same stage; the result
        comes ``_stages`` stages later (through ``_adder_tree``), within
        ``_slice_bounds()``.
        """
        agree = Signal(self._simd, name=f"agree_{p}")
        m.d.comb += agree.eq(~(x_slice ^ w_slice))
        count = self._adder_tree(m, [(agree[j], 0, 1) for j in range(self._simd)], f"pc{p}")
        return count << 1

    # --- structure shared with later variants ----------------------------------------------

    def _register(self, m, value, shape, name):
        """``value`` one stage later; stages move only when the pipeline advances."""
        reg = Signal(shape, name=name)
        with m.If(self._advance):
            m.d.sync += reg.eq(value)
        return reg

    def _tree_stage_levels(self, terms):
        """Tree levels (0 = inputs, depth = output) followed by a register, one per stage.

        The accumulator adder counts as one more level, so the stages split
        ``depth + 1`` adders into ``pipeline + 1`` nearly equal segments. DSP
        products (tree level 0) are registered first.
        """
        depth = (terms - 1).bit_length()
        levels = [j * (depth + 1) // (self._pipeline + 1) for j in range(1, self._pipeline + 1)]
        return [0] + levels if self._uses_dsp else levels

    def _adder_tree(self, m, terms, name):
        """Sum of ``terms`` (value, lo, hi) by a balanced binary tree with ``pipeline`` stages.

        Node widths come from the bounds. Returns the root, ``pipeline``
        stages after the terms.
        """
        stages = self._tree_stage_levels(len(terms))
        nodes = list(terms)
        level = 0
        while True:
            for index in range(stages.count(level)):
                nodes = [(self._register(m, v, _bounds_shape(lo, hi),
                                         f"{name}_l{level}s{index}_{k}"), lo, hi)
                         for k, (v, lo, hi) in enumerate(nodes)]
            if len(nodes) == 1:
                return nodes[0][0]
            level += 1
            pairs = []
            for k in range(0, len(nodes) - 1, 2):
                (a, alo, ahi), (b, blo, bhi) = nodes[k], nodes[k + 1]
                lo, hi = alo + blo, ahi + bhi
                node = Signal(_bounds_shape(lo, hi), name=f"{name}_l{level}_{k // 2}")
                m.d.comb += node.eq(a + b)
                pairs.append((node, lo, hi))
            if len(nodes) % 2:
                pairs.append(nodes[-1])
            nodes = pairs

    def _counter(self, m, count, enable, name):
        """(value, at_last) of a counter over ``range(count)`` stepping on ``enable``."""
        return counter(m, count, enable, name)

    def _delay(self, m, value, name):
        """``value`` delayed by the ``_stages`` stages of the tree (control flags)."""
        for stage in range(self._stages):
            value = self._register(m, value, Shape.cast(value.shape()), f"{name}_s{stage}")
        return value

    # --- where vectors and weights come from (MatMul: stream a, and a RAM written from b) --

    #: the input stream of vectors
    _vectors = property(lambda self: self.i)

    def _input_open(self, m):
        """A Value that is high while vectors may be taken, or None for always (MVAU)."""

    #: words per weight store: NF * SF (MatMul: one NF * SF block per head)
    _weight_depth = property(lambda self: self.nf * self.sf)

    def _weight_words(self, m, issue, addr, addr_last):
        """Each PE's SIMD weight codes at ``addr`` (``issue``: a slice is issued), one stage later.

        ``addr`` counts the issued slices over ``_weight_depth`` (``addr_last``:
        at its last value). Here per-PE ROMs of NF*SF words, address ``nf * SF + sf``
        (a constant when NF*SF = 1).
        """
        folds = self._weight_depth
        word_shape = unsigned(self._simd * self._lane_bits)
        words = []
        for p in range(self._pe):
            init = self._rom_words(p)
            if folds == 1:
                words.append(Const(init[0], word_shape))
                continue
            rom = Memory(shape=word_shape, depth=folds, init=init)
            m.submodules[f"weights_{p}"] = rom
            port = rom.read_port(domain="sync")
            m.d.comb += [port.addr.eq(addr), port.en.eq(self._advance)]
            words.append(port.data)
        return words

    def elaborate(self, platform):
        m = Module()
        nf_count, sf_count = self.nf, self.sf
        vectors = self._vectors

        # Everything advances together when the output register is empty or being taken.
        self._advance = advance = Signal()
        m.d.comb += advance.eq(self.o.ready | ~self.o.valid)
        is_open = self._input_open(m)

        # Stage 0: fold counters. Fold nf == 0 takes slices from the stream, the others replay.
        issue = Signal()
        sf, sf_last = self._counter(m, sf_count, issue, "sf")
        nf, _ = self._counter(m, nf_count, issue & sf_last, "nf")
        # == nf * SF + sf (+ the head's block in MatMul), without a multiplier
        addr, addr_last = self._counter(m, self._weight_depth, issue, "waddr")
        first_fold = Signal(name="first_fold")
        accept = Signal(name="accept")
        taking = vectors.valid if is_open is None else vectors.valid & is_open
        m.d.comb += [
            first_fold.eq(nf == 0),
            vectors.ready.eq(advance & first_fold if is_open is None
                             else advance & first_fold & is_open),
            accept.eq(vectors.valid & vectors.ready),
            issue.eq(advance & (taking | ~first_fold)),
        ]

        # Stage 1: the slice (input register or buffer read) and each PE's weight word.
        # x_in changes only on accept, so with SF == 1 it is the whole buffer.
        slice_bits = self._simd * self._in_shape.width
        x_in = Signal(slice_bits, name="x_in")
        with m.If(accept):
            m.d.sync += x_in.eq(vectors.payload.as_value())
        if nf_count > 1 and sf_count > 1:
            m.submodules.input_buffer = buffer = Memory(shape=unsigned(slice_bits),
                                                        depth=sf_count, init=[])
            write = buffer.write_port()
            m.d.comb += [write.addr.eq(sf), write.data.eq(vectors.payload.as_value()),
                         write.en.eq(accept)]
            replay = buffer.read_port(domain="sync")
            m.d.comb += [replay.addr.eq(sf), replay.en.eq(advance)]
            from_buffer = self._register(m, ~first_fold, unsigned(1), "from_buffer")
            x_slice = Signal(slice_bits, name="x_slice")
            m.d.comb += x_slice.eq(Mux(from_buffer, replay.data, x_in))
        else:
            x_slice = x_in
        valid = self._register(m, issue, unsigned(1), "valid_1")
        first = self._register(m, sf == 0, unsigned(1), "first_1")
        last = self._register(m, sf_last, unsigned(1), "last_1")
        w_slices = self._weight_words(m, issue, addr, addr_last)
        if self._read_register:
            x_slice = self._register(m, x_slice, unsigned(slice_bits), "x_read")
            w_slices = [self._register(m, w, Shape.cast(w.shape()), f"w_read_{p}")
                        for p, w in enumerate(w_slices)]

        # Each PE's start value per output fold: a constant, or a ROM read like the weights.
        bases = np.broadcast_to(np.asarray(self._acc_base(), dtype=object), (self._mh,))
        starts = [lane_rom(m, f"acc_base_{p}", self._acc_shape,
                           [int(bases[n * self._pe + p]) for n in range(nf_count)],
                           addr=nf, en=advance) for p in range(self._pe)]

        # Stages 2 .. 1+stages: datapath + adder tree; then accumulate into the output register.
        sums = [self._slice_sum(m, p, x_slice, w_slices[p]) for p in range(self._pe)]
        valid, first, last = (self._delay(m, s, n) for s, n in
                              ((valid, "valid"), (first, "first"), (last, "last")))
        starts = [s if isinstance(s, Const) else self._delay(m, s, f"acc_base_{p}")
                  for p, s in enumerate(starts)]
        out_valid = Signal(name="out_valid")
        with m.If(advance):
            m.d.sync += out_valid.eq(valid & last)
        m.d.comb += self.o.valid.eq(out_valid)
        for p, term in enumerate(sums):
            acc = Signal(self._acc_shape, name=f"acc_{p}")
            with m.If(advance & valid):
                m.d.sync += acc.eq(Mux(first, starts[p], acc) + term)
            m.d.comb += self.o.payload[p].eq(acc)
        return m


def _check_weights(weights):
    """``weights`` as an int8 numpy array [MH, MW] of -1/+1, or a TypeError/ValueError saying why not."""
    array, given = as_array("weights", weights, "[MH, MW] of -1/+1")
    if array.dtype.kind == "b":
        raise TypeError(f"weights must be -1/+1 integers, not booleans: {given}")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"weights must be an array-like [MH, MW] of -1/+1, not {given}")
    if array.ndim != 2:
        raise ValueError(f"weights must be 2-D [MH, MW], not of shape {array.shape}")
    if 0 in array.shape:
        raise ValueError(f"weights must have at least one row and one column, "
                         f"not shape {array.shape}")
    bad = np.argwhere((array != 1) & (array != -1))
    if len(bad):
        row, col = (int(v) for v in bad[0])
        more = f" ({len(bad) - 1} more entries are not +-1 either)" if len(bad) > 1 else ""
        raise ValueError(f"weights[{row}, {col}] must be -1 or +1, not {array[row, col].item()!r}"
                         f"{more}")
    return array.astype(np.int8)


def range_shape(lo, hi):
    """Shape of a value in ``[lo, hi]``, by the rule of ``TensorType.of_range`` (never 1 bit).

    Units size their outputs with it, so they match the spec's tensor types.
    """
    if lo >= 0:
        return unsigned(max(hi.bit_length(), 2))
    return signed(max(_signed_bits(lo), _signed_bits(hi), 2))


def _signed_bits(value):
    """Two's-complement width that holds ``value``."""
    return (value if value >= 0 else ~value).bit_length() + 1


def _bounds_shape(lo, hi):
    """Narrowest shape that holds every integer in ``[lo, hi]``."""
    if lo >= 0:
        return unsigned(max(hi.bit_length(), 1))
    return signed(max(_signed_bits(lo), _signed_bits(hi)))
