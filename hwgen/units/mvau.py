"""Matrix-vector-activation unit (FINN: MVAU / StreamingMatrixVector), binary XNOR-popcount."""

import numbers

import numpy as np
from amaranth.hdl import unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ..ranges import range_shape
from ._checks import as_array, check_shape
from ._engine import FoldedEngine, FoldedUnit, check_fold
from ._lanes import XnorPopcount
from ._pipeline import tree_stage_levels
from .popcount import STRUCTURES
from ._weight_store import WeightRom, tool_keeps_in_logic

__all__ = ["MVAU"]

#: where a popcount tree's pipeline stages sit (see :class:`~._lanes.XnorPopcount`)
PLACEMENTS = ("tree", "reads")


class MVAU(FoldedUnit):
    """Streaming matrix-vector unit with binary weights and inputs (FINN: MVAU, XnorMul).

    For every input vector ``x`` of ``MW`` elements and the weight matrix
    ``W`` [MH, MW], both in {-1, +1} (bit 1 = +1, bit 0 = -1), computes::

        y[c] = sum_k x[k] * W[c, k] = 2 * popcount(xnor(x, W[c])) - MW    for c < MH

    as signed integers of ``ceil(log2(MW + 1)) + 1`` bits (``acc_shape``),
    exactly ``sw_reference.ops.binary_dense``. With ``threshold`` (a 1-bit
    threshold activation fused in, FINN's MVTU with one threshold) it emits
    instead one bit per channel::

        b[c] = [y[c] >= T[c]]           (1 = +1, the threshold op's 1-bit output)

    with no comparator: the accumulator starts at ``-MW - T'[c]`` rather than
    ``-MW`` and the bit is its sign after the last slice (``T'`` is ``T`` clamped
    to ``[-MW, MW + 1]``, where it decides the same, and moved up to the parity
    of ``MW``, which every ``y`` has, so ``y >= T'`` exactly when ``y >= T``).

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

    The unit is a :class:`~._engine.FoldedEngine` (counters, input buffer,
    accumulation) with the :class:`~._lanes.XnorPopcount` lane datapath and
    a :class:`~._weight_store.WeightRom`.

    Datapath per PE and slice: XNOR, then a binary adder tree
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
                        the same engine with another lane datapath
    popcount : str      ``"adder"`` (XNORs + a tree of two-input adders; any family),
                        ``"compressor"`` (XNORs fused into 3-synapse counters, GPC
                        stages, one carry-chain adder: fewest LUT6 on Xilinx), see
                        :mod:`hwgen.units.popcount`, or ``"ecp5_carry"`` (ECP5 only: the
                        mismatches ``x ^ w`` counted on CCU2C cells with the XORs in their
                        LUT4s, :mod:`hwgen.units._carry_popcount`, and subtracted from a
                        start value ``+MW``: fewest LUT4 on ECP5)
    stage_placement : str
                        ``"tree"`` (the ``pipeline`` stages spread over the tree and the
                        accumulator) or ``"reads"`` (the first right after the slice and
                        weight reads, which Yosys maps with fewer LUTs)
    registered_result : bool
                        sums leave from the accumulator's register, a cycle later
                        (default False; the composer sets it from the delay model and
                        ``target.clock_mhz``, see :meth:`retimed`; no effect with ``SF`` = 1
                        or the compressor and ``"ecp5_carry"`` trees, whose accumulators
                        restart by reset)
    threshold : array-like [MH] of int, or None
                        fuse a 1-bit threshold activation (see above): ``o`` carries
                        ``unsigned(1)`` elements; None (default) emits the sums
    address_copies : bool
                        each PE's weight ROM in logic reads its own copy of the address
                        (default False; the composer sets it where the delay model says one
                        shared address does not fit ``target.clock_mhz``, see :meth:`retimed`;
                        it costs LUTs: :class:`~hwgen.units._engine.FoldedEngine`)
    start_copies : bool
                        each PE's start-value ROM (fused thresholds) reads its own copy of
                        the output fold (default False; the composer sets it for block-RAM
                        weights at fast clocks, see :meth:`retimed`; ``PE - 1`` registers of
                        the fold number, no cycle)
    slice_copies : int
                        registers of the input slice's last read stage, each reaching a run of
                        PEs (default 1; the composer sets 2 for block-RAM weights at fast
                        clocks, see :meth:`retimed`; ``SIMD`` flip-flops each, no cycle)

    Members
    -------
    i : In(stream.Signature(ArrayLayout(unsigned(1), simd)))
        SF beats per vector; input ``k`` arrives in beat ``k // simd``, lane
        ``k % simd`` (lane 0 in the least-significant bit).
    o : Out(stream.Signature(ArrayLayout(out_shape, pe)))
        NF beats per vector; beat ``nf`` lane ``p`` is channel ``nf * pe + p``;
        ``out_shape`` holds the sums exactly, or is ``unsigned(1)`` with ``threshold``.

    Latency ``2 + pipeline`` cycles from the last input beat of a vector to
    its first output beat (input register and synchronous ROM read, then
    XNOR + tree + accumulate into the output queue), one more with ROMs
    deeper than 64 words (``read_register``; two more when they are in block
    RAM, the first its output register), one more with
    ``registered_result``; one slice per cycle,
    ``NF * SF`` cycles per vector in steady state. Fully unrolled
    (``pe = MH``, ``simd = MW``) that is one input and one output beat per
    cycle. The pipeline never stalls (no enable on its registers); a fold's
    last slice waits for credit in the output queue, and ``i.ready`` is high
    in output fold 0 while there is credit: flip-flops of the unit only
    (:class:`~hwgen.units._engine.FoldedEngine`). Where SF > 1 and the queue of one
    stage fewer holds as many results, the queue counts a fold's result from a register
    of its last issue (``registered_accept``, as the integer MVAU), so the queue's
    ``room`` flip-flop is not a function of the issue (sfc_balanced's fc3 at 200 MHz,
    seed 3: ``sf_last -> queue.room_reg``, 5 levels, 5.18 ns). Where the input buffer is
    at most 16 words (one LUTRAM cell deep), the slice's register takes the stream in output
    fold 0 and the buffer's word in the others (``early_select``, as the integer MVAU): one
    register of ``SIMD`` bits where the stream's and the buffer's read registers were two, the
    same cycles (sfc_balanced: 81 flip-flops fewer, which its 15 % budget needed).

    Weight storage: each PE has its own ROM of NF*SF words of SIMD bits
    (NF*SF*SIMD bits per PE, MH*MW bits in all), word ``nf*SF + sf`` holding
    ``W[nf*PE + p, sf*SIMD : (sf+1)*SIMD]``. Reads are synchronous, so a
    vendor tool infers block RAM for deep ROMs and LUTRAM (distributed ROM)
    or plain LUTs for shallow/narrow ones (Vivado: ``ram_style``/``rom_style``
    attributes; Yosys: ``memory_libmap`` by size). With NF*SF = 1 the "ROM"
    is a constant and each XNOR folds into a wire or an inverter. With
    ``popcount="compressor"`` a ROM of at most 32 words is read inside the
    tree's first level (:class:`~.popcount.WeightTable`) and a deeper one is
    stored where :func:`~._rom.rom_plan` says (block RAM, logic or split;
    sfc_fast's 64 x 49-bit ROMs: 36 bits in block RAM, 13 in logic).
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "nf", "sf", "rom_bits", "pipeline", "acc_bits")

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): PE*SIMD, PE*acc_bits, 1."""
        return "binary_mvau", [self.pe * self.simd, self.pe * self.acc_bits, 1]

    def __init__(self, *, weights, pe=1, simd=1, pipeline=0, in_shape=unsigned(1),  # noqa: B008 (a Shape is immutable)
                 popcount="adder", stage_placement="tree", registered_result=False,
                 address_copies=False, start_copies=False, slice_copies=1, threshold=None):
        self._weights = _check_weights(weights)
        mh, mw = self._weights.shape
        pe, simd, pipeline = check_fold(mh, mw, pe=pe, simd=simd, pipeline=pipeline,
                                        rows="the rows of weights", cols="the columns of weights")
        shape = check_shape("in_shape", in_shape)
        if shape != unsigned(1):
            raise ValueError(f"in_shape must be unsigned(1) (binary -1/+1 inputs) for the "
                             f"XNOR-popcount MVAU, not {in_shape!r}; integer inputs take "
                             f"hwgen.units.mvau_int.IntegerMVAU(weight_kind='binary')")
        if popcount not in STRUCTURES:
            raise TypeError(f"popcount must be one of {', '.join(map(repr, STRUCTURES))}, "
                            f"not {popcount!r}")
        if stage_placement not in PLACEMENTS:
            raise TypeError(f"stage_placement must be one of "
                            f"{', '.join(map(repr, PLACEMENTS))}, not {stage_placement!r}")
        self._tree, self._stage_placement = popcount, stage_placement
        self._address_copies = address_copies
        self._start_copies = start_copies
        self._slice_copies = slice_copies
        self._threshold = None if threshold is None else _check_threshold(threshold, mh, mw)
        datapath = XnorPopcount(simd=simd, pipeline=pipeline, tree=popcount,
                                stages=stage_placement)
        # ROMs the tool would keep in logic where rom_plan chooses better go where rom_plan
        # says (sfc_fast, cnv_ci); the integer MVAU keeps the tool's choice (its ROMs were
        # not measured placed)
        store = WeightRom(self._weights, pe=pe, simd=simd, codes=datapath.codes,
                          lane_bits=datapath.lane_bits, tables=datapath.reads_tables,
                          placed=datapath.places_roms
                          or tool_keeps_in_logic(mh // pe * (mw // simd),
                                                 simd * datapath.lane_bits))
        fused = self._threshold is not None
        engine = FoldedEngine(mh=mh, mw=mw, pe=pe, simd=simd, in_shape=shape,
                              datapath=datapath, store=store,
                              base=datapath.start_value(mw)
                              - (_parity_thresholds(self._threshold, mw) if fused else 0),
                              registered_result=registered_result,
                              address_copies=address_copies, start_copies=start_copies,
                              slice_copies=slice_copies, sign_output=fused, registered_controls=True,
                              registered_accept=True, early_select=True)
        out_shape = unsigned(1) if fused else range_shape(*engine.sum_range, min_width=2)
        super().__init__(engine=engine, out_shape=out_shape, members={
            "i": In(stream.Signature(data.ArrayLayout(shape, simd))),
            "o": Out(stream.Signature(data.ArrayLayout(out_shape, pe))),
        })

    @property
    def weights(self):
        """A copy of the weight matrix, int8 [MH, MW] of -1/+1."""
        return self._weights.copy()

    @property
    def threshold(self):
        """The fused 1-bit threshold per channel (int64 [MH], clamped to ``[-MW, MW + 1]``),
        or None."""
        return None if self._threshold is None else self._threshold.copy()

    def with_threshold(self, threshold):
        """This MVAU with the 1-bit threshold activation ``b = [y >= threshold]`` fused in
        (``threshold``: array-like [MH] of int, or one int for every channel)."""
        return self._replace(threshold=threshold)

    def _replace(self, **changes):
        kept = dict(weights=self._weights, pe=self.pe, simd=self.simd, pipeline=self.pipeline,
                    popcount=self._tree, stage_placement=self._stage_placement,
                    registered_result=self.registered_result,
                    address_copies=self._address_copies,
                    start_copies=self._start_copies, slice_copies=self._slice_copies,
                    threshold=self._threshold)
        return MVAU(**{**kept, **changes})

    #: the popcount tree (``"adder"`` or ``"compressor"``) and where its stages sit
    popcount = property(lambda self: self._tree)
    stage_placement = property(lambda self: self._stage_placement)

    def retimed(self, model, clock_mhz):
        """This MVAU with the pipeline the delay model ``model`` asks for at ``clock_mhz``.

        The popcount tree's stages: the fewest (at least ``pipeline``) for which every stage
        fits the model's budget (:meth:`stage_delays`; the adder tree with its stages spread
        over the levels; other trees keep ``pipeline``). The accumulator's adder shares the
        tree's last stage; it counts there when that stage also holds two or more tree
        levels (see :meth:`stage_delays`). ``registered_result`` shortens the rest: the sums
        leave from the accumulator's register
        (one cycle more of latency) when the accumulator's adder and its net to the output
        queue alone fill half of a stage at ``clock_mhz``: the tree's last adder, in the same
        stage, then leaves too little for the nets between them (the delay model does not see
        those: tiny_bnn's fc1 at 200 MHz on an LFE5U-85F, estimated to fit, took 5.1 ns).
        Cycles per vector are the same at any depth.

        Each PE reads its own copy of the weight address (``address_copies``) when the tree's
        first stage with the shared address's net (fanout ``PE * SIMD``) in front does not fit
        the budget (tiny_bnn's fc1 at 200 MHz: 2.6 ns of a 5.4 ns path); trees without a
        stage estimate keep one address. Where that net does not fit and the weights are in
        block RAM (``read_register``), each PE's start-value ROM reads its own copy of the
        output fold (``start_copies``) instead: the block RAMs sit in rows across the die and
        their PEs next to them, so one register reaching every PE crossed it (sfc_balanced's
        fc0 at 200 MHz: ``start_fold`` to 16 PEs' ROMs, 6.3 ns, where the model's net of
        fanout 192 and a LUT make 2.7 ns). With the weights in block RAM the input slice's
        last register, which reaches every PE's first tree level, is two copies, each for half
        the PEs (``slice_copies``; sfc_balanced's fc2 at 200 MHz, seed 3: ``x_read`` -> PE 6's
        level-1 register, 5.27 ns of routing; with copies in fc1 and fc2 only, fc0's
        ``x_read`` -> a PE's level-1 register, 4.96 ns, seed 3), with 16 PEs or more, whose
        RAMs take several rows: a copy costs SIMD flip-flops, and two is what the flip-flop
        budget allows (sfc_balanced: 6,830 of the 6,832 the 15 % leaves)."""
        pipeline = self._timed_pipeline(model, clock_mhz)
        registered = self.registered_result or self.result_register_pays(model, clock_mhz)
        delays = self.datapath.tree_delays(model, pipeline)
        spread = (delays is not None
                  and delays[0] + model.route(self.pe * self.simd) > model.budget(clock_mhz))
        copies = self._address_copies or spread
        starts = self._start_copies or (spread and self.read_register > 0)
        slices = (max(self._slice_copies, 2) if spread and self.weight_store.in_block_ram
                  and self.pe >= 16 else self._slice_copies)
        if (pipeline, registered, copies, starts, slices) == (
                self.pipeline, self.registered_result, self._address_copies,
                self._start_copies, self._slice_copies):
            return self
        return self._replace(pipeline=pipeline, registered_result=registered,
                             address_copies=copies, start_copies=starts, slice_copies=slices)

    def stage_delays(self, model, pipeline):
        """Estimated logic delay (ns) of each register stage of the popcount tree with
        ``pipeline`` stages (``datapath.tree_delays``), the accumulator's adder counted in the
        last stage (``model.carry(acc_bits)`` and a LUT level for the start value's
        multiplexer, as :func:`hwgen.timing.mvau_stage_delay` counts it) when that stage
        holds two or more tree levels; None for the trees without an estimate.

        Three adders in series, two tree levels and the accumulator, took 6.5 ns in
        sfc_balanced's fc0 at 200 MHz (``pc3_l4s0`` -> ``acc_3``, 14 logic levels, estimated
        2.2 ns without the accumulator). One tree level and the accumulator is what
        :func:`~hwgen.units._pipeline.tree_stage_levels` plans for the last stage (it counts
        the accumulator as one more level) and has never been the critical path of a placed
        network (tiny_bnn, odd_mlp at 200 MHz); counted, it would cost odd_mlp a stage more
        in each layer (at the default device's speed 6) and its flip-flops beyond the 15 %
        the issue allows."""
        delays = self.datapath.tree_delays(model, pipeline)
        if delays is None:
            return None
        depth = (self.simd - 1).bit_length()
        last = ([0] + tree_stage_levels(self.simd, pipeline))[-1]
        if depth - last < 2:
            return delays
        return delays[:-1] + [delays[-1] + model.carry(self.acc_bits) + model.luts(1)]

    def _timed_pipeline(self, model, clock_mhz):
        """The fewest tree stages that fit ``clock_mhz`` (:meth:`FoldedUnit.timed_pipeline`)
        over the SIMD synapses' adder tree, the accumulator counted as :meth:`stage_delays`
        says."""
        return self.timed_pipeline(model, clock_mhz, max((self.simd - 1).bit_length(), 1),
                                   delays=self.stage_delays)


def _check_threshold(threshold, mh, mw):
    """``threshold`` as int64 [MH] (one int, or [1], is broadcast), or a TypeError/ValueError."""
    array, given = as_array("threshold", threshold, f"[MH] = [{mh}] of integers")
    if array.dtype.kind not in "iuO" or any(
            isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral)
            for v in array.reshape(-1).tolist()):
        raise TypeError(f"threshold must hold integers, not {given}")
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] not in (1, mh)):
        raise ValueError(f"threshold must be one integer or {mh} (one per channel, MH), not "
                         f"an array of shape {list(array.shape)}")
    # beyond [-MW, MW + 1] a threshold decides as the limit does (every y, or none, passes)
    clamped = [min(max(int(t), -mw), mw + 1) for t in array.reshape(-1).tolist()]
    return np.broadcast_to(np.array(clamped, dtype=np.int64), (mh,)).copy()


def _parity_thresholds(threshold, mw):
    """``threshold`` moved up to the parity of ``MW`` (every ``2 * popcount - MW`` has it),
    as Python ints: the accumulator's start values then are all even, its lowest bit 0."""
    return np.array([int(t) + ((int(t) + mw) & 1) for t in threshold], dtype=object)


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

