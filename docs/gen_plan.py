"""Tables computed by ``hwgen.plan`` when the docs are built, so they follow the model.

``auto_fold_table(net, budgets)`` is what ``hwgen report NET --fold auto --max-lut N``
would choose for each budget, starting with the smallest budget it accepts.
"""

from __future__ import annotations

import re
from pathlib import Path

from gen_results import table

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["auto_fold_table"]


def _minimum(net, family):
    from hwgen.plan import auto_fold
    try:
        auto_fold(net, 1, family)
    except ValueError as error:
        found = re.search(r"minimum budget is (\d+)", str(error))
        if found:
            return int(found.group(1))
        raise
    raise AssertionError("a budget of one LUT was accepted")


def auto_fold_table(net, budgets, family="ecp5") -> str:
    from hwgen.plan import auto_fold
    path = ROOT / net
    minimum = _minimum(path, family)
    rows = []
    for budget in [minimum] + [b for b in budgets if b > minimum]:
        spec, design, summary = auto_fold(path, budget, family)
        folds = ", ".join(f"{hw.layer.name} {hw.layer.pe} x {hw.layer.simd}"
                          for hw in design.layers if hw.layer.op.endswith("dense"))
        label = f"{budget:,} (minimum)" if budget == minimum else f"{budget:,}"
        rows.append((Path(net).stem, label, folds, summary["steps"], f"{summary['cycles']:,}",
                     f"{summary['lut']:,}", summary["stop"] if budget != minimum else "-"))
    return table(("network", "budget", "PE x SIMD per layer", "steps", "cycles/sample",
                  f"LUT est. ({family})", "stopped because"), rows)
