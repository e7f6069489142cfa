"""Helpers shared by the row-wise I-ViT unit tests (Shiftmax, ShiftGELU, LayerNorm).

Rows ``x`` [N, L] go in ``simd`` elements per beat; every unit has members
``i``/``o``, ``simd``, ``folds`` and an output element shape ``out_shape``.
"""

import numpy as np
import pytest

from sim.amaranth_streams import simulate_stream
from sim.packing import pack, unpack


def fast_first(names, slow):
    """Parameters with the ``slow`` ones marked (CI runs the rest)."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


def row_words(unit, x):
    """[N, L] -> flat list of input words, ``simd`` elements each."""
    simd, width = unit.simd, len(unit.i.payload[0])
    return [pack(row[f:f + simd], width) for row in x for f in range(0, len(row), simd)]


def rows_of(unit, words, rows):
    shape = unit.o.payload.shape().elem_shape
    lanes = [unpack(w, unit.simd, shape.width, shape.signed) for w in words]
    return np.array(lanes, dtype=np.int64).reshape(rows, -1)


def simulate_rows(unit, x, *, stall, seed, stamps=None, scramble=None):
    """Amaranth simulation of ``unit`` on rows ``x``; returns [N, L] outputs (``scramble``: a
    seed for random start values of the registers without a reset, see ``simulate_stream``)."""
    words = row_words(unit, x)
    return rows_of(unit, simulate_stream(unit, words, len(words), stall=stall, seed=seed,
                                         stamps=stamps, scramble=scramble), len(x))


def cosim_rows(unit, name, x):
    """Verilator cosim, one row per AXI4-Stream frame, 30 % random pauses; returns outputs."""
    from sim.cosim import cosimulate_unit
    frames = [row_words(unit, row[None]) for row in x]
    result = cosimulate_unit(unit, name, frames, out_beats=unit.folds, backpressure=0.3, seed=7)
    assert result.passed
    return rows_of(unit, [w for words in result.received for w in words], len(x))


def assert_rows_at_rate(unit, x, want):
    """Without stalls: outputs equal ``want`` and rows finish at most ``cycles_per_row`` apart."""
    stamps = ([], [])
    got = simulate_rows(unit, x, stall=0.0, seed=0, stamps=stamps)
    assert_rows_equal(got, want, x)
    last_beats = stamps[1][unit.folds - 1::unit.folds]
    assert max(np.diff(last_beats)) <= unit.cycles_per_row, (np.diff(last_beats), unit.cycles_per_row)


def assert_rows_equal(got, want, x):
    bad = np.flatnonzero((got != want).any(axis=1))
    assert not len(bad), f"{len(bad)} of {len(x)} rows differ; first:\nx={x[bad[0]]}\n" \
                         f"got={got[bad[0]]}\nwant={want[bad[0]]}"


def assert_lint_clean(make, name, tmp_path, *, twice=False):
    """``make()`` builds the unit; its AXI top passes verilator -Wall (``twice``: and is
    byte-identical when generated again)."""
    from hwgen.export import to_verilog
    from hwgen.top import AxiStreamTop
    from sim.verilator import lint
    def verilog():
        unit = make()
        return to_verilog(AxiStreamTop(unit, out_beats=unit.folds), name)
    text = verilog()
    if twice:
        assert text == verilog()
    path = tmp_path / f"{name}.v"
    path.write_text(text)
    result = lint(path, name)
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr
