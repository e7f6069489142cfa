"""Export a QAT-trained MLP or binary CNN (:mod:`sw_reference.qat`) to an hwgen network YAML + npz.

Python API::

    from sw_reference.export import export_mlp, check_export
    result = export_mlp(model, "out/net.yaml", name="bnn_digits",
                        input={"shape": [64], "bits": 1}, folding={"fc1": (16, 32)})
    report = check_export(model, result.yaml_path, x_float, x_int)   # golden vs float predictions
    print(report.agreement)                                         # 1.0 = every prediction equal

``model`` is an ``nn.Sequential`` read left to right as layers: a linear
module (:class:`~sw_reference.qat.BinaryLinear`,
:class:`~sw_reference.qat.TernaryLinear`, :class:`~sw_reference.qat.IntLinear`),
then optionally ``nn.BatchNorm1d``, then optionally an activation
(:class:`~sw_reference.qat.BinaryAct`, or :class:`~sw_reference.qat.ActQuant`
with an optional ``nn.ReLU`` before an unsigned one). The last linear layer
has no activation (an optional :class:`~sw_reference.qat.Scale` may follow);
the exporter appends ``argmax``. Layers are named ``fc1``, ``fc2``, ...

A binary CNN (``input`` shape ``[C, H, W]``, ``bits: 1``) may also hold
:class:`~sw_reference.qat.BinaryConv2d` (+ ``nn.BatchNorm2d`` + ``BinaryAct``)
-> ``binary_conv2d`` ``conv1``, ``conv2``, ... (folded exactly as a binary
dense layer, per output channel, over the sums ``[-C*k*k, C*k*k]``);
``nn.MaxPool2d(k)`` -> ``maxpool2d`` ``pool1``, ...; ``nn.Flatten`` ->
``flatten`` ``flat1``. Weights keep torch's layout (``[OC, C, k, k]``; the
dense layer after a flatten keeps torch's NCHW column order, which the
hardware permutes itself). ``folding`` takes ``(pe, simd)`` per conv/dense
layer and ``pe`` per pool.

How float parameters become integers
------------------------------------
* **Binary layer + BatchNorm + sign** -> ``binary_dense`` / ``binary_conv2d`` with an inline
  1-bit ``threshold``. The integer pre-activation ``s`` lies in ``[-K, K]``,
  so the exporter evaluates the model's own BatchNorm (eval mode, float32,
  the very arithmetic of the trained model) on every integer of ``[-K, K]``
  and reads off where its sign flips: exact by construction, whatever the
  rounding. A channel that is +1 for ``s >= T`` gets threshold ``T``; one
  that is +1 for ``s <= T`` (negative gamma) gets its weight row negated and
  threshold ``-T``; a constant channel (gamma == 0) gets ``-K`` (always +1)
  or ``K + 1`` (always -1).
* **Integer/ternary layer (+ BatchNorm) + ActQuant** -> ``dense`` with an
  inline per-channel ``requant``. The float output is the affine map
  ``y = A[c] * acc + B[c]`` of the integer accumulator
  (``A = in_scale * w_scale[c] * g[c]``, ``g = gamma / sqrt(var + eps)``,
  ``B = (bias - mean) * g + beta``), and the quantizer computes
  ``clamp(floor(y / r + 1/2), lo, hi)``. Hence integer bias
  ``round(B / A)`` and dyadic ``(m, s)`` of ``|A| / r`` (HAWQ-V3
  ``batch_frexp``, :func:`sw_reference.ivit.dyadic_from_float`); ``A < 0``
  negates the channel's weights, ``A == 0`` zeroes them and makes the bias
  the constant output code (``m = 2**30, s = 30`` is the identity).
* **Last integer layer** -> ``dense`` with bias ``round(bias / A)``; its
  weight scale must be per tensor (one ``A``) so that argmax sees the float
  model's order.

The binary path is exact (:func:`check_export` reports 100 % agreement).
The integer path differs from the float model only where a value lands
within float rounding of a half-way point: the bias is rounded to the
accumulator's step and the rescale ratio to 31 bits.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from hwgen.ops import (add, add_const, argmax, binary_conv2d, binary_dense, dense, flatten, layernorm, matmul,
                       maxpool2d, requant, shiftgelu, shiftmax, threshold)

from . import qat
from .ivit import dyadic_from_float, x0_from_scale
from .qat import ActQuant, BinaryAct, BinaryConv2d, BinaryLinear, IntLinear, Scale, TernaryLinear

__all__ = ["ExportResult", "ExportCheck", "export_mlp", "check_export", "fold_sign_thresholds",
           "fold_requant", "export_vit", "check_vit_export"]

_LINEAR = (BinaryLinear, TernaryLinear, IntLinear)
_IDENTITY_DYADIC = (1 << 30, 30)


@dataclass
class ExportResult:
    """Where the export went and what it contains (``layers``: the YAML layer entries)."""
    yaml_path: Path
    npz_path: Path
    layers: list
    arrays: dict = field(repr=False)


@dataclass
class ExportCheck:
    """Float-model vs integer-golden predictions on the same samples.

    ``integer_mismatches`` (transformers, :func:`check_vit_export`): samples on which some
    layer of the QAT model's integer forward differs from the golden network's.
    """
    float_pred: np.ndarray
    golden_pred: np.ndarray
    integer_mismatches: int | None = None

    @property
    def agreement(self) -> float:
        return float(np.mean(self.float_pred == self.golden_pred))

    @property
    def disagreements(self) -> np.ndarray:
        return np.flatnonzero(self.float_pred != self.golden_pred)


def _round_half_up(x):
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def fold_sign_thresholds(weight, batchnorm, fan_in):
    """Fold ``sign(BN(s))`` into thresholds on the integer sum ``s`` in ``[-fan_in, fan_in]``.

    Returns ``(weight, thresholds [C, 1])`` with rows of ``weight`` (``[C, K]``
    or conv kernels ``[C, C_in, k, k]``) negated where the output is +1 for
    small ``s`` (negative gamma). ``batchnorm`` is an ``nn.BatchNorm1d``, an
    ``nn.BatchNorm2d`` (evaluated on a feature map, as in a CNN) or None
    (plain sign: threshold 0). See the module docstring.
    """
    weight = np.array(weight, dtype=np.int64)
    channels = weight.shape[0]
    s = torch.arange(-fan_in, fan_in + 1, dtype=torch.float32)
    if batchnorm is None:
        return weight, np.zeros((channels, 1), dtype=np.int64)
    was_training = batchnorm.training
    batchnorm.eval()
    with torch.no_grad():
        if isinstance(batchnorm, nn.BatchNorm2d):   # one [C, 2K+1, 1] feature map
            fmap = s[None, None, :, None].expand(1, channels, -1, 1).contiguous()
            plus = (batchnorm(fmap) >= 0)[0, :, :, 0].T.numpy()
        else:
            plus = (batchnorm(s[:, None].expand(-1, channels).contiguous()) >= 0).numpy()
    batchnorm.train(was_training)                    # plus: [2K+1, C]
    values = s.numpy().astype(np.int64)
    thresholds = np.empty((channels, 1), dtype=np.int64)
    for c in range(channels):
        column = plus[:, c]
        if column.all():
            thresholds[c] = -fan_in
        elif not column.any():
            thresholds[c] = fan_in + 1
        elif not np.diff(column.astype(np.int8)).min() < 0:     # off ... off on ... on
            thresholds[c] = values[np.argmax(column)]
        elif not np.diff(column.astype(np.int8)).max() > 0:     # on ... on off ... off
            last_on = values[len(column) - 1 - np.argmax(column[::-1])]
            weight[c] = -weight[c]                               # s <= t  <=>  -s >= -t
            thresholds[c] = -last_on
        else:
            raise ValueError(f"channel {c}: sign(BatchNorm(s)) is not monotonic in s; "
                             f"cannot fold it into one threshold")
    return weight, thresholds


def fold_requant(weight, acc_scale, bias, batchnorm, out_scale):
    """Fold (bias, BatchNorm, quantizer step) into integer bias + per-channel dyadic rescale.

    ``weight`` int64 ``[C, K]``; ``acc_scale`` ``[C]`` real value of one
    accumulator step; ``bias`` float ``[C]`` or None; ``out_scale`` the
    quantizer's step ``r``. Returns ``(weight, bias_int, multiplier, shift)``.
    """
    weight = np.array(weight, dtype=np.int64)
    a = np.broadcast_to(np.asarray(acc_scale, dtype=np.float64), (weight.shape[0],)).copy()
    b = np.zeros_like(a) if bias is None else np.asarray(bias, dtype=np.float64).copy()
    if batchnorm is not None:
        g = (batchnorm.weight.detach().double() /
             torch.sqrt(batchnorm.running_var.double() + batchnorm.eps)).numpy()
        b = (b - batchnorm.running_mean.double().numpy()) * g + batchnorm.bias.detach().double().numpy()
        a = a * g
    bias_int = np.zeros(len(a), dtype=np.int64)
    multiplier = np.zeros(len(a), dtype=np.int64)
    shift = np.zeros(len(a), dtype=np.int64)
    for c in range(len(a)):
        if a[c] == 0 or abs(a[c]) / out_scale < 2.0 ** -33:      # constant channel (gamma == 0)
            weight[c] = 0
            bias_int[c] = _round_half_up(b[c] / out_scale)
            multiplier[c], shift[c] = _IDENTITY_DYADIC
            continue
        if a[c] < 0:
            weight[c] = -weight[c]
        bias_int[c] = _round_half_up(b[c] / abs(a[c]))
        try:
            multiplier[c], shift[c] = dyadic_from_float(abs(a[c]) / out_scale)
        except ValueError as error:
            raise ValueError(f"channel {c}: rescale ratio {abs(a[c]) / out_scale!r} does not fit "
                             f"a dyadic multiplier ({error})") from None
    return weight, bias_int, multiplier, shift


def _check_int32(name, values):
    values = np.asarray(values)
    if values.size and (values.min() < -(1 << 31) or values.max() >= 1 << 31):
        raise ValueError(f"{name} does not fit int32 (range [{values.min()}, {values.max()}]); "
                         f"the weights or activation range are too small for the bias")


_POOL_FLATTEN = (nn.MaxPool2d, nn.Flatten)


def _split_layers(model):
    """``nn.Sequential`` -> [(module, batchnorm | None, activation | None)].

    ``module`` is a linear layer, a :class:`BinaryConv2d`, an ``nn.MaxPool2d``
    or an ``nn.Flatten`` (the last two never take a BatchNorm or activation).
    """
    modules = [m for m in model if not isinstance(m, (nn.Identity, nn.Dropout))]
    layers, i = [], 0
    while i < len(modules):
        layer = modules[i]
        if isinstance(layer, _POOL_FLATTEN):
            layers.append((layer, None, None))
            i += 1
            continue
        if not isinstance(layer, (*_LINEAR, BinaryConv2d)):
            raise TypeError(f"module {i} must be BinaryLinear, TernaryLinear, IntLinear, "
                            f"BinaryConv2d, MaxPool2d or Flatten, not {type(layer).__name__}")
        i += 1
        bn = act = None
        norm = nn.BatchNorm2d if isinstance(layer, BinaryConv2d) else nn.BatchNorm1d
        if i < len(modules) and isinstance(modules[i], (nn.BatchNorm1d, nn.BatchNorm2d)):
            if not isinstance(modules[i], norm):
                raise TypeError(f"module {i}: {type(layer).__name__} takes {norm.__name__}, "
                                f"not {type(modules[i]).__name__}")
            bn, i = modules[i], i + 1
        if i < len(modules) and isinstance(modules[i], nn.ReLU):
            if not (i + 1 < len(modules) and isinstance(modules[i + 1], ActQuant)
                    and not modules[i + 1].signed):
                raise TypeError(f"module {i}: nn.ReLU must be followed by an unsigned ActQuant")
            i += 1
        if i < len(modules) and isinstance(modules[i], (BinaryAct, ActQuant)):
            act, i = modules[i], i + 1
        elif i < len(modules) and isinstance(modules[i], Scale):
            if i + 1 != len(modules):
                raise TypeError(f"module {i}: Scale may only follow the last linear layer")
            i += 1
        layers.append((layer, bn, act))
    if not layers:
        raise ValueError("model has no layers")
    if not isinstance(layers[-1][0], _LINEAR):
        raise TypeError("the last layer must be a linear layer (its scores feed argmax), "
                        f"not {type(layers[-1][0]).__name__}")
    if layers[-1][2] is not None:
        raise TypeError("the last linear layer must have no activation (its scores feed argmax)")
    if layers[-1][1] is not None:
        raise TypeError("the last linear layer must have no BatchNorm (a per-class affine map "
                        "would change argmax)")
    return layers


def _default_fold(n, limit):
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)


def _binary_entry(entry, weight, bn, act, fan_in, binary_in, arrays):
    """Binary layer (dense or conv) + optional BatchNorm + sign -> ``entry`` / ``arrays``."""
    name = entry["name"]
    if not binary_in:
        raise NotImplementedError(f"{name}: a binary layer needs -1/+1 inputs (a BinaryAct "
                                  f"before it, or a 1-bit network input)")
    if act is None and bn is not None:
        raise TypeError(f"{name}: BatchNorm after a binary layer must feed a BinaryAct")
    if isinstance(act, ActQuant):
        raise NotImplementedError(f"{name}: a binary layer followed by ActQuant is not "
                                  f"exported; use BinaryAct or an IntLinear")
    if isinstance(act, BinaryAct):
        weight, thresholds = fold_sign_thresholds(weight, bn, fan_in)
        arrays[f"{name}.act.thresholds"] = thresholds
        entry["activation"] = {"op": threshold.OP.name, "bits": 1}
    arrays[f"{name}.weight"] = weight.astype(np.int8)


def _conv_entry(name, conv, shape, folding):
    """YAML entry and output shape ``[C, H, W]`` of a :class:`BinaryConv2d` on ``shape``."""
    if len(shape) != 3 or shape[0] != conv.in_channels:
        raise ValueError(f"{name}: BinaryConv2d({conv.in_channels}, ...) needs a "
                         f"[{conv.in_channels}, H, W] input, not {list(shape)}")
    k, stride, padding = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    c, h, w = shape
    out = [conv.out_channels, (h + 2 * padding - k) // stride + 1,
           (w + 2 * padding - k) // stride + 1]
    pe, simd = folding.get(name, (_default_fold(out[0], 16), _default_fold(c, 32)))
    entry = {"name": name, "op": binary_conv2d.OP.name, "out_channels": out[0], "kernel_size": k}
    entry.update({"stride": stride} if stride != 1 else {})
    entry.update({"padding": padding} if padding else {})
    entry.update({"pe": pe, "simd": simd})
    return entry, out


def _pool_entry(name, pool, shape, folding):
    """YAML entry and output shape of an ``nn.MaxPool2d`` (k x k, stride k, floor mode)."""
    def pair(value):
        return tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    k = pair(pool.kernel_size)[0]
    if (len(shape) != 3 or pair(pool.kernel_size) != (k, k) or pair(pool.stride) != (k, k)
            or pair(pool.padding) != (0, 0) or pair(pool.dilation) != (1, 1) or pool.ceil_mode
            or pool.return_indices):
        raise NotImplementedError(f"{name}: only MaxPool2d(k) (square, stride k, no padding, "
                                  f"floor mode) on a [C, H, W] feature map is exported, "
                                  f"not {pool} on {list(shape)}")
    if shape[1] % k or shape[2] % k:
        raise NotImplementedError(f"{name}: kernel_size {k} must divide the feature map "
                                  f"{shape[1]}x{shape[2]} (hwgen's maxpool2d drops nothing)")
    pe = folding.get(name, _default_fold(shape[0], 16))
    return ({"name": name, "op": maxpool2d.OP.name, "kernel_size": k, "pe": pe},
            [shape[0], shape[1] // k, shape[2] // k])


def _layer_entries(model, input, input_scale, folding):
    """Integer parameters and YAML entries for every layer of ``model``."""
    binary_in = input.get("bits") == 1
    scale = 1.0 if binary_in else float(input_scale)
    shape = list(input["shape"])
    arrays, entries, count = {}, [], {}

    def next_name(prefix):
        count[prefix] = count.get(prefix, 0) + 1
        return f"{prefix}{count[prefix]}"

    for layer, bn, act in _split_layers(model):
        if isinstance(layer, nn.Flatten):
            if len(shape) > 1:
                entries.append({"name": next_name("flat"), "op": flatten.OP.name})
                shape = [int(np.prod(shape))]
            continue
        if isinstance(layer, nn.MaxPool2d):
            entry, shape = _pool_entry(next_name("pool"), layer, shape, folding)
            entries.append(entry)
            continue
        if isinstance(layer, BinaryConv2d):
            entry, shape = _conv_entry(next_name("conv"), layer, shape, folding)
            fan_in = layer.in_channels * layer.kernel_size[0] ** 2
            _binary_entry(entry, layer.quantized_weight().numpy(), bn, act, fan_in, binary_in,
                          arrays)
            binary_in = isinstance(act, BinaryAct)
            entries.append(entry)
            continue
        linear = layer
        name = next_name("fc")
        fan_in, out = linear.in_features, linear.out_features
        if shape != [fan_in]:
            raise ValueError(f"{name}: {type(linear).__name__}({fan_in}, ...) needs a [{fan_in}] "
                             f"input, not {shape} (flatten a feature map with nn.Flatten)")
        shape = [out]
        pe, simd = folding.get(name, (_default_fold(out, 16), _default_fold(fan_in, 32)))
        entry = {"name": name, "op": None, "out_features": out, "pe": pe, "simd": simd}
        weight = linear.quantized_weight().numpy()
        if isinstance(linear, BinaryLinear):
            entry["op"] = binary_dense.OP.name
            _binary_entry(entry, weight, bn, act, fan_in, binary_in, arrays)
        else:
            entry["op"] = dense.OP.name
            if isinstance(linear, TernaryLinear):
                entry["weight_type"] = "ternary"
            else:
                entry["weight_bits"] = linear.bits
            acc_scale = scale * linear.weight_scale().double().numpy()
            bias = None if linear.bias is None else linear.bias.detach().double().numpy()
            if act is None:
                if np.ptp(np.broadcast_to(acc_scale, (out,))) != 0:
                    raise TypeError(f"{name}: the last layer needs one weight scale "
                                    f"(IntLinear(per_channel=False) or TernaryLinear)")
                if bias is not None:
                    bias_int = _round_half_up(bias / float(np.ravel(acc_scale)[0]))
                    _check_int32(f"{name}.bias", bias_int)
                    arrays[f"{name}.bias"] = bias_int
                    entry["bias"] = True
            elif isinstance(act, ActQuant):
                weight, bias_int, m, s = fold_requant(weight, acc_scale, bias, bn, act.scale)
                _check_int32(f"{name}.bias", bias_int)
                arrays[f"{name}.bias"] = bias_int
                arrays[f"{name}.act.multiplier"] = m
                arrays[f"{name}.act.shift"] = s
                entry["bias"] = True
                entry["activation"] = {"op": requant.OP.name, "bits": act.bits, "signed": act.signed,
                                       "per_channel": True}
                scale = act.scale
            else:
                raise NotImplementedError(f"{name}: an integer layer followed by {type(act).__name__} "
                                          f"is not exported (use ActQuant)")
            arrays[f"{name}.weight"] = weight.astype(np.int8)
        binary_in = isinstance(act, BinaryAct)
        entries.append(entry)
    entries.append({"name": "top1", "op": argmax.OP.name})
    return entries, arrays


def _dump_yaml(name, input, target, weights_name, entries, comment):
    def flow(value):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=200).strip()
    lines = [f"# {line}".rstrip() for line in comment.splitlines()] if comment else []
    lines += [f"name: {name}", f"input: {flow(input)}", f"weights: {weights_name}"]
    if target:
        lines.append(f"target: {flow(target)}")
    lines.append("layers:")
    lines += [f"  - {flow(entry)}" for entry in entries]
    return "\n".join(lines) + "\n"


def _atomic_write(path, write):
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(temp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)      # mkstemp creates 0600; a plain file is 0666 - umask
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def export_mlp(model, yaml_path, *, name, input, input_scale=None, folding=None, target=None,
               comment="") -> ExportResult:
    """Write ``model`` as ``yaml_path`` + ``<stem>.npz`` beside it (see the module docstring).

    Parameters
    ----------
    model : nn.Sequential of sw_reference.qat modules (+ BatchNorm1d/2d, ReLU, MaxPool2d,
        Flatten, Scale)
    yaml_path : path of the network YAML to write; the npz goes next to it
    name : Verilog top module name
    input : the YAML ``input`` mapping, e.g. ``{"shape": [64], "bits": 1}``
    input_scale : real value of one input integer step (integer inputs only)
    folding : ``{"fc1": (pe, simd), "pool1": pe, ...}``; default: largest divisors <= 16 of
        the output channels / <= 32 of the input elements (conv: input channels)
    target : the YAML ``target`` mapping, or None
    comment : header comment lines

    Both files are written under temporary names and renamed.
    """
    yaml_path = Path(yaml_path)
    if input.get("bits") != 1 and input_scale is None:
        raise ValueError("input_scale must be given for an integer network input")
    was_training = model.training
    model.eval()
    try:
        entries, arrays = _layer_entries(model, input, input_scale, folding or {})
    finally:
        model.train(was_training)
    return _write_export(yaml_path, name, input, target, entries, arrays, comment)


def check_export(model, spec, x_float, x_int) -> ExportCheck:
    """Predictions of ``model`` on ``x_float`` vs the golden model of ``spec`` on ``x_int``.

    ``spec`` is a loaded :class:`hwgen.spec.NetworkSpec` or a YAML path.
    """
    from .network import run
    if isinstance(spec, (str, Path)):
        from hwgen.spec import load
        spec = load(spec)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        float_pred = model(torch.as_tensor(x_float, dtype=torch.float32)).argmax(dim=1).numpy()
    model.train(was_training)
    golden = run(spec, np.asarray(x_int, dtype=np.int64))
    return ExportCheck(float_pred.astype(np.int64), golden.reshape(len(golden)))


# -- the integer ViT (sw_reference.qat.TinyViT) ---------------------------------------------------

_REQUANT8 = {"op": requant.OP.name, "bits": 8}


def _vit_entry(name, module, scales, inputs, folding, arrays):
    """YAML entry of one :class:`~sw_reference.qat.TinyViT` layer; its integers into ``arrays``.

    ``scales``: the scale of every tensor of the model's integer forward; ``inputs``: the
    tensors this layer reads. The integers are the module's own ``int_params``, the very
    numbers its forward pass uses.
    """
    fold = folding.get(name)
    in_scales = [scales[i] for i in inputs]
    if isinstance(module, qat.QDense):
        p = module.int_params(in_scales[0])
        out, k = p["weight"].shape
        pe, simd = fold or (_default_fold(out, 4), _default_fold(k, 8))
        entry = {"name": name, "op": dense.OP.name, "out_features": out, "weight_bits":
                 module.linear.bits, "bias": True, "pe": pe, "simd": simd}
        arrays[f"{name}.weight"] = p["weight"].astype(np.int8)
        arrays[f"{name}.bias"] = p["bias"]
        if module.out is not None:
            entry["activation"] = {**_REQUANT8, "per_channel": True}
            arrays[f"{name}.act.multiplier"], arrays[f"{name}.act.shift"] = p["multiplier"], p["shift"]
        return entry
    if isinstance(module, qat.QPosition):
        p = module.int_params(in_scales[0])
        arrays[f"{name}.values"] = p["values"]
        arrays[f"{name}.act.multiplier"], arrays[f"{name}.act.shift"] = p["multiplier"], p["shift"]
        return {"name": name, "op": add_const.OP.name, "pe": fold or 1,
                "activation": {**_REQUANT8, "per_channel": True}}
    if isinstance(module, qat.QLayerNorm):
        p = module.int_params()
        arrays[f"{name}.bias"] = p["bias"]
        arrays[f"{name}.act.multiplier"], arrays[f"{name}.act.shift"] = p["multiplier"], p["shift"]
        return {"name": name, "op": layernorm.OP.name, "sqrt": "exact", "bias": True,
                "pe": fold or _default_fold(module.channels, 4),
                "activation": {**_REQUANT8, "per_channel": True}}
    if isinstance(module, qat.QMatMul):
        p = module.int_params(*in_scales)
        arrays[f"{name}.act.multiplier"], arrays[f"{name}.act.shift"] = p["multiplier"], p["shift"]
        pe, simd = fold or (1, 1)
        entry = {"name": name, "op": matmul.OP.name}
        entry.update({"transpose_b": True} if module.transpose_b else {})
        entry.update({"heads": module.heads, "pe": pe, "simd": simd, "activation": dict(_REQUANT8)})
        return entry
    if isinstance(module, qat.QShiftmax):
        return {"name": name, "op": shiftmax.OP.name, "x0": x0_from_scale(in_scales[0]),
                "out_bits": module.out_bits, "heads": module.heads, "pe": fold or 1}
    if isinstance(module, qat.QShiftGELU):
        p = module.int_params(in_scales[0])
        arrays[f"{name}.act.multiplier"], arrays[f"{name}.act.shift"] = p["multiplier"], p["shift"]
        return {"name": name, "op": shiftgelu.OP.name, "x0": p["x0"], "pe": fold or 1,
                "activation": dict(_REQUANT8)}
    if isinstance(module, qat.QAdd):
        p = module.int_params(*in_scales)
        arrays[f"{name}.multiplier"], arrays[f"{name}.shift"] = p["multiplier"], p["shift"]
        return {"name": name, "op": add.OP.name, "bits": 8, "pe": fold or 1}
    if isinstance(module, qat.QFlatten):
        return {"name": name, "op": flatten.OP.name}
    raise TypeError(f"{name}: no export for {type(module).__name__}")


def _vit_scales(model):
    """Scale of every tensor of ``model``'s integer forward (eval mode, from one blank image)."""
    units = model.float_units
    model.set_float_units(())
    try:
        with torch.no_grad():
            t = model.forward_all(torch.zeros(1, model.tokens, model.patch))
    finally:
        model.set_float_units(units)
    return {name: q.scale for name, q in t.items()}


def export_vit(model, yaml_path, *, name, input, folding=None, target=None,
               comment="") -> ExportResult:
    """Write a :class:`~sw_reference.qat.TinyViT` as ``yaml_path`` + ``<stem>.npz`` beside it.

    Layers are the model's (``TinyViT.GRAPH``: ``inputs: [a, b]`` where a layer does not read
    the one before it), then ``argmax``. ``folding`` takes ``(pe, simd)`` per dense/matmul
    layer and ``pe`` per row op and add; the defaults keep the hardware small (PE <= 4,
    SIMD <= 8, row ops 1 element per cycle). Both files are written under temporary names and
    renamed.
    """
    if not isinstance(model, qat.TinyViT):
        raise TypeError(f"model must be a sw_reference.qat.TinyViT, not {type(model).__name__}")
    yaml_path = Path(yaml_path)
    was_training = model.training
    model.eval()
    try:
        scales = _vit_scales(model)
        entries, arrays, previous = [], {}, "input"
        for layer, inputs in model.GRAPH:
            entry = _vit_entry(layer, getattr(model, layer), scales, inputs, folding or {},
                               arrays)
            if inputs != (previous,):
                entry = {"name": layer, "op": entry["op"], "inputs": list(inputs),
                         **{k: v for k, v in entry.items() if k not in ("name", "op")}}
            entries.append(entry)
            previous = layer
    finally:
        model.train(was_training)
    entries.append({"name": "top1", "op": argmax.OP.name})
    for key, value in arrays.items():
        if key.endswith(".bias"):
            _check_int32(key, value)
    return _write_export(yaml_path, name, input, target, entries, arrays, comment)


def check_vit_export(model, spec, x_float, x_int, float_units=qat.INTEGER_UNITS) -> ExportCheck:
    """The golden network of ``spec`` against a :class:`~sw_reference.qat.TinyViT`.

    ``float_pred``: the model with ``float_units`` swapped to float (default: all of them,
    the float model); ``golden_pred``: the golden network. ``integer_mismatches``: samples on
    which any layer of the model's integer forward (every unit integer) differs from the
    golden network's tensor of the same name.
    """
    from .network import build
    if isinstance(spec, (str, Path)):
        from hwgen.spec import load
        spec = load(spec)
    x = torch.as_tensor(x_float, dtype=torch.float32)
    was_training, units = model.training, model.float_units
    model.eval()
    try:
        with torch.no_grad():
            model.set_float_units(float_units)
            float_pred = model(x).argmax(dim=1).numpy()
            model.set_float_units(())
            mine = model.forward_all(x)
            gold = build(spec).forward_all(torch.from_numpy(np.asarray(x_int, dtype=np.int64)))
    finally:
        model.set_float_units(units)
        model.train(was_training)
    differs = torch.zeros(len(x), dtype=torch.bool)
    for layer, _ in model.GRAPH:
        differs |= (mine[layer].code != gold[layer]).reshape(len(x), -1).any(dim=1)
    golden_pred = gold["top1"].numpy().reshape(len(x))
    return ExportCheck(float_pred.astype(np.int64), golden_pred, int(differs.sum()))


def _write_export(yaml_path, name, input, target, entries, arrays, comment):
    """Write the YAML and its npz beside it, each atomically (an old pair is never half-replaced)."""
    yaml_path.parent.mkdir(parents=True, exist_ok=True)
    npz_path = yaml_path.with_suffix(".npz")
    text = _dump_yaml(name, input, target, npz_path.name, entries, comment)

    def save(temp):
        with open(temp, "wb") as file:
            np.savez_compressed(file, **arrays)
    _atomic_write(npz_path, save)
    _atomic_write(yaml_path, lambda temp: Path(temp).write_text(text))
    return ExportResult(yaml_path, npz_path, entries, arrays)
