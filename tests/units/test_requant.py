"""Requant: construction checks, Amaranth simulation, Verilator cosim and lint."""


from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned

from hwgen.export import to_verilog
from hwgen.top import AxiStreamTop
from hwgen.units._multiply import staged_product_latency, tiled_product_latency
from hwgen.units.requant import Requant
from sim.amaranth_streams import simulate_stream
from sim.packing import unpack

from .requant_cases import CASES, case_expected, case_vectors, to_beats

BASE = dict(in_shape=signed(16), out_shape=signed(8), channels=8, pe=2,
            multiplier=[1 << 30], shift=[31])


@pytest.mark.parametrize("change, error, message", [
    (dict(pe=3), ValueError, "pe must divide channels (8), not 3"),
    (dict(pe=0), ValueError, "pe must be at least 1, not 0"),
    (dict(channels=True), TypeError, "channels must be an integer, not True"),
    (dict(in_shape="int8"), TypeError, "in_shape must be a shape such as signed(8)"),
    (dict(multiplier=[0]), ValueError, "multiplier[0] must be in [1, 2147483647], not 0"),
    (dict(multiplier=[2**31]), ValueError, "multiplier[0] must be in [1, 2147483647]"),
    (dict(shift=[64]), ValueError, "shift[0] must be in [0, 63], not 64"),
    (dict(shift=[1, 2, 3]), ValueError, "shift must have 1 or 8 entries (one per channel), not 3"),
    (dict(zero_point=[200]), ValueError, "zero_point[0] must be in [-128, 127], not 200"),
    (dict(multiplier=None), TypeError, "multiplier must be a sequence of integers"),
    (dict(rounding="nearest"), TypeError,
     "rounding must be one of 'half_up', 'half_even', 'floor', not 'nearest'"),
])
@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        Requant(**{**BASE, **change})
    assert message in str(info.value)


def test_constant_parameters_need_no_rom():
    unit = Requant(**BASE)
    assert unit.folds == 4 and unit.latency == 3
    verilog = to_verilog(unit, "rq")
    assert "reg [" in verilog and "_rom_" not in verilog


@pytest.mark.parametrize("rounding, want", [
    ("half_up", [-3, -2, -1, 0, 1, 2, 3, 4]),
    ("half_even", [-4, -2, -2, 0, 0, 2, 2, 4]),
    ("floor", [-4, -3, -2, -1, 0, 1, 2, 3]),
])
def test_each_rounding_mode_at_half_way_points(rounding, want):
    """x/2 on x = -7, -5, ..., 7 (every input a tie), in Amaranth's simulator under stalls."""
    case = dict(in_shape=signed(8), out_shape=signed(8), channels=8, pe=2, multiplier=[1],
                shift=[1], zero_point=[0], rounding=rounding)
    x = np.tile(np.arange(-7, 8, 2), (3, 1))
    assert case_expected(case, x)[0].tolist() == want
    np.testing.assert_array_equal(simulate(case, x, stall=0.3, seed=1), case_expected(case, x))


def simulate(case, x, *, stall, seed):
    """Run ``x`` [N, C] through the unit in Amaranth's simulator; return [N, C] outputs."""
    dut = Requant(**case)
    pe, out = case["pe"], case["out_shape"]
    beats = [word for sample in to_beats(x, pe, case["in_shape"].width) for word in sample]
    received = simulate_stream(dut, beats, len(beats), stall=stall, seed=seed)
    lanes = [unpack(word, pe, out.width, out.signed) for word in received]
    return np.array(lanes, dtype=np.int64).reshape(x.shape)


@pytest.mark.parametrize("name", sorted(CASES))
def test_amaranth_sim_matches_golden(name):
    case = CASES[name]
    x = case_vectors(case, count=300, seed=11)
    np.testing.assert_array_equal(simulate(case, x, stall=0.3, seed=5), case_expected(case, x))


@pytest.mark.parametrize("name", sorted(CASES))
def test_verilator_cosim_matches_golden(name):
    """>= 10,000 vectors per case under 30% random pauses on both AXI4-Stream sides."""
    from sim.cosim import cosimulate_unit
    case = CASES[name]
    x = case_vectors(case, count=10_000, seed=23)
    want = case_expected(case, x)
    out = case["out_shape"]
    result = cosimulate_unit(Requant(**case), "requant_top",
                             to_beats(x, case["pe"], case["in_shape"].width),
                             out_beats=case["channels"] // case["pe"], backpressure=0.3, seed=7)
    got = np.array([[v for word in sample for v in unpack(word, case["pe"], out.width, out.signed)]
                    for sample in result.received], dtype=np.int64)
    mismatches = int((got != want).any(axis=1).sum())
    assert mismatches == 0, f"{mismatches} of {len(x)} vectors differ; first rows:\n" \
                            f"x={x[(got != want).any(axis=1)][:3]}\ngot={got[(got != want).any(axis=1)][:3]}"
    assert len(got) >= 10_000
    assert result.passed


@pytest.mark.parametrize("name", ["per_channel_s16_to_s8", "half_even_per_channel",
                                  "half_even_per_channel_staged"])
def test_verilog_is_deterministic_and_lint_clean(tmp_path, name):
    from sim.verilator import lint
    case = CASES[name]
    beats = case["channels"] // case["pe"]
    text = to_verilog(AxiStreamTop(Requant(**case), out_beats=beats), "requant_top")
    assert text == to_verilog(AxiStreamTop(Requant(**case), out_beats=beats), "requant_top")
    path = tmp_path / "requant_top.v"
    path.write_text(text)
    result = lint(path, "requant_top")
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr


def test_retimed_adds_the_shift_and_clamp_stages_when_needed():
    from hwgen.timing import delay_model
    model = delay_model("ecp5", "8")
    unit = Requant(**CASES["per_tensor_s32_to_u8"])
    assert unit.retimed(model, 50) is unit and unit.latency == 3
    # The zero point rides in the rounding adder and the clamp reads the high bits, so
    # 100 MHz fits in three stages; at 150 the clamp takes a stage of its own.
    assert unit.retimed(model, 100) is unit
    moderate = unit.retimed(model, 150)
    assert moderate.offset_stage and not moderate.shift_stage   # a constant shift
    assert not moderate.product_stages and moderate.latency == 4
    # At 250 MHz no MULT18X18D path fits: the product becomes shift-add stages.
    fast = unit.retimed(model, 250)
    assert fast.product_stages and fast.offset_stage and not fast.shift_stage
    assert fast.latency == 3 + staged_product_latency(fast.product_terms, fast.product_stages)
    assert fast.product_terms < fast.multiplier_bits         # per tensor: its signed digits
    assert not fast.dsp_product      # two signed digits: one LUT adder, cheaper than a tile
    # int4_cnn's conv2 requant made per tensor, at 200 MHz: every stage fits; four signed
    # digits (more than DIGITS_IN_LOGIC) make the 13 x 14-bit product one registered tile,
    # its input registered in the fabric a cycle before the tile's input register
    conv2 = Requant(in_shape=signed(13), out_shape=unsigned(4), channels=16, pe=4,
                    multiplier=[1091506397], shift=[35]).retimed(model, 200)
    assert conv2.multiplier_bits == 14 and conv2.product_terms == 4
    assert conv2.dsp_product and conv2.product_stages == 0 and conv2.latency == 5
    assert conv2.stage_delay(model)[0] <= 0.85 * 1e3 / 200
    assert "product_stages" in unit.stage_delay(model)[2]
    assert "offset_stage" in Requant(**CASES["folded_u8_to_s4"]).stage_delay(model)[2]
    per_channel = Requant(**CASES["folded_u8_to_s4"]).retimed(model, 250)
    assert (per_channel.shift_stage, per_channel.offset_stage) == (True, True)
    # an 8 x 7-bit product (16 bits, above DSP_MIN_BITS): one registered tile, its inputs
    # stage 1's x (after the fabric register x0) and m' read from its ROM a cycle ahead into
    # a plain register
    assert per_channel.dsp_product and not per_channel.product_stages
    assert per_channel.latency == 5 + tiled_product_latency(1, 0)
    off_ecp5 = Requant(**CASES["folded_u8_to_s4"]).retimed(replace(model, family="ice40"), 250)
    assert not off_ecp5.dsp_product and off_ecp5.latency == 4 + staged_product_latency(
        off_ecp5.multiplier_bits, off_ecp5.product_stages)
    assert per_channel.stage_delay(model)[0] < Requant(**CASES["folded_u8_to_s4"]).stage_delay(
        model)[0]
    with pytest.raises(TypeError, match="offset_stage must be True or False, not 'yes'"):
        Requant(**{**CASES["per_tensor_s32_to_u8"], "offset_stage": "yes"})


def test_retimed_puts_a_wide_product_in_registered_tiles_at_200_mhz():
    """ivit_block's ln1 requant (int32 x per-channel m', 4 lanes): shift-add stages
    were ~4,600 LUT4; at 200 MHz on ECP5 the product is 2 x 2 tiles a lane, three operands
    (the lowest and highest tiles' products do not overlap: one concatenation) whose two
    adder levels are one multi-operand sum in one stage, and every stage fits by the delay
    model."""
    from hwgen.timing import delay_model
    model = delay_model("ecp5", "8")
    unit = Requant(in_shape=signed(32), out_shape=signed(8), channels=64, pe=4,
                   multiplier=[(1 << 30) + 7919 * c for c in range(64)], shift=[40] * 64)
    assert unit.multiplier_bits == 25             # narrowed for an 8-bit output
    fast = unit.retimed(model, 200)
    assert fast.dsp_product and fast.product_stages == 1
    assert fast._tiles() == 4 and fast._tile_rows() == 3
    assert fast.stage_delay(model)[0] <= 0.85 * 1e3 / 200
    assert fast.latency == 3 + tiled_product_latency(3, 1) + fast.shift_stage + \
        fast.offset_stage == 3 + 2 + fast.shift_stage + fast.offset_stage
    assert "dsp_product" in unit.stage_delay(model)[2]
    assert unit.retimed(model, 100) is unit              # the plain product fits at 100 MHz


@pytest.mark.parametrize("rounding", ["half_up", "half_even", "floor"])
def test_narrowest_multiplier_agrees_on_every_input(rounding):
    """The narrowed (m', s') gives the golden clamped output on the whole input range, and is
    narrower than m for a 4-bit output (10 to 15 bits where m has 31)."""
    import torch
    from hwgen.units._dyadic import narrowest_multiplier
    from sw_reference.ops import requant as golden
    rng = np.random.default_rng(7)
    x = np.arange(-(1 << 13), 1 << 13, dtype=np.int64)
    widths = []
    for _ in range(40):
        m, s = int(rng.integers(1 << 30, 1 << 31)), int(rng.integers(30, 38))
        zp, (lo, hi) = int(rng.integers(0, 16)), (0, 15)
        m2, s2 = narrowest_multiplier(int(x[0]), int(x[-1]), m, s, zp, lo, hi, rounding)
        widths.append(m2.bit_length())
        def out(mult, shift, zp=zp, lo=lo, hi=hi):
            one = lambda v: torch.tensor([v], dtype=torch.int64)
            return golden(torch.from_numpy(x), one(mult), one(shift), one(zp), lo, hi,
                          channel_axis=-1, rounding=rounding).numpy()
        np.testing.assert_array_equal(out(m2, s2), out(m, s))
    assert max(widths) <= 20


def test_staged_product_is_bit_exact_on_every_unsaturated_input():
    """The 200 MHz form (narrowed multiplier, shift-add stages) on every input of int4_cnn's
    conv1 requant that is not saturated, under stalls."""
    case = CASES["half_up_staged_product"]
    x = case_vectors(case, count=0, seed=3)
    np.testing.assert_array_equal(simulate(case, x, stall=0.3, seed=2), case_expected(case, x))


def test_signed_digits_are_the_fewest_and_sum_to_the_value():
    """A per-tensor multiplier's staged product has a term per signed digit: 22435 (nine
    ones) has seven, no two adjacent, the top one +1."""
    from hwgen.units._multiply import signed_digits
    assert signed_digits(22435) == [(-1, 0), (1, 2), (1, 5), (-1, 7), (-1, 11), (-1, 13),
                                    (1, 15)]
    for value in list(range(1, 2048)) + [2**31 - 1, 3 << 29]:
        digits = signed_digits(value)
        assert sum(d << p for d, p in digits) == value and digits[-1][0] == 1
        assert all(b - a >= 2 for (_, a), (_, b) in zip(digits, digits[1:]))
        assert len(digits) <= bin(value).count("1")
    unit = Requant(**CASES["per_tensor_signed_digits"])
    assert unit.product_terms == 7 and unit.latency == 3 + 1 + staged_product_latency(7, 2) - 1


@pytest.mark.parametrize("amounts, bits, error", [
    ([3], 1, ValueError), ([2, 2], 1, ValueError), ([5, 2], 1, ValueError),
    ([-1, 2], 1, ValueError), ([0, 1, 2], 1, ValueError), ([0.5, 2], 1, TypeError)])
def test_round_shift_refuses_amounts_it_cannot_index(amounts, bits, error):
    """The shift-index form of round_shift needs two or more distinct ascending shifts that
    its index can reach."""
    from amaranth.hdl import Module, Signal
    from hwgen.units._dyadic import round_shift
    with pytest.raises(error, match="amounts|cannot index"):
        round_shift(Module(), Signal(signed(12)), Signal(bits), Signal(), suffix="t",
                    amounts=amounts)


def test_a_tile_sum_is_cut_in_two_chains_where_only_its_high_bits_reach_the_result():
    """A one-stage sum of tile rows whose low bits the rounding shifts out is two carry chains
    (from the second row's low bit to the cut, and from the cut up) in the same register
    stage, the cut at the lane's largest shift when that is above the middle; a lane whose
    shifts lie too far apart, half-even rounding (which reads the low bits) or a shift of 0
    keeps the one sum. The model's tile-adder stage is the longest chain of any lane; the results
    are the golden's (the cases ``dsp_split_*`` in the cosim tests above)."""
    from amaranth.hdl import Const, Module, Signal
    from hwgen.timing import delay_model
    from hwgen.units._dyadic import round_shift
    case = CASES["dsp_split_per_channel"]
    unit = Requant(**case)
    assert unit._tile_split(0) == (17, 33, 30) and unit._tile_split(1) is None
    verilog = to_verilog(unit, "requant")
    assert "product_0_high" in verilog and "product_0_low" in verilog
    assert "product_1_high" not in verilog
    whole = Requant(**{**case, "rounding": "half_even"})
    assert whole._tile_split(0) is None and "product_0_high" not in to_verilog(whole, "rq")
    model = delay_model("ecp5", "8")
    def tile_adders(u):
        return [ns for ns, what in u._stage_delays(model, False, True, 1, True)
                if "tile adders" in what][0]
    both = CASES["dsp_split_floor_shift_stage"]           # every lane cut
    assert tile_adders(Requant(**both)) < tile_adders(Requant(**{**both, "rounding": "half_even"}))
    assert tile_adders(unit) == tile_adders(whole)         # lane 1's one sum
    with pytest.raises(ValueError, match="low part"):
        round_shift(Module(), Signal(signed(40)), Signal(1), Const(0, 1), suffix="t",
                    rounding="half_even", base=30, low=Signal(4))
