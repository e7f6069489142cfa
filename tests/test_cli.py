"""The hwgen command line: exit codes, messages, outputs written whole or not at all."""

import json

import numpy as np
import pytest

from hwgen.cli import main
from hwgen.spec import load
from sw_reference.network import run

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"

# One small network per operator (after the layers it needs in front of it).
PER_OP = {
    "binary_dense": ("{shape: [16], bits: 1}", "- {name: l, op: binary_dense, out_features: 4}"),
    "binary_conv2d": ("{shape: [2, 5, 5], bits: 1}",
                      "- {name: l, op: binary_conv2d, out_channels: 3, kernel_size: 3, padding: 1}"),
    "dense": ("{shape: [8], bits: 8, signed: true}",
              "- {name: l, op: dense, out_features: 4, weight_bits: 4, bias: true}"),
    "conv2d": ("{shape: [1, 6, 6], bits: 4}",
               "- {name: l, op: conv2d, out_channels: 2, kernel_size: 3, stride: 2, weight_type: ternary}"),
    "threshold": ("{shape: [8], bits: 8, signed: true}", "- {name: l, op: threshold, bits: 2}"),
    "requant": ("{shape: [8], bits: 16, signed: true}",
                "- {name: l, op: requant, bits: 8, per_channel: true}"),
    "maxpool2d": ("{shape: [2, 4, 4], bits: 4}", "- {name: l, op: maxpool2d, kernel_size: 2}"),
    "flatten": ("{shape: [2, 3, 3], bits: 4}", "- {name: l, op: flatten}"),
    "argmax": ("{shape: [10], bits: 8, signed: true}", "- {name: l, op: argmax}"),
    "add": ("{shape: [8], bits: 8, signed: true}",
            "- {name: a, op: requant, bits: 8}\n  - {name: l, op: add, inputs: [input, a], bits: 8}"),
    "matmul": ("{shape: [4, 8], bits: 8, signed: true}",
               "- {name: l, op: matmul, inputs: [input, input], transpose_b: true, heads: 2}"),
    "shiftmax": ("{shape: [4, 8], bits: 8, signed: true}", "- {name: l, op: shiftmax, x0: -16}"),
    "shiftgelu": ("{shape: [4, 8], bits: 8, signed: true}",
                  "- {name: l, op: shiftgelu, input_scale: 0.03}"),
    "layernorm": ("{shape: [4, 8], bits: 16, signed: true}",
                  "- {name: l, op: layernorm, sqrt: ivit, bias: true}"),
}


def write_net(tmp_path, op):
    shape, layers = PER_OP[op]
    path = tmp_path / f"{op}.yaml"
    path.write_text(f"name: net_{op}\ninput: {shape}\nseed: 3\nlayers:\n  {layers}\n")
    return path


def random_input(spec, count=5, seed=0):
    from sim.network import random_samples
    return random_samples(spec, count, seed)


@pytest.mark.parametrize("op", sorted(PER_OP))
def test_reference_runs_every_operator(op, tmp_path, capsys):
    net = write_net(tmp_path, op)
    spec = load(net)
    assert spec.layers[-1].op == op
    x = random_input(spec)
    np.save(tmp_path / "x.npy", x)
    assert main(["reference", str(net), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.int64 and y.shape == (5, *spec.output.shape)
    np.testing.assert_array_equal(y, run(spec, x))
    assert str(tmp_path / "y.npy") in capsys.readouterr().out


def test_reference_on_a_bundled_example(tmp_path):
    spec = load(EXAMPLES / "tiny_bnn.yaml")
    x = random_input(spec, count=20)
    np.save(tmp_path / "x.npy", x)
    assert main(["reference", str(EXAMPLES / "tiny_bnn.yaml"), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (20,) and ((0 <= y) & (y < 10)).all()


def test_malformed_yaml_exits_2_naming_file_and_line_and_writes_nothing(tmp_path, capsys):
    net = tmp_path / "bad.yaml"
    net.write_text("name: bad\ninput: {shape: [8], bits: 1}\nseed: 0\nlayers:\n"
                   "  - {name: fc, op: binary_dens, out_features: 4}\n")
    np.save(tmp_path / "x.npy", np.ones((1, 8), np.int64))
    out = tmp_path / "y.npy"
    assert main(["reference", str(net), "--input", str(tmp_path / "x.npy"),
                 "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{net}:5" in err and "binary_dense" in err
    assert not out.exists()


@pytest.mark.parametrize("x, message", [
    (np.ones((2, 7), np.int64), "does not match the network input; expected [N, 8]"),
    (np.ones((2, 8), np.float32), "is not an integer type"),
    (np.zeros((2, 8), np.int64), "value 0 at index [0, 0] is outside the input type binary[8]"),
])
def test_bad_input_array_exits_2_and_keeps_existing_output(tmp_path, capsys, x, message):
    net = write_net(tmp_path, "binary_dense")
    net.write_text(net.read_text().replace("[16]", "[8]"))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    np.save(out, np.arange(3))
    assert main(["reference", str(net), "--input", str(tmp_path / "x.npy"),
                 "--output", str(out)]) == 2
    assert message in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(out), np.arange(3))


def test_missing_network_file_exits_2(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "nope.yaml")]) == 2
    assert "no such network file" in capsys.readouterr().err


def test_generate_is_deterministic(tmp_path):
    net = EXAMPLES / "requant.yaml"
    assert main(["generate", str(net), "-o", str(tmp_path / "a")]) == 0
    assert main(["generate", str(net), "-o", str(tmp_path / "b")]) == 0
    name = load(net).name
    first = (tmp_path / "a" / f"{name}.v").read_bytes()
    assert first == (tmp_path / "b" / f"{name}.v").read_bytes()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["ports"]["s_axis_tdata"] == 64 and manifest["layers"][0]["pe"] == 4


def test_generate_waiting_for_a_unit_exits_1_and_writes_nothing(tmp_path, capsys):
    net = tmp_path / "binary_add.yaml"
    net.write_text("name: binary_add\ninput: {shape: [8], bits: 1}\nseed: 0\nlayers:\n"
                   "  - {name: s, op: add, inputs: [input, input], bits: 4}\n")
    out = tmp_path / "bundle"
    assert main(["generate", str(net), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "add of binary (-1/+1) inputs" in err and "issue #6" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["binary_add.yaml"]


def test_sim_matches_golden_under_backpressure(tmp_path, capsys):
    net = EXAMPLES / "requant.yaml"
    spec = load(net)
    x = random_input(spec, count=200, seed=4)
    x[0] = spec.input.hi
    x[1] = spec.input.lo
    np.save(tmp_path / "x.npy", x)
    code = main(["sim", str(net), "--input", str(tmp_path / "x.npy"), "--output",
                 str(tmp_path / "hw.npy"), "--backpressure", "0.3", "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "200 samples, 0 mismatches" in out and "cycles/sample" in out
    np.testing.assert_array_equal(np.load(tmp_path / "hw.npy"), run(spec, x))


def test_sim_cocotbext_driver(tmp_path, capsys):
    """The cocotbext-axi testbench stays selectable; the default is the fast harness."""
    net = str(EXAMPLES / "requant.yaml")
    assert main(["sim", net, "--count", "20", "--driver", "cocotbext", "--backpressure", "0.2",
                 "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "20 samples, 0 mismatches" in out and "cocotbext driver" in out, out
    assert main(["sim", net, "--count", "20", "-o", str(tmp_path / "out")]) == 0
    assert "fast driver" in capsys.readouterr().out
    assert main(["sim", net, "--waves", "--driver", "fast"]) == 2
    assert "--waves needs --driver cocotbext" in capsys.readouterr().err


def test_sim_rejects_bad_backpressure(capsys):
    assert main(["sim", str(EXAMPLES / "requant.yaml"), "--backpressure", "1.5"]) == 2
    assert "--backpressure must be in [0, 1)" in capsys.readouterr().err


def test_output_folder_that_is_not_a_bundle_is_never_replaced(tmp_path, capsys):
    precious = tmp_path / "precious"
    (precious / "sub").mkdir(parents=True)
    (precious / "notes.txt").write_text("keep")
    assert main(["generate", str(EXAMPLES / "requant.yaml"), "-o", str(precious)]) == 2
    assert "does not hold an hwgen bundle" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "keep" and (precious / "sub").is_dir()
    bundle = tmp_path / "bundle"
    assert main(["generate", str(EXAMPLES / "requant.yaml"), "-o", str(bundle)]) == 0
    assert main(["generate", str(EXAMPLES / "requant.yaml"), "-o", str(bundle)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "precious"]


@pytest.mark.parametrize("content, message", [
    (b"", "not a .npy array"),
    (None, "holds several arrays (.npz)"),
])
def test_unreadable_input_arrays_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "x.npy"
    if content is None:
        np.savez(tmp_path / "x.npz", a=np.ones(3))
        (tmp_path / "x.npz").rename(path)
    else:
        path.write_bytes(content)
    assert main(["reference", str(EXAMPLES / "tiny_bnn.yaml"), "--input", str(path),
                 "--output", str(tmp_path / "y.npy")]) == 2
    assert message in capsys.readouterr().err
