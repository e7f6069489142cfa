"""Brevitas models for the ``hwgen import`` tests, trained briefly on sklearn's digits.

Every model takes pixels ``x / 16`` (digits are 0..16, so the hardware input is
the 5-bit integer pixel and ``--input-scale 0.0625``) and is built from
Brevitas' own layers and quantizers, as a FINN user would:

========== ==================================================================
fc_w1a1    FINN's FC class (brevitas_examples.bnn_pynq), 1-bit weights and activations
fc_w1a2    the same with 2-bit activations ({-1, 0, +1})
fc_w2a2    2-bit weights ({-1, 0, +1}) and activations
int8_mlp   QuantLinear with per-channel float weight scales, Int32 bias, unsigned 8-bit QuantReLU
po2_mlp    4-bit weights and activations with power-of-two (fixed-point) scales
bnn_cnn    binary conv -> BatchNorm -> sign -> maxpool -> conv -> flatten -> linear + TensorNorm
cnv        FINN's CNV class (W1A1) on 3x32x32 inputs (digits scaled up 4x, three channels)
========== ==================================================================

``trained(key)`` trains once per process (a few seconds each; CNV only
calibrates its BatchNorm statistics, as its 1.5 M weights would take minutes
to train) and caches the result; ``export(key, path, dynamo)`` writes QONNX.
"""

import functools

import numpy as np
import torch
from torch import nn

__all__ = ["MODELS", "INPUT_BITS", "INPUT_SCALE", "digits", "build", "trained", "export",
           "float_input"]

MODELS = ("fc_w1a1", "fc_w1a2", "fc_w2a2", "int8_mlp", "po2_mlp", "bnn_cnn", "cnv")
#: the hardware input: 5-bit unsigned pixels 0..16, float value pixel / 16
INPUT_BITS, INPUT_SCALE = 5, 0.0625


@functools.cache
def digits():
    """``(x_train, x_test, y_train, y_test)``: int64 pixels [N, 64], hwgen's demo split (540 test)."""
    from hwgen.demo import load_split
    return tuple(np.ascontiguousarray(a) for a in load_split())


def shaped(key, pixels):
    """Integer pixels [N, 64] in the model's input layout."""
    if key == "bnn_cnn":
        return pixels.reshape(-1, 1, 8, 8)
    if key == "cnv":
        up = np.kron(pixels.reshape(-1, 1, 8, 8), np.ones((1, 1, 4, 4), dtype=pixels.dtype))
        return np.repeat(up, 3, axis=1)
    return pixels


def float_input(q):
    """The model's float input for hardware integers ``q``: float32(q * INPUT_SCALE)."""
    return (np.asarray(q, dtype=np.float64) * INPUT_SCALE).astype(np.float32)


class _Sequential(nn.Module):
    """Brevitas layers in order, after FINN's ``2x - 1`` input preprocessing."""

    def __init__(self, *layers, preprocess=True):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.preprocess = preprocess

    def forward(self, x):
        if self.preprocess:
            x = 2.0 * x - torch.tensor([1.0])
        for layer in self.layers:
            x = layer(x)
        return x


def build(key):
    """The untrained model ``key`` (seeded)."""
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerChannelFloat,
                                Int8WeightPerTensorFixedPoint, Int32Bias,
                                Uint8ActPerTensorFixedPoint, Uint8ActPerTensorFloat)
    from brevitas_examples.bnn_pynq.models.CNV import CNV
    from brevitas_examples.bnn_pynq.models.common import CommonActQuant, CommonWeightQuant
    from brevitas_examples.bnn_pynq.models.FC import FC
    from brevitas_examples.bnn_pynq.models.tensor_norm import TensorNorm

    torch.manual_seed(0)
    if key.startswith("fc_"):
        w, a = int(key[4]), int(key[6])
        return FC(num_classes=10, weight_bit_width=w, act_bit_width=a, in_bit_width=8,
                  in_channels=1, out_features=[64, 64], in_features=(8, 8))
    if key == "int8_mlp":
        return _Sequential(
            QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
            QuantLinear(64, 64, bias=True, weight_quant=Int8WeightPerChannelFloat,
                        bias_quant=Int32Bias),
            QuantReLU(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True),
            QuantLinear(64, 32, bias=True, weight_quant=Int8WeightPerChannelFloat,
                        bias_quant=Int32Bias),
            QuantReLU(act_quant=Uint8ActPerTensorFloat, return_quant_tensor=True),
            QuantLinear(32, 10, bias=True, weight_quant=Int8WeightPerChannelFloat,
                        bias_quant=Int32Bias),
            preprocess=False)
    if key == "po2_mlp":
        return _Sequential(
            QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, return_quant_tensor=True),
            QuantLinear(64, 48, bias=False, weight_quant=Int8WeightPerTensorFixedPoint,
                        weight_bit_width=4),
            nn.BatchNorm1d(48),
            QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=4),
            QuantLinear(48, 10, bias=False, weight_quant=Int8WeightPerTensorFixedPoint,
                        weight_bit_width=4),
            preprocess=False)
    if key == "bnn_cnn":
        return _Sequential(
            QuantIdentity(act_quant=CommonActQuant, bit_width=8),
            QuantConv2d(1, 16, 3, bias=False, weight_quant=CommonWeightQuant, weight_bit_width=1),
            nn.BatchNorm2d(16),
            QuantIdentity(act_quant=CommonActQuant, bit_width=1),
            nn.MaxPool2d(2),
            QuantConv2d(16, 32, 2, bias=False, weight_quant=CommonWeightQuant, weight_bit_width=1),
            nn.BatchNorm2d(32),
            QuantIdentity(act_quant=CommonActQuant, bit_width=1),
            nn.Flatten(),
            QuantLinear(32 * 2 * 2, 10, bias=False, weight_quant=CommonWeightQuant,
                        weight_bit_width=1),
            TensorNorm())
    if key == "cnv":
        return CNV(num_classes=10, weight_bit_width=1, act_bit_width=1, in_bit_width=8, in_ch=3)
    raise KeyError(key)


@functools.cache
def trained(key, epochs=None):
    """Model ``key`` after a short training on the digits train split (cached per process)."""
    x_train, _, y_train, _ = digits()
    model = build(key)
    x = torch.from_numpy(float_input(shaped(key, x_train)))
    y = torch.from_numpy(y_train)
    generator = torch.Generator().manual_seed(0)
    if key == "cnv":
        # Calibrate BatchNorm on the data (train mode, no gradient steps): weights stay random.
        model.train()
        with torch.no_grad():
            for batch in torch.randperm(len(x), generator=generator)[:512].split(128):
                model(x[batch])
        return model.eval()
    epochs = epochs or 4
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(128):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimiser.step()
            if hasattr(model, "clip_weights"):
                model.clip_weights(-1, 1)
    return model.eval()


def export(key, path, dynamo=True):
    """Export the trained model ``key`` to QONNX at ``path`` (dynamo: Gemm; TorchScript: MatMul)."""
    from brevitas.export import export_qonnx
    model = trained(key)
    example = torch.from_numpy(float_input(shaped(key, digits()[1][:1])))
    if dynamo:
        export_qonnx(model, example, str(path))
    else:
        export_qonnx(model, example, str(path), dynamo=False)
    return path
