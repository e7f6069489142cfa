"""``unroll: full``, ``share: mst`` and ``share_depth`` on binary layers (issue #10)."""

from dataclasses import asdict

import pytest

from hwgen.spec import SpecError, loads

# Layers start on line 5.
BIN = "name: net\ninput: {shape: [64], bits: 1}\nseed: 0\nlayers:\n"
IMG = "name: net\ninput: {shape: [2, 8, 8], bits: 1}\nseed: 0\nlayers:\n"


def test_unroll_full_sets_pe_and_simd_and_the_activation_lanes():
    net = loads(BIN + "  - {name: fc, op: binary_dense, out_features: 16, unroll: full,\n"
                "     activation: {op: threshold, bits: 1}}\n"
                "  - {name: out, op: binary_dense, out_features: 4, unroll: full, share: mst,"
                " share_depth: 3, pe: 4, simd: 16}\n")
    fc, out = net.layers
    assert (fc.pe, fc.simd, fc.activation.pe) == (16, 64, 16)
    assert asdict(fc.attrs) == {"out_features": 16, "pipeline": 1, "popcount": "adder",
                              "unroll": "full", "share": "none", "share_depth": 2}
    assert (out.pe, out.simd, out.attrs.share, out.attrs.share_depth) == (4, 16, "mst", 3)


def test_defaults_leave_folding_alone():
    fc, = loads(BIN + "  - {name: fc, op: binary_dense, out_features: 16, pe: 4}\n").layers
    assert (fc.pe, fc.simd, fc.attrs.unroll, fc.attrs.share) == (4, 1, "none", "none")


@pytest.mark.parametrize("layer, line, path, message, hint", [
    ("{name: fc, op: binary_dense, out_features: 16, unroll: full, pe: 4}", 5, "layers[0].pe",
     "unroll: full computes all of out_features (16) at once, so pe must be 16, got 4",
     "remove 'pe' (unroll: full sets it)"),
    ("{name: fc, op: binary_dense, out_features: 16, unroll: full, simd: 32}", 5,
     "layers[0].simd", ("unroll: full computes all of in_features (64) at once, so simd must "
                        "be 64, got 32"), "or remove 'unroll: full' to fold the layer"),
    ("{name: fc, op: binary_dense, out_features: 16, share: mst}", 5, "layers[0].share",
     ("share: mst reuses results across output channels computed in the same cycle, so it "
      "needs unroll: full"), "add 'unroll: full'"),
    ("{name: fc, op: binary_dense, out_features: 16, unroll: full, share_depth: 3}", 5,
     "layers[0].share_depth", "share_depth only applies with share: mst", "add 'share: mst'"),
    ("{name: fc, op: binary_dense, out_features: 16, unroll: partial}", 5, "layers[0].unroll",
     "expected one of 'none', 'full', got the string 'partial'", None),
    ("{name: fc, op: binary_dense, out_features: 16, unroll: full, share: tree}", 5,
     "layers[0].share", "expected one of 'none', 'mst'", None),
    ("{name: fc, op: binary_dense, out_features: 16, unroll: full, share: mst, share_depth: 0}",
     5, "layers[0].share_depth", "expected an integer in 1..8, got 0", None),
    ("{name: fc, op: binary_dense, out_features: 16, unroll: true}", 5, "layers[0].unroll",
     "expected one of 'none', 'full', got the boolean true", None),
])
def test_rejects(layer, line, path, message, hint):
    with pytest.raises(SpecError) as info:
        loads(BIN + f"  - {layer}\n", source="net.yaml")
    err = info.value
    assert (err.line, err.path) == (line, path), str(err)
    assert message in err.message, str(err)
    if hint:
        assert hint in err.hint, str(err)


def test_unrolled_conv_builds_a_window_generator_and_an_unrolled_unit():
    from hwgen.units.registry import units_for
    net = loads(IMG + "  - {name: c, op: binary_conv2d, out_channels: 4, kernel_size: 3,"
                " unroll: full, share: mst}\n")
    conv, = net.layers
    assert (conv.pe, conv.simd) == (4, 2)
    (swg, unit), cycles = units_for(conv)
    assert type(swg).__name__ == "ConvolutionInputGenerator" and swg.simd == 2
    assert type(unit).__name__ == "UnrolledMVAU" and (unit.mh, unit.mw) == (4, 3 * 3 * 2)
    assert unit.share == "mst" and cycles == 6 * 6 * 9          # k*k beats per window
