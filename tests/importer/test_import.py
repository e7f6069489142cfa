"""``hwgen import`` on Brevitas models: golden model == qonnx's executor, layer by layer.

Each model of :mod:`tests.importer.zoo` is trained briefly on the digits
(once per session), exported with ``export_qonnx`` in both forms (dynamo:
Gemm; TorchScript: MatMul), imported, and run on the test images through the
golden model and through ``qonnx.core.onnx_exec.execute_onnx``: every hwgen
layer equals the ONNX tensor it stands for on every image, and so does the
top-1 class. Bad models exit 2 naming the node and write nothing.
"""

import json

import numpy as np
import pytest

pytest.importorskip("brevitas")
pytest.importorskip("qonnx")

from hwgen.cli import main  # noqa: E402
from hwgen.importer import ModelError, import_model, write_outputs  # noqa: E402

from . import zoo  # noqa: E402
from .check import compare  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")

#: CNV's 59 M MACs per image make the golden model slow: CI checks a slice, the benchmark all
COUNTS = {"cnv": 32}
IMPORT = dict(input_bits=zoo.INPUT_BITS, input_scale=zoo.INPUT_SCALE)


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """``exported(key, form)``: the QONNX file of a trained zoo model, written once per session."""
    root = tmp_path_factory.mktemp("brevitas")
    cache = {}

    def get(key, form="dyn"):
        if (key, form) not in cache:
            cache[key, form] = zoo.export(key, root / f"{key}_{form}.onnx", dynamo=form == "dyn")
        return cache[key, form]
    return get


def _check(path, out_dir, key, argmax):
    imported = import_model(path, argmax=argmax, **IMPORT)
    write_outputs(imported, out_dir)
    q = zoo.shaped(key, zoo.digits()[1])[:COUNTS.get(key)]
    counts = compare(path, out_dir, imported.name, q, zoo.float_input(q))
    return imported, counts, len(q)


@pytest.mark.parametrize("form", ["dyn", "ts"])
@pytest.mark.parametrize("key", zoo.MODELS)
def test_golden_equals_qonnx_executor_on_every_test_image(exported, tmp_path, key, form):
    """Every integer intermediate and the top-1 class, on every test image (540; CNV 32)."""
    argmax = key != "int8_mlp"          # per-channel float output scales: the tail stays on the host
    imported, counts, n = _check(exported(key, form), tmp_path, key, argmax)
    print(f"{key} ({form}): {counts} of {n}")
    assert counts == {name: n for name in counts}, counts
    layers = {layer["name"]: layer for layer in imported.network["layers"]}
    assert (layers[list(layers)[-1]]["op"] == "argmax") == argmax


def test_what_each_model_maps_onto(exported):
    """The mapping rules show in the layers: offsets, flips, requant rounding, identity input."""
    fc = import_model(exported("fc_w2a2"), argmax=True, **IMPORT)
    ops = [(layer["name"], layer["op"]) for layer in fc.network["layers"]]
    assert ops == [("quant_in", "dense"), ("fc0", "dense"), ("fc1", "dense"), ("fc2", "dense"),
                   ("top1", "argmax")]
    # FINN's 2x - 1 before a ROUND quantizer: the offset goes in before rounding (identity dense)
    assert fc.network["layers"][0]["activation"]["rounding"] == "half_even"
    assert fc.network["layers"][1]["activation"] == {"op": "threshold", "bits": 2,
                                                     "per_channel": True}
    assert fc.network["layers"][1]["weight_type"] == "ternary"
    assert "offset -1 folded" in fc.table[2][3]
    int8 = import_model(exported("int8_mlp"), **IMPORT)
    acts = [layer.get("activation", {}) for layer in int8.network["layers"]]
    assert [a.get("op") for a in acts[1:3]] == ["requant", "requant"]
    assert {a["rounding"] for a in acts[1:3]} == {"half_even"}
    assert int8.network["layers"][1]["bias"] is True
    meta = int8.meta["output"]
    assert len(set(meta["scale"])) > 1 and not meta["argmax"]   # per-channel float tail


def test_cli_writes_yaml_npz_json_and_the_table(exported, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["import", str(exported("bnn_cnn")), "-o", str(out), "--input-bits", "5",
                 "--input-scale", "0.0625", "--argmax", "--name", "digits_cnn"])
    printed = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["digits_cnn.json", "digits_cnn.npz",
                                                    "digits_cnn.yaml"]
    assert "| ONNX nodes | op types | hwgen layer | how |" in printed
    assert "| MaxPool_0 | MaxPool | pool0 | maxpool2d 2x2 |" in printed
    meta = json.loads((out / "digits_cnn.json").read_text())
    assert meta["input"] == {"bits": 5, "signed": False, "scale": 0.0625,
                             "float": "float32(q * scale)"}
    from hwgen.spec import load
    spec = load(out / "digits_cnn.yaml")
    assert [layer.op for layer in spec.layers] == ["conv2d", "binary_conv2d", "maxpool2d",
                                                   "binary_conv2d", "flatten", "binary_dense",
                                                   "argmax"]


def _mutated(exported, tmp_path, change):
    import onnx
    model = onnx.load(str(exported("po2_mlp")))
    change(model)
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    return path


def _weight_quant(model):
    inits = {t.name for t in model.graph.initializer}
    return next(n for n in model.graph.node if n.op_type == "Quant" and n.input[0] in inits)


def _add_softmax(model):
    import onnx
    output = model.graph.output[0]
    node = onnx.helper.make_node("Softmax", [output.name], ["probabilities"], name="softmax")
    model.graph.node.append(node)
    model.graph.output.remove(output)
    model.graph.output.append(onnx.helper.make_tensor_value_info(
        "probabilities", onnx.TensorProto.FLOAT, None))


def _nonzero_zero_point(model):
    import onnx
    quant = _weight_quant(model)
    zp = next(t for t in model.graph.initializer if t.name == quant.input[2])
    zp.CopyFrom(onnx.numpy_helper.from_array(np.array(1.0, dtype=np.float32), zp.name))


def _missing_initializer(model):
    quant = _weight_quant(model)
    weight = next(t for t in model.graph.initializer if t.name == quant.input[0])
    model.graph.initializer.remove(weight)


@pytest.mark.parametrize("change, message", [
    (_add_softmax, "node 'Softmax_0' (Softmax) is not supported after a MAC node"),
    (_nonzero_zero_point, "(Quant) has zero point [1.0]; hwgen imports"),
    (_missing_initializer, "(Quant) reads '"),
])
def test_bad_models_exit_2_naming_the_node_and_write_nothing(exported, tmp_path, capsys,
                                                              change, message):
    path = _mutated(exported, tmp_path, change)
    out = tmp_path / "out"
    assert main(["import", str(path), "-o", str(out), "--input-bits", "5",
                 "--input-scale", "0.0625"]) == 2
    error = capsys.readouterr().err
    assert message in error, error
    assert not out.exists()


def test_missing_initializer_is_named(exported, tmp_path):
    path = _mutated(exported, tmp_path, _missing_initializer)
    with pytest.raises(ModelError, match=r"\(Quant\) reads '.*', a graph input without an "
                                         r"initializer \(a missing initializer\?"):
        import_model(path, **IMPORT)


def test_argmax_refuses_per_channel_float_scales(exported, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["import", str(exported("int8_mlp")), "-o", str(out), "--input-bits", "5",
                 "--input-scale", "0.0625", "--argmax"]) == 2
    assert "--argmax: the float tail after the last layer" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--input-bits", "0"], "--input-bits must be in 1..32, not 0"),
    (["--input-scale", "-1"], "--input-scale must be a positive finite number"),
    (["--name", "Bad-Name"], "--name must match [a-z_][a-z0-9_]*"),
])
def test_bad_options_exit_2(exported, tmp_path, capsys, args, message):
    assert main(["import", str(exported("po2_mlp")), "-o", str(tmp_path / "o"), *args]) == 2
    assert message in capsys.readouterr().err


def test_verilator_cosim_of_an_imported_w1a2_mlp(exported, tmp_path):
    """The imported FC W1A2 through Verilator under 30 % backpressure: hardware == golden."""
    out = tmp_path / "net"
    assert main(["import", str(exported("fc_w1a2")), "-o", str(out), "--input-bits", "5",
                 "--input-scale", "0.0625", "--argmax", "--name", "fc_w1a2"]) == 0
    x = tmp_path / "x.npy"
    np.save(x, zoo.shaped("fc_w1a2", zoo.digits()[1][:40]).astype(np.int64))
    assert main(["sim", str(out / "fc_w1a2.yaml"), "--input", str(x), "--backpressure", "0.3",
                 "-o", str(tmp_path / "rtl")]) == 0


def test_binary_input_passes_straight_into_xnor_layers(tmp_path):
    """--input-bits 1: q in {-1, +1}; a BipolarQuant on it is the identity, the MACs are XNORs."""
    import torch
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantIdentity, QuantLinear
    from brevitas_examples.bnn_pynq.models.common import CommonActQuant, CommonWeightQuant
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        QuantIdentity(act_quant=CommonActQuant, bit_width=1),
        QuantLinear(64, 32, bias=False, weight_quant=CommonWeightQuant, weight_bit_width=1),
        torch.nn.BatchNorm1d(32),
        QuantIdentity(act_quant=CommonActQuant, bit_width=1),
        QuantLinear(32, 10, bias=False, weight_quant=CommonWeightQuant, weight_bit_width=1))
    q = np.where(zoo.digits()[1] >= 8, 1, -1)
    model.train()
    with torch.no_grad():                       # BatchNorm statistics from the data
        model(torch.from_numpy(q[:256].astype(np.float32)))
    path = tmp_path / "bnn.onnx"
    export_qonnx(model.eval(), torch.from_numpy(q[:1].astype(np.float32)), str(path))
    imported = import_model(path, input_bits=1, input_scale=1.0, argmax=True, name="bnn")
    assert [layer["op"] for layer in imported.network["layers"]] == ["binary_dense",
                                                                     "binary_dense", "argmax"]
    write_outputs(imported, tmp_path / "out")
    counts = compare(path, tmp_path / "out", "bnn", q, q.astype(np.float32))
    assert counts == {"fc0": len(q), "fc1": len(q), "top1": len(q)}, counts


def _calibrated(model, x):
    """BatchNorm statistics from ``x`` (train-mode forward, no gradient steps), then eval mode."""
    import torch
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(x))
    return model.eval()


@pytest.mark.parametrize("kind", ["threshold", "requant"])
def test_negative_and_zero_gamma_channels(tmp_path, kind):
    """BatchNorm with negative gamma (the output falls with the accumulator: the channel's
    weights are negated) and zero gamma (a constant channel), on both activation paths."""
    import torch
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerChannelFloat,
                                Uint8ActPerTensorFloat)
    from brevitas_examples.bnn_pynq.models.common import CommonActQuant, CommonWeightQuant
    torch.manual_seed(3)
    if kind == "threshold":
        first = QuantLinear(64, 32, bias=False, weight_quant=CommonWeightQuant, weight_bit_width=1)
        act = QuantIdentity(act_quant=CommonActQuant, bit_width=2)
        head = QuantIdentity(act_quant=CommonActQuant, bit_width=8)
    else:
        first = QuantLinear(64, 32, bias=False, weight_quant=Int8WeightPerChannelFloat)
        act = QuantReLU(act_quant=Uint8ActPerTensorFloat)
        head = QuantIdentity(act_quant=Int8ActPerTensorFixedPoint)
    norm = torch.nn.BatchNorm1d(32)
    model = torch.nn.Sequential(head, first, norm, act,
                                QuantLinear(32, 10, bias=False, weight_quant=CommonWeightQuant,
                                            weight_bit_width=1))
    q = zoo.digits()[1]
    model = _calibrated(model, zoo.float_input(q))
    with torch.no_grad():
        norm.weight[::3] *= -1          # 11 channels falling with their accumulator
        norm.weight[1] = 0.0            # one constant channel
        if kind == "requant":           # a requant adds integer offsets only (see below)
            norm.bias.zero_()
            norm.running_mean.zero_()
    path = tmp_path / "gamma.onnx"
    export_qonnx(model, torch.from_numpy(zoo.float_input(q[:1])), str(path))
    imported = import_model(path, name="gamma", **IMPORT)
    note = imported.table[[row[2] for row in imported.table].index("fc0")][3]
    assert "11 channel(s) flipped" in note and "1 constant channel(s)" in note, note
    assert f"{kind}" in note
    write_outputs(imported, tmp_path / "out")
    counts = compare(path, tmp_path / "out", "gamma", q, zoo.float_input(q))
    # every layer; not the top-1: this untrained head often gives two classes the same integer
    # score, and the executor's float32 sums (activation scale not a power of two) split such
    # ties either way
    counts.pop("top1")
    assert counts == {name: len(q) for name in counts}, counts


def test_fractional_shift_before_a_requant_exits_2_saying_why(tmp_path, capsys):
    """BatchNorm before an 8-bit ReLU shifts the accumulator by a fraction of a step, which an
    integer dense bias cannot add before the requant rounds: refused, with the way out."""
    import torch
    from brevitas.export import export_qonnx
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerChannelFloat,
                                Uint8ActPerTensorFloat)
    torch.manual_seed(4)
    model = torch.nn.Sequential(QuantIdentity(act_quant=Int8ActPerTensorFixedPoint),
                                QuantLinear(64, 16, bias=False, weight_quant=Int8WeightPerChannelFloat),
                                torch.nn.BatchNorm1d(16), QuantReLU(act_quant=Uint8ActPerTensorFloat))
    q = zoo.digits()[1]
    model = _calibrated(model, zoo.float_input(q))
    path = tmp_path / "bn_relu8.onnx"
    export_qonnx(model, torch.from_numpy(zoo.float_input(q[:1])), str(path))
    out = tmp_path / "out"
    assert main(["import", str(path), "-o", str(out), "--input-bits", "5",
                 "--input-scale", "0.0625"]) == 2
    error = capsys.readouterr().err
    assert "hwgen's integer dense bias cannot add a fraction before the requant rounds" in error
    assert not out.exists()
