"""Running a sweep on Dask: a local cluster of worker processes, or a running cluster."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from .point import run_point
from .results import SweepStore

__all__ = ["local_cluster", "run_sweep"]


def local_cluster(workers):
    """A ``LocalCluster`` of ``workers`` single-threaded worker processes (a tool run takes
    one core), listening on the loopback interface only; its HTTP server on a free port."""
    import logging

    from distributed import LocalCluster
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        host="127.0.0.1", dashboard_address="127.0.0.1:0",
                        silence_logs=logging.ERROR)


def run_sweep(sweep, out_dir, client, *, work_dir="auto", ship_weights=False,
              retry_failed=False, progress=True, log=print):
    """Run the points of ``sweep`` not yet in ``out_dir/sweep.json`` on ``client``.

    ``work_dir``: where each task keeps its point's folder; ``"auto"`` is
    ``out_dir/points`` (right for a local cluster, whose workers see this
    machine's files), None a temporary folder per task. ``ship_weights`` sends
    the weights npz to the workers with the tasks (workers on other machines).
    A record streams into sweep.json as each point finishes; a point whose
    worker died more often than Dask's ``distributed.scheduler.allowed-failures``
    is recorded as failed. Returns the :class:`SweepStore`.
    """
    from distributed import as_completed
    from ..progress import bar as progress_bar

    out_dir = Path(out_dir)
    store = SweepStore(out_dir / "sweep.json", sweep.header)
    done = store.done(retry_failed)
    todo = [p for p in sweep.points if p.key not in done]
    skipped = len(sweep.points) - len(todo)
    log(f"[sweep] {len(sweep.points)} point(s) of {sweep.name}"
        + (f"; {skipped} already in {store.path}, skipped" if skipped else "")
        + (f"; running {len(todo)}" if todo else "; nothing to run"))
    if not todo:
        return store
    if not store.path.exists():
        store.write()                 # the folder is a sweep's from now on: a rerun resumes it
    if work_dir == "auto":
        work_dir = out_dir / "points"
    for point in todo if work_dir is not None else ():
        for stale in Path(work_dir).glob(f".{point.slug}.*"):
            shutil.rmtree(stale, ignore_errors=True)  # being written when a run was stopped
    shipped = {path: client.scatter(Path(path).read_bytes(), broadcast=True)
               for path in sweep.header["weights_sha256"]} if ship_weights else {}
    run = f"{int(time.time() * 1000):x}"      # keys unique per run: no result of an earlier one
    points = {}
    for point in todo:
        future = client.submit(run_point, sweep.task(point, work_dir, shipped.get(point.weights)),
                               pure=False, key=f"hwgen-sweep-{point.key}-{run}")
        points[future] = point
    bar = progress_bar(len(sweep.points), desc="  sweep", unit="point", initial=skipped,
                       enabled=progress)
    try:
        for future in as_completed(list(points)):
            point = points[future]
            try:
                record = future.result()
            except Exception as error:        # KilledWorker: the point's worker kept dying
                record = {"key": point.key, "params": point.params, "status": "failed",
                          "error": f"{type(error).__name__}: {error}", "seconds": {}}
            store.add(record)
            bar.update(1)
            bar.write(_one_line(point, record))
    except BaseException:
        client.cancel(list(points))
        raise
    finally:
        bar.close()
    return store


def _one_line(point, record):
    if record["status"] != "ok":
        return f"  {point.label}: {record['status'].upper()} {record['error']}"
    fmax = f", Fmax {record['fmax_mhz']} MHz" if record.get("fmax_mhz") else ""
    return (f"  {point.label}: {record['lut_total']:,} LUT, {record['ff']:,} FF, "
            f"{record['bram']:g} BRAM{fmax}, {record['images_per_s']:,.0f} images/s "
            f"({record['seconds'].get('total', 0):.0f} s)")
