"""Divider: construction checks, Amaranth simulation (exhaustive and random), Verilator cosim.

Expected quotients and remainders come from Python's ``divmod`` on
non-negative integers (the golden model's ``//`` in :mod:`sw_reference.ivit`
is the same floor division). Both variants are checked exhaustively on
6-bit dividends / 4-bit divisors, and on random 32-bit dividends with
divisors of every size, including the edges (divisor 1, divisor > dividend,
divisor == dividend, all-ones), under random stalls on both streams.
"""

import random

import numpy as np
import pytest

from hwgen.units.divider import Divider
from sim.amaranth_streams import simulate_stream

BASE = dict(dividend_bits=8, divisor_bits=4)


@pytest.mark.parametrize("change, error, message", [
    (dict(dividend_bits=0), ValueError, "dividend_bits must be at least 1, not 0"),
    (dict(dividend_bits=65), ValueError, "dividend_bits must be at most 64, not 65"),
    (dict(divisor_bits=4.0), TypeError, "divisor_bits must be an integer, not 4.0"),
    (dict(pipelined=1), TypeError, "pipelined must be True or False, not 1"),
    (dict(quotient_bits=9), ValueError, "quotient_bits must be at most 8, not 9"),
    (dict(dividend=256), ValueError, "dividend must be at most 255, not 256"),
])
def test_construction_errors(change, error, message):
    with pytest.raises(error) as info:
        Divider(**{**BASE, **change})
    assert message in str(info.value)


@pytest.mark.parametrize("pipelined, latency, interval", [(False, 9, 10), (True, 8, 1)])
def test_properties(pipelined, latency, interval):
    unit = Divider(**BASE, pipelined=pipelined)
    assert (unit.latency, unit.interval, unit.pipelined) == (latency, interval, pipelined)
    assert (unit.dividend_bits, unit.divisor_bits) == (8, 4)


def pairs_exhaustive(a_bits, b_bits):
    return [(a, b) for a in range(1 << a_bits) for b in range(1, 1 << b_bits)]


def pairs_random(a_bits, b_bits, count, seed):
    rng = random.Random(seed)
    top_a, top_b = (1 << a_bits) - 1, (1 << b_bits) - 1
    pairs = [(top_a, 1), (top_a, top_b), (0, top_b), (top_b, top_b), (top_b - 1, top_b),
             (top_a, (1 << (b_bits - 1))), ((1 << 31) - 1, 1 << 15), ((1 << 31) - 1, top_b)]
    for _ in range(count):
        b = rng.randrange(1, 1 << rng.randint(1, b_bits))
        pairs.append((rng.randrange(1 << a_bits) >> rng.randrange(a_bits), b))
    return [(a & top_a, b) for a, b in pairs if 1 <= b <= top_b]


def words_of(pairs, a_bits):
    return [a | (b << a_bits) for a, b in pairs]


def check(received, pairs, a_bits, b_bits):
    got = [(w & ((1 << a_bits) - 1), w >> a_bits) for w in received]
    want = [divmod(a, b) for a, b in pairs]
    bad = [(p, g, w) for p, g, w in zip(pairs, got, want) if g != w]
    assert not bad, f"{len(bad)} of {len(pairs)} differ, first (a, b), got, want: {bad[:3]}"


@pytest.mark.parametrize("pipelined", [False, True])
def test_exhaustive_6_by_4(pipelined):
    pairs = pairs_exhaustive(6, 4)
    dut = Divider(dividend_bits=6, divisor_bits=4, pipelined=pipelined)
    received = simulate_stream(dut, words_of(pairs, 6), len(pairs), stall=0.2, seed=3)
    check(received, pairs, 6, 4)


@pytest.mark.parametrize("pipelined", [False, True])
@pytest.mark.parametrize("constant", [63, 45, 32])
def test_constant_dividend_exhaustive(pipelined, constant):
    """A constant dividend (the trimmed stages of the pipeline) over every 6-bit divisor."""
    pairs = [(constant, b) for b in range(1, 64)]
    dut = Divider(dividend_bits=6, divisor_bits=6, dividend=constant, pipelined=pipelined)
    received = simulate_stream(dut, [b for _, b in pairs], len(pairs), stall=0.2, seed=3)
    check(received, pairs, 6, 6)


@pytest.mark.parametrize("pipelined", [False, True])
def test_bounded_quotient_exhaustive(pipelined):
    """quotient_bits=3 on 8-bit dividends: every (a, b) with a < b << 3, 5-bit b."""
    pairs = [(a, b) for b in range(1, 32) for a in range(min(256, b << 3))][::3]
    dut = Divider(dividend_bits=8, divisor_bits=5, quotient_bits=3, pipelined=pipelined)
    assert dut.latency == (3 if pipelined else 4)
    received = simulate_stream(dut, words_of(pairs, 8), len(pairs), stall=0.2, seed=3)
    check([(w & 7) | (w >> 3) << 8 for w in received], pairs, 8, 5)


@pytest.mark.parametrize("pipelined", [False, True])
def test_q31_reciprocal_random_and_edges(pipelined):
    """(2**31 - 1) // b, I-ViT's division, for divisors of every size, powers of two and +-1."""
    q31 = (1 << 31) - 1
    rng = random.Random(4)
    divisors = {1, 2, 3, q31, q31 - 1, 1 << 30, (1 << 30) + 1, 46341, 65535, 65536}
    divisors |= {(1 << k) + d for k in range(31) for d in (-1, 0, 1) if 1 <= (1 << k) + d <= q31}
    divisors |= {rng.randrange(1, 1 << rng.randint(1, 31)) for _ in range(150)}
    pairs = [(q31, b) for b in sorted(divisors)]
    dut = Divider(dividend_bits=31, divisor_bits=31, dividend=q31, pipelined=pipelined)
    received = simulate_stream(dut, [b for _, b in pairs], len(pairs), stall=0.3, seed=8)
    check(received, pairs, 31, 31)


@pytest.mark.parametrize("pipelined", [False, True])
def test_random_32_by_31_with_stalls(pipelined):
    """From random values in the registers without a reset (the data): read behind valid."""
    pairs = pairs_random(32, 31, 150, seed=pipelined)
    dut = Divider(dividend_bits=32, divisor_bits=31, pipelined=pipelined)
    received = simulate_stream(dut, words_of(pairs, 32), len(pairs), stall=0.4, seed=8,
                               scramble=1)
    check(received, pairs, 32, 31)


def test_zero_divisor_gives_all_ones_quotient():
    dut = Divider(dividend_bits=6, divisor_bits=4)
    received = simulate_stream(dut, words_of([(0, 0), (37, 0)], 6), 2)
    assert [w & 63 for w in received] == [63, 63]


@pytest.mark.parametrize("pipelined", [False, True])
def test_back_to_back_interval(pipelined):
    """Without stalls a division leaves every ``interval`` cycles, ``latency`` after its input."""
    pairs = pairs_random(12, 7, 20, seed=1)
    dut = Divider(dividend_bits=12, divisor_bits=7, pipelined=pipelined)
    stamps = ([], [])
    received = simulate_stream(dut, words_of(pairs, 12), len(pairs), stamps=stamps)
    check(received, pairs, 12, 7)
    ins, outs = stamps
    assert outs[0] - ins[0] == dut.latency
    assert np.all(np.diff(outs) == dut.interval), np.diff(outs)


@pytest.mark.parametrize("pipelined", [pytest.param(False, marks=pytest.mark.slow), True])
def test_verilator_cosim(pipelined):
    """32-bit dividends, 31-bit divisors under 30% random pauses on both AXI4-Stream sides."""
    from sim.cosim import cosimulate_unit
    pairs = pairs_random(32, 31, 400, seed=5)
    unit = Divider(dividend_bits=32, divisor_bits=31, pipelined=pipelined)
    name = "divider_pipe_top" if pipelined else "divider_iter_top"
    result = cosimulate_unit(unit, name, [[w] for w in words_of(pairs, 32)], out_beats=1,
                             backpressure=0.3, seed=7)
    check([words[0] for words in result.received], pairs, 32, 31)
    assert result.passed


@pytest.mark.parametrize("pipelined", [False, True])
def test_tag_travels_with_its_division(pipelined):
    from amaranth.hdl import signed
    pairs = pairs_random(10, 5, 40, seed=9)
    tags = [(-1) ** k * k for k in range(len(pairs))]
    dut = Divider(dividend_bits=10, divisor_bits=5, pipelined=pipelined, tag_shape=signed(7))
    words = [w | ((t & 127) << 15) for w, t in zip(words_of(pairs, 10), tags)]
    received = simulate_stream(dut, words, len(pairs), stall=0.3, seed=4, scramble=2)
    check([w & ((1 << 15) - 1) for w in received], pairs, 10, 5)
    got_tags = [(w >> 15) & 127 for w in received]
    assert [t - 128 if t >= 64 else t for t in got_tags] == tags
