"""Element <-> word packing shared by every testbench (DESIGN.md section 2).

A beat carries ``n`` elements of ``b`` bits; element ``i`` sits in bits
``[i*b, (i+1)*b)``. Signed elements are two's complement. Binary elements
(``b == 1``) are -1/+1 outside hardware and bit 1 means +1.
"""

__all__ = ["pack", "unpack"]


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
