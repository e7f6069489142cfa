"""QuotientPipeline (pipelined non-restoring division, quotient only) against Python's ``//``.

Exhaustive on 6-bit dividends / 4-bit divisors (every bounded quotient width
too) and on constant dividends, ShiftGELU's ``(2**31 - 1) // S`` on the
divisor edges, random 32-bit dividends and a tag under random stalls, the
latency without stalls, and Verilator cosim under 30 % pauses on both
AXI4-Stream sides.
"""

import random

import pytest
from amaranth.hdl import signed

from hwgen.units._quotient_pipeline import QuotientPipeline
from sim.amaranth_streams import simulate_stream

from .test_divider import pairs_random, words_of

Q31 = (1 << 31) - 1


def check(got, pairs):
    want = [a // b for a, b in pairs]
    bad = [(p, g, w) for p, g, w in zip(pairs, got, want) if g != w]
    assert not bad and len(got) == len(want), \
        f"{len(bad)} of {len(pairs)} differ, first (a, b), got, want: {bad[:3]}"


def test_parameters_checked_as_the_dividers():
    with pytest.raises(ValueError, match="quotient_bits must be at most 8, not 9"):
        QuotientPipeline(dividend_bits=8, divisor_bits=4, quotient_bits=9)


@pytest.mark.parametrize("quotient_bits", [6, 4, 1])
def test_exhaustive_6_by_4(quotient_bits):
    """Every (a, b) with a < b << quotient_bits, 6-bit a, 4-bit b."""
    pairs = [(a, b) for b in range(1, 16) for a in range(min(64, b << quotient_bits))]
    dut = QuotientPipeline(dividend_bits=6, divisor_bits=4, quotient_bits=quotient_bits)
    got = simulate_stream(dut, words_of(pairs, 6), len(pairs), stall=0.2, seed=3)
    check(got, pairs)


@pytest.mark.parametrize("constant", [63, 45, 32])
def test_constant_dividend_exhaustive(constant):
    pairs = [(constant, b) for b in range(1, 64)]
    dut = QuotientPipeline(dividend_bits=6, divisor_bits=6, dividend=constant)
    check(simulate_stream(dut, [b for _, b in pairs], len(pairs), stall=0.2, seed=3), pairs)


def test_shiftgelu_division():
    """(2**31 - 1) // S for 31-bit S >= 213,248 (14 quotient bits, int8 and x0 = -19)."""
    rng = random.Random(6)
    divisors = {213248, 213249, Q31, Q31 - 1, 1 << 30, (1 << 30) + 1, 46341 << 5}
    divisors |= {(1 << k) + d for k in range(18, 31) for d in (-1, 0, 1) if (1 << k) + d >= 213248}
    divisors |= {Q31 // q + d for q in range(1, 10071, 97) for d in (0, 1)}   # quotient steps
    divisors |= {rng.randrange(213248, 1 << 31) for _ in range(200)}
    pairs = [(Q31, b) for b in sorted(d for d in divisors if 213248 <= d <= Q31)]
    dut = QuotientPipeline(dividend_bits=31, divisor_bits=31, quotient_bits=14, dividend=Q31)
    check(simulate_stream(dut, [b for _, b in pairs], len(pairs), stall=0.3, seed=8), pairs)


def test_random_32_by_31_with_a_tag():
    pairs = pairs_random(32, 31, 150, seed=3)
    tags = [(-1) ** k * k for k in range(len(pairs))]
    dut = QuotientPipeline(dividend_bits=32, divisor_bits=31, tag_shape=signed(9))
    words = [w | ((t & 511) << 63) for w, t in zip(words_of(pairs, 32), tags)]
    got = simulate_stream(dut, words, len(pairs), stall=0.4, seed=8, scramble=1)
    check([w & ((1 << 32) - 1) for w in got], pairs)
    assert [((w >> 32) & 511) - ((w >> 32) & 256) * 2 for w in got] == tags


def test_latency_and_rate():
    pairs = pairs_random(12, 7, 20, seed=1)
    dut = QuotientPipeline(dividend_bits=12, divisor_bits=7)
    stamps = ([], [])
    check(simulate_stream(dut, words_of(pairs, 12), len(pairs), stamps=stamps), pairs)
    ins, outs = stamps
    assert outs[0] - ins[0] == dut.latency
    assert outs[-1] - outs[0] == len(pairs) - 1


def test_verilator_cosim():
    """32-bit dividends, 31-bit divisors under 30% random pauses on both AXI4-Stream sides."""
    from sim.cosim import cosimulate_unit
    pairs = pairs_random(32, 31, 300, seed=5)
    unit = QuotientPipeline(dividend_bits=32, divisor_bits=31)
    result = cosimulate_unit(unit, "quotient_pipeline_top", [[w] for w in words_of(pairs, 32)],
                             out_beats=1, backpressure=0.3, seed=7)
    check([words[0] for words in result.received], pairs)
    assert result.passed
