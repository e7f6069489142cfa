"""Dyadic requantizer: ``y = clamp(round_s(x * m) + zp, lo, hi)``, ``round_s`` one of three modes."""

from amaranth.hdl import Array, Cat, Const, Module, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._checks import channel_params, check_int, check_shape, shape_range
from ._counter import counter
from ._credit import CreditQueue
from ._dyadic import (check_rounding, clamp, clamp_levels, delayed, dyadic_bounds,
                      narrowest_multiplier, round_shift)
from ._expshift import delay
from ._lanes import merged_sum_ns
from ._multiply import (REGISTERED_TILE_SHARE, signed_digits, staged_product,
                        staged_product_latency, tile_count, tile_row_lows, tile_rows,
                        tile_terms, tiled_product, tiled_product_latency)
from ._rom import lane_rom, rom_plan

__all__ = ["Requant"]


class Requant(wiring.Component):
    """Per-tensor or per-channel dyadic rescale (HAWQ-V3), ``pe`` channels per beat.

    For every element of channel ``c``::

        p = x * m[c]
        t = p                                if s[c] == 0
            ((p >> (s[c] - 1)) + 1) >> 1     otherwise    # == (p + 2**(s-1)) >> s
        y = clamp(t + zp[c], lo, hi)

    which is the documented round-half-up rescale; the rewritten rounding never
    needs the ``2**(s-1)`` constant, so nothing is wider than the product.
    ``rounding="floor"`` drops the ``+ 1`` (``p >> s``); ``"half_even"``
    (ONNX ``ROUND``) also subtracts 1 on the ties whose lower neighbour is
    even (``_dyadic.round_shift``).
    Channels arrive in order, ``pe`` per beat, ``channels // pe`` beats per
    vector; a fold counter selects each lane's parameters, so the stream must
    start at channel 0 (true after reset, and it stays aligned because a
    vector is always whole).

    Parameters
    ----------
    in_shape : Shape            element type of ``x``
    out_shape : Shape           element type of ``y``; sets ``lo``/``hi``
    channels : int              channel count ``C``
    pe : int                    channels per beat; must divide ``channels``
    multiplier, shift, zero_point : sequence of int, length ``C`` or 1
        ``1 <= m < 2**31``, ``0 <= s < 64``, ``zp`` within ``out_shape``.
        Length 1 means per-tensor. Parameters that are the same for every
        channel become constants; the others live in a ROM per lane
        (``channels // pe`` deep), read synchronously so it maps to LUTRAM/BRAM.
    rounding : str              ``"half_up"`` (default), ``"half_even"`` or ``"floor"``
    shift_stage : bool          the per-channel rounding shift in a stage of its own
    offset_stage : bool         the clamp in a stage of its own
        (each adds a cycle of latency; both default False, the composer sets them
        from the delay model and ``target.clock_mhz``, see :meth:`retimed`)
    product_stages : int
        0 (default): ``x * m`` is one ``*`` (a MULT18X18D, or several and their
        adders, whose path from register to register does not fit 200 MHz on ECP5);
        ``n >= 1``: shift-add logic whose adder tree is split into about ``n``
        register stages (:func:`~._multiply.staged_product`), set by :meth:`retimed`
        from the delay model. Its terms are the bits of ``m'``, or for a per-tensor
        ``m'`` its signed digits (:attr:`product_terms`: int4_cnn-sized per-tensor
        multipliers have a third fewer, and no selecting LUT in front of the tree).
    dsp_product : bool
        ``x * m`` as 18x18 tiles (:func:`~._multiply.tiled_product`), each with a
        register right before and after its ``*`` that :mod:`hwgen.dsppack` moves
        into the MULT18X18D (ECP5), then the tiles' adder tree in about
        ``product_stages`` stages; the registers before are stage 1's: ``x`` (no
        reset) and a per-channel ``m'`` read from its ROM in logic
        (:func:`_multiplier_register`).
        Chosen by :meth:`retimed` where the plain ``*`` misses the clock and the
        product is wider than ``DSP_MIN_BITS``, unless a per-tensor ``m'`` has at most
        ``DIGITS_IN_LOGIC`` signed digits (its shift-add is a LUT adder or two) or a
        per-channel ``m'`` would be stored in block RAM (too deep to read in logic).

    The hardware multiplies by the narrowest ``(m', s')`` that gives the same
    clamped output for every input ``in_shape`` admits
    (:func:`~._dyadic.narrowest_multiplier`, proven at generation time by
    checking every input that is not saturated): a 4-bit output needs a
    multiplier of 10 to 15 bits where the parameters give 31.

    Members
    -------
    i : In(stream.Signature(ArrayLayout(in_shape, pe)))
    o : Out(stream.Signature(ArrayLayout(out_shape, pe)))

    Latency 3 cycles (parameter read + multiply, rounding with the zero point, clamp),
    plus one for each of ``shift_stage`` and ``offset_stage``,
    ``staged_product_latency - 1`` with ``product_stages`` and
    ``tiled_product_latency`` with ``dsp_product`` (its input is registered in the
    fabric first, a cycle before the tiles' input registers);
    one beat per cycle. The pipeline never stalls (no register has an
    enable): a beat is taken only when the output queue
    (:class:`~hwgen.units._credit.CreditQueue`, its ``latency + 2`` results
    in LUTRAM, rounded up to a power of two) has room for it and every beat in flight, so ``o.ready``
    reaches only the queue's pointer and count, and ``i.ready`` is a flip-flop of
    the queue (its ``registered_room``).
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "folds")
    #: narrowest product (bits) that :meth:`retimed` puts in DSP tiles rather than shift-add
    DSP_MIN_BITS = 11
    #: a per-tensor ``m'`` with at most this many signed digits stays shift-add (<= 2 adders)
    DIGITS_IN_LOGIC = 3

    @property
    def resource_features(self):
        """(resource model of :mod:`hwgen.plan`, features): PE * input bits, PE, 1."""
        layout = self.i.payload.shape()
        bits = Shape.cast(layout.elem_shape).width
        return "requant", [layout.length * bits, layout.length, 1]

    def __init__(self, *, in_shape, out_shape, channels, pe=1,
                 multiplier, shift, zero_point=(0,), rounding="half_up",
                 shift_stage=False, offset_stage=False, product_stages=0, dsp_product=False):
        self._in_shape = check_shape("in_shape", in_shape)
        self._out_shape = check_shape("out_shape", out_shape)
        self._channels = check_int("channels", channels, minimum=1)
        self._pe = check_int("pe", pe, minimum=1)
        if channels % pe:
            raise ValueError(f"pe must divide channels ({channels}), not {pe!r}")

        lo, hi = shape_range(self._out_shape)
        self._m = channel_params("multiplier", multiplier, channels, 1, (1 << 31) - 1)
        self._s = channel_params("shift", shift, channels, 0, 63)
        self._zp = channel_params("zero_point", zero_point, channels, lo, hi)
        self._rounding = check_rounding(rounding)
        for name, value in (("shift_stage", shift_stage), ("offset_stage", offset_stage),
                            ("dsp_product", dsp_product)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, not {value!r}")
        self._shift_stage, self._offset_stage = shift_stage, offset_stage
        self._product_stages = check_int("product_stages", product_stages, minimum=0)
        self._dsp_product = dsp_product
        # What the hardware multiplies by: per channel, the narrowest equivalent (m', s').
        # Channels that share a shift keep sharing one (each drops the fewest bits any of
        # them can), or a constant shift would become a barrel shifter and a stage.
        x_lo, x_hi = shape_range(self._in_shape)
        keys = list(zip(self._m, self._s, self._zp))
        narrowed = {key: narrowest_multiplier(x_lo, x_hi, *key, lo, hi, self._rounding)
                    for key in set(keys)}
        common = {}
        for (_, s, _), (_, s2) in narrowed.items():
            common[s] = min(common.get(s, s), s - s2)
        narrowed = {key: narrowest_multiplier(x_lo, x_hi, *key, lo, hi, self._rounding,
                                              most_drop=common[key[1]])
                    for key in narrowed}
        self._hw_m = [narrowed[key][0] for key in keys]
        self._hw_s = [narrowed[key][1] for key in keys]
        # one m' for every channel: the staged product's factor is a constant (signed digits)
        self._per_tensor = len(set(self._hw_m)) == 1

        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(self._in_shape, pe))),
            "o": Out(stream.Signature(data.ArrayLayout(self._out_shape, pe))),
        })

    channels = property(lambda self: self._channels)
    pe = property(lambda self: self._pe)
    rounding = property(lambda self: self._rounding)
    folds = property(lambda self: self._channels // self._pe)
    #: width of the hardware's multiplier operand ``m'`` (the widest over the channels)
    multiplier_bits = property(lambda self: max(self._hw_m).bit_length())
    #: terms of the staged product: a per-tensor ``m'``'s signed digits, else its bits
    product_terms = property(lambda self: len(self._product_positions()))
    shift_stage = property(lambda self: self._shift_stage)
    offset_stage = property(lambda self: self._offset_stage)
    product_stages = property(lambda self: self._product_stages)
    dsp_product = property(lambda self: self._dsp_product)

    @property
    def latency(self):
        return (2 + self._dsp_product + self._product_latency() + self._shift_stage
                + self._offset_stage)

    def _product_latency(self, stages=None, dsp=None):
        stages = self._product_stages if stages is None else stages
        dsp = self._dsp_product if dsp is None else dsp
        if dsp:
            return tiled_product_latency(self._tile_rows(), stages)
        return staged_product_latency(len(self._product_positions()), stages) if stages else 1

    def _tiles(self):
        """MULT18X18D tiles of one lane's tiled product (:func:`~._multiply.tile_count`)."""
        return tile_count(self._in_shape, self._tile_factor())

    def _tile_rows(self):
        """Operands of one lane's tiled product's adder tree (:func:`~._multiply.tile_rows`)."""
        return tile_rows(self._in_shape, self._tile_factor())

    def _tile_factor(self):
        return self._hw_m[0] if self._per_tensor else unsigned(self.multiplier_bits)

    def _product_positions(self):
        """Bit positions of the staged product's terms: a per-tensor multiplier's signed
        digits (:func:`~._multiply.signed_digits`), else every bit of ``m'``."""
        if self._per_tensor:
            return [position for _, position in signed_digits(self._hw_m[0])]
        return list(range(self.multiplier_bits))
    #: ``i.ready`` comes from the unit's own flip-flops; ``o.ready`` reaches a few (hwgen.network)
    registered_ready = True
    ready_fanout = 4

    def elaborate(self, platform):
        m = Module()
        # The pipeline never stalls: its registers move every cycle, and a beat is taken only
        # when the output queue has room for it and everything in flight (credit). The queue
        # holds latency + 2 results (rounded up to a power of two) in LUTRAM: in registers
        # they were most of the unit's flip-flops beside the product (ternary_mlp's fc1: 396
        # of 1,116), and every slot's enable decoded the write pointer (attention_mini's k at
        # 200 MHz: read_at -> a slot, 10 levels, 8.0 ns). Its room is a flip-flop
        # (registered_room: computed a cycle ahead, so one result more; at latency 5 or 6 the
        # same eight words), since i.ready is the o.ready of the unit before: as a LUT of the
        # queue's counts it took residual_mlp's fc1 at 200 MHz from this queue's in_flight_0
        # through 3 LUT levels into the MVAU's output queue (its read pointer's enable), 6.26 ns.
        m.submodules.queue = queue = CreditQueue(self.o.payload.shape(), stages=self.latency,
                                                 registered_room=True, lutram=True)
        wiring.connect(m, wiring.flipped(self.o), queue.o)
        accept = self.i.valid & queue.room
        m.d.comb += [self.i.ready.eq(queue.room), queue.accept.eq(accept)]
        payload = self.i.payload
        if self._dsp_product:
            # The tiles' input registers sit in the DSP rows, which placement fills from
            # far apart: in ivit_block the upstream queue's read reached them across the
            # chip (scores' MatMul -> its Requant's tile, 9.3 ns of wire, placed at 93.6 MHz).
            # A register in the fabric first, so the wire into a tile starts at a flip-flop;
            # the beat is taken (accept) a cycle before the pipeline below sees it.
            payload = Signal.like(self.i.payload, reset_less=True, name="x0")
            m.d.sync += payload.eq(self.i.payload)
            accept = delayed(m, accept, "accept0")

        fold, _ = counter(m, self.folds, accept, "fold")
        # The shift and the zero point are used once the product is there: their ROMs read
        # the fold that many cycles late (one shared delay of a few bits), so that the ROM's
        # read register is valid beside the product's (the zero point's beside the shift
        # stage's), rather than each lane carrying its words along the stages.
        def varies(values):
            return any(len(set(values[lane::self._pe])) > 1 for lane in range(self._pe))
        late = later = fold
        if varies(self._hw_s) or varies(self._zp):
            late = later = delay(m, fold, self._product_latency(), Const(1), "fold_late")
        if self._shift_stage and varies(self._zp):
            later = delay(m, late, 1, Const(1), "fold_later")

        # Stage 1: register x; each lane's multiplier comes out of its ROM in step.
        # In DSP tiles, x1 and the multiplier's register are the tiles' input registers: one
        # control set, no reset (the pipeline needs none: the queue counts the beats in flight).
        x1 = Signal.like(self.i.payload, reset_less=self._dsp_product)
        m.d.sync += x1.eq(payload)
        lane_params = [self._lane_params(m, lane, fold, late, later)
                       for lane in range(self._pe)]

        for lane, (mult, shamt, exact, zp2) in enumerate(lane_params):
            # Stage 2: product (staged: several stages), the shift and zero point beside it.
            product = Signal(signed(len(x1[lane]) + len(mult) + 1), name=f"product_{lane}")
            # a per-tensor multiplier as an int: its signed digits, or its constant slices
            factor = self._hw_m[0] if self._per_tensor else mult
            split, low = self._tile_split(lane), None
            if split:            # the tiles' sum as two carry chains, added in the rounding
                product, low = _split_tile_sum(m, tile_terms(m, x1[lane], factor,
                                                             name=f"product_{lane}"),
                                               *split, name=f"product_{lane}")
            elif self._dsp_product:
                m.d.comb += product.eq(tiled_product(m, x1[lane], factor,
                                                     name=f"product_{lane}",
                                                     stages=self._product_stages))
            elif self._product_stages:
                m.d.comb += product.eq(staged_product(m, x1[lane], factor,
                                                      name=f"product_{lane}",
                                                      stages=self._product_stages))
            else:
                m.d.sync += product.eq(x1[lane] * mult)
            # Stage 3 (the queue's register): rounded shift with the zero point in the
            # rounding adder, and the clamp; with shift_stage the variable shift and with
            # offset_stage the clamp are stages of their own.
            half_bounds, offset_bounds = self._lane_bounds(lane)
            amounts = self._shift_amounts(lane)
            rounded = round_shift(m, product, shamt, exact, rounding=self._rounding,
                                  base=self._shift_base(lane), offset=zp2,
                                  amounts=amounts if len(amounts) > 1 else None,
                                  suffix=lane, shift_stage=self._shift_stage,
                                  half_shape=_signed_shape(*half_bounds), low=low)
            # As wide as the lane's rescaled values plus zero points, not the product.
            offset = Signal(_signed_shape(*offset_bounds), name=f"offset_{lane}")
            if self._offset_stage:
                m.d.sync += offset.eq(rounded)
            else:
                m.d.comb += offset.eq(rounded)
            m.d.comb += queue.w_data[lane].eq(clamp(offset, self._out_shape))
        return m

    def stage_delay(self, model):
        """(ns, what, fix) of the slowest register stage by the delay model (hwgen.timing)."""
        stages = self._stage_delays(model, self._shift_stage, self._offset_stage,
                                    self._product_stages, self._dsp_product)
        ns, what = max(stages)
        fix = ("the product in DSP tiles (dsp_product)"
               if what == "the multiplier" and self._dsp_preferred(model) else
               "the product in shift-add stages (product_stages)"
               if what == "the multiplier" and not self._product_stages else
               "a faster speed grade or a lower clock" if what.startswith("the multiplier") else
               "clamp in a stage of its own (offset_stage)" if not self._offset_stage else
               "the variable shift in a stage of its own (shift_stage)"
               if not self._shift_stage and self._shift_levels() else
               "a faster speed grade or a lower clock")
        return ns, what, fix

    def retimed(self, model, clock_mhz):
        """This unit with the fewest extra stages (shift, clamp, then the product in DSP
        tiles where :meth:`_dsp_preferred`, else staged shift-add) whose stages all fit at
        ``clock_mhz`` by the delay model (when none does, the one that misses least,
        :meth:`_misfit`)."""
        period = model.margin * 1e3 / clock_mhz
        options = [(False, False), (False, True), (True, False), (True, True)]
        if not self._shift_levels():
            options = [option for option in options if not option[0]]
        levels = (len(self._product_positions()) - 1).bit_length()
        def staged(stage_counts, dsp):
            # a stage count that adds no cycle over the one before adds no register either
            return [(*option, stages, dsp) for stages in stage_counts for option in options
                    if stages < 2 or self._product_latency(stages, dsp)
                    > self._product_latency(stages - 1, dsp)]

        candidates = [(*option, 0, False) for option in options]
        if self._dsp_preferred(model):
            tile_levels = (self._tile_rows() - 1).bit_length()
            candidates += staged(range(min(tile_levels, 1), tile_levels + 1), True)
        candidates += staged(range(1, levels + 2), False)
        # Decided on one MULT18X18D tile's own path: counting the adders of a product of
        # several tiles (stage_delay does) would stage the digits ViT's requants at 100 MHz on
        # the 25k speed 6, whose rate is bound by their latency (261 -> 267 cycles per image).
        fits = [option for option in candidates
                if max(self._stage_delays(model, *option, tile_adders=False))[0] <= period]
        chosen = fits[0] if fits else min(candidates, key=lambda option: self._misfit(
            model, period, option))
        if chosen == (self._shift_stage, self._offset_stage, self._product_stages,
                      self._dsp_product):
            return self
        return Requant(in_shape=self._in_shape, out_shape=self._out_shape,
                       channels=self._channels, pe=self._pe, multiplier=self._m, shift=self._s,
                       zero_point=self._zp, rounding=self._rounding, shift_stage=chosen[0],
                       offset_stage=chosen[1], product_stages=chosen[2], dsp_product=chosen[3])

    def _dsp_preferred(self, model):
        """Whether the product may go to registered MULT18X18D tiles: on ECP5 (whose
        registers :mod:`hwgen.dsppack` fills), wider than ``DSP_MIN_BITS`` (a narrower
        one is a few LUTs), and not a per-tensor ``m'`` of at most ``DIGITS_IN_LOGIC``
        signed digits (a LUT adder or two), nor a per-channel ``m'`` that
        :func:`~._rom.rom_plan` would store in block RAM (:func:`_multiplier_register` reads
        it in logic)."""
        width = self._in_shape.width + self.multiplier_bits + 1
        few_digits = self._per_tensor and self.product_terms <= self.DIGITS_IN_LOGIC
        in_block_ram = not self._per_tensor and any(
            style == "block" for _, style in rom_plan(self.folds, self.multiplier_bits))
        return (model.family == "ecp5" and width >= self.DSP_MIN_BITS and not few_digits
                and not in_block_ram)

    def _tile_split(self, lane, product_stages=None, dsp_product=None):
        """``(start, split, keep)`` of the lane's tile sum cut in two carry chains
        (:func:`_split_tile_sum`), or None where it stays one sum (:func:`~._multiply.
        tiled_product`): with ``dsp_product``, a one-stage adder tree of two or more rows,
        rounding ``"half_up"`` or ``"floor"`` and every channel's ``s >= 1``. Only the bits
        from the lane's smallest rounding shift ``keep`` (:meth:`_shift_base`) up reach the
        result, and below ``start`` (the second row's low bit) the lowest row is alone; the
        cut ``split`` is the middle of ``[start, width)`` or, when higher, the largest shift
        (every shifted copy of the high part then has zero low bits, :func:`~._dyadic.
        round_shift`'s ``low``)."""
        stages = self._product_stages if product_stages is None else product_stages
        dsp = self._dsp_product if dsp_product is None else dsp_product
        shifts = self._hw_s[lane::self._pe]
        if (not dsp or stages > 1 or self._rounding == "half_even" or min(shifts) == 0
                or self._tile_rows() < 2):
            return None
        start = tile_row_lows(self._in_shape, self._tile_factor())[1]
        width = self._in_shape.width + self.multiplier_bits + 1
        keep, most = self._shift_base(lane), max(shifts) - 1
        split = max(most, (start + width) // 2)
        if keep < start or split >= width - 1:
            return None
        return start, split, keep

    def _lane_bounds(self, lane):
        """((lo, hi) of the shift stage's register, (lo, hi) of ``rounded + zp``) over the
        lane's channels and the whole input range (exact: the rescale is monotonic)."""
        x_lo, x_hi = shape_range(self._in_shape)
        half, offset = [], []
        for c in range(lane, self._channels, self._pe):
            m, s, zp = self._hw_m[c], self._hw_s[c], self._zp[c]
            half += [2 * x * m if s == 0 else (x * m) >> (s - 1) for x in (x_lo, x_hi)]
            offset += [v + zp for v in dyadic_bounds(x_lo, x_hi, m, s, self._rounding)]
        return (min(half), max(half)), (min(offset), max(offset))

    def _misfit(self, model, period, option):
        """How badly ``option`` misses ``period``, to rank options when none fits: the
        slowest stage, then how many stages are too slow, then the latency (not the most
        stages: they cost flip-flops and cannot help while another stage is the limit)."""
        delays = [ns for ns, _ in self._stage_delays(model, *option, tile_adders=False)]
        latency = (self._product_latency(option[2], option[3]) + option[3] + option[0]
                   + option[1])
        return round(max(delays), 3), sum(ns > period for ns in delays), latency

    def _shift_base(self, lane):
        """The part of the lane's ``s - 1`` every channel shares (0 if one has ``s == 0``):
        a constant shift, so that the barrel shifter spans only the rest."""
        return min(max(s - 1, 0) if s else 0 for s in self._hw_s[lane::self._pe])

    def _shift_levels(self):
        """Multiplexer levels of the rounding shift: of the lane with the most distinct
        amounts above its constant base (0 when every lane's shift is one constant)."""
        return max((len(self._shift_amounts(lane)) - 1).bit_length()
                   for lane in range(self._pe))

    def _shift_amounts(self, lane):
        """The lane's distinct rounding shifts ``s - 1`` above its base (0 for ``s == 0``),
        ascending: the ``amounts`` of :func:`~._dyadic.round_shift`, which its shift ROM
        stores indices into."""
        base = self._shift_base(lane)
        return sorted({s - 1 - base if s else 0 for s in self._hw_s[lane::self._pe]})

    def _stage_delays(self, model, shift_stage, offset_stage, product_stages=0,
                      dsp_product=False, *, tile_adders=True):
        """[(ns, what)] of the multiplier stage(s) and the stages after it."""
        x_bits, m_bits = self._in_shape.width, self.multiplier_bits
        width = x_bits + m_bits + 1                                     # the product
        splits = [self._tile_split(lane, product_stages, dsp_product)
                  for lane in range(self._pe)]
        if dsp_product:          # registered tiles, their adder levels
            stages = [(model.dsp * REGISTERED_TILE_SHARE,
                       "the multiplier's tiles (registered MULT18X18D)")]
            rows = self._tile_rows()
            levels = (rows - 1).bit_length()
            # a split sum's longest carry chain (_split_tile_sum), else the product's width
            chain = max(width if cut is None else max(cut[1] - cut[0], width - cut[1])
                        for cut in splits)
            if levels:
                # a stage's adder levels are one multi-operand sum (Yosys merges them)
                per_stage = -(-levels // max(product_stages, 1))
                stages += [(model.stage(merged_sum_ns(
                                model, min(1 << per_stage, -(-rows // (1 << i))), chain)),
                            f"the multiplier's tile adders ({per_stage} levels per stage)")
                           for i in range(0, levels, per_stage)]
        elif product_stages:     # the selecting LUT, then adder levels per stage
            # a level's carry chain spans x's width plus its terms' shifts plus a carry per
            # level (no longer than the product); the bits of m' are 2**j apart at level j + 1
            levels = [model.carry(min(x_bits + span + j + 1, width))
                      for j, span in enumerate(_level_spans(self._product_positions()))]
            per_stage = -(-len(levels) // product_stages) if levels else 1
            select = 0.0 if self._per_tensor else model.luts(1)  # a constant: none
            stages = [(model.stage((select if i == 0 else 0.0)    # carry() has its net
                                   + sum(levels[i:i + per_stage])),
                       f"the multiplier's adder levels ({per_stage} per stage)")
                      for i in range(0, max(len(levels), 1), per_stage)]
        elif width > 10:         # MULT18X18D tiles without their own registers, then adders
            tiles = -(-x_bits // 18) * -(-(m_bits + 1) // 18)
            multiply = (model.dsp + 2 * model.route()
                        + tile_adders * (tiles - 1).bit_length() * model.carry(width))
            stages = [(model.stage(multiply), "the multiplier")]
        else:
            stages = [(model.stage(model.carry(width) + model.luts(2)), "the multiplier")]
        shift = model.luts(self._shift_levels())
        bounds = [self._lane_bounds(lane) for lane in range(self._pe)]
        # one adder: the rounding term and the zero point ride in one operand (round_shift)
        half_bits = max(_signed_shape(*half).width for half, _ in bounds)
        add = model.carry(half_bits if shift_stage else width)
        if any(splits) and not shift_stage:
            # the split sum's two parts and the rounding term: a row of full adders, then a
            # chain over the bits from the smallest shift up
            add = model.luts(1) + model.carry(width - min(cut[2] for cut in splits if cut))
        offset_bits = max(_signed_shape(*offset).width for _, offset in bounds)
        # The clamp's LUT tree, then the queue's write (a slot's multiplexer or the LUTRAM's
        # write port): attention_mini's k with the rounding adder in that stage placed at
        # 152 MHz (read_at -> the ring, 11 levels), with the clamp alone at 207 (seed 1).
        clamp_ns = model.luts(clamp_levels(offset_bits, self._out_shape) + 1, fanout=4)
        parts = [("rounding shift", shift), ("rounding add and offset", add), ("clamp", clamp_ns)]
        cut_after = {0: shift_stage, 1: offset_stage}
        ns, names = 0.0, []
        for index, (name, part_ns) in enumerate(parts):
            ns, names = ns + part_ns, names + [name]
            if cut_after.get(index, True):
                stages.append((model.stage(ns), " + ".join(names)))
                ns, names = 0.0, []
        return stages

    def _lane_params(self, m, lane, fold, late, later):
        """(multiplier, shamt, exact, zero_point) for ``lane``: the multiplier valid in
        stage 1, the shift's in the cycle the product is registered, the zero point then or,
        with ``shift_stage``, a cycle later. ``shamt`` is the index of the rounding shift
        ``s - 1`` above the lane's constant base (:meth:`_shift_base`; 0 when ``s == 0``)
        among the lane's distinct ones (:meth:`_shift_amounts`), so the shift is a
        multiplexer of that many shifted copies and no wider; ``exact`` is ``s == 0`` (no
        rounding term). Why ``s - 1``:
        ``((p >> (s-1)) + 1) >> 1`` rounds half up without a ``2**(s-1)`` adder (_dyadic).

        A parameter equal for every channel is a constant; otherwise it comes
        from this lane's ROM, addressed by the fold of the beat being accepted
        (the multiplier's) or by that fold delayed by the product's latency (``late``,
        and ``later`` for the zero point), so that the ROM's read register is the stage's
        register. With ``dsp_product`` the multiplier is :func:`_multiplier_register`
        instead of a ROM read.
        """
        channels = range(lane, self._channels, self._pe)
        base, amounts = self._shift_base(lane), self._shift_amounts(lane)
        shifts = [self._hw_s[c] for c in channels]
        values = {
            "multiplier": [self._hw_m[c] for c in channels],
            "shamt": [amounts.index(s - 1 - base if s else 0) for s in shifts],
            "exact": [int(s == 0) for s in shifts],
            "zero_point": [self._zp[c] for c in channels],
        }
        shapes = {
            "multiplier": unsigned(self.multiplier_bits),
            "shamt": unsigned((len(amounts) - 1).bit_length()),
            "exact": unsigned(1),
            "zero_point": signed(max(_bits_signed(v) for v in self._zp)),
        }
        words = values["multiplier"]
        if self._dsp_product and len(set(words)) > 1:
            mult = _multiplier_register(m, lane, shapes["multiplier"], words, fold)
        else:
            mult = lane_rom(m, f"multiplier_rom_{lane}", shapes["multiplier"], words,
                            addr=fold, en=Const(1), placed=True)
        return [mult, *(lane_rom(m, f"{key}_rom_{lane}", shapes[key], values[key], addr=addr,
                                 en=Const(1), placed=True)
                        for key, addr in (("shamt", late), ("exact", late), ("zero_point", later)))]


def _multiplier_register(m, lane, shape, words, fold):
    """``words[fold]`` in a register with no reset and no enable, read from the ROM in logic,
    so that :mod:`hwgen.dsppack` can move it into the tiles beside ``x1``. Yosys makes some
    of its bits a synchronous reset from the ROM's constants; dsppack gives those back a LUT
    in front of the register. (Before: the words at the fold and the one after it in two
    registers of their own and a multiplexer, 132 flip-flops in each of int8_mlp's
    requants.)"""
    mult = Signal(shape, reset_less=True, name=f"multiplier_{lane}")
    m.d.sync += mult.eq(Array(Const(w, shape) for w in words)[fold])
    return mult


def _split_tile_sum(m, terms, start, split, keep, *, name):
    """``(high << split, low << keep)``, two registers whose sum is ``sum(value << low for
    value, low in terms)`` (the tile rows, :func:`~._multiply.tile_terms`) less its bits below
    ``keep``: the rows' bits from ``split`` up summed in one carry chain, those from ``start``
    to ``split`` in another beside it (``low``: its bits from ``keep`` up and its carries),
    where one sum is one chain from bit 0 (the lowest row's bits below ``start``, the second
    row's low bit, are added to zeros). int8_mlp's requants at 200 MHz: 47 bits, rows from
    bit 17, shifts from 30: chains of 14 and 15 bits after the full adders rather than 47.
    The same register stage as the one sum; ``(low_count - 1).bit_length()`` flip-flops more
    (the carries) than the one sum's bits from ``keep`` up."""
    high = sum(_bits(value, split - low, None) if low < split else value << (low - split)
               for value, low in terms)
    low_sum = sum(_bits(value, max(start - low, 0), split - low) << max(low - start, 0)
                  for value, low in terms if low < split)
    carries = (sum(low < split for _, low in terms) - 1).bit_length()
    width = max(len(value) + low for value, low in terms) + 1
    high_reg = Signal(signed(width - split + 1), name=f"{name}_high")
    low_reg = Signal(split - keep + carries, name=f"{name}_low")
    m.d.sync += [high_reg.eq(high), low_reg.eq(low_sum[keep - start:])]
    return high_reg << split, low_reg << keep


def _bits(value, low, high):
    """``value``'s bits ``[low, high)`` as an unsigned Value (beyond its width: its sign), or
    ``value >> low`` (arithmetic, as ``value``) when ``high`` is None."""
    if high is None:
        return value >> low
    extra = high - len(value)
    if extra > 0:
        fill = value[-1] if value.shape().signed else Const(0, 1)
        value = Cat(value, *[fill] * extra)
    return value.as_unsigned()[low:high]


def _level_spans(positions):
    """Per adder level of the staged product's tree over terms at these bit ``positions``
    (paired in order, as :func:`~._multiply.staged_product` pairs them): the widest
    distance from a sum's lowest to its highest term."""
    nodes, spans = [(p, p) for p in positions], []
    while len(nodes) > 1:
        nodes = [(pair[0][0], pair[-1][1]) for pair in
                 (nodes[k:k + 2] for k in range(0, len(nodes), 2))]
        spans.append(max(high - low for low, high in nodes))
    return spans


def _signed_shape(lo, hi):
    """A signed shape holding every integer in ``[lo, hi]`` (signed, as the datapath is)."""
    return signed(max(_bits_signed(lo), _bits_signed(hi)))


def _bits_signed(value: int) -> int:
    return (value if value >= 0 else ~value).bit_length() + 1
