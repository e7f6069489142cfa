"""``hwgen report``: report.md and a self-contained report.html, with and without measurements.

The HTML is checked for its structure here (tables, total row, embedded PNGs);
rendering it in a browser is a manual check, not a CI dependency.
"""

import base64
import builtins
import json
import re
from pathlib import Path

import pytest

from hwgen.cli import main
from hwgen.network import build_network
from hwgen.plan import plan_network
from hwgen.report import lut_series, render_report
from hwgen.spec import load

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def plan():
    spec = load(EXAMPLES / "tiny_bnn.yaml")
    return plan_network(spec, build_network(spec))


def _measured(plan, scale=1.1):
    """A synth/report.json in the shape ``hwgen synth`` writes: each part's estimate x scale."""
    layers = [{"name": r["name"], "lut": round(r["estimate"]["ecp5"]["lut"] * scale), "lutram": 0,
               "ff": 100, "bram": 0, "dsp": 0} for r in plan["layers"]]
    layers.append({"name": "(glue)", "lut": 1000, "lutram": 32, "ff": 500, "bram": 0, "dsp": 0})
    for row in layers:
        row["lut_total"] = row["lut"] + row["lutram"]
    total = {key: sum(row[key] for row in layers)
             for key in ("lut", "lutram", "lut_total", "ff", "bram", "dsp")}
    return {"family": "ecp5", "device": "ecp5-85k-8", "layers": layers, "total": total,
            "pnr": {"fmax_mhz": 142.5, "critical_path": {"from_layer": "fc1", "to_layer": "(glue)"}}}


def _rows(markdown, header_start):
    table = markdown.split(header_start, 1)[1].split("\n\n", 1)[0]
    return [line.split(" | ")[0].strip("| ") for line in table.splitlines()[2:]]


def test_without_measurement_the_report_has_estimates_glue_and_a_total(plan, tmp_path):
    report = render_report(plan, None, plot_dir=tmp_path)
    assert _rows(report.markdown, "| part | LUT est. |") == ["fc1", "fc2", "top1", "(glue)",
                                                             "total"]
    assert "meas." not in report.markdown and "No measurement yet" in report.markdown
    assert [p.name for p in report.plots] == ["cycles.png", "luts.png"]
    labels, series = lut_series(plan, None, "ecp5")
    assert labels == ["fc1", "fc2", "top1", "(glue)"]
    assert list(series) == ["estimate (hwgen.plan)"]          # no empty "measured" series
    assert series["estimate (hwgen.plan)"][-1] == plan["glue"]["estimate"]["ecp5"]["lut"]


def test_with_measurement_every_part_has_its_error_and_the_total_row(plan, tmp_path):
    measured = _measured(plan)
    report = render_report(plan, measured, plot_dir=tmp_path)
    rows = _rows(report.markdown, "| part | LUT est. | LUT meas. |")
    assert rows == ["fc1", "fc2", "top1", "(glue)", "total"]
    fc1 = plan["layers"][0]["estimate"]["ecp5"]["lut"]
    assert re.search(rf"\| fc1 \| {fc1:g} \| {round(fc1 * 1.1):g} \| -9 % \|", report.markdown)
    assert "Measured Fmax 142.5 MHz" in report.markdown
    labels, series = lut_series(plan, measured, "ecp5")
    assert series["measured (Yosys)"] == [row["lut_total"] for row in measured["layers"]]


def test_report_html_is_self_contained(plan, tmp_path):
    report = render_report(plan, _measured(plan), plot_dir=tmp_path)
    page = report.html
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<table>") == 2 and '<tr class="total">' in page
    assert '<tr class="bottleneck">' in page and "<strong>bottleneck</strong>" in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2
    for data, plot in zip(images, report.plots):
        assert base64.b64decode(data) == plot.read_bytes() and plot.read_bytes()[:8] == PNG
    assert "src=\"cycles.png\"" not in page and "`" not in page


def test_without_matplotlib_the_report_says_what_is_missing(plan, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    report = render_report(plan, None, plot_dir=tmp_path)
    assert report.plots == [] and "pip install matplotlib" in report.markdown
    assert "pip install matplotlib" in report.html


def test_hwgen_report_writes_md_html_plots_and_plan(tmp_path, capsys):
    out = tmp_path / "tiny"
    assert main(["report", str(EXAMPLES / "tiny_bnn.yaml"), "-o", str(out)]) == 0
    for name in ("report.md", "report.html", "plan.json", "cycles.png", "luts.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "plan.json").read_text())["cycles_per_sample"] == 32
    printed = capsys.readouterr().out
    assert "| total |" in printed and "report.html" in printed
    # the timing and ROM sections are HTML like the rest, not a block of Markdown text
    page = (out / "report.html").read_text()
    assert "<h2>Timing at 100 MHz" in page and "<h2>Weight ROMs" in page
    assert "|---|" not in page and "<pre" not in page


def test_html_of_markdown_reads_headings_paragraphs_and_tables():
    from hwgen.report import html_of_markdown
    page = html_of_markdown("## Part\n\nsome `code`\n\n| a | b |\n|---|---|\n| x | 1 |\n"
                            "| total | 2 |\n\nafter")
    assert page.splitlines() == [
        "<h2>Part</h2>", "<p>some <code>code</code></p>", "<table>",
        "<thead><tr><th>a</th><th>b</th></tr></thead><tbody>",
        "<tr>", "<td>x</td><td class=\"num\">1</td></tr>",
        "<tr class=\"total\">", "<td>total</td><td class=\"num\">2</td></tr>",
        "</tbody></table>", "<p>after</p>"]
