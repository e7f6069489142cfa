"""Deterministic random *valid* parameters for ``seed:`` networks.

Every layer draws from its own generator,
``numpy.random.default_rng([seed, zlib.crc32(layer_name)])`` (an inline
activation uses the name ``<layer>.act``), so adding or reordering layers does
not change the parameters of the others.

The values are chosen to make useful test vectors, not just legal ones:

- weights are uniform over the allowed values (+-1; the signed ``weight_bits``
  range; {-1, 0, +1} for ternary);
- a bias roughly centres its channel (minus the channel's estimated mean,
  plus up to half a standard deviation of noise), clipped to +-2**(acc_bits-2)
  of the bias-free accumulator and to int32, so channels compete in a
  following argmax instead of one always winning;
- thresholds and requant scales follow a rough estimate of the *typical*
  distribution of their input (:class:`Moments`, mean and standard deviation
  assuming uniformly random network inputs), not its worst-case range, so
  that outputs use many levels instead of saturating: thresholds are sorted
  normal draws around the channel mean (clipped into the input range,
  duplicates allowed), requant multipliers are uniform in ``[2**30, 2**31)``
  with a shift that maps +-3 sigma of the input onto the output range, and a
  zero point that centres the output.

The loader validates these parameters exactly like ones from an npz, then
infers the tensor ranges from them.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["rng_for", "Moments", "weights", "bias", "thresholds", "dyadic", "requant",
           "add", "layernorm_bias"]


def rng_for(seed: int, name: str) -> np.random.Generator:
    """The generator of one layer: seeded from ``(seed, crc32(name))``."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


@dataclass(frozen=True)
class Moments:
    """Estimated mean and standard deviation of a tensor (scalars or per-channel arrays)."""
    mean: object
    std: object

    @classmethod
    def uniform(cls, lo, hi, binary=False):
        if binary:
            return cls(0.0, 1.0)
        n = hi - lo + 1
        return cls((lo + hi) / 2, math.sqrt((n * n - 1) / 12) if n > 1 else 0.0)

    def overall(self) -> Moments:
        """Collapse per-channel moments into one for the whole tensor."""
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        if mean.ndim == 0 and std.ndim == 0:
            return Moments(float(mean), float(std))
        m = float(np.mean(mean))
        var = float(np.mean(std ** 2) + np.var(mean))
        return Moments(m, math.sqrt(var))

    def scaled(self, ratio, offset, lo, hi) -> Moments:
        """Moments of ``clip(x * ratio + offset, lo, hi)`` (roughly)."""
        mean = np.clip(np.asarray(self.mean) * ratio + offset, lo, hi)
        std = np.minimum(np.asarray(self.std) * ratio, (hi - lo) / 2)
        return Moments(mean, std).overall()


def weights(rng, shape, *, kind: str, bits: int = 8) -> np.ndarray:
    """Uniform over the allowed values: ``binary`` +-1, ``ternary``, or ``int`` of ``bits``."""
    if kind == "binary":
        return rng.integers(0, 2, size=shape, dtype=np.int64) * 2 - 1
    if kind == "ternary":
        return rng.integers(-1, 2, size=shape, dtype=np.int64)
    half = 1 << (bits - 1)
    return rng.integers(-half, half, size=shape, dtype=np.int64)


def bias(rng, acc_lo, acc_hi, moments: Moments) -> np.ndarray:
    """Per-channel bias that roughly centres each channel (``-mean +- std/2``), within
    +-2**(acc_bits-2) of the accumulator (without bias) and int32.

    Centring makes every channel's typical values straddle zero, so a following
    argmax or per-tensor requant sees channels that compete instead of one
    channel that always wins or saturates."""
    acc_lo = np.asarray(acc_lo, dtype=np.int64)
    acc_hi = np.asarray(acc_hi, dtype=np.int64)
    span = np.maximum(np.abs(acc_lo), np.abs(acc_hi))
    acc_bits = np.array([max(int(v).bit_length() + 1, 2) for v in span.ravel()],
                        dtype=np.int64).reshape(span.shape)
    limit = np.minimum(np.left_shift(1, np.maximum(acc_bits - 2, 0)), (1 << 31) - 1)
    mean = np.broadcast_to(np.asarray(moments.mean, dtype=np.float64), limit.shape)
    std = np.broadcast_to(np.asarray(moments.std, dtype=np.float64), limit.shape)
    wanted = -mean + 0.5 * std * rng.uniform(-1, 1, limit.shape)
    return np.clip(np.floor(wanted + 0.5), -limit, limit).astype(np.int64)


def max_of(moments: Moments, n: int, lo, hi) -> Moments:
    """Moments of the maximum of ``n`` values (max pooling), for normal-ish inputs."""
    mo = moments.overall()
    z = np.random.default_rng(0).standard_normal((4096, n)).max(axis=1)
    mean = float(np.clip(mo.mean + mo.std * z.mean(), lo, hi))
    return Moments(mean, float(mo.std * z.std()))


def thresholds(rng, rows, count, lo, hi, moments: Moments) -> np.ndarray:
    """``[rows, count]`` sorted thresholds inside ``[lo, hi]`` around the typical input."""
    mean = np.broadcast_to(np.asarray(moments.mean, dtype=np.float64), (rows,))[:, None]
    std = np.broadcast_to(np.asarray(moments.std, dtype=np.float64), (rows,))[:, None]
    std = np.maximum(std, 0.5)
    draws = mean + 1.5 * std * rng.standard_normal((rows, count))
    # a little uniform noise over the whole range keeps the extremes covered
    wide = rng.random((rows, count)) < 0.05
    draws = np.where(wide, rng.uniform(lo, hi + 1, (rows, count)), draws)
    values = np.clip(np.floor(draws + 0.5), lo, hi).astype(np.int64)
    return np.sort(values, axis=1)


def dyadic(rng, ratio: float, xmax: int = 1) -> tuple[int, int]:
    """A multiplier ``m`` in ``[2**30, 2**31)`` and shift ``s`` with ``m / 2**s ~ ratio``.

    ``m`` is then lowered (with ``s``, keeping the ratio) until ``xmax * m``
    fits the golden model's int64 product, so wide inputs stay valid.
    """
    m = int(rng.integers(1 << 30, 1 << 31))
    if ratio <= 0 or not math.isfinite(ratio):
        ratio = 1.0
    s = round(math.log2(m / ratio))
    if s < 0:
        m, s = int(min(max(round(ratio), 1), (1 << 31) - 1)), 0
    elif s > 63:
        m, s = int(max(round(ratio * 2.0 ** 63), 1)), 63
    limit = max((INT64_PRODUCT_MAX) // max(int(xmax), 1), 1)
    while m > limit and s > 0:
        m, s = max(m >> 1, 1), s - 1
    return min(m, limit), s


#: the largest |x * m| the loader accepts (the golden model's int64 product)
INT64_PRODUCT_MAX = (1 << 63) - 2


def _target(out_lo, out_hi, signed):
    """Wanted output mean and standard deviation: centred, +-3 sigma over the range."""
    centre = 0.0 if signed else (out_lo + out_hi) / 2
    return centre, (out_hi - out_lo) / 6


def requant(rng, channels: int, moments: Moments, out_lo: int, out_hi: int, signed: bool,
            xmax: int = 1):
    """Per-channel (``channels`` rows; 1 for per tensor) multiplier, shift, zero_point;
    ``xmax`` bounds ``|x|`` so that ``x * m`` fits int64."""
    mean = np.broadcast_to(np.asarray(moments.mean, dtype=np.float64), (channels,))
    std = np.broadcast_to(np.asarray(moments.std, dtype=np.float64), (channels,))
    centre, spread = _target(out_lo, out_hi, signed)
    mult, shift, zp = [], [], []
    for c in range(channels):
        m, s = dyadic(rng, spread / max(float(std[c]), 0.5), xmax)
        ratio = m / 2.0 ** s
        mult.append(m)
        shift.append(s)
        zp.append(int(np.clip(round(centre - mean[c] * ratio), out_lo, out_hi)))
    return (np.array(mult, dtype=np.int64), np.array(shift, dtype=np.int64),
            np.array(zp, dtype=np.int64))


def add(rng, a: Moments, b: Moments, out_lo: int, out_hi: int, signed: bool, xmax: int = 1):
    """multiplier [2], shift [2], zero_point [1] for a residual add of ``a`` and ``b``."""
    centre, spread = _target(out_lo, out_hi, signed)
    mult, shift, offset = [], [], 0.0
    for moments in (a.overall(), b.overall()):
        m, s = dyadic(rng, spread / math.sqrt(2) / max(float(moments.std), 0.5), xmax)
        mult.append(m)
        shift.append(s)
        offset += float(moments.mean) * m / 2.0 ** s
    zp = int(np.clip(round(centre - offset), out_lo, out_hi))
    return (np.array(mult, dtype=np.int64), np.array(shift, dtype=np.int64),
            np.array([zp], dtype=np.int64))


def layernorm_bias(rng, channels: int) -> np.ndarray:
    """A small per-channel bias on the 2**30 scale of the normalised output."""
    return rng.integers(-(1 << 26), (1 << 26) + 1, size=channels, dtype=np.int64)
