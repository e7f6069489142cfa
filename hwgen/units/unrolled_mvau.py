"""Fully unrolled binary MVAU: weights folded into logic, MST-shared popcounts, fused thresholds."""

from ._unrolled import unrolled_layer
from .unrolled_chain import BINARY, UnrolledChain

__all__ = ["UnrolledMVAU"]


class UnrolledMVAU(UnrolledChain):
    """Binary matrix-vector unit computing a whole vector per cycle (latency mode).

    Computes what :class:`~hwgen.units.mvau.MVAU` computes,
    ``y[c] = 2 * popcount(xnor(x, W[c])) - MW`` (``sw_reference.ops.binary_dense``),
    with ``PE = MH`` and ``SIMD = MW``: no ROM, no counters, each weight is a
    constant, so each output channel is a popcount of selected and possibly
    inverted input bits. With ``thresholds`` the unit outputs
    ``sum_j [y[c] >= T[c, j]]`` instead (``sw_reference.ops.threshold``, FINN's
    MultiThreshold fused into the MVAU): the last level of each popcount compares the
    count with constants, a sign test for 1-bit outputs, so no Thresholding unit follows.

    ``share="mst"`` lets a channel reuse the count of a channel with similar
    weights (MST-compression, see :mod:`hwgen.units._mst`): channel ``j``
    derived from ``i`` adds ``2 * popcount`` over only the columns where
    their weights differ, at most ``share_depth`` links deep, and only where that
    pays (``link_cost``). A link is one more adder level; it costs a cycle only when
    it does not fit the slack of its register stage.

    A one-layer :class:`~hwgen.units.unrolled_chain.UnrolledChain`: registers every
    ``levels_per_stage`` levels, credit flow control, an output queue.

    Parameters
    ----------
    weights : array-like [MH, MW] of -1/+1
    thresholds : array-like [MH or 1, 2**out_bits - 1] of int, sorted rows, or None
    share : str         ``"none"`` (every channel a full popcount) or ``"mst"``
    share_depth : int   longest chain of reuse with ``share="mst"`` (>= 1)
    link_cost : int     synapse ops one MST link's adder costs (0: links are free)
    levels_per_stage : int or None
        levels of logic between registers; None: combinational up to the output queue
    period_ns : float or None
        instead of ``levels_per_stage``: registers where the ECP5 delay estimate fills
        this period (see :class:`~hwgen.units.unrolled_chain.UnrolledChain`)
    in_shape : Shape    ``unsigned(1)`` (binary inputs)

    Members
    -------
    i : In(stream.Signature(ArrayLayout(unsigned(1), MW)))                 one vector per beat
    o : Out(stream.Signature(ArrayLayout(acc_shape or unsigned(out_bits), MH)))

    Latency ``latency`` cycles (see :class:`~hwgen.units.unrolled_chain.UnrolledChain`);
    one vector per cycle.
    """

    def __init__(self, *, weights, thresholds=None, share="none", share_depth=2, link_cost=0,
                 levels_per_stage=None, period_ns=None, in_shape=BINARY):
        layer = unrolled_layer(weights, thresholds, share=share, share_depth=share_depth,
                               link_cost=link_cost)
        super().__init__(layers=[layer], levels_per_stage=levels_per_stage, period_ns=period_ns,
                         in_shape=in_shape)

    @property
    def weights(self):
        """A copy of the weight matrix, int8 [MH, MW] of -1/+1."""
        return self._layers[0].weights.copy()

    #: the :class:`~hwgen.units._mst.SharePlan` (who reuses whom)
    plan = property(lambda self: self._layers[0].plan)
    thresholds = property(lambda self: self._layers[0].thresholds)
    #: shape of ``y = 2 * popcount - MW`` (the output without thresholds)
    acc_shape = property(lambda self: self._layers[0].acc_shape)
