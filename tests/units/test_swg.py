"""ConvolutionInputGenerator: construction checks, Amaranth simulation, SWG + MVAU conv, Verilator.

The expected window stream is an im2col written here with numpy slicing of
the padded input (independent of ``sw_reference``'s own im2col); the conv
through SWG + MVAU is checked against ``sw_reference.ops.binary_conv2d``.
Cases cover padding borders (pad -1 for binary, 0 and a nonzero value for
integers), stride 2 with a dropped bottom row, stride 3 with k = 1 (skipped
rows, windows of padding only), padding beyond the kernel (whole output rows
of padding after the image), simd < C, signed and unsigned data; the
inputs include all-max and all-min feature maps.
"""

import numpy as np
import pytest
import torch
from amaranth.hdl import signed, unsigned

from hwgen.export import to_verilog
from hwgen.top import AxiStreamTop, Pipeline
from hwgen.units.mvau import MVAU
from hwgen.units.swg import ConvolutionInputGenerator, window_weights
from sim.amaranth_streams import simulate_stream
from sim.packing import pack, unpack
from sw_reference.ops import binary_conv2d

from .feature_map_cases import feature_maps, hwc_beats

pytestmark = pytest.mark.filterwarnings("ignore:.*created but never used")

CASES = {
    "bin_c4_k3_p1_simd2": dict(in_shape=unsigned(1), channels=4, height=5, width=6, kernel=3,
                               padding=1, pad_value=0, simd=2),
    "s4_c3_k2_s2_droprow": dict(in_shape=signed(4), channels=3, height=7, width=6, kernel=2,
                                stride=2, simd=1),
    "u8_c2_k1": dict(in_shape=unsigned(8), channels=2, height=4, width=3, kernel=1, simd=2),
    "s8_c2_k3_s2_p2": dict(in_shape=signed(8), channels=2, height=5, width=4, kernel=3,
                           stride=2, padding=2, pad_value=-3, simd=1),
    # stride > k skips rows and columns; padding >= k makes whole windows of padding
    "u4_c1_k1_s3_p1": dict(in_shape=unsigned(4), channels=1, height=7, width=5, kernel=1,
                           stride=3, padding=1, pad_value=9, simd=1),
    "bin_c8_k3_cnv": dict(in_shape=unsigned(1), channels=8, height=8, width=8, kernel=3,
                          simd=4),
    # padding beyond the kernel: the last output rows start below the image, and no more
    # than its rows may count as freed (the writer overwrote the next image's rows)
    "u4_c1_k1_p2_beyond": dict(in_shape=unsigned(4), channels=1, height=2, width=2, kernel=1,
                               padding=2, pad_value=3, simd=1),
    "s4_c2_k3_p4_beyond": dict(in_shape=signed(4), channels=2, height=2, width=3, kernel=3,
                               padding=4, pad_value=-2, simd=2),
    # an integer conv of a binary map pads with 0: signed(2) windows of -1/+1 and 0
    "bin_zero_pad_c2_k2_s3_p2": dict(in_shape=unsigned(1), channels=2, height=3, width=4,
                                     kernel=2, stride=3, padding=2, simd=2, zero_pad_binary=True),
    "bin_zero_pad_c3_k3_p1": dict(in_shape=unsigned(1), channels=3, height=4, width=3, kernel=3,
                                  padding=1, simd=1, zero_pad_binary=True),
}


def golden_pad(case):
    """The golden-model pad value (binary: raw bit 0 means -1, unless padded with zero)."""
    if case.get("zero_pad_binary"):
        return 0
    if case["in_shape"] == unsigned(1):
        return 2 * case.get("pad_value", 0) - 1
    return case.get("pad_value", 0)


def im2col(case, x):
    """[N, C, H, W] -> per-sample element lists in window order (oy, ox, ky, kx, c)."""
    k, s, p = case["kernel"], case.get("stride", 1), case.get("padding", 0)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=golden_pad(case))
    oh = (xp.shape[2] - k) // s + 1
    ow = (xp.shape[3] - k) // s + 1
    windows = np.stack([np.stack([xp[:, :, ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s]
                                  for kx in range(k)], axis=-1) for ky in range(k)], axis=-2)
    # windows[n, c, oy, ox, ky, kx] -> [n, oy, ox, ky, kx, c]
    return windows.transpose(0, 2, 3, 4, 5, 1).reshape(len(x), -1)


def hwc_beats_of(case, x):
    return hwc_beats(x, case["simd"], case["in_shape"].width)


def expected_words(case, x):
    bits, simd = 2 if case.get("zero_pad_binary") else case["in_shape"].width, case["simd"]
    return [[pack(row[i:i + simd], bits) for i in range(0, len(row), simd)]
            for row in im2col(case, x)]


BASE = dict(in_shape=unsigned(1), channels=4, height=5, width=6, kernel=3, simd=2)


@pytest.mark.parametrize("change, error, message", [
    (dict(simd=3), ValueError, "simd must divide channels (4), not 3"),
    (dict(simd=0), ValueError, "simd must be at least 1, not 0"),
    (dict(kernel=6), ValueError, "kernel must be at most the padded height (5 + 2*0), not 6"),
    (dict(kernel=6, padding=1, height=6, width=3), ValueError,
     "kernel must be at most the padded width (3 + 2*1), not 6"),
    (dict(kernel=0), ValueError, "kernel must be at least 1, not 0"),
    (dict(stride=0), ValueError, "stride must be at least 1, not 0"),
    (dict(padding=-1), ValueError, "padding must be at least 0, not -1"),
    (dict(stride=1.5), TypeError, "stride must be an integer, not 1.5"),
    (dict(channels=True), TypeError, "channels must be an integer, not True"),
    (dict(pad_value=-1), ValueError, "pad_value must be in [0, 1] (an element of unsigned(1)), "
                                     "not -1"),
    (dict(in_shape=signed(4), pad_value=8), ValueError, "pad_value must be in [-8, 7]"),
    (dict(in_shape="u8"), TypeError, "in_shape must be a shape such as signed(8)"),
    (dict(zero_pad_binary=1), TypeError, "zero_pad_binary must be True or False, not 1"),
    (dict(in_shape=signed(4), zero_pad_binary=True), ValueError,
     "zero_pad_binary needs a binary in_shape (unsigned(1)) and pad_value 0, not signed(4) and 0"),
    (dict(pad_value=1, zero_pad_binary=True), ValueError, "and pad_value 0, not unsigned(1) and 1"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        ConvolutionInputGenerator(**{**BASE, **change})
    assert message in str(info.value)


def test_geometry():
    unit = ConvolutionInputGenerator(**CASES["s4_c3_k2_s2_droprow"])
    assert (unit.out_height, unit.out_width, unit.cf, unit.buffer_rows) == (3, 3, 3, 8)
    assert (unit.in_beats, unit.out_beats, unit.out_elements) == (126, 108, 108)


def test_window_weights_order():
    w = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    m = window_weights(w)
    for ky in range(2):
        for kx in range(2):
            for c in range(3):
                assert (m[:, (ky * 2 + kx) * 3 + c] == w[:, c, ky, kx]).all()


@pytest.mark.parametrize("name", sorted(CASES))
def test_amaranth_sim_matches_im2col(name):
    case = CASES[name]
    x = feature_maps(case, 3, seed=3)
    dut = ConvolutionInputGenerator(**case)
    words = [w for frame in hwc_beats_of(case, x) for w in frame]
    want = [w for frame in expected_words(case, x) for w in frame]
    got = simulate_stream(dut, words, len(want), stall=0.3, seed=7)
    assert got == want


@pytest.mark.parametrize("name", ["u4_c1_k1_p2_beyond", "s4_c2_k3_p4_beyond"])
def test_padding_beyond_the_kernel_with_a_producer_ahead(name):
    """A producer that never stalls runs the writer as far ahead as it may: with padding
    beyond the kernel it overwrote the next image's rows before they were read (found by
    the op-table network fuzzing)."""
    case = CASES[name]
    x = feature_maps(case, 6, seed=4)
    dut = ConvolutionInputGenerator(**case)
    words = [w for frame in hwc_beats_of(case, x) for w in frame]
    want = [w for frame in expected_words(case, x) for w in frame]
    for stall in (0.0, 0.5):
        got = simulate_stream(dut, words, len(want), stall=stall, in_stall=0.0, seed=2)
        assert got == want


def test_full_rate_without_stalls():
    """CNV-shaped (k=3, no padding): one output beat per cycle between samples."""
    case = CASES["bin_c8_k3_cnv"]
    dut = ConvolutionInputGenerator(**case)
    x = feature_maps(case, 3, seed=1)
    words = [w for frame in hwc_beats_of(case, x) for w in frame]
    stamps = ([], [])
    simulate_stream(dut, words, dut.out_beats * len(x), stamps=stamps)
    ends = stamps[1][dut.out_beats - 1::dut.out_beats]
    per_sample = (ends[-1] - ends[0]) / (len(ends) - 1)
    assert per_sample <= dut.out_beats * 1.02, (per_sample, dut.out_beats)


CONV = {
    # NF > 1 makes the MVAU replay its buffer while the SWG waits, SF > 1 folds the window.
    "k3_p1_nf2": dict(swg=CASES["bin_c4_k3_p1_simd2"], out_channels=6, pe=3),
    "k3_s1_nf1": dict(swg=CASES["bin_c8_k3_cnv"], out_channels=4, pe=4),
}


def conv_pipeline(conv, weight):
    swg = ConvolutionInputGenerator(**conv["swg"])
    mvau = MVAU(weights=window_weights(weight), pe=conv["pe"], simd=conv["swg"]["simd"])
    return Pipeline([swg, mvau]), swg, mvau


def conv_weight(conv, seed):
    case = conv["swg"]
    rng = np.random.default_rng(seed)
    return rng.choice([-1, 1], size=(conv["out_channels"], case["channels"], case["kernel"],
                                     case["kernel"])).astype(np.int64)


def conv_expected(conv, weight, x):
    case = conv["swg"]
    y = binary_conv2d(torch.from_numpy(x), torch.from_numpy(weight),
                      stride=case.get("stride", 1), padding=case.get("padding", 0)).numpy()
    return y.transpose(0, 2, 3, 1).reshape(len(x), -1)       # HWC stream order


def decode(words, mvau, samples):
    shape = mvau.acc_shape
    flat = [v for w in words for v in unpack(w, mvau.pe, shape.width, shape.signed)]
    return np.array(flat, dtype=np.int64).reshape(samples, -1)


@pytest.mark.parametrize("name", sorted(CONV))
def test_swg_mvau_conv_matches_binary_conv2d(name):
    conv = CONV[name]
    weight = conv_weight(conv, seed=2)
    x = feature_maps(conv["swg"], 4, seed=4)
    dut, swg, mvau = conv_pipeline(conv, weight)
    words = [w for frame in hwc_beats_of(conv["swg"], x) for w in frame]
    count = swg.out_height * swg.out_width * mvau.nf * len(x)
    got = decode(simulate_stream(dut, words, count, stall=0.3, seed=9), mvau, len(x))
    np.testing.assert_array_equal(got, conv_expected(conv, weight, x))


# The binary padded case also runs through Verilator inside the SWG + MVAU test below.
COSIM = [pytest.param("bin_c4_k3_p1_simd2", marks=pytest.mark.slow), "s8_c2_k3_s2_p2",
         "bin_zero_pad_c2_k2_s3_p2",
         pytest.param("u4_c1_k1_p2_beyond", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", COSIM)
def test_verilator_cosim_matches_im2col(name):
    from sim.cosim import cosimulate_unit
    case = CASES[name]
    unit = ConvolutionInputGenerator(**case)
    x = feature_maps(case, 30, seed=5)
    result = cosimulate_unit(unit, "swg_top", hwc_beats_of(case, x), out_beats=unit.out_beats,
                             backpressure=0.3, seed=3)
    want = expected_words(case, x)
    bad = [n for n in range(len(x)) if result.received[n] != want[n]]
    assert not bad, f"{len(bad)} of {len(x)} samples differ, first {bad[0]}"
    assert result.passed


@pytest.mark.slow
def test_verilator_conv_with_mvau_and_lint(tmp_path):
    """SWG + MVAU (NF = 2) exported, linted and cosimulated against binary_conv2d.

    Slow: CI covers the same path (padded SWG into an NF > 1 MVAU, lint) in
    ``tests/test_networks.py``'s ``cnv_ci``."""
    from sim.cosim import cosimulate_unit
    from sim.verilator import lint
    conv = CONV["k3_p1_nf2"]
    weight = conv_weight(conv, seed=6)
    dut, swg, mvau = conv_pipeline(conv, weight)
    path = tmp_path / "swg_conv_top.v"
    path.write_text(to_verilog(AxiStreamTop(conv_pipeline(conv, weight)[0], out_beats=1),
                               "swg_conv_top"))
    linted = lint(path, "swg_conv_top")
    assert linted.returncode == 0 and "%Warning" not in linted.stderr, linted.stderr[:3000]
    x = feature_maps(conv["swg"], 20, seed=8)
    out_beats = swg.out_height * swg.out_width * mvau.nf
    result = cosimulate_unit(dut, "swg_conv_top2", hwc_beats_of(conv["swg"], x),
                             out_beats=out_beats, backpressure=0.3, seed=4)
    got = decode([w for frame in result.received for w in frame], mvau, len(x))
    np.testing.assert_array_equal(got, conv_expected(conv, weight, x))
