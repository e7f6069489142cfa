"""Resource model (`hwgen.plan`): every unit of a binary or integer network has a calibrated
estimate, and `--fold auto --max-lut N` picks a valid folding under the budget that
cosimulates bit-exact."""

import re
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import unsigned

from hwgen import plan
from hwgen.cli import main
from hwgen.network import build_network
from hwgen.spec import load
from hwgen.units.mvau_int import IntegerMVAU

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# (network, two LUT budgets): both above the fully folded design's estimate
BUDGETS = {"tiny_bnn": (2000, 6000), "int8_mlp": (4000, 8000)}


@pytest.mark.parametrize("name", ["tiny_bnn", "int8_mlp", "ternary_mlp", "lfc"])
@pytest.mark.parametrize("family", ["ecp5", "xilinx"])
def test_every_unit_of_binary_and_integer_networks_has_an_estimate(name, family):
    if any(family not in plan._coefficients().get(model, {}) for model in plan.MODELS):
        pytest.skip(f"not every model has {family} calibration (benchmarks/calibrate.py)")
    spec = load(EXAMPLES / f"{name}.yaml")
    result = plan.plan_network(spec, build_network(spec), families=(family,))
    total = result["total"][family]
    assert total["complete"], total["missing"]
    parts = [row["estimate"][family] for row in result["layers"]]
    parts.append(result["glue"]["estimate"][family])
    assert total["lut"] == sum(p["lut"] for p in parts if p) > 0
    assert total["ff"] > 0


def test_every_model_is_calibrated_on_ecp5_and_fits_its_points():
    errors = plan.fit_errors("ecp5")
    assert set(errors) == set(plan.MODELS)
    for model, (points, mean, worst) in errors.items():
        assert points >= 4, model
        assert mean < 15 and worst < 40, (model, mean, worst)


def test_units_without_a_model_are_reported_as_missing():
    spec = load(EXAMPLES / "cnv_ci.yaml")
    result = plan.plan_network(spec, build_network(spec), families=("ecp5",))
    conv = result["layers"][0]["estimate"]["ecp5"]
    assert not conv["complete"] and conv["missing"] == ["ConvolutionInputGenerator"]
    assert not result["total"]["ecp5"]["complete"]


def test_dsp_mvau_counts_one_dsp_per_lane():
    weights = np.arange(-32, 32).reshape(8, 8) % 100 - 50
    unit = IntegerMVAU(weights=weights, in_shape=unsigned(8), pe=2, simd=4, resource="dsp")
    estimate = plan.estimate_unit(unit, "ecp5")
    assert estimate["model"] == "int_mvau_dsp" and estimate["dsp"] == 8
    lut = IntegerMVAU(weights=weights, in_shape=unsigned(8), pe=2, simd=4, resource="lut")
    assert plan.estimate_unit(lut, "ecp5")["dsp"] == 0
    assert plan.estimate_unit(lut, "ecp5")["lut"] > estimate["lut"]


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_auto_fold_stays_within_the_budget_and_a_larger_one_runs_faster(name):
    path = EXAMPLES / f"{name}.yaml"
    runs = [plan.auto_fold(path, budget) for budget in BUDGETS[name]]
    for (spec, design, summary), budget in zip(runs, BUDGETS[name]):
        assert summary["lut"] <= budget and summary["steps"] > 0
        assert summary["cycles"] == design.ideal_cycles
        for layer in spec.layers:
            if layer.op.endswith("dense"):
                assert layer.attrs.out_features % layer.pe == 0
                assert layer.in_types[0].shape[-1] % layer.simd == 0
    small, large = ([(layer.pe, layer.simd) for layer in spec.layers] for spec, _, _ in runs)
    assert small != large
    assert runs[1][2]["cycles"] < runs[0][2]["cycles"]


def test_auto_fold_unfolds_matmul_by_its_fold_rule():
    """The op table's fold rule covers matmul (pe: output columns per head, simd: the
    contraction length), so --fold auto unfolds it when it is the bottleneck."""
    spec, design, summary = plan.auto_fold(EXAMPLES / "attention_mini.yaml", 60000, "ecp5")
    assert summary["lut"] <= 60000
    folds = [(layer.pe, layer.simd) for layer in spec.layers if layer.op == "matmul"]
    assert len(folds) == 2 and any(pe * simd > 1 for pe, simd in folds), folds


def test_fold_options_are_checked(tmp_path, capsys):
    net = str(EXAMPLES / "tiny_bnn.yaml")
    out = tmp_path / "b"
    assert main(["generate", net, "--fold", "auto", "--max-lut", "100", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--max-lut 100" in err and "the minimum budget is" in err
    minimum = int(err.rsplit("the minimum budget is", 1)[1].split()[0])
    assert main(["generate", net, "--max-lut", "5000", "-o", str(out)]) == 2
    assert "add '--fold auto'" in capsys.readouterr().err
    assert main(["generate", net, "--fold", "auto", "-o", str(out)]) == 2
    assert "--max-lut N" in capsys.readouterr().err
    assert not out.exists()
    assert main(["report", net, "--fold", "auto", "--max-lut", str(minimum), "-o",
                 str(out)]) == 0
    # The fully folded design fits its own estimate; unfolding fc1 may even fit (a wider
    # MVAU input can shrink the width converter in front of it), never beyond the budget.
    estimate = re.search(r"cycles per sample, (\d+) ecp5 LUTs estimated \(budget (\d+)\)",
                         capsys.readouterr().out)
    assert estimate and int(estimate.group(1)) <= int(estimate.group(2)) == minimum


@pytest.mark.parametrize("name, budget", [
    *(("tiny_bnn", budget) for budget in BUDGETS["tiny_bnn"]),
    *(("int8_mlp", budget) for budget in BUDGETS["int8_mlp"])])
def test_auto_folded_networks_simulate_bit_exact(name, budget, tmp_path, capsys):
    """The chosen folding is printed and the Verilator cosim has 0 mismatches.

    Each budget is one (quick) Verilator build; the foldings of all four differ per
    network (test above).
    """
    net = str(EXAMPLES / f"{name}.yaml")
    code = main(["sim", net, "--fold", "auto", "--max-lut", str(budget), "--count", "8",
                 "--backpressure", "0.3", "-o", str(tmp_path / "bundle")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "8 samples, 0 mismatches" in out
    spec, _, _ = plan.auto_fold(net, budget)
    for layer in spec.layers:
        if layer.op.endswith("dense"):
            assert f"| {layer.name} | {layer.op} | {layer.pe} | {layer.simd} |" in out
