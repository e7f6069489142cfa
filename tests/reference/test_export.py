"""QAT model -> YAML + npz export (sw_reference.export): folding rules and golden agreement."""

import numpy as np
import pytest
import torch
from torch import nn

from hwgen.spec import load
from sw_reference import ops
from sw_reference.export import check_export, export_mlp, fold_requant, fold_sign_thresholds
from sw_reference.network import build
from sw_reference.qat import (ActQuant, BinaryAct, BinaryConv2d, BinaryLinear, IntLinear, Scale,
                              TernaryLinear)


def _batchnorm(channels, gamma, seed=0, spread=6.0, norm=nn.BatchNorm1d):
    """An eval-mode BatchNorm1d (or ``norm``) with the given gamma and random stats/bias."""
    g = torch.Generator().manual_seed(seed)
    bn = norm(channels)
    with torch.no_grad():
        bn.weight.copy_(torch.as_tensor(gamma, dtype=torch.float32))
        bn.bias.copy_(torch.randn(channels, generator=g))
        bn.running_mean.copy_(torch.randn(channels, generator=g) * spread)
        bn.running_var.copy_(torch.rand(channels, generator=g) * 20 + 0.5)
    return bn.eval()


def _pm1(shape, seed):
    return np.where(np.random.default_rng(seed).random(shape) < 0.5, -1, 1).astype(np.int64)


# -- BatchNorm + sign -> thresholds ----------------------------------------------------------------

def test_sign_thresholds_cover_every_gamma_sign():
    k, channels = 9, 8
    gamma = [1.5, -0.7, 0.0, 0.0, 2.0, -3.0, 1e-3, -1e-3]
    bn = _batchnorm(channels, gamma)
    with torch.no_grad():
        bn.bias[2], bn.bias[3] = 0.5, -0.5              # gamma == 0: always +1 / always -1
    w = _pm1((channels, k), 1)
    w2, t = fold_sign_thresholds(w, bn, k)
    assert t[2, 0] == -k and t[3, 0] == k + 1
    assert (w2[[1, 5]] == -w[[1, 5]]).all()                 # negative gamma negates the row
    assert (w2[[0, 2, 3, 4]] == w[[0, 2, 3, 4]]).all()      # (tiny gammas: whatever is exact)
    x = torch.from_numpy(_pm1((3000, k), 2))
    s = ops.binary_dense(x, torch.from_numpy(w))
    want = torch.where(bn(s.float()) >= 0, 1, -1)
    got = ops.threshold(ops.binary_dense(x, torch.from_numpy(w2)), torch.from_numpy(t),
                        binary_out=True)
    assert torch.equal(got, want)


def test_sign_threshold_tie_at_zero_is_plus_one():
    bn = _batchnorm(1, [1.0])
    with torch.no_grad():
        bn.running_mean.fill_(3.0)
        bn.running_var.fill_(1.0 - bn.eps)
        bn.bias.fill_(0.0)                               # BN(3) == 0 exactly -> +1
    _, t = fold_sign_thresholds(np.ones((1, 5), np.int64), bn, 5)
    assert t.tolist() == [[3]]
    _, t = fold_sign_thresholds(np.ones((2, 5), np.int64), None, 5)
    assert t.tolist() == [[0], [0]]


# -- bias + BatchNorm + quantizer -> bias and dyadic rescale -----------------------------------------

def test_requant_fold_matches_float_affine_map():
    bn = _batchnorm(4, [0.8, -1.2, 0.0, 2.5], spread=50)
    w = np.array([[3, -2], [1, 1], [5, 5], [-7, 4]], dtype=np.int64)
    acc_scale = np.array([0.01, 0.02, 0.03, 0.005])
    bias = np.array([0.1, -0.2, 0.3, 0.0])
    w2, b, m, s = fold_requant(w, acc_scale, bias, bn, out_scale=0.05)
    assert (w2[1] == -w[1]).all() and (w2[2] == 0).all() and (w2[[0, 3]] == w[[0, 3]]).all()
    assert (m[2], s[2]) == (1 << 30, 30)
    acc = torch.arange(-4000, 4001, dtype=torch.int64)[:, None] * torch.tensor([1, -1, 0, 1])
    real = bn((acc * torch.tensor([1, -1, 0, 1])).double().float() * torch.tensor(acc_scale).float()
              + torch.tensor(bias).float()).double()
    want = torch.clamp(torch.floor(real / 0.05 + 0.5), 0, 255)
    got = ops.requant(acc + torch.from_numpy(b), m, s, np.zeros(4, np.int64), 0, 255)
    assert (got - want).abs().max() <= 1
    assert (got == want).double().mean() > 0.99            # differ only next to half-way points


# -- whole models ---------------------------------------------------------------------------------

def _binary_model(seed):
    torch.manual_seed(seed)
    model = nn.Sequential(BinaryLinear(32, 16), _batchnorm(16, torch.randn(16), seed), BinaryAct(),
                          BinaryLinear(16, 16), _batchnorm(16, torch.randn(16), seed + 1), BinaryAct(),
                          BinaryLinear(16, 10), Scale(0.1))
    with torch.no_grad():
        model[1].weight[3] = 0.0
        model[4].weight[5] = 0.0
    return model.eval()


def test_binary_export_is_exact(tmp_path):
    model = _binary_model(3)
    result = export_mlp(model, tmp_path / "net.yaml", name="bnn_test", input={"shape": [32], "bits": 1},
                        folding={"fc1": (4, 8)}, target={"clock_mhz": 100})
    spec = load(result.yaml_path)
    assert [(layer.op, layer.pe, layer.simd) for layer in spec.layers] == \
        [("binary_dense", 4, 8), ("binary_dense", 16, 16), ("binary_dense", 10, 16), ("argmax", 1, 1)]
    assert result.npz_path.name == "net.npz"
    x = _pm1((2000, 32), 4)
    check = check_export(model, spec, x.astype(np.float32), x)
    assert check.agreement == 1.0
    # Hidden activations equal too, not only the predictions.
    golden = build(spec).forward_all(torch.from_numpy(x))
    with torch.no_grad():
        assert torch.equal(golden["fc1"], model[:3](torch.from_numpy(x).float()).long())
        assert torch.equal(golden["fc3"], model[:7](torch.from_numpy(x).float()).long())


def _binary_cnn(seed):
    """[2, 8, 8] -> conv 3x3 (pad 1) -> pool 2 -> conv 2x2 -> [6, 3, 3] -> flatten -> dense 10."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        BinaryConv2d(2, 8, 3, padding=1), _batchnorm(8, torch.randn(8), seed, 4.0, nn.BatchNorm2d),
        BinaryAct(), nn.MaxPool2d(2),
        BinaryConv2d(8, 6, 2), _batchnorm(6, torch.randn(6), seed + 1, 8.0, nn.BatchNorm2d),
        BinaryAct(), nn.Flatten(), BinaryLinear(54, 10), Scale(0.1))
    with torch.no_grad():
        model[1].weight[2] = 0.0                          # constant channels
        model[5].weight[4] = 0.0
    return model.eval()


def test_binary_cnn_export_is_exact(tmp_path):
    model = _binary_cnn(7)
    result = export_mlp(model, tmp_path / "cnn.yaml", name="cnn_test",
                        input={"shape": [2, 8, 8], "bits": 1}, folding={"conv1": (4, 2), "pool1": 2})
    spec = load(result.yaml_path)
    assert [(layer.name, layer.op, layer.pe, layer.simd) for layer in spec.layers] == [
        ("conv1", "binary_conv2d", 4, 2), ("pool1", "maxpool2d", 2, 1),
        ("conv2", "binary_conv2d", 6, 8), ("flat1", "flatten", 1, 1),
        ("fc1", "binary_dense", 10, 27), ("top1", "argmax", 1, 1)]
    assert spec.layers[0].attrs.padding == 1 and spec.layers[2].attrs.padding == 0
    assert result.arrays["fc1.weight"].shape == (10, 54)          # torch's NCHW flatten order
    x = _pm1((1500, 2, 8, 8), 8)
    check = check_export(model, spec, x.astype(np.float32), x)
    assert check.agreement == 1.0
    golden = build(spec).forward_all(torch.from_numpy(x))         # hidden maps equal too
    with torch.no_grad():
        xf = torch.from_numpy(x).float()
        for name, depth in (("conv1", 3), ("pool1", 4), ("conv2", 7), ("fc1", 9)):
            assert torch.equal(golden[name], model[:depth](xf).long()), name
    assert {golden["conv1"][:, 2].unique().numel(), golden["conv2"][:, 4].unique().numel()} == {1}


@pytest.mark.parametrize("linear", [IntLinear, TernaryLinear])
def test_integer_export_agrees(tmp_path, linear):
    torch.manual_seed(5)
    hidden = linear(24, 12) if linear is TernaryLinear else linear(24, 12, bits=6)
    last = linear(12, 10) if linear is TernaryLinear else linear(12, 10, bits=4, per_channel=False)
    model = nn.Sequential(hidden, _batchnorm(12, torch.randn(12), 5, spread=0.5), nn.ReLU(),
                          ActQuant(8), last)
    x_int = np.random.default_rng(6).integers(0, 16, size=(1500, 24))
    x = torch.from_numpy(x_int / 16).float()
    model.train()
    model(x)                                              # EMA range from the data
    model.eval()
    result = export_mlp(model, tmp_path / "int.yaml", name="int_test",
                        input={"shape": [24], "bits": 4, "signed": False}, input_scale=1 / 16)
    spec = load(result.yaml_path)
    assert spec.layers[0].attrs.weight_type == ("ternary" if linear is TernaryLinear
                                                             else "int")
    check = check_export(model, spec, x.numpy(), x_int)
    assert check.agreement >= 0.99
    golden = build(spec).forward_all(torch.from_numpy(x_int))["fc1"]
    with torch.no_grad():
        codes = model[3].quantize(model[:3](x))
    assert (golden.double() - codes.double()).abs().max() <= 1
    assert (golden == codes.long()).double().mean() > 0.995


def test_export_errors(tmp_path):
    binary_in = {"shape": [8], "bits": 1}
    out = tmp_path / "bad.yaml"
    with pytest.raises(TypeError, match="last linear layer must have no activation"):
        export_mlp(nn.Sequential(BinaryLinear(8, 4), BinaryAct()), out, name="b", input=binary_in)
    with pytest.raises(TypeError, match="needs one weight scale"):
        export_mlp(nn.Sequential(IntLinear(8, 4)), out, name="b", input={"shape": [8], "bits": 4},
                   input_scale=0.1)
    with pytest.raises(ValueError, match="input_scale must be given"):
        export_mlp(nn.Sequential(IntLinear(8, 4, per_channel=False)), out, name="b",
                   input={"shape": [8], "bits": 4})
    with pytest.raises(NotImplementedError, match="binary layer needs -1/\\+1 inputs"):
        export_mlp(nn.Sequential(BinaryLinear(8, 4)), out, name="b", input={"shape": [8], "bits": 4},
                   input_scale=0.1)
    with pytest.raises(TypeError, match="IntLinear, BinaryConv2d, MaxPool2d or Flatten, not Linear"):
        export_mlp(nn.Sequential(nn.Linear(8, 4)), out, name="b", input=binary_in)
    cnn_in = {"shape": [1, 6, 6], "bits": 1}
    with pytest.raises(TypeError, match="BinaryConv2d takes BatchNorm2d, not BatchNorm1d"):
        export_mlp(nn.Sequential(BinaryConv2d(1, 2, 3), nn.BatchNorm1d(2), BinaryAct(), nn.Flatten(),
                                 BinaryLinear(32, 2)), out, name="b", input=cnn_in)
    with pytest.raises(NotImplementedError, match="only MaxPool2d\\(k\\)"):
        export_mlp(nn.Sequential(BinaryConv2d(1, 2, 3), BinaryAct(), nn.MaxPool2d(2, stride=1),
                                 nn.Flatten(), BinaryLinear(18, 2)), out, name="b", input=cnn_in)
    with pytest.raises(NotImplementedError, match="kernel_size 3 must divide the feature map"):
        export_mlp(nn.Sequential(BinaryConv2d(1, 2, 3), BinaryAct(), nn.MaxPool2d(3),
                                 nn.Flatten(), BinaryLinear(18, 2)), out, name="b", input=cnn_in)
    with pytest.raises(ValueError, match="needs a \\[32\\] input, not \\[2, 4, 4\\]"):
        export_mlp(nn.Sequential(BinaryConv2d(1, 2, 3), BinaryAct(), BinaryLinear(32, 2)), out,
                   name="b", input=cnn_in)
    with pytest.raises(TypeError, match="last layer must be a linear layer"):
        export_mlp(nn.Sequential(BinaryConv2d(1, 2, 3)), out, name="b", input=cnn_in)
    assert list(tmp_path.iterdir()) == []                # nothing half-written


def test_vit_export_is_the_models_integer_forward(tmp_path):
    """export_vit of a (calibrated, untrained) TinyViT: the golden network equals the model's
    integer forward on every layer of every sample; inputs: [a, b] where a layer reads others."""
    from sw_reference.export import check_vit_export, export_vit
    from sw_reference.qat import TinyViT
    torch.manual_seed(1)
    model = TinyViT()
    x_int = torch.randint(0, 17, (48, 16, 4))
    model.train()
    for _ in range(3):
        model(x_int.float() / 16)
    result = export_vit(model, tmp_path / "vit.yaml", name="vit_test",
                        input={"shape": [16, 4], "bits": 5, "signed": False},
                        folding={"fc1": (8, 4)})
    net = load(result.yaml_path)
    layers = {layer.name: layer for layer in net.layers}
    assert [layer.name for layer in net.layers] == [n for n, _ in model.GRAPH] + ["top1"]
    assert layers["scores"].inputs == ("q", "k") and layers["res1"].inputs == ("pos", "proj")
    assert (layers["fc1"].pe, layers["fc1"].simd) == (8, 4) and layers["q"].pe == 4
    assert layers["attn"].attrs.x0 < 0 and layers["gelu"].attrs.x0 < 0
    check = check_vit_export(model, net, x_int.numpy() / 16, x_int.numpy())
    assert check.integer_mismatches == 0
    with pytest.raises(TypeError, match="model must be a sw_reference.qat.TinyViT"):
        export_vit(nn.Linear(2, 2), tmp_path / "x.yaml", name="x", input={})
