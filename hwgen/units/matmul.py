"""Activation x activation product per attention head (QK^T and AV): an MVAU whose weights are a stream."""

from amaranth.hdl import Module
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ..ranges import range_shape
from ._checks import check_int, check_range, check_shape, shape_range
from ._engine import FoldedEngine, FoldedUnit, check_fold
from ._lanes import DspMultiply, ShiftAdd
from ._weight_store import StreamedWeights
from .mvau_int import RESOURCES

__all__ = ["MatMul"]


class MatMul(FoldedUnit):
    """Per-head product of two activation streams, exactly ``sw_reference.ops.matmul``.

    Per sample, ``a`` is [M, H*Ka] and ``b`` is [R, H*Kb] (M = ``rows_a``,
    R = ``rows_b``, H = ``heads``); head ``h`` of the output is::

        transpose_b:  out[m, h*R  + r] = sum_d a[m, h*Ka + d] * b[r, h*Kb + d]   (Ka == Kb)
        otherwise:    out[m, h*Kb + d] = sum_r a[m, h*Ka + r] * b[r, h*Kb + d]   (Ka == R)

    For each head this is an MVAU whose weight matrix ``W_h`` [MH, MW] is
    written at run time from ``b``: ``W_h[r, d] = b[r, h, d]`` (MH = R,
    MW = Kb) with ``transpose_b``, else ``W_h[d, r] = b[r, h, d]`` (MH = Kb,
    MW = R); the vectors are ``a``'s rows cut into heads, ``M * H`` vectors
    of MW = Ka elements. The fold loop, input buffer (replaying a vector's
    SF slices for output folds 1..NF-1; written a cycle after the accept,
    from registers: ``registered_write``), accumulator and handshake are the
    :class:`~._engine.FoldedEngine`'s, as in :class:`~.mvau.MVAU`; the lane
    datapath is :class:`~._lanes.ShiftAdd` (shift-add logic) or, with
    ``resource="dsp"``, :class:`~._lanes.DspMultiply` (registered
    multipliers) on ``b``'s elements, with ``pipeline`` adder tree stages;
    the weight store is a :class:`~._weight_store.StreamedWeights`: RAMs
    written from ``b`` instead of ROMs.

    Storage: one RAM per PE with two banks of ``H * NF * SF`` words of SIMD
    ``b`` elements, word ``h*NF*SF + nf*SF + sf`` of a bank holding
    ``W_h[nf*PE + p, sf*SIMD : (sf+1)*SIMD]`` (``2 * R * H * Kb`` elements in
    all), read synchronously like the MVAU's ROMs and registered twice more
    before the products: the first register has no reset, so on ECP5 it
    becomes the DP16KD's output register (:mod:`hwgen.outreg`), the second
    sits in the fabric. ``b`` is written one beat per cycle: with
    ``transpose_b`` a beat is SIMD elements of one row and head (``b_lanes =
    simd``), one whole word of one PE's RAM; otherwise a beat is PE elements
    (``b_lanes = pe``), one lane of the same word in every PE's RAM (lane
    write enables).

    Sequence: ``b`` is double-buffered. A sample's ``b`` (``R * H * Kb /
    b_lanes`` beats) is written into one bank while the previous sample's
    rows of ``a`` are computed from the other; ``a``'s rows are taken once
    their sample's bank is complete, and the bank is free again from the
    cycle after the last slice of the last row was issued (its reads are done
    by then; results may still be in the pipeline). ``b.ready`` is low only
    while both banks hold a sample that is not yet computed. In steady state
    a sample takes ``max(R*H*Kb/b_lanes, M*H*NF*SF)`` cycles: the product's
    ``M*H*NF*SF`` whenever the load is not longer, which holds when ``PE <=
    M`` (transpose_b) or ``SIMD <= M`` (otherwise), the load's when it is.
    A two-input unit in a network gets FIFOs of whole samples per input
    (one suffices against deadlock); this unit never waits for a later
    sample's ``b`` before finishing the current one, so the extra bank only
    adds slack to that argument.

    Parameters
    ----------
    a_shape, b_shape : Shape      element shapes (signed or unsigned integers)
    a_range, b_range : (int, int) or None
        The values elements can take, inside their shape (default all of it);
        the sums' widths come from them exactly (the spec's bound
        ``MW * min/max(corner products)``).
    rows_a, rows_b, heads : int   M, R, H
    ka, kb : int                  per-head widths of ``a`` and ``b``
    transpose_b : bool
    pe : int        outputs per beat; must divide MH (R with transpose_b, else Kb)
    simd : int      ``a`` elements per beat; must divide MW (= Ka)
    pipeline : int  adder tree register stages (default 4)
    resource : str  one of :data:`~.mvau_int.RESOURCES`: products as shift-add logic or DSPs
    out_shape : Shape or None
        Output element shape; must hold the exact bounds (default: the
        narrowest, by the rule of ``TensorType.of_range``).

    Members
    -------
    a : In(stream.Signature(ArrayLayout(a_shape, simd)))
        ``M * H * SF`` beats per sample: row m, head h, slice sf.
    b : In(stream.Signature(ArrayLayout(b_shape, b_lanes)))
        ``R * H * Kb / b_lanes`` beats per sample in row-major order.
    o : Out(stream.Signature(ArrayLayout(out_shape, pe)))
        ``M * H * NF`` beats per sample: row m, head h, then outputs ``nf*pe .. nf*pe+pe-1``.

    Cycles per sample ``max(R*H*Kb/b_lanes, M*H*NF*SF)`` (``cycles_per_sample``)
    in steady state when both streams keep up (the first sample also waits
    for its whole ``b``); latency ``4 + pipeline`` (``5 + pipeline`` with
    DSPs) cycles from a vector's last ``a`` beat to its first output beat: the
    MVAU's plus two registers on the RAM (and input buffer) outputs, so
    neither a block RAM's slow clock-to-output nor the route from the RAM to
    the lanes is in series with the products.
    """

    #: what the manifest records of this unit: names of its public figures, in manifest order
    figures = ("latency", "nf", "sf", "rom_bits", "pipeline", "acc_bits")
    #: no resource model covers it yet (the MVAU's does not apply)
    resource_features = None

    def __init__(self, *, a_shape, b_shape, rows_a, rows_b, heads, ka, kb, transpose_b,
                 pe=1, simd=1, pipeline=4, resource="lut", a_range=None, b_range=None,
                 out_shape=None):
        if not isinstance(transpose_b, bool):
            raise TypeError(f"transpose_b must be True or False, not {transpose_b!r}")
        if resource not in RESOURCES:
            raise TypeError(f"resource must be one of {', '.join(map(repr, RESOURCES))}, "
                            f"not {resource!r}")
        self._transpose_b, self._resource = transpose_b, resource
        self._rows_a = check_int("rows_a", rows_a, minimum=1)
        self._rows_b = check_int("rows_b", rows_b, minimum=1)
        self._heads = check_int("heads", heads, minimum=1)
        self._ka = check_int("ka", ka, minimum=1)
        self._kb = check_int("kb", kb, minimum=1)
        if transpose_b and ka != kb:
            raise ValueError(f"ka must equal kb with transpose_b (a @ b.T per head), "
                             f"not {ka!r} and {kb!r}")
        if not transpose_b and ka != rows_b:
            raise ValueError(f"ka must equal rows_b without transpose_b (a @ b per head), "
                             f"not {ka!r} and {rows_b!r}")
        self._b_shape = check_shape("b_shape", b_shape)
        self._b_range = check_range("b_range", b_range, shape_range(self._b_shape),
                                    f"b_shape {b_shape!r}")
        a_shape = check_shape("a_shape", a_shape)
        if transpose_b:
            mh, rows, cols = self._rows_b, "rows_b, outputs per head", "kb, the contraction length"
        else:
            mh, rows, cols = self._kb, "kb, outputs per head", "rows_b, the contraction length"
        mw = self._ka
        pe, simd, pipeline = check_fold(mh, mw, pe=pe, simd=simd, pipeline=pipeline,
                                        rows=rows, cols=cols)
        self._a_range = check_range("a_range", a_range, shape_range(a_shape),
                                    f"a_shape {a_shape!r}")

        lanes = dict(simd=simd, pipeline=pipeline, in_shape=a_shape, in_range=self._a_range,
                     w_shape=self._b_shape, w_range=self._b_range)
        datapath = DspMultiply(**lanes) if resource == "dsp" else ShiftAdd(**lanes)
        store = StreamedWeights(pe=pe, simd=simd, nf=mh // pe, sf=mw // simd, heads=self._heads,
                                rows=self._rows_a, lane_bits=self._b_shape.width,
                                transpose_b=transpose_b)
        engine = FoldedEngine(mh=mh, mw=mw, pe=pe, simd=simd, in_shape=a_shape,
                              datapath=datapath, store=store, base=0, registered_write=True)
        out_lo, out_hi = engine.sum_range
        if out_shape is None:
            given = range_shape(out_lo, out_hi, min_width=2)
        else:
            given = check_shape("out_shape", out_shape)
            lo, hi = shape_range(given)
            if not lo <= out_lo <= out_hi <= hi:
                raise ValueError(f"out_shape must hold the sums' range [{out_lo}, {out_hi}], "
                                 f"not {out_shape!r}")
        super().__init__(engine=engine, out_shape=given, members={
            "a": In(stream.Signature(data.ArrayLayout(a_shape, simd))),
            "b": In(stream.Signature(data.ArrayLayout(self._b_shape, store.lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(given, pe))),
        })

    rows_a = property(lambda self: self._rows_a)
    rows_b = property(lambda self: self._rows_b)
    heads = property(lambda self: self._heads)
    ka = property(lambda self: self._ka)
    kb = property(lambda self: self._kb)
    transpose_b = property(lambda self: self._transpose_b)
    resource = property(lambda self: self._resource)
    a_shape = property(lambda self: self.in_shape)
    b_shape = property(lambda self: self._b_shape)
    a_range = property(lambda self: self._a_range)
    b_range = property(lambda self: self._b_range)
    #: ``b`` elements per beat: ``simd`` with transpose_b, else ``pe``
    b_lanes = property(lambda self: self.weight_store.lanes)
    b_beats = property(lambda self: self.weight_store.beats)
    a_beats = property(lambda self: self._rows_a * self._heads * self.sf)
    out_beats = property(lambda self: self._rows_a * self._heads * self.nf)
    #: cycles of the product per sample, ``M * H * NF * SF``
    compute_cycles = property(lambda self: self._rows_a * self._heads * self.cycles_per_vector)
    #: steady-state cycles per sample: loading ``b`` overlaps the previous sample's product
    cycles_per_sample = property(lambda self: max(self.b_beats, self.compute_cycles))
    #: bits of the per-PE RAMs (two banks of ``R * H * Kb`` elements)
    ram_bits = property(lambda self: self.weight_store.ram_bits)

    @property
    def weights(self):
        raise AttributeError("a MatMul's weights are its b stream, written at run time")

    def elaborate(self, platform):
        m = Module()
        self._engine.elaborate(m, vectors=self.a, out=self.o, weight_stream=self.b)
        return m
