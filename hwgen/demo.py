"""``hwgen demo digits``: from a trained PyTorch model to proven hardware, on sklearn's digits.

Steps per model (binary MLP, int8 MLP, ternary MLP, binary CNN, integer ViT):

1. load scikit-learn's bundled 8x8 digits (1797 images, 4-bit pixels 0..16),
   split them once (``test_size=0.3``, ``random_state=0``, stratified:
   1257 train / 540 test);
2. train a QAT model (:mod:`sw_reference.qat`) with a fixed seed, or with
   ``--pretrained`` load the float checkpoint shipped in ``examples/digits/``
   (package data ``hwgen/data/digits``);
3. export it (:func:`sw_reference.export.export_mlp`, MLPs and CNNs;
   :func:`~sw_reference.export.export_vit`, the ViT) to YAML + npz and check
   that the integer golden model (:func:`sw_reference.network.run`) predicts
   what the float model predicts on the test split (the ViT: also that the
   QAT model's integer forward equals the golden network on every layer);
4. generate the accelerator, cosimulate the whole test split under Verilator
   (:func:`sim.network.cosimulate`), require every hardware prediction to
   equal the golden one, and report accuracy, cycles per image and images/s
   at the YAML's target clock.

A model whose operators have no hardware unit yet stops after step 3 and
says which issue brings the missing unit.
"""

from __future__ import annotations

import importlib.resources
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .progress import bar

__all__ = ["MODELS", "DigitsModel", "load_split", "build_model", "train", "save_checkpoint",
           "load_checkpoint", "run_demo"]

#: the shipped checkpoints and exports: package data (the repository's examples/digits/,
#: linked into the package as data/digits/), so the demo runs from an installed wheel
EXAMPLES = Path(str(importlib.resources.files("hwgen").joinpath("data", "digits")))
SPLIT_SEED = 0
TEST_SIZE = 0.3


@dataclass(frozen=True)
class DigitsModel:
    """One demo model: its QAT architecture, input encoding, training schedule and folding."""
    key: str
    name: str                       # Verilog top / file stem
    title: str
    input: dict
    input_scale: float | None
    folding: dict
    epochs: int
    lr: float
    target: dict = field(default_factory=lambda: {"clock_mhz": 100, "device": "ecp5-25k",
                                                  "io_bits": 64})
    #: side of the square patches the image is cut into (a transformer's tokens), or 0
    patch: int = 0
    #: epochs trained with every integer unit swapped to float before the integer ones
    float_epochs: int = 0

    @property
    def binary_input(self) -> bool:
        return self.input["bits"] == 1

    def encode(self, pixels):
        """4-bit pixels ``[N, 64]`` (0..16) -> (float model input, integer hardware input).

        Both are shaped ``[N, *input["shape"]]`` (``[N, 1, 8, 8]`` for the CNN; ``[N, 16, 4]``
        for the ViT: 2x2 patches in row-major order, each patch's pixels row-major).
        """
        pixels = np.asarray(pixels, dtype=np.int64)
        if self.patch:
            p, side = self.patch, 8 // self.patch
            pixels = pixels.reshape(-1, side, p, side, p).transpose(0, 1, 3, 2, 4)
        pixels = pixels.reshape(-1, *self.input["shape"])
        if self.binary_input:                       # a pixel at least half on is +1
            x_int = np.where(pixels >= 8, 1, -1).astype(np.int64)
            return x_int.astype(np.float32), x_int
        return (pixels * self.input_scale).astype(np.float32), pixels


MODELS = {
    "binary": DigitsModel(
        "binary", "bnn_digits", "binary MLP 64-256-10 (BinaryLinear + BatchNorm + sign)",
        {"shape": [64], "bits": 1}, None, {"fc1": (16, 32), "fc2": (10, 32)}, 40, 0.01),
    "int8": DigitsModel(
        "int8", "int8_digits", "int8 MLP 64-64-10 (8-bit weights, BatchNorm, uint8 activations)",
        {"shape": [64], "bits": 5, "signed": False}, 1 / 16, {"fc1": (8, 16), "fc2": (2, 16)},
        40, 0.01),
    "ternary": DigitsModel(
        "ternary", "ternary_digits", "ternary MLP 64-128-10 (BitNet b1.58 weights, uint8 activations)",
        {"shape": [64], "bits": 5, "signed": False}, 1 / 16, {"fc1": (16, 16), "fc2": (2, 16)},
        40, 0.01),
    "cnn": DigitsModel(
        "cnn", "cnn_digits", "binary CNN 1x8x8 -conv3x3-> 32x6x6 -pool-> 32x3x3 -conv3x3 pad 1-> "
        "64x3x3 -> 10", {"shape": [1, 8, 8], "bits": 1}, None,
        {"conv1": (32, 1), "pool1": 32, "conv2": (16, 32), "fc1": (10, 32)}, 40, 0.02),
    "vit": DigitsModel(
        "vit", "vit_digits", "integer ViT: 2x2 patches -> 16 tokens x 16 + position, one encoder block "
        "(2 heads, Shiftmax, ShiftGELU, I-LayerNorm), 8-bit", {"shape": [16, 4], "bits": 5,
                                                               "signed": False},
        1 / 16, {"embed": (4, 4), "pos": 1, "ln1": 1, "q": (4, 4), "k": (4, 4), "v": (4, 4),
                 "scores": (4, 4), "attn": 2, "ctx": (4, 4), "proj": (4, 4), "res1": 1, "ln2": 1,
                 "fc1": (4, 8), "gelu": 2, "fc2": (4, 8), "res2": 1, "head": (5, 8)},
        30, 0.005, patch=2, float_epochs=8),
}


def load_split():
    """Digits as ``(x_train, x_test, y_train, y_test)``; x are int64 pixels 0..16."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    x = digits.data.astype(np.int64)
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y)


def build_model(key):
    """The QAT ``nn.Sequential`` of model ``key`` (untrained; seed the RNG before calling)."""
    from torch import nn
    from sw_reference import qat
    if key == "binary":
        return nn.Sequential(qat.BinaryLinear(64, 256), nn.BatchNorm1d(256), qat.BinaryAct(),
                             qat.BinaryLinear(256, 10), qat.Scale(0.05))
    if key == "int8":
        return nn.Sequential(qat.IntLinear(64, 64, bits=8), nn.BatchNorm1d(64), nn.ReLU(),
                             qat.ActQuant(8), qat.IntLinear(64, 10, bits=8, per_channel=False))
    if key == "ternary":
        return nn.Sequential(qat.TernaryLinear(64, 128), nn.BatchNorm1d(128), nn.ReLU(),
                             qat.ActQuant(8), qat.TernaryLinear(128, 10))
    if key == "vit":
        return qat.TinyViT(tokens=16, patch=4, dim=16, heads=2, mlp=32, classes=10,
                           input_scale=MODELS["vit"].input_scale)
    if key == "cnn":
        return nn.Sequential(
            qat.BinaryConv2d(1, 32, 3), nn.BatchNorm2d(32), qat.BinaryAct(), nn.MaxPool2d(2),
            qat.BinaryConv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), qat.BinaryAct(),
            nn.Flatten(), qat.BinaryLinear(576, 10), qat.Scale(0.05))
    raise ValueError(f"model must be one of {', '.join(MODELS)}, not {key!r}")


def _accuracy(model, x, y):
    import torch
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float(np.mean(pred == y))


def train(spec, x_train, y_train, x_test, y_test, *, seed=0, log=print):
    """Train model ``spec`` (a :class:`DigitsModel`); returns ``(model, history)``.

    Adam, batch 64, cosine learning-rate decay, fixed seed, one thread (so the
    result does not depend on the machine's core count); latent binary
    weights are clipped to [-1, 1] after each step (BinaryConnect).
    ``history`` holds per-epoch ``loss``, ``train_acc`` and ``test_acc``.
    """
    import torch
    from sw_reference.qat import INTEGER_UNITS, clip_latent_weights
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        model = build_model(spec.key)
        xf, _ = spec.encode(x_train)
        xt, _ = spec.encode(x_test)
        x = torch.from_numpy(xf)
        y = torch.from_numpy(y_train)
        optimizer = torch.optim.Adam(model.parameters(), lr=spec.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, spec.epochs)
        generator = torch.Generator().manual_seed(seed)
        history = {"loss": [], "train_acc": [], "test_acc": []}
        epochs = bar(spec.epochs, desc="    training", unit="epoch")
        for epoch in range(spec.epochs):
            model.train()
            if spec.float_epochs:
                model.set_float_units(INTEGER_UNITS if epoch < spec.float_epochs else ())
            order = torch.randperm(len(x), generator=generator)
            total = 0.0
            for start in range(0, len(x), 64):
                batch = order[start:start + 64]
                loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                clip_latent_weights(model)
                total += loss.item() * len(batch)
            schedule.step()
            history["loss"].append(total / len(x))
            history["train_acc"].append(_accuracy(model, xf, y_train))
            history["test_acc"].append(_accuracy(model, xt, y_test))
            epochs.set_postfix(loss=f"{history['loss'][-1]:.3f}",
                               test=f"{history['test_acc'][-1]:.1%}", refresh=False)
            epochs.update()
            if epochs.disable and ((epoch + 1) % 10 == 0 or epoch + 1 == spec.epochs):
                log(f"    epoch {epoch + 1:3d}/{spec.epochs}: loss {history['loss'][-1]:.3f}, "
                    f"test accuracy {history['test_acc'][-1]:.2%}")
        epochs.close()
        model.eval()
        return model, {k: np.asarray(v) for k, v in history.items()}
    finally:
        torch.set_num_threads(threads)


def save_checkpoint(path, model, history):
    """Float state dict + training history -> ``path`` (.npz, no pickles)."""
    arrays = {f"state.{k}": v.detach().numpy() for k, v in model.state_dict().items()}
    arrays.update({f"history.{k}": v for k, v in history.items()})
    with open(path, "wb") as file:
        np.savez_compressed(file, **arrays)


def load_checkpoint(spec, path):
    """``(model, history)`` from a :func:`save_checkpoint` file."""
    import torch
    with np.load(path, allow_pickle=False) as data:
        state = {k[6:]: torch.from_numpy(data[k]) for k in data.files if k.startswith("state.")}
        history = {k[8:]: data[k] for k in data.files if k.startswith("history.")}
    model = build_model(spec.key)
    model.load_state_dict(state)
    model.eval()
    return model, history


@dataclass
class DemoResult:
    """Figures of one model (accuracies on the test split; None where a step did not run)."""
    key: str
    title: str
    yaml_path: Path
    float_acc: float
    golden_acc: float
    agreement: float
    golden_pred: np.ndarray
    hardware_acc: float | None = None
    hardware_pred: np.ndarray | None = None
    mismatches: int | None = None
    cycles: float | None = None
    ideal_cycles: int | None = None
    images_per_second: float | None = None
    clock_mhz: float | None = None
    layer_cycles: dict | None = None
    missing: str | None = None
    history: dict | None = None
    integer_mismatches: int | None = None
    seconds: dict = field(default_factory=dict)


def export_model(spec, model, out_dir):
    from sw_reference.export import export_mlp, export_vit
    comment = (f"{spec.name}: {spec.title}, trained on sklearn digits by `hwgen demo digits`\n"
               f"(sw_reference.qat + sw_reference.export; split test_size={TEST_SIZE}, "
               f"random_state={SPLIT_SEED}).")
    if spec.patch:
        return export_vit(model, Path(out_dir) / f"{spec.name}.yaml", name=spec.name,
                          input=spec.input, folding=spec.folding, target=spec.target,
                          comment=comment)
    return export_mlp(model, Path(out_dir) / f"{spec.name}.yaml", name=spec.name,
                      input=spec.input, input_scale=spec.input_scale, folding=spec.folding,
                      target=spec.target, comment=comment)


def run_model(spec, *, pretrained, out_dir, count=None, backpressure=0.0, log=print,
              hardware=True):
    """Steps 2-4 of the module docstring for one model; returns a :class:`DemoResult`.

    Float and golden accuracies are over the whole test split; the hardware
    runs the first ``count`` test images (default: all), or nothing when
    ``hardware`` is false.
    """
    from hwgen.spec import load
    from sw_reference.export import check_export, check_vit_export

    x_train, x_test, y_train, y_test = load_split()
    out_dir = Path(out_dir)
    seconds = {}
    started = time.perf_counter()
    checkpoint = EXAMPLES / f"{spec.name}.float.npz"
    if pretrained:
        log(f"  loading {checkpoint}")
        model, history = load_checkpoint(spec, checkpoint)
        yaml_path = EXAMPLES / f"{spec.name}.yaml"
    else:
        log(f"  training {spec.epochs} epochs on {len(x_train)} images")
        model, history = train(spec, x_train, y_train, x_test, y_test, log=log)
        out_dir.mkdir(parents=True, exist_ok=True)
        save_checkpoint(out_dir / f"{spec.name}.float.npz", model, history)
        seconds["train"] = time.perf_counter() - started
        yaml_path = export_model(spec, model, out_dir).yaml_path
        log(f"  trained in {seconds['train']:.1f} s; exported {yaml_path} + .npz")
    xf, x_int = spec.encode(x_test)
    net = load(yaml_path)
    check = (check_vit_export if spec.patch else check_export)(model, net, xf, x_int)
    result = DemoResult(spec.key, spec.title, yaml_path, float(np.mean(check.float_pred == y_test)),
                        float(np.mean(check.golden_pred == y_test)), check.agreement,
                        check.golden_pred, history=history, seconds=seconds,
                        integer_mismatches=check.integer_mismatches)
    log(f"  float {result.float_acc:.2%}, integer golden {result.golden_acc:.2%}, "
        f"float/golden agreement {check.agreement:.2%} ({len(check.disagreements)} differ)")
    if check.integer_mismatches is not None:
        log(f"  the QAT model's integer forward equals the golden network on "
            f"{len(x_int) - check.integer_mismatches} of {len(x_int)} test images, every layer")
    if hardware:
        n = len(x_int) if count is None else count
        _cosimulate(result, net, x_int[:n], y_test[:n], out_dir, backpressure, log)
    return result


def _cosimulate(result, net, x_int, y_test, out_dir, backpressure, log):
    from hwgen.export import write_bundle
    from hwgen.network import build_network
    from sim.network import cosimulate
    started = time.perf_counter()
    try:
        design = build_network(net)
    except NotImplementedError as error:
        result.missing = str(error)
        log(f"  hardware: not built yet - {error}")
        return
    bundle = out_dir / net.name
    verilog = write_bundle(net, design, bundle)
    log(f"  generated {bundle}/{net.name}.v; cosimulating {len(x_int)} images under Verilator")
    run = cosimulate(net, x_int, design=design, verilog=verilog, backpressure=backpressure,
                     work_dir=bundle / "sim", log=lambda message: log(f"    {message}"))
    result.seconds["hardware"] = time.perf_counter() - started
    result.hardware_pred = run.got.reshape(len(run.got))
    result.hardware_acc = float(np.mean(result.hardware_pred == y_test))
    result.mismatches = run.mismatches
    result.cycles = run.steady_cycles
    result.ideal_cycles = run.ideal_cycles
    result.clock_mhz = net.target.clock_mhz
    result.images_per_second = net.target.clock_mhz * 1e6 / run.steady_cycles
    result.layer_cycles = {hw.layer.name: hw.cycles_per_sample for hw in design.layers}
    log(f"  hardware {result.hardware_acc:.2%}, {run.mismatches} of {len(run.got)} predictions "
        f"differ from golden; {run.steady_cycles:.1f} cycles/image, latency {run.latency} cycles; "
        f"cosimulated in {run.seconds:.1f} s")


def format_table(results):
    """The demo's final table (Markdown): accuracies on the test split, hardware on what it ran."""
    def pct(v):
        return "-" if v is None else f"{v:.2%}"
    header = ("model", "float acc", "golden acc", "float = golden", "hardware acc",
              "hardware = golden", "cycles/image", "images/s")
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for r in results:
        if r.hardware_pred is None:
            hw = ["no hardware yet", "-", "-", "-"]
        else:
            n = len(r.hardware_pred)
            subset = f" (first {n})" if n < len(r.golden_pred) else ""
            hw = [pct(r.hardware_acc) + subset, f"{n - r.mismatches}/{n}", f"{r.cycles:.1f}",
                  f"{r.images_per_second:,.0f} @ {r.clock_mhz:g} MHz"]
        lines.append("| " + " | ".join([r.key, pct(r.float_acc), pct(r.golden_acc),
                                         pct(r.agreement), *hw]) + " |")
    return "\n".join(lines)


def run_demo(models=tuple(MODELS), *, pretrained=False, out_dir="rtl_out/digits",
             count=None, backpressure=0.0, log=print):
    """Run every model in ``models``; returns the list of :class:`DemoResult`."""
    results = []
    for index, key in enumerate(models, 1):
        spec = MODELS[key]
        log(f"[{index}/{len(models)}] {spec.title}")
        results.append(run_model(spec, pretrained=pretrained, out_dir=out_dir, count=count,
                                 backpressure=backpressure, log=log))
    return results
