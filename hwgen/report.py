"""``hwgen report``: cycles and resource estimates, next to the synthesis results when there are.

:func:`render_report` turns a plan (:func:`hwgen.plan.plan_network`) and, when
``hwgen synth`` has run, its ``synth/report.json`` into one report, written
three ways from the same blocks: ``report.md``, a self-contained
``report.html`` (plots embedded as PNG data) and the PNG plots themselves.

Every resource table ends with a total row, and the glue (converters, FIFOs,
register slices the composition adds) is a part of its own, in the tables
and the plots. A measured series appears only when there is a measurement.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

from .toolchain import model_family

__all__ = ["Report", "html_of_markdown", "lut_series", "render_report"]

_LUT_NAME = {"ecp5": "LUT4", "xilinx": "LUT6"}


@dataclass
class Report:
    """The rendered report: Markdown and HTML text and the plot files written."""
    markdown: str
    html: str
    plots: list
    notes: list          # what the report could not do and why (e.g. plots skipped)


def _error(estimate, measured):
    if not measured:
        return "-"
    return f"{100 * (estimate - measured) / measured:+.0f} %"


def _parts(plan, family):
    """[(name, estimate or None)] for every layer, the glue, and the total."""
    rows = [(r["name"], r["estimate"].get(family)) for r in plan["layers"]]
    rows.append(("(glue)", plan["glue"]["estimate"].get(family)))
    return rows


def _resource_table(plan, measured, family):
    """(header, rows, units without a model) of the resource table; always ends with total."""
    keys = (("lut", "lut_total"), ("ff", "ff"), ("bram", "bram"), ("dsp", "dsp"))
    by_name = {r["name"]: r for r in (measured or {}).get("layers", [])}
    parts = _parts(plan, family)
    if measured and "(top)" in by_name:
        parts.append(("(top)", None))
    parts.append(("total", plan["total"].get(family)))
    if measured:
        by_name["total"] = measured["total"]
        header = ("part", "LUT est.", "LUT meas.", "error", "FF est.", "FF meas.", "error",
                  "BRAM est.", "BRAM meas.", "DSP est.", "DSP meas.")
    else:
        header = ("part", "LUT est.", "FF est.", "BRAM est.", "DSP est.")
    rows, missing = [], set()
    for name, est in parts:
        got = by_name.get(name)
        cells = []
        for key, measured_key in keys:
            e = "-" if est is None else f"{est[key]:g}" + ("" if est["complete"] else "*")
            if not measured:
                cells.append(e)
                continue
            m = "-" if got is None else f"{got[measured_key]:g}"
            cells += [e, m]
            if key in ("lut", "ff"):
                cells.append(_error(est[key], got[measured_key])
                             if est and got and est["complete"] else "-")
        if est is not None and not est["complete"]:
            missing.update(est["missing"])
        rows.append((name, *cells))
    return header, rows, sorted(missing)


def _blocks(plan, measured, family):
    """The report as a list of ("h1"|"h2"|"p"|"table", content) blocks."""
    clock = plan["clock_mhz"]
    cycles = plan["cycles_per_sample"]
    blocks = [("h1", f"{plan['network']}: " + ("estimates and measurements" if measured
                                                 else "estimates"))]
    summary = (f"Ideal {cycles} cycles per sample ({clock * 1e6 / cycles:,.0f} samples/s at the "
               f"target {clock:g} MHz); ACE (MACs x weight bits x activation bits) "
               f"{plan['ace']:,}.")
    pnr = (measured or {}).get("pnr")
    if pnr and pnr.get("fmax_mhz"):
        path = pnr.get("critical_path") or {}
        summary += (f" Measured Fmax {pnr['fmax_mhz']} MHz ({measured['device']}): "
                    f"{pnr['fmax_mhz'] * 1e6 / cycles:,.0f} samples/s; critical path "
                    f"{path.get('from_layer')} -> {path.get('to_layer')}.")
    blocks.append(("p", summary))
    blocks += [("h2", "Cycles per sample"),
               ("table", (("layer", "op", "PE", "SIMD", "cycles", ""),
                          [(r["name"], r["op"], r["pe"], r["simd"], r["cycles"],
                            "**bottleneck**" if r["bottleneck"] else "")
                           for r in plan["layers"]]))]
    lut = _LUT_NAME.get(family, "LUT")
    title = (f"Resources ({family}, {lut}; estimate vs measured by Yosys)" if measured
             else f"Resources ({family}, {lut}; estimated)")
    blocks.append(("h2", title))
    if not plan["calibrated"]:
        blocks.append(("p", "No calibration data (run `python benchmarks/synth_binary.py` and "
                            "`python benchmarks/calibrate.py`); estimates are unavailable."))
    header, rows, missing = _resource_table(plan, measured, family)
    blocks.append(("table", (header, rows)))
    notes = ["(glue) is what the composition adds between layers: width converters, FIFOs "
             "and register slices."]
    if any(row[0] == "(top)" for row in rows):
        notes.append("(top) is the AXI4-Stream wrapper, which has no model.")
    if not measured:
        notes.append("No measurement yet: `hwgen synth` this network into the same folder "
                     "(it writes synth/report.json), then run `hwgen report` again.")
    if missing:
        notes.append(f"`*` = the row has units without a model ({', '.join(missing)}): the "
                     "estimate covers the others only, and no error is given.")
    blocks.append(("p", " ".join(notes)))
    return blocks


# --- plots ----------------------------------------------------------------------------------

def lut_series(plan, measured, family):
    """(part labels, {series label: LUTs per part}) of the LUT plot: every layer, the glue,
    (top) when measured; the measured series only when there is a measurement."""
    parts = _parts(plan, family)
    by_name = {r["name"]: r for r in (measured or {}).get("layers", [])}
    if measured and "(top)" in by_name:
        parts.append(("(top)", None))
    labels = [name for name, _ in parts]
    series = {"estimate (hwgen.plan)": [None if e is None else e["lut"] for _, e in parts]}
    if measured:
        series["measured (Yosys)"] = [by_name.get(n, {}).get("lut_total") for n in labels]
    return labels, series


def _plots(plan, measured, family, plot_dir):
    """cycles.png and luts.png in ``plot_dir``; ([files], [notes])."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        return [], [f"Plots skipped: matplotlib could not be imported ({error}); install it "
                    f"with `pip install matplotlib` and run `hwgen report` again."]
    import numpy as np

    plot_dir = Path(plot_dir)
    files = []
    names = [r["name"] for r in plan["layers"]]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bars = ax.bar(names, [r["cycles"] for r in plan["layers"]],
                  color=["tab:red" if r["bottleneck"] else "tab:blue" for r in plan["layers"]])
    ax.bar_label(bars, fmt="{:,.0f}", fontsize=8)
    ax.set_xlabel("layer")
    ax.set_ylabel("cycles per sample")
    ax.set_title(f"{plan['network']}: cycles per sample by layer (red: the bottleneck)")
    ax.margins(y=0.15)
    fig.tight_layout()
    files.append(plot_dir / "cycles.png")
    fig.savefig(files[-1], dpi=100)
    plt.close(fig)

    lut = _LUT_NAME.get(family, "LUT")
    labels, series = lut_series(plan, measured, family)
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        offset = (i - (len(series) - 1) / 2) * width
        bars = ax.bar(x + offset, [np.nan if v is None else v for v in values], width,
                      label=label, color=("tab:blue", "tab:orange")[i])
        ax.bar_label(bars, labels=["" if v is None else f"{v:,.0f}" for v in values],
                     fontsize=8)
    ax.legend()
    what = "estimated and measured" if measured else "estimated (no synthesis yet)"
    ax.set_xticks(x, labels)
    ax.set_xlabel("part of the design")
    ax.set_ylabel(f"LUTs ({lut}, {family})")
    total = plan["total"].get(family)
    totals = ([f"est. {total['lut']:,.0f}"] if total else []) + (
        [f"meas. {measured['total']['lut_total']:,.0f}"] if measured else [])
    ax.set_title(f"{plan['network']}: LUTs by part, {what}"
                 + (f"\ntotal {' / '.join(totals)}" if totals else ""))
    ax.margins(y=0.15)
    fig.tight_layout()
    files.append(plot_dir / "luts.png")
    fig.savefig(files[-1], dpi=100)
    plt.close(fig)
    return files, []


# --- output formats ---------------------------------------------------------------------------

def _markdown(blocks, plots, notes):
    lines = []
    for kind, content in blocks:
        if kind == "h1":
            lines += [f"# {content}", ""]
        elif kind == "h2":
            lines += [f"## {content}", ""]
        elif kind == "p":
            lines += [content, ""]
        else:
            header, rows = content
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
            lines.append("")
    lines += [f"{note}\n" for note in notes]
    lines += [f"![{p.stem}]({p.name})\n" for p in plots]
    return "\n".join(lines).rstrip() + "\n"


def _inline(text):
    """Markdown's `code` and **bold** of a report line as escaped HTML."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


_NUMBER = re.compile(r"[+-]?[\d,.]+\*?( %)?|-")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; border-top: 2px solid #444; }
tr.bottleneck td { background: #fde8e8; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; }
code { background: #f3f3f3; padding: 0 0.2em; }
"""


def _blocks_of_markdown(text):
    """Blocks of the simple Markdown the report's sections are written in: ``#``/``##``
    headings, paragraphs and pipe tables (a ``|---|`` line under the header)."""
    blocks, rows = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
            continue
        if rows:
            blocks.append(("table", (rows[0], rows[1:])))
            rows = []
        if line.startswith("## "):
            blocks.append(("h2", line[3:]))
        elif line.startswith("# "):
            blocks.append(("h1", line[2:]))
        elif line.strip():
            blocks.append(("p", line.strip()))
    return blocks


def html_of_markdown(text):
    """``text`` (headings, paragraphs, pipe tables) as HTML in the report's style, to add a
    section such as the timing estimates to report.html."""
    return "\n".join(_html_body(_blocks_of_markdown(text)))


def _html(blocks, plots, notes, title):
    body = _html_body(blocks)
    body += [f"<p class=\"note\">{_inline(note)}</p>" for note in notes]
    for plot in plots:
        data = base64.b64encode(Path(plot).read_bytes()).decode("ascii")
        body.append(f"<figure><img alt=\"{plot.stem}\" src=\"data:image/png;base64,{data}\">"
                    f"<figcaption>{plot.name}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _html_body(blocks):
    body = []
    for kind, content in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{_inline(content)}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(content)}</p>")
        else:
            header, rows = content
            body.append("<table>")
            body.append("<thead><tr>" + "".join(f"<th>{_inline(h)}</th>" for h in header)
                        + "</tr></thead><tbody>")
            for row in rows:
                cls = ("total" if row[0] == "total" else
                       "bottleneck" if "**bottleneck**" in row else "")
                body.append(f"<tr class=\"{cls}\">" if cls else "<tr>")
                body.append("".join(f"<td class=\"num\">{_inline(str(c))}</td>"
                                    if _NUMBER.fullmatch(str(c)) else f"<td>{_inline(str(c))}</td>"
                                    for c in row) + "</tr>")
            body.append("</tbody></table>")
    return body


def render_report(plan, measured=None, plot_dir=None) -> Report:
    """The report of ``plan`` (and ``measured``: a ``synth/report.json``, or None); PNG plots
    go to ``plot_dir`` (none without one)."""
    family = measured["family"] if measured else "ecp5"
    family = model_family(family)     # iCE40: estimated with the LUT4 model
    blocks = _blocks(plan, measured, family)
    plots, notes = _plots(plan, measured, family, plot_dir) if plot_dir else ([], [])
    title = blocks[0][1]
    return Report(_markdown(blocks, plots, notes), _html(blocks, plots, notes, title), plots,
                  notes)
