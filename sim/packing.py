"""Element <-> word packing shared by every testbench: :func:`hwgen.layout.pack` and
:func:`~hwgen.layout.unpack` (DESIGN.md section 2), re-exported here; hwgen owns them because
its own layout code packs words, and hwgen never imports sim."""

from hwgen.layout import pack, unpack

__all__ = ["pack", "unpack"]
