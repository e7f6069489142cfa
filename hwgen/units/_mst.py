"""Which output channels of a fully unrolled binary layer reuse which (MST-compression).

Two channels ``i`` and ``j`` of a binary layer with weight rows ``w_i`` and
``w_j`` (-1/+1) differ in the ``d(i, j)`` columns ``D`` (their Hamming
distance). Channel ``j``'s XNOR count follows from channel ``i``'s::

    c_j = c_i - |D| + 2 * popcount(xnor(x, w_j) on D)

so computing ``j`` from ``i`` costs ``d(i, j)`` synapse ops (XNOR/popcount
input bits) instead of the fan-in ``MW``. Following Vo et al.,
"MST-compression: Compressing and Accelerating Binary Neural Networks with
Minimum Spanning Tree" (ICCV 2023, arXiv:2308.13735), the channels are the
vertices of a complete graph weighted by Hamming distance, plus a virtual
root whose edge to every channel costs ``MW`` (computing it directly); a
spanning tree rooted there fixes who reuses whom, its weight is the number of
synapse ops. Each link adds one adder in series, so the tree depth (links
from a directly computed channel) is limited to ``max_depth``: this is
Prim's algorithm from the root that only attaches a channel below a tree
vertex whose level is below ``max_depth`` (exact MST without the limit, a
greedy heuristic with it; the exact depth-limited problem is NP-hard).
Every channel costs at most ``MW``, so the plan never needs more synapse ops
than computing every channel directly.

A link is not free: besides the popcount over ``D`` it adds one adder. With
``link_cost`` (in synapse ops, measured: ``benchmarks/unrolled.py``) an edge to
another channel costs ``d(i, j) + link_cost`` (identical rows: 0, no adder), so
a channel reuses another only where that pays; ``cost`` still records the
synapse ops.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["SharePlan", "direct_plan", "mst_plan"]


@dataclass(frozen=True)
class SharePlan:
    """Who computes from whom: one entry per output channel.

    ``parent[c]`` is the channel ``c`` is derived from, or -1 when ``c`` is a
    popcount over all ``MW`` inputs; ``level[c]`` is 0 for those and the
    parent's level + 1 otherwise; ``cost[c]`` is the synapse ops of ``c``
    (``MW`` or the Hamming distance to its parent); ``order`` lists the
    channels so that every parent comes before its children.
    """
    parent: tuple
    level: tuple
    cost: tuple
    order: tuple
    fan_in: int

    @property
    def synapse_ops(self) -> int:
        """XNOR/popcount input bits of the whole layer with this plan."""
        return int(sum(self.cost))

    @property
    def synapse_ops_unshared(self) -> int:
        """The same without sharing: every channel over all MW inputs."""
        return len(self.parent) * self.fan_in

    @property
    def levels(self) -> int:
        """The longest chain of reuse (0: nothing shared)."""
        return max(self.level)

    def differing(self, weights, c) -> np.ndarray:
        """Columns where channel ``c`` differs from its parent (all columns for a direct one)."""
        if self.parent[c] < 0:
            return np.arange(self.fan_in)
        return np.flatnonzero(weights[c] != weights[self.parent[c]])


def direct_plan(weights) -> SharePlan:
    """No sharing: every channel is a popcount over all inputs."""
    mh, mw = weights.shape
    return SharePlan(parent=(-1,) * mh, level=(0,) * mh, cost=(mw,) * mh,
                     order=tuple(range(mh)), fan_in=mw)


def hamming(weights) -> np.ndarray:
    """[MH, MH] Hamming distances between the -1/+1 rows of ``weights``."""
    w = np.asarray(weights, dtype=np.int64)
    return (w.shape[1] - w @ w.T) // 2


def mst_plan(weights, max_depth, link_cost=0) -> SharePlan:
    """Depth-limited spanning tree of the channels plus the virtual root (see module doc).

    Prim's algorithm from the root, which takes the channel ``c`` that is
    cheapest to attach next. Without a depth limit its parent is the
    nearest tree vertex (an exact MST). With the limit, a channel attached
    at the deepest level cannot be reused, so ``c`` may instead go under a
    shallower vertex (or the root) when the channels still outside the tree
    would save more by reusing ``c`` than that costs: among the allowed
    parents it takes the one minimising ``cost - lookahead``, where the
    lookahead, credited only if ``c`` may have children, is
    ``sum(max(0, best[v] - d(c, v)))`` over channels ``v`` not yet in the tree.
    Deterministic: ties go to the cheaper edge, then the root, then the
    lowest channel index. ``link_cost`` is added to every edge between two
    different channels (see the module doc).
    """
    mh, mw = weights.shape
    ops = hamming(weights)
    dist = np.where(ops > 0, ops + link_cost, 0)
    best = np.full(mh, mw, dtype=np.int64)       # cheapest known way to compute each channel
    done = np.zeros(mh, dtype=bool)
    level = np.full(mh, -1, dtype=np.int64)
    parent = np.full(mh, -1, dtype=np.int64)
    cost = np.zeros(mh, dtype=np.int64)
    order = []
    for _ in range(mh):
        c = int(np.argmin(np.where(done, np.iinfo(np.int64).max, best)))
        done[c] = True
        order.append(c)
        lookahead = int(np.maximum(best - dist[c], 0)[~done].sum())
        # candidate parents: the root (-1), then tree channels that may still take children
        hosts = np.concatenate([[-1], np.flatnonzero(done & (level >= 0) & (level < max_depth))])
        edge = np.where(hosts < 0, mw, dist[c][hosts])
        depth = np.where(hosts < 0, 0, level[hosts] + 1)
        score = edge - np.where(depth < max_depth, lookahead, 0)
        pick = int(np.lexsort((hosts, edge, score))[0])
        parent[c], level[c] = hosts[pick], depth[pick]
        cost[c] = mw if hosts[pick] < 0 else ops[c, hosts[pick]]
        if level[c] < max_depth:
            best = np.minimum(best, dist[c])
    return SharePlan(parent=tuple(int(p) for p in parent), level=tuple(int(v) for v in level),
                     cost=tuple(int(v) for v in cost), order=tuple(order), fan_in=mw)
