"""The folded matrix-vector engine shared by MVAU, IntegerMVAU and MatMul (FINN's MVAU loop).

One engine, built by composition: fold counters, the input buffer that
replays a vector's slices for every output fold, the per-fold accumulator
start values and the accumulation itself live here; what a slice computes
is a *lane datapath* (:mod:`~hwgen.units._lanes`: XNOR-popcount, add/sub,
shift-add or DSP products) and where weights come from is a *weight store*
(:mod:`~hwgen.units._weight_store`: ROMs, or RAMs written from a stream).
The units are thin components that check their parameters, pick the two
parts and expose :class:`FoldedUnit`'s properties.
"""

import numpy as np
from amaranth.hdl import Const, Module, Mux, Shape, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from ..ranges import range_shape
from ._checks import check_int
from ._counter import counter
from ._credit import CreditQueue
from ._pipeline import Stages
from ._rom import lane_rom

__all__ = ["FoldedEngine", "FoldedUnit", "check_fold"]


def check_fold(mh, mw, *, pe, simd, pipeline, rows, cols):
    """``(pe, simd, pipeline)`` checked for an MH x MW matrix (``rows``/``cols`` say what MH and
    MW are in the messages), or a TypeError/ValueError."""
    pe = check_int("pe", pe, minimum=1)
    simd = check_int("simd", simd, minimum=1)
    pipeline = check_int("pipeline", pipeline, minimum=0)
    if mh % pe:
        raise ValueError(f"pe must divide MH ({mh}, {rows}), not {pe!r}")
    if mw % simd:
        raise ValueError(f"simd must divide MW ({mw}, {cols}), not {simd!r}")
    return pe, simd, pipeline


class FoldedEngine:
    """FINN's folded matrix-vector loop around a lane datapath and a weight store.

    For every vector of MW elements computes ``y[c] = base[c] + sum over
    slices`` for the MH channels: ``PE`` channels in parallel, ``SIMD``
    inputs per cycle, ``NF = MH / PE`` output folds, ``SF = MW / SIMD``
    slices, ``NF * SF`` cycles per vector. For ``nf`` in 0..NF-1, for ``sf``
    in 0..SF-1, slice ``sf`` and each PE's weight word go through the lane
    datapath into the PE's accumulator, which starts each output fold at
    ``base[c]``; after the last slice the PE results leave as one beat. The
    slices are taken from the input stream while ``nf == 0`` and stored in
    an input buffer (a ``Memory`` of SF words) that replays them for the
    other folds, so each vector is read once and the next vector's first
    beat is accepted in the cycle after the last slice: no bubbles.

    Stages: the fold counters issue a slice; one stage later the slice
    (input register or buffer read) and the weight words are there (one more
    with the store's ``read_register``); the datapath's ``stages`` later its
    sums; a fold's last sum goes into the output queue. The pipeline never
    stalls: every stage loads every cycle (:class:`~hwgen.units._pipeline.Stages`
    without an enable) and a valid bit travels with each slice; only the
    accumulators load on that bit. Flow control is by credit
    (:class:`~hwgen.units._credit.CreditQueue`): a fold's last slice is issued
    only when the queue has room for its result and every result in flight,
    so ``o.ready`` reaches the queue's pointer and count only. The credit is
    a flip-flop computed a cycle ahead (``registered_room``; the queue holds
    one beat more), so ``i.ready`` is high in output fold 0, while the store
    is ``open``, and (for the last slice of a fold) while there is credit: a
    LUT or two from flip-flops of the unit, not an adder over the valid bits
    of a deep pipeline (MatMul's) in series with every input enable.

    Widths are exact: the accumulator holds every partial sum ``base[c]``
    plus the first ``j`` slices (``j = 0..SF``) over all channels, from the
    datapath's slice bounds (exact per channel when the store knows the
    weights); ``sum_range`` is the range of the final sums.

    Parameters
    ----------
    mh, mw, pe, simd : int      the fold (checked by :func:`check_fold`)
    in_shape : Shape            input element shape (``SIMD`` per beat)
    datapath                    a lane datapath (:mod:`~hwgen.units._lanes`)
    store                       a weight store (:mod:`~hwgen.units._weight_store`)
    base : int or array [MH]    each channel's accumulator start value
    registered_result : bool    a fold's sum goes to the output queue from the accumulator's
                                register, a cycle later, rather than from its adder (default
                                False; only where the accumulator is restarted by a
                                multiplexer, with ``SF`` > 1): the tree's last adder and the
                                accumulator's then end in the accumulator, placed next to them,
                                and no more in the queue (tiny_bnn's fc1 at 200 MHz: 5.1 ns)
    address_copies : bool       each PE's ROM in logic reads its own copy of the address
                                (default False): one shared address decode reaches every PE's
                                weight LUTs, whose nets took 2.6 ns of a 5.4 ns path in
                                tiny_bnn's fc1 at 200 MHz; the copies cost flip-flops and,
                                since Yosys then maps each PE's ROM apart, LUTs (a 32x32 MVAU at
                                NF = SF = 2: 2,442 -> 3,169 LUT6), so they are for fast clocks
                                only. Block RAMs (ROMs with the read register) and read tables
                                decode inside and keep one address.
    start_copies : bool         each PE's start-value ROM reads its own copy of the output fold
                                (default False): one shared ``start_fold`` register reaching
                                every PE's ROM was the critical path of sfc_balanced's fc0 at
                                200 MHz (fanout 16 PEs x 12 bits, 6.3 ns); the copies are the
                                last stage of its delay, so they cost ``PE - 1`` registers of
                                the fold number and no cycle. Only with start-value ROMs, more
                                than one PE and at least one datapath stage.
    slice_copies : int          the slice's last register before the lanes (the read
                                register, or ``early_select``'s register where the store has
                                none) as this many registers, each reaching a run of
                                ``PE / slice_copies`` PEs (default 1): with the weights in block
                                RAM the PEs sit beside their RAMs, in rows across the die, and
                                one register reaching every PE's first tree level spanned them
                                (sfc_balanced's fc2 at 200 MHz, seed 3: ``x_read`` -> a PE's
                                level-1 register, 5.27 ns of routing); integer lanes in logic
                                read each input bit in every weight bit's LUT (residual_mlp's
                                fc2 at 200 MHz, 4 PEs of 8-bit lanes: ``x_slice`` -> 32 LUT4,
                                one net of 4.8 ns in a 7.9 ns path); each copy costs ``SIMD``
                                input bits of flip-flops and no cycle
    early_select : bool         the slice's register takes the stream in output fold 0 and the
                                input buffer's word (read without a register) in the others
                                (default False: the stream's register and the buffer's read
                                register, then a multiplexer between them): no select in front
                                of the lanes, and one register of the slice instead of two.
                                The select's register reached every lane's first LUT (fanout
                                PE x SIMD x weight bits x input bits; int4_cnn's conv2 at
                                200 MHz: ``from_buffer`` -> the tree's level-2 register, 6.8 ns).
                                Only where there is an input buffer (NF > 1 and SF > 1) of at
                                most 16 words (one LUTRAM cell deep, so the read is one LUT
                                level) and no ``slice_from_buffer``.
    sign_output : bool          a fold's result is the bit ``sum >= 0`` rather than the sum
                                (default False): with ``base = start - T`` that is a 1-bit
                                threshold ``sum >= T`` with no comparator (the binary MVAU's
                                fused threshold); the output queue holds one bit per PE
    registered_controls : bool  flip-flops in place of control logic on long nets (default
                                False; the binary and integer MVAUs'): the fold's last-slice flag, which
                                is in ``i.ready`` and so in the stream FIFO's read and flags,
                                steps with the ``sf`` counter instead of comparing it
                                (sfc_balanced's fc2 at 200 MHz: sf, its compare, i.ready, the
                                FIFO's read and not_full, 5 levels, 5.75 ns); and ROMs in block
                                RAM read an address register of their own, loaded from a
                                counter one step ahead, not the counter whose increment and wrap
                                then sat on a net spanning the RAMs (fc0's 32 DP16KD: 5.47 ns)
    registered_accept : bool    the output queue counts a fold's result from a register of its
                                last issue, a cycle late, with one stage fewer (default False;
                                the integer MVAU's): with SF > 1 the cycle after a fold's last
                                slice issues another fold's first, which needs no credit, so
                                the room read next is not yet due, and ``room``'s flip-flop is
                                then a function of the queue's own flip-flops, not of the
                                issue (``room``, ``sf_last``, the stream's ``valid``): the
                                issue through it into ``room_reg`` took 4 LUT levels (ternary_mlp's
                                fc2 at 200 MHz: ``sf_last -> queue.room_reg``, 5.42 ns). Only
                                where the queue of one stage fewer holds as many results (the
                                room is then the same in every cycle it is read), else as before
    registered_write : bool     the input buffer is written a cycle after the accept, from
                                flip-flops: ``x_in`` (the stream's register, which holds the
                                accepted slice then), a register of ``sf`` and one of the
                                accept (default False; MatMul's). Its write enable was the end
                                of the late handshake, ``queue.room_reg -> credit -> a.ready ->
                                accept``, into the LUT RAM cells' enables (attention_mini's
                                scores at 200 MHz: -2.15 ns). Fold 1 reads slice ``j`` no
                                sooner than ``SF >= 2`` cycles after its accept, and the next
                                vector writes it only after the last fold has read it, so the
                                replay is unchanged. ``x_in`` is then read only in the cycle
                                after an accept (fold 0's issue is its accept), so it loads
                                every cycle: its 32 enables were the next endpoints of that
                                handshake (-1.5 ns). Only where there is an input buffer
                                (NF > 1 and SF > 1) written from the stream's register (no
                                ``early_select``, no ``slice_from_buffer``)
    """

    def __init__(self, *, mh, mw, pe, simd, in_shape, datapath, store, base,
                 registered_result=False, address_copies=False, start_copies=False,
                 slice_copies=1, early_select=False, sign_output=False,
                 registered_controls=False, registered_accept=False, registered_write=False):
        for name, value in (("registered_result", registered_result),
                            ("registered_accept", registered_accept),
                            ("registered_write", registered_write),
                            ("address_copies", address_copies),
                            ("start_copies", start_copies),
                            ("early_select", early_select),
                            ("sign_output", sign_output),
                            ("registered_controls", registered_controls)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, not {value!r}")
        self._registered_result = registered_result
        self._address_copies = address_copies
        self._start_copies = start_copies
        self._slice_copies = check_int("slice_copies", slice_copies, minimum=1)
        self._early_select = early_select
        self._sign_output = sign_output
        self._registered_controls = registered_controls
        self._registered_accept = registered_accept
        self._registered_write = registered_write
        self._mh, self._mw, self._pe, self._simd = mh, mw, pe, simd
        self._in_shape, self._datapath, self._store = in_shape, datapath, store
        self._base = np.broadcast_to(np.asarray(base, dtype=object), (mh,))
        (lo, hi), self._sum_range = self._bounds()
        self._acc_shape = range_shape(lo, hi, min_width=2)

    mh = property(lambda self: self._mh)
    mw = property(lambda self: self._mw)
    pe = property(lambda self: self._pe)
    simd = property(lambda self: self._simd)
    nf = property(lambda self: self._mh // self._pe)
    sf = property(lambda self: self._mw // self._simd)
    in_shape = property(lambda self: self._in_shape)
    datapath = property(lambda self: self._datapath)
    store = property(lambda self: self._store)
    acc_shape = property(lambda self: self._acc_shape)
    #: ``(lo, hi)`` of the final sums over all channels
    sum_range = property(lambda self: self._sum_range)
    #: a fold's result is the bit ``sum >= 0`` (see ``sign_output``)
    sign_output = property(lambda self: self._sign_output)
    #: register stages between a slice and the accumulator: the datapath's, + the read register
    stages = property(lambda self: self._datapath.stages + int(self._store.read_register))
    #: 1 when a fold's sum leaves from the accumulator's register (``registered_result`` where
    #: it applies), else 0: the cycles it adds to the latency
    result_register = property(lambda self: int(
        self._registered_result and self.sf > 1 and not self._datapath.reset_accumulator))

    @property
    def address_copies(self):
        """True when each PE's ROM reads its own copy of the address (``address_copies``
        where it applies: ROMs in logic, more than one PE and one word)."""
        return bool(self._address_copies and getattr(self._store, "address_per_pe", False)
                    and self._pe > 1 and self._store.depth > 1
                    and not self._store.read_register
                    and not getattr(self._datapath, "reads_tables", False))

    @property
    def registered_accept(self):
        """True when the output queue counts a fold's result from a register of its last
        issue (``registered_accept`` where it applies: SF > 1, and the queue of one stage
        fewer holds as many results)."""
        if not (self._registered_accept and self.sf > 1):
            return False
        now, late = (self._credit_queue(unsigned(1), stages)     # slots: whatever the payload
                     for stages in (self._queue_stages, self._queue_stages - 1))
        now._MustUse__silence = late._MustUse__silence = True    # sizes asked, not built
        return late.slots == now.slots

    @property
    def _queue_stages(self):
        """Register stages from a fold's last issue to the output queue, the queue's own
        register counted."""
        return 2 + self.stages + self.result_register

    def _credit_queue(self, shape, stages):
        return CreditQueue(shape, stages=stages, interval=self.sf, registered_room=True,
                           lutram=getattr(self._datapath, "lutram_queue", False))

    def _output_queue(self, shape):
        """The output queue: results of ``shape`` (PE sums), credit flow control; one stage
        fewer where its accept is registered (:attr:`registered_accept`)."""
        return self._credit_queue(shape, self._queue_stages - self.registered_accept)

    @property
    def rom_address_register(self):
        """True when the weight ROMs, in block RAM (two read registers), read one address
        register of their own (a copy of the address counter that loads from a counter one
        step ahead) instead of the counter."""
        return bool(self._registered_controls and getattr(self._store, "address_per_pe", False)
                    and self._store.read_register == 2)

    @property
    def early_select(self):
        """True when the slice's register takes the stream or the buffer's word
        (``early_select`` where it applies: an input buffer of 2 .. 16 words, read through
        the engine's select rather than ``slice_from_buffer``)."""
        return bool(self._early_select and self.nf > 1 and 1 < self.sf <= 16
                    and not self._datapath.slice_from_buffer)

    @property
    def registered_write(self):
        """True when the input buffer is written a cycle after the accept from flip-flops
        (``registered_write`` where it applies: an input buffer written from ``x_in``)."""
        return bool(self._registered_write and self.nf > 1 and self.sf > 1
                    and not self.early_select and not self._datapath.slice_from_buffer)

    @property
    def start_copies(self):
        """True when each PE's start-value ROM reads its own copy of the output fold
        (``start_copies`` where it applies: start values that differ between folds, more than
        one PE, and a stage of delay to end in the copies)."""
        return bool(self._start_copies and self._pe > 1 and self.stages >= 1
                    and self.start_rom_bits)

    @property
    def slice_copies(self):
        """Registers of the slice's last stage before the lanes (``slice_copies`` where it
        applies: a read register or ``early_select``'s, at most one per PE)."""
        staged = self._store.read_register or self.early_select
        return min(self._slice_copies, self._pe) if staged else 1

    @property
    def start_rom_bits(self):
        """Bits of the per-PE start-value ROMs (PEs whose start values differ between folds)."""
        per_pe = self._base.reshape(self.nf, self._pe)      # [nf, p]: channel nf * PE + p
        roms = int((per_pe != per_pe[0]).any(axis=0).sum())
        return roms * self.nf * self._acc_shape.width

    def _bounds(self):
        """((lo, hi) of every partial sum, (lo, hi) of the final sums), exact, over all channels."""
        shape = (self._mh, self.sf)
        base = self._base
        lo, hi = (np.broadcast_to(np.asarray(v, dtype=object), shape)
                  for v in self._datapath.slice_bounds(self._store.weights))
        low = base[:, None] + np.cumsum(lo, axis=1)
        high = base[:, None] + np.cumsum(hi, axis=1)
        return ((int(min(base.min(), low.min())), int(max(base.max(), high.max()))),
                (int(low[:, -1].min()), int(high[:, -1].max())))

    def elaborate(self, m, *, vectors, out, weight_stream=None):
        """Build the engine in ``m``: ``vectors`` (In stream of SIMD-element slices) -> ``out``
        (Out stream of PE sums); ``weight_stream`` goes to the store (MatMul's ``b``)."""
        nf_count, sf_count, pe = self.nf, self.sf, self._pe

        # The pipeline never stalls: its registers load every cycle and a valid bit travels
        # with each slice. A fold's last slice is issued only when the output queue has room
        # for its result and every result in flight (credit), so ``out.ready`` reaches the
        # queue's pointer and count only, and ``vectors.ready`` comes from flip-flops.
        stages = Stages(m, None)
        always = Const(1)
        is_open, read_weights = self._store.build(m, always, weight_stream)
        m.submodules.queue = queue = self._output_queue(out.payload.shape())
        wiring.connect(m, wiring.flipped(out), queue.o)

        # Stage 0: fold counters. Fold nf == 0 takes slices from the stream, the others replay.
        issue = Signal(name="issue")
        # "the fold's last slice" as a flip-flop: it is in i.ready (credit), whose path
        # continues into the stream FIFO's read enable and flags (sfc_balanced's fc2 at
        # 200 MHz: sf, its compare, i.ready, the FIFO's read and not_full, 5 levels, 5.75 ns)
        sf, sf_last = counter(m, sf_count, issue, "sf",
                              registered_last=self._registered_controls)
        nf, nf_last = counter(m, nf_count, issue & sf_last, "nf")
        # == nf * SF + sf (+ the head's block in MatMul), without a multiplier
        addr, addr_last = counter(m, self._store.depth, issue, "waddr")
        # "nf == 0" as a flip-flop of its own: it is in i.ready, whose path continues into the
        # enables of the stream's FIFO (tiny_bnn's fc1, seed 2: nf's compare, i.ready, the
        # FIFO's read, 5.4 ns at 200 MHz)
        first_fold = Const(1)
        if nf_count > 1:
            first_fold = Signal(name="first_fold", init=1)
            with m.If(issue & sf_last):
                m.d.sync += first_fold.eq(nf_last)
        credit = Signal(name="credit")
        accept = Signal(name="accept")
        taking = vectors.valid if is_open is None else vectors.valid & is_open
        m.d.comb += [
            credit.eq(queue.room | ~sf_last),
            vectors.ready.eq(first_fold & credit if is_open is None
                             else first_fold & credit & is_open),
            accept.eq(vectors.valid & vectors.ready),
            issue.eq(credit & (taking | ~first_fold)),
        ]
        if self.registered_accept:
            fold_issued = Signal(name="fold_issued")
            m.d.sync += fold_issued.eq(issue & sf_last)
            m.d.comb += queue.accept.eq(fold_issued)
        else:
            m.d.comb += queue.accept.eq(issue & sf_last)

        # Stage 1: the slice (input register or buffer read) and each PE's weight word.
        # x_in changes only on accept, so with SF == 1 it is the whole buffer.
        slice_bits = self._simd * self._in_shape.width
        reads = int(self._store.read_register)

        def last_slice_register(value, name):
            """``value`` a stage later for each PE: one register, or ``slice_copies``, each
            for a run of PEs."""
            if self.slice_copies == 1:
                return [stages.register(value, unsigned(slice_bits), name)] * pe
            copies = [stages.copy(value, f"{name}_c{c}") for c in range(self.slice_copies)]
            return [copies[p * self.slice_copies // pe] for p in range(pe)]

        payload = vectors.payload.as_value()
        x_slices = None                 # per PE, once the slice's last register is made
        if self.registered_write:
            # Read only in the cycle after an accept (fold 0's issue is its accept; the
            # buffer's write): it loads every cycle, so the handshake enables no flip-flop.
            x_in = Signal(slice_bits, name="x_in")
            m.d.sync += x_in.eq(payload)
        elif not self.early_select:
            x_in = Signal(slice_bits, name="x_in")
            with m.If(accept):
                m.d.sync += x_in.eq(payload)
        if nf_count > 1 and sf_count > 1:
            m.submodules.input_buffer = buffer = Memory(shape=unsigned(slice_bits),
                                                        depth=sf_count, init=[])
            write = buffer.write_port()
            if self.registered_write:
                wrote = Signal(name="buffer_wen")
                waddr = Signal.like(sf, name="buffer_waddr", reset_less=True)
                m.d.sync += [wrote.eq(accept), waddr.eq(sf)]
                m.d.comb += [write.addr.eq(waddr), write.data.eq(x_in), write.en.eq(wrote)]
            else:
                m.d.comb += [write.addr.eq(sf), write.data.eq(payload), write.en.eq(accept)]
            if self.early_select:
                # Fold 0 issues only what it accepts, so the stream's word is its slice; the
                # other folds accept nothing, so the buffer's word at ``sf`` is fold 0's.
                replay = buffer.read_port(domain="comb")
                m.d.comb += replay.addr.eq(sf)
                x_slice = Mux(first_fold, payload, replay.data)
                if reads:
                    x_slice = stages.register(x_slice, unsigned(slice_bits), "x_slice")
                else:
                    x_slices = last_slice_register(x_slice, "x_slice")
            elif self._datapath.slice_from_buffer:
                # Every fold reads the buffer, fold 0 through its write (a transparent read:
                # the address is registered, the word read after the write): no multiplexer
                # between the stream and the buffer in front of the lanes.
                x_slice = Signal(slice_bits, name="x_slice")
                replay = buffer.read_port(domain="sync", transparent_for=(write,))
                m.d.comb += [replay.addr.eq(sf), x_slice.eq(replay.data)]
            else:
                x_slice = Signal(slice_bits, name="x_slice")
                replay = buffer.read_port(domain="sync")
                m.d.comb += replay.addr.eq(sf)
                from_buffer = stages.register(~first_fold, unsigned(1), "from_buffer")
                m.d.comb += x_slice.eq(Mux(from_buffer, replay.data, x_in))
        else:
            x_slice = x_in
        cleared = self._datapath.reset_accumulator and sf_count > 1
        # With address_copies, each PE's ROM in logic reads through its own copy of the
        # address (PE 0 the counter, the others registers that load on `issue`). They load
        # from a counter one step ahead, so only a register and `issue` reach them: loading
        # the counter's next value put its increment, wrap test and multiplexer in front of
        # every copy (odd_mlp's fc1 at 200 MHz: waddr -> waddr_pe6, 5.1 ns).
        # ROMs in block RAM sit in rows across the die: they read one address register of
        # their own, loaded the same way, so the counter's increment and wrap are not on a net
        # that spans them (sfc_balanced's fc0 at 200 MHz: waddr -> its increment 2.84 ns away
        # among its 32 DP16KD -> waddr, 5.47 ns).
        if self.address_copies or self.rom_address_register:
            depth = self._store.depth
            ahead = Signal(range(depth), name="waddr_ahead", init=1)
            with m.If(issue):
                m.d.sync += ahead.eq(Mux(ahead == depth - 1, 0, ahead + 1))
            addr = ([addr] + [_loaded_copy(m, ahead, issue, f"waddr_pe{p}")
                              for p in range(1, pe)] if self.address_copies
                    else _loaded_copy(m, ahead, issue, "waddr_rom"))
        w_slices = read_weights(issue, addr, addr_last)
        # The store's read registers; the slice is delayed alike. With two, the words' take
        # no reset, so the first can become a DP16KD's output register (hwgen.outreg) and the
        # second keeps the route from the RAM to the lanes a stage of its own; a single one
        # keeps its reset and stays in the fabric.
        for k in range(reads):
            tag = "" if k == reads - 1 else str(k)
            if tag:
                x_slice = stages.register(x_slice, unsigned(slice_bits), f"x_read{tag}")
            else:
                x_slices = last_slice_register(x_slice, "x_read")
            w_slices = [stages.register(w, Shape.cast(w.shape()), f"w_read{tag}_{p}",
                                        reset_less=reads > 1)
                        for p, w in enumerate(w_slices)]

        # Each PE's start value per output fold: a constant, or a ROM read like the weights but
        # addressed by the fold `self.stages` cycles later, so that its word meets the slice's
        # sum at the accumulator. One shared delay of the fold number, not one of every PE's
        # start value (odd_mlp, with fused thresholds: 200 of its 2,011 flip-flops).
        # With start_copies, the last register of that delay is one copy per PE with a ROM.
        words = [[int(self._base[n * pe + p]) for n in range(nf_count)] for p in range(pe)]
        start_folds = [nf] * pe
        if self.start_copies:
            shared = stages.delay(nf, self.stages - 1, "start_fold")
            start_folds = [stages.copy(shared, f"start_fold_pe{p}") if len(set(column)) > 1
                           else nf for p, column in enumerate(words)]
        elif any(len(set(column)) > 1 for column in words):
            start_folds = [stages.delay(nf, self.stages, "start_fold")] * pe
        starts = [lane_rom(m, f"acc_base_{p}", self._acc_shape, column, addr=start_folds[p],
                           en=always) for p, column in enumerate(words)]

        # Stages 2 .. 1+stages: the lane datapath; then accumulate. A fold's sum goes to the
        # queue in the cycle its last slice arrives (the queue knows which cycle that is);
        # with SF == 1 every slice is a whole fold and no accumulator is needed.
        if x_slices is None:
            x_slices = [x_slice] * pe
        sums = [self._datapath.slice_sum(m, stages, p, x_slices[p], w_slices[p])
                for p in range(pe)]
        # The slice's valid, first and last bits travel 1 + stages registers beside it, the
        # last of them one copy per PE: one register enabling or clearing every accumulator
        # bit was placed far from most of them (tiny_bnn's fc1: 2.2 ns of its net in a
        # 5.2 ns path at 200 MHz).
        sources, shared = {"valid": issue, "first": sf == 0, "last": sf_last}, {}

        def control(name, p):
            if name not in shared:
                shared[name] = stages.delay(sources[name], self.stages, name)
            return stages.copy(shared[name], f"{name}_pe{p}")

        result = Signal(out.payload.shape(), name="result")
        for p, term in enumerate(sums):
            total = Signal(self._acc_shape, name=f"total_{p}")
            if sf_count == 1:
                m.d.comb += total.eq(starts[p] + term)
            elif cleared and isinstance(starts[p], Const):
                # The accumulator holds the start value from reset and from each fold's last
                # slice on (the flip-flops' synchronous set/reset), so no multiplexer sits in
                # front of the adder and its bits above the slice sum are a bare carry chain.
                acc = Signal(self._acc_shape, name=f"acc_{p}", init=starts[p].value)
                m.d.comb += total.eq(acc + term)
                valid, last = control("valid", p), control("last", p)
                with m.If(valid & last):
                    m.d.sync += acc.eq(starts[p])
                with m.Elif(valid):
                    m.d.sync += acc.eq(total)
            else:
                acc = Signal(self._acc_shape, name=f"acc_{p}")
                valid, first = control("valid", p), control("first", p)
                m.d.comb += total.eq(Mux(first, starts[p], acc) + term)
                with m.If(valid):
                    m.d.sync += acc.eq(total)
                if self.result_register:
                    total = acc
            m.d.comb += result[p].eq(total >= 0 if self._sign_output else total)
        m.d.comb += queue.w_data.eq(result)


def _loaded_copy(m, value, load, name):
    """A register that takes ``value`` when ``load``, in a submodule of its own: one of
    several equal registers, each placed next to the part it drives, which synthesis
    (keeping the hierarchy) does not merge back into one."""
    m.submodules[name] = copy = Module()
    reg = Signal(Shape.cast(value.shape()), name=name)
    with copy.If(load):
        copy.d.sync += reg.eq(value)
    return reg


class FoldedUnit(wiring.Component):
    """What every unit built on a :class:`FoldedEngine` exposes (MVAU, IntegerMVAU, MatMul).

    A unit checks its parameters, builds its engine and calls this
    ``__init__`` with its ports; ``elaborate`` runs the engine from ``i``
    to ``o`` (MatMul's runs it from ``a``, with ``b`` to its store). The
    read-only properties below are the folding, widths and storage that the
    composer, the planner and the manifest read.

    Parameters
    ----------
    engine : FoldedEngine
    out_shape : Shape       output element shape
    members : dict          the component's ports (as for ``wiring.Component``)
    """

    def __init__(self, *, engine, out_shape, members):
        self._engine = engine
        self._out_shape = out_shape
        super().__init__(members)

    mh = property(lambda self: self._engine.mh)
    mw = property(lambda self: self._engine.mw)
    pe = property(lambda self: self._engine.pe)
    simd = property(lambda self: self._engine.simd)
    nf = property(lambda self: self._engine.nf)
    sf = property(lambda self: self._engine.sf)
    pipeline = property(lambda self: self._engine.datapath.pipeline)
    acc_shape = property(lambda self: self._engine.acc_shape)
    #: width of the accumulator register (the manifest records it)
    acc_bits = property(lambda self: self._engine.acc_shape.width)
    #: shape of an output element: exactly the range of the final sums
    out_shape = property(lambda self: self._out_shape)
    in_shape = property(lambda self: self._engine.in_shape)
    cycles_per_vector = property(lambda self: self.nf * self.sf)
    #: cycles from a vector's last input beat to its first output beat
    latency = property(lambda self: 2 + self._engine.stages + self._engine.result_register)
    #: a fold's sum leaves from the accumulator's register (see FoldedEngine)
    registered_result = property(lambda self: bool(self._engine.result_register))
    #: each PE's ROM reads its own copy of the address (see FoldedEngine)
    address_copies = property(lambda self: self._engine.address_copies)
    #: each PE's start-value ROM reads its own copy of the output fold (see FoldedEngine)
    start_copies = property(lambda self: self._engine.start_copies)
    #: registers of the slice's last read stage, each for a run of PEs (see FoldedEngine)
    slice_copies = property(lambda self: self._engine.slice_copies)
    #: ``i.ready`` comes from the unit's own flip-flops; ``o.ready`` reaches this many
    #: flip-flops (the output queue's pointer and count; see hwgen.network)
    registered_ready = True
    ready_fanout = 4
    #: bits of one weight in a weight word (lane ``j`` of a word holds bits [j*b, (j+1)*b))
    lane_bits = property(lambda self: self._engine.datapath.lane_bits)
    #: words per PE in the weight store (NF * SF; MatMul: one such block per head, in each
    #: of its two banks)
    weight_depth = property(lambda self: self._engine.store.depth)
    #: bits of one weight word: ``simd * lane_bits``
    weight_word_bits = property(lambda self: self._engine.store.word_bits)
    #: read registers the slice and weight words pass after the reads (0, 1 or 2): one for
    #: ROMs deeper than 64 words (block RAM's clock-to-output delay took most of
    #: sfc_balanced's 9.8 ns critical path) and MatMul's RAMs, two for ROMs in block RAM
    #: (the first becomes the DP16KD's output register, hwgen.outreg)
    read_register = property(lambda self: self._engine.store.read_register)
    #: weight bits in the ROMs plus start-value (bias) bits in their per-PE ROMs
    rom_bits = property(lambda self: self._engine.store.rom_bits + self._engine.start_rom_bits)
    #: the parts the engine is composed of (a lane datapath and a weight store)
    datapath = property(lambda self: self._engine.datapath)
    weight_store = property(lambda self: self._engine.store)

    def timed_pipeline(self, model, clock_mhz, depth, delays=None):
        """The fewest tree stages from ``pipeline`` on whose tree stages all fit the budget at
        ``clock_mhz`` (``delays(model, pipeline)``, by default ``datapath.tree_delays``; stages
        beyond the tree's ``depth`` levels no longer shorten it: then the depth whose slowest
        stage is shortest); ``pipeline`` for trees without an estimate."""
        delays = delays or self.datapath.tree_delays
        if delays(model, self.pipeline) is None:
            return self.pipeline
        budget = model.budget(clock_mhz)
        slowest = {p: max(delays(model, p))
                   for p in range(self.pipeline, max(self.pipeline, depth + 1) + 1)}
        fitting = [p for p, ns in slowest.items() if ns <= budget]
        return min(fitting) if fitting else min(slowest, key=lambda p: (slowest[p], p))

    def result_register_pays(self, model, clock_mhz):
        """Whether a fold's sums should leave from the accumulator's register
        (``registered_result``, one cycle more of latency) at ``clock_mhz``: where the
        accumulator is restarted by a multiplexer (SF > 1) and its adder with its net to the
        output queue (``model.carry(acc_bits) + model.route(3)``) fills half a stage. The
        tree's last adder, in the same stage, then leaves too little for the nets between
        them, which the delay model does not see (tiny_bnn's fc1 at 200 MHz, estimated to
        fit, took 5.1 ns; ternary_mlp's fc2, ``first_pe -> acc`` with the sums also
        reaching the queue, 5.40 ns)."""
        accumulate = model.carry(self.acc_bits) + model.route(3)
        return (self.sf > 1 and not self.datapath.reset_accumulator
                and accumulate > model.budget(clock_mhz) / 2)

    def elaborate(self, platform):
        m = Module()
        self._engine.elaborate(m, vectors=self.i, out=self.o)
        return m
