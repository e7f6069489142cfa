"""Requant configurations and input vectors shared by the Amaranth and Verilator tests.

Each case exercises a corner of the rescale: shift 0 (no rounding term) and
63, m = 2**31 - 1 and m = 1, zero points at both ends of the output range,
per-tensor and per-channel, signed and unsigned on both sides, each rounding
mode (half_up, half_even, floor). The vectors
add all-max, all-min, zero and, for every channel, inputs that land exactly on
a rounding half-way point (``x*m mod 2**s == 2**(s-1)``), of both signs.
"""

import numpy as np
import torch
from amaranth.hdl import signed, unsigned

from sw_reference.ops import requant as golden_requant

CASES = {
    # per-channel, every edge parameter somewhere
    "per_channel_s16_to_s8": dict(
        in_shape=signed(16), out_shape=signed(8), channels=8, pe=2,
        multiplier=[3 << 29, 2**31 - 1, 5, 7, 1, 11, 1, 2**30],
        shift=[0, 63, 3, 4, 1, 6, 1, 31],
        zero_point=[0, 1, -2, 3, 0, -128, 127, 0]),
    # per-tensor on an int32 accumulator: the widest product (62 bits + sign)
    "per_tensor_s32_to_u8": dict(
        in_shape=signed(32), out_shape=unsigned(8), channels=4, pe=4,
        multiplier=[2**31 - 1], shift=[40], zero_point=[128]),
    # unsigned input, signed 4-bit output, fully folded, one channel without rounding
    "folded_u8_to_s4": dict(
        in_shape=unsigned(8), out_shape=signed(4), channels=6, pe=1,
        multiplier=[1, 3, 2**31 - 1, 12345, 2**20, 77],
        shift=[0, 2, 35, 12, 22, 8],
        zero_point=[-8, 7, 0, 1, -1, 0]),
    # the same with the variable shift and the clamp in stages of their own (latency 5)
    "folded_u8_to_s4_staged": dict(
        in_shape=unsigned(8), out_shape=signed(4), channels=6, pe=1,
        multiplier=[1, 3, 2**31 - 1, 12345, 2**20, 77],
        shift=[0, 2, 35, 12, 22, 8],
        zero_point=[-8, 7, 0, 1, -1, 0], shift_stage=True, offset_stage=True),
    # ONNX ROUND (half to even) per channel, ties in every channel, both signs
    "half_even_per_channel": dict(
        in_shape=signed(12), out_shape=signed(8), channels=4, pe=2,
        multiplier=[1, 3, 2**31 - 1, 5], shift=[1, 2, 36, 0], zero_point=[0, -3, 4, 0],
        rounding="half_even"),
    # QONNX FLOOR, per tensor, unsigned output
    "floor_per_tensor": dict(
        in_shape=signed(10), out_shape=unsigned(6), channels=4, pe=4,
        multiplier=[3], shift=[3], zero_point=[32], rounding="floor"),
    # both non-default modes through the shift and clamp stages (the tie flag registered
    # beside the shift; shift 0 held as 2p)
    "half_even_per_channel_staged": dict(
        in_shape=signed(12), out_shape=signed(8), channels=4, pe=2,
        multiplier=[1, 3, 2**31 - 1, 5], shift=[1, 2, 36, 0], zero_point=[0, -3, 4, 0],
        rounding="half_even", shift_stage=True, offset_stage=True),
    # the product as shift-add stages (the 200 MHz form): signed and unsigned inputs, a
    # per-channel multiplier from the ROM and a per-tensor constant one
    "half_up_staged_product": dict(
        in_shape=signed(13), out_shape=unsigned(4), channels=8, pe=4,
        multiplier=[1134691134, 1340538068, 1399214337, 1091506397, 3, 2**31 - 1, 1, 77],
        shift=[34, 35, 36, 35, 2, 40, 0, 9], zero_point=[0, 3, 15, 1, 0, 8, 2, 0],
        shift_stage=True, offset_stage=True, product_stages=2),
    "half_even_staged_product_u8": dict(
        in_shape=unsigned(8), out_shape=signed(8), channels=4, pe=2,
        multiplier=[1470337272], shift=[34], zero_point=[-3], rounding="half_even",
        offset_stage=True, product_stages=9),
    # a per-tensor multiplier's product over its signed digits (22435: -1 digits, two of
    # them paired), on signed inputs
    "per_tensor_signed_digits": dict(
        in_shape=signed(15), out_shape=signed(8), channels=8, pe=8,
        multiplier=[1470337272], shift=[34], zero_point=[3], offset_stage=True,
        product_stages=2),
    # a signed input no wider than the unsigned output: the clamp's in-range flag has no
    # high bits to read but the sign (negative inputs saturate to 0)
    "signed_in_unsigned_out_as_wide": dict(
        in_shape=signed(8), out_shape=unsigned(8), channels=2, pe=2,
        multiplier=[1, 3], shift=[1, 0], zero_point=[0, 2]),
    "floor_per_channel_staged": dict(
        in_shape=signed(10), out_shape=signed(6), channels=4, pe=1,
        multiplier=[3, 1, 2**31 - 1, 7], shift=[3, 0, 37, 1], zero_point=[0, -32, 31, 5],
        rounding="floor", shift_stage=True),
    # the product in registered 18x18 tiles (dsp_product, the 200 MHz form on ECP5): an
    # int32 input by 31-bit per-channel multipliers from the ROM (2 x 2 tiles a lane, two
    # adder levels in two stages), a per-tensor constant on an unsigned input (one tile),
    # and a per-tensor constant on an int24 input (a signed top slice of 7 bits)
    "dsp_per_channel_s32": dict(
        in_shape=signed(32), out_shape=signed(8), channels=8, pe=2,
        multiplier=[2**31 - 1, 1, 1134691134, 3 << 29, 77, 1399214337, 2**30, 5],
        shift=[40, 0, 36, 31, 9, 38, 63, 3], zero_point=[0, 1, -2, 3, 0, -128, 127, 0],
        product_stages=2, dsp_product=True),
    "dsp_per_tensor_u8": dict(
        in_shape=unsigned(8), out_shape=signed(8), channels=4, pe=2,
        multiplier=[1470337272], shift=[34], zero_point=[-3], rounding="half_even",
        offset_stage=True, dsp_product=True),
    "dsp_per_tensor_s24": dict(
        in_shape=signed(24), out_shape=signed(8), channels=4, pe=4,
        multiplier=[2**31 - 12346], shift=[45], zero_point=[5], rounding="floor",
        product_stages=1, dsp_product=True),
    # tiles with the variable shift and the clamp in stages of their own, per-channel
    # shifts and zero points (each lane's differ: shift indices and zero points from ROMs)
    "dsp_per_channel_staged": dict(
        in_shape=signed(20), out_shape=signed(8), channels=6, pe=2,
        multiplier=[2**31 - 1, 3, 1134691134, 2**30, 77, 1],
        shift=[36, 2, 35, 0, 9, 40], zero_point=[-128, 5, 0, 127, -3, 1],
        rounding="half_even", shift_stage=True, offset_stage=True,
        product_stages=1, dsp_product=True),
    # the tiles' sum cut in two carry chains (int8_mlp's requants at 200 MHz): per-channel
    # multipliers and shifts a few apart in each lane (the cut at the largest), half-up to
    # an unsigned output; then floor with the variable shift in a stage of its own
    "dsp_split_per_channel": dict(
        in_shape=signed(21), out_shape=unsigned(8), channels=8, pe=2,
        multiplier=[1134691134, 2**31 - 1, 1399214337, 3 << 28, 1470337272, 2**30 + 7,
                    987654321, 1234567891],
        shift=[38, 39, 40, 38, 39, 41, 38, 40], zero_point=[0, 3, 128, 255, 17, 0, 64, 1],
        offset_stage=True, product_stages=1, dsp_product=True),
    "dsp_split_floor_shift_stage": dict(
        in_shape=signed(20), out_shape=signed(8), channels=4, pe=2,
        multiplier=[2**31 - 1, 1134691134, 1399214337, 2**30 + 3],
        shift=[37, 38, 39, 37], zero_point=[-128, 5, 0, 127], rounding="floor",
        shift_stage=True, offset_stage=True, product_stages=1, dsp_product=True),
}


def _range(shape):
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def _broadcast(values, channels):
    return list(values) * channels if len(values) == 1 else list(values)


def halfway_inputs(m: int, s: int, lo: int, hi: int) -> list:
    """Inputs x in [lo, hi] with ``x*m`` exactly half-way between two multiples of 2**s."""
    if s == 0:
        return []
    k = (m & -m).bit_length() - 1          # m = odd * 2**k
    if k > s - 1:
        return []                           # x*m is a multiple of 2**s: never half-way
    odd, period = m >> k, 1 << (s - k)
    base = ((1 << (s - 1 - k)) * pow(odd, -1, period)) % period
    found = [x for x in (base, base - period, base + period, base - 2 * period) if lo <= x <= hi]
    return found


def case_vectors(case: dict, count: int, seed: int) -> np.ndarray:
    """``count`` random vectors [count, C] followed by the edge-case vectors."""
    channels = case["channels"]
    lo, hi = _range(case["in_shape"])
    rng = np.random.default_rng(seed)
    random = rng.integers(lo, hi, size=(count, channels), endpoint=True, dtype=np.int64)
    edges = [np.full(channels, hi), np.full(channels, lo), np.zeros(channels, np.int64),
             np.resize([lo, hi], channels), np.resize([1, -1] if lo < 0 else [1, 0], channels)]
    ms = _broadcast(case["multiplier"], channels)
    ss = _broadcast(case["shift"], channels)
    per_channel = [halfway_inputs(ms[c], ss[c], lo, hi) for c in range(channels)]
    for variant in range(4):
        vector = rng.integers(lo, hi, size=channels, endpoint=True, dtype=np.int64)
        for c, options in enumerate(per_channel):
            if options:
                vector[c] = options[variant % len(options)]
        edges.append(vector)
    return np.concatenate([random, np.array(edges, dtype=np.int64),
                           unsaturated_inputs(case, 64, rng)])


def unsaturated_inputs(case: dict, count: int, rng) -> np.ndarray:
    """``count`` vectors whose every element lies where the channel's golden output is not
    saturated, give or take one input (found over the whole input range, up to 16 bits): where
    a narrowed multiplier must agree value by value. Empty for wider inputs."""
    lo, hi = _range(case["in_shape"])
    channels = case["channels"]
    if hi - lo >= 1 << 16:
        return np.zeros((0, channels), np.int64)
    x = np.arange(lo, hi + 1, dtype=np.int64)
    y = case_expected(case, np.repeat(x[:, None], channels, axis=1))
    out_lo, out_hi = _range(case["out_shape"])
    inside = (y > out_lo) & (y < out_hi)
    inside |= np.roll(inside, 1, axis=0) | np.roll(inside, -1, axis=0)
    columns = [rng.choice(x[inside[:, c]] if inside[:, c].any() else x, count)
               for c in range(channels)]
    return np.stack(columns, axis=1)


def case_expected(case: dict, x: np.ndarray) -> np.ndarray:
    """Golden outputs for ``x`` [N, C] from ``sw_reference``."""
    lo, hi = _range(case["out_shape"])
    param = lambda key: torch.tensor(case[key], dtype=torch.int64)
    return golden_requant(torch.from_numpy(x), param("multiplier"), param("shift"),
                          param("zero_point"), lo, hi, channel_axis=-1,
                          rounding=case.get("rounding", "half_up")).numpy()


def to_beats(x: np.ndarray, pe: int, bits: int) -> list:
    """[N, C] -> per-sample lists of packed beats (``pe`` channels each)."""
    from sim.packing import pack
    return [[pack(row[f:f + pe], bits) for f in range(0, len(row), pe)] for row in x]
