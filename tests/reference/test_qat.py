"""Forward and backward rules of the QAT modules (sw_reference.qat)."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from sw_reference import ops
from sw_reference.qat import (ActQuant, BinaryAct, BinaryConv2d, BinaryLinear, IntLinear, Scale,
                              TernaryLinear, binarize, clip_latent_weights, round_half_up)


def _grad(fn, x):
    x = x.clone().requires_grad_(True)
    fn(x).sum().backward()
    return x.grad


# -- constructor errors -------------------------------------------------------------------------

def test_constructor_errors():
    with pytest.raises(TypeError, match="bits must be an integer, not 2.5"):
        IntLinear(4, 2, bits=2.5)
    with pytest.raises(ValueError, match="bits must be at least 2, not 1"):
        IntLinear(4, 2, bits=1)
    with pytest.raises(ValueError, match="bits must be at most 8"):
        IntLinear(4, 2, bits=9)
    with pytest.raises(TypeError, match="range must be 'ema' or 'learned', not 'max'"):
        ActQuant(4, range="max")
    with pytest.raises(ValueError, match="init must be positive, not 0"):
        ActQuant(4, init=0)
    with pytest.raises(ValueError, match="init must be positive"):
        Scale(-1.0)
    with pytest.raises(TypeError, match="kernel_size must be an integer, not \\(3, 3\\)"):
        BinaryConv2d(2, 4, (3, 3))
    with pytest.raises(ValueError, match="padding must be at least 0, not -1"):
        BinaryConv2d(2, 4, 3, padding=-1)


# -- binary -------------------------------------------------------------------------------------

def test_binarize_forward_sign_with_zero_positive():
    x = torch.tensor([-2.0, -1.0, -1e-7, 0.0, 1e-7, 0.5, 3.0])
    assert binarize(x).tolist() == [-1, -1, -1, 1, 1, 1, 1]


def test_binarize_backward_is_clipped_identity():
    x = torch.tensor([-1.5, -1.0, -0.3, 0.0, 0.7, 1.0, 1.01, 5.0])
    assert _grad(binarize, x).tolist() == [0, 1, 1, 1, 1, 1, 0, 0]
    g = torch.tensor([2.0, -3.0])
    x = torch.tensor([0.5, 0.5], requires_grad=True)
    binarize(x).backward(g)
    assert x.grad.tolist() == [2.0, -3.0]            # upstream gradient passes unchanged


def test_binary_linear_is_xnor_popcount_and_ste_on_latent_weights():
    torch.manual_seed(0)
    layer = BinaryLinear(12, 5)
    x = torch.where(torch.rand(7, 12) < 0.5, -1.0, 1.0)
    w = layer.quantized_weight()
    assert set(w.unique().tolist()) <= {-1, 1}
    y = layer(x)
    assert torch.equal(y, x @ w.t().float())
    xnor = (x[:, None, :] == w[None].float()).sum(-1)
    assert torch.equal(y, (2 * xnor - 12).float())   # 2*popcount(xnor) - K
    with torch.no_grad():
        layer.weight[0, 0] = 1.5                     # outside [-1, 1]: no gradient
    layer(x).sum().backward()
    assert layer.weight.grad[0, 0] == 0
    assert torch.equal(layer.weight.grad[1:], x.sum(0).expand(4, 12))
    clip_latent_weights(nn.Sequential(layer))
    assert layer.weight.abs().max() <= 1


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1)])
def test_binary_conv2d_is_the_golden_conv_and_ste_on_latent_weights(stride, padding):
    """Forward = ops.binary_conv2d (-1 padding) on -1/+1 data; backward = BinaryLinear's STE."""
    torch.manual_seed(1)
    conv = BinaryConv2d(3, 5, 3, stride=stride, padding=padding)
    x = torch.where(torch.rand(4, 3, 7, 6) < 0.5, -1.0, 1.0)
    w = conv.quantized_weight()
    assert w.shape == (5, 3, 3, 3) and set(w.unique().tolist()) <= {-1, 1}
    y = conv(x)
    assert torch.equal(y, ops.binary_conv2d(x.long(), w, stride=stride, padding=padding).float())
    assert y.abs().max() <= 27 and ((y + 27) % 2 == 0).all()     # 2*popcount(xnor) - C*k*k
    with torch.no_grad():
        conv.weight[0, 0, 0, 0] = 1.5                # outside [-1, 1]: no gradient
    conv(x).sum().backward()
    assert conv.weight.grad[0, 0, 0, 0] == 0
    wq = w.float().requires_grad_(True)              # d/dW of the conv at W = sign(W) ...
    F.conv2d(F.pad(x, (padding,) * 4, value=-1.0), wq, stride=stride).sum().backward()
    expected = wq.grad.clone()
    expected[0, 0, 0, 0] = 0                         # ... passed where |W| <= 1 (clipped STE)
    assert torch.equal(conv.weight.grad, expected)
    clip_latent_weights(nn.Sequential(conv))
    assert conv.weight.abs().max() <= 1


def test_binary_act_module():
    x = torch.tensor([-0.2, 0.0, 2.0])
    assert BinaryAct()(x).tolist() == [-1, 1, 1]
    assert _grad(BinaryAct(), x).tolist() == [1, 1, 0]


# -- ternary and integer weights ------------------------------------------------------------------

def test_ternary_absmean_forward_and_ste():
    layer = TernaryLinear(4, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.9, -0.1, 0.25, -2.0], [0.3, 0.3, -0.3, 0.0]]))
    g = layer.weight.abs().mean()                    # 0.50625
    assert layer.weight_scale().item() == pytest.approx(g.item())
    assert layer.quantized_weight().tolist() == [[1, 0, 0, -1], [1, 1, -1, 0]]   # 0.25/g = 0.48
    x = torch.eye(4)
    assert torch.allclose(layer(x), g * layer.quantized_weight().t().float())
    layer(x).sum().backward()
    assert torch.equal(layer.weight.grad, torch.ones(2, 4))     # identity STE


def test_int_weights_per_channel_and_per_tensor():
    layer = IntLinear(3, 2, bias=False, bits=4)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.7, -0.35, 0.05], [0.1, 0.2, -0.01]]))
    assert layer.qmax == 7
    assert layer.weight_scale().tolist() == pytest.approx([0.1, 0.2 / 7])
    assert layer.quantized_weight().tolist() == [[7, -3, 1], [4, 7, 0]]   # -3.5 -> -3: half up
    tensor = IntLinear(3, 2, bias=False, bits=4, per_channel=False)
    tensor.load_state_dict(layer.state_dict())
    assert tensor.weight_scale().tolist() == pytest.approx([0.1])
    assert tensor.quantized_weight().tolist() == [[7, -3, 1], [1, 2, 0]]
    x = torch.tensor([[1.0, 2.0, 3.0]])
    expected = x @ (layer.weight_scale()[:, None] * layer.quantized_weight()).t()
    assert torch.allclose(layer(x), expected)
    layer(x).sum().backward()
    assert torch.equal(layer.weight.grad, x.expand(2, 3))


# -- activation quantizer -----------------------------------------------------------------------

def test_round_half_up():
    x = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.49])
    assert round_half_up(x).tolist() == [-2, -1, 0, 1, 2, 3, 2]
    assert _grad(round_half_up, x).tolist() == [1.0] * 7


def test_act_quant_unsigned_forward_backward():
    q = ActQuant(2, range="learned", init=3.0)      # step 1, codes 0..3
    x = torch.tensor([-1.0, 0.49, 0.5, 1.5, 2.9, 3.0, 7.0], requires_grad=True)
    y = q(x)
    assert y.tolist() == [0, 0, 1, 2, 3, 3, 3]
    assert q.quantize(x).tolist() == [0, 0, 1, 2, 3, 3, 3]
    y.sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 1, 1, 1, 0]  # clipped STE, closed range [0, alpha]
    assert q.alpha.grad.item() == 1.0                 # PACT: one per x > alpha


def test_act_quant_signed_and_ema_range():
    q = ActQuant(4, signed=True)                     # EMA, codes -8..7
    assert (q.lo, q.hi) == (-8, 7)
    q.train()
    q(torch.tensor([-3.5, 1.0]))                     # first batch sets alpha = max|x|
    assert q.alpha.item() == 3.5
    q(torch.tensor([7.5]))
    assert q.alpha.item() == pytest.approx(3.5 + 0.1 * 4.0)
    q.eval()
    q(torch.tensor([100.0]))                         # eval: frozen
    assert q.alpha.item() == pytest.approx(3.9)
    r = q.scale
    x = torch.tensor([-100.0, -2 * r, 0.5 * r, 6.49 * r, 100.0])
    assert (q(x) / r).round().tolist() == [-8, -2, 1, 6, 7]
    assert not any(p.requires_grad for p in q.parameters())


def test_scale_is_positive_and_keeps_argmax():
    s = Scale(0.25)
    x = torch.tensor([[3.0, -1.0, 7.0, 7.0]])
    assert s(x).tolist() == [[0.75, -0.25, 1.75, 1.75]]
    assert s(x).argmax().item() == x.argmax().item() == 2


# -- the integer transformer (TinyViT and its modules) -------------------------------------------

def _vit(seed=0, **kwargs):
    """A TinyViT with its ranges calibrated by two training-mode passes on random pixels."""
    from sw_reference.qat import TinyViT
    torch.manual_seed(seed)
    model = TinyViT(**kwargs)
    x = torch.randint(0, 17, (32, model.tokens, model.patch)).float() / 16
    model.train()
    for _ in range(2):
        model(x)
    model.eval()
    return model, x


def test_vit_forward_is_the_golden_modules_on_codes():
    """Every layer's value is its int64 code times its scale; the last is the classifier's."""
    model, x = _vit()
    t = model.forward_all(x)
    for name, _ in model.GRAPH:
        q = t[name]
        assert q.code.dtype == torch.int64
        scale = torch.from_numpy(np.broadcast_to(q.scale, q.code.shape[-1:]).copy()) \
            if isinstance(q.scale, np.ndarray) else q.scale
        torch.testing.assert_close(q.value.double(), q.code.double() * scale,
                                   rtol=1e-6, atol=1e-9)
    assert t["attn"].code.min() >= 0 and t["attn"].code.max() <= 127
    for name in ("pos", "ln1", "q", "scores", "ctx", "res1", "gelu", "res2"):
        assert -128 <= int(t[name].code.min()) and int(t[name].code.max()) <= 127, name
    torch.testing.assert_close(model(x), t["head"].value)


def test_vit_backward_is_the_float_functions_gradient():
    """Every trained parameter gets a gradient through the integer forward (STE)."""
    model, x = _vit()
    model.train()
    torch.nn.functional.cross_entropy(model(x), torch.arange(len(x)) % 10).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or
               not bool(p.grad.abs().sum() > 0)]
    assert not missing


def test_vit_units_swap_to_float_one_at_a_time():
    from sw_reference.qat import INTEGER_UNITS
    model, x = _vit()
    exact = model(x)
    for unit in INTEGER_UNITS:
        model.set_float_units([unit])
        assert not torch.equal(model(x), exact), unit
    model.set_float_units(["quant"])
    assert model.forward_all(x)["ln1"].code is None          # nothing is quantized
    with pytest.raises(ValueError, match="float_units must be among norm, softmax, gelu, quant, "
                                         r"not \['relu'\]"):
        model.set_float_units(["relu"])
    with pytest.raises(ValueError, match=r"heads \(3\) must divide dim \(16\)"):
        type(model)(heads=3)


def test_dyadic_arrays_keep_ratios_expressible():
    from sw_reference.qat import dyadic_arrays
    m, s = dyadic_arrays([0.5, 3.0, 1e-30, 1e30])
    assert m.tolist()[:2] == [1 << 30, 3 << 29] and s.tolist()[:2] == [31, 29]
    assert ((m >= 1 << 30) & (m < 1 << 31)).all() and ((s >= 0) & (s < 64)).all()
