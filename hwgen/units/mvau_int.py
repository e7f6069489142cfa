"""Matrix-vector-activation unit with integer inputs: integer, ternary or binary weights (FINN: MVAU)."""

import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ..ranges import range_shape
from ._checks import as_array, check_int, check_range, check_shape, shape_range
from ._engine import FoldedEngine, FoldedUnit, check_fold
from ._lanes import (BinaryAddSub, BoothShiftAdd, DspMultiply, TernaryAddSub, lanes,
                     product_terms)
from ._pipeline import cheapest_tree_levels, counts_accumulator, tree_stage_levels
from ._weight_store import WeightRom

__all__ = ["RESOURCES", "WEIGHT_KINDS", "IntegerMVAU", "lanes", "product_terms"]

#: weight kinds and the values their weights may take
WEIGHT_KINDS = ("int", "ternary", "binary")
#: how integer products are built: ``lut`` shift-add logic, ``dsp`` a registered ``*``
RESOURCES = ("lut", "dsp")

_INT32 = (-(1 << 31), (1 << 31) - 1)


class IntegerMVAU(FoldedUnit):
    """Streaming matrix-vector unit on integer inputs (FINN: MVAU with an integer SIMD type).

    For every input vector ``x`` of ``MW`` elements and the weight matrix
    ``W`` [MH, MW] computes, exactly as ``sw_reference.ops.dense`` (and
    ``binary_dense`` for ``weight_kind="binary"``)::

        y[c] = bias[c] + sum_k x[k] * W[c, k]      for c < MH

    The folding, the input buffer, the per-PE weight ROMs, the fold cadence
    (``NF * SF`` cycles per vector, no bubbles) and the handshake are the
    :class:`~._engine.FoldedEngine`'s, as in :class:`~hwgen.units.mvau.MVAU`;
    the weight kind picks the lane datapath (:mod:`~._lanes`), which decides
    what one slice computes and how weights are coded in the ROM, and the
    bias is the accumulator's start value.

    The datapath per PE and slice depends on the weight kind; every
    product term of the SIMD lanes goes into one balanced adder tree with
    ``pipeline`` register stages:

    * ``"binary"`` (-1/+1, 1 ROM bit: 1 = +1; :class:`~._lanes.BinaryAddSub`):
      ``+x`` or ``-x`` by the weight's sign, no multiplier (FINN CNV's first
      layer on 8-bit pixels).
    * ``"ternary"`` ({-1, 0, +1}, BitNet b1.58; 2 ROM bits, two's complement
      ``01`` = +1, ``11`` = -1, ``00`` = 0; :class:`~._lanes.TernaryAddSub`):
      add ``x``, ``~x`` or nothing, no multiplier, whatever ``resource`` says; each
      channel's count of -1 weights joins its bias (``-x == ~x + 1``).
    * ``"int"`` (signed ``weight_bits`` = 2..8, two's complement in the ROM):
      ``resource="lut"`` (:class:`~._lanes.BoothShiftAdd`) builds each product as
      ``ceil(b / 2)`` radix-4 Booth terms, ``0``, ``x`` or ``2x`` shifted by ``2i`` and
      complemented for a negative digit (each channel's start value takes the ones
      that leaves out), all fed into the lane adder tree (no ``*`` operator: a
      LUT/carry-chain array). ``resource="dsp"`` (:class:`~._lanes.DspMultiply`)
      writes ``x * w`` with
      registered operands (the input register or buffer read and the
      synchronous ROM read) and a registered product (one extra stage at
      the multiplier output, before the tree), the pattern Vivado maps
      into a DSP48 with AREG/BREG and MREG, and Yosys' ``synth_ecp5`` /
      ``synth_xilinx`` map via ``mul2dsp`` to ``MULT18X18D`` / ``DSP48E1``
      (their ``-nodsp`` keeps LUTs). One DSP per PE and lane: ``PE * SIMD``.

    Widths come from exact bounds, never a fixed 32 bits: the adder tree's
    nodes from each lane's worst case over the weight kind's value set and
    ``in_range``; the accumulator from the extreme partial sums ``bias[c] +
    (first j slices)`` over the actual weights of every channel; the output
    from the final sums (the rule of ``TensorType.of_range``, so a network's
    next unit sees the spec's type). The bias is the accumulator's start
    value of each output fold: a per-PE ROM of NF words (a constant when
    all equal), read alongside the weights.

    Parameters
    ----------
    weights : array-like [MH, MW] of integers
        ``weights[c, k]`` weighs input ``k`` for output channel ``c``; a
        convolution passes its kernels as ``[OC, k*k*C]`` in the order its
        sliding-window generator streams a window's elements.
    in_shape : Shape
        Input element shape: ``signed(n)`` / ``unsigned(n)`` integers
        (1 bit unsigned = 0/1), or ``unsigned(1)`` with ``binary_input`` (-1/+1).
    weight_kind : str   one of :data:`WEIGHT_KINDS` (default ``"int"``)
    weight_bits : int   signed weight width 2..8 for ``"int"`` (default 8); ignored otherwise
    bias : array-like [MH] of int32, optional
    in_range : (int, int), optional
        The values input elements can take, inside ``in_shape``'s range
        (default all of it). Tighter ranges give narrower sums; a
        convolution with zero padding must include 0.
    binary_input : bool
        Inputs are -1/+1 (bit 1 = +1, the output of a 1-bit threshold).
    pe, simd, pipeline : int   as for :class:`~hwgen.units.mvau.MVAU`
    resource : str      one of :data:`RESOURCES` (default ``"lut"``); matters for ``"int"``
    tree_levels : sequence of int, optional
        The adder-tree levels with a register after them, ascending (0: the terms, the
        tree's depth: its root), ``pipeline`` of them; by default ``pipeline`` registers
        spread evenly (:func:`~._pipeline.tree_stage_levels`). :meth:`retimed` sets them
        to the placement with the fewest flip-flops that fits the clock. Not with
        ``resource="dsp"``.
    address_copies : bool
        Each PE's weight ROM in logic reads its own copy of the weight address
        (:class:`~._engine.FoldedEngine`'s ``address_copies``); :meth:`retimed` sets it.
    registered_result : bool
        A fold's sums go to the output queue from the accumulator's register, a cycle
        later, not from its adder (:class:`~._engine.FoldedEngine`'s ``registered_result``;
        with SF > 1 only); :meth:`retimed` sets it.
    slice_copies : int
        Registers of the input slice before the lanes, each for a run of PEs (default 1;
        :class:`~._engine.FoldedEngine`'s ``slice_copies``); :meth:`retimed` sets them where
        one register's net to every PE does not fit the clock (:meth:`_slice_copies_needed`:
        a copy per pair of PEs at most).

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, simd)))
        SF beats per vector; input ``k`` in beat ``k // simd``, lane ``k % simd``.
    o : Out(stream.Signature(ArrayLayout(out_shape, pe)))
        NF beats per vector; beat ``nf`` lane ``p`` is channel ``nf * pe + p``.

    Latency ``2 + pipeline`` cycles (``3 + pipeline`` with ``resource="dsp"``:
    the product register; one more with ROMs deeper than 64 words, the read
    register, two when they are in block RAM, the first its output register;
    one more with ``registered_result``) from the last input beat of a vector to its first output
    beat; ``NF * SF`` cycles per vector in steady state.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "nf", "sf", "rom_bits", "pipeline", "acc_bits", "weight_bits")

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): by weight kind and resource."""
        lanes, ibits = self.pe * self.simd, self.in_shape.width
        acc = self.pe * self.acc_bits
        if self._weight_kind == "int" and self._resource == "dsp":
            return "int_mvau_dsp", [lanes, acc, 1]
        if self._weight_kind == "int":
            return "int_mvau_lut", [lanes * self._weight_bits * ibits, acc, 1]
        return "ternary_mvau", [lanes * ibits, acc, 1]

    def __init__(self, *, weights, in_shape, weight_kind="int", weight_bits=8, bias=None,
                 in_range=None, binary_input=False, pe=1, simd=1, pipeline=1, resource="lut",
                 tree_levels=None, address_copies=False, registered_result=False,
                 slice_copies=1):
        if weight_kind not in WEIGHT_KINDS:
            raise TypeError(f"weight_kind must be one of {', '.join(map(repr, WEIGHT_KINDS))}, "
                            f"not {weight_kind!r}")
        if resource not in RESOURCES:
            raise TypeError(f"resource must be one of {', '.join(map(repr, RESOURCES))}, "
                            f"not {resource!r}")
        for name, value in (("binary_input", binary_input), ("address_copies", address_copies),
                            ("registered_result", registered_result)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, not {value!r}")
        self._address_copies = address_copies
        self._slice_copies = check_int("slice_copies", slice_copies, minimum=1)
        self._weight_kind = weight_kind
        self._resource = resource
        self._binary_input = binary_input
        if weight_kind == "int":
            self._weight_bits = check_int("weight_bits", weight_bits, minimum=2, maximum=8)
        else:
            self._weight_bits = 2 if weight_kind == "ternary" else 1
        self._weights = _check_weights(weights, weight_kind, self._weight_bits)
        mh, mw = self._weights.shape
        pe, simd, pipeline = check_fold(mh, mw, pe=pe, simd=simd, pipeline=pipeline,
                                        rows="the rows of weights", cols="the columns of weights")
        shape = check_shape("in_shape", in_shape)
        if binary_input and shape != unsigned(1):
            raise ValueError(f"in_shape must be unsigned(1) with binary_input=True, "
                             f"not {in_shape!r}")
        full = (-1, 1) if binary_input else shape_range(shape)
        self._in_range = check_range("in_range", in_range, full, f"in_shape {in_shape!r}")
        self._bias = _check_bias(bias, mh)

        datapath = _datapath(weight_kind, self._weight_bits, resource, simd=simd,
                             pipeline=pipeline, in_shape=shape, in_range=self._in_range,
                             binary_input=binary_input)
        if tree_levels is not None:
            self._check_tree_levels(tree_levels, pipeline, datapath)
            datapath = _datapath(weight_kind, self._weight_bits, resource, simd=simd,
                                 pipeline=pipeline, in_shape=shape, in_range=self._in_range,
                                 binary_input=binary_input, levels=tuple(tree_levels))
        store = WeightRom(self._weights, pe=pe, simd=simd, codes=datapath.codes,
                          lane_bits=datapath.lane_bits)
        engine = FoldedEngine(mh=mh, mw=mw, pe=pe, simd=simd, in_shape=shape,
                              datapath=datapath, store=store,
                              base=self._bias + datapath.base_offset(self._weights),
                              early_select=True, address_copies=address_copies,
                              registered_result=registered_result, slice_copies=slice_copies,
                              registered_controls=True, registered_accept=True)
        out_shape = range_shape(*engine.sum_range, min_width=2)
        super().__init__(engine=engine, out_shape=out_shape, members={
            "i": In(stream.Signature(data.ArrayLayout(shape, simd))),
            "o": Out(stream.Signature(data.ArrayLayout(out_shape, pe))),
        })

    weight_kind = property(lambda self: self._weight_kind)
    weight_bits = property(lambda self: self._weight_bits)
    resource = property(lambda self: self._resource)
    binary_input = property(lambda self: self._binary_input)
    in_range = property(lambda self: self._in_range)

    tree_levels = property(lambda self: self.datapath.levels)

    def retimed(self, model, clock_mhz):
        """This MVAU with product-tree registers (at least ``pipeline``) where every stage
        fits the delay model's budget at ``clock_mhz`` (:meth:`stage_delays`: the terms'
        gating, LUT4 levels and carry chains per adder level, and the accumulator after the
        root where the last stage holds two or more levels, as
        :meth:`hwgen.units.mvau.MVAU.stage_delays` counts it). Without DSP products the
        registers go to the levels that cost the fewest flip-flops
        (:func:`~._pipeline.cheapest_tree_levels`; as many as ``pipeline`` when that many
        fit, so the latency stays); with them, or when no placement fits, the fewest stages
        spread evenly. Cycles per vector are the same at any depth; the latency grows by the
        stages added. Each PE reads its weight ROM through its own copy of the address
        (``address_copies``) when the read through one shared address does not fit
        (:meth:`_rom_read_ns`). The sums leave from the accumulator's register
        (``registered_result``, a cycle more of latency) where the binary MVAU's do
        (:meth:`~._engine.FoldedUnit.result_register_pays`)."""
        budget = model.budget(clock_mhz)
        copies = self._address_copies or (self.pe > 1 and self._rom_read_ns(model) > budget)
        registered = self.registered_result or self.result_register_pays(model, clock_mhz)
        tree = self.stage_delays(model, self.pipeline)
        fits = max(tree) <= budget
        levels = None
        if not self.datapath.registered_products:
            levels = cheapest_tree_levels(self.datapath.term_bounds(),
                                          lambda start, end: self.datapath.stage_ns(
                                              model, start, end),
                                          budget, last_ns=self._accumulate_ns(model),
                                          least=self.pipeline,
                                          most=self.pipeline if fits else None)
        if levels is not None:
            pipeline = len(levels)
        elif fits:
            pipeline, levels = self.pipeline, self.tree_levels
        else:
            depth = max((len(self.datapath.term_bounds()) - 1).bit_length(), 1)
            pipeline = self.timed_pipeline(model, clock_mhz, depth, delays=self.stage_delays)
            levels = self.tree_levels if pipeline == self.pipeline else None
        slices = max(self._slice_copies, self._slice_copies_needed(model, budget, pipeline,
                                                                   levels))
        if (pipeline, levels, copies, registered, slices) == (
                self.pipeline, self.tree_levels, self._address_copies,
                self.registered_result, self._slice_copies):
            return self
        return IntegerMVAU(weights=self._weights, in_shape=self.in_shape,
                           weight_kind=self._weight_kind, weight_bits=self._weight_bits,
                           bias=self._bias, in_range=self._in_range,
                           binary_input=self._binary_input, pe=self.pe, simd=self.simd,
                           pipeline=pipeline, resource=self._resource, tree_levels=levels,
                           address_copies=copies, registered_result=registered,
                           slice_copies=slices)

    def _slice_copies_needed(self, model, budget, pipeline, levels):
        """Registers of the slice (``slice_copies``) for a tree with ``pipeline`` registers at
        ``levels``: 1 where one register's net to every PE's lanes fits ``budget``
        (:meth:`_slice_net_ns`), else the fewest copies, each for a run of PEs, whose nets
        fit, but never fewer than two PEs a copy: each copy is ``SIMD`` input bits of
        flip-flops, and a copy per PE (lead14-x) took int8_mlp's three layers 448 flip-flops
        over one (to 1.20x of its budget's base) where its placements never had the slice on
        a path; one per pair of its 4-PE layers costs 128. A layer of fewer than 4 PEs keeps
        one, and so does a tree whose first stage misses ``budget`` with a copy per PE (the
        stage is what is too long, not the net)."""
        if not (self._slice_net_ns(model, pipeline, levels, 1) > budget
                >= self._slice_net_ns(model, pipeline, levels, self.pe)):
            return 1
        counts = [c for c in range(2, self.pe // 2 + 1) if self.pe % c == 0]
        fitting = [c for c in counts if self._slice_net_ns(model, pipeline, levels, c) <= budget]
        return fitting[0] if fitting else counts[-1] if counts else 1

    def _slice_net_ns(self, model, pipeline, levels, copies):
        """Estimated first stage (ns) of the product tree with ``pipeline`` registers at
        ``levels``, with ``copies`` registers of the slice, each for a run of PEs: the tree's
        estimate counts a net of one load into the terms' LUTs, where an input bit reaches
        ``weight bits`` LUTs of each PE's lane (residual_mlp's fc2 at 200 MHz, 4 PEs of 8-bit
        lanes: ``x_slice`` -> 32 LUT4, one net of 4.8 ns). Products in DSPs are registered
        first: 0."""
        if self.pe == 1 or self.datapath.registered_products:
            return 0.0
        depth = (len(self.datapath.term_bounds()) - 1).bit_length()
        first = levels[0] if levels else tree_stage_levels(
            len(self.datapath.term_bounds()), pipeline)[0] if pipeline else depth
        return (self.datapath.stage_ns(model, -1, first) - model.route()
                + model.route(-(-self.pe // copies) * self.datapath.lane_bits))

    def _rom_read_ns(self, model):
        """Estimated stage (ns) from the weight address through the weight ROMs in logic to
        their read registers, with one address for every PE: its net reaches each PE's ROM
        LUTs (a LUT4 per 16 words of a bit), then a LUT4 and the 16-word groups' multiplexers.
        int8_mlp's fc1 at 200 MHz (seed 1), 4 PEs of 64 words x 64 bits: ``waddr`` -> 4 LUT
        levels -> the read register, 5.92 ns, 2.54 ns of it one net of the address."""
        groups = -(-self.weight_depth // 16)
        fanout = self.pe * self.weight_word_bits * groups
        levels = 1 + (groups - 1).bit_length()
        return model.stage(model.route(fanout) + levels * model.lut
                           + (levels - 1) * model.route())

    def stage_delays(self, model, pipeline):
        """Estimated logic delay (ns) of each register stage of the product tree with
        ``pipeline`` stages (``datapath.tree_delays``; at this unit's own ``pipeline`` its
        registers are where :attr:`tree_levels` says), the accumulator's adder counted in
        the last stage when that stage holds two or more tree levels
        (:func:`~._pipeline.counts_accumulator`)."""
        delays = self.datapath.tree_delays(model, pipeline)
        terms = len(self.datapath.term_bounds())
        own = self.tree_levels if pipeline == self.pipeline else None
        last = ([0] + tree_stage_levels(terms, pipeline, levels=own))[-1]
        if not counts_accumulator((terms - 1).bit_length() - last):
            return delays
        return delays[:-1] + [delays[-1] + self._accumulate_ns(model)]

    def _accumulate_ns(self, model):
        """The accumulator's adder and the multiplexer of its start value in front of it."""
        return model.carry(self.acc_bits) + model.luts(1)

    @staticmethod
    def _check_tree_levels(tree_levels, pipeline, datapath):
        """TypeError/ValueError unless ``tree_levels`` are ``pipeline`` ascending levels of
        the datapath's tree (0 .. depth), without DSP products."""
        if datapath.registered_products:
            raise ValueError(f"tree_levels must be None with resource='dsp' (the products' "
                             f"register comes first), not {tree_levels!r}")
        depth = (len(datapath.term_bounds()) - 1).bit_length()
        if not isinstance(tree_levels, (list, tuple)) or \
                not all(isinstance(v, int) and not isinstance(v, bool) for v in tree_levels):
            raise TypeError(f"tree_levels must be a sequence of int, not {tree_levels!r}")
        if list(tree_levels) != sorted(set(tree_levels)) or \
                any(not 0 <= v <= depth for v in tree_levels) or len(tree_levels) != pipeline:
            raise ValueError(f"tree_levels must be {pipeline} (pipeline) ascending levels in "
                             f"0..{depth} (the tree's depth), not {tree_levels!r}")

    @property
    def weights(self):
        """A copy of the weight matrix, int64 [MH, MW]."""
        return self._weights.copy()

    @property
    def bias(self):
        """A copy of the bias, int64 [MH] (zeros without one)."""
        return self._bias.copy()


def _datapath(kind, bits, resource, **lanes):
    """The lane datapath of a weight kind: add/sub for -1/+1 and ternary weights (whatever
    ``resource`` says), shift-add logic or DSP products for integers."""
    if kind == "binary":
        return BinaryAddSub(**lanes)
    if kind == "ternary":
        return TernaryAddSub(**lanes)
    w_shape = signed(bits)
    lanes.update(w_shape=w_shape, w_range=shape_range(w_shape))
    return DspMultiply(**lanes) if resource == "dsp" else BoothShiftAdd(**lanes)


def _check_weights(weights, kind, bits):
    """``weights`` as int64 [MH, MW] with values the weight kind allows, or TypeError/ValueError."""
    allowed = {"int": f"signed {bits}-bit integers",
               "ternary": "-1, 0 or +1", "binary": "-1 or +1"}[kind]
    array = _int_matrix("weights", weights, 2, f"[MH, MW] of {allowed}")
    if kind == "int":
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        bad = np.argwhere((array < lo) | (array > hi))
    else:
        values = (-1, 0, 1) if kind == "ternary" else (-1, 1)
        bad = np.argwhere(~np.isin(array, values))
    if len(bad):
        index = tuple(int(v) for v in bad[0])
        more = f" ({len(bad) - 1} more entries are outside too)" if len(bad) > 1 else ""
        raise ValueError(f"weights[{index[0]}, {index[1]}] must be {allowed} "
                         f"(weight_kind={kind!r}), not {array[index].item()!r}{more}")
    return array.astype(np.int64)


def _check_bias(bias, mh):
    """``bias`` as int64 [MH] of int32 values (zeros for None), or TypeError/ValueError."""
    if bias is None:
        return np.zeros(mh, dtype=np.int64)
    array = _int_matrix("bias", bias, 1, "[MH] of int32")
    if array.shape != (mh,):
        raise ValueError(f"bias must have shape ({mh},) (one per row of weights), "
                         f"not {array.shape}")
    bad = np.argwhere((array < _INT32[0]) | (array > _INT32[1]))
    if len(bad):
        index = int(bad[0][0])
        raise ValueError(f"bias[{index}] must be an int32 in [{_INT32[0]}, {_INT32[1]}], "
                         f"not {array[index].item()!r}")
    return array.astype(np.int64)


def _int_matrix(name, value, ndim, what):
    """``value`` as an int64 numpy array of ``ndim`` dimensions, or a TypeError/ValueError."""
    array, given = as_array(name, value, what)
    if array.dtype.kind == "b" or array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be an array-like {what}, not {given}")
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {what}, not of shape {array.shape}")
    if 0 in array.shape:
        raise ValueError(f"{name} must not be empty, not of shape {array.shape}")
    if array.dtype.kind == "f":
        bad = np.argwhere(array != np.round(array))
        if len(bad):
            index = tuple(int(v) for v in bad[0])
            raise ValueError(f"{name}{list(index)} must be an integer, not {array[index].item()!r}")
        if np.abs(array).max() >= 2.0 ** 53:
            raise ValueError(f"{name} must hold exactly representable integers (< 2**53 as floats)")
    return array.astype(np.int64)
