"""Every rejection names file, line, YAML path, what was expected and a fix."""

import pytest

from hwgen.spec import SpecError, load, loads

# Layers of these networks start on line 5.
BIN = "name: net\ninput: {shape: [64], bits: 1}\nseed: 0\nlayers:\n"
INT = "name: net\ninput: {shape: [64], bits: 8}\nseed: 0\nlayers:\n"
IMG = "name: net\ninput: {shape: [1, 8, 8], bits: 4}\nseed: 0\nlayers:\n"
SEQ = "name: net\ninput: {shape: [16, 64], bits: 8, signed: true}\nseed: 0\nlayers:\n"

# (id, yaml, line, path, message substring)
CASES = [
    # --- YAML itself
    ("yaml-syntax", BIN + "  - {name: a, op: argmax\n", 6, "", "invalid YAML"),
    ("yaml-tab", "name: net\ninput:\n\tshape: [64]\n", 3, "", "invalid YAML"),
    ("duplicate-key", "name: net\ninput: {shape: [64], bits: 1}\ninput: {shape: [8], bits: 1}\n"
     "layers: [{name: a, op: argmax}]\n", 3, "input", "duplicate key 'input' (first given on line 2)"),
    ("duplicate-layer-key", BIN + "  - name: a\n    op: argmax\n    op: flatten\n", 7, "layers[0].op",
     "duplicate key 'op'"),
    ("empty-file", "# nothing\n", None, "", "the file is empty"),
    ("not-a-mapping", "- a\n- b\n", 1, "", "must be a mapping"),
    ("two-documents", "name: a\n---\nname: b\n", 2, "", "more than one YAML document"),
    # --- top level
    ("unknown-top-key", "name: net\ninput: {shape: [64], bits: 1}\nlayer:\n  - {name: a, op: argmax}\n",
     3, "layer", "unknown key 'layer'"),
    ("missing-name", "input: {shape: [64], bits: 1}\nlayers: [{name: a, op: argmax}]\n",
     1, "", "missing required top-level key 'name'"),
    ("missing-layers", "name: net\ninput: {shape: [64], bits: 1}\n", 1, "",
     "missing required top-level key 'layers'"),
    ("bad-net-name", "name: Net-1\ninput: {shape: [64], bits: 1}\nlayers: [{name: a, op: argmax}]\n",
     1, "name", "is not a Verilog module name"),
    ("verilog-keyword-name", "name: module\ninput: {shape: [64], bits: 1}\nlayers: [{name: a, op: argmax}]\n",
     1, "name", "is a Verilog keyword"),
    ("name-not-string", "name: 12\ninput: {shape: [64], bits: 1}\nlayers: [{name: a, op: argmax}]\n",
     1, "name", "must be a string"),
    ("layers-empty", "name: net\ninput: {shape: [64], bits: 1}\nlayers: []\n", 3, "layers", "layers is empty"),
    ("layers-not-list", "name: net\ninput: {shape: [64], bits: 1}\nlayers: {name: a}\n", 3, "layers",
     "layers must be a list"),
    ("weights-and-seed", "name: net\ninput: {shape: [64], bits: 1}\nweights: w.npz\nseed: 0\n"
     "layers: [{name: a, op: argmax}]\n", 4, "seed", "either 'weights'"),
    ("no-weights-no-seed", "name: net\ninput: {shape: [64], bits: 1}\n"
     "layers: [{name: fc, op: binary_dense, out_features: 4}]\n", 1, "",
     "neither 'weights' nor 'seed'"),
    ("negative-seed", "name: net\ninput: {shape: [64], bits: 1}\nseed: -1\nlayers: [{name: a, op: argmax}]\n",
     3, "seed", "seed must be an integer >= 0"),
    ("weights-file-missing", "name: net\ninput: {shape: [64], bits: 1}\nweights: nope.npz\n"
     "layers: [{name: fc, op: binary_dense, out_features: 4}]\n", 3, "weights",
     "weights file not found: /nonexistent/dir/nope.npz"),
    # --- input
    ("input-shape-negative", "name: net\ninput:\n  shape: [64, -1]\n  bits: 8\nlayers: [{name: a, op: argmax}]\n",
     3, "input.shape[1]", "shape entries must be positive integers, got the integer -1"),
    ("input-shape-zero-line", "name: net\ninput:\n  shape:\n    - 8\n    - 0\n  bits: 8\n"
     "layers: [{name: a, op: argmax}]\n", 5, "input.shape[1]", "positive integers"),
    ("input-shape-scalar", "name: net\ninput: {shape: 64, bits: 8}\nlayers: [{name: a, op: argmax}]\n",
     2, "input.shape", "shape must be a list"),
    ("input-batch-axis", "name: net\ninput: {shape: [1, 1, 8, 8], bits: 8}\nlayers: [{name: a, op: argmax}]\n",
     2, "input.shape", "shape has 4 dimensions"),
    ("input-bits-40", "name: net\ninput: {shape: [64], bits: 40}\nlayers: [{name: a, op: argmax}]\n",
     2, "input.bits", "expected an integer in 1..32, got 40"),
    ("input-bits-missing", "name: net\ninput: {shape: [64]}\nlayers: [{name: a, op: argmax}]\n",
     2, "input", "missing required key 'bits'"),
    ("input-binary-signed", "name: net\ninput: {shape: [64], bits: 1, signed: true}\n"
     "layers: [{name: a, op: argmax}]\n", 2, "input.signed", "cannot be signed"),
    ("input-unknown-key", "name: net\ninput: {shape: [64], bits: 8, sigend: true}\n"
     "layers: [{name: a, op: argmax}]\n", 2, "input.sigend", "unknown key 'sigend'"),
    # --- target
    ("clock-zero", "name: net\ninput: {shape: [64], bits: 1}\ntarget: {clock_mhz: 0}\n"
     "layers: [{name: a, op: argmax}]\n", 3, "target.clock_mhz", "expected a number > 0, got 0"),
    ("clock-negative", "name: net\ninput: {shape: [64], bits: 1}\ntarget:\n  device: ecp5-85k\n"
     "  clock_mhz: -5.5\nlayers: [{name: a, op: argmax}]\n", 5, "target.clock_mhz", "got -5.5"),
    ("clock-string", "name: net\ninput: {shape: [64], bits: 1}\ntarget: {clock_mhz: fast}\n"
     "layers: [{name: a, op: argmax}]\n", 3, "target.clock_mhz", "got the string 'fast'"),
    ("io-bits-not-byte", "name: net\ninput: {shape: [64], bits: 1}\ntarget: {io_bits: 12}\n"
     "layers: [{name: a, op: argmax}]\n", 3, "target.io_bits", "a multiple of 8"),
    ("target-typo", "name: net\ninput: {shape: [64], bits: 1}\ntarget: {devcie: ice40}\n"
     "layers: [{name: a, op: argmax}]\n", 3, "target.devcie", "unknown key 'devcie'"),
    # --- layer keys
    ("unknown-op", BIN + "  - {name: fc1, op: binary_dense, out_features: 8}\n"
     "  - {name: fc2, op: binary_dens, out_features: 10}\n", 6, "layers[1].op", "unknown op 'binary_dens'"),
    ("op-not-string", BIN + "  - {name: fc1, op: 3}\n", 5, "layers[0].op", "unknown op the integer 3"),
    ("unknown-key", BIN + "  - {name: fc1, op: binary_dense, out_feature: 10}\n", 5,
     "layers[0].out_feature", "unknown key 'out_feature' in a binary_dense layer"),
    ("key-of-other-op", BIN + "  - {name: fc1, op: binary_dense, out_features: 10, padding: 1}\n", 5,
     "layers[0].padding", "unknown key 'padding'"),
    ("missing-required", BIN + "  - {name: a, op: binary_dense, out_features: 8}\n"
     "  - name: fc1\n    op: binary_dense\n", 6, "layers[1]", "missing required key 'out_features'"),
    ("missing-op", BIN + "  - {name: fc1}\n", 5, "layers[0]", "missing required key 'op'"),
    ("bool-for-int", BIN + "  - name: fc1\n    op: binary_dense\n    out_features: true\n", 7,
     "layers[0].out_features", "expected an integer >= 1, got the boolean true"),
    ("string-for-int", BIN + "  - name: fc1\n    op: binary_dense\n    out_features: \"10\"\n", 7,
     "layers[0].out_features", "got the string '10'"),
    ("float-for-int", BIN + "  - {name: fc1, op: binary_dense, out_features: 10.0}\n", 5,
     "layers[0].out_features", "got the float 10.0"),
    ("zero-size", BIN + "  - {name: fc1, op: binary_dense, out_features: 0}\n", 5,
     "layers[0].out_features", "expected an integer >= 1, got 0"),
    ("negative-padding", IMG + "  - {name: c, op: conv2d, out_channels: 4, kernel_size: 3, padding: -1}\n",
     5, "layers[0].padding", "expected an integer >= 0, got -1"),
    ("weight-bits-9", INT + "  - {name: a, op: dense, out_features: 10, weight_bits: 9}\n", 5,
     "layers[0].weight_bits", "expected an integer in 2..8, got 9"),
    ("weight-type-typo", INT + "  - {name: a, op: dense, out_features: 10, weight_type: tenary}\n", 5,
     "layers[0].weight_type", "expected one of 'int', 'ternary'"),
    ("resource-choice", INT + "  - {name: a, op: dense, out_features: 10, resource: bram}\n", 5,
     "layers[0].resource", "expected one of 'lut', 'dsp', got the string 'bram'"),
    ("ternary-on-dsp", INT + "  - name: a\n    op: dense\n    out_features: 10\n"
     "    weight_type: ternary\n    resource: dsp\n", 9, "layers[0].resource",
     "resource 'dsp' needs integer weights; ternary weights are added, subtracted or skipped"),
    ("mac-pipeline-9", INT + "  - {name: a, op: dense, out_features: 10, pipeline: 9}\n", 5,
     "layers[0].pipeline", "expected an integer in 0..8, got 9"),
    ("bias-int", INT + "  - {name: a, op: dense, out_features: 10, bias: 1}\n", 5,
     "layers[0].bias", "expected true or false, got the integer 1"),
    ("sqrt-choice", SEQ + "  - {name: a, op: layernorm, sqrt: newton}\n", 5, "layers[0].sqrt",
     "expected one of 'exact', 'ivit'"),
    ("requant-rounding", INT + "  - {name: a, op: requant, bits: 8, rounding: nearest}\n", 5,
     "layers[0].rounding", "expected one of 'half_up', 'half_even', 'floor', got the string 'nearest'"),
    ("requant-bits-1", INT + "  - {name: a, op: requant, bits: 1}\n", 5, "layers[0].bits",
     "expected an integer in 2..32, got 1"),
    ("threshold-no-bits", INT + "  - {name: a, op: threshold}\n", 5, "layers[0]",
     "missing required key 'bits'"),
    ("shiftmax-no-x0", SEQ + "  - {name: a, op: shiftmax}\n", 5, "layers[0]",
     "needs exactly one of x0 or input_scale"),
    ("shiftmax-both", SEQ + "  - name: a\n    op: shiftmax\n    x0: -3\n    input_scale: 0.1\n", 8,
     "layers[0].input_scale", "(both given)"),
    ("shiftmax-positive-x0", SEQ + "  - {name: a, op: shiftmax, x0: 3}\n", 5, "layers[0].x0",
     "expected an integer in -2147483647..-1, got 3"),
    ("shiftmax-x0-too-large", SEQ + "  - {name: a, op: shiftmax, x0: -70000}\n", 5, "layers[0].x0",
     "x0 = -70000 is below -65535"),
    ("shiftmax-scale-too-small", SEQ + "  - {name: a, op: shiftmax, input_scale: 1.0e-6}\n", 5,
     "layers[0].input_scale", "x0 = -1000000 is below -65535 (from input_scale 1e-06)"),
    ("layernorm-too-wide", "name: net\ninput: {shape: [16, 64], bits: 32, signed: true}\nlayers:\n"
     "  - {name: a, op: layernorm}\n", 4, "layers[0]", "the variance sum over 64 channels"),
    ("range-beyond-int64", "name: net\ninput: {shape: [64, 64], bits: 32, signed: true}\nlayers:\n"
     "  - {name: a, op: matmul, inputs: [input, input], transpose_b: true}\n"
     "  - {name: b, op: matmul, inputs: [a, a], transpose_b: true}\n", 4, "layers[0].inputs",
     "beyond the int64 the golden model computes in"),
    ("scale-not-positive", SEQ + "  - {name: a, op: shiftgelu, input_scale: 0}\n", 5,
     "layers[0].input_scale", "expected a number > 0, got 0"),
    # --- names and inputs
    ("duplicate-layer-name", BIN + "  - {name: fc1, op: binary_dense, out_features: 10}\n"
     "  - {name: fc1, op: argmax}\n", 6, "layers[1].name",
     "duplicate layer name 'fc1' (first defined on line 5)"),
    ("layer-named-input", BIN + "  - {name: input, op: argmax}\n", 5, "layers[0].name", "'input' is reserved"),
    ("layer-name-not-identifier", BIN + "  - {name: fc-1, op: argmax}\n", 5, "layers[0].name",
     "is not an identifier"),
    ("forward-reference", BIN + "  - {name: fc1, op: binary_dense, out_features: 10, inputs: [fc2]}\n"
     "  - {name: fc2, op: argmax}\n", 5, "layers[0].inputs[0]",
     "input 'fc2' is defined later (line 6)"),
    ("unknown-input", BIN + "  - {name: fc1, op: binary_dense, out_features: 10}\n"
     "  - name: top\n    op: argmax\n    inputs:\n      - fc_1\n", 9, "layers[1].inputs[0]",
     "unknown input 'fc_1'"),
    ("self-input", BIN + "  - {name: a, op: argmax, inputs: [a]}\n", 5, "layers[0].inputs[0]",
     "cannot take its own output"),
    ("inputs-not-list", BIN + "  - {name: a, op: argmax, inputs: input}\n", 5, "layers[0].inputs",
     "inputs must be a list"),
    ("add-one-input", INT + "  - {name: a, op: add, bits: 8}\n", 5, "layers[0]", "add needs exactly 2 inputs"),
    ("too-many-inputs", INT + "  - {name: a, op: flatten}\n  - {name: b, op: argmax, inputs: [a, input]}\n",
     6, "layers[1].inputs", "argmax needs exactly 1 input, got 2"),
    ("dead-end", BIN + "  - {name: a, op: binary_dense, out_features: 10}\n"
     "  - {name: b, op: binary_dense, out_features: 12, inputs: [input]}\n", 5, "layers[0].name",
     "the output of layer 'a' is never used"),
    # --- activations
    ("activation-on-argmax", INT + "  - {name: a, op: argmax, activation: {op: threshold, bits: 1}}\n", 5,
     "layers[0].activation", "argmax cannot take an inline activation"),
    ("activation-unknown-op", BIN + "  - {name: a, op: binary_dense, out_features: 10, activation: {op: relu}}\n",
     5, "layers[0].activation.op", "unknown activation op 'relu'"),
    ("activation-bits", BIN + "  - name: fc1\n    op: binary_dense\n    out_features: 10\n    activation:\n"
     "      op: threshold\n      bits: 5\n", 10, "layers[0].activation.bits", "expected an integer in 1..4, got 5"),
    ("activation-pe", BIN + "  - {name: a, op: binary_dense, out_features: 10, activation: {op: requant, bits: 8, pe: 2}}\n",
     5, "layers[0].activation.pe", "unknown key 'pe' in a requant activation"),
    ("activation-no-op", BIN + "  - {name: a, op: binary_dense, out_features: 10, activation: {bits: 2}}\n",
     5, "layers[0].activation", "activation is missing required key 'op'"),
    # --- folding
    ("pe-not-dividing", BIN + "  - {name: fc1, op: binary_dense, out_features: 256, pe: 3}\n", 5,
     "layers[0].pe", "pe must divide out_features (256), got 3"),
    ("simd-not-dividing", BIN + "  - name: fc1\n    op: binary_dense\n    out_features: 10\n    simd: 5\n", 8,
     "layers[0].simd", "simd must divide in_features (64), got 5"),
    ("conv-simd", IMG + "  - {name: c, op: conv2d, out_channels: 4, kernel_size: 3, simd: 2}\n", 5,
     "layers[0].simd", "simd must divide the input channels (1), got 2"),
    ("pe-zero", BIN + "  - {name: fc1, op: binary_dense, out_features: 10, pe: 0}\n", 5,
     "layers[0].pe", "expected an integer >= 1, got 0"),
    ("simd-on-threshold", INT + "  - {name: t, op: threshold, bits: 2, simd: 2}\n", 5, "layers[0].simd",
     "threshold has no fan-in to fold; simd must be 1"),
    ("threshold-pe", INT + "  - {name: t, op: threshold, bits: 2, pe: 3}\n", 5, "layers[0].pe",
     "pe must divide the channels (64), got 3"),
    # --- shapes between layers
    ("dense-after-pool", IMG + "  - {name: pool, op: maxpool2d, kernel_size: 2}\n"
     "  - {name: fc, op: dense, out_features: 10}\n", 6, "layers[1]",
     "dense layer 'fc' needs a 1-D input [K] (or rows [T, C]), but its input 'pool' is uint4[1, 4, 4]"),
    ("conv-on-vector", INT + "  - {name: c, op: conv2d, out_channels: 4, kernel_size: 3}\n", 5, "layers[0]",
     "needs a [C, H, W] input, but the network input is uint8[64]"),
    ("kernel-too-large", IMG + "  - {name: c, op: conv2d, out_channels: 4, kernel_size: 11, padding: 1}\n", 5,
     "layers[0].kernel_size", "kernel_size 11 is larger than the padded input 10x10"),
    ("maxpool-not-dividing", IMG + "  - {name: p, op: maxpool2d, kernel_size: 3}\n", 5,
     "layers[0].kernel_size", "kernel_size 3 must divide the input height and width (8x8"),
    ("maxpool-on-vector", BIN + "  - {name: p, op: maxpool2d, kernel_size: 2}\n", 5, "layers[0]",
     "needs a [C, H, W] input"),
    ("add-shape-mismatch", BIN + "  - {name: a, op: binary_dense, out_features: 10}\n"
     "  - {name: b, op: binary_dense, out_features: 12, inputs: [input]}\n"
     "  - {name: c, op: add, inputs: [a, b], bits: 8}\n", 7, "layers[2].inputs",
     "add inputs have different shapes: 'a' is int8[10] and 'b' is int8[12]"),
    ("matmul-transpose-mismatch", SEQ + "  - {name: a, op: dense, out_features: 32}\n"
     "  - {name: b, op: matmul, inputs: [input, a], heads: 2, transpose_b: true}\n", 6, "layers[1].inputs",
     "needs equal head widths (Ka = 32, Kb = 16)"),
    ("matmul-rows-mismatch", SEQ + "  - {name: a, op: matmul, inputs: [input, input], heads: 2}\n", 5,
     "layers[0].inputs", "needs a's head width to equal b's rows (Ka = 32, R = 16)"),
    ("matmul-heads", SEQ + "  - {name: a, op: matmul, inputs: [input, input], heads: 3, transpose_b: true}\n",
     5, "layers[0].heads", "heads (3) must divide the last axis of input 0"),
    ("matmul-1d", INT + "  - {name: a, op: matmul, inputs: [input, input]}\n", 5, "layers[0].inputs",
     "matmul needs 2-D inputs"),
    ("layernorm-3d", IMG + "  - {name: a, op: layernorm}\n", 5, "layers[0]",
     "needs an input [C] or rows [T, C]"),
    ("argmax-3d", IMG + "  - {name: a, op: argmax}\n", 5, "layers[0]", "needs a 1-D input [F] or rows [T, C]"),
    ("shiftmax-heads", SEQ + "  - {name: a, op: shiftmax, x0: -5, heads: 3}\n", 5, "layers[0].heads",
     "heads (3) must divide the last axis"),
    ("scalar-input", INT + "  - {name: a, op: argmax}\n  - {name: b, op: flatten}\n", 6, "layers[1]",
     "needs a tensor (not a scalar), but its input 'a' is uint6[]"),
]


@pytest.mark.parametrize("text, line, path, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejects(text, line, path, message):
    with pytest.raises(SpecError) as info:
        loads(text, source="net.yaml", base_dir="/nonexistent/dir")
    err = info.value
    assert message in err.message, str(err)
    assert err.line == line, str(err)
    assert err.path == path, str(err)
    assert err.file == "net.yaml"
    assert str(err).startswith(f"net.yaml:{line}: " if line else "net.yaml: "), str(err)


def test_case_count():
    assert len({c[0] for c in CASES}) == len(CASES) >= 30


HINTS = [
    # (yaml, hint substring)
    (BIN + "  - {name: fc2, op: binary_dens, out_features: 10}\n", "did you mean 'binary_dense'?"),
    (BIN + "  - {name: fc1, op: binary_dense, out_feature: 10}\n", "did you mean 'out_features'?"),
    (BIN + "  - {name: fc1, op: binary_dense, out_features: 10, padding: 1}\n",
     "'padding' belongs to binary_conv2d, conv2d"),
    (BIN + "  - {name: a, op: binary_dense, out_features: 8}\n  - {name: b, op: argmax, inputs: [aa]}\n",
     "did you mean 'a'?"),
    (BIN + "  - {name: fc1, op: binary_dense, out_features: 256, pe: 3}\n",
     "valid pe: 1, 2, 4, 8, 16, 32, 64, 128, 256"),
    (IMG + "  - {name: c, op: conv2d, out_channels: 4, kernel_size: 3}\n  - {name: fc, op: dense, out_features: 10}\n",
     "insert {op: flatten}"),
    (IMG + "  - {name: p, op: maxpool2d, kernel_size: 3}\n", "valid kernel_size: 1, 2, 4, 8"),
    (BIN + "  - name: fc1\n    op: binary_dense\n    out_features: \"10\"\n", "remove the quotes"),
    (BIN + "  - {name: fc1, op: binary_dense, out_features: true}\n", "booleans"),
    ("name: net\ninput: {shape: [64], bits: 1}\ntarget: {io_bits: 12}\nlayers: [{name: a, op: argmax}]\n",
     "use 8 or 16"),
    ("name: Net-1\ninput: {shape: [64], bits: 1}\nlayers: [{name: a, op: argmax}]\n", "use 'net_1'"),
    (BIN + "  - {name: 1fc, op: argmax}\n", "use 'fc1'"),
    (BIN + "  - {name: a, op: argmax, inputs: fc}\n", "write inputs: [fc]"),
    (SEQ + "  - {name: a, op: shiftmax, input_scale: 1e-3}\n", "write 1.0e-3"),
    (SEQ + "  - {name: a, op: matmul, inputs: [input, input], heads: 3, transpose_b: true}\n",
     "valid heads: 1, 2, 4, 8, 16, 32, 64"),
    ("name: net\ninput: {shape: [64], bits: 1}\nlayers: [{name: fc, op: binary_dense, out_features: 4}]\n",
     "'seed: 0'"),
]


@pytest.mark.parametrize("text, hint", HINTS)
def test_hints(text, hint):
    with pytest.raises(SpecError) as info:
        loads(text, source="net.yaml")
    assert info.value.hint and hint in info.value.hint, str(info.value)
    assert hint in str(info.value)


def test_str_format():
    text = BIN + "  - {name: fc1, op: binary_dense, out_features: 8}\n  - {name: fc2, op: binary_dens}\n"
    with pytest.raises(SpecError) as info:
        loads(text, source="net.yaml")
    assert str(info.value) == ("net.yaml:6: layers[1].op: unknown op 'binary_dens' "
                               "(did you mean 'binary_dense'?)")
    text = BIN + "  - {name: fc1, op: binary_dense, out_features: 10, pe: 3}\n"
    with pytest.raises(SpecError) as info:
        loads(text, source="net.yaml")
    assert str(info.value) == ("net.yaml:5: layers[0].pe: pe must divide out_features (10), got 3 "
                               "(hint: valid pe: 1, 2, 5, 10)")


def test_load_names_file_as_given(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.yaml").write_text(BIN + "  - {name: fc1, op: argmx}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError) as info:
        load("sub/bad.yaml")
    assert info.value.file == "sub/bad.yaml"
    assert str(info.value).startswith("sub/bad.yaml:5: layers[0].op: unknown op 'argmx'")
    with pytest.raises(SpecError, match="no such file"):
        load("sub/missing.yaml")


def test_weights_missing_names_full_path(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("name: net\ninput: {shape: [64], bits: 1}\nweights: w/net.npz\n"
                    "layers: [{name: fc, op: binary_dense, out_features: 4}]\n")
    with pytest.raises(SpecError) as info:
        load(path)
    assert str(tmp_path / "w" / "net.npz") in info.value.message
    assert info.value.line == 3 and info.value.path == "weights"
