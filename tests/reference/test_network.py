"""sw_reference.network: build(spec) / run() on hand-made specs (the YAML loader is separate).

Each network's output is checked against the ops composed by hand and, where
the arithmetic is exact in float64, against plain torch float layers.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hwgen.ops import OPS
from hwgen.spec.types import LayerSpec, NetworkSpec, TensorType, frozen_array, frozen_mapping
from sw_reference import GoldenNetwork, build, ivit, module_for, ops, run
from sw_reference import modules as M

rng = np.random.default_rng(7)


def t(a):
    return torch.tensor(np.asarray(a, dtype=np.int64))


def pm1(*shape):
    return rng.choice(np.array([-1, 1], dtype=np.int64), size=shape)


def layer(name, op, inputs, in_types, op_type, out_type=None, activation=None, params=None,
          **attrs):
    """A resolved LayerSpec, as the loader would produce it."""
    if isinstance(in_types, TensorType):
        in_types = (in_types,)
    # typed attributes as the loader makes them (an op outside the op table keeps a mapping)
    attrs = OPS[op].make_attrs(**attrs) if op in OPS else frozen_mapping(attrs)
    return LayerSpec(name=name, op=op, inputs=tuple(inputs), attrs=attrs,
                     params=frozen_mapping({k: frozen_array(v) for k, v in (params or {}).items()}),
                     in_types=tuple(in_types), op_type=op_type,
                     out_type=out_type or op_type, activation=activation)


def act(name, op, in_type, out_type, params, **attrs):
    return layer(f"{name}.act", op, (name,), in_type, out_type, params=params, **attrs)


def network(name, input_type, *layers):
    return NetworkSpec(name=name, input=input_type, layers=tuple(layers))


def bits(shape, b, signed=False):
    return TensorType.of_bits(shape, b, signed)


def rng_range(shape, lo, hi):
    return TensorType.of_range(shape, lo, hi)


# -- 1. binary MLP: binary_dense + threshold (1 bit) -> binary_dense -> argmax -------------------

def binary_mlp():
    k, h, o = 64, 32, 10
    w1, w2 = pm1(h, k), pm1(o, h)
    thr = np.sort(rng.integers(-8, 9, (h, 1)), axis=1)
    x_t = bits((k,), 1)
    fc1_op = rng_range((h,), -k, k)
    h_t = bits((h,), 1)
    fc1 = layer("fc1", "binary_dense", ["input"], x_t, fc1_op, h_t,
                activation=act("fc1", "threshold", fc1_op, h_t, {"thresholds": thr},
                               bits=1, per_channel=True),
                params={"weight": w1}, out_features=h)
    out_t = rng_range((o,), -h, h)
    fc2 = layer("fc2", "binary_dense", ["fc1"], h_t, out_t, params={"weight": w2}, out_features=o)
    top = layer("top1", "argmax", ["fc2"], out_t, rng_range((), 0, o - 1))
    return network("bnn", x_t, fc1, fc2, top), (w1, thr, w2)


def test_binary_mlp_equals_composed_ops_and_float():
    spec, (w1, thr, w2) = binary_mlp()
    x = pm1(200, 64)
    net = build(spec)
    assert isinstance(net, GoldenNetwork)
    with torch.no_grad():
        values = net.forward_all(t(x))
    assert list(values) == ["input", "fc1", "fc2", "top1"]
    # by hand, with the ops
    h = ops.threshold(ops.binary_dense(t(x), t(w1)), t(thr), binary_out=True)
    s = ops.binary_dense(h, t(w2))
    assert torch.equal(values["fc1"], h)
    assert torch.equal(values["fc2"], s)
    assert torch.equal(values["top1"], ops.argmax(s))
    # float64 torch layers (exact on these small integers)
    hf = torch.where(F.linear(torch.tensor(x, dtype=torch.float64),
                              torch.tensor(w1, dtype=torch.float64))
                     >= torch.tensor(thr[:, 0], dtype=torch.float64), 1.0, -1.0).double()
    sf = F.linear(hf, torch.tensor(w2, dtype=torch.float64))
    assert np.array_equal(values["fc2"].numpy(), sf.numpy())
    assert np.array_equal(run(spec, x), np.argmax(sf.numpy(), axis=-1))   # numpy: first max too
    assert run(spec, x).dtype == np.int64 and run(spec, x).shape == (200,)


def test_run_validates_input():
    spec, _ = binary_mlp()
    x = pm1(5, 64)
    x[3, 17] = 0
    with pytest.raises(ValueError, match=r"sample 3 holds 0 at \[17\].*-1 or \+1"):
        run(spec, x)
    with pytest.raises(ValueError, match=r"shape \[N, 64\]"):
        run(spec, pm1(5, 63))
    with pytest.raises(ValueError, match=r"shape \[N, 64\]"):
        run(spec, pm1(64))
    with pytest.raises(ValueError, match="integers"):
        run(spec, pm1(5, 64).astype(np.float32))
    assert run(spec, pm1(5, 64).astype(np.int8)).shape == (5,)


# -- 2. conv2d -> requant (per channel, inline) -> maxpool -> flatten -> dense ------------------

def conv_chain():
    c_in, c, hw, o = 1, 4, 8, 10
    w = rng.integers(-8, 8, (c, c_in, 3, 3))
    b = rng.integers(-500, 500, (c,))
    m = rng.integers(2**29, 2**31, (c,))
    s = rng.integers(37, 40, (c,))
    zp = np.array([0, 1, -1, 2])
    wd = rng.integers(-8, 8, (o, c * 4 * 4))
    x_t = bits((c_in, hw, hw), 8)
    conv_op = rng_range((c, hw, hw), -300000, 300000)
    q_t = bits((c, hw, hw), 8, signed=True)
    conv = layer("conv1", "conv2d", ["input"], x_t, conv_op, q_t,
                 activation=act("conv1", "requant", conv_op, q_t,
                                {"multiplier": m, "shift": s, "zero_point": zp},
                                bits=8, signed=True, per_channel=True),
                 params={"weight": w, "bias": b}, out_channels=c, kernel_size=3, stride=1,
                 padding=1, weight_bits=4, weight_type="int", bias=True)
    p_t = bits((c, hw // 2, hw // 2), 8, signed=True)
    pool = layer("pool1", "maxpool2d", ["conv1"], q_t, p_t, kernel_size=2)
    f_t = bits((c * 16,), 8, signed=True)
    flat = layer("flat", "flatten", ["pool1"], p_t, f_t)
    out_t = rng_range((o,), -2**20, 2**20)
    fc = layer("fc", "dense", ["flat"], f_t, out_t, params={"weight": wd}, out_features=o,
               weight_bits=4, weight_type="int", bias=False)
    return network("convnet", x_t, conv, pool, flat, fc), (w, b, m, s, zp, wd)


def test_conv_chain_equals_composed_ops_and_float():
    spec, (w, b, m, s, zp, wd) = conv_chain()
    x = rng.integers(0, 256, (16, 1, 8, 8))
    y = run(spec, x)
    acc = ops.conv2d(t(x), t(w), t(b), padding=1)
    q = ops.requant(acc, t(m), t(s), t(zp), -128, 127, channel_axis=1)
    expect = ops.dense(ops.flatten(ops.maxpool2d(q, 2)), t(wd))
    assert np.array_equal(y, expect.numpy())
    # float64 torch for the exact parts, Python big ints for the requant
    accf = F.conv2d(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                    torch.tensor(b, dtype=torch.float64), padding=1).numpy().astype(np.int64)
    qf = np.empty_like(accf)
    for idx in np.ndindex(accf.shape):
        ch = idx[1]
        v = (int(accf[idx]) * int(m[ch]) + (1 << (int(s[ch]) - 1))) >> int(s[ch])
        qf[idx] = min(max(v + int(zp[ch]), -128), 127)
    assert ((qf > -128) & (qf < 127)).mean() > 0.5          # the requant is not just clamping
    pooled = F.max_pool2d(torch.tensor(qf, dtype=torch.float64), 2)
    yf = F.linear(torch.flatten(pooled, 1), torch.tensor(wd, dtype=torch.float64))
    assert np.array_equal(y, yf.numpy())
    with pytest.raises(ValueError, match=r"sample 0 holds 256 at \[0, 2, 3\].*\[0, 255\]"):
        x[0, 0, 2, 3] = 256
        run(spec, x)


# -- 3. residual add with named inputs ----------------------------------------------------------

def residual():
    f = 16
    w = rng.integers(-64, 64, (f, f))
    bias = rng.integers(-1000, 1000, (f,))
    x_t = bits((f,), 8, signed=True)
    acc_t = rng_range((f,), -2**20, 2**20)
    fc = layer("fc1", "dense", ["input"], x_t, acc_t, x_t,
               activation=act("fc1", "requant", acc_t, x_t,
                              {"multiplier": [1518500250], "shift": [40], "zero_point": [0]},
                              bits=8, signed=True, per_channel=False),
               params={"weight": w, "bias": bias}, out_features=f, bias=True)
    add_m, add_s, add_zp = [1 << 30, 1546188227], [31, 31], [-3]
    res = layer("res", "add", ["input", "fc1"], (x_t, x_t), x_t,
                params={"multiplier": add_m, "shift": add_s, "zero_point": add_zp},
                bits=8, signed=True)
    return network("residual", x_t, fc, res), (w, bias, add_m, add_s, add_zp)


def test_residual_add_reads_named_inputs():
    spec, (w, bias, add_m, add_s, add_zp) = residual()
    x = rng.integers(-128, 128, (100, 16))
    values = build(spec).forward_all(t(x))
    h = ops.requant(ops.dense(t(x), t(w), t(bias)), t([1518500250]), t([40]), t([0]), -128, 127)
    assert torch.equal(values["fc1"], h)
    expect = np.empty((100, 16), dtype=np.int64)
    for idx in np.ndindex(expect.shape):
        total = sum((int(v[idx]) * mi + (1 << (si - 1))) >> si
                    for v, mi, si in zip((x, h.numpy()), add_m, add_s))
        expect[idx] = min(max(total + add_zp[0], -128), 127)
    assert np.array_equal(values["res"].numpy(), expect)
    assert np.array_equal(run(spec, x), expect)


# -- 4. tiny attention: q, k, v from one input; QK^T; shiftmax; AV ------------------------------

def attention(heads):
    tk, c, d = 6, 8, 4
    x_t = bits((tk, c), 8, signed=True)
    proj_t = bits((tk, heads * d), 8, signed=True)
    acc_t = rng_range((tk, heads * d), -2**18, 2**18)
    weights = {}
    layers = []
    for name in ("q", "k", "v"):
        weights[name] = rng.integers(-16, 16, (heads * d, c))
        layers.append(layer(name, "dense", ["input"], x_t, acc_t, proj_t,
                            activation=act(name, "requant", acc_t, proj_t,
                                           {"multiplier": [1 << 30], "shift": [36],
                                            "zero_point": [0]},
                                           bits=8, signed=True, per_channel=False),
                            params={"weight": weights[name]}, out_features=heads * d))
    score_t = rng_range((tk, heads * tk), -2**16, 2**16)
    layers.append(layer("scores", "matmul", ["q", "k"], (proj_t, proj_t), score_t,
                        transpose_b=True, heads=heads))
    p_t = rng_range((tk, heads * tk), 0, 127)
    layers.append(layer("attn", "shiftmax", ["scores"], score_t, p_t, x0=-300, out_bits=8,
                        heads=heads))
    o_t = rng_range((tk, heads * d), -2**16, 2**16)
    layers.append(layer("av", "matmul", ["attn", "v"], (p_t, proj_t), o_t,
                        transpose_b=False, heads=heads))
    return network("attention", x_t, *layers), weights


@pytest.mark.parametrize("heads", [1, 2])
def test_tiny_attention(heads):
    spec, w = attention(heads)
    x = rng.integers(-128, 128, (8, 6, 8))
    values = build(spec).forward_all(t(x))
    d = 4
    proj = {name: ops.requant(ops.dense(t(x), t(w[name])), 1 << 30, 36, 0, -128, 127).numpy()
            for name in "qkv"}
    for name in "qkv":
        assert np.array_equal(values[name].numpy(), proj[name])
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        keys = slice(h * 6, (h + 1) * 6)
        qf = torch.tensor(proj["q"][:, :, cols], dtype=torch.float64)
        kf = torch.tensor(proj["k"][:, :, cols], dtype=torch.float64)
        vf = torch.tensor(proj["v"][:, :, cols], dtype=torch.float64)
        scores = qf @ kf.transpose(1, 2)                       # float64: exact here
        assert np.array_equal(values["scores"].numpy()[:, :, keys], scores.numpy())
        p = ivit.shiftmax(scores.to(torch.int64), -300)        # per head, on its own
        assert torch.equal(values["attn"][:, :, keys], p)
        assert np.array_equal(values["av"].numpy()[:, :, cols], (p.double() @ vf).numpy())
    assert np.array_equal(run(spec, x), values["av"].numpy())


# -- module_for details -------------------------------------------------------------------------

def test_module_for_builds_activation_and_rejects_unknown_ops():
    spec, _ = binary_mlp()
    mod = module_for(spec.layers[0])
    assert isinstance(mod, M.Activated)
    assert isinstance(mod.op, M.BinaryDense) and isinstance(mod.act, M.Threshold)
    assert mod.act.binary_out and mod.op.weight.dtype == torch.int64
    assert "op.weight" in mod.state_dict() and "act.thresholds" in mod.state_dict()
    bad = layer("x", "softmax", ["input"], bits((4,), 8), bits((4,), 8))
    with pytest.raises(ValueError, match="softmax"):
        module_for(bad)


def test_module_for_per_channel_axis_and_layernorm():
    ln_t = bits((3, 5), 16, signed=True)
    ln = layer("ln", "layernorm", ["input"], ln_t, rng_range((3, 5), -2**31, 2**31 - 1),
               params={"bias": [1, 2, 3, 4, 5]}, sqrt="ivit", bias=True)
    mod = module_for(ln)
    assert isinstance(mod, M.LayerNorm) and mod.sqrt == "ivit"
    x = rng.integers(-1000, 1000, (2, 3, 5))
    assert torch.equal(mod(t(x)), ivit.layernorm(t(x), t([1, 2, 3, 4, 5]), sqrt="ivit"))
    thr_t = bits((3, 4, 4), 8, signed=True)
    thr = layer("th", "threshold", ["input"], thr_t, bits((3, 4, 4), 2),
                params={"thresholds": [[-5, 0, 5], [0, 1, 2], [-9, -8, 7]]}, bits=2,
                per_channel=True)
    assert module_for(thr).channel_axis == 1
    gelu = layer("g", "shiftgelu", ["input"], bits((6,), 8, True), rng_range((6,), -2**14, 2**14),
                 x0=-19)
    p = rng.integers(-128, 128, (3, 6))
    assert torch.equal(module_for(gelu)(t(p)), ivit.shiftgelu(t(p), -19))


def test_build_rejects_unknown_inputs():
    x_t = bits((4,), 8)
    lay = layer("a", "flatten", ["nope"], x_t, x_t)
    with pytest.raises(ValueError, match="'nope'"):
        build(network("n", x_t, lay))
    with pytest.raises(TypeError, match="int64"):
        build(network("n", x_t, layer("a", "flatten", ["input"], x_t, x_t)))(
            torch.zeros(1, 4, dtype=torch.int32))
