"""Parameters from an npz: exact ranges from the real values, and every bad array rejected."""

import os
import warnings

import numpy as np
import pytest

from hwgen.spec import SpecError, SpecWarning, TensorType, load

DENSE = """\
name: net
input: {shape: [2], bits: 2}
weights: w.npz
layers:
  - {name: fc, op: dense, out_features: 2, weight_bits: 4, bias: true,
     activation: {op: requant, bits: 8, per_channel: true}}
  - {name: t, op: threshold, bits: 2}
"""

GOOD = {
    "fc.weight": np.array([[1, -2], [3, 0]], dtype=np.int8),
    "fc.bias": np.array([5, -4], dtype=np.int32),
    "fc.act.multiplier": np.array([1 << 30, 3 << 29], dtype=np.int64),
    "fc.act.shift": np.array([30, 31], dtype=np.int64),
    "fc.act.zero_point": np.array([0, -3], dtype=np.int64),
    "t.thresholds": np.array([[-5, 0, 5], [1, 1, 2]], dtype=np.int16),
}


def write(tmp_path, arrays, text=DENSE, name="w.npz"):
    np.savez(tmp_path / name, **arrays)
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return str(path)


def test_npz_values_and_exact_range(tmp_path):
    net = load(write(tmp_path, GOOD))
    fc, t = net.layers
    assert net.weights_file == str(tmp_path / "w.npz") and net.seed is None
    assert fc.params["weight"].tolist() == [[1, -2], [3, 0]] and fc.params["weight"].dtype == np.int64
    # x in [0, 3]: ch0 = 5 + [0, 3] + [-6, 0] = [-1, 8]; ch1 = -4 + [0, 9] = [-4, 5]
    assert fc.op_type == TensorType((2,), 5, True, -4, 8)
    assert fc.activation.params["zero_point"].tolist() == [0, -3]
    assert fc.out_type == TensorType.of_bits((2,), 8, True)
    assert t.params["thresholds"].tolist() == [[-5, 0, 5], [1, 1, 2]]
    assert t.out_type == TensorType((2,), 2, False, 0, 3)


def test_zero_point_defaults_to_zero(tmp_path):
    arrays = dict(GOOD)
    del arrays["fc.act.zero_point"]
    net = load(write(tmp_path, arrays))
    assert net.layers[0].activation.params["zero_point"].tolist() == [0, 0]


def test_unused_keys_warn(tmp_path):
    with pytest.warns(SpecWarning, match="fc.extra"):
        load(write(tmp_path, {**GOOD, "fc.extra": np.zeros(3, dtype=np.int8)}))


def test_relative_to_yaml_folder(tmp_path, monkeypatch):
    (tmp_path / "nets").mkdir()
    np.savez(tmp_path / "nets" / "w.npz", **GOOD)
    (tmp_path / "nets" / "net.yaml").write_text(DENSE)
    monkeypatch.chdir(tmp_path)
    net = load(os.path.join("nets", "net.yaml"))
    assert net.weights_file == str(tmp_path / "nets" / "w.npz")


def _with(**changes):
    arrays = dict(GOOD)
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return arrays


# (id, arrays, yaml line, yaml path, message substring, hint substring or None)
NPZ_CASES = [
    ("missing-weight", _with(fc__weight=None), 5, "layers[0]",
     "has no key 'fc.weight' (dense layer 'fc' needs weight [out_features, in_features])",
     "keys present: fc.act.multiplier, fc.act.shift, fc.act.zero_point, fc.bias, t.thresholds"),
    ("missing-act-shift", _with(fc__act__shift=None), 6, "layers[0].activation",
     "has no key 'fc.act.shift'", "keys present:"),
    ("misspelt-key", {**_with(fc__bias=None), "fc.biass": np.zeros(2, dtype=np.int32)}, 5, "layers[0]",
     "has no key 'fc.bias'", "did you mean 'fc.biass'?"),
    ("weight-shape", _with(fc__weight=np.ones((2, 3), dtype=np.int8)), 5, "layers[0]",
     "has shape [2, 3], expected [2, 2] = [out_features, in_features]", None),
    ("float-dtype", _with(fc__weight=np.ones((2, 2), dtype=np.float32)), 5, "layers[0]",
     "has dtype float32; expected an integer dtype", None),
    ("weight-bits", _with(fc__weight=np.array([[1, 9], [-8, 0]], dtype=np.int8)), 5, "layers[0]",
     "has 1 values outside int4 [-8, 7] (weight_bits: 4), e.g. 9 at [0, 1]", "weight_bits: 5"),
    ("bias-int32", _with(fc__bias=np.array([0, 1 << 31], dtype=np.int64)), 5, "layers[0]",
     "must fit int32, but bias[1] = 2147483648", None),
    ("bias-shape", _with(fc__bias=np.array([1], dtype=np.int64)), 5, "layers[0]",
     "has shape [1], expected [2]", None),
    ("thresholds-unsorted", _with(t__thresholds=np.array([[0, 1, 2], [4, 3, 5]], dtype=np.int16)), 7,
     "layers[1]", "row 1 (channel 1) is not sorted ascending: T[1, 0] = 4 > T[1, 1] = 3", "np.sort"),
    ("thresholds-shape", _with(t__thresholds=np.zeros((2, 2), dtype=np.int16)), 7, "layers[1]",
     "has shape [2, 2], expected [2, 3] = [channels, 2**bits - 1] (per_channel: true)", None),
    ("multiplier-zero", _with(fc__act__multiplier=np.array([0, 1], dtype=np.int64)), 6,
     "layers[0].activation", "fc.act.multiplier[0] = 0 is not in [1, 2**31) (in ", None),
    ("multiplier-big", _with(fc__act__multiplier=np.array([1, 1 << 31], dtype=np.int64)), 6,
     "layers[0].activation", "multiplier[1] = 2147483648 is not in [1, 2**31)", "halve m"),
    ("shift-64", _with(fc__act__shift=np.array([64, 0], dtype=np.int64)), 6,
     "layers[0].activation", "shift[0] = 64 is not in [0, 64)", None),
    ("shift-negative", _with(fc__act__shift=np.array([3, -1], dtype=np.int64)), 6,
     "layers[0].activation", "shift[1] = -1 is not in [0, 64)", None),
    ("zero-point-range", _with(fc__act__zero_point=np.array([0, 200], dtype=np.int64)), 6,
     "layers[0].activation", "zero_point[1] = 200 is outside the output range [-128, 127] (int8[2])", None),
    ("per-channel-shape", _with(fc__act__multiplier=np.array([1 << 30], dtype=np.int64)), 6,
     "layers[0].activation", "has shape [1], expected [2] = [channels] (per_channel: true)", None),
]


@pytest.mark.parametrize("arrays, line, path, message, hint", [c[1:] for c in NPZ_CASES],
                         ids=[c[0] for c in NPZ_CASES])
def test_npz_rejects(tmp_path, arrays, line, path, message, hint):
    yaml_path = write(tmp_path, arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpecWarning)
        with pytest.raises(SpecError) as info:
            load(yaml_path)
    err = info.value
    assert message in err.message, str(err)
    assert (err.file, err.line, err.path) == (yaml_path, line, path), str(err)
    if hint is not None:
        assert err.hint and hint in err.hint, str(err)


def test_missing_key_names_file(tmp_path):
    yaml_path = write(tmp_path, _with(fc__weight=None))
    with pytest.raises(SpecError) as info:
        load(yaml_path)
    assert f"weights file {tmp_path / 'w.npz'} has no key 'fc.weight'" in info.value.message


BINARY = """\
name: net
input: {shape: [4], bits: 1}
weights: w.npz
layers:
  - {name: fc, op: binary_dense, out_features: 2}
  - {name: t, op: dense, out_features: 2, weight_type: ternary}
"""


def test_binary_weights_must_be_pm1(tmp_path):
    path = write(tmp_path, {"fc.weight": np.array([[1, 0, 1, 1], [1, 1, -1, 1]], dtype=np.int8),
                            "t.weight": np.zeros((2, 2), dtype=np.int8)}, BINARY)
    with pytest.raises(SpecError) as info:
        load(path)
    assert "must be binary -1/+1 (int8), but 1 values are not, e.g. 0 at [0, 1]" in info.value.message
    assert "not 0/1" in info.value.hint and info.value.line == 5


def test_ternary_weights(tmp_path):
    path = write(tmp_path, {"fc.weight": np.array([[1, -1, 1, 1], [1, 1, -1, 1]], dtype=np.int8),
                            "t.weight": np.array([[0, 2], [1, -1]], dtype=np.int8)}, BINARY)
    with pytest.raises(SpecError, match=r"must be ternary \{-1, 0, \+1\}.*e\.g\. 2 at \[0, 1\]") as info:
        load(path)
    assert info.value.line == 6 and info.value.path == "layers[1]"
    np.savez(tmp_path / "w.npz", **{"fc.weight": np.array([[1, -1, 1, 1], [1, 1, -1, 1]], dtype=np.int8),
                                   "t.weight": np.array([[0, 1], [1, -1]], dtype=np.int8)})
    net = load(path)
    fc, t = net.layers
    assert fc.op_type == TensorType((2,), 4, True, -4, 4)
    assert t.op_type == TensorType((2,), 5, True, -8, 8)        # inputs [-4, 4]: [-4, 4] and [-8, 8]


def test_corrupt_npz(tmp_path):
    (tmp_path / "w.npz").write_bytes(b"not a zip file")
    path = tmp_path / "net.yaml"
    path.write_text(DENSE)
    with pytest.raises(SpecError, match="cannot read weights file") as info:
        load(path)
    assert info.value.line == 3 and info.value.path == "weights"


def test_add_const_params(tmp_path):
    """A position term [T, C] on a dense layer's accumulators, narrowed by an inline requant."""
    text = ("name: net\ninput: {shape: [3, 2], bits: 4, signed: true}\nweights: w.npz\nlayers:\n"
            "  - {name: fc, op: dense, out_features: 2, weight_bits: 2}\n"
            "  - {name: pos, op: add_const, pe: 2, activation: {op: requant, bits: 8}}\n")
    arrays = {"fc.weight": np.array([[1, -1], [0, 1]]),
              "pos.values": np.array([[100, -7], [0, 0], [-2**31, 5]]),
              "pos.act.multiplier": np.array([1 << 30]), "pos.act.shift": np.array([31])}
    net = load(write(tmp_path, arrays, text))
    fc, pos = net.layers
    assert (fc.op_type.lo, fc.op_type.hi) == (-15, 15)        # x in [-8, 7], row [1, -1]
    assert (pos.op_type.lo, pos.op_type.hi) == (-15 - 2**31, 15 + 100)
    assert pos.params["values"].tolist() == arrays["pos.values"].tolist()
    np.savez(tmp_path / "w.npz", **{**arrays, "pos.values": np.zeros((2, 3), dtype=np.int64)})
    with pytest.raises(SpecError, match=r"pos.values in .* has shape \[2, 3\], expected \[3, 2\]"):
        load(tmp_path / "net.yaml")
    np.savez(tmp_path / "w.npz", **{**arrays, "pos.values": np.array([[0, 0], [0, 2**31], [0, 0]])})
    with pytest.raises(SpecError, match=r"must fit int32, but values\[1, 1\] = 2147483648"):
        load(tmp_path / "net.yaml")     # a 2-D array's element named by its full index
    np.savez(tmp_path / "w.npz", **{**arrays, "pos.values": np.full((3, 2), 2**31)})
    with pytest.raises(SpecError, match="int32"):
        load(tmp_path / "net.yaml")


def test_add_and_layernorm_params(tmp_path):
    text = ("name: net\ninput: {shape: [4, 8], bits: 8, signed: true}\nweights: w.npz\nlayers:\n"
            "  - {name: ln, op: layernorm, bias: true, activation: {op: requant, bits: 8}}\n"
            "  - {name: res, op: add, inputs: [input, ln], bits: 8}\n")
    arrays = {"ln.bias": np.arange(8, dtype=np.int32) * 1000,
              "ln.act.multiplier": np.array([1 << 30]), "ln.act.shift": np.array([52]),
              "res.multiplier": np.array([1 << 30, 1 << 30]), "res.shift": np.array([31, 31])}
    net = load(write(tmp_path, arrays, text))
    ln, res = net.layers
    assert (ln.op_type.lo, ln.op_type.hi) == (-(2 ** 30) + 0, 2 ** 30 - 1 + 7000)   # bias 0..7000
    assert res.params["zero_point"].tolist() == [0]
    np.savez(tmp_path / "w.npz", **{**arrays, "res.shift": np.array([31, 31, 31])})
    with pytest.raises(SpecError, match=r"res.shift in .* has shape \[3\], expected \[2\]"):
        load(tmp_path / "net.yaml")
