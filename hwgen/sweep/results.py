"""The results of a sweep: ``sweep.json`` (:class:`SweepStore`) and the Pareto fronts
(``pareto.md``, ``pareto.png``)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .grid import SweepError

__all__ = ["SweepStore", "pareto_front", "pareto_markdown", "pareto_plot"]


class SweepStore:
    """``DIR/sweep.json``: the sweep's header and one record per finished point.

    Rewritten whole (to a temporary name, then renamed) after every record, so
    the file is always complete JSON, whatever stops the sweep. A store holding
    another network, weights or other options is not resumed (SweepError).
    """

    def __init__(self, path, header):
        self.path = Path(path)
        self.header = header
        self.records = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                old = data["sweep"]
                records = data["points"]
            except (ValueError, KeyError, TypeError) as error:
                raise SweepError(f"{self.path}: not a sweep file of hwgen ({error}); pass -o "
                                 f"a new folder") from None
            differs = [k for k in header if k not in ("network", "grid") and
                       old.get(k) != header[k]]
            if differs:
                raise SweepError(
                    f"{self.path} holds a sweep with other settings ("
                    + ", ".join(f"{k}: {old.get(k)!r}, now {header[k]!r}" for k in differs)
                    + "); pass -o a new folder to start another sweep")
            self.records = {r["key"]: r for r in records}

    def done(self, retry_failed=False):
        """Keys of the points not to run again."""
        return {k for k, r in self.records.items()
                if r["status"] != "failed" or not retry_failed}

    def add(self, record):
        self.records[record["key"]] = record
        self.write()

    def write(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"sweep": self.header, "points": list(self.records.values())}
        fd, temp = tempfile.mkstemp(prefix=".sweep.", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(json.dumps(data, indent=1) + "\n")
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def pareto_front(records, cost, value, *, maximize=True):
    """The records no other record beats: lower ``cost`` and better ``value`` (higher when
    ``maximize``, else lower), one of the two strictly; sorted by ``cost``."""
    sign = 1 if maximize else -1
    ok = [r for r in records if r["status"] == "ok"]
    ok.sort(key=lambda r: (r[cost], -sign * r[value]))
    front, best = [], None
    for r in ok:
        if best is None or sign * r[value] > best:
            front.append(r)
            best = sign * r[value]
    return front


def _params(record):
    return ", ".join(f"{k}={v}" for k, v in record["params"].items())


def pareto_markdown(store):
    """pareto.md: both fronts, then every point (failed ones with their error)."""
    records = list(store.records.values())
    header = store.header
    fmax = "Fmax" if header["pnr"] else "target clock"
    lines = [f"# Sweep of {header['network']} ({header['name']})", "",
             f"{len(records)} point(s): {sum(r['status'] == 'ok' for r in records)} ok, "
             f"{sum(r['status'] == 'failed' for r in records)} failed, "
             f"{sum(r['status'] == 'mismatch' for r in records)} with mismatches. "
             f"Family {header['family']}; images/s at the {fmax}"
             + (f"; cycles and latency measured by cosimulating {header['sim']} samples"
                if header["sim"] else "; cycles per sample ideal, latency estimated as the "
                "sum of the layers' cycles (cosimulate with --sim N to measure them)") + ".",
             ""]
    for title, value, maximize in (("LUTs against images/s", "images_per_s", True),
                                   ("LUTs against latency", "latency_us", False)):
        lines += [f"## Pareto front: {title}", "",
                  "| point | LUT | FF | BRAM | DSP | Fmax MHz | cycles/sample | images/s | "
                  "images/s per kLUT | latency µs |", "|" + "---|" * 10]
        for r in pareto_front(records, "lut_total", value, maximize=maximize):
            lines.append(_row(r))
        lines.append("")
    lines += ["## Every point", "", "| point | status | LUT | FF | BRAM | DSP | Fmax MHz | "
              "cycles/sample | images/s | images/s per kLUT | latency µs |", "|" + "---|" * 11]
    for r in sorted(records, key=lambda r: _params(r)):
        if r["status"] == "failed":
            error = " ".join(str(r["error"]).split())[:200].replace("|", "\\|")
            lines.append(f"| {_params(r)} | failed: {error} |" + " - |" * 9)
        else:
            lines.append(_row(r, status=r["status"]))
    return "\n".join(lines) + "\n"


def _row(r, status=None):
    def f(value, digits=0):
        return "-" if value is None else f"{value:,.{digits}f}"
    cells = [_params(r)] + ([status] if status else []) + [
        f(r["lut_total"]), f(r["ff"]), f"{r['bram']:g}", f"{r['dsp']:g}",
        f(r["fmax_mhz"], 1), f(r["cycles_per_sample"], 1 if r["cycles_per_sample"] % 1 else 0),
        f(r["images_per_s"]),
        f(r["images_per_s_per_klut"], 1 if (r["images_per_s_per_klut"] or 0) < 100 else 0),
        f(r["latency_us"], 2)]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def pareto_plot(store, path):
    """pareto.png: LUTs against images/s and against latency, every point and the fronts."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in store.records.values() if r["status"] == "ok"]
    lut = {"ecp5": "LUT4", "ice40": "LUT4", "xilinx": "LUT6"}[store.header["family"]]
    clock = "Fmax" if store.header["pnr"] else "target clock"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, value, maximize, label in (
            (axes[0], "images_per_s", True, f"images/s (at the {clock})"),
            (axes[1], "latency_us", False, "latency (µs)")):
        ax.scatter([r["lut_total"] for r in records], [r[value] for r in records],
                   color="tab:gray", alpha=0.6, label="point")
        front = pareto_front(records, "lut_total", value, maximize=maximize)
        ax.step([r["lut_total"] for r in front], [r[value] for r in front], where="post",
                color="tab:red", marker="o", label="Pareto front")
        for r in front:
            ax.annotate(_params(r), (r["lut_total"], r[value]), fontsize=7,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel(f"LUTs ({lut}, incl. LUTRAM)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.margins(x=0.25, y=0.12)      # room for the labels of the points at the ends
        ax.legend(fontsize=8)
    fig.suptitle(f"{store.header['name']}: {len(records)} point(s) of "
                 f"{store.header['network']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
