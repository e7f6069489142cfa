"""Fuzz campaign: many random units and networks against the golden model; counts cases and failures.

    python benchmarks/fuzz_campaign.py [--units 200] [--networks 20] [--op-networks 100]
                                       [--verilator 20] [--seed 0]
                                       [--out benchmarks/results/fuzz_campaign.json]

Draws from the same strategies as ``tests/fuzz``: every unit of the catalog
(``hwgen.units.UNITS``, one factory each) under Amaranth's simulator with
random stalls; random networks over the whole op table (every op, keys from
its fields; drawn specs the loader rejects or whose hardware is documented as
not built yet are not counted) and random binary networks, composed and run in
Amaranth's simulator; a few binary networks under Verilator with backpressure.
Failures are recorded, not shrunk: each one is printed with the drawn case so
it can become a regression test (``pytest tests/fuzz`` shrinks it). Writes one
JSON record and prints a table; exit 0 only without failures.
"""

import argparse
import json
import platform
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import UnsatisfiedAssumption

from tests.fuzz import test_fuzz_networks as networks_test
from tests.fuzz.network_specs import networks
from tests.fuzz.op_specs import specs
from tests.fuzz.unit_factories import FACTORIES, run_amaranth


def campaign(name, strategy, check, count, seed):
    """Run ``check`` on ``count`` draws of ``strategy``; return (tried, failures, seconds)."""
    tried, failures = [0], []

    @settings(max_examples=count, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(strategy)
    def property_(drawn):
        try:
            check(drawn)
        except UnsatisfiedAssumption:       # not a case (an invalid spec): not counted
            raise
        except Exception as error:  # noqa: BLE001 - a campaign records every failure and goes on
            failures.append({"case": repr(drawn)[:4000], "error": repr(error)[:2000],
                             "trace": traceback.format_exc()[-2000:]})
        tried[0] += 1

    started = time.perf_counter()
    settings_seed = __import__("hypothesis").seed(seed)
    settings_seed(property_)()
    return tried[0], failures, time.perf_counter() - started


def unit_check(name):
    def check(data):
        case = FACTORIES[name](data.draw)
        stall = data.draw(st.sampled_from([0.0, 0.3, 0.7]))
        got = run_amaranth(case, stall=stall, seed=data.draw(st.integers(0, 2**16)))
        assert got.tolist() == case.want.tolist(), f"{case!r} got {got.tolist()}"
    return check


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200, help="cases per unit factory")
    parser.add_argument("--networks", type=int, default=20,
                        help="binary networks in Amaranth's sim")
    parser.add_argument("--op-networks", type=int, default=100,
                        help="drawn networks over the op table in Amaranth's sim")
    parser.add_argument("--verilator", type=int, default=20,
                        help="binary networks under Verilator (2000 samples each, fast path)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fuzz_campaign.json"))
    args = parser.parse_args()

    import warnings
    warnings.filterwarnings("ignore", message=".*created but never used")
    jobs = [(f"unit {name}", st.data(), unit_check(name), args.units) for name in FACTORIES]
    jobs.append(("op-table network (Amaranth sim)", st.data(),
                 lambda data: networks_test.op_table_check(data, data.draw(specs())),
                 args.op_networks))
    jobs.append(("network (Amaranth sim)",
                 st.tuples(networks(), st.sampled_from([0.0, 0.4]), st.integers(0, 99)),
                 lambda drawn: networks_test.amaranth_check(*drawn), args.networks))
    jobs.append(("network (Verilator)", networks(max_layers=2, max_features=16),
                 lambda case: networks_test.verilator_check(case, 0.3, 1), args.verilator))
    records = []
    for name, strategy, check, count in jobs:
        if count <= 0:
            continue
        tried, failures, seconds = campaign(name, strategy, check, count, args.seed)
        records.append({"target": name, "cases": tried, "failures": len(failures),
                        "seconds": round(seconds, 1), "failed_cases": failures})
        print(f"{name}: {tried} cases, {len(failures)} failures, {seconds:.0f} s", flush=True)
        for failure in failures[:3]:
            print(f"  {failure['error']}\n  {failure['case'][:600]}")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "seed": args.seed,
                               "records": records}, indent=2) + "\n")
    print("| target | cases | failures | seconds |")
    print("|---|---|---|---|")
    for r in records:
        print(f"| {r['target']} | {r['cases']} | {r['failures']} | {r['seconds']} |")
    total = sum(r["cases"] for r in records)
    failed = sum(r["failures"] for r in records)
    print(f"total: {total} cases, {failed} failures; wrote {out}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
