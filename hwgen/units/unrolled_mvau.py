"""Fully unrolled binary MVAU: weights folded into logic, optionally MST-shared popcounts (issue #10)."""

from amaranth.hdl import Cat, Module, Signal, unsigned

from ._checks import check_int
from ._mst import direct_plan, mst_plan
from ._pipeline import Stages, adder_tree
from .mvau import MVAU, _check_weights

__all__ = ["UnrolledMVAU"]

SHARES = ("none", "mst")
BINARY = unsigned(1)


class UnrolledMVAU(MVAU):
    """Binary matrix-vector unit computing a whole vector per cycle (latency mode).

    Computes exactly what :class:`~hwgen.units.mvau.MVAU` computes,
    ``y[c] = 2 * popcount(xnor(x, W[c])) - MW`` (``sw_reference.ops.binary_dense``),
    with ``PE = MH`` and ``SIMD = MW``: no ROM, no counters, each weight is a
    constant, so each output channel is a popcount of selected and possibly
    inverted input bits (an XNOR with a constant is a wire or an inverter).

    ``share="mst"`` lets a channel reuse the count of a channel with similar
    weights (MST-compression, see :mod:`hwgen.units._mst`): channel ``j``
    derived from ``i`` adds ``2 * popcount`` over only the columns where
    their weights differ. The plan's tree is at most ``share_depth`` links
    deep. Each channel is held as ``v = count + K`` with a constant ``K``
    (the sum of the differing column counts along its chain), so a link is
    one unsigned adder ``v_j = v_i + 2 * popcount(...)`` and the constant
    folds into the output: ``y = 2 * v - (MW + 2 * K)``.

    Parameters
    ----------
    weights : array-like [MH, MW] of -1/+1
    pipeline : int      register stages inside every popcount adder tree; 0 = combinational
    share : str         ``"none"`` (every channel a full popcount) or ``"mst"``
    share_depth : int   longest chain of reuse with ``share="mst"`` (>= 1)
    in_shape : Shape    ``unsigned(1)`` (binary inputs)

    Members
    -------
    i : In(stream.Signature(ArrayLayout(unsigned(1), MW)))    one vector per beat
    o : Out(stream.Signature(ArrayLayout(acc_shape, MH)))     all channels per beat

    Latency ``2 + pipeline + L`` cycles with ``L = plan.levels`` links of reuse
    when ``pipeline > 0`` (a register after each link, and delay registers
    so every channel leaves in the same cycle); ``2`` when ``pipeline == 0``
    (links chained combinationally). One vector per cycle. All stages advance
    together when ``o.ready | ~o.valid``.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "nf", "sf", "rom_bits", "pipeline", "acc_bits", "share_depth",
               "share_levels", "synapse_ops", "synapse_ops_unshared", "share")
    #: no resource model covers it yet (the MVAU's does not apply)
    resource_features = None

    def __init__(self, *, weights, pipeline=0, share="none", share_depth=2,
                 in_shape=BINARY):
        if share not in SHARES:
            raise TypeError(f"share must be one of {', '.join(map(repr, SHARES))}, not {share!r}")
        self._share = share
        self._share_depth = check_int("share_depth", share_depth, minimum=1)
        array = _check_weights(weights)
        super().__init__(weights=array, pe=array.shape[0], simd=array.shape[1],
                         pipeline=pipeline, in_shape=in_shape)
        self._plan = (mst_plan(self._weights, self._share_depth) if share == "mst"
                      else direct_plan(self._weights))

    share = property(lambda self: self._share)
    share_depth = property(lambda self: self._share_depth)
    #: the :class:`~hwgen.units._mst.SharePlan` (who reuses whom)
    plan = property(lambda self: self._plan)
    #: XNOR/popcount input bits after sharing, and without it (MH * MW)
    synapse_ops = property(lambda self: self._plan.synapse_ops)
    synapse_ops_unshared = property(lambda self: self._plan.synapse_ops_unshared)
    share_levels = property(lambda self: self._plan.levels)

    @property
    def _link_stages(self):
        """Register stages the reuse links add (one per link, only when pipelined)."""
        return self._plan.levels if self.pipeline else 0

    #: latency mode: no register slice after it (it would add a cycle of latency)
    slice_after = False

    @property
    def latency(self):
        return 2 + self.pipeline + self._link_stages

    def elaborate(self, platform):
        m = Module()
        advance = Signal(name="_advance")
        m.d.comb += [advance.eq(self.o.ready | ~self.o.valid), self.i.ready.eq(advance)]
        stages = Stages(m, advance)

        # Stage 1: the input register.
        x = Signal(self.mw, name="x_in")
        with m.If(self.i.valid & advance):
            m.d.sync += x.eq(self.i.payload.as_value())
        valid = stages.register(self.i.valid, unsigned(1), "valid_1")

        # Stages 2 .. 1+pipeline+links: popcounts, then the reuse links level by level.
        last = self.pipeline + self._link_stages
        counts = self._channel_counts(m, stages, x)
        valid = _align(stages, valid, 0, last, "valid")

        # Output register: y = 2 * v - (MW + 2 * K).
        out_valid = Signal(name="out_valid")
        with m.If(advance):
            m.d.sync += out_valid.eq(valid)
        m.d.comb += self.o.valid.eq(out_valid)
        for c, (value, offset, stage) in enumerate(counts):
            y = Signal(self.acc_shape, name=f"y_{c}")
            with m.If(advance):
                m.d.sync += y.eq(((_align(stages, value, stage, last, f"v{c}")) << 1)
                                 - (self.mw + 2 * offset))
            m.d.comb += self.o.payload[c].eq(y)
        return m

    def _channel_counts(self, m, stages, x):
        """Per channel ``(v, K, stage)``: ``v = popcount(xnor(x, W[c])) + K`` valid at ``stage``.

        Stages count from the input register; direct popcounts arrive at
        ``pipeline``, a channel ``l`` links deep at ``pipeline + l`` (pipelined)
        or at 0 (combinational).
        """
        plan, staged = self._plan, self.pipeline > 0
        counts = [None] * self.mh
        for c in plan.order:
            columns = plan.differing(self._weights, c)
            parent = plan.parent[c]
            if parent < 0:
                counts[c] = (self._popcount(m, stages, x, c, columns), 0, self.pipeline)
                continue
            value, offset, stage = counts[parent]
            offset += len(columns)
            if not len(columns):                     # identical weights: the same count
                counts[c] = (value, offset, stage)
                continue
            at = self.pipeline + plan.level[c] - 1 if staged else 0
            delta = _align(stages, self._popcount(m, stages, x, c, columns), self.pipeline, at,
                           f"d{c}")
            node = Signal(unsigned((self.mw + offset).bit_length()), name=f"v{c}")
            m.d.comb += node.eq(_align(stages, value, stage, at, f"v{parent}_for{c}")
                                + (delta << 1))
            if staged:
                node = stages.register(node, node.shape(), f"v{c}_l{plan.level[c]}")
            counts[c] = (node, offset, at + staged)
        return counts

    def _popcount(self, m, stages, x, c, columns):
        """``popcount(xnor(x, W[c]))`` over ``columns``, ``pipeline`` stages later.

        Each XNOR with a constant weight is ``x[k]`` (weight +1) or ``~x[k]`` (-1).
        """
        bits = Signal(len(columns), name=f"agree_{c}" if len(columns) == self.mw
                      else f"agree_{c}_vs_{self._plan.parent[c]}")
        row = self._weights[c]
        m.d.comb += bits.eq(Cat(x[k] if row[k] > 0 else ~x[k] for k in map(int, columns)))
        return adder_tree(m, stages, [(bits[j], 0, 1) for j in range(len(columns))], f"pc{c}",
                          pipeline=self.pipeline)


def _align(stages, value, have, want, name):
    """``value`` (valid at stage ``have``) delayed by registers to stage ``want``."""
    for stage in range(have, want):
        value = stages.register(value, value.shape(), f"{name}_s{stage + 1}")
    return value
