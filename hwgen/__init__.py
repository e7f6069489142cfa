"""hwgen: streaming accelerators for quantized neural networks, in Amaranth HDL."""

__version__ = "0.1.0"
