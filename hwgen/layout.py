"""Tensor <-> stream order, and element <-> word packing (docs/design/numbers.md).

Hardware streams feature maps pixel by pixel with channels innermost (HWC);
``.npy`` files and the golden model use PyTorch order (CHW). 1-D and
``[T, C]`` tensors are already in stream order.

A beat carries ``n`` elements of ``b`` bits; element ``i`` sits in bits
``[i*b, (i+1)*b)``. Signed elements are two's complement. Binary elements
(``b == 1``) are -1/+1 outside hardware and bit 1 means +1.
"""

import numpy as np

__all__ = ["to_stream_order", "from_stream_order", "to_beats", "from_beats", "pack", "unpack"]


def pack(elements, bits: int) -> int:
    """Pack integers (or -1/+1 when ``bits == 1``) into one word."""
    mask = (1 << bits) - 1
    word = 0
    for index, value in enumerate(elements):
        value = int(value)
        if bits == 1:
            if value not in (-1, 1):
                raise ValueError(f"binary element {index} must be -1 or +1, not {value}")
            value = (value + 1) >> 1
        word |= (value & mask) << (index * bits)
    return word


def unpack(word: int, count: int, bits: int, signed: bool) -> list:
    """Inverse of :func:`pack`: ``count`` elements of ``bits`` bits from ``word``."""
    mask = (1 << bits) - 1
    elements = []
    for index in range(count):
        value = (int(word) >> (index * bits)) & mask
        if bits == 1:
            value = 1 if value else -1
        elif signed and value >> (bits - 1):
            value -= 1 << bits
        elements.append(value)
    return elements


def to_stream_order(x: np.ndarray, shape) -> np.ndarray:
    """[N, *shape] in PyTorch order -> [N, elements] in stream order."""
    x = np.asarray(x)
    if len(shape) == 3:
        x = x.transpose(0, 2, 3, 1)
    return x.reshape(len(x), -1)


def from_stream_order(flat: np.ndarray, shape) -> np.ndarray:
    """Inverse of :func:`to_stream_order`."""
    flat = np.asarray(flat)
    if len(shape) == 3:
        c, h, w = shape
        return flat.reshape(len(flat), h, w, c).transpose(0, 3, 1, 2)
    return flat.reshape(len(flat), *shape)


def to_beats(x: np.ndarray, shape, per_beat: int, bits: int) -> list:
    """[N, *shape] -> per-sample lists of words, ``per_beat`` elements each."""
    flat = to_stream_order(x, shape)
    return [[pack(row[i:i + per_beat], bits) for i in range(0, len(row), per_beat)]
            for row in flat]


def from_beats(frames, shape, per_beat: int, bits: int, signed: bool) -> np.ndarray:
    """Per-sample word lists -> [N, *shape] int64 (lanes past the sample's end dropped)."""
    size = int(np.prod(shape, dtype=np.int64))
    flat = np.array([[v for word in frame for v in unpack(word, per_beat, bits, signed)][:size]
                     for frame in frames], dtype=np.int64)
    return from_stream_order(flat.reshape(len(frames), size), shape)
